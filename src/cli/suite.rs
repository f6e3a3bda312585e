//! `nativebench suite year1`: the sageLLM benchmark's Year 1 suite (short, long and
//! stress workloads) on one engine, with the run flags that choose and tune the engine.
//! The suite fixes each workload's lengths, requests and concurrency itself.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::app::suite::{SuiteConfig, SuiteRun, YEAR1};
use crate::error::{Error, Result};

/// Where a suite's files go without `--out`, as sageLLM's runner names it.
pub const DEFAULT_OUT: &str = "benchmark_results";

/// The suites there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SuiteName {
    /// sageLLM's Year 1 contract: short (128 -> 128, 5 requests), long (200 -> 200, 3
    /// requests) and stress (256 -> 256, 10 requests at once).
    Year1,
}

/// Flags of `nativebench suite`.
#[derive(Debug, Clone, Args)]
pub struct SuiteArgs {
    /// The suite to run.
    #[arg(value_enum)]
    pub suite: SuiteName,
    /// The engine, model and their settings, as `run` takes them (one engine; default
    /// sim). `--out`/`-o` is where the suite's files go (default `benchmark_results`):
    /// the contract's five files and a run directory per workload.
    #[command(flatten)]
    pub run: super::run::RunArgs,
}

impl SuiteArgs {
    /// Validates the flags once, into a config: a `run` config per workload.
    pub fn validate(&self) -> Result<SuiteConfig> {
        let r = &self.run;
        let fixed = [
            ("--workload", r.workload.is_some()),
            ("--dataset-path", r.dataset_path.is_some()),
            ("--prompt", r.prompt.is_some()),
            ("--num-prompts", r.num_prompts.is_some()),
            ("--concurrency", r.concurrency.is_some()),
            ("--random-input-len", r.random_input_len.is_some()),
            ("--output-len", r.output_len.is_some()),
            ("--random-range-ratio", r.random_range_ratio.is_some()),
            ("--concurrency-list", !r.http.concurrency_list.is_empty()),
            ("--request-rate-list", !r.http.request_rate_list.is_empty()),
        ];
        if let Some((flag, _)) = fixed.iter().find(|(_, given)| *given) {
            return Err(Error::Config(format!(
                "suite year1 sets {flag} itself (each workload's lengths, requests and concurrency are the contract's)"
            )));
        }
        if r.engine.len() > 1 {
            return Err(Error::Config(
                "suite runs one engine: give one --engine".into(),
            ));
        }
        if r.shard.is_some() {
            return Err(Error::Config(
                "--shard splits one `run`; a suite runs several workloads".into(),
            ));
        }
        let out = r.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
        let mut runs = Vec::new();
        for w in YEAR1 {
            let mut a = r.clone();
            if a.engine.is_empty() {
                a.engine = vec!["sim".into()];
            }
            a.workload = Some("random".into());
            a.random_input_len = Some(w.input_tokens);
            a.output_len = Some(w.output_tokens);
            a.num_prompts = Some(w.requests);
            a.concurrency = Some(w.concurrency);
            a.random_range_ratio = Some(0.0);
            a.out = Some(out.join(format!("{}_run", w.name)));
            a.quiet = true;
            runs.push(SuiteRun {
                workload: w,
                config: a.validate()?,
            });
        }
        Ok(SuiteConfig {
            name: "year1".into(),
            out,
            runs,
        })
    }
}
