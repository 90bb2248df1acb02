//! JSON Schemas of the definition format, generated from the serde types so
//! that they cannot drift from the code (a test compares them with the files
//! checked in under `docs/schema/`).

use crate::def::{CatalogueDef, IndicatorDef};

/// The JSON Schema of an indicator file, pretty-printed.
pub fn indicator_schema() -> String {
    pretty(schemars::schema_for!(IndicatorDef))
}

/// The JSON Schema of the catalogue file, pretty-printed.
pub fn catalogue_schema() -> String {
    pretty(schemars::schema_for!(CatalogueDef))
}

fn pretty(schema: schemars::Schema) -> String {
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
