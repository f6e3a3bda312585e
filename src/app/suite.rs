//! `nativebench suite year1`: runs the sageLLM Year 1 workloads one after another
//! through `run`, and writes each one's figures under the contract's names
//! (`<workload>_metrics.json`), `benchmark_summary.json` and `REPORT.md`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::report::sagellm::{SageMetrics, SuiteEntry, SuiteSummary};

/// One workload of a suite, as the contract defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuiteWorkload {
    /// Its name: the stem of its metrics file (`short_input` -> short_input_metrics.json).
    pub name: &'static str,
    pub input_tokens: usize,
    pub output_tokens: usize,
    pub requests: usize,
    pub concurrency: usize,
}

/// sageLLM's Year 1 workloads.
pub const YEAR1: [SuiteWorkload; 3] = [
    SuiteWorkload {
        name: "short_input",
        input_tokens: 128,
        output_tokens: 128,
        requests: 5,
        concurrency: 1,
    },
    SuiteWorkload {
        name: "long_input",
        input_tokens: 200,
        output_tokens: 200,
        requests: 3,
        concurrency: 1,
    },
    SuiteWorkload {
        name: "stress_test",
        input_tokens: 256,
        output_tokens: 256,
        requests: 10,
        concurrency: 10,
    },
];

/// One workload and the `run` that measures it.
#[derive(Debug, Clone)]
pub struct SuiteRun {
    pub workload: SuiteWorkload,
    pub config: super::run::RunConfig,
}

/// A validated suite.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    pub name: String,
    /// Where its files go.
    pub out: PathBuf,
    pub runs: Vec<SuiteRun>,
}

/// What a suite produced.
#[derive(Debug)]
pub struct SuiteResult {
    pub summary: Option<SuiteSummary>,
    pub interrupted: bool,
}

fn unix_s(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn write_file(path: &std::path::Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| Error::Runtime(format!("writing {}: {e}", path.display())))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

/// Runs every workload in turn, writing its contract file as soon as it ends, then the
/// summary and the report. A stop (Ctrl-C) ends the suite after the workload it was in.
pub fn run(config: &SuiteConfig, stop: &AtomicBool, out: &mut dyn Write) -> Result<SuiteResult> {
    std::fs::create_dir_all(&config.out)
        .map_err(|e| Error::Runtime(format!("creating {}: {e}", config.out.display())))?;
    let mut entries = Vec::new();
    let (mut engine, mut model) = (String::new(), String::new());
    for r in &config.runs {
        let start = SystemTime::now();
        let result = super::run::execute(&r.config, stop, &mut std::io::sink())?;
        let end = SystemTime::now();
        let Some((dir, metrics)) = result.runs.into_iter().next() else {
            return Ok(SuiteResult {
                summary: None,
                interrupted: true,
            });
        };
        engine.clone_from(&metrics.engine);
        model.clone_from(&metrics.model);
        let sage = SageMetrics::of(&metrics, unix_s(start), unix_s(end));
        let file = config.out.join(format!("{}_metrics.json", r.workload.name));
        write_file(&file, to_json(&sage))?;
        let _ = writeln!(
            out,
            "{}: {} of {} requests, avg TTFT {} ms, {} tok/s -> {}",
            r.workload.name,
            sage.successful_requests,
            sage.total_requests,
            sage.avg_ttft_ms.map_or("n/a".into(), |v| format!("{v:.2}")),
            sage.avg_throughput_tps
                .map_or("n/a".into(), |v| format!("{v:.1}")),
            file.display()
        );
        entries.push(SuiteEntry {
            workload: r.workload.name.into(),
            input_tokens: r.workload.input_tokens,
            output_tokens: r.workload.output_tokens,
            requests: r.workload.requests,
            concurrency: r.workload.concurrency,
            run_dir: dir.display().to_string(),
            metrics: sage,
        });
        if result.interrupted || stop.load(Ordering::Relaxed) {
            break;
        }
    }
    let interrupted = entries.len() < config.runs.len();
    let summary = SuiteSummary::of(&config.name, &engine, &model, entries);
    write_file(
        &config.out.join("benchmark_summary.json"),
        to_json(&summary),
    )?;
    write_file(&config.out.join("REPORT.md"), summary.markdown())?;
    let _ = writeln!(
        out,
        "suite {}: {} requests, {} failed; summary and REPORT.md in {}",
        config.name,
        summary.total_requests,
        summary.failed_requests,
        config.out.display()
    );
    Ok(SuiteResult {
        summary: Some(summary),
        interrupted,
    })
}
