//! Sweeps and the driver record: the same path runs in-process and served engines, and
//! metrics.json says which driver applied.

use crate::support::{json, run, stderr, stdout, tempdir};

#[test]
fn an_in_process_engine_sweeps_concurrency_up_to_its_batch() {
    let tmp = tempdir();
    let out = tmp.path().join("sweep");
    let o = run(&[
        "run",
        "--engine",
        "sim",
        "--sim-batch",
        "4",
        "--sim-decode-ms",
        "0",
        "--num-prompts",
        "4",
        "--output-len",
        "3",
        "--concurrency-list",
        "1,4",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("sweep summary"), "{}", stdout(&o));
    let summary = json(&out.join("sweep_summary.json"));
    let points = summary["points"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{summary}");
    for (point, concurrency) in [("concurrency-1", 1), ("concurrency-4", 4)] {
        let m = json(&out.join(point).join("metrics.json"));
        assert_eq!(m["completed"], 4, "{point}: {m}");
        assert_eq!(m["driver"], "in-process", "{point}: {m}");
        let c = json(&out.join(point).join("run_config.json"));
        assert_eq!(c["runner"]["concurrency"], concurrency, "{point}: {c}");
    }
}

#[test]
fn a_sweep_names_one_engine() {
    let tmp = tempdir();
    let o = run(&[
        "run",
        "--engine",
        "sim,http",
        "--url",
        "http://127.0.0.1:9/v1",
        "--concurrency-list",
        "1,2",
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("a sweep"), "{}", stderr(&o));
    assert!(!tmp.path().join("x").exists(), "nothing is written");
}
