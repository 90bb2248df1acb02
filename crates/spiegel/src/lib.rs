//! spiegel: healthcare quality indicators (structure, process, outcome)
//! computed from routine-care extracts, as mirror information: each region's
//! figures beside the nation's, with disclosure control.
//!
//! ```
//! use spiegel::prelude::*;
//!
//! let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures");
//! let catalogue = Catalogue::load_dir(format!("{root}/indicators/palliative"))?;
//! let extract = Extract::from_dir(format!("{root}/tiny"), &catalogue.contract)?;
//! // Twelve persons: their national totals are too small for the catalogue's
//! // policy of always publishing them, so force nothing here.
//! let options = RunOptions { forced: Some(vec![]), ..RunOptions::default() };
//! let output = Engine::new(catalogue).with_options(options).run_blocking(&extract)?;
//! // One row per indicator x published cell x period, in one stable schema.
//! assert_eq!(output.results.schema(), results_schema());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crates behind the facade each do one thing: [`model`] reads and
//! validates definitions (no query engine), [`engine`] compiles them into
//! DataFusion plans and assembles the results, [`disclosure`] protects the
//! published counts (plain functions over counts), [`synth`] generates
//! synthetic national extracts. This crate is the stable API; the others may change.

#![warn(missing_docs)]

pub use spiegel_engine as engine;
pub use spiegel_engine::spiegel_disclosure as disclosure;
pub use spiegel_model as model;
pub use spiegel_synth as synth;

pub use spiegel_engine::{
    CellMap, Engine, EngineError, Extract, Progress, ProtectionStep, QualityReport, RunOptions,
    RunOutput, StrataSpec, arrow, results_schema, write_csv, write_json, write_parquet,
};
pub use spiegel_model::{Catalogue, Indicator, ModelError};

/// The names most programs need: `use spiegel::prelude::*;`.
pub mod prelude {
    pub use spiegel_engine::{
        Engine, EngineError, Extract, Progress, RunOptions, RunOutput, StrataSpec, results_schema,
    };
    pub use spiegel_model::{Catalogue, Indicator, ModelError};
}
