//! The results table: one Arrow schema, long format, one row per indicator x
//! published cell x period; primary suppression; writers.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use spiegel_model::{Indicator, Quantity, Unit};

use crate::cells::{Counts, PublishedCell};
use crate::error::{EngineError, Result};

/// Status of a published row.
pub mod status {
    /// Counts and value are published.
    pub const PUBLISHED: &str = "published";
    /// A count is below the threshold: counts and value are null.
    pub const SUPPRESSED_PRIMARY: &str = "suppressed_primary";
}

/// The stable schema of the results table (see `docs/results-schema.md`).
pub fn results_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
        Arc::new(Schema::new(vec![
            s("indicator_id", false),
            s("indicator_version", false),
            s("unit", false),
            s("period", false),
            s("region_level", false),
            s("region_id", true),
            s("sex", true),
            s("age_group", true),
            s("diagnosis_group", true),
            Field::new("numerator", DataType::Int64, true),
            Field::new("denominator", DataType::Int64, true),
            Field::new("sum_squares", DataType::Int64, true),
            Field::new("value", DataType::Float64, true),
            s("status", false),
            s("suppression_reason", true),
        ]))
    });
    SCHEMA.clone()
}

/// The unit column value of an indicator.
pub(crate) fn unit_name(unit: Unit) -> String {
    match unit {
        Unit::Proportion => "proportion".into(),
        Unit::Mean => "mean".into(),
        Unit::RatioOfSums => "ratio_of_sums".into(),
        Unit::RatePer(n) => format!("rate_per_{n}"),
        _ => "other".into(),
    }
}

/// Accumulates result rows.
pub(crate) struct ResultsBuilder {
    id: StringBuilder,
    version: StringBuilder,
    unit: StringBuilder,
    period: StringBuilder,
    level: StringBuilder,
    region: StringBuilder,
    sex: StringBuilder,
    age: StringBuilder,
    diag: StringBuilder,
    numerator: Int64Builder,
    denominator: Int64Builder,
    sum_squares: Int64Builder,
    value: Float64Builder,
    status: StringBuilder,
    reason: StringBuilder,
    threshold: i64,
}

impl ResultsBuilder {
    pub(crate) fn new(threshold: i64) -> ResultsBuilder {
        ResultsBuilder {
            id: StringBuilder::new(),
            version: StringBuilder::new(),
            unit: StringBuilder::new(),
            period: StringBuilder::new(),
            level: StringBuilder::new(),
            region: StringBuilder::new(),
            sex: StringBuilder::new(),
            age: StringBuilder::new(),
            diag: StringBuilder::new(),
            numerator: Int64Builder::new(),
            denominator: Int64Builder::new(),
            sum_squares: Int64Builder::new(),
            value: Float64Builder::new(),
            status: StringBuilder::new(),
            reason: StringBuilder::new(),
            threshold,
        }
    }

    /// Primary rule: a count in 1..k-1 is hidden, with everything derived from it.
    fn primary_reason(&self, c: &Counts) -> Option<&'static str> {
        let small = |x: i64| x >= 1 && x < self.threshold;
        match (small(c.numerator), small(c.denominator)) {
            (true, true) => Some("numerator_and_denominator_below_threshold"),
            (true, false) => Some("numerator_below_threshold"),
            (false, true) => Some("denominator_below_threshold"),
            _ => None,
        }
    }

    pub(crate) fn push(&mut self, ind: &Indicator, cell: &PublishedCell, counts: &Counts) {
        self.id.append_value(&ind.id);
        self.version.append_value(&ind.version);
        self.unit.append_value(unit_name(ind.unit));
        self.period.append_value(cell.period.to_string());
        self.level.append_value(&cell.level);
        self.region.append_option(cell.region_id.as_deref());
        self.sex.append_option(cell.sex.as_deref());
        self.age.append_option(cell.age_group.as_deref());
        self.diag.append_option(cell.diagnosis_group.as_deref());
        let is_mean = matches!(ind.numerator, Quantity::MeasureSum { .. });
        match self.primary_reason(counts) {
            Some(reason) => {
                self.numerator.append_null();
                self.denominator.append_null();
                self.sum_squares.append_null();
                self.value.append_null();
                self.status.append_value(status::SUPPRESSED_PRIMARY);
                self.reason.append_value(reason);
            }
            None => {
                self.numerator.append_value(counts.numerator);
                self.denominator.append_value(counts.denominator);
                self.sum_squares
                    .append_option(is_mean.then_some(counts.sum_squares));
                self.value
                    .append_option(ind.value(counts.numerator, counts.denominator));
                self.status.append_value(status::PUBLISHED);
                self.reason.append_null();
            }
        }
    }

    pub(crate) fn finish(mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.version.finish()),
            Arc::new(self.unit.finish()),
            Arc::new(self.period.finish()),
            Arc::new(self.level.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.sex.finish()),
            Arc::new(self.age.finish()),
            Arc::new(self.diag.finish()),
            Arc::new(self.numerator.finish()),
            Arc::new(self.denominator.finish()),
            Arc::new(self.sum_squares.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.reason.finish()),
        ];
        RecordBatch::try_new(results_schema(), columns).map_err(|e| EngineError::DataFusion {
            context: "assembling the results table".into(),
            source: Box::new(e.into()),
        })
    }
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::File {
        action: "write",
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes a batch as Parquet (zstd).
pub fn write_parquet(batch: &RecordBatch, path: &Path) -> Result<()> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let file = File::create(path).map_err(|e| write_err(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut w =
        ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| write_err(path, e))?;
    w.write(batch).map_err(|e| write_err(path, e))?;
    w.close().map_err(|e| write_err(path, e))?;
    Ok(())
}

/// Writes a batch as CSV with a header row (nulls are empty fields).
pub fn write_csv(batch: &RecordBatch, path: &Path) -> Result<()> {
    let file = File::create(path).map_err(|e| write_err(path, e))?;
    let mut w = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(file);
    w.write(batch).map_err(|e| write_err(path, e))?;
    Ok(())
}

/// Writes a batch as a JSON array of objects (nulls are kept as `null`).
pub fn write_json(batch: &RecordBatch, path: &Path) -> Result<()> {
    let file = File::create(path).map_err(|e| write_err(path, e))?;
    let mut w = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::JsonArray>(file);
    w.write(batch).map_err(|e| write_err(path, e))?;
    w.finish().map_err(|e| write_err(path, e))?;
    Ok(())
}
