//! The command line, end to end: output snapshots and exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// Runs `spiegel` in the repository root; returns (exit code, stdout, stderr)
/// with the temporary folder replaced by `[OUT]`.
fn spiegel(args: &[&str], out: Option<&Path>) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run spiegel");
    let clean = |b: &[u8]| {
        let mut s = String::from_utf8_lossy(b).into_owned();
        if let Some(out) = out {
            s = s.replace(&out.display().to_string(), "[OUT]");
        }
        s.replace(&root().display().to_string(), "[ROOT]")
    };
    (
        output.status.code().unwrap_or(-1),
        clean(&output.stdout),
        clean(&output.stderr),
    )
}

#[test]
fn validate_the_palliative_catalogue() {
    let (code, stdout, _) = spiegel(&["validate", "fixtures/indicators/palliative"], None);
    assert_eq!(code, 0);
    insta::assert_snapshot!(stdout);
}

#[test]
fn validate_reports_every_problem_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalogue =
        std::fs::read_to_string(root().join("fixtures/indicators/palliative/catalogue.yaml"))
            .expect("catalogue");
    std::fs::write(dir.path().join("catalogue.yaml"), catalogue).expect("write");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "id: bad_one\nversion: \"1\"\ntitle: {nl: x, en: y}\ntype: process\nunit: proportion\ndirection: lower\npopulation: palliative_decedents\nnumerator:\n  criteria:\n    event:\n      table: care_events\n      window: {from_days: 10, to_days: 30}\n",
    )
    .expect("write");
    let (code, stdout, stderr) = spiegel(
        &["validate", &dir.path().display().to_string()],
        Some(dir.path()),
    );
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    insta::assert_snapshot!(stderr);
}

#[test]
fn run_on_the_tiny_extract() {
    let out = tempfile::tempdir().expect("tempdir");
    let o = out.path().display().to_string();
    let (code, stdout, stderr) = spiegel(
        &[
            "run",
            "--data",
            "fixtures/tiny",
            "--threshold",
            "1",
            "--p-percent",
            "0",
            "--out",
            &o,
            "--format",
            "parquet,csv,json",
        ],
        Some(out.path()),
    );
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!("run_tiny_stdout", stdout);
    assert!(!stderr.contains("warning"), "{stderr}");
    for f in [
        "results.parquet",
        "results.csv",
        "results.json",
        "audit.parquet",
        "audit.csv",
        "audit.json",
    ] {
        assert!(out.path().join(f).exists(), "{f}");
    }
    let csv = std::fs::read_to_string(out.path().join("results.csv")).expect("csv");
    let header = csv.lines().next().unwrap_or_default();
    insta::assert_snapshot!("results_csv_header", header);
}

#[test]
fn run_with_default_threshold_suppresses() {
    let out = tempfile::tempdir().expect("tempdir");
    let o = out.path().display().to_string();
    // Twelve persons: the national totals are too small to force.
    let (code, stdout, stderr) = spiegel(
        &[
            "run",
            "--data",
            "fixtures/tiny",
            "--out",
            &o,
            "--force",
            "none",
        ],
        Some(out.path()),
    );
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!("run_tiny_k10_stdout", stdout);
    let audit = std::fs::read_to_string(out.path().join("audit.csv")).expect("audit");
    insta::assert_snapshot!("audit_csv_header", audit.lines().next().unwrap_or_default());
    assert!(audit.lines().count() > 1, "{audit}");
}

#[test]
fn a_forced_total_dominated_by_two_hospitals_refuses_the_run() {
    // The tiny extract has three hospitals: two of them dominate the national
    // consultations of pc_team_coverage (the p% rule), which the catalogue forces.
    let out = tempfile::tempdir().expect("tempdir");
    let o = out.path().display().to_string();
    let (code, stdout, stderr) = spiegel(
        &[
            "run",
            "--data",
            "fixtures/tiny",
            "--threshold",
            "1",
            "--out",
            &o,
        ],
        Some(out.path()),
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(!out.path().join("results.csv").exists());
    insta::assert_snapshot!("forced_dominated_total", stderr);
    // Without the p% rule the same run is released.
    let (code, _, stderr) = spiegel(
        &[
            "run",
            "--data",
            "fixtures/tiny",
            "--threshold",
            "1",
            "--p-percent",
            "0",
            "--out",
            &o,
        ],
        Some(out.path()),
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = spiegel(
        &[
            "run",
            "--data",
            "fixtures/tiny",
            "--dominance",
            "3,80",
            "--out",
            &o,
        ],
        Some(out.path()),
    );
    assert_eq!(code, 1);
    insta::assert_snapshot!("dominance_out_of_range", stderr);
}

#[test]
fn a_forced_total_that_is_sensitive_refuses_the_run() {
    let out = tempfile::tempdir().expect("tempdir");
    let o = out.path().display().to_string();
    let (code, stdout, stderr) = spiegel(
        &["run", "--data", "fixtures/tiny", "--out", &o],
        Some(out.path()),
    );
    assert_eq!(code, 1, "{stdout}");
    insta::assert_snapshot!("forced_sensitive_total", stderr);
    assert!(!out.path().join("results.csv").exists());
}

#[test]
fn public_output_collapses_the_suppression_statuses() {
    let out = tempfile::tempdir().expect("tempdir");
    let o = out.path().display().to_string();
    let (code, _, stderr) = spiegel(
        &[
            "run",
            "--data",
            "fixtures/tiny",
            "--out",
            &o,
            "--threshold",
            "3",
            "--force",
            "none",
            "--public",
            "--format",
            "csv",
        ],
        Some(out.path()),
    );
    assert_eq!(code, 0, "{stderr}");
    let csv = std::fs::read_to_string(out.path().join("results.csv")).expect("csv");
    let header: Vec<&str> = csv.lines().next().unwrap_or_default().split(',').collect();
    assert!(!header.contains(&"suppression_reason"), "{header:?}");
    let status = header.iter().position(|h| *h == "status").expect("status");
    let statuses: std::collections::BTreeSet<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(status).unwrap_or_default().to_string())
        .collect();
    assert!(statuses.contains("suppressed"), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| s == "published" || s == "suppressed"),
        "{statuses:?}"
    );
    assert!(!out.path().join("audit.csv").exists());
}

#[test]
fn a_previous_release_is_loaded_as_public() {
    let first = tempfile::tempdir().expect("tempdir");
    let f = first.path().display().to_string();
    let args = |out: &str| {
        vec![
            "run".to_string(),
            "--data".into(),
            "fixtures/tiny".into(),
            "--out".into(),
            out.to_string(),
            "--threshold".into(),
            "3".into(),
            "--force".into(),
            "none".into(),
            "--protect-zeros".into(),
            "--interval-width".into(),
            "4".into(),
        ]
    };
    let a = args(&f);
    let (code, _, stderr) = spiegel(&a.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_eq!(code, 0, "{stderr}");
    let second = tempfile::tempdir().expect("tempdir");
    let mut b = args(&second.path().display().to_string());
    let previous = first.path().join("results.parquet").display().to_string();
    b.extend(["--previous".to_string(), previous, "--timings".to_string()]);
    let (code, stdout, stderr) = spiegel(&b.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("hidden as secondary"), "{stdout}");
    assert!(stderr.contains("protecting"), "{stderr}");
    // Protecting, split into its steps.
    assert!(
        stderr.contains("(shared counts ") && stderr.contains(", families of related counts "),
        "{stderr}"
    );
    let results = |dir: &Path| std::fs::read_to_string(dir.join("results.csv")).expect("csv");
    assert_eq!(results(first.path()), results(second.path()));
}

#[test]
fn bad_arguments_are_clear_errors() {
    let (code, _, stderr) = spiegel(&["run", "--data", "fixtures/no-such-folder"], None);
    assert_eq!(code, 1);
    insta::assert_snapshot!("missing_data_folder", stderr);
    let (code, _, stderr) = spiegel(
        &["run", "--data", "fixtures/tiny", "--strata", "sex+colour"],
        None,
    );
    assert_eq!(code, 1);
    insta::assert_snapshot!("bad_strata", stderr);
    let (code, _, stderr) = spiegel(
        &["run", "--data", "fixtures/tiny", "--threshold", "0"],
        None,
    );
    assert_eq!(code, 1);
    insta::assert_snapshot!("bad_threshold", stderr);
    let (code, _, stderr) = spiegel(
        &["run", "--data", "fixtures/tiny", "--confidence", "0.95,1.5"],
        None,
    );
    assert_eq!(code, 1);
    insta::assert_snapshot!("bad_confidence", stderr);
    let (code, _, stderr) = spiegel(
        &["run", "--data", "fixtures/tiny", "--baseline", "1999"],
        None,
    );
    assert_eq!(code, 1);
    insta::assert_snapshot!("bad_baseline", stderr);
}

#[test]
fn explain_shows_plans_and_cell_map() {
    let (code, stdout, stderr) = spiegel(&["explain", "--data", "fixtures/tiny"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("# Person finest cells: physical plan"),
        "{stdout}"
    );
    assert!(stdout.contains("AggregateExec"), "{stdout}");
    let map = stdout.split("# Cell map").nth(1).expect("cell map section");
    insta::assert_snapshot!("explain_cell_map", map);
}

#[test]
fn synth_writes_an_extract_that_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let (code, stdout, stderr) = spiegel(
        &["synth", "--scale", "0.002", "--out", &d, "--seed", "7"],
        Some(dir.path()),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("person"), "{stdout}");
    let out = dir.path().join("out");
    // 340 persons: some national totals are too small to force.
    let (code, stdout, stderr) = spiegel(
        &[
            "run",
            "--data",
            &d,
            "--out",
            &out.display().to_string(),
            "--force",
            "none",
        ],
        Some(dir.path()),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("place_of_death_home"), "{stdout}");
}

#[test]
fn detail_prints_every_region_of_one_indicator() {
    let out = tempfile::tempdir().expect("tempdir");
    let o = out.path().display().to_string();
    let (code, stdout, stderr) = spiegel(
        &[
            "run",
            "--data",
            "fixtures/tiny",
            "--threshold",
            "1",
            "--p-percent",
            "0",
            "--out",
            &o,
            "--detail",
            "hospital_admission_30d",
        ],
        Some(out.path()),
    );
    assert_eq!(code, 0, "{stderr}");
    let detail = stdout
        .split("hospital_admission_30d by region")
        .nth(1)
        .expect("detail section");
    insta::assert_snapshot!("detail_hospital_admission_30d", detail);
    let (code, _, stderr) = spiegel(
        &[
            "run",
            "--data",
            "fixtures/tiny",
            "--out",
            &o,
            "--detail",
            "nope",
        ],
        Some(out.path()),
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--detail nope: no such indicator"),
        "{stderr}"
    );
}
