//! The `spiegel` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use spiegel::arrow::array::{Array, AsArray};
use spiegel::arrow::datatypes::{Float64Type, Int64Type};
use spiegel::disclosure::MagnitudeRule;
use spiegel::engine::results::status;
use spiegel::engine::{ComparisonMethod, ConfidenceLevel, Previous, Severity, StatsOptions};
use spiegel::model::{Dominance, Unit};
use spiegel::prelude::*;
use spiegel::{write_csv, write_json, write_parquet};

/// Healthcare quality indicators from routine-care extracts, as mirror information.
#[derive(Parser)]
#[command(name = "spiegel", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a catalogue over an extract and write the results table.
    ///
    /// With no arguments: the bundled palliative-care catalogue on the bundled
    /// synthetic extract, results in ./spiegel-out.
    Run(Box<RunArgs>),
    /// Validate a catalogue folder and list every problem.
    Validate {
        /// The catalogue folder (catalogue.yaml and one file per indicator).
        #[arg(default_value = "fixtures/indicators/palliative")]
        dir: PathBuf,
    },
    /// Print the compiled DataFusion plans and the cell map.
    Explain {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        strata: StrataArgs,
    },
    /// Generate a synthetic national extract as Parquet files.
    Synth {
        /// Scale factor: 1 = one year of the Netherlands (about 170,000 decedents).
        #[arg(long, default_value_t = 0.01)]
        scale: f64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Random seed (same seed, same extract).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Years of death, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "2022")]
        years: Vec<i32>,
    },
}

#[derive(clap::Args)]
struct InputArgs {
    /// The catalogue folder.
    #[arg(long, default_value = "fixtures/indicators/palliative")]
    catalogue: PathBuf,
    /// The extract folder (`<table>.parquet` or `<table>.csv` per contract table).
    #[arg(long, default_value = "fixtures/extract")]
    data: PathBuf,
}

#[derive(clap::Args)]
struct StrataArgs {
    /// What to publish, repeatable: `all`, `sex`, `age_group`, `sex+age_group`,
    /// `national:diagnosis_group`, `network,province:sex`. Default: every
    /// level x {all, sex, age_group, sex+age_group} and national x diagnosis_group.
    #[arg(long = "strata")]
    strata: Vec<String>,
    /// DataFusion partitions (default: the number of cores).
    #[arg(long)]
    partitions: Option<usize>,
    /// Memory DataFusion may use before spilling to disk, in MiB.
    #[arg(long, default_value_t = 4096)]
    memory_limit_mib: usize,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    strata: StrataArgs,
    /// Output folder for the results.
    #[arg(long, default_value = "spiegel-out")]
    out: PathBuf,
    #[command(flatten)]
    disclosure: DisclosureArgs,
    /// Output formats.
    #[arg(long, value_delimiter = ',', default_values = ["parquet", "csv"])]
    format: Vec<Format>,
    /// Print how long each phase took (to standard error).
    #[arg(long)]
    timings: bool,
    /// Confidence levels of the intervals and funnel limits, comma separated.
    #[arg(long, value_delimiter = ',', default_values = ["0.95", "0.998"])]
    confidence: Vec<f64>,
    /// How a region is compared with the nation: `interval` (its confidence
    /// interval excludes the national value) or `rest-of-country`.
    #[arg(long, value_enum, default_value = "interval")]
    comparison: Comparison,
    /// The baseline period for changes (default: the first period of a multi-period run).
    #[arg(long)]
    baseline: Option<i32>,
    /// Also print every region of one indicator (whole population of each region):
    /// value, interval, national value and comparison.
    #[arg(long, value_name = "INDICATOR")]
    detail: Option<String>,
}

#[derive(clap::Args)]
struct DisclosureArgs {
    /// Primary suppression threshold k: counts 1..k-1 are sensitive (default: the catalogue's, 10).
    #[arg(long)]
    threshold: Option<i64>,
    /// Treat counts of 0 as sensitive too (default: the catalogue's, off).
    #[arg(long)]
    protect_zeros: bool,
    /// How wide an attacker's interval for a hidden sensitive count must be
    /// (default: the catalogue's, the threshold).
    #[arg(long, value_name = "N")]
    interval_width: Option<i64>,
    /// Always publish the unstratified totals of this level (`national` or a
    /// region level), repeatable; replaces the catalogue's list; `none` for no
    /// forced level.
    #[arg(long = "force", value_name = "LEVEL")]
    force: Vec<String>,
    /// The p% rule for magnitude cells (sums such as GP contacts or
    /// consultations): a cell is sensitive when its total less its two
    /// largest contributions is below P percent of the largest (default: the
    /// catalogue's, 10; 0 turns it off).
    #[arg(long, value_name = "P")]
    p_percent: Option<i64>,
    /// The (n, k) dominance rule for magnitude cells, as `N,K`: a cell is
    /// sensitive when its N (1 or 2) largest contributions make up more than
    /// K percent of it; `none` turns it off (default: the catalogue's, off).
    #[arg(long, value_name = "N,K", value_parser = parse_dominance)]
    dominance: Option<Dominated>,
    /// An earlier release's results (`results.parquet` or `results.csv`): the
    /// cells it published are loaded as already public, so that the two
    /// releases together reveal nothing either hides. Their counts must not
    /// have changed.
    #[arg(long, value_name = "PATH")]
    previous: Option<PathBuf>,
    /// Write the results for release outside the secure environment: hidden
    /// cells get the status `suppressed` (primary and secondary alike), no
    /// `suppression_reason`, and no audit table.
    #[arg(long)]
    public: bool,
}

/// The line that says for how many cells the LP solver failed while searching for a proof
/// (none: empty).
fn solver_note(cells: usize) -> String {
    if cells == 0 {
        return String::new();
    }
    format!(
        "\nnote: the LP solver failed while searching for a proof for {cells} cells; they were taken as unproven, so more cells may be hidden than needed (never fewer), and the independent verification passed"
    )
}

/// The magnitude rules in words: `, p% rule p = 10, (1, 85) dominance`.
fn magnitude_rules(rules: &[MagnitudeRule]) -> String {
    rules
        .iter()
        .map(|r| match r {
            MagnitudeRule::PPercent { p } => format!(", p% rule p = {p}"),
            MagnitudeRule::Dominance { n, k } => format!(", ({n}, {k}) dominance"),
            _ => ", a magnitude rule".to_string(),
        })
        .collect()
}

/// `--dominance N,K` or `none`.
#[derive(Clone, Copy, Debug)]
struct Dominated(Option<Dominance>);

fn parse_dominance(s: &str) -> Result<Dominated, String> {
    if s == "none" {
        return Ok(Dominated(None));
    }
    let (n, k) = s
        .split_once(',')
        .ok_or_else(|| format!("expected N,K (for example 1,85) or none, got `{s}`"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("N must be 1 or 2, got `{n}`"))?;
    let k: i64 = k
        .trim()
        .parse()
        .map_err(|_| format!("K must be a percentage, got `{k}`"))?;
    Ok(Dominated(Some(Dominance { n, k })))
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Comparison {
    Interval,
    RestOfCountry,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Parquet,
    Csv,
    Json,
}

/// Writes to stdout; a closed pipe (`spiegel explain | head`) ends the
/// program quietly instead of panicking like `println!` would.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = writeln!(stdout, $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// Finds a bundled default path from the current folder, or from the source tree.
fn resolve(path: &Path, default: &str) -> PathBuf {
    if path.exists() || path != Path::new(default) {
        return path.to_path_buf();
    }
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(default);
    if bundled.exists() {
        bundled
    } else {
        path.to_path_buf()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(*args),
        Command::Validate { dir } => validate(&resolve(&dir, "fixtures/indicators/palliative")),
        Command::Explain { input, strata } => explain(input, strata),
        Command::Synth {
            scale,
            out,
            seed,
            years,
        } => synth(scale, &out, seed, years),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

fn validate(dir: &Path) -> CliResult {
    let catalogue = Catalogue::load_dir(dir)?;
    out!(
        "ok: catalogue `{}` version {} with {} indicators is valid",
        catalogue.id,
        catalogue.version,
        catalogue.indicators.len()
    );
    Ok(())
}

fn engine(
    input: &InputArgs,
    strata: &StrataArgs,
    disclosure: Option<&DisclosureArgs>,
) -> Result<(Engine, Extract), Box<dyn std::error::Error>> {
    let catalogue_dir = resolve(&input.catalogue, "fixtures/indicators/palliative");
    let data_dir = resolve(&input.data, "fixtures/extract");
    let catalogue = Catalogue::load_dir(&catalogue_dir)?;
    let extract = Extract::from_dir(&data_dir, &catalogue.contract)?;
    let mut options = RunOptions {
        target_partitions: strata.partitions,
        memory_limit: strata.memory_limit_mib.saturating_mul(1 << 20),
        ..RunOptions::default()
    };
    if let Some(d) = disclosure {
        options.threshold = d.threshold;
        options.protect_zeros = d.protect_zeros.then_some(true);
        options.interval_width = d.interval_width;
        if !d.force.is_empty() {
            options.forced = Some(d.force.iter().filter(|l| *l != "none").cloned().collect());
        }
        options.previous = d.previous.clone().map(Previous::Path);
        options.p_percent = d.p_percent;
        options.dominance = d.dominance.map(|d| d.0);
    }
    if !strata.strata.is_empty() {
        options.strata = strata
            .strata
            .iter()
            .map(|s| StrataSpec::parse(s).map_err(|e| format!("--strata {s}: {e}")))
            .collect::<Result<_, _>>()?;
    }
    Ok((Engine::new(catalogue).with_options(options), extract))
}

fn explain(input: InputArgs, strata: StrataArgs) -> CliResult {
    let (engine, extract) = engine(&input, &strata, None)?;
    // The cell map needs the finest cells, not the protection: a threshold of
    // 1 and no p% rule leave nothing sensitive, so nothing to protect
    // (nothing is written).
    let mut options = engine.options().clone();
    options.threshold = Some(1);
    options.p_percent = Some(0);
    options.forced = Some(Vec::new());
    let engine = engine.with_options(options);
    out!("{}", engine.explain_blocking(&extract)?.trim_end());
    let output = engine.run_blocking(&extract)?;
    out!("\n# Cell map: every published cell is a sum of finest cells");
    for map in &output.cell_maps {
        let members: usize = map.members.iter().map(Vec::len).sum();
        out!(
            "  {:?}: {} finest cells, {} published cells, {} memberships (non-zeros of the 0/1 matrix)",
            map.space,
            map.keys.len(),
            map.cells.len(),
            members
        );
        let mut by_shape: std::collections::BTreeMap<(String, String), usize> = Default::default();
        for cell in &map.cells {
            let strata: Vec<&str> = cell.stratifiers().iter().map(|s| s.column()).collect();
            let shape = if strata.is_empty() {
                "all".to_string()
            } else {
                strata.join("+")
            };
            *by_shape.entry((cell.level.clone(), shape)).or_default() += 1;
        }
        for ((level, shape), n) in by_shape {
            out!("    {level:<20} {shape:<28} {n:>7} cells");
        }
    }
    Ok(())
}

fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn run(args: RunArgs) -> CliResult {
    let (engine, extract) = engine(&args.input, &args.strata, Some(&args.disclosure))?;
    let levels = args
        .confidence
        .iter()
        .map(|l| ConfidenceLevel::new(*l).map_err(|e| format!("--confidence {l}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut options = engine.options().clone();
    options.stats = StatsOptions {
        levels,
        comparison: match args.comparison {
            Comparison::Interval => ComparisonMethod::Interval,
            Comparison::RestOfCountry => ComparisonMethod::RestOfCountry,
        },
        baseline: args.baseline,
    };
    let engine = engine.with_options(options);
    if let Some(id) = &args.detail
        && engine.catalogue().indicator(id).is_none()
    {
        return Err(format!("--detail {id}: no such indicator in the catalogue").into());
    }
    let bar = Arc::new(spinner());
    let b = bar.clone();
    let phases: Arc<std::sync::Mutex<Vec<(String, std::time::Instant)>>> = Arc::default();
    let log = phases.clone();
    // The steps within protection: (name, when first reported, when last reported).
    type Steps = Vec<(String, std::time::Instant, std::time::Instant)>;
    let steps: Arc<std::sync::Mutex<Steps>> = Arc::default();
    let step_log = steps.clone();
    let engine = engine.with_progress(move |p| {
        // A step within protection: shown, and timed within protecting.
        if let Progress::ProtectingStep { step, done, total } = p {
            if let Ok(mut log) = step_log.lock() {
                let (name, now) = (step.to_string(), std::time::Instant::now());
                match log.last_mut() {
                    Some(last) if last.0 == name => last.2 = now,
                    _ => log.push((name, now, now)),
                }
            }
            b.set_message(format!(
                "protecting the published cells: {step}, {done} of {total} protected"
            ));
            return;
        }
        if let Ok(mut log) = log.lock() {
            let name = format!("{p:?}");
            log.push((
                name.split([' ', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                std::time::Instant::now(),
            ));
        }
        let msg = match p {
            Progress::Opening => "checking the extract against the data contract".to_string(),
            Progress::Checking => "running data-quality checks".to_string(),
            Progress::Computing => {
                "scanning every table once and aggregating to the finest cells".to_string()
            }
            Progress::Assembling { finest_cells } => {
                format!("summing {finest_cells} finest cells into the published cells")
            }
            Progress::Protecting { cells } => format!(
                "protecting {cells} published cells (primary and secondary suppression, audit)"
            ),
            Progress::Verifying => {
                "verifying the protection independently from the results table".to_string()
            }
            Progress::Done { rows, seconds } => format!("{rows} result rows in {seconds:.2} s"),
            _ => String::new(),
        };
        b.set_message(msg);
    });
    let output = engine.run_blocking(&extract);
    bar.finish_and_clear();
    let output = output?;
    if args.timings
        && let Ok(log) = phases.lock()
    {
        let within: Vec<String> = steps
            .lock()
            .map(|steps| {
                steps
                    .iter()
                    .map(|(name, start, end)| {
                        format!("{name} {:.2} s", (*end - *start).as_secs_f64())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let spans: Vec<String> = log
            .windows(2)
            .map(|w| {
                let name = w[0].0.to_lowercase();
                let mut span = format!("{name} {:.2} s", (w[1].1 - w[0].1).as_secs_f64());
                if name == "protecting" && !within.is_empty() {
                    span.push_str(&format!(" ({})", within.join(", ")));
                }
                span
            })
            .collect();
        eprintln!(
            "timings: {} (disclosure control in all: {:.2} s)",
            spans.join(", "),
            output.disclosure.seconds
        );
    }

    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let mut written = Vec::new();
    let results = if args.disclosure.public {
        public(&output.results)?
    } else {
        output.results.clone()
    };
    let mut tables = vec![("results", &results)];
    if !args.disclosure.public {
        tables.push(("audit", &output.audit));
    }
    for (name, table) in tables {
        for f in &args.format {
            let path = match f {
                Format::Parquet => args.out.join(format!("{name}.parquet")),
                Format::Csv => args.out.join(format!("{name}.csv")),
                Format::Json => args.out.join(format!("{name}.json")),
            };
            match f {
                Format::Parquet => write_parquet(table, &path)?,
                Format::Csv => write_csv(table, &path)?,
                Format::Json => write_json(table, &path)?,
            }
            written.push(path.display().to_string());
        }
    }
    out!("{}", summary(engine.catalogue(), &output).trim_end());
    if let Some(id) = &args.detail {
        out!("\n{}", detail(id, &output).trim_end());
    }
    out!(
        "\nResults ({} rows) written to: {}",
        output.results.num_rows(),
        written.join(", ")
    );
    Ok(())
}

/// The results for release outside the secure environment: every hidden cell
/// is `suppressed` (which hidden cells are the small ones would narrow them
/// down) and the `suppression_reason` column is dropped.
fn public(
    results: &spiegel::arrow::array::RecordBatch,
) -> Result<spiegel::arrow::array::RecordBatch, Box<dyn std::error::Error>> {
    use spiegel::arrow::array::{ArrayRef, StringArray};
    let schema = results.schema();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in schema.fields().iter().zip(results.columns()) {
        match field.name().as_str() {
            "suppression_reason" => continue,
            "status" => {
                let s = column.as_string::<i32>();
                let collapsed: StringArray = s
                    .iter()
                    .map(|v| {
                        v.map(|v| match v {
                            status::SUPPRESSED_PRIMARY | status::SUPPRESSED_SECONDARY => {
                                status::SUPPRESSED
                            }
                            other => other,
                        })
                    })
                    .collect();
                columns.push(Arc::new(collapsed));
            }
            _ => columns.push(column.clone()),
        }
        fields.push(field.as_ref().clone());
    }
    let schema = Arc::new(spiegel::arrow::datatypes::Schema::new(fields));
    Ok(spiegel::arrow::array::RecordBatch::try_new(
        schema, columns,
    )?)
}

type Floats = spiegel::arrow::array::PrimitiveArray<Float64Type>;

/// The interval at the first confidence level of a results table: the label
/// of its first `ci<label>_lower` column and its lower and upper columns.
fn first_interval(
    r: &spiegel::arrow::array::RecordBatch,
) -> (String, Option<Floats>, Option<Floats>) {
    let schema = r.schema();
    let lower = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .find(|n| n.starts_with("ci") && n.ends_with("_lower"))
        .unwrap_or_default();
    let column = |n: &str| {
        r.column_by_name(n)
            .map(|a| a.as_primitive::<Float64Type>().clone())
    };
    let label = lower
        .trim_start_matches("ci")
        .trim_end_matches("_lower")
        .to_string();
    let upper = lower.replace("_lower", "_upper");
    (label, column(&lower), column(&upper))
}

/// The national value of every indicator, as a readable table.
fn summary(catalogue: &Catalogue, output: &RunOutput) -> String {
    let r = &output.results;
    let col = |n: &str| r.column_by_name(n).expect("results schema");
    let id = col("indicator_id").as_string::<i32>();
    let period = col("period").as_string::<i32>();
    let level = col("region_level").as_string::<i32>();
    let sex = col("sex").as_string::<i32>();
    let age = col("age_group").as_string::<i32>();
    let diag = col("diagnosis_group").as_string::<i32>();
    let num = col("numerator").as_primitive::<Int64Type>();
    let den = col("denominator").as_primitive::<Int64Type>();
    let value = col("value").as_primitive::<Float64Type>();
    let status = col("status").as_string::<i32>();
    let (ci_label, ci_lower, ci_upper) = first_interval(r);
    let mut out = String::new();
    let d = &output.disclosure;
    let mut quality: Vec<_> = output
        .quality
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect();
    quality.sort_by(|a, b| (&a.table, &a.check).cmp(&(&b.table, &b.check)));
    for f in quality {
        out.push_str(&format!(
            "data quality ({:?}): table `{}`: {} rows {} [{}]\n",
            f.severity, f.table, f.rows, f.message, f.check
        ));
    }
    out.push_str(&format!(
        "Disclosure control: {} published cells, {} hidden as primary (their own counts are sensitive), {} hidden as secondary (to protect them), {} forced; threshold k = {}, interval width {}{}{}{}\n\n",
        d.cells,
        d.primary,
        d.secondary,
        d.forced,
        output.policy.threshold,
        output.policy.required_width(),
        if output.policy.protect_zeros {
            ", zeros protected"
        } else {
            ""
        },
        magnitude_rules(&output.magnitude),
        solver_note(d.solver_failures)
    ));
    out.push_str(&format!(
        "National values, catalogue `{}` {} (threshold k = {})\n\n",
        catalogue.id, catalogue.version, output.threshold
    ));
    let ci_head = if ci_label.len() > 2 {
        format!("{}.{}% CI", &ci_label[..2], &ci_label[2..])
    } else {
        format!("{ci_label}% CI")
    };
    out.push_str(&format!(
        "{:<34} {:>6} {:>10} {:>11} {:>13} {:>23}  {}\n",
        "indicator", "period", "numerator", "denominator", "value", ci_head, "status"
    ));
    for i in 0..r.num_rows() {
        if level.value(i) != "national" || !sex.is_null(i) || !age.is_null(i) || !diag.is_null(i) {
            continue;
        }
        let ind = catalogue.indicator(id.value(i));
        let fmt_count = |a: &spiegel::arrow::array::PrimitiveArray<Int64Type>| {
            if a.is_null(i) {
                "-".to_string()
            } else {
                a.value(i).to_string()
            }
        };
        let unit = ind.map(|d| d.unit);
        let fmt = |x: f64, suffix: bool| match unit {
            Some(Unit::Proportion) | Some(Unit::RatioOfSums) => format!("{:.1}%", x * 100.0),
            Some(Unit::RatePer(n)) if suffix => format!("{x:.2} /{n}"),
            _ => format!("{x:.2}"),
        };
        let v = if value.is_null(i) {
            "-".to_string()
        } else {
            fmt(value.value(i), true)
        };
        let ci = match (&ci_lower, &ci_upper) {
            (Some(lo), Some(hi)) if lo.is_valid(i) && hi.is_valid(i) => {
                format!("{} to {}", fmt(lo.value(i), false), fmt(hi.value(i), false))
            }
            _ => "-".to_string(),
        };
        out.push_str(&format!(
            "{:<34} {:>6} {:>10} {:>11} {:>13} {:>23}  {}\n",
            id.value(i),
            period.value(i),
            fmt_count(num),
            fmt_count(den),
            v,
            ci,
            status.value(i)
        ));
    }
    out
}

/// Every region of one indicator, whole population: value, interval at the
/// first level, national value and comparison.
fn detail(indicator: &str, output: &RunOutput) -> String {
    let r = &output.results;
    let s = |n: &str| r.column_by_name(n).map(|a| a.as_string::<i32>().clone());
    let f = |n: &str| {
        r.column_by_name(n)
            .map(|a| a.as_primitive::<Float64Type>().clone())
    };
    let (_, lo, hi) = first_interval(r);
    let (Some(id), Some(period), Some(level), Some(region), Some(sex), Some(age), Some(diag)) = (
        s("indicator_id"),
        s("period"),
        s("region_level"),
        s("region_id"),
        s("sex"),
        s("age_group"),
        s("diagnosis_group"),
    ) else {
        return String::new();
    };
    let (value, national) = (f("value"), f("national_value"));
    let (comparison, status) = (s("comparison"), s("status"));
    let num = |a: &Option<spiegel::arrow::array::PrimitiveArray<Float64Type>>, i: usize| match a {
        Some(a) if a.is_valid(i) => format!("{:.4}", a.value(i)),
        _ => "-".to_string(),
    };
    let text = |a: &Option<spiegel::arrow::array::StringArray>, i: usize| match a {
        Some(a) if a.is_valid(i) => a.value(i).to_string(),
        _ => "-".to_string(),
    };
    let mut out = format!(
        "{indicator} by region (whole population of each region)\n\n{:<6} {:<20} {:<10} {:>9} {:>19} {:>9} {:<13} {}\n",
        "period", "level", "region", "value", "interval", "national", "comparison", "status"
    );
    for i in 0..r.num_rows() {
        if id.value(i) != indicator || !sex.is_null(i) || !age.is_null(i) || !diag.is_null(i) {
            continue;
        }
        out.push_str(&format!(
            "{:<6} {:<20} {:<10} {:>9} {:>19} {:>9} {:<13} {}\n",
            period.value(i),
            level.value(i),
            if region.is_null(i) {
                "-"
            } else {
                region.value(i)
            },
            num(&value, i),
            match (num(&lo, i), num(&hi, i)) {
                (l, h) if l == "-" || h == "-" => "-".to_string(),
                (l, h) => format!("{l} to {h}"),
            },
            num(&national, i),
            text(&comparison, i),
            text(&status, i)
        ));
    }
    out
}

fn synth(scale: f64, out: &Path, seed: u64, years: Vec<i32>) -> CliResult {
    let config = spiegel::synth::SynthConfig { scale, seed, years };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} persons {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let summary = spiegel::synth::write_parquet(&config, out, &mut |p| {
        bar.set_length(p.persons_total);
        bar.set_position(p.persons_done);
        bar.set_message(format!("{}: {} rows", p.table, p.rows_written));
    });
    bar.finish_and_clear();
    let summary = summary?;
    out!(
        "Synthetic extract (scale {scale}, seed {seed}) written to {}:",
        out.display()
    );
    for (table, rows) in &summary.rows {
        out!("  {table:<14} {rows:>12} rows");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::solver_note;

    #[test]
    fn the_summary_names_failed_solver_searches_only_when_there_were_some() {
        assert_eq!(solver_note(0), "");
        let note = solver_note(3);
        assert!(
            note.starts_with(
                "\nnote: the LP solver failed while searching for a proof for 3 cells"
            ),
            "{note}"
        );
        assert!(note.contains("never fewer"), "{note}");
    }
}
