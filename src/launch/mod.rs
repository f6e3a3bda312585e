//! Servers nativebench starts itself (`run --launch`): the command, from a recipe for a
//! known server or as given; the server in a process group of its own, its output in
//! `server.log`; readiness (`/health`, then `/v1/models`, then the run's own one-token
//! probe); and a stop that leaves nothing behind: SIGTERM to the group, SIGKILL after a
//! grace period, on success, failure and Ctrl-C alike. A launched server also dies with
//! nativebench (PR_SET_PDEATHSIG), so even a SIGKILL of the benchmark leaves no server.

pub mod recipe;
pub mod scrape;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, Result};
pub use recipe::{LaunchSpec, Recipe};

/// The file a launched server's stdout and stderr go to, in the run (or sweep) directory.
pub const SERVER_LOG: &str = "server.log";
/// How long a server has to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(10);
/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(250);

/// Process groups of the servers running now, for the second Ctrl-C (which leaves at
/// once, without destructors).
static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Kills every launched server's process group at once: the last thing done before the
/// process exits without running destructors.
pub fn kill_all() {
    if let Ok(groups) = RUNNING.lock() {
        for &pgid in groups.iter() {
            // SAFETY: killpg with a group id this process created; no memory involved.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

/// What the manifest records about a launched server.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ServerInfo {
    /// The command line as run (secrets are not expected here; it is the user's own).
    pub command: Vec<String>,
    /// The recipe that built it, if any: `llama-server`, `vllm`, `sglang`.
    pub recipe: Option<String>,
    pub url: String,
    /// The server's version, from `/version`, `/props` (`build_info`) or `/v1/models`.
    pub version: Option<String>,
    pub log: PathBuf,
}

/// A running launched server. Dropping it stops it.
pub struct Launched {
    child: Child,
    pgid: i32,
    pub info: ServerInfo,
    /// The base URL of its OpenAI API (`http://127.0.0.1:PORT/v1`).
    pub api_url: String,
    /// Its Prometheus endpoint.
    pub metrics_url: String,
    /// Its llama-server `/slots` endpoint, when it has one.
    pub slots_url: Option<String>,
}

/// A free loopback port, found by binding port 0 (the server binds it a moment later).
fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Runtime(format!("cannot find a free port: {e}")))
}

/// A GET that answers within `timeout`: the status and body, or `None` when nothing
/// answered (yet).
pub(crate) fn get(url: &str, timeout: Duration) -> Option<(u16, String)> {
    let agent = ureq::AgentBuilder::new().timeout(timeout).build();
    match agent.get(url).call() {
        Ok(r) => {
            let status = r.status();
            Some((status, r.into_string().unwrap_or_default()))
        }
        Err(ureq::Error::Status(code, r)) => Some((code, r.into_string().unwrap_or_default())),
        Err(_) => None,
    }
}

/// The last lines of a log, for an error message that says why a server failed.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

impl Launched {
    /// Starts the server of `spec` with its output in `dir/server.log`, and waits until
    /// it answers `/health` (or, for a server without one, `/v1/models`) and lists a
    /// model, for at most `timeout`. `None` when the user interrupted the wait.
    pub fn start(
        spec: &LaunchSpec,
        dir: &Path,
        timeout: Duration,
        stop: &AtomicBool,
    ) -> Result<Option<Launched>> {
        let port = free_port()?;
        let argv = spec.command(port)?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let log_path = dir.join(SERVER_LOG);
        let log = File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let err_log = log.try_clone().map_err(|e| Error::io(&log_path, e))?;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            // Its own group: a Ctrl-C at the terminal reaches nativebench alone, which
            // finishes the requests in flight and then stops the whole group.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent; it runs
        // in the child between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            Error::Config(format!(
                "--launch: cannot start `{}`: {e}",
                argv[0].to_string_lossy()
            ))
        })?;
        let pgid = child.id() as i32;
        if let Ok(mut g) = RUNNING.lock() {
            g.push(pgid);
        }
        let base = format!("http://127.0.0.1:{port}");
        let mut server = Launched {
            child,
            pgid,
            info: ServerInfo {
                command: argv
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                recipe: spec.recipe.map(|r| r.name().to_owned()),
                url: format!("{base}/v1"),
                version: None,
                log: log_path.clone(),
            },
            api_url: format!("{base}/v1"),
            metrics_url: format!("{base}/metrics"),
            slots_url: None,
        };
        if !server.wait_ready(&base, timeout, stop)? {
            return Ok(None);
        }
        server.info.version = version(&base);
        server.slots_url = get(&format!("{base}/slots"), Duration::from_secs(2))
            .filter(|(status, body)| *status == 200 && body.trim_start().starts_with('['))
            .map(|_| format!("{base}/slots"));
        Ok(Some(server))
    }

    /// Polls `/health`, then `/v1/models`, until both answer 200 or the time is up.
    fn wait_ready(&mut self, base: &str, timeout: Duration, stop: &AtomicBool) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut healthy = false;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Runtime(format!(
                    "the launched server exited ({status}) before it was ready: {} (log: {})",
                    log_tail(&self.info.log),
                    self.info.log.display()
                )));
            }
            let ask = |path: &str| get(&format!("{base}{path}"), Duration::from_secs(2));
            // A server without /health (404) is judged by /v1/models alone.
            healthy = healthy || matches!(ask("/health"), Some((200 | 404, _)));
            if healthy && matches!(ask("/v1/models"), Some((200, b)) if b.contains("\"data\"")) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Err(Error::Runtime(format!(
                    "the launched server was not ready within {:.0} s (--ready-check-timeout); it was stopped, its log is {}",
                    timeout.as_secs_f64(),
                    self.info.log.display()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Whether the server is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the server's whole process group: SIGTERM, then SIGKILL after the grace
    /// period. Returns how it ended.
    pub fn stop(&mut self) -> String {
        // SAFETY: signals to the group this process created.
        unsafe {
            libc::killpg(self.pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + GRACE;
        let ended = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break format!("stopped ({status})"),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break format!("killed after {} s", GRACE.as_secs());
                }
            }
        };
        // Whatever else the server started in its group goes with it.
        // SAFETY: as above.
        unsafe {
            libc::killpg(self.pgid, libc::SIGKILL);
        }
        if let Ok(mut g) = RUNNING.lock() {
            g.retain(|&p| p != self.pgid);
        }
        ended
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if RUNNING.lock().is_ok_and(|g| g.contains(&self.pgid)) {
            self.stop();
        }
    }
}

/// The server's version, from whichever of `/version`, `/props` and `/v1/models` says.
fn version(base: &str) -> Option<String> {
    let json = |path: &str| {
        get(&format!("{base}{path}"), Duration::from_secs(2))
            .filter(|(s, _)| *s == 200)
            .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
    };
    let text =
        |v: &serde_json::Value, p: &str| v.pointer(p).and_then(|x| x.as_str()).map(str::to_owned);
    json("/version")
        .and_then(|v| text(&v, "/version"))
        .or_else(|| json("/props").and_then(|v| text(&v, "/build_info")))
        .or_else(|| json("/v1/models").and_then(|v| text(&v, "/data/0/owned_by")))
}
