//! The results table: one Arrow schema, long format, one row per indicator x
//! published cell x period, with its disclosure status; writers.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use spiegel_model::{Indicator, Quantity, Unit};
use spiegel_stats::ConfidenceLevel;

use crate::cells::{Counts, PublishedCell};
use crate::error::{EngineError, Result};
use crate::figures::{Figures, StatsOptions, level_label};

/// Status of a published row.
pub mod status {
    /// Counts and value are published.
    pub const PUBLISHED: &str = "published";
    /// A count is sensitive (below the threshold, or a protected zero):
    /// counts and every derived figure are null.
    pub const SUPPRESSED_PRIMARY: &str = "suppressed_primary";
    /// Hidden to protect a sensitive cell (secondary suppression): counts and
    /// every derived figure are null.
    pub const SUPPRESSED_SECONDARY: &str = "suppressed_secondary";
    /// Published because the disclosure policy forces it (`forced` levels).
    pub const FORCED: &str = "forced";
    /// `--public` output: a hidden cell, primary or secondary alike.
    pub const SUPPRESSED: &str = "suppressed";
}

/// The stable schema of the results table with the default confidence levels
/// (95% and 99.8%; see `docs/results-schema.md`).
pub fn results_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> =
        LazyLock::new(|| results_schema_for(&StatsOptions::default().levels));
    SCHEMA.clone()
}

/// The schema of the results table for these confidence levels: each level
/// adds `ci<label>_lower/upper` and `funnel_<label>_lower/upper` columns
/// (`ci95_lower`, `funnel_998_upper`).
pub fn results_schema_for(levels: &[ConfidenceLevel]) -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let f = |n: String| Field::new(n, DataType::Float64, true);
    let mut fields = vec![
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
    ];
    for l in levels {
        let l = level_label(*l);
        fields.push(f(format!("ci{l}_lower")));
        fields.push(f(format!("ci{l}_upper")));
    }
    fields.push(f("national_value".into()));
    fields.push(s("comparison", true));
    for l in levels {
        let l = level_label(*l);
        fields.push(f(format!("funnel_{l}_lower")));
        fields.push(f(format!("funnel_{l}_upper")));
    }
    fields.extend([
        f("baseline_value".into()),
        f("change".into()),
        f("change_ci_lower".into()),
        f("change_ci_upper".into()),
        Field::new("change_significant", DataType::Boolean, true),
        s("spc_signal", true),
        s("status", false),
        s("suppression_reason", true),
    ]);
    Arc::new(Schema::new(fields))
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
    schema: SchemaRef,
    keys: [StringBuilder; 9],
    numerator: Int64Builder,
    denominator: Int64Builder,
    sum_squares: Int64Builder,
    value: Float64Builder,
    intervals: Vec<(Float64Builder, Float64Builder)>,
    national_value: Float64Builder,
    comparison: StringBuilder,
    funnels: Vec<(Float64Builder, Float64Builder)>,
    baseline_value: Float64Builder,
    change: Float64Builder,
    change_lower: Float64Builder,
    change_upper: Float64Builder,
    change_significant: BooleanBuilder,
    spc_signal: StringBuilder,
    status: StringBuilder,
    reason: StringBuilder,
}

impl ResultsBuilder {
    pub(crate) fn new(levels: &[ConfidenceLevel]) -> ResultsBuilder {
        let pairs = || {
            levels
                .iter()
                .map(|_| (Float64Builder::new(), Float64Builder::new()))
                .collect()
        };
        ResultsBuilder {
            schema: results_schema_for(levels),
            keys: std::array::from_fn(|_| StringBuilder::new()),
            numerator: Int64Builder::new(),
            denominator: Int64Builder::new(),
            sum_squares: Int64Builder::new(),
            value: Float64Builder::new(),
            intervals: pairs(),
            national_value: Float64Builder::new(),
            comparison: StringBuilder::new(),
            funnels: pairs(),
            baseline_value: Float64Builder::new(),
            change: Float64Builder::new(),
            change_lower: Float64Builder::new(),
            change_upper: Float64Builder::new(),
            change_significant: BooleanBuilder::new(),
            spc_signal: StringBuilder::new(),
            status: StringBuilder::new(),
            reason: StringBuilder::new(),
        }
    }

    /// Appends a row with its final disclosure status. `figures` is computed
    /// only for published (and forced) cells: a hidden row gets nulls for its
    /// counts and every derived figure.
    pub(crate) fn push(
        &mut self,
        ind: &Indicator,
        cell: &PublishedCell,
        counts: &Counts,
        status: (&str, Option<&str>, bool),
        figures: impl FnOnce() -> Figures,
    ) {
        let period = cell.period.to_string();
        let unit = unit_name(ind.unit);
        let keys: [Option<&str>; 9] = [
            Some(&ind.id),
            Some(&ind.version),
            Some(&unit),
            Some(&period),
            Some(&cell.level),
            cell.region_id.as_deref(),
            cell.sex.as_deref(),
            cell.age_group.as_deref(),
            cell.diagnosis_group.as_deref(),
        ];
        for (b, k) in self.keys.iter_mut().zip(keys) {
            b.append_option(k);
        }
        let is_mean = matches!(ind.numerator, Quantity::MeasureSum { .. });
        let (status, reason, published) = status;
        let f = if published {
            figures()
        } else {
            Figures::default()
        };
        self.numerator
            .append_option(published.then_some(counts.numerator));
        self.denominator
            .append_option(published.then_some(counts.denominator));
        self.sum_squares
            .append_option((published && is_mean).then_some(counts.sum_squares));
        self.value.append_option(f.value);
        // One value per builder whatever `f` holds, so columns never differ in length.
        for (k, (lo, hi)) in self.intervals.iter_mut().enumerate() {
            let i = f.intervals.get(k).copied().flatten();
            lo.append_option(i.map(|i| i.lower));
            hi.append_option(i.map(|i| i.upper));
        }
        self.national_value.append_option(f.national_value);
        self.comparison.append_option(f.comparison);
        for (k, (lo, hi)) in self.funnels.iter_mut().enumerate() {
            let i = f.funnels.get(k).copied().flatten();
            lo.append_option(i.map(|i| i.lower));
            hi.append_option(i.map(|i| i.upper));
        }
        self.baseline_value.append_option(f.baseline_value);
        self.change.append_option(f.change);
        self.change_lower
            .append_option(f.change_interval.map(|i| i.lower));
        self.change_upper
            .append_option(f.change_interval.map(|i| i.upper));
        self.change_significant.append_option(f.change_significant);
        self.spc_signal.append_option(f.spc_signal.as_deref());
        self.status.append_value(status);
        self.reason.append_option(reason);
    }

    pub(crate) fn finish(mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::new();
        for b in &mut self.keys {
            columns.push(Arc::new(b.finish()));
        }
        columns.push(Arc::new(self.numerator.finish()));
        columns.push(Arc::new(self.denominator.finish()));
        columns.push(Arc::new(self.sum_squares.finish()));
        columns.push(Arc::new(self.value.finish()));
        for (lo, hi) in &mut self.intervals {
            columns.push(Arc::new(lo.finish()));
            columns.push(Arc::new(hi.finish()));
        }
        columns.push(Arc::new(self.national_value.finish()));
        columns.push(Arc::new(self.comparison.finish()));
        for (lo, hi) in &mut self.funnels {
            columns.push(Arc::new(lo.finish()));
            columns.push(Arc::new(hi.finish()));
        }
        columns.push(Arc::new(self.baseline_value.finish()));
        columns.push(Arc::new(self.change.finish()));
        columns.push(Arc::new(self.change_lower.finish()));
        columns.push(Arc::new(self.change_upper.finish()));
        columns.push(Arc::new(self.change_significant.finish()));
        columns.push(Arc::new(self.spc_signal.finish()));
        columns.push(Arc::new(self.status.finish()));
        columns.push(Arc::new(self.reason.finish()));
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| EngineError::DataFusion {
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
