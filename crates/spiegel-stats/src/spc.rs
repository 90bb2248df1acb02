//! Statistical process control: Laney's P'-chart and the special-cause rules.

use std::ops::Range;

use crate::Interval;
use crate::error::{Error, Result, proportion_parts, same_len};

/// Points in a row on one side of the centre line that signal a shift.
pub const RUN_LENGTH: usize = 7;
/// Points in a row, each higher (or each lower) than the one before, that signal a trend.
pub const TREND_LENGTH: usize = 7;
/// Laney's constant d2 for moving ranges of two points (`MR̄ / 1.128` estimates sigma).
pub const D2: f64 = 1.128;
/// Control limits at three (adjusted) standard errors.
pub const LIMIT_SIGMAS: f64 = 3.0;

/// Which special-cause rules a point triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpcSignals {
    /// The point lies outside its control limits.
    pub outside_limits: bool,
    /// The point belongs to a run of [`RUN_LENGTH`] or more points on the same side of the
    /// centre line.
    pub run: bool,
    /// The point belongs to [`TREND_LENGTH`] or more points in a row, each strictly higher
    /// (or each strictly lower) than the one before.
    pub trend: bool,
}

impl SpcSignals {
    /// Whether any rule fired.
    pub fn any(&self) -> bool {
        self.outside_limits || self.run || self.trend
    }
}

/// One period of a P'-chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LaneyPoint {
    /// The proportion, `None` when the denominator is 0.
    pub value: Option<f64>,
    /// The control limits for this period's denominator, `None` when it is 0.
    pub limits: Option<Interval>,
    /// The special-cause signals of this point.
    pub signals: SpcSignals,
}

/// A Laney P'-chart over a series of periods.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneyChart {
    /// The centre line: the pooled proportion of the baseline periods.
    pub centre: f64,
    /// Laney's between-period inflation factor `σ_z` (1 for pure binomial variation).
    pub sigma_z: f64,
    /// One point per period, in order.
    pub points: Vec<LaneyPoint>,
}

/// A Laney (2002) P'-chart: centre line, limits per period and special-cause signals for a
/// series of proportions `x_i / n_i`, with the centre line and the between-period variation
/// fixed on the `baseline` periods (indices into the series):
///
/// - `p̄ = Σ x / Σ n` over the baseline; `σ_i = sqrt(p̄ (1 - p̄) / n_i)`;
/// - `z_i = (p_i - p̄) / σ_i`, `σ_z = MR̄ / 1.128` with `MR̄` the mean moving range of the
///   baseline `z_i`;
/// - limits `p̄ ± 3 σ_i σ_z`, clipped to [0, 1].
///
/// Signals: outside the limits, a run of 7 on one side of the centre line, a trend of 7
/// (see [`spc_signals`]). `None` when the baseline has fewer than two periods with a
/// denominator, or its pooled proportion is 0 or 1 (no variation to chart).
///
/// ```
/// use spiegel_stats::laney_p_chart;
///
/// let x = [10.0, 20.0, 10.0, 20.0, 60.0];
/// let n = [100.0; 5];
/// let chart = laney_p_chart(&x, &n, 0..4)?.unwrap();
/// assert!((chart.centre - 0.15).abs() < 1e-15);
/// assert!(chart.points[4].signals.outside_limits);
/// assert!(!chart.points[0].signals.any());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Negative counts, a numerator above its denominator, slices of different lengths, or a
/// baseline that is empty or runs past the series.
pub fn laney_p_chart(
    numerators: &[f64],
    denominators: &[f64],
    baseline: Range<usize>,
) -> Result<Option<LaneyChart>> {
    same_len("denominators", numerators.len(), denominators.len())?;
    let len = numerators.len();
    if baseline.start >= baseline.end || baseline.end > len {
        return Err(Error::Baseline {
            start: baseline.start,
            end: baseline.end,
            len,
        });
    }
    let mut values = Vec::with_capacity(len);
    for (&x, &n) in numerators.iter().zip(denominators) {
        let (x, n) = proportion_parts(x, n)?;
        values.push((n > 0.0).then(|| x / n));
    }
    let (bx, bn) = baseline.clone().fold((0.0, 0.0), |(sx, sn), i| {
        (sx + numerators[i], sn + denominators[i])
    });
    if bn == 0.0 {
        return Ok(None);
    }
    let centre = bx / bn;
    if centre <= 0.0 || centre >= 1.0 {
        return Ok(None);
    }
    let sigma = |n: f64| (centre * (1.0 - centre) / n).sqrt();
    let z: Vec<f64> = baseline
        .clone()
        .filter_map(|i| values[i].map(|p| (p - centre) / sigma(denominators[i])))
        .collect();
    if z.len() < 2 {
        return Ok(None);
    }
    let mr: f64 = z.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (z.len() - 1) as f64;
    let sigma_z = mr / D2;
    let limits: Vec<Option<Interval>> = denominators
        .iter()
        .map(|&n| {
            (n > 0.0).then(|| {
                let half = LIMIT_SIGMAS * sigma(n) * sigma_z;
                Interval::new((centre - half).max(0.0), (centre + half).min(1.0))
            })
        })
        .collect();
    let signals = spc_signals(&values, centre, &limits)?;
    let points = values
        .iter()
        .zip(&limits)
        .zip(signals)
        .map(|((&value, &limits), signals)| LaneyPoint {
            value,
            limits,
            signals,
        })
        .collect();
    Ok(Some(LaneyChart {
        centre,
        sigma_z,
        points,
    }))
}

/// The special-cause rules over a series of values with a centre line and per-point limits:
///
/// - *outside limits*: the value is above its upper or below its lower limit;
/// - *run*: the value belongs to [`RUN_LENGTH`] (7) or more consecutive values strictly on
///   the same side of the centre line (a value on the line ends a run);
/// - *trend*: the value belongs to [`TREND_LENGTH`] (7) or more consecutive values each
///   strictly above (or each strictly below) the one before (a tie ends a trend).
///
/// A missing value (`None`) gets no signal and breaks runs and trends. Every point of a run
/// or trend is flagged, not only the seventh.
///
/// ```
/// use spiegel_stats::spc_signals;
///
/// let v: Vec<Option<f64>> = (1..=7).map(|i| Some(i as f64)).collect();
/// let s = spc_signals(&v, 4.0, &vec![None; 7])?;
/// assert!(s.iter().all(|s| s.trend && !s.run));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Limits of another length than the values.
pub fn spc_signals(
    values: &[Option<f64>],
    centre: f64,
    limits: &[Option<Interval>],
) -> Result<Vec<SpcSignals>> {
    same_len("limits", values.len(), limits.len())?;
    let mut out = vec![SpcSignals::default(); values.len()];
    for ((s, v), l) in out.iter_mut().zip(values).zip(limits) {
        if let (Some(v), Some(l)) = (v, l) {
            s.outside_limits = *v < l.lower || *v > l.upper;
        }
    }
    // Runs: maximal stretches with the same nonzero side.
    let side = |v: &Option<f64>| match v {
        Some(v) if *v > centre => 1i8,
        Some(v) if *v < centre => -1,
        _ => 0,
    };
    let mut start = 0;
    while start < values.len() {
        let s = side(&values[start]);
        let mut end = start + 1;
        while end < values.len() && s != 0 && side(&values[end]) == s {
            end += 1;
        }
        if s != 0 && end - start >= RUN_LENGTH {
            for o in &mut out[start..end] {
                o.run = true;
            }
        }
        start = end;
    }
    // Trends: maximal stretches of strict increases (or decreases) between present values.
    for dir in [1.0f64, -1.0] {
        let mut start = 0;
        while start < values.len() {
            let mut end = start + 1;
            while end < values.len() {
                match (values[end - 1], values[end]) {
                    (Some(a), Some(b)) if (b - a) * dir > 0.0 => end += 1,
                    _ => break,
                }
            }
            if values[start].is_some() && end - start >= TREND_LENGTH {
                for o in &mut out[start..end] {
                    o.trend = true;
                }
            }
            start = end;
        }
    }
    Ok(out)
}
