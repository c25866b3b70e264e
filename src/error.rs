//! Typed errors. The binary prints one line (`Display`) and exits with
//! [`Error::exit_code`]: 2 for bad usage or bad input, 1 for runtime failures.

use std::fmt;
use std::path::Path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line argument or option value is wrong.
    #[error("{0}")]
    Usage(String),
    /// An input data file (or generated-data request) is unusable.
    #[error("{path}: {message}")]
    Data { path: String, message: String },
    /// A model file is unusable.
    #[error("{path}: {problem}")]
    ModelFile {
        path: String,
        problem: ModelFileProblem,
    },
    /// An I/O operation on a file we own (outputs, temp files) failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Something failed while running (a worker died, a fit diverged, ...).
    #[error("{0}")]
    Runtime(String),
    /// Stopped by Ctrl-C (SIGINT) before the work was done; exit 130, as a
    /// shell reports a command that SIGINT ended.
    #[error("{0}")]
    Interrupted(String),
}

/// Why a model file cannot be loaded; each has its own message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelFileProblem {
    NotFound,
    NotAModel,
    Truncated { expected: u64, found: u64 },
    Corrupted,
    FutureVersion { found: u32, supported: u32 },
    Invalid(String),
}

impl fmt::Display for ModelFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelFileProblem::NotFound => {
                write!(f, "model file not found; train one with `cpuwall train`")
            }
            ModelFileProblem::NotAModel => write!(
                f,
                "not a cpuwall model file (bad magic bytes); pass a file written by `cpuwall train`"
            ),
            ModelFileProblem::Truncated { expected, found } => write!(
                f,
                "model file is truncated ({found} bytes, its header announces at least {expected}); re-copy or retrain it"
            ),
            ModelFileProblem::Corrupted => write!(
                f,
                "model file is corrupted (checksum mismatch); re-copy or retrain it"
            ),
            ModelFileProblem::FutureVersion { found, supported } => write!(
                f,
                "model file format version {found} is newer than this cpuwall supports ({supported}); upgrade cpuwall"
            ),
            ModelFileProblem::Invalid(why) => {
                write!(f, "model file is invalid ({why}); retrain it with `cpuwall train`")
            }
        }
    }
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Data { .. } | Error::ModelFile { .. } => 2,
            Error::Io { .. } | Error::Runtime(_) => 1,
            Error::Interrupted(_) => 130,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    pub fn data(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Data {
            path: path.as_ref().display().to_string(),
            message: msg.into(),
        }
    }

    pub fn model_file(path: impl AsRef<Path>, problem: ModelFileProblem) -> Self {
        Error::ModelFile {
            path: path.as_ref().display().to_string(),
            problem,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
