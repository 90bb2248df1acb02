//! Confidence levels.

use crate::error::{Error, Result};
use crate::special;

/// A two-sided confidence level in the open interval (0, 1), e.g. 0.95 or 0.998.
///
/// Every interval function takes one; validate once with [`ConfidenceLevel::new`] or use
/// the constants of the two levels public-health profiles publish together.
///
/// ```
/// use spiegel_stats::ConfidenceLevel;
///
/// let level = ConfidenceLevel::new(0.95)?;
/// assert_eq!(level, ConfidenceLevel::P95);
/// assert!((level.z() - 1.959963984540054).abs() < 1e-15);
/// assert!(ConfidenceLevel::new(95.0).is_err()); // a fraction, not a percentage
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct ConfidenceLevel(f64);

impl ConfidenceLevel {
    /// 95%: about two standard errors (the "2 sigma" funnel limits).
    pub const P95: Self = Self(0.95);
    /// 99.8%: about three standard errors (the "3 sigma" funnel limits).
    pub const P998: Self = Self(0.998);

    /// A level strictly between 0 and 1.
    ///
    /// # Errors
    ///
    /// [`Error::ConfidenceLevel`] when `level` is not finite or not in (0, 1).
    pub fn new(level: f64) -> Result<Self> {
        if level.is_finite() && level > 0.0 && level < 1.0 {
            Ok(Self(level))
        } else {
            Err(Error::ConfidenceLevel { level })
        }
    }

    /// The level as a fraction, e.g. 0.95.
    pub fn get(self) -> f64 {
        self.0
    }

    /// The probability in each tail, (1 - level) / 2, computed as R computes
    /// `1 - (level + (1 - level) / 2)` so that quantiles agree with the reference
    /// implementation to the last bits.
    pub fn tail(self) -> f64 {
        1.0 - (self.0 + (1.0 - self.0) / 2.0)
    }

    /// The standard normal quantile of the upper tail: `qnorm(level + (1 - level) / 2)`.
    pub fn z(self) -> f64 {
        special::normal_upper_quantile(self.tail())
    }
}

impl TryFrom<f64> for ConfidenceLevel {
    type Error = Error;

    fn try_from(level: f64) -> Result<Self> {
        Self::new(level)
    }
}
