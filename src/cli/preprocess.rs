//! `nativebench preprocess`: the flags of the chat-template and tokenization experiments,
//! validated into a [`PreprocessPlan`].

use std::path::PathBuf;

use clap::Args;

use super::ranged;
use crate::app::preprocess::{PreFormat, PreprocessPlan};
use crate::error::{Error, Result};
use crate::limits;
use crate::preprocess::parse_experiments;

/// Flags of `nativebench preprocess`.
#[derive(Debug, Clone, Args)]
pub struct PreprocessArgs {
    /// Model specs (repeat the flag): a GGUF, synth:PRESET, a registry name, hf:...
    /// Default: synth:tiny, and qwen2-r1-vocab and gemma3-270m where fetched.
    #[arg(long, short = 'm')]
    pub model: Vec<String>,
    /// A tokenizer.json to measure as one more model (no GGUF: experiments 3 and 4 skip it).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Experiments to run, comma-separated: 1 template-vs-tokenize, 2 parallel-tokenization,
    /// 3 template-engines, 4 tokenizers-vs-llama-cpp, 5 detokenization. Default: all.
    #[arg(long)]
    pub exp: Option<String>,
    /// Fewer sizes, batch sizes and repetitions: about a minute on 2 cores.
    #[arg(long)]
    pub quick: bool,
    /// Thread counts of experiment 2, comma-separated. Default: 1, 2, 4, ... up to the
    /// logical CPUs available, and that count.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::THREADS))]
    pub threads: Vec<usize>,
    /// Timed repetitions of each figure (default 5 with --quick, else 15).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::REPETITIONS))]
    pub repetitions: Option<usize>,
    /// The chat template for every model instead of its own: a Jinja file, a
    /// tokenizer_config.json, a GGUF or model spec (its embedded template), or a name of
    /// the built-in set (chatml, llama3, gemma, mistral, reasoning, tools).
    #[arg(long)]
    pub chat_template: Option<String>,
    /// Directory for results.csv (appended), preprocess.json, preprocess.md and
    /// preprocess.html.
    #[arg(long, default_value = "results/preprocess")]
    pub out: PathBuf,
    /// What to print on stdout.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = PreFormat::Md)]
    pub output: PreFormat,
}

impl PreprocessArgs {
    /// Validates the flags.
    pub fn validate(&self) -> Result<PreprocessPlan> {
        let experiments = match &self.exp {
            None => crate::preprocess::EXPERIMENTS.iter().map(|e| e.0).collect(),
            Some(s) => parse_experiments(s).map_err(|e| Error::Config(format!("--exp: {e}")))?,
        };
        let mut threads = self.threads.clone();
        if threads.is_empty() {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mut t = 1;
            while t < n {
                threads.push(t);
                t *= 2;
            }
            threads.push(n);
        }
        if !threads.contains(&1) {
            // Speed-up is against one thread.
            threads.push(1);
        }
        threads.sort_unstable();
        threads.dedup();
        Ok(PreprocessPlan {
            models: self.model.clone(),
            tokenizer: self.tokenizer.clone(),
            experiments,
            quick: self.quick,
            threads,
            repetitions: self.repetitions,
            chat_template: self.chat_template.clone(),
            out: self.out.clone(),
            output: self.output,
        })
    }
}
