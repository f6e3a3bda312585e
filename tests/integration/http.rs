//! The load generator against `nativebench serve --engine sim`: concurrency, arrival
//! rates, a duration limit, sweeps and goodput.

use crate::serve::serve;
use crate::support::*;

/// `serve --engine sim` with this prefill and decode step, in ms.
fn sim_serve(prefill_ms: &str, decode_ms: &str) -> crate::serve::Served {
    serve(&[
        "--engine",
        "sim",
        "--sim-prefill-ms",
        prefill_ms,
        "--sim-decode-ms",
        decode_ms,
    ])
}

fn run_http(url: &str, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    http_run(
        url,
        out,
        &[&["--output-len", "4", "--warmup", "0"], extra].concat(),
    )
}

#[test]
fn sweeps_write_a_run_per_point_and_a_summary_with_goodput() {
    let s = sim_serve("0", "0.2");
    let tmp = tempdir();
    let out = tmp.path().join("sweep");
    let o = run_http(
        &s.url,
        &out,
        &[
            "--num-prompts",
            "6",
            "--concurrency-list",
            "1,3",
            "--goodput",
            "ttft:60000,e2el:60000",
        ],
    );
    assert!(stdout(&o).contains("concurrency-3"), "{}", stdout(&o));
    for point in ["concurrency-1", "concurrency-3"] {
        let m = json(&out.join(point).join("metrics.json"));
        assert_eq!(m["completed"], 6, "{point}: {m}");
        assert_eq!(m["driver"], "load", "{point}: {m}");
        assert_eq!(m["goodput"]["good_requests"], 6, "{point}: {m}");
        assert_eq!(samples(&out.join(point)).len(), 6);
    }
    let summary = json(&out.join("sweep_summary.json"));
    let points = summary["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[1]["concurrency"], 3);
    assert!(points[1]["goodput_req_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn goodput_excludes_requests_that_miss_an_objective() {
    // Every request takes at least 10 ms of prefill: none meets a 1 ms TTFT objective.
    let s = sim_serve("10", "0");
    let tmp = tempdir();
    let out = tmp.path().join("g");
    run_http(&s.url, &out, &["--num-prompts", "3", "--goodput", "ttft:1"]);
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["goodput"]["good_requests"], 0, "{m}");
    assert_eq!(m["goodput"]["goodput_req_s"], 0.0);
    assert_eq!(m["completed"], 3);
}

#[test]
fn a_constant_request_rate_paces_the_run() {
    let s = sim_serve("0", "0");
    let tmp = tempdir();
    let out = tmp.path().join("rate");
    run_http(
        &s.url,
        &out,
        &[
            "--num-prompts",
            "5",
            "--request-rate",
            "20",
            "--arrival",
            "constant",
            "--concurrency",
            "8",
        ],
    );
    let mut starts: Vec<f64> = samples(&out)
        .iter()
        .map(|r| r["start_ms"].as_f64().unwrap())
        .collect();
    starts.sort_by(f64::total_cmp);
    assert_eq!(starts.len(), 5, "{starts:?}");
    // Request i has its slot at i * 50 ms of the run's clock. The pacer sleeps until the
    // slot, so none ever leaves before it: exact, whatever the load. Leaving late is the
    // machine's doing (a busy core wakes the pacer late), and since the slots are fixed a
    // late request does not push the next one back: the gap between two requests can
    // shrink below 50 ms after a late one, so gaps are not what is checked. A request
    // more than 100 ms (two slots) late means a pacer slower than the rate: at 13 req/s
    // the fifth request would leave 108 ms past its slot, at 10 req/s 200 ms; a pacer
    // even slightly faster than 20 req/s sends the fifth before its slot.
    for (i, &start) in starts.iter().enumerate() {
        let slot = i as f64 * 50.0;
        assert!(
            start >= slot - 1e-3 && start < slot + 100.0,
            "request {i} left at {start} ms, its slot is {slot} ms: {starts:?}"
        );
    }
}

#[test]
fn a_rate_the_concurrency_cap_cannot_keep_reports_its_lag_and_warns() {
    // One slot, a request every 20 ms, and each request takes at least 30 ms of prefill:
    // from the second request on, each waits for the one before it, later and later.
    let s = sim_serve("30", "1");
    let tmp = tempdir();
    let out = tmp.path().join("lag");
    run_http(
        &s.url,
        &out,
        &[
            "--num-prompts",
            "5",
            "--request-rate",
            "50",
            "--arrival",
            "constant",
            "--concurrency",
            "1",
        ],
    );
    let mut rs = samples(&out);
    rs.sort_by(|a, b| {
        a["start_ms"]
            .as_f64()
            .unwrap()
            .total_cmp(&b["start_ms"].as_f64().unwrap())
    });
    let f = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k}: {r}"));
    for (i, r) in rs.iter().enumerate() {
        // The schedule is the constant rate's: slot i at i * 20 ms.
        assert!((f(r, "scheduled_ms") - i as f64 * 20.0).abs() < 1e-6, "{r}");
        assert!((f(r, "schedule_lag_ms") - (f(r, "start_ms") - f(r, "scheduled_ms"))).abs() < 1e-6);
    }
    // Request i cannot leave before i requests of 30 ms have ended: at least 10 ms later
    // per request than its slot.
    for (i, r) in rs.iter().enumerate().skip(1) {
        assert!(
            f(r, "schedule_lag_ms") >= i as f64 * 10.0,
            "request {i}: {r}"
        );
    }
    let m = json(&out.join("metrics.json"));
    let lag = &m["schedule_lag_ms"];
    assert!(lag["max"].as_f64().unwrap() >= 40.0, "{m}");
    let (ttft, from) = (&m["ttft_ms"], &m["ttft_from_schedule_ms"]);
    assert!(
        from["max"].as_f64().unwrap() >= ttft["max"].as_f64().unwrap() + 40.0,
        "{m}"
    );
    assert!(
        m["e2e_from_schedule_ms"]["mean"].as_f64().unwrap() > m["e2e_ms"]["mean"].as_f64().unwrap()
    );
    let warnings = m["warnings"].to_string();
    assert!(
        warnings.contains("the load lagged its schedule"),
        "{warnings}"
    );
    assert!(warnings.contains("--concurrency slots taken"), "{warnings}");
}

#[test]
fn a_duration_limits_the_run_instead_of_a_count() {
    let s = sim_serve("1", "1");
    let tmp = tempdir();
    let out = tmp.path().join("dur");
    run_http(
        &s.url,
        &out,
        &[
            "--num-prompts",
            "2",
            "--duration",
            "0.4",
            "--concurrency",
            "2",
        ],
    );
    let rs = samples(&out);
    assert!(
        rs.len() > 2,
        "the prompts are cycled for the duration: {}",
        rs.len()
    );
    assert!(rs.iter().all(|r| r["ok"] == true));
    assert!(
        rs.iter().all(|r| r["start_ms"].as_f64().unwrap() < 400.0),
        "none starts after the duration"
    );
}

/// Kills a child process when dropped.
struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_run_waits_for_a_server_that_starts_late() {
    // Held until the end: refused until the server listens, and nobody else's meanwhile.
    let reserved = reserve_port();
    let port = reserved.port;
    let url = format!("http://127.0.0.1:{port}/v1");
    let late = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let child = bin()
            .args(["serve", "--engine", "sim", "--sim-decode-ms", "1"])
            .args(["--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve starts");
        Kill(child)
    });
    let tmp = tempdir();
    let out = tmp.path().join("late");
    let o = run_http(
        &url,
        &out,
        &["--num-prompts", "3", "--ready-check-timeout", "60"],
    );
    drop(late.join().unwrap());
    let rs = samples(&out);
    assert_eq!(rs.len(), 3, "{}", stderr(&o));
    assert!(rs.iter().all(|r| r["ok"] == true), "{rs:?}");
}

#[test]
fn a_server_that_never_gets_ready_is_a_one_line_error() {
    let reserved = reserve_port();
    let tmp = tempdir();
    let o = run(&[
        "run",
        "--engine",
        "http",
        "--url",
        &format!("http://127.0.0.1:{}/v1", reserved.port),
        "--served-model",
        "m",
        "--num-prompts",
        "2",
        "--ready-check-timeout",
        "1.5",
        "--out",
        tmp.path().join("never").to_str().unwrap(),
        "--quiet",
    ]);
    assert_one_line_error(&o, 1, "was not ready within 1.5 s (--ready-check-timeout)");
    assert!(
        stderr(&o).contains("connect"),
        "the last failure is named: {}",
        stderr(&o)
    );
    let o = run(&[
        "run",
        "--engine",
        "http",
        "--url",
        "http://127.0.0.1:9/v1",
        "--ready-check-timeout",
        "-1",
    ]);
    assert_one_line_error(
        &o,
        2,
        "--ready-check-timeout -1: out of range, expected a number from 0 to",
    );
}

/// The http engine against a server nobody here wrote: llama.cpp's own `llama-server`
/// (built by benches/llama-cpp-tools.sh) on a synthetic model. Skipped, and reported as
/// skipped, when NATIVEBENCH_LLAMA_SERVER does not name it; failed instead when
/// NATIVEBENCH_REQUIRE_LLAMA_SERVER=1.
#[test]
fn the_http_engine_completes_a_workload_against_llama_server() {
    let Some(server) = llama_server() else { return };
    let tmp = tempdir();
    let model = tmp.path().join("tiny-q8_0.gguf");
    synth_tiny(&model);
    // Held while llama-server starts, so the /health that answers below is its own.
    let reserved = reserve_port();
    let port = reserved.port;
    let log = std::fs::File::create(tmp.path().join("llama-server.log")).unwrap();
    let child = std::process::Command::new(&server)
        .args([
            "-m",
            model.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(["-t", "2", "-c", "2048", "-np", "2"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("llama-server starts");
    let _guard = Kill(child);
    let addr = format!("127.0.0.1:{port}");
    let ready = (0..600).any(|_| {
        let ok = std::net::TcpStream::connect(&addr).is_ok()
            && crate::serve::http_raw(
                &addr,
                "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .starts_with("HTTP/1.1 200");
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        ok
    });
    let log_text =
        || std::fs::read_to_string(tmp.path().join("llama-server.log")).unwrap_or_default();
    assert!(
        ready,
        "llama-server did not become healthy in 120 s: {}",
        log_text()
    );
    let out = tmp.path().join("llama");
    let o = bin()
        .args([
            "run",
            "--engine",
            "http",
            "--url",
            &format!("http://{addr}/v1"),
            "--api",
            "completions",
        ])
        .args([
            "--no-chat",
            "--served-model",
            "tiny",
            "--num-prompts",
            "3",
            "--output-len",
            "8",
        ])
        .args([
            "--concurrency",
            "2",
            "--warmup",
            "1",
            "--timeout",
            "120",
            "--quiet",
        ])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stderr(&o), log_text());
    let rs = samples(&out);
    assert_eq!(rs.len(), 3);
    for r in &rs {
        assert_eq!(r["ok"], true, "{r}");
        // ignore_eos and max_tokens reach the server: exactly 8 tokens each.
        assert_eq!(r["output_tokens"], 8, "{r}");
        assert!(r["ttft_ms"].as_f64().unwrap() > 0.0, "{r}");
        assert!(
            r["prompt_tokens"].as_u64().unwrap() > 0,
            "usage came back: {r}"
        );
    }
    // `compare` against it: llama-server gives no per-token times, so ITL is shown and
    // said to be not separable, rather than all put down to HTTP.
    #[cfg(feature = "llama-cpp")]
    {
        let cmp = tmp.path().join("cmp");
        let url = format!("http://{addr}/v1");
        let o = run(&[
            "compare",
            "--engine",
            "llama-cpp",
            "--model",
            path_str(&model),
            "-t",
            "2",
            "--url",
            &url,
            "--api",
            "completions",
            "--no-chat",
            "--served-model",
            "tiny",
            "--num-prompts",
            "2",
            "--output-len",
            "8",
            "--out",
            path_str(&cmp),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}\n{}", stderr(&o), log_text());
        let d = json(&cmp.join("decomposition.json"));
        let itl: Vec<&serde_json::Value> = d["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["metric"] == "itl_ms")
            .collect();
        for r in itl {
            assert_eq!(r["not_separable"], true, "{r}");
            assert!(r["http_serialization_ms"].is_null(), "{r}");
            assert!(r["overhead_ms"].is_number(), "{r}");
        }
        assert!(stdout(&o).contains("not separable"), "{}", stdout(&o));
    }
}

/// A `vllm bench serve` command line runs as it is: a bare --base-url, --endpoint,
/// --dataset-name/--dataset-path, --ignore-eos, --disable-tqdm and --result-dir.
#[test]
fn a_vllm_bench_serve_command_line_works() {
    let s = sim_serve("1", "1");
    let base = s.url.trim_end_matches("/v1").to_owned();
    let tmp = tempdir();
    let results = tmp.path().join("results");
    let o = run(&[
        "run",
        "--engine",
        "http",
        "--base-url",
        &base,
        "--backend",
        "vllm",
        "--endpoint",
        "/v1/completions",
        "--served-model-name",
        "sim",
        "--save-result",
        "--dataset-name",
        "random",
        "--random-input-len",
        "16",
        "--random-output-len",
        "4",
        "--num-prompts",
        "3",
        "--max-concurrency",
        "2",
        "--ignore-eos",
        "--disable-tqdm",
        "--result-dir",
        results.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dirs: Vec<_> = std::fs::read_dir(&results).unwrap().flatten().collect();
    assert_eq!(dirs.len(), 1, "one run directory under --result-dir");
    let dir = dirs[0].path();
    let rs = samples(&dir);
    assert_eq!(rs.len(), 3);
    assert!(
        rs.iter()
            .all(|r| r["ok"] == true && r["output_tokens"] == 4),
        "{rs:?}"
    );
    let config = json(&dir.join("run_config.json"));
    assert_eq!(
        config["engine"]["http"]["api"], "completions",
        "--endpoint names the API"
    );
    assert_eq!(
        config["engine"]["http"]["url"],
        format!("{base}/v1/completions")
    );

    // A bare base URL alone means the chat route under /v1.
    let out = tmp.path().join("bare");
    run_http(&base, &out, &["--num-prompts", "1"]);
    assert_eq!(samples(&out)[0]["ok"], true);

    // A data set file goes with --dataset-name sharegpt, not with another name.
    let sg = write(
        tmp.path(),
        "sg.json",
        r#"[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello there"}]}]"#,
    );
    let out = tmp.path().join("sg");
    run_http(
        &s.url,
        &out,
        &[
            "--dataset-name",
            "sharegpt",
            "--dataset-path",
            sg.to_str().unwrap(),
        ],
    );
    assert_eq!(samples(&out).len(), 1);
    let o = run(&[
        "run",
        "--engine",
        "http",
        "--url",
        &s.url,
        "--dataset-name",
        "random",
        "--dataset-path",
        sg.to_str().unwrap(),
    ]);
    assert_one_line_error(&o, 2, "--dataset-path is the workload file");
    let o = run(&["run", "--engine", "sim", "--dataset-name", "sharegpt"]);
    assert_one_line_error(&o, 2, "needs the file");
    let o = run(&[
        "run",
        "--engine",
        "http",
        "--url",
        &s.url,
        "--endpoint",
        "/v1/embeddings",
    ]);
    assert_one_line_error(
        &o,
        2,
        "must be a path ending in /chat/completions or /completions",
    );
}
