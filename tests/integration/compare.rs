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

/// A row of `decomposition.json`.
fn row<'a>(d: &'a serde_json::Value, metric: &str, stat: &str) -> &'a serde_json::Value {
    d["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == metric && r["stat"] == stat)
        .unwrap_or_else(|| panic!("no {metric} {stat} row: {d}"))
}

/// Every row whose parts are all there sums to its overhead.
fn assert_rows_add_up(d: &serde_json::Value) {
    for r in d["rows"].as_array().unwrap() {
        let part = |k: &str| r[k].as_f64();
        if let (Some(o), Some(q), Some(h), Some(e)) = (
            part("overhead_ms"),
            part("server_queue_ms"),
            part("http_serialization_ms"),
            part("engine_ms"),
        ) {
            assert!((o - q - h - e).abs() < 1e-9, "the parts add up: {r}");
        }
    }
}

/// `compare` on the sim with 40 tokens per request and `extra` flags; its directory and
/// decomposition.
fn compare_sim(extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, serde_json::Value) {
    let tmp = tempdir();
    let out = tmp.path().join("cmp");
    let mut args = vec![
        "compare",
        "--engine",
        "sim",
        "--sim-prefill-ms",
        "2",
        "--sim-prefill-ms-per-token",
        "0",
        "--workload",
        "short",
        "--num-prompts",
        "4",
        "--output-len",
        "40",
        "--out",
        path_str(&out),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let d = json(&out.join("decomposition.json"));
    assert_rows_add_up(&d);
    (tmp, out, d)
}

/// A served engine slower per step (the sim's decode step is 6 ms under `serve`, 2 ms
/// in-process): the ITL difference is the engine's, and HTTP adds next to nothing per
/// token on loopback.
#[test]
fn a_slower_served_engine_is_put_down_to_the_engine_not_http() {
    let (_tmp, out, d) = compare_sim(&["--sim-decode-ms", "2", "--sim-serve-decode-ms", "6"]);
    let itl = row(&d, "itl_ms", "p50");
    let http = itl["http_serialization_ms"].as_f64().unwrap();
    let engine = itl["engine_ms"].as_f64().unwrap();
    // The median of 156 per-token shares: one token's scheduling delay moves it little.
    assert!(
        http.abs() < 0.05,
        "http+serial. per token on loopback: {itl}"
    );
    assert!(engine > 3.0, "the 4 ms slower step is the engine's: {itl}");
    assert_eq!(itl["not_separable"], serde_json::Value::Null, "{itl}");
    // The server's own gaps show its 6 ms step.
    let served = json(&out.join("served").join("metrics.json"));
    assert!(num(&served, "server_itl_ms.p50") >= 5.9, "{served}");
    // Per token, the served record carries the server's time of each token.
    for s in samples(&out.join("served")) {
        assert_eq!(
            s["server_token_ms"].as_array().map(Vec::len),
            s["token_ms"].as_array().map(Vec::len),
            "{s}"
        );
    }
    // What the report says about why.
    let cpu = &d["cpu"];
    assert!(cpu["cores_available"].as_u64().unwrap() >= 1, "{cpu}");
    let roles: Vec<&str> = cpu["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["in-process run", "server", "client", "whole machine"]
    );
    assert!(
        cpu["findings"][0]
            .as_str()
            .unwrap()
            .starts_with("the served engine ran slower: itl_ms p50"),
        "{cpu}"
    );
}

/// A server that holds every chunk 4 ms after its engine produced it (1 ms steps): the
/// stream backs up, and the ITL difference is HTTP's, not the engine's; the per-token
/// shares of each request add up to its per-request share.
#[test]
fn a_slow_http_side_is_put_down_to_http_and_per_token_shares_add_up() {
    let (_tmp, out, d) = compare_sim(&["--sim-decode-ms", "1", "--sim-serve-chunk-delay-ms", "4"]);
    let itl = row(&d, "itl_ms", "p50");
    let http = itl["http_serialization_ms"].as_f64().unwrap();
    let engine = itl["engine_ms"].as_f64().unwrap();
    assert!(
        http > 2.0,
        "the 3 ms each chunk waits beyond a step is HTTP's: {itl}"
    );
    assert!(engine.abs() < http / 3.0, "{itl}");
    for s in samples(&out.join("served")) {
        let token: Vec<f64> = serde_json::from_value(s["token_ms"].clone()).unwrap();
        let server: Vec<f64> = serde_json::from_value(s["server_token_ms"].clone()).unwrap();
        let per_token: f64 = token
            .windows(2)
            .zip(server.windows(2))
            .map(|(c, s)| (c[1] - c[0]) - (s[1] - s[0]))
            .sum();
        // The per-request shares differ by what came after the first token; so do the
        // per-token ones, summed (the last token's delivery against the first's).
        let per_request = num(&s, "engine_timings_ms.http_overhead_ms")
            - num(&s, "engine_timings_ms.http_ttft_overhead_ms");
        assert!(per_token > 39.0 * 2.0, "{per_token} {s}");
        assert!(
            (per_token - per_request).abs() < 0.1 * per_request + 2.0,
            "per token {per_token} ms against per request {per_request} ms"
        );
    }
}

/// The sim engine has one thread: with two cores or more, `--pin` gives the engine (and
/// the whole server) the first and the client the rest.
#[test]
fn pin_puts_the_engine_and_the_client_on_their_own_cores() {
    let allowed = nativebench::affinity::allowed_cores(0);
    let (_tmp, _out, d) = compare_sim(&["--pin", "--sim-decode-ms", "1"]);
    let cpu = &d["cpu"];
    let pin = cpu["pin"].as_str().unwrap();
    if allowed.len() < 2 {
        assert!(pin.starts_with("--pin needs 2 cores"), "{pin}");
        return;
    }
    let engine = allowed[0].to_string();
    let client = nativebench::affinity::list(&allowed[1..]);
    assert_eq!(
        pin,
        format!("engine and server on cores {engine}, client on cores {client}")
    );
    let p = |i: usize, k: &str| cpu["processes"][i][k].as_str().unwrap().to_owned();
    assert_eq!(p(0, "cores_allowed"), engine, "the in-process run: {cpu}");
    assert_eq!(p(1, "cores_allowed"), engine, "the server: {cpu}");
    assert_eq!(p(2, "cores_allowed"), client, "the client: {cpu}");
    assert_eq!(
        p(1, "cores_seen"),
        engine,
        "the server ran on its core: {cpu}"
    );
}

#[test]
fn pin_is_refused_with_a_url() {
    let o = run(&[
        "compare",
        "--engine",
        "sim",
        "--pin",
        "--url",
        "http://127.0.0.1:1/v1",
    ]);
    assert_one_line_error(&o, 2, "--pin");
}

/// llama.cpp in-process and served: the ITL difference is split per token, HTTP's part of
/// the order of the per-request HTTP share spread over the tokens (microseconds on
/// loopback), not the whole difference; `--pin` with a thread per core says it cannot.
#[cfg(feature = "llama-cpp")]
#[test]
fn compare_on_llama_cpp_splits_itl_per_token() {
    let tmp = tempdir();
    let model = tmp.path().join("tiny.gguf");
    synth_tiny(&model);
    let out = tmp.path().join("cmp");
    let cores = nativebench::affinity::allowed_cores(0).len().max(1);
    let threads = cores.to_string();
    let o = run(&[
        "compare",
        "--engine",
        "llama-cpp",
        "--model",
        path_str(&model),
        "-t",
        &threads,
        "--pin",
        "--workload",
        "short",
        "--num-prompts",
        "3",
        "--output-len",
        "32",
        "--out",
        path_str(&out),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("--pin needs {} cores", cores + 1)),
        "{text}"
    );
    assert!(text.contains("where the CPU went"), "{text}");
    let d = json(&out.join("decomposition.json"));
    assert_rows_add_up(&d);
    let itl = row(&d, "itl_ms", "p50");
    let http = itl["http_serialization_ms"].as_f64().unwrap();
    assert!(itl["engine_ms"].is_number(), "{itl}");
    let e2e_http = row(&d, "e2e_ms", "p50")["http_serialization_ms"]
        .as_f64()
        .unwrap();
    // The per-request share is a fraction of a millisecond for 32 tokens; per token, the
    // median share is of that order, not the whole ITL difference.
    assert!(
        http.abs() <= e2e_http.max(0.05),
        "ITL http+serial. p50 {http} ms against E2E's {e2e_http} ms per request: {itl}"
    );
}

/// `compare --launch CMD`: the served side is the launched server (here a second
/// `nativebench serve`, as any command with `{port}`), started, scraped at its
/// `/metrics` and stopped by the served run, whose directory keeps its log and the
/// manifest's server entry; the in-process side scrapes nothing.
#[test]
fn compare_launch_serves_the_served_side_from_the_launched_server() {
    let bin = env!("CARGO_BIN_EXE_nativebench");
    let launch = format!(
        "{bin} serve --engine sim --sim-prefill-ms 2 --sim-prefill-ms-per-token 0 --host 127.0.0.1 --port {{port}}"
    );
    let (_tmp, out, d) = compare_sim(&["--launch", &launch, "--scrape-interval", "0.05"]);
    assert!(
        d["served_by"]
            .as_str()
            .unwrap()
            .contains("serve --engine sim"),
        "{d}"
    );
    let served = out.join("served");
    assert!(served.join("server.log").exists());
    let manifest = json(&served.join("manifest.json"));
    assert!(
        manifest["server"]["command"]
            .to_string()
            .contains("--engine"),
        "{manifest}"
    );
    let m = json(&served.join("metrics.json"));
    assert_eq!(m["completed"], 4, "{m}");
    assert!(num(&m, "server.scrapes") >= 1.0, "{m}");
    assert!(m["server"]["running"].is_object(), "{m}");
    let inp = json(&out.join("in-process").join("metrics.json"));
    assert!(inp.get("server").is_none(), "{inp}");
    assert!(!out.join("in-process").join("server.log").exists());
    // The launched server is gone.
    assert!(gone(&format!(
        "{bin} serve --engine sim --sim-prefill-ms 2"
    )));
    // --pin cannot place a launched server.
    let o = run(&[
        "compare", "-e", "sim", "--pin", "--launch", &launch, "-w", "short",
    ]);
    assert_one_line_error(&o, 2, "--launch");
}
