//! Disclosure control: literature fixtures, independent oracles (written here, apart from the
//! crate), property tests, mutation and determinism checks, a performance smoke test.

#![allow(clippy::needless_range_loop)]

use std::collections::HashSet;
use std::time::Instant;

use microlp::{ComparisonOp, OptimizationDirection, Problem};
use proptest::prelude::*;
use spiegel_disclosure::{
    Bounds, CellWidth, Error, Fixed, LinearSystem, MagnitudeRule, Policy, PrimaryReason, Status,
    audit, audit_fixed, audit_with, largest_two, primary_only, protect, release,
};

// ---------------------------------------------------------------------------------------------
// Oracles, independent of the crate.
// ---------------------------------------------------------------------------------------------

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Exact rank test: is `target` (a 0/1 row over `n` inner cells) a rational combination of
/// `rows`? Dense fraction-free elimination over i128 on the matrix [rows; target] by columns.
fn in_span(n: usize, rows: &[Vec<u32>], target: &[u32]) -> bool {
    let dense = |r: &[u32]| {
        let mut v = vec![0i128; n];
        for &i in r {
            v[i as usize] = 1;
        }
        v
    };
    let mut m: Vec<Vec<i128>> = rows.iter().map(|r| dense(r)).collect();
    let mut t = dense(target);
    let mut used = vec![false; m.len()];
    for col in 0..n {
        let Some(p) = (0..m.len()).find(|&r| !used[r] && m[r][col] != 0) else {
            continue;
        };
        used[p] = true;
        let pivot = m[p].clone();
        let eliminate = |v: &mut Vec<i128>| {
            if v[col] != 0 {
                let (a, b) = (pivot[col], v[col]);
                for j in 0..n {
                    v[j] = v[j] * a - pivot[j] * b;
                }
                let g = v.iter().fold(0, |g, &x| gcd(g, x));
                if g > 1 {
                    v.iter_mut().for_each(|x| *x /= g);
                }
            }
        };
        for r in 0..m.len() {
            if r != p {
                eliminate(&mut m[r]);
            }
        }
        eliminate(&mut t);
    }
    t.iter().all(|&x| x == 0)
}

/// LP attack written here: min and max of the target's sum over non-negative real tables
/// reproducing every published value (one LP over all inner cells).
fn lp_attack(n: usize, published: &[Vec<u32>], values: &[i64], target: &[u32]) -> (f64, f64) {
    lp_attack_within(n, published, values, target, &vec![0; n], &vec![None; n])
}

/// [`lp_attack`] for an attacker who also knows bounds of every inner cell.
fn lp_attack_within(
    n: usize,
    published: &[Vec<u32>],
    values: &[i64],
    target: &[u32],
    lower: &[i64],
    upper: &[Option<i64>],
) -> (f64, f64) {
    let covered: HashSet<u32> = published.iter().flatten().copied().collect();
    let solve = |dir| {
        let mut p = Problem::new(dir);
        let t: HashSet<u32> = target.iter().copied().collect();
        let vars: Vec<_> = (0..n as u32)
            .map(|i| {
                let range = (
                    lower[i as usize] as f64,
                    upper[i as usize].map_or(f64::INFINITY, |u| u as f64),
                );
                p.add_var(if t.contains(&i) { 1.0 } else { 0.0 }, range)
            })
            .collect();
        for r in published {
            let total: i64 = r.iter().map(|&i| values[i as usize]).sum();
            let e: Vec<_> = r.iter().map(|&i| (vars[i as usize], 1.0)).collect();
            p.add_constraint(e.as_slice(), ComparisonOp::Eq, total as f64);
        }
        p.solve().unwrap().into_solution().unwrap().objective()
    };
    let lo = solve(OptimizationDirection::Minimize);
    let hi = if target
        .iter()
        .any(|&i| !covered.contains(&i) && upper[i as usize].is_none())
    {
        f64::INFINITY
    } else {
        solve(OptimizationDirection::Maximize)
    };
    (lo, hi)
}

/// Brute force on tiny systems: integer min and max of the target over every non-negative
/// integer table reproducing every published value. An inner cell is at most the smallest
/// published cell containing it; one contained in none makes the maximum unbounded.
/// `None` when the enumeration would be too large.
fn brute_force(
    n: usize,
    published: &[Vec<u32>],
    values: &[i64],
    target: &[u32],
) -> Option<(i64, Option<i64>)> {
    brute_force_within(n, published, values, target, &vec![0; n], &vec![None; n])
}

/// [`brute_force`] for an attacker who also knows bounds of every inner cell.
fn brute_force_within(
    n: usize,
    published: &[Vec<u32>],
    values: &[i64],
    target: &[u32],
    lower: &[i64],
    upper: &[Option<i64>],
) -> Option<(i64, Option<i64>)> {
    let totals: Vec<i64> = published
        .iter()
        .map(|r| r.iter().map(|&i| values[i as usize]).sum())
        .collect();
    let mut cap: Vec<i64> = upper.iter().map(|u| u.unwrap_or(i64::MAX)).collect();
    for (r, &t) in published.iter().zip(&totals) {
        for &i in r {
            cap[i as usize] = cap[i as usize].min(t);
        }
    }
    let unbounded = target.iter().any(|&i| cap[i as usize] == i64::MAX);
    // Inner cells in no published cell and without an upper bound do not constrain anything:
    // fix them at their lower bound.
    let caps: Vec<i64> = cap
        .iter()
        .zip(lower)
        .map(|(&c, &l)| if c == i64::MAX { l } else { c })
        .collect();
    let size: f64 = caps
        .iter()
        .zip(lower)
        .map(|(&c, &l)| (c - l + 1).max(1) as f64)
        .product();
    if size > 200_000.0 {
        return None;
    }
    let mut x: Vec<i64> = lower.to_vec();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    loop {
        if published
            .iter()
            .zip(&totals)
            .all(|(r, &t)| r.iter().map(|&i| x[i as usize]).sum::<i64>() == t)
        {
            let v: i64 = target.iter().map(|&i| x[i as usize]).sum();
            lo = lo.min(v);
            hi = hi.max(v);
        }
        let mut j = 0;
        loop {
            if j == n {
                return Some((lo, if unbounded { None } else { Some(hi) }));
            }
            if x[j] < caps[j] {
                x[j] += 1;
                break;
            }
            x[j] = lower[j];
            j += 1;
        }
    }
}

/// The named differencing attacks. One equation, one unknown: a published cell R containing
/// the target whose remainder R \ target is exactly tiled by the maximal published cells inside
/// it (nation minus the other regions; a region minus its published strata). Between two
/// groupings: the union U of the published cells of one grouping meeting the target, when they
/// tile a superset of the target, and U \ target is tiled by published cells.
fn named_attack(published: &[Vec<u32>], target: &[u32]) -> bool {
    let t: HashSet<u32> = target.iter().copied().collect();
    let tiled = |rest: &HashSet<u32>| -> bool {
        if rest.is_empty() {
            return true;
        }
        let inside: Vec<HashSet<u32>> = published
            .iter()
            .map(|r| r.iter().copied().collect::<HashSet<u32>>())
            .filter(|r| r.is_subset(rest))
            .collect();
        let maximal: Vec<&HashSet<u32>> = inside
            .iter()
            .filter(|a| !inside.iter().any(|b| a.is_subset(b) && a.len() < b.len()))
            .collect();
        let mut seen = HashSet::new();
        let mut distinct: Vec<&HashSet<u32>> = Vec::new();
        for m in maximal {
            let mut key: Vec<u32> = m.iter().copied().collect();
            key.sort_unstable();
            if seen.insert(key) {
                distinct.push(m);
            }
        }
        let total: usize = distinct.iter().map(|m| m.len()).sum();
        let union: HashSet<u32> = distinct.iter().flat_map(|m| m.iter().copied()).collect();
        total == union.len() && union == *rest
    };
    // One equation, one unknown.
    for r in published {
        let rs: HashSet<u32> = r.iter().copied().collect();
        if t.is_subset(&rs) && rs.len() > t.len() {
            let rest: HashSet<u32> = rs.difference(&t).copied().collect();
            if tiled(&rest) {
                return true;
            }
        }
        if rs == t {
            return true;
        }
    }
    // Differences between groupings: every disjoint family of published cells meeting the target.
    let meeting: Vec<HashSet<u32>> = published
        .iter()
        .map(|r| r.iter().copied().collect::<HashSet<u32>>())
        .filter(|r| !r.is_disjoint(&t))
        .collect();
    for a in &meeting {
        let family: Vec<&HashSet<u32>> = meeting
            .iter()
            .filter(|b| b.is_disjoint(a) || *b == a)
            .collect();
        let pairwise = family
            .iter()
            .enumerate()
            .all(|(i, x)| family[i + 1..].iter().all(|y| x.is_disjoint(y)));
        if !pairwise {
            continue;
        }
        let u: HashSet<u32> = family.iter().flat_map(|m| m.iter().copied()).collect();
        if t.is_subset(&u) && u.len() > t.len() && tiled(&u.difference(&t).copied().collect()) {
            return true;
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

fn sys(n: usize, rows: &[&[u32]]) -> LinearSystem {
    LinearSystem::new(n, rows.iter().map(|r| r.to_vec()).collect()).unwrap()
}

fn rows_of(system: &LinearSystem) -> Vec<Vec<u32>> {
    (0..system.n_cells())
        .map(|c| system.cell(c).to_vec())
        .collect()
}

fn published_rows(system: &LinearSystem, statuses: &[Status]) -> Vec<Vec<u32>> {
    (0..system.n_cells())
        .filter(|&c| !statuses[c].is_hidden())
        .map(|c| system.cell(c).to_vec())
        .collect()
}

fn policy(k: i64) -> Policy {
    Policy {
        threshold: k,
        ..Policy::default()
    }
}

/// Every oracle on every sensitive cell; `Err` names the first failure.
fn oracles(
    system: &LinearSystem,
    series: &[&[i64]],
    statuses: &[Status],
    policy: &Policy,
    brute: bool,
) -> Result<(), String> {
    oracles_with(system, series, statuses, policy, brute, true)
}

/// The oracles; `named`: run the named attacks too (they are slow and implied by the rank test).
fn oracles_with(
    system: &LinearSystem,
    series: &[&[i64]],
    statuses: &[Status],
    policy: &Policy,
    brute: bool,
    named: bool,
) -> Result<(), String> {
    let n = system.n_inner();
    let published = published_rows(system, statuses);
    let width = policy.required_width();
    for c in 0..system.n_cells() {
        let counts: Vec<i64> = series
            .iter()
            .map(|s| system.cell(c).iter().map(|&i| s[i as usize]).sum())
            .collect();
        let sensitive = counts
            .iter()
            .any(|&v| (1..policy.threshold).contains(&v) || (v == 0 && policy.protect_zeros));
        if !sensitive {
            continue;
        }
        if !statuses[c].is_hidden() {
            return Err(format!("sensitive cell {c} published"));
        }
        let target = system.cell(c);
        if in_span(n, &published, target) {
            return Err(format!("rank oracle: cell {c} recomputed exactly"));
        }
        if named && named_attack(&published, target) {
            return Err(format!("named attack recomputes cell {c}"));
        }
        for (s, values) in series.iter().enumerate() {
            let (lo, hi) = lp_attack(n, &published, values, target);
            let (lo, hi) = ((lo - 1e-6).ceil(), (hi + 1e-6).floor());
            if hi - lo < width as f64 {
                return Err(format!(
                    "LP oracle: cell {c} series {s} interval [{lo}, {hi}] narrower than {width}"
                ));
            }
            if brute
                && let Some((blo, bhi)) = brute_force(n, &published, values, target)
                && bhi.is_some_and(|h| h - blo < width)
            {
                return Err(format!(
                    "brute force: cell {c} series {s} interval [{blo}, {bhi:?}]"
                ));
            }
            // The singleton rule: the contributor of another hidden cell with a count of 1
            // (sharing no inner cell with this one) knows that cell's counts of 0 and 1.
            if policy.singleton_width == 0 {
                continue;
            }
            // With counts within others (`with_within`), they also know each hidden count
            // within theirs that is 0 or 1 (and the one person of a cell within another with
            // a count of 1 is that cell's person: the outer cell is the attacker).
            let count = |q: usize, s: usize| -> i64 {
                system.cell(q).iter().map(|&i| series[s][i as usize]).sum()
            };
            let one =
                |q: usize| statuses[q].is_hidden() && (0..series.len()).any(|s| count(q, s) == 1);
            let outer = |q: usize| std::iter::successors(system.within(q), |&p| system.within(p));
            for q in 0..system.n_cells() {
                let own = system.cell(q);
                if !one(q) || outer(q).any(one) || own.iter().any(|i| target.contains(i)) {
                    continue;
                }
                let group: Vec<usize> = (0..system.n_cells())
                    .filter(|&d| d == q || outer(d).any(|p| p == q))
                    .filter(|&d| statuses[d].is_hidden() && count(d, s) <= 1)
                    .collect();
                if group.is_empty() {
                    continue;
                }
                let mut known = published.clone();
                known.extend(group.iter().map(|&d| system.cell(d).to_vec()));
                let (lo, hi) = lp_attack(n, &known, values, target);
                let (lo, hi) = ((lo - 1e-6).ceil(), (hi + 1e-6).floor());
                if hi - lo < policy.singleton_width as f64 {
                    return Err(format!(
                        "singleton oracle: the contributor of cell {q} narrows cell {c} series \
                         {s} to [{lo}, {hi}]"
                    ));
                }
                if brute
                    && let Some((blo, bhi)) = brute_force(n, &known, values, target)
                    && bhi.is_some_and(|h| h - blo < policy.singleton_width)
                {
                    return Err(format!(
                        "brute force: the contributor of cell {q} narrows cell {c} series {s} \
                         to [{blo}, {bhi:?}]"
                    ));
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Literature fixtures.
// ---------------------------------------------------------------------------------------------

/// sdcTable's test of secondarySuppression(): a 4x4 table with margins; nine primary cells, at
/// least two in every row and column, yet w|b (47) = rows w + x - columns a - c.
fn sdc_table() -> (LinearSystem, Vec<i64>, Vec<Status>) {
    #[rustfmt::skip]
    let inner: Vec<i64> = vec![
        30, 47, 64, 89,    // w
        90, 124, 5, 31,    // x
        92, 100, 59, 85,   // y
        800, 991, 651, 685 // z
    ];
    let mut rows: Vec<Vec<u32>> = (0..16).map(|i| vec![i]).collect();
    for r in 0..4 {
        rows.push((0..4).map(|c| r * 4 + c).collect()); // row totals: cells 16..20
    }
    for c in 0..4 {
        rows.push((0..4).map(|r| r * 4 + c).collect()); // column totals: cells 20..24
    }
    rows.push((0..16).collect()); // grand total: cell 24
    let system = LinearSystem::new(16, rows).unwrap();
    // w|a, w|b, w|c, x|a, x|c, y|b, y|d, z|b, z|d
    let primary = [0, 1, 2, 4, 6, 9, 11, 13, 15];
    let statuses = (0..25)
        .map(|c| {
            if primary.contains(&c) {
                Status::Primary(PrimaryReason::Manual)
            } else {
                Status::Published
            }
        })
        .collect();
    (system, inner, statuses)
}

#[test]
fn sdc_table_47_is_recomputed_from_a_naive_pattern() {
    let (system, inner, mut statuses) = sdc_table();
    let published = published_rows(&system, &statuses);
    // The attack: rows w + x - columns a - c.
    let v = system.cell_values(&inner);
    let rows_w_x = v[16] + v[17] - v[3] - v[5] - v[7]; // w|a + w|b + w|c + x|a + x|c
    let cols_a_c = v[20] + v[22] - v[8] - v[10] - v[12] - v[14]; // w|a + x|a + w|c + x|c
    assert_eq!(rows_w_x - cols_a_c, 47);
    assert!(in_span(16, &published, system.cell(1)));
    let policy = policy(10);
    let a = audit(&system, &[&inner], &statuses, &policy).unwrap();
    assert!(!a.passed());
    let rec = a.records.iter().find(|r| r.cell == 1).unwrap();
    assert!(rec.derivable && !rec.pass);
    assert_eq!((rec.lower, rec.upper), (47, Some(47)));
    // Every other primary cell is not derivable.
    assert!(
        a.records
            .iter()
            .filter(|r| r.cell != 1)
            .all(|r| !r.derivable)
    );
    // sdcTable's fix: also suppress x|b; then w|b is protected.
    statuses[5] = Status::Secondary;
    let a = audit(&system, &[&inner], &statuses, &policy).unwrap();
    let rec = a.records.iter().find(|r| r.cell == 1).unwrap();
    assert!(!rec.derivable);
    assert!(rec.lower <= 47 && rec.upper.unwrap() >= 47);
    assert!(!in_span(
        16,
        &published_rows(&system, &statuses),
        system.cell(1)
    ));
    eprintln!(
        "sdcTable w|b after suppressing x|b: [{}, {:?}]",
        rec.lower, rec.upper
    );
}

#[test]
fn tau_argus_two_by_two_interval_is_3_to_6() {
    // x = [[5, 3], [1, 2]]; margins published, the four inner cells hidden.
    let inner = [5, 3, 1, 2];
    let system = sys(
        4,
        &[
            &[0],
            &[1],
            &[2],
            &[3],
            &[0, 1],
            &[2, 3],
            &[0, 2],
            &[1, 3],
            &[0, 1, 2, 3],
        ],
    );
    // Only the 1 is sensitive; its interval must be 4 wide.
    let policy = Policy {
        threshold: 2,
        min_interval_width: Some(4),
        ..Policy::default()
    };
    let mut statuses = vec![Status::Published; 9];
    for c in [0, 1, 3] {
        statuses[c] = Status::Secondary;
    }
    statuses[2] = Status::Primary(PrimaryReason::BelowThreshold { series: 0 });
    let a = audit(&system, &[&inner], &statuses, &policy).unwrap();
    let rec = a.records.iter().find(|r| r.cell == 0).unwrap();
    assert_eq!((rec.lower, rec.upper), (3, Some(6)));
    let (lo, hi) = lp_attack(4, &published_rows(&system, &statuses), &inner, &[0]);
    assert_eq!((lo.round(), hi.round()), (3.0, 6.0));
    assert_eq!(
        brute_force(4, &published_rows(&system, &statuses), &inner, &[0]),
        Some((3, Some(6)))
    );
    // The primary cell (1) lies in [0, 3]: wide enough for width 3, not for width 4.
    let rec = a.records.iter().find(|r| r.cell == 2).unwrap();
    assert_eq!((rec.lower, rec.upper, rec.pass), (0, Some(3), false));
    let relaxed = Policy {
        min_interval_width: Some(3),
        ..policy
    };
    assert!(
        audit(&system, &[&inner], &statuses, &relaxed)
            .unwrap()
            .passed()
    );
}

#[test]
fn hidden_zero_gives_no_protection() {
    // Regions 3 (primary), 0 and 40; nation 43. Hiding the zero keeps region 0 out of the
    // span, but the attacker knows the zero is >= 0: region 0 is in [0, 3].
    let system = sys(3, &[&[0], &[1], &[2], &[0, 1, 2]]);
    let inner = [3, 0, 40];
    let naive = vec![
        Status::Primary(PrimaryReason::BelowThreshold { series: 0 }),
        Status::Secondary,
        Status::Published,
        Status::Published,
    ];
    assert!(!in_span(3, &published_rows(&system, &naive), &[0]));
    let a = audit(&system, &[&inner], &naive, &policy(10)).unwrap();
    let rec = &a.records[0];
    assert_eq!(
        (rec.derivable, rec.lower, rec.upper, rec.pass),
        (false, 0, Some(3), false)
    );
    let p = protect(&system, &[&inner], &Fixed::default(), &policy(10)).unwrap();
    assert_eq!(
        p.statuses[1],
        Status::Published,
        "the zero is not worth hiding"
    );
    assert_eq!(p.statuses[2], Status::Secondary);
    assert!(
        audit(&system, &[&inner], &p.statuses, &policy(10))
            .unwrap()
            .passed()
    );
    oracles(&system, &[&inner], &p.statuses, &policy(10), true).unwrap();
}

#[test]
fn two_ones_protecting_each_other() {
    // Nation = a1 + a2 + b with a1 = a2 = 1, b = 30: hiding the two ones keeps each out of the
    // span, but their sum 2 = nation - b is published in effect.
    let system = sys(3, &[&[0], &[1], &[2], &[0, 1, 2]]);
    let inner = [1, 1, 30];
    let naive = primary_only(&system, &[&inner], &policy(10)).unwrap();
    let a = audit(&system, &[&inner], &naive, &policy(10)).unwrap();
    assert!(a.records.iter().all(|r| !r.derivable));
    assert_eq!(a.small_sums.len(), 1);
    assert_eq!((a.small_sums[0].a, a.small_sums[0].b), (0, 1));
    assert!(a.records.iter().all(|r| r.upper == Some(2) && !r.pass));
    let p = protect(&system, &[&inner], &Fixed::default(), &policy(10)).unwrap();
    assert!(
        audit(&system, &[&inner], &p.statuses, &policy(10))
            .unwrap()
            .passed()
    );
    oracles(&system, &[&inner], &p.statuses, &policy(10), true).unwrap();
    // With a width of 1 the intervals pass, but the sum rule still applies (shown without
    // the singleton rule, which also catches it: each one's contributor knows the other).
    let narrow = Policy {
        min_interval_width: Some(1),
        singleton_width: 0,
        ..policy(10)
    };
    let a = audit(&system, &[&inner], &naive, &narrow).unwrap();
    assert!(a.records.iter().all(|r| r.pass) && !a.passed());
    let with_singletons = Policy {
        singleton_width: 1,
        ..narrow.clone()
    };
    let a = audit(&system, &[&inner], &naive, &with_singletons).unwrap();
    let failing: Vec<_> = a.records.iter().filter(|r| !r.pass).collect();
    assert_eq!(failing.len(), 2);
    assert!(
        failing
            .iter()
            .all(|r| r.singleton.is_some() && r.upper == Some(1))
    );
    let p = protect(&system, &[&inner], &Fixed::default(), &narrow).unwrap();
    assert!(
        audit(&system, &[&inner], &p.statuses, &narrow)
            .unwrap()
            .passed()
    );
}

#[test]
fn a_singleton_must_not_learn_the_rest() {
    // Nation = a + b + c with a = 1, b = 9, c = 40. Hiding a and b leaves each in [0, 10] for
    // the public, but a's one contributor knows a = 1 and gets b = 50 - 40 - 1 = 9.
    let system = sys(3, &[&[0], &[1], &[2], &[0, 1, 2]]);
    let inner = [1, 9, 40];
    let naive = primary_only(&system, &[&inner], &policy(10)).unwrap();
    let public_only = Policy {
        singleton_width: 0,
        ..policy(10)
    };
    assert!(
        audit(&system, &[&inner], &naive, &public_only)
            .unwrap()
            .passed()
    );
    assert!(oracles(&system, &[&inner], &naive, &public_only, true).is_ok());
    let a = audit(&system, &[&inner], &naive, &policy(10)).unwrap();
    let failing: Vec<_> = a.records.iter().filter(|r| !r.pass).collect();
    assert_eq!(failing.len(), 1);
    assert_eq!(
        (
            failing[0].cell,
            failing[0].singleton,
            failing[0].lower,
            failing[0].upper
        ),
        (1, Some(0), 9, Some(9))
    );
    assert!(
        a.first_failure()
            .unwrap()
            .contains("for the contributor of singleton cell 0")
    );
    assert!(oracles(&system, &[&inner], &naive, &policy(10), true).is_err());
    // Protection hides c as well (the nation is published: b is then in [0, 49]).
    let p = protect(&system, &[&inner], &Fixed::default(), &policy(10)).unwrap();
    assert_eq!(p.statuses[2], Status::Secondary);
    assert!(!p.statuses[3].is_hidden());
    let a = audit_with(&system, &[&inner], &p.statuses, &policy(10), &p.certificate).unwrap();
    assert!(a.passed(), "{:?}", a.first_failure());
    oracles(&system, &[&inner], &p.statuses, &policy(10), true).unwrap();
    // A singleton's own cell overlapping the target is no attack: a cell nested in it is
    // theirs alone. Region r = a + z (a = 1, z = 0 published): r is a's own count.
    let nested = sys(2, &[&[0], &[1], &[0, 1]]);
    let p = protect(&nested, &[&[1, 0]], &Fixed::default(), &policy(10)).unwrap();
    assert!(
        audit(&nested, &[&[1, 0]], &p.statuses, &policy(10))
            .unwrap()
            .passed()
    );
}

#[test]
fn threshold_only_is_unsafe_on_a_hierarchy() {
    // Nation = networks N1 + N2; N1 = regions 0 + 1, N2 = regions 2 + 3.
    let system = sys(
        4,
        &[&[0], &[1], &[2], &[3], &[0, 1], &[2, 3], &[0, 1, 2, 3]],
    );
    let inner = [4, 25, 30, 18];
    let naive = primary_only(&system, &[&inner], &policy(10)).unwrap();
    assert_eq!(naive.iter().filter(|s| s.is_hidden()).count(), 1);
    let a = audit(&system, &[&inner], &naive, &policy(10)).unwrap();
    assert!(!a.passed());
    assert!(a.records[0].derivable);
    assert!(named_attack(&published_rows(&system, &naive), &[0]));
    assert!(oracles(&system, &[&inner], &naive, &policy(10), true).is_err());
    let p = release(&system, &[&inner], &Fixed::default(), &policy(10)).unwrap();
    oracles(&system, &[&inner], &p.statuses, &policy(10), true).unwrap();
    assert_eq!(p.statuses[6], Status::Published, "the nation is kept");
}

#[test]
fn forcing_that_gives_a_cell_away_is_an_error_naming_it() {
    let system = sys(3, &[&[0], &[1], &[2], &[0, 1, 2]]);
    let inner = [4, 25, 30];
    let err = protect(
        &system,
        &[&inner],
        &Fixed {
            forced: vec![1, 2, 3],
            ..Fixed::default()
        },
        &policy(10),
    )
    .unwrap_err();
    assert_eq!(err, Error::ForcedDisclosure { cell: 0 });
    assert!(err.to_string().contains("primary cell 0"));
    let err = protect(
        &system,
        &[&inner],
        &Fixed {
            forced: vec![0],
            ..Fixed::default()
        },
        &policy(10),
    )
    .unwrap_err();
    assert!(matches!(err, Error::ForcedPrimary { cell: 0, .. }));
    // Forcing the nation alone is fine.
    let p = protect(
        &system,
        &[&inner],
        &Fixed {
            forced: vec![3],
            ..Fixed::default()
        },
        &policy(10),
    )
    .unwrap();
    assert_eq!(p.statuses[3], Status::Forced);
}

#[test]
fn previously_published_cells_count_as_public() {
    let system = sys(3, &[&[0], &[1], &[2], &[0, 1, 2]]);
    let inner = [4, 40, 50];
    let p = protect(&system, &[&inner], &Fixed::default(), &policy(10)).unwrap();
    // The larger region is hidden (a wider interval for region 0).
    assert_eq!(p.statuses[2], Status::Secondary);
    // An earlier release published region 2: it cannot protect region 0 any more.
    let earlier = Fixed {
        previously_published: vec![2],
        ..Fixed::default()
    };
    let p = protect(&system, &[&inner], &earlier, &policy(10)).unwrap();
    assert_eq!(p.statuses[2], Status::Published);
    assert_eq!(p.statuses[1], Status::Secondary);
    oracles(&system, &[&inner], &p.statuses, &policy(10), true).unwrap();
    // And with regions 1 and 2 both public already, region 0 is given away: refused.
    let err = protect(
        &system,
        &[&inner],
        &Fixed {
            previously_published: vec![1, 2, 3],
            ..Fixed::default()
        },
        &policy(10),
    )
    .unwrap_err();
    assert_eq!(err, Error::ForcedDisclosure { cell: 0 });
}

#[test]
fn two_series_share_one_status() {
    // Numerator small in region 0, denominator small in region 2.
    let system = sys(4, &[&[0], &[1], &[2], &[3], &[0, 1, 2, 3]]);
    let num = [3, 20, 15, 30];
    let den = [40, 50, 6, 60];
    let p = release(&system, &[&num, &den], &Fixed::default(), &policy(10)).unwrap();
    assert!(matches!(
        p.statuses[0],
        Status::Primary(PrimaryReason::BelowThreshold { series: 0 })
    ));
    assert!(matches!(
        p.statuses[2],
        Status::Primary(PrimaryReason::BelowThreshold { series: 1 })
    ));
    oracles(&system, &[&num, &den], &p.statuses, &policy(10), true).unwrap();
}

#[test]
fn invalid_input_is_reported() {
    assert_eq!(
        LinearSystem::new(2, vec![vec![]]).unwrap_err(),
        Error::EmptyCell { cell: 0 }
    );
    let system = sys(2, &[&[0], &[0, 1]]);
    assert!(matches!(
        protect(&system, &[&[1]], &Fixed::default(), &policy(10)),
        Err(Error::SeriesLength { .. })
    ));
    assert!(matches!(
        protect(&system, &[&[1, -1]], &Fixed::default(), &policy(10)),
        Err(Error::NegativeCount { .. })
    ));
    assert!(matches!(
        protect(&system, &[], &Fixed::default(), &policy(10)),
        Err(Error::NoSeries)
    ));
    assert!(matches!(
        protect(
            &system,
            &[&[1, 1]],
            &Fixed {
                forced: vec![2],
                ..Fixed::default()
            },
            &policy(10)
        ),
        Err(Error::CellOutOfRange { .. })
    ));
}

/// A certificate is input too: witnesses with huge denominators and changes (whose exact
/// comparisons would overflow 128 bits) count as invalid instead of crashing the audit, which
/// then decides with its own LPs.
#[test]
fn huge_witnesses_are_rejected_not_a_crash() {
    let system = sys(3, &[&[0], &[1], &[2], &[0, 1, 2]]);
    let counts: &[i64] = &[3, 40, 50];
    let statuses = vec![
        Status::Primary(PrimaryReason::BelowThreshold { series: 0 }),
        Status::Published,
        Status::Secondary,
        Status::Forced,
    ];
    let huge = |denominator: i64, x: i64| spiegel_disclosure::Witness {
        series: 0,
        denominator,
        delta: vec![(0, x), (2, -x)],
    };
    let certificate = spiegel_disclosure::Certificate {
        witnesses: vec![
            huge(i64::MAX, i64::MAX / 4),
            huge(i64::MAX / 3, 7),
            huge(spiegel_disclosure::MAX_DENOMINATOR + 1, 1),
            huge(1, 5),
        ],
    };
    let a = audit_with(
        &system,
        &[counts],
        &statuses,
        &Policy::default(),
        &certificate,
    )
    .unwrap();
    assert_eq!(a.invalid_witnesses, 3);
    assert!(a.passed(), "{:?}", a.first_failure());
}

// ---------------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------------

/// splitmix64, so that a proptest seed builds the whole case.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    rows: Vec<Vec<u32>>,
    series: Vec<Vec<i64>>,
    k: i64,
}

/// A random hierarchy over leaves (depth 1-3, fan-out 1-8, single-child levels allowed), maybe
/// a second grouping of the same leaves that does not nest, maybe the leaves themselves, maybe
/// two strata crossed with everything; counts concentrated on 0, 1, 2 and around k; one or two
/// series.
fn generate(seed: u64, max_leaves: usize, allow_strata: bool) -> Case {
    let mut rng = Rng(seed);
    let k = [3, 5, 10][rng.below(3) as usize];
    let depth = 1 + rng.below(3) as usize;
    // Build the tree level by level: each node a list of leaves.
    let mut nodes: Vec<Vec<usize>> = vec![vec![]]; // children of each node
    let mut n_leaves = 0usize;
    let mut frontier = vec![0usize];
    for d in 0..depth {
        let mut next = Vec::new();
        for &node in &frontier {
            let remaining = max_leaves.saturating_sub(n_leaves + next.len()).max(1);
            let fan = (1 + rng.below(8) as usize).min(remaining);
            for _ in 0..fan {
                nodes.push(vec![]);
                let id = nodes.len() - 1;
                nodes[node].push(id);
                next.push(id);
            }
        }
        frontier = next;
        if d == depth - 1 {
            n_leaves = frontier.len();
        }
    }
    // Leaves of each node.
    let leaf_index: std::collections::HashMap<usize, u32> = frontier
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i as u32))
        .collect();
    fn leaves(
        id: usize,
        nodes: &[Vec<usize>],
        li: &std::collections::HashMap<usize, u32>,
        out: &mut Vec<u32>,
    ) {
        if nodes[id].is_empty() {
            out.push(li[&id]);
        }
        for &c in &nodes[id] {
            leaves(c, nodes, li, out);
        }
    }
    let mut units: Vec<Vec<u32>> = Vec::new();
    let publish_leaves = rng.below(2) == 0;
    for id in 0..nodes.len() {
        if nodes[id].is_empty() && !publish_leaves {
            continue;
        }
        let mut l = Vec::new();
        leaves(id, &nodes, &leaf_index, &mut l);
        units.push(l);
    }
    if rng.below(2) == 0 {
        // A second grouping of the same leaves (like care-office regions beside networks).
        let g = 1 + rng.below(4) as u32;
        let assign: Vec<u32> = (0..n_leaves).map(|_| rng.below(g as u64) as u32).collect();
        for grp in 0..g {
            let l: Vec<u32> = (0..n_leaves as u32)
                .filter(|&i| assign[i as usize] == grp)
                .collect();
            if !l.is_empty() {
                units.push(l);
            }
        }
    }
    let strata = if allow_strata && rng.below(3) == 0 {
        2
    } else {
        1
    };
    let n = n_leaves * strata;
    let mut rows = Vec::new();
    for u in &units {
        if strata == 1 {
            rows.push(u.clone());
        } else {
            rows.push(u.iter().flat_map(|&l| [l * 2, l * 2 + 1]).collect());
            rows.push(u.iter().map(|&l| l * 2).collect());
            rows.push(u.iter().map(|&l| l * 2 + 1).collect());
        }
    }
    let n_series = 1 + rng.below(2) as usize;
    let value = |rng: &mut Rng| -> i64 {
        match rng.below(10) {
            0..=2 => 0,
            3 | 4 => 1,
            5 => 2,
            6 | 7 => k - 1 + rng.below(3) as i64,
            _ => rng.below(3 * k as u64) as i64,
        }
    };
    let series = (0..n_series)
        .map(|_| (0..n).map(|_| value(&mut rng)).collect())
        .collect();
    Case { n, rows, series, k }
}

/// The case's leaves as persons of a count and a subset of them (opioid users among
/// decedents): inner cells (leaf, not in the subset) and (leaf, in it); each cell published
/// for both counts, the subset's within the whole's. The subset's counts: a random share of
/// the first series'.
fn related(case: &Case, seed: u64) -> (LinearSystem, Vec<i64>) {
    let mut rng = Rng(seed);
    let mut rows = Vec::new();
    let mut within = Vec::new();
    for r in &case.rows {
        rows.push(
            r.iter()
                .flat_map(|&l| [2 * l, 2 * l + 1])
                .collect::<Vec<u32>>(),
        );
        within.push(None);
        rows.push(r.iter().map(|&l| 2 * l + 1).collect());
        within.push(Some(rows.len() - 2));
    }
    let mut inner = Vec::with_capacity(2 * case.n);
    for &whole in &case.series[0] {
        let subset = match rng.below(3) {
            0 => 0,
            1 => whole.min(1),
            _ => rng.below(whole as u64 + 1) as i64,
        };
        inner.extend([whole - subset, subset]);
    }
    let system = LinearSystem::new(2 * case.n, rows)
        .unwrap()
        .with_within(within)
        .unwrap();
    (system, inner)
}

fn run_case(case: &Case, brute: bool) -> Result<(), TestCaseError> {
    let system = LinearSystem::new(case.n, case.rows.clone()).unwrap();
    let series: Vec<&[i64]> = case.series.iter().map(Vec::as_slice).collect();
    run_system(&system, &series, &policy(case.k), brute)
}

fn run_system(
    given: &LinearSystem,
    series: &[&[i64]],
    policy: &Policy,
    brute: bool,
) -> Result<(), TestCaseError> {
    let (system, series, policy) = (given.clone(), series.to_vec(), policy.clone());
    let p = protect(&system, &series, &Fixed::default(), &policy)
        .map_err(|e| TestCaseError::fail(format!("protect failed: {e}")))?;
    // The exact audit (no certificate) against the public attacker: with the singleton rule it
    // would solve an LP pair per sensitive cell and singleton; the certified audit below and
    // the oracles check that rule.
    let public = Policy {
        singleton_width: 0,
        ..policy.clone()
    };
    let a = audit(&system, &series, &p.statuses, &public).unwrap();
    prop_assert!(a.passed(), "audit: {:?}", a.first_failure());
    // The certificate: every witness checks out, and it proves what the exact LPs prove.
    let c = audit_with(&system, &series, &p.statuses, &policy, &p.certificate).unwrap();
    prop_assert!(c.passed(), "certified audit: {:?}", c.first_failure());
    prop_assert_eq!(c.invalid_witnesses, 0);
    // A tampered witness (one inner cell taken below zero) is rejected.
    if let Some(w) = p.certificate.witnesses.first() {
        let mut bad = w.clone();
        let (inner, _) = bad.delta[0];
        bad.delta[0].1 = -(series[w.series][inner as usize] * bad.denominator) - 1;
        let tampered = spiegel_disclosure::Certificate {
            witnesses: vec![bad],
        };
        let t = audit_with(&system, &series, &p.statuses, &policy, &tampered).unwrap();
        prop_assert_eq!(t.invalid_witnesses, 1);
        prop_assert!(t.passed(), "the LPs still decide: {:?}", t.first_failure());
    }
    if let Err(e) = oracles(&system, &series, &p.statuses, &policy, brute) {
        return Err(TestCaseError::fail(e));
    }
    // Mutation check: publish one secondary cell at a time (at most four per case, spread
    // over the secondary cells, to keep the suite fast in debug builds).
    let rows = rows_of(&system);
    let secondary: Vec<usize> = (0..system.n_cells())
        .filter(|&c| p.statuses[c] == Status::Secondary)
        .collect();
    let step = secondary.len().div_ceil(4).max(1);
    // Against the public attacker only (the singleton oracle's LPs per pair of cells would
    // make this loop slow; audit and oracles must agree either way).
    for q in secondary.iter().copied().step_by(step) {
        let mut mutated = p.statuses.clone();
        mutated[q] = Status::Published;
        let oracle = oracles_with(&system, &series, &mutated, &public, brute, false);
        let audited = audit(&system, &series, &mutated, &public).unwrap();
        // The audit and the oracles agree (the sums-of-small-cells rule is the audit's alone).
        if audited.small_sums.is_empty() {
            prop_assert_eq!(
                oracle.is_err(),
                !audited.passed(),
                "cell {}: {:?}",
                q,
                oracle
            );
        }
        if p.rounds == 1 {
            // Stage 1 alone decided: every secondary cell is needed for exactness.
            let published: Vec<Vec<u32>> = (0..rows.len())
                .filter(|&c| !mutated[c].is_hidden())
                .map(|c| rows[c].clone())
                .collect();
            let caught = (0..rows.len())
                .filter(|&c| matches!(p.statuses[c], Status::Primary(_)))
                .any(|c| in_span(system.n_inner(), &published, &rows[c]));
            prop_assert!(caught, "publishing secondary cell {} reveals nothing", q);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn protected_output_passes_every_oracle(seed in any::<u64>()) {
        let case = generate(seed, 14, true);
        run_case(&case, false)?;
    }

    /// Without singletons, protection takes another path (the LP over all atoms first, one
    /// table for a cell and the others still unproven: `Attacker::local_first`, `want`).
    #[test]
    fn public_attacker_only_passes_every_oracle(seed in any::<u64>()) {
        let case = generate(seed, 14, true);
        let system = LinearSystem::new(case.n, case.rows.clone()).unwrap();
        let series: Vec<&[i64]> = case.series.iter().map(Vec::as_slice).collect();
        let public = Policy {
            singleton_width: 0,
            ..policy(case.k)
        };
        run_system(&system, &series, &public, false)?;
    }

    #[test]
    fn related_counts_pass_every_oracle(seed in any::<u64>()) {
        let case = generate(seed, 8, false);
        let (system, inner) = related(&case, seed ^ 0x5eed);
        // A narrow public requirement half of the time: then what a singleton knows besides
        // decides more often.
        let policy = Policy {
            min_interval_width: (seed % 2 == 0).then_some(1),
            ..policy(case.k)
        };
        run_system(&system, &[&inner], &policy, false)?;
    }

    #[test]
    fn tiny_systems_pass_brute_force(seed in any::<u64>()) {
        let case = generate(seed, 5, false);
        run_case(&case, true)?;
    }

    #[test]
    fn permuting_cells_gives_the_same_statuses(seed in any::<u64>(), perm_seed in any::<u64>()) {
        let case = generate(seed, 20, true);
        let policy = policy(case.k);
        let series: Vec<&[i64]> = case.series.iter().map(Vec::as_slice).collect();
        let system = LinearSystem::new(case.n, case.rows.clone()).unwrap();
        let p = protect(&system, &series, &Fixed::default(), &policy).unwrap();
        // Permute inner cells and rows; the original index is the stable key.
        let mut rng = Rng(perm_seed);
        let shuffle = |len: usize, rng: &mut Rng| {
            let mut v: Vec<usize> = (0..len).collect();
            for i in (1..len).rev() {
                v.swap(i, rng.below(i as u64 + 1) as usize);
            }
            v
        };
        let inner_perm = shuffle(case.n, &mut rng); // new position of inner cell i
        let row_order = shuffle(case.rows.len(), &mut rng); // new row j is old row row_order[j]
        let rows: Vec<Vec<u32>> = row_order
            .iter()
            .map(|&r| case.rows[r].iter().map(|&i| inner_perm[i as usize] as u32).collect())
            .collect();
        let mut new_series = vec![vec![0; case.n]; case.series.len()];
        for (s, values) in case.series.iter().enumerate() {
            for i in 0..case.n {
                new_series[s][inner_perm[i]] = values[i];
            }
        }
        let keys = row_order.iter().map(|&r| r as u64).collect();
        let permuted = LinearSystem::new(case.n, rows).unwrap().with_keys(keys).unwrap();
        let ns: Vec<&[i64]> = new_series.iter().map(Vec::as_slice).collect();
        let q = protect(&permuted, &ns, &Fixed::default(), &policy).unwrap();
        for (j, &r) in row_order.iter().enumerate() {
            prop_assert_eq!(q.statuses[j], p.statuses[r]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Magnitude cells: the p% and (n, k) dominance rules.
// ---------------------------------------------------------------------------------------------

/// The protection level by its definition, searched rather than solved: the smallest `L >= 1`
/// by which the attacker's uncertainty about the total must grow so that the rule no longer
/// holds (`None`: the rule does not hold).
fn naive_level(rule: &str, param: i64, n: usize, total: i64, sorted: &[i64]) -> Option<i64> {
    let x = |i: usize| sorted.get(i).copied().unwrap_or(0);
    // Fractions compared exactly: a/100 as (a, 100).
    let holds = |t: i64| -> bool {
        match rule {
            // The second largest contributor's estimate of the largest is off by less than p%.
            "p" => 100 * (t - x(0) - x(1)) < param * x(0),
            // The n largest make up more than k% of the total.
            _ => 100 * (0..n).map(x).sum::<i64>() > param * t,
        }
    };
    if !holds(total) {
        return None;
    }
    (1..).find(|&l| !holds(total + l))
}

/// Contributions per inner cell: mostly none or small, sometimes one large one.
fn contributions(rng: &mut Rng, n: usize) -> Vec<Vec<i64>> {
    (0..n)
        .map(|_| {
            let m = rng.below(5) as usize;
            (0..m)
                .map(|_| match rng.below(10) {
                    0 => 20 + rng.below(200) as i64,
                    1..=3 => 0,
                    _ => 1 + rng.below(6) as i64,
                })
                .collect()
        })
        .collect()
}

#[test]
fn magnitude_rules_match_their_definitions() {
    let mut rng = Rng(11);
    for _ in 0..2000 {
        let mut all: Vec<i64> = (0..rng.below(6)).map(|_| rng.below(60) as i64).collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        let total: i64 = all.iter().sum::<i64>() + rng.below(3) as i64 * rng.below(20) as i64;
        let top = [
            all.first().copied().unwrap_or(0),
            all.get(1).copied().unwrap_or(0),
        ];
        let p = 1 + rng.below(60) as i64;
        assert_eq!(
            MagnitudeRule::PPercent { p }.protection_level(total, top),
            naive_level("p", p, 2, total, &all),
            "p = {p}, total {total}, {all:?}"
        );
        let (n, k) = (1 + rng.below(2) as usize, 1 + rng.below(99) as i64);
        assert_eq!(
            MagnitudeRule::Dominance { n, k }.protection_level(total, top),
            naive_level("nk", k, n, total, &all),
            "n = {n}, k = {k}, total {total}, {all:?}"
        );
    }
    assert!(MagnitudeRule::PPercent { p: 0 }.problem().is_some());
    assert!(MagnitudeRule::Dominance { n: 3, k: 80 }.problem().is_some());
    assert!(
        MagnitudeRule::Dominance { n: 2, k: 100 }
            .problem()
            .is_some()
    );
    assert!(MagnitudeRule::PPercent { p: 15 }.problem().is_none());
}

/// Random hierarchies whose first series is a sum of contributions: every cell the p% rule
/// finds sensitive is hidden, and its range (LP oracle) is at least its protection level and k
/// wide; the audit agrees; dropping the widths from the audit is caught.
fn run_magnitude_case(seed: u64) -> Result<(), TestCaseError> {
    let mut case = generate(seed, 10, true);
    let mut rng = Rng(seed ^ 0x5eed);
    let contrib = contributions(&mut rng, case.n);
    case.series[0] = contrib.iter().map(|c| c.iter().sum()).collect();
    let system = LinearSystem::new(case.n, case.rows.clone()).unwrap();
    let rule = MagnitudeRule::PPercent {
        p: [10, 20, 50][rng.below(3) as usize],
    };
    let mut widths = Vec::new();
    for c in 0..system.n_cells() {
        let mut all: Vec<i64> = system
            .cell(c)
            .iter()
            .flat_map(|&i| contrib[i as usize].iter().copied())
            .collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        let total: i64 = all.iter().sum();
        // The mergeable form: the two largest of each inner cell's two largest.
        let merged = system.cell(c).iter().fold([0, 0], |acc, &i| {
            let mut own = contrib[i as usize].clone();
            own.sort_unstable_by(|a, b| b.cmp(a));
            largest_two(
                acc,
                [
                    own.first().copied().unwrap_or(0),
                    own.get(1).copied().unwrap_or(0),
                ],
            )
        });
        prop_assert_eq!(
            merged,
            [
                all.first().copied().unwrap_or(0),
                all.get(1).copied().unwrap_or(0)
            ]
        );
        if let Some(width) = rule.protection_level(total, merged) {
            widths.push(CellWidth {
                cell: c,
                series: 0,
                width,
            });
        }
    }
    let series: Vec<&[i64]> = case.series.iter().map(Vec::as_slice).collect();
    let policy = Policy {
        threshold: case.k,
        singleton_width: 0,
        ..Policy::default()
    };
    let fixed = Fixed {
        widths: widths.clone(),
        ..Fixed::default()
    };
    let p = match protect(&system, &series, &fixed, &policy) {
        Ok(p) => p,
        // A level wider than any table allows (a cell with no room above): a clear refusal.
        Err(Error::Unprotectable { .. }) => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(format!("protect failed: {e}"))),
    };
    let published = published_rows(&system, &p.statuses);
    for w in &widths {
        prop_assert!(
            p.statuses[w.cell].is_hidden(),
            "dominated cell {} published",
            w.cell
        );
        let target = system.cell(w.cell);
        prop_assert!(
            !in_span(case.n, &published, target),
            "cell {} recomputed",
            w.cell
        );
        for (s, values) in series.iter().enumerate() {
            let need = if s == w.series {
                w.width.max(case.k)
            } else {
                case.k
            };
            let (lo, hi) = lp_attack(case.n, &published, values, target);
            let (lo, hi) = ((lo - 1e-6).ceil(), (hi + 1e-6).floor());
            prop_assert!(
                hi - lo >= need as f64,
                "cell {} series {}: [{}, {}] narrower than {}",
                w.cell,
                s,
                lo,
                hi,
                need
            );
        }
    }
    if let Err(e) = oracles(&system, &series, &p.statuses, &policy, false) {
        return Err(TestCaseError::fail(e));
    }
    let a = audit_fixed(
        &system,
        &series,
        &p.statuses,
        &fixed,
        &policy,
        &p.certificate,
    )
    .unwrap();
    prop_assert!(a.passed(), "audit: {:?}", a.first_failure());
    // Threshold-only statuses with the dominated cells hidden too and nothing else: the audit
    // must find a failure whenever the oracle does.
    let naive: Vec<Status> = primary_only(&system, &series, &policy)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(c, s)| {
            if widths.iter().any(|w| w.cell == c) && !s.is_hidden() {
                Status::Primary(PrimaryReason::Dominance { series: 0 })
            } else {
                s
            }
        })
        .collect();
    let naive_published = published_rows(&system, &naive);
    let leaks = widths.iter().any(|w| {
        let (lo, hi) = lp_attack(case.n, &naive_published, series[0], system.cell(w.cell));
        (hi + 1e-6).floor() - (lo - 1e-6).ceil() < w.width.max(case.k) as f64
    });
    let audited = audit_fixed(
        &system,
        &series,
        &naive,
        &fixed,
        &policy,
        &Default::default(),
    )
    .unwrap();
    if leaks {
        prop_assert!(
            !audited.passed(),
            "the audit misses a dominated cell's narrow range"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn dominated_cells_keep_their_protection_level(seed in any::<u64>()) {
        run_magnitude_case(seed)?;
    }
}

#[test]
fn a_dominated_region_keeps_its_protection_level() {
    // Three hospitals' consultations (400, 30, 25); a region of hospitals 0 and 1 (430) and
    // the nation (455, forced). The p% rule (p = 10) on the region: 430 - 400 - 30 = 0 is
    // below 10% of 400, protection level 40: hospital 1 would learn hospital 0's 400 exactly.
    let system = sys(3, &[&[0], &[1], &[2], &[0, 1], &[0, 1, 2]]);
    let consults: &[i64] = &[400, 30, 25];
    let level = MagnitudeRule::PPercent { p: 10 }
        .protection_level(430, [400, 30])
        .unwrap();
    assert_eq!(level, 40);
    let widths = vec![CellWidth {
        cell: 3,
        series: 0,
        width: level,
    }];
    let fixed = Fixed {
        forced: vec![4],
        widths: widths.clone(),
        ..Fixed::default()
    };
    let p = release(&system, &[consults], &fixed, &Policy::default()).unwrap();
    assert_eq!(
        p.statuses[3],
        Status::Primary(PrimaryReason::Dominance { series: 0 })
    );
    let record = p.intervals.iter().find(|r| r.cell == 3).unwrap();
    assert_eq!(record.required_width, 40);
    assert!(record.upper.unwrap() - record.lower >= 40, "{record:?}");
    // Hospital 0 published, the region and hospitals 1 and 2 hidden: the region is 400 plus
    // hospital 1, which is anything in [0, 55] (hospitals 1 and 2 add up to 455 - 400). A
    // range of 55 meets a level of 40, not one of 60.
    let statuses = [
        Status::Published,
        Status::Secondary,
        Status::Secondary,
        Status::Primary(PrimaryReason::Dominance { series: 0 }),
        Status::Forced,
    ];
    let check = |width: i64| {
        let w = [CellWidth {
            cell: 3,
            series: 0,
            width,
        }];
        let a = audit_fixed(
            &system,
            &[consults],
            &statuses,
            &Fixed {
                widths: w.to_vec(),
                ..Fixed::default()
            },
            &Policy::default(),
            &Default::default(),
        )
        .unwrap();
        let r = a.records.iter().find(|r| r.cell == 3).unwrap().clone();
        (a.passed(), r.lower, r.upper)
    };
    assert_eq!(check(40), (true, 400, Some(455)));
    assert_eq!(check(60), (false, 400, Some(455)));
}

// ---------------------------------------------------------------------------------------------
// Bounds the attacker knows beyond non-negativity (public counts, relations between series).
// ---------------------------------------------------------------------------------------------

/// Random hierarchies where the attacker also knows bounds of some inner cells (a public
/// population above a count, for instance): every hidden sensitive cell keeps a range at least
/// k wide for that attacker (LP and brute force with the bounds, written here), the certified
/// audit agrees and rejects a witness that leaves a bound; a refusal happens only where the
/// bounds alone leave a cell less than k of room.
fn run_bounds_case(seed: u64, brute: bool) -> Result<(), TestCaseError> {
    let case = generate(seed, if brute { 5 } else { 10 }, !brute);
    let mut rng = Rng(seed ^ 0xb0b);
    let k = case.k;
    let bounds: Vec<Bounds> = case
        .series
        .iter()
        .enumerate()
        .map(|(s, values)| {
            let (mut lower, mut upper) = (Vec::new(), Vec::new());
            for &v in values {
                // Mostly wide enough to protect, sometimes not (then a refusal is expected).
                let bounded = rng.below(2) == 0;
                lower.push(if bounded {
                    v - (rng.below(2 * k as u64 + 1) as i64).min(v)
                } else {
                    0
                });
                upper.push(bounded.then(|| v + rng.below(2 * k as u64 + 1) as i64 + k / 2));
            }
            Bounds {
                series: s,
                lower,
                upper,
            }
        })
        .collect();
    let system = LinearSystem::new(case.n, case.rows.clone()).unwrap();
    let series: Vec<&[i64]> = case.series.iter().map(Vec::as_slice).collect();
    let policy = Policy {
        threshold: k,
        singleton_width: 0,
        ..Policy::default()
    };
    let fixed = Fixed {
        bounds: bounds.clone(),
        ..Fixed::default()
    };
    let p = protect(&system, &series, &fixed, &policy)
        .map_err(|e| TestCaseError::fail(format!("protect failed: {e}")))?;
    let published = published_rows(&system, &p.statuses);
    for c in 0..system.n_cells() {
        if !matches!(p.statuses[c], Status::Primary(_)) {
            continue;
        }
        let target = system.cell(c);
        prop_assert!(
            !in_span(case.n, &published, target),
            "cell {} recomputed",
            c
        );
        for (s, values) in series.iter().enumerate() {
            // The room the bounds alone leave the cell.
            let b = &bounds[s];
            let room: Option<i64> = target
                .iter()
                .map(|&i| b.upper[i as usize].map(|u| u - b.lower[i as usize]))
                .sum();
            let need = room.map_or(k, |r| r.min(k));
            let (lo, hi) = lp_attack_within(
                case.n,
                &published,
                values,
                target,
                &bounds[s].lower,
                &bounds[s].upper,
            );
            let (lo, hi) = ((lo - 1e-6).ceil(), (hi + 1e-6).floor());
            prop_assert!(
                hi - lo >= need as f64,
                "cell {} series {}: [{}, {}] for an attacker with the bounds (need {})",
                c,
                s,
                lo,
                hi,
                need
            );
            if brute
                && let Some((blo, bhi)) = brute_force_within(
                    case.n,
                    &published,
                    values,
                    target,
                    &bounds[s].lower,
                    &bounds[s].upper,
                )
            {
                prop_assert!(
                    bhi.is_none_or(|h| h - blo >= need),
                    "brute force: cell {} series {}: [{}, {:?}]",
                    c,
                    s,
                    blo,
                    bhi
                );
            }
        }
    }
    let a = audit_fixed(
        &system,
        &series,
        &p.statuses,
        &fixed,
        &policy,
        &p.certificate,
    )
    .unwrap();
    prop_assert!(a.passed(), "audit: {:?}", a.first_failure());
    prop_assert_eq!(a.invalid_witnesses, 0);
    // A witness that takes an inner cell above its upper bound is rejected.
    let bounded = p.certificate.witnesses.iter().find_map(|w| {
        let b = &bounds[w.series];
        let (i, _) = w.delta.first()?;
        let u = b.upper[*i as usize]?;
        let mut bad = w.clone();
        bad.delta[0].1 = (u - series[w.series][*i as usize] + 1) * w.denominator;
        Some(bad)
    });
    if let Some(bad) = bounded {
        let t = audit_fixed(
            &system,
            &series,
            &p.statuses,
            &fixed,
            &policy,
            &spiegel_disclosure::Certificate {
                witnesses: vec![bad],
            },
        )
        .unwrap();
        prop_assert_eq!(t.invalid_witnesses, 1);
    }
    Ok(())
}

/// How often protection without the bounds leaves a cell narrower than k for an attacker who
/// knows them (so that the property above can fail).
#[test]
fn bounds_matter() {
    let mut narrowed = 0;
    for seed in 0..40u64 {
        let case = generate(seed, 10, true);
        let system = LinearSystem::new(case.n, case.rows.clone()).unwrap();
        let series: Vec<&[i64]> = case.series.iter().map(Vec::as_slice).collect();
        let policy = Policy {
            threshold: case.k,
            singleton_width: 0,
            ..Policy::default()
        };
        let p = protect(&system, &series, &Fixed::default(), &policy).unwrap();
        // The attacker knows each inner cell to within one of its value.
        let bounds: Vec<Bounds> = case
            .series
            .iter()
            .enumerate()
            .map(|(s, v)| Bounds {
                series: s,
                lower: v.iter().map(|&x| (x - 1).max(0)).collect(),
                upper: v.iter().map(|&x| Some(x + 1)).collect(),
            })
            .collect();
        let fixed = Fixed {
            bounds,
            ..Fixed::default()
        };
        let a = audit_fixed(
            &system,
            &series,
            &p.statuses,
            &fixed,
            &policy,
            &Default::default(),
        )
        .unwrap();
        narrowed += usize::from(!a.passed());
    }
    assert!(
        narrowed > 10,
        "only {narrowed} of 40 narrowed by the bounds"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn bounded_attacker_gets_no_narrow_range(seed in any::<u64>()) {
        run_bounds_case(seed, false)?;
    }

    #[test]
    fn bounded_attacker_on_tiny_systems_brute_force(seed in any::<u64>()) {
        run_bounds_case(seed, true)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Performance smoke test: a reduced national system.
// ---------------------------------------------------------------------------------------------

/// `municipalities` leaves in three region levels that do not nest (networks, care-office
/// regions, provinces) plus the nation, crossed with sex x age group (all, sex, age, sex x age).
pub fn national(
    municipalities: usize,
    networks: usize,
    regions: usize,
    provinces: usize,
    seed: u64,
) -> (LinearSystem, Vec<i64>, Vec<i64>) {
    let (sexes, ages) = (2usize, 3usize);
    let cell = |m: usize, s: usize, a: usize| (m * sexes * ages + s * ages + a) as u32;
    let mut rng = Rng(seed);
    let levels: Vec<Vec<Vec<usize>>> = [1, networks, regions, provinces]
        .iter()
        .enumerate()
        .map(|(li, &g)| {
            let mut units = vec![Vec::new(); g];
            for m in 0..municipalities {
                // Contiguous blocks for networks and provinces, a shifted assignment for regions.
                let u = if li == 2 {
                    (m * g / municipalities + m % 2) % g
                } else {
                    m * g / municipalities
                };
                units[u].push(m);
            }
            units.retain(|u| !u.is_empty());
            units
        })
        .collect();
    let mut rows = Vec::new();
    for level in &levels {
        for unit in level {
            let sel = |sf: Option<usize>, af: Option<usize>| -> Vec<u32> {
                let mut v = Vec::new();
                for &m in unit {
                    for s in 0..sexes {
                        for a in 0..ages {
                            if sf.is_none_or(|x| x == s) && af.is_none_or(|x| x == a) {
                                v.push(cell(m, s, a));
                            }
                        }
                    }
                }
                v
            };
            rows.push(sel(None, None));
            for s in 0..sexes {
                rows.push(sel(Some(s), None));
            }
            for a in 0..ages {
                rows.push(sel(None, Some(a)));
            }
            for s in 0..sexes {
                for a in 0..ages {
                    rows.push(sel(Some(s), Some(a)));
                }
            }
        }
    }
    let n = municipalities * sexes * ages;
    // Small counts, so that many cells at the finer levels are primary.
    let den: Vec<i64> = (0..n).map(|_| rng.below(9) as i64).collect();
    let num: Vec<i64> = den
        .iter()
        .map(|&d| (d as u64 * (20 + rng.below(40)) / 100) as i64)
        .collect();
    (LinearSystem::new(n, rows).unwrap(), num, den)
}

#[test]
fn performance_smoke_reduced_national_system() {
    let (system, num, den) = national(24, 6, 5, 3, 7);
    let policy = Policy::default();
    let start = Instant::now();
    let p = protect(&system, &[&num, &den], &Fixed::default(), &policy).unwrap();
    let protect_time = start.elapsed();
    let start = Instant::now();
    let a = audit(&system, &[&num, &den], &p.statuses, &policy).unwrap();
    let audit_time = start.elapsed();
    assert!(a.passed(), "{:?}", a.first_failure());
    assert!(p.hidden() > 0);
    let primary = p
        .statuses
        .iter()
        .filter(|s| matches!(s, Status::Primary(_)))
        .count();
    eprintln!(
        "reduced national system: {} inner cells, {} published cells, {} primary, {} secondary, \
         {} rounds; protect {:?}, audit {:?} (debug build)",
        system.n_inner(),
        system.n_cells(),
        primary,
        p.hidden() - primary,
        p.rounds,
        protect_time,
        audit_time
    );
}

/// Two related counts (opioid users among decedents, say) in regions A, B and C and the
/// nation: inner cells (A not in the subset, A in it, B not, B in it, C not, C in it); each
/// subset's cell is within the whole's.
fn related_counts() -> (LinearSystem, LinearSystem, Vec<i64>) {
    let rows: Vec<Vec<u32>> = vec![
        vec![0, 1],             // 0: A, all
        vec![1],                // 1: A, subset
        vec![2, 3],             // 2: B, all
        vec![3],                // 3: B, subset
        vec![4, 5],             // 4: C, all
        vec![5],                // 5: C, subset
        vec![0, 1, 2, 3, 4, 5], // 6: nation, all
        vec![1, 3, 5],          // 7: nation, subset
    ];
    let plain = LinearSystem::new(6, rows).unwrap();
    let within = vec![None, Some(0), None, Some(2), None, Some(4), None, Some(6)];
    let related = plain.clone().with_within(within).unwrap();
    // One person in A, not in the subset; 4 of B's 30 in it; 10 of C's 30.
    (plain, related, vec![1, 0, 26, 4, 20, 10])
}

#[test]
fn a_singleton_knows_the_related_counts_of_their_own_cell() {
    let (plain, related, inner) = related_counts();
    let policy = Policy {
        min_interval_width: Some(1),
        ..policy(10)
    };
    // C and the nation published, A and B hidden: A's and B's subsets add up to 4. The public
    // can tell B's subset only within [0, 4]; the one person of A, from A's count of 1 alone,
    // within [3, 4]. But they also know that they are not in the subset themselves (A's
    // subset is 0): B's subset is 4, exactly.
    let primary = Status::Primary(PrimaryReason::BelowThreshold { series: 0 });
    let mut statuses = vec![Status::Published; 8];
    statuses[..4].copy_from_slice(&[primary, Status::Secondary, Status::Secondary, primary]);
    let a = audit(&plain, &[&inner], &statuses, &policy).unwrap();
    assert!(a.passed(), "{:?}", a.first_failure());
    let a = audit(&related, &[&inner], &statuses, &policy).unwrap();
    assert!(!a.passed());
    let failure = a.records.iter().find(|r| !r.pass).unwrap();
    assert_eq!(
        (
            failure.cell,
            failure.singleton,
            failure.lower,
            failure.upper
        ),
        (3, Some(0), 4, Some(4))
    );
    // The oracle's LP agrees: with A's two counts known, B's subset has one value; with A's
    // whole alone, two.
    let mut known = published_rows(&related, &statuses);
    known.push(vec![0, 1]);
    assert_eq!(lp_attack(6, &known, &inner, &[3]), (3.0, 4.0));
    known.push(vec![1]);
    assert_eq!(lp_attack(6, &known, &inner, &[3]), (4.0, 4.0));
    // Protection takes that contributor into account: with C and the nation forced and A's
    // subset and B's whole kept hidden, the pattern above is what it gives without the
    // relation, and with it the release is refused (nothing left to hide).
    let fixed = Fixed {
        forced: vec![4, 5, 6, 7],
        hidden: vec![1, 2],
        ..Fixed::default()
    };
    let p = release(&plain, &[&inner], &fixed, &policy).unwrap();
    let hidden = |s: &[Status]| s.iter().map(|s| s.is_hidden()).collect::<Vec<_>>();
    assert_eq!(hidden(&p.statuses), hidden(&statuses));
    // Protection itself refuses (not only the audit after it).
    assert!(protect(&related, &[&inner], &fixed, &policy).is_err());
    let p = release(&related, &[&inner], &Fixed::default(), &policy).unwrap();
    assert!(
        audit(&related, &[&inner], &p.statuses, &policy)
            .unwrap()
            .passed()
    );
}

#[test]
fn within_must_be_a_subset_without_cycles() {
    let s = || LinearSystem::new(2, vec![vec![0, 1], vec![1], vec![0, 1]]).unwrap();
    for (within, reason) in [
        (vec![None, Some(1), None], "within itself"),
        (vec![None, Some(7), None], "no such cell"),
        (
            vec![Some(1), None, None],
            "inner cells that the other does not",
        ),
        (vec![Some(2), None, Some(0)], "cycle"),
    ] {
        let e = s().with_within(within).unwrap_err();
        assert!(e.to_string().contains(reason), "{e}");
    }
    assert!(matches!(
        s().with_within(vec![None]),
        Err(Error::CellArgumentLength { .. })
    ));
}

/// Found by the engine's differential property test: with k = 1, a cell with a count of 1 is
/// hidden only to protect another (here given as hidden), and is not sensitive itself. Its
/// person is still a singleton attacker: the witnesses must record its changes, or a proof
/// that moves it counts for them.
#[test]
fn a_singleton_that_is_not_sensitive_itself_is_still_an_attacker() {
    // Total (0 + 1 + 4 contacts; 5 persons), a cell of 3 persons, the heart cell (one person,
    // no contact: hidden), the renal cell (one person, one contact: a magnitude cell).
    let system = LinearSystem::new(3, vec![vec![0, 1, 2], vec![2], vec![0], vec![1]]).unwrap();
    let (num, den) = ([0i64, 1, 4], [1i64, 1, 3]);
    let policy = Policy {
        threshold: 1,
        min_interval_width: Some(1),
        ..Policy::default()
    };
    let fixed = Fixed {
        widths: vec![CellWidth {
            cell: 3,
            series: 0,
            width: 1,
        }],
        hidden: vec![2],
        ..Fixed::default()
    };
    let p = protect(&system, &[&num, &den], &fixed, &policy).unwrap();
    // With the total and the 3-person cell published, the heart person (0 contacts) would
    // know the renal cell's 1 contact: the 3-person cell is hidden too.
    assert!(p.statuses[1].is_hidden(), "{:?}", p.statuses);
    let a = audit_fixed(
        &system,
        &[&num, &den],
        &p.statuses,
        &fixed,
        &policy,
        &p.certificate,
    );
    assert!(a.unwrap().passed());
    let mut known = published_rows(&system, &p.statuses);
    known.push(vec![0]);
    let (lo, hi) = lp_attack(3, &known, &num, &[1]);
    assert!(hi - lo >= 1.0, "[{lo}, {hi}]");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// With k = 1 a count of 1 is not sensitive, so it may be hidden during stage 2 to
    /// protect another cell (after the singletons were first listed), and a count of 0 may be
    /// hidden within a singleton's cell: either way its contributor is an attacker too, and
    /// the singleton oracle checks every hidden count of 1 in the final release.
    #[test]
    fn counts_of_one_hidden_to_protect_others_are_attackers_too(seed in any::<u64>()) {
        let case = generate(seed, 6 + (seed / 3 % 7) as usize, true);
        let system = LinearSystem::new(case.n, case.rows.clone()).unwrap();
        let series: Vec<&[i64]> = case.series.iter().map(Vec::as_slice).collect();
        let policy = Policy {
            threshold: 1,
            min_interval_width: Some(2 + (seed % 5) as i64),
            singleton_width: 1 + (seed / 7 % 3) as i64,
            ..Policy::default()
        };
        // Sensitive by the caller's rule: counts of 2 to at least k - 1 in the first series.
        let most = (3 + (seed / 11 % 5) as i64).max(case.k - 1);
        let count = |q: usize| -> i64 {
            system.cell(q).iter().map(|&i| series[0][i as usize]).sum()
        };
        let primary = (0..system.n_cells())
            .filter(|&q| (2..=most).contains(&count(q)))
            .map(|q| (q, PrimaryReason::Manual))
            .collect();
        let fixed = Fixed { primary, ..Fixed::default() };
        // Unprotectable (an error naming the cell) is allowed; a release is not, unless safe.
        if let Ok(p) = protect(&system, &series, &fixed, &policy) {
            if let Err(e) = oracles_with(&system, &series, &p.statuses, &policy, false, false) {
                return Err(TestCaseError::fail(e));
            }
            let a = audit_fixed(&system, &series, &p.statuses, &fixed, &policy, &p.certificate)
                .unwrap();
            prop_assert!(a.passed(), "certified audit: {:?}", a.first_failure());
        }
    }
}
