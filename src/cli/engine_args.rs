//! Engine flags shared by `run`, `bench` and `serve`: sampling, the llama.cpp context
//! (named as llama.cpp's tools name them), and candle's device and dtype.

use super::ranged;
use crate::limits;
use clap::Args;

use crate::engine::{CandleConfig, LlamaCppConfig, SamplingConfig};
use crate::error::{Error, Result};

/// Engine settings, as typed.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Engine")]
pub struct EngineArgs {
    /// Sampling temperature; 0 (the default) is greedy.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = ranged::float32(limits::TEMPERATURE))]
    pub temperature: f32,
    /// Sample among the k most likely tokens (with --temperature).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::int::<u32>(limits::TOP_K))]
    pub top_k: Option<u32>,
    /// Nucleus sampling threshold (with --temperature).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float32(limits::TOP_P))]
    pub top_p: Option<f32>,
    /// Threads for prompt processing (llama.cpp); default: --threads.
    #[arg(long, visible_alias = "tb", allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::THREADS))]
    pub threads_batch: Option<usize>,
    /// Sequences decoded together in one context (llama.cpp batched decoding); default:
    /// the workload's concurrency.
    #[arg(long, visible_aliases = ["batch", "np"], allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::CONCURRENCY))]
    pub parallel: Option<usize>,
    /// Context size in tokens (llama.cpp), shared by the parallel sequences.
    #[arg(long, short = 'c', allow_negative_numbers = true, value_parser = ranged::int::<u32>(limits::CONTEXT))]
    pub ctx_size: Option<u32>,
    /// Logical batch size: prefill runs in chunks of this many tokens (llama.cpp).
    #[arg(
        long,
        short = 'b',
        default_value_t = 2048,
        allow_negative_numbers = true, value_parser = ranged::int::<u32>(limits::CONTEXT)
    )]
    pub batch_size: u32,
    /// Physical batch size (llama.cpp).
    #[arg(
        long,
        visible_alias = "ub",
        default_value_t = 512,
        allow_negative_numbers = true, value_parser = ranged::int::<u32>(limits::CONTEXT)
    )]
    pub ubatch_size: u32,
    /// llama.cpp: keep each sequence's KV cache after its request, and prefill only what
    /// the next request does not share with it (llama-server's cache_prompt). Off for
    /// `run` and `compare`'s in-process side, on for `serve`.
    #[arg(long)]
    pub prefix_cache: bool,
    /// llama.cpp: no prefix reuse (for `serve`, where it is on).
    #[arg(long, conflicts_with = "prefix_cache")]
    pub no_prefix_cache: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// The device-side settings that `bench` takes too: llama.cpp's context and threads (named
/// as llama.cpp's tools name them) and candle's device and dtype.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Engine")]
pub struct BackendArgs {
    /// Layers to offload to the GPU (llama.cpp).
    #[arg(long, visible_alias = "ngl", allow_negative_numbers = true, value_parser = ranged::int::<u32>(limits::GPU_LAYERS))]
    pub n_gpu_layers: Option<u32>,
    /// Flash attention (llama.cpp): on, off or auto (llama.cpp's default); also `-fa`.
    #[arg(long, visible_alias = "fa", value_enum, default_value_t = crate::engine::FlashAttn::Auto)]
    pub flash_attn: crate::engine::FlashAttn,
    /// How hard idle llama.cpp worker threads spin before sleeping, 0 to 100
    /// (llama-bench's --poll).
    #[arg(long, default_value_t = 50, allow_negative_numbers = true, value_parser = ranged::int::<u32>(limits::POLL))]
    pub poll: u32,
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
            top_k: self.top_k,
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
        Ok(LlamaCppConfig {
            threads_batch: self.threads_batch,
            ctx_size: self.ctx_size,
            parallel: self.parallel.unwrap_or(concurrency.max(1)),
            batch_size: self.batch_size,
            ubatch_size: self.ubatch_size,
            n_gpu_layers: b.n_gpu_layers,
            flash_attn: b.flash_attn,
            poll: b.poll,
            cache_type_k: b.cache_type_k,
            cache_type_v: b.cache_type_v,
            verbose: b.verbose,
            prefix_cache: self.prefix_cache,
        })
    }

    /// The llama.cpp settings under `serve`: the prefix cache on unless turned off, as
    /// llama-server's cache_prompt is.
    pub fn llama_served(&self) -> Result<LlamaCppConfig> {
        Ok(LlamaCppConfig {
            prefix_cache: !self.no_prefix_cache,
            ..self.llama(1)?
        })
    }
}
