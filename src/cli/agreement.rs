//! `nativebench check-agreement`: one GGUF in candle and in llama.cpp, the same prompt
//! tokens, greedy decoding on both; how many tokens agree and how far the first step's
//! logits are apart (see `app::agreement`).

use super::ranged;
use crate::limits;
use clap::Args;

use crate::app::agreement::{AgreementConfig, AgreementPlan};
use crate::app::OutputFormat;
use crate::engine::device::DeviceSpec;
use crate::error::{Error, Result};

/// The prompt used when none is given.
pub const DEFAULT_PROMPT: &str = "The history of the printing press begins";

/// Flags of `nativebench check-agreement`.
#[derive(Debug, Clone, Args)]
pub struct AgreementArgs {
    /// Model: a .gguf path, synth:PRESET[:QUANT], or a registry name (llama.cpp loads GGUF
    /// only).
    #[arg(long, short = 'm')]
    pub model: String,
    /// Prompt text (raw, no chat template).
    #[arg(long, default_value = DEFAULT_PROMPT)]
    pub prompt: String,
    /// Tokens to decode greedily with each engine.
    #[arg(long, short = 'n', default_value_t = 32, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::TOKENS))]
    pub tokens: usize,
    /// CPU threads for both engines.
    #[arg(long, short = 't', allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::THREADS))]
    pub threads: Option<usize>,
    /// candle's device: cpu, cuda:N or metal (llama.cpp, the reference, runs on the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

impl AgreementArgs {
    /// Validates the flags.
    pub fn validate(&self) -> Result<AgreementPlan> {
        let threads = self.threads;
        if self.prompt.trim().is_empty() {
            return Err(Error::Config("--prompt is empty".into()));
        }
        Ok(AgreementPlan {
            config: AgreementConfig {
                model: self.model.clone(),
                prompt: self.prompt.clone(),
                tokens: self.tokens,
                threads,
                device: self.device,
            },
            format: self.format,
        })
    }
}
