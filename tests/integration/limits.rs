//! Finding the limits: `--slo-search` against a batching sim server whose capacity is
//! known from its arithmetic, the saturation test on a rate sweep past that capacity,
//! and `--stop-on-saturation`.

use std::path::Path;

use serde_json::Value;

use crate::serve::{serve, Served};
use crate::support::*;

/// Slots, decode step and output length of the sim server. A request holds its slot for
/// OUTPUT_LEN rounds of one decode step each: the round it is admitted in (its first
/// token, while the others decode) and OUTPUT_LEN - 1 decode steps. A full server thus
/// completes SLOTS / (OUTPUT_LEN x DECODE_MS) requests per second: 8 / (11 x 10 ms) =
/// 72.7 req/s.
const SLOTS: &str = "8";
const DECODE_MS: &str = "10";
const OUTPUT_LEN: &str = "11";
const CAPACITY_REQ_S: f64 = 8.0 / (11.0 * 0.010);

/// A sim server with only decode delays (no template, tokenize or prefill time).
fn sim_server() -> Served {
    serve(&[
        "--engine",
        "sim",
        "--sim-batch",
        SLOTS,
        "--sim-decode-ms",
        DECODE_MS,
        "--sim-prefill-ms",
        "0",
        "--sim-prefill-ms-per-token",
        "0",
        "--sim-template-ms",
        "0",
        "--sim-tokenize-ms-per-kb",
        "0",
    ])
}

/// `run --engine http` against `url` with evenly spaced arrivals and no client cap.
fn load(url: &str, out: &Path, prompts: &str, extra: &[&str]) -> std::process::Output {
    bin()
        .args(["run", "--engine", "http", "--url", url, "--quiet", "--out"])
        .arg(out)
        .args([
            "-w",
            "random",
            "--random-input-len",
            "16",
            "--output-len",
            OUTPUT_LEN,
            "--num-prompts",
            prompts,
            "--arrival",
            "constant",
            "--concurrency",
            "1000",
            "--warmup",
            "0",
        ])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn slo_search_finds_the_rate_the_sims_arithmetic_predicts_and_lists_every_probe() {
    let tmp = tempdir();
    let server = sim_server();
    let out = tmp.path().join("search");
    // Well below capacity a request waits at most one decode step for a slot (TTFT
    // <= 10 ms plus HTTP); near it, for a slot to free; above it the queue grows through
    // the run and TTFT with it, past the objective of ten rounds.
    let o = load(
        &server.url,
        &out,
        "200",
        &["--slo-search", "ttft:110", "--search-range", "20,160"],
    );
    let log = server.stop();
    assert!(o.status.success(), "{}\n{log}", stderr(&o));
    let report = json(&out.join("slo_search.json"));
    let answer = num(&report, "answer");
    assert!(
        (answer - CAPACITY_REQ_S).abs() <= 0.1 * CAPACITY_REQ_S,
        "found {answer} req/s, predicted {CAPACITY_REQ_S}: {report:#}"
    );
    let failing = num(&report, "lowest_failing");
    assert!(failing > answer, "{report:#}");
    let probes = report["probes"].as_array().unwrap();
    // Bracketing from 20 (20, 40, 80 or 160 ...) then bisection.
    assert!(probes.len() >= 4, "{report:#}");
    assert_eq!(probes[0]["value"], 20.0, "{report:#}");
    for p in probes {
        let runs = p["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1, "{p:#}");
        let dir = Path::new(runs[0]["run_dir"].as_str().unwrap());
        assert!(dir.join("metrics.json").is_file(), "{}", dir.display());
        // A probe passes exactly when its share of good requests meets the target.
        let share = num(p, "good_fraction_median");
        assert_eq!(p["passed"].as_bool().unwrap(), share >= 0.95, "{p:#}");
        let run_metrics = json(&dir.join("metrics.json"));
        assert_eq!(num(&run_metrics, "goodput.good_fraction"), share, "{p:#}");
    }
    // The answer is the highest passing probe, the failing bound the lowest failing one.
    let passed = |want: bool| -> Vec<f64> {
        probes
            .iter()
            .filter(|p| p["passed"] == want)
            .map(|p| num(p, "value"))
            .collect()
    };
    assert_eq!(passed(true).into_iter().fold(0.0, f64::max), answer);
    assert_eq!(
        passed(false).into_iter().fold(f64::INFINITY, f64::min),
        failing
    );
    assert!(
        stdout(&o).contains("highest request rate meeting the objectives"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_rate_sweep_past_capacity_is_saturated_at_the_first_point_beyond_it_and_the_rest_skipped() {
    let tmp = tempdir();
    let server = sim_server();
    let out = tmp.path().join("sweep");
    let o = load(
        &server.url,
        &out,
        "120",
        &[
            "--request-rate-list",
            "40,60,120,160",
            "--stop-on-saturation",
        ],
    );
    let log = server.stop();
    assert!(o.status.success(), "{}\n{log}", stderr(&o));
    let summary = json(&out.join("sweep_summary.json"));
    let points = summary["points"].as_array().unwrap();
    let verdicts: Vec<(&str, bool)> = points
        .iter()
        .map(|p| {
            (
                p["label"].as_str().unwrap(),
                p["saturated"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [("rate-40", false), ("rate-60", false), ("rate-120", true)],
        "{summary:#}"
    );
    assert_eq!(
        summary["skipped"],
        serde_json::json!(["rate-160"]),
        "{summary:#}"
    );
    assert!(!out.join("rate-160").exists());
    // The saturated point says so in its warnings, with the trend figures.
    let m = json(&out.join("rate-120/metrics.json"));
    let s = &m["saturation"];
    assert!(
        num(s, "ttft_z") > 3.09 && num(s, "in_flight_z") > 3.09,
        "{s:#}"
    );
    let warnings = m["warnings"].to_string();
    assert!(
        warnings.contains("saturated: the server did not keep up"),
        "{warnings}"
    );
    // Below capacity the run has a plateau to report; the saturated one has none.
    let steady = json(&out.join("rate-60/metrics.json"));
    assert!(num(&steady, "steady_state.requests") >= 5.0, "{steady:#}");
    assert_eq!(m["steady_state"], Value::Null);
    // The points ran at evenly spaced arrivals, as --arrival constant asked.
    assert!(
        m["warnings"]
            .to_string()
            .contains("Constant { rate: 120.0 }"),
        "{}",
        m["warnings"]
    );
    assert!(
        stdout(&o).contains("skipped: an earlier point saturated"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_search_whose_lowest_point_already_fails_exits_1_with_the_evidence_kept() {
    let tmp = tempdir();
    let out = tmp.path().join("search");
    let o = run(&[
        "run",
        "-e",
        "sim",
        "-w",
        "short",
        "--num-prompts",
        "4",
        "--output-len",
        "4",
        "--warmup",
        "0",
        "-q",
        "--sim-prefill-ms",
        "5",
        "--slo-search",
        "ttft:1",
        "--search-range",
        "50,100",
        "-o",
        path_str(&out),
    ]);
    assert_one_line_error(&o, 1, "even the lowest request rate (50) fails");
    let report = json(&out.join("slo_search.json"));
    assert_eq!(report["answer"], Value::Null);
    let probes = report["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 1, "{report:#}");
    assert_eq!(probes[0]["passed"], false);
    assert_eq!(num(&probes[0], "good_fraction_median"), 0.0);
    let dir = probes[0]["runs"][0]["run_dir"].as_str().unwrap();
    assert!(Path::new(dir).join("samples.jsonl").is_file());
}

#[test]
fn bad_searches_are_one_line_usage_errors() {
    for (args, needle) in [
        (vec!["--slo-search", "p99:5"], "unknown objective `p99`"),
        (
            vec!["--slo-search", "ttft:5", "--search-range", "8,2"],
            "LO must be below HI",
        ),
        (
            vec!["--slo-search", "ttft:5", "--slo-target", "0"],
            "out of range",
        ),
        (
            vec!["--slo-search", "ttft:5", "--slo-target", "1.5"],
            "out of range",
        ),
        (
            vec!["--slo-search", "ttft:5", "--search-runs", "0"],
            "out of range",
        ),
    ] {
        let mut argv = vec!["run", "-e", "sim", "-w", "short", "-q"];
        argv.extend(args);
        assert_one_line_error(&run(&argv), 2, needle);
    }
}

#[test]
fn the_pareto_and_timeline_charts_render_in_chromium_without_console_errors() {
    let Some(chromium) = chromium() else { return };
    let tmp = tempdir();
    let results = tmp.path().join("results");
    // A concurrency sweep of a batching sim: more in flight, more total throughput, and
    // each user's decode no slower (the batch shares each step), so every point is on
    // the frontier.
    let o = run(&[
        "run",
        "-e",
        "sim",
        "-w",
        "short",
        "--num-prompts",
        "8",
        "--output-len",
        "8",
        "--warmup",
        "0",
        "-q",
        "--sim-batch",
        "4",
        "--sim-decode-ms",
        "2",
        "--concurrency-list",
        "1,2,4",
        "-o",
        path_str(&results.join("sweep")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = tmp.path().join("report.html");
    ok_run(&["report", path_str(&results), "--html", path_str(&html)]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Limits: Pareto frontier and request timelines"));

    let url = format!("file://{}", html.display());
    let o = crate::report::chromium_run(
        &chromium,
        &["--window-size=1280,2000".into(), "--dump-dom".into(), url],
    );
    let log = stderr(&o);
    for bad in ["Uncaught", "ERROR:CONSOLE", ":CONSOLE("] {
        assert!(!log.contains(bad), "console error:\n{log}");
    }

    let verdict = crate::report::chart_check(
        &chromium,
        &html,
        r#"
const out = [];
const svgs = [...document.querySelectorAll("svg")];
const titled = (want) => svgs.filter(s => (s.querySelector("title") || {}).textContent?.startsWith(want));
for (const svg of titled("Pareto")) {
  const box = svg.getBoundingClientRect();
  out.push(`pareto: ${box.width > 100 && box.height > 100 ? "drawn" : "empty"} frontier=${svg.querySelectorAll("polyline").length} points=${svg.querySelectorAll("circle").length}`);
}
for (const svg of titled("request timeline")) {
  const box = svg.getBoundingClientRect();
  const lanes = [...svg.querySelectorAll("rect > title")].filter(t => t.textContent.startsWith("request ")).length;
  out.push(`timeline: ${box.width > 100 && box.height > 100 ? "drawn" : "empty"} segments=${lanes}`);
}
const pre = document.createElement("pre");
pre.id = "chart-check";
pre.textContent = out.join("\n");
document.body.appendChild(pre);
"#,
    );
    let lines: Vec<&str> = verdict.lines().collect();
    // One Pareto chart: the frontier through the three points, and the three points
    // (each its own legend entry; the frontier's vertices are drawn as markers too).
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("pareto: drawn"))
            .count(),
        1,
        "{verdict}"
    );
    let pareto = lines.iter().find(|l| l.starts_with("pareto")).unwrap();
    assert!(pareto.contains("frontier=1"), "{verdict}");
    // One timeline per run: 8 requests, each waiting then decoding (two segments).
    let timelines: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("timeline"))
        .collect();
    assert_eq!(timelines.len(), 3, "{verdict}");
    for t in timelines {
        assert_eq!(t, "timeline: drawn segments=16", "{verdict}");
    }
}
