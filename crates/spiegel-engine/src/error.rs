//! Errors of the engine.

use std::fmt;
use std::path::PathBuf;

use datafusion::error::DataFusionError;
use spiegel_model::ModelError;

/// Result alias of this crate.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// What went wrong in a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The definitions are not valid.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The extract does not match the data contract (missing tables or
    /// columns, wrong types); every problem is listed.
    #[error("{}", List("the extract does not match the data contract", problems))]
    Schema {
        /// All problems found.
        problems: Vec<SchemaProblem>,
    },
    /// The data breaks rules that figures depend on (duplicate persons, death
    /// before birth, stays ending before they start...); every problem is listed.
    #[error(
        "{}",
        List("the extract has data errors; no figures were computed", problems)
    )]
    Data {
        /// All problems found.
        problems: Vec<DataProblem>,
    },
    /// A run option is not valid.
    #[error("invalid run option `{option}`: {message}")]
    Option {
        /// The option.
        option: String,
        /// What is wrong.
        message: String,
    },
    /// DataFusion failed while doing what `context` says.
    #[error("{context}: {source}")]
    DataFusion {
        /// What the engine was doing.
        context: String,
        /// The cause.
        #[source]
        source: Box<DataFusionError>,
    },
    /// Disclosure control refused the release: a forced or previously
    /// published cell gives a sensitive cell away, a cell cannot be
    /// protected, or the independent verification failed. Nothing is written.
    #[error("disclosure control refused the release ({indicator}): {message}")]
    Disclosure {
        /// The indicator (or the indicators sharing a denominator).
        indicator: String,
        /// What is wrong, naming the cell.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {message}")]
    File {
        /// `read` or `write`.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        message: String,
    },
}

/// Wraps a DataFusion error with what the engine was doing.
pub(crate) fn df(context: impl Into<String>) -> impl FnOnce(DataFusionError) -> EngineError {
    let context = context.into();
    move |source| EngineError::DataFusion {
        context,
        source: Box::new(source),
    }
}

/// A mismatch between an input table and the data contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// The table.
    pub table: String,
    /// The column, if the problem is about one.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "table `{}`, column `{c}`: {}", self.table, self.message),
            None => write!(f, "table `{}`: {}", self.table, self.message),
        }
    }
}

/// Rows that break a data rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataProblem {
    /// The table.
    pub table: String,
    /// Name of the check (`death_before_birth`).
    pub check: String,
    /// Number of offending rows.
    pub rows: u64,
    /// What is wrong.
    pub message: String,
    /// A few example keys of offending rows.
    pub examples: Vec<String>,
}

impl fmt::Display for DataProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table `{}`: {} row{} {} [{}]",
            self.table,
            self.rows,
            if self.rows == 1 { "" } else { "s" },
            self.message,
            self.check
        )?;
        if !self.examples.is_empty() {
            write!(f, " (e.g. {})", self.examples.join(", "))?;
        }
        Ok(())
    }
}

struct List<'a, T>(&'a str, &'a [T]);

impl<T: fmt::Display> fmt::Display for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.0)?;
        for p in self.1 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}
