//! Engine flags shared by `run`, `bench` and `serve`: sampling, the llama.cpp context
//! (named as llama.cpp's tools name them), and candle's device and dtype.

use clap::Args;

use crate::engine::{CandleConfig, LlamaCppConfig, SamplingConfig};
use crate::error::{Error, Result};

/// Engine settings, as typed.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Engine")]
pub struct EngineArgs {
    /// Sampling temperature; 0 (the default) is greedy.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Sample among the k most likely tokens (with --temperature).
    #[arg(long, allow_negative_numbers = true)]
    pub top_k: Option<i64>,
    /// Nucleus sampling threshold (with --temperature).
    #[arg(long, allow_negative_numbers = true)]
    pub top_p: Option<f32>,
    /// Threads for prompt processing (llama.cpp); default: --threads.
    #[arg(long, visible_alias = "tb", allow_negative_numbers = true)]
    pub threads_batch: Option<i64>,
    /// Sequences decoded together in one context (llama.cpp batched decoding); default:
    /// the workload's concurrency.
    #[arg(long, visible_aliases = ["batch", "np"], allow_negative_numbers = true)]
    pub parallel: Option<i64>,
    /// Context size in tokens (llama.cpp), shared by the parallel sequences.
    #[arg(long, short = 'c', allow_negative_numbers = true)]
    pub ctx_size: Option<i64>,
    /// Logical batch size: prefill runs in chunks of this many tokens (llama.cpp).
    #[arg(
        long,
        short = 'b',
        default_value_t = 2048,
        allow_negative_numbers = true
    )]
    pub batch_size: i64,
    /// Physical batch size (llama.cpp).
    #[arg(
        long,
        visible_alias = "ub",
        default_value_t = 512,
        allow_negative_numbers = true
    )]
    pub ubatch_size: i64,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// The device-side settings that `bench` takes too: llama.cpp's context and threads (named
/// as llama.cpp's tools name them) and candle's device and dtype.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Engine")]
pub struct BackendArgs {
    /// Layers to offload to the GPU (llama.cpp).
    #[arg(long, visible_alias = "ngl", allow_negative_numbers = true)]
    pub n_gpu_layers: Option<i64>,
    /// Flash attention (llama.cpp): on, off or auto (llama.cpp's default); also `-fa`.
    #[arg(long, visible_alias = "fa", value_enum, default_value_t = crate::engine::FlashAttn::Auto)]
    pub flash_attn: crate::engine::FlashAttn,
    /// How hard idle llama.cpp worker threads spin before sleeping, 0 to 100
    /// (llama-bench's --poll).
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pub poll: i64,
    /// K cache type (llama.cpp): f16 (default), f32, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0,
    /// q5_1; also `-ctk`.
    #[arg(long, visible_alias = "ctk", value_enum, default_value_t = crate::engine::CacheType::F16)]
    pub cache_type_k: crate::engine::CacheType,
    /// V cache type (llama.cpp), as for --cache-type-k; also `-ctv`.
    #[arg(long, visible_alias = "ctv", value_enum, default_value_t = crate::engine::CacheType::F16)]
    pub cache_type_v: crate::engine::CacheType,
    /// Keep the engine's own log on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Device for candle: cpu, cuda:N or metal (GPU devices need a build with
    /// --features cuda or metal).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Dtype candle computes a safetensors model in: f32 (default), f16 or bf16. GGUF
    /// models keep their own weight types.
    #[arg(long)]
    pub dtype: Option<String>,
}

fn at_least_one(flag: &str, v: i64) -> Result<u32> {
    if v < 1 || v > i64::from(u32::MAX) {
        return Err(Error::Config(format!("{flag} must be at least 1, got {v}")));
    }
    Ok(v as u32)
}

impl BackendArgs {
    /// candle's settings from `--device` and `--dtype`, as typed.
    pub fn candle(&self) -> Result<CandleConfig> {
        Ok(CandleConfig {
            device: self.device.parse().map_err(Error::Config)?,
            dtype: self
                .dtype
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(Error::Config)?,
        })
    }
}

impl EngineArgs {
    /// The sampling settings.
    pub fn sampling(&self) -> Result<SamplingConfig> {
        let s = SamplingConfig {
            temperature: self.temperature,
            top_k: self.top_k.map(|k| at_least_one("--top-k", k)).transpose()?,
            top_p: self.top_p,
        };
        s.validate().map_err(Error::Config)?;
        Ok(s)
    }

    /// candle's device and dtype.
    pub fn candle(&self) -> Result<CandleConfig> {
        self.backend.candle()
    }

    /// The llama.cpp settings; `concurrency` is the default number of parallel sequences.
    pub fn llama(&self, concurrency: usize) -> Result<LlamaCppConfig> {
        let b = &self.backend;
        let n_gpu_layers = match b.n_gpu_layers {
            Some(n) if n < 0 => {
                return Err(Error::Config(format!(
                    "--n-gpu-layers must not be negative, got {n}"
                )))
            }
            n => n.map(|n| n.min(i64::from(u32::MAX)) as u32),
        };
        Ok(LlamaCppConfig {
            threads_batch: self
                .threads_batch
                .map(|t| at_least_one("--threads-batch", t).map(|t| t as usize))
                .transpose()?,
            ctx_size: self
                .ctx_size
                .map(|c| at_least_one("--ctx-size", c))
                .transpose()?,
            parallel: match self.parallel {
                Some(p) => at_least_one("--parallel", p)? as usize,
                None => concurrency.max(1),
            },
            batch_size: at_least_one("--batch-size", self.batch_size)?,
            ubatch_size: at_least_one("--ubatch-size", self.ubatch_size)?,
            n_gpu_layers,
            flash_attn: b.flash_attn,
            poll: match b.poll {
                p @ 0..=100 => p as u32,
                p => return Err(Error::Config(format!("--poll must be 0 to 100, got {p}"))),
            },
            cache_type_k: b.cache_type_k,
            cache_type_v: b.cache_type_v,
            verbose: b.verbose,
        })
    }
}
