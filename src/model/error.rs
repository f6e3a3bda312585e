//! Model errors. Each variant renders as one line that names the file (or spec) and the
//! problem, so the binary can print it as is.

use std::path::PathBuf;

/// Why a model could not be resolved, read, written or converted.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file or directory that cannot be read or written. The I/O error is part of the
    /// message rather than a `source`, so that `{:#}` prints it once.
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
    /// The file does not start with the GGUF magic.
    #[error("{}: not a GGUF file: magic is {found:#010x}, expected 0x46554747 (\"GGUF\")", path.display())]
    BadMagic { path: PathBuf, found: u32 },
    /// A GGUF version this reader does not know.
    #[error("{}: unsupported GGUF version {version} (supported: 2 and 3)", path.display())]
    UnsupportedVersion { path: PathBuf, version: u32 },
    /// The file ends before what its header promises.
    #[error("{}: truncated GGUF: {what}", path.display())]
    Truncated { path: PathBuf, what: String },
    /// A tensor whose GGML type id is not one ggml defines.
    #[error("{}: tensor '{tensor}' has unknown or unsupported GGML type {type_id}", path.display())]
    UnknownTensorType {
        path: PathBuf,
        tensor: String,
        type_id: u32,
    },
    /// A GGUF whose structure is inconsistent (bad lengths, types or offsets).
    #[error("{}: malformed GGUF: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    /// A metadata key that the architecture or tokenizer needs is absent or mistyped.
    #[error("{}: missing or invalid metadata key '{key}'{detail}", path.display())]
    MissingKey {
        path: PathBuf,
        key: String,
        detail: String,
    },
    /// A model directory without the files a directory model needs.
    #[error("{}: {message}", path.display())]
    ModelDir { path: PathBuf, message: String },
    /// A tokenizer that cannot be built, trained, converted or loaded.
    #[error("{}: tokenizer: {message}", path.display())]
    Tokenizer { path: PathBuf, message: String },
    /// A `synth:` preset that the registry does not define.
    #[error("unknown synthetic preset '{name}' (known: {known})")]
    UnknownPreset { name: String, known: String },
    /// A quantization name that the synthetic writer does not produce.
    #[error("unknown quantization '{name}' (known: f32, f16, q8_0, q4_0, q4_k)")]
    UnknownQuant { name: String },
    /// A `--model` string that matches no form.
    #[error("invalid model spec '{spec}': {message}")]
    InvalidSpec { spec: String, message: String },
    /// A model file or directory that does not exist.
    #[error("{}: no such model file or directory", path.display())]
    NotFound { path: PathBuf },
    /// A registry model that has not been fetched yet.
    #[error("{name}: not fetched: {} does not exist; run {fetch}", path.display())]
    NotFetched {
        name: String,
        path: PathBuf,
        fetch: String,
    },
    /// A file whose checksum is not the one the registry records.
    #[error("{}: sha256 mismatch: expected {expected}, got {actual}", path.display())]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// An `hf:` spec that the Hugging Face cache cannot satisfy while offline.
    #[error("hf:{repo}: not in the Hugging Face cache {}: {message}", cache.display())]
    HfNotCached {
        repo: String,
        cache: PathBuf,
        message: String,
    },
    /// The Hugging Face Hub refused or failed a listing or a download. `input` marks what
    /// the user named wrongly (a repo or file that does not exist, an ambiguous pattern).
    #[error("hf:{repo}: {message}")]
    Hub {
        repo: String,
        message: String,
        input: bool,
    },
    /// The registry file compiled into the binary is invalid (a build defect).
    #[error("models/registry.toml: {0}")]
    Registry(String),
    /// The GGUF writer or quantizer failed.
    #[error("{}: cannot write GGUF: {message}", path.display())]
    Write { path: PathBuf, message: String },
    /// llama.cpp refused the model or failed while using it.
    #[error("{}: llama.cpp: {message}", path.display())]
    LlamaCpp { path: PathBuf, message: String },
    /// An operation that needs llama.cpp on a build without it.
    #[error("this build has no llama.cpp support: rebuild with --features llama-cpp")]
    LlamaCppDisabled,
}

impl ModelError {
    /// The model the user named does not exist or names nothing (a spec, path, preset or
    /// quantization that cannot be used, a registry model not fetched): invalid input,
    /// rather than a model that exists and fails to load.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            ModelError::InvalidSpec { .. }
                | ModelError::NotFound { .. }
                | ModelError::NotFetched { .. }
                | ModelError::UnknownPreset { .. }
                | ModelError::UnknownQuant { .. }
                | ModelError::Hub { input: true, .. }
        )
    }
}

impl ModelError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            err,
        }
    }

    /// A tokenizer error for `path`.
    pub fn tokenizer(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        ModelError::Tokenizer {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// The model module's result type.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
