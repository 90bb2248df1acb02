//! Shared set-up of the spiegel benchmarks: the bundled catalogue and an
//! in-memory synthetic extract.

use spiegel::prelude::*;

/// The bundled palliative catalogue.
pub fn catalogue() -> Catalogue {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/indicators/palliative"
    );
    Catalogue::load_dir(dir).unwrap_or_else(|e| panic!("{e}"))
}

/// A synthetic extract in memory at a scale factor (1 = 170,000 decedents).
pub fn extract(scale: f64) -> Extract {
    let config = spiegel::synth::SynthConfig {
        scale,
        ..Default::default()
    };
    let generated = spiegel::synth::generate(&config).unwrap_or_else(|e| panic!("{e}"));
    generated
        .tables
        .into_iter()
        .fold(Extract::new(), |e, (name, batch)| {
            e.with_batches(name, vec![batch])
        })
}

/// Options for benchmarks: nothing suppressed, a fixed number of partitions.
pub fn options(partitions: usize) -> RunOptions {
    RunOptions {
        threshold: Some(1),
        target_partitions: Some(partitions),
        ..RunOptions::default()
    }
}
