//! How the binary reports failure: one line, and an exit code by kind.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

/// A failure to report to the user.
#[derive(Debug)]
pub enum Failure {
    /// The user gave something unusable (a bad file, a bad value): exit code 2.
    BadInput(String),
    /// Anything else (I/O on our own files, a device, a bug): exit code 1.
    Other(String),
}

impl Failure {
    /// A problem with an input file, naming it.
    pub fn file(path: &Path, err: impl fmt::Display) -> Self {
        Failure::BadInput(format!("{}: {err}", path.display()))
    }

    /// A problem unrelated to what the user passed, naming what failed.
    pub fn other(what: impl fmt::Display, err: impl fmt::Display) -> Self {
        Failure::Other(format!("{what}: {err}"))
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::BadInput(_) => ExitCode::from(2),
            Failure::Other(_) => ExitCode::from(1),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::BadInput(m) | Failure::Other(m) => f.write_str(m),
        }
    }
}

/// Classifies a source error: problems with the file are bad input, transient I/O is not.
pub fn source_failure(path: &Path, err: hearth::SourceError) -> Failure {
    if err.is_bad_input() {
        Failure::file(path, err)
    } else {
        Failure::other(path.display(), err)
    }
}
