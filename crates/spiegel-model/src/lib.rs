//! Indicator definitions as typed data.
//!
//! A catalogue is a folder: `catalogue.yaml` (data contract, code lists,
//! populations, age groups) and one YAML file per indicator. Loading parses
//! each file permissively into the [`def`] types (unknown fields are still an
//! error), then validates everything into the [`resolved`] types, collecting
//! every problem with its file, indicator and field path.
//!
//! ```
//! use spiegel_model::Catalogue;
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/indicators/palliative");
//! let catalogue = Catalogue::load_dir(dir)?;
//! let home = catalogue.indicator("place_of_death_home").expect("in the fixture set");
//! assert_eq!(home.title.en, "Died at home");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This crate knows no query engine: the definitions must outlive any
//! DataFusion version.

#![warn(missing_docs)]

pub mod def;
mod error;
mod load;
mod relation;
pub mod resolved;
mod schema;
mod validate;

pub use error::{ModelError, Problem, Result};
pub use load::{CATALOGUE_FILE, Source};
pub use resolved::*;
pub use schema::{catalogue_schema, indicator_schema};
