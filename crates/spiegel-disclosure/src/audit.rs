//! Stage 3: the independent verifier. It shares no code with stages 1 and 2: it takes the
//! statuses and the values only, rebuilds the published system, and checks every sensitive
//! cell with its own exact elimination (row echelon form over `i128`, not fully reduced) and
//! its own attacker LPs.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use microlp::{ComparisonOp, OptimizationDirection, Problem};

use crate::error::{Error, Result};
use crate::{Certificate, LinearSystem, Policy, Status, Witness};

/// The attacker's view of one hidden cell in one series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The published cell.
    pub cell: usize,
    /// Whether the cell is sensitive under the policy (a primary cell); the others (secondary
    /// cells) carry their interval for information, with a requirement of 0.
    pub sensitive: bool,
    /// The series.
    pub series: usize,
    /// The attacker's lower bound (an integer: counts are integers).
    pub lower: i64,
    /// The attacker's upper bound (`None`: unbounded).
    pub upper: Option<i64>,
    /// The width required (0 for a cell that is not sensitive).
    pub required_width: i64,
    /// Whether the cell is a linear combination of published cells (or published itself).
    pub derivable: bool,
    /// Whether the cell passes: not derivable and its interval at least `required_width` wide.
    pub pass: bool,
    /// The attacker: `None` for anyone who knows what is published; `Some(cell)` for the one
    /// contributor of a hidden singleton `cell`, who also knows its counts and those of the
    /// cells within it ([`crate::LinearSystem::with_within`]; singleton rule). A
    /// cell gets one record for the public, and one more for each singleton it fails against.
    pub singleton: Option<usize>,
}

/// Two hidden sensitive cells whose sum can be recomputed exactly and is itself small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairRecord {
    /// The first cell.
    pub a: usize,
    /// The second cell.
    pub b: usize,
    /// The series whose sum is small.
    pub series: usize,
}

/// The outcome of [`audit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// One record per hidden cell and series (sensitive cells first, by cell).
    pub records: Vec<AuditRecord>,
    /// Sensitive cells that are published.
    pub exposed: Vec<usize>,
    /// Pairs of hidden sensitive cells with a small derivable sum.
    pub small_sums: Vec<PairRecord>,
    /// Witnesses of the certificate that failed the exact check (ignored; the LPs decide).
    pub invalid_witnesses: usize,
}

impl Audit {
    /// Whether everything passes.
    pub fn passed(&self) -> bool {
        self.failures() == 0
    }

    /// The number of failing checks.
    pub fn failures(&self) -> usize {
        self.records.iter().filter(|r| !r.pass).count() + self.exposed.len() + self.small_sums.len()
    }

    /// A description of the first failure.
    pub fn first_failure(&self) -> Option<String> {
        if let Some(c) = self.exposed.first() {
            return Some(format!("sensitive cell {c} is published"));
        }
        if let Some(r) = self.records.iter().find(|r| !r.pass) {
            let attacker = r.singleton.map_or(String::new(), |q| {
                format!(" for the contributor of singleton cell {q}")
            });
            return Some(if r.derivable {
                format!("cell {} can be recomputed exactly", r.cell)
            } else {
                format!(
                    "cell {} series {}: attacker interval [{}, {}]{attacker} narrower than {}",
                    r.cell,
                    r.series,
                    r.lower,
                    r.upper.map_or("inf".into(), |u| u.to_string()),
                    r.required_width
                )
            });
        }
        self.small_sums.first().map(|p| {
            format!(
                "cells {} and {}: their small sum (series {}) can be recomputed",
                p.a, p.b, p.series
            )
        })
    }
}

/// Verifies a release from its statuses and counts alone, computing every attacker interval
/// with its own LPs (exact, but one LP pair per hidden cell over its whole block: use
/// [`audit_with`] and the certificate of [`crate::protect`] for large systems).
///
/// Every cell that the policy finds sensitive (and every cell with status `Primary`) must be
/// hidden, must not be a linear combination of the published (`Published`, `Forced`) cells,
/// and must have, in each sensitive series, an attacker interval at least
/// [`Policy::required_width`] wide (reaching k if [`Policy::interval_contains_threshold`]),
/// and at least [`Policy::singleton_width`] wide for the contributor of each other hidden cell
/// with a count of 1 (sharing no inner cell with it), who knows that cell's counts; two
/// disjoint hidden sensitive cells must not have a derivable sum in `1..k-1`.
///
/// ```
/// use spiegel_disclosure::{LinearSystem, Policy, Status, audit, primary_only};
/// // Nation = region 0 + region 1; region 0 has 3: hiding it alone gives it away.
/// let system = LinearSystem::new(2, vec![vec![0], vec![1], vec![0, 1]])?;
/// let counts: &[i64] = &[3, 40];
/// let naive = primary_only(&system, &[counts], &Policy::default())?;
/// let a = audit(&system, &[counts], &naive, &Policy::default())?;
/// assert!(!a.passed());
/// assert!(a.records[0].derivable);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn audit(
    system: &LinearSystem,
    series: &[&[i64]],
    statuses: &[Status],
    policy: &Policy,
) -> Result<Audit> {
    audit_with(system, series, statuses, policy, &Certificate::default())
}

/// [`audit`] that first checks the witness tables of a certificate: each is verified exactly
/// (non-negative, every published value reproduced, integer arithmetic), and the range of a
/// hidden cell over the valid witnesses is a proven part of its attacker interval. Only a
/// sensitive cell the certificate does not prove wide enough gets the exact LPs.
///
/// ```
/// use spiegel_disclosure::{Fixed, LinearSystem, Policy, audit_with, protect};
/// let system = LinearSystem::new(3, vec![vec![0], vec![1], vec![2], vec![0, 1, 2]])?;
/// let counts: &[i64] = &[4, 30, 25];
/// let p = protect(&system, &[counts], &Fixed::default(), &Policy::default())?;
/// let a = audit_with(&system, &[counts], &p.statuses, &Policy::default(), &p.certificate)?;
/// assert!(a.passed());
/// assert_eq!(a.invalid_witnesses, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn audit_with(
    system: &LinearSystem,
    series: &[&[i64]],
    statuses: &[Status],
    policy: &Policy,
    certificate: &Certificate,
) -> Result<Audit> {
    audit_fixed(
        system,
        series,
        statuses,
        &crate::Fixed::default(),
        policy,
        certificate,
    )
}

/// [`audit_with`] for what the caller told [`crate::protect`] beyond the policy: each cell of
/// [`crate::Fixed::widths`] (a magnitude cell) is sensitive and must keep a range at least its
/// protection level wide in its series (and at least the policy's width), and the attacker
/// knows [`crate::Fixed::bounds`]: every witness must keep each inner cell within them, and
/// the audit's own LPs use them. (The other fields of `fixed` are not read.)
///
/// ```
/// use spiegel_disclosure::{CellWidth, Fixed, LinearSystem, Policy, audit_fixed, protect};
/// // Two hospitals' consultations and their sum; hospital 0 dominates the sum (protection
/// // level 25 in series 0).
/// let system = LinearSystem::new(3, vec![vec![0], vec![1], vec![2], vec![0, 1, 2]])?;
/// let consults: &[i64] = &[400, 30, 25];
/// let widths = vec![CellWidth { cell: 3, series: 0, width: 25 }];
/// let fixed = Fixed { widths, ..Fixed::default() };
/// let p = protect(&system, &[consults], &fixed, &Policy::default())?;
/// let a = audit_fixed(&system, &[consults], &p.statuses, &fixed, &Policy::default(), &p.certificate)?;
/// assert!(a.passed());
/// assert_eq!(a.records.iter().find(|r| r.cell == 3).map(|r| r.required_width), Some(25));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn audit_fixed(
    system: &LinearSystem,
    series: &[&[i64]],
    statuses: &[Status],
    fixed: &crate::Fixed,
    policy: &Policy,
    certificate: &Certificate,
) -> Result<Audit> {
    system.validate_series(series)?;
    system.check_cells("statuses", statuses)?;
    policy.validate()?;
    let n = system.n_cells();
    let k = policy.threshold;
    let width = policy.required_width();
    let levels = crate::width_map(&fixed.widths, n, series.len())?;
    let known = crate::InnerBounds::new(&fixed.bounds, series, system.n_inner())?;
    let rows: Vec<&[u32]> = (0..n).map(|c| system.cell(c)).collect();
    // The policy's width or the cell's protection level, capped by the room its bounds alone
    // leave it (the release must then not narrow it at all).
    let width_of = |c: usize, s: usize| {
        let w = levels.get(&(c, s)).map_or(width, |&w| w.max(width));
        let prior: Option<i64> = rows[c]
            .iter()
            .map(|&i| known.upper[s][i as usize].map(|u| u - known.lower[s][i as usize]))
            .sum();
        prior.map_or(w, |p| w.min(p))
    };
    let cell_value =
        |s: usize, c: usize| -> i64 { rows[c].iter().map(|&i| series[s][i as usize]).sum() };
    let values: Vec<Vec<i64>> = (0..series.len())
        .map(|s| (0..n).map(|c| cell_value(s, c)).collect())
        .collect();
    let hidden: Vec<bool> = statuses.iter().map(|s| s.is_hidden()).collect();
    // Sensitive cells; each is protected in every series (a small denominator with a
    // recomputed numerator discloses an attribute of everyone in the cell).
    let is_sensitive: Vec<bool> = (0..n)
        .map(|c| {
            matches!(statuses[c], Status::Primary(_))
                || (0..series.len()).any(|s| levels.contains_key(&(c, s)))
                || (0..series.len()).any(|s| {
                    let v = values[s][c];
                    (1..k).contains(&v) || (v == 0 && policy.protect_zeros)
                })
        })
        .collect();
    let exposed: Vec<usize> = (0..n).filter(|&c| is_sensitive[c] && !hidden[c]).collect();
    let mut published_of: Vec<Vec<u32>> = vec![Vec::new(); system.n_inner()];
    let mut hidden_of: Vec<Vec<u32>> = vec![Vec::new(); system.n_inner()];
    for c in 0..n {
        for &i in rows[c] {
            if hidden[c] {
                hidden_of[i as usize].push(c as u32);
            } else {
                published_of[i as usize].push(c as u32);
            }
        }
    }
    // Singletons: hidden cells with a count of 1; their contributor knows each of their counts
    // that is 0 or 1, and those of the cells within theirs.
    let singletons: Vec<Vec<Vec<usize>>> = (0..series.len())
        .map(|s| {
            if policy.singleton_width == 0 {
                return Vec::new();
            }
            crate::singleton_groups(
                n,
                |c| system.within(c),
                |c| hidden[c],
                |s, c| values[s][c],
                series.len(),
                s,
            )
        })
        .collect();

    // The witnesses: checked exactly, then the range of every hidden cell over them.
    // bounds[s][c] = (min, max) as (numerator, denominator) pairs.
    type Ratio = (i128, i128);
    let less = |a: Ratio, b: Ratio| a.0 * b.1 < b.0 * a.1;
    let mut bounds: Vec<HashMap<usize, (Ratio, Ratio)>> = vec![HashMap::new(); series.len()];
    let mut invalid_witnesses = 0;
    let mut moved_pairs: Vec<Vec<(i128, HashMap<u32, i128>)>> = vec![Vec::new(); series.len()];
    for w in &certificate.witnesses {
        let Some(changes) = check_witness(w, series, &known, &published_of, &hidden_of) else {
            invalid_witnesses += 1;
            continue;
        };
        let s = w.series;
        let d = w.denominator as i128;
        for (&c, &x) in &changes {
            if x == 0 {
                continue;
            }
            let v = (values[s][c as usize] as i128 * d + x, d);
            let truth = (values[s][c as usize] as i128, 1);
            let e = bounds[s].entry(c as usize).or_insert((truth, truth));
            if less(v, e.0) {
                e.0 = v;
            }
            if less(e.1, v) {
                e.1 = v;
            }
        }
        moved_pairs[s].push((d, changes));
    }
    // For the singleton rule: each hidden cell's witnessed values, highest rise and lowest fall
    // first, with the witness (index into moved_pairs).
    type Witnessed = (Vec<(Ratio, usize)>, Vec<(Ratio, usize)>);
    let mut witnessed: Vec<HashMap<usize, Witnessed>> = vec![HashMap::new(); series.len()];
    for s in 0..series.len() {
        if singletons[s].is_empty() {
            continue;
        }
        for (i, (d, changes)) in moved_pairs[s].iter().enumerate() {
            for (&c, &x) in changes {
                let v = (values[s][c as usize] as i128 * d + x, *d);
                let e = witnessed[s].entry(c as usize).or_default();
                if x > 0 {
                    e.0.push((v, i));
                } else if x < 0 {
                    e.1.push((v, i));
                }
            }
        }
        // Ratios compared exactly, ties by witness.
        let order = |x: Ratio, y: Ratio| (x.0 * y.1).cmp(&(y.0 * x.1));
        for (rises, falls) in witnessed[s].values_mut() {
            rises.sort_by(|a, b| order(b.0, a.0).then(a.1.cmp(&b.1)));
            falls.sort_by(|a, b| order(a.0, b.0).then(a.1.cmp(&b.1)));
        }
    }

    let mut echelon: Option<Echelon> = None;
    let published: Vec<usize> = (0..n).filter(|&c| !hidden[c]).collect();
    let mut in_span = |inner: &[u32], cell: usize| -> Result<bool> {
        if echelon.is_none() {
            let mut e = Echelon::default();
            for &c in &published {
                e.insert(rows[c], c)?;
            }
            echelon = Some(e);
        }
        echelon.as_ref().expect("built above").in_span(inner, cell)
    };
    let floor = |r: Ratio| r.0.div_euclid(r.1) as i64;
    let ceil = |r: Ratio| -((-r.0).div_euclid(r.1)) as i64;

    let mut records = Vec::new();
    // Cells changed by the witness in hand (the singletons below), cleared after each use.
    let mut touched = vec![false; n];
    let (mut first, mut rest): (Vec<usize>, Vec<usize>) = (0..n)
        .filter(|&c| hidden[c])
        .partition(|&c| is_sensitive[c]);
    first.append(&mut rest);
    for c in first {
        for s in 0..series.len() {
            let required = if is_sensitive[c] { width_of(c, s) } else { 0 };
            let truth = (values[s][c] as i128, 1);
            let (lo, hi) = bounds[s].get(&c).copied().unwrap_or((truth, truth));
            // Unbounded above: an inner cell that no equation and no bound of the attacker
            // holds.
            let free = rows[c].iter().any(|&i| {
                published_of[i as usize].is_empty() && known.upper[s][i as usize].is_none()
            });
            let (mut lower, mut upper) = (ceil(lo), (!free).then(|| floor(hi)));
            let ok = |lower: i64, upper: Option<i64>| {
                upper.is_none_or(|u| {
                    u - lower >= required
                        && (!policy.interval_contains_threshold || required == 0 || u >= k)
                })
            };
            let mut derivable = false;
            // Without a certificate every hidden cell gets its exact interval; with one, only
            // the sensitive cells it does not prove.
            let exact = certificate.witnesses.is_empty() || (required > 0 && !ok(lower, upper));
            if exact {
                // Not proven by the certificate: the exact LPs and the rank test.
                let equations: Vec<usize> = (0..n).filter(|&q| !hidden[q]).collect();
                let attacker = Attacker::new(system.n_inner(), &rows, &equations);
                (lower, upper) = attacker.interval(rows[c], series[s], &known, c, s)?;
                derivable = required > 0 && in_span(rows[c], c)?;
            }
            records.push(AuditRecord {
                cell: c,
                sensitive: required > 0,
                series: s,
                lower,
                upper,
                required_width: required,
                derivable,
                pass: required == 0 || (ok(lower, upper) && !derivable),
                singleton: None,
            });
            if required == 0 || !ok(lower, upper) || derivable {
                continue;
            }
            // Each singleton's contributor: the witnesses that leave their cell unchanged, else
            // exact LPs with that cell as one more equation.
            let (no_rises, no_falls) = (Vec::new(), Vec::new());
            let (rises, falls) = witnessed[s]
                .get(&c)
                .map_or((&no_rises, &no_falls), |(r, f)| (r, f));
            // Only cells that share no inner cell with the singleton's: a singleton's own cell
            // overlapping this one tells its contributor about themselves (and zeros).
            let eligible: Vec<&Vec<usize>> = singletons[s]
                .iter()
                .filter(|group| {
                    !group.iter().any(|&q| {
                        q == c || rows[q].iter().any(|i| rows[c].binary_search(i).is_ok())
                    })
                })
                .collect();
            // Per group, the first witness (best first) that leaves each of its cells
            // unchanged: the witnesses taken in turn, each group settled by the first that
            // does, its changed cells marked in `touched` (written apart from the protection's
            // own search, like the rest of this module).
            let mut first_keeping = |list: &[(Ratio, usize)]| -> Vec<Ratio> {
                let mut found = vec![truth; eligible.len()];
                let mut open: Vec<usize> = (0..eligible.len()).collect();
                for &(value, i) in list {
                    if open.is_empty() {
                        break;
                    }
                    let changes = &moved_pairs[s][i].1;
                    for (&q, &x) in changes {
                        touched[q as usize] = x != 0;
                    }
                    open.retain(|&j| {
                        let keeps = eligible[j].iter().all(|&q| !touched[q]);
                        if keeps {
                            found[j] = value;
                        }
                        !keeps
                    });
                    for &q in changes.keys() {
                        touched[q as usize] = false;
                    }
                }
                found
            };
            let his = first_keeping(rises);
            let los = first_keeping(falls);
            for ((group, hi), lo) in eligible.into_iter().zip(his).zip(los) {
                // Disjoint from the group: the cell's free inner cells stay free.
                let free = rows[c].iter().any(|&i| {
                    published_of[i as usize].is_empty() && known.upper[s][i as usize].is_none()
                });
                let ok = |lower: i64, upper: Option<i64>| {
                    upper.is_none_or(|u| u - lower >= policy.singleton_width)
                };
                let (mut lower, mut upper) = (ceil(lo), (!free).then(|| floor(hi)));
                if ok(lower, upper) {
                    continue;
                }
                let mut equations: Vec<usize> = (0..n).filter(|&e| !hidden[e]).collect();
                equations.extend(group);
                let attacker = Attacker::new(system.n_inner(), &rows, &equations);
                (lower, upper) = attacker.interval(rows[c], series[s], &known, c, s)?;
                if !ok(lower, upper) {
                    records.push(AuditRecord {
                        cell: c,
                        sensitive: true,
                        series: s,
                        lower,
                        upper,
                        required_width: policy.singleton_width,
                        derivable: false,
                        pass: false,
                        singleton: Some(group[0]),
                    });
                }
            }
        }
    }

    let hidden_sensitive: Vec<usize> = (0..n).filter(|&c| is_sensitive[c] && hidden[c]).collect();
    // Two cells whose intervals are both at least k wide cannot have a small derivable sum
    // (each would lie in [0, sum]): the pairs need checking only otherwise.
    let wide: HashSet<usize> = if width >= k {
        let failing: HashSet<usize> = records.iter().filter(|r| !r.pass).map(|r| r.cell).collect();
        hidden_sensitive
            .iter()
            .copied()
            .filter(|c| !failing.contains(c))
            .collect()
    } else {
        HashSet::new()
    };
    let mut small_sums = Vec::new();
    {
        for (i, &a) in hidden_sensitive.iter().enumerate() {
            let sa: HashSet<u32> = rows[a].iter().copied().collect();
            for &b in &hidden_sensitive[i + 1..] {
                let Some(s) =
                    (0..series.len()).find(|&s| (1..k).contains(&(values[s][a] + values[s][b])))
                else {
                    continue;
                };
                if (wide.contains(&a) && wide.contains(&b))
                    || rows[b].iter().any(|i| sa.contains(i))
                {
                    continue;
                }
                let moved = moved_pairs[s].iter().any(|(_, ch)| {
                    ch.get(&(a as u32)).copied().unwrap_or(0)
                        + ch.get(&(b as u32)).copied().unwrap_or(0)
                        != 0
                });
                if moved {
                    continue;
                }
                let union: Vec<u32> = rows[a].iter().chain(rows[b].iter()).copied().collect();
                if in_span(&union, a)? {
                    small_sums.push(PairRecord { a, b, series: s });
                }
            }
        }
    }
    Ok(Audit {
        records,
        exposed,
        small_sums,
        invalid_witnesses,
    })
}

/// Checks one witness exactly; returns the change (times its denominator) of every hidden cell
/// it touches, or `None` when it is not a table consistent with the release.
fn check_witness(
    w: &Witness,
    series: &[&[i64]],
    bounds: &crate::InnerBounds,
    published_of: &[Vec<u32>],
    hidden_of: &[Vec<u32>],
) -> Option<HashMap<u32, i128>> {
    let n_inner = published_of.len();
    let values = series.get(w.series)?;
    let (lower, upper) = (&bounds.lower[w.series], &bounds.upper[w.series]);
    // A denominator beyond MAX_DENOMINATOR is not checked (the exact comparisons of values
    // with different denominators might not fit in 128 bits): the witness counts as invalid.
    if !(1..=crate::MAX_DENOMINATOR).contains(&w.denominator) {
        return None;
    }
    let d = w.denominator as i128;
    let mut published: HashMap<u32, i128> = HashMap::new();
    let mut hidden: HashMap<u32, i128> = HashMap::new();
    let mut seen = HashSet::new();
    for &(i, x) in &w.delta {
        let iu = i as usize;
        if iu >= n_inner || !seen.insert(i) {
            return None;
        }
        let x = x as i128;
        let new = values[iu] as i128 * d + x;
        if new < lower[iu] as i128 * d || upper[iu].is_some_and(|u| new > u as i128 * d) {
            return None;
        }
        for &c in &published_of[iu] {
            *published.entry(c).or_default() += x;
        }
        for &c in &hidden_of[iu] {
            *hidden.entry(c).or_default() += x;
        }
    }
    if published.values().any(|&x| x != 0) {
        return None;
    }
    Some(hidden)
}

/// Row echelon form: each stored row has a distinct leading column; not fully reduced.
#[derive(Default)]
struct Echelon {
    rows: HashMap<u32, BTreeMap<u32, i128>>,
}

fn gcd128(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd128(b, a % b) }
}

impl Echelon {
    fn reduce(&self, inner: &[u32], cell: usize) -> Result<BTreeMap<u32, i128>> {
        let mut v: BTreeMap<u32, i128> = BTreeMap::new();
        for &i in inner {
            *v.entry(i).or_default() += 1;
        }
        v.retain(|_, x| *x != 0);
        let overflow = || Error::Overflow { cell };
        // Eliminate leading columns in increasing order; a stored row only has entries at and
        // after its leading column, so this terminates.
        let mut from = 0u32;
        while let Some((&lead, &x)) = v.range(from..).find(|(c, _)| self.rows.contains_key(c)) {
            let row = &self.rows[&lead];
            let y = row[&lead];
            let g = gcd128(x, y);
            let (mv, mr) = (y / g, x / g);
            for val in v.values_mut() {
                *val = val.checked_mul(mv).ok_or_else(overflow)?;
            }
            for (&c, &r) in row {
                let e = v.entry(c).or_default();
                *e = e
                    .checked_sub(r.checked_mul(mr).ok_or_else(overflow)?)
                    .ok_or_else(overflow)?;
            }
            v.retain(|_, x| *x != 0);
            let g = v.values().fold(0, |g, &x| gcd128(g, x));
            if g > 1 {
                for val in v.values_mut() {
                    *val /= g;
                }
            }
            from = lead + 1;
        }
        Ok(v)
    }

    fn insert(&mut self, inner: &[u32], cell: usize) -> Result<()> {
        let v = self.reduce(inner, cell)?;
        if let Some((&lead, _)) = v.iter().next() {
            self.rows.insert(lead, v);
        }
        Ok(())
    }

    fn in_span(&self, inner: &[u32], cell: usize) -> Result<bool> {
        Ok(self.reduce(inner, cell)?.is_empty())
    }
}

/// The attacker: the published equations, grouped into independent blocks (breadth-first).
struct Attacker<'a> {
    rows: &'a [&'a [u32]],
    block_of_inner: Vec<Option<usize>>,
    blocks: Vec<(Vec<u32>, Vec<usize>)>,
}

impl<'a> Attacker<'a> {
    fn new(n_inner: usize, rows: &'a [&'a [u32]], published: &[usize]) -> Self {
        let mut cells_of_inner: Vec<Vec<usize>> = vec![Vec::new(); n_inner];
        for &c in published {
            for &i in rows[c] {
                cells_of_inner[i as usize].push(c);
            }
        }
        let mut block_of_inner = vec![None; n_inner];
        let mut seen_cell = HashSet::new();
        let mut blocks = Vec::new();
        for start in 0..n_inner {
            if block_of_inner[start].is_some() || cells_of_inner[start].is_empty() {
                continue;
            }
            let b = blocks.len();
            let (mut inner, mut cells) = (Vec::new(), Vec::new());
            let mut queue = VecDeque::from([start]);
            block_of_inner[start] = Some(b);
            while let Some(i) = queue.pop_front() {
                inner.push(i as u32);
                for &c in &cells_of_inner[i] {
                    if seen_cell.insert(c) {
                        cells.push(c);
                        for &j in rows[c] {
                            if block_of_inner[j as usize].is_none() {
                                block_of_inner[j as usize] = Some(b);
                                queue.push_back(j as usize);
                            }
                        }
                    }
                }
            }
            blocks.push((inner, cells));
        }
        Attacker {
            rows,
            block_of_inner,
            blocks,
        }
    }

    fn interval(
        &self,
        target: &[u32],
        values: &[i64],
        bounds: &crate::InnerBounds,
        cell: usize,
        series: usize,
    ) -> Result<(i64, Option<i64>)> {
        let (lo, hi) = (&bounds.lower[series], &bounds.upper[series]);
        let mut blocks: Vec<usize> = target
            .iter()
            .filter_map(|&i| self.block_of_inner[i as usize])
            .collect();
        // Inner cells of the target in no equation range over their bounds alone.
        let free: Vec<usize> = target
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| self.block_of_inner[i].is_none())
            .collect();
        let free_lower: i64 = free.iter().map(|&i| lo[i]).sum();
        let free_upper: Option<i64> = free.iter().map(|&i| hi[i]).sum();
        blocks.sort_unstable();
        blocks.dedup();
        let run =
            |direction| self.optimise(&blocks, target, values, (lo, hi), direction, cell, series);
        let min = run(OptimizationDirection::Minimize)?;
        let lower = (min - 1e-6).ceil().max(0.0) as i64 + free_lower;
        let Some(free_upper) = free_upper else {
            return Ok((lower, None));
        };
        let max = run(OptimizationDirection::Maximize)?;
        Ok((lower, Some((max + 1e-6).floor() as i64 + free_upper)))
    }

    #[allow(clippy::too_many_arguments)]
    fn optimise(
        &self,
        blocks: &[usize],
        target: &[u32],
        values: &[i64],
        (lo, hi): (&[i64], &[Option<i64>]),
        direction: OptimizationDirection,
        cell: usize,
        series: usize,
    ) -> Result<f64> {
        let mut problem = Problem::new(direction);
        let mut vars = HashMap::new();
        for &b in blocks {
            for &i in &self.blocks[b].0 {
                let in_target = target.binary_search(&i).is_ok();
                let iu = i as usize;
                let range = (lo[iu] as f64, hi[iu].map_or(f64::INFINITY, |h| h as f64));
                vars.insert(i, problem.add_var(if in_target { 1.0 } else { 0.0 }, range));
            }
        }
        if vars.is_empty() {
            return Ok(0.0);
        }
        for &b in blocks {
            for &c in &self.blocks[b].1 {
                let total: i64 = self.rows[c].iter().map(|&i| values[i as usize]).sum();
                let expr: Vec<_> = self.rows[c].iter().map(|i| (vars[i], 1.0)).collect();
                problem.add_constraint(expr.as_slice(), ComparisonOp::Eq, total as f64);
            }
        }
        let fail = |message: String| Error::Solver {
            cell,
            series,
            message,
        };
        let solution = problem
            .solve()
            .map_err(|e| fail(e.to_string()))?
            .into_solution()
            .map_err(|_| fail("interrupted".into()))?;
        Ok(solution.objective())
    }
}
