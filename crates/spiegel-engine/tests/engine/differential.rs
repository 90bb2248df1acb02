//! Differential property test: the engine against a naive evaluator.
//!
//! Random small extracts (all six contract tables, in memory, with the
//! contract's Arrow types; strings sometimes as LargeUtf8, Utf8View or
//! dictionaries, tables sometimes split over two batches) are run through the
//! engine at `target_partitions` 1 and 2. A naive evaluator written here,
//! plain loops over rows that interpret the resolved definitions
//! (`Condition`, `Feature`, `Quantity`) from the semantics of
//! `design/DOMAIN.md`, computes every published cell itself: no DataFusion
//! and no engine code. Every cell of every indicator must agree, and both
//! sides must publish the same cells.
//!
//! Conventions the naive evaluator holds (DOMAIN.md, "Semantics to hold fixed"):
//! - a window of N days is `[death - N, death]` (`[death - from, death - to]`);
//! - a contact counts by its start date; a stay overlaps the window with
//!   `[start, end or death]`; its days in the window are the calendar days of
//!   the overlap, both ends included;
//! - age is in whole years at death: the year difference, minus one when the
//!   death's (month, day) is before the birth's (a 29 February birthday is
//!   reached on 1 March in common years);
//! - predicates are two-valued: a null matches only `is_null`; `Not` of a
//!   false predicate is true;
//! - persons with sex `unknown` count in totals but in no sex stratum;
//!   events of persons missing from the person table are ignored; a person
//!   whose municipality is missing from the region table of the year counts
//!   for the nation only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, LazyLock};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use spiegel_engine::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int16Array, Int32Array,
    Int64Array, RecordBatch, StringArray,
};
use spiegel_engine::arrow::compute::cast;
use spiegel_engine::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use spiegel_engine::{Engine, Extract, RunOptions};
use spiegel_model::{
    AGE_AT_DEATH, Catalogue, CodeGroup, CodeMatcher, Condition, Feature, FeatureKind, Predicate,
    Quantity, Stratifier, TableRole, Timing, Unit, UnitOfAnalysis, Value,
};

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/indicators/palliative"
    );
    Catalogue::load_dir(dir).unwrap_or_else(|e| panic!("loading the fixture catalogue: {e}"))
});

// ---------------------------------------------------------------------------
// Calendar (days since 1970-01-01, as Arrow Date32), independent of any library.

fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let (m, d) = (m as i32, d as i32);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = (if z >= 0 { z } else { z - 146_096 }) / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m as u32, d as u32)
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// A date; 29 February becomes 28 February in a common year.
fn ymd(y: i32, m: u32, d: u32) -> i32 {
    let d = if m == 2 && d == 29 && !is_leap(y) {
        28
    } else {
        d
    };
    days_from_civil(y, m, d)
}

fn year_of(day: i32) -> i32 {
    civil_from_days(day).0
}

fn age_at_death(birth: i32, death: i32) -> i64 {
    let (by, bm, bd) = civil_from_days(birth);
    let (dy, dm, dd) = civil_from_days(death);
    let before_birthday = (dm, dd) < (bm, bd);
    i64::from(dy - by) - i64::from(before_birthday)
}

/// A date that prints as `YYYY-MM-DD` in failure reports.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Day(i32);

impl fmt::Debug for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

// ---------------------------------------------------------------------------
// The generated extract.

const MUNIS: [&str; 6] = ["GM01", "GM02", "GM03", "GM04", "GM05", "GM06"];
/// A municipality missing from the region table (counted for the nation only).
const UNPLACED: &str = "GM99";
const YEARS: [i32; 2] = [2021, 2022];
const BANDS: [&str; 4] = ["0-64", "65-79", "80-89", "90+"];
const POP_SEXES: [&str; 2] = ["female", "male"];
const SEXES: &[&str] = &["female", "male", "unknown"];
const PLACES: &[&str] = &[
    "hospital",
    "nursing_home",
    "care_home",
    "home",
    "hospice_or_other",
    "unknown",
];
const CAUSES: &[&str] = &[
    "C00", "C97", "C98", "C349", "I12", "I120", "I13", "I52", "I519", "I60", "G12", "G122", "G123",
    "R54", "B24", "X59", "C1", "J44", "J96", "K70", "F03", "N18", "I00",
];
const SETTINGS: &[&str] = &[
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
];
const ATCS: &[&str] = &[
    "N02AA01", "N02AB03", "N02BE01", "A06AD11", "A06AB02", "A06BA01", "A02BC01", "A02BA01",
    "B03AA07", "B03BA01", "A11CC05", "C10AA05", "C10AB05", "C01AA05",
];
const EVENT_CODES: &[&str] = &["Z515", "C349", "X"];
const PROVIDERS: &[&str] = &["H1", "H2", "GP7"];
/// Day offsets from death on or next to every window boundary of the catalogue.
const BOUNDARIES: &[i32] = &[
    3, 1, 0, -1, -7, -8, -14, -15, -30, -31, -90, -91, -365, -366, -455, -456, -470,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrKind {
    Utf8,
    Large,
    View,
    Dict,
}

impl StrKind {
    fn data_type(self) -> DataType {
        match self {
            StrKind::Utf8 => DataType::Utf8,
            StrKind::Large => DataType::LargeUtf8,
            StrKind::View => DataType::Utf8View,
            StrKind::Dict => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
        }
    }
}

#[derive(Debug, Clone)]
struct PersonRow {
    id: String,
    birth: Day,
    sex: &'static str,
    death: Day,
    municipality: &'static str,
    cause: Option<&'static str>,
    place: &'static str,
    gp_panel: bool,
    weight: Option<f64>,
}

#[derive(Debug, Clone)]
struct EventRow {
    event_id: i64,
    person_id: String,
    setting: &'static str,
    start: Day,
    end: Option<Day>,
    is_acute: Option<bool>,
    code: Option<&'static str>,
    provider: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct MedRow {
    person_id: String,
    rx: Day,
    atc: &'static str,
    is_repeat: bool,
}

#[derive(Debug, Clone)]
struct OrgRow {
    org_id: String,
    region_id: &'static str,
    year: i16,
    has_pc_team: bool,
    consults: i32,
    admissions: i32,
}

struct RegionRow {
    year: i16,
    municipality: &'static str,
    network: &'static str,
    care_office: &'static str,
    province: &'static str,
}

/// Six municipalities in both years; networks, care-office regions and
/// provinces are three different partitions, none nested in another, and
/// two municipalities change network or care-office region in 2022.
fn region_rows() -> Vec<RegionRow> {
    let mut out = Vec::new();
    for year in YEARS {
        let network = if year == 2021 {
            ["NW-A", "NW-A", "NW-B", "NW-B", "NW-C", "NW-C"]
        } else {
            ["NW-A", "NW-A", "NW-B", "NW-B", "NW-C", "NW-B"]
        };
        let care = if year == 2021 {
            ["ZK-1", "ZK-2", "ZK-2", "ZK-3", "ZK-3", "ZK-1"]
        } else {
            ["ZK-1", "ZK-2", "ZK-1", "ZK-3", "ZK-3", "ZK-1"]
        };
        let province = ["PV-X", "PV-Y", "PV-X", "PV-Y", "PV-Y", "PV-X"];
        for (i, m) in MUNIS.iter().enumerate() {
            out.push(RegionRow {
                year: year as i16,
                municipality: m,
                network: network[i],
                care_office: care[i],
                province: province[i],
            });
        }
    }
    out
}

/// One generated extract.
#[derive(Debug, Clone)]
struct Case {
    persons: Vec<PersonRow>,
    events: Vec<EventRow>,
    meds: Vec<MedRow>,
    orgs: Vec<OrgRow>,
    /// Inhabitants per year x municipality x band x sex, in that nesting order.
    population: Vec<i64>,
    /// String type per table: person, care_event, medication, region, population, organisation.
    strings: [StrKind; 6],
    /// Whether each table comes as two record batches.
    split: bool,
}

/// (region_id, year, age band, sex, population).
fn population_rows(case: &Case) -> Vec<(&'static str, i16, &'static str, &'static str, i64)> {
    let mut out = Vec::new();
    let mut i = 0;
    for year in YEARS {
        for m in MUNIS {
            for band in BANDS {
                for sex in POP_SEXES {
                    out.push((m, year as i16, band, sex, case.population[i]));
                    i += 1;
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Strategies.

#[derive(Debug, Clone)]
enum BirthShift {
    /// Days added to "the death's month and day, `age` years earlier".
    Offset(i32),
    /// Born on 29 February of the last leap year not after `death year - age`.
    LeapDay,
}

#[derive(Debug, Clone)]
struct EventGen {
    setting: &'static str,
    start: i32,
    len: Option<i32>,
    is_acute: Option<bool>,
    code: Option<&'static str>,
    provider: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct MedGen {
    atc: &'static str,
    rx: i32,
    is_repeat: bool,
}

#[derive(Debug, Clone)]
struct PersonGen {
    death: (i32, u32, u32),
    age: i32,
    shift: BirthShift,
    sex: &'static str,
    municipality: &'static str,
    cause: Option<&'static str>,
    place: &'static str,
    gp_panel: bool,
    weight: Option<f64>,
    events: Vec<EventGen>,
    meds: Vec<MedGen>,
}

/// Day offsets from death: window boundaries, the last month (so that
/// counts of two and more happen), or anywhere from death - 470 to death + 3.
fn offset() -> impl Strategy<Value = i32> {
    prop_oneof![
        2 => prop::sample::select(BOUNDARIES),
        2 => -35i32..=1,
        1 => -470i32..=3,
    ]
}

fn event_gen() -> impl Strategy<Value = EventGen> {
    (
        // Admissions and ED visits more often, so that "two or more" happens.
        prop_oneof![
            4 => prop::sample::select(SETTINGS),
            3 => prop::sample::select(&["hospital_admission", "ed_visit"][..]),
        ],
        offset(),
        prop_oneof![
            Just(None),
            (0i32..=2).prop_map(Some),
            (0i32..=40).prop_map(Some),
            (0i32..=400).prop_map(Some)
        ],
        any::<Option<bool>>(),
        prop::option::of(prop::sample::select(EVENT_CODES)),
        prop::option::of(prop::sample::select(PROVIDERS)),
    )
        .prop_map(|(setting, start, len, is_acute, code, provider)| EventGen {
            setting,
            start,
            len,
            is_acute,
            code,
            provider,
        })
}

fn med_gen() -> impl Strategy<Value = MedGen> {
    (prop::sample::select(ATCS), offset(), any::<bool>()).prop_map(|(atc, rx, is_repeat)| MedGen {
        atc,
        rx,
        is_repeat,
    })
}

fn person_gen() -> impl Strategy<Value = PersonGen> {
    let death = (
        prop::sample::select(&YEARS[..]),
        prop_oneof![
            Just((1u32, 1u32)),
            Just((2, 28)),
            Just((3, 1)),
            Just((12, 31)),
            (1u32..=12, 1u32..=28)
        ],
    )
        .prop_map(|(y, (m, d))| (y, m, d));
    let age = prop_oneof![2 => prop::sample::select(vec![17, 18, 64, 65, 79, 80]), 1 => 0i32..=105];
    let shift = prop_oneof![
        3 => prop::sample::select(vec![-1, 0, 1]).prop_map(BirthShift::Offset),
        1 => (-200i32..=200).prop_map(BirthShift::Offset),
        1 => Just(BirthShift::LeapDay),
    ];
    let attrs = (
        prop::sample::select(SEXES),
        prop_oneof![12 => prop::sample::select(&MUNIS[..]), 1 => Just(UNPLACED)],
        // Cancer a little more often: two indicators count cancer decedents only.
        prop::option::weighted(
            0.85,
            prop_oneof![
                3 => prop::sample::select(CAUSES),
                1 => prop::sample::select(&["C349", "C00", "C97"][..]),
            ],
        ),
        prop::sample::select(PLACES),
        any::<bool>(),
        prop::option::of(0.5f64..20.0),
    );
    let rows = (
        prop::collection::vec(event_gen(), 0..=8),
        prop::collection::vec(med_gen(), 0..=6),
    );
    (death, age, shift, attrs, rows).prop_map(
        |(
            death,
            age,
            shift,
            (sex, municipality, cause, place, gp_panel, weight),
            (events, meds),
        )| PersonGen {
            death,
            age,
            shift,
            sex,
            municipality,
            cause,
            place,
            gp_panel,
            weight,
            events,
            meds,
        },
    )
}

fn org_gen() -> impl Strategy<Value = (usize, bool, i32, i32)> {
    (0usize..6, any::<bool>(), 0i32..300, 0i32..3000)
}

fn str_kind() -> impl Strategy<Value = StrKind> {
    prop_oneof![
        6 => Just(StrKind::Utf8),
        1 => Just(StrKind::Large),
        1 => Just(StrKind::View),
        1 => Just(StrKind::Dict),
    ]
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(person_gen(), 0..=40),
        prop::collection::vec(event_gen(), 0..=3),
        prop::collection::vec(0i64..500, 96),
        prop::collection::vec(org_gen(), 0..=5),
        prop::collection::vec(org_gen(), 0..=5),
        prop::array::uniform6(str_kind()),
        any::<bool>(),
    )
        .prop_map(
            |(persons, strangers, population, orgs21, orgs22, strings, split)| {
                build_case(
                    persons,
                    strangers,
                    population,
                    [orgs21, orgs22],
                    strings,
                    split,
                )
            },
        )
}

fn build_case(
    gens: Vec<PersonGen>,
    strangers: Vec<EventGen>,
    population: Vec<i64>,
    orgs: [Vec<(usize, bool, i32, i32)>; 2],
    strings: [StrKind; 6],
    split: bool,
) -> Case {
    let mut case = Case {
        persons: Vec::new(),
        events: Vec::new(),
        meds: Vec::new(),
        orgs: Vec::new(),
        population,
        strings,
        split,
    };
    let mut event_id = 1000;
    let mut push_event = |case: &mut Case, pid: &str, death: i32, e: &EventGen| {
        event_id += 1;
        case.events.push(EventRow {
            event_id,
            person_id: pid.to_string(),
            setting: e.setting,
            start: Day(death + e.start),
            end: e.len.map(|l| Day(death + e.start + l)),
            is_acute: e.is_acute,
            code: e.code,
            provider: e.provider,
        });
    };
    for (i, g) in gens.iter().enumerate() {
        let id = format!("P{i:02}");
        let (dy, dm, dd) = g.death;
        let death = ymd(dy, dm, dd);
        let birth = match g.shift {
            BirthShift::Offset(o) => ymd(dy - g.age, dm, dd) + o,
            BirthShift::LeapDay => {
                let mut y = dy - g.age;
                while !is_leap(y) {
                    y -= 1;
                }
                days_from_civil(y, 2, 29)
            }
        };
        case.persons.push(PersonRow {
            id: id.clone(),
            birth: Day(birth.min(death)),
            sex: g.sex,
            death: Day(death),
            municipality: g.municipality,
            cause: g.cause,
            place: g.place,
            gp_panel: g.gp_panel,
            weight: g.weight,
        });
        for e in &g.events {
            push_event(&mut case, &id, death, e);
        }
        for m in &g.meds {
            case.meds.push(MedRow {
                person_id: id.clone(),
                rx: Day(death + m.rx),
                atc: m.atc,
                is_repeat: m.is_repeat,
            });
        }
    }
    // Events and a prescription of a person missing from the person table.
    let reference = ymd(2022, 6, 15);
    for e in &strangers {
        push_event(&mut case, "PX1", reference, e);
    }
    if !strangers.is_empty() {
        case.meds.push(MedRow {
            person_id: "PX1".into(),
            rx: Day(reference - 10),
            atc: "N02AA01",
            is_repeat: false,
        });
    }
    for (y, list) in YEARS.iter().zip(orgs) {
        for (j, (m, has_pc_team, consults, admissions)) in list.into_iter().enumerate() {
            case.orgs.push(OrgRow {
                org_id: format!("H{y}-{j}"),
                region_id: MUNIS[m],
                year: *y as i16,
                has_pc_team,
                consults,
                admissions,
            });
        }
    }
    case
}

// ---------------------------------------------------------------------------
// Arrow batches with the contract's types.

fn utf8<'a>(v: impl IntoIterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(v))
}

fn batches(columns: Vec<(&str, ArrayRef, bool)>, kind: StrKind, split: bool) -> Vec<RecordBatch> {
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (name, array, nullable) in columns {
        let array = if array.data_type() == &DataType::Utf8 && kind != StrKind::Utf8 {
            cast(&array, &kind.data_type()).expect("casting a string column")
        } else {
            array
        };
        fields.push(Field::new(name, array.data_type().clone(), nullable));
        arrays.push(array);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("a valid batch");
    let n = batch.num_rows();
    if split && n >= 2 {
        vec![batch.slice(0, n / 2), batch.slice(n / 2, n - n / 2)]
    } else {
        vec![batch]
    }
}

fn extract(case: &Case) -> Extract {
    let [ks_person, ks_event, ks_med, ks_region, ks_pop, ks_org] = case.strings;
    let p = &case.persons;
    let person = batches(
        vec![
            (
                "person_id",
                utf8(p.iter().map(|r| Some(r.id.as_str()))),
                false,
            ),
            (
                "birth_date",
                Arc::new(Date32Array::from_iter_values(p.iter().map(|r| r.birth.0))),
                false,
            ),
            ("sex", utf8(p.iter().map(|r| Some(r.sex))), false),
            (
                "death_date",
                Arc::new(Date32Array::from_iter_values(p.iter().map(|r| r.death.0))),
                false,
            ),
            (
                "municipality_code",
                utf8(p.iter().map(|r| Some(r.municipality))),
                false,
            ),
            (
                "underlying_cause_icd10",
                utf8(p.iter().map(|r| r.cause)),
                true,
            ),
            (
                "place_of_death",
                utf8(p.iter().map(|r| Some(r.place))),
                false,
            ),
            (
                "gp_panel",
                Arc::new(BooleanArray::from_iter(p.iter().map(|r| Some(r.gp_panel)))),
                false,
            ),
            (
                "gp_panel_weight",
                Arc::new(Float64Array::from_iter(p.iter().map(|r| r.weight))),
                true,
            ),
        ],
        ks_person,
        case.split,
    );
    let e = &case.events;
    let care_event = batches(
        vec![
            (
                "event_id",
                Arc::new(Int64Array::from_iter_values(e.iter().map(|r| r.event_id))),
                false,
            ),
            (
                "person_id",
                utf8(e.iter().map(|r| Some(r.person_id.as_str()))),
                false,
            ),
            ("setting", utf8(e.iter().map(|r| Some(r.setting))), false),
            (
                "start_date",
                Arc::new(Date32Array::from_iter_values(e.iter().map(|r| r.start.0))),
                false,
            ),
            (
                "end_date",
                Arc::new(Date32Array::from_iter(e.iter().map(|r| r.end.map(|d| d.0)))),
                true,
            ),
            (
                "is_acute",
                Arc::new(BooleanArray::from_iter(e.iter().map(|r| r.is_acute))),
                true,
            ),
            ("code", utf8(e.iter().map(|r| r.code)), true),
            ("provider_id", utf8(e.iter().map(|r| r.provider)), true),
        ],
        ks_event,
        case.split,
    );
    let m = &case.meds;
    let medication = batches(
        vec![
            (
                "person_id",
                utf8(m.iter().map(|r| Some(r.person_id.as_str()))),
                false,
            ),
            (
                "rx_date",
                Arc::new(Date32Array::from_iter_values(m.iter().map(|r| r.rx.0))),
                false,
            ),
            ("atc_code", utf8(m.iter().map(|r| Some(r.atc))), false),
            (
                "is_repeat",
                Arc::new(BooleanArray::from_iter(m.iter().map(|r| Some(r.is_repeat)))),
                false,
            ),
        ],
        ks_med,
        case.split,
    );
    let r = region_rows();
    let region = batches(
        vec![
            (
                "year",
                Arc::new(Int16Array::from_iter_values(r.iter().map(|x| x.year))),
                false,
            ),
            (
                "municipality_code",
                utf8(r.iter().map(|x| Some(x.municipality))),
                false,
            ),
            ("network_id", utf8(r.iter().map(|x| Some(x.network))), false),
            (
                "care_office_region",
                utf8(r.iter().map(|x| Some(x.care_office))),
                false,
            ),
            ("province", utf8(r.iter().map(|x| Some(x.province))), false),
        ],
        ks_region,
        case.split,
    );
    let pr = population_rows(case);
    let population = batches(
        vec![
            ("region_id", utf8(pr.iter().map(|x| Some(x.0))), false),
            (
                "year",
                Arc::new(Int16Array::from_iter_values(pr.iter().map(|x| x.1))),
                false,
            ),
            ("age_group", utf8(pr.iter().map(|x| Some(x.2))), false),
            ("sex", utf8(pr.iter().map(|x| Some(x.3))), false),
            (
                "population",
                Arc::new(Int64Array::from_iter_values(pr.iter().map(|x| x.4))),
                false,
            ),
        ],
        ks_pop,
        case.split,
    );
    let o = &case.orgs;
    let organisation = batches(
        vec![
            (
                "org_id",
                utf8(o.iter().map(|x| Some(x.org_id.as_str()))),
                false,
            ),
            (
                "region_id",
                utf8(o.iter().map(|x| Some(x.region_id))),
                false,
            ),
            (
                "year",
                Arc::new(Int16Array::from_iter_values(o.iter().map(|x| x.year))),
                false,
            ),
            (
                "has_pc_team",
                Arc::new(BooleanArray::from_iter(
                    o.iter().map(|x| Some(x.has_pc_team)),
                )),
                false,
            ),
            (
                "pc_team_consults",
                Arc::new(Int32Array::from_iter_values(o.iter().map(|x| x.consults))),
                false,
            ),
            (
                "clinical_admissions",
                Arc::new(Int32Array::from_iter_values(o.iter().map(|x| x.admissions))),
                false,
            ),
        ],
        ks_org,
        case.split,
    );
    Extract::new()
        .with_batches("person", person)
        .with_batches("care_event", care_event)
        .with_batches("medication", medication)
        .with_batches("region", region)
        .with_batches("population", population)
        .with_batches("organisation", organisation)
}

// ---------------------------------------------------------------------------
// The naive evaluator.

/// A row as column -> value (dates as `Value::Int` days since the epoch).
type Row = BTreeMap<&'static str, Option<Value>>;

fn s(v: &str) -> Option<Value> {
    Some(Value::Str(v.to_string()))
}

fn person_row(p: &PersonRow) -> Row {
    BTreeMap::from([
        ("person_id", s(&p.id)),
        ("birth_date", Some(Value::Int(i64::from(p.birth.0)))),
        ("sex", s(p.sex)),
        ("death_date", Some(Value::Int(i64::from(p.death.0)))),
        ("municipality_code", s(p.municipality)),
        ("underlying_cause_icd10", p.cause.and_then(s)),
        ("place_of_death", s(p.place)),
        ("gp_panel", Some(Value::Bool(p.gp_panel))),
        ("gp_panel_weight", p.weight.map(Value::Float)),
        (
            AGE_AT_DEATH,
            Some(Value::Int(age_at_death(p.birth.0, p.death.0))),
        ),
    ])
}

fn event_row(e: &EventRow) -> Row {
    BTreeMap::from([
        ("event_id", Some(Value::Int(e.event_id))),
        ("person_id", s(&e.person_id)),
        ("setting", s(e.setting)),
        ("start_date", Some(Value::Int(i64::from(e.start.0)))),
        ("end_date", e.end.map(|d| Value::Int(i64::from(d.0)))),
        ("is_acute", e.is_acute.map(Value::Bool)),
        ("code", e.code.and_then(s)),
        ("provider_id", e.provider.and_then(s)),
    ])
}

fn med_row(m: &MedRow) -> Row {
    BTreeMap::from([
        ("person_id", s(&m.person_id)),
        ("rx_date", Some(Value::Int(i64::from(m.rx.0)))),
        ("atc_code", s(m.atc)),
        ("is_repeat", Some(Value::Bool(m.is_repeat))),
    ])
}

fn org_row(o: &OrgRow) -> Row {
    BTreeMap::from([
        ("org_id", s(&o.org_id)),
        ("region_id", s(o.region_id)),
        ("year", Some(Value::Int(i64::from(o.year)))),
        ("has_pc_team", Some(Value::Bool(o.has_pc_team))),
        ("pc_team_consults", Some(Value::Int(i64::from(o.consults)))),
        (
            "clinical_admissions",
            Some(Value::Int(i64::from(o.admissions))),
        ),
    ])
}

fn get<'r>(row: &'r Row, column: &str) -> Option<&'r Value> {
    row.get(column)
        .unwrap_or_else(|| panic!("naive evaluator: no column `{column}` in {row:?}"))
        .as_ref()
}

fn as_num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        _ => matches!((as_num(a), as_num(b)), (Some(x), Some(y)) if x == y),
    }
}

fn code_matches(m: &CodeMatcher, code: &str) -> bool {
    match m {
        CodeMatcher::Prefix(p) => code.starts_with(p.as_str()),
        CodeMatcher::Range { low, high } => {
            code.chars().count() >= 3 && {
                let cat: String = code.chars().take(3).collect();
                *low <= cat && cat <= *high
            }
        }
        other => panic!("naive evaluator: unknown code matcher {other:?}"),
    }
}

fn in_group(g: &CodeGroup, code: &str) -> bool {
    g.include.iter().any(|m| code_matches(m, code))
        && !g.exclude.iter().any(|m| code_matches(m, code))
}

/// Two-valued: a null satisfies only `IsNull(true)`.
fn pred(p: &Predicate, v: Option<&Value>) -> bool {
    let Some(v) = v else {
        return matches!(p, Predicate::IsNull(true));
    };
    match p {
        Predicate::In(vs) => vs.iter().any(|x| same(x, v)),
        Predicate::NotIn(vs) => !vs.iter().any(|x| same(x, v)),
        Predicate::Between { low, high } => as_num(v).is_some_and(|x| {
            low.is_none_or(|b| {
                if b.inclusive {
                    x >= b.value
                } else {
                    x > b.value
                }
            }) && high.is_none_or(|b| {
                if b.inclusive {
                    x <= b.value
                } else {
                    x < b.value
                }
            })
        }),
        Predicate::IsNull(want) => !*want,
        Predicate::InCodes { groups, .. } => match v {
            Value::Str(code) => groups.iter().any(|g| in_group(g, code)),
            _ => false,
        },
        other => panic!("naive evaluator: unknown predicate {other:?}"),
    }
}

fn day_of(v: Option<&Value>) -> Option<i32> {
    match v {
        Some(Value::Int(d)) => Some(*d as i32),
        None => None,
        Some(other) => panic!("naive evaluator: not a date {other:?}"),
    }
}

/// A per-person feature over the person's rows of the feature's event table.
fn feature_value(cat: &Catalogue, f: &Feature, death: i32, rows: &[Row]) -> i64 {
    let table = cat
        .contract
        .table(&f.table)
        .expect("an event table of the contract");
    let start_col = table
        .start
        .as_deref()
        .expect("event tables have a start column");
    let first = death - f.window.from;
    let last = death - f.window.to;
    let mut total = 0i64;
    for row in rows {
        if !f
            .filter
            .iter()
            .all(|cf| pred(&cf.predicate, get(row, &cf.column)))
        {
            continue;
        }
        let start = day_of(get(row, start_col)).expect("start dates are never null");
        // A stay without an end is ongoing at death.
        let end = table
            .end
            .as_deref()
            .and_then(|c| day_of(get(row, c)))
            .unwrap_or(death);
        let overlaps = start <= last && end >= first;
        total += match f.kind {
            FeatureKind::Count(Timing::Start) => i64::from(first <= start && start <= last),
            FeatureKind::Count(Timing::Overlap) => i64::from(overlaps),
            FeatureKind::StayDays if overlaps => i64::from(end.min(last) - start.max(first) + 1),
            FeatureKind::StayDays => 0,
            other => panic!("naive evaluator: unknown feature kind {other:?}"),
        };
    }
    total
}

fn holds(c: &Condition, row: &Row, feature: &dyn Fn(&Feature) -> i64) -> bool {
    match c {
        Condition::True => true,
        Condition::Attribute { column, predicate } => pred(predicate, get(row, column)),
        Condition::Feature { feature: f, range } => {
            let x = feature(f);
            range.min.is_none_or(|m| x >= m) && range.max.is_none_or(|m| x <= m)
        }
        Condition::All(cs) => cs.iter().all(|c| holds(c, row, feature)),
        Condition::Any(cs) => cs.iter().any(|c| holds(c, row, feature)),
        Condition::Not(inner) => !holds(inner, row, feature),
        other => panic!("naive evaluator: unknown condition {other:?}"),
    }
}

/// (value added, square added) of one unit to a quantity.
fn contribution(q: &Quantity, row: &Row, feature: &dyn Fn(&Feature) -> i64) -> (i64, i64) {
    match q {
        Quantity::Count(c) => (i64::from(holds(c, row, feature)), 0),
        Quantity::MeasureSum { condition, measure } => {
            if holds(condition, row, feature) {
                let m = feature(measure);
                (m, m * m)
            } else {
                (0, 0)
            }
        }
        Quantity::ColumnSum { condition, column } => {
            if holds(condition, row, feature) {
                match get(row, column) {
                    Some(Value::Int(v)) => (*v, 0),
                    None => (0, 0),
                    Some(other) => panic!("naive evaluator: summing a non-integer {other:?}"),
                }
            } else {
                (0, 0)
            }
        }
        other => panic!("naive evaluator: not a per-unit quantity {other:?}"),
    }
}

fn age_group(cat: &Catalogue, age: i64) -> String {
    cat.age_groups
        .iter()
        .find(|g| age >= g.from && g.to.is_none_or(|t| age <= t))
        .map(|g| g.label.clone())
        .unwrap_or_else(|| panic!("naive evaluator: age {age} in no age group"))
}

fn diagnosis_group(cat: &Catalogue, code: Option<&Value>) -> String {
    match code {
        Some(Value::Str(code)) => cat
            .diagnosis
            .groups
            .iter()
            .find(|g| in_group(g, code))
            .map_or_else(|| cat.diagnosis.other.clone(), |g| g.name.clone()),
        _ => cat.diagnosis.other.clone(),
    }
}

/// A published cell of one indicator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    indicator: String,
    period: String,
    level: String,
    region: Option<String>,
    sex: Option<String>,
    age: Option<String>,
    diagnosis: Option<String>,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = |x: &Option<String>| x.clone().unwrap_or_else(|| "(all)".into());
        write!(
            f,
            "indicator {} | period {} | {} {} | sex {} | age {} | diagnosis {}",
            self.indicator,
            self.period,
            self.level,
            o(&self.region),
            o(&self.sex),
            o(&self.age),
            o(&self.diagnosis)
        )
    }
}

/// Expected counts of a cell (`sum_squares` only for means), and every
/// contribution to a magnitude numerator and denominator (a sum of a measure
/// or of an organisation column), for the p% rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Counts {
    numerator: i64,
    denominator: i64,
    sum_squares: Option<i64>,
    contributions: [Vec<i64>; 2],
}

/// Whether a quantity is a sum of contributions of various sizes.
fn is_magnitude(q: &Quantity) -> bool {
    matches!(q, Quantity::MeasureSum { .. } | Quantity::ColumnSum { .. })
}

/// The p% rule by its definition: the second largest contributor, who knows
/// their own contribution, learns the largest to within less than p percent.
fn dominated(total: i64, contributions: &[i64], p: i64) -> bool {
    let mut c = contributions.to_vec();
    c.sort_unstable_by(|a, b| b.cmp(a));
    let x = |i: usize| c.get(i).copied().unwrap_or(0) as f64;
    let error = total as f64 - x(0) - x(1);
    p > 0 && error < p as f64 / 100.0 * x(0) - 1e-9
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Space {
    Person,
    Population,
    Organisation,
}

/// What one unit adds to the finest cell it lies in.
struct Finest {
    period: i32,
    municipality: String,
    sex: Option<String>,
    age: Option<String>,
    diagnosis: Option<String>,
    numerator: i64,
    denominator: i64,
    sum_squares: i64,
    /// Whether the numerator and denominator are magnitudes.
    magnitude: [bool; 2],
}

/// Every published cell of every indicator, computed by plain loops.
fn naive(cat: &Catalogue, case: &Case) -> BTreeMap<Key, Counts> {
    // Region membership: (year, municipality) -> region id per level.
    let region_contract = cat
        .contract
        .table_with_role(TableRole::Region)
        .expect("a region table");
    let levels: Vec<String> = region_contract
        .levels
        .iter()
        .map(|l| l.name.clone())
        .collect();
    let mut regions: HashMap<(i32, String), Vec<String>> = HashMap::new();
    for r in region_rows() {
        let ids = region_contract
            .levels
            .iter()
            .map(|l| match l.column.as_str() {
                "network_id" => r.network.to_string(),
                "care_office_region" => r.care_office.to_string(),
                "province" => r.province.to_string(),
                other => panic!("unexpected level column {other}"),
            })
            .collect();
        regions.insert((i32::from(r.year), r.municipality.to_string()), ids);
    }
    let mut region_ids: Vec<BTreeMap<i32, BTreeSet<String>>> = vec![BTreeMap::new(); levels.len()];
    for ((year, _), ids) in &regions {
        for (l, id) in ids.iter().enumerate() {
            region_ids[l].entry(*year).or_default().insert(id.clone());
        }
    }

    // Persons and their events per table (events of unknown persons dropped).
    let persons: Vec<Row> = case.persons.iter().map(person_row).collect();
    let known: BTreeSet<&str> = case.persons.iter().map(|p| p.id.as_str()).collect();
    let mut events: HashMap<(String, String), Vec<Row>> = HashMap::new();
    for e in case
        .events
        .iter()
        .filter(|e| known.contains(e.person_id.as_str()))
    {
        events
            .entry(("care_event".into(), e.person_id.clone()))
            .or_default()
            .push(event_row(e));
    }
    for m in case
        .meds
        .iter()
        .filter(|m| known.contains(m.person_id.as_str()))
    {
        events
            .entry(("medication".into(), m.person_id.clone()))
            .or_default()
            .push(med_row(m));
    }
    let periods: BTreeSet<i32> = case.persons.iter().map(|p| year_of(p.death.0)).collect();

    let sexes = ["female".to_string(), "male".to_string()];
    let ages: Vec<String> = cat.age_groups.iter().map(|g| g.label.clone()).collect();
    let mut diagnoses: Vec<String> = cat
        .diagnosis
        .groups
        .iter()
        .map(|g| g.name.clone())
        .collect();
    diagnoses.push(cat.diagnosis.other.clone());
    // The default publication: (nation only?, stratifiers).
    let specs: Vec<(bool, Vec<Stratifier>)> = vec![
        (false, vec![]),
        (false, vec![Stratifier::Sex]),
        (false, vec![Stratifier::AgeGroup]),
        (false, vec![Stratifier::Sex, Stratifier::AgeGroup]),
        (true, vec![Stratifier::DiagnosisGroup]),
    ];

    let mut out = BTreeMap::new();
    for ind in &cat.indicators {
        let space = if ind.unit_of_analysis == UnitOfAnalysis::Organisation {
            Space::Organisation
        } else if matches!(ind.denominator, Quantity::Inhabitants { .. }) {
            Space::Population
        } else {
            Space::Person
        };
        let mean = matches!(ind.numerator, Quantity::MeasureSum { .. });

        // 1. The published cells, all zero.
        let mut cells: BTreeMap<Key, Counts> = BTreeMap::new();
        for (national_only, strat) in &specs {
            let space_has = strat.iter().all(|s| match space {
                Space::Person => true,
                Space::Population => *s != Stratifier::DiagnosisGroup,
                Space::Organisation => false,
            });
            if !space_has || !strat.iter().all(|s| ind.stratifiers.contains(s)) {
                continue;
            }
            let values = |s: Stratifier, vals: &[String]| -> Vec<Option<String>> {
                if strat.contains(&s) {
                    vals.iter().cloned().map(Some).collect()
                } else {
                    vec![None]
                }
            };
            for &period in &periods {
                let mut places: Vec<(String, Option<String>)> = vec![("national".into(), None)];
                if !national_only {
                    for (l, name) in levels.iter().enumerate() {
                        for id in region_ids[l].get(&period).into_iter().flatten() {
                            places.push((name.clone(), Some(id.clone())));
                        }
                    }
                }
                for (level, region) in &places {
                    for sex in values(Stratifier::Sex, &sexes) {
                        for age in values(Stratifier::AgeGroup, &ages) {
                            for diagnosis in values(Stratifier::DiagnosisGroup, &diagnoses) {
                                let key = Key {
                                    indicator: ind.id.clone(),
                                    period: period.to_string(),
                                    level: level.clone(),
                                    region: region.clone(),
                                    sex: sex.clone(),
                                    age: age.clone(),
                                    diagnosis,
                                };
                                let zero = Counts {
                                    sum_squares: mean.then_some(0),
                                    ..Counts::default()
                                };
                                cells.insert(key, zero);
                            }
                        }
                    }
                }
            }
        }

        // 2. What each unit adds, at its finest cell.
        let mut finest: Vec<Finest> = Vec::new();
        match space {
            Space::Organisation => {
                for o in &case.orgs {
                    let row = org_row(o);
                    let no_features =
                        |f: &Feature| -> i64 { panic!("a feature on an organisation: {f:?}") };
                    let (n, _) = contribution(&ind.numerator, &row, &no_features);
                    let (d, _) = contribution(&ind.denominator, &row, &no_features);
                    finest.push(Finest {
                        period: i32::from(o.year),
                        municipality: o.region_id.to_string(),
                        sex: None,
                        age: None,
                        diagnosis: None,
                        numerator: n,
                        denominator: d,
                        sum_squares: 0,
                        magnitude: [is_magnitude(&ind.numerator), is_magnitude(&ind.denominator)],
                    });
                }
            }
            Space::Person | Space::Population => {
                for (p, row) in case.persons.iter().zip(&persons) {
                    let death = p.death.0;
                    let feature = |f: &Feature| -> i64 {
                        let rows = events
                            .get(&(f.table.clone(), p.id.clone()))
                            .map(Vec::as_slice)
                            .unwrap_or_default();
                        feature_value(cat, f, death, rows)
                    };
                    let (n, q) = contribution(&ind.numerator, row, &feature);
                    let d = if space == Space::Population {
                        0
                    } else {
                        contribution(&ind.denominator, row, &feature).0
                    };
                    let age = match get(row, AGE_AT_DEATH) {
                        Some(Value::Int(a)) => *a,
                        _ => unreachable!(),
                    };
                    finest.push(Finest {
                        period: year_of(death),
                        municipality: p.municipality.to_string(),
                        sex: Some(p.sex.to_string()),
                        age: Some(age_group(cat, age)),
                        diagnosis: (space == Space::Person)
                            .then(|| diagnosis_group(cat, get(row, &cat.diagnosis.column))),
                        numerator: n,
                        denominator: d,
                        sum_squares: q,
                        magnitude: [is_magnitude(&ind.numerator), is_magnitude(&ind.denominator)],
                    });
                }
                if space == Space::Population {
                    for (region_id, year, band, sex, population) in population_rows(case) {
                        let lower: i64 = band
                            .trim_end_matches('+')
                            .split('-')
                            .next()
                            .and_then(|x| x.parse().ok())
                            .expect("a band like 65-79 or 90+");
                        finest.push(Finest {
                            period: i32::from(year),
                            municipality: region_id.to_string(),
                            sex: Some(sex.to_string()),
                            age: Some(age_group(cat, lower)),
                            diagnosis: None,
                            numerator: 0,
                            denominator: population,
                            sum_squares: 0,
                            magnitude: [false, false],
                        });
                    }
                }
            }
        }

        // 3. Sum each finest contribution into every published cell containing it.
        for f in &finest {
            let mut places: Vec<(String, Option<String>)> = vec![("national".into(), None)];
            if let Some(ids) = regions.get(&(f.period, f.municipality.clone())) {
                places.extend(levels.iter().cloned().zip(ids.iter().cloned().map(Some)));
            }
            let with_all = |x: &Option<String>| -> Vec<Option<String>> {
                match x {
                    Some(_) => vec![None, x.clone()],
                    None => vec![None],
                }
            };
            for (level, region) in &places {
                for sex in with_all(&f.sex) {
                    for age in with_all(&f.age) {
                        for diagnosis in with_all(&f.diagnosis) {
                            let key = Key {
                                indicator: ind.id.clone(),
                                period: f.period.to_string(),
                                level: level.clone(),
                                region: region.clone(),
                                sex: sex.clone(),
                                age: age.clone(),
                                diagnosis,
                            };
                            if let Some(c) = cells.get_mut(&key) {
                                c.numerator += f.numerator;
                                c.denominator += f.denominator;
                                for (s, v) in [f.numerator, f.denominator].into_iter().enumerate() {
                                    if f.magnitude[s] {
                                        c.contributions[s].push(v);
                                    }
                                }
                                if let Some(q) = c.sum_squares.as_mut() {
                                    *q += f.sum_squares;
                                }
                            }
                        }
                    }
                }
            }
        }
        out.extend(cells);
    }
    out
}

// ---------------------------------------------------------------------------
// The engine side and the comparisons.

#[derive(Debug, Clone, PartialEq)]
struct Published {
    numerator: Option<i64>,
    denominator: Option<i64>,
    sum_squares: Option<i64>,
    value: Option<f64>,
    status: String,
}

fn run_engine(
    case: &Case,
    threshold: i64,
    partitions: usize,
) -> Result<BTreeMap<Key, Published>, String> {
    let options = RunOptions {
        threshold: Some(threshold),
        // Random small extracts have small national totals: force nothing.
        forced: Some(vec![]),
        target_partitions: Some(partitions),
        ..RunOptions::default()
    };
    let output = Engine::new(CATALOGUE.clone())
        .with_options(options)
        .run_blocking(&extract(case))
        .map_err(|e| format!("the engine failed at target_partitions {partitions}: {e}"))?;
    let b = &output.results;
    let text = |name: &str, row: usize| -> Option<String> {
        let a = b
            .column_by_name(name)
            .unwrap_or_else(|| panic!("results lack {name}"));
        let a = a.as_string::<i32>();
        a.is_valid(row).then(|| a.value(row).to_string())
    };
    let int = |name: &str, row: usize| -> Option<i64> {
        let a = b
            .column_by_name(name)
            .unwrap_or_else(|| panic!("results lack {name}"));
        let a = a.as_primitive::<Int64Type>();
        a.is_valid(row).then(|| a.value(row))
    };
    let value = b
        .column_by_name("value")
        .expect("results have a value column")
        .as_primitive::<Float64Type>();
    let mut out = BTreeMap::new();
    for row in 0..b.num_rows() {
        let key = Key {
            indicator: text("indicator_id", row).unwrap_or_default(),
            period: text("period", row).unwrap_or_default(),
            level: text("region_level", row).unwrap_or_default(),
            region: text("region_id", row),
            sex: text("sex", row),
            age: text("age_group", row),
            diagnosis: text("diagnosis_group", row),
        };
        let cell = Published {
            numerator: int("numerator", row),
            denominator: int("denominator", row),
            sum_squares: int("sum_squares", row),
            value: value.is_valid(row).then(|| value.value(row)),
            status: text("status", row).unwrap_or_default(),
        };
        if let Some(previous) = out.insert(key.clone(), cell) {
            return Err(format!(
                "the engine publishes a cell twice: {key} (first {previous:?})"
            ));
        }
    }
    Ok(out)
}

fn expected_value(ind_id: &str, c: &Counts) -> Option<f64> {
    let ind = CATALOGUE.indicator(ind_id).expect("a catalogue indicator");
    if c.denominator == 0 {
        return None;
    }
    let ratio = c.numerator as f64 / c.denominator as f64;
    Some(match ind.unit {
        Unit::RatePer(n) => ratio * f64::from(n),
        _ => ratio,
    })
}

fn standardised(ind_id: &str) -> bool {
    CATALOGUE
        .indicator(ind_id)
        .is_some_and(|i| i.standardisation.is_some())
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * y.abs().max(1.0),
        _ => false,
    }
}

/// Differences between the naive cells and the engine's, one line each
/// (at most 25 shown), or `Ok` when every cell agrees.
fn compare(
    expected: &BTreeMap<Key, Counts>,
    got: &BTreeMap<Key, Published>,
    threshold: i64,
) -> Result<(), String> {
    let mut diffs = Vec::new();
    for (key, want) in expected {
        let Some(cell) = got.get(key) else {
            diffs.push(format!(
                "{key}: missing from the engine's results (naive {want:?})"
            ));
            continue;
        };
        let small = |x: i64| (1..threshold).contains(&x);
        let hidden = |cell: &Published| {
            cell.numerator.is_none()
                && cell.denominator.is_none()
                && cell.sum_squares.is_none()
                && cell.value.is_none()
        };
        // Every primary-sensitive cell is hidden as primary; any other cell
        // is either hidden as secondary (which cells is spiegel-disclosure's
        // choice, checked by its own tests and the oracle of disclosure.rs)
        // or published with the naive counts.
        // The catalogue's p% rule (10) on magnitude cells, by its definition.
        let p = CATALOGUE.disclosure.p_percent;
        let dominance = dominated(want.numerator, &want.contributions[0], p)
            || dominated(want.denominator, &want.contributions[1], p);
        let ok = if small(want.numerator) || small(want.denominator) || dominance {
            cell.status == "suppressed_primary" && hidden(cell)
        } else if cell.status == "suppressed_secondary" {
            hidden(cell)
        } else {
            (cell.status == "published" || cell.status == "forced")
                && cell.numerator == Some(want.numerator)
                && cell.denominator == Some(want.denominator)
                && cell.sum_squares == want.sum_squares
                // A directly standardised rate's value is not n/d: it is
                // pinned by hand in tiny.rs and by the Dobson conformance
                // vectors of spiegel-stats; here its counts are what is checked.
                && (standardised(&key.indicator)
                    || close(cell.value, expected_value(&key.indicator, want)))
        };
        if !ok {
            diffs.push(format!(
                "{key}: naive {want:?} (value {:?}), engine {cell:?}",
                expected_value(&key.indicator, want)
            ));
        }
    }
    for key in got.keys().filter(|k| !expected.contains_key(*k)) {
        diffs.push(format!(
            "{key}: published by the engine only ({:?})",
            got[key]
        ));
    }
    if diffs.is_empty() {
        return Ok(());
    }
    let n = diffs.len();
    diffs.truncate(25);
    Err(format!(
        "{n} cell(s) differ (threshold {threshold}; {} naive cells, {} engine cells):\n  {}",
        expected.len(),
        got.len(),
        diffs.join("\n  ")
    ))
}

/// Runs a case through the engine at each partition count and compares.
fn check(case: &Case, threshold: i64, partitions: &[usize]) -> Result<(), String> {
    let expected = naive(&CATALOGUE, case);
    for &p in partitions {
        let got = run_engine(case, threshold, p)?;
        compare(&expected, &got, threshold).map_err(|e| format!("target_partitions {p}: {e}"))?;
    }
    Ok(())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Each case runs DataFusion: keep a failure's shrinking bounded.
        max_shrink_iters: 300,
        max_shrink_time: 180_000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(18))]

    /// Every cell of every indicator, nothing suppressed, at 1 and 2 partitions.
    #[test]
    fn engine_agrees_with_naive_evaluator(case in case_strategy()) {
        if let Err(e) = check(&case, 1, &[1, 2]) {
            return Err(TestCaseError::fail(e));
        }
    }
}

proptest! {
    #![proptest_config(config(6))]

    /// Primary suppression at k = 10: hidden exactly when a count is in 1..9.
    #[test]
    fn suppression_agrees_with_naive_counts(case in case_strategy()) {
        if let Err(e) = check(&case, 10, &[2]) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// A fixed-seed run of the property: the same generated extracts every time.
#[test]
fn fixed_seed_regression() {
    let config = Config {
        cases: 3,
        rng_seed: RngSeed::Fixed(0x05b1_e6e1),
        failure_persistence: None,
        max_shrink_iters: 100,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case_strategy(), |case| {
        check(&case, 1, &[1, 2]).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------
// A hand-picked case, with figures worked out by hand for the naive evaluator.

fn event(person_id: &str, setting: &'static str, start: i32, end: Option<i32>) -> EventRow {
    EventRow {
        event_id: 0,
        person_id: person_id.into(),
        setting,
        start: Day(start),
        end: end.map(Day),
        is_acute: None,
        code: None,
        provider: None,
    }
}

fn med(person_id: &str, atc: &'static str, rx: i32) -> MedRow {
    MedRow {
        person_id: person_id.into(),
        rx: Day(rx),
        atc,
        is_repeat: false,
    }
}

#[allow(clippy::too_many_arguments)]
fn person(
    id: &str,
    birth: i32,
    sex: &'static str,
    death: i32,
    municipality: &'static str,
    cause: Option<&'static str>,
    place: &'static str,
    gp_panel: bool,
) -> PersonRow {
    PersonRow {
        id: id.into(),
        birth: Day(birth),
        sex,
        death: Day(death),
        municipality,
        cause,
        place,
        gp_panel,
        weight: None,
    }
}

fn hand_picked() -> Case {
    let d1 = ymd(2022, 3, 1);
    let d2 = ymd(2021, 12, 31);
    let d3 = ymd(2022, 6, 15);
    let d = ymd(2022, 6, 15);
    let persons = vec![
        // Born 29 Feb 1940, died 1 Mar 2022: 82, cancer, in hospital.
        person(
            "P1",
            ymd(1940, 2, 29),
            "female",
            d1,
            "GM01",
            Some("C349"),
            "hospital",
            true,
        ),
        // 17 at death (birthday tomorrow): only in the all-ages rate.
        person(
            "P2",
            ymd(2004, 1, 1),
            "male",
            d2,
            "GM02",
            Some("I60"),
            "home",
            true,
        ),
        // 65 on the day of death; renal (I12 is not heart); sex unknown.
        person(
            "P3",
            ymd(1957, 6, 15),
            "unknown",
            d3,
            "GM03",
            Some("I12"),
            "home",
            false,
        ),
        // Not palliative-relevant.
        person(
            "P4",
            ymd(1950, 1, 1),
            "female",
            d,
            "GM04",
            Some("X59"),
            "home",
            true,
        ),
        // No cause; municipality missing from the region table.
        person(
            "P5",
            ymd(1950, 1, 1),
            "male",
            d,
            UNPLACED,
            None,
            "hospital",
            true,
        ),
        // C98 is outside C00-C97; "C1" has no three-character category.
        person(
            "P6",
            ymd(1950, 1, 1),
            "female",
            d,
            "GM05",
            Some("C98"),
            "home",
            true,
        ),
        person(
            "P7",
            ymd(1950, 1, 1),
            "male",
            d,
            "GM06",
            Some("C1"),
            "home",
            true,
        ),
        // 64: the day before the 65th birthday; G12.2 is neurodegenerative.
        person(
            "P8",
            ymd(1957, 6, 16),
            "female",
            d,
            "GM06",
            Some("G122"),
            "nursing_home",
            false,
        ),
        // Heart (I51.9), in the GP panel, questionable medication not new.
        person(
            "P9",
            ymd(1930, 5, 5),
            "male",
            d,
            "GM03",
            Some("I519"),
            "hospice_or_other",
            true,
        ),
    ];
    let mut events = vec![
        // P1: a stay from death-31 to death-30 (1 day in the 30-day window) and
        // one from death-20 without an end (21 days): 22 days, 2 admissions.
        event("P1", "hospital_admission", d1 - 31, Some(d1 - 30)),
        event("P1", "hospital_admission", d1 - 20, None),
        event("P1", "ed_visit", d1 - 30, None),
        event("P1", "ed_visit", d1 - 31, None),
        event("P1", "gp_consult", d1 - 30, None),
        event("P1", "gp_phone", d1, None),
        event("P1", "gp_home_visit", d1 + 1, None),
        event("P1", "pc_team_consult", d1 - 31, None),
        event("P1", "outpatient_visit", d1 - 3, Some(d1 - 3)),
        // P2 is not an adult: ignored by the person indicators.
        event("P2", "hospital_admission", d2 - 3, Some(d2)),
        // P9: an ICU stay and an admission ending before the window.
        event("P9", "icu", d - 7, Some(d - 5)),
        event("P9", "hospital_admission", d - 60, Some(d - 31)),
        // A person missing from the person table: ignored.
        event("PX1", "hospital_admission", d - 5, None),
    ];
    for (i, e) in events.iter_mut().enumerate() {
        e.event_id = i as i64 + 1;
    }
    let meds = vec![
        med("P1", "N02AA01", d1 - 90),
        med("P1", "A06AD11", d1 - 91),
        med("P1", "C10AA05", d1 - 90),
        med("P9", "B03AA07", d - 10),
        med("P9", "A02BC01", d - 455),
        med("P9", "N02AB03", d - 14),
        med("P9", "A06AB02", d - 7),
        med("PX1", "N02AA01", d - 1),
    ];
    let orgs = vec![
        OrgRow {
            org_id: "H1".into(),
            region_id: "GM01",
            year: 2022,
            has_pc_team: true,
            consults: 10,
            admissions: 100,
        },
        OrgRow {
            org_id: "H2".into(),
            region_id: "GM03",
            year: 2022,
            has_pc_team: false,
            consults: 0,
            admissions: 200,
        },
        OrgRow {
            org_id: "H3".into(),
            region_id: "GM05",
            year: 2021,
            has_pc_team: true,
            consults: 5,
            admissions: 50,
        },
    ];
    Case {
        persons,
        events,
        meds,
        orgs,
        population: (0..96).map(|i| (i * 7) % 500).collect(),
        strings: [
            StrKind::Dict,
            StrKind::View,
            StrKind::Large,
            StrKind::Utf8,
            StrKind::Dict,
            StrKind::View,
        ],
        split: true,
    }
}

fn national(indicator: &str, period: &str) -> Key {
    Key {
        indicator: indicator.into(),
        period: period.into(),
        level: "national".into(),
        region: None,
        sex: None,
        age: None,
        diagnosis: None,
    }
}

#[test]
fn hand_picked_case() {
    let case = hand_picked();
    let expected = naive(&CATALOGUE, &case);
    let counts = |k: Key| -> (i64, i64) {
        let c = expected
            .get(&k)
            .unwrap_or_else(|| panic!("naive lacks {k}"));
        (c.numerator, c.denominator)
    };
    // The naive evaluator against figures worked out by hand. Adults with a
    // palliative-relevant cause in 2022: P1, P3, P8, P9.
    assert_eq!(counts(national("hospital_days_over14_30d", "2022")), (1, 4));
    assert_eq!(
        counts(national("hospital_admissions_2plus_30d", "2022")),
        (1, 4)
    );
    assert_eq!(counts(national("hospital_admission_30d", "2022")), (1, 4));
    assert_eq!(counts(national("icu_admission_30d", "2022")), (1, 4));
    assert_eq!(counts(national("ed_visit_30d", "2022")), (1, 4));
    assert_eq!(counts(national("ed_visits_2plus_30d", "2022")), (0, 4));
    assert_eq!(counts(national("place_of_death_hospital", "2022")), (1, 4));
    // Cancer decedents: P1 only; palliative care at death-31 is early.
    assert_eq!(
        counts(national("palliative_care_started_early", "2022")),
        (1, 1)
    );
    assert_eq!(
        counts(national("potentially_inappropriate_30d", "2022")),
        (1, 1)
    );
    // GP panel: P1 and P9. P1: 2 GP contacts in the window (the visit after death is out).
    assert_eq!(counts(national("gp_contacts_mean_30d", "2022")), (2, 2));
    assert_eq!(
        expected[&national("gp_contacts_mean_30d", "2022")].sum_squares,
        Some(4)
    );
    assert_eq!(counts(national("opioid_90d", "2022")), (2, 2));
    // P1's laxative is a day before the window; P9 has one.
    assert_eq!(
        counts(national("opioid_without_laxative_90d", "2022")),
        (1, 2)
    );
    // P1 is new; P9 had a PPI at death-455, the first day of the look-back.
    assert_eq!(
        counts(national("new_questionable_medication_90d", "2022")),
        (1, 2)
    );
    assert_eq!(counts(national("hospitals_with_pc_team", "2022")), (1, 2));
    assert_eq!(counts(national("pc_team_coverage", "2022")), (10, 300));
    assert_eq!(counts(national("hospitals_with_pc_team", "2021")), (1, 1));
    // All ages: P2 in 2021; 2022: P1, P3, P8, P9.
    let inhabitants_2021: i64 = case.population[..48].iter().sum();
    assert_eq!(
        counts(national("deaths_pc_relevant_rate", "2021")),
        (1, inhabitants_2021)
    );
    assert_eq!(counts(national("deaths_pc_relevant_rate", "2022")).0, 4);
    // Unknown sex counts in the total but in no sex stratum; the unplaced
    // municipality (P5, not palliative) would count for the nation only.
    let female = Key {
        sex: Some("female".into()),
        ..national("hospital_admission_30d", "2022")
    };
    let male = Key {
        sex: Some("male".into()),
        ..national("hospital_admission_30d", "2022")
    };
    assert_eq!(counts(female).1 + counts(male).1, 3);
    let age_64 = Key {
        age: Some("0-64".into()),
        ..national("hospital_admission_30d", "2022")
    };
    assert_eq!(counts(age_64).1, 1);

    if let Err(e) = check(&case, 1, &[1, 2]) {
        panic!("{e}");
    }
    if let Err(e) = check(&case, 10, &[1]) {
        panic!("{e}");
    }
}

#[test]
fn calendar_helpers() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    for z in [-30_000, -1, 0, 59, 60, 11_016, 19_052, 19_417] {
        let (y, m, d) = civil_from_days(z);
        assert_eq!(days_from_civil(y, m, d), z);
    }
    assert_eq!(age_at_death(ymd(1940, 2, 29), ymd(2021, 2, 28)), 80);
    assert_eq!(age_at_death(ymd(1940, 2, 29), ymd(2021, 3, 1)), 81);
    assert_eq!(age_at_death(ymd(1957, 6, 15), ymd(2022, 6, 15)), 65);
    assert_eq!(age_at_death(ymd(1957, 6, 16), ymd(2022, 6, 15)), 64);
}

/// The generator reaches a nonzero numerator of every indicator (naive side
/// only: cheap), so that the property above compares more than zeros.
#[test]
fn generator_reaches_every_numerator() {
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::new(Config {
        rng_seed: RngSeed::Fixed(7),
        ..Config::default()
    });
    let strategy = case_strategy();
    // Per indicator: (case, period) pairs with a nonzero national numerator, and those below the denominator.
    let mut hits: BTreeMap<String, (usize, usize)> = CATALOGUE
        .indicators
        .iter()
        .map(|i| (i.id.clone(), (0, 0)))
        .collect();
    let cases = 40;
    for _ in 0..cases {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        for (key, c) in naive(&CATALOGUE, &case) {
            if key.level == "national"
                && key.sex.is_none()
                && key.age.is_none()
                && key.diagnosis.is_none()
            {
                let h = hits.get_mut(&key.indicator).expect("an indicator");
                h.0 += usize::from(c.numerator > 0);
                h.1 += usize::from(c.numerator > 0 && c.numerator < c.denominator);
            }
        }
    }
    let missed: Vec<&String> = hits
        .iter()
        .filter(|(_, h)| h.0 == 0)
        .map(|(id, _)| id)
        .collect();
    assert!(
        missed.is_empty(),
        "no generated case has a nonzero numerator for {missed:?}: {hits:?}"
    );
}
