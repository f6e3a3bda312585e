//! `nativebench model ...`: synthesise a GGUF, inspect one, and check the tokenizer
//! converted from one against llama.cpp's.

use std::path::PathBuf;

use super::print_json;
use crate::error::{Error, Result};
use crate::model::{
    self, registry, spec::synth_cache_path, GgufFile, ModelFormat, ModelReport, Quant,
};

/// Text for people, JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextFormat {
    Text,
    Json,
}

/// A validated `model` subcommand.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelPlan {
    Synth {
        preset: String,
        quant: Quant,
        seed: u64,
        /// Default: the model cache, where `--model synth:PRESET:QUANT` looks.
        out: Option<PathBuf>,
        format: TextFormat,
    },
    Inspect {
        model: String,
        format: TextFormat,
    },
    TokenizerParity {
        model: String,
        tokenizer_json: Option<PathBuf>,
        /// Fail when the match rate is below this fraction.
        min_rate: Option<f64>,
        format: TextFormat,
    },
}

/// Runs a `model` subcommand, printing its result on stdout.
pub fn run(plan: &ModelPlan) -> Result<()> {
    match plan {
        ModelPlan::Synth {
            preset,
            quant,
            seed,
            out,
            format,
        } => synth(preset, *quant, *seed, out.clone(), *format),
        ModelPlan::Inspect { model, format } => inspect(model, *format),
        ModelPlan::TokenizerParity {
            model,
            tokenizer_json,
            min_rate,
            format,
        } => parity(model, tokenizer_json.as_deref(), *min_rate, *format),
    }
}

fn synth(
    preset: &str,
    quant: Quant,
    seed: u64,
    out: Option<PathBuf>,
    format: TextFormat,
) -> Result<()> {
    let preset = registry()?.preset(preset)?;
    let out = out.unwrap_or_else(|| {
        synth_cache_path(&model::spec::model_cache_dir(), &preset.name, quant, seed)
    });
    let s = model::synthesize(preset, quant, seed, &out)?;
    match format {
        TextFormat::Json => print_json(&mut std::io::stdout().lock(), &s),
        TextFormat::Text => println!(
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
fn gguf_path(spec: &str) -> Result<PathBuf> {
    let m = model::resolve(spec)?;
    if m.format != ModelFormat::Gguf {
        return Err(Error::Config(format!(
            "{}: is a safetensors directory; this command reads GGUF files",
            m.path.display()
        )));
    }
    Ok(m.path)
}

fn inspect(spec: &str, format: TextFormat) -> Result<()> {
    let path = gguf_path(spec)?;
    let report = ModelReport::from_gguf(&GgufFile::open(&path)?)?;
    match format {
        TextFormat::Json => print_json(&mut std::io::stdout().lock(), &report),
        TextFormat::Text => print!("{}", report.to_text()),
    }
    Ok(())
}

fn parity(
    spec: &str,
    tokenizer_json: Option<&std::path::Path>,
    min_rate: Option<f64>,
    format: TextFormat,
) -> Result<()> {
    let path = gguf_path(spec)?;
    let texts: Vec<&str> = model::tokenizer::corpus_paragraphs().collect();
    let report = model::tokenizer_parity(&path, tokenizer_json, &texts)?;
    match format {
        TextFormat::Json => print_json(&mut std::io::stdout().lock(), &report),
        TextFormat::Text => print!("{}", report.to_text()),
    }
    if let Some(min) = min_rate {
        if report.match_rate < min {
            return Err(Error::Runtime(format!(
                "{}: tokenizer match rate {:.4} is below {min}",
                path.display(),
                report.match_rate
            )));
        }
    }
    Ok(())
}
