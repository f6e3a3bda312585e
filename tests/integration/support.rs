//! Shared helpers: the binary under test, temporary directories, reading run directories
//! back, one-line error checks, and the one way a test skips when something outside the
//! crate is missing.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The nativebench binary built for this test run.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nativebench"));
    c.env_remove("RUST_LOG");
    c
}

/// Runs nativebench with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the test binary starts")
}

/// Runs nativebench with `args`, which must succeed, and returns its output.
pub fn ok_run(args: &[&str]) -> Output {
    let o = run(args);
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("nativebench-test-")
        .tempdir()
        .expect("a temporary directory")
}

/// A fresh temporary directory in cargo's temporary folder inside the target folder, for
/// files too big for a small /tmp; removed when dropped.
pub fn tempdir_in_target() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("nativebench-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory in the target folder")
}

/// A path as the `&str` an argument list takes.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Writes the tiny synthetic model (q8_0) to `out`, its tokenizer.json beside it.
pub fn synth_tiny(out: &Path) {
    ok_run(&[
        "model",
        "synth",
        "--preset",
        "tiny",
        "--quant",
        "q8_0",
        "--out",
        path_str(out),
    ]);
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Reads a JSON file.
pub fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value at a dotted path (`ttft_ms.p50`) of a JSON document.
pub fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

/// The number at a dotted path of a JSON document, which must be one.
pub fn num(v: &Value, path: &str) -> f64 {
    field(v, path)
        .as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number in {v}"))
}

/// Reads every line of a samples.jsonl.
pub fn samples(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("samples.jsonl")).expect("samples.jsonl");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad sample line {l}: {e}")))
        .collect()
}

/// Asserts that a command failed with `code` and a one-line error containing `needle`.
pub fn assert_one_line_error(o: &Output, code: i32, needle: &str) {
    assert_one_line_error_naming(o, Some(code), &[needle]);
}

/// Asserts that a command failed, with `code` where one is given (else any failure), and
/// that its stderr is exactly one `error: ...` line containing every one of `needles`.
pub fn assert_one_line_error_naming(o: &Output, code: Option<i32>, needles: &[&str]) {
    let err = stderr(o);
    match code {
        Some(code) => assert_eq!(o.status.code(), Some(code), "stderr: {err}"),
        None => assert!(!o.status.success(), "expected a failure, stderr: {err}"),
    }
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line error, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for needle in needles {
        assert!(lines[0].contains(needle), "expected `{needle}` in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write a fixture");
    p
}

// ---- things outside the crate, and skipping without them ------------------------------

/// Something a few tests need that the crate does not build. Each has a variable that
/// makes its absence a failure instead of a skip; scripts/test installs them all and
/// sets every variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum External {
    /// Gemma 3 270M, fetched by models/fetch-gemma3-270m.sh.
    Gemma,
    /// DeepSeek-R1-Distill-Qwen's vocabulary (`qwen2-r1-vocab`), fetched by
    /// models/fetch-qwen2-r1-vocab.sh.
    QwenVocab,
    /// llama.cpp's own llama-server, named by NATIVEBENCH_LLAMA_SERVER
    /// (benches/llama-cpp-tools.sh builds it).
    LlamaServer,
    /// Chromium, for the HTML report.
    Chromium,
    /// Slurm (slurm-wlm and munge), started on this machine by scripts/slurm-local.sh.
    Slurm,
}

impl External {
    /// The variable that, set to 1, makes a missing external fail the test.
    pub fn require_var(self) -> &'static str {
        match self {
            External::Gemma => "NATIVEBENCH_REQUIRE_GEMMA",
            External::QwenVocab => "NATIVEBENCH_REQUIRE_QWEN_VOCAB",
            External::LlamaServer => "NATIVEBENCH_REQUIRE_LLAMA_SERVER",
            External::Chromium => "NATIVEBENCH_REQUIRE_CHROMIUM",
            External::Slurm => "NATIVEBENCH_REQUIRE_SLURM",
        }
    }
}

/// Where skips are recorded: $NATIVEBENCH_SKIP_LOG (scripts/test gives each run a fresh
/// file), else `nextest-skips.txt` in the target folder.
pub fn skip_log() -> PathBuf {
    match std::env::var_os("NATIVEBENCH_SKIP_LOG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("the target folder")
            .join("nextest-skips.txt"),
    }
}

/// The one way a test skips: the calling test cannot run because `external` is missing,
/// for `reason`; the caller returns right after (`let Some(x) = gemma() else { return };`).
///
/// A test runner counts a test that returns early as passed, so a skip must not pass
/// silently: this prints `SKIPPED: <test>: <reason>` on stderr (.config/nextest.toml
/// shows these tests' output at the end of every run) and appends the same line to the
/// skip log, which scripts/test counts and lists at the end. When the external's
/// NATIVEBENCH_REQUIRE_* variable is 1 the test fails instead; its line is still logged,
/// marked as required, so the summary names it too.
///
/// Not `#[ignore]`: whether a test can run is known only when it runs (is Gemma fetched
/// here?), and an ignored test would not run where its external is present.
pub fn skip(external: External, reason: &str) {
    let thread = std::thread::current();
    // libtest, under nextest too, runs each test on a thread named after it.
    let test = thread.name().unwrap_or("<unnamed test>");
    let var = external.require_var();
    let required = std::env::var(var).as_deref() == Ok("1");
    let mut line = format!("SKIPPED: {test}: {reason}");
    if required {
        line.push_str(&format!(" [required by {var}=1: failed]"));
    }
    eprintln!("{line}");
    let log = skip_log();
    // One write of one line to a file opened for appending: tests skipping at the same
    // time in other processes never interleave within a line.
    let logged = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = logged {
        eprintln!(
            "warning: could not record the skip in {}: {e}",
            log.display()
        );
    }
    assert!(!required, "{var}=1, but {reason}");
}

/// The fetched Gemma 3 270M file, or `None` after a [`skip`].
pub fn gemma() -> Option<PathBuf> {
    match nativebench::model::resolve("gemma3-270m") {
        Ok(m) => Some(m.path),
        Err(e) => {
            // The error says how to fetch it.
            skip(External::Gemma, &e.to_string());
            None
        }
    }
}

/// The fetched `qwen2-r1-vocab` GGUF (vocabulary and chat template, no tensors), or
/// `None` after a [`skip`].
pub fn qwen_vocab() -> Option<PathBuf> {
    match nativebench::model::resolve("qwen2-r1-vocab") {
        Ok(m) => Some(m.path),
        Err(e) => {
            skip(External::QwenVocab, &e.to_string());
            None
        }
    }
}

/// llama.cpp's own llama-server, as NATIVEBENCH_LLAMA_SERVER names it, or `None` after a
/// [`skip`].
pub fn llama_server() -> Option<PathBuf> {
    match std::env::var_os("NATIVEBENCH_LLAMA_SERVER").map(PathBuf::from) {
        Some(p) if p.is_file() => Some(p),
        other => {
            let why = match other {
                Some(p) => format!("NATIVEBENCH_LLAMA_SERVER={} is not a file", p.display()),
                None => "NATIVEBENCH_LLAMA_SERVER is unset".to_owned(),
            };
            skip(
                External::LlamaServer,
                &format!(
                    "{why} (benches/llama-cpp-tools.sh builds llama-server and prints its folder)"
                ),
            );
            None
        }
    }
}

/// A Chromium that starts, found on PATH, or `None` after a [`skip`].
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(PathBuf::from)
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        skip(
            External::Chromium,
            "no chromium, chromium-browser or google-chrome on PATH (Debian: apt-get install chromium)",
        );
    }
    found
}

/// `nativebench run --engine http --url URL --quiet --out OUT EXTRA...`, which must
/// succeed.
pub fn http_run(url: &str, out: &Path, extra: &[&str]) -> Output {
    let o = bin()
        .args(["run", "--engine", "http", "--url", url, "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// A loopback port held for the test: bound, so no other socket on the host is given it
/// (another `bind` to port 0, or an outgoing connection's local port), but not listening,
/// so a connection to it is refused. Picking a free port by binding and closing a
/// listener leaves it free for anyone until it is used, and a test that runs beside
/// others could find a stranger's server there. A server started later can still bind
/// and listen on it, with SO_REUSEADDR (nativebench's and llama-server's listeners set
/// it) or SO_REUSEPORT: Linux lets sockets that all set one of these share a port as long
/// as only one of them listens. Released when dropped.
pub struct ReservedPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

pub fn reserve_port() -> ReservedPort {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket.set_reuseaddr(true).unwrap();
    socket.set_reuseport(true).unwrap();
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind a loopback port");
    let port = socket.local_addr().unwrap().port();
    ReservedPort {
        _socket: socket,
        port,
    }
}

/// Makes a sim run in `dir` with a short workload; `extra` adds flags.
pub fn sim_run(dir: &Path, decode_ms: &str, extra: &[&str]) -> Value {
    let mut args = vec!["run", "-e", "sim"];
    if !extra.contains(&"--prompt") {
        args.extend(["-w", "short"]);
    }
    args.extend([
        "--output-len",
        "24",
        "-q",
        "--sim-decode-ms",
        decode_ms,
        "-o",
        dir.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    json(&dir.join("metrics.json"))
}
