//! Writes a synthetic extract as Parquet.
//!
//! Usage: `cargo run --release -p spiegel-synth --example write_extract -- SCALE SEED OUT_DIR [YEAR...]`
//! (defaults: scale 0.01, seed 42, out `out/extract`, year 2022).

use std::path::PathBuf;
use std::time::Instant;

use spiegel_synth::{SynthConfig, write_parquet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scale: f64 = args.first().map(|s| s.parse()).transpose()?.unwrap_or(0.01);
    let seed: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(42);
    let out = PathBuf::from(args.get(2).map_or("out/extract", String::as_str));
    let years: Vec<i32> = if args.len() > 3 {
        args[3..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![2022]
    };
    let config = SynthConfig { scale, seed, years };
    let started = Instant::now();
    let mut last_report = 0;
    let summary = write_parquet(&config, &out, &mut |p| {
        if p.table == "medication" && p.persons_done >= last_report + 50_000 {
            last_report = p.persons_done;
            eprintln!("{} / {} persons", p.persons_done, p.persons_total);
        }
    })?;
    for (table, rows) in &summary.rows {
        println!("{table:>13} {rows:>12} rows");
    }
    println!(
        "written to {} in {:.2} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
