//! Beyond one machine: `run --shard I/N --start-at` and `report --merge` (the merged run
//! is its shards' samples pooled, exactly), `sweep plan / run / collect` (points, job
//! files, idempotent reruns, refused plans), the Kubernetes Indexed Job read back as a
//! `batch/v1` Job by k8s-openapi, and both on a real Slurm started by
//! scripts/slurm-local.sh.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::serve::{serve, Served};
use crate::support::*;

/// `serve --engine sim` decoding up to 4 requests together, a step every 5 ms, with no
/// prefill to stall the others: a request's timings do not depend on which others it
/// happens to run beside (one client's or another shard's).
fn sim_server() -> Served {
    serve(&[
        "--engine",
        "sim",
        "--sim-batch",
        "4",
        "--sim-prefill-ms",
        "0",
        "--sim-prefill-ms-per-token",
        "0",
        "--sim-decode-ms",
        "5",
    ])
}

/// The load every shard of these tests shares (24 prompts, 2 in flight in all).
fn load_args(url: &str) -> Vec<String> {
    [
        "run",
        "--engine",
        "http",
        "--url",
        url,
        "-w",
        "random",
        "--num-prompts",
        "24",
        "--output-len",
        "10",
        "--concurrency",
        "2",
        "--warmup",
        "1",
        "--quiet",
    ]
    .map(String::from)
    .to_vec()
}

/// A start time `lead` seconds ahead, in unix seconds, that every shard shares.
fn start_in(lead: f64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    format!("{:.3}", now + lead)
}

/// The `p` quantile of `v` by linear interpolation between closest ranks (numpy's
/// default), written out here rather than taken from the crate.
fn quantile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = p * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-12)
}

/// Checks a merged run directory against its shards' samples pooled by hand: the same
/// request count, the same percentiles, and throughput over the union of their spans.
fn assert_merged_is_pooled(merged: &Path, shards: &[PathBuf]) {
    let m = json(&merged.join("metrics.json"));
    let mut pooled: Vec<(f64, Value)> = Vec::new();
    for s in shards {
        let start = num(&json(&s.join("metrics.json")), "started_unix_ms");
        pooled.extend(samples(s).into_iter().map(|r| (start, r)));
    }
    assert_eq!(num(&m, "num_requests") as usize, pooled.len());
    assert_eq!(samples(merged).len(), pooled.len());
    let ok: Vec<&(f64, Value)> = pooled.iter().filter(|(_, r)| r["ok"] == true).collect();
    assert_eq!(num(&m, "completed") as usize, ok.len());
    for metric in ["ttft_ms", "e2e_ms", "tpot_ms"] {
        let v: Vec<f64> = ok.iter().filter_map(|(_, r)| r[metric].as_f64()).collect();
        for (p, name) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
            let got = num(&m, &format!("{metric}.{name}"));
            let want = quantile(&v, p);
            assert!(
                close(got, want, 1e-9),
                "{metric} {name}: merged {got}, pooled {want}"
            );
        }
    }
    // Each shard's requests on one timeline: its start less the earliest shard's (ms
    // since the epoch are too large to add to a request's times without rounding).
    let t0 = pooled.iter().map(|(s, _)| *s).fold(f64::INFINITY, f64::min);
    let at = |(s, r): &(f64, Value)| (s - t0) + r["start_ms"].as_f64().unwrap();
    let first = pooled.iter().map(at).fold(f64::INFINITY, f64::min);
    let last = pooled
        .iter()
        .map(|p| at(p) + p.1["e2e_ms"].as_f64().unwrap())
        .fold(f64::NEG_INFINITY, f64::max);
    let tokens: f64 = ok
        .iter()
        .map(|(_, r)| r["output_tokens"].as_f64().unwrap())
        .sum();
    let want = tokens / ((last - first) / 1e3);
    let got = num(&m, "output_throughput_tok_s");
    assert!(
        close(got, want, 1e-6),
        "throughput: merged {got}, pooled {want}"
    );
}

#[test]
fn shards_run_together_and_merge_into_their_pooled_samples() {
    let s = sim_server();
    let tmp = tempdir();
    let at = start_in(3.0);
    let dirs: Vec<PathBuf> = (0..2)
        .map(|i| tmp.path().join(format!("shard-{i}")))
        .collect();
    let children: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            bin()
                .args(load_args(&s.url))
                .args(["--shard", &format!("{i}/2"), "--start-at", &at, "--out"])
                .arg(d)
                .output()
        })
        .collect();
    for c in children {
        let c = c.unwrap();
        assert!(c.status.success(), "{}", stderr(&c));
    }
    // Each shard sent its half of the prompts, one at a time, from the shared start.
    for (i, d) in dirs.iter().enumerate() {
        let m = json(&d.join("metrics.json"));
        assert_eq!(num(&m, "num_requests"), 12.0, "shard {i}");
        let cfg = json(&d.join("run_config.json"));
        assert_eq!(cfg["shard"]["index"], i);
        let start = num(&m, "started_unix_ms") / 1e3;
        let at: f64 = at.parse().unwrap();
        assert!(start >= at, "shard {i} started at {start}, before {at}");
    }
    let merged = tmp.path().join("merged");
    let o = run(&[
        "report",
        "--merge",
        path_str(&dirs[0]),
        path_str(&dirs[1]),
        "--out",
        path_str(&merged),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_merged_is_pooled(&merged, &dirs);
    let info = json(&merged.join("merge.json"));
    assert_eq!(info["shards"].as_array().unwrap().len(), 2);
    assert!(info["missing"].as_array().unwrap().is_empty());
    // The merged directory is a run like any other for `report`.
    let o = ok_run(&["report", "--csv", "-", path_str(&merged)]);
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));

    // A missing shard: the rest merged, the missing one named.
    let half = tmp.path().join("half");
    let o = run(&[
        "report",
        "--merge",
        path_str(&dirs[1]),
        "--out",
        path_str(&half),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing shard 0/2"), "{}", stderr(&o));
    assert_eq!(num(&json(&half.join("metrics.json")), "num_requests"), 12.0);
    assert_merged_is_pooled(&half, &dirs[1..]);

    // Shards of different setups are refused, naming the field.
    let other = tmp.path().join("other");
    let o = bin()
        .args(load_args(&s.url))
        .args(["--shard", "0/2", "--seed", "7", "--out"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "report",
        "--merge",
        path_str(&other),
        path_str(&dirs[1]),
        "--out",
        path_str(&tmp.path().join("refused")),
    ]);
    assert_one_line_error_naming(&o, Some(2), &["refusing to merge", "`engine.seed`", "7 in"]);
    assert!(!tmp.path().join("refused").exists());
    // The same shard twice, and nothing to merge.
    let o = run(&[
        "report",
        "--merge",
        path_str(&dirs[0]),
        path_str(&other),
        "--out",
        path_str(&tmp.path().join("twice")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(&[
        "report",
        "--merge",
        path_str(&tmp.path().join("nothing")),
        "--out",
        path_str(&tmp.path().join("none")),
    ]);
    assert_one_line_error_naming(&o, Some(2), &["nothing to merge"]);
}

#[test]
fn bad_shards_and_start_times_are_refused() {
    let tmp = tempdir();
    let out = tmp.path().join("r");
    let base = [
        "run",
        "-e",
        "sim",
        "-q",
        "--num-prompts",
        "2",
        "-o",
        path_str(&out),
    ];
    let o = run(&[&base[..], &["--shard", "2/2"]].concat());
    assert_one_line_error_naming(&o, Some(2), &["--shard", "2/2", "out of range"]);
    let o = run(&[&base[..], &["--shard", "1/2", "--concurrency", "1"]].concat());
    assert_one_line_error_naming(&o, Some(2), &["--shard 1/2", "concurrency of 1"]);
    let o = run(&[&base[..], &["--shard", "3/4", "--concurrency", "4"]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("none of them this shard's"),
        "{}",
        stderr(&o)
    );
    for at in ["yesterday", "2001-01-01T00:00:00Z", "1e12"] {
        let o = run(&[&base[..], &["--start-at", at]].concat());
        assert_one_line_error_naming(&o, Some(2), &["--start-at", at, "out of range"]);
    }
    let o = run(&[&base[..], &["--shard", "0/1", "--concurrency-list", "1,2"]].concat());
    assert_one_line_error_naming(&o, Some(2), &["--shard"]);
    assert!(!out.exists());
}

/// A spec of `n`×2 sim points; `extra` adds sections.
fn sim_spec(dir: &Path, decode: &[&str], extra: &str) -> PathBuf {
    let spec = format!(
        r#"
[run]
engine = "sim"
workload = "random"
num-prompts = 6
warmup = 1
sim-template-ms = 0
sim-tokenize-ms-per-kb = 0
sim-prefill-ms = 40
sim-prefill-ms-per-token = 0

[matrix]
sim-decode-ms = [{}]
output-len = [8, 16]
{extra}"#,
        decode.join(", ")
    );
    write(dir, "spec.toml", spec)
}

const KUBERNETES: &str = r#"
[kubernetes]
image = "ghcr.io/example/nativebench:1"
claim = "bench-results"
mount = "/results"
parallelism = 2
gpus = 1
"#;

#[test]
fn a_plan_writes_numbered_points_a_job_array_and_an_indexed_job() {
    use k8s_openapi::api::batch::v1::Job;
    let tmp = tempdir();
    let spec = sim_spec(tmp.path(), &["10", "20"], KUBERNETES);
    let dir = tmp.path().join("plan");
    let o = ok_run(&["sweep", "plan", path_str(&spec), "--out", path_str(&dir)]);
    assert!(stdout(&o).contains("4 point(s)"), "{}", stdout(&o));
    let plan = json(&dir.join("plan.json"));
    let points = plan["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    assert_eq!(points[1]["label"], "output-len=8 sim-decode-ms=20");
    assert_eq!(points[2]["label"], "output-len=16 sim-decode-ms=10");
    assert_eq!(plan["nativebench_version"], env!("CARGO_PKG_VERSION"));

    let script = std::fs::read_to_string(dir.join("sweep.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-3\n"), "{script}");
    assert!(script.contains("sweep run"), "{script}");
    assert!(
        script.contains("--index \"$SLURM_ARRAY_TASK_ID\""),
        "{script}"
    );

    // The manifest is a batch/v1 Job as the Kubernetes API types read it.
    let text = std::fs::read_to_string(dir.join("job.json")).unwrap();
    let job: Job = serde_json::from_str(&text).expect("job.json is a batch/v1 Job");
    let spec = job.spec.expect("a job spec");
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(4));
    assert_eq!(spec.parallelism, Some(2));
    let pod = spec.template.spec.expect("a pod spec");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let c = &pod.containers[0];
    let index = c
        .env
        .as_ref()
        .and_then(|e| e.iter().find(|v| v.name == "JOB_COMPLETION_INDEX"))
        .expect("the index variable");
    let field = index
        .value_from
        .as_ref()
        .and_then(|f| f.field_ref.as_ref())
        .map(|f| f.field_path.clone());
    assert_eq!(
        field.as_deref(),
        Some("metadata.annotations['batch.kubernetes.io/job-completion-index']")
    );
    let args = c.args.clone().unwrap_or_default();
    assert_eq!(
        args,
        [
            "sweep",
            "run",
            "/results/plan",
            "--index",
            "$(JOB_COMPLETION_INDEX)"
        ]
    );
    let mount = &c.volume_mounts.as_ref().unwrap()[0];
    assert_eq!(mount.mount_path, "/results");
    let volume = &pod.volumes.as_ref().unwrap()[0];
    assert_eq!(volume.name, mount.name);
    assert_eq!(
        volume
            .persistent_volume_claim
            .as_ref()
            .map(|p| p.claim_name.as_str()),
        Some("bench-results")
    );
    let gpus = c
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .unwrap();
    assert_eq!(gpus["nvidia.com/gpu"].0, "1");
}

#[test]
fn sweep_points_run_once_and_bad_plans_are_refused() {
    let tmp = tempdir();
    let spec = sim_spec(tmp.path(), &["1"], "");
    let dir = tmp.path().join("plan");
    ok_run(&["sweep", "plan", path_str(&spec), "--out", path_str(&dir)]);
    let o = ok_run(&["sweep", "run", path_str(&dir), "--index", "1"]);
    let point = dir.join("points/0001-output-len-16_sim-decode-ms-1");
    assert_eq!(num(&json(&point.join("metrics.json")), "completed"), 6.0);
    assert!(!stdout(&o).contains("skipped"));
    // A finished point is skipped on a rerun.
    let o = ok_run(&["sweep", "run", path_str(&dir), "--index", "1"]);
    assert!(stdout(&o).contains("finished already"), "{}", stdout(&o));
    assert_eq!(samples(&point).len(), 6);
    // Collecting names the point that has not run.
    let o = ok_run(&["sweep", "collect", path_str(&dir)]);
    assert!(stdout(&o).contains("missing point 0 "), "{}", stdout(&o));
    let summary = json(&dir.join("sweep_summary.json"));
    assert_eq!(summary["points"].as_array().unwrap().len(), 1);
    assert_eq!(summary["sweep"]["kind"], "matrix");

    let o = run(&["sweep", "run", path_str(&dir), "--index", "2"]);
    assert_one_line_error_naming(&o, Some(2), &["--index 2", "out of range", "2 point(s)"]);
    // A plan from another nativebench is refused.
    let path = dir.join("plan.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let other = text.replace(
        &format!("\"nativebench_version\": \"{}\"", env!("CARGO_PKG_VERSION")),
        "\"nativebench_version\": \"0.0.0-other\"",
    );
    assert_ne!(text, other);
    std::fs::write(&path, other).unwrap();
    let o = run(&["sweep", "run", path_str(&dir), "--index", "0"]);
    assert_one_line_error_naming(&o, Some(2), &["0.0.0-other", env!("CARGO_PKG_VERSION")]);
    // A spec whose point would not run is refused at planning, naming the point.
    let bad = write(
        tmp.path(),
        "bad.toml",
        "[run]\nengine = \"sim\"\n[matrix]\nconcurrency = [1, 0]\n",
    );
    let o = run(&[
        "sweep",
        "plan",
        path_str(&bad),
        "--out",
        path_str(&tmp.path().join("b")),
    ]);
    assert_one_line_error_naming(&o, Some(2), &["point 1", "--concurrency"]);
    let o = run(&[
        "sweep",
        "plan",
        path_str(&tmp.path().join("none.toml")),
        "--out",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

// ---- on a real Slurm ----------------------------------------------------------------

/// Starts the one-node Slurm of scripts/slurm-local.sh; the SLURM_CONF to use, and
/// whether this call started it. `None` after a skip.
fn slurm() -> Option<(String, bool)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let missing = ["sbatch", "slurmctld", "slurmd", "munged"]
        .into_iter()
        .find(|c| {
            Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .output()
                .map_or(true, |o| !o.status.success())
        });
    if let Some(c) = missing {
        skip(
            External::Slurm,
            &format!("no {c} (apt-get install slurm-wlm munge)"),
        );
        return None;
    }
    let o = Command::new(root.join("scripts/slurm-local.sh"))
        .arg("start")
        .output()
        .expect("the script starts");
    if o.status.code() == Some(3) {
        skip(External::Slurm, stderr(&o).trim());
        return None;
    }
    assert!(o.status.success(), "slurm-local.sh start: {}", stderr(&o));
    let conf = stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("SLURM_CONF="))
        .expect("the script names its slurm.conf")
        .to_owned();
    Some((conf, !stderr(&o).contains("already running")))
}

/// `sbatch --wait ARGS`, bounded by coreutils' timeout so a stuck queue fails the test.
fn sbatch(conf: &str, args: &[&str]) -> Output {
    let o = Command::new("timeout")
        .arg("600")
        .arg("sbatch")
        .arg("--wait")
        .args(args)
        .env("SLURM_CONF", conf)
        .output()
        .expect("sbatch starts");
    assert!(
        o.status.success(),
        "sbatch {args:?}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    o
}

/// The figures of a point, by catalogue column.
fn figures(summary: &Value) -> Vec<(String, Value)> {
    summary["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["label"].as_str().unwrap().to_owned(), p.clone()))
        .collect()
}

#[test]
fn slurm_runs_a_matrix_as_a_job_array_and_a_sharded_load() {
    let Some((conf, started)) = slurm() else {
        return;
    };
    let tmp = tempdir();
    // The matrix, as a job array, collected; then the same points one after another here.
    let spec = sim_spec(tmp.path(), &["10", "20"], "");
    let on_slurm = tmp.path().join("slurm");
    let here = tmp.path().join("here");
    for d in [&on_slurm, &here] {
        ok_run(&["sweep", "plan", path_str(&spec), "--out", path_str(d)]);
    }
    sbatch(&conf, &[path_str(&on_slurm.join("sweep.sbatch"))]);
    for i in 0..4 {
        ok_run(&["sweep", "run", path_str(&here), "--index", &i.to_string()]);
    }
    let o = ok_run(&["sweep", "collect", path_str(&on_slurm)]);
    assert!(!stdout(&o).contains("missing"), "{}", stdout(&o));
    ok_run(&["sweep", "collect", path_str(&here)]);
    let a = figures(&json(&on_slurm.join("sweep_summary.json")));
    let b = figures(&json(&here.join("sweep_summary.json")));
    assert_eq!(a.len(), 4);
    for ((label, x), (_, y)) in a.iter().zip(&b) {
        // The figures Slurm's points report are those of their samples, exactly.
        let point = on_slurm.join(label);
        assert_merged_is_pooled(&point, std::slice::from_ref(&point));
        let m = json(&point.join("metrics.json"));
        for (c, metric) in [
            ("output_throughput_tok_s", "output_throughput_tok_s"),
            ("ttft_p50_ms", "ttft_ms.p50"),
            ("tpot_p50_ms", "tpot_ms.p50"),
        ] {
            assert_eq!(x[c].as_f64().unwrap(), num(&m, metric), "{label} {c}");
        }
        assert_eq!(x["completed"], 6, "{label}");
        assert_eq!(x["completed"], y["completed"], "{label}");
        // And they are the sim's known delays, as a run here measures them: medians of
        // two runs' timings on a shared (and, in CI, busy) machine, so within a generous
        // 25%. (Throughput also counts the gaps between requests, which a busy machine
        // stretches: it is checked against the samples above, not against another run.)
        for c in ["ttft_p50_ms", "tpot_p50_ms", "e2e_p50_ms"] {
            let (u, v) = (x[c].as_f64().unwrap(), y[c].as_f64().unwrap());
            assert!(close(u, v, 0.25), "{label} {c}: Slurm {u}, here {v}");
        }
        let decode: f64 = if label.ends_with("-20") { 20.0 } else { 10.0 };
        let tpot = x["tpot_p50_ms"].as_f64().unwrap();
        assert!(
            close(tpot, decode, 0.25),
            "{label}: TPOT p50 {tpot} ms, the sim's step {decode} ms"
        );
    }
    // `report` reads the plan's points as runs: a row each.
    let o = ok_run(&["report", "--csv", "-", path_str(&on_slurm)]);
    assert_eq!(stdout(&o).lines().count(), 5, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("0003-output-len-16_sim-decode-ms-20"),
        "{}",
        stdout(&o)
    );

    // Two shards of one load as a job array against one server, merged.
    let s = sim_server();
    let shards = tmp.path().join("shards");
    std::fs::create_dir_all(&shards).unwrap();
    let mut line: Vec<String> = vec![env!("CARGO_BIN_EXE_nativebench").to_owned()];
    line.extend(load_args(&s.url));
    line.extend(
        [
            "--shard",
            "$SLURM_ARRAY_TASK_ID/2",
            "--start-at",
            // Time for Slurm to start both tasks and for each to warm up.
            &start_in(10.0),
            "--out",
            &format!("{}/$SLURM_ARRAY_TASK_ID", shards.display()),
        ]
        .map(String::from),
    );
    let wrap = line.join(" ");
    let log = format!("--output={}/%a.log", shards.display());
    sbatch(&conf, &["--array=0-1", &log, "--wrap", &wrap]);
    let dirs: Vec<PathBuf> = (0..2).map(|i| shards.join(i.to_string())).collect();
    let merged = tmp.path().join("merged");
    ok_run(&[
        "report",
        "--merge",
        path_str(&dirs[0]),
        path_str(&dirs[1]),
        "--out",
        path_str(&merged),
    ]);
    assert_merged_is_pooled(&merged, &dirs);
    // One client offering the same load here: the same requests and tokens, and a
    // merged timeline as long as one client's (shards merged without their start
    // times, or with their spans added, would be about twice as long). Timings of two
    // loads on a shared machine: within a generous 25%.
    let single = tmp.path().join("single");
    let o = bin()
        .args(load_args(&s.url))
        .arg("--out")
        .arg(&single)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (m, one) = (
        json(&merged.join("metrics.json")),
        json(&single.join("metrics.json")),
    );
    assert_eq!(m["num_requests"], one["num_requests"]);
    assert_eq!(m["total_output_tokens"], one["total_output_tokens"]);
    for c in [
        "duration_s",
        "output_throughput_tok_s",
        "tpot_ms.p50",
        "e2e_ms.p50",
    ] {
        let (u, v) = (num(&m, c), num(&one, c));
        assert!(close(u, v, 0.25), "{c}: merged shards {u}, one client {v}");
    }
    drop(s);
    if started {
        let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-local.sh"))
            .arg("stop")
            .output();
    }
}
