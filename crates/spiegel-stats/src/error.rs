//! The error type of `spiegel-stats`.

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a statistic could not be computed from its inputs.
///
/// A denominator of zero is *not* an error: the functions answer `None` for it (a figure
/// that does not exist). Errors are inputs that no count can have: a negative count, a
/// numerator above its denominator, a value that is not finite, a confidence level outside
/// (0, 1), or vectors of different lengths.
///
/// ```
/// use spiegel_stats::{ConfidenceLevel, Error, wilson_interval};
///
/// let err = wilson_interval(12.0, 10.0, ConfidenceLevel::P95).unwrap_err();
/// assert!(matches!(err, Error::NumeratorAboveDenominator { numerator, denominator }
///     if numerator == 12.0 && denominator == 10.0));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A count, population or other quantity that must not be negative is.
    #[error("{quantity} must not be negative, got {value}")]
    Negative {
        /// What the value is (e.g. "numerator", "population").
        quantity: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A quantity that must be greater than zero is zero or negative (e.g. a population of
    /// an age band in a directly standardised rate).
    #[error("{quantity} must be greater than zero, got {value}")]
    NotPositive {
        /// What the value is.
        quantity: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A value is NaN or infinite.
    #[error("{quantity} must be finite, got {value}")]
    NotFinite {
        /// What the value is.
        quantity: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A proportion's numerator is greater than its denominator.
    #[error("numerator {numerator} is greater than denominator {denominator}")]
    NumeratorAboveDenominator {
        /// The numerator.
        numerator: f64,
        /// The denominator.
        denominator: f64,
    },
    /// A confidence level outside the open interval (0, 1).
    #[error("confidence level must lie strictly between 0 and 1, got {level}")]
    ConfidenceLevel {
        /// The offending level.
        level: f64,
    },
    /// Two slices that must have one entry per category (e.g. age band) differ in length.
    #[error("{quantity} has {found} entries, expected {expected}")]
    LengthMismatch {
        /// Which input has the wrong length.
        quantity: &'static str,
        /// The length it should have.
        expected: usize,
        /// The length it has.
        found: usize,
    },
    /// An input that needs at least one entry is empty, or sums to zero where a positive
    /// total is needed (e.g. a standard population).
    #[error("{quantity} is empty or sums to zero")]
    Empty {
        /// Which input.
        quantity: &'static str,
    },
    /// A part is larger than the whole it belongs to (e.g. a region's count above the
    /// nation's).
    #[error("{quantity}: part {part} is greater than whole {whole}")]
    PartAboveWhole {
        /// Which quantity.
        quantity: &'static str,
        /// The part (region).
        part: f64,
        /// The whole (nation).
        whole: f64,
    },
    /// A baseline range that does not lie within the series.
    #[error("baseline {start}..{end} does not lie within a series of {len} periods")]
    Baseline {
        /// First period of the baseline (inclusive).
        start: usize,
        /// End of the baseline (exclusive).
        end: usize,
        /// Number of periods in the series.
        len: usize,
    },
}

pub(crate) fn finite(quantity: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NotFinite { quantity, value })
    }
}

/// A finite, non-negative value.
pub(crate) fn count(quantity: &'static str, value: f64) -> Result<f64> {
    finite(quantity, value)?;
    if value < 0.0 {
        Err(Error::Negative { quantity, value })
    } else {
        Ok(value)
    }
}

/// A finite value greater than zero.
pub(crate) fn positive(quantity: &'static str, value: f64) -> Result<f64> {
    finite(quantity, value)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(Error::NotPositive { quantity, value })
    }
}

/// Numerator and denominator of a proportion: both counts, numerator at most denominator.
pub(crate) fn proportion_parts(numerator: f64, denominator: f64) -> Result<(f64, f64)> {
    let x = count("numerator", numerator)?;
    let n = count("denominator", denominator)?;
    if x > n {
        return Err(Error::NumeratorAboveDenominator {
            numerator,
            denominator,
        });
    }
    Ok((x, n))
}

pub(crate) fn same_len(quantity: &'static str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            quantity,
            expected,
            found,
        })
    }
}
