//! The one error type of the crate.

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can refuse a protection or an audit.
///
/// Cells are indices of published cells (rows of the [`LinearSystem`](crate::LinearSystem)),
/// inner cells are indices of inner cells, series are indices into the `series` argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A published cell names an inner cell that does not exist.
    #[error(
        "published cell {cell} sums inner cell {inner}, but there are only {n_inner} inner cells"
    )]
    InnerOutOfRange {
        /// The published cell.
        cell: usize,
        /// The inner-cell index it names.
        inner: u32,
        /// The number of inner cells.
        n_inner: usize,
    },
    /// A published cell sums no inner cell.
    #[error("published cell {cell} sums no inner cell")]
    EmptyCell {
        /// The published cell.
        cell: usize,
    },
    /// A cell said to count a subset of another's persons ([`crate::LinearSystem::with_within`])
    /// is not within it: itself, out of range, in a cycle, or summing an inner cell the other
    /// does not.
    #[error("published cell {cell} is said to be within cell {within}, but {reason}")]
    InvalidWithin {
        /// The cell.
        cell: usize,
        /// The cell it is said to be within.
        within: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// No count series was given.
    #[error("no count series given: at least one (the numerator) is needed")]
    NoSeries,
    /// A series has the wrong number of inner-cell values.
    #[error("series {series} has {len} inner-cell values, expected {expected}")]
    SeriesLength {
        /// The series.
        series: usize,
        /// Its length.
        len: usize,
        /// The number of inner cells.
        expected: usize,
    },
    /// A series' bounds do not fit it: a length that is not one per inner cell, a negative
    /// lower bound, or a true count outside its bounds.
    #[error("series {series}, inner cell {inner}: {reason}")]
    InvalidBounds {
        /// The series.
        series: usize,
        /// The inner cell (0 for a length problem).
        inner: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A count is negative.
    #[error("series {series}, inner cell {inner}: negative count {value}")]
    NegativeCount {
        /// The series.
        series: usize,
        /// The inner cell.
        inner: usize,
        /// The value.
        value: i64,
    },
    /// A per-cell argument (`forced`, `previously_published`, `statuses`) has the wrong length.
    #[error("{argument} has {len} entries, expected one per published cell ({expected})")]
    CellArgumentLength {
        /// The argument's name.
        argument: &'static str,
        /// Its length.
        len: usize,
        /// The number of published cells.
        expected: usize,
    },
    /// A cell index in [`crate::Fixed`] is out of range.
    #[error("{argument} names published cell {cell}, but there are only {n_cells}")]
    CellOutOfRange {
        /// The argument (`forced`, `previously_published`, `hidden`, `primary`).
        argument: &'static str,
        /// The cell index given.
        cell: usize,
        /// The number of published cells.
        n_cells: usize,
    },
    /// A cell is both to be hidden and to be published.
    #[error("published cell {cell} is marked both hidden and forced (or previously published)")]
    ConflictingFlags {
        /// The cell.
        cell: usize,
    },
    /// The policy is unusable (threshold below 1, negative interval width).
    #[error("invalid policy: {reason}")]
    InvalidPolicy {
        /// What is wrong.
        reason: &'static str,
    },
    /// A forced (or previously published) cell is itself primary-sensitive.
    #[error(
        "cell {cell} is forced or previously published but is primary-sensitive (series {series})"
    )]
    ForcedPrimary {
        /// The cell.
        cell: usize,
        /// The series that makes it sensitive.
        series: usize,
        /// Why it is sensitive.
        reason: crate::PrimaryReason,
    },
    /// The forced and previously published cells together determine a primary cell exactly.
    #[error(
        "the forced and previously published cells determine primary cell {cell} exactly; \
         unforce one of the cells that sum to it"
    )]
    ForcedDisclosure {
        /// The primary cell that can be recomputed.
        cell: usize,
    },
    /// A primary cell's attacker interval is too narrow and no publishable cell is left to hide.
    #[error(
        "primary cell {cell}, series {series}: attacker interval [{lower}, {}] is narrower than \
         {required} and no further cell can be suppressed (all are forced or previously published)",
        upper.map_or("inf".to_string(), |u| u.to_string())
    )]
    Unprotectable {
        /// The primary cell.
        cell: usize,
        /// The series.
        series: usize,
        /// The attacker's lower bound.
        lower: i64,
        /// The attacker's upper bound (`None`: unbounded).
        upper: Option<i64>,
        /// The width required.
        required: i64,
    },
    /// Interval protection did not converge within `Policy::max_rounds` rounds.
    #[error(
        "interval protection still fails after {rounds} rounds (first failing: cell {cell}, \
         series {series}); raise max_rounds or review the policy"
    )]
    RoundsExhausted {
        /// The rounds run.
        rounds: usize,
        /// A primary cell still failing.
        cell: usize,
        /// Its series.
        series: usize,
    },
    /// Exact elimination overflowed 128-bit integers.
    #[error("exact elimination overflowed 128-bit integers at published cell {cell}")]
    Overflow {
        /// The cell being processed.
        cell: usize,
    },
    /// The audit's linear-programming solver failed: the release is refused (fail closed).
    /// (Protection's own searches for a proof take a failure as proving nothing; see
    /// [`Protection::solver_failures`](crate::Protection::solver_failures).)
    #[error("LP solver failed for cell {cell}, series {series}: {message}")]
    Solver {
        /// The primary cell.
        cell: usize,
        /// The series.
        series: usize,
        /// The solver's message.
        message: String,
    },
    /// [`release`](crate::release): the independent audit rejected the protected output.
    #[error(
        "the independent audit rejected the output: {failures} failing checks (first: {first})"
    )]
    AuditFailed {
        /// The number of failing checks.
        failures: usize,
        /// A description of the first failure.
        first: String,
    },
}

impl Error {
    /// Maps the local cell index of an error raised inside one component to the system's.
    pub(crate) fn in_cells(self, cells: &[usize]) -> Error {
        match self {
            Error::Overflow { cell } => Error::Overflow { cell: cells[cell] },
            Error::ForcedDisclosure { cell } => Error::ForcedDisclosure { cell: cells[cell] },
            other => other,
        }
    }
}
