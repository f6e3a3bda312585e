//! `nativebench bench`: llama-bench-style tests on every in-process engine, a record per
//! test flushed to `bench.jsonl` as it completes, then the table in the chosen format.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::error::{Error, Result};
use crate::report::bench as fmt;
use crate::report::run_dir::{default_run_id, write_json_atomic, Manifest};
use crate::runner::bench::{run_all, BenchConfig, BenchRecord};

/// Output formats, as llama-bench's `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchFormat {
    Md,
    Csv,
    Json,
    Jsonl,
}

/// A validated `bench`: what to run, and where and how to write it.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    pub bench: BenchConfig,
    /// The run directory; by default a new one under `results_dir`.
    pub out: Option<PathBuf>,
    pub results_dir: PathBuf,
    pub output: BenchFormat,
}

/// Runs `bench`: every combination, a record per test flushed to `bench.jsonl` as it
/// completes, then the table in the chosen format on `out`. Warnings go to stderr.
pub fn run(plan: &BenchPlan, stop: &AtomicBool, out: &mut dyn Write) -> Result<Vec<BenchRecord>> {
    let config = &plan.bench;
    let started = chrono::Local::now();
    let model = config.engine.model.clone().unwrap_or_else(|| "sim".into());
    let dir = match &plan.out {
        Some(d) => d.clone(),
        None => super::run::unique(
            &plan
                .results_dir
                .join(default_run_id(&started, "bench", &model)),
        ),
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::Config(format!(
            "cannot create the run directory: {}: {e}",
            dir.display()
        ))
    })?;
    // An earlier bench in the same directory is a measurement: never written over.
    let jsonl_path = dir.join("bench.jsonl");
    let mut jsonl = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&jsonl_path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Config(format!(
                "{} already holds a bench (bench.jsonl): give another -o, or remove it",
                dir.display()
            )),
            _ => Error::io(&jsonl_path, e),
        })?;
    write_json_atomic(&dir.join("run_config.json"), config)?;
    let mut records = Vec::new();
    let mut manifest_written = false;
    let machine = crate::env::MachineInfo::detect();
    run_all(config, stop, &mut |r, info| {
        let mut r = r.clone();
        let sim = (info.name == "sim").then_some(&config.engine.sim);
        r.mbu = super::roofline::token_cost(sim, info)
            .and_then(|(cost, _)| super::roofline::bench_mbu(&r, cost, &machine, info));
        let r = &r;
        if !manifest_written {
            manifest_written = true;
            write_json_atomic(
                &dir.join("manifest.json"),
                &Manifest::capture(&started, info)?,
            )?;
        }
        let line = serde_json::to_string(r).unwrap_or_default() + "\n";
        jsonl
            .write_all(line.as_bytes())
            .and_then(|_| jsonl.flush())
            .map_err(|e| Error::io(&jsonl_path, e))?;
        if r.rate.cv > crate::metrics::aggregate::NOISY_CV {
            eprintln!(
                "warning: noisy: {} {} varies {:.1}% (CV) across {} repetitions",
                r.engine,
                r.test,
                r.rate.cv * 100.0,
                r.samples_ns.len()
            );
        }
        records.push(r.clone());
        Ok(())
    })?;
    let text = match plan.output {
        BenchFormat::Md => fmt::markdown(&records),
        BenchFormat::Csv => fmt::csv(&records),
        BenchFormat::Json => fmt::json(&records),
        BenchFormat::Jsonl => fmt::jsonl(&records),
    };
    let _ = out.write_all(text.as_bytes());
    Ok(records)
}
