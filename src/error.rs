//! The library's typed errors. Only the binary uses `anyhow`; everything here says what
//! went wrong and where, in one line a user can act on.

use std::path::PathBuf;

use crate::engine::EngineError;

/// Errors from the library's public entry points.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or configuration value that cannot be used.
    #[error("{0}")]
    Config(String),
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
    /// A JSON document that cannot be encoded or decoded.
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
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
