//! Point estimates with confidence intervals.

/// A confidence interval (or a pair of control limits): `lower <= upper`, both finite.
///
/// ```
/// use spiegel_stats::Interval;
///
/// let ci = Interval::new(0.2, 0.4);
/// assert!(ci.contains(0.3) && !ci.contains(0.5));
/// assert!((ci.width() - 0.2).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower limit.
    pub lower: f64,
    /// Upper limit.
    pub upper: f64,
}

impl Interval {
    /// An interval from its limits.
    pub fn new(lower: f64, upper: f64) -> Self {
        Self { lower, upper }
    }

    /// Whether `value` lies within the closed interval.
    pub fn contains(&self, value: f64) -> bool {
        self.lower <= value && value <= self.upper
    }

    /// `upper - lower`.
    pub fn width(&self) -> f64 {
        self.upper - self.lower
    }

    /// Both limits multiplied by `multiplier` (e.g. 100 for a percentage).
    pub fn scaled(self, multiplier: f64) -> Self {
        Self::new(self.lower * multiplier, self.upper * multiplier)
    }
}

/// A point estimate with its confidence interval.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, proportion};
///
/// let p = proportion(65.0, 100.0, ConfidenceLevel::P95)?.expect("denominator is not 0");
/// let pct = p.scaled(100.0);
/// assert_eq!(pct.value, 65.0);
/// assert!(pct.interval().contains(65.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Lower confidence limit.
    pub lower: f64,
    /// Upper confidence limit.
    pub upper: f64,
}

impl Estimate {
    /// An estimate from its value and limits.
    pub fn new(value: f64, lower: f64, upper: f64) -> Self {
        Self {
            value,
            lower,
            upper,
        }
    }

    /// The confidence interval alone.
    pub fn interval(&self) -> Interval {
        Interval::new(self.lower, self.upper)
    }

    /// Value and limits multiplied by `multiplier` (e.g. 100 for a percentage, 100,000 for a
    /// rate per 100,000).
    pub fn scaled(self, multiplier: f64) -> Self {
        Self::new(
            self.value * multiplier,
            self.lower * multiplier,
            self.upper * multiplier,
        )
    }
}
