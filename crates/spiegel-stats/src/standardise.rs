//! Directly standardised rates (Dobson) and indirectly standardised ratios.

use crate::error::{Error, Result, count, positive, same_len};
use crate::poisson::{byar_lower, byar_upper, poisson_interval};
use crate::{ConfidenceLevel, Estimate};

/// The age bands of the European Standard Population 2013, in order.
pub const ESP2013_BANDS: [&str; 19] = [
    "0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49", "50-54",
    "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85-89", "90+",
];

/// The European Standard Population 2013 (Eurostat 2013), per 100,000, one weight per band
/// of [`ESP2013_BANDS`].
pub const ESP2013: [f64; 19] = [
    5000.0, 5500.0, 5500.0, 5500.0, 6000.0, 6000.0, 6500.0, 7000.0, 7000.0, 7000.0, 7000.0, 6500.0,
    6000.0, 5500.0, 5000.0, 4000.0, 2500.0, 1500.0, 1000.0,
];

/// A standard population: one non-negative weight per standardisation category (e.g. age
/// band, or age band × sex), in the order the counts and populations are given.
///
/// The standard is data: [`StandardPopulation::esp2013`] ships the European Standard
/// Population 2013; any other (e.g. the nation's own population of the run) comes from
/// [`StandardPopulation::new`].
///
/// ```
/// use spiegel_stats::StandardPopulation;
///
/// let esp = StandardPopulation::esp2013();
/// assert_eq!(esp.len(), 19);
/// assert_eq!(esp.weights().iter().sum::<f64>(), 100_000.0);
///
/// let national = StandardPopulation::new(vec![120_000.0, 95_000.0, 40_000.0])?;
/// assert_eq!(national.len(), 3);
/// assert!(StandardPopulation::new(vec![1.0, -2.0]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StandardPopulation {
    weights: Vec<f64>,
}

impl StandardPopulation {
    /// A standard from its weights.
    ///
    /// # Errors
    ///
    /// A negative or non-finite weight, or weights that are empty or sum to 0.
    pub fn new(weights: impl Into<Vec<f64>>) -> Result<Self> {
        let weights = weights.into();
        for &w in &weights {
            count("standard population", w)?;
        }
        if weights.iter().sum::<f64>() <= 0.0 {
            return Err(Error::Empty {
                quantity: "standard population",
            });
        }
        Ok(Self { weights })
    }

    /// The European Standard Population 2013 ([`ESP2013`]).
    pub fn esp2013() -> Self {
        Self {
            weights: ESP2013.to_vec(),
        }
    }

    /// The weights, one per category.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The number of categories.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Always false: a standard has at least one category.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
}

/// Persons with the same number of events each, by category, for a directly standardised
/// rate of non-independent events (see [`dsr_non_independent`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventFrequency<'a> {
    /// How many events each of these persons had (1, 2, 3, ...).
    pub events_per_person: f64,
    /// The number of such persons in each category.
    pub persons: &'a [f64],
}

/// Below this total count a directly standardised rate is not published (PHE convention).
pub const DSR_MIN_COUNT: f64 = 10.0;

fn check_dsr_inputs(
    counts: &[f64],
    populations: &[f64],
    standard: &StandardPopulation,
) -> Result<()> {
    same_len("counts", standard.len(), counts.len())?;
    same_len("populations", standard.len(), populations.len())?;
    for &x in counts {
        count("numerator", x)?;
    }
    for &n in populations {
        positive("population", n)?;
    }
    Ok(())
}

/// The DSR value and the variance of the standardised proportion (before the multiplier).
fn dsr_core(counts: &[f64], populations: &[f64], weights: &[f64]) -> (f64, f64, f64) {
    let total_weight: f64 = weights.iter().sum();
    let mut weighted = 0.0;
    let mut squared = 0.0;
    let mut total = 0.0;
    for ((&x, &n), &w) in counts.iter().zip(populations).zip(weights) {
        weighted += x * w / n;
        squared += x * (w / n) * (w / n);
        total += x;
    }
    (
        weighted / total_weight,
        squared / (total_weight * total_weight),
        total,
    )
}

fn dobson(
    value: f64,
    variance: f64,
    total: f64,
    multiplier: f64,
    level: ConfidenceLevel,
) -> Result<Option<Estimate>> {
    if total < DSR_MIN_COUNT {
        return Ok(None);
    }
    let scale = (variance / total).sqrt();
    let lower = byar_lower(total, level)?.unwrap_or(0.0);
    let upper = byar_upper(total, level)?;
    let v = value * multiplier;
    Ok(Some(Estimate::new(
        v,
        v + scale * (lower - total) * multiplier,
        v + scale * (upper - total) * multiplier,
    )))
}

/// A directly standardised rate with the Dobson et al. (1991) interval, as
/// PHEindicatormethods' `phe_dsr` / `calculate_dsr`:
///
/// - value `= Σ wᵢ xᵢ / nᵢ / Σ wᵢ × multiplier`
/// - variance `V = Σ wᵢ² xᵢ / nᵢ² / (Σ wᵢ)²`
/// - limits `= value + sqrt(V / O) (O_lim - O) × multiplier`, with `O = Σ xᵢ` and `O_lim`
///   Byar's limits of `O`.
///
/// `counts`, `populations` and the standard have one entry per category, in the same
/// order. `None` when the total count is below [`DSR_MIN_COUNT`] (10): such rates are not
/// published.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, StandardPopulation, dsr};
///
/// let counts = [10.0, 20.0, 30.0];
/// let pops = [1000.0, 1000.0, 500.0];
/// let standard = StandardPopulation::new(vec![1.0, 1.0, 2.0])?;
/// let r = dsr(&counts, &pops, &standard, 1000.0, ConfidenceLevel::P95)?.unwrap();
/// // (10/1000 + 20/1000 + 2 · 30/500) / 4 × 1000 = 37.5 per 1000
/// assert!((r.value - 37.5).abs() < 1e-12);
/// assert!(r.lower < r.value && r.value < r.upper);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative count, a population that is not greater than 0 (as `phe_dsr`: "denominators
/// must all be greater than zero"), a negative multiplier, or lengths that differ from the
/// standard's.
pub fn dsr(
    counts: &[f64],
    populations: &[f64],
    standard: &StandardPopulation,
    multiplier: f64,
    level: ConfidenceLevel,
) -> Result<Option<Estimate>> {
    check_dsr_inputs(counts, populations, standard)?;
    let multiplier = count("multiplier", multiplier)?;
    let (value, variance, total) = dsr_core(counts, populations, standard.weights());
    dobson(value, variance, total, multiplier, level)
}

/// A directly standardised rate of *non-independent* events (a person can have several),
/// as `calculate_dsr(independent_events = FALSE)`: the events per category are
/// `Σ_f f · persons_f`, and the Dobson variance is replaced by `Σ_f f² V_f`, where `V_f` is
/// the variance computed from the persons with `f` events each.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, EventFrequency, StandardPopulation, dsr, dsr_non_independent};
///
/// let standard = StandardPopulation::new(vec![1.0, 1.0])?;
/// let pops = [1000.0, 800.0];
/// let once = [20.0, 10.0];
/// let twice = [5.0, 5.0];
/// let freq = [
///     EventFrequency { events_per_person: 1.0, persons: &once },
///     EventFrequency { events_per_person: 2.0, persons: &twice },
/// ];
/// let r = dsr_non_independent(&freq, &pops, &standard, 1000.0, ConfidenceLevel::P95)?.unwrap();
/// let independent = dsr(&[30.0, 20.0], &pops, &standard, 1000.0, ConfidenceLevel::P95)?.unwrap();
/// assert!((r.value - independent.value).abs() < 1e-12); // same events
/// assert!(r.upper - r.lower > independent.upper - independent.lower); // wider
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`dsr`]; also a negative or non-finite number of events per person.
pub fn dsr_non_independent(
    frequencies: &[EventFrequency<'_>],
    populations: &[f64],
    standard: &StandardPopulation,
    multiplier: f64,
    level: ConfidenceLevel,
) -> Result<Option<Estimate>> {
    let k = standard.len();
    let multiplier = count("multiplier", multiplier)?;
    let mut events = vec![0.0; k];
    let mut variance = 0.0;
    for freq in frequencies {
        let f = count("events per person", freq.events_per_person)?;
        check_dsr_inputs(freq.persons, populations, standard)?;
        let (_, v, _) = dsr_core(freq.persons, populations, standard.weights());
        variance += f * f * v;
        for (e, &p) in events.iter_mut().zip(freq.persons) {
            *e += f * p;
        }
    }
    check_dsr_inputs(&events, populations, standard)?;
    let (value, _, total) = dsr_core(&events, populations, standard.weights());
    dobson(value, variance, total, multiplier, level)
}

/// The expected count of indirect standardisation: `Σ nᵢ · refcountᵢ / refpopᵢ`, the events
/// the area would have at the reference rates. A population of 0 contributes nothing.
///
/// ```
/// use spiegel_stats::expected_count;
///
/// let e = expected_count(&[1000.0, 500.0], &[30.0, 40.0], &[10_000.0, 2_000.0])?;
/// assert!((e - 13.0).abs() < 1e-12); // 1000 · 0.003 + 500 · 0.02
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative population or reference count, a reference population that is not greater
/// than 0, or slices of different lengths.
pub fn expected_count(
    populations: &[f64],
    reference_counts: &[f64],
    reference_populations: &[f64],
) -> Result<f64> {
    same_len(
        "reference counts",
        populations.len(),
        reference_counts.len(),
    )?;
    same_len(
        "reference populations",
        populations.len(),
        reference_populations.len(),
    )?;
    let mut e = 0.0;
    for ((&n, &rc), &rp) in populations
        .iter()
        .zip(reference_counts)
        .zip(reference_populations)
    {
        let n = count("population", n)?;
        let rc = count("reference count", rc)?;
        let rp = positive("reference population", rp)?;
        e += n * rc / rp;
    }
    Ok(e)
}

/// The crude reference rate `Σ refcount / Σ refpop` (for [`isr_rate`]). `None` when the
/// reference population is 0.
///
/// ```
/// use spiegel_stats::reference_rate;
///
/// assert_eq!(reference_rate(&[30.0, 40.0], &[10_000.0, 2_000.0])?, Some(70.0 / 12_000.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite entry, or slices of different lengths.
pub fn reference_rate(
    reference_counts: &[f64],
    reference_populations: &[f64],
) -> Result<Option<f64>> {
    same_len(
        "reference populations",
        reference_counts.len(),
        reference_populations.len(),
    )?;
    let mut c = 0.0;
    let mut p = 0.0;
    for (&rc, &rp) in reference_counts.iter().zip(reference_populations) {
        c += count("reference count", rc)?;
        p += count("reference population", rp)?;
    }
    Ok((p > 0.0).then(|| c / p))
}

/// An indirectly standardised ratio `observed / expected × multiplier` (e.g. 100 for an
/// SMR-style index), with the [`poisson_interval`] of the observed count (exact below 10,
/// Byar from 10) divided by the expected count, as `calculate_ISRatio`. `None` when the
/// expected count is 0.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, isr};
///
/// let r = isr(895.0, 835.8835612311743, 1.0, ConfidenceLevel::P95)?.unwrap();
/// assert!((r.value - 1.0707232939020275).abs() < 1e-12);
/// assert!((r.lower - 1.0017147712553987).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite observed or expected count or multiplier.
pub fn isr(
    observed: f64,
    expected: f64,
    multiplier: f64,
    level: ConfidenceLevel,
) -> Result<Option<Estimate>> {
    let o = count("observed", observed)?;
    let e = count("expected", expected)?;
    let m = count("multiplier", multiplier)?;
    if e == 0.0 {
        return Ok(None);
    }
    let ci = poisson_interval(o, level)?;
    Ok(Some(Estimate::new(
        o / e * m,
        ci.lower / e * m,
        ci.upper / e * m,
    )))
}

/// An indirectly standardised rate: the [`isr`] ratio times the reference rate, times the
/// multiplier (e.g. per 100,000), as `calculate_ISRate`.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, isr_rate};
///
/// let r = isr_rate(9.0, 835.8835612311743, 0.0934988309221102, 100_000.0, ConfidenceLevel::P95)?
///     .unwrap();
/// assert!((r.value - 100.6706576523123).abs() < 1e-9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`isr`]; also a negative or non-finite reference rate.
pub fn isr_rate(
    observed: f64,
    expected: f64,
    reference_rate: f64,
    multiplier: f64,
    level: ConfidenceLevel,
) -> Result<Option<Estimate>> {
    let r = count("reference rate", reference_rate)?;
    let m = count("multiplier", multiplier)?;
    isr(observed, expected, r * m, level)
}
