//! Disclosure control for published counts: primary suppression, secondary suppression that
//! provably protects every primary cell, and an independent audit.
//!
//! The input is the linear structure of a release: *inner cells* (the finest
//! cross-classification, zeros included) and *published cells*, each the sum of a set of inner
//! cells (the nation, every region level, strata, periods: a [`LinearSystem`]), with one or more
//! count series over the inner cells (numerator, denominator). A published cell is *primary*
//! when one of its counts is in `1..k-1` (zeros too if asked). [`protect`] hides more cells
//! (*secondary*) until
//!
//! 1. no hidden primary cell is a linear combination of published cells (exact arithmetic), and
//! 2. for every hidden primary cell and series, the attacker's interval (minimum and maximum over
//!    all non-negative tables that reproduce every published value) is at least
//!    [`Policy::min_interval_width`] wide (default `k`).
//!
//! [`audit`] re-checks an output from its statuses and values alone, by separate code;
//! [`release`] runs both and refuses what the audit rejects. See `docs/disclosure.md`.
//!
//! ```
//! use spiegel_disclosure::{Fixed, LinearSystem, Policy, Status, audit, protect};
//!
//! // Three regions (inner cells 0, 1, 2) and the nation (cell 3) = their sum.
//! let system = LinearSystem::new(3, vec![vec![0], vec![1], vec![2], vec![0, 1, 2]])?;
//! let deaths: &[i64] = &[4, 30, 25];
//! let policy = Policy::default(); // k = 10
//! let p = protect(&system, &[deaths], &Fixed::default(), &policy)?;
//! assert!(matches!(p.statuses[0], Status::Primary(_)));
//! // Region 0 alone would be the nation minus regions 1 and 2: one more cell is hidden.
//! assert_eq!(p.statuses.iter().filter(|s| **s == Status::Secondary).count(), 1);
//! assert!(audit(&system, &[deaths], &p.statuses, &policy)?.passed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod attack;
mod audit;
mod component;
mod error;
mod magnitude;
mod stage1;

use std::collections::{HashMap, HashSet};

pub use audit::{Audit, AuditRecord, PairRecord, audit, audit_fixed, audit_with};
pub use error::{Error, Result};
pub use magnitude::{MagnitudeRule, largest_two};

/// Inner cells and published cells: published cell `i` is the sum of inner cells `rows[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearSystem {
    n_inner: usize,
    rows: Vec<Vec<u32>>,
    keys: Option<Vec<u64>>,
    /// The cell each cell counts a subset of the persons of (`with_within`).
    within: Option<Vec<Option<u32>>>,
}

impl LinearSystem {
    /// A system of `n_inner` inner cells and the given published cells (each a list of inner
    /// cells; sorted and deduplicated here).
    ///
    /// ```
    /// use spiegel_disclosure::LinearSystem;
    /// let s = LinearSystem::new(2, vec![vec![1, 0], vec![0]])?;
    /// assert_eq!(s.cell(0), &[0, 1]);
    /// assert!(LinearSystem::new(2, vec![vec![2]]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(n_inner: usize, mut rows: Vec<Vec<u32>>) -> Result<Self> {
        for (cell, row) in rows.iter_mut().enumerate() {
            row.sort_unstable();
            row.dedup();
            if row.is_empty() {
                return Err(Error::EmptyCell { cell });
            }
            if let Some(&inner) = row.iter().find(|&&i| i as usize >= n_inner) {
                return Err(Error::InnerOutOfRange {
                    cell,
                    inner,
                    n_inner,
                });
            }
        }
        Ok(LinearSystem {
            n_inner,
            rows,
            keys: None,
            within: None,
        })
    }

    /// Related counts of the same persons: `within[c] = Some(p)` when cell `c` counts some of
    /// the persons that cell `p` counts, in the same published cell (the opioid users without
    /// a laxative in a region, among its opioid users). Its inner cells must be among `p`'s.
    /// The contributor of a hidden cell with a count of 1 knows the cells within theirs as
    /// well (each 0 or 1: their own membership), so the singleton rule
    /// ([`Policy::singleton_width`]) takes them as known together.
    ///
    /// ```
    /// use spiegel_disclosure::LinearSystem;
    /// // Inner cells: (persons not in the subset, persons in it); cell 1 is within cell 0.
    /// let s = LinearSystem::new(2, vec![vec![0, 1], vec![1]])?.with_within(vec![None, Some(0)])?;
    /// assert_eq!(s.within(1), Some(0));
    /// assert!(LinearSystem::new(2, vec![vec![0], vec![1]])?.with_within(vec![None, Some(0)]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_within(mut self, within: Vec<Option<usize>>) -> Result<Self> {
        self.check_cells("within", &within)?;
        let n = self.rows.len();
        for (cell, &p) in within.iter().enumerate() {
            let Some(p) = p else { continue };
            let fail = |reason| {
                Err(Error::InvalidWithin {
                    cell,
                    within: p,
                    reason,
                })
            };
            if p >= n {
                return fail("there is no such cell");
            }
            if p == cell {
                return fail("a cell cannot be within itself");
            }
            if self.rows[cell]
                .iter()
                .any(|i| self.rows[p].binary_search(i).is_err())
            {
                return fail("it sums inner cells that the other does not");
            }
            // Walking up from the cell must end (no cycle).
            let (mut at, mut steps) = (p, 0);
            while let Some(q) = within[at] {
                steps += 1;
                if q >= n || steps > n {
                    return fail("the cells are within each other in a cycle");
                }
                at = q;
            }
        }
        self.within = Some(within.into_iter().map(|p| p.map(|p| p as u32)).collect());
        Ok(self)
    }

    /// The cell that `cell` counts a subset of the persons of ([`Self::with_within`]).
    pub fn within(&self, cell: usize) -> Option<usize> {
        self.within
            .as_ref()
            .and_then(|w| w[cell])
            .map(|p| p as usize)
    }

    /// Stable keys for the published cells (one each, distinct), used instead of the cell index
    /// to break ties, so that the result does not depend on the order of the cells.
    ///
    /// ```
    /// use spiegel_disclosure::LinearSystem;
    /// let s = LinearSystem::new(1, vec![vec![0], vec![0]])?.with_keys(vec![20, 10])?;
    /// assert!(LinearSystem::new(1, vec![vec![0]])?.with_keys(vec![1, 2]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_keys(mut self, keys: Vec<u64>) -> Result<Self> {
        self.check_cells("keys", &keys)?;
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != keys.len() {
            return Err(Error::InvalidPolicy {
                reason: "cell keys must be distinct",
            });
        }
        self.keys = Some(keys);
        Ok(self)
    }

    /// The tie-break key of a cell: its key if keys were given, else its index.
    pub fn key(&self, cell: usize) -> u64 {
        self.keys.as_ref().map_or(cell as u64, |k| k[cell])
    }

    /// The number of inner cells.
    pub fn n_inner(&self) -> usize {
        self.n_inner
    }

    /// The number of published cells.
    pub fn n_cells(&self) -> usize {
        self.rows.len()
    }

    /// The inner cells that published cell `cell` sums (sorted).
    pub fn cell(&self, cell: usize) -> &[u32] {
        &self.rows[cell]
    }

    /// The value of every published cell for one series of inner-cell values.
    pub fn cell_values(&self, inner: &[i64]) -> Vec<i64> {
        self.rows
            .iter()
            .map(|r| r.iter().map(|&i| inner[i as usize]).sum())
            .collect()
    }

    pub(crate) fn validate_series(&self, series: &[&[i64]]) -> Result<()> {
        if series.is_empty() {
            return Err(Error::NoSeries);
        }
        for (s, values) in series.iter().enumerate() {
            if values.len() != self.n_inner {
                return Err(Error::SeriesLength {
                    series: s,
                    len: values.len(),
                    expected: self.n_inner,
                });
            }
            if let Some((inner, &value)) = values.iter().enumerate().find(|(_, v)| **v < 0) {
                return Err(Error::NegativeCount {
                    series: s,
                    inner,
                    value,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn check_cells<T>(&self, argument: &'static str, flags: &[T]) -> Result<()> {
        if flags.len() != self.rows.len() {
            return Err(Error::CellArgumentLength {
                argument,
                len: flags.len(),
                expected: self.rows.len(),
            });
        }
        Ok(())
    }
}

/// The singleton attackers of one series, each as the cells (of `n`) their contributor knows:
/// for each hidden cell with a count of 1 in some series (and no such cell that it is within,
/// whose contributor is the same person and knows more), itself and the hidden cells within it
/// ([`LinearSystem::with_within`]), those whose count in `series` is 0 or 1. The cell with the
/// count of 1 comes first when it is in the group: it names the attacker.
pub(crate) fn singleton_groups(
    n: usize,
    within: impl Fn(usize) -> Option<usize>,
    hidden: impl Fn(usize) -> bool,
    values: impl Fn(usize, usize) -> i64,
    n_series: usize,
    series: usize,
) -> Vec<Vec<usize>> {
    let one = |c: usize| hidden(c) && (0..n_series).any(|s| values(s, c) == 1);
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for c in 0..n {
        if let Some(p) = within(c) {
            children[p].push(c);
        }
    }
    (0..n)
        .filter(|&c| one(c) && !std::iter::successors(within(c), |&p| within(p)).any(one))
        .filter_map(|head| {
            let mut group = Vec::new();
            let mut stack = vec![head];
            while let Some(c) = stack.pop() {
                if c != head && hidden(c) && values(series, c) <= 1 {
                    group.push(c);
                }
                stack.extend(children[c].iter().copied());
            }
            group.sort_unstable();
            if values(series, head) <= 1 {
                group.insert(0, head);
            }
            (!group.is_empty()).then_some(group)
        })
        .collect()
}

/// The protection policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The threshold k: a count in `1..k-1` is sensitive (default 10).
    pub threshold: i64,
    /// Whether a count of 0 is sensitive too (default `false`).
    pub protect_zeros: bool,
    /// The width the attacker interval of a hidden primary cell must have, per series
    /// (`None`: the threshold k).
    pub min_interval_width: Option<i64>,
    /// The most rounds of "hide one more cell, redo stage 1" before giving up with an error
    /// (default 200).
    pub max_rounds: usize,
    /// Whether the interval of a hidden sensitive cell must also reach a value of at least k
    /// (so the attacker cannot even be sure the cell is small; default `false`).
    pub interval_contains_threshold: bool,
    /// The singleton rule: the one contributor of a hidden cell with a count of 1 knows that
    /// cell's counts that are 0 or 1 (and those of the cells within it,
    /// [`LinearSystem::with_within`]); for them, every other hidden sensitive cell that shares
    /// no inner cell with theirs must keep a range at least this wide. Default 1: they cannot
    /// pin it to one value (recompute it). 0 turns the rule off; the required width makes it
    /// as strict as for the public. Each singleton is an attacker of their own, not all of
    /// them together.
    pub singleton_width: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            threshold: 10,
            protect_zeros: false,
            min_interval_width: None,
            max_rounds: 200,
            interval_contains_threshold: false,
            singleton_width: 1,
        }
    }
}

impl Policy {
    /// The required attacker-interval width.
    pub fn required_width(&self) -> i64 {
        self.min_interval_width.unwrap_or(self.threshold)
    }

    /// Whether one count is sensitive: in `1..k-1`, or 0 when zeros are protected.
    pub fn sensitive(&self, count: i64) -> bool {
        (1..self.threshold).contains(&count) || (count == 0 && self.protect_zeros)
    }

    /// Why a cell with these counts (one per series) is primary, if it is.
    ///
    /// ```
    /// use spiegel_disclosure::{Policy, PrimaryReason};
    /// let p = Policy::default();
    /// assert_eq!(p.primary(&[12, 3]), Some(PrimaryReason::BelowThreshold { series: 1 }));
    /// assert_eq!(p.primary(&[0, 30]), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn primary(&self, counts: &[i64]) -> Option<PrimaryReason> {
        counts.iter().enumerate().find_map(|(series, &v)| {
            if v >= 1 && v < self.threshold {
                Some(PrimaryReason::BelowThreshold { series })
            } else if v == 0 && self.protect_zeros {
                Some(PrimaryReason::Zero { series })
            } else {
                None
            }
        })
    }

    fn validate(&self) -> Result<()> {
        if self.threshold < 1 {
            return Err(Error::InvalidPolicy {
                reason: "threshold must be at least 1",
            });
        }
        if self.singleton_width < 0 {
            return Err(Error::InvalidPolicy {
                reason: "singleton_width must not be negative",
            });
        }
        if self.required_width() < 0 {
            return Err(Error::InvalidPolicy {
                reason: "min_interval_width must not be negative",
            });
        }
        Ok(())
    }
}

/// Why a cell is primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrimaryReason {
    /// A count of the series is in `1..k-1`.
    BelowThreshold {
        /// The first series that is small.
        series: usize,
    },
    /// A count of the series is 0 and zeros are protected.
    Zero {
        /// The first series that is zero.
        series: usize,
    },
    /// A magnitude cell dominated by its largest contributions ([`MagnitudeRule`]); its
    /// protection levels are in [`Fixed::widths`].
    Dominance {
        /// The first series with a protection level.
        series: usize,
    },
    /// Marked sensitive by a rule outside this crate (a manual decision); [`audit`]
    /// protects every cell whose status is `Primary`, whatever its counts.
    Manual,
}

/// What an attacker knows about the inner cells of one series besides the published sums and
/// non-negativity: each lies in `[lower, upper]`. Relations between series give such bounds
/// with the other series at their true values: a numerator is at most its denominator
/// (`upper` = the denominator's counts), a count of admissions in the last 7 days at most the
/// count in the last 30 days, two disjoint categories at most their common total less the
/// other. Tables that keep the other series as they are and this one within its bounds satisfy
/// every such relation, so what is proved over them holds for an attacker who knows the
/// relations.
///
/// ```
/// use spiegel_disclosure::{Bounds, Fixed, LinearSystem, Policy, Status, audit_fixed, protect};
/// // Two regions and the nation; region 0's numerator (4) is at most its denominator (12):
/// // an attacker who knows that cannot let it rise beyond 12.
/// let system = LinearSystem::new(2, vec![vec![0], vec![1], vec![0, 1]])?;
/// let numerator: &[i64] = &[4, 30];
/// let bounds = Bounds { series: 0, lower: vec![0, 0], upper: vec![Some(12), Some(40)] };
/// let fixed = Fixed { bounds: vec![bounds], ..Fixed::default() };
/// let p = protect(&system, &[numerator], &fixed, &Policy::default())?;
/// let a = audit_fixed(&system, &[numerator], &p.statuses, &fixed, &Policy::default(), &p.certificate)?;
/// assert!(a.passed());
/// // Region 0 ranges over [0, 12] (hidden with region 1 and the nation published, it would
/// // be the nation less region 1).
/// assert_eq!(a.records.iter().find(|r| r.cell == 0).map(|r| (r.lower, r.upper)), Some((0, Some(12))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// The series.
    pub series: usize,
    /// The least value of each inner cell (at least 0).
    pub lower: Vec<i64>,
    /// The greatest value of each inner cell (`None`: no bound).
    pub upper: Vec<Option<i64>>,
}

/// The bounds of every series' inner cells, the given ones combined (the tightest of each)
/// and checked against the true counts.
#[derive(Debug, Clone)]
pub(crate) struct InnerBounds {
    pub lower: Vec<Vec<i64>>,
    pub upper: Vec<Vec<Option<i64>>>,
}

impl InnerBounds {
    pub(crate) fn new(bounds: &[Bounds], series: &[&[i64]], n_inner: usize) -> Result<Self> {
        let mut out = InnerBounds {
            lower: vec![vec![0; n_inner]; series.len()],
            upper: vec![vec![None; n_inner]; series.len()],
        };
        for b in bounds {
            let bad = |inner: usize, reason: &'static str| Error::InvalidBounds {
                series: b.series,
                inner,
                reason,
            };
            let Some(values) = series.get(b.series) else {
                return Err(bad(0, "no such series"));
            };
            if b.lower.len() != n_inner || b.upper.len() != n_inner {
                return Err(bad(0, "bounds need one entry per inner cell"));
            }
            for i in 0..n_inner {
                let (lo, hi, v) = (b.lower[i], b.upper[i], values[i]);
                if lo < 0 {
                    return Err(bad(i, "a lower bound is negative"));
                }
                if v < lo || hi.is_some_and(|h| v > h) {
                    return Err(bad(i, "the true count lies outside its bounds"));
                }
                let l = &mut out.lower[b.series][i];
                *l = (*l).max(lo);
                let u = &mut out.upper[b.series][i];
                *u = match (*u, hi) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        Ok(out)
    }
}

/// A cell that needs a wider attacker range in one series than the policy's width: the
/// protection level of a [`MagnitudeRule`]. The cell is sensitive (primary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CellWidth {
    /// The published cell.
    pub cell: usize,
    /// The series.
    pub series: usize,
    /// The width its range must have in that series (the policy's width if that is wider).
    pub width: i64,
}

/// The widths of [`CellWidth`]s by (cell, series), checked against `n` cells and `n_series`.
pub(crate) fn width_map(
    widths: &[CellWidth],
    n: usize,
    n_series: usize,
) -> Result<HashMap<(usize, usize), i64>> {
    let mut out = HashMap::new();
    for w in widths {
        if w.cell >= n {
            return Err(Error::CellOutOfRange {
                argument: "widths",
                cell: w.cell,
                n_cells: n,
            });
        }
        if w.series >= n_series || w.width < 0 {
            return Err(Error::InvalidPolicy {
                reason: "a cell width names a series that does not exist or is negative",
            });
        }
        let e = out.entry((w.cell, w.series)).or_insert(0);
        *e = w.width.max(*e);
    }
    Ok(out)
}

/// What the caller decides about cells, beyond the policy's own rules (all lists of published
/// cell indices; empty by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fixed {
    /// Cells that must be published (policy `forced`, e.g. the national totals). If that gives
    /// a sensitive cell away, [`protect`] fails with an error naming it.
    pub forced: Vec<usize>,
    /// Cells an earlier release already published with these same values: public knowledge,
    /// published again, never counted as protection.
    pub previously_published: Vec<usize>,
    /// Cells that must be hidden without being sensitive themselves (hidden in another table
    /// that shares these counts); their status is `Secondary`.
    pub hidden: Vec<usize>,
    /// Cells sensitive by a rule outside the policy's threshold (a manual decision).
    pub primary: Vec<(usize, PrimaryReason)>,
    /// Cells sensitive by a magnitude rule, with the range each must keep in a series (its
    /// protection level; the policy's width where that is wider).
    pub widths: Vec<CellWidth>,
    /// What the attacker knows of the inner cells beyond the published sums (relations
    /// between series); [`audit_fixed`] needs the same.
    pub bounds: Vec<Bounds>,
}

type Flags = (Vec<bool>, Vec<bool>, Vec<bool>, Vec<Option<PrimaryReason>>);

impl Fixed {
    fn flags(&self, n: usize) -> Result<Flags> {
        let check = |argument: &'static str, c: usize| {
            if c >= n {
                Err(Error::CellOutOfRange {
                    argument,
                    cell: c,
                    n_cells: n,
                })
            } else {
                Ok(c)
            }
        };
        let mut forced = vec![false; n];
        for &c in &self.forced {
            forced[check("forced", c)?] = true;
        }
        let mut previous = vec![false; n];
        for &c in &self.previously_published {
            previous[check("previously_published", c)?] = true;
        }
        let mut hidden = vec![false; n];
        for &c in &self.hidden {
            hidden[check("hidden", c)?] = true;
        }
        let mut primary = vec![None; n];
        for &(c, r) in &self.primary {
            primary[check("primary", c)?] = Some(r);
        }
        Ok((forced, previous, hidden, primary))
    }
}

/// The status of a published cell (all series of a cell share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Published.
    Published,
    /// Hidden because its own counts are sensitive.
    Primary(PrimaryReason),
    /// Hidden to protect a primary cell.
    Secondary,
    /// Published because the policy forces it (never suppressed).
    Forced,
}

impl Status {
    /// Whether the cell's counts are hidden.
    pub fn is_hidden(self) -> bool {
        matches!(self, Status::Primary(_) | Status::Secondary)
    }
}

/// The outcome of [`protect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection {
    /// One status per published cell.
    pub statuses: Vec<Status>,
    /// The stage-1 / stage-2 rounds run (1: stage 1 alone sufficed).
    pub rounds: usize,
    /// The (cell, series) pairs, each once and sorted, for which an LP searching for a proof
    /// failed (the solver stalled or was interrupted): each such search proved nothing, so
    /// the release may hide more than it needs to, never less. Empty in a run without
    /// numerical trouble.
    pub solver_failures: Vec<(usize, usize)>,
    /// The proven attacker interval of every hidden primary cell in each of its sensitive
    /// series: every value in it is consistent with the release (the attacker's exact interval
    /// can only be wider).
    pub intervals: Vec<AuditRecord>,
    /// The witness tables that prove those intervals; [`audit_with`] checks them.
    pub certificate: Certificate,
}

/// Witness tables: inner tables that reproduce every published value. Two witnesses in which a
/// hidden cell differs by `w` prove that an attacker cannot narrow it below `w`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Certificate {
    /// The witnesses.
    pub witnesses: Vec<Witness>,
}

/// The largest [`Witness::denominator`] an audit checks (2^40, above the 10^12 that LP optima
/// are recognised with): a witness with a larger one counts as invalid, so that every exact
/// comparison of two witnessed values fits in 128 bits.
pub const MAX_DENOMINATOR: i64 = 1 << 40;

/// One witness table: the true inner values of a series plus `delta / denominator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// The series.
    pub series: usize,
    /// The common denominator of the changes (at least 1).
    pub denominator: i64,
    /// (inner cell, numerator of its change), sorted by inner cell.
    pub delta: Vec<(u32, i64)>,
}

impl Witness {
    /// This witness, over cells that are each a sum of finer cells (`members[i]`: the finer
    /// cells of cell `i`, with `values` the finer cells' true counts), as a witness over the
    /// finer cells: a rise goes to a cell's first member, a fall is taken from its members in
    /// turn, so no finer cell goes below zero and every sum of whole cells is unchanged.
    ///
    /// ```
    /// use spiegel_disclosure::Witness;
    /// // Cell 0 = finer cells {0, 1} (true counts 2 and 3), taken down by 4.
    /// let w = Witness { series: 0, denominator: 1, delta: vec![(0, -4)] };
    /// let finer = w.spread(&[vec![0, 1]], &[2, 3]);
    /// assert_eq!(finer.delta, vec![(0, -2), (1, -2)]);
    /// ```
    pub fn spread(&self, members: &[Vec<u32>], values: &[i64]) -> Witness {
        self.spread_by(members, values, |_| 0, |_| None)
            .expect("without upper bounds a rise always fits")
    }

    /// [`Witness::spread`] keeping every finer cell within bounds (`lower[i] <= value <=
    /// upper[i]`): a rise fills the members in turn up to their upper bounds, a fall takes
    /// from them in turn down to their lower bounds. `None` when a change does not fit (the
    /// cell's own change went beyond the sum of its members' bounds).
    ///
    /// ```
    /// use spiegel_disclosure::Witness;
    /// // Cell 0 = finer cells {0, 1} (2 and 3, at most 4 and 10), raised by 5.
    /// let w = Witness { series: 0, denominator: 1, delta: vec![(0, 5)] };
    /// let finer = w.spread_within(&[vec![0, 1]], &[2, 3], &[0, 0], &[Some(4), Some(10)]);
    /// assert_eq!(finer.map(|f| f.delta), Some(vec![(0, 2), (1, 3)]));
    /// ```
    pub fn spread_within(
        &self,
        members: &[Vec<u32>],
        values: &[i64],
        lower: &[i64],
        upper: &[Option<i64>],
    ) -> Option<Witness> {
        self.spread_by(members, values, |i| lower[i], |i| upper[i])
    }

    /// The spreading itself, with the bounds of finer cell `i` as `lower(i)` and `upper(i)`.
    fn spread_by(
        &self,
        members: &[Vec<u32>],
        values: &[i64],
        lower: impl Fn(usize) -> i64,
        upper: impl Fn(usize) -> Option<i64>,
    ) -> Option<Witness> {
        let d = self.denominator as i128;
        let mut delta = Vec::new();
        for &(cell, change) in &self.delta {
            let members = members.get(cell as usize)?;
            let mut left = (change as i128).abs();
            for &i in members {
                let i_ = i as usize;
                let room = if change > 0 {
                    upper(i_).map_or(i128::MAX, |u| (u - values[i_]) as i128 * d)
                } else {
                    (values[i_] - lower(i_)) as i128 * d
                };
                let take = room.min(left);
                if take > 0 {
                    let x = i64::try_from(take).ok()?;
                    delta.push((i, if change > 0 { x } else { -x }));
                    left -= take;
                }
                if left == 0 {
                    break;
                }
            }
            if left != 0 {
                return None;
            }
        }
        delta.sort_unstable();
        Some(Witness {
            series: self.series,
            denominator: self.denominator,
            delta,
        })
    }
}

impl Protection {
    /// The number of hidden cells (primary and secondary).
    pub fn hidden(&self) -> usize {
        self.statuses.iter().filter(|s| s.is_hidden()).count()
    }
}

/// Primary suppression alone: the status every cell would get from the threshold rule, with
/// no secondary suppression (unsafe as soon as totals are published; see [`audit`]).
pub fn primary_only(
    system: &LinearSystem,
    series: &[&[i64]],
    policy: &Policy,
) -> Result<Vec<Status>> {
    system.validate_series(series)?;
    policy.validate()?;
    let values: Vec<Vec<i64>> = series.iter().map(|s| system.cell_values(s)).collect();
    Ok((0..system.n_cells())
        .map(|c| {
            let counts: Vec<i64> = values.iter().map(|v| v[c]).collect();
            policy
                .primary(&counts)
                .map_or(Status::Published, Status::Primary)
        })
        .collect())
}

/// Primary and secondary suppression.
///
/// `series`: the inner-cell counts, one slice per series (numerator, denominator, ...).
/// `forced`: cells that must be published (an error names the primary cell this would give
/// away). `previously_published`: cells an earlier release already published with these same
/// values; they are public knowledge, re-published, and never count as protection.
///
/// The result is deterministic: it depends on the cells' sizes, values and indices only.
///
/// ```
/// use spiegel_disclosure::{Fixed, LinearSystem, Policy, Status, protect};
/// // Two regions and the nation; region 0 has 3 deaths.
/// let system = LinearSystem::new(2, vec![vec![0], vec![1], vec![0, 1]])?;
/// let policy = Policy::default();
/// let forced = Fixed { forced: vec![2], ..Fixed::default() }; // always publish the nation
/// let p = protect(&system, &[&[3, 40]], &forced, &policy)?;
/// assert_eq!(p.statuses[1], Status::Secondary);
/// assert_eq!(p.statuses[2], Status::Forced);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn protect(
    system: &LinearSystem,
    series: &[&[i64]],
    fixed: &Fixed,
    policy: &Policy,
) -> Result<Protection> {
    system.validate_series(series)?;
    policy.validate()?;
    let n = system.n_cells();
    let (forced, previous, also_hidden, extra_primary) = fixed.flags(n)?;
    let widths = width_map(&fixed.widths, n, series.len())?;
    let bounds = InnerBounds::new(&fixed.bounds, series, system.n_inner)?;
    let values: Vec<Vec<i64>> = series.iter().map(|s| system.cell_values(s)).collect();
    let counts = |c: usize| values.iter().map(|v| v[c]).collect::<Vec<_>>();
    let dominated = |c: usize| {
        (0..series.len())
            .find(|&s| widths.contains_key(&(c, s)))
            .map(|series| PrimaryReason::Dominance { series })
    };
    let reasons: Vec<Option<PrimaryReason>> = (0..n)
        .map(|c| {
            extra_primary[c]
                .or_else(|| policy.primary(&counts(c)))
                .or_else(|| dominated(c))
        })
        .collect();
    for c in 0..n {
        if also_hidden[c] && (forced[c] || previous[c]) {
            return Err(Error::ConflictingFlags { cell: c });
        }
    }
    let public_fixed: Vec<bool> = (0..n).map(|c| forced[c] || previous[c]).collect();
    for c in 0..n {
        if let (true, Some(r)) = (public_fixed[c], reasons[c]) {
            let series = match r {
                PrimaryReason::BelowThreshold { series }
                | PrimaryReason::Zero { series }
                | PrimaryReason::Dominance { series } => series,
                PrimaryReason::Manual => 0,
            };
            return Err(Error::ForcedPrimary {
                cell: c,
                series,
                reason: r,
            });
        }
    }
    let mut hidden = vec![false; n];
    let mut rounds = 0;
    let mut solver_failures = Vec::new();
    let mut intervals = Vec::new();
    let mut witnesses = Vec::new();
    for comp in component::split(system.n_inner, &system.rows, |c| system.key(c)) {
        let input = ComponentInput {
            comp: &comp,
            system,
            series,
            values: &values,
            reasons: &reasons,
            public_fixed: &public_fixed,
            also_hidden: &also_hidden,
            widths: &widths,
            bounds: &bounds,
            policy,
        };
        let out = input.protect()?;
        rounds = rounds.max(out.rounds);
        solver_failures.extend(out.solver_failures);
        for (l, &c) in comp.cells.iter().enumerate() {
            hidden[c] = out.hidden[l];
        }
        intervals.extend(out.records);
        witnesses.extend(out.witnesses);
    }
    intervals.sort_by_key(|r| (r.cell, r.series));
    let statuses = (0..n)
        .map(|c| match (reasons[c], hidden[c], forced[c]) {
            (Some(r), _, _) => Status::Primary(r),
            (None, true, _) => Status::Secondary,
            (None, false, true) => Status::Forced,
            (None, false, false) => Status::Published,
        })
        .collect();
    solver_failures.sort_unstable();
    solver_failures.dedup();
    Ok(Protection {
        statuses,
        rounds,
        solver_failures,
        intervals,
        certificate: Certificate { witnesses },
    })
}

/// The protection of one component: the inputs.
struct ComponentInput<'a> {
    comp: &'a component::Component,
    system: &'a LinearSystem,
    series: &'a [&'a [i64]],
    values: &'a [Vec<i64>],
    reasons: &'a [Option<PrimaryReason>],
    public_fixed: &'a [bool],
    also_hidden: &'a [bool],
    widths: &'a HashMap<(usize, usize), i64>,
    bounds: &'a InnerBounds,
    policy: &'a Policy,
}

/// The protection of one component: the outputs (hidden flags by local cell).
struct ComponentOutput {
    hidden: Vec<bool>,
    rounds: usize,
    solver_failures: Vec<(usize, usize)>,
    records: Vec<AuditRecord>,
    witnesses: Vec<Witness>,
}

impl ComponentInput<'_> {
    fn protect(&self) -> Result<ComponentOutput> {
        let comp = self.comp;
        let policy = self.policy;
        let m = comp.cells.len();
        let n_atoms = comp.atom_inner.len();
        let rows = &comp.rows;
        let atoms: Vec<Vec<i64>> = self.series.iter().map(|s| comp.atom_values(s)).collect();
        // Each atom's bounds: the sums of its inner cells' (any value between them splits
        // over the inner cells within theirs).
        let atom_lower: Vec<Vec<i64>> = self
            .bounds
            .lower
            .iter()
            .map(|l| comp.atom_values(l))
            .collect();
        let atom_upper: Vec<Vec<Option<i64>>> = self
            .bounds
            .upper
            .iter()
            .map(|u| {
                comp.atom_inner
                    .iter()
                    .map(|a| a.iter().map(|&i| u[i as usize]).sum::<Option<i64>>())
                    .collect()
            })
            .collect();
        let global = |l: usize| comp.cells[l];
        let reasons: Vec<Option<PrimaryReason>> = (0..m).map(|l| self.reasons[global(l)]).collect();
        let public_fixed: Vec<bool> = (0..m).map(|l| self.public_fixed[global(l)]).collect();
        let protected: Vec<usize> = (0..m).filter(|&l| reasons[l].is_some()).collect();
        let order = {
            let mut order: Vec<usize> = (0..m)
                .filter(|&l| reasons[l].is_none() && !public_fixed[l])
                .collect();
            order.sort_by_key(|&l| {
                let c = global(l);
                let min = self.values.iter().map(|v| v[c]).min().unwrap_or(0);
                let all_zero = self.values.iter().all(|v| v[c] == 0);
                (
                    !all_zero,
                    std::cmp::Reverse(rows[l].len()),
                    min,
                    self.system.key(c),
                )
            });
            order
        };
        let rank: Vec<usize> = {
            let mut r = vec![usize::MAX; m];
            for (i, &l) in order.iter().enumerate() {
                r[l] = i;
            }
            r
        };
        let width = policy.required_width();
        // The range a cell must keep in a series: the policy's width, or its protection level.
        // The range a cell must keep in a series: the policy's width, or its protection level,
        // but never more than the bounds alone leave it (what is public before the release
        // cannot be protected by it: the release must then not narrow the cell at all).
        let width_of = |l: usize, s: usize| {
            let w = self
                .widths
                .get(&(global(l), s))
                .map_or(width, |&w| w.max(width));
            let prior: Option<i64> = rows[l]
                .iter()
                .map(|&a| atom_upper[s][a as usize].map(|u| u - atom_lower[s][a as usize]))
                .sum();
            prior.map_or(w, |p| w.min(p))
        };
        // What the public attacker's range must satisfy; a singleton's contributor's range
        // must only be `singleton_width` wide.
        let wide = |p: &attack::Proven, width: i64, reach: bool| {
            p.width().is_none_or(|w| w >= width)
                && (!reach || p.upper.is_none_or(|u| u + 1e-9 >= policy.threshold as f64))
        };
        let good = |t: usize, s: usize, p: &attack::Proven| {
            wide(p, width_of(t, s), policy.interval_contains_threshold)
        };
        let good_singleton = |p: &attack::Proven| wide(p, policy.singleton_width, false);
        let mut hidden_fixed: Vec<bool> = (0..m)
            .map(|l| reasons[l].is_some() || self.also_hidden[global(l)])
            .collect();
        let mut pools: Vec<Vec<attack::Witness>> = vec![Vec::new(); self.series.len()];
        // The cells whose changes each witness records: the protected cells, and those a
        // singleton's contributor may know: every cell with a count of 1 (not always a
        // protected one: with k = 1 it is hidden only to protect others) and the cells of
        // related counts (`within`).
        let local: HashMap<usize, usize> = (0..m).map(|l| (global(l), l)).collect();
        let mut recorded: Vec<bool> = (0..m).map(|l| reasons[l].is_some()).collect();
        // The singleton rule on: it decides what the witnesses record, how cells are proven
        // (near each cell first, no joint LPs) and which singleton groups are checked.
        let protects_singletons = policy.singleton_width > 0;
        if protects_singletons {
            for l in 0..m {
                if self.values.iter().any(|v| v[global(l)] == 1) {
                    recorded[l] = true;
                }
                if let Some(p) = self.system.within(global(l)) {
                    recorded[l] = true;
                    recorded[local[&p]] = true;
                }
            }
        }
        let mut solver_failures = Vec::new();
        let mut rounds = 0;
        loop {
            let (mut hidden, basis) =
                stage1::walk(rows, &protected, &hidden_fixed, &public_fixed, &order)
                    .map_err(|e| e.in_cells(&comp.cells))?;
            rounds += 1;
            let mut records = Vec::new();
            let mut pair_failures: Vec<(usize, usize)> = Vec::new();
            for (s, truth) in atoms.iter().enumerate() {
                let pool = std::mem::take(&mut pools[s]);
                let mut attacker = attack::Attacker::new(
                    rows,
                    n_atoms,
                    (truth, &atom_lower[s], &atom_upper[s]),
                    &hidden,
                    pool,
                    recorded.clone(),
                )
                .local_first(protects_singletons);
                attacker.want(protected.iter().map(|&t| (t, width_of(t, s))).collect());
                // Joint LPs first, again for the cells still unproven while that helps (not
                // with singletons to protect: see `JOINT_ROUNDS`).
                let mut last = usize::MAX;
                let joint_rounds = if protects_singletons { 0 } else { JOINT_ROUNDS };
                for _ in 0..joint_rounds {
                    let targets: Vec<usize> = protected
                        .iter()
                        .copied()
                        .filter(|&t| !good(t, s, &attacker.pooled(t)))
                        .collect();
                    if targets.len() < 2 || targets.len() >= last {
                        break;
                    }
                    last = targets.len();
                    attacker.prove_jointly(&targets, global(targets[0]), s)?;
                }
                // Then each cell: proven, or one more cell hidden and proven again. Hiding more
                // keeps stage 1's guarantee and every proof already made (fewer equations
                // only admit more tables), so one pass over the cells suffices.
                // Every series of a sensitive cell is protected: a small denominator with its
                // numerator recomputed (0, or all of them) discloses an attribute of everyone.
                // Proves a cell's range against the attacker as it stands (with the singleton
                // it assumes, if any), hiding more cells until the range is wide enough.
                let secure = |t: usize,
                              attacker: &mut attack::Attacker<'_>,
                              hidden: &mut Vec<bool>,
                              rounds: &mut usize,
                              singleton: bool|
                 -> Result<attack::Proven> {
                    let (width, reach) = if singleton {
                        (policy.singleton_width, false)
                    } else {
                        (width_of(t, s), policy.interval_contains_threshold)
                    };
                    let good = |p: &attack::Proven| wide(p, width, reach);
                    let mut widened = 0;
                    let mut last_width: Option<i64> = None;
                    loop {
                        let p = attacker.prove(t, width, good, global(t), s)?;
                        if good(&p) {
                            return Ok(p);
                        }
                        widened += 1;
                        if widened > policy.max_rounds {
                            return Err(Error::RoundsExhausted {
                                rounds: widened,
                                cell: global(t),
                                series: s,
                            });
                        }
                        // The cheapest cells whose hiding lets the cell rise far enough
                        // (a witness comes with them); else one cell chosen by the rules below.
                        let value = |l: usize| -> i64 {
                            rows[l].iter().map(|&a| atoms[s][a as usize]).sum()
                        };
                        let mut rise = (p.lower - 1e-9).ceil() as i64 + width - value(t);
                        if reach {
                            rise = rise.max(policy.threshold - value(t));
                        }
                        let cost = |l: usize| -> Option<f64> {
                            if public_fixed[l] {
                                return None;
                            }
                            // Hiding any cell costs; a larger one a little more (it tells more).
                            Some(1.0 + (1.0 + value(l) as f64).ln())
                        };
                        if let Some((cells, w)) =
                            attacker.shield(t, rise.max(1), &cost, global(t), s)?
                        {
                            for q in cells {
                                hidden[q] = true;
                                attacker.hide(q);
                            }
                            attacker.add(w);
                            *rounds += 1;
                            continue;
                        }
                        let need = (width - p.width().unwrap_or(width)).max(1);
                        let key = |l: usize| self.system.key(global(l));
                        // When the last cell hidden did not widen the range, the binding
                        // relation lies elsewhere: hide the most local published cell that
                        // overlaps the cell (another region level's cell sharing its inner
                        // cells) instead.
                        let stalled = last_width.is_some() && last_width == p.width();
                        last_width = p.width();
                        let chosen = if stalled {
                            overlapping(rows, n_atoms, t, &atoms[s], hidden, &public_fixed, key)
                        } else {
                            None
                        }
                        .or_else(|| {
                            widen(
                                rows,
                                n_atoms,
                                t,
                                &atoms[s],
                                hidden,
                                &public_fixed,
                                &rank,
                                need,
                                key,
                            )
                        });
                        let Some(q) = chosen else {
                            return Err(Error::Unprotectable {
                                cell: global(t),
                                series: s,
                                lower: (p.lower - 1e-9).ceil() as i64,
                                upper: p.upper.map(|u| (u + 1e-9).floor() as i64),
                                required: width,
                            });
                        };
                        hidden[q] = true;
                        attacker.hide(q);
                        *rounds += 1;
                    }
                };
                // The singletons: hidden cells with a count of 1, whose contributor knows each
                // of their counts that is 0 or 1, and the cells within theirs. Hiding more
                // makes new ones (a count of 1 hidden to protect another cell, with k = 1) or
                // tells one more (a count of 0 hidden within theirs), so the list is kept up
                // to date: a group is added whenever it differs from every one listed, and
                // every cell is checked against every group listed before the release is done.
                let singletons_now = |hidden: &[bool]| -> Vec<Vec<usize>> {
                    if !protects_singletons {
                        return Vec::new();
                    }
                    singleton_groups(
                        m,
                        |l| self.system.within(global(l)).map(|p| local[&p]),
                        |l| hidden[l],
                        |s, l| self.values[s][global(l)],
                        self.values.len(),
                        s,
                    )
                };
                let mut singletons: Vec<Vec<usize>> = singletons_now(&hidden);
                let mut listed: HashSet<Vec<usize>> = singletons.iter().cloned().collect();
                let mut listed_at = rounds;
                // How many of the listed groups each cell has been checked against.
                let mut checked = vec![0usize; protected.len()];
                let mut first = true;
                loop {
                    for (i, &t) in protected.iter().enumerate() {
                        if first {
                            secure(t, &mut attacker, &mut hidden, &mut rounds, false)?;
                        }
                        if rounds != listed_at {
                            listed_at = rounds;
                            for g in singletons_now(&hidden) {
                                if listed.insert(g.clone()) {
                                    singletons.push(g);
                                }
                            }
                        }
                        let groups = &singletons[checked[i]..];
                        checked[i] = singletons.len();
                        if groups.is_empty() {
                            continue;
                        }
                        // Each singleton alone: what the cell's contributor knows must not
                        // narrow another hidden cell either. All of them at once first (one
                        // proof, when it holds, serves every one), then each one still failing
                        // alone.
                        let failing = attacker.failing_singletons(t, groups, good_singleton);
                        if failing.len() > 1 {
                            attacker.assume(&failing.concat());
                            let proved = attacker.prove(
                                t,
                                policy.singleton_width,
                                good_singleton,
                                global(t),
                                s,
                            );
                            attacker.assume(&[]);
                            proved?;
                        }
                        for group in attacker.failing_singletons(t, &failing, good_singleton) {
                            attacker.assume(&group);
                            let secured = secure(t, &mut attacker, &mut hidden, &mut rounds, true);
                            attacker.assume(&[]);
                            secured?;
                        }
                    }
                    first = false;
                    if checked.iter().all(|&c| c == singletons.len()) && rounds == listed_at {
                        break;
                    }
                }
                for &t in &protected {
                    let p = attacker.pooled(t);
                    records.push(AuditRecord {
                        cell: global(t),
                        sensitive: true,
                        series: s,
                        lower: (p.lower - 1e-9).ceil() as i64,
                        upper: p.upper.map(|u| (u + 1e-9).floor() as i64),
                        required_width: width_of(t, s),
                        derivable: false,
                        pass: true,
                        singleton: None,
                    });
                }
                // Sums of small cells: two hidden sensitive cells whose sum is small and can be
                // recomputed (only possible when the required width is below k).
                if width < policy.threshold {
                    let value = |l: usize| self.values[s][global(l)];
                    for (i, &a) in protected.iter().enumerate() {
                        for &b in &protected[i + 1..] {
                            let sum = value(a) + value(b);
                            if !(1..policy.threshold).contains(&sum)
                                || rows[a].iter().any(|x| rows[b].binary_search(x).is_ok())
                            {
                                continue;
                            }
                            let mut v: Vec<u32> = rows[a].iter().chain(&rows[b]).copied().collect();
                            v.sort_unstable();
                            if attacker.moves(&v) {
                                continue;
                            }
                            if basis.reduce(&stage1::row_vector(&v), global(a))?.is_empty() {
                                pair_failures.push((a, s));
                            }
                        }
                    }
                }
                solver_failures.extend(attacker.take_solver_failures());
                pools[s] = attacker.into_pool();
            }
            if pair_failures.is_empty() {
                let witnesses = pools
                    .iter()
                    .enumerate()
                    .flat_map(|(s, pool)| pool.iter().map(move |w| (s, w)))
                    .filter_map(|(s, w)| {
                        comp.inner_witness(
                            s,
                            w,
                            self.series[s],
                            &self.bounds.lower[s],
                            &self.bounds.upper[s],
                        )
                    })
                    .collect();
                return Ok(ComponentOutput {
                    hidden,
                    rounds,
                    solver_failures,
                    records,
                    witnesses,
                });
            }
            if rounds >= policy.max_rounds {
                let (cell, series) = pair_failures[0];
                return Err(Error::RoundsExhausted {
                    rounds,
                    cell: global(cell),
                    series,
                });
            }
            // A small derivable sum: hide one more cell next to the first cell of each pair
            // and start again from stage 1 (the basis of the published cells changes).
            for (cell, s) in pair_failures {
                let key = |l: usize| self.system.key(global(l));
                match widen(
                    rows,
                    n_atoms,
                    cell,
                    &atoms[s],
                    &hidden,
                    &public_fixed,
                    &rank,
                    1,
                    key,
                ) {
                    Some(q) => hidden[q] = true,
                    None => {
                        return Err(Error::Unprotectable {
                            cell: global(cell),
                            series: s,
                            lower: 0,
                            upper: None,
                            required: width,
                        });
                    }
                }
            }
            for (fixed, &h) in hidden_fixed.iter_mut().zip(&hidden) {
                *fixed |= h;
            }
        }
    }
}

/// How many rounds of joint LPs (every cell still unproven pushed up, then down, at once)
/// come before the cells are proven one by one. Each round's two LPs are the largest of a
/// system (1 to 2 s each in a family's joint system at scale 1) and the later rounds prove
/// fewer cells: measured on the 15 SF 1 families protected one after another, four rounds
/// took 103 s of CPU, two 75 s, one 77 s, none 74 s, with the same hidden cells; the hardest
/// family 24.9 s with four, 21.1 s with two, 27.5 s with one, 29.3 s with none. Two keep that
/// critical path shortest at nearly the least CPU (the families step runs on every core).
///
/// With singletons to protect there are none: their proofs come from tables near each cell,
/// and a table that moves every unproven cell at once proves little for them. Measured on
/// the 22 SF 1 indicator systems (singleton rule at width 1) one after another: 32.5 s of
/// CPU with four rounds, 29.6 s with two, 24.8 s with one, 24.7 s with none, the same hidden
/// cells.
const JOINT_ROUNDS: usize = 2;

/// Protection and audit together: the output of [`protect`] if [`audit_with`] passes it with
/// its certificate, an
/// [`Error::AuditFailed`] otherwise (fail closed).
///
/// ```
/// use spiegel_disclosure::{Fixed, LinearSystem, Policy, release};
/// let system = LinearSystem::new(2, vec![vec![0], vec![1], vec![0, 1]])?;
/// let p = release(&system, &[&[3, 40]], &Fixed::default(), &Policy::default())?;
/// assert_eq!(p.hidden(), 2); // region 0 (primary) and region 1 (secondary)
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn release(
    system: &LinearSystem,
    series: &[&[i64]],
    fixed: &Fixed,
    policy: &Policy,
) -> Result<Protection> {
    let p = protect(system, series, fixed, policy)?;
    let a = audit_fixed(system, series, &p.statuses, fixed, policy, &p.certificate)?;
    if let Some(first) = a.first_failure() {
        return Err(Error::AuditFailed {
            failures: a.failures(),
            first,
        });
    }
    Ok(p)
}

/// A free published cell that shares inner cells with `cell` without containing it: the
/// smallest, then the one with the most of its count outside `cell`, then the lowest key.
fn overlapping(
    rows: &[Vec<u32>],
    n_atoms: usize,
    cell: usize,
    values: &[i64],
    hidden: &[bool],
    public_fixed: &[bool],
    key: impl Fn(usize) -> u64,
) -> Option<usize> {
    let mut in_cell = vec![false; n_atoms];
    for &i in &rows[cell] {
        in_cell[i as usize] = true;
    }
    (0..rows.len())
        .filter(|&c| !hidden[c] && !public_fixed[c])
        .filter_map(|c| {
            let shared = rows[c].iter().filter(|&&i| in_cell[i as usize]).count();
            let contains = shared == rows[cell].len();
            (shared > 0 && !contains).then(|| {
                let outside: i64 = rows[c]
                    .iter()
                    .filter(|&&i| !in_cell[i as usize])
                    .map(|&i| values[i as usize])
                    .sum();
                (rows[c].len(), std::cmp::Reverse(outside), key(c), c)
            })
        })
        .min()
        .map(|(_, _, _, c)| c)
}

/// The cell to hide next for a cell whose interval is `need` too narrow in a series: within
/// the smallest published cell containing it, a published cell disjoint from it with a
/// positive count (the smallest one that covers `need`, else the largest); else that
/// containing cell itself; else any published cell overlapping it, lowest priority first.
#[allow(clippy::too_many_arguments)]
fn widen(
    rows: &[Vec<u32>],
    n_atoms: usize,
    cell: usize,
    values: &[i64],
    hidden: &[bool],
    public_fixed: &[bool],
    rank: &[usize],
    need: i64,
    key: impl Fn(usize) -> u64,
) -> Option<usize> {
    let mut in_cell = vec![false; n_atoms];
    for &i in &rows[cell] {
        in_cell[i as usize] = true;
    }
    let value = |c: usize| -> i64 { rows[c].iter().map(|&i| values[i as usize]).sum() };
    let free = |c: usize| !hidden[c] && !public_fixed[c];
    let row_len = rows[cell].len();
    let parent = (0..rows.len())
        .filter(|&c| !hidden[c] && rows[c].len() > row_len)
        .filter(|&c| rows[c].iter().filter(|&&i| in_cell[i as usize]).count() == row_len)
        .min_by_key(|&c| (rows[c].len(), key(c)));
    if let Some(parent) = parent {
        let mut in_parent = vec![false; n_atoms];
        for &i in &rows[parent] {
            in_parent[i as usize] = true;
        }
        let mut inside: Vec<(i64, usize)> = (0..rows.len())
            .filter(|&c| free(c))
            .filter(|&c| {
                rows[c]
                    .iter()
                    .all(|&i| in_parent[i as usize] && !in_cell[i as usize])
            })
            .map(|c| (value(c), c))
            .filter(|&(v, _)| v > 0)
            .collect();
        inside.sort_by_key(|&(v, c)| (v, std::cmp::Reverse(rank[c])));
        if let Some(&(_, c)) = inside.iter().find(|&&(v, _)| v >= need).or(inside.last()) {
            return Some(c);
        }
        if free(parent) {
            return Some(parent);
        }
    }
    (0..rows.len())
        .filter(|&c| free(c))
        .filter(|&c| rows[c].iter().any(|&i| in_cell[i as usize]))
        .max_by_key(|&c| rank[c])
}
