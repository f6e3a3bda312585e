//! The llama.cpp engine: the checks every in-process engine passes (engines.rs), with
//! llama.cpp's own timings, llama-bench's columns, batched decoding, the served engine,
//! the embedded default, and bad input only llama.cpp sees.

use serde_json::Value;

use crate::engines::{engine_tests, TINY};
use crate::support::*;

engine_tests! {
    engine: "llama-cpp",
    short_workload: llama_cpp_short_workload_has_exact_lengths => |run| {
        // The harness's prefill and llama.cpp's own prompt-eval time measure the same
        // decode calls: they agree within 5% or 1 ms, at the median of the five requests
        // (one request preempted by the tests running beside this one is not a harness
        // gap).
        let mut gaps: Vec<(f64, f64, f64)> = run
            .samples
            .iter()
            .map(|r| {
                let ours = num(r, "prefill_ms");
                let theirs = num(r, "engine_timings_ms.llama_t_p_eval_ms");
                ((ours - theirs).abs() - (0.05 * theirs).max(1.0), ours, theirs)
            })
            .collect();
        gaps.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (excess, ours, theirs) = gaps[gaps.len() / 2];
        assert!(
            excess <= 0.0,
            "median request: prefill {ours} ms vs llama.cpp t_p_eval {theirs} ms ({gaps:?})"
        );
        assert_eq!(run.manifest["engine"]["details"]["llama_cpp_sys_2"], "0.1.161");
    },
    kv_cache_reset: llama_cpp_kv_cache_is_reset_between_requests,
    gemma3_270m: llama_cpp_gemma3_270m_writes_a_complete_run_directory => |run| {
        let model_type = run.manifest["engine"]["details"]["model_type"].as_str().unwrap();
        assert!(model_type.starts_with("gemma3 "), "{model_type}");
    },
    bench: llama_cpp_bench_runs_llama_bench_tests,
    bad_input: llama_cpp_bad_input_is_a_one_line_error,
}

/// Bad input only llama.cpp sees (the input every engine sees: engines.rs).
#[test]
fn llama_cpp_specific_bad_input_is_a_clear_error() {
    let tmp = tempdir();
    let d = tmp.path();
    let o = d.join("x");
    let o = o.to_str().unwrap();
    assert_one_line_error(
        &run(&[
            "run",
            "-e",
            "llama-cpp",
            "-m",
            TINY,
            "-ngl",
            "1",
            "-o",
            o,
            "-q",
        ]),
        1,
        "--n-gpu-layers needs a GPU build",
    );
    assert_one_line_error(
        &run(&[
            "run",
            "-e",
            "llama-cpp",
            "-m",
            TINY,
            "-ctv",
            "q4_0",
            "-fa",
            "off",
            "-o",
            o,
            "-q",
        ]),
        1,
        "a quantized V cache (--cache-type-v q4_0) needs flash attention",
    );

    // A prompt longer than the context fails that request, clearly, and the run goes on.
    let out = d.join("ctx");
    let r = run(&[
        "run",
        "-e",
        "llama-cpp",
        "-m",
        TINY,
        "-c",
        "64",
        "--num-prompts",
        "2",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        r.status.code(),
        Some(1),
        "every request failed: {}",
        stderr(&r)
    );
    let s = samples(&out);
    assert_eq!(s.len(), 2);
    for r in &s {
        assert_eq!(r["error_kind"], "invalid_request");
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("does not fit the context of 64"),
            "{r}"
        );
    }
}

#[test]
fn llama_cpp_bench_reports_llama_bench_columns() {
    let tmp = tempdir();
    let out = tmp.path().join("b");
    let r = run(&[
        "bench",
        "-e",
        "llama-cpp",
        "-m",
        TINY,
        "-p",
        "64",
        "-n",
        "16",
        "-pg",
        "32,8",
        "-r",
        "2",
        "-t",
        "2",
        "-ctk",
        "q8_0",
        "--poll",
        "0",
        "-o",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let v: Value = serde_json::from_str(&stdout(&r)).unwrap();
    let tests: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["test"].as_str().unwrap())
        .collect();
    assert_eq!(tests, vec!["pp64", "tg16", "pp32+tg8"]);
    for t in v.as_array().unwrap() {
        assert_eq!(t["samples_ns"].as_array().unwrap().len(), 2);
        assert!(num(t, "avg_ts") > 0.0);
        assert_eq!(t["n_threads"], 2);
        assert_eq!(t["backend"], "CPU");
        // llama-bench's columns for the settings given.
        assert_eq!(t["type_k"], "q8_0");
        assert_eq!(t["type_v"], "f16");
        assert_eq!(t["poll"], 0);
    }
    let pg = &v[2];
    assert!(num(pg, "pp_avg_ts") > 0.0 && num(pg, "tg_avg_ts") > 0.0);
    // bench.jsonl holds the same records, written as each test completed.
    let lines = std::fs::read_to_string(out.join("bench.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3);
    assert!(out.join("manifest.json").exists());

    // The Markdown table shows a setting's column only when it leaves the default, as
    // llama-bench's does.
    // Each bench its own directory: bench never writes over an earlier one.
    let runs = std::cell::Cell::new(0);
    let md = |extra: &[&str]| {
        runs.set(runs.get() + 1);
        let dir = tmp.path().join(format!("md{}", runs.get()));
        let r = run(&[
            &[
                "bench",
                "-e",
                "llama-cpp",
                "-m",
                TINY,
                "-p",
                "16",
                "-n",
                "0",
                "-r",
                "1",
            ],
            extra,
            &["--out", dir.to_str().unwrap()],
        ]
        .concat());
        assert!(r.status.success(), "{}", stderr(&r));
        stdout(&r).lines().next().unwrap_or_default().to_owned()
    };
    let header = md(&["-ctk", "q8_0"]);
    assert!(
        header.contains("type_k") && !header.contains("type_v"),
        "{header}"
    );
    assert!(!header.contains("poll"), "{header}");
    assert!(!md(&[]).contains("type_k"));
}

#[test]
fn llama_cpp_concurrency_decodes_sequences_together() {
    let tmp = tempdir();
    let out = tmp.path().join("batch");
    let o = run(&[
        "run",
        "-e",
        "llama-cpp",
        "-m",
        TINY,
        "--concurrency",
        "4",
        "--num-prompts",
        "4",
        "--output-len",
        "12",
        "-t",
        "2",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = samples(&out);
    assert_eq!(s.len(), 4);
    for r in &s {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["output_tokens"], 12);
        assert_eq!(r["token_ms"].as_array().unwrap().len(), 12);
    }
    // The four sequences started together and decoded together: every request's first
    // token comes before any request's last one.
    let abs = |r: &Value, i: usize| num(r, "start_ms") + r["token_ms"][i].as_f64().unwrap();
    let last_first = s.iter().map(|r| abs(r, 0)).fold(f64::MIN, f64::max);
    let first_last = s.iter().map(|r| abs(r, 11)).fold(f64::MAX, f64::min);
    assert!(
        last_first < first_last,
        "sequences did not overlap: {last_first} >= {first_last}"
    );
    let m = json(&out.join("manifest.json"));
    assert_eq!(m["engine"]["details"]["parallel"], "4");
    let metrics = json(&out.join("metrics.json"));
    assert!(
        !metrics["warnings"]
            .to_string()
            .contains("one after another"),
        "{}",
        metrics["warnings"]
    );
}

#[test]
fn served_llama_cpp_admits_requests_between_steps_into_clean_slots() {
    let server = crate::serve::serve(&[
        "--engine",
        "llama-cpp",
        "-m",
        TINY,
        "--parallel",
        "2",
        "-t",
        "2",
    ]);
    let tmp = tempdir();
    // The same prompt four times, one after another: each reuses slot 0, so each must
    // find it cleared and give the same greedy text.
    let out = tmp.path().join("again");
    let o = run(&[
        "run",
        "--engine",
        "http",
        "--url",
        &server.url,
        "--prompt",
        "a kv cache holds",
        "-r",
        "4",
        "--output-len",
        "8",
        "--concurrency",
        "1",
        "--warmup",
        "0",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let texts: Vec<String> = samples(&out)
        .iter()
        .map(|r| r["output_text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(texts.len(), 4);
    assert!(
        texts.iter().all(|t| *t == texts[0] && !t.is_empty()),
        "{texts:?}"
    );

    // A short request arriving while a long one decodes joins at the next step.
    crate::serve::a_short_request_arrives_while_a_long_one_decodes(&server.url, 600, "20");
}

#[test]
fn bare_invocation_runs_the_embedded_default() {
    // `nativebench` with no arguments: the short workload on the default synthetic model
    // with every in-process engine compiled in, into ./results.
    let tmp = tempdir();
    let o = bin().current_dir(tmp.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let engines = nativebench::engine::EngineKind::in_process_compiled();
    for e in &engines {
        assert!(
            text.contains(&format!(
                "engine {e}  model synth:llama-135m:q8_0  workload short"
            )),
            "{text}"
        );
    }
    let runs: Vec<_> = std::fs::read_dir(tmp.path().join("results"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), engines.len(), "one run directory per engine");
    for run in runs {
        let s = samples(&run.unwrap().path());
        assert_eq!(s.len(), 5);
        assert!(s.iter().all(|r| r["output_tokens"] == 128));
    }
}

/// `serve --engine llama-cpp` exposes its KV cells in use and their bytes at /metrics,
/// and a run scraping it gets them in its `server` summary: at most the running
/// sequences' prompts and outputs, at a fixed size per cell.
#[test]
fn served_llama_cpp_exposes_its_kv_cells_and_bytes() {
    let s = crate::serve::serve(&["--engine", "llama-cpp", "--model", TINY, "--parallel", "2"]);
    let metrics_url = s.url.replace("/v1", "/metrics");
    let tmp = tempdir();
    let out = tmp.path().join("kv");
    http_run(
        &s.url,
        &out,
        &[
            "--workload",
            "short",
            "--num-prompts",
            "6",
            "--concurrency",
            "2",
            "--output-len",
            "64",
            "--metrics-url",
            &metrics_url,
            "--scrape-interval",
            "0.05",
        ],
    );
    let m = json(&out.join("metrics.json"));
    let (cells, bytes) = (
        num(&m, "server.kv_used_tokens.max"),
        num(&m, "server.kv_used_bytes.max"),
    );
    let longest: f64 = samples(&out)
        .iter()
        .map(|r| num(r, "prompt_tokens") + 64.0)
        .fold(0.0, f64::max);
    assert!(cells >= 1.0 && cells <= 2.0 * longest, "{cells} cells: {m}");
    let per_cell = bytes / cells;
    assert!(
        per_cell >= 1.0 && per_cell.fract() == 0.0,
        "{per_cell} bytes per cell: {m}"
    );
}

/// Prompts where each shares a beginning with the one before it (a conversation growing,
/// then a new one), so a prefix cache has something to reuse from the second on.
const SHARED_PREFIXES: &str = "\
{\"prompt\": \"a kv cache holds the keys and values of every token\"}
{\"prompt\": \"a kv cache holds the keys and values of every token, and a prefix cache keeps them\"}
{\"prompt\": \"a kv cache holds the keys and values of every token, and a prefix cache keeps them for the next request\"}
{\"prompt\": \"something else entirely\"}
";

/// The cached prompt tokens of each request of a run, by request id.
fn cached_counts(dir: &std::path::Path) -> Vec<(u64, u64)> {
    let mut rs = samples(dir);
    rs.sort_by_key(|r| r["request_id"].as_u64());
    rs.iter()
        .map(|r| {
            assert_eq!(r["ok"], true, "{r}");
            (
                r["cached_tokens"].as_u64().unwrap_or_else(|| panic!("{r}")),
                r["prompt_tokens"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn llama_cpp_prefix_cache_reuses_the_common_prefix_in_process_and_served() {
    let tmp = tempdir();
    let prompts = write(tmp.path(), "shared.jsonl", SHARED_PREFIXES);
    let common = [
        "-w",
        path_str(&prompts),
        "--output-len",
        "4",
        "--warmup",
        "0",
        "--concurrency",
        "1",
    ];
    let in_process = tmp.path().join("in-process");
    prefix_cached_run(&in_process, &common);
    let counts = cached_counts(&in_process);
    // The first request finds an empty cache; each of the next two reuses the whole
    // prompt before it (and the first output tokens only if they happen to match), so
    // more than the earlier prompt's tokens less the chat template's tail; the last
    // shares nothing past the template's opening.
    assert_eq!(counts[0].0, 0, "{counts:?}");
    for i in [1, 2] {
        let (cached, prompt) = counts[i];
        assert!(
            cached > counts[i - 1].1 / 2 && cached < prompt,
            "{counts:?}"
        );
    }
    assert!(counts[3].0 < counts[2].0 / 2, "{counts:?}");
    let m = json(&in_process.join("metrics.json"));
    let rate = num(&m, "prefix_hit_rate");
    assert!(rate > 0.3 && rate < 1.0, "{m}");

    // Without the flag nothing is reused, and nothing is claimed.
    let cold = tmp.path().join("cold");
    ok_run(
        &[
            &["run", "-q", "-e", "llama-cpp", "-m", TINY, "-o"][..],
            &[path_str(&cold)],
            &common,
        ]
        .concat(),
    );
    assert!(samples(&cold)
        .iter()
        .all(|r| r.get("cached_tokens").is_none()));

    // `serve` reuses prefixes by default and says so in usage: the same counts.
    let server = crate::serve::serve(&["--engine", "llama-cpp", "-m", TINY]);
    let served = tmp.path().join("served");
    http_run(&server.url, &served, &common);
    assert_eq!(cached_counts(&served), counts);
}

/// A small conversation workload: a shared system prompt, three turns.
const CHAT: &str = "name: chat
num_prompts: 1
source:
  kind: multi_turn
  turns: 3
  user_len: 16
  assistant_len: 4
  system_len: 32
";

#[test]
fn a_multi_turn_run_reuses_each_turns_history_served_and_in_process() {
    let tmp = tempdir();
    let chat = write(tmp.path(), "chat.yaml", CHAT);
    // One seed for both runs: the same generated conversations.
    let common = [
        "-w",
        path_str(&chat),
        "--warmup",
        "0",
        "--concurrency",
        "1",
        "--seed",
        "3",
    ];
    let server = crate::serve::serve(&["--engine", "llama-cpp", "-m", TINY]);
    let served = tmp.path().join("served");
    http_run(&server.url, &served, &common);
    let counts = cached_counts(&served);
    assert_eq!(counts.len(), 3);
    // From the second turn on, the history before the new message is in the cache.
    assert_eq!(counts[0].0, 0, "{counts:?}");
    for i in [1, 2] {
        assert!(counts[i].0 >= counts[i - 1].1 / 2, "{counts:?}");
    }
    let m = json(&served.join("metrics.json"));
    let turns = m["by_turn"].as_array().unwrap();
    assert_eq!(turns.len(), 3, "{m}");
    for (i, t) in turns.iter().enumerate() {
        assert_eq!(t["turn"], i as u64);
        assert!(t["ttft_ms"]["p50"].as_f64().unwrap() > 0.0, "{t}");
    }
    assert!(turns[2]["cached_tokens"].as_u64().unwrap() > 0, "{m}");

    // In-process with --prefix-cache: the very same counts.
    let in_process = tmp.path().join("in-process");
    prefix_cached_run(&in_process, &common);
    assert_eq!(cached_counts(&in_process), counts);
}

/// `run -q -e llama-cpp -m TINY --prefix-cache -o OUT ARGS...`, which must succeed.
fn prefix_cached_run(out: &std::path::Path, args: &[&str]) {
    ok_run(
        &[
            &[
                "run",
                "-q",
                "-e",
                "llama-cpp",
                "-m",
                TINY,
                "--prefix-cache",
                "-o",
            ][..],
            &[path_str(out)],
            args,
        ]
        .concat(),
    );
}
