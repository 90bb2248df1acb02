//! Decedents and their care in the last year(s) of life, one chunk of persons at a time.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray, StringBuilder,
};
use arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, Poisson};

use crate::dates::{days_from_civil, is_leap, same_day_in_year};
use crate::geo::Geography;
use crate::{Result, schema_of};

/// How far back any event or prescription may lie before death (the medication look-back).
pub(crate) const MAX_LOOKBACK_DAYS: i32 = 455;
/// Event ids are `person index * EVENT_ID_STRIDE + rank of the event within the person`.
const EVENT_ID_STRIDE: i64 = 10_000;

/// Cause-of-death groups: (code list, share of all deaths). Codes are drawn with weights
/// 2, 1, 1, ... (the first code of a group is the most common).
const CAUSES: [(&[&str], f64, Class); 10] = [
    (
        &[
            "C349", "C509", "C189", "C61", "C259", "C800", "C160", "C859",
        ],
        0.27,
        Class::Cancer,
    ),
    (
        &["I500", "I509", "I251", "I219", "I480", "I110"],
        0.13,
        Class::Relevant,
    ),
    (&["F03", "G309", "R54", "F01"], 0.115, Class::Dementia),
    (&["I639", "I64", "I619"], 0.05, Class::Relevant),
    (&["J449", "J969", "J45"], 0.05, Class::Relevant),
    (
        &["G20", "G122", "G35", "G903", "G231", "G10"],
        0.02,
        Class::Relevant,
    ),
    (&["N185", "I120", "I131", "N179"], 0.015, Class::Relevant),
    (&["K703", "K746"], 0.01, Class::Relevant),
    (&["B20", "B24"], 0.0005, Class::Relevant),
    (
        &[
            "A419", "E149", "W19", "X59", "K922", "E86", "J189", "R99", "X70", "V892", "E119",
            "K566", "N390", "A099", "D649",
        ],
        0.3395,
        Class::Other,
    ),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Cancer,
    Dementia,
    Relevant,
    Other,
}

const PLACES: [&str; 6] = [
    "hospital",
    "nursing_home",
    "care_home",
    "home",
    "hospice_or_other",
    "unknown",
];

/// Place-of-death distribution per class, in the order of [`PLACES`].
fn place_weights(class: Class) -> [f64; 6] {
    match class {
        Class::Cancer => [0.17, 0.06, 0.08, 0.45, 0.23, 0.01],
        Class::Dementia => [0.06, 0.52, 0.20, 0.18, 0.03, 0.01],
        Class::Relevant => [0.264, 0.12, 0.10, 0.419, 0.08, 0.017],
        Class::Other => [0.25, 0.20, 0.10, 0.30, 0.10, 0.05],
    }
}

/// Age at death: (first age, last age, probability).
const AGE_BANDS: [(i32, i32, f64); 12] = [
    (0, 0, 0.003),
    (1, 17, 0.002),
    (18, 44, 0.025),
    (45, 54, 0.035),
    (55, 64, 0.09),
    (65, 69, 0.07),
    (70, 74, 0.11),
    (75, 79, 0.16),
    (80, 84, 0.18),
    (85, 89, 0.18),
    (90, 94, 0.11),
    (95, 104, 0.035),
];

// Medication (ATC, 7 characters).
const OPIOIDS: [&str; 4] = ["N02AA01", "N02AB03", "N02AA05", "N02AX02"];
const LAXATIVES: [&str; 3] = ["A06AD11", "A06AD65", "A06AB02"];
const QUESTIONABLE: [&str; 8] = [
    "A02BC01", "A02BC02", "B03AA07", "B03BA01", "A11CC05", "C10AA05", "C10AA01", "C01AA05",
];
const BACKGROUND: [&str; 12] = [
    "C07AB02", "C09AA05", "N05BA01", "R03AK06", "B01AC06", "A10BA02", "H02AB06", "N05CF01",
    "M01AE01", "C03CA01", "N06AB06", "B01AF01",
];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Setting {
    HospitalAdmission,
    Icu,
    Resuscitation,
    EdVisit,
    Chemotherapy,
    PcTeamConsult,
    SpecialistPalliativeCare,
    HospiceStay,
    GpConsult,
    GpHomeVisit,
    GpPhone,
    OutOfHoursGp,
    OutpatientVisit,
    Imaging,
    LabTest,
}

impl Setting {
    fn name(self) -> &'static str {
        match self {
            Setting::HospitalAdmission => "hospital_admission",
            Setting::Icu => "icu",
            Setting::Resuscitation => "resuscitation",
            Setting::EdVisit => "ed_visit",
            Setting::Chemotherapy => "chemotherapy",
            Setting::PcTeamConsult => "pc_team_consult",
            Setting::SpecialistPalliativeCare => "specialist_palliative_care",
            Setting::HospiceStay => "hospice_stay",
            Setting::GpConsult => "gp_consult",
            Setting::GpHomeVisit => "gp_home_visit",
            Setting::GpPhone => "gp_phone",
            Setting::OutOfHoursGp => "out_of_hours_gp",
            Setting::OutpatientVisit => "outpatient_visit",
            Setting::Imaging => "imaging",
            Setting::LabTest => "lab_test",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Event {
    start: i32,
    setting: Setting,
    end: Option<i32>,
    acute: Option<bool>,
    code: Option<&'static str>,
    provider: Option<u16>,
}

/// Columns of one chunk, turned into record batches at the end.
#[derive(Default)]
struct Columns {
    p_id: Vec<String>,
    p_birth: Vec<i32>,
    p_sex: Vec<&'static str>,
    p_death: Vec<i32>,
    p_muni: Vec<u16>,
    p_cause: Vec<&'static str>,
    p_place: Vec<&'static str>,
    p_panel: Vec<bool>,
    p_weight: Vec<Option<f64>>,

    e_id: Vec<i64>,
    e_person: Vec<u32>,
    e_setting: Vec<&'static str>,
    e_start: Vec<i32>,
    e_end: Vec<Option<i32>>,
    e_acute: Vec<Option<bool>>,
    e_code: Vec<Option<&'static str>>,
    e_provider: Vec<Option<u16>>,

    m_person: Vec<u32>,
    m_date: Vec<i32>,
    m_atc: Vec<&'static str>,
    m_repeat: Vec<bool>,
}

/// The three person-level batches of one chunk.
pub(crate) struct ChunkBatches {
    pub person: RecordBatch,
    pub care_event: RecordBatch,
    pub medication: RecordBatch,
}

fn uni(rng: &mut ChaCha8Rng, lo: i32, hi: i32) -> i32 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

/// Whole days from an exponential distribution with the given mean.
fn exp_days(rng: &mut ChaCha8Rng, mean: f64) -> i32 {
    let u: f64 = rng.random();
    (-mean * (1.0 - u).ln()).floor().min(10_000.0) as i32
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 || !lambda.is_finite() {
        return 0;
    }
    match Poisson::new(lambda) {
        Ok(p) => p.sample(rng).min(5_000.0) as u32,
        Err(_) => 0,
    }
}

/// Negative binomial count with the given mean (gamma-Poisson mixture).
fn neg_binomial(rng: &mut ChaCha8Rng, mean: f64, shape: f64) -> u32 {
    match Gamma::new(shape, mean / shape) {
        Ok(g) => {
            let lambda = g.sample(rng);
            poisson(rng, lambda)
        }
        Err(_) => 0,
    }
}

/// Days before death, skewed towards death: `floor((max + 1) * u^power)` capped at `max`.
fn skewed_gap(rng: &mut ChaCha8Rng, max: i32, power: f64) -> i32 {
    let u: f64 = rng.random();
    ((f64::from(max + 1) * u.powf(power)).floor() as i32).min(max)
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn pick_weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Stratified Bernoulli draws: for each key (decision site x stratum, with a fixed
/// probability), outcomes are dealt from shuffled blocks holding the expected number of
/// successes (remainders carried over). National figures then sit much closer to their targets
/// at small scales than independent draws would put them, while each person's outcome stays
/// random.
#[derive(Default)]
pub(crate) struct Strata {
    blocks: std::collections::HashMap<u32, (Vec<bool>, f64)>,
}

const BLOCK: usize = 40;

impl Strata {
    fn draw(&mut self, rng: &mut ChaCha8Rng, site: u32, stratum: u32, p: f64) -> bool {
        let (left, carry) = self
            .blocks
            .entry(site * 64 + stratum)
            .or_insert_with(|| (Vec::new(), rng.random::<f64>()));
        if left.is_empty() {
            let want = BLOCK as f64 * p.clamp(0.0, 1.0) + *carry;
            let k = (want.floor() as usize).min(BLOCK);
            *carry = want - k as f64;
            left.extend((0..BLOCK).map(|i| i < k));
            for i in (1..BLOCK).rev() {
                let j = rng.random_range(0..=i);
                left.swap(i, j);
            }
        }
        left.pop().unwrap_or(false)
    }
}

/// Generates persons `first..first + count` (global indices); `year_of` gives each one's year.
pub(crate) fn generate_chunk(
    rng: &mut ChaCha8Rng,
    geo: &Geography,
    first: u64,
    count: usize,
    year_of: impl Fn(u64) -> i32,
) -> Result<ChunkBatches> {
    let mut cols = Columns::default();
    let mut st = Strata::default();
    for k in 0..count {
        let index = first + k as u64;
        person(
            rng,
            &mut st,
            geo,
            index,
            k as u32,
            year_of(index),
            &mut cols,
        );
    }
    cols.finish(geo)
}

fn person(
    rng: &mut ChaCha8Rng,
    st: &mut Strata,
    geo: &Geography,
    index: u64,
    local: u32,
    year: i32,
    cols: &mut Columns,
) {
    // Death date: spread over the year with a winter peak.
    let jan1 = days_from_civil(year, 1, 1);
    let len = if is_leap(year) { 366 } else { 365 };
    let death = loop {
        let doy = rng.random_range(0..len);
        let w = 1.0 + 0.15 * (std::f64::consts::TAU * f64::from(doy + 15) / f64::from(len)).cos();
        if rng.random::<f64>() * 1.15 < w {
            break jan1 + doy;
        }
    };
    let band = pick_weighted(rng, &AGE_BANDS.map(|b| b.2));
    let age = uni(rng, AGE_BANDS[band].0, AGE_BANDS[band].1);
    let sex = if rng.random_bool(0.001) {
        "unknown"
    } else if rng.random_bool(0.5) {
        "female"
    } else {
        "male"
    };
    // Birth in (anniversary a year earlier, anniversary]: exactly `age` whole years at death.
    let (dy, dm, dd) = crate::dates::civil_from_days(death);
    let anniversary = same_day_in_year(dy - age, dm, dd);
    let previous = same_day_in_year(dy - age - 1, dm, dd);
    let birth = anniversary - rng.random_range(0..anniversary - previous);

    let muni = geo.draw_municipality(rng);
    let m = &geo.municipalities[muni];
    let practice = m.first_practice + rng.random_range(0..m.n_practices);
    let weight = geo.practices[practice].panel_weight;
    let panel = weight.is_some();

    let group = pick_weighted(rng, &CAUSES.map(|c| c.1));
    let (codes, _, class) = CAUSES[group];
    let code_weights: Vec<f64> = (0..codes.len())
        .map(|i| if i == 0 { 2.0 } else { 1.0 })
        .collect();
    let cause = codes[pick_weighted(rng, &code_weights)];
    // Place of death: a chain of stratified yes/no draws over the categories.
    let weights = place_weights(class);
    let mut place = PLACES[PLACES.len() - 1];
    let mut rest: f64 = weights.iter().sum();
    for (i, w) in weights.iter().enumerate().take(PLACES.len() - 1) {
        if st.draw(rng, 18 + i as u32, class as u32, w / rest) {
            place = PLACES[i];
            break;
        }
        rest -= w;
    }

    let hospital = if geo.hospitals.is_empty() {
        None
    } else if rng.random_bool(0.12) || m.nearest_hospitals.is_empty() {
        Some(rng.random_range(0..geo.hospitals.len()) as u16)
    } else {
        Some(pick(rng, &m.nearest_hospitals))
    };

    let mut events = Vec::with_capacity(96);
    care_events(
        rng,
        st,
        death,
        class,
        cause,
        place,
        panel,
        hospital,
        &mut events,
    );
    events.sort_by_key(|e| (e.start, e.setting));
    events.truncate((EVENT_ID_STRIDE - 1) as usize);
    for (rank, e) in events.iter().enumerate() {
        cols.e_id.push(index as i64 * EVENT_ID_STRIDE + rank as i64);
        cols.e_person.push(local);
        cols.e_setting.push(e.setting.name());
        cols.e_start.push(e.start);
        cols.e_end.push(e.end);
        cols.e_acute.push(e.acute);
        cols.e_code.push(e.code);
        cols.e_provider.push(e.provider);
    }
    if panel {
        let mut rx = Vec::with_capacity(48);
        medication(rng, st, death, &mut rx);
        rx.sort();
        for (date, atc, repeat) in rx {
            cols.m_person.push(local);
            cols.m_date.push(date);
            cols.m_atc.push(atc);
            cols.m_repeat.push(repeat);
        }
    }

    let mut id = String::with_capacity(10);
    let _ = write!(id, "P{:09}", index + 1);
    cols.p_id.push(id);
    cols.p_birth.push(birth);
    cols.p_sex.push(sex);
    cols.p_death.push(death);
    cols.p_muni.push(muni as u16);
    cols.p_cause.push(cause);
    cols.p_place.push(place);
    cols.p_panel.push(panel);
    cols.p_weight.push(weight);
}

/// A hospital stay: `[start, end or death]`.
#[derive(Clone, Copy)]
struct Stay {
    start: i32,
    /// Last day in hospital (the death date when the stay is ongoing at death).
    last: i32,
}

#[allow(clippy::too_many_arguments)]
fn care_events(
    rng: &mut ChaCha8Rng,
    st: &mut Strata,
    d: i32,
    class: Class,
    cause: &'static str,
    place: &'static str,
    panel: bool,
    hospital: Option<u16>,
    out: &mut Vec<Event>,
) {
    let cancer = class == Class::Cancer;
    let relevant = class != Class::Other;
    let died_in_hospital = place == "hospital";
    let win = d - 30;
    let diagnosis = |rng: &mut ChaCha8Rng| -> Option<&'static str> {
        if rng.random_bool(0.6) {
            Some(cause)
        } else {
            Some(pick(
                rng,
                &["R068", "R53", "J189", "N390", "E86", "R509", "K590"],
            ))
        }
    };
    let admission = |out: &mut Vec<Event>, s: i32, end: Option<i32>, acute: bool, code| {
        out.push(Event {
            start: s,
            setting: Setting::HospitalAdmission,
            end,
            acute: Some(acute),
            code,
            provider: hospital,
        });
    };

    // Hospital admissions overlapping the last 30 days.
    let discharged = !died_in_hospital && st.draw(rng, 1, class as u32, 0.16);
    let mut window_stays: Vec<Stay> = Vec::new();
    let mut latest_acute_start = None;
    if died_in_hospital || discharged {
        let two = st.draw(rng, 2, cancer as u32, if cancer { 0.30 } else { 0.15 });
        let (mut s1, last1, end1) = if died_in_hospital {
            let l = if st.draw(rng, 3, cancer as u32, 0.32) {
                uni(rng, 14, 45)
            } else {
                exp_days(rng, 4.0).min(13)
            };
            let end = if rng.random_bool(0.5) { None } else { Some(d) };
            (d - l, d, end)
        } else {
            let g = if two {
                uni(rng, 0, 18)
            } else if rng.random_bool(0.15) {
                uni(rng, 0, 7)
            } else {
                uni(rng, 8, 30)
            };
            let l = if rng.random_bool(0.14) {
                uni(rng, 12, 35)
            } else {
                (1 + exp_days(rng, 5.0)).min(20)
            };
            (d - g - l, d - g, Some(d - g))
        };
        if two {
            s1 = s1.max(d - 24).min(last1);
        }
        let acute1 = st.draw(
            rng,
            4,
            died_in_hospital as u32,
            if died_in_hospital { 0.88 } else { 0.75 },
        );
        let code = diagnosis(rng);
        admission(out, s1, end1, acute1, code);
        window_stays.push(Stay {
            start: s1,
            last: last1,
        });
        if acute1 {
            latest_acute_start = Some(s1);
        }
        if two {
            let end2 = uni(rng, win, s1 - 2);
            let s2 = end2 - (1 + exp_days(rng, 3.0)).min(14);
            let acute2 = rng.random_bool(0.7);
            let code = diagnosis(rng);
            admission(out, s2, Some(end2), acute2, code);
            window_stays.push(Stay {
                start: s2,
                last: end2,
            });
            if acute2 && latest_acute_start.is_none() {
                latest_acute_start = Some(s2);
            }
        }
    }
    // ICU and resuscitation inside the latest admission, in the window.
    if let Some(stay) = window_stays.first().copied() {
        let lo = stay.start.max(win);
        if st.draw(
            rng,
            5,
            died_in_hospital as u32,
            if died_in_hospital { 0.22 } else { 0.085 },
        ) {
            let s = uni(rng, lo, stay.last);
            let e = (s + exp_days(rng, 3.0)).min(stay.last);
            out.push(hospital_event(Setting::Icu, s, Some(e), hospital));
        }
        if st.draw(
            rng,
            6,
            died_in_hospital as u32,
            if died_in_hospital { 0.04 } else { 0.012 },
        ) {
            let s = if died_in_hospital && rng.random_bool(0.7) {
                d
            } else {
                uni(rng, lo, stay.last)
            };
            out.push(hospital_event(Setting::Resuscitation, s, Some(s), hospital));
        }
    }
    let mut hospice_start = None;
    // Hospice stay ending at death, after any discharge.
    if place == "hospice_or_other" && rng.random_bool(0.75) {
        let after = window_stays
            .iter()
            .map(|s| s.last + 1)
            .max()
            .unwrap_or(d - 400);
        let s = (d - (1 + exp_days(rng, 12.0)).min(90)).max(after).min(d);
        hospice_start = Some(s);
        out.push(Event {
            start: s,
            setting: Setting::HospiceStay,
            end: Some(d),
            acute: None,
            code: None,
            provider: None,
        });
    }

    // Earlier admissions, before the window and before the window stays.
    let mut cursor = window_stays
        .iter()
        .map(|s| s.start)
        .min()
        .unwrap_or(d)
        .min(win)
        .min(hospice_start.unwrap_or(d))
        - 1;
    let n_old = poisson(rng, if cancer { 0.8 } else { 0.45 });
    for _ in 0..n_old {
        let end = cursor - uni(rng, 3, 100);
        let start = end - exp_days(rng, 4.0).min(30);
        if start < d - 400 {
            break;
        }
        let acute = rng.random_bool(0.6);
        let code = diagnosis(rng);
        admission(out, start, Some(end), acute, code);
        if rng.random_bool(0.04) {
            let s = uni(rng, start, end);
            out.push(hospital_event(
                Setting::Icu,
                s,
                Some(uni(rng, s, end)),
                hospital,
            ));
        }
        cursor = start - 1;
    }

    // Emergency department visits.
    let admitted = !window_stays.is_empty();
    if st.draw(rng, 7, admitted as u32, if admitted { 0.55 } else { 0.093 }) {
        let p_more = match (cancer, admitted) {
            (true, true) => 0.56,
            (true, false) => 0.41,
            (false, true) => 0.3,
            (false, false) => 0.2,
        };
        let mut n = 1;
        if st.draw(rng, 8, 2 * cancer as u32 + admitted as u32, p_more) {
            n += 1;
            while n < 6 && rng.random_bool(0.3) {
                n += 1;
            }
        }
        for i in 0..n {
            let s = match latest_acute_start {
                Some(a) if i == 0 && a >= win && rng.random_bool(0.8) => a,
                _ => uni(rng, win, d),
            };
            out.push(Event {
                acute: Some(true),
                ..hospital_event(Setting::EdVisit, s, Some(s), hospital)
            });
        }
    }
    for _ in 0..poisson(rng, 0.4) {
        let s = uni(rng, d - 365, win - 1);
        out.push(Event {
            acute: Some(true),
            ..hospital_event(Setting::EdVisit, s, Some(s), hospital)
        });
    }

    // Chemotherapy: mostly cancer, a course of sessions ending at `last`.
    let last = if cancer {
        if st.draw(rng, 9, admitted as u32, if admitted { 0.27 } else { 0.07 }) {
            Some(if st.draw(rng, 10, 0, 0.6) {
                uni(rng, 0, 14)
            } else {
                uni(rng, 15, 30)
            })
        } else if rng.random_bool(0.35) {
            Some(uni(rng, 31, 270))
        } else {
            None
        }
    } else if rng.random_bool(0.01) {
        Some(uni(rng, 31, 300))
    } else {
        None
    };
    if let Some(gap) = last {
        let interval = uni(rng, 14, 28);
        let sessions = uni(rng, 2, 8);
        for k in 0..sessions {
            let s = d - gap - k * interval;
            if s < d - 365 {
                break;
            }
            out.push(Event {
                code: Some("Z511"),
                ..hospital_event(Setting::Chemotherapy, s, Some(s), hospital)
            });
        }
    }

    // Palliative care: early (more than 30 days before death) or late.
    let (p_early, p_late) = match class {
        Class::Cancer => (0.39, 0.30),
        Class::Dementia | Class::Relevant => (0.20, 0.20),
        Class::Other => (0.03, 0.05),
    };
    let first_pc = if st.draw(rng, 11, class as u32, p_early) {
        Some(31 + skewed_gap(rng, 334, 1.5))
    } else if st.draw(rng, 12, class as u32, p_late) {
        Some(uni(rng, 0, 30))
    } else {
        None
    };
    if let Some(gap) = first_pc {
        let n = 1 + poisson(rng, if gap > 30 { 2.5 } else { 1.0 });
        for k in 0..n {
            let s = if k == 0 {
                d - gap
            } else {
                uni(rng, d - gap, d)
            };
            if rng.random_bool(0.55) {
                out.push(hospital_event(Setting::PcTeamConsult, s, Some(s), hospital));
            } else {
                out.push(Event {
                    start: s,
                    setting: Setting::SpecialistPalliativeCare,
                    end: None,
                    acute: None,
                    code: None,
                    provider: None,
                });
            }
        }
    }

    // GP care: panel only.
    if panel {
        let gp = |rng: &mut ChaCha8Rng, s: i32, weights: &[f64; 3]| Event {
            start: s,
            setting: [Setting::GpConsult, Setting::GpHomeVisit, Setting::GpPhone]
                [pick_weighted(rng, weights)],
            end: None,
            acute: None,
            code: None,
            provider: None,
        };
        let in_window = neg_binomial(rng, if relevant { 6.3 } else { 4.0 }, 1.6);
        for _ in 0..in_window {
            let s = d - skewed_gap(rng, 30, 1.6);
            out.push(gp(rng, s, &[0.25, 0.45, 0.30]));
        }
        for _ in 0..poisson(rng, 25.0) {
            let s = uni(rng, d - 365, win - 1);
            out.push(gp(rng, s, &[0.55, 0.10, 0.35]));
        }
        let ooh = |s| Event {
            start: s,
            setting: Setting::OutOfHoursGp,
            end: None,
            acute: None,
            code: None,
            provider: None,
        };
        if st.draw(rng, 13, relevant as u32, if relevant { 0.5 } else { 0.35 }) {
            let mut n = 1;
            while n < 8 && rng.random_bool(0.45) {
                n += 1;
            }
            for _ in 0..n {
                out.push(ooh(d - skewed_gap(rng, 30, 1.5)));
            }
        }
        for _ in 0..poisson(rng, 0.7) {
            out.push(ooh(uni(rng, d - 365, win - 1)));
        }
    }

    // High-volume settings that the indicators ignore.
    for (setting, mean) in [
        (Setting::OutpatientVisit, 32.0),
        (Setting::LabTest, 40.0),
        (Setting::Imaging, 8.0),
    ] {
        for _ in 0..poisson(rng, mean) {
            let s = d - skewed_gap(rng, 365, 1.3);
            out.push(match setting {
                Setting::LabTest => Event {
                    start: s,
                    setting,
                    end: None,
                    acute: None,
                    code: None,
                    provider: None,
                },
                _ => hospital_event(setting, s, Some(s), hospital),
            });
        }
    }
}

fn hospital_event(setting: Setting, start: i32, end: Option<i32>, hospital: Option<u16>) -> Event {
    Event {
        start,
        setting,
        end,
        acute: None,
        code: None,
        provider: hospital,
    }
}

/// Prescriptions of one GP-panel decedent, all in `[death - 455, death]`.
fn medication(
    rng: &mut ChaCha8Rng,
    st: &mut Strata,
    d: i32,
    rx: &mut Vec<(i32, &'static str, bool)>,
) {
    let first_day = d - MAX_LOOKBACK_DAYS;
    // A repeated prescription of `atc` from `start` every `interval` days until `stop`.
    let course = |rng: &mut ChaCha8Rng,
                  rx: &mut Vec<(i32, &'static str, bool)>,
                  atc: &'static str,
                  start: i32,
                  stop: i32,
                  interval: (i32, i32)| {
        let mut t = start.max(first_day);
        let mut first = true;
        while t <= stop.min(d) {
            rx.push((t, atc, !first));
            first = false;
            t += uni(rng, interval.0, interval.1);
        }
    };

    // Chronic background medication.
    for _ in 0..poisson(rng, 3.0) {
        let atc = pick(rng, &BACKGROUND);
        let stop = d - skewed_gap(rng, 200, 2.0);
        let start = first_day + uni(rng, 0, 60);
        course(rng, rx, atc, start, stop, (28, 90));
    }
    // Medication of questionable value: chronic users (some deprescribed before the window),
    // or a new start in the last 90 days.
    if st.draw(rng, 14, 0, 0.45) {
        for _ in 0..uni(rng, 1, 2) {
            let atc = pick(rng, &QUESTIONABLE);
            let stop = if rng.random_bool(0.4) {
                d - uni(rng, 91, 300)
            } else {
                d
            };
            let start = first_day + uni(rng, 0, 90);
            course(rng, rx, atc, start, stop, (28, 90));
        }
    } else if st.draw(rng, 15, 0, 0.28) {
        let atc = pick(rng, &QUESTIONABLE);
        let start = d - uni(rng, 1, 90);
        course(rng, rx, atc, start, d, (25, 60));
    }
    // Opioids (and laxatives, mostly with them).
    if st.draw(rng, 16, 0, 0.57) {
        let atc = pick(rng, &OPIOIDS);
        let start = if rng.random_bool(0.75) {
            d - skewed_gap(rng, 89, 1.2)
        } else {
            d - uni(rng, 90, 400)
        };
        // Intervals of at most 30 days: the course reaches into the 90-day window.
        course(rng, rx, atc, start, d, (7, 30));
        if st.draw(rng, 17, 0, 0.65) {
            let lax = pick(rng, &LAXATIVES);
            let s = uni(rng, start.max(d - 90), d);
            course(rng, rx, lax, s, d, (14, 45));
        }
    } else {
        if rng.random_bool(0.06) {
            let atc = pick(rng, &OPIOIDS);
            let start = d - uni(rng, 120, 440);
            course(rng, rx, atc, start, d - 91, (14, 30));
        }
        if rng.random_bool(0.2) {
            let lax = pick(rng, &LAXATIVES);
            let start = d - uni(rng, 0, 200);
            course(rng, rx, lax, start, d, (14, 60));
        }
    }
}

impl Columns {
    fn finish(self, geo: &Geography) -> Result<ChunkBatches> {
        let muni: Vec<&str> = self
            .p_muni
            .iter()
            .map(|&m| geo.municipalities[m as usize].code.as_str())
            .collect();
        let person: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(&self.p_id)),
            Arc::new(Date32Array::from(self.p_birth)),
            Arc::new(StringArray::from(self.p_sex)),
            Arc::new(Date32Array::from(self.p_death)),
            Arc::new(StringArray::from(muni)),
            Arc::new(StringArray::from(self.p_cause)),
            Arc::new(StringArray::from(self.p_place)),
            Arc::new(BooleanArray::from(self.p_panel)),
            Arc::new(Float64Array::from(self.p_weight)),
        ];
        let person = RecordBatch::try_new(schema_of("person"), person)?;

        let ids = |local: &[u32]| {
            let mut b = StringBuilder::with_capacity(local.len(), local.len() * 10);
            for &p in local {
                b.append_value(&self.p_id[p as usize]);
            }
            Arc::new(b.finish()) as ArrayRef
        };
        let provider: Vec<Option<&str>> = self
            .e_provider
            .iter()
            .map(|p| p.map(|h| geo.hospitals[h as usize].org_id.as_str()))
            .collect();
        let care_event: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(self.e_id)),
            ids(&self.e_person),
            Arc::new(StringArray::from(self.e_setting)),
            Arc::new(Date32Array::from(self.e_start)),
            Arc::new(Date32Array::from(self.e_end)),
            Arc::new(BooleanArray::from(self.e_acute)),
            Arc::new(StringArray::from(self.e_code)),
            Arc::new(StringArray::from(provider)),
        ];
        let care_event = RecordBatch::try_new(schema_of("care_event"), care_event)?;

        let medication: Vec<ArrayRef> = vec![
            ids(&self.m_person),
            Arc::new(Date32Array::from(self.m_date)),
            Arc::new(StringArray::from(self.m_atc)),
            Arc::new(BooleanArray::from(self.m_repeat)),
        ];
        let medication = RecordBatch::try_new(schema_of("medication"), medication)?;
        Ok(ChunkBatches {
            person,
            care_event,
            medication,
        })
    }
}
