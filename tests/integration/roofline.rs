//! `env --probe` and its cache, and the roofline figures a run derives from it: exact
//! with the sim's declared costs and a fixed probe.

use std::path::Path;

use crate::support::*;

/// Runs nativebench with the probe cache at `probe`.
fn with_probe(probe: &Path, args: &[&str]) -> std::process::Output {
    let o = bin()
        .env("NATIVEBENCH_PROBE", probe)
        .args(args)
        .output()
        .expect("the test binary starts");
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    o
}

/// A quick probe at one thread, then its figures replaced by fixed ones.
fn fixed_probe(dir: &Path, read_gb_s: f64, f32_gflop_s: f64) -> std::path::PathBuf {
    let probe = dir.join("probe.json");
    let o = with_probe(
        &probe,
        &[
            "env",
            "--probe",
            "--quick",
            "--probe-threads",
            "1",
            "--format",
            "json",
        ],
    );
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed["cpu"][0]["threads"], 1, "{printed}");
    assert!(
        printed["cpu"][0]["read_gb_s"].as_f64().unwrap() > 0.0,
        "{printed}"
    );
    // A CPU-only build measures no GPU (where the machine has one, it says why not).
    assert_eq!(printed["gpus"], serde_json::json!([]), "{printed}");
    let mut cache = json(&probe);
    assert_eq!(cache["entries"].as_array().unwrap().len(), 1, "{cache}");
    cache["entries"][0]["read_gb_s"] = read_gb_s.into();
    cache["entries"][0]["f32_gflop_s"] = f32_gflop_s.into();
    std::fs::write(&probe, serde_json::to_vec(&cache).unwrap()).unwrap();
    probe
}

fn sim(probe: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let args = [
        &[
            "run",
            "-e",
            "sim",
            "-w",
            "short",
            "--output-len",
            "16",
            "-q",
            "--warmup",
            "0",
        ][..],
        &[
            "--sim-decode-ms",
            "10",
            "--sim-jitter",
            "0",
            "-o",
            path_str(out),
        ],
        extra,
    ]
    .concat();
    with_probe(probe, &args);
    json(&out.join("metrics.json"))
}

#[test]
fn decode_mbu_and_prefill_mfu_follow_the_declared_costs_and_the_cached_probe_exactly() {
    let tmp = tempdir();
    let probe = fixed_probe(tmp.path(), 2.0, 50.0);
    let m = sim(
        &probe,
        &tmp.path().join("run"),
        &[
            "--sim-bytes-per-token",
            "1e7",
            "--sim-flops-per-token",
            "3e9",
        ],
    );
    let r = field(&m, "roofline");
    let decode = num(&m, "decode_tok_s.mean");
    let prefill = num(&m, "prefill_tok_s.mean");
    assert_eq!(num(r, "decode_bytes_per_token"), 1e7);
    assert_eq!(num(r, "decode_mbu"), 1e7 * decode / (2.0 * 1e9));
    assert_eq!(num(r, "roofline_decode_tok_s"), 2.0 * 1e9 / 1e7);
    assert_eq!(num(r, "prefill_mfu"), 3e9 * prefill / (50.0 * 1e9));
    assert_eq!(num(r, "limits.threads"), 1.0);
    // And it recovers the injected decode step (10 ms, so 100 tok/s): 1e7 B x 100 / 2e9 B/s.
    let mbu = num(r, "decode_mbu");
    assert!((0.3..=0.55).contains(&mbu), "{mbu}");
}

#[test]
fn without_a_probe_the_costs_are_given_and_the_run_says_how_to_probe() {
    let tmp = tempdir();
    let m = sim(
        &tmp.path().join("none.json"),
        &tmp.path().join("run"),
        &["--sim-bytes-per-token", "1e7"],
    );
    assert_eq!(num(&m, "roofline.decode_bytes_per_token"), 1e7);
    assert!(field(&m, "roofline").get("decode_mbu").is_none(), "{m}");
    let warnings = m["warnings"].to_string();
    assert!(warnings.contains("env --probe"), "{warnings}");
}

#[test]
fn a_run_of_a_sim_that_declares_no_cost_has_no_roofline() {
    let tmp = tempdir();
    let m = sim(&tmp.path().join("none.json"), &tmp.path().join("run"), &[]);
    assert!(m.get("roofline").is_none(), "{m}");
}

/// The HTML report of a run placed against a probe shows the roofline and the resource
/// series, drawn: in headless Chromium each chart is laid out with its lines and points.
#[test]
fn html_report_draws_the_roofline_and_the_resource_series_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let tmp = tempdir();
    let probe = fixed_probe(tmp.path(), 2.0, 50.0);
    let results = tmp.path().join("results");
    sim(
        &probe,
        &results.join("placed"),
        &[
            "--sim-bytes-per-token",
            "1e7",
            "--sim-flops-per-token",
            "2e7",
            "--sample-interval",
            "20",
        ],
    );
    let html = tmp.path().join("report.html");
    ok_run(&["report", path_str(&results), "--html", path_str(&html)]);
    let verdict = crate::report::chart_check(
        &chromium,
        &html,
        r#"
const out = [];
for (const want of ["roofline", "resident memory", "CPU"]) {
  const svg = [...document.querySelectorAll("svg")].find(s =>
    [...s.querySelectorAll("text")].some(t => t.textContent.startsWith(want)));
  if (!svg) { out.push(want + ": missing"); continue; }
  const box = svg.getBoundingClientRect();
  const lines = svg.querySelectorAll("polyline").length;
  const dots = svg.querySelectorAll("circle").length;
  const marks = svg.querySelectorAll("line.mark").length;
  out.push(`${want}: ${box.width > 100 && box.height > 100 ? "drawn" : "empty"} lines=${lines} dots=${dots} marks=${marks}`);
}
const pre = document.createElement("pre");
pre.id = "chart-check";
pre.textContent = out.join("\n");
document.body.appendChild(pre);
"#,
    );
    let lines: Vec<&str> = verdict.lines().collect();
    assert_eq!(lines.len(), 3, "{verdict}");
    // The roofline: the ceiling as a line, the run's decode and prefill as points.
    assert!(lines[0].starts_with("roofline: drawn"), "{verdict}");
    assert!(
        !lines[0].contains("lines=0") && !lines[0].contains("dots=0"),
        "{verdict}"
    );
    // The series: a line over time, with the 5 requests' starts marked.
    for l in &lines[1..] {
        assert!(l.contains(": drawn") && !l.contains("lines=0"), "{verdict}");
        assert!(l.ends_with("marks=5"), "{verdict}");
    }
}
