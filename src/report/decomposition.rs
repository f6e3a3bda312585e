//! `decomposition.json`: the served overhead of one workload, in-process against served,
//! split into server queue wait, HTTP/serialization and the engine. `compare` builds it;
//! the text and HTML reports render it from the same columns.
//!
//! HTTP/serialization is measured against the server's own times for the same request
//! (TTFT, E2E) or the same two tokens (ITL, from the server's per-token stamps), and the
//! engine column is the rest, so every row's parts sum to its overhead. Where the server
//! gives no such times, the row is not split.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::metrics::Summary;
use crate::report::MetricsFile;

/// The file `compare` writes in its directory.
pub const DECOMPOSITION: &str = "decomposition.json";

/// One metric at one statistic, both ways, and the difference split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `ttft_ms`, `itl_ms` or `e2e_ms`.
    pub metric: String,
    /// `p50` or `p99`.
    pub stat: String,
    pub in_process_ms: Option<f64>,
    pub served_ms: Option<f64>,
    /// served - in-process.
    pub overhead_ms: Option<f64>,
    /// The server's FIFO queue wait at the same statistic (0 for ITL, which queuing does
    /// not touch); absent when the server does not report it.
    pub server_queue_ms: Option<f64>,
    /// Network, HTTP and serialization on both sides. Where the server reports its own
    /// times, this is measured per request (the client's time minus the server's, same
    /// request) and taken at the statistic; otherwise it is the overhead less the queue.
    pub http_serialization_ms: Option<f64>,
    /// The rest, where `http_serialization_ms` is measured: the served engine's own time
    /// against the in-process run's, that is drift between the two runs plus any
    /// server-side work (a slower served engine shows here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_ms: Option<f64>,
    /// The server gave no times to split this row by (ITL against a server without
    /// per-token stamps): the overhead is not assigned to HTTP or to the engine.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_separable: bool,
}

/// `decomposition.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decomposition {
    pub engine: String,
    pub model: String,
    pub workload: String,
    /// `nativebench serve` or the --url given.
    pub served_by: String,
    pub in_process_run: PathBuf,
    pub served_run: PathBuf,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    /// Where each side's CPU time went, to explain a slower served engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<super::cpu::CpuReport>,
}

fn stat(s: &Option<Summary>, which: &str) -> Option<f64> {
    s.as_ref()
        .map(|s| if which == "p50" { s.p50 } else { s.p99 })
}

/// Builds the decomposition from the two runs' metrics.
pub fn decompose(inp: &MetricsFile, served: &MetricsFile) -> Vec<Row> {
    let timing = |k: &str| served.metrics.engine_timings_ms.get(k).copied();
    let queue = timing("server_queue_ms");
    // Measured per request (TTFT, E2E) or per gap between two tokens (ITL).
    let measured_http = |metric: &str| match metric {
        "ttft_ms" => timing(crate::runner::load::HTTP_TTFT_OVERHEAD),
        "e2e_ms" => timing(crate::runner::load::HTTP_OVERHEAD),
        _ => served.metrics.http_itl_overhead_ms,
    };
    let mut rows = Vec::new();
    for (metric, a, b) in [
        ("ttft_ms", &inp.metrics.ttft_ms, &served.metrics.ttft_ms),
        ("itl_ms", &inp.metrics.itl_ms, &served.metrics.itl_ms),
        ("e2e_ms", &inp.metrics.e2e_ms, &served.metrics.e2e_ms),
    ] {
        for which in ["p50", "p99"] {
            let (x, y) = (stat(a, which), stat(b, which));
            let overhead = x.zip(y).map(|(x, y)| y - x);
            let q = if metric == "itl_ms" {
                Some(0.0)
            } else {
                stat(&queue, which)
            };
            let rest = overhead.zip(q).map(|(o, q)| o - q);
            let measured = stat(&measured_http(metric), which);
            // ITL is untouched by queuing, so without per-token times nothing tells HTTP
            // from a slower engine: it stays unsplit rather than all given to HTTP.
            let not_separable = metric == "itl_ms" && measured.is_none() && overhead.is_some();
            let (http, engine) = match measured {
                Some(h) => (Some(h), rest.map(|r| r - h)),
                None if not_separable => (None, None),
                None => (rest, None),
            };
            rows.push(Row {
                metric: metric.into(),
                stat: which.into(),
                in_process_ms: x,
                served_ms: y,
                overhead_ms: overhead,
                server_queue_ms: q,
                http_serialization_ms: http,
                engine_ms: engine,
                not_separable,
            });
        }
    }
    rows
}

/// The table's columns, as `decomposition.json` names them; the text and HTML renderings
/// both use these, with [`Row::cells`].
pub const COLUMNS: [&str; 8] = [
    "metric",
    "stat",
    "in_process_ms",
    "served_ms",
    "overhead_ms",
    "server_queue_ms",
    "http_serialization_ms",
    "engine_ms",
];

/// What the reader of the table should know about its columns.
pub const LEGEND: &str = "(ms; overhead = queue + http+serial. + engine. http+serial. is measured against the server's own times, per request for TTFT and E2E and per pair of tokens for ITL; engine is then the rest: the served engine's time against the in-process run's)";

/// What the text table shows in the http+serial. cell of a row that cannot be split.
pub const NOT_SEPARABLE: &str = "not separable";

impl Row {
    /// The row's cells in [`COLUMNS`] order: the two labels, then the figures (ms).
    pub fn cells(&self) -> (&str, &str, [Option<f64>; 6]) {
        (
            &self.metric,
            &self.stat,
            [
                self.in_process_ms,
                self.served_ms,
                self.overhead_ms,
                self.server_queue_ms,
                self.http_serialization_ms,
                self.engine_ms,
            ],
        )
    }
}

/// Renders the decomposition as a plain-text table.
pub fn render(d: &Decomposition) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
    let head = [
        "metric",
        "stat",
        "in-process",
        "served",
        "overhead",
        "queue",
        "http+serial.",
        "engine",
    ];
    let line = |cells: [&str; 8]| {
        format!(
            "{:<10} {:>5} {:>12} {:>12} {:>12} {:>12} {:>14} {:>12}\n",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7]
        )
    };
    let mut s = format!(
        "\nserved overhead: {} on {} ({}), served by {}\n",
        d.engine, d.model, d.workload, d.served_by
    );
    s.push_str(&line(head));
    for r in &d.rows {
        let (metric, stat, figures) = r.cells();
        let mut v = figures.map(f);
        if r.not_separable {
            v[4] = NOT_SEPARABLE.into();
        }
        s.push_str(&line([
            metric, stat, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
        ]));
    }
    s.push_str(LEGEND);
    s.push('\n');
    for n in &d.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    if let Some(c) = &d.cpu {
        s.push_str(&c.render());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{RequestRecord, RunMetrics};

    /// A run of three requests of 5 tokens, `gap` ms apart, with the server's stamps
    /// `server_gap` ms apart when given.
    fn file(gap: f64, server_gap: Option<f64>, in_process: bool) -> MetricsFile {
        let records: Vec<RequestRecord> = (0..3)
            .map(|i| {
                let token_ms: Vec<f64> = (0..5).map(|k| 10.0 + gap * k as f64).collect();
                RequestRecord {
                    request_id: i,
                    ok: true,
                    output_tokens: 5,
                    ttft_ms: Some(10.0),
                    e2e_ms: token_ms[4] + 1.0,
                    server_token_ms: server_gap
                        .map(|s| (0..5).map(|k| 9.9 + s * k as f64).collect())
                        .unwrap_or_default(),
                    token_ms,
                    ..RequestRecord::default()
                }
            })
            .collect();
        MetricsFile {
            run_id: "r".into(),
            engine: "e".into(),
            model: "m".into(),
            workload: "w".into(),
            started_at: String::new(),
            interrupted: false,
            driver: None,
            started_unix_ms: None,
            metrics: RunMetrics::compute(&records, in_process, None),
        }
    }

    fn itl(rows: &[Row]) -> &Row {
        rows.iter()
            .find(|r| r.metric == "itl_ms" && r.stat == "p50")
            .unwrap()
    }

    #[test]
    fn itl_splits_per_token_and_adds_up() {
        // In-process 2 ms a token; served 3 ms, of which the server's engine took 2.5.
        let rows = decompose(&file(2.0, None, true), &file(3.0, Some(2.5), false));
        let r = itl(&rows);
        assert!((r.overhead_ms.unwrap() - 1.0).abs() < 1e-9, "{r:?}");
        assert!(
            (r.http_serialization_ms.unwrap() - 0.5).abs() < 1e-9,
            "{r:?}"
        );
        assert!((r.engine_ms.unwrap() - 0.5).abs() < 1e-9, "{r:?}");
        assert!(!r.not_separable);
    }

    #[test]
    fn without_per_token_times_itl_is_not_separable() {
        let rows = decompose(&file(2.0, None, true), &file(3.0, None, false));
        let r = itl(&rows);
        assert!(r.not_separable, "{r:?}");
        assert_eq!((r.http_serialization_ms, r.engine_ms), (None, None));
        let d = Decomposition {
            engine: "e".into(),
            model: "m".into(),
            workload: "w".into(),
            served_by: "s".into(),
            in_process_run: "a".into(),
            served_run: "b".into(),
            rows,
            notes: Vec::new(),
            cpu: None,
        };
        let text = render(&d);
        let line = text
            .lines()
            .find(|l| l.starts_with("itl_ms") && l.contains(" p50 "))
            .unwrap();
        assert!(line.contains(NOT_SEPARABLE), "{text}");
        assert!(
            line.contains("1.000"),
            "the overhead is still shown: {line}"
        );
    }
}
