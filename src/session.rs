//! One `nativebench run`: for each engine, build it, build the requests, open the run
//! directory, drive the runner, and write the files. This is the glue between the
//! runner (which measures) and the report modules (which format).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::cli::run::RunConfig;
use crate::cli::OutputFormat;
use crate::engine::{self, EngineConfig, EngineKind};
use crate::error::{Error, Result};
use crate::metrics::resources::ResourceSampler;
use crate::metrics::RunMetrics;
use crate::report::run_dir::{self, default_run_id, MANIFEST, METRICS, RUN_CONFIG};
use crate::report::{summary, Manifest, MetricsFile, RunDir};
use crate::runner::{self, progress::Progress, RunEvent};

/// What a `run` produced.
#[derive(Debug)]
pub struct RunResult {
    /// Each engine's run directory and metrics, in order.
    pub runs: Vec<(PathBuf, MetricsFile)>,
    /// The user stopped the run.
    pub interrupted: bool,
}

/// The process-wide stop flag, set by the first Ctrl-C.
pub fn stop_flag() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    static HANDLER: OnceLock<()> = OnceLock::new();
    HANDLER.get_or_init(|| {
        // First Ctrl-C: finish the request in flight, write metrics.json, exit 130.
        // Second: leave at once; every finished request is already on disk.
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: finishing the request in flight and writing results (Ctrl-C again to quit now)");
        });
    });
    &STOP
}

/// Runs every engine of `config` in turn, printing summaries to `out`.
pub fn execute(config: &RunConfig, stop: &AtomicBool, out: &mut dyn Write) -> Result<RunResult> {
    let mut runs = Vec::new();
    let multi = config.engines.len() > 1;
    for &kind in &config.engines {
        if let (EngineKind::Http, Some(sweep)) = (kind, &config.load.sweep) {
            return sweep_http(config, sweep, stop, out);
        }
        let (dir, metrics) = run_one(config, kind, multi, stop)?;
        match config.format {
            OutputFormat::Table => {
                let _ = write!(
                    out,
                    "{}",
                    summary::render(&metrics, &dir.display().to_string())
                );
            }
            OutputFormat::Json => {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&metrics).unwrap_or_default()
                );
            }
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
    let mut engine = engine::build(&engine_config)?;
    let requests = config
        .workload
        .requests(config.seed, &mut |r| engine.prompt_tokens(r))?;
    let info = engine.info();
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
    // The http engine runs on the load generator, with many requests in flight.
    let outcome = if kind == EngineKind::Http {
        drop(engine);
        runner::load::run_http(
            &recorded.engine,
            &requests,
            &config.load,
            stop,
            &mut on_event,
        )
    } else {
        runner::run(
            engine.as_mut(),
            &requests,
            &config.runner,
            stop,
            &mut on_event,
        )
    };
    progress.finish();
    let resources = sampler.stop();
    let outcome = outcome?;

    let mut metrics = RunMetrics::compute(&outcome.records, kind != EngineKind::Http, resources);
    metrics.warnings.splice(0..0, outcome.notes);
    if let Some(slo) = config.load.goodput {
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
        metrics,
    };
    run_dir.write_json(METRICS, &file)?;
    Ok((run_dir.path().to_owned(), file))
}

/// Runs the http engine once per sweep point, each into `<out>/<point>`, and writes
/// `sweep_summary.json` beside them.
fn sweep_http(
    config: &RunConfig,
    sweep: &runner::sweep::Sweep,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<RunResult> {
    let base = match &config.out {
        Some(o) => o.clone(),
        None => unique(&config.results_dir.join(format!(
            "{}-http-sweep",
            chrono::Local::now().format("%Y%m%d-%H%M%S")
        ))),
    };
    let mut runs = Vec::new();
    let mut points = Vec::new();
    for (label, load) in sweep.points(&config.load) {
        let point = RunConfig {
            engines: vec![EngineKind::Http],
            out: Some(base.join(&label)),
            runner: runner::RunnerConfig {
                concurrency: load.concurrency,
                ..config.runner.clone()
            },
            load: load.clone(),
            ..config.clone()
        };
        let (dir, metrics) = run_one(&point, EngineKind::Http, false, stop)?;
        points.push(crate::report::sweep::SweepPoint::of(
            &label,
            &dir.display().to_string(),
            &load,
            &metrics,
        ));
        let interrupted = metrics.interrupted;
        runs.push((dir, metrics));
        if interrupted {
            break;
        }
    }
    let summary = crate::report::sweep::SweepSummary {
        sweep: sweep.clone(),
        points,
    };
    run_dir::write_json_atomic(&base.join(crate::report::sweep::SWEEP_SUMMARY), &summary)?;
    match config.format {
        OutputFormat::Table => {
            let _ = write!(
                out,
                "{}\nsweep summary: {}\n",
                summary.render(),
                base.display()
            );
        }
        OutputFormat::Json => {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_default()
            );
        }
    }
    let interrupted = runs.last().is_some_and(|(_, m)| m.interrupted);
    Ok(RunResult { runs, interrupted })
}

/// `path`, or `path-2`, `path-3` ... when it exists, so two runs in the same second
/// never share a directory.
fn unique(path: &Path) -> PathBuf {
    if !path.exists() {
        return path.to_owned();
    }
    (2..)
        .map(|i| PathBuf::from(format!("{}-{i}", path.display())))
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.to_owned())
}

/// Reads a run directory's metrics.json.
pub fn read_metrics(dir: &Path) -> Result<MetricsFile> {
    let p = dir.join(run_dir::METRICS);
    let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Json { path: p, source: e })
}
