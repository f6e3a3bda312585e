//! Writing results: a failed write is one line and leaves what was written readable, and
//! `bench` never writes over an earlier bench.

use crate::support::{assert_one_line_error_naming, path_str, run, samples, stdout, tempdir};

/// A small sim bench whose results go where `dest` says (`--out DIR` or
/// `--results-dir DIR`).
fn sim_bench(dest: &[&str]) -> std::process::Output {
    let args = [
        "bench",
        "-e",
        "sim",
        "-p",
        "16",
        "-n",
        "4",
        "-r",
        "1",
        "-o",
        "jsonl",
        "--sim-prefill-ms",
        "1",
        "--sim-decode-ms",
        "1",
    ];
    run(&[&args[..], dest].concat())
}

#[test]
fn bench_never_writes_over_an_earlier_bench() {
    let tmp = tempdir();
    let out = tmp.path().join("b");
    let first = sim_bench(&["--out", path_str(&out)]);
    assert!(first.status.success(), "{}", crate::support::stderr(&first));
    let before = std::fs::read(out.join("bench.jsonl")).unwrap();
    assert_eq!(String::from_utf8_lossy(&before).lines().count(), 2);

    let again = sim_bench(&["--out", path_str(&out)]);
    assert_one_line_error_naming(&again, Some(2), &["already holds a bench", path_str(&out)]);
    assert_eq!(std::fs::read(out.join("bench.jsonl")).unwrap(), before);

    // Without --out, two benches in the same second get two directories.
    let results = tmp.path().join("results");
    for _ in 0..2 {
        let o = sim_bench(&["--results-dir", path_str(&results)]);
        assert!(o.status.success(), "{}", crate::support::stderr(&o));
    }
    let dirs: Vec<_> = std::fs::read_dir(&results).unwrap().collect();
    assert_eq!(dirs.len(), 2, "each bench has its own directory");
}

#[test]
fn a_failed_metrics_write_is_one_line_and_the_samples_stay_readable() {
    let tmp = tempdir();
    let out = tmp.path().join("run");
    // metrics.json cannot be written: a non-empty directory holds its name.
    std::fs::create_dir_all(out.join("metrics.json").join("x")).unwrap();
    let o = run(&[
        "run",
        "-e",
        "sim",
        "-w",
        "short",
        "--num-prompts",
        "3",
        "--output-len",
        "4",
        "--sim-decode-ms",
        "0.1",
        "-q",
        "-o",
        path_str(&out),
    ]);
    assert_one_line_error_naming(&o, Some(1), &["metrics.json"]);
    // Every measured request is on disk, whole, and report reads the run from them.
    let s = samples(&out);
    assert_eq!(s.len(), 3);
    assert!(s.iter().all(|r| r["ok"] == true));
    let r = run(&["report", path_str(&out), "--csv", "-"]);
    assert!(r.status.success(), "{}", crate::support::stderr(&r));
    assert!(stdout(&r).lines().count() >= 2, "{}", stdout(&r));
}
