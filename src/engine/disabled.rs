//! Engines this build cannot run. Each is a function with the real engine's signature
//! that returns a clear error, so the dispatch in `engine::build` needs no `cfg`.

use super::{Engine, EngineConfig, EngineError};

pub const CANDLE_AVAILABLE: bool = false;

fn unavailable(engine: &'static str, feature: &'static str, on: bool) -> EngineError {
    if on {
        // The feature is on but the engine has not landed in this version yet.
        EngineError::Setup {
            engine,
            message: "not implemented in this version of nativebench".into(),
        }
    } else {
        EngineError::NotCompiled { engine, feature }
    }
}

/// The llama.cpp engine in a build without the `llama-cpp` feature.
#[cfg(not(feature = "llama-cpp"))]
pub mod llama_cpp {
    use super::super::{Engine, EngineConfig, EngineError};

    pub fn open(_config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
        Err(EngineError::NotCompiled {
            engine: "llama-cpp",
            feature: "llama-cpp",
        })
    }
}

pub fn candle(_config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
    Err(unavailable("candle", "candle", cfg!(feature = "candle")))
}
