//! `nativebench run`: for each engine, build it, build the requests, open the run
//! directory, drive the runner, and write the files; with a sweep, once per point. This is
//! the glue between the runner (which measures) and the report modules (which format).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

use super::{print_json, OutputFormat};
use crate::engine::Request;
use crate::engine::{self, EngineConfig, EngineKind};
use crate::error::{Error, Result};
use crate::launch::scrape::{Scraper, Target};
use crate::launch::{LaunchSpec, Launched, ServerInfo};
use crate::metrics::accuracy::Scorer;
use crate::metrics::cost::Prices;
use crate::metrics::goodput::Slo;
use crate::metrics::resources::{ResourceSampler, SamplerConfig, RESOURCES_FILE};
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
    /// Search for the highest load meeting latency objectives instead of one run.
    pub slo_search: Option<super::slo_search::SloSearch>,
    /// End a sweep at its first saturated point, skipping the higher ones.
    pub stop_on_saturation: bool,
    /// This run is one shard of a load several client hosts generate together: its
    /// share of `runner`'s load and of the workload's prompts.
    pub shard: Option<crate::runner::shard::Shard>,
    /// A server to start for the run, and server metrics to scrape.
    pub server: ServerPlan,
    pub seed: u64,
    pub out: Option<PathBuf>,
    pub results_dir: PathBuf,
    pub format: OutputFormat,
    pub quiet: bool,
    /// How often resources are sampled into `resources.jsonl`, ms.
    pub sample_interval_ms: f64,
}

/// The server side of a run: a server to launch (`--launch`) and a Prometheus endpoint to
/// scrape (`--metrics-url`, or the launched server's own).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ServerPlan {
    pub launch: Option<LaunchSpec>,
    pub metrics_url: Option<String>,
    pub scrape_interval_s: f64,
    /// How long a launched server may take to answer /health and /v1/models.
    pub ready_timeout_s: f64,
}

/// A launched server while the run uses it: what the manifest records and where to
/// scrape.
pub(super) struct Watched {
    info: Option<ServerInfo>,
    target: Option<Target>,
}

/// How long the run's own one-token probe may take against a server just launched.
const LAUNCHED_PROBE_TIMEOUT_S: f64 = 120.0;

/// What a `run` produced.
#[derive(Debug)]
pub struct RunResult {
    /// Each engine's run directory and metrics, in order.
    pub runs: Vec<(PathBuf, MetricsFile)>,
    /// The user stopped the run.
    pub interrupted: bool,
    /// Why the command failed with its results kept (an SLO search whose lowest point
    /// already fails): exit 1 with this line.
    pub failure: Option<String>,
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
/// With `--launch`, the server is started first (its log in the run or sweep directory)
/// and stopped after, whatever happens.
pub fn execute(config: &RunConfig, stop: &AtomicBool, out: &mut dyn Write) -> Result<RunResult> {
    let Some(spec) = &config.server.launch else {
        let watched = Watched {
            info: None,
            target: config.server.metrics_url.clone().map(|u| Target {
                metrics_url: u,
                slots_url: None,
                interval: Duration::from_secs_f64(config.server.scrape_interval_s),
            }),
        };
        return execute_with(config, &watched, stop, out);
    };
    let label = spec.model.clone().unwrap_or_else(|| spec.words[0].clone());
    let dir = match &config.out {
        Some(o) => o.clone(),
        None => unique(&config.results_dir.join(match config.sweep {
            Some(_) => format!(
                "{}-http-sweep",
                chrono::Local::now().format("%Y%m%d-%H%M%S")
            ),
            None => default_run_id(&chrono::Local::now(), "http", &label),
        })),
    };
    let timeout = Duration::from_secs_f64(config.server.ready_timeout_s);
    let Some(mut server) = Launched::start(spec, &dir, timeout, stop)? else {
        return Ok(RunResult {
            runs: Vec::new(),
            interrupted: true,
            failure: None,
        });
    };
    let mut launched = config.clone();
    launched.out = Some(dir);
    launched.engine.http.url = Some(server.api_url.clone());
    launched.engine.http.ready_timeout_s = launched
        .engine
        .http
        .ready_timeout_s
        .max(LAUNCHED_PROBE_TIMEOUT_S);
    let watched = Watched {
        info: Some(server.info.clone()),
        target: Some(Target {
            metrics_url: config
                .server
                .metrics_url
                .clone()
                .unwrap_or_else(|| server.metrics_url.clone()),
            slots_url: server.slots_url.clone(),
            interval: Duration::from_secs_f64(config.server.scrape_interval_s),
        }),
    };
    let result = execute_with(&launched, &watched, stop, out);
    let alive = server.alive();
    let ended = server.stop();
    if !config.quiet {
        eprintln!(
            "launched server {ended}{}; its log: {}",
            if alive {
                ""
            } else {
                " (it had exited during the run)"
            },
            server.info.log.display()
        );
    }
    result
}

fn execute_with(
    config: &RunConfig,
    watched: &Watched,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<RunResult> {
    if let Some(search) = &config.slo_search {
        return super::slo_search::run(config, search, watched, stop, out);
    }
    if let Some(sweep) = &config.sweep {
        return execute_sweep(config, sweep, watched, stop, out);
    }
    let mut runs = Vec::new();
    let multi = config.engines.len() > 1;
    for &kind in &config.engines {
        let (dir, metrics) = run_one(config, kind, multi, watched, stop)?;
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
                failure: None,
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
        failure: None,
    })
}

/// One engine, start to metrics.json: the engine (and, for a served one, its client) is
/// built once here and driven by the runner that fits it.
pub(super) fn run_one(
    config: &RunConfig,
    kind: EngineKind,
    multi: bool,
    watched: &Watched,
    stop: &AtomicBool,
) -> Result<(PathBuf, MetricsFile)> {
    let engine_config = EngineConfig {
        kind,
        ..config.engine.clone()
    };
    let scorer = config.workload.scorer()?;
    let mut engine = engine::build(&engine_config)?;
    let mut requests = config
        .workload
        .requests(config.seed, &mut |r| engine.prompt_tokens(r))?;
    let mut load = config.runner.clone();
    if let Some(shard) = config.shard {
        let all = requests.len();
        requests = requests
            .into_iter()
            .enumerate()
            .filter(|(i, _)| shard.takes(*i))
            .map(|(_, r)| r)
            .collect();
        if requests.is_empty() {
            return Err(Error::Config(format!(
                "--shard {shard}: the workload has {all} prompt(s), none of them this shard's; give at least {} with --num-prompts",
                shard.count
            )));
        }
        load = shard.load(&config.runner).map_err(Error::Config)?;
    }
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
    let mut manifest = Manifest::capture(&started, &info)?;
    manifest.server = watched.info.clone();
    run_dir.write_json(MANIFEST, &manifest)?;
    let scraper = watched
        .target
        .clone()
        .filter(|_| kind.is_served())
        .map(|t| Scraper::start(t, run_dir.path()))
        .transpose()?;

    let run_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(run_id);
    let forced = MetricsFile {
        run_id: run_name.clone(),
        engine: kind.name().into(),
        model: model_label.clone(),
        workload: config.workload.name.clone(),
        started_at: started.to_rfc3339(),
        interrupted: true,
        driver: Some(if in_process {
            runner::Driver::InProcess
        } else {
            runner::Driver::Load
        }),
        started_unix_ms: None,
        metrics: RunMetrics::compute(&[], in_process, None),
    };
    let forced_dir = dir.clone();
    super::on_forced_stop(move || write_forced_metrics(&forced_dir, forced));

    let mut progress = Progress::new(kind.name(), config.quiet);
    let sampler = ResourceSampler::start_with(SamplerConfig {
        interval: Duration::from_secs_f64(config.sample_interval_ms / 1e3),
        series: Some(run_dir.path().join(RESOURCES_FILE)),
        ..SamplerConfig::default()
    });
    let mut on_event = |ev: RunEvent<'_>| {
        progress.on_event(&ev);
        match ev {
            // Once a forced stop has recorded the requests in flight, nothing more is
            // written beside them.
            RunEvent::Request(_) if runner::in_flight::closed() => Ok(()),
            RunEvent::Request(r) => run_dir.append(r),
            _ => Ok(()),
        }
    };
    let outcome = runner::run(engine.as_mut(), &requests, &load, stop, &mut on_event);
    progress.finish();
    // From here the run writes its own files; a forced stop waits for them.
    let _finishing = super::finishing();
    let sampled = sampler.stop();
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

    let mut metrics = RunMetrics::compute(&outcome.records, in_process, sampled.summary.clone());
    metrics.warnings.splice(0..0, outcome.notes);
    let repeats = crate::workload::repeated_prompts(&requests);
    if repeats > 0 {
        metrics.warnings.push(format!(
            "{repeats} of {} prompts repeat an earlier prompt of the workload: an engine that caches prefixes (--prefix-cache, most servers) answers a repeat from its cache, which flatters TTFT; give more distinct prompts or fewer --num-prompts",
            requests.len()
        ));
    }
    metrics.warnings.extend(sampled.warning.clone());
    metrics.energy = sampled.energy(metrics.total_output_tokens, metrics.completed);
    if let Some((cost, int8)) = in_process
        .then(|| {
            let sim = (kind == EngineKind::Sim).then_some(&recorded.engine.sim);
            super::roofline::token_cost(sim, &info)
        })
        .flatten()
    {
        let threads = info.threads.unwrap_or(1);
        let (limits, note) = super::roofline::limits(&manifest.machine, &info, threads, int8);
        metrics.warnings.extend(note);
        metrics.roofline = Some(super::roofline::of_run(
            cost,
            limits,
            &outcome.records,
            metrics.decode_tok_s.as_ref().map(|s| s.mean),
            metrics.prefill_tok_s.as_ref().map(|s| s.mean),
        ));
    }
    if let Some(scraper) = scraper {
        let (server, warning) = scraper.stop();
        metrics.warnings.extend(warning);
        metrics.server = Some(server);
    }
    if let Some(slo) = config.goodput {
        metrics.goodput = Some(crate::metrics::goodput::compute(
            &outcome.records,
            slo,
            metrics.duration_s,
        ));
    }
    let file = MetricsFile {
        run_id: run_name,
        engine: kind.name().into(),
        model: model_label,
        workload: config.workload.name.clone(),
        started_at: started.to_rfc3339(),
        interrupted: outcome.interrupted,
        driver: Some(outcome.driver),
        started_unix_ms: outcome.started_unix_ms,
        metrics,
    };
    run_dir.write_json(METRICS, &file)?;
    Ok((run_dir.path().to_owned(), file))
}

/// metrics.json of a run stopped from outside (the grace period over, or a second
/// signal): the aggregates of every request samples.jsonl holds whole, with a warning that
/// the requests still in flight were cancelled.
fn write_forced_metrics(dir: &Path, mut file: MetricsFile) {
    let grace = super::STOP_GRACE.as_secs();
    let cancelled = runner::in_flight::cancel_all(&format!(
        "cancelled: still running {grace} s after the run was stopped"
    ));
    let samples = dir.join(run_dir::SAMPLES);
    if let Err(e) = append_records(&samples, &cancelled) {
        eprintln!("error: {e}");
    }
    let records = run_dir::read_samples(&samples)
        .map(|(r, _)| r)
        .unwrap_or_default();
    let in_process = file.driver == Some(runner::Driver::InProcess);
    file.metrics = RunMetrics::compute(&records, in_process, None);
    file.metrics.warnings.push(format!(
        "stopped by a signal: {} request(s) still in flight after the {grace} s grace period were cancelled and recorded as interrupted",
        cancelled.len()
    ));
    if let Err(e) = run_dir::write_json_atomic(&dir.join(METRICS), &file) {
        eprintln!("error: {e}");
    }
}

/// Appends `records` to a samples.jsonl, each line whole.
fn append_records(path: &Path, records: &[RequestRecord]) -> Result<()> {
    use std::io::Write as _;
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).unwrap_or_default());
        text.push('\n');
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::io(path, e))
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

/// The one engine of a command that runs it many times (`what`, for the error when there
/// are several), and the directory its runs go under: `--out`, else a new
/// `<results>/<time>-<engine>-<suffix>`.
pub(super) fn series_of_runs(
    config: &RunConfig,
    what: &str,
    suffix: &str,
) -> Result<(EngineKind, PathBuf)> {
    let kind = match config.engines.as_slice() {
        [kind] => *kind,
        _ => {
            return Err(Error::Config(format!(
                "{what} runs one engine: name one with --engine"
            )))
        }
    };
    let base = match &config.out {
        Some(o) => o.clone(),
        None => unique(&config.results_dir.join(format!(
            "{}-{}-{suffix}",
            chrono::Local::now().format("%Y%m%d-%H%M%S"),
            kind.name()
        ))),
    };
    Ok((kind, base))
}

/// Runs the one engine once per sweep point, each into `<out>/<point>`, and writes
/// `sweep_summary.json` beside them.
fn execute_sweep(
    config: &RunConfig,
    sweep: &Sweep,
    watched: &Watched,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<RunResult> {
    let (kind, base) = series_of_runs(
        config,
        "a sweep (--concurrency-list, --request-rate-list)",
        "sweep",
    )?;
    let mut runs = Vec::new();
    let mut points = Vec::new();
    let mut skipped = Vec::new();
    for (i, (label, runner)) in sweep.points(&config.runner).into_iter().enumerate() {
        // Once a point saturates no later one runs, so it stays the last point run.
        if let Some(at) = points
            .last()
            .filter(|p: &&SweepPoint| config.stop_on_saturation && p.saturated == Some(true))
        {
            if !config.quiet {
                eprintln!(
                    "skipping {label}: {} saturated (--stop-on-saturation)",
                    at.label
                );
            }
            skipped.push(label);
            continue;
        }
        // Each point its own prompts: a server's prefix cache cannot carry hits from one
        // point into the next.
        let point = RunConfig {
            out: Some(base.join(&label)),
            runner: runner.clone(),
            sweep: None,
            seed: config.seed.wrapping_add(i as u64),
            ..config.clone()
        };
        let (dir, metrics) = run_one(&point, kind, false, watched, stop)?;
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
        skipped,
        missing: Vec::new(),
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
    Ok(RunResult {
        runs,
        interrupted,
        failure: None,
    })
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
