//! `nativebench suite year1`: sageLLM's short, long and stress workloads on the sim,
//! written under exactly the contract's field names, with `null` for what the engine
//! cannot say.

use serde_json::Value;

use crate::support::*;

/// The contract's fields, in its order.
const FIELDS: [&str; 22] = [
    "avg_ttft_ms",
    "p50_ttft_ms",
    "p95_ttft_ms",
    "p99_ttft_ms",
    "avg_tbt_ms",
    "avg_tpot_ms",
    "avg_throughput_tps",
    "peak_mem_mb",
    "avg_mem_mb",
    "error_rate",
    "total_requests",
    "successful_requests",
    "failed_requests",
    "kv_used_tokens",
    "kv_used_bytes",
    "prefix_hit_rate",
    "evict_count",
    "evict_ms",
    "spec_accept_rate",
    "total_time_s",
    "start_time",
    "end_time",
];

/// What no sim can report: it has no KV cache, evictions or speculation to read.
const UNKNOWABLE: [&str; 5] = [
    "kv_used_tokens",
    "kv_used_bytes",
    "evict_count",
    "evict_ms",
    "spec_accept_rate",
];

fn suite(out: &std::path::Path, extra: &[&str]) {
    let o = run(&[
        &[
            "suite",
            "year1",
            "--engine",
            "sim",
            "--out",
            path_str(out),
            "--warmup",
            "0",
            "--sim-prefill-ms",
            "0.5",
            "--sim-prefill-ms-per-token",
            "0",
            "--sim-decode-ms",
            "0.1",
        ][..],
        extra,
    ]
    .concat());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn suite_year1_writes_the_five_files_with_exactly_the_contracts_fields() {
    let tmp = tempdir();
    let out = tmp.path().join("results");
    suite(&out, &[]);
    for (name, requests) in [("short_input", 5), ("long_input", 3), ("stress_test", 10)] {
        let m = json(&out.join(format!("{name}_metrics.json")));
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = FIELDS.to_vec();
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want, "{name}: {m}");
        for k in UNKNOWABLE {
            assert!(m[k].is_null(), "{name}: {k} must be null: {m}");
        }
        // Nothing reported cached tokens: unknown, not a zero.
        assert!(m["prefix_hit_rate"].is_null(), "{name}: {m}");
        assert_eq!(m["total_requests"], requests, "{name}: {m}");
        assert_eq!(m["successful_requests"], requests, "{name}: {m}");
        assert_eq!(m["failed_requests"], 0, "{name}: {m}");
        assert_eq!(m["error_rate"], 0.0, "{name}: {m}");
        for k in [
            "avg_ttft_ms",
            "p99_ttft_ms",
            "avg_tbt_ms",
            "avg_tpot_ms",
            "avg_throughput_tps",
            "peak_mem_mb",
        ] {
            assert!(num(&m, k) > 0.0, "{name}: {k}: {m}");
        }
        // TTFT is the sim's 0.5 ms prefill (and a little template and tokenize time).
        assert!(
            (0.45..20.0).contains(&num(&m, "avg_ttft_ms")),
            "{name}: {m}"
        );
        let (start, end) = (num(&m, "start_time"), num(&m, "end_time"));
        assert!(start > 1.6e9 && end >= start, "{name}: {m}");
        assert!(
            (num(&m, "total_time_s") - (end - start)).abs() < 1e-6,
            "{name}: {m}"
        );
        // The run behind it has the contract's lengths.
        let samples = samples(&out.join(format!("{name}_run")));
        assert_eq!(samples.len(), requests, "{name}");
        let len = match name {
            "short_input" => 128,
            "long_input" => 200,
            _ => 256,
        };
        for r in &samples {
            assert_eq!(r["output_tokens"], len, "{name}: {r}");
            assert_eq!(r["prompt_tokens"], len, "{name}: {r}");
        }
    }
    let s = json(&out.join("benchmark_summary.json"));
    assert_eq!(s["total_requests"], 18, "{s}");
    assert_eq!(s["failed_requests"], 0, "{s}");
    let names: Vec<&str> = s["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["workload"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["short_input", "long_input", "stress_test"]);
    assert!(s["workloads"][2]["metrics"]["evict_ms"].is_null(), "{s}");
    let report = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    for needle in [
        "| short_input | 128 / 128 | 5 | 1 |",
        "| stress_test | 256 / 256 | 10 | 10 |",
        "n/a",
    ] {
        assert!(report.contains(needle), "{needle} not in\n{report}");
    }
}

#[test]
fn suite_prefix_hit_rate_comes_from_cached_tokens_and_fixed_flags_are_refused() {
    let tmp = tempdir();
    let out = tmp.path().join("cached");
    suite(&out, &["--sim-cached-tokens", "32"]);
    for (name, rate) in [
        ("short_input", 32.0 / 128.0),
        ("long_input", 32.0 / 200.0),
        ("stress_test", 32.0 / 256.0),
    ] {
        let m: Value = json(&out.join(format!("{name}_metrics.json")));
        assert!(
            (num(&m, "prefix_hit_rate") - rate).abs() < 1e-12,
            "{name}: {m}"
        );
    }
    let o = run(&[
        "suite",
        "year1",
        "--engine",
        "sim",
        "--num-prompts",
        "3",
        "--out",
        path_str(&tmp.path().join("x")),
    ]);
    assert_one_line_error(&o, 2, "--num-prompts");
    let o = run(&["suite", "year2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
