//! The command line: clap definitions that mirror what users type, and the one step that
//! validates them into config structs. Nothing downstream re-checks a flag.

pub mod model;
pub mod run;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Turn run directories into CSV, Markdown and HTML reports.
    Report(ReportArgs),
    /// Show what machine and build this is (CPU, cores, memory, OS, GPU, features).
    Env(EnvArgs),
    /// List the built-in workloads.
    Workloads,
    /// Synthesise, inspect and check models.
    Model(model::ModelArgs),
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// A human-readable table.
    Table,
    /// JSON (for `run`, the contents of metrics.json).
    Json,
}

/// Arguments of `nativebench env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// Arguments of `nativebench report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directories, or directories holding run directories.
    pub paths: Vec<PathBuf>,
}
