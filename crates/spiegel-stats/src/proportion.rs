//! Proportions with the Wilson score interval.

use crate::error::{Result, proportion_parts};
use crate::{ConfidenceLevel, Estimate, Interval};

/// The Wilson score interval for `numerator` events out of `denominator` (Wilson 1927), as
/// PHEindicatormethods' `wilson_lower` / `wilson_upper`:
///
/// `(2x + z² ∓ z·sqrt(z² + 4x(1 - x/n))) / (2(n + z²))`.
///
/// Counts may be fractional (weighted data). `None` when the denominator is 0.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, wilson_interval};
///
/// let ci = wilson_interval(65.0, 100.0, ConfidenceLevel::P95)?.unwrap();
/// assert!((ci.lower - 0.5525444329688797).abs() < 1e-15);
/// assert!((ci.upper - 0.7363575175690247).abs() < 1e-15);
/// assert_eq!(wilson_interval(0.0, 0.0, ConfidenceLevel::P95)?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite count, or a numerator above the denominator.
pub fn wilson_interval(
    numerator: f64,
    denominator: f64,
    level: ConfidenceLevel,
) -> Result<Option<Interval>> {
    let (x, n) = proportion_parts(numerator, denominator)?;
    if n == 0.0 {
        return Ok(None);
    }
    let z = level.z();
    let z2 = z * z;
    let centre = 2.0 * x + z2;
    let half = z * (z2 + 4.0 * x * (1.0 - x / n)).max(0.0).sqrt();
    let scale = 2.0 * (n + z2);
    let lower = ((centre - half) / scale).clamp(0.0, 1.0);
    let upper = ((centre + half) / scale).clamp(0.0, 1.0);
    Ok(Some(Interval::new(lower, upper)))
}

/// A proportion (as a fraction of 1) with its Wilson score interval, as PHEindicatormethods'
/// `phe_proportion` with `multiplier = 1`; use [`Estimate::scaled`] for a percentage.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, proportion};
///
/// let p = proportion(9856.0, 12345.0, ConfidenceLevel::P998)?.unwrap();
/// assert!((p.lower - 0.7869924108419063).abs() < 1e-12);
/// assert_eq!(proportion(0.0, 0.0, ConfidenceLevel::P95)?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`wilson_interval`].
pub fn proportion(
    numerator: f64,
    denominator: f64,
    level: ConfidenceLevel,
) -> Result<Option<Estimate>> {
    Ok(wilson_interval(numerator, denominator, level)?
        .map(|ci| Estimate::new(numerator / denominator, ci.lower, ci.upper)))
}
