//! Input sources (Parquet, CSV, in-memory Arrow batches), checked against the
//! data contract and cast to one canonical type per contract column.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::*;
use spiegel_model::{ColumnType, DataContract, TableContract};

use crate::error::{EngineError, Result, SchemaProblem, df};

/// Where the rows of one table come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TableSource {
    /// A Parquet file (or a folder of Parquet files).
    Parquet(PathBuf),
    /// A CSV file with a header row.
    Csv(PathBuf),
    /// Arrow record batches in memory.
    Batches(Vec<RecordBatch>),
}

/// An extract: one source per contract table, named by the contract.
///
/// ```
/// use spiegel_engine::Extract;
///
/// let extract = Extract::new().with_parquet("person", "extract/person.parquet");
/// assert!(extract.source("person").is_some());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Extract {
    tables: BTreeMap<String, TableSource>,
}

impl Extract {
    /// An empty extract.
    pub fn new() -> Extract {
        Extract::default()
    }

    /// An extract folder: `<table>.parquet` or `<table>.csv` for each contract
    /// table that is present (Parquet wins when both are). Tables the run
    /// needs but the folder lacks are reported when the run starts.
    pub fn from_dir(dir: impl AsRef<Path>, contract: &DataContract) -> Result<Extract> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(EngineError::File {
                action: "read",
                path: dir.to_path_buf(),
                message: "not a folder".into(),
            });
        }
        let mut tables = BTreeMap::new();
        for name in contract.tables.keys() {
            let parquet = dir.join(format!("{name}.parquet"));
            let csv = dir.join(format!("{name}.csv"));
            if parquet.exists() {
                tables.insert(name.clone(), TableSource::Parquet(parquet));
            } else if csv.exists() {
                tables.insert(name.clone(), TableSource::Csv(csv));
            }
        }
        Ok(Extract { tables })
    }

    /// Adds or replaces a table from record batches.
    pub fn with_batches(mut self, table: impl Into<String>, batches: Vec<RecordBatch>) -> Extract {
        self.tables
            .insert(table.into(), TableSource::Batches(batches));
        self
    }

    /// Adds or replaces a table from a Parquet file.
    pub fn with_parquet(mut self, table: impl Into<String>, path: impl Into<PathBuf>) -> Extract {
        self.tables
            .insert(table.into(), TableSource::Parquet(path.into()));
        self
    }

    /// Adds or replaces a table from a CSV file.
    pub fn with_csv(mut self, table: impl Into<String>, path: impl Into<PathBuf>) -> Extract {
        self.tables
            .insert(table.into(), TableSource::Csv(path.into()));
        self
    }

    /// The source of a table.
    pub fn source(&self, table: &str) -> Option<&TableSource> {
        self.tables.get(table)
    }
}

/// The Arrow type each contract type is cast to before compilation. Strings
/// become Utf8View: DataFusion's own Parquet reading type, so the common case
/// needs no copy of the string data.
pub(crate) fn canonical(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::String => DataType::Utf8View,
        ColumnType::Date => DataType::Date32,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Int16 => DataType::Int16,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        _ => DataType::Utf8,
    }
}

/// Whether an input type can stand for a contract type.
fn compatible(dt: &DataType, ty: ColumnType) -> bool {
    use DataType as D;
    let string = |d: &DataType| matches!(d, D::Utf8 | D::LargeUtf8 | D::Utf8View);
    let int = |d: &DataType| {
        matches!(
            d,
            D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64
        )
    };
    // A column with no values at all (all null, e.g. an empty optional column
    // from pandas) has Arrow type Null: it fits any type; the null checks
    // decide whether nulls are allowed there.
    if matches!(dt, D::Null) {
        return true;
    }
    match ty {
        ColumnType::String => string(dt) || matches!(dt, D::Dictionary(_, v) if string(v)),
        ColumnType::Date => matches!(dt, D::Date32 | D::Date64),
        ColumnType::Bool => matches!(dt, D::Boolean),
        ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => int(dt),
        ColumnType::Float64 => matches!(dt, D::Float16 | D::Float32 | D::Float64) || int(dt),
        _ => false,
    }
}

/// Reads the header row of a CSV file.
fn csv_header(path: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).map_err(|e| EngineError::File {
        action: "read",
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut line = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut line)
        .map_err(|e| EngineError::File {
            action: "read",
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(line
        .trim_end_matches(['\r', '\n'])
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect())
}

/// Opens one table as a DataFrame with the contract's columns in canonical
/// types, or records why it cannot.
pub(crate) async fn open_table(
    ctx: &SessionContext,
    table: &TableContract,
    source: &TableSource,
    problems: &mut Vec<SchemaProblem>,
) -> Result<Option<DataFrame>> {
    let frame = match source {
        TableSource::Parquet(path) => ctx
            .read_parquet(path.display().to_string(), ParquetReadOptions::default())
            .await
            .map_err(df(format!("opening {}", path.display())))?,
        TableSource::Csv(path) => {
            // The contract gives the types, so that a CSV is read as what it
            // should be and a value that does not parse is an error, not a guess.
            let header = csv_header(path)?;
            let fields: Vec<Field> = header
                .iter()
                .map(|name| {
                    let dt = table
                        .column(name)
                        .map_or(DataType::Utf8, |c| canonical(c.ty));
                    Field::new(name, dt, true)
                })
                .collect();
            let schema = Schema::new(fields);
            ctx.read_csv(
                path.display().to_string(),
                CsvReadOptions::new()
                    .schema(&schema)
                    .has_header(true)
                    .file_extension(
                        path.extension()
                            .and_then(|e| e.to_str())
                            .map(|e| format!(".{e}"))
                            .as_deref()
                            .unwrap_or(".csv"),
                    ),
            )
            .await
            .map_err(df(format!("opening {}", path.display())))?
        }
        TableSource::Batches(batches) => {
            let schema: SchemaRef = match batches.first() {
                Some(b) => b.schema(),
                None => {
                    problems.push(SchemaProblem {
                        table: table.name.clone(),
                        column: None,
                        message: "no record batches given (pass at least one, possibly empty, batch so that the schema is known)".into(),
                    });
                    return Ok(None);
                }
            };
            if let Some(b) = batches.iter().find(|b| b.schema() != schema) {
                problems.push(SchemaProblem {
                    table: table.name.clone(),
                    column: None,
                    message: format!(
                        "record batches disagree on the schema: {:?} vs {:?}",
                        schema,
                        b.schema()
                    ),
                });
                return Ok(None);
            }
            let mem = MemTable::try_new(schema, vec![batches.clone()])
                .map_err(df(format!("registering table {}", table.name)))?;
            ctx.read_table(Arc::new(mem))
                .map_err(df(format!("registering table {}", table.name)))?
        }
    };
    let schema = frame.schema().clone();
    let before = problems.len();
    let mut select = Vec::new();
    for c in &table.columns {
        match schema.field_with_unqualified_name(&c.name) {
            Err(_) => problems.push(SchemaProblem {
                table: table.name.clone(),
                column: Some(c.name.clone()),
                message: format!("missing (the contract needs a {} column)", c.ty.name()),
            }),
            Ok(f) if !compatible(f.data_type(), c.ty) => problems.push(SchemaProblem {
                table: table.name.clone(),
                column: Some(c.name.clone()),
                message: format!(
                    "has type {}, the contract needs {}",
                    f.data_type(),
                    c.ty.name()
                ),
            }),
            Ok(_) => {
                select.push(cast(col(format!("\"{}\"", c.name)), canonical(c.ty)).alias(&c.name))
            }
        }
    }
    if problems.len() > before {
        return Ok(None);
    }
    let frame = frame.select(select).map_err(df(format!(
        "casting table {} to the contract types",
        table.name
    )))?;
    Ok(Some(frame))
}
