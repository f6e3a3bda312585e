//! `sweep_summary.json`: one row of headline figures per sweep point, and its table.

use serde::{Deserialize, Serialize};

use super::MetricsFile;
use crate::runner::sweep::Sweep;
use crate::runner::RunnerConfig;

/// The file a sweep writes beside its runs.
pub const SWEEP_SUMMARY: &str = "sweep_summary.json";

/// One sweep point's headline figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub label: String,
    pub run_dir: String,
    pub concurrency: usize,
    /// Requests per second offered; `None` is inf.
    pub request_rate: Option<f64>,
    pub completed: usize,
    pub failed: usize,
    pub request_throughput_req_s: f64,
    pub output_throughput_tok_s: f64,
    pub goodput_req_s: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub tpot_p50_ms: Option<f64>,
    pub tpot_p99_ms: Option<f64>,
    pub itl_p50_ms: Option<f64>,
    pub itl_p99_ms: Option<f64>,
    pub e2e_p50_ms: Option<f64>,
    pub e2e_p99_ms: Option<f64>,
}

impl SweepPoint {
    pub fn of(label: &str, run_dir: &str, load: &RunnerConfig, m: &MetricsFile) -> SweepPoint {
        let m = &m.metrics;
        SweepPoint {
            label: label.to_owned(),
            run_dir: run_dir.to_owned(),
            concurrency: load.concurrency,
            request_rate: load.arrival.rate(),
            completed: m.completed,
            failed: m.failed,
            request_throughput_req_s: m.request_throughput_req_s,
            output_throughput_tok_s: m.output_throughput_tok_s,
            goodput_req_s: m.goodput.map(|g| g.goodput_req_s),
            ttft_p50_ms: m.ttft_ms.map(|s| s.p50),
            ttft_p99_ms: m.ttft_ms.map(|s| s.p99),
            tpot_p50_ms: m.tpot_ms.map(|s| s.p50),
            tpot_p99_ms: m.tpot_ms.map(|s| s.p99),
            itl_p50_ms: m.itl_ms.map(|s| s.p50),
            itl_p99_ms: m.itl_ms.map(|s| s.p99),
            e2e_p50_ms: m.e2e_ms.map(|s| s.p50),
            e2e_p99_ms: m.e2e_ms.map(|s| s.p99),
        }
    }
}

/// `sweep_summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    pub sweep: Sweep,
    pub points: Vec<SweepPoint>,
}

impl SweepSummary {
    /// A plain-text table, one line per point.
    pub fn render(&self) -> String {
        let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        let mut s = format!(
            "{:<18} {:>6} {:>8} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            "point",
            "ok",
            "failed",
            "req/s",
            "out tok/s",
            "goodput",
            "ttft p50",
            "ttft p99",
            "tpot p50",
            "e2e p99"
        );
        for p in &self.points {
            s.push_str(&format!(
                "{:<18} {:>6} {:>8} {:>9.2} {:>10.1} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
                p.label,
                p.completed,
                p.failed,
                p.request_throughput_req_s,
                p.output_throughput_tok_s,
                f(p.goodput_req_s),
                f(p.ttft_p50_ms),
                f(p.ttft_p99_ms),
                f(p.tpot_p50_ms),
                f(p.e2e_p99_ms)
            ));
        }
        s
    }
}
