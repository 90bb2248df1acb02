//! Means with a Student t interval, and ratios of sums.

use crate::error::{Result, count, finite};
use crate::special::t_upper_quantile;
use crate::{ConfidenceLevel, Estimate};

/// The mean `sum / count` with the t-based interval `mean ± t(n-1) · sd / sqrt(n)`, as
/// PHEindicatormethods' `phe_mean`. `sd` is the sample standard deviation (divisor
/// `n - 1`). `None` for fewer than 2 observations (no standard deviation).
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, mean};
///
/// let m = mean(429.6347600000001, 8, 20.97557525770931, ConfidenceLevel::P95)?.unwrap();
/// assert!((m.value - 53.70434500000001).abs() < 1e-12);
/// assert!((m.lower - 36.168325241336504).abs() < 1e-9);
/// assert_eq!(mean(3.0, 1, 0.0, ConfidenceLevel::P95)?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A non-finite sum, or a negative or non-finite standard deviation.
pub fn mean(sum: f64, n: u64, sd: f64, level: ConfidenceLevel) -> Result<Option<Estimate>> {
    let sum = finite("sum", sum)?;
    let sd = count("standard deviation", sd)?;
    if n < 2 {
        return Ok(None);
    }
    let nf = n as f64;
    let value = sum / nf;
    let t = t_upper_quantile(nf - 1.0, level.tail());
    let half = t * sd / nf.sqrt();
    Ok(Some(Estimate::new(value, value - half, value + half)))
}

/// The sample standard deviation from the sum, the sum of squares and the count of the
/// observations: `sqrt((Σx² - (Σx)²/n) / (n - 1))`. `None` for fewer than 2 observations.
///
/// The engine carries `Σx` and `Σx²` because they add up across cells; this recovers the
/// standard deviation at any level. The subtraction loses relative precision of about
/// `ε · (mean / sd)²`, harmless for indicator data (see docs/methodology.md).
///
/// ```
/// use spiegel_stats::sd_from_sums;
///
/// // 2, 4, 4, 4, 5, 5, 7, 9: sample sd sqrt(32 / 7)
/// let sd = sd_from_sums(40.0, 232.0, 8)?.unwrap();
/// assert!((sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-15);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A non-finite sum, or a negative or non-finite sum of squares.
pub fn sd_from_sums(sum: f64, sum_of_squares: f64, n: u64) -> Result<Option<f64>> {
    let sum = finite("sum", sum)?;
    let ss = count("sum of squares", sum_of_squares)?;
    if n < 2 {
        return Ok(None);
    }
    let nf = n as f64;
    // Rounding can leave a tiny negative for constant data.
    let var = ((ss - sum * (sum / nf)) / (nf - 1.0)).max(0.0);
    Ok(Some(var.sqrt()))
}

/// [`mean`] from the sum, the sum of squares and the count (additive aggregates).
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, mean_from_sums};
///
/// let m = mean_from_sums(40.0, 232.0, 8, ConfidenceLevel::P95)?.unwrap();
/// assert_eq!(m.value, 5.0);
/// assert!(m.lower < 5.0 && m.upper > 5.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`sd_from_sums`].
pub fn mean_from_sums(
    sum: f64,
    sum_of_squares: f64,
    n: u64,
    level: ConfidenceLevel,
) -> Result<Option<Estimate>> {
    match sd_from_sums(sum, sum_of_squares, n)? {
        Some(sd) => mean(sum, n, sd, level),
        None => Ok(None),
    }
}

/// The ratio of two sums, `numerator / denominator` (e.g. total bed-days over total
/// admissions). Value only: the interval of a ratio of two random sums needs their
/// covariance, which aggregated cells do not carry (see docs/methodology.md). `None` when the
/// denominator is 0.
///
/// ```
/// use spiegel_stats::ratio_of_sums;
///
/// assert_eq!(ratio_of_sums(30.0, 12.0)?, Some(2.5));
/// assert_eq!(ratio_of_sums(30.0, 0.0)?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A non-finite input.
pub fn ratio_of_sums(numerator: f64, denominator: f64) -> Result<Option<f64>> {
    let x = finite("numerator", numerator)?;
    let n = finite("denominator", denominator)?;
    Ok((n != 0.0).then(|| x / n))
}
