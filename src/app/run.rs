//! `nativebench run`: for each engine, build it, build the requests, open the run
//! directory, drive the runner, and write the files; with a sweep, once per point. This is
//! the glue between the runner (which measures) and the report modules (which format).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::{print_json, OutputFormat};
use crate::engine::Request;
use crate::engine::{self, EngineConfig, EngineKind};
use crate::error::{Error, Result};
use crate::metrics::accuracy::Scorer;
use crate::metrics::cost::Prices;
use crate::metrics::goodput::Slo;
use crate::metrics::resources::ResourceSampler;
use crate::metrics::RequestRecord;
use crate::metrics::RunMetrics;
use crate::report::run_dir::{self, default_run_id, MANIFEST, METRICS, RUN_CONFIG};
use crate::report::sweep::{SweepPoint, SweepSummary, SWEEP_SUMMARY};
use crate::report::{summary, Manifest, MetricsFile, RunDir};
use crate::runner::sweep::Sweep;
use crate::runner::{self, progress::Progress, RunEvent, RunnerConfig};
use crate::workload::WorkloadSpec;

/// A validated `run`: everything needed, and exactly what `run_config.json` records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunConfig {
    /// Engines, run one after another.
    pub engines: Vec<EngineKind>,
    /// The engine settings shared by every engine of the run (`kind` is the first).
    pub engine: EngineConfig,
    pub workload: WorkloadSpec,
    /// How the requests are offered, in-process or to a server.
    pub runner: RunnerConfig,
    /// Latency objectives for goodput.
    pub goodput: Option<Slo>,
    /// Prices per million tokens, for the cost of each request and of the run.
    pub prices: Option<Prices>,
    /// Run once per value of a concurrency or rate list instead of once.
    pub sweep: Option<Sweep>,
    pub seed: u64,
    pub out: Option<PathBuf>,
    pub results_dir: PathBuf,
    pub format: OutputFormat,
    pub quiet: bool,
}

/// What a `run` produced.
#[derive(Debug)]
pub struct RunResult {
    /// Each engine's run directory and metrics, in order.
    pub runs: Vec<(PathBuf, MetricsFile)>,
    /// The user stopped the run.
    pub interrupted: bool,
}

impl RunResult {
    /// Some run measured requests and none of them completed.
    pub fn every_request_failed(&self) -> bool {
        self.runs
            .iter()
            .any(|(_, m)| m.metrics.num_requests > 0 && m.metrics.completed == 0)
    }
}

/// Runs every engine of `config` in turn (or the sweep), printing summaries to `out`.
pub fn execute(config: &RunConfig, stop: &AtomicBool, out: &mut dyn Write) -> Result<RunResult> {
    if let Some(sweep) = &config.sweep {
        return execute_sweep(config, sweep, stop, out);
    }
    let mut runs = Vec::new();
    let multi = config.engines.len() > 1;
    for &kind in &config.engines {
        let (dir, metrics) = run_one(config, kind, multi, stop)?;
        match config.format {
            OutputFormat::Table => {
                let _ = write!(
                    out,
                    "{}",
                    summary::render(&metrics, &dir.display().to_string())
                );
            }
            OutputFormat::Json => print_json(out, &metrics),
        }
        let interrupted = metrics.interrupted;
        runs.push((dir, metrics));
        if interrupted {
            return Ok(RunResult {
                runs,
                interrupted: true,
            });
        }
    }
    if multi && config.format == OutputFormat::Table {
        let all: Vec<MetricsFile> = runs.iter().map(|(_, m)| m.clone()).collect();
        let _ = write!(out, "\n{}", summary::side_by_side(&all));
    }
    Ok(RunResult {
        runs,
        interrupted: false,
    })
}

/// One engine, start to metrics.json: the engine (and, for a served one, its client) is
/// built once here and driven by the runner that fits it.
fn run_one(
    config: &RunConfig,
    kind: EngineKind,
    multi: bool,
    stop: &AtomicBool,
) -> Result<(PathBuf, MetricsFile)> {
    let engine_config = EngineConfig {
        kind,
        ..config.engine.clone()
    };
    let scorer = config.workload.scorer()?;
    let mut engine = engine::build(&engine_config)?;
    let requests = config
        .workload
        .requests(config.seed, &mut |r| engine.prompt_tokens(r))?;
    let info = engine.info();
    let in_process = engine.capabilities().in_process;
    let started = chrono::Local::now();
    let model_label = config
        .engine
        .model
        .clone()
        .unwrap_or_else(|| info.model.clone());
    let run_id = default_run_id(&started, kind.name(), &model_label);
    let dir = match (&config.out, multi) {
        (Some(o), false) => o.clone(),
        (Some(o), true) => o.join(kind.name()),
        (None, _) => unique(&config.results_dir.join(&run_id)),
    };
    // A run directory that cannot be made is a path the user gave (or a results
    // folder they cannot write): invalid input.
    let mut run_dir = RunDir::create(&dir)
        .map_err(|e| Error::Config(format!("cannot create the run directory: {e}")))?;

    let mut recorded = RunConfig {
        engines: vec![kind],
        engine: engine_config,
        ..config.clone()
    };
    recorded.out = Some(dir.clone());
    run_dir.write_json(RUN_CONFIG, &recorded)?;
    run_dir.write_json(MANIFEST, &Manifest::capture(&started, &info)?)?;

    let mut progress = Progress::new(kind.name(), config.quiet);
    let sampler = ResourceSampler::start();
    let mut on_event = |ev: RunEvent<'_>| {
        progress.on_event(&ev);
        match ev {
            RunEvent::Request(r) => run_dir.append(r),
            _ => Ok(()),
        }
    };
    let outcome = runner::run(
        engine.as_mut(),
        &requests,
        &config.runner,
        stop,
        &mut on_event,
    );
    progress.finish();
    let resources = sampler.stop();
    let mut outcome = outcome?;
    // Off the timed path: every request has ended before anything is scored or priced.
    if scorer.is_some() || config.prices.is_some() {
        annotate(
            &mut outcome.records,
            &requests,
            scorer.as_ref(),
            config.prices,
        );
        run_dir.rewrite_samples(&outcome.records)?;
    }

    let mut metrics = RunMetrics::compute(&outcome.records, in_process, resources);
    metrics.warnings.splice(0..0, outcome.notes);
    if let Some(slo) = config.goodput {
        metrics.goodput = Some(crate::metrics::goodput::compute(
            &outcome.records,
            slo,
            metrics.duration_s,
        ));
    }
    let file = MetricsFile {
        run_id: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(run_id),
        engine: kind.name().into(),
        model: model_label,
        workload: config.workload.name.clone(),
        started_at: started.to_rfc3339(),
        interrupted: outcome.interrupted,
        driver: Some(outcome.driver),
        metrics,
    };
    run_dir.write_json(METRICS, &file)?;
    Ok((run_dir.path().to_owned(), file))
}

/// Scores each completed record against its request's expected answer, and prices it.
fn annotate(
    records: &mut [RequestRecord],
    requests: &[Request],
    scorer: Option<&Scorer>,
    prices: Option<Prices>,
) {
    let expected: std::collections::HashMap<u64, &str> = requests
        .iter()
        .filter_map(|q| Some((q.id, q.expected.as_deref()?)))
        .collect();
    for r in records {
        if let (Some(s), Some(want)) = (scorer, expected.get(&r.request_id)) {
            s.score(want, r);
        }
        if let Some(p) = prices {
            r.cost_usd = p.of(r);
        }
    }
}

/// Runs the one engine once per sweep point, each into `<out>/<point>`, and writes
/// `sweep_summary.json` beside them.
fn execute_sweep(
    config: &RunConfig,
    sweep: &Sweep,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<RunResult> {
    let kind = match config.engines.as_slice() {
        [kind] => *kind,
        _ => {
            return Err(Error::Config(
                "a sweep (--concurrency-list, --request-rate-list) runs one engine: name one with --engine"
                    .into(),
            ))
        }
    };
    let base = match &config.out {
        Some(o) => o.clone(),
        None => unique(&config.results_dir.join(format!(
            "{}-{}-sweep",
            chrono::Local::now().format("%Y%m%d-%H%M%S"),
            kind.name()
        ))),
    };
    let mut runs = Vec::new();
    let mut points = Vec::new();
    for (label, runner) in sweep.points(&config.runner) {
        let point = RunConfig {
            out: Some(base.join(&label)),
            runner: runner.clone(),
            sweep: None,
            ..config.clone()
        };
        let (dir, metrics) = run_one(&point, kind, false, stop)?;
        points.push(SweepPoint::of(
            &label,
            &dir.display().to_string(),
            &runner,
            &metrics,
        ));
        let interrupted = metrics.interrupted;
        runs.push((dir, metrics));
        if interrupted {
            break;
        }
    }
    let summary = SweepSummary {
        sweep: sweep.clone(),
        points,
    };
    run_dir::write_json_atomic(&base.join(SWEEP_SUMMARY), &summary)?;
    match config.format {
        OutputFormat::Table => {
            let _ = write!(
                out,
                "{}\nsweep summary: {}\n",
                summary.render(),
                base.display()
            );
        }
        OutputFormat::Json => print_json(out, &summary),
    }
    let interrupted = runs.last().is_some_and(|(_, m)| m.interrupted);
    Ok(RunResult { runs, interrupted })
}

/// `path`, or `path-2`, `path-3` ... when it exists, so two runs in the same second
/// never share a directory.
pub fn unique(path: &Path) -> PathBuf {
    if !path.exists() {
        return path.to_owned();
    }
    (2..)
        .map(|i| PathBuf::from(format!("{}-{i}", path.display())))
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.to_owned())
}
