//! Settings shared by the in-process engines: sampling, and the llama.cpp context.
//! They live outside the engine modules so that a build without an engine still parses,
//! validates and records them.

use serde::{Deserialize, Serialize};

/// How the next token is chosen. Greedy (temperature 0) by default, so runs repeat.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SamplingConfig {
    /// 0 is greedy; above 0, seeded sampling at this temperature.
    pub temperature: f32,
    pub top_k: Option<u32>,
    pub top_p: Option<f32>,
}

impl SamplingConfig {
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), String> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(format!(
                "--temperature must be 0 or more, got {}",
                self.temperature
            ));
        }
        if self.top_k == Some(0) {
            return Err("--top-k must be at least 1".into());
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(format!("--top-p must be in (0, 1], got {p}"));
            }
        }
        Ok(())
    }
}

/// Flash attention, as llama.cpp's tools take it: on, off, or auto (llama.cpp decides
/// per device; its default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum FlashAttn {
    #[value(alias = "1")]
    On,
    #[value(alias = "0")]
    Off,
    #[default]
    Auto,
}

/// llama.cpp context settings, named as llama.cpp's own tools name them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaCppConfig {
    /// Threads for batch (prompt) processing; `None` uses the generation thread count.
    pub threads_batch: Option<usize>,
    /// Sequences decoded together in one context (batched decoding); 1 runs requests
    /// one at a time.
    pub parallel: usize,
    /// Context size in tokens, shared by the parallel sequences; `None` gives each
    /// sequence min(4096, the model's trained context).
    pub ctx_size: Option<u32>,
    /// Logical batch: prefill runs in chunks of this many tokens.
    pub batch_size: u32,
    /// Physical batch.
    pub ubatch_size: u32,
    /// Layers offloaded to the GPU; `None` leaves llama.cpp's default (CPU here).
    pub n_gpu_layers: Option<u32>,
    pub flash_attn: FlashAttn,
    /// Keep llama.cpp's own log on stderr.
    pub verbose: bool,
}

impl Default for LlamaCppConfig {
    fn default() -> Self {
        // llama-bench's defaults.
        LlamaCppConfig {
            threads_batch: None,
            parallel: 1,
            ctx_size: None,
            batch_size: 2048,
            ubatch_size: 512,
            n_gpu_layers: None,
            flash_attn: FlashAttn::Auto,
            verbose: false,
        }
    }
}
