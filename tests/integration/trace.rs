//! Trace replay (`--trace`): the fixtures of `workloads/data` in each format replayed on
//! the sim, in-process and through `serve`, at the trace's times, with its lengths and
//! Mooncake's shared prefix blocks; bad traces and flags refused in one line.

use std::path::PathBuf;

use serde_json::Value;

use crate::serve::serve;
use crate::support::*;

/// A fixture trace shipped in `workloads/data`.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("workloads/data")
        .join(name)
}

/// Replays `trace` on the sim (QUICK_SIM, no warmup) into `out` with `extra` flags, and
/// returns its samples.
fn replay(trace: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> Vec<Value> {
    let args = [
        &[
            "run",
            "-e",
            "sim",
            "--trace",
            path_str(trace),
            "--warmup",
            "0",
            "-q",
            "-o",
        ][..],
        &[path_str(out)],
        extra,
        &QUICK_SIM,
    ]
    .concat();
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    samples(out)
}

/// The sim with short, fixed delays: every request ends before the next arrives.
const QUICK_SIM: [&str; 8] = [
    "--sim-prefill-ms",
    "1",
    "--sim-prefill-ms-per-token",
    "0",
    "--sim-decode-ms",
    "1",
    "--sim-template-ms",
    "0",
];

/// The Mooncake fixture's lines as JSON.
fn mooncake_lines() -> Vec<Value> {
    std::fs::read_to_string(fixture("trace-mooncake.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_id(mut rs: Vec<Value>) -> Vec<Value> {
    rs.sort_by_key(|r| r["request_id"].as_u64());
    rs
}

/// How far each request's send was from its time in the trace, ms, worst first.
fn worst_miss(rs: &[Value], trace: &[Value]) -> f64 {
    rs.iter()
        .zip(trace)
        .map(|(r, t)| (num(r, "start_ms") - t["timestamp"].as_f64().unwrap()).abs())
        .fold(0.0, f64::max)
}

/// Replays the Mooncake fixture until one replay sends every request within 1 ms of its
/// time (a few tries: the parallel tests keep both cores of CI busy, which can wake the
/// pacer late once; a broken pacer misses every time). Returns that replay's records.
fn replay_within_a_ms(mut one: impl FnMut(usize) -> Vec<Value>) -> Vec<Value> {
    let trace = mooncake_lines();
    let mut misses = Vec::new();
    for attempt in 0..4 {
        let rs = by_id(one(attempt));
        assert_eq!(rs.len(), trace.len());
        for (r, t) in rs.iter().zip(&trace) {
            // The schedule is the trace's, exactly.
            assert_eq!(
                num(r, "scheduled_ms"),
                t["timestamp"].as_f64().unwrap(),
                "{r}"
            );
        }
        let miss = worst_miss(&rs, &trace);
        if miss <= 1.0 {
            return rs;
        }
        misses.push(miss);
    }
    panic!("no replay sent every request within 1 ms of the trace: worst misses {misses:?} ms");
}

#[test]
fn a_mooncake_trace_replays_in_process_at_its_times_lengths_and_prefix_blocks() {
    let tmp = tempdir();
    let trace = mooncake_lines();
    let trace_file = fixture("trace-mooncake.jsonl");
    let rs = replay_within_a_ms(|attempt| {
        replay(
            &trace_file,
            &tmp.path().join(format!("moon-{attempt}")),
            &[],
        )
    });
    for (r, t) in rs.iter().zip(&trace) {
        assert_eq!(r["prompt_tokens"], t["input_length"], "{r}");
        assert_eq!(r["output_tokens"], t["output_length"], "{r}");
    }
    // Requests whose first block is the same start with the same 512 words; others not.
    let preview = |i: usize| rs[i]["prompt_preview"].as_str().unwrap().to_owned();
    assert_eq!(preview(0), preview(2));
    assert_eq!(preview(0), preview(6));
    assert_eq!(preview(1), preview(7));
    assert_ne!(preview(0), preview(1));
    assert_ne!(preview(5), preview(0));
}

#[test]
fn a_mooncake_trace_replays_through_serve_within_a_ms_of_its_times() {
    let s = serve(&[&["--engine", "sim"][..], &QUICK_SIM].concat());
    let tmp = tempdir();
    let trace_file = fixture("trace-mooncake.jsonl");
    let rs = replay_within_a_ms(|attempt| {
        let out = tmp.path().join(format!("served-{attempt}"));
        http_run(
            &s.url,
            &out,
            &[
                "--trace",
                path_str(&trace_file),
                "--warmup",
                "0",
                "--concurrency",
                "8",
            ],
        );
        samples(&out)
    });
    assert!(rs.iter().all(|r| r["ok"] == true), "{rs:?}");
}

#[test]
fn a_window_and_a_speedup_select_and_compress_a_burstgpt_trace() {
    let tmp = tempdir();
    let out = tmp.path().join("burst");
    let trace_file = fixture("trace-burstgpt.csv");
    let rs = by_id(replay(
        &trace_file,
        &out,
        &["--trace-window", "0.1,0.4", "--trace-speedup", "2"],
    ));
    // Arrivals 0.135, 0.142, 0.298 and 0.377 s, from 0.1 s, twice as fast.
    let at: Vec<f64> = rs.iter().map(|r| num(r, "scheduled_ms")).collect();
    assert_eq!(at, vec![17.5, 21.0, 99.0, 138.5]);
    let lens: Vec<(u64, u64)> = rs
        .iter()
        .map(|r| {
            (
                r["prompt_tokens"].as_u64().unwrap(),
                r["output_tokens"].as_u64().unwrap(),
            )
        })
        .collect();
    // A response of 0 tokens (a failed request in the trace) still asks for one.
    assert_eq!(lens, vec![(310, 1), (655, 21), (88, 9), (1290, 15)]);
    let m = json(&out.join("metrics.json"));
    assert!(m["schedule_lag_ms"]["max"].as_f64().is_some(), "{m}");
}

#[test]
fn an_azure_trace_replays_with_its_lengths() {
    let tmp = tempdir();
    let out = tmp.path().join("azure");
    let trace_file = fixture("trace-azure.csv");
    let rs = by_id(replay(&trace_file, &out, &[]));
    assert_eq!(rs.len(), 6);
    assert_eq!(rs[2]["prompt_tokens"], 879);
    assert_eq!(rs[2]["output_tokens"], 14);
    assert!(
        (num(&rs[1], "scheduled_ms") - 45.467).abs() < 1e-6,
        "{}",
        rs[1]
    );
}

#[test]
fn bad_traces_and_trace_flags_are_one_line_errors() {
    let tmp = tempdir();
    let trace = |name: &str, text: &str| write(tmp.path(), name, text);
    let sim =
        |extra: &[&str]| run(&[&["run", "-e", "sim", "-q", "--warmup", "0"][..], extra].concat());
    // Each file's error names its line and what is wrong there.
    for (name, text, needles) in [
        (
            "unsorted.jsonl",
            "{\"timestamp\": 10, \"input_length\": 8, \"output_length\": 2}\n{\"timestamp\": 5, \"input_length\": 8, \"output_length\": 2}\n",
            ["line 2", "sorted"],
        ),
        (
            "negative.csv",
            "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n-1,m,8,2,10,x\n",
            ["line 2", "negative"],
        ),
        (
            "unknown.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens,Region\n",
            ["line 1", "unknown column `Region`"],
        ),
    ] {
        let file = trace(name, text);
        assert_one_line_error_naming(&sim(&["--trace", path_str(&file)]), Some(2), &needles);
    }
    let mooncake = fixture("trace-mooncake.jsonl");
    let m = path_str(&mooncake);
    for (flags, needle) in [
        (
            vec!["--trace", m, "--request-rate", "5"],
            "--request-rate does not apply",
        ),
        (
            vec!["--trace", m, "--trace-window", "5,1"],
            "--trace-window",
        ),
        (vec!["--trace", m, "--trace-window", "10,20"], "no request"),
        (vec!["--trace-window", "0,1"], "--trace"),
        (
            vec!["--trace", m, "--trace-speedup", "0"],
            "--trace-speedup",
        ),
    ] {
        assert_one_line_error(&sim(&flags), 2, needle);
    }
}
