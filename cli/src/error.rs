//! `CliError`: what went wrong, and the exit code it means.
//!
//! Exit codes (documented in `--help` and README): 0 success; 1 differences found, with `--exit-code` (as
//! `git diff --exit-code`); 2 usage error (bad arguments, a bad location or key); 3 the work failed (a
//! missing table or bucket, a write that could not be made, AWS refused); 255 a bug in ddbrep.

use std::fmt;

/// The kind of failure, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Differences found and `--exit-code` given.
    Differences,
    /// The command line is wrong.
    Usage,
    /// The work could not be done.
    Failed,
    /// A bug.
    Internal,
}

impl ErrorKind {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Differences => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Failed => 3,
            ErrorKind::Internal => 255,
        }
    }
}

/// A failure with its kind, message and optional hint.
#[derive(Debug)]
pub struct CliError {
    /// Kind, for the exit code.
    pub kind: ErrorKind,
    /// What happened, naming the table, key or object and the cause.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl CliError {
    /// A usage error.
    pub fn usage(message: impl fmt::Display) -> CliError {
        CliError {
            kind: ErrorKind::Usage,
            message: message.to_string(),
            hint: None,
        }
    }

    /// A failed run.
    pub fn failed(message: impl fmt::Display) -> CliError {
        CliError {
            kind: ErrorKind::Failed,
            message: message.to_string(),
            hint: None,
        }
    }

    /// Differences found (with `--exit-code`).
    pub fn differences(count: u64) -> CliError {
        CliError {
            kind: ErrorKind::Differences,
            message: format!("{count} discrepancies found"),
            hint: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn hinted(mut self, hint: impl fmt::Display) -> CliError {
        self.hint = Some(hint.to_string());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

impl From<crate::location::LocationError> for CliError {
    fn from(e: crate::location::LocationError) -> CliError {
        CliError::usage(e)
    }
}
