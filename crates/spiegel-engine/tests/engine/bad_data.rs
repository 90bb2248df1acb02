//! Bad input data: every problem gets a clear error naming the table, the
//! column or check, and example rows; nothing panics.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use spiegel_engine::{Engine, EngineError, Extract, RunOptions};

use crate::tiny::{catalogue, extract_from, fixtures, tiny_batches};

fn run(extract: &Extract) -> Result<spiegel_engine::RunOutput, EngineError> {
    Engine::new(catalogue())
        .with_options(RunOptions {
            threshold: Some(1),
            p_percent: Some(0),
            target_partitions: Some(2),
            ..RunOptions::default()
        })
        .run_blocking(extract)
}

/// Replaces one column of a batch (possibly with another type).
fn replace(batch: &RecordBatch, name: &str, array: ArrayRef) -> RecordBatch {
    let schema = batch.schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.name() == name {
                Field::new(name, array.data_type().clone(), true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            if f.name() == name {
                array.clone()
            } else {
                c.clone()
            }
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
}

fn drop_column(batch: &RecordBatch, name: &str) -> RecordBatch {
    let idx = batch.schema().index_of(name).expect("column");
    let mut b = batch.clone();
    b.remove_column(idx);
    b
}

fn date(s: &str) -> i32 {
    let (y, rest) = s.split_at(4);
    let m: u32 = rest[1..3].parse().unwrap();
    let d: u32 = rest[4..6].parse().unwrap();
    let y: i32 = y.parse().unwrap();
    // Days from civil (Howard Hinnant), enough for test dates.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe as u32 * 365 + yoe as u32 / 4 - yoe as u32 / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

fn set_dates(batch: &RecordBatch, name: &str, edits: &[(usize, Option<&str>)]) -> RecordBatch {
    let idx = batch.schema().index_of(name).expect("column");
    let a = batch
        .column(idx)
        .as_any()
        .downcast_ref::<Date32Array>()
        .expect("date32");
    let mut values: Vec<Option<i32>> = a.iter().collect();
    for (row, v) in edits {
        values[*row] = v.map(date);
    }
    replace(batch, name, Arc::new(Date32Array::from(values)))
}

fn message(e: EngineError) -> String {
    e.to_string()
}

#[test]
fn dates_helper_matches_arrow() {
    assert_eq!(date("1970-01-01"), 0);
    assert_eq!(date("2022-06-30"), 19_173);
}

#[test]
fn missing_column_and_wrong_type_are_listed_together() {
    let mut b = tiny_batches();
    let person = drop_column(&b["person"], "death_date");
    let person = replace(
        &person,
        "gp_panel",
        Arc::new(StringArray::from(vec!["yes"; person.num_rows()])),
    );
    b.insert("person".into(), person);
    let events = drop_column(&b["care_event"], "setting");
    b.insert("care_event".into(), events);
    let err = run(&extract_from(&b)).expect_err("must fail");
    assert!(matches!(err, EngineError::Schema { .. }));
    insta::assert_snapshot!("missing_column_and_wrong_type", message(err));
}

#[test]
fn missing_table() {
    let mut b = tiny_batches();
    b.remove("medication");
    let err = run(&extract_from(&b)).expect_err("must fail");
    insta::assert_snapshot!("missing_table", message(err));
}

#[test]
fn null_death_date() {
    let mut b = tiny_batches();
    let person = set_dates(&b["person"], "death_date", &[(2, None)]);
    b.insert("person".into(), person);
    let err = run(&extract_from(&b)).expect_err("must fail");
    assert!(matches!(err, EngineError::Data { .. }));
    insta::assert_snapshot!("null_death_date", message(err));
}

#[test]
fn end_before_start() {
    let mut b = tiny_batches();
    let events = set_dates(&b["care_event"], "end_date", &[(0, Some("2022-05-01"))]);
    b.insert("care_event".into(), events);
    let err = run(&extract_from(&b)).expect_err("must fail");
    insta::assert_snapshot!("end_before_start", message(err));
}

#[test]
fn death_before_birth_and_duplicate_person_are_listed_together() {
    let mut b = tiny_batches();
    let person = set_dates(&b["person"], "death_date", &[(3, Some("1950-01-01"))]);
    let dup = person.slice(0, 1);
    let person = concat_batches(&person.schema(), [&person, &dup]).expect("concat");
    b.insert("person".into(), person);
    let err = run(&extract_from(&b)).expect_err("must fail");
    insta::assert_snapshot!("death_before_birth_and_duplicate", message(err));
}

#[test]
fn warnings_do_not_stop_the_run() {
    // An event of an unknown person and one after death are reported, not fatal.
    let mut b = tiny_batches();
    let events = &b["care_event"];
    let ids = cast(events.column(1), &DataType::Utf8).expect("cast");
    let mut ids: Vec<Option<String>> = ids
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("strings")
        .iter()
        .map(|s| s.map(str::to_string))
        .collect();
    // Row 5 is a GP consultation: a row an indicator uses.
    ids[5] = Some("P99".into());
    let events = replace(events, "person_id", Arc::new(StringArray::from(ids)));
    let events = set_dates(&events, "start_date", &[(8, Some("2022-07-02"))]);
    b.insert("care_event".into(), events);
    let out = run(&extract_from(&b)).expect("warnings only");
    let checks: Vec<(&str, u64)> = out
        .quality
        .findings
        .iter()
        .map(|f| (f.check.as_str(), f.rows))
        .collect();
    assert!(checks.contains(&("unknown_person", 1)), "{checks:?}");
    assert!(checks.contains(&("after_death", 1)), "{checks:?}");
    // The outpatient visit is valid data that no indicator uses.
    assert!(
        checks.iter().any(|(c, _)| *c == "unused_by_indicators"),
        "{checks:?}"
    );
}

#[test]
fn csv_with_a_date_that_does_not_parse_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    for t in crate::tiny::TABLES {
        std::fs::copy(
            fixtures().join(format!("tiny/{t}.csv")),
            dir.path().join(format!("{t}.csv")),
        )
        .expect("copy");
    }
    let person = std::fs::read_to_string(dir.path().join("person.csv")).expect("read");
    std::fs::write(
        dir.path().join("person.csv"),
        person.replace("2022-03-15", "15/03/2022"),
    )
    .expect("write");
    let extract = Extract::from_dir(dir.path(), &catalogue().contract).expect("extract");
    let err = run(&extract).expect_err("must fail");
    let text = message(err);
    assert!(
        text.contains("15/03/2022") || text.to_lowercase().contains("parse"),
        "{text}"
    );
}

#[test]
fn not_a_folder() {
    let err = Extract::from_dir(fixtures().join("no-such-extract"), &catalogue().contract)
        .expect_err("must fail");
    assert!(message(err).contains("not a folder"));
}

#[test]
fn a_memory_limit_too_small_is_a_clear_error() {
    let err = Engine::new(catalogue())
        .with_options(RunOptions {
            memory_limit: 1024,
            ..RunOptions::default()
        })
        .run_blocking(&extract_from(&tiny_batches()))
        .expect_err("1 KiB cannot hold a hash table");
    let text = err.to_string();
    assert!(text.contains("Resources exhausted"), "{text}");
}

#[test]
fn run_blocking_inside_an_async_runtime_is_an_error_not_a_panic() {
    let extract = extract_from(&tiny_batches());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let err = rt.block_on(async {
        Engine::new(catalogue())
            .run_blocking(&extract)
            .expect_err("nested runtime")
    });
    assert!(err.to_string().contains("Engine::run(...).await"), "{err}");
}
