//! The HTML report's charts, built from loaded runs: latency CDFs, phase breakdowns,
//! sweeps, history and the served-overhead decomposition. Each returns inline SVG.

use super::flat::FlatRun;
use super::history::{self, SweepGroup};
use super::load::{LoadedDecomposition, LoadedRun};
use super::svg::{self, Bar, LineChart, Series};
use crate::metrics::{RequestRecord, Summary};

/// At most this many points per CDF line: enough for a smooth curve, small files.
const CDF_POINTS: usize = 300;

/// A latency whose distribution is plotted.
#[derive(Debug, Clone, Copy)]
pub enum Latency {
    Ttft,
    Itl,
    E2e,
}

impl Latency {
    fn title(self) -> &'static str {
        match self {
            Latency::Ttft => "TTFT (ttft_ms): cumulative distribution",
            Latency::Itl => "ITL (itl_ms): cumulative distribution",
            Latency::E2e => "E2E (e2e_ms): cumulative distribution",
        }
    }

    fn samples(self, records: &[RequestRecord]) -> Vec<f64> {
        let ok = records.iter().filter(|r| r.ok);
        match self {
            Latency::Ttft => ok.filter_map(|r| r.ttft_ms).collect(),
            Latency::Itl => ok.flat_map(|r| r.gaps_ms()).collect(),
            Latency::E2e => ok.map(|r| r.e2e_ms).collect(),
        }
    }

    fn summary(self, run: &LoadedRun) -> Option<Summary> {
        let m = &run.file.metrics;
        match self {
            Latency::Ttft => m.ttft_ms,
            Latency::Itl => m.itl_ms,
            Latency::E2e => m.e2e_ms,
        }
    }
}

/// A run drawn in a chart: its name there (what sets it apart from the other runs) and
/// where its legend entry leads (its row in the report's run list, with its run id).
pub struct Plotted<'a> {
    pub run: &'a LoadedRun,
    pub flat: &'a FlatRun,
    pub label: String,
    pub link: String,
}

/// The CDF of one latency for each run given, from its samples, or, for a run without
/// samples.jsonl, from the percentiles in metrics.json. The x axis stops at the largest
/// p99 so one straggler cannot flatten every curve.
pub fn cdf_chart(what: Latency, runs: &[Plotted]) -> String {
    let mut x_max: f64 = 0.0;
    let series: Vec<Series> = runs
        .iter()
        .map(|p| {
            let run = p.run;
            let samples = what.samples(&run.records);
            let points = if samples.is_empty() {
                what.summary(run).map(summary_cdf).unwrap_or_default()
            } else {
                svg::cdf(&samples, CDF_POINTS)
            };
            if let Some(s) = what.summary(run) {
                x_max = x_max.max(s.p99 + (s.p99 - s.p1).abs() * 0.05);
            }
            Series {
                label: p.label.clone(),
                points,
                link: Some(p.link.clone()),
            }
        })
        .collect();
    svg::line_chart(
        &LineChart {
            title: what.title().into(),
            x_label: "ms (axis ends past the largest p99)".into(),
            y_label: "fraction of samples ≤ x".into(),
            unit_y: true,
            x_max: (x_max > 0.0).then_some(x_max),
            ..LineChart::default()
        },
        &series,
    )
}

/// An approximate CDF through a summary's percentiles.
fn summary_cdf(s: Summary) -> Vec<(f64, f64)> {
    vec![
        (s.min, 0.0),
        (s.p1, 0.01),
        (s.p10, 0.10),
        (s.p50, 0.50),
        (s.p90, 0.90),
        (s.p95, 0.95),
        (s.p99, 0.99),
        (s.max, 1.0),
    ]
}

/// The phase segments of a request, in order.
pub const PHASES: [&str; 6] = [
    "template",
    "tokenize",
    "prefill",
    "TTFT (not separable)",
    "decode",
    "detokenize",
];

/// Mean time per request in each phase. Over HTTP, template, tokenize and prefill are
/// not observable, so TTFT stands in for them.
pub fn phase_means(run: &LoadedRun) -> Vec<Option<f64>> {
    let m = &run.file.metrics;
    let mean = |s: &Option<Summary>| s.as_ref().map(|s| s.mean);
    let decoded: Vec<f64> = run
        .records
        .iter()
        .filter(|r| r.ok)
        .filter_map(|r| r.decode_ms)
        .collect();
    let decode = if decoded.is_empty() {
        // Without samples: TPOT spans n - 1 steps per request.
        mean(&m.tpot_ms)
            .zip(m.output_tokens_per_request())
            .map(|(t, n)| t * (n - 1.0).max(0.0))
    } else {
        Some(decoded.iter().sum::<f64>() / decoded.len() as f64)
    };
    let prefill = mean(&m.prefill_ms);
    vec![
        mean(&m.template_ms),
        mean(&m.tokenize_ms),
        prefill,
        if prefill.is_none() {
            mean(&m.ttft_ms)
        } else {
            None
        },
        decode,
        mean(&m.detokenize_ms),
    ]
}

/// Stacked bars of the phases, one bar per run.
pub fn phase_chart(runs: &[Plotted]) -> String {
    let bars: Vec<Bar> = runs
        .iter()
        .map(|p| Bar {
            label: p.label.clone(),
            values: phase_means(p.run),
            link: Some(p.link.clone()),
        })
        .collect();
    svg::stacked_bars("Phase breakdown: mean per request", "ms", &PHASES, &bars)
}

/// Throughput, per-token latency and request latency against the sweep's axis: each
/// chart's title, unit and catalogue columns.
pub const SWEEP_CHARTS: [(&str, &str, [&str; 2]); 3] = [
    (
        "Throughput",
        "tokens/s",
        ["output_throughput_tok_s", "total_throughput_tok_s"],
    ),
    ("TTFT and TPOT", "ms", ["ttft_p50_ms", "tpot_p50_ms"]),
    ("E2E", "ms", ["e2e_p50_ms", "e2e_p99_ms"]),
];

/// The charts of [`SWEEP_CHARTS`] for one sweep.
pub fn sweep_charts(group: &SweepGroup, runs: &[FlatRun]) -> [String; 3] {
    SWEEP_CHARTS.map(|(what, unit, columns)| {
        svg::line_chart(
            &LineChart {
                title: format!("{what} vs {}: {}", group.axis.title(), group.label),
                x_label: group.axis.title().into(),
                y_label: unit.into(),
                markers: true,
                ..LineChart::default()
            },
            &columns.map(|c| Series {
                label: c.into(),
                points: group
                    .points
                    .iter()
                    .filter_map(|&(x, i)| runs[i].num(c).map(|y| (x, y)))
                    .collect(),
                link: None,
            }),
        )
    })
}

/// One catalogue column over time for every series with more than one run; x is the
/// run's place in the whole history, labelled by its date.
pub fn history_chart(runs: &[FlatRun], column: &str, y_label: &str) -> Option<String> {
    let series: Vec<Series> = history::series(runs)
        .into_iter()
        .map(|(label, idx)| Series {
            label,
            points: idx
                .iter()
                .filter_map(|&i| runs[i].num(column).map(|y| (i as f64, y)))
                .collect(),
            link: None,
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    let names = runs
        .iter()
        .map(|r| {
            // "2026-01-31T12:34:56+01:00" -> "01-31 12:34"
            r.started_at
                .get(5..16)
                .map_or_else(|| r.started_at.clone(), |s| s.replace('T', " "))
        })
        .collect();
    Some(svg::line_chart(
        &LineChart {
            title: format!("{column} over time"),
            x_label: "run (oldest to newest)".into(),
            y_label: y_label.into(),
            markers: true,
            x_names: names,
            ..LineChart::default()
        },
        &series,
    ))
}

/// The served overhead of each metric, stacked on the in-process figure.
pub fn decomposition_chart(d: &LoadedDecomposition) -> String {
    let bars: Vec<Bar> = d
        .decomposition
        .rows
        .iter()
        .map(|r| {
            // Stacked on the in-process figure, the parts must add up to the served one:
            // a row that is not split shows its overhead whole, never as HTTP.
            let split = r.server_queue_ms.is_some() && r.http_serialization_ms.is_some();
            let part = |v: Option<f64>| if split { v } else { None };
            Bar {
                label: format!("{} {}", r.metric, r.stat),
                values: vec![
                    r.in_process_ms,
                    part(r.server_queue_ms),
                    part(r.http_serialization_ms),
                    part(r.engine_ms),
                    if split { None } else { r.overhead_ms },
                ],
                link: None,
            }
        })
        .collect();
    svg::stacked_bars(
        &format!(
            "Served overhead: {} · {}",
            d.decomposition.engine, d.decomposition.model
        ),
        "ms",
        &[
            "in-process",
            "server queue",
            "HTTP + serialization",
            "engine",
            "overhead (not split)",
        ],
        &bars,
    )
}
