//! A research aid, compiled only with the feature `dump-families`: each family of related
//! counts' joint system written out as protection receives it (the statuses the indicators
//! leave), so that its protection can be timed and changed alone, without running the engine
//! again: `spiegel-disclosure`'s `family_file` example reads these files. The families are
//! most of a national run's disclosure control (see `docs/disclosure-performance-log.md`).
//!
//! `SPIEGEL_DUMP_FAMILIES=DIR` names the folder; without it nothing is written. A file that
//! cannot be written is reported on stderr and the run goes on: the dump never changes a
//! run's outcome.
//!
//! The format, one file per family and independent part of it (`NODES.PART.txt`, the nodes'
//! series joined by `+`, root first), numbers separated by single spaces:
//!
//! ```text
//! n_inner n_cells n_parts
//! key len inner...            one line per published cell (a node's count in one cell)
//! value...                    the true count of every inner cell, (finest cell, part)
//! forced...                   cell indices, one line each: forced,
//! previously_published...     previously published,
//! hidden...                   hidden without being sensitive,
//! primary...                  and sensitive
//! ```

use std::io::Write;

use spiegel_disclosure::{Fixed, LinearSystem};

/// Writes one joint system (see the module documentation) if `SPIEGEL_DUMP_FAMILIES` is set.
pub(crate) fn family(
    nodes: &str,
    part: usize,
    n_parts: usize,
    system: &LinearSystem,
    values: &[i64],
    fixed: &Fixed,
) {
    let Some(dir) = std::env::var_os("SPIEGEL_DUMP_FAMILIES") else {
        return;
    };
    let path = std::path::Path::new(&dir).join(format!("{nodes}.{part}.txt"));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let line = |f: &mut dyn Write, items: &mut dyn Iterator<Item = String>| {
            let items: Vec<String> = items.collect();
            writeln!(f, "{}", items.join(" "))
        };
        writeln!(f, "{} {} {n_parts}", system.n_inner(), system.n_cells())?;
        for c in 0..system.n_cells() {
            let inner = system.cell(c);
            write!(f, "{} {}", system.key(c), inner.len())?;
            for i in inner {
                write!(f, " {i}")?;
            }
            writeln!(f)?;
        }
        line(&mut f, &mut values.iter().map(i64::to_string))?;
        for cells in [&fixed.forced, &fixed.previously_published, &fixed.hidden] {
            line(&mut f, &mut cells.iter().map(usize::to_string))?;
        }
        line(
            &mut f,
            &mut fixed.primary.iter().map(|(c, _)| c.to_string()),
        )?;
        f.flush()
    };
    if let Err(e) = write() {
        eprintln!("warning: cannot write {}: {e}", path.display());
    }
}
