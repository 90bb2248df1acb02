//! Running a catalogue over an extract.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::displayable;
use datafusion::prelude::*;
use spiegel_disclosure::MagnitudeRule;
use spiegel_model::{Catalogue, TableRole, UnitOfAnalysis};

use crate::cells::{
    CellKey, CellMap, CellSpace, Counts, FinestCells, PublishedCell, RegionMap, Series, StrataSpec,
    collect_frame,
};
use crate::compile::{Compiled, Frame, compile};
use crate::disclose::{DisclosureSummary, in_indicator};
use crate::error::{EngineError, Result, SchemaProblem, df};
use crate::figures::{StatsOptions, figures};
use crate::quality::{QualityReport, check};
use crate::results::ResultsBuilder;
use crate::source::{Extract, open_table};

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Primary suppression threshold k (counts 1..k-1 hidden); the catalogue's when `None`.
    pub threshold: Option<i64>,
    /// Whether counts of 0 are sensitive too; the catalogue's when `None`.
    pub protect_zeros: Option<bool>,
    /// The width an attacker's interval for a hidden sensitive count must
    /// have; the catalogue's (by default the threshold) when `None`.
    pub interval_width: Option<i64>,
    /// Region levels (`national` or a region level) whose unstratified totals
    /// are always published; the catalogue's when `None`.
    pub forced: Option<Vec<String>>,
    /// The p% rule for magnitude cells (0: off); the catalogue's when `None`.
    pub p_percent: Option<i64>,
    /// The (n, k) dominance rule for magnitude cells (`Some(None)`: off); the
    /// catalogue's when `None`.
    pub dominance: Option<Option<spiegel_model::Dominance>>,
    /// An earlier release's results table: the cells it published are public
    /// knowledge, published again, and must have the same counts in this run.
    pub previous: Option<Previous>,
    /// What is published: levels x stratifiers.
    pub strata: Vec<StrataSpec>,
    /// DataFusion partitions (threads); the number of cores when `None`.
    pub target_partitions: Option<usize>,
    /// Memory DataFusion may hold before it spills to disk, in bytes.
    pub memory_limit: usize,
    /// Confidence levels, comparison method and baseline period.
    pub stats: StatsOptions,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threshold: None,
            protect_zeros: None,
            interval_width: None,
            forced: None,
            p_percent: None,
            dominance: None,
            previous: None,
            strata: StrataSpec::defaults(),
            target_partitions: None,
            memory_limit: 4 << 30,
            stats: StatsOptions::default(),
        }
    }
}

/// An earlier release's results table (see [`RunOptions::previous`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Previous {
    /// The table itself.
    Table(RecordBatch),
    /// A results file written by spiegel (`.parquet` or `.csv`).
    Path(std::path::PathBuf),
}

/// Progress of a run, reported to a callback.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Progress {
    /// Opening and checking the input tables against the contract.
    Opening,
    /// Running the data-quality checks.
    Checking,
    /// Running the compiled plan (the scan of every table).
    Computing,
    /// Summing published cells from the finest cells.
    Assembling {
        /// Number of finest cells.
        finest_cells: usize,
    },
    /// Primary and secondary suppression of every published cell.
    Protecting {
        /// Number of published cells (results rows) to protect.
        cells: usize,
    },
    /// A step of the protection advanced: `done` of its `total` systems are protected (reported
    /// as each one finishes; the steps follow each other in the order of [`ProtectionStep`]).
    /// Protection is the long part of a large run.
    ProtectingStep {
        /// The step.
        step: ProtectionStep,
        /// Systems protected so far.
        done: usize,
        /// Systems of the step.
        total: usize,
    },
    /// Checking the results table independently (fail closed).
    Verifying,
    /// Finished.
    Done {
        /// Rows in the results table.
        rows: usize,
        /// Seconds since the start.
        seconds: f64,
    },
}

/// The steps of the protection, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtectionStep {
    /// Each count that several indicators share (a common denominator), over all their cells.
    SharedCounts,
    /// Each indicator, numerator and denominator.
    Indicators,
    /// Each family of counts that the definitions relate across indicators (nested or
    /// disjoint), as one joint system.
    RelatedCounts,
}

impl std::fmt::Display for ProtectionStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProtectionStep::SharedCounts => "shared counts",
            ProtectionStep::Indicators => "indicators",
            ProtectionStep::RelatedCounts => "families of related counts",
        })
    }
}

/// Everything a run produces.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The results table (see [`crate::results_schema`]).
    pub results: RecordBatch,
    /// The finest cells, one series per indicator.
    pub finest: FinestCells,
    /// The cell maps (published cell -> finest cells), one per cell space.
    pub cell_maps: Vec<CellMap>,
    /// The data-quality report.
    pub quality: QualityReport,
    /// Periods of the run.
    pub periods: Vec<i32>,
    /// The primary threshold used.
    pub threshold: i64,
    /// The disclosure policy used.
    pub policy: spiegel_disclosure::Policy,
    /// The magnitude rules used (p% and (n, k) dominance).
    pub magnitude: Vec<MagnitudeRule>,
    /// The audit table: the attacker's interval of every hidden sensitive
    /// cell and series (see `docs/results-schema.md`).
    pub audit: RecordBatch,
    /// How many cells were hidden, and how long protection took.
    pub disclosure: DisclosureSummary,
}

/// Runs a validated catalogue over extracts.
///
/// ```no_run
/// use spiegel_engine::{Engine, Extract, RunOptions};
/// use spiegel_model::Catalogue;
///
/// let catalogue = Catalogue::load_dir("fixtures/indicators/palliative")?;
/// let extract = Extract::from_dir("fixtures/extract", &catalogue.contract)?;
/// let output = Engine::new(catalogue).run_blocking(&extract)?;
/// println!("{} result rows", output.results.num_rows());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Engine {
    catalogue: Catalogue,
    options: RunOptions,
    progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
}

impl Engine {
    /// An engine with default options.
    pub fn new(catalogue: Catalogue) -> Engine {
        Engine {
            catalogue,
            options: RunOptions::default(),
            progress: None,
        }
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: RunOptions) -> Engine {
        self.options = options;
        self
    }

    /// Reports progress to a callback.
    pub fn with_progress(mut self, f: impl Fn(Progress) + Send + Sync + 'static) -> Engine {
        self.progress = Some(Arc::new(f));
        self
    }

    /// The catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The options.
    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    fn report(&self, p: Progress) {
        if let Some(f) = &self.progress {
            f(p);
        }
    }

    fn threshold(&self) -> Result<i64> {
        let k = self
            .options
            .threshold
            .unwrap_or(self.catalogue.disclosure.threshold);
        if k < 1 {
            return Err(EngineError::Option {
                option: "threshold".into(),
                message: format!("must be at least 1, got {k}"),
            });
        }
        Ok(k)
    }

    /// Threads for disclosure control: the partitions, or the cores.
    fn threads(&self) -> usize {
        self.options.target_partitions.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }

    /// The magnitude rules: the run's options over the catalogue's.
    fn magnitude(&self) -> Result<Vec<MagnitudeRule>> {
        let d = &self.catalogue.disclosure;
        let p = self.options.p_percent.unwrap_or(d.p_percent);
        let dominance = self.options.dominance.unwrap_or(d.dominance);
        let mut rules = Vec::new();
        if p != 0 {
            rules.push(("p_percent", MagnitudeRule::PPercent { p }));
        }
        if let Some(d) = dominance {
            rules.push(("dominance", MagnitudeRule::Dominance { n: d.n, k: d.k }));
        }
        for (option, rule) in &rules {
            if let Some(problem) = rule.problem() {
                return Err(EngineError::Option {
                    option: (*option).into(),
                    message: problem.into(),
                });
            }
        }
        Ok(rules.into_iter().map(|(_, r)| r).collect())
    }

    /// The disclosure policy: the run's options over the catalogue's.
    fn policy(&self) -> Result<(spiegel_disclosure::Policy, Vec<String>)> {
        let threshold = self.threshold()?;
        let d = &self.catalogue.disclosure;
        // The catalogue's width follows its threshold unless set apart from it;
        // a run's threshold moves a width that was not set.
        let width = match self.options.interval_width {
            Some(w) => w,
            None if d.interval_width == d.threshold => threshold,
            None => d.interval_width,
        };
        if width < 0 {
            return Err(EngineError::Option {
                option: "interval_width".into(),
                message: format!("must not be negative, got {width}"),
            });
        }
        let forced = self
            .options
            .forced
            .clone()
            .unwrap_or_else(|| d.forced.clone());
        let levels: Vec<&str> = self
            .catalogue
            .contract
            .table_with_role(TableRole::Region)
            .map(|t| t.levels.iter().map(|l| l.name.as_str()).collect())
            .unwrap_or_default();
        if let Some(bad) = forced
            .iter()
            .find(|l| *l != "national" && !levels.contains(&l.as_str()))
        {
            return Err(EngineError::Option {
                option: "forced".into(),
                message: format!(
                    "unknown region level `{bad}` (expected national or one of: {})",
                    levels.join(", ")
                ),
            });
        }
        Ok((
            spiegel_disclosure::Policy {
                threshold,
                protect_zeros: self.options.protect_zeros.unwrap_or(d.protect_zeros),
                min_interval_width: Some(width),
                ..spiegel_disclosure::Policy::default()
            },
            forced,
        ))
    }

    fn context(&self) -> Result<SessionContext> {
        let mut config = SessionConfig::new();
        if let Some(n) = self.options.target_partitions {
            if n == 0 {
                return Err(EngineError::Option {
                    option: "target_partitions".into(),
                    message: "must be at least 1".into(),
                });
            }
            config = config.with_target_partitions(n);
        }
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(self.options.memory_limit)))
            .build_arc()
            .map_err(df("building the DataFusion runtime"))?;
        Ok(SessionContext::new_with_config_rt(config, runtime))
    }

    /// The tables the catalogue needs.
    fn needed_tables(&self) -> BTreeSet<String> {
        let c = &self.catalogue;
        let mut needed = BTreeSet::new();
        for role in [TableRole::Person, TableRole::Region] {
            if let Some(t) = c.contract.table_with_role(role) {
                needed.insert(t.name.clone());
            }
        }
        for ind in &c.indicators {
            needed.extend(ind.features().into_iter().map(|f| f.table.clone()));
            if let spiegel_model::Quantity::Inhabitants { table } = &ind.denominator {
                needed.insert(table.clone());
            }
            if ind.unit_of_analysis == UnitOfAnalysis::Organisation
                && let Some(t) = c.contract.table_with_role(TableRole::Organisation)
            {
                needed.insert(t.name.clone());
            }
        }
        needed
    }

    async fn open(
        &self,
        ctx: &SessionContext,
        extract: &Extract,
    ) -> Result<BTreeMap<String, DataFrame>> {
        let mut problems = Vec::new();
        let mut tables = BTreeMap::new();
        for name in self.needed_tables() {
            let contract = self
                .catalogue
                .contract
                .table(&name)
                .expect("needed tables are contract tables");
            match extract.source(&name) {
                None => problems.push(SchemaProblem {
                    table: name.clone(),
                    column: None,
                    message: format!(
                        "missing: the catalogue needs this {} table (`{name}.parquet` or `{name}.csv` in an extract folder)",
                        contract.role.name()
                    ),
                }),
                Some(source) => {
                    if let Some(frame) = open_table(ctx, contract, source, &mut problems).await? {
                        tables.insert(name, frame);
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(EngineError::Schema { problems });
        }
        Ok(tables)
    }

    /// Runs the catalogue (blocking: creates a Tokio runtime).
    pub fn run_blocking(&self, extract: &Extract) -> Result<RunOutput> {
        block_on(self.run(extract))
    }

    /// Runs the catalogue over an extract.
    pub async fn run(&self, extract: &Extract) -> Result<RunOutput> {
        let started = Instant::now();
        let threshold = self.threshold()?;
        let (policy, forced) = self.policy()?;
        let magnitude = self.magnitude()?;
        let previous = match &self.options.previous {
            None => None,
            Some(p) => Some(crate::disclose::load_previous(p)?),
        };
        let ctx = self.context()?;
        self.report(Progress::Opening);
        let tables = self.open(&ctx, extract).await?;
        self.report(Progress::Checking);
        let (quality, errors) = check(&self.catalogue, &tables).await?;
        if !errors.is_empty() {
            return Err(EngineError::Data { problems: errors });
        }
        self.report(Progress::Computing);
        let compiled = compile(&self.catalogue, &tables)?;
        let mut collected = BTreeMap::new();
        for (frame, plan) in &compiled.frames {
            let batches = plan
                .clone()
                .collect()
                .await
                .map_err(df("computing the finest cells"))?;
            collected.insert(*frame, collect_frame(&batches)?);
        }
        let regions = self.region_map(&tables).await?;
        let finest = series(&self.catalogue, &compiled, &collected);
        let periods: Vec<i32> = collected
            .get(&Frame::Person)
            .map(|c| {
                c.keys
                    .iter()
                    .map(|k| k.period)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            })
            .unwrap_or_default();
        self.report(Progress::Assembling {
            finest_cells: collected.values().map(|c| c.keys.len()).sum(),
        });
        let mut cell_maps = Vec::new();
        for space in [
            CellSpace::Person,
            CellSpace::Population,
            CellSpace::Organisation,
        ] {
            if finest.series.iter().any(|s| s.space == space) {
                cell_maps.push(CellMap::build(
                    space,
                    finest.keys(space),
                    &periods,
                    &regions,
                    &self.options.strata,
                    &self.catalogue,
                ));
            }
        }
        if self.options.stats.levels.is_empty() {
            return Err(EngineError::Option {
                option: "confidence levels".into(),
                message: "give at least one confidence level".into(),
            });
        }
        let baseline = match self.options.stats.baseline {
            Some(b) if !periods.contains(&b) => {
                return Err(EngineError::Option {
                    option: "baseline".into(),
                    message: format!("period {b} is not in the data (periods: {periods:?})"),
                });
            }
            Some(b) => Some(b),
            None => periods.first().copied().filter(|_| periods.len() > 1),
        };
        let protecting = Instant::now();
        self.report(Progress::Protecting {
            cells: self
                .catalogue
                .indicators
                .iter()
                .zip(&finest.series)
                .filter_map(|(ind, s)| {
                    let map = cell_maps.iter().find(|m| m.space == s.space)?;
                    Some(map.cells.iter().filter(|c| in_indicator(ind, c)).count())
                })
                .sum(),
        });
        let protected = crate::disclose::protect(
            &self.catalogue,
            &finest,
            &cell_maps,
            &crate::disclose::Rules {
                policy: &policy,
                magnitude: &magnitude,
                forced_levels: &forced,
            },
            previous.as_ref(),
            self.threads(),
            &|p| self.report(p),
        )?;
        let mut protection_seconds = protecting.elapsed().as_secs_f64();
        let mut builder = ResultsBuilder::new(&self.options.stats.levels);
        for (((ind, s), statuses), levels) in self
            .catalogue
            .indicators
            .iter()
            .zip(&finest.series)
            .zip(&protected.statuses)
            .zip(&protected.levels)
        {
            let Some(map) = cell_maps.iter().find(|m| m.space == s.space) else {
                continue;
            };
            let sums = map.sum(s);
            let published: Vec<bool> = (0..map.cells.len())
                .map(|j| {
                    statuses
                        .get(j)
                        .copied()
                        .flatten()
                        .is_some_and(|st| st.is_published())
                })
                .collect();
            // The national cell of each period and stratum, and each cell of
            // the baseline period: the references a figure is set against.
            let mut national: HashMap<(i32, Stratum), usize> = HashMap::new();
            let mut base: HashMap<(&str, Option<&str>, Stratum), usize> = HashMap::new();
            for (j, cell) in map.cells.iter().enumerate() {
                if cell.level == "national" {
                    national.insert((cell.period, stratum(cell)), j);
                }
                if Some(cell.period) == baseline {
                    base.insert((&cell.level, cell.region_id.as_deref(), stratum(cell)), j);
                }
            }
            let is_published = |j: &usize| published[*j];
            let spc = spc_signals(ind, map, &sums, &periods, baseline, &published);
            let stats = &self.options.stats;
            // Directly standardised rates: one estimate per cell and level.
            let dsr: Option<Vec<Standardised>> = ind.standardisation.map(|standard| {
                let national_of = |j: usize| {
                    national
                        .get(&(map.cells[j].period, stratum(&map.cells[j])))
                        .copied()
                };
                standardise(
                    &self.catalogue,
                    ind,
                    map,
                    s,
                    standard,
                    &stats.levels,
                    national_of,
                    &published,
                )
            });
            for (j, (cell, counts)) in map.cells.iter().zip(&sums).enumerate() {
                let Some(status) = statuses.get(j).copied().flatten() else {
                    continue;
                };
                let nat = national
                    .get(&(cell.period, stratum(cell)))
                    .copied()
                    .filter(is_published);
                let before = (Some(cell.period) != baseline)
                    .then(|| {
                        base.get(&(
                            cell.level.as_str(),
                            cell.region_id.as_deref(),
                            stratum(cell),
                        ))
                    })
                    .flatten()
                    .copied()
                    .filter(is_published);
                let is_national = cell.level == "national";
                let signal = spc.get(&(
                    cell.period,
                    cell.level.as_str(),
                    cell.region_id.as_deref(),
                    stratum(cell),
                ));
                let standardised = dsr.as_ref().map(|d| StandardisedRefs {
                    own: &d[j],
                    national: nat.map(|n| &d[n]),
                    baseline: before.map(|b| &d[b]),
                });
                let reason =
                    status.reason(counts, levels.get(j).copied().unwrap_or_default(), &policy);
                let status = (status.name(), reason.as_deref(), status.is_published());
                builder.push(ind, cell, counts, status, || {
                    let mut f = figures(
                        ind,
                        counts,
                        is_national,
                        nat.map(|n| &sums[n]),
                        before.map(|b| &sums[b]),
                        stats,
                    );
                    if let Some(st) = standardised {
                        st.apply(&mut f);
                    }
                    f.spc_signal = signal.cloned();
                    f
                });
            }
        }
        let results = builder.finish()?;
        self.report(Progress::Verifying);
        let verifying = Instant::now();
        crate::verify::verify(
            &results,
            &finest,
            &regions,
            &crate::verify::Knowledge {
                policy: &policy,
                magnitude: &magnitude,
                catalogue: &self.catalogue,
            },
            &protected.certificates,
            self.threads(),
        )?;
        protection_seconds += verifying.elapsed().as_secs_f64();
        let disclosure = DisclosureSummary {
            seconds: protection_seconds,
            ..protected.summary
        };
        self.report(Progress::Done {
            rows: results.num_rows(),
            seconds: started.elapsed().as_secs_f64(),
        });
        Ok(RunOutput {
            results,
            finest,
            cell_maps,
            quality,
            periods,
            threshold,
            policy,
            magnitude,
            audit: protected.audit,
            disclosure,
        })
    }

    /// The compiled plans (logical, optimised and physical) as text.
    pub async fn explain(&self, extract: &Extract) -> Result<String> {
        let ctx = self.context()?;
        let tables = self.open(&ctx, extract).await?;
        let compiled = compile(&self.catalogue, &tables)?;
        let mut out = String::new();
        out.push_str(&format!(
            "# Features: {} distinct per-person features over {} event table(s), one grouped pass each\n",
            compiled.features.len(),
            compiled.features.iter().map(|(t, _, _)| t).collect::<BTreeSet<_>>().len()
        ));
        for (table, name, f) in &compiled.features {
            out.push_str(&format!(
                "  {name} on {table}: {:?} in [death - {} d, death - {} d], {} filter(s)\n",
                f.kind,
                f.window.from,
                f.window.to,
                f.filter.len()
            ));
        }
        for (frame, plan) in &compiled.frames {
            out.push_str(&format!(
                "\n# {frame:?} finest cells: optimised logical plan\n"
            ));
            let optimised = plan
                .clone()
                .into_optimized_plan()
                .map_err(df("optimising the plan"))?;
            out.push_str(&format!("{}\n", optimised.display_indent()));
            out.push_str(&format!("\n# {frame:?} finest cells: physical plan\n"));
            let physical = plan
                .clone()
                .create_physical_plan()
                .await
                .map_err(df("planning"))?;
            out.push_str(&format!(
                "{}\n",
                displayable(physical.as_ref()).indent(true)
            ));
        }
        Ok(out)
    }

    /// Explain, blocking.
    pub fn explain_blocking(&self, extract: &Extract) -> Result<String> {
        block_on(self.explain(extract))
    }

    async fn region_map(&self, tables: &BTreeMap<String, DataFrame>) -> Result<RegionMap> {
        let Some(t) = self.catalogue.contract.table_with_role(TableRole::Region) else {
            return Ok(RegionMap::default());
        };
        let levels: Vec<String> = t.levels.iter().map(|l| l.name.clone()).collect();
        let mut select = vec![
            cast_expr("year", DataType::Int32),
            cast_expr("municipality_code", DataType::Utf8),
        ];
        select.extend(
            t.levels
                .iter()
                .map(|l| cast_expr(&l.column, DataType::Utf8)),
        );
        let batches = tables[&t.name]
            .clone()
            .select(select)
            .map_err(df("reading the region table"))?
            .collect()
            .await
            .map_err(df("reading the region table"))?;
        let mut regions = HashMap::new();
        for b in &batches {
            let year = cast(b.column(0), &DataType::Int32)
                .map_err(|e| df("reading the region table")(e.into()))?;
            let year = year.as_primitive::<Int32Type>();
            let muni = b.column(1).as_string::<i32>();
            for row in 0..b.num_rows() {
                let ids = (0..levels.len())
                    .map(|l| {
                        let a = b.column(2 + l).as_string::<i32>();
                        if a.is_null(row) {
                            String::new()
                        } else {
                            a.value(row).to_string()
                        }
                    })
                    .collect();
                regions.insert((year.value(row), muni.value(row).to_string()), ids);
            }
        }
        Ok(RegionMap { levels, regions })
    }
}

fn cast_expr(column: &str, dt: DataType) -> datafusion::logical_expr::Expr {
    datafusion::prelude::cast(crate::compile::c(column), dt).alias(column)
}

/// A directly standardised rate of one cell: value and one interval per level.
#[derive(Debug, Clone, Default)]
struct Standardised {
    value: Option<f64>,
    intervals: Vec<Option<spiegel_stats::Interval>>,
}

impl Standardised {
    /// No standardised rate, with one empty interval per level.
    fn none(levels: usize) -> Standardised {
        Standardised {
            value: None,
            intervals: vec![None; levels],
        }
    }
}

/// The standardised figures a row is built from: its own, and (when
/// published) the national and baseline cells'.
#[derive(Clone, Copy)]
struct StandardisedRefs<'a> {
    own: &'a Standardised,
    national: Option<&'a Standardised>,
    baseline: Option<&'a Standardised>,
}

impl StandardisedRefs<'_> {
    /// Replaces the crude figures: the value and intervals become the
    /// standardised ones (Dobson), compared with the national standardised
    /// rate; funnel limits do not apply to standardised rates.
    fn apply(self, f: &mut crate::figures::Figures) {
        f.value = self.own.value;
        f.intervals.clone_from(&self.own.intervals);
        f.national_value = self.national.and_then(|n| n.value);
        f.funnels = vec![None; f.funnels.len()];
        if f.comparison.is_some() {
            f.comparison = Some(f.comparison_for(self.own.intervals.first().copied().flatten()));
        }
        f.baseline_value = self.baseline.and_then(|b| b.value);
        f.change = f.value.zip(f.baseline_value).map(|(v, b)| v - b);
        f.change_interval = None;
        f.change_significant = None;
    }
}

/// Direct standardisation of every cell of a rate indicator over the
/// catalogue's age groups x sex (female, male; persons of unknown sex stay in
/// the crude counts only). Categories without inhabitants in the cell are
/// left out; a cell with decedents in such a category, or with fewer than 10
/// decedents, has no standardised rate.
#[allow(clippy::too_many_arguments)]
fn standardise(
    catalogue: &Catalogue,
    ind: &spiegel_model::Indicator,
    map: &CellMap,
    series: &Series,
    standard: spiegel_model::StandardPopulation,
    levels: &[spiegel_stats::ConfidenceLevel],
    national_of: impl Fn(usize) -> Option<usize>,
    published: &[bool],
) -> Vec<Standardised> {
    let multiplier = match ind.unit {
        spiegel_model::Unit::RatePer(m) => f64::from(m),
        _ => 1.0,
    };
    let categories: Vec<(String, String)> = catalogue
        .age_groups
        .iter()
        .flat_map(|g| ["female", "male"].map(|s| (g.label.clone(), s.to_string())))
        .collect();
    let dense = map.dense(series);
    // Counts per category of each cell.
    let breakdown: Vec<Vec<Counts>> = map
        .members
        .iter()
        .map(|members| {
            let mut per = vec![Counts::default(); categories.len()];
            for &m in members {
                let k = &map.keys[m as usize];
                if let (Some(age), Some(sex)) = (&k.age_group, &k.sex)
                    && let Some(c) = categories.iter().position(|(a, s)| a == age && s == sex)
                {
                    per[c] += dense[m as usize];
                }
            }
            per
        })
        .collect();
    // ESP 2013 weights summed over the bands of each age group.
    let esp: Vec<f64> = catalogue
        .age_groups
        .iter()
        .map(|g| {
            spiegel_stats::ESP2013_BANDS
                .iter()
                .zip(spiegel_stats::ESP2013)
                .filter(|(band, _)| {
                    let low: i64 = band
                        .trim_end_matches('+')
                        .split('-')
                        .next()
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(-1);
                    low >= g.from && g.to.is_none_or(|t| low <= t)
                })
                .map(|(_, w)| w)
                .sum()
        })
        .collect();
    // The published sex x age group cell of each category, per cell: a
    // standardised rate is a linear combination of its category counts, so
    // it is given only when every category cell is itself published.
    let index: HashMap<&PublishedCell, usize> =
        map.cells.iter().enumerate().map(|(j, c)| (c, j)).collect();
    let categories_published = |j: usize| -> bool {
        let cell = &map.cells[j];
        categories.iter().all(|(age, sex)| {
            if cell.sex.as_ref().is_some_and(|s| s != sex)
                || cell.age_group.as_ref().is_some_and(|a| a != age)
            {
                return true;
            }
            let category = PublishedCell {
                sex: Some(sex.clone()),
                age_group: Some(age.clone()),
                ..cell.clone()
            };
            index.get(&category).is_some_and(|&c| published[c])
        })
    };
    (0..map.cells.len())
        .map(|j| {
            if !published[j] || !categories_published(j) {
                return Standardised::none(levels.len());
            }
            let weights: Vec<f64> = match standard {
                spiegel_model::StandardPopulation::Run => match national_of(j) {
                    Some(n) if published[n] && categories_published(n) => {
                        breakdown[n].iter().map(|c| c.denominator as f64).collect()
                    }
                    _ => return Standardised::none(levels.len()),
                },
                _ => categories
                    .iter()
                    .map(|(age, _)| {
                        catalogue
                            .age_groups
                            .iter()
                            .position(|g| &g.label == age)
                            .map_or(0.0, |i| esp[i])
                    })
                    .collect(),
            };
            let cell = &breakdown[j];
            if cell.iter().any(|c| c.denominator == 0 && c.numerator > 0) {
                return Standardised::none(levels.len());
            }
            let used: Vec<usize> = (0..cell.len())
                .filter(|&c| cell[c].denominator > 0)
                .collect();
            let counts: Vec<f64> = used.iter().map(|&c| cell[c].numerator as f64).collect();
            let pops: Vec<f64> = used.iter().map(|&c| cell[c].denominator as f64).collect();
            let Ok(standard) = spiegel_stats::StandardPopulation::new(
                used.iter().map(|&c| weights[c]).collect::<Vec<f64>>(),
            ) else {
                return Standardised::none(levels.len());
            };
            let estimates: Vec<Option<spiegel_stats::Estimate>> = levels
                .iter()
                .map(|l| {
                    spiegel_stats::dsr(&counts, &pops, &standard, multiplier, *l)
                        .ok()
                        .flatten()
                })
                .collect();
            Standardised {
                value: estimates.first().copied().flatten().map(|e| e.value),
                intervals: estimates.iter().map(|e| e.map(|e| e.interval())).collect(),
            }
        })
        .collect()
}

/// Key of a cell's series over periods: (level, region, stratum).
type SeriesKey<'a> = (&'a str, Option<&'a str>, Stratum<'a>);

/// Laney P'-chart signals of every cell of a proportion indicator in a run of
/// three or more periods: the centre line and limits come from the baseline
/// phase (the periods up to and including the baseline; every period when
/// that is only one), and each point is judged against them. Only series whose cells are all
/// published get a signal: a chart of hidden counts would reveal them.
fn spc_signals<'a>(
    ind: &spiegel_model::Indicator,
    map: &'a CellMap,
    sums: &[Counts],
    periods: &[i32],
    baseline: Option<i32>,
    published: &[bool],
) -> HashMap<(i32, &'a str, Option<&'a str>, Stratum<'a>), String> {
    let mut out = HashMap::new();
    let Some(base) = baseline.and_then(|b| periods.iter().position(|p| *p == b)) else {
        return out;
    };
    if ind.unit != spiegel_model::Unit::Proportion || periods.len() < 3 {
        return out;
    }
    // A baseline phase of one period cannot estimate the variation between
    // periods: the limits then come from every period of the run.
    let phase = if base >= 1 {
        0..base + 1
    } else {
        0..periods.len()
    };
    let mut series: HashMap<SeriesKey<'a>, Vec<Option<Counts>>> = HashMap::new();
    let mut hidden: std::collections::HashSet<SeriesKey<'a>> = Default::default();
    for (j, (cell, counts)) in map.cells.iter().zip(sums).enumerate() {
        if !published[j] {
            hidden.insert((
                cell.level.as_str(),
                cell.region_id.as_deref(),
                stratum(cell),
            ));
        }
        let Some(i) = periods.iter().position(|p| *p == cell.period) else {
            continue;
        };
        let slot = series
            .entry((
                cell.level.as_str(),
                cell.region_id.as_deref(),
                stratum(cell),
            ))
            .or_insert_with(|| vec![None; periods.len()]);
        slot[i] = Some(*counts);
    }
    for (key, counts) in series {
        let all: Option<Vec<Counts>> = counts.into_iter().collect();
        let Some(all) = all else { continue };
        // Only series whose every cell is published (final status).
        if hidden.contains(&key) {
            continue;
        }
        let x: Vec<f64> = all.iter().map(|c| c.numerator as f64).collect();
        let n: Vec<f64> = all.iter().map(|c| c.denominator as f64).collect();
        let Ok(Some(chart)) = spiegel_stats::laney_p_chart(&x, &n, phase.clone()) else {
            continue;
        };
        for (point, period) in chart.points.iter().zip(periods) {
            let s = point.signals;
            let names: Vec<&str> = [
                (s.outside_limits, "outside_limits"),
                (s.run, "run"),
                (s.trend, "trend"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
            let text = if names.is_empty() {
                "none".to_string()
            } else {
                names.join("+")
            };
            out.insert((*period, key.0, key.1, key.2), text);
        }
    }
    out
}

/// The stratum of a published cell: (sex, age group, diagnosis group).
type Stratum<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn stratum(c: &PublishedCell) -> Stratum<'_> {
    (
        c.sex.as_deref(),
        c.age_group.as_deref(),
        c.diagnosis_group.as_deref(),
    )
}

/// Builds one series per indicator from the collected frames.
fn series(
    cat: &Catalogue,
    compiled: &Compiled,
    collected: &BTreeMap<Frame, crate::cells::Collected>,
) -> FinestCells {
    let empty = crate::cells::Collected::default();
    let mut out = Vec::new();
    for (ind, cols) in cat.indicators.iter().zip(&compiled.series) {
        let (num_frame, num_col) = &cols.numerator;
        let (den_frame, den_col) = &cols.denominator;
        let space = match (num_frame, den_frame) {
            (Frame::Organisation, _) => CellSpace::Organisation,
            (_, Frame::Population) => CellSpace::Population,
            _ => CellSpace::Person,
        };
        let mut cells: BTreeMap<CellKey, Counts> = BTreeMap::new();
        let project = |k: &CellKey| -> CellKey {
            match space {
                CellSpace::Population => CellKey {
                    diagnosis_group: None,
                    ..k.clone()
                },
                _ => k.clone(),
            }
        };
        let frame = |f: &Frame| collected.get(f).unwrap_or(&empty);
        let nf = frame(num_frame);
        let zeros = Vec::new();
        let n = nf.columns.get(num_col).unwrap_or(&zeros);
        let q = cols.sum_squares.as_ref().and_then(|q| nf.columns.get(q));
        // The two largest contributions of a magnitude quantity, per row.
        let largest = |f: &crate::cells::Collected, names: &Option<[String; 2]>, i: usize| {
            names.as_ref().map_or([0, 0], |[a, b]| {
                let get = |c: &String| f.columns.get(c).and_then(|v| v.get(i)).copied();
                [get(a).unwrap_or(0), get(b).unwrap_or(0)]
            })
        };
        for (i, k) in nf.keys.iter().enumerate() {
            *cells.entry(project(k)).or_default() += Counts {
                numerator: n.get(i).copied().unwrap_or(0),
                sum_squares: q.and_then(|q| q.get(i)).copied().unwrap_or(0),
                numerator_largest: largest(nf, &cols.numerator_largest, i),
                ..Counts::default()
            };
        }
        let df_ = frame(den_frame);
        let d = df_.columns.get(den_col).unwrap_or(&zeros);
        for (i, k) in df_.keys.iter().enumerate() {
            *cells.entry(project(k)).or_default() += Counts {
                denominator: d.get(i).copied().unwrap_or(0),
                denominator_largest: largest(df_, &cols.denominator_largest, i),
                ..Counts::default()
            };
        }
        out.push(Series {
            indicator_id: ind.id.clone(),
            space,
            cells,
        });
    }
    FinestCells { series: out }
}

/// Runs a future to completion on a fresh multi-threaded Tokio runtime.
pub(crate) fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    // Tokio panics when a runtime is started inside another: say so instead.
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(EngineError::Option {
            option: "run_blocking".into(),
            message: "called from inside an async runtime: use `Engine::run(...).await` there"
                .into(),
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| EngineError::File {
            action: "start",
            path: "tokio runtime".into(),
            message: e.to_string(),
        })?;
    rt.block_on(f)
}
