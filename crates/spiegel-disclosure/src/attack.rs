//! Stage 2: the attacker's intervals, proven by witness tables.
//!
//! The attacker interval of a hidden cell is the range of its value over every non-negative
//! table that reproduces everything published (Fischetti and Salazar), each atom within the
//! bounds the attacker knows besides ([`crate::Bounds`]; by default 0 and none). Any such table is a
//! *witness*: two witnesses whose values of the cell differ by `w` prove that the interval is at
//! least `w` wide, and anyone can check that proof with a few sums. So this stage collects
//! witnesses instead of exact optima:
//!
//! 1. the witnesses found so far (a pool: an LP optimum for one cell often moves others too);
//! 2. an LP over the *neighbourhood* of the cell: the atoms of the hidden cells that share a
//!    published relation with it, every other atom held at its true value (a table with fewer
//!    free atoms is still a table consistent with the release, so its optimum is a witness);
//!    skipped without singletons to protect ([`Attacker::local_first`]), where instead the
//!    LP of 3 runs first over the degrees of freedom near the cell only (`Reach::Near`);
//! 3. the same LP over every atom (in the coordinates of the null space of the published
//!    equations).
//!
//! A cell none of these proves wide enough is treated as failing and protected further: the
//! stage can only err towards hiding more. Witnesses are exact rationals (the LP optimum,
//! recognised as `p / d`, or its vertex rebuilt exactly from the atoms the LP left at their
//! bounds; re-checked in integers either way), and their deltas are kept sparse.
//!
//! A singleton attacker (the one contributor of a hidden cell, who knows its counts) is the
//! same attacker with that cell as one more equation ([`Attacker::assume`]): the witnesses that
//! do not change the cell still hold for them.

use std::collections::{HashMap, HashSet};

use microlp::{ComparisonOp, OptimizationDirection, Problem};

use crate::error::Result;
use crate::stage1;

/// A table consistent with the release: the true atom values plus `delta / denominator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Witness {
    pub denominator: i64,
    /// (atom, numerator of the change), sorted by atom, no zeros.
    pub delta: Vec<(u32, i64)>,
}

impl Witness {
    /// The change of a cell's value (sorted atoms) in this witness, as `numerator / denominator`.
    fn change(&self, row: &[u32]) -> i64 {
        let (mut i, mut j, mut sum) = (0, 0, 0i64);
        while i < row.len() && j < self.delta.len() {
            match row[i].cmp(&self.delta[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.delta[j].1;
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }
}

/// Proven bounds of a cell's value: every value in `[lower, upper]` (rational) is taken by some
/// witness; `upper = None`: unbounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Proven {
    pub lower: f64,
    pub upper: Option<f64>,
}

impl Proven {
    /// The width of the integer interval inside (counts are integers).
    pub fn width(&self) -> Option<i64> {
        self.upper
            .map(|u| (u + 1e-9).floor() as i64 - (self.lower - 1e-9).ceil() as i64)
    }
}

/// The attacker's view of one component in one series, for one set of hidden cells.
pub(crate) struct Attacker<'a> {
    rows: &'a [Vec<u32>],
    truth: &'a [i64],
    /// The least and greatest value of each atom.
    lower: &'a [i64],
    upper: &'a [Option<i64>],
    /// Rows the attacker holds as equations: the published cells.
    equation: Vec<bool>,
    /// Hidden cells the attacker also knows (singletons' own cells; sorted).
    assumed: Vec<u32>,
    cells_of_atom: Vec<Vec<u32>>,
    big_row: usize,
    /// Whether the neighbourhood's LP comes first (see [`Self::local_first`]).
    local_first: bool,
    /// The range each target must keep (see [`Self::want`]).
    wanted: Vec<(usize, i64)>,
    pool: Vec<Entry>,
    /// The pool's entries (indices) that change each target.
    changing: HashMap<u32, Vec<usize>>,
    /// Per cell, the least and the greatest value the pool's witnesses give it (`None`: none
    /// changes it), kept up to date as witnesses come: [`Self::pooled`] is asked for every
    /// target before every shared LP, and scanning the witnesses each time was a third of
    /// the bundled extract's protection.
    range: Vec<Option<(f64, f64)>>,
    /// Per cell, whether it has a free atom (see [`Self::free_atom`]), once asked. Cleared
    /// when the equations change.
    /// (A lock, not a `RefCell`: the joint LPs' two directions run on two threads.)
    has_free: std::sync::Mutex<Vec<Option<bool>>>,
    /// The cells whose changes each witness records (the protected cells).
    targets: Vec<bool>,
    /// The null space of the equations over the atoms (computed when first needed, dropped
    /// when a cell is hidden); `Some(None)`: it could not be computed exactly.
    kernel: Option<Option<Kernel>>,
    /// The LP over every kernel vector kept to start others from (see [`Self::warm_start`]),
    /// built when first needed and dropped with the null space. `Some(None)`: it could not be
    /// solved.
    warm: Option<Option<Warm>>,
    /// The fewest independent equations for which [`Self::warm_local`] starts warm.
    warm_rank: usize,
    /// The LPs the solver failed on (see [`Attacker::solve`]), by the cell and series whose
    /// proof they searched for. (A lock: the joint LPs' two directions run on two threads.)
    failures: std::sync::Mutex<Vec<(usize, usize)>>,
}

/// Over fewer independent equations an LP solved anew takes about a millisecond, less than a
/// row added to the warm start (the solver copies and refactorises its whole state): measured
/// on the bundled extract, whose indicators have at most 370 and most under 200, against 300
/// to 720 at scale 1.
const WARM_RANK: usize = 256;

/// The most targets the shared warm start raises (the first still short, in the order they are
/// proven): a start that raises them all (465 after the joint LPs in the hardest SF 1 family)
/// takes longer to solve and to start from than it saves; the seven largest SF 1 families took
/// 59.2 s with all, 55.6 s with 100, 58.8 s with 50.
const WARM_TARGETS: usize = 100;

/// Which integer bounds of a target [`Attacker::warm_bounds`] proved exact.
#[derive(Debug, Clone, Copy, Default)]
struct Known {
    max: bool,
    min: bool,
}

/// What [`Attacker::prove_shared`] found.
enum Shared {
    /// A table that raises the target as far as it needs, or as far as it can go.
    Rose(Witness),
    /// The warm start proved that no table raises the target to this value.
    Refused(i64),
    /// Neither (no LP, or one that did not go far enough).
    Nothing,
}

/// What a table from the warm start did (see [`Attacker::warm_table`]).
enum Reached {
    /// It reached the value asked.
    Table(Witness),
    /// No table reaches the value.
    Infeasible,
    /// A table, but short of the value.
    Short(Witness),
}

/// An optimum kept to start other LPs from: a target's rise is one row added to it, and the
/// dual simplex goes on from this vertex instead of solving the LP anew.
struct Warm {
    lp: KernelLp,
    solution: microlp::Solution,
    /// The targets its objective raises, each up to its cap.
    caps: Vec<(usize, f64)>,
}

/// The tables consistent with the equations, as the true table plus `N y`: `n[a]` holds the
/// `(kernel vector, coefficient)` entries of atom `a`; `free[j]`: the atom that is vector `j`'s
/// own column (coefficient 1, in no other vector).
struct Kernel {
    n: Vec<Vec<(u32, f64)>>,
    free: Vec<u32>,
}

/// An LP over the null space, built: its problem, the variable of each kernel vector, and the
/// atoms it can move.
struct KernelLp {
    problem: Problem,
    vars: Vec<microlp::Variable>,
    moving: Vec<u32>,
}

/// The degrees of freedom an LP over all atoms may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Every kernel vector.
    All,
    /// The kernel vectors that move the cell and those whose own atom lies in its
    /// neighbourhood: a few hundred of the joint systems' 1,200, so the LP takes a tenth of
    /// the time, and its optimum is a table like any other (the others held at zero).
    Near(usize),
}

/// The LPs [`Attacker::prove`] tries for a cell after the shared one, cheapest first; each
/// upwards, then downwards.
enum Tier {
    /// Over these atoms (the cell's neighbourhood), in the atoms' own coordinates, every other
    /// atom held at its true value.
    Atoms(Vec<u32>),
    /// Over the null space of the equations: one LP per reach, in turn.
    NullSpace(Vec<Reach>),
}

/// A witness in the pool and its change of every target.
struct Entry {
    witness: Witness,
    changes: HashMap<u32, i64>,
}

impl<'a> Attacker<'a> {
    /// `values`: the true value, the least and the greatest of each atom.
    pub fn new(
        rows: &'a [Vec<u32>],
        n_atoms: usize,
        values: (&'a [i64], &'a [i64], &'a [Option<i64>]),
        hidden: &[bool],
        pool: Vec<Witness>,
        targets: Vec<bool>,
    ) -> Self {
        let mut cells_of_atom: Vec<Vec<u32>> = vec![Vec::new(); n_atoms];
        for (c, row) in rows.iter().enumerate() {
            for &a in row {
                cells_of_atom[a as usize].push(c as u32);
            }
        }
        let equation: Vec<bool> = hidden.iter().map(|h| !h).collect();
        let (truth, lower, upper) = values;
        let mut attacker = Attacker {
            rows,
            truth,
            lower,
            upper,
            equation,
            assumed: Vec::new(),
            cells_of_atom,
            big_row: (n_atoms / 8).max(64),
            local_first: true,
            wanted: Vec::new(),
            pool: Vec::new(),
            changing: HashMap::new(),
            range: vec![None; rows.len()],
            has_free: std::sync::Mutex::new(vec![None; rows.len()]),
            targets,
            kernel: None,
            warm: None,
            warm_rank: WARM_RANK,
            failures: std::sync::Mutex::new(Vec::new()),
        };
        for w in pool {
            attacker.add(w);
        }
        attacker
    }

    /// Whether to try the LP over the target's neighbourhood before the one over all atoms
    /// (default yes). The neighbourhood's optimum changes only cells near the target, so it
    /// still proves the target for the singletons elsewhere, whose own cells it leaves as they
    /// are; without singletons, the LP over all atoms in the null space's coordinates is
    /// cheaper (measured on the joint systems of related counts: 0.2 to 0.6 s against 0.5 to
    /// 3 s for the neighbourhood's) and proves more.
    pub fn local_first(mut self, yes: bool) -> Self {
        self.local_first = yes;
        self
    }

    /// The targets and the range each must keep: an LP that proves one target then also
    /// moves the others as far as each still needs, where that costs the target nothing.
    pub fn want(&mut self, wanted: Vec<(usize, i64)>) {
        self.wanted = wanted;
    }

    /// Adds a witness to the pool.
    pub fn add(&mut self, witness: Witness) {
        let mut changes: HashMap<u32, i64> = HashMap::new();
        for &(a, x) in &witness.delta {
            for &c in &self.cells_of_atom[a as usize] {
                if self.targets[c as usize] {
                    *changes.entry(c).or_default() += x;
                }
            }
        }
        changes.retain(|_, x| *x != 0);
        for (&c, &x) in &changes {
            self.changing.entry(c).or_default().push(self.pool.len());
            // (The same sum as the scan in `pooled`, so the same value to the last bit.)
            let v = self.truth_of(&self.rows[c as usize]) as f64
                + x as f64 / witness.denominator as f64;
            let r = self.range[c as usize].get_or_insert((v, v));
            *r = (r.0.min(v), r.1.max(v));
        }
        self.pool.push(Entry { witness, changes });
    }

    /// Hides one more cell: its equation goes. Every witness stays valid: fewer equations only
    /// admit more tables.
    pub fn hide(&mut self, cell: usize) {
        if self.equation[cell] {
            self.kernel = None;
            self.warm = None;
            self.has_free
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .fill(None);
        }
        self.equation[cell] = false;
    }

    /// The attacker also knows these hidden cells' values (singletons), or nothing more
    /// (empty). Witnesses found meanwhile do not change those cells, so they stay valid for
    /// every attacker.
    pub fn assume(&mut self, cells: &[usize]) {
        self.assumed = cells.iter().map(|&c| c as u32).collect();
        self.assumed.sort_unstable();
        self.has_free
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fill(None);
    }

    fn is_assumed(&self, c: u32) -> bool {
        self.assumed.binary_search(&c).is_ok()
    }

    /// Whether the attacker holds cell `c` as an equation.
    fn is_equation(&self, c: u32) -> bool {
        self.equation[c as usize] || self.is_assumed(c)
    }

    /// The LPs the solver failed on so far (each taken as proving nothing), by the cell and
    /// series whose proof they searched for; taken out, so each is reported once.
    pub fn take_solver_failures(&mut self) -> Vec<(usize, usize)> {
        std::mem::take(
            self.failures
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The witnesses found (for the next round: they stay valid while the hidden set grows).
    pub fn into_pool(self) -> Vec<Witness> {
        self.pool.into_iter().map(|e| e.witness).collect()
    }

    fn truth_of(&self, row: &[u32]) -> i64 {
        row.iter().map(|&a| self.truth[a as usize]).sum()
    }

    /// Whether some witness changes the sum of these atoms (then it is not derivable).
    pub fn moves(&self, atoms: &[u32]) -> bool {
        self.pool.iter().any(|e| e.witness.change(atoms) != 0)
    }

    /// Bounds of `target` proven by the pool alone.
    pub fn pooled(&self, target: usize) -> Proven {
        let row = &self.rows[target];
        let v = self.truth_of(row) as f64;
        // Only the witnesses that change the target move its bounds. Without an assumed cell
        // every one of them counts, and `range` holds the result; with one, those that change
        // an assumed cell are left out.
        let (lo, hi) = if self.assumed.is_empty() {
            self.range[target].map_or((v, v), |(l, h)| (v.min(l), v.max(h)))
        } else {
            let changing = self
                .changing
                .get(&(target as u32))
                .map_or(&[][..], Vec::as_slice);
            changing
                .iter()
                .map(|&i| &self.pool[i])
                .filter(|e| !self.assumed.iter().any(|c| e.changes.contains_key(c)))
                .map(|e| v + e.changes[&(target as u32)] as f64 / e.witness.denominator as f64)
                .fold((v, v), |(lo, hi), x| (lo.min(x), hi.max(x)))
        };
        let cache = || {
            self.has_free
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let cached = cache()[target];
        let free = cached.unwrap_or_else(|| {
            let free = self.free_atom(target).is_some();
            cache()[target] = Some(free);
            free
        });
        if free {
            return Proven {
                lower: lo,
                upper: None,
            };
        }
        Proven {
            lower: lo,
            upper: Some(hi),
        }
    }

    /// The singleton attackers (among `groups`, each the cells its contributor knows: those
    /// that share no atom with `target`) that the pool does not prove `good` for `target`: for
    /// each, the best rise and fall among the witnesses that leave every cell of the group
    /// unchanged. (A singleton's own cell overlapping the target tells its contributor about
    /// themselves, and about the zeros around them.)
    pub fn failing_singletons(
        &self,
        target: usize,
        groups: &[Vec<usize>],
        good: impl Fn(&Proven) -> bool,
    ) -> Vec<Vec<usize>> {
        debug_assert!(self.assumed.is_empty());
        let v = self.truth_of(&self.rows[target]) as f64;
        let t = target as u32;
        let mut rises: Vec<(f64, &Entry)> = Vec::new();
        let mut falls: Vec<(f64, &Entry)> = Vec::new();
        for e in &self.pool {
            if let Some(&x) = e.changes.get(&t) {
                let value = v + x as f64 / e.witness.denominator as f64;
                if x > 0 {
                    rises.push((value, e));
                } else {
                    falls.push((value, e));
                }
            }
        }
        rises.sort_by(|a, b| b.0.total_cmp(&a.0));
        falls.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The target's free atoms stay free for every group: none is in a group's cell
        // (disjoint).
        let unbounded = self.free_atom(target).is_some();
        let eligible: Vec<&Vec<usize>> = groups
            .iter()
            .filter(|g| {
                g.iter()
                    .all(|&c| c != target && disjoint(&self.rows[c], &self.rows[target]))
            })
            .collect();
        // Per group, the first witness of `list` (best first) that leaves each of its cells
        // unchanged: the witnesses taken in turn, each group settled by the first that does
        // (with the witness's cells marked in `touched`: array lookups instead of one hash
        // lookup per group, cell and witness).
        let mut touched = vec![false; self.rows.len()];
        let mut first_keeping = |list: &[(f64, &Entry)]| -> Vec<f64> {
            let mut found = vec![v; eligible.len()];
            let mut open: Vec<usize> = (0..eligible.len()).collect();
            for &(value, e) in list {
                if open.is_empty() {
                    break;
                }
                for &c in e.changes.keys() {
                    touched[c as usize] = true;
                }
                open.retain(|&j| {
                    let keeps = eligible[j].iter().all(|&c| !touched[c]);
                    if keeps {
                        found[j] = value;
                    }
                    !keeps
                });
                for &c in e.changes.keys() {
                    touched[c as usize] = false;
                }
            }
            found
        };
        let uppers = first_keeping(&rises);
        let lowers = first_keeping(&falls);
        eligible
            .into_iter()
            .zip(uppers.into_iter().zip(lowers))
            .filter(|&(_, (upper, lower))| {
                !good(&Proven {
                    lower,
                    upper: (!unbounded).then_some(upper),
                })
            })
            .map(|(g, _)| g.clone())
            .collect()
    }

    /// An atom of the target that no equation and no upper bound constrains (its value is
    /// unbounded above).
    fn free_atom(&self, target: usize) -> Option<u32> {
        self.rows[target].iter().copied().find(|&a| {
            self.upper[a as usize].is_none()
                && self.cells_of_atom[a as usize]
                    .iter()
                    .all(|&c| !self.is_equation(c) || c as usize == target)
        })
    }

    /// The least value the target can take: the sum of its atoms' lower bounds.
    fn floor(&self, target: usize) -> i64 {
        self.rows[target]
            .iter()
            .map(|&a| self.lower[a as usize])
            .sum()
    }

    /// The range an atom may move by from its true value: `(down, up)` (`up` infinite without
    /// an upper bound).
    fn room(&self, a: u32) -> (f64, f64) {
        let a = a as usize;
        let t = self.truth[a];
        (
            (self.lower[a] - t) as f64,
            self.upper[a].map_or(f64::INFINITY, |u| (u - t) as f64),
        )
    }

    /// Proves bounds for `target`: pool, then the LPs over its neighbourhood (see
    /// [`Self::local_first`]) and over all atoms, up then down, stopping as soon as `good`
    /// accepts them. Returns the best bounds found.
    pub fn prove(
        &mut self,
        target: usize,
        width: i64,
        good: impl Fn(&Proven) -> bool,
        cell: usize,
        series: usize,
    ) -> Result<Proven> {
        let mut best = self.pooled(target);
        if good(&best) {
            return Ok(best);
        }
        // The shared LP's table raises the target as far as it can go (up to what it needs):
        // no LP upwards over all atoms can do better.
        let (rose, refused) = match self.prove_shared(target, &best, cell, series)? {
            Shared::Rose(w) => {
                self.add(w);
                (true, None)
            }
            Shared::Refused(value) => (false, Some(value)),
            Shared::Nothing => (false, None),
        };
        // (Also without a table of its own: the warm start's first optimum may prove it.)
        best = self.pooled(target);
        if good(&best) {
            return Ok(best);
        }
        // Short of its need from the warm start: the greatest value it can take and the fall
        // that leaves from there, from the warm start too.
        let mut known = Known::default();
        if let Some(value) = refused {
            known = self.warm_bounds(target, width, value);
            best = self.pooled(target);
            if good(&best) {
                return Ok(best);
            }
        }
        let near = self.neighbourhood(target);
        let local_first = self.local_first || self.kernel().is_none();
        let mut tiers = Vec::new();
        if near.len() * 2 < self.cells_of_atom.len() && local_first {
            tiers.push(Tier::Atoms(near));
        }
        tiers.push(Tier::NullSpace(if self.local_first {
            vec![Reach::All]
        } else {
            vec![Reach::Near(target), Reach::All]
        }));
        for tier in &tiers {
            // Near the target first, then from the warm start (over every kernel vector, as
            // the LPs of this tier).
            if self.local_first
                && matches!(tier, Tier::NullSpace(_))
                && best.upper.is_some()
                && !known.max
            {
                known = self.warm_local(target, width, cell, series);
                best = self.pooled(target);
                if good(&best) {
                    return Ok(best);
                }
            }
            for direction in [
                OptimizationDirection::Maximize,
                OptimizationDirection::Minimize,
            ] {
                if direction == OptimizationDirection::Maximize
                    && (best.upper.is_none()
                        || known.max
                        || (rose && matches!(tier, Tier::NullSpace(_))))
                {
                    continue;
                }
                // Already down to the least value its atoms' bounds allow: no table goes lower.
                if direction == OptimizationDirection::Minimize
                    && (known.min || best.lower <= self.floor(target) as f64 + 1e-9)
                {
                    continue;
                }
                let lps = match tier {
                    Tier::Atoms(_) => 1,
                    Tier::NullSpace(reaches) => reaches.len(),
                };
                for i in 0..lps {
                    let w = match tier {
                        Tier::Atoms(atoms) => {
                            self.optimise(&[target], atoms, direction, cell, series)?
                        }
                        Tier::NullSpace(reaches) => {
                            self.optimise_all(&[target], direction, reaches[i], cell, series)?
                        }
                    };
                    if let Some(w) = w {
                        self.add(w);
                    }
                    best = self.pooled(target);
                    if good(&best) {
                        return Ok(best);
                    }
                }
            }
        }
        Ok(best)
    }

    /// The table of [`Self::optimise_kernel`]'s shared objective for `target` (its rise to the
    /// range it must keep) and every other wanted target not yet proven.
    fn prove_shared(
        &mut self,
        target: usize,
        best: &Proven,
        cell: usize,
        series: usize,
    ) -> Result<Shared> {
        // With singletons to protect, a table that moves many cells proves little for them.
        if self.local_first || !self.assumed.is_empty() || self.kernel().is_none() {
            return Ok(Shared::Nothing);
        }
        let Some(&(_, width)) = self.wanted.iter().find(|w| w.0 == target) else {
            return Ok(Shared::Nothing);
        };
        let Some(need) = self.need(best, target, width) else {
            return Ok(Shared::Nothing);
        };
        let mut targets = vec![target];
        let mut caps = Vec::new();
        // The most the others' gains can add up to or lose (each falls at most to its floor):
        // a unit of the target's rise weighs more than all of it.
        let mut weight = 1.0;
        for &(t, w) in &self.wanted {
            if t == target {
                continue;
            }
            if let Some(cap) = self.need(&self.pooled(t), t, w) {
                targets.push(t);
                caps.push(cap.max(1) as f64);
                weight += (cap.max(1) + self.truth_of(&self.rows[t]) - self.floor(t)) as f64;
            }
        }
        // The degrees of freedom near the target first (cheap, and often enough), then all:
        // from the warm start where there is one.
        for reach in [Reach::Near(target), Reach::All] {
            // From the warm start, a target's rise takes about as long as the LP near it.
            if reach != Reach::All && matches!(self.warm, Some(Some(_))) {
                continue;
            }
            if reach == Reach::All
                && let Some(found) = self.warm_rise(target, width, cell, series)
            {
                return Ok(found);
            }
            let w = self.optimise_kernel(
                &targets,
                OptimizationDirection::Maximize,
                Some((need as f64, weight, &caps)),
                reach,
                cell,
                series,
            )?;
            // A table near the target that falls short still goes to the pool (it moves other
            // cells; measured: the hardest family 96 s -> 88 s with it).
            if let Some(w) = w {
                if reach == Reach::All || w.change(&self.rows[target]) >= need * w.denominator {
                    return Ok(Shared::Rose(w));
                }
                self.add(w);
            }
        }
        Ok(Shared::Nothing)
    }

    /// How far a target must rise above its true value for its proven range `p` to be `width`
    /// wide (`None`: it is already, or unbounded).
    fn need(&self, p: &Proven, t: usize, width: i64) -> Option<i64> {
        (p.width()? < width)
            .then(|| (p.lower - 1e-9).ceil() as i64 + width - self.truth_of(&self.rows[t]))
    }

    /// The shared LP's table for `target` (see [`Self::prove_shared`]) over every kernel
    /// vector, from the warm start: one shared LP for every target still short, solved once
    /// per set of equations (its optimum joins the pool), then for each target that optimum
    /// with one more row, the target's rise by what it still needs: about 40 ms each, against
    /// 0.4 to 0.8 s for the LP solved anew. Measured on the hardest family of the national run
    /// at scale 1 (3,924 rows, 1,039 sensitive): 62 s -> 29 s, with [`Self::warm_bounds`].
    ///
    /// `None`: no warm start (the LP is solved anew).
    fn warm_rise(
        &mut self,
        target: usize,
        width: i64,
        cell: usize,
        series: usize,
    ) -> Option<Shared> {
        self.ensure_warm(cell, series);
        let Some(need) = self.need(&self.pooled(target), target, width) else {
            return Some(Shared::Nothing);
        };
        let v = self.truth_of(&self.rows[target]);
        match self.warm_table(target, ComparisonOp::Ge, v + need)? {
            Reached::Table(w) => Some(Shared::Rose(w)),
            Reached::Infeasible => Some(Shared::Refused(v + need)),
            Reached::Short(w) => {
                self.add(w);
                Some(Shared::Nothing)
            }
        }
    }

    /// With singletons to protect ([`Self::local_first`]): the target's rise by what it still
    /// needs from the warm start (see [`Self::ensure_warm`]), and where that is too far,
    /// [`Self::warm_bounds`]. Returns which of the target's integer bounds are now proven
    /// exact.
    fn warm_local(&mut self, target: usize, width: i64, cell: usize, series: usize) -> Known {
        let least = self.warm_rank;
        if self
            .kernel()
            .is_none_or(|k| k.n.len() - k.free.len() < least)
        {
            return Known::default();
        }
        self.ensure_warm(cell, series);
        let Some(need) = self.need(&self.pooled(target), target, width) else {
            return Known::default();
        };
        let v = self.truth_of(&self.rows[target]);
        match self.warm_table(target, ComparisonOp::Ge, v + need) {
            Some(Reached::Table(w) | Reached::Short(w)) => {
                self.add(w);
                Known::default()
            }
            Some(Reached::Infeasible) => self.warm_bounds(target, width, v + need),
            None => Known::default(),
        }
    }

    /// Builds the warm start if there is none (for the current equations), its optimum's table
    /// joining the pool. It is built without any assumed cell, so that it serves every
    /// singleton (their cells are held by rows added to it, see [`Self::warm_table`]).
    fn ensure_warm(&mut self, cell: usize, series: usize) {
        if self.warm.is_some() {
            return;
        }
        let (warm, w) = if self.assumed.is_empty() {
            self.warm_start(cell, series)
        } else {
            let assumed: Vec<usize> = self.assumed.iter().map(|&c| c as usize).collect();
            self.assume(&[]);
            let built = self.warm_start(cell, series);
            self.assume(&assumed);
            built
        };
        self.warm = Some(warm);
        if let Some(w) = w {
            self.add(w);
        }
    }

    /// A table from the warm start in which `target`'s value is at least (`Ge`) or at most
    /// (`Le`) `value`. `None`: no warm start, or the solver failed (the caller solves anew:
    /// the warm start is only a faster way to the same tables, never a reason to fail).
    fn warm_table(&self, target: usize, op: ComparisonOp, value: i64) -> Option<Reached> {
        let (Some(Some(warm)), Some(Some(kernel))) = (&self.warm, &self.kernel) else {
            return None;
        };
        // A cell's change, in the warm start's variables.
        let change_of = |c: usize| -> Vec<(microlp::Variable, f64)> {
            self.coefficients(kernel, c)
                .into_iter()
                .map(|(j, x)| (warm.lp.vars[j as usize], x))
                .collect()
        };
        let change = change_of(target);
        if change.is_empty() {
            return None;
        }
        let by = value - self.truth_of(&self.rows[target]);
        // The assumed cells keep their values: one row each.
        let mut solution = warm.solution.clone();
        for &c in &self.assumed {
            let keep = change_of(c as usize);
            if keep.is_empty() {
                continue;
            }
            solution = match solution
                .add_constraint(keep.as_slice(), ComparisonOp::Eq, 0.0)
                .map(microlp::SolveOutcome::into_solution)
            {
                Ok(Ok(solution)) => solution,
                _ => return None,
            };
        }
        let solution = match solution
            .add_constraint(change.as_slice(), op, by as f64)
            .map(microlp::SolveOutcome::into_solution)
        {
            Ok(Ok(solution)) => solution,
            Err(microlp::Error::Infeasible) => return Some(Reached::Infeasible),
            _ => return None,
        };
        let mut caps = vec![(target, by as f64)];
        caps.extend(warm.caps.iter().filter(|c| c.0 != target));
        let w = self.kernel_witness(kernel, &warm.lp, &solution, &caps)?;
        let moved = w.change(&self.rows[target]);
        let reached = match op {
            ComparisonOp::Ge => moved >= by * w.denominator,
            _ => moved <= by * w.denominator,
        };
        Some(if reached {
            Reached::Table(w)
        } else {
            // Its vertex misread: the table still holds, but does not go as far.
            Reached::Short(w)
        })
    }

    /// Where the warm start could not raise `target` to `refused`: its greatest integer
    /// value, found by bisection with one warm table per step (each a tenth of the time of
    /// the LP that maximises it anew; the rises asked are at most the required width, so a
    /// few steps), then its fall to that value less the width. Every table joins the pool.
    /// Where no table falls that far either, its least integer value by bisection too. Returns
    /// which of the two is now proven exactly (the pool reaches it and the warm start proved
    /// it cannot go further): no LP needs to maximise or minimise it then.
    fn warm_bounds(&mut self, target: usize, width: i64, refused: i64) -> Known {
        let unknown = Known::default();
        // The greatest value proven exactly, the least not.
        let max_only = Known {
            max: true,
            min: false,
        };
        let Some(upper) = self.pooled(target).upper else {
            return unknown;
        };
        // The greatest integer value lies in `lo..=hi`: `lo` reached, `refused` not.
        let (mut lo, mut hi) = ((upper + 1e-9).floor() as i64, refused - 1);
        if lo > hi {
            return unknown;
        }
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            match self.warm_table(target, ComparisonOp::Ge, mid) {
                Some(Reached::Table(w)) => {
                    self.add(w);
                    let reached = self.pooled(target).upper.unwrap_or(f64::INFINITY);
                    lo = ((reached + 1e-9).floor() as i64).clamp(mid, hi);
                }
                Some(Reached::Infeasible) => hi = mid - 1,
                Some(Reached::Short(w)) => {
                    self.add(w);
                    return unknown;
                }
                None => return unknown,
            }
        }
        // The fall the greatest value leaves room for.
        let low = lo - width;
        let lower = self.pooled(target).lower;
        if lower <= low as f64 + 1e-9 {
            return max_only;
        }
        let floor = self.floor(target);
        if low >= floor {
            match self.warm_table(target, ComparisonOp::Le, low) {
                Some(Reached::Table(w) | Reached::Short(w)) => {
                    self.add(w);
                    return max_only;
                }
                Some(Reached::Infeasible) => {}
                None => {
                    return max_only;
                }
            }
        }
        // No table falls that far: the target fails, and what it must rise by to be
        // protected follows from its least integer value, which lies in `(lo, hi]`: `hi`
        // reached, `lo` not (a sensitive count is small, so this takes a few steps; over a
        // wide range the LP minimising it anew is cheaper).
        let (mut lo, mut hi) = (low.max(floor - 1), (lower - 1e-9).ceil() as i64);
        if hi - lo > 16 {
            return max_only;
        }
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            match self.warm_table(target, ComparisonOp::Le, mid) {
                Some(Reached::Table(w)) => {
                    self.add(w);
                    let reached = self.pooled(target).lower;
                    hi = ((reached - 1e-9).ceil() as i64).clamp(lo + 1, mid);
                }
                Some(Reached::Infeasible) => lo = mid,
                Some(Reached::Short(w)) => {
                    self.add(w);
                    return max_only;
                }
                None => {
                    return max_only;
                }
            }
        }
        Known {
            max: true,
            min: true,
        }
    }

    /// The warm start of [`Self::warm_rise`] and [`Self::warm_local`] and its optimum's table
    /// (`None`: none).
    fn warm_start(&self, cell: usize, series: usize) -> (Option<Warm>, Option<Witness>) {
        let Some(Some(kernel)) = &self.kernel else {
            return (None, None);
        };
        let caps: Vec<(usize, f64)> = self
            .wanted
            .iter()
            .filter(|&&(t, _)| !self.is_equation(t as u32))
            .filter_map(|&(t, width)| {
                let need = self.need(&self.pooled(t), t, width)?;
                Some((t, need.max(1) as f64))
            })
            .take(WARM_TARGETS)
            .collect();
        let Some(&(_, first)) = caps.first() else {
            return (None, None);
        };
        let targets: Vec<usize> = caps.iter().map(|c| c.0).collect();
        let rest: Vec<f64> = caps[1..].iter().map(|c| c.1).collect();
        // With singletons to protect, cells are hidden after most targets (the equations
        // change, and the start with them): a start that raises every target costs twice an
        // LP and rarely serves a second one, so the start there is the true table itself
        // (no objective: only the solver's set-up), each target's row taken from it (measured
        // on four indicators of the national run at scale 1: 14.9 s with the raising start,
        // 11.2 s without; 18.7 s solved anew).
        let raise = !self.local_first;
        let Some(lp) = self.kernel_lp(
            kernel,
            if raise { &targets } else { &[] },
            OptimizationDirection::Maximize,
            raise.then_some((first, 1.0, &rest[..])),
            Reach::All,
        ) else {
            return (None, None);
        };
        let Some(solution) = self.solve(&lp.problem, cell, series) else {
            return (None, None);
        };
        let w = self.kernel_witness(kernel, &lp, &solution, &caps);
        (Some(Warm { lp, solution, caps }), w)
    }

    /// One LP pair for many targets at once: the sum of the targets pushed up, then down; the
    /// two optima go to the pool (they often prove most targets without an LP of their own).
    pub fn prove_jointly(&mut self, targets: &[usize], cell: usize, series: usize) -> Result<()> {
        let targets: Vec<usize> = targets
            .iter()
            .copied()
            .filter(|&t| self.free_atom(t).is_none())
            .collect();
        if targets.len() < 2 {
            return Ok(());
        }
        // The two directions are independent LPs over the same system: on two threads (their
        // tables join the pool in the same order either way).
        self.kernel();
        let this = &*self;
        let solve =
            |direction| this.optimise_ready(&targets, direction, None, Reach::All, cell, series);
        let (up, down) = std::thread::scope(|scope| {
            let up = scope.spawn(|| solve(OptimizationDirection::Maximize));
            let down = solve(OptimizationDirection::Minimize);
            let up = up
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (up, down)
        });
        for w in [up?, down?].into_iter().flatten() {
            self.add(w);
        }
        Ok(())
    }

    /// The atoms of every cell that is not nation-sized and shares an atom with `target`
    /// (its region, the regions of other levels overlapping it, their strata).
    fn neighbourhood(&self, target: usize) -> Vec<u32> {
        let mut rows_seen: HashSet<u32> = HashSet::new();
        let mut atoms: Vec<u32> = Vec::new();
        for &a in &self.rows[target] {
            for &r in &self.cells_of_atom[a as usize] {
                if self.rows[r as usize].len() <= self.big_row && rows_seen.insert(r) {
                    atoms.extend(self.rows[r as usize].iter().copied());
                }
            }
        }
        atoms.extend(self.rows[target].iter().copied());
        atoms.sort_unstable();
        atoms.dedup();
        atoms
    }

    /// The cheapest cells to hide so that `target` can rise by `need` (Fischetti and Salazar's
    /// protection problem, relaxed to an LP): the table may change in the atoms near the target
    /// (then in all atoms, if that fails); each published cell it changes must be hidden, at a
    /// cost per unit of change (`cost`, `None`: the cell may not be hidden: forced or previously
    /// published; nor may the assumed cell change). The optimum, made exact, is a witness for the release
    /// with those cells hidden. Returns the cells (hidden cells are free already) and the
    /// witness, or `None` when no exact table was found.
    pub fn shield(
        &self,
        target: usize,
        need: i64,
        cost: &dyn Fn(usize) -> Option<f64>,
        cell: usize,
        series: usize,
    ) -> Result<Option<(Vec<usize>, Witness)>> {
        let near = self.neighbourhood(target);
        if let Some(found) = self.shield_over(target, need, cost, &near, cell, series)? {
            return Ok(Some(found));
        }
        if near.len() == self.cells_of_atom.len() {
            return Ok(None);
        }
        let all: Vec<u32> = (0..self.cells_of_atom.len() as u32).collect();
        self.shield_over(target, need, cost, &all, cell, series)
    }

    fn shield_over(
        &self,
        target: usize,
        need: i64,
        cost: &dyn Fn(usize) -> Option<f64>,
        atoms: &[u32],
        cell: usize,
        series: usize,
    ) -> Result<Option<(Vec<usize>, Witness)>> {
        let mut problem = Problem::new(OptimizationDirection::Minimize);
        let vars: Vec<microlp::Variable> = atoms
            .iter()
            .map(|&a| problem.add_var(0.0, self.room(a)))
            .collect();
        let mut terms: HashMap<u32, Vec<(microlp::Variable, f64)>> = HashMap::new();
        for (&a, &v) in atoms.iter().zip(&vars) {
            for &c in &self.cells_of_atom[a as usize] {
                if self.is_equation(c) && c as usize != target {
                    terms.entry(c).or_default().push((v, 1.0));
                }
            }
        }
        let mut cells: Vec<u32> = terms.keys().copied().collect();
        cells.sort_unstable();
        for c in &cells {
            let mut expr = terms[c].clone();
            if let Some(w) = self.cost_of(*c, cost) {
                expr.push((problem.add_var(w, (0.0, f64::INFINITY)), 1.0));
                expr.push((problem.add_var(w, (0.0, f64::INFINITY)), -1.0));
            }
            problem.add_constraint(expr.as_slice(), ComparisonOp::Eq, 0.0);
        }
        let mut in_atoms = HashMap::new();
        for (&a, &v) in atoms.iter().zip(&vars) {
            in_atoms.insert(a, v);
        }
        let rise: Vec<(microlp::Variable, f64)> = self.rows[target]
            .iter()
            .map(|a| (in_atoms[a], 1.0))
            .collect();
        problem.add_constraint(rise.as_slice(), ComparisonOp::Ge, need as f64);
        let Some(solution) = self.solve(&problem, cell, series) else {
            return Ok(None);
        };
        let changes = atoms
            .iter()
            .zip(&vars)
            .map(|(&a, &v)| (a, solution.var_value(v)));
        let Some(witness) = self.exact(changes) else {
            return Ok(None);
        };
        // The cells the exact table changes: all must be hideable; the target must rise.
        let sums = self.cell_changes(&witness, |c| self.is_equation(c) || c as usize == target);
        if sums.get(&(target as u32)).copied().unwrap_or(0) < need * witness.denominator {
            return Ok(None);
        }
        let mut hide: Vec<usize> = Vec::new();
        for (&c, &x) in &sums {
            if x != 0 && c as usize != target {
                if self.cost_of(c, cost).is_none() {
                    return Ok(None);
                }
                hide.push(c as usize);
            }
        }
        hide.sort_unstable();
        Ok(Some((hide, witness)))
    }

    /// A witness's exact change (times its denominator) of every cell `keep` accepts.
    fn cell_changes(&self, witness: &Witness, keep: impl Fn(u32) -> bool) -> HashMap<u32, i64> {
        let mut sums: HashMap<u32, i64> = HashMap::new();
        for &(a, x) in &witness.delta {
            for &c in &self.cells_of_atom[a as usize] {
                if keep(c) {
                    *sums.entry(c).or_default() += x;
                }
            }
        }
        sums
    }

    /// The cost of hiding published cell `c` (`None`: it may not change).
    fn cost_of(&self, c: u32, cost: &dyn Fn(usize) -> Option<f64>) -> Option<f64> {
        if self.is_assumed(c) {
            None
        } else {
            cost(c as usize)
        }
    }

    /// LP changes of atoms (`(atom, change)`) as an exact witness: the atoms that moved, their
    /// new values recognised as exact rationals (`None`: nothing moved, not recognised, or too
    /// large to check without overflow).
    fn exact(&self, changes: impl Iterator<Item = (u32, f64)>) -> Option<Witness> {
        let (mut changed, mut values) = (Vec::new(), Vec::new());
        for (a, d) in changes {
            if d.abs() > 1e-9 {
                changed.push(a);
                values.push(self.truth[a as usize] as f64 + d);
            }
        }
        if changed.is_empty() {
            return None;
        }
        let (denominator, scaled) = rationalise(&values)?;
        if denominator > crate::MAX_DENOMINATOR {
            return None;
        }
        let d = denominator as i128;
        let delta = changed
            .iter()
            .zip(&scaled)
            .map(|(&a, &p)| (a, p as i128 - self.truth[a as usize] as i128 * d))
            .collect();
        self.table(d, delta)
    }

    /// The exact table at an LP optimum whose values [`Self::exact`] does not recognise (the
    /// solver leaves atoms a few 1e-9 below zero, and a vertex's denominators can be large):
    /// every atom that did not move keeps its true value, every atom the LP left at one of its
    /// bounds (within 1e-6) is put exactly there, and the other atoms that moved are solved
    /// for in exact integers, from the equations and from `pins` (cells whose LP value sits at
    /// an integer the LP pushed it to: `(cell, change)`). Where the atoms at bounds do not
    /// pin the rest down, the remaining unknowns take their LP values on a grid of 2^-20.
    /// `None`: inconsistent (the LP's active set was misread), outside the bounds, or too
    /// large to check. The caller re-checks the equations exactly.
    fn vertex(&self, changes: &[(u32, f64)], pins: &[(usize, i64)]) -> Option<Witness> {
        const AT_BOUND: f64 = 1e-6;
        const GRID: i128 = 1 << 20;
        let (truth, lower, upper) = (self.truth, self.lower, self.upper);
        // `known[a]`: the value of atom `a` in the vertex where it is known.
        let mut known: HashMap<u32, i64> = HashMap::new();
        let mut lp: HashMap<u32, f64> = HashMap::new();
        for &(a, d) in changes {
            if d.abs() <= 1e-9 {
                continue;
            }
            let i = a as usize;
            let v = truth[i] as f64 + d;
            if (v - lower[i] as f64).abs() <= AT_BOUND {
                known.insert(a, lower[i]);
            } else if let Some(u) = upper[i].filter(|&u| (v - u as f64).abs() <= AT_BOUND) {
                known.insert(a, u);
            } else {
                lp.insert(a, v);
            }
        }
        if lp.is_empty() && known.is_empty() {
            return None;
        }
        let value_of = |a: u32| known.get(&a).copied().unwrap_or(truth[a as usize]);
        // Every equation that touches a moved atom, with the unknowns on the left.
        let mut touched: Vec<u32> = known
            .keys()
            .chain(lp.keys())
            .flat_map(|&a| self.cells_of_atom[a as usize].iter().copied())
            .filter(|&c| self.is_equation(c))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let rhs = self.cells_of_atom.len() as u32;
        let mut equations: Vec<stage1::Sparse> = Vec::new();
        let mut row_equation = |row: &[u32], value: i64| -> Option<()> {
            let mut e: stage1::Sparse = Vec::new();
            let mut b = value as i128;
            for &a in row {
                if lp.contains_key(&a) {
                    e.push((a, 1));
                } else {
                    b -= value_of(a) as i128;
                }
            }
            if e.is_empty() {
                // Only known atoms: the equation must hold as it is.
                return (b == 0).then_some(());
            }
            if b != 0 {
                e.push((rhs, b));
            }
            equations.push(e);
            Some(())
        };
        for &c in &touched {
            let row = &self.rows[c as usize];
            row_equation(row, self.truth_of(row))?;
        }
        for &(c, change) in pins {
            let row = &self.rows[c];
            row_equation(row, self.truth_of(row) + change)?;
        }
        let solved = stage1::solve(equations.into_iter(), rhs).ok()??;
        // The unknowns no equation pins down, on the grid (`value * GRID`).
        let pivots: HashSet<u32> = solved.iter().map(|r| r.0).collect();
        let mut free: HashMap<u32, i128> = HashMap::new();
        for (&a, &v) in &lp {
            if !pivots.contains(&a) {
                free.insert(a, (v * GRID as f64).round() as i128);
            }
        }
        let grid = if free.is_empty() { 1 } else { GRID };
        // The common denominator: the pivots' coefficients' least common multiple, times the
        // grid.
        let mut multiple: i128 = 1;
        for (p, row) in &solved {
            let a = row
                .binary_search_by_key(p, |e| e.0)
                .ok()
                .map(|i| row[i].1)?;
            multiple = multiple / stage1::gcd(multiple, a) * a.abs();
            if multiple * grid > crate::MAX_DENOMINATOR as i128 {
                return None;
            }
        }
        let denominator = multiple * grid;
        // Every new value times the denominator.
        let mut scaled: HashMap<u32, i128> = HashMap::new();
        for (&a, &f) in &free {
            scaled.insert(a, f * multiple);
        }
        for (p, row) in &solved {
            let (mut a_p, mut sum) = (0i128, 0i128);
            for &(j, c) in row {
                if j == *p {
                    a_p = c;
                } else if j == rhs {
                    sum = sum.checked_add(c.checked_mul(grid)?)?;
                } else {
                    sum = sum.checked_sub(c.checked_mul(*free.get(&j)?)?)?;
                }
            }
            // a_p x_p = sum / grid, so x_p * denominator = sum * (multiple / a_p).
            scaled.insert(*p, sum.checked_mul(multiple / a_p)?);
        }
        for (&a, &v) in &known {
            scaled.insert(a, (v as i128).checked_mul(denominator)?);
        }
        let delta = scaled
            .iter()
            .map(|(&a, &x)| (a, x - truth[a as usize] as i128 * denominator))
            .collect();
        self.table(denominator, delta)
    }

    /// The table of the true values plus `delta / denominator` as a witness: `None` when an
    /// atom leaves its bounds, nothing changes, or its sums could overflow. Reduces the
    /// denominator as far as it goes.
    fn table(&self, denominator: i128, delta: Vec<(u32, i128)>) -> Option<Witness> {
        let (truth, lower, upper) = (self.truth, self.lower, self.upper);
        let mut delta: Vec<(u32, i128)> = delta.into_iter().filter(|&(_, x)| x != 0).collect();
        let mut total: i128 = 0;
        for &(a, x) in &delta {
            let i = a as usize;
            let new = (truth[i] as i128)
                .checked_mul(denominator)?
                .checked_add(x)?;
            if new < lower[i] as i128 * denominator
                || upper[i].is_some_and(|u| new > u as i128 * denominator)
            {
                return None;
            }
            total = total.checked_add(new / denominator + 1 + truth[i] as i128)?;
        }
        let g = delta
            .iter()
            .fold(denominator, |g, &(_, x)| stage1::gcd(g, x));
        let denominator = denominator / g;
        // Every sum of the witness far from overflowing `i64`.
        if delta.is_empty()
            || denominator > crate::MAX_DENOMINATOR as i128
            || total.saturating_mul(denominator).saturating_mul(4) > i64::MAX as i128
        {
            return None;
        }
        delta.sort_unstable();
        Some(Witness {
            denominator: denominator as i64,
            delta: delta
                .into_iter()
                .map(|(a, x)| (a, (x / g) as i64))
                .collect(),
        })
    }

    /// The null space of the equations, computed once per set of equations.
    fn kernel(&mut self) -> Option<&Kernel> {
        if self.kernel.is_none() {
            let rows = self
                .rows
                .iter()
                .enumerate()
                .filter(|&(c, _)| self.equation[c])
                .map(|(c, r)| (c, r.as_slice()));
            let n_atoms = self.cells_of_atom.len();
            self.kernel = Some(stage1::Basis::of_rows(rows).ok().map(|basis| {
                let n = basis.kernel(n_atoms);
                let mut free = Vec::new();
                for (a, entries) in n.iter().enumerate() {
                    if let [(j, x)] = entries.as_slice()
                        && *x == 1.0
                        && *j as usize == free.len()
                        && !basis.is_pivot(a as u32)
                    {
                        free.push(a as u32);
                    }
                }
                Kernel { n, free }
            }));
        }
        self.kernel.as_ref().and_then(Option::as_ref)
    }

    /// The LP over every atom, in the coordinates of the null space of the equations: `y` with
    /// `truth + N y >= 0`: as many variables as the release leaves degrees of freedom instead
    /// of one per atom, and no equations. Falls back to [`Self::optimise`] over every atom when a
    /// target is an equation or the null space overflows.
    fn optimise_all(
        &mut self,
        targets: &[usize],
        direction: OptimizationDirection,
        reach: Reach,
        cell: usize,
        series: usize,
    ) -> Result<Option<Witness>> {
        self.optimise_kernel(targets, direction, None, reach, cell, series)
    }

    /// [`Self::optimise_all`], or with `shared = Some((need, weight, caps))` a table in which
    /// each target rises as far as it still needs (the first up to `need`, the others up to
    /// their caps): the sum of the rises so capped is maximised, the first target's weighted
    /// by `weight` and the others' by 1 (a fall counts against it). One LP then proves the
    /// first target where any table can and, often, others besides.
    fn optimise_kernel(
        &mut self,
        targets: &[usize],
        direction: OptimizationDirection,
        shared: Option<(f64, f64, &[f64])>,
        reach: Reach,
        cell: usize,
        series: usize,
    ) -> Result<Option<Witness>> {
        self.kernel();
        self.optimise_ready(targets, direction, shared, reach, cell, series)
    }

    /// [`Self::optimise_kernel`] once the null space is computed (or found not computable):
    /// `&self` only, so that two LPs can run at once.
    fn optimise_ready(
        &self,
        targets: &[usize],
        direction: OptimizationDirection,
        shared: Option<(f64, f64, &[f64])>,
        reach: Reach,
        cell: usize,
        series: usize,
    ) -> Result<Option<Witness>> {
        let kernel = self.kernel.as_ref().and_then(Option::as_ref);
        if targets.iter().any(|&t| self.is_equation(t as u32)) || kernel.is_none() {
            if shared.is_some() || reach != Reach::All {
                return Ok(None);
            }
            let all: Vec<u32> = (0..self.cells_of_atom.len() as u32).collect();
            return self.optimise(targets, &all, direction, cell, series);
        }
        let Some(kernel) = kernel else {
            return Ok(None);
        };
        let Some(lp) = self.kernel_lp(kernel, targets, direction, shared, reach) else {
            return Ok(None);
        };
        let Some(solution) = self.solve(&lp.problem, cell, series) else {
            return Ok(None);
        };
        // The shared targets the LP raised exactly to their caps (integers) may be pinned
        // there when the optimum is rebuilt exactly.
        let caps: Vec<(usize, f64)> = match shared {
            Some((need, _, caps)) => targets
                .iter()
                .copied()
                .zip(std::iter::once(need).chain(caps.iter().copied()))
                .collect(),
            None => Vec::new(),
        };
        Ok(self.kernel_witness(kernel, &lp, &solution, &caps))
    }

    /// A target's change as a combination of the kernel vectors (sorted, no zeros).
    fn coefficients(&self, kernel: &Kernel, t: usize) -> Vec<(u32, f64)> {
        let mut c: HashMap<u32, f64> = HashMap::new();
        for &a in &self.rows[t] {
            for &(j, x) in &kernel.n[a as usize] {
                *c.entry(j).or_default() += x;
            }
        }
        let mut c: Vec<(u32, f64)> = c.into_iter().filter(|&(_, x)| x != 0.0).collect();
        c.sort_unstable_by_key(|e| e.0);
        c
    }

    /// The LP of [`Self::optimise_ready`], built (`None`: the reach is nearly everywhere, and
    /// the LP over all vectors is the cheaper one).
    fn kernel_lp(
        &self,
        kernel: &Kernel,
        targets: &[usize],
        direction: OptimizationDirection,
        shared: Option<(f64, f64, &[f64])>,
        reach: Reach,
    ) -> Option<KernelLp> {
        let truth = self.truth;
        let rows = self.rows;
        let k = kernel.free.len();
        if k == 0 {
            return None;
        }
        // The kernel vectors the LP may use: all, or those that move the target and those
        // whose own atom is in its neighbourhood.
        let selected: Vec<bool> = match reach {
            Reach::All => vec![true; k],
            Reach::Near(t) => {
                let near = self.neighbourhood(t);
                let mut s = vec![false; k];
                for &a in &rows[t] {
                    for &(j, _) in &kernel.n[a as usize] {
                        s[j as usize] = true;
                    }
                }
                for &a in &near {
                    if let [(j, x)] = kernel.n[a as usize].as_slice()
                        && *x == 1.0
                        && kernel.free[*j as usize] == a
                    {
                        s[*j as usize] = true;
                    }
                }
                s
            }
        };
        // Near a cell in a small or crowded system is nearly everywhere: then the LP over all
        // vectors alone is cheaper.
        if reach != Reach::All && selected.iter().filter(|&&x| x).count() * 3 > k {
            return None;
        }
        let mut objective = vec![0.0; k];
        if shared.is_none() {
            for &t in targets {
                for (j, x) in self.coefficients(kernel, t) {
                    objective[j as usize] += x;
                }
            }
        }
        let mut problem = Problem::new(if shared.is_some() {
            OptimizationDirection::Maximize
        } else {
            direction
        });
        let (lower, upper) = (self.lower, self.upper);
        let vars: Vec<microlp::Variable> = (0..k)
            .map(|j| {
                let a = kernel.free[j] as usize;
                let t = truth[a];
                let room = if selected[j] {
                    (
                        (lower[a] - t) as f64,
                        upper[a].map_or(f64::INFINITY, |u| (u - t) as f64),
                    )
                } else {
                    (0.0, 0.0)
                };
                problem.add_var(objective[j], room)
            })
            .collect();
        let mut moving: Vec<u32> = Vec::new();
        for (a, entries) in kernel.n.iter().enumerate() {
            if entries.is_empty() || !entries.iter().any(|&(j, _)| selected[j as usize]) {
                continue;
            }
            moving.push(a as u32);
            if entries.len() == 1 && kernel.free[entries[0].0 as usize] == a as u32 {
                continue; // a free column: its bound is the variable's
            }
            let expr: Vec<(microlp::Variable, f64)> = entries
                .iter()
                .filter(|&&(j, _)| selected[j as usize])
                .map(|&(j, x)| (vars[j as usize], x))
                .collect();
            problem.add_constraint(
                expr.as_slice(),
                ComparisonOp::Ge,
                (lower[a] - truth[a]) as f64,
            );
            if let Some(u) = upper[a] {
                problem.add_constraint(expr.as_slice(), ComparisonOp::Le, (u - truth[a]) as f64);
            }
        }
        if let Some((need, weight, caps)) = shared {
            // gain_i <= change_i, gain_i <= cap_i (the target's cap: its need); the sum of the
            // gains maximised, the target's weighing more than all the others' together.
            let mut can_move = vec![false; kernel.n.len()];
            for &a in &moving {
                can_move[a as usize] = true;
            }
            for ((&t, cap), weight) in targets
                .iter()
                .zip(std::iter::once(need).chain(caps.iter().copied()))
                .zip(std::iter::once(weight).chain(std::iter::repeat(1.0)))
            {
                // (A target none of whose atoms can move here is left out before its
                // coefficients are summed: near a cell, most are.)
                if !rows[t].iter().any(|&a| can_move[a as usize]) {
                    continue;
                }
                let mut expr: Vec<(microlp::Variable, f64)> = self
                    .coefficients(kernel, t)
                    .into_iter()
                    .filter(|&(j, _)| selected[j as usize])
                    .map(|(j, x)| (vars[j as usize], -x))
                    .collect();
                if expr.is_empty() {
                    continue;
                }
                expr.push((problem.add_var(weight, (f64::NEG_INFINITY, cap)), 1.0));
                problem.add_constraint(expr.as_slice(), ComparisonOp::Le, 0.0);
            }
        }
        for &c in &self.assumed {
            // An assumed cell keeps its value: the sum of its atoms' changes is zero.
            let expr: Vec<(microlp::Variable, f64)> = self
                .coefficients(kernel, c as usize)
                .into_iter()
                .map(|(j, x)| (vars[j as usize], x))
                .collect();
            if !expr.is_empty() {
                problem.add_constraint(expr.as_slice(), ComparisonOp::Eq, 0.0);
            }
        }
        Some(KernelLp {
            problem,
            vars,
            moving,
        })
    }

    /// Solves one of the LPs that look for tables: its optimum, `None` when it has none
    /// (infeasible: no table does what is asked; unbounded) or when the solver fails (it
    /// stalls or is interrupted). A failed search proves nothing: the cell stays as unproven
    /// as before, so protection hides more rather than less, and the audit, which solves its
    /// own LPs and fails closed, still decides the release. Failing the whole run instead
    /// would lose it to a numerical accident of one search among thousands. Failures are
    /// counted ([`Self::take_solver_failures`]) and reported with the release.
    fn solve(&self, problem: &Problem, cell: usize, series: usize) -> Option<microlp::Solution> {
        let failed = || {
            self.failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((cell, series));
            None
        };
        #[cfg(test)]
        if tests::FAIL_EVERY_LP.with(std::cell::Cell::get) {
            return failed();
        }
        match problem.solve().map(microlp::SolveOutcome::into_solution) {
            Ok(Ok(solution)) => Some(solution),
            Err(microlp::Error::Infeasible | microlp::Error::Unbounded) => None,
            Ok(Err(_)) | Err(_) => failed(),
        }
    }

    /// The table at an optimum of a [`KernelLp`], exact and re-checked (`None`: not
    /// recognised). `caps`: targets and the integers they may have been raised exactly to.
    fn kernel_witness(
        &self,
        kernel: &Kernel,
        lp: &KernelLp,
        solution: &microlp::Solution,
        caps: &[(usize, f64)],
    ) -> Option<Witness> {
        let y: Vec<f64> = lp.vars.iter().map(|&v| solution.var_value(v)).collect();
        // The change of every atom that can move.
        let changes: Vec<(u32, f64)> = lp
            .moving
            .iter()
            .map(|&a| {
                let d: f64 = kernel.n[a as usize]
                    .iter()
                    .map(|&(j, x)| x * y[j as usize])
                    .sum();
                (a, d)
            })
            .collect();
        // Exact re-check: every equation keeps its value.
        let holds = |w: &Witness| {
            self.cell_changes(w, |c| self.is_equation(c))
                .values()
                .all(|&x| x == 0)
        };
        if let Some(w) = self.exact(changes.iter().copied()).filter(holds) {
            return Some(w);
        }
        // Not recognised: the exact vertex, with the targets the LP raised exactly to their
        // caps pinned there.
        let mut pins: Vec<(usize, i64)> = Vec::new();
        if !caps.is_empty() {
            let change: HashMap<u32, f64> = changes.iter().copied().collect();
            for &(t, cap) in caps {
                let rise: f64 = self.rows[t].iter().filter_map(|a| change.get(a)).sum();
                if (rise - cap).abs() <= 1e-6 && !pins.iter().any(|p| p.0 == t) {
                    pins.push((t, cap.round() as i64));
                }
            }
        }
        self.vertex(&changes, &pins)
            .or_else(|| {
                (!pins.is_empty())
                    .then(|| self.vertex(&changes, &[]))
                    .flatten()
            })
            .filter(holds)
    }

    /// The LP over `atoms` (the others fixed at their true values) maximising or minimising
    /// the sum of `targets` (the equation of each target dropped): an optimal table as a
    /// witness, or `None` when the optimum is not recognised as an exact rational.
    fn optimise(
        &self,
        targets: &[usize],
        atoms: &[u32],
        direction: OptimizationDirection,
        cell: usize,
        series: usize,
    ) -> Result<Option<Witness>> {
        let mut weight: HashMap<u32, u32> = HashMap::new();
        for &t in targets {
            for &a in &self.rows[t] {
                *weight.entry(a).or_default() += 1;
            }
        }
        // Equations touching the free atoms, and the groups of free atoms alike in all of them.
        let mut rows_of: HashMap<u32, Vec<u32>> = HashMap::new();
        for &a in atoms {
            let rs: Vec<u32> = self.cells_of_atom[a as usize]
                .iter()
                .copied()
                .filter(|&c| self.is_equation(c) && !targets.contains(&(c as usize)))
                .collect();
            rows_of.insert(a, rs);
        }
        let mut groups: Vec<(Vec<u32>, u32, Vec<u32>)> = Vec::new();
        let mut group_of: HashMap<(&[u32], u32), usize> = HashMap::new();
        for &a in atoms {
            let t = weight.get(&a).copied().unwrap_or(0);
            let key = (rows_of[&a].as_slice(), t);
            let g = *group_of.entry(key).or_insert_with(|| {
                groups.push((key.0.to_vec(), t, Vec::new()));
                groups.len() - 1
            });
            groups[g].2.push(a);
        }
        let mut problem = Problem::new(direction);
        let mut terms: HashMap<u32, Vec<(microlp::Variable, f64)>> = HashMap::new();
        let mut rhs: HashMap<u32, i64> = HashMap::new();
        let mut vars = Vec::with_capacity(groups.len());
        for (rs, t, members) in &groups {
            let lo: i64 = members.iter().map(|&a| self.lower[a as usize]).sum();
            let hi: Option<i64> = members.iter().map(|&a| self.upper[a as usize]).sum();
            let v = problem.add_var(
                f64::from(*t),
                (lo as f64, hi.map_or(f64::INFINITY, |h| h as f64)),
            );
            vars.push(v);
            let value: i64 = members.iter().map(|&a| self.truth[a as usize]).sum();
            for &r in rs {
                terms.entry(r).or_default().push((v, 1.0));
                *rhs.entry(r).or_default() += value;
            }
        }
        let mut constrained: Vec<u32> = terms.keys().copied().collect();
        constrained.sort_unstable();
        for r in &constrained {
            problem.add_constraint(terms[r].as_slice(), ComparisonOp::Eq, rhs[r] as f64);
        }
        let Some(solution) = self.solve(&problem, cell, series) else {
            return Ok(None);
        };
        let values: Vec<f64> = vars.iter().map(|&v| solution.var_value(v)).collect();
        let Some((denominator, scaled)) = rationalise(&values) else {
            return Ok(None);
        };
        // Every sum below stays far from overflowing: the free atoms' total times the
        // denominator, with room to spare.
        let total: i128 = atoms
            .iter()
            .map(|&a| self.truth[a as usize] as i128)
            .sum::<i128>()
            + values.iter().map(|v| v.ceil() as i128).sum::<i128>();
        if total.saturating_mul(denominator as i128).saturating_mul(4) > i64::MAX as i128 {
            return Ok(None);
        }
        // Exact re-check of every equation in integers.
        let mut sums: HashMap<u32, i64> = HashMap::new();
        for ((rs, _, _), &p) in groups.iter().zip(&scaled) {
            for &r in rs {
                *sums.entry(r).or_default() += p;
            }
        }
        if constrained
            .iter()
            .any(|r| sums.get(r).copied().unwrap_or(0) != rhs[r] * denominator)
        {
            return Ok(None);
        }
        // Spread each group's change over its atoms, keeping every atom within its bounds:
        // a rise fills them in turn up to their upper bounds, a fall takes from them down to
        // their lower bounds.
        let mut delta: Vec<(u32, i64)> = Vec::new();
        for ((_, _, members), &p) in groups.iter().zip(&scaled) {
            let old: i64 = members.iter().map(|&a| self.truth[a as usize]).sum();
            let change = p - old * denominator;
            let mut left = change.abs();
            for &a in members {
                if left == 0 {
                    break;
                }
                let t = a as usize;
                let room = if change > 0 {
                    self.upper[t].map_or(i64::MAX, |u| (u - self.truth[t]) * denominator)
                } else {
                    (self.truth[t] - self.lower[t]) * denominator
                };
                let take = room.min(left);
                if take > 0 {
                    delta.push((a, if change > 0 { take } else { -take }));
                    left -= take;
                }
            }
            if left != 0 {
                return Ok(None);
            }
        }
        delta.sort_unstable();
        if delta.is_empty() {
            return Ok(None);
        }
        Ok(Some(Witness { denominator, delta }))
    }
}

/// Whether two sorted lists share no element.
pub(crate) fn disjoint(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return false,
        }
    }
    true
}

/// Recognises LP values as exact rationals `p / d` with a common denominator: a small common
/// denominator first, else each value's best rational approximation with a denominator up to
/// 10^6 (continued fractions) and their least common multiple (at most 10^12). The caller
/// re-checks the result exactly and drops it if it is not an exact table.
fn rationalise(values: &[f64]) -> Option<(i64, Vec<i64>)> {
    small_denominator(values).or_else(|| continued_fractions(values))
}

/// A common denominator up to 240 that makes every value an integer (within 1e-6 relative).
fn small_denominator(values: &[f64]) -> Option<(i64, Vec<i64>)> {
    'denominators: for d in 1..=240i64 {
        let mut out = Vec::with_capacity(values.len());
        for &v in values {
            if !v.is_finite() || v < -1e-7 {
                return None;
            }
            let x = v.max(0.0) * d as f64;
            let r = x.round();
            if (x - r).abs() > 1e-6 * (1.0 + x) {
                continue 'denominators;
            }
            out.push(r as i64);
        }
        return Some((d, out));
    }
    None
}

/// Larger denominators, value by value (continued fractions), their least common multiple.
fn continued_fractions(values: &[f64]) -> Option<(i64, Vec<i64>)> {
    let mut d: i64 = 1;
    for &v in values {
        if !v.is_finite() || v < -1e-7 {
            return None;
        }
        let v = v.max(0.0);
        if (v * d as f64 - (v * d as f64).round()).abs() <= 1e-7 * (1.0 + v * d as f64) {
            continue;
        }
        let q = denominator(v)?;
        d = lcm(d, q)?;
    }
    let out = values
        .iter()
        .map(|&v| (v.max(0.0) * d as f64).round() as i64)
        .collect();
    Some((d, out))
}

/// The denominator of the best rational approximation of `v` (within 1e-9 relative) with a
/// denominator up to 10^6.
fn denominator(v: f64) -> Option<i64> {
    let (mut h0, mut h1, mut k0, mut k1) = (0i64, 1i64, 1i64, 0i64);
    let mut x = v;
    for _ in 0..40 {
        let a = x.floor();
        let ai = a as i64;
        let (h2, k2) = (
            ai.checked_mul(h1)?.checked_add(h0)?,
            ai.checked_mul(k1)?.checked_add(k0)?,
        );
        if k2 > 1_000_000 {
            return None;
        }
        if (v - h2 as f64 / k2 as f64).abs() <= 1e-9 * (1.0 + v.abs()) {
            return Some(k2);
        }
        (h0, h1, k0, k1) = (h1, h2, k1, k2);
        let frac = x - a;
        if frac < 1e-12 {
            return None;
        }
        x = 1.0 / frac;
    }
    None
}

fn lcm(a: i64, b: i64) -> Option<i64> {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    let l = (a / x).checked_mul(b)?;
    (l <= 1_000_000_000_000).then_some(l)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    std::thread_local! {
        /// Makes every search LP of this thread fail, as a stalled solver does.
        pub(crate) static FAIL_EVERY_LP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// An `r x c` table published by its margins and total, every inner cell hidden: rows
    /// `0..r*c` are the inner cells, then the row sums, the column sums, the total.
    fn margins(r: usize, c: usize) -> (Vec<Vec<u32>>, Vec<bool>) {
        let n = r * c;
        let mut rows: Vec<Vec<u32>> = (0..n as u32).map(|a| vec![a]).collect();
        rows.extend((0..r).map(|i| (0..c).map(|j| (i * c + j) as u32).collect()));
        rows.extend((0..c).map(|j| (0..r).map(|i| (i * c + j) as u32).collect()));
        rows.push((0..n as u32).collect());
        let hidden = (0..rows.len()).map(|k| k < n).collect();
        (rows, hidden)
    }

    /// Checks a witness against the table: every published cell keeps its value, every atom
    /// stays at or above zero; returns the witness's change of `target` (times its
    /// denominator).
    fn check(rows: &[Vec<u32>], hidden: &[bool], truth: &[i64], w: &Witness, target: usize) -> i64 {
        for (k, row) in rows.iter().enumerate() {
            if !hidden[k] {
                assert_eq!(w.change(row), 0, "published cell {k} changed by {w:?}");
            }
        }
        for &(a, x) in &w.delta {
            assert!(
                truth[a as usize] * w.denominator + x >= 0,
                "atom {a} below 0 in {w:?}"
            );
        }
        w.change(&rows[target])
    }

    #[test]
    fn a_solver_that_fails_proves_nothing_and_the_release_stays_safe() {
        // A 3 x 3 table published by its margins and total, three small cells on the
        // diagonal: protection needs LPs to prove their ranges.
        let (rows, _) = margins(3, 3);
        let system = crate::LinearSystem::new(9, rows).unwrap();
        let counts: [i64; 9] = [3, 40, 25, 30, 2, 50, 45, 35, 4];
        let run = || {
            crate::release(
                &system,
                &[&counts],
                &crate::Fixed::default(),
                &crate::Policy::default(),
            )
        };
        let normal = run().unwrap();
        assert!(normal.solver_failures.is_empty());
        FAIL_EVERY_LP.with(|f| f.set(true));
        let failing = run();
        FAIL_EVERY_LP.with(|f| f.set(false));
        // Not refused: the audit (its own LPs) passed what protection chose without any.
        let failing = failing.unwrap();
        assert!(!failing.solver_failures.is_empty());
        assert!(
            failing
                .solver_failures
                .iter()
                .all(|&(c, s)| c < 9 && s == 0)
        );
        // Without proofs from LPs it hides at least what it hid with them, and every small
        // cell stays hidden.
        assert!(
            failing.hidden() >= normal.hidden(),
            "{failing:?}\n{normal:?}"
        );
        for c in [0, 4, 8] {
            assert!(failing.statuses[c].is_hidden());
        }
    }

    #[test]
    fn vertex_makes_a_noisy_optimum_exact() {
        // [[1, 2], [3, 4]]: cell 0 at most 3 (row 0), then b = 0, c = 1, d = 6.
        let (rows, hidden) = margins(2, 2);
        let truth = [1, 2, 3, 4];
        let (lower, upper) = ([0; 4], [None; 4]);
        let attacker = Attacker::new(
            &rows,
            4,
            (&truth, &lower, &upper),
            &hidden,
            vec![],
            vec![true; rows.len()],
        );
        // As a solver returns it: b a little below zero, the others off by as much.
        let noisy = [
            (0, 2.0 + 2e-7),
            (1, -2.0 - 3e-7),
            (2, -2.0 + 1e-7),
            (3, 2.0 - 2e-7),
        ];
        assert_eq!(attacker.exact(noisy.iter().copied()), None);
        let w = attacker.vertex(&noisy, &[]).expect("the vertex");
        assert_eq!(
            w,
            Witness {
                denominator: 1,
                delta: vec![(0, 2), (1, -2), (2, -2), (3, 2)],
            }
        );
        // Misread: b and c both at zero cannot be (a = 3 from row 0, then c = 1).
        let misread = [(0, 2.0), (1, -2.0 + 1e-7), (2, -3.0 + 1e-7), (3, 2.0)];
        assert_eq!(attacker.vertex(&misread, &[]), None);
        // A pin the vertex cannot meet (cell 0 up by 5: row 0 is 3).
        assert_eq!(attacker.vertex(&noisy, &[(0, 5)]), None);
    }

    proptest! {
        /// An LP optimum, rounded off by up to 1e-8 per atom as a solver leaves it, is made
        /// exact again: the same change of the target, every published cell kept, no atom
        /// below zero.
        #[test]
        fn vertex_recovers_lp_optima(
            r in 2usize..5,
            c in 2usize..5,
            seed in proptest::collection::vec(0i64..6, 16),
            noise in proptest::collection::vec(-1e-8f64..1e-8, 16),
            pick in 0usize..16,
            up in any::<bool>(),
        ) {
            let (rows, hidden) = margins(r, c);
            let n = r * c;
            let truth: Vec<i64> = seed[..n].to_vec();
            let (lower, upper) = (vec![0; n], vec![None; n]);
            let mut attacker = Attacker::new(
                &rows, n, (&truth, &lower, &upper), &hidden, vec![], vec![true; rows.len()],
            ).local_first(false);
            let target = pick % n;
            let direction = if up {
                OptimizationDirection::Maximize
            } else {
                OptimizationDirection::Minimize
            };
            let Some(exact) = attacker.optimise_all(&[target], direction, Reach::All, 0, 0).unwrap() else {
                return Ok(()); // the target cannot move that way
            };
            let want = check(&rows, &hidden, &truth, &exact, target);
            let mut moved: HashMap<u32, i64> = exact.delta.iter().copied().collect();
            let changes: Vec<(u32, f64)> = (0..n as u32)
                .map(|a| {
                    let d = moved.remove(&a).unwrap_or(0) as f64 / exact.denominator as f64;
                    (a, if d == 0.0 { 0.0 } else { d + noise[a as usize] })
                })
                .collect();
            let w = attacker.vertex(&changes, &[]).expect("an exact vertex");
            let got = check(&rows, &hidden, &truth, &w, target);
            prop_assert_eq!(got * exact.denominator, want * w.denominator);
        }

        /// Every table from the warm start is valid, reaches the value asked exactly when the
        /// LP solved anew says some table does, and the bisections of [`Attacker::warm_bounds`]
        /// end at the greatest and least integer values the LPs solved anew find.
        #[test]
        fn warm_tables_agree_with_lps_solved_anew(
            r in 2usize..5,
            c in 2usize..5,
            seed in proptest::collection::vec(0i64..8, 16),
            pick in 0usize..16,
            width in 1i64..12,
        ) {
            let (rows, hidden) = margins(r, c);
            let n = r * c;
            let truth: Vec<i64> = seed[..n].to_vec();
            let (lower, upper) = (vec![0; n], vec![None; n]);
            let fresh = || {
                let mut a = Attacker::new(
                    &rows, n, (&truth, &lower, &upper), &hidden, vec![], vec![true; rows.len()],
                ).local_first(false);
                a.want((0..n).map(|t| (t, width)).collect());
                a.kernel();
                a.warm = Some(a.warm_start(0, 0).0);
                a
            };
            let mut attacker = fresh();
            prop_assert!(matches!(attacker.warm, Some(Some(_))));
            let target = pick % n;
            let v = truth[target];
            let extreme = |attacker: &mut Attacker<'_>, direction| -> f64 {
                attacker
                    .optimise_all(&[target], direction, Reach::All, 0, 0)
                    .unwrap()
                    .map_or(v as f64, |w| {
                        let x = check(&rows, &hidden, &truth, &w, target);
                        v as f64 + x as f64 / w.denominator as f64
                    })
            };
            let max = extreme(&mut attacker, OptimizationDirection::Maximize);
            let min = extreme(&mut attacker, OptimizationDirection::Minimize);
            for value in 0..=v + 12 {
                for (op, possible) in [
                    (ComparisonOp::Ge, value as f64 <= max + 1e-9),
                    (ComparisonOp::Le, value as f64 >= min - 1e-9),
                ] {
                    match attacker.warm_table(target, op, value) {
                        Some(Reached::Table(w)) => {
                            prop_assert!(possible, "{value} {op:?} reached beyond [{min}, {max}]");
                            let x = check(&rows, &hidden, &truth, &w, target);
                            let got = v * w.denominator + x;
                            let reached = match op {
                                ComparisonOp::Ge => got >= value * w.denominator,
                                _ => got <= value * w.denominator,
                            };
                            prop_assert!(reached);
                        }
                        Some(Reached::Infeasible) => {
                            prop_assert!(!possible, "{value} {op:?} within [{min}, {max}] refused");
                        }
                        Some(Reached::Short(w)) => {
                            check(&rows, &hidden, &truth, &w, target);
                        }
                        None => {}
                    }
                }
            }
            // The bisection, on an attacker that has proven nothing yet.
            let mut attacker = fresh();
            let short = attacker.need(&attacker.pooled(target), target, width);
            if let Some(need) = short.filter(|need| (v + need) as f64 > max + 1e-9) {
                let known = attacker.warm_bounds(target, width, v + need);
                let p = attacker.pooled(target);
                if known.max {
                    let upper = p.upper.expect("bounded");
                    prop_assert_eq!((upper + 1e-9).floor(), (max + 1e-9).floor());
                }
                if known.min {
                    prop_assert_eq!((p.lower - 1e-9).ceil(), (min - 1e-9).ceil());
                }
            }
        }

        /// With singletons to protect, the warm start decides as the LPs solved anew: the
        /// same verdict for a target, with or without a singleton's cell held, and every
        /// table it adds consistent with the release.
        #[test]
        fn warm_local_decides_as_lps_solved_anew(
            r in 2usize..5,
            c in 2usize..5,
            seed in proptest::collection::vec(0i64..8, 16),
            pick in 0usize..16,
            held in 0usize..16,
            width in 1i64..12,
        ) {
            let (rows, hidden) = margins(r, c);
            let n = r * c;
            let truth: Vec<i64> = seed[..n].to_vec();
            let (lower, upper) = (vec![0; n], vec![None; n]);
            let target = pick % n;
            let held = held % n;
            let assumed: Vec<usize> = if held == target { vec![] } else { vec![held] };
            let good = |p: &Proven| p.width().is_none_or(|w| w >= width);
            let verdict = |warm_rank: usize| -> Result<bool, TestCaseError> {
                let mut a = Attacker::new(
                    &rows, n, (&truth, &lower, &upper), &hidden, vec![], vec![true; rows.len()],
                );
                a.warm_rank = warm_rank;
                a.want((0..n).map(|t| (t, width)).collect());
                a.assume(&assumed);
                let p = a.prove(target, width, good, 0, 0).unwrap();
                // (Tables that change the held cell prove nothing for its singleton, and
                // `pooled` leaves them out; they stay valid for everyone else.)
                for e in &a.pool {
                    check(&rows, &hidden, &truth, &e.witness, target);
                }
                Ok(good(&p))
            };
            prop_assert_eq!(verdict(0)?, verdict(usize::MAX)?);
        }
    }
}
