//! Counts and crude rates: exact Poisson (Garwood) and Byar's approximation.

use crate::error::{Result, count};
use crate::special::gamma_quantile;
use crate::{ConfidenceLevel, Estimate, Interval};

/// Below this many events count intervals are exact (Garwood); from it on, Byar's
/// approximation (the PHEindicatormethods / Fingertips convention).
pub const EXACT_BELOW: f64 = 10.0;

/// The exact (Garwood 1936) confidence interval for a Poisson count `x`:
/// `lower = qchisq(α/2, 2x) / 2`, `upper = qchisq(1 - α/2, 2x + 2) / 2`, computed as gamma
/// quantiles with shapes `x` and `x + 1`. The lower limit of 0 events is 0.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, exact_poisson_interval};
///
/// let ci = exact_poisson_interval(1.0, ConfidenceLevel::P95)?;
/// assert!((ci.lower - 0.025317807984289897).abs() < 1e-15);
/// assert!((ci.upper - 5.571643390938898).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite count.
pub fn exact_poisson_interval(x: f64, level: ConfidenceLevel) -> Result<Interval> {
    let x = count("count", x)?;
    let tail = level.tail();
    let lower = if x == 0.0 {
        0.0
    } else {
        gamma_quantile(x, tail, 1.0 - tail)
    };
    let upper = gamma_quantile(x + 1.0, 1.0 - tail, tail);
    Ok(Interval::new(lower, upper))
}

/// Byar's approximation to the lower confidence limit of a Poisson count (Breslow & Day
/// 1987): `x (1 - 1/(9x) - z/(3 sqrt(x)))³`. `None` where the approximation breaks down (it
/// is negative or undefined, e.g. for 0 or 1 event at 99.8%), as `byars_lower` answers NA.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, byar_lower};
///
/// let l = byar_lower(65.0, ConfidenceLevel::P95)?.unwrap();
/// assert!((l - 50.163187710459454).abs() < 1e-12);
/// assert_eq!(byar_lower(1.0, ConfidenceLevel::P998)?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite count.
pub fn byar_lower(x: f64, level: ConfidenceLevel) -> Result<Option<f64>> {
    let x = count("count", x)?;
    if x == 0.0 {
        return Ok(None);
    }
    let z = level.z();
    let l = x * (1.0 - 1.0 / (9.0 * x) - z / (3.0 * x.sqrt())).powi(3);
    Ok((l >= 0.0).then_some(l))
}

/// Byar's approximation to the upper confidence limit of a Poisson count (Breslow & Day
/// 1987): `(x + 1) (1 - 1/(9(x + 1)) + z/(3 sqrt(x + 1)))³`.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, byar_upper};
///
/// let u = byar_upper(1045.0, ConfidenceLevel::P998)?;
/// assert!((u - 1148.806160988033).abs() < 1e-9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite count.
pub fn byar_upper(x: f64, level: ConfidenceLevel) -> Result<f64> {
    let x = count("count", x)?;
    let z = level.z();
    let y = x + 1.0;
    Ok(y * (1.0 - 1.0 / (9.0 * y) + z / (3.0 * y.sqrt())).powi(3))
}

/// The confidence interval of a Poisson count as PHEindicatormethods computes it: exact
/// (Garwood) below [`EXACT_BELOW`] events, Byar's approximation from there on.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, poisson_interval};
///
/// let exact = poisson_interval(5.0, ConfidenceLevel::P95)?;
/// let byar = poisson_interval(20.0, ConfidenceLevel::P95)?;
/// assert!(exact.contains(5.0) && byar.contains(20.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite count.
pub fn poisson_interval(x: f64, level: ConfidenceLevel) -> Result<Interval> {
    let x = count("count", x)?;
    if x < EXACT_BELOW {
        exact_poisson_interval(x, level)
    } else {
        // From 10 events on Byar's lower limit is positive at every level below 1 that a
        // double can hold (it needs z > 9).
        let lower = byar_lower(x, level)?.unwrap_or(0.0);
        Ok(Interval::new(lower, byar_upper(x, level)?))
    }
}

/// A crude rate `x / n × multiplier` with the [`poisson_interval`] of its count, as
/// PHEindicatormethods' `phe_rate`. The count may exceed the denominator (person-time).
/// `None` when the denominator is 0.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, rate};
///
/// let r = rate(20.0, 100.0, 100.0, ConfidenceLevel::P95)?.unwrap();
/// assert_eq!(r.value, 20.0);
/// assert!((r.lower - 12.211428834875937).abs() < 1e-12);
/// assert_eq!(rate(3.0, 0.0, 100.0, ConfidenceLevel::P95)?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite count, denominator or multiplier.
pub fn rate(
    x: f64,
    denominator: f64,
    multiplier: f64,
    level: ConfidenceLevel,
) -> Result<Option<Estimate>> {
    let x = count("numerator", x)?;
    let n = count("denominator", denominator)?;
    let m = count("multiplier", multiplier)?;
    if n == 0.0 {
        return Ok(None);
    }
    let ci = poisson_interval(x, level)?;
    Ok(Some(Estimate::new(
        x / n * m,
        ci.lower / n * m,
        ci.upper / n * m,
    )))
}
