//! Mirror information over two periods of a synthetic extract: a known shift
//! in one network is flagged as a significant change, and no other network's
//! change is.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Date32Type};
use spiegel_engine::{ConfidenceLevel, Engine, Extract, RunOptions, StatsOptions};

use crate::tiny::catalogue;

/// Days since the epoch of 1 January of a year (Gregorian).
fn jan1(year: i32) -> i32 {
    let y = year - 1;
    365 * (year - 1970) + (y / 4 - y / 100 + y / 400) - (1969 / 4 - 1969 / 100 + 1969 / 400)
}

#[test]
fn a_shift_in_one_network_is_the_only_significant_change() {
    let config = spiegel_synth::SynthConfig {
        scale: 0.05,
        seed: 11,
        years: vec![2022, 2023],
    };
    let generated = spiegel_synth::generate(&config).expect("synthetic extract");
    let region = generated.table("region").expect("region").clone();
    let person = generated.table("person").expect("person").clone();

    // The network of each municipality in 2023, and the network to shift:
    // the one with the most municipalities, so that it has enough decedents.
    let col = |b: &RecordBatch, n: &str| {
        datafusion::arrow::compute::cast(b.column_by_name(n).unwrap(), &DataType::Utf8).unwrap()
    };
    let (muni, net) = (
        col(&region, "municipality_code"),
        col(&region, "network_id"),
    );
    let (muni, net) = (muni.as_string::<i32>(), net.as_string::<i32>());
    let mut network_of = HashMap::new();
    let mut sizes: HashMap<String, usize> = HashMap::new();
    for i in 0..region.num_rows() {
        network_of.insert(muni.value(i).to_string(), net.value(i).to_string());
        *sizes.entry(net.value(i).to_string()).or_default() += 1;
    }
    let mut by_size: Vec<(&String, &usize)> = sizes.iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let shifted = by_size[0].0.clone();

    // 2023 in that network: everybody dies at home.
    let death = person
        .column_by_name("death_date")
        .unwrap()
        .as_primitive::<Date32Type>()
        .clone();
    let pm = col(&person, "municipality_code");
    let pm = pm.as_string::<i32>();
    let place = col(&person, "place_of_death");
    let place = place.as_string::<i32>();
    let new_place: StringArray = (0..person.num_rows())
        .map(|i| {
            let in_2023 = death.value(i) >= jan1(2023);
            if in_2023 && network_of.get(pm.value(i)) == Some(&shifted) {
                Some("home".to_string())
            } else {
                Some(place.value(i).to_string())
            }
        })
        .collect();
    let idx = person.schema().index_of("place_of_death").unwrap();
    let mut columns: Vec<ArrayRef> = person.columns().to_vec();
    columns[idx] = Arc::new(new_place);
    let person = RecordBatch::try_new(person.schema(), columns).unwrap();

    let extract = generated.tables.iter().fold(Extract::new(), |e, (n, b)| {
        let b = if n == "person" {
            person.clone()
        } else {
            b.clone()
        };
        e.with_batches(n.clone(), vec![b])
    });
    let out = Engine::new(catalogue())
        .with_options(RunOptions {
            // The statistics are under test here, not disclosure control
            // (tests/engine/disclosure.rs): nothing is sensitive at k = 1, so
            // every network's change is published and compared.
            threshold: Some(1),
            p_percent: Some(0),
            stats: StatsOptions {
                levels: vec![ConfidenceLevel::P998],
                baseline: Some(2022),
                ..StatsOptions::default()
            },
            ..RunOptions::default()
        })
        .run_blocking(&extract)
        .unwrap_or_else(|e| panic!("{e}"));
    let b = &out.results;
    let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
    let (id, period, level, region_id, sex, age, diag) = (
        s("indicator_id"),
        s("period"),
        s("region_level"),
        s("region_id"),
        s("sex"),
        s("age_group"),
        s("diagnosis_group"),
    );
    let significant = b
        .column_by_name("change_significant")
        .unwrap()
        .as_boolean()
        .clone();
    let mut flagged = Vec::new();
    let mut compared = 0;
    for r in 0..b.num_rows() {
        let whole = sex.is_null(r) && age.is_null(r) && diag.is_null(r);
        if id.value(r) == "place_of_death_home"
            && period.value(r) == "2023"
            && level.value(r) == "network"
            && whole
            && significant.is_valid(r)
        {
            compared += 1;
            if significant.value(r) {
                flagged.push(region_id.value(r).to_string());
            }
        }
    }
    assert!(
        compared > 40,
        "only {compared} networks had a published change"
    );
    assert_eq!(flagged, vec![shifted.clone()], "shifted network: {shifted}");
}
