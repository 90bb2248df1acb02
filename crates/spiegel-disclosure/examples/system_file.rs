//! Timing of protect + certified audit on real systems written by the engine's
//! `dump_systems` example: `cargo run --release -p spiegel-disclosure --example system_file --
//! DIR [INDICATOR...]` (`SINGLETON_WIDTH=0` turns the singleton rule off, `=10` makes it as strict as for the public).
//!
//! File format (one per indicator): `id n_inner n_cells`, then one line per published cell
//! (`len inner...`), then the numerator and the denominator of every inner cell.
use spiegel_disclosure::{Fixed, LinearSystem, Policy, primary_only, protect};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap();
    let only: Vec<String> = args.collect();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let (mut tp, mut ta) = (0.0, 0.0);
    for p in paths {
        let text = std::fs::read_to_string(&p)?;
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap().split(' ').collect();
        if !only.is_empty() && !only.iter().any(|o| o == head[0]) {
            continue;
        }
        let n_inner: usize = head[1].parse()?;
        let n_rows: usize = head[2].parse()?;
        let mut rows = Vec::new();
        for _ in 0..n_rows {
            let v: Vec<u32> = lines
                .next()
                .unwrap()
                .split(' ')
                .skip(1)
                .map(|x| x.parse().unwrap())
                .collect();
            rows.push(v);
        }
        let num: Vec<i64> = lines
            .next()
            .unwrap()
            .split(' ')
            .map(|x| x.parse().unwrap())
            .collect();
        let den: Vec<i64> = lines
            .next()
            .unwrap()
            .split(' ')
            .map(|x| x.parse().unwrap())
            .collect();
        let system = LinearSystem::new(n_inner, rows)?;
        let policy = Policy {
            singleton_width: std::env::var("SINGLETON_WIDTH").map_or(Ok(1), |v| v.parse())?,
            ..Policy::default()
        };
        let series: [&[i64]; 2] = [&num, &den];
        let naive = primary_only(&system, &series, &policy)?;
        let primary = naive.iter().filter(|s| s.is_hidden()).count();
        let t = Instant::now();
        let pr = protect(&system, &series, &Fixed::default(), &policy);
        let t1 = t.elapsed().as_secs_f64();
        tp += t1;
        match pr {
            Ok(pr) => {
                let t = Instant::now();
                let a = spiegel_disclosure::audit_with(
                    &system,
                    &series,
                    &pr.statuses,
                    &policy,
                    &pr.certificate,
                )?;
                let t2 = t.elapsed().as_secs_f64();
                ta += t2;
                println!(
                    "{:40} cells {:5} primary {:4} hidden {:4} rounds {:3} protect {:7.3}s audit {:7.3}s pass {}",
                    head[0],
                    n_rows,
                    primary,
                    pr.hidden(),
                    pr.rounds,
                    t1,
                    t2,
                    a.passed()
                );
            }
            Err(e) => println!(
                "{:40} cells {n_rows:5} primary {primary:4} ERROR {e} after {t1:.3}s",
                head[0]
            ),
        }
    }
    println!("total protect {tp:.2}s audit {ta:.2}s");
    Ok(())
}
