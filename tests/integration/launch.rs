//! `run --launch`: the CI-built llama-server started from its recipe, benchmarked, its
//! metrics scraped, and stopped, leaving no server process behind, also after Ctrl-C; and
//! a launch that cannot work ends with one line and no server either.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

/// Processes whose command line holds `needle` (a launched server's unique port).
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) && !cmd.contains("nextest") {
                found.push(cmd);
            }
        }
    }
    found
}

/// The `--port N` of the server a run launched, from its manifest.
fn launched_port(dir: &Path) -> String {
    let m = json(&dir.join("manifest.json"));
    let cmd: Vec<&str> = m["server"]["command"]
        .as_array()
        .expect("the manifest records the server")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let at = cmd.iter().position(|a| *a == "--port").unwrap();
    format!("--port {}", cmd[at + 1])
}

#[test]
fn a_launched_llama_server_is_benchmarked_scraped_and_stopped() {
    let Some(server) = llama_server() else { return };
    let tmp = tempdir();
    let model = tmp.path().join("tiny.gguf");
    synth_tiny(&model);
    let out = tmp.path().join("run");
    let launch = format!("{} {}", server.display(), model.display());
    ok_run(&[
        "run",
        "--launch",
        &launch,
        "-w",
        "short",
        "--num-prompts",
        "8",
        "--output-len",
        "48",
        "--concurrency",
        "2",
        "-t",
        "1",
        "--scrape-interval",
        "0.1",
        "-q",
        "-o",
        path_str(&out),
    ]);
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["engine"], "http");
    assert_eq!(m["failed"], 0, "{m}");
    assert!(num(&m, "completed") > 0.0);
    // The server's own figures: KV use from llama-server's /slots, scrapes counted.
    let s = &m["server"];
    assert!(num(s, "scrapes") >= 1.0, "{s}");
    assert_eq!(s["failed_scrapes"], 0, "{s}");
    let kv = num(s, "kv_cache_usage.max");
    assert!((0.0..=1.0).contains(&kv), "{s}");
    assert!(num(s, "kv_used_tokens.max") >= 0.0, "{s}");
    // llama-server's counters: cached prompt tokens over all prompt tokens.
    let rate = num(s, "prefix_cache_hit_rate");
    assert!((0.0..=1.0).contains(&rate), "{s}");
    let lines = std::fs::read_to_string(out.join("server_metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert!(
        first["raw"]["llamacpp:requests_processing"].is_number(),
        "{first}"
    );
    let manifest = json(&out.join("manifest.json"));
    assert_eq!(manifest["server"]["recipe"], "llama-server");
    let cmd = manifest["server"]["command"].to_string();
    for flag in ["--metrics", "--slots", "-np", "\"2\""] {
        assert!(cmd.contains(flag), "{flag} not in {cmd}");
    }
    assert!(out.join("server.log").is_file());
    let log = std::fs::read_to_string(out.join("server.log")).unwrap();
    assert!(!log.is_empty(), "the server's output is in server.log");
    let port = launched_port(&out);
    assert_eq!(
        processes_with(&port),
        Vec::<String>::new(),
        "a server survived"
    );
}

#[test]
fn ctrl_c_during_a_launched_run_stops_the_server_too() {
    let Some(server) = llama_server() else { return };
    let tmp = tempdir();
    let model = tmp.path().join("tiny.gguf");
    synth_tiny(&model);
    let out = tmp.path().join("run");
    let launch = format!("{} {}", server.display(), model.display());
    let mut child = bin()
        .args([
            "run",
            "--launch",
            &launch,
            "-w",
            "short",
            "--num-prompts",
            "100000",
            "--output-len",
            "64",
            "-t",
            "1",
            "-q",
            "-o",
            path_str(&out),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Running once requests are being recorded.
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::metadata(out.join("samples.jsonl")).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let port = launched_port(&out);
    assert_eq!(processes_with(&port).len(), 1, "the server runs");
    // SAFETY: a signal to the child this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(json(&out.join("metrics.json"))["interrupted"] == true);
    assert_eq!(
        processes_with(&port),
        Vec::<String>::new(),
        "a server survived Ctrl-C"
    );
}

#[test]
fn a_launch_that_cannot_work_is_one_line_and_leaves_nothing_running() {
    let tmp = tempdir();
    let out = tmp.path().join("run");
    // No such program.
    let o = run(&[
        "run",
        "--launch",
        "/no/such/server --port {port}",
        "-w",
        "short",
        "-o",
        path_str(&out),
    ]);
    assert_one_line_error_naming(&o, Some(2), &["--launch", "/no/such/server"]);
    // A server that exits at once: the error says so and where its log is.
    let o = run(&[
        "run",
        "--launch",
        "sh -c 'echo bad flag {port} >&2; exit 3'",
        "-w",
        "short",
        "-o",
        path_str(&out),
    ]);
    assert_one_line_error_naming(&o, Some(1), &["exited", "bad flag", "server.log"]);
    // One that never answers: stopped after the ready timeout.
    let o = run(&[
        "run",
        "--launch",
        "sleep 31737 {port}",
        "--ready-check-timeout",
        "1",
        "-w",
        "short",
        "-o",
        path_str(&tmp.path().join("slow")),
    ]);
    assert_one_line_error_naming(&o, Some(1), &["not ready within 1 s", "server.log"]);
    assert_eq!(
        processes_with("sleep 31737 ").len(),
        0,
        "the slow server survived"
    );
    // A known server with no model, and --launch beside another engine.
    let o = run(&["run", "--launch", "llama-server", "-w", "short"]);
    assert_one_line_error(&o, 2, "name the model");
    let o = run(&["run", "--launch", "x {port}", "-e", "sim", "-w", "short"]);
    assert_one_line_error(&o, 2, "--engine http alone");
}
