//! Loading, validation and schema tests of the definition format.

use std::path::{Path, PathBuf};

use spiegel_model::{Catalogue, Condition, Quantity, Source};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[test]
fn palliative_catalogue_loads_all_22_indicators() {
    let c = Catalogue::load_dir(fixtures().join("indicators/palliative")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.indicators.len(), 22);
    assert_eq!(c.threshold, 10);
    assert_eq!(c.age_groups.len(), 3);
    assert_eq!(c.diagnosis.groups.len(), 9);
}
