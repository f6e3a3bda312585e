//! Cross-engine agreement: one GGUF loaded in candle and in llama.cpp, the same prompt
//! token ids given to both, greedy decoding on both. It reports how many of the first N
//! tokens agree, and how far apart the two engines' logits are at the first step:
//!
//! relative logit difference = max_i |candle_i - llama_i| / max_i |llama_i|
//!
//! over the whole vocabulary, with llama.cpp as the reference. Same bytes, same tokens:
//! what remains is the arithmetic (kernels, accumulation order, activation quantization).

use std::path::PathBuf;

use serde::Serialize;

use super::OutputFormat;
use crate::engine::device::DeviceSpec;
use crate::engine::EngineError;
use crate::error::{Error, Result};

/// What to compare.
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementConfig {
    /// A model spec that resolves to a GGUF.
    pub model: String,
    /// Raw text (no chat template), tokenized by llama.cpp; both engines get those ids.
    pub prompt: String,
    /// Tokens to decode greedily.
    pub tokens: usize,
    /// CPU threads for both engines (default: each engine's default).
    pub threads: Option<usize>,
    /// Where candle computes; llama.cpp, the reference, stays on the CPU.
    pub device: DeviceSpec,
}

/// The outcome of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementReport {
    pub model: String,
    pub model_path: Option<PathBuf>,
    /// candle's device (llama.cpp ran on the CPU).
    pub candle_device: DeviceSpec,
    /// Prompt tokens both engines were given.
    pub prompt_tokens: usize,
    /// Whether candle's own tokenizer gives the same ids for the prompt.
    pub tokenizers_agree: bool,
    /// Tokens decoded by each engine.
    pub tokens: usize,
    /// Leading tokens that are the same in both.
    pub matching_prefix: usize,
    /// Positions where the two tokens are the same (including after a divergence).
    pub matching_total: usize,
    pub candle_tokens: Vec<u32>,
    pub llama_cpp_tokens: Vec<u32>,
    /// First step: max over the vocabulary of |candle - llama.cpp|.
    pub max_abs_logit_diff: f64,
    /// First step: max over the vocabulary of |llama.cpp|.
    pub max_abs_logit: f64,
    /// `max_abs_logit_diff / max_abs_logit`.
    pub max_rel_logit_diff: f64,
}

impl AgreementReport {
    /// Compares two greedy traces: tokens and first-step logits (`llama` is the reference).
    pub fn compare(
        candle: (&[u32], &[f32]),
        llama: (&[u32], &[f32]),
    ) -> Result<(usize, usize, f64, f64), EngineError> {
        let (ct, cl) = candle;
        let (lt, ll) = llama;
        if cl.len() != ll.len() {
            return Err(EngineError::Setup {
                engine: "check-agreement",
                message: format!(
                    "the engines disagree on the vocabulary: candle has {} logits, llama.cpp {}",
                    cl.len(),
                    ll.len()
                ),
            });
        }
        let prefix = ct.iter().zip(lt).take_while(|(a, b)| a == b).count();
        let total = ct.iter().zip(lt).filter(|(a, b)| a == b).count();
        let max_diff = cl
            .iter()
            .zip(ll)
            .map(|(a, b)| f64::from((a - b).abs()))
            .fold(0.0, f64::max);
        let max_ref = ll.iter().map(|b| f64::from(b.abs())).fold(0.0, f64::max);
        Ok((prefix, total, max_diff, max_ref))
    }

    /// A few lines for people.
    pub fn to_text(&self) -> String {
        let path = self
            .model_path
            .as_ref()
            .map(|p| format!(" ({})", p.display()))
            .unwrap_or_default();
        format!(
            "model: {}{path}\n\
             candle on {}, llama.cpp on the CPU\n\
             prompt: {} tokens, the same ids to both engines (candle's tokenizer {})\n\
             greedy tokens: {}/{} agree from the start, {}/{} positions in total\n\
             first-step logits: max |candle - llama.cpp| = {:.3e}, max |llama.cpp| = {:.3e}, relative = {:.3e}\n\
             candle:    {:?}\n\
             llama.cpp: {:?}\n",
            self.model,
            self.candle_device,
            self.prompt_tokens,
            if self.tokenizers_agree {
                "agrees"
            } else {
                "differs"
            },
            self.matching_prefix,
            self.tokens,
            self.matching_total,
            self.tokens,
            self.max_abs_logit_diff,
            self.max_abs_logit,
            self.max_rel_logit_diff,
            self.candle_tokens,
            self.llama_cpp_tokens,
        )
    }
}

/// Loads the model in both engines and compares their greedy decoding.
pub fn check(config: &AgreementConfig) -> std::result::Result<AgreementReport, EngineError> {
    imp::check(config)
}

/// A validated `check-agreement`.
#[derive(Debug, Clone)]
pub struct AgreementPlan {
    pub config: AgreementConfig,
    pub format: OutputFormat,
}

/// Runs the comparison and writes the report to `out`.
pub fn run(plan: &AgreementPlan, out: &mut dyn std::io::Write) -> Result<AgreementReport> {
    let report = check(&plan.config)?;
    let text = match plan.format {
        OutputFormat::Table => report.to_text(),
        OutputFormat::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::io("stdout", e))?;
    Ok(report)
}

#[cfg(all(feature = "candle", feature = "llama-cpp"))]
mod imp {
    use super::*;
    use crate::engine::candle::CandleEngine;
    use crate::engine::llama_cpp::LlamaCppEngine;
    use crate::engine::{CandleConfig, Engine, EngineConfig, EngineKind, LlamaCppConfig};

    pub(super) fn check(config: &AgreementConfig) -> Result<AgreementReport, EngineError> {
        let base = EngineConfig {
            kind: EngineKind::Candle,
            model: Some(config.model.clone()),
            threads: config.threads,
            llama: LlamaCppConfig {
                parallel: 1,
                ..LlamaCppConfig::default()
            },
            candle: CandleConfig {
                device: config.device,
                ..CandleConfig::default()
            },
            ..EngineConfig::default()
        };
        // candle first: its CPU thread pool is sized at its first use in the process.
        let mut candle = CandleEngine::open(&base)?;
        let mut llama = LlamaCppEngine::open(&EngineConfig {
            kind: EngineKind::LlamaCpp,
            ..base
        })?;
        let prompt = llama.tokenize_ids(&config.prompt);
        if prompt.is_empty() {
            return Err(EngineError::Setup {
                engine: "check-agreement",
                message: "the prompt has no tokens".into(),
            });
        }
        let tokenizers_agree = candle.tokenize(&config.prompt)? == prompt;
        let (ct, cl) = candle.greedy_trace(&prompt, config.tokens)?;
        let (lt, ll) = llama.greedy_trace(&prompt, config.tokens)?;
        let (matching_prefix, matching_total, max_diff, max_ref) =
            AgreementReport::compare((&ct, &cl), (&lt, &ll))?;
        let info = candle.info();
        Ok(AgreementReport {
            model: info.model,
            model_path: info.model_path,
            candle_device: config.device,
            prompt_tokens: prompt.len(),
            tokenizers_agree,
            tokens: config.tokens,
            matching_prefix,
            matching_total,
            candle_tokens: ct,
            llama_cpp_tokens: lt,
            max_abs_logit_diff: max_diff,
            max_abs_logit: max_ref,
            max_rel_logit_diff: if max_ref > 0.0 {
                max_diff / max_ref
            } else {
                max_diff
            },
        })
    }
}

#[cfg(not(all(feature = "candle", feature = "llama-cpp")))]
mod imp {
    use super::*;

    pub(super) fn check(_config: &AgreementConfig) -> Result<AgreementReport, EngineError> {
        let feature = if cfg!(feature = "candle") {
            "llama-cpp"
        } else {
            "candle"
        };
        Err(EngineError::NotCompiled {
            engine: feature,
            feature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_matching_prefix_and_total_and_the_logit_gap() {
        let (p, t, d, r) = AgreementReport::compare(
            (&[1, 2, 3, 9, 5], &[0.0, 1.0, -4.0]),
            (&[1, 2, 3, 4, 5], &[0.5, 1.0, -2.0]),
        )
        .unwrap();
        assert_eq!((p, t), (3, 4));
        assert_eq!(d, 2.0);
        assert_eq!(r, 2.0);
        let e = AgreementReport::compare((&[], &[0.0]), (&[], &[0.0, 1.0])).unwrap_err();
        assert!(e.to_string().contains("vocabulary"), "{e}");
    }
}
