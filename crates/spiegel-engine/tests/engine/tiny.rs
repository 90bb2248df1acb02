//! The hand-made tiny extract (`fixtures/tiny/`, twelve persons): every
//! figure below was worked out by hand from the rows, not by running spiegel.
//! The reasoning per person is in `fixtures/tiny/README.md`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::prelude::{CsvReadOptions, SessionContext};
use spiegel_engine::{Engine, EngineError, Extract, RunOptions, RunOutput};
use spiegel_model::Catalogue;

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

pub(crate) fn catalogue() -> Catalogue {
    Catalogue::load_dir(fixtures().join("indicators/palliative")).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) const TABLES: [&str; 6] = [
    "person",
    "care_event",
    "medication",
    "region",
    "population",
    "organisation",
];

/// The tiny extract as record batches with types inferred from the CSV text
/// (dates become Date32, integers Int64, flags Boolean).
pub(crate) fn tiny_batches() -> BTreeMap<String, RecordBatch> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let ctx = SessionContext::new();
        let mut out = BTreeMap::new();
        for t in TABLES {
            let path = fixtures().join(format!("tiny/{t}.csv"));
            let batches = ctx
                .read_csv(
                    path.display().to_string(),
                    CsvReadOptions::new().has_header(true),
                )
                .await
                .expect("read csv")
                .collect()
                .await
                .expect("collect csv");
            let schema = batches[0].schema();
            let batch =
                datafusion::arrow::compute::concat_batches(&schema, &batches).expect("concat");
            out.insert(t.to_string(), batch);
        }
        out
    })
}

pub(crate) fn extract_from(batches: &BTreeMap<String, RecordBatch>) -> Extract {
    batches.iter().fold(Extract::new(), |e, (t, b)| {
        e.with_batches(t.clone(), vec![b.clone()])
    })
}

fn run(extract: &Extract, threshold: i64) -> Result<RunOutput, EngineError> {
    Engine::new(catalogue())
        .with_options(RunOptions {
            threshold: Some(threshold),
            // Twelve persons: the national totals are too small to force.
            forced: Some(vec![]),
            // Three hospitals: the p% rule would hide every consultation
            // count; it has a test of its own (`magnitude_cells_...`).
            p_percent: Some(0),
            target_partitions: Some(2),
            ..RunOptions::default()
        })
        .run_blocking(extract)
}

fn tiny_csv() -> Extract {
    Extract::from_dir(fixtures().join("tiny"), &catalogue().contract).expect("tiny extract")
}

/// One results row, keyed by its cell.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    numerator: Option<i64>,
    denominator: Option<i64>,
    sum_squares: Option<i64>,
    value: Option<f64>,
    status: String,
    reason: Option<String>,
}

type Key = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The cell key of every row, in row order.
fn keys(batch: &RecordBatch) -> Vec<Key> {
    let s = |n: &str| batch.column_by_name(n).unwrap().as_string::<i32>().clone();
    let cols = [
        "indicator_id",
        "period",
        "region_level",
        "region_id",
        "sex",
        "age_group",
        "diagnosis_group",
    ]
    .map(s);
    let opt = |c: usize, r: usize| (!cols[c].is_null(r)).then(|| cols[c].value(r).to_string());
    (0..batch.num_rows())
        .map(|r| {
            (
                cols[0].value(r).to_string(),
                cols[1].value(r).to_string(),
                cols[2].value(r).to_string(),
                opt(3, r),
                opt(4, r),
                opt(5, r),
                opt(6, r),
            )
        })
        .collect()
}

fn rows(batch: &RecordBatch) -> BTreeMap<Key, Row> {
    let i = |n: &str| {
        batch
            .column_by_name(n)
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone()
    };
    let (n, d, q) = (i("numerator"), i("denominator"), i("sum_squares"));
    let mut out = BTreeMap::new();
    for (r, key) in keys(batch).into_iter().enumerate() {
        let row = Row {
            numerator: (!n.is_null(r)).then(|| n.value(r)),
            denominator: (!d.is_null(r)).then(|| d.value(r)),
            sum_squares: (!q.is_null(r)).then(|| q.value(r)),
            value: f64_at(batch, "value", r),
            status: str_at(batch, "status", r).unwrap_or_default(),
            reason: str_at(batch, "suppression_reason", r),
        };
        assert!(
            out.insert(key.clone(), row).is_none(),
            "duplicate results row {key:?}"
        );
    }
    out
}

fn key(
    id: &str,
    level: &str,
    region: Option<&str>,
    sex: Option<&str>,
    age: Option<&str>,
    diag: Option<&str>,
) -> Key {
    let o = |x: Option<&str>| x.map(str::to_string);
    (
        id.into(),
        "2022".into(),
        level.into(),
        o(region),
        o(sex),
        o(age),
        o(diag),
    )
}

fn counts(rows: &BTreeMap<Key, Row>, k: &Key) -> (i64, i64) {
    let r = rows
        .get(k)
        .unwrap_or_else(|| panic!("no results row for {k:?}"));
    (
        r.numerator
            .unwrap_or_else(|| panic!("numerator hidden for {k:?}")),
        r.denominator
            .unwrap_or_else(|| panic!("denominator hidden for {k:?}")),
    )
}

/// National numerator and denominator of all 22 indicators, by hand.
const NATIONAL: [(&str, i64, i64); 22] = [
    ("acute_admission_30d", 4, 10),
    ("chemotherapy_14d", 1, 3),
    ("deaths_pc_relevant_rate", 11, 2400),
    ("ed_visit_30d", 3, 10),
    ("ed_visits_2plus_30d", 1, 10),
    ("gp_contacts_mean_30d", 10, 8),
    ("hospital_admission_30d", 4, 10),
    ("hospital_admission_7d", 2, 10),
    ("hospital_admissions_2plus_30d", 2, 10),
    ("hospital_days_over14_30d", 2, 10),
    ("hospitals_with_pc_team", 2, 3),
    ("icu_admission_30d", 2, 10),
    ("new_questionable_medication_90d", 2, 8),
    ("opioid_90d", 4, 8),
    ("opioid_without_laxative_90d", 2, 4),
    ("out_of_hours_gp_30d", 3, 8),
    ("palliative_care_started_early", 2, 3),
    ("pc_team_coverage", 42, 3000),
    ("place_of_death_home", 4, 10),
    ("place_of_death_hospital", 2, 10),
    ("potentially_inappropriate_30d", 3, 3),
    ("resuscitation_30d", 1, 10),
];

#[test]
fn national_figures_of_all_22_indicators() {
    let out = run(&tiny_csv(), 1).unwrap_or_else(|e| panic!("{e}"));
    let rows = rows(&out.results);
    let cat = catalogue();
    let ids: HashSet<&str> = cat.indicators.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), 22);
    for (id, n, d) in NATIONAL {
        assert!(ids.contains(id), "{id} is not in the catalogue");
        let k = key(id, "national", None, None, None, None);
        assert_eq!(counts(&rows, &k), (n, d), "{id}");
        assert_eq!(rows[&k].status, "published");
    }
    let mean = &rows[&key("gp_contacts_mean_30d", "national", None, None, None, None)];
    assert_eq!(mean.sum_squares, Some(20));
    assert_eq!(mean.value, Some(1.25));
    let rate = &rows[&key(
        "deaths_pc_relevant_rate",
        "national",
        None,
        None,
        None,
        None,
    )];
    // The rate is directly standardised (ESP 2013 summed per age group, both
    // sexes; P11 of unknown sex is in the counts, not in the standardisation):
    // F 0-64 2/300, F 80+ 4/600, M 0-64 1/300, M 65-79 2/300, M 80+ 1/600,
    // weights 80,500 / 14,500 / 5,000 per sex.
    let dsr = (80500.0 * 2.0 / 300.0
        + 5000.0 * 4.0 / 600.0
        + 80500.0 / 300.0
        + 14500.0 * 2.0 / 300.0
        + 5000.0 / 600.0)
        / 200_000.0
        * 1000.0;
    assert!(
        (rate.value.unwrap() - dsr).abs() < 1e-12,
        "{:?} vs {dsr}",
        rate.value
    );
    // Proportions carry no sum of squares.
    assert_eq!(
        rows[&key("opioid_90d", "national", None, None, None, None)].sum_squares,
        None
    );
}

#[test]
fn region_levels_and_strata_by_hand() {
    let out = run(&tiny_csv(), 1).unwrap_or_else(|e| panic!("{e}"));
    let rows = rows(&out.results);
    let h = "hospital_admission_30d";
    let cases: Vec<(Key, (i64, i64))> = vec![
        // Networks: N1 = GM0001 + GM0002, N2 = GM0003.
        (key(h, "network", Some("N1"), None, None, None), (4, 7)),
        (key(h, "network", Some("N2"), None, None, None), (0, 3)),
        // Care-office regions cut across networks: R1 = GM0001, R2 = GM0002 + GM0003.
        (
            key(h, "care_office_region", Some("R1"), None, None, None),
            (3, 4),
        ),
        (
            key(h, "care_office_region", Some("R2"), None, None, None),
            (1, 6),
        ),
        (key(h, "province", Some("P1"), None, None, None), (4, 7)),
        (key(h, "province", Some("P2"), None, None, None), (0, 3)),
        // Strata: P11 (sex unknown) is in no sex stratum.
        (key(h, "national", None, Some("female"), None, None), (3, 5)),
        (key(h, "national", None, Some("male"), None, None), (1, 4)),
        (key(h, "national", None, None, Some("80+"), None), (2, 5)),
        (key(h, "national", None, None, Some("65-79"), None), (1, 3)),
        (key(h, "national", None, None, Some("0-64"), None), (1, 2)),
        (
            key(h, "network", Some("N1"), Some("female"), Some("80+"), None),
            (2, 3),
        ),
        (key(h, "national", None, None, None, Some("cancer")), (3, 3)),
        (key(h, "national", None, None, None, Some("heart")), (1, 1)),
        (key(h, "national", None, None, None, Some("renal")), (0, 2)),
        (key(h, "national", None, None, None, Some("hiv")), (0, 0)),
        (key(h, "national", None, None, None, Some("other")), (0, 0)),
        // The mean: numerator is the sum of contacts, denominator the persons.
        (
            key(
                "gp_contacts_mean_30d",
                "network",
                Some("N1"),
                None,
                None,
                None,
            ),
            (4, 5),
        ),
        (
            key(
                "gp_contacts_mean_30d",
                "network",
                Some("N2"),
                None,
                None,
                None,
            ),
            (6, 3),
        ),
        (
            key(
                "gp_contacts_mean_30d",
                "national",
                None,
                Some("female"),
                None,
                None,
            ),
            (5, 4),
        ),
        // The rate: decedents of all ages over inhabitants.
        (
            key(
                "deaths_pc_relevant_rate",
                "network",
                Some("N1"),
                None,
                None,
                None,
            ),
            (8, 1600),
        ),
        (
            key(
                "deaths_pc_relevant_rate",
                "network",
                Some("N2"),
                None,
                None,
                None,
            ),
            (3, 800),
        ),
        (
            key(
                "deaths_pc_relevant_rate",
                "national",
                None,
                Some("female"),
                None,
                None,
            ),
            (6, 1200),
        ),
        (
            key(
                "deaths_pc_relevant_rate",
                "national",
                None,
                None,
                Some("80+"),
                None,
            ),
            (5, 1200),
        ),
        (
            key(
                "deaths_pc_relevant_rate",
                "national",
                None,
                None,
                Some("0-64"),
                None,
            ),
            (3, 600),
        ),
        // Organisations: hospitals placed by the municipality of their region_id.
        (
            key(
                "hospitals_with_pc_team",
                "network",
                Some("N1"),
                None,
                None,
                None,
            ),
            (1, 2),
        ),
        (
            key(
                "hospitals_with_pc_team",
                "network",
                Some("N2"),
                None,
                None,
                None,
            ),
            (1, 1),
        ),
        (
            key(
                "hospitals_with_pc_team",
                "care_office_region",
                Some("R2"),
                None,
                None,
                None,
            ),
            (1, 2),
        ),
        (
            key("pc_team_coverage", "network", Some("N1"), None, None, None),
            (30, 1800),
        ),
        (
            key("pc_team_coverage", "network", Some("N2"), None, None, None),
            (12, 1200),
        ),
    ];
    for (k, expected) in cases {
        assert_eq!(counts(&rows, &k), expected, "{k:?}");
    }
    let mean_n2 = &rows[&key(
        "gp_contacts_mean_30d",
        "network",
        Some("N2"),
        None,
        None,
        None,
    )];
    assert_eq!(mean_n2.sum_squares, Some(14));
    assert_eq!(mean_n2.value, Some(2.0));
    let zero = &rows[&key(h, "national", None, None, None, Some("hiv"))];
    assert_eq!((zero.value, zero.status.as_str()), (None, "published"));
}

#[test]
fn publication_shape() {
    let out = run(&tiny_csv(), 1).unwrap_or_else(|e| panic!("{e}"));
    let rows = rows(&out.results);
    // Cells not allowed by an indicator's stratifiers are not published.
    assert!(!rows.contains_key(&key(
        "chemotherapy_14d",
        "national",
        None,
        None,
        None,
        Some("cancer")
    )));
    assert!(!rows.contains_key(&key(
        "deaths_pc_relevant_rate",
        "national",
        None,
        None,
        None,
        Some("cancer")
    )));
    assert!(!rows.contains_key(&key(
        "hospitals_with_pc_team",
        "national",
        None,
        Some("female"),
        None,
        None
    )));
    // Diagnosis groups are published for the nation only.
    assert!(!rows.contains_key(&key(
        "opioid_90d",
        "network",
        Some("N1"),
        None,
        None,
        Some("cancer")
    )));
    // Count per fully stratified indicator: 1 nation + 2 networks + 2 regions + 2 provinces = 7 regions,
    // x (1 + 2 sexes + 3 ages + 6 sex x age) = 84, plus 10 diagnosis groups for the nation.
    let per = |id: &str| rows.keys().filter(|k| k.0 == id).count();
    assert_eq!(per("opioid_90d"), 7 * 12 + 10);
    assert_eq!(per("chemotherapy_14d"), 7 * 12);
    assert_eq!(per("deaths_pc_relevant_rate"), 7 * 12);
    assert_eq!(per("hospitals_with_pc_team"), 7);
    assert_eq!(out.periods, vec![2022]);
}

#[test]
fn primary_suppression_hides_small_counts_and_their_value() {
    let out = run(&tiny_csv(), 10).unwrap_or_else(|e| panic!("{e}"));
    let rows = rows(&out.results);
    let hidden = &rows[&key("hospital_admission_30d", "national", None, None, None, None)];
    assert_eq!(hidden.status, "suppressed_primary");
    assert_eq!(hidden.reason.as_deref(), Some("numerator_below_threshold"));
    assert_eq!(
        (hidden.numerator, hidden.denominator, hidden.value),
        (None, None, None)
    );
    let both = &rows[&key("hospitals_with_pc_team", "national", None, None, None, None)];
    assert_eq!(
        both.reason.as_deref(),
        Some("numerator_and_denominator_below_threshold")
    );
    let mean = &rows[&key("gp_contacts_mean_30d", "national", None, None, None, None)];
    assert_eq!(mean.reason.as_deref(), Some("denominator_below_threshold"));
    assert_eq!(mean.sum_squares, None);
    let shown = &rows[&key(
        "deaths_pc_relevant_rate",
        "national",
        None,
        None,
        None,
        None,
    )];
    assert_eq!((shown.numerator, shown.denominator), (Some(11), Some(2400)));
    assert_eq!(shown.status, "published");
    let small_denominator = &rows[&key(
        "hospital_admission_30d",
        "network",
        Some("N2"),
        None,
        None,
        None,
    )];
    assert_eq!(
        small_denominator.reason.as_deref(),
        Some("denominator_below_threshold")
    );
    // Zeros are not small: a zero cell is published.
    let zero_both = &rows[&key(
        "hospital_admission_30d",
        "national",
        None,
        None,
        None,
        Some("hiv"),
    )];
    assert_eq!(
        (zero_both.numerator, zero_both.status.as_str()),
        (Some(0), "published")
    );
    // Every row is either published with its counts or hidden with all of them.
    for (k, r) in &rows {
        match r.status.as_str() {
            "published" => assert!(
                r.numerator.is_some() && r.denominator.is_some() && r.reason.is_none(),
                "{k:?}"
            ),
            "suppressed_primary" | "suppressed_secondary" => {
                assert!(
                    r.numerator.is_none()
                        && r.denominator.is_none()
                        && r.value.is_none()
                        && r.sum_squares.is_none(),
                    "{k:?}"
                )
            }
            s => panic!("unexpected status {s}"),
        }
    }
}

#[test]
fn csv_parquet_and_batches_give_identical_results() {
    let from_csv = run(&tiny_csv(), 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .results;
    let batches = tiny_batches();
    let from_batches = run(&extract_from(&batches), 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .results;
    let dir = tempfile::tempdir().expect("tempdir");
    for (t, b) in &batches {
        spiegel_engine::write_parquet(b, &dir.path().join(format!("{t}.parquet")))
            .expect("write parquet");
    }
    let extract = Extract::from_dir(dir.path(), &catalogue().contract).expect("extract");
    let from_parquet = run(&extract, 1).unwrap_or_else(|e| panic!("{e}")).results;
    assert_eq!(from_csv, from_batches);
    assert_eq!(from_csv, from_parquet);
    // And one partition gives the same as two.
    let one = Engine::new(catalogue())
        .with_options(RunOptions {
            threshold: Some(1),
            p_percent: Some(0),
            forced: Some(vec![]),
            target_partitions: Some(1),
            ..RunOptions::default()
        })
        .run_blocking(&tiny_csv())
        .expect("run");
    assert_eq!(from_csv, one.results);
}

#[test]
fn finest_cells_sum_to_every_published_cell() {
    let out = run(&tiny_csv(), 1).unwrap_or_else(|e| panic!("{e}"));
    // The cell map is the linear system: national = sum of every finest cell of
    // the period; each region level partitions them.
    for map in &out.cell_maps {
        for (cell, members) in map.cells.iter().zip(&map.members) {
            if cell.level == "national" && cell.stratifiers().is_empty() {
                let expected = map.keys.iter().filter(|k| k.period == cell.period).count();
                assert_eq!(members.len(), expected, "{:?}", map.space);
            }
        }
        for level in ["network", "care_office_region", "province"] {
            let mut seen = HashSet::new();
            for (cell, members) in map.cells.iter().zip(&map.members) {
                if cell.level == level && cell.stratifiers().is_empty() {
                    for m in members {
                        assert!(seen.insert(*m), "finest cell {m} in two {level} cells");
                    }
                }
            }
            assert_eq!(
                seen.len(),
                map.keys.len(),
                "{level} covers every finest cell"
            );
        }
    }
}

/// The row index of a cell.
fn find(batch: &RecordBatch, k: &Key) -> usize {
    keys(batch)
        .iter()
        .position(|x| x == k)
        .unwrap_or_else(|| panic!("no row {k:?}"))
}

fn f64_at(batch: &RecordBatch, name: &str, row: usize) -> Option<f64> {
    let a = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_primitive::<Float64Type>();
    (!a.is_null(row)).then(|| a.value(row))
}

fn i64_at(batch: &RecordBatch, name: &str, row: usize) -> Option<i64> {
    let a = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_primitive::<Int64Type>();
    (!a.is_null(row)).then(|| a.value(row))
}

fn str_at(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let a = batch.column_by_name(name).unwrap().as_string::<i32>();
    (!a.is_null(row)).then(|| a.value(row).to_string())
}

/// Wilson's score interval, written out here from Wilson (1927).
fn wilson(x: f64, n: f64, z: f64) -> (f64, f64) {
    let p = x / n;
    let centre = p + z * z / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z * z / n;
    ((centre - half) / denom, (centre + half) / denom)
}

#[test]
fn intervals_national_value_and_comparison() {
    let out = run(&tiny_csv(), 1).unwrap_or_else(|e| panic!("{e}"));
    let b = &out.results;
    let z95 = 1.959_963_984_540_054;
    let h = "hospital_admission_30d";
    let nat = find(b, &key(h, "national", None, None, None, None));
    let (lo, hi) = wilson(4.0, 10.0, z95);
    assert!((f64_at(b, "ci95_lower", nat).unwrap() - lo).abs() < 1e-12);
    assert!((f64_at(b, "ci95_upper", nat).unwrap() - hi).abs() < 1e-12);
    // 99.8% is wider than 95%.
    assert!(f64_at(b, "ci998_lower", nat).unwrap() < lo);
    assert!(f64_at(b, "ci998_upper", nat).unwrap() > hi);
    // The nation is not compared with itself.
    assert_eq!(str_at(b, "comparison", nat), None);
    assert_eq!(f64_at(b, "national_value", nat), Some(0.4));
    // Network N1: 4 of 7 against 40% nationally; Wilson 95% [0.25, 0.84] holds 0.4.
    let n1 = find(b, &key(h, "network", Some("N1"), None, None, None));
    assert_eq!(f64_at(b, "national_value", n1), Some(0.4));
    assert_eq!(str_at(b, "comparison", n1).as_deref(), Some("similar"));
    // The national value of a stratum is the nation's in that stratum: female 3 of 5.
    let f = find(
        b,
        &key(h, "network", Some("N1"), Some("female"), None, None),
    );
    assert_eq!(f64_at(b, "national_value", f), Some(0.6));
    // Funnel limits around the national value at the cell's denominator contain it.
    let (flo, fhi) = (
        f64_at(b, "funnel_95_lower", n1).unwrap(),
        f64_at(b, "funnel_95_upper", n1).unwrap(),
    );
    assert!(flo < 0.4 && 0.4 < fhi, "{flo} {fhi}");
    // One period: no baseline, no change.
    assert_eq!(f64_at(b, "baseline_value", n1), None);
    assert_eq!(f64_at(b, "change", n1), None);
    // The mean gets a t interval; the ratio of sums none.
    let m = find(
        b,
        &key("gp_contacts_mean_30d", "national", None, None, None, None),
    );
    assert!(
        f64_at(b, "ci95_lower", m).unwrap() < 1.25 && 1.25 < f64_at(b, "ci95_upper", m).unwrap()
    );
    let r = find(
        b,
        &key("pc_team_coverage", "national", None, None, None, None),
    );
    assert_eq!(f64_at(b, "ci95_lower", r), None);
    // A zero-denominator cell has no value and no figure.
    let z = find(b, &key(h, "national", None, None, None, Some("hiv")));
    assert_eq!(
        (f64_at(b, "value", z), f64_at(b, "ci95_lower", z)),
        (None, None)
    );
}

#[test]
fn suppressed_cells_carry_no_derived_figure() {
    let out = run(&tiny_csv(), 10).unwrap_or_else(|e| panic!("{e}"));
    let b = &out.results;
    let status = b.column_by_name("status").unwrap().as_string::<i32>();
    let derived = [
        "value",
        "ci95_lower",
        "ci95_upper",
        "ci998_lower",
        "ci998_upper",
        "national_value",
        "funnel_95_lower",
        "funnel_95_upper",
        "funnel_998_lower",
        "funnel_998_upper",
        "baseline_value",
        "change",
        "change_ci_lower",
        "change_ci_upper",
    ];
    for row in 0..b.num_rows() {
        if status.value(row).starts_with("suppressed") {
            for d in derived {
                assert_eq!(f64_at(b, d, row), None, "{d} at row {row}");
            }
            assert_eq!(str_at(b, "comparison", row), None);
        }
    }
    // A published cell keeps its counts: the national rate, 11 of 2,400. Its
    // directly standardised rate is a weighted sum of the sex x age group
    // cells, which are hidden here: so it has no value and no interval.
    let rate = find(
        b,
        &key(
            "deaths_pc_relevant_rate",
            "national",
            None,
            None,
            None,
            None,
        ),
    );
    assert_eq!(str_at(b, "status", rate).as_deref(), Some("published"));
    assert_eq!(
        (
            i64_at(b, "numerator", rate),
            f64_at(b, "value", rate),
            f64_at(b, "ci95_lower", rate)
        ),
        (Some(11), None, None)
    );
}

/// The tiny extract twice: 2022 as it is and 2023 the same persons one year
/// later (new ids), so that every figure of 2023 equals 2022's.
fn two_periods() -> BTreeMap<String, RecordBatch> {
    periods(2)
}

/// The tiny extract repeated over `n` consecutive years.
fn periods(n: i32) -> BTreeMap<String, RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, Date32Array, Int64Array, StringArray};
    use datafusion::arrow::compute::{cast, concat_batches};
    use datafusion::arrow::datatypes::DataType;
    use std::sync::Arc;
    let shift = |b: &RecordBatch| -> RecordBatch {
        let columns: Vec<ArrayRef> = b
            .schema()
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| -> ArrayRef {
                match (f.name().as_str(), c.data_type()) {
                    (_, DataType::Date32) => {
                        let a = c.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
                        Arc::new(
                            a.iter()
                                .map(|d| d.map(|d| d + 365))
                                .collect::<Date32Array>(),
                        )
                    }
                    ("year", _) => {
                        let a = cast(c, &DataType::Int64).unwrap();
                        let a = a.as_primitive::<Int64Type>();
                        Arc::new(a.iter().map(|y| y.map(|y| y + 1)).collect::<Int64Array>())
                    }
                    ("person_id" | "org_id", _) => {
                        let a = c.as_string::<i32>();
                        Arc::new(
                            a.iter()
                                .map(|s| s.map(|s| format!("{s}b")))
                                .collect::<StringArray>(),
                        )
                    }
                    ("event_id", _) => {
                        let a = c.as_primitive::<Int64Type>();
                        Arc::new(
                            a.iter()
                                .map(|e| e.map(|e| e + 1000))
                                .collect::<Int64Array>(),
                        )
                    }
                    _ => c.clone(),
                }
            })
            .collect();
        RecordBatch::try_new(b.schema(), columns).unwrap()
    };
    tiny_batches()
        .into_iter()
        .map(|(t, b)| {
            let mut years = vec![b.clone()];
            for _ in 1..n {
                let next = shift(years.last().unwrap());
                years.push(next);
            }
            (t, concat_batches(&b.schema(), &years).unwrap())
        })
        .collect()
}

#[test]
fn baseline_and_change_over_two_periods() {
    let out = run(&extract_from(&two_periods()), 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.periods, vec![2022, 2023]);
    let b = &out.results;
    let h = "place_of_death_home";
    let k23 = |level: &str, region: Option<&str>| {
        let mut k = key(h, level, region, None, None, None);
        k.1 = "2023".into();
        k
    };
    let later = find(b, &k23("national", None));
    let base = find(b, &key(h, "national", None, None, None, None));
    assert_eq!(f64_at(b, "value", later), Some(0.4));
    assert_eq!(f64_at(b, "baseline_value", later), Some(0.4));
    assert_eq!(f64_at(b, "change", later), Some(0.0));
    let (lo, hi) = (
        f64_at(b, "change_ci_lower", later).unwrap(),
        f64_at(b, "change_ci_upper", later).unwrap(),
    );
    assert!(lo < 0.0 && 0.0 < hi);
    let sig = b.column_by_name("change_significant").unwrap().as_boolean();
    assert!(!sig.value(later));
    // The baseline period itself has no change.
    assert_eq!(f64_at(b, "baseline_value", base), None);
    // Region cells compare with their own baseline cell.
    let n2 = find(b, &k23("network", Some("N2")));
    assert_eq!(f64_at(b, "baseline_value", n2), f64_at(b, "value", n2));
}

#[test]
fn spc_signals_over_stable_periods() {
    // Three identical years: every point sits on the centre line, no signal.
    let out = run(&extract_from(&periods(3)), 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.periods, vec![2022, 2023, 2024]);
    let b = &out.results;
    let spc = b.column_by_name("spc_signal").unwrap().as_string::<i32>();
    let ids = b.column_by_name("indicator_id").unwrap().as_string::<i32>();
    let mut with_signal = 0;
    for r in 0..b.num_rows() {
        if !spc.is_null(r) {
            assert_eq!(spc.value(r), "none", "row {r}");
            with_signal += 1;
            // Only proportions get a chart.
            assert_ne!(ids.value(r), "gp_contacts_mean_30d");
        }
    }
    assert!(with_signal > 0);
    // Means, rates and ratios have none.
    let m = find(
        b,
        &key("gp_contacts_mean_30d", "national", None, None, None, None),
    );
    assert_eq!(str_at(b, "spc_signal", m), None);
}

#[test]
fn standardised_on_the_runs_own_population_is_the_crude_rate_of_known_sex() {
    // With the nation's own population as the standard, the national DSR is
    // sum(w x/n)/sum(w) with w = n: the crude rate over the categories of known
    // sex, 10 decedents (P11, sex unknown, left out) per 2,400 inhabitants.
    let mut cat = catalogue();
    let rate = cat
        .indicators
        .iter_mut()
        .find(|i| i.id == "deaths_pc_relevant_rate")
        .expect("rate indicator");
    rate.standardisation = Some(spiegel_model::StandardPopulation::Run);
    let out = Engine::new(cat)
        .with_options(RunOptions {
            threshold: Some(1),
            p_percent: Some(0),
            ..RunOptions::default()
        })
        .run_blocking(&tiny_csv())
        .unwrap_or_else(|e| panic!("{e}"));
    let b = &out.results;
    let nat = find(
        b,
        &key(
            "deaths_pc_relevant_rate",
            "national",
            None,
            None,
            None,
            None,
        ),
    );
    let v = f64_at(b, "value", nat).expect("a value");
    assert!((v - 10.0 / 2400.0 * 1000.0).abs() < 1e-12, "{v}");
    // The counts stay crude.
    let counts = rows(b)[&key(
        "deaths_pc_relevant_rate",
        "national",
        None,
        None,
        None,
        None,
    )]
        .clone();
    assert_eq!(
        (counts.numerator, counts.denominator),
        (Some(11), Some(2400))
    );
    // A network below 10 decedents has no standardised value, but its counts.
    let n2 = find(
        b,
        &key(
            "deaths_pc_relevant_rate",
            "network",
            Some("N2"),
            None,
            None,
            None,
        ),
    );
    assert_eq!(f64_at(b, "value", n2), None);
    assert_eq!(str_at(b, "status", n2).as_deref(), Some("published"));
}

#[test]
fn magnitude_cells_are_hidden_when_one_or_two_contributors_dominate() {
    // Hospitals H1, H2, H3: consultations 30, 0, 12; clinical admissions 1000, 800, 1200.
    // Network N1 = H1 + H2, N2 = H3; region R1 = H1, R2 = H2 + H3; province P1 = N1, P2 = N2.
    // The p% rule (p = 10): total - largest - second < 10% of the largest.
    // - nation: consultations 42 - 30 - 12 = 0 < 3 (level 3); admissions 3000 - 1200 - 1000 =
    //   800, not below 120: only the numerator is dominated;
    // - N1 / P1: consultations 30 - 30 - 0 = 0 < 3 (level 3); admissions 1800 - 1000 - 800 = 0 <
    //   100 (level 100);
    // - R1: 30 (level 3) and 1000 (level 100); R2: 12 (level 2: 1.2 rounded up) and 2000 - 1200
    //   - 800 = 0 < 120 (level 120); N2 / P2: 12 (level 2) and 1200 (level 120).
    let out = Engine::new(catalogue())
        .with_options(RunOptions {
            threshold: Some(1),
            forced: Some(vec![]),
            p_percent: Some(10),
            ..RunOptions::default()
        })
        .run_blocking(&tiny_csv())
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = rows(&out.results);
    let reason = |level: &str, region: Option<&str>| {
        let r = &rows[&key("pc_team_coverage", level, region, None, None, None)];
        assert_eq!(r.status, "suppressed_primary", "{level} {region:?}");
        assert_eq!((r.numerator, r.denominator, r.value), (None, None, None));
        r.reason.clone().unwrap_or_default()
    };
    assert_eq!(reason("national", None), "numerator_dominance");
    for (level, region) in [
        ("network", "N1"),
        ("network", "N2"),
        ("care_office_region", "R1"),
        ("care_office_region", "R2"),
        ("province", "P1"),
        ("province", "P2"),
    ] {
        assert_eq!(
            reason(level, Some(region)),
            "numerator_and_denominator_dominance"
        );
    }
    // The audit asks each its protection level (the interval width at k = 1 is 1).
    let a = &out.audit;
    let text = |n: &str| a.column_by_name(n).unwrap().as_string::<i32>().clone();
    let (id, level, region, series) = (
        text("indicator_id"),
        text("region_level"),
        text("region_id"),
        text("series"),
    );
    let width = a
        .column_by_name("required_width")
        .unwrap()
        .as_primitive::<Int64Type>()
        .clone();
    let mut widths = BTreeMap::new();
    for r in 0..a.num_rows() {
        if id.value(r) == "pc_team_coverage" {
            let region = (!region.is_null(r)).then(|| region.value(r).to_string());
            widths.insert(
                (
                    level.value(r).to_string(),
                    region,
                    series.value(r).to_string(),
                ),
                width.value(r),
            );
        }
    }
    let w = |level: &str, region: Option<&str>, series: &str| {
        widths[&(
            level.to_string(),
            region.map(str::to_string),
            series.to_string(),
        )]
    };
    assert_eq!(w("national", None, "numerator"), 3);
    assert_eq!(w("national", None, "denominator"), 1);
    assert_eq!(w("network", Some("N1"), "numerator"), 3);
    assert_eq!(w("network", Some("N1"), "denominator"), 100);
    assert_eq!(w("care_office_region", Some("R2"), "numerator"), 2);
    assert_eq!(w("care_office_region", Some("R2"), "denominator"), 120);
    assert_eq!(w("province", Some("P2"), "denominator"), 120);
}
