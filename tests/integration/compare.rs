//! `nativebench compare` on the sim engine: the same prompts in-process and through
//! `serve`, and the decomposition of the served overhead.

use crate::support::*;

#[test]
fn compare_writes_both_runs_and_the_decomposition() {
    let tmp = tempdir();
    let out = tmp.path().join("cmp");
    let o = run(&[
        "compare",
        "--engine",
        "sim",
        "--sim-prefill-ms",
        "8",
        "--sim-prefill-ms-per-token",
        "0",
        "--sim-decode-ms",
        "2",
        "--workload",
        "short",
        "--num-prompts",
        "3",
        "--output-len",
        "6",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("served overhead"), "{}", stdout(&o));
    for side in ["in-process", "served"] {
        let m = json(&out.join(side).join("metrics.json"));
        assert_eq!(m["completed"], 3, "{side}: {m}");
    }
    assert_eq!(
        json(&out.join("served").join("metrics.json"))["engine"],
        "http"
    );
    let d = json(&out.join("decomposition.json"));
    let rows = d["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "TTFT, ITL, E2E at p50 and p99");
    let ttft = rows
        .iter()
        .find(|r| r["metric"] == "ttft_ms" && r["stat"] == "p50")
        .unwrap();
    let (inp, srv) = (
        ttft["in_process_ms"].as_f64().unwrap(),
        ttft["served_ms"].as_f64().unwrap(),
    );
    // Both sides see the same 8 ms prefill, which the sim never cuts short: neither
    // median can be under it. (Set against each other, two medians of three requests
    // from separate runs differ by however late a busy machine ran each sim.)
    assert!(inp >= 7.9 && srv >= 7.9, "{ttft}");
    let overhead = ttft["overhead_ms"].as_f64().unwrap();
    let queue = ttft["server_queue_ms"].as_f64().unwrap();
    let http = ttft["http_serialization_ms"].as_f64().unwrap();
    let engine = ttft["engine_ms"].as_f64().unwrap();
    assert!(
        (overhead - queue - http - engine).abs() < 1e-9,
        "the split adds up: {ttft}"
    );
    assert!(queue >= 0.0);
    // `serve` reports its own times, so the http share is measured per request: it is the
    // served run's own per-request figure at the same statistic.
    let served = json(&out.join("served").join("metrics.json"));
    assert_eq!(
        http,
        served["engine_timings_ms"]["http_ttft_overhead_ms"]["p50"]
            .as_f64()
            .unwrap(),
        "{ttft}"
    );
    assert!(http >= 0.0);
    let itl = rows.iter().find(|r| r["metric"] == "itl_ms").unwrap();
    assert_eq!(itl["server_queue_ms"], 0.0);
    // The same prompts went both ways.
    let a = samples(&out.join("in-process"));
    let b = samples(&out.join("served"));
    let mut pa: Vec<_> = a.iter().map(|s| s["prompt_preview"].clone()).collect();
    let mut pb: Vec<_> = b.iter().map(|s| s["prompt_preview"].clone()).collect();
    pa.sort_by_key(|v| v.to_string());
    pb.sort_by_key(|v| v.to_string());
    assert_eq!(pa, pb);
}

#[test]
fn compare_refuses_the_http_engine() {
    let o = run(&[
        "compare",
        "--engine",
        "http",
        "--url",
        "http://127.0.0.1:1/v1",
    ]);
    assert_one_line_error(&o, 2, "in-process engine");
}

/// Processes whose command line mentions `needle` (the `serve` that `compare` started
/// names its engine config, under the test's own directory).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// A `compare` whose served run is slow, stopped partway by the test.
struct Interruptible {
    _tmp: tempfile::TempDir,
    out: std::path::PathBuf,
    child: std::process::Child,
    /// What the command line of its `serve` holds (its engine config's path).
    serve_needle: String,
}

/// Starts a `compare` whose served run is slow, and waits until it has measured two
/// served requests with its `serve` running.
fn compare_in_served_run() -> Interruptible {
    let tmp = tempdir();
    let out = tmp.path().join("cmp");
    let log = tmp.path().join("compare.stderr");
    let mut child = bin()
        .args(["compare", "--engine", "sim", "--sim-prefill-ms", "1"])
        .args(["--sim-decode-ms", "10", "--workload", "short"])
        .args(["--num-prompts", "40", "--output-len", "10", "--quiet"])
        .args(["--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let served = out.join("served").join("samples.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::read_to_string(&served).map_or(0, |t| t.lines().count()) < 2 {
        // A compare that ended early says why, instead of the test waiting out its deadline.
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "compare exited ({status}) before its served run wrote 2 samples: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            panic!(
                "the served run never wrote 2 samples: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let serve_needle = out.join("engine_config.json").display().to_string();
    assert_eq!(
        processes_mentioning(&serve_needle).len(),
        1,
        "serve is running"
    );
    Interruptible {
        _tmp: tmp,
        out,
        child,
        serve_needle,
    }
}

/// Waits up to 10 s for every process mentioning `needle` to be gone.
fn gone(needle: &str) -> bool {
    (0..200).any(|_| {
        let left = processes_mentioning(needle).is_empty();
        if !left {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        left
    })
}

#[test]
fn ctrl_c_keeps_what_was_measured_and_stops_the_server() {
    let Interruptible {
        _tmp,
        out,
        mut child,
        serve_needle,
    } = compare_in_served_run();
    // SAFETY: kill(2) with a live child's pid and a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "an interrupted compare exits 130");
    assert!(gone(&serve_needle), "no orphan serve process");

    let served = samples(&out.join("served"));
    assert!(served.len() >= 2 && served.len() < 40, "{}", served.len());
    assert!(
        served.iter().all(|r| r["ok"] == true),
        "requests in flight finished, not cut: {served:?}"
    );
    let m = json(&out.join("served").join("metrics.json"));
    assert_eq!(m["interrupted"], true);
    assert_eq!(m["completed"].as_u64().unwrap() as usize, served.len());
    assert_eq!(
        json(&out.join("in-process").join("metrics.json"))["completed"],
        40
    );
    let d = json(&out.join("decomposition.json"));
    assert_eq!(d["rows"].as_array().unwrap().len(), 6);
    assert!(
        d["notes"].to_string().contains("interrupted"),
        "{}",
        d["notes"]
    );
}

#[test]
fn a_killed_compare_leaves_no_server_behind() {
    let mut c = compare_in_served_run();
    c.child.kill().unwrap(); // SIGKILL: no destructor runs
    let _ = c.child.wait();
    assert!(gone(&c.serve_needle), "serve exits when compare dies");
}
