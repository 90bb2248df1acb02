//! Protects the joint systems of families of related counts written by the engine (its
//! feature `dump-families`, format in `crates/spiegel-engine/src/dump.rs`), one after another
//! on one thread, as the engine does (the singleton rule off), and audits each with its own
//! proof: a research aid for the families, most of a national run's disclosure control.
//!
//! ```text
//! SPIEGEL_DUMP_FAMILIES=/tmp/families cargo run --release -p spiegel-cli \
//!     --features dump-families -- run --data DIR
//! cargo run --release -p spiegel-disclosure --example family_file -- /tmp/families/*.txt
//! ```
//!
//! One line per file: its published cells, the sensitive ones, the hidden ones before and
//! after, the seconds of protection and of the audit, and whether the audit passed.
use spiegel_disclosure::{Fixed, LinearSystem, Policy, PrimaryReason, audit_with, protect};
use std::time::Instant;

/// The numbers of one line, or what is wrong with it.
fn numbers<T: std::str::FromStr>(line: Option<&str>, what: &str) -> Result<Vec<T>, String> {
    let line = line.ok_or_else(|| format!("the file ends before {what}"))?;
    line.split(' ')
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse()
                .map_err(|_| format!("{what}: not a number: {x:?}"))
        })
        .collect()
}

/// A file's system, the inner cells' true counts and what the engine fixed.
fn read(text: &str) -> Result<(LinearSystem, Vec<i64>, Fixed), Box<dyn std::error::Error>> {
    let mut lines = text.lines();
    let head: Vec<usize> = numbers(lines.next(), "the header")?;
    let [n_inner, n_cells, _n_parts] = head[..] else {
        return Err("the header is not `n_inner n_cells n_parts`".into());
    };
    let (mut keys, mut rows) = (Vec::new(), Vec::new());
    for c in 0..n_cells {
        let row: Vec<u64> = numbers(lines.next(), &format!("published cell {c}"))?;
        let (&[key, len], inner) = row.split_at(2.min(row.len())) else {
            return Err(format!("published cell {c}: no key and length").into());
        };
        if inner.len() as u64 != len {
            return Err(format!("published cell {c}: {len} inner cells announced").into());
        }
        keys.push(key);
        rows.push(
            inner
                .iter()
                .map(|&i| {
                    u32::try_from(i)
                        .map_err(|_| format!("published cell {c}: inner cell {i} out of range"))
                })
                .collect::<Result<_, _>>()?,
        );
    }
    let values = numbers(lines.next(), "the true counts")?;
    let forced = numbers(lines.next(), "the forced cells")?;
    let previously_published = numbers(lines.next(), "the previously published cells")?;
    let hidden = numbers(lines.next(), "the hidden cells")?;
    let primary: Vec<usize> = numbers(lines.next(), "the sensitive cells")?;
    let fixed = Fixed {
        forced,
        previously_published,
        hidden,
        primary: primary
            .into_iter()
            .map(|c| (c, PrimaryReason::Manual))
            .collect(),
        ..Fixed::default()
    };
    let system = LinearSystem::new(n_inner, rows)?.with_keys(keys)?;
    Ok((system, values, fixed))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = Policy {
        singleton_width: 0,
        ..Policy::default()
    };
    let (mut all_protect, mut all_audit) = (0.0, 0.0);
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path)?;
        let (system, values, fixed) = read(&text).map_err(|e| format!("{path}: {e}"))?;
        let series: [&[i64]; 1] = [&values];
        let t = Instant::now();
        let p = protect(&system, &series, &fixed, &policy)?;
        let protect_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let a = audit_with(&system, &series, &p.statuses, &policy, &p.certificate)?;
        let audit_s = t.elapsed().as_secs_f64();
        (all_protect, all_audit) = (all_protect + protect_s, all_audit + audit_s);
        let name = path.rsplit('/').next().unwrap_or(&path);
        println!(
            "{name}: {} cells, {} sensitive, hidden {} -> {}, protect {protect_s:.2} s, audit \
             {audit_s:.2} s, audit passed: {}",
            system.n_cells(),
            fixed.primary.len(),
            fixed.primary.len() + fixed.hidden.len(),
            p.hidden(),
            a.passed(),
        );
    }
    println!("in all: protect {all_protect:.2} s, audit {all_audit:.2} s");
    Ok(())
}
