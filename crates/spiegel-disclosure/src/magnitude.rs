//! Primary rules for magnitude cells: sums of contributions (GP contacts of persons, hospital
//! days, consultations of hospitals), where a cell can be sensitive with many contributors
//! because one or two of them make up most of it.
//!
//! Both rules need only a cell's total and its two largest contributions, which are
//! mergeable: the two largest of a union of cells are the two largest of the cells' own two
//! largest. A sensitive cell gets a *protection level*: the range its total must keep for the
//! attacker (the sliding protection of Hundepool et al. 2012, section 4.2), which
//! [`crate::Fixed::widths`] passes on to [`crate::protect`] and [`crate::audit_fixed`].

/// A primary rule for magnitude cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MagnitudeRule {
    /// The p% rule: a cell is sensitive when the second largest contributor, subtracting their
    /// own contribution from the total, learns the largest contribution to within `p` percent:
    /// `total - x1 - x2 < p/100 * x1`. Protection level: `p/100 * x1 - (total - x1 - x2)`.
    PPercent {
        /// The percentage (1 to 100).
        p: i64,
    },
    /// The (n, k) dominance rule: a cell is sensitive when its `n` largest contributions make up
    /// more than `k` percent of the total: `x1 + .. + xn > k/100 * total`. Protection level:
    /// `100/k * (x1 + .. + xn) - total`. Only `n` of 1 or 2 (two contributions are kept).
    Dominance {
        /// The number of largest contributors (1 or 2).
        n: usize,
        /// The percentage (1 to 99).
        k: i64,
    },
}

impl MagnitudeRule {
    /// Why the rule is invalid, if it is.
    pub fn problem(&self) -> Option<&'static str> {
        match *self {
            MagnitudeRule::PPercent { p } if !(1..=100).contains(&p) => {
                Some("the p of the p% rule must be between 1 and 100")
            }
            MagnitudeRule::Dominance { n, .. } if !(1..=2).contains(&n) => {
                Some("the n of the (n, k) dominance rule must be 1 or 2")
            }
            MagnitudeRule::Dominance { k, .. } if !(1..=99).contains(&k) => {
                Some("the k of the (n, k) dominance rule must be between 1 and 99")
            }
            _ => None,
        }
    }

    /// The protection level of a cell with this total and these two largest contributions
    /// (`largest[0] >= largest[1]`, 0 where there is no such contributor), rounded up:
    /// `Some` when the cell is sensitive. Contributions must not be negative.
    ///
    /// ```
    /// use spiegel_disclosure::MagnitudeRule;
    /// let p10 = MagnitudeRule::PPercent { p: 10 };
    /// // One person has 40 of a cell's 48 GP contacts, the next 6: the second largest
    /// // contributor learns the 40 to within 2, less than 10% of it (4).
    /// assert_eq!(p10.protection_level(48, [40, 6]), Some(2));
    /// assert_eq!(p10.protection_level(60, [40, 6]), None);
    /// let dominance = MagnitudeRule::Dominance { n: 1, k: 50 };
    /// assert_eq!(dominance.protection_level(48, [40, 6]), Some(32));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn protection_level(&self, total: i64, largest: [i64; 2]) -> Option<i64> {
        let (total, x1, x2) = (total as i128, largest[0] as i128, largest[1] as i128);
        // Exact integer arithmetic: both sides multiplied by 100 (or k).
        let excess = match *self {
            MagnitudeRule::PPercent { p } => p as i128 * x1 - 100 * (total - x1 - x2),
            MagnitudeRule::Dominance { n, k } => {
                let top = if n >= 2 { x1 + x2 } else { x1 };
                100 * top - k as i128 * total
            }
        };
        let scale = match *self {
            MagnitudeRule::PPercent { .. } => 100,
            MagnitudeRule::Dominance { k, .. } => k as i128,
        };
        (excess > 0).then(|| i64::try_from((excess + scale - 1) / scale).unwrap_or(i64::MAX))
    }
}

/// The two largest of two pairs of largest contributions (each sorted, largest first).
///
/// ```
/// use spiegel_disclosure::largest_two;
/// assert_eq!(largest_two([9, 2], [5, 4]), [9, 5]);
/// assert_eq!(largest_two([3, 3], [3, 0]), [3, 3]);
/// ```
pub fn largest_two(a: [i64; 2], b: [i64; 2]) -> [i64; 2] {
    if a[0] >= b[0] {
        [a[0], a[1].max(b[0])]
    } else {
        [b[0], b[1].max(a[0])]
    }
}
