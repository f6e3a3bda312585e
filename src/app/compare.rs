//! `nativebench compare`: the same prompts in-process and through `serve` (or any
//! OpenAI-compatible server given with --url), and the served overhead split into server
//! queue wait, HTTP/serialization and engine, written to `decomposition.json`, with where
//! each process's CPU went (and, with `--pin`, the engine and the client on their own
//! cores).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::run::{execute, unique, RunConfig, ServerPlan};
use crate::affinity::{self, CoreWatch, PinPlan};
use crate::engine::{self, EngineKind, Prompt};
use crate::error::{Error, Result};
use crate::metrics::resources::{machine_busy_seconds, process_cpu_seconds};
use crate::report::cpu::{CpuReport, ProcessCpu};
use crate::report::decomposition::{decompose, render, Decomposition, DECOMPOSITION};
use crate::report::run_dir::{default_run_id, write_json_atomic};
use crate::workload::WorkloadSpec;

/// How long `serve` may take to load its model and listen.
const SERVE_START_TIMEOUT: Duration = Duration::from_secs(600);

/// The `serve` child. Dropping it kills it; and because it runs with
/// `--stop-with-parent` and its stdin is this pipe, it also exits when `compare` dies
/// without running destructors (a second Ctrl-C, a signal), so no server is left behind.
struct ServeChild {
    child: Child,
    _stdin: Option<ChildStdin>,
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `nativebench serve` on loopback with exactly `engine_json`'s engine, and waits
/// for its `listening on URL` line. `None` when the user interrupted the wait.
fn start_serve(engine_json: &Path, stop: &AtomicBool) -> Result<Option<(ServeChild, String)>> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Runtime(format!("cannot find the nativebench binary: {e}")))?;
    let mut child = Command::new(exe)
        .args([
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--stop-with-parent",
        ])
        .arg("--engine-config-json")
        .arg(engine_json)
        // Each token chunk carries its send time beside its engine time.
        .arg("--stamp-chunks")
        // Its own process group: a Ctrl-C at the terminal reaches `compare` alone, which
        // finishes the requests in flight before it stops the server.
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Runtime(format!("cannot start `nativebench serve`: {e}")))?;
    let stdout = child.stdout.take();
    let stdin = child.stdin.take();
    let guard = ServeChild {
        child,
        _stdin: stdin,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        if let Some(s) = stdout {
            let _ = BufReader::new(s).read_line(&mut line);
        }
        let _ = tx.send(line);
    });
    let deadline = Instant::now() + SERVE_START_TIMEOUT;
    let line = loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => break line,
            Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(_) => break String::new(),
        }
    };
    match line.trim().strip_prefix("listening on ") {
        Some(url) => Ok(Some((guard, url.to_owned()))),
        None => Err(Error::Runtime(
            "`nativebench serve` did not start (see its error above)".into(),
        )),
    }
}

/// Writes the requests as a JSONL workload, so both sides send the very same prompts.
fn write_prompts(path: &Path, requests: &[engine::Request]) -> Result<()> {
    let mut text = String::new();
    for r in requests {
        let mut line = match &r.prompt {
            Prompt::Text(t) => serde_json::json!({ "prompt": t, "max_tokens": r.max_tokens }),
            Prompt::Chat(ms) => serde_json::json!({ "messages": ms, "max_tokens": r.max_tokens }),
        };
        if let Some(c) = &r.category {
            line["category"] = c.as_str().into();
        }
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// What `compare` produced.
#[derive(Debug)]
pub struct CompareOutcome {
    /// The decomposition, absent when the user stopped `compare` before the served run.
    pub decomposition: Option<Decomposition>,
    /// The user stopped it (Ctrl-C); the binary exits 130.
    pub interrupted: bool,
}

impl CompareOutcome {
    fn interrupted_before_serving(out: &mut dyn Write, inp_dir: &Path) -> Self {
        let _ = writeln!(
            out,
            "interrupted: the in-process run is kept in {}; the served run was not started",
            inp_dir.display()
        );
        CompareOutcome {
            decomposition: None,
            interrupted: true,
        }
    }
}

/// The directory `compare` writes into: `--out`, else a new one under the results dir.
fn out_dir(config: &RunConfig, kind: EngineKind, model: &str) -> PathBuf {
    config.out.clone().unwrap_or_else(|| {
        let engine = format!("compare-{}", kind.name());
        let id = default_run_id(&chrono::Local::now(), &engine, model);
        unique(&config.results_dir.join(id))
    })
}

/// The prompts, fitted by the in-process engine and written to `base/prompts.jsonl`, as
/// the workload both sides run, and the engine's compute threads.
fn shared_workload(config: &RunConfig, base: &Path) -> Result<(WorkloadSpec, Option<usize>)> {
    let (requests, threads) = {
        let mut engine = engine::build(&config.engine)?;
        let requests = config
            .workload
            .requests(config.seed, &mut |r| engine.prompt_tokens(r))?;
        (requests, engine.info().threads)
    };
    let prompts = base.join("prompts.jsonl");
    write_prompts(&prompts, &requests)?;
    let loaded = WorkloadSpec::load(&prompts.display().to_string())?;
    let spec = WorkloadSpec {
        name: config.workload.name.clone(),
        origin: prompts.display().to_string(),
        num_prompts: requests.len(),
        concurrency: config.workload.concurrency,
        chat: config.workload.chat,
        ignore_eos: config.workload.ignore_eos,
        ..loaded
    };
    Ok((spec, threads))
}

/// A validated `compare`.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// The run both sides share.
    pub run: RunConfig,
    /// `--pin`: the engine and the client on disjoint cores, where there are enough.
    pub pin: bool,
}

/// One process's CPU time and cores over a stretch of `compare`.
struct Span {
    role: &'static str,
    pid: u32,
    cpu0: Option<f64>,
    machine0: Option<f64>,
    t0: Instant,
    watch: CoreWatch,
}

impl Span {
    fn start(role: &'static str, pid: u32) -> Span {
        Span {
            role,
            pid,
            cpu0: process_cpu_seconds(&pid.to_string()),
            machine0: machine_busy_seconds(),
            t0: Instant::now(),
            watch: CoreWatch::start(pid),
        }
    }

    /// Ends the span; call it while the process still lives.
    fn end(self) -> ProcessCpu {
        self.end_with_machine().0
    }

    /// Ends the span, with the whole machine's CPU time over it (every process's).
    fn end_with_machine(self) -> (ProcessCpu, ProcessCpu) {
        let cpu1 = process_cpu_seconds(&self.pid.to_string());
        let machine1 = machine_busy_seconds();
        let wall_s = self.t0.elapsed().as_secs_f64();
        let all = affinity::list(&affinity::allowed_cores(0));
        let machine = ProcessCpu {
            role: "whole machine".into(),
            cpu_s: self.machine0.zip(machine1).map_or(f64::NAN, |(a, b)| b - a),
            wall_s,
            cores_allowed: all,
            cores_seen: String::new(),
        };
        let me = ProcessCpu {
            role: self.role.into(),
            cpu_s: self.cpu0.zip(cpu1).map_or(f64::NAN, |(a, b)| b - a),
            wall_s,
            cores_allowed: affinity::list(&affinity::allowed_cores(self.pid)),
            cores_seen: affinity::list(&self.watch.stop()),
        };
        (me, machine)
    }
}

/// `--pin`'s plan, or why there is none (printed), as the report's `pin` text.
fn pin_plan(
    pin: bool,
    threads: Option<usize>,
    allowed: &[usize],
    out: &mut dyn Write,
) -> (Option<PinPlan>, String) {
    if !pin {
        return (None, "off".into());
    }
    match PinPlan::split(threads.unwrap_or(allowed.len()), allowed) {
        Ok(p) => {
            let text = p.describe();
            let _ = writeln!(out, "pinned: {text}");
            (Some(p), text)
        }
        Err(e) => {
            let _ = writeln!(out, "{e}");
            (None, e)
        }
    }
}

/// Runs `compare` on the one in-process engine of `config` (checked by `cli`), printing
/// both runs' summaries and the decomposition to `out`. The first Ctrl-C (`stop`) ends
/// the current run after its requests in flight, keeps what was measured, writes what it
/// can, and stops the server.
pub fn run(
    compare: &CompareConfig,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<CompareOutcome> {
    let config = &compare.run;
    let kind = config.engines[0];
    let model = model_label(config);
    let base = out_dir(config, kind, &model);
    std::fs::create_dir_all(&base).map_err(|e| Error::io(&base, e))?;
    let (workload, threads) = shared_workload(config, &base)?;
    let allowed = affinity::allowed_cores(0);
    let (plan, pin_text) = pin_plan(compare.pin, threads, &allowed, out);
    // This thread's cores pass to every thread and process it starts: the in-process
    // engine's threads and the `serve` child get the engine's cores, the client's
    // runtime the client's.
    if let Some(p) = &plan {
        affinity::set_cores(0, &p.engine).map_err(Error::Runtime)?;
    }
    let outcome = run_sides(config, &base, workload, stop, out, plan.as_ref());
    if plan.is_some() {
        affinity::set_cores(0, &allowed).map_err(Error::Runtime)?;
    }
    let (mut d, interrupted) = match outcome? {
        Sides::Interrupted(inp_dir) => {
            return Ok(CompareOutcome::interrupted_before_serving(out, &inp_dir))
        }
        Sides::Done(d, interrupted) => (d, interrupted),
    };
    if let Some(cpu) = &mut d.cpu {
        cpu.engine_threads = threads;
        cpu.cores_available = allowed.len();
        cpu.pin = pin_text;
        cpu.explain(&d.rows);
    }
    write_json_atomic(&base.join(DECOMPOSITION), &d)?;
    let _ = writeln!(
        out,
        "{}decomposition: {}",
        render(&d),
        base.join(DECOMPOSITION).display()
    );
    Ok(CompareOutcome {
        decomposition: Some(*d),
        interrupted,
    })
}

/// How the two runs ended.
enum Sides {
    /// Stopped before the served run: the in-process run's directory.
    Interrupted(PathBuf),
    /// Both ran (the served one perhaps partly): the decomposition, and whether the user
    /// stopped it.
    Done(Box<Decomposition>, bool),
}

/// Runs the in-process side, then the served side, each process's CPU measured.
fn run_sides(
    config: &RunConfig,
    base: &Path,
    workload: WorkloadSpec,
    stop: &AtomicBool,
    out: &mut dyn Write,
    plan: Option<&PinPlan>,
) -> Result<Sides> {
    let kind = config.engines[0];
    let model = model_label(config);
    let me = std::process::id();
    // The server plan (--launch, --metrics-url) is the served side's alone.
    let inproc = RunConfig {
        engines: vec![kind],
        workload: workload.clone(),
        out: Some(base.join("in-process")),
        server: ServerPlan::default(),
        ..config.clone()
    };
    let span = Span::start("in-process run", me);
    let inp = execute(&inproc, stop, out)?;
    let inp_cpu = span.end();
    let interrupted = inp.interrupted;
    let (inp_dir, inp_metrics) = inp
        .runs
        .into_iter()
        .next()
        .ok_or_else(|| Error::Runtime("the in-process run measured nothing".into()))?;
    if interrupted || stop.load(Ordering::Relaxed) {
        return Ok(Sides::Interrupted(inp_dir));
    }

    let engine_json = base.join("engine_config.json");
    write_json_atomic(&engine_json, &config.engine)?;
    // With --launch, the served run starts, scrapes and stops its server itself.
    let (server, url, served_by) = match (&config.server.launch, &config.engine.http.url) {
        (Some(spec), _) => (None, None, spec.words.join(" ")),
        (None, Some(u)) => (None, Some(u.clone()), u.clone()),
        (None, None) => match start_serve(&engine_json, stop)? {
            Some((child, url)) => (Some(child), Some(url), "nativebench serve".to_owned()),
            None => return Ok(Sides::Interrupted(inp_dir)),
        },
    };
    if let Some(p) = plan {
        affinity::set_cores(0, &p.client).map_err(Error::Runtime)?;
    }
    let mut served = RunConfig {
        engines: vec![EngineKind::served()],
        workload,
        out: Some(base.join("served")),
        ..config.clone()
    };
    served.engine.kind = EngineKind::served();
    served.engine.http.url = url;
    let server_span = server.as_ref().map(|s| Span::start("server", s.child.id()));
    let client_span = Span::start("client", me);
    let srv = execute(&served, stop, out);
    let mut processes = vec![inp_cpu];
    processes.extend(server_span.map(Span::end));
    let (client, machine) = client_span.end_with_machine();
    processes.push(client);
    processes.push(machine);
    drop(server);
    let srv = srv?;
    let (srv_dir, srv_metrics) = srv
        .runs
        .into_iter()
        .next()
        .ok_or_else(|| Error::Runtime("the served run measured nothing".into()))?;

    let mut notes =
        vec!["p99 rows subtract p99s, which need not come from the same requests".to_owned()];
    if !srv_metrics
        .metrics
        .engine_timings_ms
        .contains_key("server_queue_ms")
    {
        notes.push("the server reports no queue wait: the overhead is not split".into());
    }
    if srv_metrics.metrics.http_itl_overhead_ms.is_none() {
        notes.push(
            "the server gives no per-token times: ITL is not separable into HTTP and engine".into(),
        );
    }
    if srv.interrupted {
        notes.push(format!(
            "interrupted: the served run is partial ({} of {} requests)",
            srv_metrics.metrics.num_requests, inp_metrics.metrics.num_requests
        ));
    }
    let d = Decomposition {
        engine: kind.name().into(),
        model,
        workload: config.workload.name.clone(),
        served_by,
        in_process_run: inp_dir,
        served_run: srv_dir,
        rows: decompose(&inp_metrics, &srv_metrics),
        notes,
        cpu: Some(CpuReport {
            cores_available: 0,
            engine_threads: None,
            pin: String::new(),
            processes,
            findings: Vec::new(),
        }),
    };
    Ok(Sides::Done(Box::new(d), srv.interrupted))
}

/// The model a comparison names its directories by: `--model`, else the engine's name.
fn model_label(config: &RunConfig) -> String {
    let kind = config.engines[0];
    config
        .engine
        .model
        .clone()
        .unwrap_or_else(|| kind.name().into())
}
