//! Criterion benchmarks of the engine.
//!
//! - `catalogue/one_pass`: all 22 indicators in one compiled plan (one scan of
//!   each event table) versus `catalogue/per_indicator`: 22 separate runs, one
//!   indicator each (the naive engine: one scan per indicator). The ratio of
//!   the two is the point of the design.
//! - `cells/sum`: summing every published cell from the finest cells.
//!
//! Run: `cargo bench -p spiegel-benches` (SPIEGEL_BENCH_SCALE, default 0.05).

use criterion::{Criterion, criterion_group, criterion_main};
use spiegel::prelude::*;
use spiegel_benches::{catalogue, extract, options};

fn scale() -> f64 {
    std::env::var("SPIEGEL_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.05)
}

fn bench_catalogue(c: &mut Criterion) {
    let catalogue = catalogue();
    let extract = extract(scale());
    let partitions = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut group = c.benchmark_group("catalogue");
    group.sample_size(10);
    let engine = Engine::new(catalogue.clone()).with_options(options(partitions));
    group.bench_function("one_pass", |b| {
        b.iter(|| engine.run_blocking(&extract).expect("run"));
    });
    let singles: Vec<Engine> = catalogue
        .indicators
        .iter()
        .map(|ind| {
            let mut one = catalogue.clone();
            one.indicators = vec![ind.clone()];
            Engine::new(one).with_options(options(partitions))
        })
        .collect();
    group.bench_function("per_indicator", |b| {
        b.iter(|| {
            for e in &singles {
                e.run_blocking(&extract).expect("run");
            }
        });
    });
    group.finish();

    let output = engine.run_blocking(&extract).expect("run");
    let mut group = c.benchmark_group("cells");
    group.bench_function("sum", |b| {
        b.iter(|| {
            let mut total = 0i64;
            for s in &output.finest.series {
                if let Some(map) = output.cell_maps.iter().find(|m| m.space == s.space) {
                    total += map.sum(s).iter().map(|c| c.numerator).sum::<i64>();
                }
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, bench_catalogue);
criterion_main!(benches);
