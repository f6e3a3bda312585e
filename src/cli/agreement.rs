//! `nativebench check-agreement`: one GGUF in candle and in llama.cpp, the same prompt
//! tokens, greedy decoding on both; how many tokens agree and how far the first step's
//! logits are apart (see `app::agreement`).

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
    #[arg(long, short = 'n', default_value_t = 32, allow_negative_numbers = true)]
    pub tokens: i64,
    /// CPU threads for both engines.
    #[arg(long, short = 't', allow_negative_numbers = true)]
    pub threads: Option<i64>,
    /// candle's device: cpu, cuda:N or metal (llama.cpp, the reference, runs on the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

impl AgreementArgs {
    /// Validates the flags.
    pub fn validate(&self) -> Result<AgreementPlan> {
        if self.tokens < 1 {
            return Err(Error::Config(format!(
                "--tokens must be at least 1, got {}",
                self.tokens
            )));
        }
        let threads = match self.threads {
            Some(t) if t < 1 => {
                return Err(Error::Config(format!(
                    "--threads must be at least 1, got {t}"
                )))
            }
            t => t.map(|t| t as usize),
        };
        if self.prompt.trim().is_empty() {
            return Err(Error::Config("--prompt is empty".into()));
        }
        Ok(AgreementPlan {
            config: AgreementConfig {
                model: self.model.clone(),
                prompt: self.prompt.clone(),
                tokens: self.tokens as usize,
                threads,
                device: self.device,
            },
            format: self.format,
        })
    }
}
