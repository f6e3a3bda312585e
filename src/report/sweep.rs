//! `sweep_summary.json`: one row of headline figures per sweep point, and its table, both
//! views of the metric catalogue's columns.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::MetricsFile;
use crate::metrics::catalogue;
use crate::runner::sweep::Sweep;
use crate::runner::RunnerConfig;

/// The file a sweep writes beside its runs.
pub const SWEEP_SUMMARY: &str = "sweep_summary.json";

/// The catalogue columns a sweep point records, in order.
pub const COLUMNS: &[&str] = &[
    "completed",
    "failed",
    "request_throughput_req_s",
    "output_throughput_tok_s",
    "goodput_req_s",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "tpot_p50_ms",
    "tpot_p99_ms",
    "itl_p50_ms",
    "itl_p99_ms",
    "e2e_p50_ms",
    "e2e_p99_ms",
];

/// The printed table: (catalogue column, heading, width, decimals).
const TABLE: &[(&str, &str, usize, usize)] = &[
    ("completed", "ok", 6, 0),
    ("failed", "failed", 8, 0),
    ("request_throughput_req_s", "req/s", 9, 2),
    ("output_throughput_tok_s", "out tok/s", 10, 1),
    ("goodput_req_s", "goodput", 9, 2),
    ("ttft_p50_ms", "ttft p50", 9, 2),
    ("ttft_p99_ms", "ttft p99", 9, 2),
    ("tpot_p50_ms", "tpot p50", 9, 2),
    ("e2e_p99_ms", "e2e p99", 9, 2),
];

/// One sweep point's headline figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub label: String,
    pub run_dir: String,
    pub concurrency: usize,
    /// Requests per second offered; `None` is inf.
    pub request_rate: Option<f64>,
    /// Whether the point outran the server (`metrics.saturation`); absent where the
    /// run had too few requests to tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturated: Option<bool>,
    /// The [`COLUMNS`] of the run's figures, by name (null where not measured).
    #[serde(flatten)]
    pub figures: Map<String, Value>,
}

impl SweepPoint {
    pub fn of(label: &str, run_dir: &str, load: &RunnerConfig, m: &MetricsFile) -> SweepPoint {
        SweepPoint {
            label: label.to_owned(),
            run_dir: run_dir.to_owned(),
            concurrency: load.concurrency,
            request_rate: load.arrival.rate(),
            saturated: m.metrics.saturation.map(|s| s.saturated),
            figures: COLUMNS
                .iter()
                .filter_map(|&n| catalogue::column(n))
                .map(|c| (c.name().to_owned(), c.cell(&m.metrics)))
                .collect(),
        }
    }
}

/// `sweep_summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    pub sweep: Sweep,
    pub points: Vec<SweepPoint>,
    /// Points not run because an earlier one saturated (`--stop-on-saturation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// A plan's points that had not finished when it was collected (`index label`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl SweepSummary {
    /// A plain-text table, one line per point.
    pub fn render(&self) -> String {
        let mut s = format!("{:<18}", "point");
        for &(_, heading, width, _) in TABLE {
            s.push_str(&format!(" {heading:>width$}"));
        }
        s.push('\n');
        for p in &self.points {
            s.push_str(&format!("{:<18}", p.label));
            for &(column, _, width, decimals) in TABLE {
                let cell = match p.figures.get(column) {
                    Some(Value::Number(n)) if n.is_f64() => {
                        format!("{:.decimals$}", n.as_f64().unwrap_or(f64::NAN))
                    }
                    Some(Value::Number(n)) => n.to_string(),
                    _ => "-".to_owned(),
                };
                s.push_str(&format!(" {cell:>width$}"));
            }
            if p.saturated == Some(true) {
                s.push_str("  saturated");
            }
            s.push('\n');
        }
        for label in &self.skipped {
            s.push_str(&format!(
                "{label:<18} skipped: an earlier point saturated\n"
            ));
        }
        s
    }
}
