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
    // Both sides see the same 8 ms prefill; serving adds a little, never removes it.
    assert!(inp >= 7.9 && srv >= inp - 0.5, "{ttft}");
    let overhead = ttft["overhead_ms"].as_f64().unwrap();
    let queue = ttft["server_queue_ms"].as_f64().unwrap();
    let http = ttft["http_serialization_ms"].as_f64().unwrap();
    assert!(
        (overhead - queue - http).abs() < 1e-9,
        "the split adds up: {ttft}"
    );
    assert!(queue >= 0.0);
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
