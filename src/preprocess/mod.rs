//! `nativebench preprocess`: what happens before prefill and after decode, measured as
//! experiments of their own: chat-template rendering against tokenization (1), parallel
//! tokenization (2), minijinja against llama.cpp's built-in templater (3), Hugging Face
//! `tokenizers` against llama.cpp's tokenizer (4), and whole against incremental
//! detokenization (5). Every figure is one flat [`Row`] that every output format writes.

pub mod experiments;
pub mod llama;
pub mod measure;
pub mod templates;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::engine::template::ChatTemplate;
use crate::error::{Error, Result};
use crate::metrics::aggregate::NOISY_CV;
pub use measure::{Reps, Timing};

/// The experiments, by number and name.
pub const EXPERIMENTS: &[(u8, &str)] = &[
    (1, "template-vs-tokenize"),
    (2, "parallel-tokenization"),
    (3, "template-engines"),
    (4, "tokenizers-vs-llama-cpp"),
    (5, "detokenization"),
];

/// The name of experiment `n`.
pub fn experiment_name(n: u8) -> &'static str {
    EXPERIMENTS
        .iter()
        .find(|e| e.0 == n)
        .map_or("unknown", |e| e.1)
}

/// One model as the experiments use it: its tokenizer and chat template.
pub struct PreModel {
    /// The label rows carry (the spec as given, or the registry name).
    pub label: String,
    /// The GGUF llama.cpp loads (vocab only) for experiments 3 and 4.
    pub gguf: Option<PathBuf>,
    pub tokenizer: Tokenizer,
    /// The model's own chat template, or the set's template chosen for it.
    pub template: ChatTemplate,
    /// Where the template came from: `gguf`, `file:...` or `set:<name>`.
    pub template_name: String,
    /// The template's source, for llama.cpp and the Python comparison.
    pub template_source: String,
    /// The `bos_token` and `eos_token` the template is rendered with.
    pub bos_token: String,
    pub eos_token: String,
}

/// What `nativebench preprocess` runs.
pub struct PreprocessConfig {
    pub models: Vec<PreModel>,
    /// Experiment numbers, ascending.
    pub experiments: Vec<u8>,
    pub quick: bool,
    /// Thread counts of experiment 2, ascending, starting with 1.
    pub threads: Vec<usize>,
    pub reps: Reps,
}

/// One measurement: the record every format (CSV, JSON, Markdown, HTML) writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub experiment: u8,
    pub experiment_name: String,
    pub model: String,
    /// The chat template rendered, where one was.
    pub template: String,
    /// What was timed: render, tokenize, batch, single, minijinja, llama_cpp_template,
    /// hf_tokenizers, llama_cpp_tokenizer, detokenize_whole, detokenize_incremental.
    pub phase: String,
    /// User turns of the conversation, where one was rendered.
    pub turns: Option<usize>,
    /// Bytes of input text (messages for rendering, prompt text for tokenizing).
    pub text_bytes: usize,
    /// Tokens produced or consumed.
    pub tokens: Option<usize>,
    pub threads: Option<usize>,
    pub batch: Option<usize>,
    #[serde(flatten)]
    pub timing: Timing,
    /// Per token or per text: median_us divided by the count it covers.
    pub per_item_us: Option<f64>,
    /// Experiment 1: render / tokenize; experiment 2: time at 1 thread / time here.
    pub ratio: Option<f64>,
    /// Experiments 3..5: whether both sides produced the same output.
    pub equal: Option<bool>,
    pub note: String,
}

impl Row {
    fn new(experiment: u8, model: &str, template: &str, phase: &str, timing: Timing) -> Row {
        Row {
            experiment,
            experiment_name: experiment_name(experiment).into(),
            model: model.into(),
            template: template.into(),
            phase: phase.into(),
            turns: None,
            text_bytes: 0,
            tokens: None,
            threads: None,
            batch: None,
            timing,
            per_item_us: None,
            ratio: None,
            equal: None,
            note: String::new(),
        }
    }
}

/// The whole result: rows, noise warnings and what was skipped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PreprocessReport {
    pub nativebench_version: String,
    pub timestamp: String,
    pub quick: bool,
    pub experiments: Vec<u8>,
    pub threads: Vec<usize>,
    pub models: Vec<String>,
    pub rows: Vec<Row>,
    /// One line per figure whose CV passed 5%, and per experiment that could not run.
    pub warnings: Vec<String>,
}

/// Runs the configured experiments in order; `progress` hears one line per step.
pub fn run(cfg: &PreprocessConfig, progress: &mut dyn FnMut(&str)) -> Result<PreprocessReport> {
    let mut report = PreprocessReport {
        nativebench_version: env!("CARGO_PKG_VERSION").into(),
        timestamp: chrono::Local::now().to_rfc3339(),
        quick: cfg.quick,
        experiments: cfg.experiments.clone(),
        threads: cfg.threads.clone(),
        models: cfg.models.iter().map(|m| m.label.clone()).collect(),
        ..Default::default()
    };
    for &e in &cfg.experiments {
        progress(&format!("experiment {e}: {}", experiment_name(e)));
        let rows = match e {
            1 => experiments::template_vs_tokenize(cfg)?,
            2 => experiments::parallel_tokenization(cfg)?,
            3 => llama::template_engines(cfg)?,
            4 => llama::tokenizers_vs_llama_cpp(cfg)?,
            5 => experiments::detokenization(cfg)?,
            other => {
                return Err(Error::Config(format!(
                    "unknown experiment {other} (known: 1..5)"
                )))
            }
        };
        report.rows.extend(rows);
    }
    for r in &report.rows {
        if r.timing.cv > NOISY_CV {
            report.warnings.push(format!(
                "noisy: experiment {} {} {} {} ({} B, threads {}, batch {}): CV {:.1}% over {} repetitions",
                r.experiment,
                r.model,
                r.template,
                r.phase,
                r.text_bytes,
                r.threads.map_or("-".into(), |t| t.to_string()),
                r.batch.map_or("-".into(), |t| t.to_string()),
                r.timing.cv * 100.0,
                r.timing.reps
            ));
        }
    }
    Ok(report)
}

/// Parses `--exp 1,3`: known numbers, ascending, without repeats.
pub fn parse_experiments(s: &str) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let n: u8 = part
            .parse()
            .ok()
            .filter(|n| EXPERIMENTS.iter().any(|e| e.0 == *n))
            .ok_or_else(|| format!("unknown experiment '{part}' (known: 1..5)"))?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}
