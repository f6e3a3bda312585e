//! The HTML report: one self-contained file (inline CSS and SVG, no script, nothing
//! fetched) with the latest runs, derived normalisations, latency distributions, phase
//! breakdowns, sweeps, the served-overhead decomposition, sample requests, every figure of
//! the metric catalogue and the full history. Every string that came from a run is
//! escaped with [`svg::esc`].

use std::fmt::Write;

use super::bench;
use super::category;
use super::decomposition;
use super::flat::{self, FlatRun, DERIVED, HEADLINE, HISTORY};
use super::history;
use super::load::{LoadedBench, LoadedDecomposition, LoadedRun};
use super::plots::{self, Latency, Plotted};
use super::svg::Bar;
use super::svg::{self, esc, truncate};
use crate::metrics::catalogue;

/// The catalogue columns charted over time in "History", with their units.
pub const TRENDS: [(&str, &str); 3] = [
    ("output_throughput_tok_s", "tokens/s"),
    ("ttft_p50_ms", "ms"),
    ("tpot_p50_ms", "ms"),
];

/// At most this many runs get their own line in the distribution and phase charts.
const MAX_PLOTTED: usize = 10;
/// Requests shown per run in "Sample requests".
const SAMPLE_REQUESTS: usize = 3;
/// Characters of a prompt or an output shown there.
const SAMPLE_CHARS: usize = 160;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1200px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.meta{color:#666;font-size:13px}table{border-collapse:collapse;font-size:12px;margin:6px 0}\
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}th{background:#f4f4f4;text-align:center}\
td.t{text-align:left}td.w{text-align:left;white-space:normal;max-width:380px;word-break:break-word}\
.scroll{overflow-x:auto}.charts{display:flex;flex-wrap:wrap;gap:12px}\
.warn{background:#fff4e5;border:1px solid #f0c36d;padding:6px 10px;font-size:13px;margin:8px 0}\
.chart{background:#fff;border:1px solid #eee;max-width:100%;height:auto}\
tr:target{background:#fff7c2}@media(max-width:700px){body{margin:8px}}.chart text{font-size:11px;fill:#333}\
.chart .ct{font-size:13px;font-weight:600;text-anchor:middle}.chart .xt{text-anchor:middle}\
.chart .yt,.chart .bl{text-anchor:end}.chart .al{text-anchor:middle;fill:#555}\
.chart .grid{stroke:#eee}.chart .ax{stroke:#999}.chart .empty{text-anchor:middle;fill:#999}";

/// What the HTML report is built from.
pub struct HtmlInput<'a> {
    /// Oldest first; `flat[i]` is `runs[i]` flattened.
    pub runs: &'a [LoadedRun],
    pub flat: &'a [FlatRun],
    pub decompositions: &'a [LoadedDecomposition],
    /// `bench` runs: llama-bench's table and t/s per test and model.
    pub benches: &'a [LoadedBench],
    /// `preprocess` results: one "Preprocessing" section each.
    pub preprocess: &'a [crate::preprocess::PreprocessReport],
    /// Skipped runs and other caveats, one line each.
    pub notes: &'a [String],
    /// When the report was made (shown in the header).
    pub generated_at: String,
}

/// The anchor of the run `flat[i]`'s row in "Latest runs", where charts link.
fn anchor(i: usize) -> String {
    format!("run-{i}")
}

/// Renders the whole page.
pub fn render(input: &HtmlInput) -> String {
    let latest = history::latest(input.flat);
    let latest_flat: Vec<&FlatRun> = latest.iter().map(|&i| &input.flat[i]).collect();
    let labels = flat::distinct_labels(&latest_flat);
    let plotted: Vec<Plotted> = latest
        .iter()
        .zip(&labels)
        .take(MAX_PLOTTED)
        .map(|(&i, label)| Plotted {
            run: &input.runs[i],
            flat: &input.flat[i],
            label: label.clone(),
            link: format!("#{}", anchor(i)),
        })
        .collect();

    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>nativebench report</title><style>{STYLE}</style></head><body>\n\
         <h1>nativebench report</h1><p class=\"meta\">{} runs ({} latest), {} bench runs · generated {}</p>\n",
        input.flat.len(),
        latest.len(),
        input.benches.len(),
        esc(&input.generated_at)
    );
    for n in input.notes {
        let _ = writeln!(s, "<div class=\"warn\">{}</div>", esc(n));
    }
    for r in latest_flat.iter().filter(|r| !r.warnings.is_empty()) {
        let _ = writeln!(
            s,
            "<div class=\"warn\">warning ({}): {}</div>",
            esc(&r.run_id),
            esc(&r.warnings)
        );
    }

    if !input.flat.is_empty() {
        let rows: Vec<(String, String)> = latest.iter().map(|&i| anchor(i)).zip(labels).collect();
        section(
            &mut s,
            "Latest runs",
            &table_with(&latest_flat, HEADLINE, Some(&rows)),
        );
        runs_sections(&mut s, input, &latest_flat, &plotted);
    }
    if !input.benches.is_empty() {
        section(&mut s, "bench: llama-bench tests", &benches(input.benches));
    }
    for p in input.preprocess {
        s.push_str(&super::preprocess::html_section(p));
    }
    s.push_str("</body></html>\n");
    s
}

/// Every section about runs, after "Latest runs".
fn runs_sections(s: &mut String, input: &HtmlInput, latest_flat: &[&FlatRun], plotted: &[Plotted]) {
    section(
        s,
        "Derived: tokens/s, ms/token, tokens per request",
        &table(latest_flat, DERIVED),
    );
    let cdfs = [Latency::Ttft, Latency::Itl, Latency::E2e]
        .map(|l| plots::cdf_chart(l, plotted))
        .concat();
    section(s, "Latency distributions", &charts(&cdfs));
    section(
        s,
        "Phase breakdown per engine",
        &charts(&plots::phase_chart(plotted)),
    );
    if let Some(r) = super::resource_plots::roofline(plotted) {
        section(s, "Roofline", &charts(&r));
    }
    let series = super::resource_plots::time_series(plotted);
    if !series.is_empty() {
        section(s, "Resources over time", &charts(&series));
    }
    let sweeps = history::sweeps(input.flat);
    if !sweeps.is_empty() {
        let body: String = sweeps
            .iter()
            .map(|g| charts(&plots::sweep_charts(g, input.flat).concat()))
            .collect();
        section(s, "Throughput and latency vs load", &body);
    }
    let mut limits: Vec<String> = super::limit_plots::pareto(plotted).into_iter().collect();
    limits.extend(plotted.iter().filter_map(super::limit_plots::timeline));
    if !limits.is_empty() {
        section(
            s,
            "Limits: Pareto frontier and request timelines",
            &charts(&limits.concat()),
        );
    }
    for d in input.decompositions {
        section(s, "In-process vs served: decomposition", &decomposition(d));
    }
    let by_category = category::rows(latest_flat);
    if !by_category.is_empty() {
        section(s, "By category", &category_table(&by_category));
    }
    section(s, "Sample requests", &samples(plotted));
    section(s, "All metrics", &all_metrics(latest_flat));
    section(s, "History", &history_section(input.flat));
}

/// Each bench run's llama-bench table, and its t/s per test and model as bars.
fn benches(runs: &[LoadedBench]) -> String {
    let mut s = String::new();
    for b in runs {
        let _ = writeln!(
            s,
            "<p class=\"meta\">{}</p>",
            esc(&b.dir.display().to_string())
        );
        let bars: Vec<Bar> = b
            .records
            .iter()
            .map(|r| Bar {
                label: format!("{} · {} · {}", r.engine, r.model.model_type, r.test),
                values: vec![Some(r.rate.avg_ts)],
                link: None,
            })
            .collect();
        s.push_str(&charts(&svg::stacked_bars(
            "bench: tokens per second by test",
            "t/s",
            &["t/s (mean over repetitions)"],
            &bars,
        )));
        let _ = writeln!(
            s,
            "<div class=\"scroll\"><pre>{}</pre></div>",
            esc(&bench::markdown(&b.records))
        );
    }
    s
}

fn section(s: &mut String, title: &str, body: &str) {
    let _ = writeln!(s, "<h2>{}</h2>\n{body}", esc(title));
}

fn charts(svg: &str) -> String {
    format!("<div class=\"charts\">{svg}</div>\n")
}

/// An HTML table of the named columns of the flat record.
fn table(runs: &[&FlatRun], columns: &[&str]) -> String {
    table_with(runs, columns, None)
}

/// The same, optionally led by each run's name, its row anchored for links to it.
fn table_with(runs: &[&FlatRun], columns: &[&str], named: Option<&[(String, String)]>) -> String {
    let mut s = String::from("<div class=\"scroll\"><table><tr>");
    if named.is_some() {
        s.push_str("<th>run</th>");
    }
    for c in columns {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    s.push_str("</tr>\n");
    for (i, r) in runs.iter().enumerate() {
        match named.and_then(|n| n.get(i)) {
            Some((id, label)) => {
                let _ = write!(
                    s,
                    "<tr id=\"{}\"><td class=\"t\">{}</td>",
                    esc(id),
                    esc(label)
                );
            }
            None => s.push_str("<tr>"),
        }
        for v in r.pick(columns) {
            let class = if v.is_string() { " class=\"t\"" } else { "" };
            let _ = write!(s, "<td{class}>{}</td>", esc(&flat::cell_display(&v)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table></div>\n");
    s
}

/// The per-category rows (`metrics.json` `by_category`) as a table.
fn category_table(rows: &[Vec<Option<String>>]) -> String {
    let mut s = String::from("<div class=\"scroll\"><table><tr>");
    for c in category::COLUMNS {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    s.push_str("</tr>\n");
    for r in rows {
        s.push_str("<tr>");
        for (c, v) in category::COLUMNS.iter().zip(r) {
            let class = if category::is_text(c) {
                " class=\"t\""
            } else {
                ""
            };
            let _ = write!(s, "<td{class}>{}</td>", esc(v.as_deref().unwrap_or("–")));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table></div>\n");
    s
}

/// Every column of the metric catalogue for the latest runs, one row each, with its unit,
/// which way is better and how the metric is derived.
fn all_metrics(runs: &[&FlatRun]) -> String {
    let mut s = String::from(
        "<div class=\"scroll\"><table><tr><th>metric</th><th>unit</th><th>better</th>",
    );
    for r in runs {
        let _ = write!(s, "<th>{}</th>", esc(&r.run_id));
    }
    s.push_str("<th>definition</th></tr>\n");
    for c in catalogue::columns() {
        let m = c.metric;
        let _ = write!(
            s,
            "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td>",
            esc(c.name()),
            esc(m.unit.text()),
            m.better.text()
        );
        for r in runs {
            let _ = write!(
                s,
                "<td>{}</td>",
                esc(&flat::cell_display(&c.cell(&r.metrics)))
            );
        }
        let _ = writeln!(s, "<td class=\"w\">{}</td></tr>", esc(m.about));
    }
    s.push_str("</table></div>\n");
    s
}

fn decomposition(d: &LoadedDecomposition) -> String {
    let x = &d.decomposition;
    let mut s = format!(
        "<p class=\"meta\">{} · {} · {} · served by {} · {}</p>\n",
        esc(&x.engine),
        esc(&x.model),
        esc(&x.workload),
        esc(&x.served_by),
        esc(&d.dir.display().to_string())
    );
    s.push_str(&charts(&plots::decomposition_chart(d)));
    s.push_str("<div class=\"scroll\"><table><tr>");
    for c in decomposition::COLUMNS {
        let _ = write!(s, "<th>{c}</th>");
    }
    s.push_str("</tr>\n");
    let f = |v: Option<f64>| v.map_or("–".to_owned(), flat::human);
    for r in &x.rows {
        let (metric, stat, figures) = r.cells();
        let _ = write!(
            s,
            "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td>",
            esc(metric),
            esc(stat)
        );
        for (i, v) in figures.into_iter().enumerate() {
            let cell = if r.not_separable && i == 4 {
                decomposition::NOT_SEPARABLE.to_owned()
            } else {
                f(v)
            };
            let _ = write!(s, "<td>{cell}</td>");
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table></div>\n");
    for n in &x.notes {
        let _ = writeln!(s, "<p class=\"meta\">{}</p>", esc(n));
    }
    s
}

/// The first few requests of each plotted run: prompt, output and outcome, escaped.
fn samples(runs: &[Plotted]) -> String {
    let mut s = String::from(
        "<div class=\"scroll\"><table><tr><th>run</th><th>request_id</th><th>ok</th>\
         <th>output_tokens</th><th>e2e_ms</th><th>prompt_preview</th><th>output_text</th><th>error</th></tr>\n",
    );
    for p in runs {
        for r in p.run.records.iter().take(SAMPLE_REQUESTS) {
            let _ = writeln!(
                s,
                "<tr><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"w\">{}</td><td class=\"w\">{}</td><td class=\"w\">{}</td></tr>",
                esc(&p.label),
                r.request_id,
                r.ok,
                r.output_tokens,
                flat::human(r.e2e_ms),
                esc(&truncate(&r.prompt_preview, SAMPLE_CHARS)),
                esc(&truncate(
                    r.output_text.as_deref().unwrap_or(""),
                    SAMPLE_CHARS
                )),
                esc(r.error.as_deref().unwrap_or(""))
            );
        }
    }
    s.push_str("</table></div>\n");
    s
}

fn history_section(runs: &[FlatRun]) -> String {
    let mut s = String::new();
    let trend: Vec<String> = TRENDS
        .iter()
        .filter_map(|&(column, unit)| plots::history_chart(runs, column, unit))
        .collect();
    if !trend.is_empty() {
        s.push_str(&charts(&trend.concat()));
    }
    let newest_first: Vec<&FlatRun> = runs.iter().rev().collect();
    s.push_str(&table(&newest_first, HISTORY));
    s
}
