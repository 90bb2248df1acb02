//! Fixed synthetic geography: municipalities, three partitions of them (palliative-care
//! networks, care-office regions, provinces), GP practices and hospitals. It depends on the
//! seed only, never on the scale.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int16Array, Int32Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::{Result, rng_for, schema_of};

/// Inhabitants of the Netherlands at scale 1.
pub(crate) const NATIONAL_POPULATION: f64 = 17_500_000.0;
pub(crate) const N_MUNICIPALITIES: usize = 342;
pub(crate) const N_NETWORKS: usize = 65;
pub(crate) const N_CARE_OFFICE_REGIONS: usize = 31;
pub(crate) const N_HOSPITALS: usize = 70;
/// Hospitals with a palliative care team (54 of 70 = 77%).
const N_HOSPITALS_WITH_TEAM: usize = 54;
/// National PC-team consultations / clinical admissions.
const PC_TEAM_COVERAGE: f64 = 0.013;
/// GP practices: one per this many inhabitants; a tenth of them is in the GP panel.
const INHABITANTS_PER_PRACTICE: f64 = 2_300.0;
const PANEL_PRACTICE_SHARE: f64 = 0.10;

pub(crate) const PROVINCES: [&str; 12] = [
    "Groningen",
    "Friesland",
    "Drenthe",
    "Overijssel",
    "Flevoland",
    "Gelderland",
    "Utrecht",
    "Noord-Holland",
    "Zuid-Holland",
    "Zeeland",
    "Noord-Brabant",
    "Limburg",
];

/// 5-year age bands of the population table.
pub(crate) const AGE_GROUPS: [&str; 19] = [
    "0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49", "50-54",
    "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85-89", "90+",
];
/// Dutch population by age band (thousands, about 2022).
const AGE_PYRAMID: [f64; 19] = [
    880.0, 910.0, 960.0, 1050.0, 1110.0, 1150.0, 1120.0, 1060.0, 1040.0, 1130.0, 1290.0, 1290.0,
    1160.0, 1030.0, 960.0, 730.0, 470.0, 270.0, 130.0,
];
/// Share of women in each age band.
const FEMALE_SHARE: [f64; 19] = [
    0.488, 0.488, 0.488, 0.488, 0.492, 0.495, 0.497, 0.498, 0.499, 0.499, 0.500, 0.500, 0.502,
    0.508, 0.515, 0.530, 0.565, 0.625, 0.720,
];
/// The largest cities (inhabitants); the other municipalities are drawn from a log-normal.
const BIG_CITIES: [f64; 10] = [
    905_000.0, 655_000.0, 550_000.0, 360_000.0, 236_000.0, 234_000.0, 222_000.0, 218_000.0,
    185_000.0, 179_000.0,
];

pub(crate) struct Municipality {
    pub code: String,
    /// Inhabitants at scale 1.
    pub inhabitants: f64,
    pub x: f64,
    pub y: f64,
    pub network: usize,
    pub care_office_region: usize,
    pub province: usize,
    /// Practices of the municipality: `practices[first_practice..first_practice + n_practices]`.
    pub first_practice: usize,
    pub n_practices: usize,
    /// Hospitals nearest to the municipality (all hospitals of the nearest hospital town).
    pub nearest_hospitals: Vec<u16>,
}

pub(crate) struct Practice {
    pub panel_weight: Option<f64>,
}

pub(crate) struct Hospital {
    pub org_id: String,
    pub municipality: usize,
    pub has_pc_team: bool,
    pub clinical_admissions: f64,
    pub consult_rate: f64,
}

pub(crate) struct Geography {
    pub municipalities: Vec<Municipality>,
    pub practices: Vec<Practice>,
    pub hospitals: Vec<Hospital>,
    /// Cumulative inhabitants, for drawing a municipality in proportion to its size.
    cumulative: Vec<f64>,
}

fn nearest(points: &[(f64, f64)], x: f64, y: f64) -> usize {
    let mut best = 0;
    let mut best_d = f64::INFINITY;
    for (i, &(px, py)) in points.iter().enumerate() {
        let d = (px - x) * (px - x) + (py - y) * (py - y);
        if d < best_d {
            best_d = d;
            best = i;
        }
    }
    best
}

/// Distinct indices `0..n` drawn at random, `k` of them.
fn choose_distinct(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let j = rng.random_range(i..n);
        idx.swap(i, j);
    }
    idx.truncate(k.min(n));
    idx
}

/// Standard normal draw (Box-Muller).
pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Geography {
    pub(crate) fn new(seed: u64) -> Geography {
        let mut rng = rng_for(seed, u64::MAX, 1);

        // Sizes: the big cities plus a log-normal tail, scaled to the national total.
        let mut sizes: Vec<f64> = BIG_CITIES.to_vec();
        while sizes.len() < N_MUNICIPALITIES {
            let s = (10.2 + 0.8 * normal(&mut rng)).exp();
            sizes.push(s.clamp(900.0, 170_000.0));
        }
        let big: f64 = BIG_CITIES.iter().sum();
        let rest: f64 = sizes[BIG_CITIES.len()..].iter().sum();
        let factor = (NATIONAL_POPULATION - big) / rest;
        for s in &mut sizes[BIG_CITIES.len()..] {
            *s *= factor;
        }
        // Sizes in a random order over the codes, locations in a 1 x 1.3 rectangle.
        let order = choose_distinct(&mut rng, N_MUNICIPALITIES, N_MUNICIPALITIES);
        let mut numbers = choose_distinct(&mut rng, 1999, N_MUNICIPALITIES);
        numbers.sort_unstable();
        let points: Vec<(f64, f64)> = (0..N_MUNICIPALITIES)
            .map(|_| (rng.random::<f64>(), 1.3 * rng.random::<f64>()))
            .collect();

        // Three Voronoi partitions seeded on distinct municipalities: every part non-empty,
        // and the partitions cut across each other.
        let partition = |rng: &mut ChaCha8Rng, k: usize| -> Vec<usize> {
            let seeds: Vec<(f64, f64)> = choose_distinct(rng, N_MUNICIPALITIES, k)
                .into_iter()
                .map(|i| points[i])
                .collect();
            points.iter().map(|&(x, y)| nearest(&seeds, x, y)).collect()
        };
        let networks = partition(&mut rng, N_NETWORKS);
        let cors = partition(&mut rng, N_CARE_OFFICE_REGIONS);
        let provinces = partition(&mut rng, PROVINCES.len());

        let mut municipalities = Vec::with_capacity(N_MUNICIPALITIES);
        let mut practices = Vec::new();
        for i in 0..N_MUNICIPALITIES {
            let inhabitants = sizes[order[i]];
            let n_practices = ((inhabitants / INHABITANTS_PER_PRACTICE).round() as usize).max(1);
            let first_practice = practices.len();
            for _ in 0..n_practices {
                practices.push(Practice { panel_weight: None });
            }
            municipalities.push(Municipality {
                code: format!("GM{:04}", numbers[i] + 1),
                inhabitants,
                x: points[i].0,
                y: points[i].1,
                network: networks[i],
                care_office_region: cors[i],
                province: provinces[i],
                first_practice,
                n_practices,
                nearest_hospitals: Vec::new(),
            });
        }

        // The GP panel: exactly a tenth of the practices, each with its own weight.
        let n_panel = (practices.len() as f64 * PANEL_PRACTICE_SHARE).round() as usize;
        for i in choose_distinct(&mut rng, practices.len(), n_panel) {
            let w = 10.0 * (0.85 + 0.3 * rng.random::<f64>());
            practices[i].panel_weight = Some((w * 100.0).round() / 100.0);
        }

        // Hospitals in the larger towns, big cities can hold several.
        let mut capacity: Vec<usize> = municipalities
            .iter()
            .map(|m| {
                if m.inhabitants >= 35_000.0 {
                    ((m.inhabitants / 130_000.0) as usize).max(1)
                } else {
                    0
                }
            })
            .collect();
        let mut hospital_towns = Vec::with_capacity(N_HOSPITALS);
        for _ in 0..N_HOSPITALS {
            let total: f64 = municipalities
                .iter()
                .zip(&capacity)
                .map(|(m, &c)| if c > 0 { m.inhabitants } else { 0.0 })
                .sum();
            if total <= 0.0 {
                break;
            }
            let mut u = rng.random::<f64>() * total;
            let mut pick = 0;
            for (i, (m, &c)) in municipalities.iter().zip(&capacity).enumerate() {
                if c == 0 {
                    continue;
                }
                pick = i;
                if u < m.inhabitants {
                    break;
                }
                u -= m.inhabitants;
            }
            capacity[pick] -= 1;
            hospital_towns.push(pick);
        }
        hospital_towns.sort_unstable();
        let with_team = choose_distinct(&mut rng, hospital_towns.len(), N_HOSPITALS_WITH_TEAM);
        let mut hospitals: Vec<Hospital> = hospital_towns
            .iter()
            .enumerate()
            .map(|(i, &m)| {
                let adm = (9.9 + 0.45 * normal(&mut rng))
                    .exp()
                    .clamp(10_000.0, 60_000.0);
                Hospital {
                    org_id: format!("H{:03}", i + 1),
                    municipality: m,
                    has_pc_team: with_team.contains(&i),
                    clinical_admissions: adm,
                    consult_rate: 0.4 + 1.2 * rng.random::<f64>(),
                }
            })
            .collect();
        // Rescale the consultation rates so that the national coverage is on target.
        let consults: f64 = hospitals
            .iter()
            .filter(|h| h.has_pc_team)
            .map(|h| h.clinical_admissions * h.consult_rate)
            .sum();
        let admissions: f64 = hospitals.iter().map(|h| h.clinical_admissions).sum();
        let k = if consults > 0.0 {
            PC_TEAM_COVERAGE * admissions / consults
        } else {
            0.0
        };
        for h in &mut hospitals {
            h.consult_rate = if h.has_pc_team {
                h.consult_rate * k
            } else {
                0.0
            };
        }

        let town_points: Vec<(f64, f64)> =
            hospitals.iter().map(|h| points[h.municipality]).collect();
        for m in &mut municipalities {
            if town_points.is_empty() {
                break;
            }
            let t = hospitals[nearest(&town_points, m.x, m.y)].municipality;
            m.nearest_hospitals = hospitals
                .iter()
                .enumerate()
                .filter(|(_, h)| h.municipality == t)
                .map(|(i, _)| i as u16)
                .collect();
        }

        let mut cumulative = Vec::with_capacity(N_MUNICIPALITIES);
        let mut acc = 0.0;
        for m in &municipalities {
            acc += m.inhabitants;
            cumulative.push(acc);
        }
        Geography {
            municipalities,
            practices,
            hospitals,
            cumulative,
        }
    }

    /// A municipality drawn in proportion to its inhabitants.
    pub(crate) fn draw_municipality(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.cumulative.last().unwrap_or(&0.0);
        let u = rng.random::<f64>() * total;
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.municipalities.len() - 1)
    }

    pub(crate) fn region_batch(&self, years: &[i32]) -> Result<RecordBatch> {
        let n = years.len() * self.municipalities.len();
        let mut year = Vec::with_capacity(n);
        let mut code = Vec::with_capacity(n);
        let mut network = Vec::with_capacity(n);
        let mut cor = Vec::with_capacity(n);
        let mut province = Vec::with_capacity(n);
        for &y in years {
            for m in &self.municipalities {
                year.push(y as i16);
                code.push(m.code.clone());
                network.push(format!("NW{:02}", m.network + 1));
                cor.push(format!("ZK{:02}", m.care_office_region + 1));
                province.push(PROVINCES[m.province]);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int16Array::from(year)),
            Arc::new(StringArray::from(code)),
            Arc::new(StringArray::from(network)),
            Arc::new(StringArray::from(cor)),
            Arc::new(StringArray::from(province)),
        ];
        Ok(RecordBatch::try_new(schema_of("region"), columns)?)
    }

    pub(crate) fn population_batch(&self, years: &[i32], scale: f64) -> Result<RecordBatch> {
        let pyramid_total: f64 = AGE_PYRAMID.iter().sum();
        let national: f64 = self.municipalities.iter().map(|m| m.inhabitants).sum();
        let n = years.len() * self.municipalities.len() * AGE_GROUPS.len() * 2;
        let mut region = Vec::with_capacity(n);
        let mut year = Vec::with_capacity(n);
        let mut age = Vec::with_capacity(n);
        let mut sex = Vec::with_capacity(n);
        let mut pop = Vec::with_capacity(n);
        for &y in years {
            let growth = 1.0 + 0.005 * f64::from(y - 2022);
            for m in &self.municipalities {
                let muni = NATIONAL_POPULATION * scale * growth * m.inhabitants / national;
                for (b, band) in AGE_GROUPS.iter().enumerate() {
                    let in_band = muni * AGE_PYRAMID[b] / pyramid_total;
                    for (s, share) in [("female", FEMALE_SHARE[b]), ("male", 1.0 - FEMALE_SHARE[b])]
                    {
                        region.push(m.code.clone());
                        year.push(y as i16);
                        age.push(*band);
                        sex.push(s);
                        pop.push((in_band * share).round().max(0.0) as i64);
                    }
                }
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(region)),
            Arc::new(Int16Array::from(year)),
            Arc::new(StringArray::from(age)),
            Arc::new(StringArray::from(sex)),
            Arc::new(Int64Array::from(pop)),
        ];
        Ok(RecordBatch::try_new(schema_of("population"), columns)?)
    }

    pub(crate) fn organisation_batch(&self, years: &[i32], seed: u64) -> Result<RecordBatch> {
        let n = years.len() * self.hospitals.len();
        let mut org = Vec::with_capacity(n);
        let mut region = Vec::with_capacity(n);
        let mut year = Vec::with_capacity(n);
        let mut team = Vec::with_capacity(n);
        let mut consults = Vec::with_capacity(n);
        let mut admissions = Vec::with_capacity(n);
        for &y in years {
            let mut rng = rng_for(seed, u64::MAX - 1, y as u64);
            for h in &self.hospitals {
                let adm = (h.clinical_admissions * (1.0 + 0.03 * normal(&mut rng)))
                    .clamp(10_000.0, 60_000.0)
                    .round();
                let c = (adm * h.consult_rate * (1.0 + 0.05 * normal(&mut rng)))
                    .round()
                    .max(0.0);
                org.push(h.org_id.clone());
                region.push(self.municipalities[h.municipality].code.clone());
                year.push(y as i16);
                team.push(h.has_pc_team);
                consults.push(c as i32);
                admissions.push(adm as i32);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(org)),
            Arc::new(StringArray::from(region)),
            Arc::new(Int16Array::from(year)),
            Arc::new(BooleanArray::from(team)),
            Arc::new(Int32Array::from(consults)),
            Arc::new(Int32Array::from(admissions)),
        ];
        Ok(RecordBatch::try_new(schema_of("organisation"), columns)?)
    }
}
