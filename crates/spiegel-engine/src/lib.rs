//! The spiegel engine: a whole indicator catalogue compiled into one
//! DataFusion plan per unit table, run over Parquet, CSV or in-memory Arrow
//! data, summed from the finest cells into every published cell.
//!
//! ```no_run
//! use spiegel_engine::{Engine, Extract};
//! use spiegel_model::Catalogue;
//!
//! let catalogue = Catalogue::load_dir("fixtures/indicators/palliative")?;
//! let extract = Extract::from_dir("fixtures/extract", &catalogue.contract)?;
//! let output = Engine::new(catalogue).run_blocking(&extract)?;
//! assert!(output.results.num_rows() > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Only this crate speaks DataFusion; the definitions ([`spiegel_model`]) do not.

#![warn(missing_docs)]

pub mod cells;
mod compile;
mod disclose;
#[cfg(feature = "dump-families")]
mod dump;
mod error;
mod figures;
mod largest;
mod quality;
mod relations;
pub mod results;
mod run;
mod source;
mod verify;

pub use cells::{
    CellKey, CellMap, CellSpace, Counts, FinestCells, Levels, PublishedCell, RegionMap, Series,
    StrataSpec,
};
pub use disclose::{DisclosureSummary, audit_schema};
pub use error::{DataProblem, EngineError, Result, SchemaProblem};
pub use figures::{ComparisonMethod, StatsOptions, level_label};
pub use quality::{QualityFinding, QualityReport, Severity};
pub use results::{results_schema, results_schema_for, write_csv, write_json, write_parquet};
pub use run::{Engine, Previous, Progress, ProtectionStep, RunOptions, RunOutput};
pub use source::{Extract, TableSource};
/// The disclosure-control crate the engine protects its output with.
pub use spiegel_disclosure;
/// Confidence levels of the statistics (`ConfidenceLevel::P95`, `P998`, or any in (0, 1)).
pub use spiegel_stats::ConfidenceLevel;

/// Re-exported so that users build record batches with the same Arrow version.
pub use datafusion::arrow;
