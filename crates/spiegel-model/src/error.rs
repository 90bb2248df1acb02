//! Errors of the model crate.

use std::fmt;
use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// What went wrong when reading or validating definitions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Definitions were read but are not valid; every problem found is listed.
    #[error("{}", Problems(problems))]
    Invalid {
        /// All problems, in file order.
        problems: Vec<Problem>,
    },
}

impl ModelError {
    /// The problems of an `Invalid` error (empty for other errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ModelError::Invalid { problems } => problems,
            _ => &[],
        }
    }
}

/// One problem in a definition: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (as given to the loader).
    pub file: String,
    /// The indicator id, when known.
    pub indicator: Option<String>,
    /// Path of the field inside the file (`numerator.criteria.event.window`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(id) = &self.indicator {
            write!(f, ": indicator `{id}`")?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} in the indicator definitions:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}
