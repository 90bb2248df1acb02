//! Disclosure control end to end: the results table, read back as an
//! attacker would, gives no hidden sensitive count away.
//!
//! The oracle here shares no code with `spiegel-disclosure` nor with the
//! engine's cell map: it rebuilds each published cell from the results row
//! (period, level, region, strata) over the finest cells and the region
//! table read by the test itself, and decides by its own exact elimination
//! (sparse rows over `i128`, fraction-free) whether a hidden cell is a linear
//! combination of the published ones. True counts come from a run at
//! threshold 1 (nothing hidden).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::LazyLock;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use spiegel_engine::{CellKey, Engine, EngineError, Extract, Previous, RunOptions, RunOutput};

use super::tiny::{catalogue, extract_from, fixtures, tiny_batches};

const K: i64 = 10;

/// A cell: indicator, period, level, region, sex, age group, diagnosis group.
type Cell = (
    String,
    i32,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The true counts of every cell.
type Truth = HashMap<Cell, (i64, i64)>;

#[derive(Debug, Clone)]
struct Row {
    status: String,
    reason: Option<String>,
    numerator: Option<i64>,
    denominator: Option<i64>,
    value: Option<f64>,
    /// Every derived figure column: (name, is null).
    derived_null: Vec<(String, bool)>,
    national_value: Option<f64>,
    baseline_value: Option<f64>,
}

fn is_public(status: &str) -> bool {
    status == "published" || status == "forced"
}

fn read(batch: &RecordBatch) -> Vec<(Cell, Row)> {
    let s = |n: &str| batch.column_by_name(n).unwrap().as_string::<i32>().clone();
    let (id, period, level, region, sex, age, diag, status, reason) = (
        s("indicator_id"),
        s("period"),
        s("region_level"),
        s("region_id"),
        s("sex"),
        s("age_group"),
        s("diagnosis_group"),
        s("status"),
        s("suppression_reason"),
    );
    let int = |n: &str| {
        batch
            .column_by_name(n)
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone()
    };
    let (num, den) = (int("numerator"), int("denominator"));
    let float = |n: &str, r: usize| {
        let a = batch
            .column_by_name(n)
            .unwrap()
            .as_primitive::<Float64Type>();
        a.is_valid(r).then(|| a.value(r))
    };
    let derived: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| {
            n == "value"
                || n == "sum_squares"
                || n.starts_with("ci")
                || n.starts_with("funnel_")
                || n.starts_with("change")
                || n == "national_value"
                || n == "baseline_value"
                || n == "comparison"
                || n == "spc_signal"
        })
        .collect();
    let opt = |a: &datafusion::arrow::array::StringArray, r: usize| {
        a.is_valid(r).then(|| a.value(r).to_string())
    };
    (0..batch.num_rows())
        .map(|r| {
            (
                (
                    id.value(r).to_string(),
                    period.value(r).parse().unwrap(),
                    level.value(r).to_string(),
                    opt(&region, r),
                    opt(&sex, r),
                    opt(&age, r),
                    opt(&diag, r),
                ),
                Row {
                    status: status.value(r).to_string(),
                    reason: opt(&reason, r),
                    numerator: num.is_valid(r).then(|| num.value(r)),
                    denominator: den.is_valid(r).then(|| den.value(r)),
                    value: float("value", r),
                    derived_null: derived
                        .iter()
                        .map(|n| (n.clone(), batch.column_by_name(n).unwrap().is_null(r)))
                        .collect(),
                    national_value: float("national_value", r),
                    baseline_value: float("baseline_value", r),
                },
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The oracle's exact elimination.

type Sparse = Vec<(u32, i128)>;

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// `a * x - b * y`, gcd-normalised.
fn combine(a: i128, x: &Sparse, b: i128, y: &Sparse) -> Sparse {
    let mut out = Vec::with_capacity(x.len() + y.len());
    let (mut i, mut j) = (0, 0);
    while i < x.len() || j < y.len() {
        let (c, v) = match (x.get(i), y.get(j)) {
            (Some(&(cx, vx)), Some(&(cy, _))) if cx < cy => {
                i += 1;
                (cx, a * vx)
            }
            (Some(&(cx, _)), Some(&(cy, vy))) if cy < cx => {
                j += 1;
                (cy, -b * vy)
            }
            (Some(&(cx, vx)), Some(&(_, vy))) => {
                i += 1;
                j += 1;
                (cx, a * vx - b * vy)
            }
            (Some(&(cx, vx)), None) => {
                i += 1;
                (cx, a * vx)
            }
            (None, Some(&(cy, vy))) => {
                j += 1;
                (cy, -b * vy)
            }
            (None, None) => unreachable!(),
        };
        if v != 0 {
            out.push((c, v));
        }
    }
    let g = out.iter().fold(0, |g, &(_, v)| gcd(g, v));
    if g > 1 {
        for e in &mut out {
            e.1 /= g;
        }
    }
    out
}

/// Rows in echelon form, by leading column.
#[derive(Default)]
struct Echelon {
    rows: HashMap<u32, Sparse>,
}

impl Echelon {
    fn reduce(&self, mut v: Sparse) -> Sparse {
        while let Some(&(c, a)) = v.first() {
            let Some(p) = self.rows.get(&c) else { break };
            v = combine(p[0].1, &v, a, p);
        }
        v
    }

    fn insert(&mut self, v: Sparse) {
        let r = self.reduce(v);
        if let Some(&(c, _)) = r.first() {
            self.rows.insert(c, r);
        }
    }

    /// Whether `v` is a linear combination of the inserted rows: reduce by
    /// leading columns until a leading column has no pivot.
    fn spans(&self, v: Sparse) -> bool {
        self.reduce(v).is_empty()
    }
}

// ---------------------------------------------------------------------------
// Membership: the finest cells of a results row.

/// (year, municipality) -> region id per level name.
type Regions = HashMap<(i32, String), BTreeMap<String, String>>;

fn regions(batch: &RecordBatch) -> Regions {
    let s = |n: &str| {
        let a = datafusion::arrow::compute::cast(
            batch.column_by_name(n).unwrap(),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        a.as_string::<i32>().clone()
    };
    let (year, muni) = (s("year"), s("municipality_code"));
    let levels = [
        ("network", s("network_id")),
        ("care_office_region", s("care_office_region")),
        ("province", s("province")),
    ];
    (0..batch.num_rows())
        .map(|r| {
            (
                (year.value(r).parse().unwrap(), muni.value(r).to_string()),
                levels
                    .iter()
                    .map(|(l, a)| (l.to_string(), a.value(r).to_string()))
                    .collect(),
            )
        })
        .collect()
}

fn contains(cell: &Cell, key: &CellKey, regions: &Regions) -> bool {
    let m = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
    key.period == cell.1
        && (cell.2 == "national"
            || regions
                .get(&(key.period, key.municipality.clone()))
                .and_then(|r| r.get(&cell.2))
                == cell.3.as_ref())
        && m(&cell.4, &key.sex)
        && m(&cell.5, &key.age_group)
        && m(&cell.6, &key.diagnosis_group)
}

/// The finest keys of a series' space (every series of that space), sorted.
fn space_keys<'a>(output: &'a RunOutput, series: &spiegel_engine::Series) -> Vec<&'a CellKey> {
    let mut set: BTreeSet<&CellKey> = BTreeSet::new();
    for s in output
        .finest
        .series
        .iter()
        .filter(|s| s.space == series.space)
    {
        set.extend(s.cells.keys());
    }
    set.into_iter().collect()
}

/// The finest keys of a series' space, and a published cell's vector over them.
fn cell_vectors<'a>(
    output: &'a RunOutput,
    regions: &'a Regions,
    series: &spiegel_engine::Series,
) -> (Vec<&'a CellKey>, impl Fn(&Cell) -> Sparse + 'a) {
    let keys = space_keys(output, series);
    // Index the keys by (period, level, region) to keep this fast.
    let mut index: HashMap<(i32, String, Option<String>), Vec<u32>> = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        index
            .entry((key.period, "national".into(), None))
            .or_default()
            .push(i as u32);
        if let Some(r) = regions.get(&(key.period, key.municipality.clone())) {
            for (l, id) in r {
                index
                    .entry((key.period, l.clone(), Some(id.clone())))
                    .or_default()
                    .push(i as u32);
            }
        }
    }
    let ks = keys.clone();
    let vector = move |cell: &Cell| -> Sparse {
        index
            .get(&(cell.1, cell.2.clone(), cell.3.clone()))
            .into_iter()
            .flatten()
            .filter(|&&i| contains(cell, ks[i as usize], regions))
            .map(|&i| (i, 1i128))
            .collect()
    };
    (keys, vector)
}

/// The hidden sensitive cells whose counts an attacker can recompute exactly
/// from the published cells of the same indicator.
fn recoverable(
    output: &RunOutput,
    regions: &Regions,
    table: &[(Cell, bool)],
    truth: &HashMap<Cell, (i64, i64)>,
    k: i64,
) -> Vec<Cell> {
    let mut by_indicator: BTreeMap<&str, Vec<&(Cell, bool)>> = BTreeMap::new();
    for row in table {
        by_indicator.entry(row.0.0.as_str()).or_default().push(row);
    }
    // Cells the run found dominated by one or two contributors (the
    // differential test checks that finding against the raw extract).
    let dominated: HashSet<Cell> = read(&output.results)
        .into_iter()
        .filter(|(_, r)| r.reason.as_deref().is_some_and(|x| x.contains("dominance")))
        .map(|(c, _)| c)
        .collect();
    let mut found = Vec::new();
    for series in &output.finest.series {
        let Some(rows) = by_indicator.get(series.indicator_id.as_str()) else {
            continue;
        };
        let (_, vector) = cell_vectors(output, regions, series);
        let mut published = Echelon::default();
        for (cell, public) in rows.iter().map(|r| (&r.0, r.1)) {
            if public {
                published.insert(vector(cell));
            }
        }
        for (cell, public) in rows.iter().map(|r| (&r.0, r.1)) {
            let (n, d) = truth[cell];
            let small = |x: i64| (1..k).contains(&x);
            if !public && (small(n) || small(d) || dominated.contains(cell)) {
                let v = vector(cell);
                assert!(
                    !v.is_empty(),
                    "a sensitive cell without finest cells: {cell:?}"
                );
                if published.spans(v) {
                    found.push(cell.clone());
                }
            }
        }
    }
    found
}

/// Across indicators: for every count series two indicators share (equal
/// finest counts: a common denominator, or one's numerator that is the
/// other's denominator), the hidden cells where that count is small, or is a
/// numerator over a small denominator, that the union of both indicators'
/// published cells recomputes exactly.
fn recoverable_shared(
    output: &RunOutput,
    regions: &Regions,
    table: &[(Cell, bool)],
    truth: &HashMap<Cell, (i64, i64)>,
    k: i64,
) -> Vec<(Cell, String)> {
    let small = |x: i64| (1..k).contains(&x);
    let all = &output.finest.series;
    // Groups of identical count series: (space's first series, counts, members).
    type Group = (usize, Vec<i64>, Vec<(usize, bool)>);
    let mut groups: Vec<Group> = Vec::new();
    for (i, series) in all.iter().enumerate() {
        let keys = space_keys(output, series);
        for numerator in [true, false] {
            let counts: Vec<i64> = keys
                .iter()
                .map(|k| {
                    series.cells.get(*k).map_or(0, |c| {
                        if numerator {
                            c.numerator
                        } else {
                            c.denominator
                        }
                    })
                })
                .collect();
            match groups
                .iter_mut()
                .find(|(f, c, _)| all[*f].space == series.space && *c == counts)
            {
                Some((_, _, members)) => members.push((i, numerator)),
                None => groups.push((i, counts, vec![(i, numerator)])),
            }
        }
    }
    let mut found = Vec::new();
    for (first, _, members) in &groups {
        let ids: BTreeSet<&str> = members
            .iter()
            .map(|&(i, _)| all[i].indicator_id.as_str())
            .collect();
        if ids.len() < 2 {
            continue;
        }
        let (_, vector) = cell_vectors(output, regions, &all[*first]);
        let rows: Vec<&(Cell, bool)> = table
            .iter()
            .filter(|r| ids.contains(r.0.0.as_str()))
            .collect();
        // Published by any member: the cell without its indicator.
        let public: BTreeSet<Cell> = rows
            .iter()
            .filter(|r| r.1)
            .map(|r| {
                (
                    String::new(),
                    r.0.1,
                    r.0.2.clone(),
                    r.0.3.clone(),
                    r.0.4.clone(),
                    r.0.5.clone(),
                    r.0.6.clone(),
                )
            })
            .collect();
        let mut published = Echelon::default();
        for cell in &public {
            published.insert(vector(cell));
        }
        for r in rows.iter().filter(|r| !r.1) {
            let (n, d) = truth[&r.0];
            for &(i, numerator) in members {
                if all[i].indicator_id != r.0.0 {
                    continue;
                }
                let count = if numerator { n } else { d };
                if (small(count) || (numerator && small(d))) && published.spans(vector(&r.0)) {
                    found.push((
                        r.0.clone(),
                        ids.iter().copied().collect::<Vec<_>>().join(" / "),
                    ));
                }
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------
// Runs.

fn run(extract: &Extract, options: RunOptions) -> Result<RunOutput, EngineError> {
    Engine::new(catalogue())
        .with_options(RunOptions {
            target_partitions: Some(2),
            ..options
        })
        .run_blocking(extract)
}

fn bundled_batches(reverse: bool) -> BTreeMap<String, RecordBatch> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let ctx = SessionContext::new();
        let mut out = BTreeMap::new();
        for t in super::tiny::TABLES {
            let path = fixtures().join(format!("extract/{t}.parquet"));
            let batches = ctx
                .read_parquet(path.display().to_string(), ParquetReadOptions::default())
                .await
                .expect("read parquet")
                .collect()
                .await
                .expect("collect");
            let schema = batches[0].schema();
            let mut batch =
                datafusion::arrow::compute::concat_batches(&schema, &batches).expect("concat");
            if reverse {
                let n = batch.num_rows() as u32;
                let idx = datafusion::arrow::array::UInt32Array::from_iter_values((0..n).rev());
                let columns = batch
                    .columns()
                    .iter()
                    .map(|c| datafusion::arrow::compute::take(c, &idx, None).expect("take"))
                    .collect();
                batch = RecordBatch::try_new(schema, columns).expect("reversed");
            }
            out.insert(t.to_string(), batch);
        }
        out
    })
}

fn bundled() -> Extract {
    Extract::from_dir(fixtures().join("extract"), &catalogue().contract).expect("bundled extract")
}

fn region_table(path: &Path) -> Regions {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let batches = rt.block_on(async {
        let ctx = SessionContext::new();
        let df = if path.extension().is_some_and(|e| e == "csv") {
            ctx.read_csv(path.display().to_string(), Default::default())
                .await
        } else {
            ctx.read_parquet(path.display().to_string(), ParquetReadOptions::default())
                .await
        };
        df.expect("region table").collect().await.expect("collect")
    });
    let schema = batches[0].schema();
    regions(&datafusion::arrow::compute::concat_batches(&schema, &batches).expect("concat"))
}

/// The default policy on the bundled extract (k = 10, national totals forced).
static DEFAULT: LazyLock<RunOutput> = LazyLock::new(|| {
    let started = std::time::Instant::now();
    let out = run(&bundled(), RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let d = &out.disclosure;
    eprintln!(
        "bundled extract, default policy: {} cells, {} primary, {} secondary, {} forced; protection and verification {:.1} s (run {:.1} s)",
        d.cells,
        d.primary,
        d.secondary,
        d.forced,
        d.seconds,
        started.elapsed().as_secs_f64()
    );
    out
});

/// Every count of the bundled extract: a run at threshold 1 hides nothing.
static TRUTH: LazyLock<(RunOutput, Truth)> = LazyLock::new(|| {
    let out = run(
        &bundled(),
        RunOptions {
            threshold: Some(1),
            p_percent: Some(0),
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let truth = counts(&out.results);
    (out, truth)
});

fn counts(results: &RecordBatch) -> HashMap<Cell, (i64, i64)> {
    read(results)
        .into_iter()
        .map(|(c, r)| {
            assert!(is_public(&r.status), "{c:?} hidden at threshold 1");
            (c, (r.numerator.unwrap(), r.denominator.unwrap()))
        })
        .collect()
}

/// Checks (c): hidden rows carry no count and no derived figure; national
/// and baseline references come from published cells only.
fn derived_follow_status(results: &RecordBatch) {
    let rows = read(results);
    let by_cell: HashMap<&Cell, &Row> = rows.iter().map(|(c, r)| (c, r)).collect();
    for (cell, row) in &rows {
        if !is_public(&row.status) {
            assert!(
                row.numerator.is_none() && row.denominator.is_none(),
                "{cell:?}"
            );
            for (name, null) in &row.derived_null {
                assert!(null, "{name} not null on hidden row {cell:?}");
            }
            continue;
        }
        assert!(
            row.numerator.is_some() && row.denominator.is_some(),
            "{cell:?}"
        );
        if let Some(nv) = row.national_value {
            let national = (
                cell.0.clone(),
                cell.1,
                "national".to_string(),
                None,
                cell.4.clone(),
                cell.5.clone(),
                cell.6.clone(),
            );
            let n = by_cell[&national];
            assert!(
                is_public(&n.status),
                "{cell:?}: national value of a hidden cell"
            );
            assert_eq!(n.value, Some(nv), "{cell:?}");
        }
        if row.baseline_value.is_some() {
            let first = rows.iter().map(|(c, _)| c.1).min().unwrap();
            let base = (
                cell.0.clone(),
                first,
                cell.2.clone(),
                cell.3.clone(),
                cell.4.clone(),
                cell.5.clone(),
                cell.6.clone(),
            );
            let b = by_cell[&base];
            assert!(
                is_public(&b.status),
                "{cell:?}: baseline value of a hidden cell"
            );
            assert_eq!(b.value, row.baseline_value, "{cell:?}");
        }
    }
}

fn published(results: &RecordBatch) -> Vec<(Cell, bool)> {
    read(results)
        .into_iter()
        .map(|(c, r)| (c, is_public(&r.status)))
        .collect()
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn default_policy_protects_every_indicator_of_the_bundled_extract() {
    let out = &*DEFAULT;
    let (truth_run, truth) = &*TRUTH;
    assert_eq!(out.results.num_rows(), truth_run.results.num_rows());
    let regions = region_table(&fixtures().join("extract/region.parquet"));
    let table = published(&out.results);
    let found = recoverable(out, &regions, &table, truth, K);
    assert!(found.is_empty(), "recoverable hidden cells: {found:?}");
    let shared = recoverable_shared(out, &regions, &table, truth, K);
    assert!(
        shared.is_empty(),
        "recoverable through another indicator: {shared:?}"
    );
    // Every sensitive cell is hidden, and as primary: small, or a magnitude
    // dominated by one or two contributors (which cells those are is checked
    // against the raw extract by the differential test).
    for (cell, row) in read(&out.results) {
        let (n, d) = truth[&cell];
        let small = |x: i64| (1..K).contains(&x);
        let dominated = row
            .reason
            .as_deref()
            .is_some_and(|x| x.contains("dominance"));
        assert_eq!(
            small(n) || small(d) || dominated,
            row.status == "suppressed_primary",
            "{cell:?} {n}/{d} {}",
            row.status
        );
    }
    let d = &out.disclosure;
    assert!(d.primary > 0 && d.secondary > 0, "{d:?}");
    assert_eq!(d.forced, 22, "one forced national total per indicator");
    derived_follow_status(&out.results);
    // The audit table: every hidden sensitive cell, both series, passes.
    let audit = &out.audit;
    assert!(audit.num_rows() >= 2 * d.primary, "{}", audit.num_rows());
    let pass = audit.column_by_name("pass").unwrap().as_boolean();
    assert_eq!(pass.true_count(), audit.num_rows());
}

#[test]
fn threshold_only_output_is_unsafe_on_the_bundled_extract() {
    let (truth_run, truth) = &*TRUTH;
    let regions = region_table(&fixtures().join("extract/region.parquet"));
    let small = |x: i64| (1..K).contains(&x);
    let table: Vec<(Cell, bool)> = truth
        .iter()
        .map(|(c, &(n, d))| (c.clone(), !(small(n) || small(d))))
        .collect();
    let found = recoverable(truth_run, &regions, &table, truth, K);
    assert!(
        !found.is_empty(),
        "primary suppression alone should leave a hidden count recoverable"
    );
    // Through another indicator too: opioid users are the laxative indicator's denominator.
    let shared = recoverable_shared(truth_run, &regions, &table, truth, K);
    assert!(
        shared
            .iter()
            .any(|(_, pair)| pair == "opioid_90d / opioid_without_laxative_90d"),
        "{shared:?}"
    );
    eprintln!(
        "threshold-only: {} of {} primary cells recoverable, e.g. {:?}",
        found.len(),
        table.iter().filter(|(_, p)| !p).count(),
        found[0]
    );
}

#[test]
fn shuffled_rows_of_the_bundled_extract_give_identical_statuses() {
    let reversed = extract_from(&bundled_batches(true));
    let out = run(&reversed, RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let status = |b: &RecordBatch| -> Vec<(Cell, String)> {
        read(b).into_iter().map(|(c, r)| (c, r.status)).collect()
    };
    assert_eq!(status(&out.results), status(&DEFAULT.results));
    assert_eq!(out.results, DEFAULT.results);
}

#[test]
fn shuffled_rows_of_the_tiny_extract_give_identical_statuses() {
    let batches = tiny_batches();
    let reversed: BTreeMap<String, RecordBatch> = batches
        .iter()
        .map(|(t, b)| {
            let n = b.num_rows() as u32;
            let idx = datafusion::arrow::array::UInt32Array::from_iter_values((0..n).rev());
            let columns = b
                .columns()
                .iter()
                .map(|c| datafusion::arrow::compute::take(c, &idx, None).expect("take"))
                .collect();
            (
                t.clone(),
                RecordBatch::try_new(b.schema(), columns).expect("reversed"),
            )
        })
        .collect();
    for k in [2, 3, K] {
        let a = run(&extract_from(&batches), tiny_options(k)).unwrap_or_else(|e| panic!("{e}"));
        let b = run(&extract_from(&reversed), tiny_options(k)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.results, b.results, "k {k}");
        assert_eq!(a.audit, b.audit, "k {k}");
    }
}

fn tiny_options(k: i64) -> RunOptions {
    RunOptions {
        threshold: Some(k),
        forced: Some(vec![]),
        // At k = 1 every count is shown (the truth the oracle works from).
        p_percent: (k == 1).then_some(0),
        ..RunOptions::default()
    }
}

#[test]
fn default_policy_without_forcing_protects_the_tiny_extract() {
    let tiny = extract_from(&tiny_batches());
    let truth = counts(&run(&tiny, tiny_options(1)).unwrap().results);
    let regions = region_table(&fixtures().join("tiny/region.csv"));
    for k in [2, 3, K] {
        let out = run(&tiny, tiny_options(k)).unwrap_or_else(|e| panic!("k {k}: {e}"));
        let found = recoverable(&out, &regions, &published(&out.results), &truth, k);
        assert!(found.is_empty(), "k {k}: recoverable: {found:?}");
        // The same oracle catches primary suppression alone.
        let small = |x: i64| (1..k).contains(&x);
        let naive: Vec<(Cell, bool)> = truth
            .iter()
            .map(|(c, &(n, d))| (c.clone(), !(small(n) || small(d))))
            .collect();
        if k < K {
            assert!(
                !recoverable(&out, &regions, &naive, &truth, k).is_empty(),
                "k {k}: threshold-only output should be recoverable"
            );
        }
        derived_follow_status(&out.results);
        for (cell, row) in read(&out.results) {
            let reason = row.reason.as_deref();
            match row.status.as_str() {
                "published" => assert!(reason.is_none(), "{cell:?}"),
                "suppressed_primary" => assert!(
                    reason.is_some_and(|x| x.contains("threshold") || x.contains("dominance")),
                    "{cell:?}"
                ),
                "suppressed_secondary" => {
                    assert!(
                        reason.is_some_and(|x| x.starts_with("protects_")),
                        "{cell:?}"
                    )
                }
                other => panic!("{other}"),
            }
        }
    }
}

#[test]
fn a_forced_national_total_that_is_sensitive_is_refused_naming_it() {
    // The catalogue forces national totals; the tiny extract's are small.
    let err = run(
        &extract_from(&tiny_batches()),
        RunOptions {
            threshold: Some(K),
            ..RunOptions::default()
        },
    )
    .expect_err("a small forced national total must refuse the run");
    let text = err.to_string();
    assert!(matches!(err, EngineError::Disclosure { .. }), "{text}");
    assert!(text.contains("period 2022, national"), "{text}");
    assert!(text.contains("forced"), "{text}");
}

/// Finds, on the tiny extract at threshold `k`, an indicator whose national
/// total and one network are not small while the other network is.
fn giveaway(truth: &HashMap<Cell, (i64, i64)>, k: i64) -> Option<(Cell, Cell, Cell)> {
    let small = |(n, d): (i64, i64)| (1..k).contains(&n) || (1..k).contains(&d);
    let whole = |c: &Cell| c.4.is_none() && c.5.is_none() && c.6.is_none();
    for (nat, &v) in truth.iter().filter(|(c, _)| c.2 == "national" && whole(c)) {
        if small(v) || v.0 == 0 {
            continue;
        }
        let nets: Vec<(&Cell, (i64, i64))> = truth
            .iter()
            .filter(|(c, _)| c.0 == nat.0 && c.2 == "network" && whole(c))
            .map(|(c, v)| (c, *v))
            .collect();
        if nets.len() == 2 {
            let (a, b) = (nets[0], nets[1]);
            if small(a.1) && !small(b.1) && a.1.0 > 0 {
                return Some((nat.clone(), b.0.clone(), a.0.clone()));
            }
            if small(b.1) && !small(a.1) && b.1.0 > 0 {
                return Some((nat.clone(), a.0.clone(), b.0.clone()));
            }
        }
    }
    None
}

#[test]
fn previous_release_round_trip_and_tampering() {
    let tiny = extract_from(&tiny_batches());
    let first = run(&tiny, tiny_options(3)).unwrap_or_else(|e| panic!("{e}"));
    // Fed back as a table and as files: every cell published before is published again.
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("results.parquet");
    let csv = dir.path().join("results.csv");
    spiegel_engine::write_parquet(&first.results, &parquet).unwrap();
    spiegel_engine::write_csv(&first.results, &csv).unwrap();
    for previous in [
        Previous::Table(first.results.clone()),
        Previous::Path(parquet),
        Previous::Path(csv),
    ] {
        let again = run(
            &tiny,
            RunOptions {
                previous: Some(previous),
                ..tiny_options(3)
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let before = read(&first.results);
        let after: HashMap<Cell, Row> = read(&again.results).into_iter().collect();
        for (cell, row) in &before {
            if is_public(&row.status) {
                let now = &after[cell];
                assert!(
                    is_public(&now.status),
                    "{cell:?} hidden after being published"
                );
                assert_eq!(
                    (now.numerator, now.denominator),
                    (row.numerator, row.denominator)
                );
            }
        }
        assert!(again.disclosure.previously_published > 0);
        // Every search for a proof was solved: nothing hidden for want of one.
        assert_eq!(
            (
                first.disclosure.solver_failures,
                again.disclosure.solver_failures
            ),
            (0, 0)
        );
    }
    // A previous release of the same period with strata this run does not publish: its
    // cells would be public knowledge the run cannot account for, so the run is refused.
    let fewer = run(
        &tiny,
        RunOptions {
            previous: Some(Previous::Table(first.results.clone())),
            strata: vec![spiegel_engine::StrataSpec::parse("all").unwrap()],
            ..tiny_options(3)
        },
    );
    let message = fewer.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("that this run does not publish"),
        "{message}"
    );
    // A previous release whose published count differs: refused, naming the cell.
    let rows = read(&first.results);
    let (target, _) = rows
        .iter()
        .find(|(c, r)| is_public(&r.status) && c.2 == "network" && r.numerator.unwrap_or(0) > 0)
        .expect("a published network cell");
    let row_index = rows.iter().position(|(c, _)| c == target).unwrap();
    let schema = first.results.schema();
    let columns = schema
        .fields()
        .iter()
        .zip(first.results.columns())
        .map(|(f, c)| {
            if f.name() == "numerator" {
                let a = c.as_primitive::<Int64Type>();
                let v: datafusion::arrow::array::Int64Array = (0..a.len())
                    .map(|i| {
                        a.is_valid(i)
                            .then(|| a.value(i) + i64::from(i == row_index))
                    })
                    .collect();
                std::sync::Arc::new(v) as datafusion::arrow::array::ArrayRef
            } else {
                c.clone()
            }
        })
        .collect();
    let tampered = RecordBatch::try_new(schema, columns).unwrap();
    let err = run(
        &tiny,
        RunOptions {
            previous: Some(Previous::Table(tampered)),
            ..tiny_options(3)
        },
    )
    .expect_err("a changed count must be refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("network {}", target.3.as_deref().unwrap())),
        "{text}"
    );
    assert!(text.contains(&target.0), "{text}");
}

#[test]
fn previously_published_cells_that_give_a_cell_away_are_refused_naming_it() {
    let tiny = extract_from(&tiny_batches());
    let all = run(&tiny, tiny_options(1)).unwrap();
    let truth = counts(&all.results);
    let (k, (nat, shown, given)) = (2..=K)
        .find_map(|k| giveaway(&truth, k).map(|g| (k, g)))
        .expect("a tiny indicator with one small and one large network");
    // An earlier release (at threshold 1) published the nation and the large network.
    let rows = read(&all.results);
    let keep: BooleanArray = rows
        .iter()
        .map(|(c, _)| Some(c == &nat || c == &shown))
        .collect();
    let previous = filter_record_batch(&all.results, &keep).unwrap();
    assert_eq!(previous.num_rows(), 2);
    let err = run(
        &tiny,
        RunOptions {
            previous: Some(Previous::Table(previous)),
            ..tiny_options(k)
        },
    )
    .expect_err("the nation minus the large network is the small one");
    let text = err.to_string();
    assert!(matches!(err, EngineError::Disclosure { .. }), "{text}");
    let named = format!("network {}", given.3.as_deref().unwrap());
    assert!(
        text.contains(&named) && text.contains(&given.0),
        "k {k}: {text}"
    );
}

// ---------------------------------------------------------------------------
// Counts related across indicators by their definitions.

/// One count of a family of related indicators in one published cell: its
/// vector over (finest cell, part), whether any indicator publishes it, and
/// whether it is sensitive (small, or a numerator over a small denominator).
struct RelatedRow {
    cell: Cell,
    count: String,
    vector: Sparse,
    public: bool,
    sensitive: bool,
}

/// A family's rows and the true value of every (finest cell, part) column.
struct RelatedSystem {
    rows: Vec<RelatedRow>,
    values: Vec<i64>,
}

/// The families this test knows from the definitions: admissions in the last 7
/// days are among those in the last 30, two or more ED visits among one or
/// more, deaths at home and in hospital apart, all within the decedents that
/// every indicator of the family counts as its denominator. Each count is a
/// sum of *parts* (a node of the tree less its children) per finest cell.
fn related_systems(
    output: &RunOutput,
    regions: &Regions,
    table: &[(Cell, bool)],
    truth: &HashMap<Cell, (i64, i64)>,
    k: i64,
) -> Vec<RelatedSystem> {
    // (numerators in the family, each with its parent: None = the decedents).
    let families: [&[(&str, Option<&str>)]; 3] = [
        &[
            ("hospital_admission_30d", None),
            ("hospital_admission_7d", Some("hospital_admission_30d")),
        ],
        &[
            ("ed_visit_30d", None),
            ("ed_visits_2plus_30d", Some("ed_visit_30d")),
        ],
        &[
            ("place_of_death_home", None),
            ("place_of_death_hospital", None),
        ],
    ];
    let all = &output.finest.series;
    let index_of = |id: &str| all.iter().position(|s| s.indicator_id == id).unwrap();
    let small = |x: i64| (1..k).contains(&x);
    let mut out = Vec::new();
    for family in families {
        let first = index_of(family[0].0);
        let keys = space_keys(output, &all[first]);
        let dense = |i: usize, numerator: bool| -> Vec<i64> {
            keys.iter()
                .map(|k| {
                    all[i].cells.get(*k).map_or(0, |c| {
                        if numerator {
                            c.numerator
                        } else {
                            c.denominator
                        }
                    })
                })
                .collect()
        };
        // The decedents: every indicator with the same denominator counts.
        let decedents = dense(first, false);
        let holders_of_root: BTreeSet<&str> = (0..all.len())
            .filter(|&i| all[i].space == all[first].space && dense(i, false) == decedents)
            .map(|i| all[i].indicator_id.as_str())
            .collect();
        // Part 0: the decedents; part p + 1: numerator p of the family.
        let n_parts = family.len() + 1;
        let part_of = |id: &str| family.iter().position(|(f, _)| *f == id).unwrap() + 1;
        let children = |p: usize| -> Vec<usize> {
            let parent = if p == 0 { None } else { Some(family[p - 1].0) };
            family
                .iter()
                .filter(|(_, q)| *q == parent)
                .map(|(f, _)| part_of(f))
                .collect()
        };
        let subtree = |p: usize| -> Vec<usize> {
            let mut out = vec![p];
            let mut i = 0;
            while i < out.len() {
                out.extend(children(out[i]));
                i += 1;
            }
            out
        };
        // The parts' true values: each count less its children's.
        let counts: Vec<Vec<i64>> = (0..n_parts)
            .map(|p| {
                if p == 0 {
                    decedents.clone()
                } else {
                    dense(index_of(family[p - 1].0), true)
                }
            })
            .collect();
        let mut values = vec![0i64; keys.len() * n_parts];
        for p in 0..n_parts {
            for (f, &x) in counts[p].iter().enumerate() {
                let minus: i64 = children(p).iter().map(|&c| counts[c][f]).sum();
                assert!(x >= minus, "the data contradict the definitions");
                values[f * n_parts + p] = x - minus;
            }
        }
        let (_, vector) = cell_vectors(output, regions, &all[first]);
        let joint = |cell: &Cell, p: usize| -> Sparse {
            let mut v: Sparse = vector(cell)
                .into_iter()
                .flat_map(|(i, x)| {
                    subtree(p)
                        .into_iter()
                        .map(move |q| (i * n_parts as u32 + q as u32, x))
                })
                .collect();
            v.sort_unstable();
            v
        };
        // (cell without indicator, part) -> (published anywhere, sensitive).
        let mut rows: BTreeMap<(Cell, usize), (bool, bool)> = BTreeMap::new();
        for (cell, public) in table {
            let id = cell.0.as_str();
            let (n, d) = truth[cell];
            let bare = (
                String::new(),
                cell.1,
                cell.2.clone(),
                cell.3.clone(),
                cell.4.clone(),
                cell.5.clone(),
                cell.6.clone(),
            );
            if holders_of_root.contains(id) {
                let e = rows.entry((bare.clone(), 0)).or_default();
                e.0 |= public;
                e.1 |= small(d);
            }
            if family.iter().any(|(f, _)| *f == id) {
                let e = rows.entry((bare, part_of(id))).or_default();
                e.0 |= public;
                e.1 |= small(n) || small(d);
            }
        }
        let rows = rows
            .into_iter()
            .map(|((cell, p), (public, sensitive))| RelatedRow {
                vector: joint(&cell, p),
                count: if p == 0 {
                    "decedents".to_string()
                } else {
                    family[p - 1].0.to_string()
                },
                cell,
                public,
                sensitive,
            })
            .filter(|r| !r.vector.is_empty())
            .collect();
        out.push(RelatedSystem { rows, values });
    }
    out
}

/// The hidden sensitive counts an attacker can recompute exactly from every
/// published count of a family of related indicators.
fn recoverable_related(systems: &[RelatedSystem]) -> Vec<(Cell, String)> {
    let mut found = Vec::new();
    for sys in systems {
        let mut published = Echelon::default();
        for r in sys.rows.iter().filter(|r| r.public) {
            published.insert(r.vector.clone());
        }
        for r in sys.rows.iter().filter(|r| !r.public && r.sensitive) {
            if published.spans(r.vector.clone()) {
                found.push((r.cell.clone(), r.count.clone()));
            }
        }
    }
    found
}

/// The range of a hidden count for an attacker who knows only the published
/// counts that lie within `columns` (a weaker attacker than one who knows them
/// all: a narrow range here is a narrow range for everyone), by an LP over
/// non-negative parts.
fn related_range(sys: &RelatedSystem, target: &Sparse, columns: &BTreeSet<u32>) -> (f64, f64) {
    use microlp::{ComparisonOp, OptimizationDirection, Problem};
    let solve = |direction| {
        let mut lp = Problem::new(direction);
        let vars: HashMap<u32, microlp::Variable> = columns
            .iter()
            .map(|&c| {
                let in_target = target.iter().any(|&(t, _)| t == c);
                (
                    c,
                    lp.add_var(if in_target { 1.0 } else { 0.0 }, (0.0, f64::INFINITY)),
                )
            })
            .collect();
        for r in sys.rows.iter().filter(|r| r.public) {
            if r.vector.iter().all(|(c, _)| columns.contains(c)) {
                let total: i64 = r.vector.iter().map(|&(c, _)| sys.values[c as usize]).sum();
                let e: Vec<_> = r.vector.iter().map(|(c, _)| (vars[c], 1.0)).collect();
                lp.add_constraint(e.as_slice(), ComparisonOp::Eq, total as f64);
            }
        }
        lp.solve()
            .ok()
            .and_then(|o| o.into_solution().ok())
            .map_or(f64::INFINITY, |s| s.objective())
    };
    (
        solve(OptimizationDirection::Minimize),
        solve(OptimizationDirection::Maximize),
    )
}

#[test]
fn related_counts_are_protected_on_the_bundled_extract() {
    let out = &*DEFAULT;
    let (_, truth) = &*TRUTH;
    let regions = region_table(&fixtures().join("extract/region.parquet"));
    let table = published(&out.results);
    let systems = related_systems(out, &regions, &table, truth, K);
    let found = recoverable_related(&systems);
    assert!(
        found.is_empty(),
        "recomputed across related indicators: {found:?}"
    );
    // The cells hidden only for related counts are needed: publish them again
    // and an attacker who knows just the counts around one of them narrows a
    // hidden count of a related indicator below k.
    let related: BTreeSet<Cell> = read(&out.results)
        .into_iter()
        .filter(|(_, r)| r.reason.as_deref() == Some("protects_related_count"))
        .map(|(c, _)| c)
        .collect();
    assert!(!related.is_empty(), "no cell hidden for related counts");
    let mutated: Vec<(Cell, bool)> = table
        .iter()
        .map(|(c, public)| (c.clone(), *public || related.contains(c)))
        .collect();
    let systems = related_systems(out, &regions, &mutated, truth, K);
    let bare = |c: &Cell| {
        (
            String::new(),
            c.1,
            c.2.clone(),
            c.3.clone(),
            c.4.clone(),
            c.5.clone(),
            c.6.clone(),
        )
    };
    let republished: BTreeSet<Cell> = related.iter().map(bare).collect();
    let mut narrowed = Vec::new();
    'systems: for sys in &systems {
        for q in sys.rows.iter().filter(|r| republished.contains(&r.cell)) {
            // Hidden sensitive counts sharing finest cells with the republished one.
            let qcols: BTreeSet<u32> = q.vector.iter().map(|&(c, _)| c).collect();
            for t in sys.rows.iter().filter(|r| !r.public && r.sensitive) {
                if !t.vector.iter().any(|(c, _)| qcols.contains(c)) {
                    continue;
                }
                let columns: BTreeSet<u32> = qcols
                    .iter()
                    .copied()
                    .chain(t.vector.iter().map(|&(c, _)| c))
                    .collect();
                let (lo, hi) = related_range(sys, &t.vector, &columns);
                if (hi + 1e-6).floor() - (lo - 1e-6).ceil() < K as f64 {
                    narrowed.push((t.cell.clone(), t.count.clone(), lo, hi));
                    if narrowed.len() >= 3 {
                        break 'systems;
                    }
                }
            }
        }
    }
    eprintln!(
        "{} cells hidden for related counts; republished, they narrow {:?}",
        related.len(),
        narrowed
    );
    assert!(
        !narrowed.is_empty(),
        "republishing the related-count cells narrows nothing"
    );
}

/// Protection reports its steps in order, each from 0 to all of its systems, one at a time,
/// between `Protecting` and `Verifying`.
#[test]
fn protection_reports_each_step_as_its_systems_finish() {
    use spiegel_engine::{Progress, ProtectionStep};
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = events.clone();
    Engine::new(catalogue())
        .with_options(RunOptions {
            target_partitions: Some(2),
            ..tiny_options(3)
        })
        .with_progress(move |p| log.lock().expect("log").push(p))
        .run_blocking(&extract_from(&tiny_batches()))
        .unwrap_or_else(|e| panic!("{e}"));
    let events = events.lock().expect("log").clone();
    let position = |f: &dyn Fn(&Progress) -> bool| events.iter().position(f);
    let protecting = position(&|p| matches!(p, Progress::Protecting { .. })).expect("protecting");
    let verifying = position(&|p| matches!(p, Progress::Verifying)).expect("verifying");
    let steps: Vec<(ProtectionStep, usize, usize)> = events[protecting + 1..verifying]
        .iter()
        .map(|p| match p {
            Progress::ProtectingStep { step, done, total } => (*step, *done, *total),
            other => panic!("{other:?} during protection"),
        })
        .collect();
    let order = [
        ProtectionStep::SharedCounts,
        ProtectionStep::Indicators,
        ProtectionStep::RelatedCounts,
    ];
    let mut at = 0;
    for step in order {
        let (_, _, total) = steps[at];
        let expected: Vec<(ProtectionStep, usize, usize)> =
            (0..=total).map(|done| (step, done, total)).collect();
        assert_eq!(steps[at..at + total + 1], expected[..], "{step}");
        at += total + 1;
    }
    assert_eq!(at, steps.len(), "{steps:?}");
    // The tiny catalogue's indicators are each protected.
    assert_eq!(
        steps
            .iter()
            .find(|s| s.0 == ProtectionStep::Indicators)
            .map(|s| s.2),
        Some(catalogue().indicators.len())
    );
}
