//! The process-wide llama.cpp backend. `LlamaBackend::init` succeeds once per process, so
//! everything that uses llama.cpp (engines, tokenizer parity, tests) shares this one.

use std::path::Path;
use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

use super::error::{ModelError, Result};

/// Set to `1` to keep llama.cpp's own log lines on stderr (they are silenced otherwise).
pub const LOG_ENV: &str = "NATIVEBENCH_LLAMA_LOG";

/// The shared backend, initialised on first use.
pub fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut b = LlamaBackend::init().map_err(|e| e.to_string())?;
            if std::env::var(LOG_ENV).as_deref() != Ok("1") {
                b.void_logs();
            }
            Ok(b)
        })
        .as_ref()
        .map_err(|e| ModelError::LlamaCpp {
            path: "backend".into(),
            message: e.clone(),
        })
}

/// Loads a GGUF into llama.cpp, with only its vocabulary when `vocab_only`.
pub fn load_model(path: &Path, vocab_only: bool) -> Result<LlamaModel> {
    let params = LlamaModelParams::default().with_vocab_only(vocab_only);
    LlamaModel::load_from_file(backend()?, path, &params).map_err(|e| ModelError::LlamaCpp {
        path: path.to_path_buf(),
        message: format!("cannot load model: {e}"),
    })
}
