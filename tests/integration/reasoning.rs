//! Reasoning and prefix-cache figures per request: the sim thinks for a known number of
//! tokens and reports known cached prompt tokens, in-process and through `serve`, and
//! the records and metrics.json say exactly that.

use serde_json::Value;

use crate::serve::{serve, SIM_20_5};
use crate::support::*;

/// The sim's prefill and decode only ([`SIM_20_5`]), with 6 reasoning tokens and 4 cached
/// prompt tokens.
fn thinking_sim() -> Vec<&'static str> {
    [
        &SIM_20_5[..],
        &[
            "--sim-tokenize-ms-per-kb",
            "0",
            "--sim-reasoning-tokens",
            "6",
            "--sim-cached-tokens",
            "4",
        ],
    ]
    .concat()
}

/// Every completed record reasons for 6 tokens, then answers: `ttfr_ms` is its first
/// token's time, `ttfa_ms` its seventh's, and 4 of its prompt tokens were cached.
fn assert_thinking_records(samples: &[Value]) {
    assert!(!samples.is_empty());
    for r in samples {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["output_tokens"], 16, "{r}");
        assert_eq!(r["reasoning_tokens"], 6, "{r}");
        assert_eq!(r["cached_tokens"], 4, "{r}");
        let t = r["token_ms"].as_array().unwrap();
        assert_eq!(r["ttfr_ms"], t[0], "{r}");
        assert_eq!(r["ttft_ms"], t[0], "{r}");
        assert_eq!(r["ttfa_ms"], t[6], "{r}");
    }
}

/// Cached over prompt tokens, from the records.
fn hit_rate(samples: &[Value]) -> f64 {
    let prompt: u64 = samples
        .iter()
        .map(|r| r["prompt_tokens"].as_u64().unwrap())
        .sum();
    4.0 * samples.len() as f64 / prompt as f64
}

#[test]
fn served_reasoning_and_cached_tokens_equal_the_sims_and_ttfa_follows_the_reasoning() {
    let s = serve(&thinking_sim());
    let tmp = tempdir();
    let out = tmp.path().join("http");
    http_run(
        &s.url,
        &out,
        &[
            "--workload",
            "short",
            "--num-prompts",
            "6",
            "--output-len",
            "16",
        ],
    );
    let samples = samples(&out);
    assert_eq!(samples.len(), 6);
    assert_thinking_records(&samples);
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["total_reasoning_tokens"], 36, "{m}");
    assert_eq!(m["total_cached_tokens"], 24, "{m}");
    let rate = m["prefix_hit_rate"].as_f64().unwrap();
    assert!((rate - hit_rate(&samples)).abs() < 1e-12, "{m}");
    assert!(rate > 0.0 && rate < 1.0, "{m}");
    // TTFA = TTFT + 6 decode steps of 5 ms: 30 ms after the first (reasoning) token.
    let gap = num(&m, "ttfa_ms.p50") - num(&m, "ttft_ms.p50");
    assert!((24.0..60.0).contains(&gap), "TTFA - TTFT = {gap} ms: {m}");
    assert!(
        (num(&m, "ttfr_ms.p50") - num(&m, "ttft_ms.p50")).abs() < 1e-9,
        "{m}"
    );
}

#[test]
fn in_process_reasoning_is_recorded_and_ttfa_is_ttft_without_it() {
    let tmp = tempdir();
    let out = tmp.path().join("thinking");
    let o = run(&[
        &[
            "run",
            "-w",
            "short",
            "--num-prompts",
            "3",
            "--output-len",
            "16",
            "-q",
            "-o",
        ][..],
        &[out.to_str().unwrap()][..],
        &thinking_sim()[..],
    ]
    .concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_thinking_records(&samples(&out));

    let plain = tmp.path().join("plain");
    let m = sim_run(&plain, "1", &[]);
    for r in samples(&plain) {
        assert_eq!(r["ttfa_ms"], r["ttft_ms"], "{r}");
        assert!(r.get("reasoning_tokens").is_none(), "{r}");
        assert!(r.get("cached_tokens").is_none(), "{r}");
    }
    // Unknown is not zero: no engine said what it cached.
    assert!(m.get("prefix_hit_rate").is_none(), "{m}");
    assert!(m.get("ttfr_ms").is_none(), "{m}");
}
