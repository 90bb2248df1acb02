//! spiegel-stats against the conformance vectors of PHEindicatormethods
//! (`fixtures/conformance/phe/`), plus property tests and hand-checked examples.
//!
//! Every row of every vector file is a case. Values agree to 1e-9 relative, or to the
//! precision the file prints (half a unit in the last printed decimal), whichever is looser;
//! the funnel limits for ratios and rates, which the reference computes by a bisection that
//! stops at a step of 2^-24, agree to that bisection's resolution (see docs/methodology.md).
//! Run with `--nocapture` to see the per-file counts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;
use spiegel_stats::*;

// ---------------------------------------------------------------------------------------
// Reading the vectors

struct Table {
    name: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn read(name: &str) -> Table {
        let path: PathBuf = [
            env!("CARGO_MANIFEST_DIR"),
            "..",
            "..",
            "fixtures",
            "conformance",
            "phe",
            name,
        ]
        .iter()
        .collect();
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let headers = rdr
            .headers()
            .unwrap()
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        let rows = rdr
            .records()
            .map(|r| r.unwrap().iter().map(|s| s.trim().to_string()).collect())
            .collect();
        Table {
            name: name.to_string(),
            headers,
            rows,
        }
    }

    fn col(&self, name: &str) -> usize {
        self.headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{}: no column {name} in {:?}", self.name, self.headers))
    }

    fn get<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        row.get(self.col(name)).map(String::as_str).unwrap_or("")
    }

    /// The number in a cell; `None` for an empty cell or "NA".
    fn num(&self, row: &[String], name: &str) -> Option<f64> {
        let s = self.get(row, name);
        if s.is_empty() || s == "NA" {
            None
        } else {
            Some(
                s.parse()
                    .unwrap_or_else(|_| panic!("{}: {name}={s}", self.name)),
            )
        }
    }
}

/// Tolerance for a printed value: 1e-9 relative, or half a unit in the last printed
/// decimal, whichever is larger.
fn printed_tol(text: &str, want: f64) -> f64 {
    let decimals = text.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    (1e-9 * want.abs()).max(0.5 * 10f64.powi(-decimals) * (1.0 + 1e-9))
}

/// Compares `got` with the cell `name` of `row`; `extra` widens the tolerance (absolute).
fn check(
    t: &Table,
    row: &[String],
    name: &str,
    got: Option<f64>,
    extra: f64,
    errors: &mut Vec<String>,
) {
    let text = t.get(row, name);
    let want = t.num(row, name);
    match (got, want) {
        (None, None) => {}
        (Some(g), Some(w)) => {
            let tol = printed_tol(text, w) + extra;
            if (g - w).abs() > tol {
                errors.push(format!(
                    "{name}: got {g:.17}, want {w} (diff {:.3e}, tol {tol:.3e})",
                    (g - w).abs()
                ));
            }
        }
        (g, _) => errors.push(format!("{name}: got {g:?}, want {text:?}")),
    }
}

/// Counts the rows of one file that pass, prints the count and fails on any failure.
struct Report {
    file: String,
    rows: usize,
    failures: Vec<String>,
}

impl Report {
    fn new(file: &str) -> Self {
        Report {
            file: file.to_string(),
            rows: 0,
            failures: Vec::new(),
        }
    }

    fn row(&mut self, label: impl std::fmt::Display, errors: Vec<String>) {
        self.rows += 1;
        if !errors.is_empty() {
            self.failures
                .push(format!("{label}: {}", errors.join("; ")));
        }
    }

    fn finish(self) {
        let passed = self.rows - self.failures.len();
        println!(
            "conformance {}: {passed}/{} rows pass",
            self.file, self.rows
        );
        assert!(self.rows > 0, "{}: no rows", self.file);
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} rows fail:\n{}",
            self.file,
            self.failures.len(),
            self.rows,
            self.failures.join("\n")
        );
    }
}

fn level_of(label: &str) -> ConfidenceLevel {
    match label {
        "95%" => ConfidenceLevel::P95,
        "99.8%" => ConfidenceLevel::P998,
        other => panic!("confidence label {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// Byar and Wilson

#[test]
fn conformance_byars_wilson() {
    let t = Table::read("testdata_Byars_Wilson__testdata_B_W.csv");
    let mut rep = Report::new(&t.name);
    for row in &t.rows {
        let mut e = Vec::new();
        let x = t.num(row, "x").unwrap();
        let level = level_of(t.get(row, "confidence"));
        match t.get(row, "method") {
            "Byars" => {
                check(
                    &t,
                    row,
                    "lowercl",
                    byar_lower(x, level).unwrap(),
                    0.0,
                    &mut e,
                );
                check(
                    &t,
                    row,
                    "uppercl",
                    Some(byar_upper(x, level).unwrap()),
                    0.0,
                    &mut e,
                );
            }
            "Wilson" => {
                let n = t.num(row, "n").unwrap();
                let ci = wilson_interval(x, n, level).unwrap();
                check(&t, row, "lowercl", ci.map(|c| c.lower), 0.0, &mut e);
                check(&t, row, "uppercl", ci.map(|c| c.upper), 0.0, &mut e);
            }
            m => e.push(format!("unknown method {m}")),
        }
        rep.row(format!("{row:?}"), e);
    }
    rep.finish();
}

// ---------------------------------------------------------------------------------------
// Proportions and rates

/// `Some((x, n))` when both inputs are present; rows with a missing input must have no
/// value (the caller's null stays null).
fn inputs(t: &Table, row: &[String]) -> Option<(f64, f64)> {
    Some((t.num(row, "Numerator")?, t.num(row, "Denominator")?))
}

fn expect_all_empty(t: &Table, row: &[String], cols: &[&str], e: &mut Vec<String>) {
    for c in cols {
        if t.num(row, c).is_some() {
            e.push(format!("{c}: expected no value for a missing input"));
        }
    }
}

#[test]
fn conformance_proportions() {
    let t = Table::read("testdata_Proportion__testdata_Prop.csv");
    let mut rep = Report::new(&t.name);
    let cols = [
        "value",
        "lower95_0cl",
        "upper95_0cl",
        "lower99_8cl",
        "upper99_8cl",
    ];
    for row in &t.rows {
        let mut e = Vec::new();
        let m = t.num(row, "multiplier").unwrap();
        match inputs(&t, row) {
            None => expect_all_empty(&t, row, &cols, &mut e),
            Some((x, n)) => {
                let p95 = proportion(x, n, ConfidenceLevel::P95)
                    .unwrap()
                    .map(|p| p.scaled(m));
                let p998 = proportion(x, n, ConfidenceLevel::P998)
                    .unwrap()
                    .map(|p| p.scaled(m));
                check(&t, row, "value", p95.map(|p| p.value), 0.0, &mut e);
                check(&t, row, "lower95_0cl", p95.map(|p| p.lower), 0.0, &mut e);
                check(&t, row, "upper95_0cl", p95.map(|p| p.upper), 0.0, &mut e);
                check(&t, row, "lower99_8cl", p998.map(|p| p.lower), 0.0, &mut e);
                check(&t, row, "upper99_8cl", p998.map(|p| p.upper), 0.0, &mut e);
            }
        }
        rep.row(t.get(row, "Area"), e);
    }
    rep.finish();

    let t = Table::read("testdata_Proportion__testdata_Prop_g.csv");
    let mut rep = Report::new(&t.name);
    for row in &t.rows {
        let mut e = Vec::new();
        let m = t.num(row, "multiplier").unwrap();
        let level = level_of(t.get(row, "confidence"));
        match inputs(&t, row) {
            None => expect_all_empty(&t, row, &["value", "lowercl", "uppercl"], &mut e),
            Some((x, n)) => {
                let p = proportion(x, n, level).unwrap().map(|p| p.scaled(m));
                check(&t, row, "value", p.map(|p| p.value), 0.0, &mut e);
                check(&t, row, "lowercl", p.map(|p| p.lower), 0.0, &mut e);
                check(&t, row, "uppercl", p.map(|p| p.upper), 0.0, &mut e);
            }
        }
        rep.row(t.get(row, "Area"), e);
    }
    rep.finish();
}

fn rate_method_ok(t: &Table, row: &[String], x: f64, e: &mut Vec<String>) {
    let want = if x < EXACT_BELOW { "Exact" } else { "Byars" };
    if t.get(row, "method") != want {
        e.push(format!("method {} but {x} events", t.get(row, "method")));
    }
}

#[test]
fn conformance_rates() {
    let t = Table::read("testdata_Rate__testdata_Rate.csv");
    let mut rep = Report::new(&t.name);
    let cols = [
        "value",
        "lower95_0cl",
        "upper95_0cl",
        "lower99_8cl",
        "upper99_8cl",
    ];
    for row in &t.rows {
        let mut e = Vec::new();
        let m = t.num(row, "multiplier").unwrap();
        match inputs(&t, row) {
            None => expect_all_empty(&t, row, &cols, &mut e),
            Some((x, n)) => {
                rate_method_ok(&t, row, x, &mut e);
                let r95 = rate(x, n, m, ConfidenceLevel::P95).unwrap();
                let r998 = rate(x, n, m, ConfidenceLevel::P998).unwrap();
                check(&t, row, "value", r95.map(|p| p.value), 0.0, &mut e);
                check(&t, row, "lower95_0cl", r95.map(|p| p.lower), 0.0, &mut e);
                check(&t, row, "upper95_0cl", r95.map(|p| p.upper), 0.0, &mut e);
                check(&t, row, "lower99_8cl", r998.map(|p| p.lower), 0.0, &mut e);
                check(&t, row, "upper99_8cl", r998.map(|p| p.upper), 0.0, &mut e);
            }
        }
        rep.row(t.get(row, "Area"), e);
    }
    rep.finish();

    let t = Table::read("testdata_Rate__testdata_Rate_g.csv");
    let mut rep = Report::new(&t.name);
    for row in &t.rows {
        let mut e = Vec::new();
        let m = t.num(row, "multiplier").unwrap();
        let level = level_of(t.get(row, "confidence"));
        match inputs(&t, row) {
            None => expect_all_empty(&t, row, &["value", "lowercl", "uppercl"], &mut e),
            Some((x, n)) => {
                rate_method_ok(&t, row, x, &mut e);
                let r = rate(x, n, m, level).unwrap();
                check(&t, row, "value", r.map(|p| p.value), 0.0, &mut e);
                check(&t, row, "lowercl", r.map(|p| p.lower), 0.0, &mut e);
                check(&t, row, "uppercl", r.map(|p| p.upper), 0.0, &mut e);
            }
        }
        rep.row(t.get(row, "Area"), e);
    }
    rep.finish();
}

// ---------------------------------------------------------------------------------------
// Means

#[test]
fn conformance_means() {
    let raw = Table::read("testdata_Mean__testdata_Mean.csv");
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut rep_raw = Report::new(&raw.name);
    for row in &raw.rows {
        let v = raw.num(row, "values").unwrap();
        groups
            .entry(raw.get(row, "area").to_string())
            .or_default()
            .push(v);
        groups.entry("No grouping".to_string()).or_default().push(v);
        rep_raw.row(raw.get(row, "area"), Vec::new());
    }
    let t = Table::read("testdata_Mean__testdata_Mean_results.csv");
    let mut rep = Report::new(&t.name);
    for row in &t.rows {
        let mut e = Vec::new();
        let values = &groups[t.get(row, "area")];
        let n = values.len() as u64;
        let sum: f64 = values.iter().sum();
        let sum_sq: f64 = values.iter().map(|v| v * v).sum();
        let mean_v = sum / n as f64;
        let sd =
            (values.iter().map(|v| (v - mean_v).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
        check(&t, row, "value_sum", Some(sum), 0.0, &mut e);
        check(&t, row, "value_count", Some(n as f64), 0.0, &mut e);
        check(&t, row, "stdev", Some(sd), 0.0, &mut e);
        check(
            &t,
            row,
            "stdev",
            sd_from_sums(sum, sum_sq, n).unwrap(),
            0.0,
            &mut e,
        );
        // From the file's own aggregates (sum, count, sd) ...
        let fsum = t.num(row, "value_sum").unwrap();
        let fsd = t.num(row, "stdev").unwrap();
        for (level, lo, hi) in [
            (ConfidenceLevel::P95, "lower95_0cl", "upper95_0cl"),
            (ConfidenceLevel::P998, "lower99_8cl", "upper99_8cl"),
        ] {
            let m = mean(fsum, n, fsd, level).unwrap();
            check(&t, row, "value", m.map(|m| m.value), 0.0, &mut e);
            check(&t, row, lo, m.map(|m| m.lower), 0.0, &mut e);
            check(&t, row, hi, m.map(|m| m.upper), 0.0, &mut e);
            // ... and from the additive aggregates (sum, sum of squares, count).
            let m = mean_from_sums(sum, sum_sq, n, level).unwrap();
            check(&t, row, lo, m.map(|m| m.lower), 0.0, &mut e);
            check(&t, row, hi, m.map(|m| m.upper), 0.0, &mut e);
        }
        rep.row(t.get(row, "area"), e);
    }
    rep_raw.finish();
    rep.finish();
}

// ---------------------------------------------------------------------------------------
// Directly and indirectly standardised rates

/// Per area (in file order): the rows of that area.
fn by_area<'a>(t: &Table, rows: &'a [Vec<String>]) -> Vec<(String, Vec<&'a Vec<String>>)> {
    let mut out: Vec<(String, Vec<&Vec<String>>)> = Vec::new();
    for row in rows {
        let a = t.get(row, "area").to_string();
        match out.iter_mut().find(|(k, _)| *k == a) {
            Some((_, v)) => v.push(row),
            None => out.push((a, vec![row])),
        }
    }
    out
}

/// A missing count is 0 (PHEindicatormethods' `na.zero`).
fn zero_if_missing(t: &Table, row: &[String], col: &str) -> f64 {
    t.num(row, col).unwrap_or(0.0)
}

fn multiplier_of(statistic: &str) -> f64 {
    statistic
        .rsplit(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no multiplier in {statistic:?}"))
}

#[test]
fn conformance_dsr() {
    // The standard population: the shipped ESP 2013 equals the stdpop columns of the
    // error-case files (apart from err4's deliberately negative band).
    for f in [
        "testdata_DSR_ISR__testdata_err1.csv",
        "testdata_DSR_ISR__testdata_err3.csv",
    ] {
        let t = Table::read(f);
        let col: Vec<f64> = t.rows.iter().map(|r| t.num(r, "stdpop").unwrap()).collect();
        assert_eq!(col, ESP2013.to_vec(), "{f}");
    }

    let multi = Table::read("testdata_DSR_ISR__testdata_multiarea.csv");
    let e1976 = Table::read("testdata_DSR_ISR__testdata_1976.csv");
    let nonind = Table::read("testdata_DSR_ISR__testdata_nonindepe.csv");
    let lookup = Table::read("testdata_DSR_ISR__testdata_multiarea_lookup.csv");
    let esp = StandardPopulation::esp2013();

    // Inputs per area: counts, populations, standard, and (non-independent) frequencies.
    struct Input {
        counts: Vec<f64>,
        pops: Vec<f64>,
        standard: StandardPopulation,
        freqs: Option<Vec<Vec<f64>>>,
    }
    let mut inputs: BTreeMap<String, Input> = BTreeMap::new();
    for (area, rows) in by_area(&multi, &multi.rows) {
        assert_eq!(rows.len(), ESP2013_BANDS.len());
        inputs.insert(
            area,
            Input {
                counts: rows
                    .iter()
                    .map(|r| zero_if_missing(&multi, r, "count"))
                    .collect(),
                pops: rows.iter().map(|r| multi.num(r, "pop").unwrap()).collect(),
                standard: esp.clone(),
                freqs: None,
            },
        );
    }
    inputs.insert(
        "testdata_1976".into(),
        Input {
            counts: e1976
                .rows
                .iter()
                .map(|r| e1976.num(r, "count").unwrap())
                .collect(),
            pops: e1976
                .rows
                .iter()
                .map(|r| e1976.num(r, "pop").unwrap())
                .collect(),
            standard: StandardPopulation::new(
                e1976
                    .rows
                    .iter()
                    .map(|r| e1976.num(r, "esp1976").unwrap())
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
            freqs: None,
        },
    );
    for (area, rows) in by_area(&nonind, &nonind.rows) {
        let freqs = ["f1", "f2", "f3", "f4"]
            .iter()
            .map(|f| {
                rows.iter()
                    .map(|r| zero_if_missing(&nonind, r, f))
                    .collect()
            })
            .collect();
        inputs.insert(
            area,
            Input {
                counts: rows
                    .iter()
                    .map(|r| zero_if_missing(&nonind, r, "count"))
                    .collect(),
                pops: rows.iter().map(|r| nonind.num(r, "pop").unwrap()).collect(),
                standard: esp.clone(),
                freqs: Some(freqs),
            },
        );
    }

    // The lookup of total counts per area.
    let mut rep = Report::new(&lookup.name);
    for row in &lookup.rows {
        let total: f64 = inputs[lookup.get(row, "area")].counts.iter().sum();
        let mut e = Vec::new();
        check(&lookup, row, "total_count", Some(total), 0.0, &mut e);
        rep.row(lookup.get(row, "area"), e);
    }
    rep.finish();

    let t = Table::read("testdata_DSR_ISR__testresults_DSR.csv");
    let mut rep = Report::new(&t.name);
    for row in &t.rows {
        let mut e = Vec::new();
        let area = t.get(row, "area");
        let input = &inputs[area];
        let statistic = t.get(row, "statistic");
        let m = if statistic.starts_with("dsr NA") {
            100_000.0
        } else {
            multiplier_of(statistic)
        };
        let run = |level| match &input.freqs {
            None => dsr(&input.counts, &input.pops, &input.standard, m, level).unwrap(),
            Some(freqs) => {
                let fs: Vec<EventFrequency> = freqs
                    .iter()
                    .enumerate()
                    .map(|(i, p)| EventFrequency {
                        events_per_person: (i + 1) as f64,
                        persons: p,
                    })
                    .collect();
                dsr_non_independent(&fs, &input.pops, &input.standard, m, level).unwrap()
            }
        };
        let r95 = run(ConfidenceLevel::P95);
        let r998 = run(ConfidenceLevel::P998);
        let total: f64 = match &input.freqs {
            None => input.counts.iter().sum(),
            Some(f) => f
                .iter()
                .enumerate()
                .map(|(i, p)| (i + 1) as f64 * p.iter().sum::<f64>())
                .sum(),
        };
        check(&t, row, "total_count", Some(total), 0.0, &mut e);
        check(
            &t,
            row,
            "total_pop",
            Some(input.pops.iter().sum()),
            0.0,
            &mut e,
        );
        check(&t, row, "value", r95.map(|r| r.value), 0.0, &mut e);
        check(&t, row, "lower95_0cl", r95.map(|r| r.lower), 0.0, &mut e);
        check(&t, row, "upper95_0cl", r95.map(|r| r.upper), 0.0, &mut e);
        // The reference workbook prints the 99.8% limits of testdata_1976 at ten times the
        // multiplier of its row (e.g. 7659.28 in the "per 10000" row whose value is 859.21);
        // the R tests never compare those two cells. Compare them at that scale.
        let k = if area == "testdata_1976" { 10.0 } else { 1.0 };
        check(
            &t,
            row,
            "lower99_8cl",
            r998.map(|r| r.lower * k),
            0.0,
            &mut e,
        );
        check(
            &t,
            row,
            "upper99_8cl",
            r998.map(|r| r.upper * k),
            0.0,
            &mut e,
        );
        rep.row(format!("{area} ({statistic})"), e);
    }
    rep.finish();
}

#[test]
fn conformance_dsr_error_cases() {
    let esp = StandardPopulation::esp2013();
    let single = |f: &str| {
        let t = Table::read(f);
        let counts: Vec<f64> = t.rows.iter().map(|r| t.num(r, "count").unwrap()).collect();
        let pops: Vec<f64> = t.rows.iter().map(|r| t.num(r, "pop").unwrap()).collect();
        let std: Vec<f64> = t.rows.iter().map(|r| t.num(r, "stdpop").unwrap()).collect();
        (t, counts, pops, std)
    };
    let mut results = Vec::new();

    // err1: a negative count ("numerators must all be greater than or equal to zero").
    let (t, counts, pops, std) = single("testdata_DSR_ISR__testdata_err1.csv");
    let std = StandardPopulation::new(std).unwrap();
    let r = dsr(&counts, &pops, &std, 1e5, ConfidenceLevel::P95);
    results.push((
        t.name,
        matches!(
            r,
            Err(Error::Negative {
                quantity: "numerator",
                ..
            })
        ),
    ));

    // err2: a population of 0 in one area ("denominators must all be greater than zero").
    let t = Table::read("testdata_DSR_ISR__testdata_err2.csv");
    let mut errs = 0;
    for (_, rows) in by_area(&t, &t.rows) {
        let counts: Vec<f64> = rows.iter().map(|r| t.num(r, "count").unwrap()).collect();
        let pops: Vec<f64> = rows.iter().map(|r| t.num(r, "pop").unwrap()).collect();
        if let Err(Error::NotPositive {
            quantity: "population",
            value,
        }) = dsr(&counts, &pops, &esp, 1e5, ConfidenceLevel::P95)
        {
            assert_eq!(value, 0.0);
            errs += 1;
        }
    }
    results.push((t.name, errs == 1));

    // err3: a negative population.
    let (t, counts, pops, std) = single("testdata_DSR_ISR__testdata_err3.csv");
    let std = StandardPopulation::new(std).unwrap();
    let r = dsr(&counts, &pops, &std, 1e5, ConfidenceLevel::P95);
    results.push((
        t.name,
        matches!(r, Err(Error::NotPositive { quantity: "population", value }) if value == -558.0),
    ));

    // err4: a negative standard population.
    let (t, _, _, std) = single("testdata_DSR_ISR__testdata_err4.csv");
    let r = StandardPopulation::new(std);
    results.push((
        t.name,
        matches!(
            r,
            Err(Error::Negative {
                quantity: "standard population",
                ..
            })
        ),
    ));

    for (name, ok) in &results {
        println!(
            "conformance {name}: {}/1 error cases raise the expected error",
            *ok as u8
        );
    }
    assert!(results.iter().all(|(_, ok)| *ok), "{results:?}");
}

#[test]
fn conformance_isr() {
    let refdata = Table::read("testdata_DSR_ISR__refdata.csv");
    let ref_counts: Vec<f64> = refdata
        .rows
        .iter()
        .map(|r| refdata.num(r, "refcount").unwrap())
        .collect();
    let ref_pops: Vec<f64> = refdata
        .rows
        .iter()
        .map(|r| refdata.num(r, "refpop").unwrap())
        .collect();
    let mut rep_ref = Report::new(&refdata.name);
    for row in &refdata.rows {
        rep_ref.row(refdata.get(row, "Age Band"), Vec::new());
    }
    let ref_rate = reference_rate(&ref_counts, &ref_pops).unwrap().unwrap();

    // (observed, expected) per area: the multi-area file carries its own reference columns;
    // Area1 and Area2 are the areas of testdata_err2 (Area1 has a population of 0 in one
    // band, which indirect standardisation accepts).
    let mut areas: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let t = Table::read("testdata_DSR_ISR__testdata_multiarea_isr.csv");
    let mut rep_in = Report::new(&t.name);
    for (area, rows) in by_area(&t, &t.rows) {
        let obs: f64 = rows.iter().map(|r| zero_if_missing(&t, r, "count")).sum();
        let pops: Vec<f64> = rows.iter().map(|r| zero_if_missing(&t, r, "pop")).collect();
        let rc: Vec<f64> = rows
            .iter()
            .map(|r| zero_if_missing(&t, r, "refcount"))
            .collect();
        let rp: Vec<f64> = rows.iter().map(|r| t.num(r, "refpop").unwrap()).collect();
        let mut e = Vec::new();
        if rp != ref_pops {
            e.push("reference populations differ from refdata".to_string());
        }
        for r in &rows {
            rep_in.row(format!("{area} {}", t.get(r, "ageband")), Vec::new());
        }
        areas.insert(area, (obs, expected_count(&pops, &rc, &rp).unwrap()));
        assert!(e.is_empty(), "{e:?}");
    }
    let err2 = Table::read("testdata_DSR_ISR__testdata_err2.csv");
    for (area, rows) in by_area(&err2, &err2.rows) {
        let obs: f64 = rows.iter().map(|r| err2.num(r, "count").unwrap()).sum();
        let pops: Vec<f64> = rows.iter().map(|r| err2.num(r, "pop").unwrap()).collect();
        areas.insert(
            area,
            (obs, expected_count(&pops, &ref_counts, &ref_pops).unwrap()),
        );
    }

    let t = Table::read("testdata_DSR_ISR__testresults_ISR.csv");
    let mut rep = Report::new(&t.name);
    for row in &t.rows {
        let mut e = Vec::new();
        let area = t.get(row, "area");
        let (obs, exp) = areas[area];
        let statistic = t.get(row, "statistic");
        let m = multiplier_of(statistic);
        let method = if obs < EXACT_BELOW { "Exact" } else { "Byars" };
        if t.get(row, "method") != method {
            e.push(format!("method {}", t.get(row, "method")));
        }
        check(&t, row, "observed", Some(obs), 0.0, &mut e);
        check(&t, row, "expected", Some(exp), 0.0, &mut e);
        let is_rate = statistic.contains("rate");
        if is_rate {
            check(&t, row, "ref_rate", Some(ref_rate * m), 0.0, &mut e);
        }
        let run = |level| {
            if is_rate {
                isr_rate(obs, exp, ref_rate, m, level).unwrap()
            } else {
                isr(obs, exp, m, level).unwrap()
            }
        };
        let r95 = run(ConfidenceLevel::P95);
        let r998 = run(ConfidenceLevel::P998);
        check(&t, row, "value", r95.map(|r| r.value), 0.0, &mut e);
        check(&t, row, "lower95_0cl", r95.map(|r| r.lower), 0.0, &mut e);
        check(&t, row, "upper95_0cl", r95.map(|r| r.upper), 0.0, &mut e);
        // Area1/Area2 rows carry the 95% limits only.
        if t.num(row, "lower99_8cl").is_some() {
            check(&t, row, "lower99_8cl", r998.map(|r| r.lower), 0.0, &mut e);
            check(&t, row, "upper99_8cl", r998.map(|r| r.upper), 0.0, &mut e);
        }
        rep.row(format!("{area} ({statistic})"), e);
    }
    rep_ref.finish();
    rep_in.finish();
    rep.finish();
}

/// DSR_testdata.csv holds DSRs with their limits by deprivation quintile and year, without
/// the counts they came from (in PHEindicatormethods it is the input of the slope index of
/// inequality tests). There is nothing to recompute; check that each row is a valid
/// estimate (lower < value < upper, positive population).
#[test]
fn conformance_dsr_quintile_table() {
    let t = Table::read("DSR_testdata.csv");
    let mut rep = Report::new(&t.name);
    for row in &t.rows {
        let mut e = Vec::new();
        let v = t.num(row, "value").unwrap();
        let l = t.num(row, "lowercl").unwrap();
        let u = t.num(row, "uppercl").unwrap();
        if !(l < v && v < u && t.num(row, "total_pop").unwrap() > 0.0) {
            e.push(format!("not an estimate: {l} {v} {u}"));
        }
        rep.row(
            format!("{} q{}", t.get(row, "Period"), t.get(row, "Quintile")),
            e,
        );
    }
    rep.finish();
}

// ---------------------------------------------------------------------------------------
// Funnels: proportions

fn significance_label(s: Option<FunnelSignificance>) -> &'static str {
    s.map_or("", FunnelSignificance::label)
}

#[test]
fn conformance_funnel_proportions() {
    let inputs = Table::read("testdata_funnel_prop_inputs.csv");
    let parts: Vec<(f64, f64)> = inputs
        .rows
        .iter()
        .map(|r| {
            (
                inputs.num(r, "numerator").unwrap(),
                inputs.num(r, "denominator").unwrap(),
            )
        })
        .collect();
    let pooled = |keep: &dyn Fn(f64) -> bool| {
        let (x, n) = parts
            .iter()
            .filter(|(_, n)| keep(*n))
            .fold((0.0, 0.0), |(a, b), (x, n)| (a + x, b + n));
        x / n
    };
    let target = pooled(&|_| true);

    let mut rep = Report::new(&inputs.name);
    for (row, &(x, n)) in inputs.rows.iter().zip(&parts) {
        let got = significance_label(funnel_significance_proportion(x, n, target).unwrap());
        let want = inputs.get(row, "significance");
        let e = if got == want {
            vec![]
        } else {
            vec![format!("got {got}, want {want}")]
        };
        rep.row(inputs.get(row, "Area"), e);
    }
    rep.finish();

    for (file, target) in [
        ("testdata_funnel_prop_outputs.csv", target),
        (
            "testdata_funnel_prop_outputs_with_axis_variation.csv",
            pooled(&|n| n < 31000.0),
        ),
    ] {
        let t = Table::read(file);
        let mut rep = Report::new(&t.name);
        for row in &t.rows {
            let mut e = Vec::new();
            let n = t.num(row, "Population").unwrap();
            check(&t, row, "Baseline", Some(target * 100.0), 0.0, &mut e);
            for (level, lo, hi) in [
                (ConfidenceLevel::P95, "Lower2s0025limit", "Upper2s0025limit"),
                (
                    ConfidenceLevel::P998,
                    "Lower3s0001limit",
                    "Upper3s0001limit",
                ),
            ] {
                let l = funnel_proportion(target, n, level)
                    .unwrap()
                    .map(|l| l.scaled(100.0));
                check(&t, row, lo, l.map(|l| l.lower), 0.0, &mut e);
                check(&t, row, hi, l.map(|l| l.upper), 0.0, &mut e);
            }
            rep.row(n, e);
        }
        rep.finish();
    }
}

// ---------------------------------------------------------------------------------------
// Funnels: ratios and rates (exact Poisson)

/// Relative resolution of the reference's bisection for the expected count `lambda` at
/// which `observed` events lie on a limit: it bisects `v = λ / (1 + O + λ)` down to a step of
/// 2^-24, so `|Δλ| <= 2^-23 (1 + O + λ)² / (1 + O)`.
fn bisection_rel(observed: f64, lambda: f64) -> f64 {
    let dv = 2f64.powi(-23);
    dv * (1.0 + observed + lambda).powi(2) / (1.0 + observed) / lambda
}

#[test]
fn conformance_funnel_ratios() {
    let inputs = Table::read("testdata_funnel_ratio_inputs.csv");
    let mut rep = Report::new(&inputs.name);
    for row in &inputs.rows {
        let o = inputs.num(row, "obs").unwrap();
        let ex = inputs.num(row, "expected").unwrap();
        let got = significance_label(funnel_significance_poisson(o, ex, 1.0).unwrap());
        let want = inputs.get(row, "significance");
        let e = if got == want {
            vec![]
        } else {
            vec![format!("got {got}, want {want}")]
        };
        rep.row(format!("{o}/{ex}"), e);
    }
    rep.finish();

    let t = Table::read("testdata_funnel_ratio_outputs.csv");
    let obs_col = t.headers[0].clone(); // "Observed_events\n", trimmed
    let mut rep = Report::new(&t.name);
    for row in &t.rows {
        let mut e = Vec::new();
        let o = t.num(row, &obs_col).unwrap();
        for (level, s) in [(ConfidenceLevel::P95, "2s"), (ConfidenceLevel::P998, "3s")] {
            for (side, name) in [(FunnelSide::Lower, "lower"), (FunnelSide::Upper, "upper")] {
                let lambda = poisson_funnel_expected(o, level, side).unwrap().unwrap();
                let rel = bisection_rel(o, lambda);
                let ratio = o / lambda;
                check(
                    &t,
                    row,
                    &format!("{name}_{s}_exp_events"),
                    Some(lambda),
                    rel * lambda,
                    &mut e,
                );
                check(
                    &t,
                    row,
                    &format!("{name}_{s}_count"),
                    Some(ratio - 1.0),
                    rel * ratio,
                    &mut e,
                );
                check(
                    &t,
                    row,
                    &format!("{name}_{s}_isr"),
                    Some(ratio * 100.0),
                    rel * ratio * 100.0,
                    &mut e,
                );
                // The forward limits at that expected count pass through the point.
                let l = funnel_poisson(lambda, level).unwrap().unwrap();
                let on = if side == FunnelSide::Lower {
                    l.lower
                } else {
                    l.upper
                };
                if ((on - ratio) / ratio).abs() > 1e-9 {
                    e.push(format!("forward {name} {s}: {on} vs {ratio}"));
                }
            }
        }
        rep.row(o, e);
    }
    rep.finish();
}

#[test]
fn conformance_funnel_rates() {
    // The points file: derived denominators of rate funnels (calculate_funnel_points).
    let t = Table::read("testdata_funnel_rate_input_funnels.csv");
    let ev: Vec<f64> = t.rows.iter().map(|r| t.num(r, "ev").unwrap()).collect();
    let max_ev = ev.iter().cloned().fold(0.0, f64::max);
    let mut rep = Report::new(&t.name);
    for row in &t.rows {
        let mut e = Vec::new();
        let x = t.num(row, "ev").unwrap();
        let r = t.num(row, "rate").unwrap();
        let pop = t.num(row, "pop").unwrap();
        // dsr, 3 years, the largest count set to 5: no point below 10 events.
        let x5 = if x == max_ev { 5.0 } else { x };
        let dsr_point = (x5 >= 10.0).then(|| (1e5 * x5 / r) / 3.0);
        check(
            &t,
            row,
            "rate_chart",
            (x5 >= 10.0).then_some(r),
            0.0,
            &mut e,
        );
        check(&t, row, "denominator_derived", dsr_point, 0.0, &mut e);
        // crude, 3 years.
        check(&t, row, "rate_chart_crude", Some(r), 0.0, &mut e);
        check(
            &t,
            row,
            "denominator_derived_crude",
            Some((1e5 * x / r) / 3.0),
            0.0,
            &mut e,
        );
        // crude with denominators, 5 years, the largest count set to 0.
        let d = if x == max_ev {
            pop / 5.0
        } else {
            (1e5 * x / r) / 5.0
        };
        check(
            &t,
            row,
            "denominator_derived_crude_with_denom",
            Some(d),
            0.0,
            &mut e,
        );
        rep.row(x, e);
    }
    rep.finish();

    // The pooled rates of the three funnels, recomputed from the points file.
    let rates: Vec<f64> = t.rows.iter().map(|r| t.num(r, "rate").unwrap()).collect();
    let pooled =
        |counts: &[f64], dens: &[f64]| counts.iter().sum::<f64>() / dens.iter().sum::<f64>();
    let dens: Vec<f64> = ev.iter().zip(&rates).map(|(x, r)| 1e5 * x / r).collect();
    let b1 = pooled(&ev, &dens);
    let ev5: Vec<f64> = ev
        .iter()
        .map(|&x| if x == max_ev { 5.0 } else { x })
        .collect();
    let dens5: Vec<f64> = ev5.iter().zip(&rates).map(|(x, r)| 1e5 * x / r).collect();
    let b2 = pooled(&ev5, &dens5);
    let max_pop = dens.iter().cloned().fold(0.0, f64::max);
    let (mut c3, mut d3) = (0.0, 0.0);
    for (&x, &p) in ev.iter().zip(&dens) {
        if p > max_pop / 2.0 {
            c3 += if x == max_ev { 0.0 } else { x };
            d3 += p;
        }
    }
    let b3 = c3 / d3;

    for (file, pooled_rate) in [
        ("testdata_funnel_rate_outputs.csv", b1),
        ("testdata_funnel_rate_outputs_2.csv", b2),
        ("testdata_funnel_rate_outputs_3.csv", b3),
    ] {
        let t = Table::read(file);
        let mut rep = Report::new(&t.name);
        let years = 3.0;
        for row in &t.rows {
            let mut e = Vec::new();
            let o = t.num(row, "Events").unwrap();
            check(&t, row, "baseline", Some(pooled_rate * 1e5), 0.0, &mut e);
            for (level, s) in [(ConfidenceLevel::P95, "2s"), (ConfidenceLevel::P998, "3s")] {
                for (side, name) in [(FunnelSide::Lower, "lower"), (FunnelSide::Upper, "upper")] {
                    let lambda = poisson_funnel_expected(o, level, side).unwrap().unwrap();
                    let rel = bisection_rel(o, lambda);
                    let pop = lambda / pooled_rate / years;
                    let lim = o / (lambda / pooled_rate) * 1e5;
                    check(
                        &t,
                        row,
                        &format!("{name}_{s}_population_1_year"),
                        Some(pop),
                        rel * pop,
                        &mut e,
                    );
                    check(
                        &t,
                        row,
                        &format!("{name}_{s}_limit"),
                        Some(lim),
                        rel * lim,
                        &mut e,
                    );
                    // The forward limits of a rate at that population pass through the point.
                    let l = funnel_rate(pooled_rate, pop * years, level)
                        .unwrap()
                        .unwrap();
                    let on = if side == FunnelSide::Lower {
                        l.lower
                    } else {
                        l.upper
                    } * 1e5;
                    if ((on - lim) / lim).abs() > 1e-9 {
                        e.push(format!("forward {name} {s}: {on} vs {lim}"));
                    }
                }
            }
            rep.row(o, e);
        }
        rep.finish();
    }
}

#[test]
fn conformance_funnel_rate_significance() {
    let t = Table::read("testdata_funnel_rate_dsr_inputs.csv");
    let counts: Vec<f64> = t.rows.iter().map(|r| t.num(r, "count").unwrap()).collect();
    let pops: Vec<f64> = t.rows.iter().map(|r| t.num(r, "pop").unwrap()).collect();
    // (label column, rate column, multiplier, dsr?, keep zero-count rows?)
    let cases = [
        ("dsr_per_100000_with_0", "rate_dsr", 1e5, true, true),
        ("dsr_per_100_with_0", "rate_dsr", 100.0, true, true),
        ("dsr_per_100000_without_0", "rate_dsr", 1e5, true, false),
        ("dsr_per_100_without_0", "rate_dsr", 100.0, true, false),
        (
            "crude_per_100000_with_0",
            "rate_crude_per_100000",
            1e5,
            false,
            true,
        ),
        (
            "crude_per_100_with_0",
            "rate_crude_per_100",
            100.0,
            false,
            true,
        ),
        (
            "crude_per_100000_without_0",
            "rate_crude_per_100000",
            1e5,
            false,
            false,
        ),
        (
            "crude_per_100_without_0",
            "rate_crude_per_100",
            100.0,
            false,
            false,
        ),
    ];
    let mut rep = Report::new(&t.name);
    let mut per_row: Vec<Vec<String>> = vec![Vec::new(); t.rows.len()];
    for (label, rate_col, m, is_dsr, with_zero) in cases {
        let keep: Vec<usize> = (0..t.rows.len())
            .filter(|&i| with_zero || counts[i] != 0.0)
            .collect();
        // Derived denominators: count / rate × multiplier; a zero count has none for a DSR,
        // and its own population for a crude rate.
        let den = |i: usize| -> Option<f64> {
            if counts[i] == 0.0 {
                (!is_dsr).then_some(pops[i])
            } else {
                Some(counts[i] / t.num(&t.rows[i], rate_col).unwrap() * m)
            }
        };
        let total: f64 = keep.iter().map(|&i| counts[i]).sum();
        let total_den: f64 = keep.iter().filter_map(|&i| den(i)).sum();
        let target = total / total_den;
        for &i in &keep {
            let got = if is_dsr && counts[i] < 10.0 {
                FunnelSignificance::NotApplicable.label()
            } else {
                significance_label(
                    funnel_significance_poisson(counts[i], den(i).unwrap(), target).unwrap(),
                )
            };
            let want = t.get(&t.rows[i], label);
            if got != want {
                per_row[i].push(format!("{label}: got {got}, want {want}"));
            }
        }
    }
    for (i, e) in per_row.into_iter().enumerate() {
        rep.row(counts[i], e);
    }
    rep.finish();
}

// ---------------------------------------------------------------------------------------
// Hand-checked examples: Newcombe, Laney, comparisons

#[test]
fn newcombe_1998_table_ii() {
    // Newcombe (1998), Stat Med 17:873-890, Table II, method 10 (hybrid score, no continuity
    // correction). Published to 4 decimals.
    let cases = [
        // (x1, n1, x2, n2, lower, upper)
        (56.0, 70.0, 48.0, 80.0, 0.0524, 0.3339),
        (9.0, 10.0, 3.0, 10.0, 0.1705, 0.8090),
        (6.0, 7.0, 2.0, 7.0, 0.0582, 0.8062),
        (5.0, 56.0, 0.0, 29.0, -0.0381, 0.1926),
        (0.0, 10.0, 0.0, 20.0, -0.1611, 0.2775),
        (0.0, 10.0, 0.0, 10.0, -0.2775, 0.2775),
        (10.0, 10.0, 0.0, 20.0, 0.6791, 1.0000),
        (10.0, 10.0, 0.0, 10.0, 0.6075, 1.0000),
    ];
    for (x1, n1, x2, n2, lo, hi) in cases {
        let d = proportion_difference(x1, n1, x2, n2, ConfidenceLevel::P95)
            .unwrap()
            .unwrap();
        assert!(
            (d.lower - lo).abs() < 5e-5,
            "{x1}/{n1}-{x2}/{n2}: lower {}",
            d.lower
        );
        assert!(
            (d.upper - hi).abs() < 5e-5,
            "{x1}/{n1}-{x2}/{n2}: upper {}",
            d.upper
        );
        assert_eq!(d.significant, lo > 0.0 || hi < 0.0);
    }
    // A denominator of 0: no difference.
    assert_eq!(
        proportion_difference(1.0, 0.0, 1.0, 2.0, ConfidenceLevel::P95),
        Err(Error::NumeratorAboveDenominator {
            numerator: 1.0,
            denominator: 0.0
        })
    );
    assert_eq!(
        proportion_difference(0.0, 0.0, 1.0, 2.0, ConfidenceLevel::P95),
        Ok(None)
    );
}

#[test]
fn laney_hand_checked() {
    // Example 1: equal denominators. p̄ = 60/400 = 0.15; every z is ±0.05/σ with
    // σ = sqrt(0.15·0.85/100), so MR̄ = 0.1/σ, σ_z = MR̄/1.128 and the half-width
    // 3·σ·σ_z = 0.3/1.128 = 0.265957... whatever σ is: limits [0 (clipped), 0.415957...].
    let chart = laney_p_chart(&[10.0, 20.0, 10.0, 20.0, 60.0], &[100.0; 5], 0..4)
        .unwrap()
        .unwrap();
    assert!((chart.centre - 0.15).abs() < 1e-15);
    let l = chart.points[0].limits.unwrap();
    assert_eq!(l.lower, 0.0);
    assert!((l.upper - (0.15 + 0.3 / 1.128)).abs() < 1e-15);
    assert!((chart.sigma_z - 0.1 / (0.15f64 * 0.85 / 100.0).sqrt() / 1.128).abs() < 1e-12);
    assert!(chart.points[4].signals.outside_limits);
    assert!(chart.points[..4].iter().all(|p| !p.signals.any()));

    // Example 2: unequal denominators, x = 5, 12, 9 of n = 50, 100, 60 (all baseline).
    // p̄ = 26/210 = 0.123810; p̄(1-p̄) = 0.108481;
    // σ = 0.046579, 0.032937, 0.042521; z = -0.511163, -0.115663, 0.615946;
    // MR = 0.395500, 0.731609, MR̄ = 0.563555, σ_z = 0.499605;
    // limits for n = 100: 0.123810 ± 3 · 0.032937 · 0.499605 = [0.074444, 0.173175].
    let chart = laney_p_chart(&[5.0, 12.0, 9.0], &[50.0, 100.0, 60.0], 0..3)
        .unwrap()
        .unwrap();
    assert!((chart.centre - 26.0 / 210.0).abs() < 1e-15);
    assert!((chart.sigma_z - 0.499605).abs() < 1e-6);
    let l = chart.points[1].limits.unwrap();
    assert!((l.lower - 0.074444).abs() < 1e-6 && (l.upper - 0.173175).abs() < 1e-6);
    let l = chart.points[0].limits.unwrap();
    assert!((l.lower - 0.053996).abs() < 1e-6 && (l.upper - 0.193623).abs() < 1e-6);

    // A fixed baseline: later periods do not move the centre line.
    let chart2 = laney_p_chart(&[5.0, 12.0, 9.0, 40.0], &[50.0, 100.0, 60.0, 100.0], 0..3)
        .unwrap()
        .unwrap();
    assert_eq!(chart2.centre, chart.centre);
    assert_eq!(chart2.sigma_z, chart.sigma_z);
    assert!(chart2.points[3].signals.outside_limits);

    // Errors and degenerate baselines.
    assert!(matches!(
        laney_p_chart(&[1.0], &[10.0], 0..2),
        Err(Error::Baseline { .. })
    ));
    assert_eq!(
        laney_p_chart(&[1.0, 2.0], &[10.0, 10.0], 0..1).unwrap(),
        None
    );
    assert_eq!(
        laney_p_chart(&[0.0, 0.0], &[10.0, 10.0], 0..2).unwrap(),
        None
    );
}

#[test]
fn spc_runs_and_trends() {
    let v = |xs: &[f64]| xs.iter().map(|&x| Some(x)).collect::<Vec<_>>();
    let none = |n| vec![None; n];
    // 7 above the centre line: a run; 6 are not.
    let s = spc_signals(&v(&[1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0]), 0.0, &none(7)).unwrap();
    assert!(s.iter().all(|s| s.run && !s.trend));
    let s = spc_signals(&v(&[1.0, 2.0, 1.0, 2.0, 1.0, 2.0, -1.0]), 0.0, &none(7)).unwrap();
    assert!(s.iter().all(|s| !s.run));
    // A point on the centre line ends a run.
    let s = spc_signals(&v(&[1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]), 0.0, &none(8)).unwrap();
    assert!(s.iter().all(|s| !s.run));
    // 7 decreasing: a trend; a tie breaks it.
    let s = spc_signals(&v(&[7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 1.0]), 4.0, &none(8)).unwrap();
    assert!(s[..7].iter().all(|s| s.trend) && !s[7].trend);
    let s = spc_signals(&v(&[7.0, 6.0, 5.0, 5.0, 3.0, 2.0, 1.0]), 4.0, &none(7)).unwrap();
    assert!(s.iter().all(|s| !s.trend));
    // A missing value breaks both.
    let mut w = v(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    w[3] = None;
    let s = spc_signals(&w, 0.0, &none(7)).unwrap();
    assert!(s.iter().all(|s| !s.run && !s.trend));
}

#[test]
fn comparisons() {
    use Comparison::*;
    let ci = Interval::new(0.40, 0.50);
    for (nat, hib, lib, none) in [
        (0.30, Better, Worse, Higher),
        (0.60, Worse, Better, Lower),
        (0.45, Similar, Similar, Similar),
        (0.40, Similar, Similar, Similar),
    ] {
        assert_eq!(
            compare_interval(Some(ci), Some(nat), Polarity::HigherIsBetter),
            hib
        );
        assert_eq!(
            compare_interval(Some(ci), Some(nat), Polarity::LowerIsBetter),
            lib
        );
        assert_eq!(
            compare_interval(Some(ci), Some(nat), Polarity::NoJudgement),
            none
        );
    }
    assert_eq!(
        compare_interval(Some(ci), None, Polarity::NoJudgement),
        NotCompared
    );
    assert_eq!(
        compare_interval(Some(ci), Some(f64::NAN), Polarity::NoJudgement),
        NotCompared
    );

    // Region against the rest of the country: a large region pulls the nation towards
    // itself, so "CI excludes the nation" can miss what region-vs-rest finds.
    let (rx, rn, nx, nn) = (3_300.0, 10_000.0, 6_300.0, 20_000.0); // 33% vs rest 30%
    let p = proportion(rx, rn, ConfidenceLevel::P95).unwrap().unwrap();
    let vs_nation = compare_interval(Some(p.interval()), Some(nx / nn), Polarity::NoJudgement);
    let vs_rest =
        compare_with_rest(rx, rn, nx, nn, ConfidenceLevel::P95, Polarity::NoJudgement).unwrap();
    assert_eq!(vs_nation, Higher);
    assert_eq!(vs_rest, Higher);
    let (rx, rn, nx, nn) = (1_550.0, 5_000.0, 3_050.0, 10_000.0); // 31% vs rest 30%, nation 30.5%
    let p = proportion(rx, rn, ConfidenceLevel::P95).unwrap().unwrap();
    assert_eq!(
        compare_interval(Some(p.interval()), Some(nx / nn), Polarity::NoJudgement),
        Similar
    );
    assert_eq!(
        compare_with_rest(rx, rn, nx, nn, ConfidenceLevel::P95, Polarity::NoJudgement).unwrap(),
        Similar
    );
    // The whole nation has no rest; inconsistent parts are errors.
    assert_eq!(
        compare_with_rest(
            10.0,
            100.0,
            10.0,
            100.0,
            ConfidenceLevel::P95,
            Polarity::NoJudgement
        )
        .unwrap(),
        NotCompared
    );
    assert!(matches!(
        compare_with_rest(
            20.0,
            100.0,
            10.0,
            200.0,
            ConfidenceLevel::P95,
            Polarity::NoJudgement
        ),
        Err(Error::PartAboveWhole { .. })
    ));
    assert_eq!(Comparison::Better.as_str(), "better");
}

#[test]
fn edge_cases() {
    let l = ConfidenceLevel::P95;
    // Zero numerator, numerator = denominator.
    let p = proportion(0.0, 50.0, l).unwrap().unwrap();
    assert_eq!((p.value, p.lower), (0.0, 0.0));
    assert!(p.upper > 0.0 && p.upper < 1.0);
    let p = proportion(50.0, 50.0, l).unwrap().unwrap();
    assert_eq!((p.value, p.upper), (1.0, 1.0));
    assert!(p.lower > 0.0 && p.lower < 1.0);
    let r = rate(0.0, 1000.0, 1e5, l).unwrap().unwrap();
    assert_eq!((r.value, r.lower), (0.0, 0.0));
    assert!((r.upper - 368.8879454113936).abs() < 1e-9); // -ln(0.025) · 100
    // Denominator 0: None, never NaN.
    assert_eq!(proportion(0.0, 0.0, l).unwrap(), None);
    assert_eq!(rate(5.0, 0.0, 1e5, l).unwrap(), None);
    assert_eq!(isr(5.0, 0.0, 1.0, l).unwrap(), None);
    assert_eq!(mean(5.0, 0, 1.0, l).unwrap(), None);
    assert_eq!(ratio_of_sums(5.0, 0.0).unwrap(), None);
    assert_eq!(funnel_proportion(0.3, 0.0, l).unwrap(), None);
    assert_eq!(funnel_poisson(0.0, l).unwrap(), None);
    // Errors.
    assert!(matches!(
        proportion(-1.0, 10.0, l),
        Err(Error::Negative { .. })
    ));
    assert!(matches!(
        proportion(11.0, 10.0, l),
        Err(Error::NumeratorAboveDenominator { .. })
    ));
    assert!(matches!(
        rate(f64::NAN, 10.0, 1.0, l),
        Err(Error::NotFinite { .. })
    ));
    assert!(matches!(
        ConfidenceLevel::new(1.0),
        Err(Error::ConfidenceLevel { .. })
    ));
    assert!(matches!(
        ConfidenceLevel::new(0.0),
        Err(Error::ConfidenceLevel { .. })
    ));
    assert!(matches!(
        dsr(&[1.0], &[1.0, 2.0], &StandardPopulation::esp2013(), 1.0, l),
        Err(Error::LengthMismatch { .. })
    ));
    // DSR below 10 events: not published.
    let std = StandardPopulation::new(vec![1.0, 1.0]).unwrap();
    assert_eq!(
        dsr(&[4.0, 5.0], &[100.0, 100.0], &std, 1.0, l).unwrap(),
        None
    );
    // Very large counts.
    for level in [ConfidenceLevel::P95, ConfidenceLevel::P998] {
        let p = proportion(3e8, 1e9, level).unwrap().unwrap();
        assert!(p.lower < 0.3 && 0.3 < p.upper && p.upper - p.lower < 1e-4);
        let r = rate(1e9, 1e10, 1.0, level).unwrap().unwrap();
        assert!(r.lower < 0.1 && 0.1 < r.upper && r.upper - r.lower < 3e-5);
        let d = proportion_difference(3e8, 1e9, 2.9e8, 1e9, level)
            .unwrap()
            .unwrap();
        assert!(d.significant && d.lower < 0.01 && 0.01 < d.upper);
        let f = funnel_poisson(1e9, level).unwrap().unwrap();
        assert!(f.lower < 1.0 && 1.0 < f.upper && f.upper - f.lower < 1e-3);
        let m = mean_from_sums(1e9, 2e9, 1_000_000_000, level)
            .unwrap()
            .unwrap();
        assert!(m.lower < 1.0 && 1.0 < m.upper);
    }
}

// ---------------------------------------------------------------------------------------
// Property tests

fn levels() -> impl Strategy<Value = ConfidenceLevel> {
    (0.5f64..0.9999).prop_map(|l| ConfidenceLevel::new(l).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn wilson_contains_estimate_and_stays_in_unit(n in 1u64..1_000_000_000, frac in 0.0f64..=1.0, level in levels()) {
        let x = (n as f64 * frac).floor();
        let p = proportion(x, n as f64, level).unwrap().unwrap();
        prop_assert!(0.0 <= p.lower && p.lower <= p.value && p.value <= p.upper && p.upper <= 1.0);
    }

    #[test]
    fn wilson_narrows_as_n_grows(n in 1u64..10_000_000, x_per in 0u64..=10, k in 2u64..100) {
        // Same proportion x/n = x_per/10 at n and k·n.
        let n = n * 10;
        let x = (n / 10 * x_per) as f64;
        let a = wilson_interval(x, n as f64, ConfidenceLevel::P95).unwrap().unwrap();
        let b = wilson_interval(x * k as f64, (n * k) as f64, ConfidenceLevel::P95).unwrap().unwrap();
        prop_assert!(b.width() < a.width());
    }

    #[test]
    fn intervals_are_monotone_in_level(x in 0u32..5_000, extra in 0u32..100_000, l1 in 0.5f64..0.999, d in 0.0001f64..0.0009) {
        let lo = ConfidenceLevel::new(l1).unwrap();
        let hi = ConfidenceLevel::new(l1 + d).unwrap();
        let (x, n) = (x as f64, (x + extra).max(1) as f64);
        let contains = |a: Interval, b: Interval| a.lower <= b.lower && b.upper <= a.upper;
        prop_assert!(contains(wilson_interval(x, n, hi).unwrap().unwrap(), wilson_interval(x, n, lo).unwrap().unwrap()));
        prop_assert!(contains(poisson_interval(x, hi).unwrap(), poisson_interval(x, lo).unwrap()));
        prop_assert!(contains(funnel_proportion(0.3, n, hi).unwrap().unwrap(), funnel_proportion(0.3, n, lo).unwrap().unwrap()));
        prop_assert!(contains(funnel_poisson(n / 10.0 + 0.1, hi).unwrap().unwrap(), funnel_poisson(n / 10.0 + 0.1, lo).unwrap().unwrap()));
    }

    #[test]
    fn ci998_contains_ci95(x in 0u32..100_000, extra in 0u32..1_000_000) {
        let (x, n) = (x as f64, (x + extra).max(1) as f64);
        let a = proportion(x, n, ConfidenceLevel::P998).unwrap().unwrap();
        let b = proportion(x, n, ConfidenceLevel::P95).unwrap().unwrap();
        prop_assert!(a.lower <= b.lower && b.upper <= a.upper);
        let a = rate(x, n, 1e5, ConfidenceLevel::P998).unwrap().unwrap();
        let b = rate(x, n, 1e5, ConfidenceLevel::P95).unwrap().unwrap();
        prop_assert!(a.lower <= b.lower && b.upper <= a.upper);
        prop_assert!(b.lower <= b.value && b.value <= b.upper);
    }

    #[test]
    fn poisson_contains_count_and_narrows(x in 0u32..1_000_000, level in levels()) {
        let x = x as f64;
        let ci = poisson_interval(x, level).unwrap();
        prop_assert!(0.0 <= ci.lower && ci.lower <= x && x <= ci.upper);
        // Relative width shrinks with the count (exact/Byar switch included).
        let big = poisson_interval(4.0 * x + 4.0, level).unwrap();
        prop_assert!(big.width() / (4.0 * x + 4.0) < ci.width() / (x + 1.0));
    }

    #[test]
    fn newcombe_contains_difference(x1 in 0u32..1000, e1 in 0u32..1000, x2 in 0u32..1000, e2 in 0u32..1000, level in levels()) {
        let (n1, n2) = ((x1 + e1).max(1) as f64, (x2 + e2).max(1) as f64);
        let d = proportion_difference(x1 as f64, n1, x2 as f64, n2, level).unwrap().unwrap();
        prop_assert!(-1.0 <= d.lower && d.lower <= d.estimate && d.estimate <= d.upper && d.upper <= 1.0);
        prop_assert_eq!(d.significant, !(d.lower <= 0.0 && 0.0 <= d.upper));
    }

    #[test]
    fn funnel_inverse_round_trip(o in 1u32..100_000, level in levels()) {
        let o = o as f64;
        let e = poisson_funnel_expected(o, level, FunnelSide::Lower).unwrap().unwrap();
        let l = funnel_poisson(e, level).unwrap().unwrap();
        prop_assert!(((l.lower * e - o) / o).abs() < 1e-9);
        let e = poisson_funnel_expected(o, level, FunnelSide::Upper).unwrap().unwrap();
        let l = funnel_poisson(e, level).unwrap().unwrap();
        prop_assert!(((l.upper * e - o) / o).abs() < 1e-9);
    }

    #[test]
    fn dsr_contains_value(counts in proptest::collection::vec(0u32..500, 19), pops in proptest::collection::vec(1u32..100_000, 19)) {
        let c: Vec<f64> = counts.iter().map(|&x| x as f64).collect();
        let p: Vec<f64> = pops.iter().map(|&x| x as f64).collect();
        match dsr(&c, &p, &StandardPopulation::esp2013(), 1e5, ConfidenceLevel::P95).unwrap() {
            None => prop_assert!(c.iter().sum::<f64>() < 10.0),
            Some(r) => prop_assert!(r.lower <= r.value && r.value <= r.upper),
        }
    }

    #[test]
    fn mean_from_sums_matches_sd(values in proptest::collection::vec(-1000.0f64..1000.0, 2..50)) {
        let n = values.len() as u64;
        let sum: f64 = values.iter().sum();
        let ss: f64 = values.iter().map(|v| v * v).sum();
        let m = sum / n as f64;
        let sd = (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
        let a = mean(sum, n, sd, ConfidenceLevel::P95).unwrap().unwrap();
        let b = mean_from_sums(sum, ss, n, ConfidenceLevel::P95).unwrap().unwrap();
        prop_assert!(a.lower <= a.value && a.value <= a.upper);
        prop_assert!((a.upper - b.upper).abs() <= 1e-6 * (1.0 + a.upper.abs()));
    }
}
