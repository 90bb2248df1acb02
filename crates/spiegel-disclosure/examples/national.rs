//! Timing of protect + audit on a national-size system for one indicator: `cargo run --release
//! -p spiegel-disclosure --example national [municipalities]`.
//!
//! Leaves: municipalities x sex (2) x age group (3). Published: the nation and three region
//! levels that do not nest (networks, care-office regions, provinces), each crossed with
//! {all, sex, age group, sex x age group}; numerator and denominator.

use std::time::Instant;

use spiegel_disclosure::{Fixed, LinearSystem, Policy, Status, audit, primary_only, protect};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let municipalities: usize = std::env::args().nth(1).map_or(Ok(340), |a| a.parse())?;
    let (networks, regions, provinces) = (65, 31, 12);
    let (sexes, ages) = (2usize, 3usize);
    let cell = |m: usize, s: usize, a: usize| (m * sexes * ages + s * ages + a) as u32;
    let mut state = 42u64;
    let mut rand = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let mut rows = Vec::new();
    for (li, g) in [1, networks, regions, provinces].into_iter().enumerate() {
        let mut units = vec![Vec::new(); g];
        for m in 0..municipalities {
            let u = if li == 2 {
                (m * g / municipalities + m % 2) % g
            } else {
                m * g / municipalities
            };
            units[u].push(m);
        }
        for unit in units.iter().filter(|u| !u.is_empty()) {
            let sel = |sf: Option<usize>, af: Option<usize>| -> Vec<u32> {
                let mut v = Vec::new();
                for &m in unit {
                    for s in (0..sexes).filter(|&s| sf.is_none_or(|x| x == s)) {
                        for a in (0..ages).filter(|&a| af.is_none_or(|x| x == a)) {
                            v.push(cell(m, s, a));
                        }
                    }
                }
                v
            };
            rows.push(sel(None, None));
            (0..sexes).for_each(|s| rows.push(sel(Some(s), None)));
            (0..ages).for_each(|a| rows.push(sel(None, Some(a))));
            for s in 0..sexes {
                (0..ages).for_each(|a| rows.push(sel(Some(s), Some(a))));
            }
        }
    }
    let n = municipalities * sexes * ages;
    // About 170,000 decedents a year over 340 municipalities: ~80 per municipality and sex x age.
    let den: Vec<i64> = (0..n).map(|_| 5 + rand(150) as i64).collect();
    let num: Vec<i64> = den
        .iter()
        .map(|&d| (d as u64 * (15 + rand(25)) / 100) as i64)
        .collect();
    let system = LinearSystem::new(n, rows)?;
    let policy = Policy::default();
    let series: [&[i64]; 2] = [&num, &den];
    let naive = primary_only(&system, &series, &policy)?;
    let primary = naive.iter().filter(|s| s.is_hidden()).count();
    let start = Instant::now();
    let p = protect(&system, &series, &Fixed::default(), &policy)?;
    let t_protect = start.elapsed();
    let start = Instant::now();
    let a = audit(&system, &series, &p.statuses, &policy)?;
    let t_audit = start.elapsed();
    let secondary = p
        .statuses
        .iter()
        .filter(|s| **s == Status::Secondary)
        .count();
    let cells = system.n_cells();
    println!("inner cells: {n}, published cells: {cells}");
    println!(
        "primary: {primary} ({:.1}%), secondary: {secondary} ({:.1}%), hidden in all: {:.1}%",
        100.0 * primary as f64 / cells as f64,
        100.0 * secondary as f64 / cells as f64,
        100.0 * p.hidden() as f64 / cells as f64
    );
    println!(
        "rounds: {}; protect: {t_protect:.2?}; audit: {t_audit:.2?}; audit passed: {}",
        p.rounds,
        a.passed()
    );
    let naive_audit = audit(&system, &series, &naive, &policy)?;
    println!(
        "threshold-only baseline: audit failures {}",
        naive_audit.failures()
    );
    Ok(())
}
