//! Shared helpers: the binary under test, temporary directories, and reading run
//! directories back.

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

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("nativebench-test-")
        .tempdir()
        .expect("a temporary directory")
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

/// Reads every line of a samples.jsonl.
pub fn samples(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("samples.jsonl")).expect("samples.jsonl");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad sample line {l}: {e}")))
        .collect()
}

/// Asserts that a command failed with `code` and a one-line error containing `needle`.
pub fn assert_one_line_error(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line error, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(needle), "expected `{needle}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write a fixture");
    p
}

/// The fetched Gemma 3 270M file, or `None` (the test is skipped, with a note) unless
/// NATIVEBENCH_REQUIRE_GEMMA=1, when its absence fails the test.
pub fn gemma() -> Option<PathBuf> {
    match nativebench::model::resolve("gemma3-270m") {
        Ok(m) => Some(m.path),
        Err(e) if std::env::var("NATIVEBENCH_REQUIRE_GEMMA").as_deref() == Ok("1") => {
            panic!("NATIVEBENCH_REQUIRE_GEMMA=1 but: {e}")
        }
        Err(e) => {
            eprintln!("skipping a Gemma 3 270M test: {e}");
            None
        }
    }
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
