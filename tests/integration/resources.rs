//! The resource series (`resources.jsonl`), its interval flag, and energy or its stated
//! absence, on the sim.

use crate::support::*;

/// The lines of a run's `resources.jsonl`.
fn series(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("resources.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_run_writes_one_sample_per_interval_of_its_duration() {
    let tmp = tempdir();
    let out = tmp.path().join("run");
    let m = sim_run(&out, "10", &["--warmup", "0", "--sample-interval", "25"]);
    let lines = series(&out);
    let duration_ms = num(&m, "duration_s") * 1e3;
    assert!(duration_ms > 100.0, "{duration_ms}");
    // Samples sit on a grid from the run's start: one at 0, one per interval after.
    let expected = duration_ms / 25.0 + 1.0;
    let n = lines.len() as f64;
    assert!(
        (n - expected).abs() <= 1.0,
        "{n} samples over {duration_ms} ms at 25 ms: expected {expected} within one"
    );
    assert_eq!(num(&m, "resources.samples"), n);
    assert_eq!(num(&m, "resources.sample_interval_ms"), 25.0);
    let t: Vec<f64> = lines.iter().map(|l| num(l, "t_ms")).collect();
    assert!(t[0] < 25.0, "{t:?}");
    assert!(t.windows(2).all(|w| w[1] > w[0]), "{t:?}");
    for l in &lines {
        assert!(num(l, "rss_mib") > 1.0, "{l}");
        assert!(num(l, "sys_mem_used_mib") > 1.0, "{l}");
    }
    assert!(lines[1..].iter().all(|l| l.get("cpu_percent").is_some()));
}

#[test]
fn energy_is_measured_or_its_absence_is_stated() {
    let tmp = tempdir();
    let out = tmp.path().join("run");
    let m = sim_run(&out, "1", &["--warmup", "0"]);
    let e = field(&m, "energy");
    match e.get("energy_j") {
        Some(j) => {
            assert!(j.as_f64().unwrap() >= 0.0, "{e}");
            assert!(e["energy_j_per_output_token"].is_number(), "{e}");
            assert!(e["source"].is_string(), "{e}");
        }
        None => {
            let why = e["absent_reason"].as_str().unwrap();
            assert!(why.contains("NVML") && why.contains("RAPL"), "{why}");
        }
    }
}

#[test]
fn a_zero_or_absurd_sample_interval_is_a_usage_error() {
    let tmp = tempdir();
    for v in ["0", "-5", "nan", "1e9"] {
        let o = run(&[
            "run",
            "-e",
            "sim",
            "-q",
            "--sample-interval",
            v,
            "-o",
            path_str(&tmp.path().join("x")),
        ]);
        assert_one_line_error(&o, 2, "--sample-interval");
    }
}
