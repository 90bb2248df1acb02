//! Writes the linear system of every indicator of a run (published cells as sums of finest
//! cells, numerator and denominator) for `spiegel-disclosure`'s `system_file` example:
//! `cargo run --release -p spiegel-engine --example dump_systems -- DATA_DIR OUT_DIR`.
use spiegel_engine::{Engine, Extract, RunOptions};
use spiegel_model::Catalogue;
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = std::env::args().nth(1).unwrap();
    let out = std::env::args().nth(2).unwrap();
    let catalogue = Catalogue::load_dir("fixtures/indicators/palliative")?;
    let extract = Extract::from_dir(&data, &catalogue.contract)?;
    // Threshold 1: nothing sensitive, so the run skips protection; the systems are the same.
    let options = RunOptions {
        threshold: Some(1),
        p_percent: Some(0),
        ..RunOptions::default()
    };
    let output = Engine::new(catalogue.clone())
        .with_options(options)
        .run_blocking(&extract)?;
    std::fs::create_dir_all(&out)?;
    for (ind, s) in catalogue.indicators.iter().zip(&output.finest.series) {
        let Some(map) = output.cell_maps.iter().find(|m| m.space == s.space) else {
            continue;
        };
        let dense = map.dense(s);
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(format!("{out}/{}.txt", ind.id))?);
        let cells: Vec<usize> = (0..map.cells.len())
            .filter(|&j| {
                map.cells[j]
                    .stratifiers()
                    .iter()
                    .all(|x| ind.stratifiers.contains(x))
            })
            .filter(|&j| !map.members[j].is_empty())
            // The national cells by diagnosis group are protected apart (see disclose::parts).
            .filter(|&j| map.cells[j].diagnosis_group.is_none())
            .collect();
        writeln!(f, "{} {} {}", ind.id, map.keys.len(), cells.len())?;
        for &j in &cells {
            let m = &map.members[j];
            write!(f, "{}", m.len())?;
            for i in m {
                write!(f, " {i}")?;
            }
            writeln!(f)?;
        }
        let num: Vec<String> = dense.iter().map(|c| c.numerator.to_string()).collect();
        let den: Vec<String> = dense.iter().map(|c| c.denominator.to_string()).collect();
        writeln!(f, "{}", num.join(" "))?;
        writeln!(f, "{}", den.join(" "))?;
    }
    Ok(())
}
