//! `nativebench run` on the sim engine: the run directory, calibration against known
//! delays, interruption, and bad input.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

const STATS: [&str; 11] = [
    "count", "mean", "std", "min", "p1", "p10", "p50", "p90", "p95", "p99", "max",
];

#[test]
fn sim_short_writes_the_four_files_with_every_field() {
    let tmp = tempdir();
    let out = tmp.path().join("run");
    let o = run(&[
        "run",
        "--engine",
        "sim",
        "--workload",
        "short",
        "--out",
        out.to_str().unwrap(),
        "--sim-decode-ms",
        "0.2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Output token throughput (tok/s):"),
        "{}",
        stdout(&o)
    );

    let samples = samples(&out);
    assert_eq!(samples.len(), 5, "the short workload has 5 requests");
    for s in &samples {
        for k in [
            "request_id",
            "repetition",
            "ok",
            "prompt_tokens",
            "output_tokens",
            "start_ms",
            "template_ms",
            "tokenize_ms",
            "prefill_ms",
            "ttft_ms",
            "tpot_ms",
            "decode_ms",
            "detokenize_ms",
            "e2e_ms",
            "prefill_tok_s",
            "decode_tok_s",
            "token_ms",
        ] {
            assert!(!s[k].is_null(), "samples.jsonl lacks {k}: {s}");
        }
        // 128 in, 128 out, exactly: the prompt is fitted to the engine's tokenizer and
        // ignore-EOS holds the output length.
        assert_eq!(s["prompt_tokens"], 128, "{s}");
        assert_eq!(s["output_tokens"], 128);
        assert_eq!(s["token_ms"].as_array().unwrap().len(), 128);
    }

    let m = json(&out.join("metrics.json"));
    for metric in [
        "ttft_ms",
        "tpot_ms",
        "itl_ms",
        "e2e_ms",
        "template_ms",
        "tokenize_ms",
        "prefill_ms",
        "decode_step_ms",
        "detokenize_ms",
    ] {
        for s in STATS {
            assert!(
                field(&m, metric)[s].is_number(),
                "metrics.json lacks {metric}.{s}"
            );
        }
    }
    assert_eq!(num(&m, "ttft_ms.count"), 5.0);
    assert_eq!(num(&m, "itl_ms.count"), 5.0 * 127.0, "ITL pools every gap");
    assert_eq!(num(&m, "total_output_tokens"), 640.0);
    assert_eq!(num(&m, "error_rate"), 0.0);
    for k in [
        "request_throughput_req_s",
        "input_throughput_tok_s",
        "output_throughput_tok_s",
        "total_throughput_tok_s",
        "ms_per_output_token",
        "duration_s",
        "resources.rss_peak_mib",
        "resources.rss_avg_mib",
    ] {
        assert!(num(&m, k) > 0.0, "{k} should be positive in {m}");
    }
    // Output throughput is total output tokens over the measured span.
    let tps = 640.0 / num(&m, "duration_s");
    assert!((num(&m, "output_throughput_tok_s") - tps).abs() / tps < 1e-9);

    let manifest = json(&out.join("manifest.json"));
    for k in [
        "timestamp",
        "build.nativebench_version",
        "build.git_sha",
        "build.features",
        "build.rustc",
        "machine.os",
        "machine.cpu_cores",
        "machine.arch",
        "machine.gpus",
        "engine.name",
        "engine.version",
    ] {
        assert!(!field(&manifest, k).is_null(), "manifest.json lacks {k}");
    }
    assert_eq!(manifest["engine"]["name"], "sim");

    let config = json(&out.join("run_config.json"));
    assert_eq!(config["engines"][0], "sim");
    assert_eq!(config["workload"]["name"], "short");
    assert_eq!(config["runner"]["repetitions"], 1);
    assert_eq!(config["engine"]["sim"]["decode_ms"], 0.2);
}

#[test]
fn sim_delays_are_recovered_exactly() {
    // Known delays, no jitter: the recorder must report them, and TTFT must be exactly
    // the sum of its phases.
    let tmp = tempdir();
    let out = tmp.path().join("cal");
    let o = run(&[
        "run",
        "--engine",
        "sim",
        "--workload",
        "short",
        "--num-prompts",
        "20",
        "--output-len",
        "24",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--sim-template-ms",
        "0.5",
        "--sim-tokenize-ms-per-kb",
        "2",
        "--sim-prefill-ms",
        "20",
        "--sim-prefill-ms-per-token",
        "0",
        "--sim-decode-ms",
        "5",
        "--sim-jitter",
        "0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = json(&out.join("metrics.json"));
    // The sim never ends a wait early, so no phase may measure shorter than configured:
    // exact, whatever the load. It can end one late, when a busy machine runs its thread
    // late, and any median can drift with that; but a mark in the wrong place shifts
    // every sample, the quickest too. So the quickest of each phase (20 prefills and
    // templates, 460 decode steps) must match the configured delay within 2% or 0.2 ms.
    let close = |got: f64, want: f64| got <= want + (0.02 * want).max(0.2);
    for (phase, want) in [
        ("prefill_ms", 20.0),
        ("decode_step_ms", 5.0),
        ("template_ms", 0.5),
    ] {
        let (min, p50) = (
            num(&m, &format!("{phase}.min")),
            num(&m, &format!("{phase}.p50")),
        );
        assert!(
            min >= want - 1e-6,
            "{phase}: one measured {min} ms, under the configured {want} ms"
        );
        assert!(
            close(min, want),
            "{phase}: the quickest measured {min} ms (p50 {p50}), configured {want} ms"
        );
    }
    for s in samples(&out) {
        let parts = num(&s, "template_ms") + num(&s, "tokenize_ms") + num(&s, "prefill_ms");
        let ttft = num(&s, "ttft_ms");
        assert!((ttft - parts).abs() <= 0.5, "TTFT {ttft} vs phases {parts}");
        // TPOT is (tn - t1) / (n - 1).
        let t = s["token_ms"].as_array().unwrap();
        let tpot = (t[23].as_f64().unwrap() - t[0].as_f64().unwrap()) / 23.0;
        assert!((num(&s, "tpot_ms") - tpot).abs() < 1e-9);
    }
}

#[test]
fn sim_batch_decodes_requests_together() {
    // Four requests in one batch share one prefill and every decode step: each sees the
    // configured step, and together they finish in the time one request alone would take.
    let tmp = tempdir();
    let out = tmp.path().join("batch");
    let o = run(&[
        "run",
        "-e",
        "sim",
        "-w",
        "short",
        "--num-prompts",
        "4",
        "--output-len",
        "10",
        "--concurrency",
        "4",
        "--sim-batch",
        "4",
        "--sim-template-ms",
        "0",
        "--sim-tokenize-ms-per-kb",
        "0",
        "--sim-prefill-ms",
        "30",
        "--sim-prefill-ms-per-token",
        "0",
        "--sim-decode-ms",
        "20",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = json(&out.join("metrics.json"));
    // The sim's waits never end early, so each request's TTFT is at least the prefill
    // and its TPOT at least the step: exact. They end late when a busy machine runs the
    // sim late, so the upper bounds only need to tell a shared prefill and step from
    // separate ones: prefilling one request after another would put the second first
    // token at 60 ms or later, and a step that cost per request would take 40 ms or more.
    for s in samples(&out) {
        let (ttft, tpot) = (num(&s, "ttft_ms"), num(&s, "tpot_ms"));
        assert!(
            (30.0 - 1e-6..45.0).contains(&ttft),
            "TTFT {ttft} ms, one shared prefill of 30 ms"
        );
        assert!(
            (20.0 - 1e-6..30.0).contains(&tpot),
            "TPOT {tpot} ms, one shared step of 20 ms"
        );
    }
    // One request alone takes 30 + 9 * 20 = 210 ms: 4 one after another would give
    // 40 / 0.84 s = 48 tok/s, the four together 40 / 0.21 s = 190 tok/s.
    let rate = num(&m, "output_throughput_tok_s");
    assert!(
        rate > 120.0,
        "output {rate} tok/s: the batch did not decode together"
    );
    // Without --sim-batch the same run says its requests ran one after another.
    assert!(!m.to_string().contains("one after another"), "{m}");
}

#[test]
fn a_batching_engine_starts_the_next_request_as_soon_as_one_ends() {
    // Concurrency 2 over a long request and two short ones: the third starts when the
    // first short one ends, while the long one is still decoding, as against a server.
    // Running them in fixed pairs would hold it until the long one ended.
    let tmp = tempdir();
    let prompts = write(
        tmp.path(),
        "p.jsonl",
        "{\"prompt\": \"long\", \"max_tokens\": 20}\n{\"prompt\": \"a\", \"max_tokens\": 2}\n{\"prompt\": \"b\", \"max_tokens\": 2}\n",
    );
    let out = tmp.path().join("cont");
    let o = run(&[
        "run",
        "-e",
        "sim",
        "-w",
        prompts.to_str().unwrap(),
        "--concurrency",
        "2",
        "--sim-batch",
        "2",
        "--sim-prefill-ms",
        "1",
        "--sim-prefill-ms-per-token",
        "0",
        "--sim-decode-ms",
        "10",
        "--warmup",
        "0",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = samples(&out);
    assert_eq!(s.len(), 3);
    let by = |p: &str| s.iter().find(|r| r["prompt_preview"] == p).unwrap().clone();
    let (long, b) = (by("long"), by("b"));
    let long_end = num(&long, "start_ms") + num(&long, "e2e_ms");
    assert!(
        num(&b, "start_ms") < long_end - 100.0,
        "the third request started at {} ms, the long one ended at {long_end} ms",
        b["start_ms"]
    );
    assert!(s.iter().all(|r| r["ok"] == true));
}

#[test]
fn repetitions_are_measured_and_tagged() {
    let tmp = tempdir();
    let out = tmp.path().join("reps");
    let o = run(&[
        "run",
        "-e",
        "sim",
        "--num-prompts",
        "2",
        "-r",
        "3",
        "--output-len",
        "4",
        "--sim-decode-ms",
        "0.1",
        "-o",
        out.to_str().unwrap(),
        "--format",
        "json",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed: Value =
        serde_json::from_str(&stdout(&o)).expect("--format json prints metrics.json");
    assert_eq!(printed, json(&out.join("metrics.json")));
    let reps: Vec<u64> = samples(&out)
        .iter()
        .map(|s| s["repetition"].as_u64().unwrap())
        .collect();
    assert_eq!(reps, vec![0, 0, 1, 1, 2, 2]);
    assert_eq!(printed["repetitions"]["count"], 3);
    assert_eq!(
        printed["repetitions"]["output_throughput_tok_s"]["values"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn injected_failures_are_recorded_and_the_run_goes_on() {
    let tmp = tempdir();
    let out = tmp.path().join("fail");
    let o = run(&[
        "run",
        "-e",
        "sim",
        "--num-prompts",
        "40",
        "--output-len",
        "4",
        "--sim-decode-ms",
        "0",
        "--sim-failure-rate",
        "0.5",
        "--seed",
        "3",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = samples(&out);
    assert_eq!(s.len(), 40, "a failed request is still a record");
    let failed = s.iter().filter(|r| r["ok"] == false).count();
    assert!(
        (5..=35).contains(&failed),
        "{failed} of 40 failed at rate 0.5"
    );
    assert!(s
        .iter()
        .filter(|r| r["ok"] == false)
        .all(|r| r["error_kind"] == "injected"));
    let m = json(&out.join("metrics.json"));
    assert_eq!(num(&m, "failed") as usize, failed);
    assert_eq!(num(&m, "error_rate"), failed as f64 / 40.0);
    assert_eq!(num(&m, "ttft_ms.count") as usize, 40 - failed);
    assert!(stdout(&o).contains("warning:"), "{}", stdout(&o));
}

#[test]
fn sigint_keeps_every_completed_request() {
    let tmp = tempdir();
    let out = tmp.path().join("int");
    let mut child = bin()
        .args([
            "run",
            "-e",
            "sim",
            "--workload",
            "long",
            "--num-prompts",
            "200",
            "--output-len",
            "20",
            "--sim-decode-ms",
            "5",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let samples_path = out.join("samples.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines(&samples_path) < 3 {
        assert!(Instant::now() < deadline, "the run never wrote 3 samples");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) with a live child's pid and a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "an interrupted run exits 130");

    let s = samples(&out);
    assert!(s.len() >= 3 && s.len() < 200, "{} samples", s.len());
    assert!(s
        .iter()
        .all(|r| r["ok"] == true && r["output_tokens"] == 20));
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["interrupted"], true);
    assert_eq!(num(&m, "num_requests") as usize, s.len());
    assert_eq!(num(&m, "completed") as usize, s.len());
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p).map_or(0, |t| t.lines().count())
}

/// Files the bad-input cases read, written into the test's folder first.
const BAD_INPUT_FILES: &[(&str, &str)] = &[
    ("bad.toml", "num_prompts = [\n"),
    (
        "zero.toml",
        "num_prompts = 0\n[source]\nkind = \"random\"\ninput_len = 8\n",
    ),
    ("neg.toml", "[source]\nkind = \"random\"\ninput_len = -3\n"),
    ("unknown.toml", "[source]\nkind = \"telepathy\"\n"),
    // ShareGPT of the wrong shape, and one with no usable conversation.
    ("shape.json", r#"{"conversations": "not a list"}"#),
    (
        "empty.json",
        r#"[{"conversations": [{"from": "gpt", "value": "hi"}]}]"#,
    ),
    ("p.jsonl", "{\"prompt\": \"hi\"}\n{\"nope\": 1}\n"),
    // A regular file: an --out under it cannot be created.
    ("plain", ""),
];

/// Invalid input to `nativebench run`, one case a row: the arguments after `run` (split
/// at spaces; `{dir}` is the test's folder, holding BAD_INPUT_FILES), the exit code the
/// README's table gives (2: invalid flags, workloads or paths) and a fragment of the one
/// `error:` line. A case without its own `-o` gets `-o {dir}/x`, which no failed start may
/// create.
#[rustfmt::skip]
const BAD_INPUT: &[(&str, i32, &str)] = &[
    ("--engine vllm-turbo",                  2, "unknown engine `vllm-turbo`"),
    ("-e sim --workload nope",               2, "unknown workload `nope`"),
    ("-e sim -w {dir}/missing.toml",         2, "no such file"),
    ("-e sim -w {dir}/bad.toml",             2, "bad.toml: line"),
    ("-e sim -w {dir}/zero.toml",            2, "num_prompts 0: out of range"),
    ("-e sim -w {dir}/neg.toml",             2, "input_len -3: out of range, expected an integer from 1 to 16777216"),
    ("-e sim -w {dir}/unknown.toml",         2, "unknown variant `telepathy`"),
    ("-e sim --num-prompts 0",               2, "--num-prompts 0: out of range, expected an integer from 1 to 10000000"),
    ("-e sim --output-len -4",               2, "--output-len -4: out of range, expected an integer from 1 to 16777216"),
    ("-e sim --sim-decode-ms -1",            2, "--sim-decode-ms"),
    ("-e sim -t 0",                          2, "--threads 0: out of range, expected an integer from 1 to 4096"),
    ("-e sim -w {dir}/shape.json",           2, "not a ShareGPT file"),
    ("-e sim -w {dir}/empty.json",           2, "no conversation has a human turn"),
    ("-e sim -w {dir}/p.jsonl",              2, "p.jsonl: line 2"),
    ("-e sim -q -o {dir}/plain/run",         2, "cannot create the run directory"),
];

#[test]
fn bad_input_gets_a_one_line_error() {
    let tmp = tempdir();
    let dir = path_str(tmp.path());
    for (name, text) in BAD_INPUT_FILES {
        write(tmp.path(), name, text);
    }
    let out = tmp.path().join("x");
    for &(case, code, needle) in BAD_INPUT {
        let mut args: Vec<String> = std::iter::once("run")
            .chain(case.split(' '))
            .map(|a| a.replace("{dir}", dir))
            .collect();
        if !case.split(' ').any(|a| a == "-o") {
            args.extend(["-o".to_owned(), path_str(&out).to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        let case = format!("nativebench {}", args.join(" "));
        assert_eq!(o.status.code(), Some(code), "{case}: {}", stderr(&o));
        assert_one_line_error(&o, code, needle);
    }

    // An engine that is not compiled in is a clear error too. Exit 1: the flag names a
    // real engine; this build cannot run it (as `--device cuda:0` without CUDA).
    #[cfg(not(feature = "llama-cpp"))]
    assert_one_line_error(
        &run(&["run", "-e", "llama-cpp", "-o", path_str(&out)]),
        1,
        "rebuild with --features llama-cpp",
    );

    // An unknown flag value is clap's usage error, exit 2, naming the value.
    let o = run(&["run", "--format", "xml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'xml'"), "{}", stderr(&o));
    assert!(
        !out.exists(),
        "no failed start leaves a run directory behind"
    );
}

#[test]
fn datasets_drive_the_run() {
    let tmp = tempdir();
    let d = tmp.path();
    let sharegpt = write(
        d,
        "sg.json",
        r#"[{"id": "a", "conversations": [{"from": "human", "value": "What is a KV cache?"}, {"from": "gpt", "value": "It keeps keys and values of past tokens."}]},
            {"id": "b", "conversations": [{"from": "system", "value": "be brief"}, {"from": "human", "value": "Define TTFT."}, {"from": "gpt", "value": "Time to first token."}]}]"#,
    );
    let out = d.join("sg");
    let o = run(&[
        "run",
        "-e",
        "sim",
        "-w",
        sharegpt.to_str().unwrap(),
        "--sim-decode-ms",
        "0",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = samples(&out);
    // Output lengths follow the reference replies, as the sim tokenizer counts them.
    let outs: Vec<u64> = s
        .iter()
        .map(|r| r["output_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(outs, vec![9, 5]);
    assert_eq!(s[1]["prompt_preview"], "Define TTFT.");

    let jsonl = write(d, "p.jsonl", "{\"prompt\": \"one\", \"max_tokens\": 3}\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"two\"}]}\n");
    let out = d.join("jl");
    let o = run(&[
        "run",
        "-e",
        "sim",
        "-w",
        jsonl.to_str().unwrap(),
        "--sim-decode-ms",
        "0",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let outs: Vec<u64> = samples(&out)
        .iter()
        .map(|r| r["output_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(outs, vec![3, 128]);

    let out = d.join("pr");
    let o = run(&[
        "run",
        "-e",
        "sim",
        "--prompt",
        "hello there",
        "--output-len",
        "7",
        "--no-chat",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = samples(&out);
    assert_eq!(
        (
            s.len(),
            s[0]["prompt_tokens"].as_u64(),
            s[0]["output_tokens"].as_u64()
        ),
        (1, Some(2), Some(7))
    );

    let out = d.join("sum");
    let o = run(&[
        "run",
        "-e",
        "sim",
        "-w",
        "summarization",
        "--sim-decode-ms",
        "0",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = samples(&out);
    assert_eq!(s.len(), 3);
    assert!(
        s.iter().all(|r| r["prompt_tokens"].as_u64().unwrap() > 300),
        "the documents are long prompts"
    );
    assert!(s[0]["prompt_preview"]
        .as_str()
        .unwrap()
        .starts_with("Summarise the following document"));
}

#[test]
fn random_workload_lengths_prefix_and_seed() {
    let tmp = tempdir();
    let go = |name: &str, seed: &str| {
        let out = tmp.path().join(name);
        let o = run(&[
            "run",
            "-e",
            "sim",
            "-w",
            "random",
            "--num-prompts",
            "20",
            "--random-input-len",
            "100",
            "--random-range-ratio",
            "0.5",
            "--random-prefix-len",
            "10",
            "--output-len",
            "2",
            "--sim-decode-ms",
            "0",
            "--seed",
            seed,
            "-o",
            out.to_str().unwrap(),
            "-q",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        samples(&out)
    };
    let a = go("a", "1");
    let lens: Vec<u64> = a
        .iter()
        .map(|r| r["prompt_tokens"].as_u64().unwrap())
        .collect();
    assert!(lens.iter().all(|&n| (60..=160).contains(&n)), "{lens:?}");
    assert!(
        lens.iter().any(|&n| n != lens[0]),
        "range ratio varies the lengths"
    );
    let pre = |r: &Value| {
        r["prompt_preview"]
            .as_str()
            .unwrap()
            .split(' ')
            .take(10)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        a.iter().all(|r| pre(r) == pre(&a[0])),
        "every prompt shares the prefix"
    );
    let b = go("b", "1");
    let c = go("c", "2");
    assert_eq!(
        a[5]["prompt_preview"], b[5]["prompt_preview"],
        "same seed, same prompts"
    );
    assert_ne!(a[5]["prompt_preview"], c[5]["prompt_preview"]);
}

#[test]
fn workloads_and_env_list_what_exists() {
    let o = run(&["workloads"]);
    assert!(o.status.success());
    let text = stdout(&o);
    for name in ["short", "long", "stress", "summarization", "random"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{text}");
    }
    let o = run(&["env", "--format", "json"]);
    assert!(o.status.success());
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["machine"]["cpu_cores"].as_u64().unwrap() >= 1);
    assert!(v["machine"]["memory_gib"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_recovers_the_sim_delays() {
    // Known delays: prefill 20 ms + 0.1 ms/token, decode 10 ms per step. So pp100 takes
    // 30 ms (3,333 t/s) and tg10 takes 100 ms (100 t/s). The tolerance is generous: the
    // suite runs tests in parallel on two cores.
    let tmp = tempdir();
    let out = tmp.path().join("b");
    let o = run(&[
        "bench",
        "-e",
        "sim",
        "-p",
        "100",
        "-n",
        "10",
        "-r",
        "3",
        "-o",
        "jsonl",
        "--out",
        out.to_str().unwrap(),
        "--sim-prefill-ms",
        "20",
        "--sim-prefill-ms-per-token",
        "0.1",
        "--sim-decode-ms",
        "10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let recs: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2);
    // The sim never ends a wait early, so no repetition (nor their mean) can beat the
    // configured rate: exact. A busy machine can make any repetition slow, but not all
    // of them alike, so the fastest repetition must come within 25% of it.
    let recovers = |rec: &Value, test: &str, want: f64| {
        assert_eq!(rec["test"], test);
        assert!(num(rec, "avg_ts") <= want * (1.0 + 1e-9), "{rec}");
        let fastest = rec["samples_ts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap())
            .fold(0.0, f64::max);
        assert!(fastest <= want * (1.0 + 1e-9), "{rec}");
        assert!(
            fastest > want * 0.75,
            "{test}: fastest {fastest} t/s: {rec}"
        );
    };
    recovers(&recs[0], "pp100", 100.0 / 0.030);
    recovers(&recs[1], "tg10", 10.0 / 0.100);

    let md = run(&[
        "bench",
        "-e",
        "sim",
        "-p",
        "8",
        "-n",
        "0",
        "-r",
        "1",
        "--out",
        tmp.path().join("m").to_str().unwrap(),
    ]);
    let text = stdout(&md);
    assert!(
        text.lines().next().unwrap().contains("| test |") || text.contains("test |"),
        "{text}"
    );
    assert!(text.contains("pp8"), "{text}");
    assert_one_line_error(
        &run(&["bench", "-e", "sim", "-p", "0", "-n", "0"]),
        2,
        "no test to run",
    );
    assert_one_line_error(
        &run(&["bench", "-e", "sim", "-p", "1-x"]),
        2,
        "-p x: out of range, expected an integer from 0 to 16777216",
    );
}

#[test]
fn a_workload_that_repeats_a_prompt_is_warned_about() {
    let tmp = tempdir();
    // Three documents, five prompts: the fourth and fifth repeat the first two.
    let out = tmp.path().join("repeats");
    ok_run(&[
        "run",
        "-e",
        "sim",
        "-q",
        "-w",
        "summarization",
        "--num-prompts",
        "5",
        "--warmup",
        "0",
        "--output-len",
        "2",
        "-o",
        path_str(&out),
    ]);
    let m = json(&out.join("metrics.json"));
    let warnings = m["warnings"].to_string();
    assert!(
        warnings.contains("2 of 5 prompts repeat an earlier prompt"),
        "{warnings}"
    );
    // Random prompts are each their own.
    let m = sim_run(
        &tmp.path().join("random"),
        "0",
        &["--num-prompts", "5", "--warmup", "0"],
    );
    assert!(!m["warnings"].to_string().contains("repeat"), "{m}");
}

#[test]
fn shared_prefix_groups_have_exact_lengths_and_share_their_system_prompt() {
    let tmp = tempdir();
    let def = write(
        tmp.path(),
        "sp.yaml",
        "output_len: 2\nsource:\n  kind: shared_prefix\n  groups: 2\n  prompts_per_group: 3\n  system_len: 40\n  question_len: 8\n",
    );
    let out = tmp.path().join("sp");
    ok_run(&[
        "run",
        "-e",
        "sim",
        "-q",
        "-w",
        path_str(&def),
        "--warmup",
        "0",
        "-o",
        path_str(&out),
    ]);
    let mut rs = samples(&out);
    rs.sort_by_key(|r| r["request_id"].as_u64());
    assert_eq!(rs.len(), 6);
    assert!(rs.iter().all(|r| r["prompt_tokens"] == 48), "{rs:?}");
    let words = |i: usize, n: usize| -> Vec<String> {
        rs[i]["prompt_preview"]
            .as_str()
            .unwrap()
            .split(' ')
            .take(n)
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(words(0, 10), words(2, 10), "one group, one system prompt");
    assert_ne!(words(0, 10), words(3, 10), "each group its own");
    assert!(!m_warns_of_repeats(&out));
    let bad = write(
        tmp.path(),
        "bad.yaml",
        "source:\n  kind: shared_prefix\n  groups: 2\n",
    );
    let o = run(&["run", "-e", "sim", "-q", "-w", path_str(&bad)]);
    assert_one_line_error(&o, 2, "needs prompts_per_group, system_len, question_len");
}

fn m_warns_of_repeats(dir: &std::path::Path) -> bool {
    json(&dir.join("metrics.json"))["warnings"]
        .to_string()
        .contains("repeat")
}

/// Without --seed every run draws its own, so its random prompts differ from the last
/// run's (a server's prefix cache cannot carry hits over); the seed drawn is recorded,
/// and giving it back repeats the prompts exactly.
#[test]
fn runs_without_a_seed_send_new_random_prompts_and_record_the_seed_to_repeat_them() {
    let tmp = tempdir();
    let go = |name: &str, extra: &[&str]| -> (Vec<Value>, u64) {
        let dir = tmp.path().join(name);
        let args = [
            &[
                "run",
                "-e",
                "sim",
                "-q",
                "-w",
                "random",
                "--num-prompts",
                "3",
                "--random-input-len",
                "16",
                "--output-len",
                "2",
                "--warmup",
                "0",
                "-o",
            ][..],
            &[path_str(&dir)],
            extra,
        ]
        .concat();
        ok_run(&args);
        let prompts = samples(&dir)
            .iter()
            .map(|r| r["prompt_preview"].clone())
            .collect();
        let seed = json(&dir.join("run_config.json"))["seed"].as_u64().unwrap();
        (prompts, seed)
    };
    let (a, seed_a) = go("a", &[]);
    let (b, seed_b) = go("b", &[]);
    assert_ne!(seed_a, seed_b);
    assert_ne!(a, b, "two runs without --seed sent the same prompts");
    let seed = seed_a.to_string();
    let (again, recorded) = go("again", &["--seed", &seed]);
    assert_eq!(recorded, seed_a);
    assert_eq!(again, a);
}
