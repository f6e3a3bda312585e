//! Engines this build cannot run. Each is a module with the real engine's entry point
//! that returns a clear error, so the dispatch in `engine::build` needs no `cfg`.

/// Whether this build includes the candle engine.
pub const CANDLE_AVAILABLE: bool = cfg!(feature = "candle");

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

/// The candle engine in a build without the `candle` feature.
#[cfg(not(feature = "candle"))]
pub mod candle {
    use super::super::{Engine, EngineConfig, EngineError};

    pub fn open(_config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
        Err(EngineError::NotCompiled {
            engine: "candle",
            feature: "candle",
        })
    }
}
