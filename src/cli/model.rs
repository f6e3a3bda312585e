//! `nativebench model ...`: the flags of synth, inspect and tokenizer-parity, and their
//! validation into a [`ModelPlan`].

use std::path::PathBuf;

use super::ranged;
use crate::limits;
use clap::{Args, Subcommand};

use crate::app::model::{ModelPlan, TextFormat};
use crate::error::Result;
use crate::model::{synth::DEFAULT_SEED, Quant};

/// Arguments of `nativebench model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

/// The `model` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Write a synthetic GGUF (llama architecture, seeded random weights, trained BPE
    /// tokenizer) and its tokenizer.json; the same preset, quant and seed give the same bytes.
    Synth(SynthArgs),
    /// Show a GGUF's architecture, shapes, parameter count, bytes per tensor type, weight
    /// bytes read per decoded token, and tokenizer.
    Inspect(InspectArgs),
    /// Compare the `tokenizers` tokenizer converted from a GGUF with llama.cpp's own, on the
    /// shipped corpus, and print the match rate.
    TokenizerParity(ParityArgs),
}

/// `model synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Preset: tiny, llama-135m or llama-1b.
    #[arg(long)]
    pub preset: String,
    /// Weight type: f32, f16, q8_0, q4_0 or q4_k.
    #[arg(long, default_value = "q8_0")]
    pub quant: String,
    /// Seed of the random weights.
    #[arg(long, default_value_t = DEFAULT_SEED, allow_negative_numbers = true, value_parser = ranged::int::<u64>(limits::SEED))]
    pub seed: u64,
    /// Output file (default: the model cache, where `--model synth:PRESET:QUANT` looks).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextFormat,
}

/// `model inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A GGUF file, or any model spec that resolves to one (synth:tiny, gemma3-270m, hf:...).
    pub model: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextFormat,
}

/// `model tokenizer-parity`.
#[derive(Debug, Args)]
pub struct ParityArgs {
    /// A GGUF file, or any model spec that resolves to one.
    pub model: String,
    /// Compare this tokenizer.json instead of the one converted from the GGUF.
    #[arg(long)]
    pub tokenizer_json: Option<PathBuf>,
    /// Exit non-zero when the match rate is below this fraction.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::FRACTION))]
    pub min_rate: Option<f64>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextFormat,
}

impl ModelArgs {
    /// Validates the subcommand's flags.
    pub fn validate(&self) -> Result<ModelPlan> {
        Ok(match &self.command {
            ModelCommand::Synth(a) => ModelPlan::Synth {
                preset: a.preset.clone(),
                quant: a.quant.parse::<Quant>()?,
                seed: a.seed,
                out: a.out.clone(),
                format: a.format,
            },
            ModelCommand::Inspect(a) => ModelPlan::Inspect {
                model: a.model.clone(),
                format: a.format,
            },
            ModelCommand::TokenizerParity(a) => ModelPlan::TokenizerParity {
                model: a.model.clone(),
                tokenizer_json: a.tokenizer_json.clone(),
                min_rate: a.min_rate,
                format: a.format,
            },
        })
    }
}
