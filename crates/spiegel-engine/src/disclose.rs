//! Disclosure control of a run: primary and secondary suppression of every
//! published cell with `spiegel-disclosure`, and the audit table.
//!
//! Per indicator, the linear system is the indicator's published cells (the
//! rows the results table gets), each the sum of its finest cells
//! ([`CellMap::members`]), with two count series: numerator and denominator.
//! Indicators that share a denominator series (the same counts over the same
//! finest cells) first have that denominator protected on its own, over the
//! union of their cells, so that one indicator's published denominators cannot
//! give away a denominator another one hides; each indicator is then protected
//! with those hidden cells hidden too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use spiegel_disclosure::{
    AuditRecord, Bounds, CellWidth, Error as DError, Fixed, LinearSystem, MagnitudeRule, Policy,
    PrimaryReason, Status, Witness, audit_with, protect as protect_cells,
};
use spiegel_model::{Catalogue, Indicator, Quantity};

use crate::cells::{CellMap, CellSpace, Counts, FinestCells, PublishedCell};
use crate::error::{EngineError, Result};
use crate::relations::{Family, Joint, SeriesRef};
use crate::results::status;
use crate::run::{Progress, ProtectionStep};

/// Why a cell is hidden to protect another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// A cell of the same indicator.
    Own,
    /// A count another indicator shares and hides: the same denominator,
    /// or one indicator's numerator that is another's denominator.
    Shared,
    /// A count that the definitions relate to another indicator's (nested
    /// or disjoint; see `relations.rs`).
    Related,
}

/// The final disclosure status of a results row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowStatus {
    /// Published.
    Published,
    /// Hidden: its own counts are sensitive.
    Primary,
    /// Hidden to protect another cell: see [`Why`].
    Secondary(Why),
    /// Published because the policy forces it.
    Forced,
}

impl RowStatus {
    /// Whether the row's counts and figures are published.
    pub(crate) fn is_published(self) -> bool {
        matches!(self, RowStatus::Published | RowStatus::Forced)
    }

    /// The `status` column value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            RowStatus::Published => status::PUBLISHED,
            RowStatus::Primary => status::SUPPRESSED_PRIMARY,
            RowStatus::Secondary(_) => status::SUPPRESSED_SECONDARY,
            RowStatus::Forced => status::FORCED,
        }
    }

    /// The `suppression_reason` column value (`levels`: the cell's
    /// protection levels by the magnitude rules, see [`levels`]).
    pub(crate) fn reason(
        self,
        counts: &Counts,
        levels: [Option<i64>; 2],
        policy: &Policy,
    ) -> Option<String> {
        match self {
            RowStatus::Published => None,
            RowStatus::Primary => Some(
                primary_reason(counts, levels, policy).unwrap_or_else(|| "sensitive".to_string()),
            ),
            RowStatus::Secondary(Why::Own) => Some("protects_primary_cell".into()),
            RowStatus::Secondary(Why::Shared) => Some("protects_shared_count".into()),
            RowStatus::Secondary(Why::Related) => Some("protects_related_count".into()),
            RowStatus::Forced => Some("forced_by_policy".into()),
        }
    }
}

/// Why a cell's counts are sensitive: `numerator_below_threshold`,
/// `denominator_zero`, `numerator_and_denominator_below_threshold`,
/// `numerator_zero_and_denominator_below_threshold`, `numerator_dominance`...
pub(crate) fn primary_reason(
    c: &Counts,
    levels: [Option<i64>; 2],
    policy: &Policy,
) -> Option<String> {
    let why = |x: i64, level: Option<i64>| -> Option<&'static str> {
        if x >= 1 && x < policy.threshold {
            Some("below_threshold")
        } else if x == 0 && policy.protect_zeros {
            Some("zero")
        } else if level.is_some() {
            Some("dominance")
        } else {
            None
        }
    };
    match (why(c.numerator, levels[0]), why(c.denominator, levels[1])) {
        (Some(a), Some(b)) if a == b => Some(format!("numerator_and_denominator_{a}")),
        (Some(a), Some(b)) => Some(format!("numerator_{a}_and_denominator_{b}")),
        (Some(a), None) => Some(format!("numerator_{a}")),
        (None, Some(b)) => Some(format!("denominator_{b}")),
        (None, None) => None,
    }
}

/// Whether a quantity is a magnitude (a sum of contributions that may be
/// dominated by one or two units), to which the magnitude rules apply.
pub(crate) fn is_magnitude(q: &Quantity) -> bool {
    matches!(q, Quantity::MeasureSum { .. } | Quantity::ColumnSum { .. })
}

/// A cell's protection levels by the magnitude rules, numerator and
/// denominator (`None`: not sensitive by them, or not a magnitude): the
/// widest any rule asks.
fn levels(ind: &Indicator, c: &Counts, rules: &[MagnitudeRule]) -> [Option<i64>; 2] {
    let level = |q: &Quantity, total: i64, largest: [i64; 2]| {
        if !is_magnitude(q) {
            return None;
        }
        rules
            .iter()
            .filter_map(|r| r.protection_level(total, largest))
            .max()
    };
    [
        level(&ind.numerator, c.numerator, c.numerator_largest),
        level(&ind.denominator, c.denominator, c.denominator_largest),
    ]
}

/// The counts of a cell in an earlier release.
pub(crate) type PreviousCells = HashMap<(String, PublishedCell), (i64, i64)>;

/// Per-run summary of disclosure control.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DisclosureSummary {
    /// Results rows (published cells of every indicator).
    pub cells: usize,
    /// Rows hidden because their own counts are sensitive.
    pub primary: usize,
    /// Rows hidden to protect other rows.
    pub secondary: usize,
    /// Rows published because the policy forces them.
    pub forced: usize,
    /// Rows that an earlier release published (loaded as already public).
    pub previously_published: usize,
    /// Cells (per series, summed over the systems protected) for which an LP searching for a
    /// proof failed (the solver stalled or was interrupted): each such search proved nothing,
    /// so the release may hide more than it needs to, never less (see
    /// `spiegel_disclosure::Protection::solver_failures`). 0 in a run without numerical
    /// trouble.
    pub solver_failures: usize,
    /// Seconds spent protecting and verifying.
    pub seconds: f64,
}

/// What protection decided.
pub(crate) struct Protected {
    /// Per indicator (catalogue order, as `FinestCells::series`): the status
    /// of each cell of its map (`None`: not published for this indicator).
    pub statuses: Vec<Vec<Option<RowStatus>>>,
    /// Per indicator, as `statuses`: each map cell's protection levels by the
    /// magnitude rules (numerator, denominator), for its suppression reason.
    pub levels: Vec<Vec<[Option<i64>; 2]>>,
    /// The audit table.
    pub audit: RecordBatch,
    /// Counts of the statuses (without the time).
    pub summary: DisclosureSummary,
    /// The witness tables of every indicator (over the finest cells of its map, series 0 the
    /// numerator, 1 the denominator) and of every shared count (series 0), for the
    /// verifier to check.
    pub certificates: Certificates,
}

/// Witness tables over finest cells: per indicator, and per cell space for the shared
/// denominators.
#[derive(Debug, Clone, Default)]
pub(crate) struct Certificates {
    pub indicators: HashMap<String, Vec<Witness>>,
    pub denominators: HashMap<CellSpace, Vec<Witness>>,
    /// Per family of related counts (`relations::families` order): witnesses over
    /// (finest cell, part), `finest * parts + part`.
    pub families: Vec<Vec<Witness>>,
}

/// Whether a map cell is published for an indicator (its stratifiers are
/// among the indicator's).
pub(crate) fn in_indicator(ind: &spiegel_model::Indicator, cell: &PublishedCell) -> bool {
    cell.stratifiers()
        .iter()
        .all(|x| ind.stratifiers.contains(x))
}

/// A readable name of a cell: `hospital_admission_30d, 2022, network N2, sex female`.
pub(crate) fn describe(indicator: &str, cell: &PublishedCell) -> String {
    let mut s = format!("{indicator}, period {}, {}", cell.period, cell.level);
    if let Some(r) = &cell.region_id {
        s.push_str(&format!(" {r}"));
    }
    for (name, v) in [
        ("sex", &cell.sex),
        ("age group", &cell.age_group),
        ("diagnosis group", &cell.diagnosis_group),
    ] {
        if let Some(v) = v {
            s.push_str(&format!(", {name} {v}"));
        }
    }
    s
}

/// An engine error for a refusal of `spiegel-disclosure`, naming the cell.
fn refusal(indicator: &str, cells: &[&PublishedCell], e: DError, what: &str) -> EngineError {
    let shared = what.contains("shared");
    let label = if shared { "shared count" } else { indicator };
    let name = |c: usize| {
        cells
            .get(c)
            .map_or_else(|| format!("cell {c}"), |p| describe(label, p))
    };
    let series = |s: usize| {
        if shared {
            "count"
        } else {
            ["numerator", "denominator"]
                .get(s)
                .copied()
                .unwrap_or("count")
        }
    };
    let message = match &e {
        DError::ForcedPrimary {
            cell,
            series: s,
            reason,
        } => format!(
            "cell ({}) must be published (forced by the policy or published in the previous release) but its {} is sensitive ({})",
            name(*cell),
            series(*s),
            match reason {
                PrimaryReason::Dominance { .. } =>
                    "one or two contributors dominate it: the p% or (n, k) dominance rule",
                _ => "below the threshold, or zero",
            }
        ),
        DError::ForcedDisclosure { cell } => format!(
            "the forced and previously published cells together give away the sensitive cell ({}): remove a level from `forced` or review the previous release",
            name(*cell)
        ),
        DError::Unprotectable {
            cell,
            series: s,
            lower,
            upper,
            required,
        } => format!(
            "sensitive cell ({}) cannot be protected: its {} lies in [{lower}, {}], narrower than {required}, and every cell that could be hidden is forced or previously published",
            name(*cell),
            series(*s),
            upper.map_or("inf".to_string(), |u| u.to_string())
        ),
        DError::RoundsExhausted {
            rounds,
            cell,
            series: s,
        } => format!(
            "interval protection did not converge in {rounds} rounds (cell {}, {})",
            name(*cell),
            series(*s)
        ),
        _ => e.to_string(),
    };
    EngineError::Disclosure {
        indicator: indicator.to_string(),
        message: format!("{what}: {message}"),
    }
}

/// The linear system of some cells of a map, with finest cells merged
/// where they lie in exactly the same published cells (an exact reduction:
/// every published and hidden value, and every attacker interval, depends
/// only on their sum). Cells without finest cells (structural zeros,
/// published as they are) are left out.
struct System {
    system: LinearSystem,
    /// The map index of each cell of the system.
    kept: Vec<usize>,
    /// The merged inner cell of each finest cell (`None`: in no cell).
    merged: Vec<Option<u32>>,
    /// The finest cells of each merged inner cell.
    finest: Vec<Vec<u32>>,
    n_inner: usize,
}

impl System {
    fn new(map: &CellMap, cells: &[usize], indicator: &str) -> Result<System> {
        let kept: Vec<usize> = cells
            .iter()
            .copied()
            .filter(|&j| !map.members[j].is_empty())
            .collect();
        let (merged, n_inner, rows) = merge(map.keys.len(), kept.iter().map(|&j| &map.members[j]));
        let system = LinearSystem::new(n_inner, rows).map_err(|e| EngineError::Disclosure {
            indicator: indicator.to_string(),
            message: e.to_string(),
        })?;
        let mut finest: Vec<Vec<u32>> = vec![Vec::new(); n_inner];
        for (k, m) in merged.iter().enumerate() {
            if let Some(m) = m {
                finest[*m as usize].push(k as u32);
            }
        }
        Ok(System {
            system,
            kept,
            merged,
            finest,
            n_inner,
        })
    }

    /// A witness over the merged inner cells as one over the finest cells,
    /// each within its upper bound if it has one (`None` if it does not fit).
    fn finest_witness(
        &self,
        w: &Witness,
        dense: &[i64],
        bounds: Option<(&[i64], &[Option<i64>])>,
    ) -> Option<Witness> {
        match bounds {
            None => Some(w.spread(&self.finest, dense)),
            Some((lower, upper)) => w.spread_within(&self.finest, dense, lower, upper),
        }
    }

    /// Upper bounds of the finest cells summed onto the merged inner cells
    /// (`None` where a finest cell has none).
    fn bound(&self, dense: &[Option<i64>]) -> Vec<Option<i64>> {
        let mut out = vec![Some(0); self.n_inner];
        for (k, m) in self.merged.iter().enumerate() {
            if let Some(m) = m {
                let o = &mut out[*m as usize];
                *o = o.zip(dense[k]).map(|(a, b)| a + b);
            }
        }
        out
    }

    /// A dense finest-cell series summed onto the merged inner cells.
    fn series(&self, dense: &[i64]) -> Vec<i64> {
        let mut out = vec![0; self.n_inner];
        for (k, m) in self.merged.iter().enumerate() {
            if let Some(m) = m {
                out[*m as usize] += dense[k];
            }
        }
        out
    }
}

/// The cells of a system in parts that can be protected apart, exactly. When the diagnosis
/// group is published for the nation only (no region, no other stratifier) and the national
/// total of each of those periods is forced, the national cells by diagnosis group (with the
/// national total) form one part and every other cell another: any table of the other cells
/// and any table of the diagnosis groups with the same national total fit together (a
/// transportation problem with equal margins always has a non-negative solution), so what is
/// published in one part says nothing about the other beyond that total. Otherwise one part.
pub(crate) fn parts(
    map: &CellMap,
    cells: &[usize],
    forced_cell: &impl Fn(&PublishedCell) -> bool,
) -> Vec<Vec<usize>> {
    let (diag, rest): (Vec<usize>, Vec<usize>) = cells
        .iter()
        .partition(|&&j| map.cells[j].diagnosis_group.is_some());
    let national_only = diag.iter().all(|&j| {
        let c = &map.cells[j];
        c.level == "national" && c.sex.is_none() && c.age_group.is_none()
    });
    let totals: Vec<usize> = rest
        .iter()
        .copied()
        .filter(|&j| {
            let c = &map.cells[j];
            c.level == "national" && c.stratifiers().is_empty() && forced_cell(c)
        })
        .collect();
    let covered = diag.iter().all(|&j| {
        totals
            .iter()
            .any(|&t| map.cells[t].period == map.cells[j].period)
    });
    if diag.is_empty() || !national_only || !covered {
        return vec![cells.to_vec()];
    }
    let mut national = totals;
    national.extend(diag);
    national.sort_unstable();
    vec![rest, national]
}

/// Merges the columns (finest cells) of 0/1 rows that occur in exactly the
/// same rows: returns the merged index of each column, the number of merged
/// columns and the rows over them.
pub(crate) fn merge<'a>(
    n_columns: usize,
    rows: impl Iterator<Item = &'a Vec<u32>>,
) -> (Vec<Option<u32>>, usize, Vec<Vec<u32>>) {
    let rows: Vec<&Vec<u32>> = rows.collect();
    let mut signature: Vec<Vec<u32>> = vec![Vec::new(); n_columns];
    for (r, row) in rows.iter().enumerate() {
        for &k in row.iter() {
            signature[k as usize].push(r as u32);
        }
    }
    let mut ids: HashMap<&[u32], u32> = HashMap::new();
    let mut merged = vec![None; n_columns];
    for (k, sig) in signature.iter().enumerate() {
        if sig.is_empty() {
            continue;
        }
        let next = ids.len() as u32;
        merged[k] = Some(*ids.entry(sig.as_slice()).or_insert(next));
    }
    let n = ids.len();
    let out = rows
        .iter()
        .map(|row| {
            let mut v: Vec<u32> = row.iter().filter_map(|&k| merged[k as usize]).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    (merged, n, out)
}

/// Per indicator: its map, its cells, its dense counts.
pub(crate) struct Ind<'a> {
    pub id: &'a str,
    pub map: &'a CellMap,
    pub cells: Vec<usize>,
    pub num: Vec<i64>,
    pub den: Vec<i64>,
    /// Protection levels by the magnitude rules, per map cell.
    pub levels: Vec<[Option<i64>; 2]>,
    /// A public denominator (inhabitants), per finest cell: the
    /// numerator cannot exceed it, and an attacker knows it (`None`
    /// where the numerator does exceed it: then it is no bound).
    pub public_bound: Option<Vec<Option<i64>>>,
}

/// What protecting a family of related counts needs from the run.
struct JointContext<'a, 'b> {
    inds: &'b [Option<Ind<'a>>],
    forced_cell: &'b (dyn Fn(&PublishedCell) -> bool + Sync),
    previously: &'b [BTreeSet<usize>],
    policy: &'b Policy,
    /// The run's count of [`DisclosureSummary::solver_failures`].
    solver_failures: &'b AtomicUsize,
}

/// One row of a family's joint system: a node's count in a published cell,
/// and the indicators (with their series) that publish that count there.
struct JointRow {
    node: usize,
    cell: usize,
    holders: Vec<SeriesRef>,
}

type JointRecords = Vec<((usize, usize, usize), AuditRecord)>;

impl JointContext<'_, '_> {
    fn ind(&self, i: usize) -> &Ind<'_> {
        self.inds[i]
            .as_ref()
            .expect("family members are run indicators")
    }

    fn dense(&self, (i, r): SeriesRef) -> Vec<i64> {
        let ind = self.ind(i);
        if r == 0 {
            ind.num.clone()
        } else {
            ind.den.clone()
        }
    }

    /// Checks a family's joint system against the statuses so far (with the
    /// witnesses already found, turned into joint ones); where it fails,
    /// protects it, hiding more cells (in every indicator that publishes
    /// them). Returns the family's witnesses over (finest cell, part) and its
    /// audit records.
    fn protect(&self, family: &Family, base: &[Vec<Option<RowStatus>>]) -> Result<JointOutcome> {
        let members: Vec<usize> = family.indicators().into_iter().collect();
        if members.iter().any(|&i| self.inds[i].is_none()) {
            return Ok(JointOutcome::default());
        }
        let map = self.ind(members[0]).map;
        if members.iter().any(|&i| self.ind(i).map.space != map.space) {
            return Ok(JointOutcome::default());
        }
        // The public attacker with every relation of the family. The singleton rule is
        // applied per indicator and per shared count: the joint systems know which counts
        // are within which (`Joint::new`), but proving every singleton's contributor there
        // made the bundled extract's protection six times slower (see docs/disclosure.md).
        let public = Policy {
            singleton_width: 0,
            ..self.policy.clone()
        };
        let mut statuses = base.to_vec();
        let mut hide: Vec<(usize, usize)> = Vec::new();
        let name = members
            .iter()
            .map(|&i| self.ind(i).id)
            .collect::<Vec<_>>()
            .join(", ");
        let parts = family.parts(&|s| self.dense(s)).map_err(|e| match e {
            EngineError::Disclosure { message, .. } => EngineError::Disclosure {
                indicator: name.clone(),
                message,
            },
            other => other,
        })?;
        let mut rows: Vec<JointRow> = Vec::new();
        for (node, series) in family.nodes.iter().enumerate() {
            let mut by_cell: BTreeMap<usize, Vec<SeriesRef>> = BTreeMap::new();
            for &(i, r) in series {
                for &j in &self.ind(i).cells {
                    if !map.members[j].is_empty() {
                        by_cell.entry(j).or_default().push((i, r));
                    }
                }
            }
            rows.extend(by_cell.into_iter().map(|(cell, holders)| JointRow {
                node,
                cell,
                holders,
            }));
        }
        let union: Vec<usize> = rows
            .iter()
            .map(|r| r.cell)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let value =
            |d: &[i64], j: usize| -> i64 { map.members[j].iter().map(|&k| d[k as usize]).sum() };
        let node_counts: Vec<Vec<i64>> = family.nodes.iter().map(|n| self.dense(n[0])).collect();
        let (mut finest_witnesses, mut records) = (Vec::new(), Vec::new());
        // The dumped files' part numbers (a research aid, see `dump.rs`).
        #[cfg(feature = "dump-families")]
        let mut part_no = 0;
        for part in crate::disclose::parts(map, &union, &self.forced_cell) {
            let here: Vec<&JointRow> = rows
                .iter()
                .filter(|r| part.binary_search(&r.cell).is_ok())
                .collect();
            if here.is_empty() {
                continue;
            }
            let joint = Joint::new(
                family,
                &here
                    .iter()
                    .map(|r| (r.node, map.members[r.cell].clone()))
                    .collect::<Vec<_>>(),
                &parts,
            )?;
            let row_status = |r: &JointRow, statuses: &[Vec<Option<RowStatus>>]| {
                let of = |i: usize| statuses[i][r.cell];
                if r.holders
                    .iter()
                    .any(|&(i, _)| of(i) == Some(RowStatus::Forced))
                {
                    Some(RowStatus::Forced)
                } else if r
                    .holders
                    .iter()
                    .any(|&(i, _)| of(i).is_some_and(|s| s.is_published()))
                {
                    Some(RowStatus::Published)
                } else {
                    None
                }
            };
            // Sensitive: a small count, or a numerator over a small denominator.
            let sensitive = |r: &JointRow| {
                self.policy.sensitive(value(&node_counts[r.node], r.cell))
                    || r.holders.iter().any(|&(i, role)| {
                        role == 0 && self.policy.sensitive(value(&self.ind(i).den, r.cell))
                    })
            };
            let crate_status =
                |r: &JointRow, statuses: &[Vec<Option<RowStatus>>]| match row_status(r, statuses) {
                    Some(RowStatus::Forced) => Status::Forced,
                    Some(_) => Status::Published,
                    None if sensitive(r) => Status::Primary(MANUAL),
                    None => Status::Secondary,
                };
            let current: Vec<Status> = here.iter().map(|r| crate_status(r, &statuses)).collect();
            let series: &[&[i64]] = &[&joint.values];
            let audit_records;
            {
                // The joint system protected with every hidden row kept hidden: it proves
                // what holds already and hides more where that is not enough.
                let rows_where = |f: &dyn Fn(usize) -> bool| {
                    (0..here.len()).filter(|&c| f(c)).collect::<Vec<_>>()
                };
                let fixed = Fixed {
                    forced: rows_where(&|c| current[c] == Status::Forced),
                    previously_published: rows_where(&|c| {
                        current[c] == Status::Published
                            && here[c]
                                .holders
                                .iter()
                                .any(|&(i, _)| self.previously[i].contains(&here[c].cell))
                    }),
                    hidden: rows_where(&|c| current[c] == Status::Secondary),
                    primary: rows_where(&|c| matches!(current[c], Status::Primary(_)))
                        .into_iter()
                        .map(|c| (c, MANUAL))
                        .collect(),
                    ..Fixed::default()
                };
                #[cfg(feature = "dump-families")]
                {
                    crate::dump::family(
                        &family
                            .nodes
                            .iter()
                            .map(|n| {
                                let (i, role) = n[0];
                                format!("{}{}", self.ind(i).id, ["", ".den"][role])
                            })
                            .collect::<Vec<_>>()
                            .join("+"),
                        part_no,
                        joint.n_parts,
                        &joint.system,
                        &joint.values,
                        &fixed,
                    );
                    part_no += 1;
                }
                let cells: Vec<&PublishedCell> = here.iter().map(|r| &map.cells[r.cell]).collect();
                let p = protect_cells(&joint.system, series, &fixed, &public)
                    .map_err(|e| refusal(&name, &cells, e, "protecting related counts"))?;
                self.solver_failures
                    .fetch_add(p.solver_failures.len(), Ordering::Relaxed);
                for (c, st) in p.statuses.iter().enumerate() {
                    if !st.is_hidden() || current[c].is_hidden() {
                        continue;
                    }
                    for &(i, _) in &here[c].holders {
                        let s = &mut statuses[i][here[c].cell];
                        if s.is_some_and(|s| s == RowStatus::Published) {
                            *s = Some(RowStatus::Secondary(Why::Related));
                            hide.push((i, here[c].cell));
                        }
                    }
                }
                // The final statuses (a cell hidden for one count is hidden for all),
                // audited with the protection's own proof.
                let now: Vec<Status> = here.iter().map(|r| crate_status(r, &statuses)).collect();
                let a = audit_with(&joint.system, series, &now, &public, &p.certificate).map_err(
                    |e| EngineError::Disclosure {
                        indicator: name.clone(),
                        message: e.to_string(),
                    },
                )?;
                if let Some(first) = a.first_failure() {
                    return Err(EngineError::Disclosure {
                        indicator: name.clone(),
                        message: format!(
                            "protecting related counts did not pass its own audit: {first}"
                        ),
                    });
                }
                finest_witnesses.extend(joint.finest_witnesses(&p.certificate.witnesses, &parts));
                audit_records = a.records;
            }
            for r in audit_records.into_iter().filter(|r| r.sensitive) {
                for &(i, role) in &here[r.cell].holders {
                    let cell = here[r.cell].cell;
                    if statuses[i][cell].is_some_and(|s| !s.is_published()) {
                        records.push((
                            (i, cell, role),
                            AuditRecord {
                                series: role,
                                ..r.clone()
                            },
                        ));
                    }
                }
            }
        }
        Ok(JointOutcome {
            witnesses: finest_witnesses,
            records,
            hide,
        })
    }
}

/// What protecting a family gives: its witnesses over (finest cell, part), its audit
/// records, and the cells (indicator, map cell) it hides besides.
#[derive(Default)]
struct JointOutcome {
    witnesses: Vec<Witness>,
    records: JointRecords,
    hide: Vec<(usize, usize)>,
}

/// The rules a run protects by: the counts' policy, the magnitude rules and
/// the levels whose totals are forced.
pub(crate) struct Rules<'a> {
    pub policy: &'a Policy,
    pub magnitude: &'a [MagnitudeRule],
    pub forced_levels: &'a [String],
}

/// Protects every indicator of a run.
pub(crate) fn protect(
    catalogue: &Catalogue,
    finest: &FinestCells,
    cell_maps: &[CellMap],
    rules: &Rules<'_>,
    previous: Option<&PreviousCells>,
    threads: usize,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Protected> {
    let Rules {
        policy,
        magnitude,
        forced_levels,
    } = *rules;
    let n = finest.series.len();
    let mut statuses: Vec<Vec<Option<RowStatus>>> = vec![Vec::new(); n];
    let mut audit = AuditBuilder::default();
    let mut summary = DisclosureSummary::default();
    let solver_failures = AtomicUsize::new(0);

    let mut inds: Vec<Option<Ind>> = Vec::with_capacity(n);
    for (ind, s) in catalogue.indicators.iter().zip(&finest.series) {
        let Some(map) = cell_maps.iter().find(|m| m.space == s.space) else {
            inds.push(None);
            continue;
        };
        let dense = map.dense(s);
        let cells = (0..map.cells.len())
            .filter(|&j| in_indicator(ind, &map.cells[j]))
            .collect();
        let levels = if magnitude.is_empty() {
            vec![[None, None]; map.cells.len()]
        } else {
            map.sum(s)
                .iter()
                .map(|c| levels(ind, c, magnitude))
                .collect()
        };
        let public_bound = (map.space == CellSpace::Population).then(|| {
            dense
                .iter()
                .map(|c| (c.numerator <= c.denominator).then_some(c.denominator))
                .collect()
        });
        inds.push(Some(Ind {
            id: &ind.id,
            map,
            cells,
            num: dense.iter().map(|c| c.numerator).collect(),
            den: dense.iter().map(|c| c.denominator).collect(),
            levels,
            public_bound,
        }));
    }
    let forced_cell =
        |c: &PublishedCell| c.stratifiers().is_empty() && forced_levels.contains(&c.level);
    let value = |d: &[i64], map: &CellMap, j: usize| -> i64 {
        map.members[j].iter().map(|&i| d[i as usize]).sum()
    };

    // Cells an earlier release published, per indicator (map indices); their
    // counts must be this run's.
    let mut previously: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    if let Some(prev) = previous {
        for (i, ind) in inds.iter().enumerate() {
            let Some(ind) = ind else { continue };
            for &j in &ind.cells {
                let cell = &ind.map.cells[j];
                let Some(&(pn, pd)) = prev.get(&(ind.id.to_string(), cell.clone())) else {
                    continue;
                };
                let (cn, cd) = (value(&ind.num, ind.map, j), value(&ind.den, ind.map, j));
                if (pn, pd) != (cn, cd) {
                    return Err(EngineError::Disclosure {
                        indicator: ind.id.to_string(),
                        message: format!(
                            "the previous release published cell ({}) as {pn}/{pd}, but this extract gives {cn}/{cd}: a revised extract cannot be released against an earlier release (run without --previous to start a new series of releases)",
                            describe(ind.id, cell)
                        ),
                    });
                }
                previously[i].insert(j);
            }
        }
        // A cell the previous release published in a period of this run but that this run
        // does not publish (another stratification, an indicator left out) is public
        // knowledge about the same persons that this run's systems cannot take into
        // account: refused. Other periods count other deaths and are left aside.
        let periods: BTreeSet<i32> = inds
            .iter()
            .flatten()
            .flat_map(|d| d.cells.iter().map(|&j| d.map.cells[j].period))
            .collect();
        let published_here: BTreeSet<(&str, &PublishedCell)> = inds
            .iter()
            .flatten()
            .flat_map(|d| d.cells.iter().map(move |&j| (d.id, &d.map.cells[j])))
            .collect();
        let mut missing = prev
            .keys()
            .filter(|(id, cell)| {
                periods.contains(&cell.period) && !published_here.contains(&(id.as_str(), cell))
            })
            .collect::<Vec<_>>();
        missing.sort();
        if let Some((id, cell)) = missing.first() {
            return Err(EngineError::Disclosure {
                indicator: id.clone(),
                message: format!(
                    "the previous release published cell ({}) and {} more of this run's periods that this run does not publish: they are public, but this run cannot take them into account; publish the same indicators and strata as the previous release, or run without --previous to start a new series of releases",
                    describe(id, cell),
                    missing.len() - 1
                ),
            });
        }
    }

    // 1. Each count series that several indicators share (the same
    //    denominator, or one indicator's numerator that is another's
    //    denominator, as opioid users for the laxative indicator), alone, over
    //    the union of the cells of the indicators using it: the attacker sees
    //    it wherever any of them publishes it. Sensitive: its own small counts,
    //    and the cells where an indicator using it as numerator has a small
    //    denominator (that numerator must not be recomputed either).
    let series_of = |i: usize, which: usize| -> &Vec<i64> {
        let ind = inds[i].as_ref().expect("grouped indicators exist");
        if which == 0 { &ind.num } else { &ind.den }
    };
    let mut groups: Vec<(CellSpace, Vec<(usize, usize)>)> = Vec::new();
    for (i, ind) in inds.iter().enumerate() {
        let Some(ind) = ind else { continue };
        for which in [0, 1] {
            let series = series_of(i, which);
            match groups.iter_mut().find(|(space, members)| {
                *space == ind.map.space && series_of(members[0].0, members[0].1) == series
            }) {
                Some((_, members)) => members.push((i, which)),
                None => groups.push((ind.map.space, vec![(i, which)])),
            }
        }
    }
    let shared: Vec<&Vec<(usize, usize)>> = groups
        .iter()
        .filter(|(_, m)| m.iter().map(|&(i, _)| i).collect::<BTreeSet<_>>().len() > 1)
        .map(|(_, m)| m)
        .collect();
    type SharedOutcome = (Vec<usize>, CellSpace, Vec<Witness>);
    // (The diagnosis split below keeps each shared protection exact.)
    let step = (progress, ProtectionStep::SharedCounts);
    let outcomes = par_map_reported(threads, &shared, step, |members| -> Result<SharedOutcome> {
        let (i0, w0) = members[0];
        let first = inds[i0].as_ref().expect("grouped indicators exist");
        let counts = series_of(i0, w0);
        let map = first.map;
        let ids: BTreeSet<&str> = members
            .iter()
            .filter_map(|&(i, _)| inds[i].as_ref().map(|d| d.id))
            .collect();
        let name = ids.into_iter().collect::<Vec<_>>().join(", ");
        let union: BTreeSet<usize> = members
            .iter()
            .filter_map(|&(i, _)| inds[i].as_ref())
            .flat_map(|d| d.cells.iter().copied())
            .collect();
        let union: Vec<usize> = union.into_iter().collect();
        let (mut hidden, mut witnesses) = (Vec::new(), Vec::new());
        for part in parts(map, &union, &forced_cell) {
            let sys = System::new(map, &part, &name)?;
            let kept = &sys.kept;
            // A numerator whose own indicator's denominator is small.
            let small_denominator = |j: usize| {
                members.iter().any(|&(i, which)| {
                    let ind = inds[i].as_ref().expect("grouped indicators exist");
                    which == 0
                        && ind.cells.binary_search(&j).is_ok()
                        && policy.sensitive(value(&ind.den, map, j))
                })
            };
            let fixed = Fixed {
                forced: (0..kept.len())
                    .filter(|&c| forced_cell(&map.cells[kept[c]]))
                    .collect(),
                previously_published: (0..kept.len())
                    .filter(|&c| {
                        members
                            .iter()
                            .any(|&(i, _)| previously[i].contains(&kept[c]))
                    })
                    .filter(|&c| !forced_cell(&map.cells[kept[c]]))
                    .collect(),
                primary: (0..kept.len())
                    .filter(|&c| small_denominator(kept[c]))
                    .map(|c| (c, PrimaryReason::Manual))
                    .collect(),
                // A magnitude the members share: its dominated cells.
                widths: (0..kept.len())
                    .filter_map(|c| {
                        let j = kept[c];
                        let width = members
                            .iter()
                            .filter_map(|&(i, which)| {
                                let ind = inds[i].as_ref().expect("grouped indicators exist");
                                ind.cells.binary_search(&j).ok()?;
                                ind.levels[j][which]
                            })
                            .max()?;
                        Some(CellWidth {
                            cell: c,
                            series: 0,
                            width,
                        })
                    })
                    .collect(),
                ..Fixed::default()
            };
            let cells: Vec<&PublishedCell> = kept.iter().map(|&j| &map.cells[j]).collect();
            let p = protect_cells(&sys.system, &[&sys.series(counts)], &fixed, policy)
                .map_err(|e| refusal(&name, &cells, e, "the shared count"))?;
            solver_failures.fetch_add(p.solver_failures.len(), Ordering::Relaxed);
            witnesses.extend(
                p.certificate
                    .witnesses
                    .iter()
                    .filter_map(|w| sys.finest_witness(w, counts, None)),
            );
            hidden.extend(
                p.statuses
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.is_hidden())
                    .map(|(c, _)| kept[c]),
            );
        }
        Ok((hidden, map.space, witnesses))
    });
    let mut hidden_den: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut certificates = Certificates::default();
    for (members, outcome) in shared.iter().zip(outcomes) {
        let (hidden, space, witnesses) = outcome?;
        certificates
            .denominators
            .entry(space)
            .or_default()
            .extend(witnesses);
        for &(i, _) in members.iter() {
            hidden_den[i].extend(hidden.iter().copied());
        }
    }

    // 2. Each indicator, numerator and denominator.
    type Outcome = (
        Vec<Option<RowStatus>>,
        Vec<(usize, AuditRecord)>,
        usize,
        Vec<Witness>,
    );
    let indices: Vec<usize> = (0..n).filter(|&i| inds[i].is_some()).collect();
    let step = (progress, ProtectionStep::Indicators);
    let outcomes = par_map_reported(threads, &indices, step, |&i| -> Result<Outcome> {
        let ind = inds[i].as_ref().expect("filtered");
        let map = ind.map;
        let mut row = vec![None; map.cells.len()];
        for &j in &ind.cells {
            // Cells without finest cells: structural zeros, published.
            row[j] = Some(RowStatus::Published);
        }
        let (mut records, mut previous, mut witnesses) = (Vec::new(), 0, Vec::new());
        for part in parts(map, &ind.cells, &forced_cell) {
            let sys = System::new(map, &part, ind.id)?;
            let kept = &sys.kept;
            let forced: Vec<usize> = (0..kept.len())
                .filter(|&c| forced_cell(&map.cells[kept[c]]))
                .collect();
            let fixed = Fixed {
                previously_published: (0..kept.len())
                    .filter(|&c| previously[i].contains(&kept[c]) && !forced.contains(&c))
                    .collect(),
                hidden: (0..kept.len())
                    .filter(|&c| hidden_den[i].contains(&kept[c]))
                    .collect(),
                widths: (0..kept.len())
                    .flat_map(|c| {
                        let l = ind.levels[kept[c]];
                        (0..2).filter_map(move |series| {
                            l[series].map(|width| CellWidth {
                                cell: c,
                                series,
                                width,
                            })
                        })
                    })
                    .collect(),
                // What the public population tells about the numerator.
                bounds: ind
                    .public_bound
                    .iter()
                    .map(|b| Bounds {
                        series: 0,
                        lower: vec![0; sys.n_inner],
                        upper: sys.bound(b),
                    })
                    .collect(),
                forced,
                ..Fixed::default()
            };
            let cells: Vec<&PublishedCell> = kept.iter().map(|&j| &map.cells[j]).collect();
            let (num, den) = (sys.series(&ind.num), sys.series(&ind.den));
            let p = protect_cells(&sys.system, &[&num, &den], &fixed, policy)
                .map_err(|e| refusal(ind.id, &cells, e, "protecting the indicator"))?;
            solver_failures.fetch_add(p.solver_failures.len(), Ordering::Relaxed);
            for (c, s) in p.statuses.iter().enumerate() {
                let j = kept[c];
                let status = match s {
                    Status::Published => RowStatus::Published,
                    Status::Primary(_) => RowStatus::Primary,
                    Status::Forced => RowStatus::Forced,
                    Status::Secondary if hidden_den[i].contains(&j) => {
                        RowStatus::Secondary(Why::Shared)
                    }
                    // A status this engine does not know: hide the cell (fail safe).
                    _ => RowStatus::Secondary(Why::Own),
                };
                // A cell in two parts (the forced national total) is forced in both.
                if row[j].is_none_or(|r| r == RowStatus::Published || r == RowStatus::Forced) {
                    row[j] = Some(status);
                }
            }
            let zeros = vec![0; ind.num.len()];
            let num_bounds = ind.public_bound.as_deref().map(|u| (zeros.as_slice(), u));
            witnesses.extend(p.certificate.witnesses.iter().filter_map(|w| {
                if w.series == 0 {
                    sys.finest_witness(w, &ind.num, num_bounds)
                } else {
                    sys.finest_witness(w, &ind.den, None)
                }
            }));
            records.extend(p.intervals.into_iter().map(|r| (kept[r.cell], r)));
            previous += fixed.previously_published.len();
        }
        Ok((row, records, previous, witnesses))
    });
    // The audit records by (indicator, map cell, series).
    let mut all_records: BTreeMap<(usize, usize, usize), AuditRecord> = BTreeMap::new();
    for (&i, outcome) in indices.iter().zip(outcomes) {
        let (row, records, previous, witnesses) = outcome?;
        let ind = inds[i].as_ref().expect("filtered");
        certificates
            .indicators
            .insert(ind.id.to_string(), witnesses);
        summary.previously_published += previous;
        for (j, r) in records {
            all_records.insert((i, j, r.series), r);
        }
        statuses[i] = row;
    }

    // 3. Counts the definitions relate across indicators (nested, disjoint,
    //    within a shared denominator), each family as one joint system.
    let ctx = JointContext {
        inds: &inds,
        forced_cell: &forced_cell,
        previously: &previously,
        policy,
        solver_failures: &solver_failures,
    };
    // Each family against the statuses of steps 1 and 2, all at once: hiding
    // more for one family keeps every other family's proof (fewer equations
    // only admit more tables).
    let families = crate::relations::families(catalogue);
    let step = (progress, ProtectionStep::RelatedCounts);
    // The costliest families first, so that the longest does not start last: by the hidden
    // rows of their counts, each node's once (a node is one count, however many indicators
    // publish it; counting every indicator's rows put the 5-indicator family that takes a third
    // of the SF 1 step fourth, and the step took 55 s instead of about 50 s). The order
    // changes nothing else (each family starts from the same statuses).
    let hidden_rows = |family: &crate::relations::Family| -> usize {
        family
            .nodes
            .iter()
            .filter_map(|node| node.first())
            .map(|&(i, _)| {
                statuses[i]
                    .iter()
                    .filter(|s| s.is_some_and(|s| !s.is_published()))
                    .count()
            })
            .sum()
    };
    let mut order: Vec<usize> = (0..families.len()).collect();
    order.sort_by_cached_key(|&f| std::cmp::Reverse(hidden_rows(&families[f])));
    let results = par_map_reported(threads, &order, step, |&f| {
        ctx.protect(&families[f], &statuses)
    });
    // Back in the families' own order.
    let mut outcomes: Vec<(usize, Result<JointOutcome>)> = order.into_iter().zip(results).collect();
    outcomes.sort_by_key(|o| o.0);
    let outcomes = outcomes.into_iter().map(|o| o.1);
    for outcome in outcomes {
        let JointOutcome {
            witnesses,
            records,
            hide,
        } = outcome?;
        for (i, j) in hide {
            if statuses[i][j] == Some(RowStatus::Published) {
                statuses[i][j] = Some(RowStatus::Secondary(Why::Related));
            }
        }
        certificates.families.push(witnesses);
        for (key, r) in records {
            // The joint attacker knows more: keep the narrower range.
            let narrower = all_records.get(&key).is_none_or(|old| {
                let width = |r: &AuditRecord| r.upper.map(|u| u - r.lower);
                match (width(&r), width(old)) {
                    (Some(a), Some(b)) => a < b,
                    (Some(_), None) => true,
                    _ => false,
                }
            });
            if narrower {
                all_records.insert(key, r);
            }
        }
    }

    summary.solver_failures = solver_failures.load(Ordering::Relaxed);
    for (i, row) in statuses.iter().enumerate() {
        if inds[i].is_none() {
            continue;
        }
        for s in row.iter().flatten() {
            summary.cells += 1;
            match s {
                RowStatus::Primary => summary.primary += 1,
                RowStatus::Secondary(_) => summary.secondary += 1,
                RowStatus::Forced => summary.forced += 1,
                RowStatus::Published => {}
            }
        }
    }
    for ((i, j, _), r) in &all_records {
        let ind = inds[*i].as_ref().expect("records of indicators");
        audit.push(
            ind.id,
            &ind.map.cells[*j],
            statuses[*i][*j].expect("a system cell"),
            r,
        );
    }
    let levels = inds
        .iter()
        .map(|d| d.as_ref().map_or_else(Vec::new, |d| d.levels.clone()))
        .collect();
    Ok(Protected {
        statuses,
        levels,
        audit: audit.finish()?,
        summary,
        certificates,
    })
}

/// [`par_map`] as one step of the protection, reporting its progress: `0 / total` first,
/// then one more done as each item finishes (in whatever order the threads finish them).
fn par_map_reported<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    (progress, step): (&(dyn Fn(Progress) + Sync), ProtectionStep),
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let total = items.len();
    progress(Progress::ProtectingStep {
        step,
        done: 0,
        total,
    });
    let done = std::sync::atomic::AtomicUsize::new(0);
    par_map(threads, items, |item| {
        let out = f(item);
        let done = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(Progress::ProtectingStep { step, done, total });
        out
    })
}

/// `f` over every item on up to `threads` threads, results in item order.
pub(crate) fn par_map<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .expect("every item is mapped once")
        })
        .collect()
}

/// The schema of the audit table (see `docs/results-schema.md`).
pub fn audit_schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i = |n: &str, null: bool| Field::new(n, DataType::Int64, null);
    Arc::new(Schema::new(vec![
        s("indicator_id", false),
        s("period", false),
        s("region_level", false),
        s("region_id", true),
        s("sex", true),
        s("age_group", true),
        s("diagnosis_group", true),
        s("status", false),
        s("series", false),
        Field::new("sensitive", DataType::Boolean, false),
        i("interval_lower", false),
        i("interval_upper", true),
        i("required_width", false),
        Field::new("pass", DataType::Boolean, false),
    ]))
}

#[derive(Default)]
struct AuditBuilder {
    keys: [StringBuilder; 9],
    sensitive: BooleanBuilder,
    lower: Int64Builder,
    upper: Int64Builder,
    width: Int64Builder,
    pass: BooleanBuilder,
}

impl AuditBuilder {
    fn push(&mut self, indicator: &str, cell: &PublishedCell, status: RowStatus, r: &AuditRecord) {
        let period = cell.period.to_string();
        let values: [Option<&str>; 9] = [
            Some(indicator),
            Some(&period),
            Some(&cell.level),
            cell.region_id.as_deref(),
            cell.sex.as_deref(),
            cell.age_group.as_deref(),
            cell.diagnosis_group.as_deref(),
            Some(status.name()),
            Some(if r.series == 0 {
                "numerator"
            } else {
                "denominator"
            }),
        ];
        for (b, v) in self.keys.iter_mut().zip(values) {
            b.append_option(v);
        }
        self.sensitive.append_value(r.sensitive);
        self.lower.append_value(r.lower);
        self.upper.append_option(r.upper);
        self.width.append_value(r.required_width);
        self.pass.append_value(r.pass);
    }

    fn finish(mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::new();
        for b in &mut self.keys {
            columns.push(Arc::new(b.finish()));
        }
        columns.push(Arc::new(self.sensitive.finish()));
        columns.push(Arc::new(self.lower.finish()));
        columns.push(Arc::new(self.upper.finish()));
        columns.push(Arc::new(self.width.finish()));
        columns.push(Arc::new(self.pass.finish()));
        RecordBatch::try_new(audit_schema(), columns).map_err(|e| EngineError::DataFusion {
            context: "assembling the audit table".into(),
            source: Box::new(e.into()),
        })
    }
}

/// Marks a primary reason as coming from outside the threshold rule (the
/// verifier reads statuses from the results table).
pub(crate) const MANUAL: PrimaryReason = PrimaryReason::Manual;

/// The published (and forced) cells of an earlier release's results table,
/// with their counts.
pub(crate) fn load_previous(previous: &crate::run::Previous) -> Result<PreviousCells> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::compute::cast;
    let batches = match previous {
        crate::run::Previous::Table(b) => vec![b.clone()],
        crate::run::Previous::Path(path) => read_table(path)?,
    };
    let bad = |message: String| EngineError::Option {
        option: "previous".into(),
        message,
    };
    let mut out = PreviousCells::new();
    for batch in &batches {
        let text = |name: &str| -> Result<Vec<Option<String>>> {
            let a = batch
                .column_by_name(name)
                .ok_or_else(|| bad(format!("the previous results have no column `{name}`")))?;
            let a = cast(a, &DataType::Utf8).map_err(|e| bad(e.to_string()))?;
            let a = a.as_string::<i32>();
            Ok((0..a.len())
                .map(|i| (a.is_valid(i) && !a.value(i).is_empty()).then(|| a.value(i).to_string()))
                .collect())
        };
        let [id, period, level, region, sex, age, diag, st, num, den] = [
            "indicator_id",
            "period",
            "region_level",
            "region_id",
            "sex",
            "age_group",
            "diagnosis_group",
            "status",
            "numerator",
            "denominator",
        ]
        .map(text);
        let (id, period, level, region, sex, age, diag, st, num, den) = (
            id?, period?, level?, region?, sex?, age?, diag?, st?, num?, den?,
        );
        for r in 0..batch.num_rows() {
            let status = st[r].as_deref().unwrap_or_default();
            if status != status::PUBLISHED && status != status::FORCED {
                continue;
            }
            let int = |v: &Option<String>, what: &str| -> Result<i64> {
                v.as_deref()
                    .and_then(|x| x.parse().ok())
                    .ok_or_else(|| bad(format!("row {r}: a published row without a {what}")))
            };
            let cell = PublishedCell {
                period: period[r]
                    .as_deref()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| bad(format!("row {r}: no period")))?,
                level: level[r].clone().unwrap_or_default(),
                region_id: region[r].clone(),
                sex: sex[r].clone(),
                age_group: age[r].clone(),
                diagnosis_group: diag[r].clone(),
            };
            out.insert(
                (id[r].clone().unwrap_or_default(), cell),
                (int(&num[r], "numerator")?, int(&den[r], "denominator")?),
            );
        }
    }
    Ok(out)
}

/// Reads a results file (Parquet, or CSV with every column as text).
fn read_table(path: &std::path::Path) -> Result<Vec<RecordBatch>> {
    let err = |e: &dyn std::fmt::Display| EngineError::File {
        action: "read",
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| err(&e))?;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        use std::io::BufRead;
        let mut header = String::new();
        std::io::BufReader::new(std::fs::File::open(path).map_err(|e| err(&e))?)
            .read_line(&mut header)
            .map_err(|e| err(&e))?;
        let fields: Vec<Field> = header
            .trim_end()
            .split(',')
            .map(|n| Field::new(n.trim_matches('"'), DataType::Utf8, true))
            .collect();
        let reader = arrow::csv::ReaderBuilder::new(Arc::new(Schema::new(fields)))
            .with_header(true)
            .build(file)
            .map_err(|e| err(&e))?;
        reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| err(&e))
    } else {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| err(&e))?
            .build()
            .map_err(|e| err(&e))?;
        reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| err(&e))
    }
}
