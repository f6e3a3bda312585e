//! The library's typed errors: each says what went wrong and where, in one line a user
//! can act on, and which exit status it means (the README's table): invalid input exits
//! 2, a runtime failure 1. Only the binary (`main.rs`) uses `anyhow`.

use std::path::PathBuf;

use crate::engine::EngineError;
use crate::model::ModelError;

/// Errors from the library's public entry points.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag, configuration value or path that cannot be used (invalid input).
    #[error("{0}")]
    Config(String),
    /// Something that failed while running, though the input was valid: a process that
    /// cannot start, a server that never became ready, a check that did not pass.
    #[error("{0}")]
    Runtime(String),
    /// A workload definition or data set that cannot be loaded.
    #[error("workload {origin}: {message}")]
    Workload { origin: String, message: String },
    /// A file or directory that cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An engine that cannot be built or cannot run at all.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A model that cannot be resolved, read or written.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A JSON document that cannot be encoded or decoded.
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The exit status of a command that failed while running (README: exit codes).
pub const EXIT_RUNTIME: u8 = 1;
/// The exit status of invalid flags, workloads or paths, as clap's own usage errors.
pub const EXIT_USAGE: u8 = 2;

impl Error {
    /// The process exit status this error means: [`EXIT_USAGE`] for invalid input,
    /// [`EXIT_RUNTIME`] for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Workload { .. } => EXIT_USAGE,
            Error::Engine(EngineError::Input { .. }) => EXIT_USAGE,
            Error::Model(e) if e.is_input() => EXIT_USAGE,
            Error::Runtime(_)
            | Error::Io { .. }
            | Error::Engine(_)
            | Error::Model(_)
            | Error::Json { .. } => EXIT_RUNTIME,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A workload error, naming where the workload came from.
    pub fn workload(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Workload {
            origin: origin.into(),
            message: message.into(),
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
