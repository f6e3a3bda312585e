//! The llama.cpp engine, in-process through the llama-cpp-2 crate.
//!
//! Prefill and decode go through the same llama.cpp calls llama-bench makes
//! (`llama_batch_get_one` in chunks of the batch size, then one token per step), so its
//! numbers and llama-bench's measure the same work. Every mark is preceded by
//! `llama_synchronize`, so no phase hides queued device work. Each request and its phases
//! are NVTX ranges on `nvtx` builds (`engine::nvtx`).
//!
//! `load` opens the engine (the process-wide model cache, the context with its thread
//! pools, the chat template, the engine's info); `generate` runs one request at a time and
//! implements `Engine` and `TokenBench`, with the greedy trace for `check-agreement`;
//! `batch` decodes requests together, each in a sequence of its own, with continuous
//! batching; `prefix` keeps each sequence's KV for the next request's common prefix; `threadpool` holds llama-bench's persistent worker pools.

mod batch;
mod generate;
mod load;
mod prefix;
mod threadpool;

use super::{Engine, EngineConfig, EngineError};

pub use load::{LlamaCppEngine, LLAMA_CPP_SYS_VERSION};

const NAME: &str = "llama-cpp";

fn setup(message: impl Into<String>) -> EngineError {
    EngineError::setup(NAME, message)
}

fn failed(message: impl Into<String>) -> EngineError {
    EngineError::failed(message)
}

/// Opens the engine a config describes.
pub fn open(config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
    Ok(Box::new(LlamaCppEngine::open(config)?))
}
