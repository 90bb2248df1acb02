//! Reading a catalogue folder: `catalogue.yaml` plus one YAML file per indicator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::def::{CatalogueDef, IndicatorDef};
use crate::error::{ModelError, Problem, Result};
use crate::resolved::Catalogue;
use crate::validate::{Sink, resolve_catalogue, resolve_indicator};

/// The name of the catalogue file inside a catalogue folder.
pub const CATALOGUE_FILE: &str = "catalogue.yaml";

/// One source text with the name it is reported under.
#[derive(Debug, Clone)]
pub struct Source {
    /// File name or path, used in messages.
    pub name: String,
    /// YAML text.
    pub text: String,
}

impl Catalogue {
    /// Reads and validates a catalogue folder: `catalogue.yaml` and every
    /// other `*.yaml` / `*.yml` file in it (one indicator each, in name order).
    ///
    /// Every problem of every file is collected into one
    /// [`ModelError::Invalid`].
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Catalogue> {
        let dir = dir.as_ref();
        let io = |path: &Path, source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let catalogue_path = dir.join(CATALOGUE_FILE);
        let catalogue = Source {
            name: catalogue_path.display().to_string(),
            text: std::fs::read_to_string(&catalogue_path).map_err(|e| io(&catalogue_path, e))?,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name().is_some_and(|n| n != CATALOGUE_FILE)
                    && p.extension().is_some_and(|x| x == "yaml" || x == "yml")
            })
            .collect();
        paths.sort();
        let mut indicators = Vec::with_capacity(paths.len());
        for p in paths {
            indicators.push(Source {
                name: p.display().to_string(),
                text: std::fs::read_to_string(&p).map_err(|e| io(&p, e))?,
            });
        }
        Catalogue::from_sources(&catalogue, &indicators)
    }

    /// Validates a catalogue from texts (for tests, bindings and embedding).
    pub fn from_sources(catalogue: &Source, indicators: &[Source]) -> Result<Catalogue> {
        let mut problems = Vec::new();
        let def: Option<CatalogueDef> = parse(catalogue, false, &mut problems);
        let Some(def) = def else {
            return Err(ModelError::Invalid { problems });
        };
        let parts = resolve_catalogue(
            &def,
            &mut Sink {
                file: catalogue.name.clone(),
                indicator: None,
                problems: &mut problems,
            },
        );
        let mut resolved = Vec::new();
        let mut ids = BTreeMap::new();
        for src in indicators {
            let Some(ind) = parse::<IndicatorDef>(src, true, &mut problems) else {
                continue;
            };
            let mut sink = Sink {
                file: src.name.clone(),
                indicator: Some(ind.id.clone()),
                problems: &mut problems,
            };
            if let Some(first) = ids.insert(ind.id.clone(), src.name.clone()) {
                sink.push(
                    "id",
                    format!(
                        "the id is already used by the indicator in {first}; ids must be unique"
                    ),
                );
            }
            resolved.push(resolve_indicator(
                &ind,
                &parts,
                PathBuf::from(&src.name),
                &mut sink,
            ));
        }
        if resolved.is_empty() && problems.is_empty() {
            problems.push(Problem {
                file: catalogue.name.clone(),
                indicator: None,
                field: String::new(),
                message: "the catalogue folder holds no indicator files".into(),
            });
        }
        if !problems.is_empty() {
            return Err(ModelError::Invalid { problems });
        }
        Ok(Catalogue {
            id: parts.id,
            version: parts.version,
            title: parts.title,
            contract: parts.contract,
            code_lists: parts.code_lists,
            age_groups: parts.age_groups,
            diagnosis: parts.diagnosis,
            indicators: resolved,
            disclosure: parts.disclosure,
        })
    }
}

/// Parses YAML in two steps: syntax (with line and column), then structure
/// (with the path of the offending field).
fn parse<T: DeserializeOwned>(
    src: &Source,
    is_indicator: bool,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let value: serde_yaml_ng::Value = match serde_yaml_ng::from_str(&src.text) {
        Ok(v) => v,
        Err(e) => {
            problems.push(Problem {
                file: src.name.clone(),
                indicator: None,
                field: String::new(),
                message: format!("not valid YAML: {e}"),
            });
            return None;
        }
    };
    let indicator = value
        .get("id")
        .and_then(|v| v.as_str())
        .filter(|_| is_indicator)
        .map(str::to_string);
    // Structure is read through a JSON value: the YAML deserializer wants
    // `!tag` syntax for enums, while definitions use the plain
    // `{variant: ...}` map form that JSON Schema-aware editors understand.
    let json = match serde_json::to_value(&value) {
        Ok(j) => j,
        Err(e) => {
            problems.push(Problem {
                file: src.name.clone(),
                indicator,
                field: String::new(),
                message: format!("unsupported YAML (keys must be text): {e}"),
            });
            return None;
        }
    };
    match serde_path_to_error::deserialize::<_, T>(json) {
        Ok(v) => Some(v),
        Err(e) => {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            problems.push(Problem {
                file: src.name.clone(),
                indicator,
                field,
                message: e.into_inner().to_string(),
            });
            None
        }
    }
}
