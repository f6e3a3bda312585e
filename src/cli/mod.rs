//! The command line: clap definitions that mirror what users type, and the one step that
//! validates them into the config structs of the application layer (`app`). Nothing
//! here runs a command, and nothing downstream re-checks a flag.

pub mod agreement;
pub mod bench;
pub mod compare;
pub mod engine_args;
pub mod http;
pub mod model;
pub mod preprocess;
pub mod prices;
pub mod ranged;
pub mod ratio;
pub mod report;
pub mod run;
pub mod search;
pub mod serve;
pub mod suite;
pub mod sweep;

use clap::{Args, Parser, Subcommand};

pub use crate::app::OutputFormat;

/// nativebench: in-process LLM inference benchmark.
#[derive(Debug, Parser)]
#[command(name = "nativebench", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure a workload on one or more engines and write a run directory for each.
    Run(Box<run::RunArgs>),
    /// llama-bench-style prefill/decode tests (pp, tg, pp+tg) on in-process engines.
    Bench(Box<bench::BenchArgs>),
    /// Turn run directories into CSV, Markdown and HTML reports.
    Report(ReportArgs),
    /// Show what machine and build this is (CPU, cores, memory, OS, GPU, features).
    Env(EnvArgs),
    /// List the built-in workloads.
    Workloads,
    /// Synthesise, inspect and check models.
    Model(model::ModelArgs),
    /// Serve an in-process engine over an OpenAI-compatible HTTP API.
    Serve(Box<serve::ServeArgs>),
    /// Run a workload in-process and through `serve`, and decompose the served overhead.
    Compare(Box<compare::CompareArgs>),
    /// Load one GGUF in candle and in llama.cpp, decode greedily with both from the same
    /// prompt tokens, and print how many tokens agree and the first step's logit gap.
    CheckAgreement(agreement::AgreementArgs),
    /// The ratio new / base of two sets of measurements (their medians), its 95%
    /// bootstrap interval, and whether it lies within a target band.
    Ratio(ratio::RatioArgs),
    /// Time what happens before prefill and after decode: chat-template rendering against
    /// tokenization, parallel tokenization, minijinja against llama.cpp's templater,
    /// `tokenizers` against llama.cpp's tokenizer, and detokenization.
    Preprocess(Box<preprocess::PreprocessArgs>),
    /// Run a benchmark suite and write its metric contract: `suite year1` is sageLLM's
    /// short, long and stress workloads, with its field names.
    Suite(Box<suite::SuiteArgs>),
    /// Run a matrix of runs on a scheduler: `sweep plan` writes the plan and its Slurm
    /// job array and Kubernetes Indexed Job, `sweep run` runs one point, `sweep
    /// collect` gathers the finished points.
    Sweep(sweep::SweepArgs),
}

/// llama.cpp tools spell some flags with one dash and several letters (`-pg`, `-ub`,
/// `-ngl`, `-fa`, `-tb`, `-np`, `-ctk`, `-ctv`); clap's short flags are one letter, so those are rewritten to
/// their long aliases before parsing.
pub fn normalize_args<I: IntoIterator<Item = std::ffi::OsString>>(
    args: I,
) -> Vec<std::ffi::OsString> {
    args.into_iter()
        .map(|a| match a.to_str() {
            Some("-pg" | "-ub" | "-ngl" | "-fa" | "-tb" | "-np" | "-ctk" | "-ctv") => {
                format!("-{}", a.to_string_lossy()).into()
            }
            _ => a,
        })
        .collect()
}

/// Arguments of `nativebench env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Measure this machine's memory read bandwidth and peak f32/int8 rates at 1..N
    /// threads and cache them (~/.cache/nativebench/probe.json, or $NATIVEBENCH_PROBE)
    /// for decode_mbu, prefill_mfu and the roofline.
    #[arg(long)]
    pub probe: bool,
    /// Probe up to this many threads; default: every CPU this process may use.
    #[arg(long, requires = "probe", allow_negative_numbers = true, value_parser = ranged::int::<usize>(crate::limits::THREADS))]
    pub probe_threads: Option<usize>,
    /// A smaller, faster probe (64 MiB reads), less settled figures.
    #[arg(long, requires = "probe")]
    pub quick: bool,
}

pub use report::ReportArgs;
