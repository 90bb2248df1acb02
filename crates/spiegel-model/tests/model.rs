//! Loading, validation and schema tests of the definition format.
//!
//! - the valid catalogue (`fixtures/indicators/palliative`) and what it resolves to;
//! - every broken definition under `fixtures/indicators/invalid`, its message
//!   compared with an insta snapshot (`tests/snapshots/`; write new ones with
//!   `INSTA_UPDATE=always cargo test -p spiegel-model`);
//! - the JSON Schemas checked in under `docs/schema/` (regenerate with
//!   `UPDATE_SCHEMA=1 cargo test -p spiegel-model`);
//! - a property test: garbled definitions never panic the loader.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::Value as Json;
use spiegel_model::{
    Catalogue, CodeMatcher, ColumnFilter, Condition, CountRange, Feature, FeatureKind, ModelError,
    Predicate, Quantity, Source, Timing, Value, Window,
};

// ---------------------------------------------------------------------------
// Helpers

/// The repository root, as the manifest sees it.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    repo().join("fixtures")
}

/// The repository prefix that messages of `load_dir` carry (stripped in snapshots).
fn repo_prefix() -> String {
    format!("{}/", repo().display())
}

/// A source read from a repository-relative path, named by that path.
fn source(rel: &str) -> Source {
    let text = std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    Source {
        name: rel.to_string(),
        text,
    }
}

/// The `*.yaml` files of a folder, repository-relative, in name order.
fn yaml_files(rel_dir: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(repo().join(rel_dir))
        .unwrap_or_else(|e| panic!("{rel_dir}: {e}"))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("{rel_dir}/{n}"))
        .collect();
    out.sort();
    out
}

const PALLIATIVE: &str = "fixtures/indicators/palliative";
const PALLIATIVE_CATALOGUE: &str = "fixtures/indicators/palliative/catalogue.yaml";
const INVALID: &str = "fixtures/indicators/invalid";

fn palliative() -> Catalogue {
    Catalogue::load_dir(fixtures().join("indicators/palliative")).unwrap_or_else(|e| panic!("{e}"))
}

/// The `# expect: ...` lines of a case file: text the error message must contain.
fn expectations(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect:"))
        .map(str::trim)
        .collect()
}

/// Checks one invalid case: loading fails with `Invalid`, every problem names
/// its file and says something, the `# expect:` texts are in the message, and
/// the message equals the snapshot `name`.
fn check_invalid(name: &str, case_text: &str, result: spiegel_model::Result<Catalogue>) {
    let err = match result {
        Ok(_) => panic!("{name}: loaded without error, but the case is invalid"),
        Err(e) => e,
    };
    assert!(
        matches!(err, ModelError::Invalid { .. }),
        "{name}: expected an Invalid error, got {err}"
    );
    assert!(!err.problems().is_empty(), "{name}: no problems listed");
    for p in err.problems() {
        assert!(
            !p.file.is_empty() && !p.message.is_empty(),
            "{name}: incomplete problem {p:?}"
        );
    }
    let message = err.to_string().replace(&repo_prefix(), "");
    let expected = expectations(case_text);
    assert!(
        !expected.is_empty(),
        "{name}: the case file has no `# expect:` line"
    );
    for e in expected {
        assert!(
            message.contains(e),
            "{name}: message lacks {e:?}:\n{message}"
        );
    }
    insta::assert_snapshot!(name, message);
}

/// Runs every case, then reports all that failed (not only the first).
fn run_cases(cases: Vec<(String, Box<dyn FnOnce()>)>) {
    assert!(!cases.is_empty(), "no cases found");
    let mut failed = Vec::new();
    for (name, case) in cases {
        if catch_unwind(AssertUnwindSafe(case)).is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "failing cases (see above): {failed:?}");
}

fn stem(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a file name")
        .to_string()
}

// ---------------------------------------------------------------------------
// The valid catalogue

#[test]
fn palliative_catalogue_loads_all_22_indicators() {
    let c = palliative();
    assert_eq!(c.indicators.len(), 22);
    assert_eq!(c.disclosure.threshold, 10);
    assert_eq!(c.disclosure.forced, vec!["national".to_string()]);
    assert_eq!(c.age_groups.len(), 3);
    assert_eq!(c.diagnosis.groups.len(), 9);
    // Every indicator file is in the catalogue, under its own id.
    for file in yaml_files(PALLIATIVE)
        .iter()
        .filter(|f| !f.ends_with("/catalogue.yaml"))
    {
        assert!(
            c.indicator(&stem(file)).is_some(),
            "{file}: id is not the file stem"
        );
    }
}

#[test]
fn palliative_catalogue_loads_from_sources_as_from_dir() {
    let indicators: Vec<Source> = yaml_files(PALLIATIVE)
        .iter()
        .filter(|f| !f.ends_with("/catalogue.yaml"))
        .map(|f| source(f))
        .collect();
    let from_sources = Catalogue::from_sources(&source(PALLIATIVE_CATALOGUE), &indicators)
        .unwrap_or_else(|e| panic!("{e}"));
    let from_dir = palliative();
    assert_eq!(from_sources.indicators.len(), from_dir.indicators.len());
    for (a, b) in from_sources.indicators.iter().zip(&from_dir.indicators) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.numerator, b.numerator, "{}", a.id);
        assert_eq!(a.denominator, b.denominator, "{}", a.id);
    }
}

/// The condition of a `Count` quantity.
fn count_condition(q: &Quantity) -> &Condition {
    match q {
        Quantity::Count(c) => c,
        other => panic!("expected a count, got {other:?}"),
    }
}

#[test]
fn new_in_window_is_in_window_and_not_in_lookback() {
    let c = palliative();
    let ind = c
        .indicator("new_questionable_medication_90d")
        .expect("fixture");
    let den = count_condition(&ind.denominator);
    let num = count_condition(&ind.numerator);

    // The denominator is the GP-panel population: adults, palliative-relevant, in the panel.
    let Condition::All(population) = den else {
        panic!("denominator is not a conjunction: {den:?}")
    };
    assert_eq!(population.len(), 3, "{population:?}");

    // The numerator is the denominator's conjunction plus the desugared criterion.
    let Condition::All(parts) = num else {
        panic!("numerator is not a conjunction: {num:?}")
    };
    assert_eq!(
        &parts[..population.len()],
        &population[..],
        "numerator starts with the denominator"
    );
    let desugared = &parts[population.len()..];

    let list = &c.code_lists["questionable_value_end_of_life"];
    let in_window = Feature {
        table: "medication".into(),
        filter: vec![ColumnFilter {
            column: "atc_code".into(),
            predicate: Predicate::InCodes {
                list: list.name.clone(),
                groups: list.groups.clone(),
            },
        }],
        window: Window { from: 90, to: 0 },
        kind: FeatureKind::Count(Timing::Start),
    };
    // Look-back of 365 days ending the day before the window starts: [death-455, death-91].
    let lookback = Feature {
        window: Window {
            from: 90 + 365,
            to: 91,
        },
        ..in_window.clone()
    };
    let expected = [
        Condition::Feature {
            feature: in_window,
            range: CountRange::at_least(1),
        },
        Condition::Not(Box::new(Condition::Feature {
            feature: lookback,
            range: CountRange::at_least(1),
        })),
    ];
    assert_eq!(desugared, &expected[..]);
}

#[test]
fn icd10_ranges_and_prefixes_match_by_category() {
    let range = CodeMatcher::Range {
        low: "C00".into(),
        high: "C97".into(),
    };
    for code in ["C00", "C349", "C97", "C979", "C50"] {
        assert!(range.matches(code), "C00-C97 should match {code}");
    }
    for code in ["C98", "C980", "C1", "C", "", "D00", "B99"] {
        assert!(!range.matches(code), "C00-C97 should not match {code:?}");
    }
    let prefix = CodeMatcher::Prefix("G122".into());
    assert!(prefix.matches("G122"));
    assert!(prefix.matches("G1221"));
    assert!(!prefix.matches("G12"));
    assert!(!prefix.matches("G121"));

    let c = palliative();
    let groups = &c.code_lists["palliative_relevant"].groups;
    let group = |name: &str| groups.iter().find(|g| g.name == name).expect("group");
    let cancer = group("cancer");
    assert!(cancer.matches("C349") && cancer.matches("C97"));
    assert!(!cancer.matches("C98") && !cancer.matches("C1"));
    let heart = group("heart");
    for code in ["I00", "I219", "I500", "I52"] {
        assert!(heart.matches(code), "heart should match {code}");
    }
    for code in ["I12", "I120", "I13", "I132", "I53", "I60"] {
        assert!(!heart.matches(code), "heart should not match {code}");
    }
    let neuro = group("neurodegenerative");
    assert!(neuro.matches("G122") && neuro.matches("G10") && neuro.matches("G903"));
    assert!(!neuro.matches("G12") && !neuro.matches("G121") && !neuro.matches("G90"));
}

#[test]
fn diagnosis_group_of_takes_the_first_matching_group() {
    let c = palliative();
    let cases = [
        (Some("C349"), "cancer"),
        (Some("C97"), "cancer"),
        (Some("C98"), "other"),
        (Some("I500"), "heart"),
        (Some("I120"), "renal"),
        (Some("I13"), "renal"),
        (Some("J96"), "respiratory"),
        (Some("I639"), "stroke"),
        (Some("K703"), "liver"),
        (Some("F03"), "dementia"),
        (Some("G122"), "neurodegenerative"),
        (Some("G12"), "other"),
        (Some("B20"), "hiv"),
        (Some("X59"), "other"),
        (Some(""), "other"),
        (None, "other"),
    ];
    for (code, group) in cases {
        assert_eq!(c.diagnosis_group_of(code), group, "{code:?}");
    }
}

#[test]
fn age_groups_cover_every_age() {
    let c = palliative();
    let cases = [
        (0, Some("0-64")),
        (17, Some("0-64")),
        (64, Some("0-64")),
        (65, Some("65-79")),
        (79, Some("65-79")),
        (80, Some("80+")),
        (120, Some("80+")),
        (-1, None),
    ];
    for (age, label) in cases {
        assert_eq!(c.age_group_of(age), label, "age {age}");
    }
}

#[test]
fn adult_populations_start_at_18() {
    let c = palliative();
    // The first part of the adult population of place_of_death_home: age_at_death >= 18.
    let ind = c.indicator("place_of_death_home").expect("fixture");
    let Condition::All(parts) = count_condition(&ind.denominator) else {
        panic!("not a conjunction")
    };
    let age = parts
        .iter()
        .find_map(|p| match p {
            Condition::Attribute { column, predicate } if column == "age_at_death" => {
                Some(predicate)
            }
            _ => None,
        })
        .expect("an age predicate");
    for (years, adult) in [(0, false), (17, false), (18, true), (65, true), (120, true)] {
        assert_eq!(age.eval(Some(&Value::Int(years))), adult, "age {years}");
    }
    assert!(!age.eval(None), "an unknown age is not adult");
}

// ---------------------------------------------------------------------------
// Invalid definitions: one snapshot per case

#[test]
fn invalid_indicators_are_reported() {
    let cases = yaml_files(&format!("{INVALID}/indicators"))
        .into_iter()
        .map(|file| {
            let name = format!("invalid_indicator__{}", stem(&file));
            let run: Box<dyn FnOnce()> = Box::new({
                let name = name.clone();
                move || {
                    let case = source(&file);
                    let result = Catalogue::from_sources(
                        &source(PALLIATIVE_CATALOGUE),
                        std::slice::from_ref(&case),
                    );
                    check_invalid(&name, &case.text, result);
                }
            });
            (name, run)
        })
        .collect();
    run_cases(cases);
}

#[test]
fn invalid_catalogues_are_reported() {
    let cases = yaml_files(&format!("{INVALID}/catalogues"))
        .into_iter()
        .map(|file| {
            let name = format!("invalid_catalogue__{}", stem(&file));
            let run: Box<dyn FnOnce()> = Box::new({
                let name = name.clone();
                move || {
                    let case = source(&file);
                    let indicator = source(&format!("{PALLIATIVE}/hospital_admission_30d.yaml"));
                    let result = Catalogue::from_sources(&case, &[indicator]);
                    check_invalid(&name, &case.text, result);
                }
            });
            (name, run)
        })
        .collect();
    run_cases(cases);
}

#[test]
fn duplicate_ids_across_files_are_reported() {
    let dir = format!("{INVALID}/duplicate_id");
    let copy = source(&format!("{dir}/place_of_death_hospital_copy.yaml"));
    let result = Catalogue::load_dir(repo().join(&dir));
    check_invalid("invalid_folder__duplicate_id", &copy.text, result);
}

#[test]
fn several_problems_in_one_file_are_all_reported() {
    let case = source(&format!("{INVALID}/indicators/several_problems.yaml"));
    let err = Catalogue::from_sources(&source(PALLIATIVE_CATALOGUE), std::slice::from_ref(&case))
        .expect_err("invalid");
    let problems = err.problems();
    assert!(problems.len() >= 7, "{err}");
    for p in problems {
        assert_eq!(p.file, case.name);
        assert_eq!(p.indicator.as_deref(), Some("Several-Problems"));
        assert!(!p.field.is_empty(), "{p}");
    }
}

#[test]
fn problems_of_every_file_are_collected() {
    // Three broken files at once: a syntax error, a structure error and a
    // semantic error are all reported, in file order.
    let files = ["yaml_syntax", "unknown_field", "unknown_table"]
        .map(|c| source(&format!("{INVALID}/indicators/{c}.yaml")));
    let err = Catalogue::from_sources(&source(PALLIATIVE_CATALOGUE), &files).expect_err("invalid");
    let reported: Vec<&str> = err.problems().iter().map(|p| p.file.as_str()).collect();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(reported, names, "{err}");
}

#[test]
fn an_unreadable_folder_is_an_io_error() {
    let err =
        Catalogue::load_dir(fixtures().join("indicators/no_such_folder")).expect_err("missing");
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
    assert!(err.problems().is_empty());
}

// ---------------------------------------------------------------------------
// JSON Schema

fn schema_dir() -> PathBuf {
    repo().join("docs/schema")
}

#[test]
fn checked_in_schemas_are_up_to_date() {
    let update = std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| !v.is_empty() && v != "0");
    let files = [
        ("indicator.schema.json", spiegel_model::indicator_schema()),
        ("catalogue.schema.json", spiegel_model::catalogue_schema()),
    ];
    let mut stale = Vec::new();
    for (name, generated) in files {
        let path = schema_dir().join(name);
        if update {
            std::fs::create_dir_all(schema_dir()).expect("create docs/schema");
            std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        if checked_in != generated {
            stale.push(format!("docs/schema/{name}"));
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} differ from the schema generated from the definition types; \
         regenerate with `UPDATE_SCHEMA=1 cargo test -p spiegel-model --test model checked_in_schemas_are_up_to_date` \
         and check the result in"
    );
}

/// A small JSON Schema checker covering what schemars emits for the
/// definition types: `$ref` into `$defs`, `type`, `const`, `properties`,
/// `required`, `additionalProperties`, `items`, `anyOf`, `oneOf`, `minimum`.
/// Returns the first violation as `path: what`.
fn check_schema(root: &Json, schema: &Json, value: &Json, path: &str) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return match schema {
            Json::Bool(false) => Err(format!("{path}: not allowed")),
            _ => Ok(()),
        };
    };
    if let Some(r) = s.get("$ref").and_then(Json::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .unwrap_or_else(|| panic!("unsupported $ref {r}"));
        check_schema(root, &root["$defs"][name], value, path)?;
    }
    if let Some(ty) = s.get("type") {
        let types: Vec<&str> = match ty {
            Json::String(t) => vec![t.as_str()],
            Json::Array(ts) => ts.iter().filter_map(Json::as_str).collect(),
            _ => vec![],
        };
        let fits = |t: &str| match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            other => panic!("unsupported type {other}"),
        };
        if !types.iter().any(|t| fits(t)) {
            return Err(format!("{path}: {value} is not of type {types:?}"));
        }
    }
    if let Some(c) = s.get("const")
        && c != value
    {
        return Err(format!("{path}: {value} is not {c}"));
    }
    if let (Some(min), Some(x)) = (s.get("minimum").and_then(Json::as_f64), value.as_f64())
        && x < min
    {
        return Err(format!("{path}: {x} is below {min}"));
    }
    if let Some(obj) = value.as_object() {
        let props = s.get("properties").and_then(Json::as_object);
        for key in s
            .get("required")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().expect("required key");
            if !obj.contains_key(key) {
                return Err(format!("{path}: missing required `{key}`"));
            }
        }
        for (k, v) in obj {
            let sub = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check_schema(root, ps, v, &sub)?,
                None => match s.get("additionalProperties") {
                    Some(Json::Bool(false)) => return Err(format!("{path}: unknown key `{k}`")),
                    Some(extra) => check_schema(root, extra, v, &sub)?,
                    None => {}
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check_schema(root, items, v, &format!("{path}[{i}]"))?;
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Json::as_array) {
        let errs: Vec<String> = any
            .iter()
            .filter_map(|b| check_schema(root, b, value, path).err())
            .collect();
        if errs.len() == any.len() {
            return Err(format!("{path}: matches none of anyOf: {errs:?}"));
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Json::as_array) {
        let errs: Vec<String> = one
            .iter()
            .filter_map(|b| check_schema(root, b, value, path).err())
            .collect();
        match one.len() - errs.len() {
            1 => {}
            0 => return Err(format!("{path}: matches none of oneOf: {errs:?}")),
            n => return Err(format!("{path}: matches {n} branches of oneOf")),
        }
    }
    Ok(())
}

fn yaml_to_json(text: &str) -> Json {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("valid YAML");
    serde_json::to_value(&yaml).expect("YAML with text keys")
}

fn schemas() -> (Json, Json) {
    let parse = |s: String| serde_json::from_str::<Json>(&s).expect("schema is JSON");
    (
        parse(spiegel_model::indicator_schema()),
        parse(spiegel_model::catalogue_schema()),
    )
}

#[test]
fn schemas_require_the_top_level_keys() {
    let (indicator, catalogue) = schemas();
    let required = |s: &Json| -> Vec<String> {
        s["required"]
            .as_array()
            .expect("required")
            .iter()
            .map(|k| k.as_str().expect("key").to_string())
            .collect()
    };
    for key in [
        "id",
        "version",
        "title",
        "type",
        "unit",
        "direction",
        "numerator",
    ] {
        assert!(
            required(&indicator).iter().any(|k| k == key),
            "indicator schema: {key}"
        );
    }
    for key in [
        "id",
        "version",
        "title",
        "data_contract",
        "code_lists",
        "age_groups",
        "diagnosis_groups",
    ] {
        assert!(
            required(&catalogue).iter().any(|k| k == key),
            "catalogue schema: {key}"
        );
    }
    assert_eq!(indicator["additionalProperties"], Json::Bool(false));
    assert_eq!(catalogue["additionalProperties"], Json::Bool(false));
}

#[test]
fn valid_fixtures_conform_to_the_schemas() {
    let (indicator, catalogue) = schemas();
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in [PALLIATIVE, &format!("{INVALID}/duplicate_id")] {
        for file in yaml_files(dir) {
            let schema = if file.ends_with("/catalogue.yaml") {
                &catalogue
            } else {
                &indicator
            };
            let json = yaml_to_json(&source(&file).text);
            if let Err(e) = check_schema(schema, schema, &json, "") {
                failures.push(format!("{file}{e}"));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 23 + 3);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn structurally_invalid_fixtures_fail_the_schemas() {
    // What serde refuses (unknown keys, wrong types, unknown variants) the
    // schema refuses too, so editors flag it before the loader does.
    let (indicator, _) = schemas();
    for case in [
        "unknown_field",
        "unknown_field_in_criterion",
        "wrong_type_version",
        "wrong_type_count",
        "unknown_direction",
        "unknown_unit",
    ] {
        let file = format!("{INVALID}/indicators/{case}.yaml");
        let json = yaml_to_json(&source(&file).text);
        assert!(
            check_schema(&indicator, &indicator, &json, "").is_err(),
            "{file} passes the schema"
        );
    }
}

// ---------------------------------------------------------------------------
// Garbled definitions never panic the loader

/// A scalar to put where a value was: text, numbers at the edges, YAML specials.
fn garbage_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        Just(i64::MIN.to_string()),
        Just(i64::MAX.to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("1e400".to_string()),
        Just("-.inf".to_string()),
        Just(".nan".to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        Just("true".to_string()),
        Just("~".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("[".to_string()),
        Just("\"".to_string()),
        Just("&a *a".to_string()),
        Just("!tag x".to_string()),
        "[a-z_]{0,12}",
        "\\PC{0,8}",
    ]
}

/// A number at the edge of i64 (where arithmetic overflows), or any scalar.
fn edge_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(i64::MIN.to_string()),
        Just(i64::MAX.to_string()),
        Just((i64::MIN + 1).to_string()),
        Just(i32::MAX.to_string()),
        garbage_scalar(),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    ReplaceValue(usize, String),
    /// Replaces the n-th number in the text (inside flow maps too).
    ReplaceNumber(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), garbage_scalar()).prop_map(|(i, s)| Mutation::ReplaceValue(i, s)),
        (any::<usize>(), edge_number()).prop_map(|(i, s)| Mutation::ReplaceNumber(i, s)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i % lines.len());
            }
            Mutation::DuplicateLine(i) => {
                let i = i % lines.len();
                lines.insert(i, lines[i].clone());
            }
            Mutation::ReplaceValue(i, s) => {
                let i = i % lines.len();
                let line = &lines[i];
                // Replace what follows the first `: ` (or the list item after `- `).
                let cut = line
                    .find(": ")
                    .map(|p| p + 2)
                    .or_else(|| line.find("- ").map(|p| p + 2));
                lines[i] = match cut {
                    Some(p) => format!("{}{s}", &line[..p]),
                    None => format!("{line} {s}"),
                };
            }
            Mutation::ReplaceNumber(i, s) => {
                let text = lines.join("\n");
                let numbers = number_spans(&text);
                if numbers.is_empty() {
                    continue;
                }
                let (start, end) = numbers[i % numbers.len()];
                let text = format!("{}{s}{}", &text[..start], &text[end..]);
                lines = text.lines().map(str::to_string).collect();
            }
        }
    }
    lines.join("\n")
}

/// Byte spans of the runs of ASCII digits in a text.
fn number_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    spans
}

/// Loads, and checks that an error is well formed.
fn load_must_not_panic(catalogue: &Source, indicators: &[Source]) -> Result<(), TestCaseError> {
    match Catalogue::from_sources(catalogue, indicators) {
        Ok(_) => Ok(()),
        Err(e) => {
            prop_assert!(!e.problems().is_empty(), "an error without problems: {e}");
            for p in e.problems() {
                prop_assert!(!p.file.is_empty(), "problem without a file: {p:?}");
                prop_assert!(!p.message.is_empty(), "problem without a message: {p:?}");
            }
            prop_assert!(!e.to_string().is_empty());
            Ok(())
        }
    }
}

fn indicator_texts() -> Vec<Source> {
    yaml_files(PALLIATIVE)
        .iter()
        .filter(|f| !f.ends_with("/catalogue.yaml"))
        .map(|f| source(f))
        .collect()
}

// 256 cases each by default; more with `PROPTEST_CASES=20000`.
proptest! {
    #[test]
    fn garbled_indicators_never_panic(which in any::<usize>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let texts = indicator_texts();
        let base = &texts[which % texts.len()];
        let garbled = Source { name: base.name.clone(), text: mutate(&base.text, &mutations) };
        load_must_not_panic(&source(PALLIATIVE_CATALOGUE), &[garbled])?;
    }

    #[test]
    fn garbled_catalogues_never_panic(mutations in prop::collection::vec(mutation(), 1..4)) {
        let base = source(PALLIATIVE_CATALOGUE);
        let garbled = Source { name: base.name.clone(), text: mutate(&base.text, &mutations) };
        load_must_not_panic(&garbled, &indicator_texts())?;
    }
}

#[test]
fn extreme_numbers_do_not_overflow() {
    // Values at the edge of i64 in windows, counts and age groups are
    // reported (or accepted), never an arithmetic overflow.
    let catalogue = source(PALLIATIVE_CATALOGUE);
    let base = source(&format!("{PALLIATIVE}/palliative_care_started_early.yaml"));
    for (from, to) in [
        (i64::MAX, i64::MIN),
        (i64::MIN, i64::MAX),
        (0, i64::MIN),
        (i64::MAX, 0),
    ] {
        let text = base.text.replace(
            "{from_days: 365, to_days: 31}",
            &format!("{{from_days: {from}, to_days: {to}}}"),
        );
        assert_ne!(text, base.text);
        let err = Catalogue::from_sources(
            &catalogue,
            &[Source {
                name: base.name.clone(),
                text,
            }],
        )
        .expect_err("an impossible window");
        assert!(
            err.problems().iter().all(|p| p.field.ends_with("window")),
            "{err}"
        );
    }
    let text = catalogue.text.replace(
        r#"{label: "80+", from: 80}"#,
        &format!(r#"{{label: "80+", from: 80, to: {}}}"#, i64::MAX),
    );
    assert_ne!(text, catalogue.text);
    let err = Catalogue::from_sources(
        &Source {
            name: catalogue.name.clone(),
            text,
        },
        &[base],
    )
    .expect_err("a closed last age group");
    assert!(err.to_string().contains("open-ended"), "{err}");
}
