//! The formats of `nativebench preprocess`: CSV rows (one per measurement, appended to
//! results.csv), the Markdown summary, and the HTML "Preprocessing" section with its
//! plots (time against text size per phase; speed-up against threads). One column list
//! serves CSV and Markdown.

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::preprocess::{PreprocessReport, Row, EXPERIMENTS};

use super::svg::{esc, line_chart, LineChart, Series};

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

fn f(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// The columns, in order: name and value.
type Column = (&'static str, fn(&Row) -> String);

const COLUMNS: &[Column] = &[
    ("experiment", |r| r.experiment.to_string()),
    ("experiment_name", |r| r.experiment_name.clone()),
    ("model", |r| r.model.clone()),
    ("template", |r| r.template.clone()),
    ("phase", |r| r.phase.clone()),
    ("turns", |r| opt(r.turns)),
    ("text_bytes", |r| r.text_bytes.to_string()),
    ("tokens", |r| opt(r.tokens)),
    ("threads", |r| opt(r.threads)),
    ("batch", |r| opt(r.batch)),
    ("reps", |r| r.timing.reps.to_string()),
    ("median_us", |r| f(r.timing.median_us)),
    ("p10_us", |r| f(r.timing.p10_us)),
    ("p90_us", |r| f(r.timing.p90_us)),
    ("min_us", |r| f(r.timing.min_us)),
    ("cv", |r| format!("{:.4}", r.timing.cv)),
    ("per_item_us", |r| r.per_item_us.map_or(String::new(), f)),
    ("ratio", |r| {
        r.ratio.map_or(String::new(), |v| format!("{v:.3}"))
    }),
    ("equal", |r| opt(r.equal)),
    ("note", |r| r.note.clone()),
];

/// The rows as CSV, with the header line when `header`.
pub fn csv(rows: &[Row], header: bool) -> Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let err = |e: ::csv::Error| Error::Runtime(format!("CSV: {e}"));
    if header {
        w.write_record(COLUMNS.iter().map(|c| c.0)).map_err(err)?;
    }
    for r in rows {
        w.write_record(COLUMNS.iter().map(|c| (c.1)(r)))
            .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Runtime(format!("CSV: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Headline findings: where rendering costs more than tokenizing, the best speed-up,
/// and the equality checks.
fn findings(report: &PreprocessReport) -> Vec<String> {
    let mut out = Vec::new();
    let rows = &report.rows;
    let best = rows
        .iter()
        .filter(|r| r.experiment == 2 && r.phase == "batch" && r.batch.unwrap_or(0) >= 64)
        .filter_map(|r| Some((r.ratio?, r)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((s, r)) = best {
        out.push(format!(
            "parallel tokenization: {s:.2}x at {} threads on a batch of {} ({})",
            opt(r.threads),
            opt(r.batch),
            r.model
        ));
    }
    for (e, what) in [
        (3, "templates render the same in minijinja and llama.cpp"),
        (
            4,
            "models tokenize to the same ids in tokenizers and llama.cpp",
        ),
    ] {
        let checked: Vec<&Row> = rows
            .iter()
            .filter(|r| {
                r.experiment == e
                    && r.equal.is_some()
                    && r.phase != "llama_cpp_template"
                    && r.phase != "llama_cpp_tokenizer"
            })
            .collect();
        if !checked.is_empty() {
            let same = checked.iter().filter(|r| r.equal == Some(true)).count();
            out.push(format!("{same} of {} {what}", checked.len()));
        }
    }
    let render_heavy = rows
        .iter()
        .filter(|r| r.experiment == 1 && r.phase == "render" && r.ratio.is_some_and(|x| x > 1.0))
        .count();
    let cases = rows
        .iter()
        .filter(|r| r.experiment == 1 && r.phase == "render")
        .count();
    if cases > 0 {
        out.push(format!(
            "rendering costs more than tokenizing in {render_heavy} of {cases} experiment-1 cases"
        ));
    }
    out
}

/// The warnings to show: those that are not about noise, and the noisy figures as one
/// count (each is listed in preprocess.json, and its CV is in the table).
fn warning_lines(report: &PreprocessReport) -> Vec<String> {
    let noisy = report
        .warnings
        .iter()
        .filter(|w| w.starts_with("noisy"))
        .count();
    let mut out: Vec<String> = report
        .warnings
        .iter()
        .filter(|w| !w.starts_with("noisy"))
        .cloned()
        .collect();
    if noisy > 0 {
        out.push(format!(
            "{noisy} of {} figures are noisy (CV above 5%, column cv): rerun on a quieter machine or with more --repetitions",
            report.rows.len()
        ));
    }
    out
}

/// The Markdown summary: findings, warnings, then one table per experiment.
pub fn markdown(report: &PreprocessReport) -> String {
    let mut s = String::from("# Preprocessing\n\n");
    let _ = writeln!(
        s,
        "nativebench {} · {} · models: {} · threads: {}{}\n",
        report.nativebench_version,
        report.timestamp,
        report.models.join(", "),
        report
            .threads
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(","),
        if report.quick { " · quick" } else { "" }
    );
    for line in findings(report) {
        let _ = writeln!(s, "- {line}");
    }
    for w in warning_lines(report) {
        let _ = writeln!(s, "- warning: {w}");
    }
    let shown: Vec<&Column> = COLUMNS
        .iter()
        .filter(|c| !matches!(c.0, "experiment" | "experiment_name" | "min_us"))
        .collect();
    for (n, name) in EXPERIMENTS {
        let rows: Vec<&Row> = report.rows.iter().filter(|r| r.experiment == *n).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n## {n}. {name}\n");
        let _ = writeln!(
            s,
            "| {} |",
            shown.iter().map(|c| c.0).collect::<Vec<_>>().join(" | ")
        );
        let _ = writeln!(s, "|{}", " --- |".repeat(shown.len()));
        for r in rows {
            let cells: Vec<String> = shown
                .iter()
                .map(|c| (c.1)(r).replace('|', "\\|").replace('\n', " "))
                .collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
    }
    s
}

/// The plots: experiment 1's time against text size per phase and model (single
/// messages), and experiment 2's speed-up against threads per batch size.
pub fn charts(report: &PreprocessReport) -> Vec<String> {
    let mut out = Vec::new();
    let mut series = Vec::new();
    for model in &report.models {
        for phase in ["render", "tokenize"] {
            let points: Vec<(f64, f64)> = report
                .rows
                .iter()
                .filter(|r| {
                    r.experiment == 1 && r.turns.is_none() && &r.model == model && r.phase == phase
                })
                .map(|r| ((r.text_bytes.max(1) as f64).log2(), r.timing.median_us))
                .collect();
            if !points.is_empty() {
                series.push(Series {
                    label: format!("{model} {phase}"),
                    points,
                    link: None,
                });
            }
        }
    }
    if !series.is_empty() {
        out.push(line_chart(
            &LineChart {
                title: "Time against text size (experiment 1)".into(),
                x_label: "message size, log2 bytes".into(),
                y_label: "median µs".into(),
                markers: true,
                ..Default::default()
            },
            &series,
        ));
    }
    let mut series = Vec::new();
    let mut keys: Vec<(String, usize)> = report
        .rows
        .iter()
        .filter(|r| r.experiment == 2 && r.phase == "batch")
        .filter_map(|r| Some((r.model.clone(), r.batch?)))
        .collect();
    keys.dedup();
    for (model, batch) in keys {
        let points: Vec<(f64, f64)> = report
            .rows
            .iter()
            .filter(|r| {
                r.experiment == 2
                    && r.phase == "batch"
                    && r.model == model
                    && r.batch == Some(batch)
            })
            .filter_map(|r| Some((r.threads? as f64, r.ratio?)))
            .collect();
        series.push(Series {
            label: format!("{model} batch {batch}"),
            points,
            link: None,
        });
    }
    if !series.is_empty() {
        out.push(line_chart(
            &LineChart {
                title: "Speed-up against threads (experiment 2)".into(),
                x_label: "threads".into(),
                y_label: "speed-up vs 1 thread".into(),
                markers: true,
                ..Default::default()
            },
            &series,
        ));
    }
    out
}

/// The "Preprocessing" section: findings, plots and the equality checks.
pub fn html_section(report: &PreprocessReport) -> String {
    let mut s = String::from("<section id=\"preprocessing\"><h2>Preprocessing</h2>\n<ul>");
    for line in findings(report) {
        let _ = write!(s, "<li>{}</li>", esc(&line));
    }
    s.push_str("</ul>\n");
    for w in warning_lines(report) {
        let _ = writeln!(s, "<div class=\"warn\">warning: {}</div>", esc(&w));
    }
    let _ = writeln!(s, "<div class=\"charts\">{}</div>", charts(report).concat());
    s.push_str("<div class=\"scroll\"><table><thead><tr>");
    for c in COLUMNS {
        let _ = write!(s, "<th>{}</th>", esc(c.0));
    }
    s.push_str("</tr></thead><tbody>\n");
    for r in &report.rows {
        s.push_str("<tr>");
        for c in COLUMNS {
            let _ = write!(s, "<td>{}</td>", esc(&(c.1)(r)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table></div></section>\n");
    s
}

/// A self-contained page holding the section.
pub fn html_page(report: &PreprocessReport) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>nativebench preprocessing</title>\n<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:2px 6px}}.warn{{color:#a60}}.scroll{{overflow-x:auto}}.charts{{display:flex;flex-wrap:wrap;gap:12px}}</style></head><body>\n{}</body></html>\n",
        html_section(report)
    )
}
