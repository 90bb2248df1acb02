//! Integration tests of the synthetic extract: determinism, schemas, consistency rules,
//! geography, scaling, configuration errors and Parquet round trip.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::sync::OnceLock;

use arrow::array::{
    Array, AsArray, BooleanArray, Date32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    StringArray,
};
use arrow::datatypes::{Date32Type, Float64Type, Int16Type, Int32Type, Int64Type};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use spiegel_synth::{Extract, SynthConfig, SynthError, TABLES, generate, schema, write_parquet};

fn config(scale: f64, seed: u64) -> SynthConfig {
    SynthConfig {
        scale,
        seed,
        years: vec![2022],
    }
}

/// The shared extract of most tests: scale 0.02, two years (so that chunks span years).
fn extract() -> &'static Extract {
    static E: OnceLock<Extract> = OnceLock::new();
    E.get_or_init(|| {
        generate(&SynthConfig {
            scale: 0.02,
            seed: 42,
            years: vec![2022, 2023],
        })
        .expect("generate")
    })
}

fn table<'a>(e: &'a Extract, name: &str) -> &'a RecordBatch {
    e.table(name).unwrap_or_else(|| panic!("table {name}"))
}

fn strings<'a>(b: &'a RecordBatch, col: &str) -> &'a StringArray {
    b.column_by_name(col).expect(col).as_string::<i32>()
}

fn dates<'a>(b: &'a RecordBatch, col: &str) -> &'a Date32Array {
    b.column_by_name(col)
        .expect(col)
        .as_primitive::<Date32Type>()
}

fn bools<'a>(b: &'a RecordBatch, col: &str) -> &'a BooleanArray {
    b.column_by_name(col).expect(col).as_boolean()
}

struct PersonInfo {
    death: i32,
    place: String,
    panel: bool,
}

fn persons(e: &Extract) -> HashMap<String, PersonInfo> {
    let p = table(e, "person");
    let ids = strings(p, "person_id");
    let death = dates(p, "death_date");
    let place = strings(p, "place_of_death");
    let panel = bools(p, "gp_panel");
    (0..p.num_rows())
        .map(|i| {
            (
                ids.value(i).to_string(),
                PersonInfo {
                    death: death.value(i),
                    place: place.value(i).to_string(),
                    panel: panel.value(i),
                },
            )
        })
        .collect()
}

struct Ev {
    setting: String,
    start: i32,
    end: Option<i32>,
    acute: Option<bool>,
    provider: Option<String>,
}

fn events_by_person(e: &Extract) -> HashMap<String, Vec<Ev>> {
    let b = table(e, "care_event");
    let person = strings(b, "person_id");
    let setting = strings(b, "setting");
    let start = dates(b, "start_date");
    let end = dates(b, "end_date");
    let acute = bools(b, "is_acute");
    let provider = strings(b, "provider_id");
    let mut out: HashMap<String, Vec<Ev>> = HashMap::new();
    for i in 0..b.num_rows() {
        out.entry(person.value(i).to_string())
            .or_default()
            .push(Ev {
                setting: setting.value(i).to_string(),
                start: start.value(i),
                end: end.is_valid(i).then(|| end.value(i)),
                acute: acute.is_valid(i).then(|| acute.value(i)),
                provider: provider.is_valid(i).then(|| provider.value(i).to_string()),
            });
    }
    out
}

#[test]
fn same_config_same_data_other_seed_other_data() {
    let a = generate(&config(0.005, 7)).unwrap();
    let b = generate(&config(0.005, 7)).unwrap();
    let c = generate(&config(0.005, 8)).unwrap();
    for t in TABLES {
        assert_eq!(table(&a, t), table(&b, t), "table {t} differs between runs");
    }
    for t in ["person", "care_event", "medication", "region"] {
        assert_ne!(table(&a, t), table(&c, t), "table {t} ignores the seed");
    }
}

#[test]
fn schemas_match_the_contract() {
    let e = extract();
    let names: Vec<&str> = e.tables.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, TABLES);
    for (name, batch) in &e.tables {
        let expected = schema(name).expect("schema");
        assert_eq!(batch.schema(), expected, "schema of {name}");
        assert!(batch.num_rows() > 0, "{name} is empty");
        for (i, f) in expected.fields().iter().enumerate() {
            if !f.is_nullable() {
                assert_eq!(batch.column(i).null_count(), 0, "{name}.{}", f.name());
            }
        }
    }
    assert!(schema("nope").is_none());
}

#[test]
fn person_values_follow_the_contract() {
    let e = extract();
    let p = table(e, "person");
    let ids = strings(p, "person_id");
    let mut seen = HashSet::new();
    for id in ids.iter().flatten() {
        assert!(id.len() == 10 && id.starts_with('P'), "{id}");
        assert!(id[1..].chars().all(|c| c.is_ascii_digit()), "{id}");
        assert!(seen.insert(id), "duplicate {id}");
    }
    let sexes: BTreeSet<&str> = strings(p, "sex").iter().flatten().collect();
    assert!(
        sexes
            .iter()
            .all(|s| ["female", "male", "unknown"].contains(s))
    );
    let places: BTreeSet<&str> = strings(p, "place_of_death").iter().flatten().collect();
    for place in &places {
        assert!(
            [
                "hospital",
                "nursing_home",
                "care_home",
                "home",
                "hospice_or_other",
                "unknown"
            ]
            .contains(place)
        );
    }
    for code in strings(p, "underlying_cause_icd10").iter().flatten() {
        assert!(
            (3..=4).contains(&code.len()) && !code.contains('.'),
            "{code}"
        );
    }
    let munis: HashSet<&str> = strings(table(e, "region"), "municipality_code")
        .iter()
        .flatten()
        .collect();
    for m in strings(p, "municipality_code").iter().flatten() {
        assert!(munis.contains(m), "unknown municipality {m}");
    }
    let births = dates(p, "birth_date");
    let deaths = dates(p, "death_date");
    let panel = bools(p, "gp_panel");
    let weight = p
        .column_by_name("gp_panel_weight")
        .unwrap()
        .as_primitive::<Float64Type>();
    let mut n_panel = 0;
    for i in 0..p.num_rows() {
        assert!(births.value(i) <= deaths.value(i));
        let year = 1970 + (deaths.value(i) as f64 / 365.2425).floor() as i32;
        assert!((2022..=2023).contains(&year));
        assert_eq!(panel.value(i), weight.is_valid(i));
        if panel.value(i) {
            n_panel += 1;
            assert!((8.0..=12.0).contains(&weight.value(i)));
        }
    }
    let share = n_panel as f64 / p.num_rows() as f64;
    assert!((0.06..0.14).contains(&share), "panel share {share}");
    let _: &Float64Array = weight;
}

#[test]
fn events_lie_in_the_last_455_days_and_stays_are_well_formed() {
    let e = extract();
    let people = persons(e);
    let b = table(e, "care_event");
    let ids = b
        .column_by_name("event_id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let unique: HashSet<i64> = ids.values().iter().copied().collect();
    assert_eq!(unique.len(), b.num_rows(), "event ids are unique");
    let known = [
        "hospital_admission",
        "icu",
        "ed_visit",
        "gp_consult",
        "gp_home_visit",
        "gp_phone",
        "out_of_hours_gp",
        "chemotherapy",
        "resuscitation",
        "pc_team_consult",
        "hospice_stay",
        "specialist_palliative_care",
        "outpatient_visit",
        "imaging",
        "lab_test",
    ];
    let orgs: HashSet<&str> = strings(table(e, "organisation"), "org_id")
        .iter()
        .flatten()
        .collect();
    let mut settings = BTreeSet::new();
    for (pid, evs) in events_by_person(e) {
        let p = people.get(&pid).expect("event of an unknown person");
        for ev in evs {
            assert!(known.contains(&ev.setting.as_str()), "{}", ev.setting);
            settings.insert(ev.setting.clone());
            assert!(ev.start <= p.death, "{pid} {} after death", ev.setting);
            assert!(ev.start >= p.death - 455, "{pid} {} too early", ev.setting);
            if let Some(end) = ev.end {
                assert!(end >= ev.start && end <= p.death, "{pid} {}", ev.setting);
            }
            match ev.setting.as_str() {
                "hospital_admission" | "ed_visit" => assert!(ev.acute.is_some()),
                "hospice_stay" => assert!(ev.end.is_some()),
                _ => {}
            }
            if matches!(
                ev.setting.as_str(),
                "hospital_admission" | "icu" | "resuscitation" | "ed_visit" | "chemotherapy"
            ) {
                let provider = ev.provider.as_deref().expect("hospital provider");
                assert!(orgs.contains(provider), "{provider}");
            }
        }
    }
    assert_eq!(settings.len(), known.len(), "settings used: {settings:?}");
    // About 60-100 events per decedent.
    let per_person = b.num_rows() as f64 / people.len() as f64;
    assert!((60.0..=100.0).contains(&per_person), "{per_person}");
}

#[test]
fn hospital_deaths_icu_and_resuscitation_lie_in_admissions() {
    let e = extract();
    let people = persons(e);
    let events = events_by_person(e);
    let (mut hospital_deaths, mut open_ended) = (0, 0);
    for (pid, p) in &people {
        let evs = events.get(pid).map(Vec::as_slice).unwrap_or_default();
        let stays: Vec<(i32, i32)> = evs
            .iter()
            .filter(|e| e.setting == "hospital_admission")
            .map(|e| (e.start, e.end.unwrap_or(p.death)))
            .collect();
        if p.place == "hospital" {
            hospital_deaths += 1;
            let spanning = evs.iter().find(|e| {
                e.setting == "hospital_admission" && e.end.is_none_or(|end| end == p.death)
            });
            let adm = spanning.unwrap_or_else(|| panic!("{pid} died in hospital unadmitted"));
            open_ended += usize::from(adm.end.is_none());
        }
        for ev in evs {
            assert!(
                ev.setting != "hospital_admission" || ev.end.is_some() || p.place == "hospital",
                "{pid}: open admission without a hospital death"
            );
            if ev.setting == "icu" || ev.setting == "resuscitation" {
                assert!(
                    stays.iter().any(|&(s, e)| s <= ev.start && ev.start <= e),
                    "{pid}: {} outside an admission",
                    ev.setting
                );
            }
        }
    }
    assert!(hospital_deaths > 100);
    let share = open_ended as f64 / hospital_deaths as f64;
    assert!((0.35..0.65).contains(&share), "open-ended share {share}");
}

#[test]
fn gp_contacts_and_medication_only_for_the_panel() {
    let e = extract();
    let people = persons(e);
    for (pid, evs) in events_by_person(e) {
        let p = &people[&pid];
        for ev in evs {
            if matches!(
                ev.setting.as_str(),
                "gp_consult" | "gp_home_visit" | "gp_phone" | "out_of_hours_gp"
            ) {
                assert!(p.panel, "{pid} has {} but is not in the panel", ev.setting);
            }
        }
    }
    let m = table(e, "medication");
    let person = strings(m, "person_id");
    let rx = dates(m, "rx_date");
    let mut earliest = i32::MAX;
    for (i, atc) in strings(m, "atc_code").iter().enumerate() {
        let atc = atc.unwrap();
        assert_eq!(atc.len(), 7, "{atc}");
        let p = &people[person.value(i)];
        assert!(p.panel, "prescription for a non-panel person");
        let back = p.death - rx.value(i);
        assert!((0..=455).contains(&back), "rx {back} days before death");
        earliest = earliest.min(rx.value(i) - p.death);
    }
    // Look-backs are exercised: prescriptions reach back to death - 455 days.
    assert!(earliest <= -440, "earliest rx {earliest}");
}

#[test]
fn networks_and_care_office_regions_are_different_partitions() {
    let e = extract();
    let r = table(e, "region");
    let year = r
        .column_by_name("year")
        .unwrap()
        .as_primitive::<Int16Type>();
    let muni = strings(r, "municipality_code");
    let network = strings(r, "network_id");
    let cor = strings(r, "care_office_region");
    let province = strings(r, "province");
    let mut n_of = BTreeMap::new();
    let mut c_of = BTreeMap::new();
    let mut p_of = BTreeMap::new();
    for i in 0..r.num_rows() {
        if year.value(i) != 2022 {
            continue;
        }
        assert!(muni.value(i).len() == 6 && muni.value(i).starts_with("GM"));
        assert!(
            n_of.insert(muni.value(i), network.value(i)).is_none(),
            "one row per municipality and year"
        );
        c_of.insert(muni.value(i), cor.value(i));
        p_of.insert(muni.value(i), province.value(i));
    }
    assert_eq!(r.num_rows(), 2 * n_of.len());
    assert!((330..=350).contains(&n_of.len()));
    let count = |m: &BTreeMap<&str, &str>| m.values().collect::<BTreeSet<_>>().len();
    assert_eq!(count(&n_of), 65);
    assert_eq!(count(&c_of), 31);
    assert_eq!(count(&p_of), 12);
    // Not nested either way: a network spread over two care-office regions and a care-office
    // region spread over two networks; the same for provinces.
    let spans = |a: &BTreeMap<&str, &str>, b: &BTreeMap<&str, &str>| {
        let mut parts: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (m, x) in a {
            parts.entry(x).or_default().insert(b[m]);
        }
        parts.values().filter(|s| s.len() > 1).count()
    };
    assert!(
        spans(&n_of, &c_of) > 0,
        "networks nest in care-office regions"
    );
    assert!(
        spans(&c_of, &n_of) > 0,
        "care-office regions nest in networks"
    );
    assert!(spans(&n_of, &p_of) > 0, "networks nest in provinces");
    // Network sizes vary: the smallest several times smaller than the mean.
    let pop = table(e, "population");
    let region = strings(pop, "region_id");
    let pyear = pop
        .column_by_name("year")
        .unwrap()
        .as_primitive::<Int16Type>();
    let people = pop
        .column_by_name("population")
        .unwrap()
        .as_primitive::<Int64Type>();
    let mut size: BTreeMap<&str, i64> = BTreeMap::new();
    for i in 0..pop.num_rows() {
        if pyear.value(i) == 2022 {
            *size.entry(n_of[region.value(i)]).or_default() += people.value(i);
        }
    }
    let mean = size.values().sum::<i64>() as f64 / size.len() as f64;
    let min = *size.values().min().unwrap() as f64;
    assert!(min * 2.5 < mean, "smallest network {min}, mean {mean}");
}

#[test]
fn population_and_hospitals() {
    let e = extract();
    let pop = table(e, "population");
    assert_eq!(pop.num_rows(), 2 * 342 * 19 * 2);
    let ages: BTreeSet<&str> = strings(pop, "age_group").iter().flatten().collect();
    assert_eq!(ages.len(), 19);
    assert!(ages.contains("90+") && ages.contains("0-4") && ages.contains("85-89"));
    let total: i64 = pop
        .column_by_name("population")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .iter()
        .sum();
    // 17.5 M x 0.02 per year, two years.
    assert!((total as f64 / 700_000.0 - 1.0).abs() < 0.02, "{total}");

    let org = table(e, "organisation");
    assert_eq!(org.num_rows(), 140);
    let team = bools(org, "has_pc_team");
    let consults = org
        .column_by_name("pc_team_consults")
        .unwrap()
        .as_primitive::<Int32Type>();
    let admissions: &Int32Array = org
        .column_by_name("clinical_admissions")
        .unwrap()
        .as_primitive::<Int32Type>();
    let with_team = team.true_count() as f64 / org.num_rows() as f64;
    assert!((0.74..0.80).contains(&with_team), "{with_team}");
    let coverage = consults.values().iter().map(|&c| c as f64).sum::<f64>()
        / admissions.values().iter().map(|&c| c as f64).sum::<f64>();
    assert!((0.012..0.014).contains(&coverage), "{coverage}");
    for i in 0..org.num_rows() {
        assert!((10_000..=60_000).contains(&admissions.value(i)));
        if !team.value(i) {
            assert_eq!(consults.value(i), 0);
        }
    }
}

#[test]
fn row_counts_scale_with_scale() {
    let small = generate(&config(0.005, 3)).unwrap();
    let large = generate(&config(0.02, 3)).unwrap();
    assert_eq!(table(&small, "person").num_rows(), 850);
    assert_eq!(table(&large, "person").num_rows(), 3_400);
    for t in ["care_event", "medication"] {
        let ratio = table(&large, t).num_rows() as f64 / table(&small, t).num_rows() as f64;
        assert!((3.0..5.0).contains(&ratio), "{t}: {ratio}");
    }
    // Geography and hospitals do not depend on the scale.
    for t in ["region", "organisation"] {
        assert_eq!(table(&small, t), table(&large, t), "{t}");
    }
    let two_years = generate(&SynthConfig {
        years: vec![2021, 2022],
        ..config(0.005, 3)
    })
    .unwrap();
    assert_eq!(table(&two_years, "person").num_rows(), 1_700);
}

#[test]
fn bad_configurations_are_errors() {
    let bad = [
        config(0.0, 1),
        config(-1.0, 1),
        config(f64::NAN, 1),
        config(f64::INFINITY, 1),
        SynthConfig {
            years: vec![],
            ..config(0.01, 1)
        },
        SynthConfig {
            years: vec![1899],
            ..config(0.01, 1)
        },
        SynthConfig {
            years: vec![2100],
            ..config(0.01, 1)
        },
        SynthConfig {
            years: vec![2022, 2022],
            ..config(0.01, 1)
        },
        config(1e9, 1),
    ];
    let dir = tempfile::tempdir().unwrap();
    for c in bad {
        let err = generate(&c).expect_err("invalid config accepted");
        assert!(matches!(err, SynthError::InvalidConfig(_)), "{err}");
        assert!(!err.to_string().is_empty());
        assert!(write_parquet(&c, dir.path(), &mut |_| {}).is_err());
    }
    assert_eq!(SynthConfig::default(), config(0.01, 42));
}

fn read_parquet(path: &std::path::Path) -> RecordBatch {
    let file = File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let schema = batches[0].schema();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

#[test]
fn write_parquet_equals_generate() {
    // More than one chunk of persons (8,192), so that streaming is exercised.
    let cfg = config(0.06, 11);
    let dir = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    let summary = write_parquet(&cfg, dir.path(), &mut |p| reports.push(p)).unwrap();
    let mem = generate(&cfg).unwrap();
    assert_eq!(summary.rows.len(), TABLES.len());
    for (name, rows) in &summary.rows {
        let path = dir.path().join(format!("{name}.parquet"));
        let back = read_parquet(&path);
        let expected = table(&mem, name);
        assert_eq!(back.num_rows() as u64, *rows, "{name}");
        assert_eq!(back.schema(), expected.schema(), "{name}");
        assert_eq!(&back, expected, "{name}");
    }
    let last = reports.iter().rev().find(|p| p.table == "person").unwrap();
    assert_eq!(last.persons_done, last.persons_total);
    assert_eq!(last.persons_total, 10_200);
    assert!(reports.iter().filter(|p| p.table == "care_event").count() >= 2);
}

#[test]
fn value_types_are_sane() {
    let e = extract();
    let ev = table(e, "care_event");
    let _: &Int64Array = ev
        .column_by_name("event_id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let _: &Int16Array = table(e, "region")
        .column_by_name("year")
        .unwrap()
        .as_primitive::<Int16Type>();
    let repeat = bools(table(e, "medication"), "is_repeat");
    assert!(repeat.true_count() > 0 && repeat.false_count() > 0);
}
