//! SIGINT, SIGTERM and SIGHUP: every run stops within a bounded time, even with a request
//! stuck inside an engine, and leaves metrics.json over what was measured.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{bin, json, samples, tempdir};

/// The bound the issue sets for a stopped run: the grace period (5 s) and the writing,
/// with room for a loaded machine.
const STOP_BOUND: Duration = Duration::from_secs(15);

/// A sim run whose every request sits in prefill for an hour.
fn stuck_run(out: &Path) -> Child {
    bin()
        .args([
            "run",
            "-e",
            "sim",
            "--prompt",
            "hello",
            "--num-prompts",
            "3",
            "--warmup",
            "0",
            "--sim-prefill-ms",
            "3600000",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) with a live child's pid and a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Waits for `child` at most STOP_BOUND; kills it and fails past that.
fn wait_bounded(child: &mut Child, since: Instant) -> i32 {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if since.elapsed() > STOP_BOUND {
            let _ = child.kill();
            panic!("the run did not stop within {STOP_BOUND:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_forced_metrics(out: &Path) {
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["interrupted"], true);
    assert_eq!(m["engine"], "sim");
    let warnings = m["warnings"].to_string();
    assert!(warnings.contains("grace period"), "{warnings}");
    // The request stuck in the engine is recorded, as interrupted, and counted.
    let s = samples(out);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["ok"], false);
    assert_eq!(s[0]["error_kind"], "interrupted");
    assert_eq!(m["num_requests"].as_u64(), Some(1));
}

#[test]
fn sigterm_stops_a_run_stuck_in_an_engine_within_15_s_with_metrics_written() {
    let dir = tempdir();
    let out = dir.path().join("run");
    let mut child = stuck_run(&out);
    wait_for(&out.join("manifest.json"));
    std::thread::sleep(Duration::from_millis(300)); // into the first request's prefill
    let sent = Instant::now();
    signal(&child, libc::SIGTERM);
    assert_eq!(
        wait_bounded(&mut child, sent),
        130,
        "a stopped run exits 130"
    );
    assert_forced_metrics(&out);
}

#[test]
fn a_second_sighup_stops_at_once_and_still_leaves_complete_files() {
    let dir = tempdir();
    let out = dir.path().join("run");
    let mut child = stuck_run(&out);
    wait_for(&out.join("manifest.json"));
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&child, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGHUP);
    assert_eq!(wait_bounded(&mut child, sent), 130);
    // Well before the grace period ends: the second signal did not wait for it.
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "{:?}",
        sent.elapsed()
    );
    assert_forced_metrics(&out);
    for f in ["manifest.json", "run_config.json"] {
        json(&out.join(f)); // whole JSON
    }
}

#[test]
fn sigterm_during_a_flowing_run_keeps_every_measured_request() {
    let dir = tempdir();
    let out = dir.path().join("run");
    let mut child = bin()
        .args([
            "run",
            "-e",
            "sim",
            "-w",
            "short",
            "--num-prompts",
            "500",
            "--output-len",
            "10",
            "--sim-decode-ms",
            "5",
            "-q",
            "-o",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let samples_path = out.join("samples.jsonl");
    wait_for(&samples_path);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&samples_path).map_or(0, |t| t.lines().count()) < 2 {
        assert!(Instant::now() < deadline, "the run never wrote 2 samples");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    signal(&child, libc::SIGTERM);
    assert_eq!(wait_bounded(&mut child, sent), 130);
    let s = samples(&out);
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["interrupted"], true);
    assert_eq!(m["num_requests"].as_u64(), Some(s.len() as u64));
    assert!(s.len() >= 2 && s.len() < 500, "{} samples", s.len());
}

#[test]
fn sigint_against_a_server_that_never_answers_records_the_requests_in_flight() {
    // A server that accepts connections and never replies.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let dir = tempdir();
    let out = dir.path().join("run");
    let mut child = bin()
        .args([
            "run",
            "-e",
            "http",
            "--url",
            &url,
            "--served-model",
            "m",
            "--num-prompts",
            "4",
            "--concurrency",
            "2",
            "--warmup",
            "0",
            "-q",
            "-o",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&out.join("manifest.json"));
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    assert_eq!(wait_bounded(&mut child, sent), 130);
    let s = samples(&out);
    assert_eq!(s.len(), 2, "both requests in flight are recorded: {s:?}");
    assert!(s.iter().all(|r| r["error_kind"] == "interrupted"), "{s:?}");
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["interrupted"], true);
    assert_eq!(m["num_requests"].as_u64(), Some(2));
}
