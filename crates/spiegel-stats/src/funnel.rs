//! Funnel-plot control limits (Spiegelhalter 2005) and the significance of points.

use crate::error::{Result, count, proportion_parts};
use crate::poisson::poisson_interval;
use crate::special::{gamma_quantile, poisson_cdf_continuous, poisson_sf_continuous, solve_shape};
use crate::{ConfidenceLevel, Interval};

/// Control limits for a proportion around a `target` (e.g. the national proportion) for a
/// unit with `denominator` cases: `target ± z · sqrt(target (1 - target) / n)`, clipped to
/// [0, 1].
///
/// These are exactly the limits of PHEindicatormethods' funnels for proportions (its
/// `sigma_adjustment` solves for the observed proportion whose Wilson score interval just
/// touches the target, which is this score-test boundary). `None` when the denominator is 0.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, funnel_proportion};
///
/// let l = funnel_proportion(0.80642448, 18.0, ConfidenceLevel::P95)?.unwrap();
/// assert!((l.lower * 100.0 - 62.390093).abs() < 5e-7);
/// assert!((l.upper * 100.0 - 98.894803).abs() < 5e-7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A target outside [0, 1] (as a numerator above its denominator) or a negative denominator.
pub fn funnel_proportion(
    target: f64,
    denominator: f64,
    level: ConfidenceLevel,
) -> Result<Option<Interval>> {
    let (t, _) = proportion_parts(target, 1.0)?;
    let n = count("denominator", denominator)?;
    if n == 0.0 {
        return Ok(None);
    }
    let half = level.z() * (t * (1.0 - t) / n).sqrt();
    Ok(Some(Interval::new(
        (t - half).clamp(0.0, 1.0),
        (t + half).clamp(0.0, 1.0),
    )))
}

/// Exact Poisson control limits for the ratio observed / expected around a target ratio of
/// 1, for a unit with `expected` events (Spiegelhalter 2005, section 3.2; PHE funnels for
/// ratios and rates). `None` when `expected` is 0.
///
/// The limits are `O_lo / E` and `O_hi / E`, with the count limits the continuous solutions
/// of `P(X <= O_lo | E) = α/2` and `P(X >= O_hi | E) = α/2` through the incomplete gamma
/// function: the smooth curve through the points of [`poisson_funnel_expected`], so that a
/// unit with an integer count `O` sits exactly on a limit where `E` is that function's value.
/// For a rate with national value `r` and a unit's denominator `n`, use `E = r n` and
/// multiply the limits by `r` ([`funnel_rate`]).
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, funnel_poisson};
///
/// let l = funnel_poisson(100.0, ConfidenceLevel::P95)?.unwrap();
/// assert!(l.lower < 1.0 && 1.0 < l.upper);
/// assert!((l.lower - 0.81).abs() < 0.01 && (l.upper - 1.20).abs() < 0.01);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite expected count.
pub fn funnel_poisson(expected: f64, level: ConfidenceLevel) -> Result<Option<Interval>> {
    let e = count("expected", expected)?;
    if e == 0.0 {
        return Ok(None);
    }
    let tail = level.tail();
    // Lower count limit: P(X <= O | E) = tail, increasing in O.
    let lower = if poisson_cdf_continuous(0.0, e) >= tail {
        0.0
    } else {
        solve_shape(|a| poisson_cdf_continuous(a - 1.0, e) - tail, e + 1.0) - 1.0
    };
    // Upper count limit: P(X >= O | E) = tail, decreasing in O.
    let upper = solve_shape(|o| tail - poisson_sf_continuous(o, e), e + 1.0);
    Ok(Some(Interval::new(lower.max(0.0) / e, upper / e)))
}

/// Exact Poisson control limits for a rate around a national `target_rate` (per unit of
/// denominator, without multiplier) for a unit with `denominator` person-years: the
/// [`funnel_poisson`] limits at `E = target_rate × denominator`, times the target rate.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, funnel_rate};
///
/// let l = funnel_rate(0.01, 10_000.0, ConfidenceLevel::P998)?.unwrap();
/// assert!(l.lower < 0.01 && 0.01 < l.upper);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite rate or denominator.
pub fn funnel_rate(
    target_rate: f64,
    denominator: f64,
    level: ConfidenceLevel,
) -> Result<Option<Interval>> {
    let r = count("target rate", target_rate)?;
    let n = count("denominator", denominator)?;
    Ok(funnel_poisson(r * n, level)?.map(|l| l.scaled(r)))
}

/// Which control limit a point of a Poisson funnel is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FunnelSide {
    /// The lower limit (the unit has fewer events than expected).
    Lower,
    /// The upper limit (the unit has more events than expected).
    Upper,
}

/// The expected count at which `observed` events lie exactly on a Poisson funnel limit: the
/// points PHEindicatormethods tabulates for funnels of ratios and rates (its
/// `poisson_funnel`), computed here exactly rather than by bisection.
///
/// For the lower limit this is the exact (Garwood) *upper* confidence limit of `observed`
/// (`P(X <= O | E) = α/2`); for the upper limit the exact *lower* confidence limit
/// (`P(X >= O | E) = α/2`), which does not exist for 0 events (`None`). The ratio on the
/// limit is `observed / expected`; for a rate funnel the population is `expected / rate`.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, FunnelSide, poisson_funnel_expected};
///
/// let e = poisson_funnel_expected(1.0, ConfidenceLevel::P95, FunnelSide::Lower)?.unwrap();
/// assert!((e - 5.571643390938898).abs() < 1e-12);
/// let e = poisson_funnel_expected(1.0, ConfidenceLevel::P95, FunnelSide::Upper)?.unwrap();
/// assert!((e - 0.025317807984289897).abs() < 1e-15);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite count.
pub fn poisson_funnel_expected(
    observed: f64,
    level: ConfidenceLevel,
    side: FunnelSide,
) -> Result<Option<f64>> {
    let o = count("observed", observed)?;
    let tail = level.tail();
    Ok(match side {
        FunnelSide::Lower => Some(gamma_quantile(o + 1.0, 1.0 - tail, tail)),
        FunnelSide::Upper if o == 0.0 => None,
        FunnelSide::Upper => Some(gamma_quantile(o, tail, 1.0 - tail)),
    })
}

/// Where a point lies on a funnel plot with 95% and 99.8% limits: the labels of
/// PHEindicatormethods' `assign_funnel_significance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FunnelSignificance {
    /// Above the 99.8% upper limit.
    High001,
    /// Above the 95% but not the 99.8% upper limit.
    High025,
    /// Below the 99.8% lower limit.
    Low001,
    /// Below the 95% but not the 99.8% lower limit.
    Low025,
    /// Within the 95% limits.
    NotSignificant,
    /// Not assessed: a directly standardised rate with fewer than 10 events.
    NotApplicable,
}

impl FunnelSignificance {
    /// The label PHEindicatormethods prints, e.g. "High (0.001)".
    ///
    /// ```
    /// use spiegel_stats::FunnelSignificance;
    ///
    /// assert_eq!(FunnelSignificance::Low025.label(), "Low (0.025)");
    /// ```
    pub fn label(self) -> &'static str {
        match self {
            Self::High001 => "High (0.001)",
            Self::High025 => "High (0.025)",
            Self::Low001 => "Low (0.001)",
            Self::Low025 => "Low (0.025)",
            Self::NotSignificant => "Not significant",
            Self::NotApplicable => "Not applicable for events less than 10 for dsrs",
        }
    }
}

impl std::fmt::Display for FunnelSignificance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

fn classify(
    value: f64,
    outer: Interval,
    inner: Interval,
    below_is_low: bool,
) -> FunnelSignificance {
    // `value` against limits: for proportions the observed value against limits around the
    // target; for Poisson points the target against the interval of the observed value
    // (so "target below the interval" means the unit is high).
    use FunnelSignificance::*;
    if below_is_low {
        if value < outer.lower {
            Low001
        } else if value < inner.lower {
            Low025
        } else if value > outer.upper {
            High001
        } else if value > inner.upper {
            High025
        } else {
            NotSignificant
        }
    } else if value < outer.lower {
        High001
    } else if value < inner.lower {
        High025
    } else if value > outer.upper {
        Low001
    } else if value > inner.upper {
        Low025
    } else {
        NotSignificant
    }
}

/// The funnel significance of a proportion `numerator / denominator` against the 95% and
/// 99.8% [`funnel_proportion`] limits around `target` (for PHE's funnels, the pooled
/// proportion of all units). `None` when the denominator is 0.
///
/// ```
/// use spiegel_stats::{FunnelSignificance, funnel_significance_proportion};
///
/// let s = funnel_significance_proportion(90.0, 100.0, 0.8)?;
/// assert_eq!(s, Some(FunnelSignificance::High025));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative count, a numerator above its denominator, or a target outside [0, 1].
pub fn funnel_significance_proportion(
    numerator: f64,
    denominator: f64,
    target: f64,
) -> Result<Option<FunnelSignificance>> {
    let (x, n) = proportion_parts(numerator, denominator)?;
    let outer = funnel_proportion(target, n, ConfidenceLevel::P998)?;
    let inner = funnel_proportion(target, n, ConfidenceLevel::P95)?;
    Ok(match (outer, inner) {
        (Some(outer), Some(inner)) => Some(classify(x / n, outer, inner, true)),
        _ => None,
    })
}

/// The funnel significance of a Poisson count: the target ratio or rate (per unit of
/// `denominator`) against the 95% and 99.8% [`poisson_interval`]s of `observed /
/// denominator`, as `assign_funnel_significance` for ratios (`denominator` = expected count,
/// target 1) and rates (denominator = population, target = the pooled rate). `None` when the
/// denominator is 0.
///
/// For directly standardised rates PHE labels units with fewer than 10 events
/// [`FunnelSignificance::NotApplicable`]; the caller applies that rule.
///
/// ```
/// use spiegel_stats::{FunnelSignificance, funnel_significance_poisson};
///
/// assert_eq!(funnel_significance_poisson(151.0, 106.4429719, 1.0)?, Some(FunnelSignificance::High001));
/// assert_eq!(funnel_significance_poisson(0.0, 240.6273499, 1.0)?, Some(FunnelSignificance::Low001));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A negative or non-finite count, denominator or target.
pub fn funnel_significance_poisson(
    observed: f64,
    denominator: f64,
    target: f64,
) -> Result<Option<FunnelSignificance>> {
    let o = count("observed", observed)?;
    let n = count("denominator", denominator)?;
    let t = count("target", target)?;
    if n == 0.0 {
        return Ok(None);
    }
    let per = |ci: Interval| Interval::new(ci.lower / n, ci.upper / n);
    let outer = per(poisson_interval(o, ConfidenceLevel::P998)?);
    let inner = per(poisson_interval(o, ConfidenceLevel::P95)?);
    Ok(Some(classify(t, outer, inner, false)))
}
