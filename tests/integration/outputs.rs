//! The report outputs users of the replaced tools rely on, checked against each run's own
//! files: the Excel workbook read back with calamine, the per-request and appending CSVs,
//! vLLM's result JSON against a fixture of its format, and bench runs in every format.

use std::path::Path;

use calamine::{open_workbook, Data, Reader, Xlsx};
use serde_json::Value;

use crate::support::*;

/// A sheet's rows, as calamine reads them.
fn sheet(book: &mut Xlsx<std::io::BufReader<std::fs::File>>, name: &str) -> Vec<Vec<Data>> {
    let range = book
        .worksheet_range(name)
        .unwrap_or_else(|e| panic!("sheet {name}: {e}"));
    range.rows().map(<[Data]>::to_vec).collect()
}

fn column(header: &[Data], name: &str) -> usize {
    header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

fn number(d: &Data) -> f64 {
    match d {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        other => panic!("{other:?} is not a number"),
    }
}

/// Two sim runs and a two-point sweep under one results folder.
fn results(root: &Path) -> (Value, Value) {
    let a = sim_run(&root.join("a"), "0.2", &[]);
    let b = sim_run(&root.join("b"), "0.4", &["--concurrency", "2"]);
    let o = run(&[
        "run",
        "-e",
        "sim",
        "-w",
        "short",
        "--output-len",
        "8",
        "-q",
        "--sim-decode-ms",
        "0.2",
        "--concurrency-list",
        "1,2",
        "-o",
        path_str(&root.join("sweep")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (a, b)
}

#[test]
fn the_workbook_holds_the_numbers_of_metrics_json() {
    let tmp = tempdir();
    let root = tmp.path().join("results");
    let (a, b) = results(&root);
    let book_path = tmp.path().join("runs.xlsx");
    let o = ok_run(&["report", path_str(&root), "--xlsx", path_str(&book_path)]);
    assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
    let mut book: Xlsx<_> = open_workbook(&book_path).expect("a workbook calamine reads");
    let names = book.sheet_names();
    assert_eq!(names[0], "Summary");
    // Four runs (a, b and the sweep's two points), a sweep sheet, a Requests sheet each.
    assert_eq!(names.iter().filter(|n| n.starts_with("Sweep ")).count(), 1);
    assert_eq!(
        names.iter().filter(|n| n.starts_with("Requests ")).count(),
        4
    );

    let summary = sheet(&mut book, "Summary");
    assert_eq!(summary.len(), 5, "a header and a row per run");
    let header = &summary[0];
    let (id, ttft, tput, done) = (
        column(header, "run_id"),
        column(header, "TTFT p50 (ms)"),
        column(header, "output throughput (tok/s)"),
        column(header, "completed requests"),
    );
    for m in [&a, &b] {
        let row = summary
            .iter()
            .find(|r| r[id] == m["run_id"].as_str().unwrap())
            .expect("the run's row");
        // Numbers are numbers, equal to metrics.json's.
        assert_eq!(number(&row[ttft]), num(m, "ttft_ms.p50"));
        assert_eq!(number(&row[tput]), num(m, "output_throughput_tok_s"));
        assert_eq!(number(&row[done]), num(m, "completed"));
    }

    let sweep_name = names
        .iter()
        .find(|n| n.starts_with("Sweep "))
        .unwrap()
        .clone();
    let sweep = sheet(&mut book, &sweep_name);
    assert_eq!(sweep.len(), 3, "a header and a row per point");
    let (point, tput) = (
        column(&sweep[0], "point"),
        column(&sweep[0], "output throughput (tok/s)"),
    );
    for row in &sweep[1..] {
        let label = row[point].to_string();
        let m = json(&root.join("sweep").join(&label).join("metrics.json"));
        assert_eq!(
            number(&row[tput]),
            num(&m, "output_throughput_tok_s"),
            "{label}"
        );
    }

    let first = names
        .iter()
        .find(|n| n.starts_with("Requests 1 "))
        .unwrap()
        .clone();
    let requests = sheet(&mut book, &first);
    let run_id = requests[1][column(&requests[0], "run_id")].to_string();
    let dir = [root.join("a"), root.join("b")]
        .into_iter()
        .chain(["c1", "c2"].map(|p| root.join("sweep").join(p)))
        .find(|d| json(&d.join("metrics.json"))["run_id"] == run_id.as_str())
        .expect("the sheet's run");
    let samples = samples(&dir);
    assert_eq!(requests.len(), samples.len() + 1);
    let e2e = column(&requests[0], "e2e_ms");
    for (row, s) in requests[1..].iter().zip(&samples) {
        assert_eq!(number(&row[e2e]), num(s, "e2e_ms"));
    }
}

#[test]
fn appending_adds_each_run_once_and_refuses_another_header() {
    let tmp = tempdir();
    let root = tmp.path().join("results");
    sim_run(&root.join("a"), "0.2", &[]);
    let summary = tmp.path().join("benchmark_summary.csv");
    let rows = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
    let o = ok_run(&[
        "report",
        path_str(&root),
        "--append-csv",
        path_str(&summary),
    ]);
    assert!(stderr(&o).contains("appended 1 run(s)"), "{}", stderr(&o));
    assert_eq!(rows(&summary), 2);
    sim_run(&root.join("b"), "0.2", &[]);
    let o = ok_run(&[
        "report",
        path_str(&root),
        "--append-csv",
        path_str(&summary),
    ]);
    assert!(
        stderr(&o).contains("appended 1 run(s)") && stderr(&o).contains("1 already there"),
        "{}",
        stderr(&o)
    );
    ok_run(&[
        "report",
        path_str(&root),
        "--append-csv",
        path_str(&summary),
    ]);
    assert_eq!(rows(&summary), 3, "no run twice");
    let text = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(text.matches("run_id,").count(), 1, "one header");

    // Another tool's CSV: refused, naming the columns, and left as it was.
    let other = write(tmp.path(), "other.csv", "run_id,colour\r\nx,blue\r\n");
    let o = run(&["report", path_str(&root), "--append-csv", path_str(&other)]);
    assert_one_line_error_naming(&o, Some(2), &["--append-csv", "colour", "ttft_p50_ms"]);
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        "run_id,colour\r\nx,blue\r\n"
    );
}

#[test]
fn the_per_request_csv_has_a_row_per_sample() {
    let tmp = tempdir();
    let root = tmp.path().join("results");
    sim_run(&root.join("a"), "0.2", &[]);
    sim_run(&root.join("b"), "0.2", &["-r", "2"]);
    let o = ok_run(&["report", path_str(&root), "--requests-csv", "-"]);
    let text = stdout(&o);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..2], ["run_id", "started_at"]);
    let e2e = header.iter().position(|h| *h == "e2e_ms").unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let all: Vec<Value> = ["a", "b"]
        .iter()
        .flat_map(|d| samples(&root.join(d)))
        .collect();
    assert_eq!(rows.len(), all.len());
    let mut got: Vec<f64> = rows.iter().map(|r| r[e2e].parse().unwrap()).collect();
    let mut want: Vec<f64> = all.iter().map(|s| num(s, "e2e_ms")).collect();
    got.sort_by(f64::total_cmp);
    want.sort_by(f64::total_cmp);
    assert_eq!(got, want);
}

#[test]
fn vllm_json_carries_vllms_keys_and_units() {
    let tmp = tempdir();
    let dir = tmp.path().join("a");
    let m = sim_run(&dir, "0.2", &[]);
    let out = tmp.path().join("vllm");
    ok_run(&[
        "report",
        path_str(&dir),
        "--format",
        "vllm",
        "--out",
        path_str(&out),
    ]);
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let ours = json(&files[0].path());
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/vllm_bench_serve_result.json")).unwrap();
    let kind = |v: &Value| match v {
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Bool(_) => "bool",
        Value::Object(_) => "object",
        Value::Null => "null",
    };
    for (key, theirs) in fixture.as_object().unwrap() {
        let mine = ours
            .get(key)
            .unwrap_or_else(|| panic!("{key} is missing from our vLLM JSON"));
        // vLLM writes null for a label, goodput or concurrency it was not given.
        if !theirs.is_null() && !mine.is_null() {
            assert_eq!(kind(mine), kind(theirs), "{key}: {mine} vs {theirs}");
        }
    }
    // Values in vLLM's units: ms for statistics, seconds for the per-request lists.
    assert_eq!(ours["completed"], m["completed"]);
    assert_eq!(num(&ours, "mean_ttft_ms"), num(&m, "ttft_ms.mean"));
    assert_eq!(num(&ours, "p99_itl_ms"), num(&m, "itl_ms.p99"));
    assert_eq!(ours["total_input_tokens"], m["total_input_tokens"]);
    let ttfts = ours["ttfts"].as_array().unwrap();
    let samples = samples(&dir);
    assert_eq!(ttfts.len(), samples.len());
    for (t, s) in ttfts.iter().zip(&samples) {
        assert!((t.as_f64().unwrap() * 1e3 - num(s, "ttft_ms")).abs() < 1e-9);
    }
    // On stdout: one run per line.
    let o = ok_run(&["report", path_str(&dir), "--format", "vllm"]);
    let line: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(line["completed"], m["completed"]);
}

#[test]
fn a_bench_run_appears_in_markdown_csv_and_html() {
    let tmp = tempdir();
    let root = tmp.path().join("results");
    ok_run(&[
        "bench",
        "-e",
        "sim",
        "-p",
        "16",
        "-n",
        "4",
        "-r",
        "2",
        "-o",
        "json",
        "--out",
        path_str(&root.join("bench")),
    ]);
    sim_run(&root.join("a"), "0.2", &[]);
    let o = ok_run(&["report", path_str(&root), "--md", "-"]);
    let md = stdout(&o);
    assert!(md.contains("### nativebench bench:"), "{md}");
    assert!(md.contains("| test |") || md.contains("test |"), "{md}");
    assert!(md.contains("pp16") && md.contains("tg4"), "{md}");
    assert!(!stderr(&o).contains("not here yet"), "{}", stderr(&o));

    let csv = tmp.path().join("runs.csv");
    let o = ok_run(&["report", path_str(&root), "--csv", path_str(&csv)]);
    let bench_csv = tmp.path().join("runs-bench.csv");
    assert!(stderr(&o).contains("runs-bench.csv"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&bench_csv).unwrap();
    let header = text.lines().next().unwrap();
    for col in ["model_type", "n_prompt", "n_gen", "avg_ts", "stddev_ts"] {
        assert!(header.split(',').any(|h| h == col), "{col} not in {header}");
    }
    assert_eq!(text.lines().count(), 3, "{text}");

    let html = tmp.path().join("r.html");
    ok_run(&["report", path_str(&root), "--html", path_str(&html)]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("bench: llama-bench tests"),
        "no bench section"
    );
    assert!(page.contains("pp16") && page.contains("tg4"));

    // A folder of bench runs alone is reported too.
    let o = ok_run(&["report", path_str(&root.join("bench"))]);
    assert!(stdout(&o).contains("pp16"), "{}", stdout(&o));
}

#[test]
fn an_output_that_cannot_be_written_is_refused_before_anything_is_written() {
    let tmp = tempdir();
    let dir = tmp.path().join("a");
    sim_run(&dir, "0.2", &[]);
    let csv = tmp.path().join("ok.csv");
    let o = run(&[
        "report",
        path_str(&dir),
        "--csv",
        path_str(&csv),
        "--xlsx",
        path_str(&tmp.path().join("no/such/book.xlsx")),
    ]);
    assert_one_line_error_naming(&o, Some(2), &["--xlsx", "book.xlsx", "does not exist"]);
    assert!(!csv.exists(), "the CSV was written before the error");
    let o = run(&["report", path_str(&dir), "--csv", "-", "--md", "-"]);
    assert_one_line_error(&o, 2, "only one output can go to stdout");
}
