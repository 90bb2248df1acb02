//! Figures derived from a cell's counts with `spiegel-stats`: confidence
//! intervals, the national value and the comparison with it, funnel limits,
//! and the change since the baseline period.
//!
//! Every figure is a function of published counts only: a caller passes the
//! national and baseline counts only when those cells are published, so that
//! nothing derived can carry a hidden count.

use spiegel_model::{Direction, Indicator, Unit};
use spiegel_stats::{
    ConfidenceLevel, Interval, Polarity, compare_interval, compare_with_rest, funnel_proportion,
    funnel_rate, mean_from_sums, proportion, proportion_difference, rate,
};

use crate::cells::Counts;

/// How a region is compared with the nation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ComparisonMethod {
    /// The region's confidence interval (at the first level) excludes the
    /// national value: the Fingertips convention. Right when the region is a
    /// small part of the nation.
    #[default]
    Interval,
    /// Proportions: the region against the rest of the country (nation minus
    /// region), with Newcombe's interval for the difference. Right when the
    /// region is a large part of the nation, whose value it pulls toward its
    /// own. Other units fall back to `Interval`.
    RestOfCountry,
}

/// Options of the statistics in the results table.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsOptions {
    /// Confidence levels, in column order (default 95% and 99.8%).
    pub levels: Vec<ConfidenceLevel>,
    /// How regions are compared with the nation.
    pub comparison: ComparisonMethod,
    /// The baseline period ("nulmeting"); the first period of the run when `None`.
    pub baseline: Option<i32>,
}

impl Default for StatsOptions {
    fn default() -> Self {
        StatsOptions {
            levels: vec![ConfidenceLevel::P95, ConfidenceLevel::P998],
            comparison: ComparisonMethod::Interval,
            baseline: None,
        }
    }
}

/// The column label of a confidence level: 0.95 -> `95`, 0.998 -> `998`.
pub fn level_label(level: ConfidenceLevel) -> String {
    let pct = format!("{}", (level.get() * 1e6).round() / 1e4);
    pct.replace('.', "")
}

/// Derived figures of one published row.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Figures {
    pub value: Option<f64>,
    pub intervals: Vec<Option<Interval>>,
    pub national_value: Option<f64>,
    pub comparison: Option<&'static str>,
    pub funnels: Vec<Option<Interval>>,
    pub baseline_value: Option<f64>,
    pub change: Option<f64>,
    pub change_interval: Option<Interval>,
    pub change_significant: Option<bool>,
    pub spc_signal: Option<String>,
    pub polarity: Option<Polarity>,
}

impl Figures {
    /// The comparison of an interval with this row's national value.
    pub(crate) fn comparison_for(&self, interval: Option<Interval>) -> &'static str {
        compare_interval(
            interval,
            self.national_value,
            self.polarity.unwrap_or(Polarity::NoJudgement),
        )
        .as_str()
    }
}

fn polarity(d: Direction) -> Polarity {
    match d {
        Direction::Higher => Polarity::HigherIsBetter,
        Direction::Lower => Polarity::LowerIsBetter,
        _ => Polarity::NoJudgement,
    }
}

/// The confidence interval of a cell at one level, by the unit's method.
fn interval(ind: &Indicator, c: &Counts, level: ConfidenceLevel) -> Option<Interval> {
    let (n, d) = (c.numerator as f64, c.denominator as f64);
    // Counts of a valid run are never negative nor inconsistent; a statistics
    // error can only mean no figure, never a guess.
    let estimate = match ind.unit {
        Unit::Proportion => proportion(n, d, level),
        Unit::Mean => mean_from_sums(n, c.sum_squares as f64, c.denominator.max(0) as u64, level),
        Unit::RatePer(m) => rate(n, d, f64::from(m), level),
        _ => return None,
    };
    estimate.ok().flatten().map(|e| e.interval())
}

/// Computes the figures of a published cell.
///
/// `national` and `baseline` are the counts of the same stratum's national
/// cell and of the same cell in the baseline period, each only if published.
pub(crate) fn figures(
    ind: &Indicator,
    counts: &Counts,
    is_national: bool,
    national: Option<&Counts>,
    baseline: Option<&Counts>,
    options: &StatsOptions,
) -> Figures {
    let value = ind.value(counts.numerator, counts.denominator);
    let intervals: Vec<Option<Interval>> = options
        .levels
        .iter()
        .map(|l| interval(ind, counts, *l))
        .collect();
    let national_value = national.and_then(|c| ind.value(c.numerator, c.denominator));
    let first = options
        .levels
        .first()
        .copied()
        .unwrap_or(ConfidenceLevel::P95);
    let comparison = (!is_national).then(|| {
        let by_interval = || {
            compare_interval(
                intervals.first().copied().flatten(),
                national_value,
                polarity(ind.direction),
            )
        };
        match (options.comparison, ind.unit, national) {
            (ComparisonMethod::RestOfCountry, Unit::Proportion, Some(nat)) => compare_with_rest(
                counts.numerator as f64,
                counts.denominator as f64,
                nat.numerator as f64,
                nat.denominator as f64,
                first,
                polarity(ind.direction),
            )
            .unwrap_or_else(|_| by_interval()),
            _ => by_interval(),
        }
        .as_str()
    });
    let funnels = options
        .levels
        .iter()
        .map(|l| {
            let target = national_value?;
            let d = counts.denominator as f64;
            match ind.unit {
                Unit::Proportion => funnel_proportion(target, d, *l).ok().flatten(),
                Unit::RatePer(m) => {
                    let m = f64::from(m);
                    funnel_rate(target / m, d, *l)
                        .ok()
                        .flatten()
                        .map(|i| i.scaled(m))
                }
                _ => None,
            }
        })
        .collect();
    let mut out = Figures {
        value,
        intervals,
        national_value,
        comparison,
        funnels,
        polarity: Some(polarity(ind.direction)),
        ..Figures::default()
    };
    if let Some(b) = baseline {
        out.baseline_value = ind.value(b.numerator, b.denominator);
        out.change = value.zip(out.baseline_value).map(|(v, b)| v - b);
        if ind.unit == Unit::Proportion
            && let Ok(Some(diff)) = proportion_difference(
                counts.numerator as f64,
                counts.denominator as f64,
                b.numerator as f64,
                b.denominator as f64,
                first,
            )
        {
            out.change_interval = Some(Interval::new(diff.lower, diff.upper));
            out.change_significant = Some(diff.significant);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(level_label(ConfidenceLevel::P95), "95");
        assert_eq!(level_label(ConfidenceLevel::P998), "998");
        assert_eq!(level_label(ConfidenceLevel::new(0.9).unwrap()), "90");
        assert_eq!(level_label(ConfidenceLevel::new(0.99).unwrap()), "99");
    }
}
