//! Settings shared by the in-process engines: sampling, the llama.cpp context, and
//! candle's device and dtype.
//! They live outside the engine modules so that a build without an engine still parses,
//! validates and records them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::device::DeviceSpec;

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

    /// The seed of one request's sampler: derived from the run's seed and the request's
    /// id, so a request samples the same tokens whatever ran before it, in every engine.
    pub fn request_seed(base: u64, request_id: u64) -> u64 {
        base.wrapping_add(request_id.wrapping_mul(0x9e37_79b9))
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

/// The storage type of llama.cpp's K or V cache (`-ctk`, `-ctv`): the types llama.cpp's
/// tools accept, under their names (`q8_0`, `iq4_nl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum CacheType {
    F32,
    #[default]
    F16,
    Bf16,
    Q8_0,
    Q4_0,
    Q4_1,
    Iq4Nl,
    Q5_0,
    Q5_1,
}

impl CacheType {
    /// The name llama.cpp's tools print, as in llama-bench's `type_k` column.
    pub fn name(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned())
    }
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
    /// How hard idle ggml worker threads spin for new work before they sleep, 0..=100
    /// (llama-bench's `--poll`; 50 is its default).
    pub poll: u32,
    /// K and V cache storage types.
    #[serde(default)]
    pub cache_type_k: CacheType,
    #[serde(default)]
    pub cache_type_v: CacheType,
    /// Keep llama.cpp's own log on stderr.
    pub verbose: bool,
    /// Keep each sequence's KV cache after its request, and start the next request in
    /// the slot with the longest common token prefix, prefilling only the rest
    /// (llama-server's `cache_prompt`).
    #[serde(default)]
    pub prefix_cache: bool,
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
            poll: 50,
            cache_type_k: CacheType::F16,
            cache_type_v: CacheType::F16,
            verbose: false,
            prefix_cache: false,
        }
    }
}

/// The dtype candle computes a safetensors model in (`--dtype`). Quantized GGUF models
/// keep their own storage types and compute in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightDType {
    #[default]
    F32,
    F16,
    Bf16,
}

impl WeightDType {
    pub const ALL: [WeightDType; 3] = [WeightDType::F32, WeightDType::F16, WeightDType::Bf16];

    /// The CLI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WeightDType::F32 => "f32",
            WeightDType::F16 => "f16",
            WeightDType::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for WeightDType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WeightDType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        WeightDType::ALL
            .into_iter()
            .find(|d| d.as_str() == wanted)
            .ok_or_else(|| format!("unknown --dtype `{s}`: choose f32, f16 or bf16"))
    }
}

/// candle's settings: where it computes, and in what dtype.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CandleConfig {
    pub device: DeviceSpec,
    /// `None`: f32 (safetensors); GGUF models compute in f32 whatever their storage.
    pub dtype: Option<WeightDType>,
}
