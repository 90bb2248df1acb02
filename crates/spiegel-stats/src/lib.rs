//! Statistics for mirror information: every figure with its uncertainty, set against the
//! nation and the baseline.
//!
//! Pure functions over counts (no DataFusion, no Arrow), matching PHEindicatormethods, the
//! reference implementation behind England's public-health profiles (Fingertips), on its own
//! test vectors (see `tests/stats.rs` and `docs/methodology.md`).
//!
//! ```
//! use spiegel_stats::{ConfidenceLevel, Comparison, Polarity, compare_interval, proportion};
//!
//! // A region: 380 of 1,000 decedents admitted to hospital in their last month; nation 32%.
//! let p = proportion(380.0, 1000.0, ConfidenceLevel::P95)?.expect("denominator is not 0");
//! assert!(p.lower > 0.32);
//! let c = compare_interval(Some(p.interval()), Some(0.32), Polarity::LowerIsBetter);
//! assert_eq!(c, Comparison::Worse);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Conventions:
//!
//! - Counts are `f64` (weighted or fractional counts are allowed); negative or non-finite
//!   counts, and numerators above their denominators for proportions, are [`Error`]s.
//! - A denominator of 0 gives `Ok(None)`: the figure does not exist. Nothing returns NaN.
//! - The confidence level is a [`ConfidenceLevel`] in (0, 1); 95% and 99.8% are constants.
//! - Values are fractions of 1 (proportions) or per unit (rates) unless a function takes a
//!   multiplier; [`Estimate::scaled`] converts.
//!
//! | question | functions |
//! |---|---|
//! | how sure is this figure? | [`proportion`] (Wilson), [`rate`] and [`poisson_interval`] (exact / Byar), [`mean`], [`mean_from_sums`], [`ratio_of_sums`], [`dsr`] (Dobson), [`isr`], [`isr_rate`] |
//! | is it different from the country? | [`compare_interval`], [`compare_with_rest`], [`funnel_proportion`], [`funnel_poisson`], [`funnel_rate`], [`funnel_significance_proportion`], [`funnel_significance_poisson`] |
//! | has it changed since the baseline? | [`proportion_difference`] (Newcombe), [`laney_p_chart`], [`spc_signals`] |

#![deny(missing_docs)]

mod change;
mod compare;
mod error;
mod estimate;
mod funnel;
mod level;
mod mean;
mod poisson;
mod proportion;
mod spc;
mod special;
mod standardise;

pub use change::{Difference, proportion_difference};
pub use compare::{Comparison, Polarity, compare_interval, compare_with_rest};
pub use error::{Error, Result};
pub use estimate::{Estimate, Interval};
pub use funnel::{
    FunnelSide, FunnelSignificance, funnel_poisson, funnel_proportion, funnel_rate,
    funnel_significance_poisson, funnel_significance_proportion, poisson_funnel_expected,
};
pub use level::ConfidenceLevel;
pub use mean::{mean, mean_from_sums, ratio_of_sums, sd_from_sums};
pub use poisson::{
    EXACT_BELOW, byar_lower, byar_upper, exact_poisson_interval, poisson_interval, rate,
};
pub use proportion::{proportion, wilson_interval};
pub use spc::{
    D2, LIMIT_SIGMAS, LaneyChart, LaneyPoint, RUN_LENGTH, SpcSignals, TREND_LENGTH, laney_p_chart,
    spc_signals,
};
pub use standardise::{
    DSR_MIN_COUNT, ESP2013, ESP2013_BANDS, EventFrequency, StandardPopulation, dsr,
    dsr_non_independent, expected_count, isr, isr_rate, reference_rate,
};
