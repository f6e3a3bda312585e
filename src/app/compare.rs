//! `nativebench compare`: the same prompts in-process and through `serve` (or any
//! OpenAI-compatible server given with --url), and the served overhead split into server
//! queue wait and HTTP/serialization, written to `decomposition.json`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::run::{execute, unique, RunConfig};
use crate::engine::{self, EngineKind, Prompt};
use crate::error::{Error, Result};
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
/// the workload both sides run.
fn shared_workload(config: &RunConfig, base: &Path) -> Result<WorkloadSpec> {
    let requests = {
        let mut engine = engine::build(&config.engine)?;
        config
            .workload
            .requests(config.seed, &mut |r| engine.prompt_tokens(r))?
    };
    let prompts = base.join("prompts.jsonl");
    write_prompts(&prompts, &requests)?;
    let loaded = WorkloadSpec::load(&prompts.display().to_string())?;
    Ok(WorkloadSpec {
        name: config.workload.name.clone(),
        origin: prompts.display().to_string(),
        num_prompts: requests.len(),
        concurrency: config.workload.concurrency,
        chat: config.workload.chat,
        ignore_eos: config.workload.ignore_eos,
        ..loaded
    })
}

/// Runs `compare` on the one in-process engine of `config` (checked by `cli`), printing
/// both runs' summaries and the decomposition to `out`. The first Ctrl-C (`stop`) ends
/// the current run after its requests in flight, keeps what was measured, writes what it
/// can, and stops the server.
pub fn run(config: &RunConfig, stop: &AtomicBool, out: &mut dyn Write) -> Result<CompareOutcome> {
    let kind = config.engines[0];
    let model = config
        .engine
        .model
        .clone()
        .unwrap_or_else(|| kind.name().into());
    let base = out_dir(config, kind, &model);
    std::fs::create_dir_all(&base).map_err(|e| Error::io(&base, e))?;
    let workload = shared_workload(config, &base)?;

    let inproc = RunConfig {
        engines: vec![kind],
        workload: workload.clone(),
        out: Some(base.join("in-process")),
        ..config.clone()
    };
    let inp = execute(&inproc, stop, out)?;
    let interrupted = inp.interrupted;
    let (inp_dir, inp_metrics) = inp
        .runs
        .into_iter()
        .next()
        .ok_or_else(|| Error::Runtime("the in-process run measured nothing".into()))?;
    if interrupted || stop.load(Ordering::Relaxed) {
        return Ok(CompareOutcome::interrupted_before_serving(out, &inp_dir));
    }

    let engine_json = base.join("engine_config.json");
    write_json_atomic(&engine_json, &config.engine)?;
    let (server, url, served_by) = match &config.engine.http.url {
        Some(u) => (None, u.clone(), u.clone()),
        None => match start_serve(&engine_json, stop)? {
            Some((child, url)) => (Some(child), url, "nativebench serve".to_owned()),
            None => return Ok(CompareOutcome::interrupted_before_serving(out, &inp_dir)),
        },
    };
    let mut served = RunConfig {
        engines: vec![EngineKind::served()],
        workload,
        out: Some(base.join("served")),
        ..config.clone()
    };
    served.engine.kind = EngineKind::served();
    served.engine.http.url = Some(url);
    let srv = execute(&served, stop, out);
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
    };
    write_json_atomic(&base.join(DECOMPOSITION), &d)?;
    let _ = writeln!(
        out,
        "{}decomposition: {}",
        render(&d),
        base.join(DECOMPOSITION).display()
    );
    Ok(CompareOutcome {
        decomposition: Some(d),
        interrupted: srv.interrupted,
    })
}
