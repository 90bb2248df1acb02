//! The difference of two proportions: Newcombe's hybrid score interval.

use crate::ConfidenceLevel;
use crate::error::Result;
use crate::proportion::wilson_interval;

/// A difference of two proportions `p1 - p2` with its confidence interval and whether the
/// interval excludes 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    /// `p1 - p2`.
    pub estimate: f64,
    /// Lower confidence limit.
    pub lower: f64,
    /// Upper confidence limit.
    pub upper: f64,
    /// Whether the interval excludes 0 (the difference is significant at the level).
    pub significant: bool,
}

/// The difference `x1/n1 - x2/n2` of two independent proportions with Newcombe's (1998)
/// hybrid score interval (his method 10), built from the Wilson intervals `(l1, u1)` and
/// `(l2, u2)` of the two proportions:
///
/// `lower = d - sqrt((p1 - l1)² + (u2 - p2)²)`, `upper = d + sqrt((u1 - p1)² + (p2 - l2)²)`.
///
/// For the change since a baseline pass the current period first:
/// `proportion_difference(x_now, n_now, x_base, n_base, level)`. `None` when either
/// denominator is 0.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, proportion_difference};
///
/// // Newcombe 1998, Table II, example (a): 56/70 - 48/80 = 0.2000 (0.0524 to 0.3339).
/// let d = proportion_difference(56.0, 70.0, 48.0, 80.0, ConfidenceLevel::P95)?.unwrap();
/// assert!((d.estimate - 0.2).abs() < 1e-12);
/// assert!((d.lower - 0.0524).abs() < 5e-5 && (d.upper - 0.3339).abs() < 5e-5);
/// assert!(d.significant);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite count, or a numerator above its denominator.
pub fn proportion_difference(
    x1: f64,
    n1: f64,
    x2: f64,
    n2: f64,
    level: ConfidenceLevel,
) -> Result<Option<Difference>> {
    let ci1 = wilson_interval(x1, n1, level)?;
    let ci2 = wilson_interval(x2, n2, level)?;
    let (Some(ci1), Some(ci2)) = (ci1, ci2) else {
        return Ok(None);
    };
    let p1 = x1 / n1;
    let p2 = x2 / n2;
    let d = p1 - p2;
    let lower = d - ((p1 - ci1.lower).powi(2) + (ci2.upper - p2).powi(2)).sqrt();
    let upper = d + ((ci1.upper - p1).powi(2) + (p2 - ci2.lower).powi(2)).sqrt();
    let lower = lower.clamp(-1.0, 1.0);
    let upper = upper.clamp(-1.0, 1.0);
    Ok(Some(Difference {
        estimate: d,
        lower,
        upper,
        significant: lower > 0.0 || upper < 0.0,
    }))
}
