//! `nativebench report` over sim runs: CSV, Markdown and HTML checked against each run's
//! metrics.json, partial and corrupt runs, HTML escaping, regression verdicts, and the
//! page in headless Chromium.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

/// A minimal RFC 4180 reader: rows of fields, quotes honoured.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

/// CSV rows as maps from column to text, keyed by run_id.
fn csv_by_run(path: &Path) -> HashMap<String, HashMap<String, String>> {
    let rows = parse_csv(&std::fs::read_to_string(path).expect("the CSV"));
    let header = rows[0].clone();
    rows[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "ragged row {r:?}");
            let m: HashMap<String, String> =
                header.iter().cloned().zip(r.iter().cloned()).collect();
            (m["run_id"].clone(), m)
        })
        .collect()
}

fn f(m: &HashMap<String, String>, col: &str) -> f64 {
    m[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = `{}` is not a number", m[col]))
}

/// Rows of the first Markdown table after `heading`, as maps from column to cell.
fn md_table(md: &str, heading: &str) -> Vec<HashMap<String, String>> {
    let after = &md[md
        .find(heading)
        .unwrap_or_else(|| panic!("no `{heading}` in {md}"))..];
    let lines: Vec<&str> = after
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let cells = |l: &str| -> Vec<String> {
        l.trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let header = cells(lines[0]);
    lines[2..]
        .iter()
        .map(|l| header.iter().cloned().zip(cells(l)).collect())
        .collect()
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-9)
}

#[test]
fn csv_markdown_and_html_agree_with_metrics_json() {
    let tmp = tempdir();
    let results = tmp.path().join("results");
    let fast = sim_run(&results.join("a-fast"), "1", &[]);
    let slow = sim_run(&results.join("b-slow"), "3", &["-r", "2"]);
    let conc = sim_run(&results.join("c-conc"), "1", &["--concurrency", "2"]);
    let (csv, md, html) = (
        tmp.path().join("all.csv"),
        tmp.path().join("latest.md"),
        tmp.path().join("report.html"),
    );
    let o = run(&[
        "report",
        results.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--md",
        md.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // CSV: one row per run, full precision, identity from manifest.json.
    let rows = csv_by_run(&csv);
    assert_eq!(rows.len(), 3);
    let header = parse_csv(&std::fs::read_to_string(&csv).unwrap())[0].clone();
    assert_eq!(
        &header[..4],
        ["run_id", "started_at", "engine", "engine_version"]
    );
    for (name, m) in [("a-fast", &fast), ("b-slow", &slow), ("c-conc", &conc)] {
        let row = &rows[name];
        let manifest = json(&results.join(name).join("manifest.json"));
        assert_eq!(row["engine"], "sim");
        assert_eq!(
            row["git_sha"],
            manifest["build"]["git_sha"].as_str().unwrap()
        );
        assert_eq!(
            row["device"],
            manifest["engine"]["device"].as_str().unwrap()
        );
        assert_eq!(f(row, "completed"), m["completed"].as_f64().unwrap());
        for (col, path) in [
            ("output_throughput_tok_s", "/output_throughput_tok_s"),
            ("ttft_p50_ms", "/ttft_ms/p50"),
            ("tpot_p99_ms", "/tpot_ms/p99"),
            ("itl_mean_ms", "/itl_ms/mean"),
            ("e2e_max_ms", "/e2e_ms/max"),
            ("prefill_mean_ms", "/prefill_ms/mean"),
        ] {
            let want = m.pointer(path).and_then(Value::as_f64).unwrap();
            assert!(
                close(f(row, col), want, 1e-12),
                "{name} {col}: {} vs {want}",
                row[col]
            );
        }
        let per_req = m["total_output_tokens"].as_f64().unwrap() / m["completed"].as_f64().unwrap();
        assert_eq!(f(row, "output_tokens_per_request"), per_req);
        assert_eq!(per_req, 24.0);
    }
    assert_eq!(rows["b-slow"]["repetitions"], "2");
    assert_eq!(rows["c-conc"]["concurrency"], "2");
    // The slower configuration shows as slower (the median gap is robust to a busy
    // machine's scheduling hiccups).
    assert!(f(&rows["b-slow"], "itl_p50_ms") > 2.0 * f(&rows["a-fast"], "itl_p50_ms"));

    // Markdown: the newest run of each setup; a-fast and b-slow share one.
    let md = std::fs::read_to_string(&md).unwrap();
    let latest = md_table(&md, "latest runs");
    assert_eq!(latest.len(), 2, "{md}");
    for row in &latest {
        let m = if row["concurrency"] == "2" {
            &conc
        } else {
            &slow
        };
        let got: f64 = row["output_throughput_tok_s"].parse().unwrap();
        let want = m["output_throughput_tok_s"].as_f64().unwrap();
        assert!(close(got, want, 0.01), "{got} vs {want}\n{md}");
        let got: f64 = row["tpot_p50_ms"].parse().unwrap();
        assert!(
            close(got, m["tpot_ms"]["p50"].as_f64().unwrap(), 0.01),
            "{md}"
        );
    }
    let derived = md_table(&md, "Derived");
    assert!(
        derived
            .iter()
            .all(|r| r["output_tokens_per_request"] == "24.00"),
        "{md}"
    );

    // HTML: self-contained, with every section, the history and the values.
    let page = std::fs::read_to_string(&html).unwrap();
    for needle in [
        "Latest runs",
        "Latency distributions",
        "TTFT (ttft_ms): cumulative distribution",
        "ITL (itl_ms): cumulative distribution",
        "E2E (e2e_ms): cumulative distribution",
        "Phase breakdown per engine",
        "Throughput and latency vs load",
        "History",
        "a-fast",
        "b-slow",
        "c-conc",
    ] {
        assert!(page.contains(needle), "the page lacks `{needle}`");
    }
    let tput = slow["output_throughput_tok_s"].as_f64().unwrap();
    let shown = format!("<td>{}</td>", human(tput));
    assert!(page.contains(&shown), "the page lacks {shown}");
    assert!(page.matches("<svg").count() >= 6);
    for fetch in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!page.contains(fetch), "the page holds `{fetch}`");
    }
    // Links only within the page: a chart's legend leads to its run's row.
    assert_eq!(
        page.matches("href=").count(),
        page.matches("href=\"#run-").count(),
        "a link leaves the page"
    );
    assert!(page.contains("href=\"#run-"), "no legend links to its run");
}

/// The report's number format (flat::human), for finding a value in the HTML.
fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn partial_and_corrupt_runs_are_skipped_by_name_and_samples_alone_recompute() {
    let tmp = tempdir();
    let results = tmp.path().join("results");
    let good = results.join("good");
    let m = sim_run(&good, "1", &[]);

    // samples.jsonl cut mid-line: its complete lines are read, with a warning.
    let truncated = results.join("truncated");
    copy_run(&good, &truncated);
    let text = std::fs::read_to_string(truncated.join("samples.jsonl")).unwrap();
    std::fs::write(truncated.join("samples.jsonl"), &text[..text.len() - 40]).unwrap();
    // No metrics.json: recomputed from the samples.
    let recomputed = results.join("recomputed");
    copy_run(&good, &recomputed);
    std::fs::remove_file(recomputed.join("metrics.json")).unwrap();
    // Neither usable: skipped.
    let broken = results.join("broken");
    copy_run(&good, &broken);
    std::fs::write(broken.join("metrics.json"), "{\"run_id\": ").unwrap();
    std::fs::remove_file(broken.join("samples.jsonl")).unwrap();
    // A run that never got going: skipped.
    let empty = results.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::copy(good.join("manifest.json"), empty.join("manifest.json")).unwrap();

    let csv = tmp.path().join("out.csv");
    let o = run(&[
        "report",
        results.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for (dir, why) in [
        (&broken, "metrics.json is unreadable"),
        (&empty, "it has neither metrics.json nor samples.jsonl"),
    ] {
        let line = format!("warning: skipped run {}: {why}", dir.display());
        assert!(err.contains(&line), "expected `{line}` in:\n{err}");
    }
    assert!(
        err.contains("metrics recomputed from samples.jsonl"),
        "{err}"
    );
    let cut = format!(
        "warning: run {}: samples.jsonl is cut or corrupt after 4 complete lines; reading those",
        truncated.display()
    );
    assert!(err.contains(&cut), "expected `{cut}` in:\n{err}");
    // The cut copy keeps the run id of the run it was copied from: it is a row of its own.
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 1 + 3, "{text}");
    assert!(text.contains(truncated.to_str().unwrap()), "{text}");
    let rows = csv_by_run(&csv);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let r = &rows["recomputed"];
    assert_eq!(r["metrics_source"], "samples");
    assert_eq!(rows["good"]["metrics_source"], "metrics_json");
    assert_eq!(r["engine"], "sim");
    assert_eq!(r["workload"], "short");
    for (col, path) in [
        ("output_throughput_tok_s", "/output_throughput_tok_s"),
        ("ttft_p50_ms", "/ttft_ms/p50"),
        ("tpot_mean_ms", "/tpot_ms/mean"),
        ("e2e_p99_ms", "/e2e_ms/p99"),
    ] {
        let want = m.pointer(path).and_then(Value::as_f64).unwrap();
        assert!(close(f(r, col), want, 1e-9), "{col}: {} vs {want}", r[col]);
    }
}

/// Text between `<` and `>` of every tag in `html`.
fn tags(html: &str) -> Vec<&str> {
    html.split('<')
        .skip(1)
        .filter_map(|s| s.split_once('>').map(|(t, _)| t))
        .collect()
}

#[test]
fn prompts_outputs_and_names_are_escaped_in_every_format() {
    let tmp = tempdir();
    let dir = tmp.path().join("xss");
    let payload = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    sim_run(&dir, "0.2", &["--prompt", payload]);
    // The sim's output is plain words: put a payload there too, and in the model name.
    let samples = std::fs::read_to_string(dir.join("samples.jsonl")).unwrap();
    let mut lines = Vec::new();
    for l in samples.lines() {
        let mut v: Value = serde_json::from_str(l).unwrap();
        assert!(v["prompt_preview"].as_str().unwrap().contains("<script>"));
        v["output_text"] = Value::from("\"><svg onload=alert(3)></svg><b onmouseover=x>");
        lines.push(v.to_string());
    }
    std::fs::write(dir.join("samples.jsonl"), lines.join("\n") + "\n").unwrap();
    let mut m = json(&dir.join("metrics.json"));
    m["model"] = Value::from("<iframe onload=alert(4)>|model");
    std::fs::write(dir.join("metrics.json"), m.to_string()).unwrap();

    let (html, md) = (tmp.path().join("r.html"), tmp.path().join("r.md"));
    let o = run(&[
        "report",
        dir.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--md",
        md.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    for t in tags(&page) {
        let lower = t.to_ascii_lowercase();
        assert!(
            !lower.starts_with("script")
                && !lower.starts_with("img")
                && !lower.starts_with("iframe"),
            "live tag <{t}>"
        );
        assert!(
            !lower.contains("onerror")
                && !lower.contains("onload")
                && !lower.contains("onmouseover"),
            "live handler in <{t}>"
        );
    }
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the prompt is not shown escaped"
    );
    assert!(
        page.contains("&lt;svg onload=alert(3)&gt;"),
        "the output is not shown escaped"
    );
    assert!(
        page.contains("&lt;iframe onload=alert(4)&gt;"),
        "the model is not shown escaped"
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        !md.contains("<iframe") && md.contains("&lt;iframe onload=alert(4)&gt;\\|model"),
        "{md}"
    );
}

fn compare(base: &Path, new: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "report",
        "--compare",
        base.to_str().unwrap(),
        new.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// The verdict cell of `metric` in compare's table.
fn verdict_of(out: &str, metric: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(&format!("| {metric} |")))
        .and_then(|l| l.trim_end_matches('|').rsplit('|').next())
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no row for {metric} in:\n{out}"))
}

/// The 95% interval of new / base of `metric` in compare's table.
fn interval_of(out: &str, metric: &str) -> (f64, f64) {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("| {metric} |")))
        .unwrap_or_else(|| panic!("no row for {metric} in:\n{out}"));
    let cell = line.split('|').nth(6).unwrap().trim();
    let (lo, hi) = cell
        .split_once("..")
        .unwrap_or_else(|| panic!("no interval in {line}"));
    (lo.parse().unwrap(), hi.parse().unwrap())
}

#[test]
fn compare_flags_a_slower_configuration_and_passes_an_identical_one() {
    let tmp = tempdir();
    let fast = tmp.path().join("fast");
    let again = tmp.path().join("again");
    let slow = tmp.path().join("slow");
    sim_run(&fast, "1", &["-r", "3"]);
    sim_run(&again, "1", &["-r", "3"]);
    sim_run(&slow, "4", &["-r", "3"]);

    let o = compare(&fast, &slow, &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{}", stderr(&o));
    // The per-token metrics and E2E, on a loaded machine too (throughput's noise there
    // can be wide; the median gap's is not).
    for metric in ["tpot_p50_ms", "itl_p50_ms", "e2e_p50_ms"] {
        assert_eq!(
            verdict_of(&out, metric),
            "**REGRESSION**",
            "{metric}:\n{out}"
        );
    }
    assert!(!out.contains("no regression"), "{out}");
    assert!(
        out.contains("REGRESSION in ") && out.contains("itl_p50_ms"),
        "{out}"
    );

    // The other way round the per-token medians are improvements. (Tail percentiles of
    // five requests on a busy two-core machine can spike either way, so neither the exit
    // code nor the tails are asserted here; the exit code on a clean comparison is
    // asserted on seeded samples in src/report/compare.rs.)
    let o = compare(&slow, &fast, &[]);
    let out = stdout(&o);
    for metric in ["tpot_p50_ms", "itl_p50_ms", "e2e_p50_ms"] {
        assert_eq!(verdict_of(&out, metric), "improvement", "{metric}:\n{out}");
    }

    // The same configuration twice: the medians are neither a regression nor an
    // improvement. Whether each one's interval fits inside the band depends on how the
    // machine's load moved between and within the runs: "unchanged" when it does, else
    // "inconclusive" with how many more would tell. The sim's decode step is busy-waited
    // to the microsecond, so the per-token median always fits. Back-to-back runs on a
    // shared CI machine drift in their tails when a neighbour gets busy, which no
    // within-run spread can see; the verdict logic on clean data is unit-tested on seeded
    // samples in src/report/compare.rs.
    let o = compare(&fast, &again, &["--threshold", "30%"]);
    let out = stdout(&o);
    for metric in ["tpot_p50_ms", "itl_p50_ms", "prefill_p50_ms"] {
        let v = verdict_of(&out, metric);
        assert!(
            v == "unchanged" || v.starts_with("inconclusive: "),
            "{metric}: {v}\n{out}"
        );
    }
    assert_eq!(verdict_of(&out, "itl_p50_ms"), "unchanged", "{out}");
    let (lo, hi) = interval_of(&out, "itl_p50_ms");
    assert!(lo >= 0.7 && hi <= 1.3, "{lo}..{hi}\n{out}");

    // A threshold above the change (+300% per token) silences it. Tail percentiles on a
    // busy machine can jump further than any threshold, so only the medians are asserted.
    let o = compare(&fast, &slow, &["--threshold", "500%"]);
    let out = stdout(&o);
    for metric in ["tpot_p50_ms", "itl_p50_ms"] {
        assert_eq!(verdict_of(&out, metric), "unchanged", "{metric}:\n{out}");
    }

    // Sets: a directory of runs on each side, matched by setup.
    let (base_set, new_set) = (tmp.path().join("base-set"), tmp.path().join("new-set"));
    copy_run(&fast, &base_set.join("one"));
    copy_run(&again, &base_set.join("two"));
    copy_run(&slow, &new_set.join("one"));
    let o = compare(&base_set, &new_set, &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("(2 base runs, 1 new run)"), "{out}");
}

#[test]
fn bad_report_input_gets_a_one_line_error() {
    let tmp = tempdir();
    let missing = tmp.path().join("missing");
    let o = run(&["report", missing.to_str().unwrap()]);
    assert_one_line_error(&o, 2, "no such directory");
    let o = run(&["report", tmp.path().to_str().unwrap()]);
    assert_one_line_error(&o, 2, "no usable run under");
    let o = run(&[
        "report",
        "--compare",
        tmp.path().to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_one_line_error(&o, 2, "no usable run under");
    let good = tmp.path().join("good");
    sim_run(&good, "0.2", &[]);
    let o = run(&[
        "report",
        "--compare",
        good.to_str().unwrap(),
        good.to_str().unwrap(),
        "--threshold",
        "lots",
    ]);
    assert_one_line_error(
        &o,
        2,
        "--threshold lots: out of range, expected a number from 0 to 1000 percent",
    );
    let o = run(&[
        "report",
        good.to_str().unwrap(),
        "--csv",
        tmp.path().join("no/such/dir.csv").to_str().unwrap(),
    ]);
    assert_one_line_error(&o, 2, "dir.csv");
}

/// Headless Chromium with a profile of its own; `args` add the window and what to do.
pub(crate) fn chromium_run(chromium: &Path, args: &[String]) -> std::process::Output {
    let profile = tempdir();
    let o = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("chromium starts");
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    o
}

/// Runs `script` in headless Chromium (1280 px wide) after the page `html`, in a copy
/// beside it, and returns the text the script left in the `<pre id="chart-check">` it
/// appends: one line per finding.
pub(crate) fn chart_check(chromium: &Path, html: &Path, script: &str) -> String {
    let page = std::fs::read_to_string(html).unwrap();
    let check = html.with_file_name("chart-check.html");
    std::fs::write(&check, format!("{page}<script>{script}</script>")).unwrap();
    let o = chromium_run(
        chromium,
        &[
            "--window-size=1280,2000".into(),
            "--virtual-time-budget=5000".into(),
            "--dump-dom".into(),
            format!("file://{}", check.display()),
        ],
    );
    stdout(&o)
        .split("<pre id=\"chart-check\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no verdict: {}", stderr(&o)))
}

/// The HTML report in headless Chromium, at a desktop width (1280 px) and a phone's
/// (390 px, a frame inside a page, since a headless window is at least 500 px wide): it
/// renders, logs no console error, and its layout holds. tests/fixtures/layout-check.js
/// measures it in the browser: the page no wider than the window (wide tables scroll in
/// their own box), no chart cut, no legend entry over another or over the plot, though
/// the runs' directory names are long. A screenshot of each width is kept. Skipped, and
/// reported as skipped, when Chromium is absent; failed instead when
/// NATIVEBENCH_REQUIRE_CHROMIUM=1 (scripts/test installs it and sets that).
#[test]
fn html_report_lays_out_in_headless_chromium_at_desktop_and_phone_widths() {
    let Some(chromium) = chromium() else { return };
    let tmp = tempdir();
    let results = tmp.path().join("results");
    let long = "a-run-directory-named-at-length-for-the-llama-cpp-engine-q8_0-threads-2";
    sim_run(&results.join(long), "1", &["-r", "2"]);
    sim_run(
        &results.join(format!("{long}-again")),
        "2",
        &["--concurrency", "2"],
    );
    sim_run(&results.join("c"), "1", &["--concurrency", "3"]);
    let html = tmp.path().join("report.html");
    ok_run(&[
        "report",
        results.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);

    // The page as written: no console error at either width.
    let url = format!("file://{}", html.display());
    let mut shots = Vec::new();
    for (width, name) in [(1280, "desktop"), (500, "narrow")] {
        let shot = tmp.path().join(format!("report-{name}.png"));
        let o = chromium_run(
            &chromium,
            &[
                format!("--window-size={width},2000"),
                format!("--screenshot={}", shot.display()),
                url.clone(),
            ],
        );
        let log = stderr(&o);
        for bad in ["Uncaught", "ERROR:CONSOLE", ":CONSOLE("] {
            assert!(!log.contains(bad), "console error at {width} px:\n{log}");
        }
        let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "{} bytes",
            png.len()
        );
        shots.push((name, png));
    }

    // The layout, measured in a copy that carries the check.
    let check = tmp.path().join("check.html");
    let page = std::fs::read_to_string(&html).unwrap();
    std::fs::write(
        &check,
        format!(
            "{page}<script>{}</script>",
            include_str!("../fixtures/layout-check.js")
        ),
    )
    .unwrap();
    let phone = write(
        tmp.path(),
        "phone.html",
        "<!DOCTYPE html><html><body style=\"margin:0\">\
         <iframe src=\"check.html\" width=\"390\" height=\"3000\" style=\"border:0\"></iframe>\
         <script>addEventListener(\"message\", (e) => { const p = document.createElement(\"pre\"); \
         p.id = \"layout-check\"; p.textContent = e.data; document.body.appendChild(p); });</script>\
         </body></html>",
    );
    for (page, want) in [(&check, "window 1280px"), (&phone, "window 390px")] {
        let o = chromium_run(
            &chromium,
            &[
                "--window-size=1280,2000".into(),
                "--virtual-time-budget=5000".into(),
                "--dump-dom".into(),
                format!("file://{}", page.display()),
            ],
        );
        let dom = stdout(&o);
        let verdict = dom
            .split("<pre id=\"layout-check\">")
            .nth(1)
            .and_then(|s| s.split("</pre>").next())
            .unwrap_or_else(|| panic!("no layout verdict in the page: {}", stderr(&o)));
        assert_eq!(verdict, format!("{want}\nlayout ok"), "{}", page.display());
    }

    // Kept for people afterwards, by an atomic rename: another run of the suite on the
    // same target folder must not see half a file.
    for (name, png) in shots {
        let kept = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}.png"));
        let staged = kept.with_file_name(format!(".report-{name}.png.{}", std::process::id()));
        std::fs::write(&staged, &png).unwrap();
        std::fs::rename(&staged, &kept).unwrap();
        eprintln!("screenshot: {}", kept.display());
    }
}
