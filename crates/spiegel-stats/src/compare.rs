//! Comparison of a unit with the national value, polarity aware.

use crate::change::proportion_difference;
use crate::error::{Error, Result, proportion_parts};
use crate::{ConfidenceLevel, Interval};

/// The improvement direction of an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Polarity {
    /// A higher value is better (e.g. dying at home when that is the wish).
    HigherIsBetter,
    /// A lower value is better (e.g. ICU admissions in the last month of life).
    LowerIsBetter,
    /// No judgement: report higher / lower only.
    NoJudgement,
}

/// The outcome of comparing a unit with the national value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Comparison {
    /// Significantly better than the nation.
    Better,
    /// Not significantly different.
    Similar,
    /// Significantly worse than the nation.
    Worse,
    /// Significantly higher (indicator without direction).
    Higher,
    /// Significantly lower (indicator without direction).
    Lower,
    /// Not compared: no value, no interval, or no national value (e.g. suppressed cells or a
    /// denominator of 0).
    NotCompared,
}

impl Comparison {
    /// The snake_case name used in the results table (`better`, `similar`, `worse`,
    /// `higher`, `lower`, `not_compared`).
    ///
    /// ```
    /// use spiegel_stats::Comparison;
    ///
    /// assert_eq!(Comparison::NotCompared.as_str(), "not_compared");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Better => "better",
            Self::Similar => "similar",
            Self::Worse => "worse",
            Self::Higher => "higher",
            Self::Lower => "lower",
            Self::NotCompared => "not_compared",
        }
    }

    fn from_direction(above: bool, polarity: Polarity) -> Self {
        match (polarity, above) {
            (Polarity::HigherIsBetter, true) | (Polarity::LowerIsBetter, false) => Self::Better,
            (Polarity::HigherIsBetter, false) | (Polarity::LowerIsBetter, true) => Self::Worse,
            (Polarity::NoJudgement, true) => Self::Higher,
            (Polarity::NoJudgement, false) => Self::Lower,
        }
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Fingertips convention: a unit is significantly higher when the lower limit of its
/// confidence interval lies above the national value, lower when the upper limit lies below
/// it, and similar otherwise (an interval that touches the national value is similar).
/// [`Comparison::NotCompared`] when the interval or the national value is missing or not
/// finite.
///
/// ```
/// use spiegel_stats::{Comparison, Interval, Polarity, compare_interval};
///
/// let ci = Interval::new(0.31, 0.37);
/// assert_eq!(compare_interval(Some(ci), Some(0.30), Polarity::LowerIsBetter), Comparison::Worse);
/// assert_eq!(compare_interval(Some(ci), Some(0.30), Polarity::NoJudgement), Comparison::Higher);
/// assert_eq!(compare_interval(Some(ci), Some(0.33), Polarity::LowerIsBetter), Comparison::Similar);
/// assert_eq!(compare_interval(None, Some(0.33), Polarity::LowerIsBetter), Comparison::NotCompared);
/// ```
pub fn compare_interval(
    interval: Option<Interval>,
    national: Option<f64>,
    polarity: Polarity,
) -> Comparison {
    let (Some(ci), Some(nat)) = (interval, national) else {
        return Comparison::NotCompared;
    };
    if !(ci.lower.is_finite() && ci.upper.is_finite() && nat.is_finite()) {
        return Comparison::NotCompared;
    }
    if ci.lower > nat {
        Comparison::from_direction(true, polarity)
    } else if ci.upper < nat {
        Comparison::from_direction(false, polarity)
    } else {
        Comparison::Similar
    }
}

/// A region against the rest of the country, for proportions: the region is part of the
/// nation, so it is compared with the nation *minus* the region, by the Newcombe hybrid score
/// interval of `p_region - p_rest` ([`proportion_difference`]); significant when it excludes
/// 0. [`Comparison::NotCompared`] when the region's or the rest's denominator is 0.
///
/// ```
/// use spiegel_stats::{Comparison, ConfidenceLevel, Polarity, compare_with_rest};
///
/// // 300/1000 in the region, 30,000/100,000 nationally: the rest is 29,700/99,000.
/// let c = compare_with_rest(300.0, 1000.0, 30_000.0, 100_000.0, ConfidenceLevel::P95,
///     Polarity::LowerIsBetter)?;
/// assert_eq!(c, Comparison::Similar);
/// let c = compare_with_rest(380.0, 1000.0, 30_000.0, 100_000.0, ConfidenceLevel::P95,
///     Polarity::LowerIsBetter)?;
/// assert_eq!(c, Comparison::Worse);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Negative counts, a numerator above its denominator, or a region count above the
/// nation's ([`Error::PartAboveWhole`]).
pub fn compare_with_rest(
    region_numerator: f64,
    region_denominator: f64,
    national_numerator: f64,
    national_denominator: f64,
    level: ConfidenceLevel,
    polarity: Polarity,
) -> Result<Comparison> {
    let (rx, rn) = proportion_parts(region_numerator, region_denominator)?;
    let (nx, nn) = proportion_parts(national_numerator, national_denominator)?;
    if rx > nx {
        return Err(Error::PartAboveWhole {
            quantity: "numerator",
            part: rx,
            whole: nx,
        });
    }
    if rn > nn {
        return Err(Error::PartAboveWhole {
            quantity: "denominator",
            part: rn,
            whole: nn,
        });
    }
    let (ox, on) = (nx - rx, nn - rn);
    if ox > on {
        // The rest's numerator exceeds its denominator: inconsistent inputs.
        return Err(Error::NumeratorAboveDenominator {
            numerator: ox,
            denominator: on,
        });
    }
    Ok(match proportion_difference(rx, rn, ox, on, level)? {
        None => Comparison::NotCompared,
        Some(d) if d.lower > 0.0 => Comparison::from_direction(true, polarity),
        Some(d) if d.upper < 0.0 => Comparison::from_direction(false, polarity),
        Some(_) => Comparison::Similar,
    })
}
