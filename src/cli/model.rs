//! `nativebench model ...`: synthesise, inspect and check models.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::model::{
    self, registry, spec::synth_cache_path, synth::DEFAULT_SEED, GgufFile, ModelFormat,
    ModelReport, Quant,
};

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

/// Text for people, JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
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
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Output file (default: the model cache, where `--model synth:PRESET:QUANT` looks).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// `model inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A GGUF file, or any model spec that resolves to one (synth:tiny, gemma3-270m, hf:...).
    pub model: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
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
    #[arg(long)]
    pub min_rate: Option<f64>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs a `model` subcommand.
pub fn run(args: ModelArgs) -> anyhow::Result<()> {
    match args.command {
        ModelCommand::Synth(a) => synth(a),
        ModelCommand::Inspect(a) => inspect(a),
        ModelCommand::TokenizerParity(a) => parity(a),
    }
}

fn synth(a: SynthArgs) -> anyhow::Result<()> {
    let preset = registry()?.preset(&a.preset)?;
    let quant: Quant = a.quant.parse()?;
    let out = a.out.unwrap_or_else(|| {
        synth_cache_path(&model::spec::model_cache_dir(), &preset.name, quant, a.seed)
    });
    let s = model::synthesize(preset, quant, a.seed, &out)?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        Format::Text => println!(
            "wrote {} ({}, {:.1} M parameters, {} tokens of which {} learned) in {:.2} s\ntokenizer {}",
            s.gguf.display(),
            model::inspect::human_bytes(s.file_size_bytes),
            s.parameter_count as f64 / 1e6,
            s.vocab_size,
            s.learned_tokens,
            s.elapsed_s,
            s.tokenizer_json.display()
        ),
    }
    Ok(())
}

/// Resolves a spec that must end in a GGUF file.
fn gguf_path(spec: &str) -> anyhow::Result<PathBuf> {
    let m = model::resolve(spec)?;
    if m.format != ModelFormat::Gguf {
        anyhow::bail!(
            "{}: is a safetensors directory; this command reads GGUF files",
            m.path.display()
        );
    }
    Ok(m.path)
}

fn inspect(a: InspectArgs) -> anyhow::Result<()> {
    let path = gguf_path(&a.model)?;
    let report = ModelReport::from_gguf(&GgufFile::open(&path)?)?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print!("{}", report.to_text()),
    }
    Ok(())
}

fn parity(a: ParityArgs) -> anyhow::Result<()> {
    let path = gguf_path(&a.model)?;
    let texts: Vec<&str> = model::tokenizer::corpus_paragraphs().collect();
    let report = model::tokenizer_parity(&path, a.tokenizer_json.as_deref(), &texts)?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print!("{}", report.to_text()),
    }
    if let Some(min) = a.min_rate {
        if report.match_rate < min {
            anyhow::bail!(
                "{}: tokenizer match rate {:.4} is below {min}",
                path.display(),
                report.match_rate
            );
        }
    }
    Ok(())
}
