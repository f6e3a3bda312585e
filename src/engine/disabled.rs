//! Engines this build cannot run. Each is a function with the real engine's signature
//! that returns a clear error, so the dispatch in `engine::build` needs no `cfg`.

use super::{Engine, EngineConfig, EngineError};

pub const LLAMA_CPP_AVAILABLE: bool = false;
pub const CANDLE_AVAILABLE: bool = false;
pub const HTTP_AVAILABLE: bool = false;

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

pub fn llama_cpp(_config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
    Err(unavailable(
        "llama-cpp",
        "llama-cpp",
        cfg!(feature = "llama-cpp"),
    ))
}

pub fn candle(_config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
    Err(unavailable("candle", "candle", cfg!(feature = "candle")))
}

pub fn http(_config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
    Err(unavailable("http", "http", true))
}
