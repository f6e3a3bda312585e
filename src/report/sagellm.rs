//! The sageLLM benchmark's metric contract: one workload's figures under exactly its
//! field names (`avg_ttft_ms` ... `end_time`), and its suite's summary and REPORT.md. A
//! figure the engine or server did not give is `null`, never a made-up zero.

use serde::{Deserialize, Serialize};

use super::MetricsFile;
use crate::runner::Driver;

/// One workload's figures in the contract's fields and units (ms, MB, seconds, epoch
/// seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SageMetrics {
    pub avg_ttft_ms: Option<f64>,
    pub p50_ttft_ms: Option<f64>,
    pub p95_ttft_ms: Option<f64>,
    pub p99_ttft_ms: Option<f64>,
    /// Mean gap between tokens (ITL).
    pub avg_tbt_ms: Option<f64>,
    pub avg_tpot_ms: Option<f64>,
    /// Output tokens per second over the run.
    pub avg_throughput_tps: Option<f64>,
    /// The engine process's memory: only where the engine ran in this process (a server's
    /// memory is not the client's).
    pub peak_mem_mb: Option<f64>,
    pub avg_mem_mb: Option<f64>,
    pub error_rate: f64,
    pub total_requests: usize,
    pub successful_requests: usize,
    pub failed_requests: usize,
    /// Peak KV-cache tokens and bytes in use, from the server's metrics.
    pub kv_used_tokens: Option<f64>,
    pub kv_used_bytes: Option<f64>,
    /// Cached prompt tokens / prompt tokens, from the replies' usage or the server.
    pub prefix_hit_rate: Option<f64>,
    /// The server's preemptions (evictions of running requests) over the run.
    pub evict_count: Option<f64>,
    /// No server reports the time it spent evicting.
    pub evict_ms: Option<f64>,
    pub spec_accept_rate: Option<f64>,
    pub total_time_s: f64,
    pub start_time: f64,
    pub end_time: f64,
}

impl SageMetrics {
    /// The contract's figures of a run that lasted from `start` to `end` (Unix seconds).
    pub fn of(f: &MetricsFile, start: f64, end: f64) -> SageMetrics {
        let m = &f.metrics;
        let ttft = m.ttft_ms.as_ref();
        let server = m.server.as_ref();
        let in_process = f.driver == Some(Driver::InProcess);
        let resources = m.resources.as_ref().filter(|_| in_process);
        SageMetrics {
            avg_ttft_ms: ttft.map(|s| s.mean),
            p50_ttft_ms: ttft.map(|s| s.p50),
            p95_ttft_ms: ttft.map(|s| s.p95),
            p99_ttft_ms: ttft.map(|s| s.p99),
            avg_tbt_ms: m.itl_ms.as_ref().map(|s| s.mean),
            avg_tpot_ms: m.tpot_ms.as_ref().map(|s| s.mean),
            avg_throughput_tps: (m.completed > 0).then_some(m.output_throughput_tok_s),
            peak_mem_mb: resources.map(|r| r.rss_peak_mib),
            avg_mem_mb: resources.map(|r| r.rss_avg_mib),
            error_rate: m.error_rate,
            total_requests: m.num_requests,
            successful_requests: m.completed,
            failed_requests: m.failed,
            kv_used_tokens: server.and_then(|s| s.kv_used_tokens).map(|g| g.max),
            kv_used_bytes: server.and_then(|s| s.kv_used_bytes).map(|g| g.max),
            prefix_hit_rate: m
                .prefix_hit_rate
                .or_else(|| server.and_then(|s| s.prefix_cache_hit_rate)),
            evict_count: server.and_then(|s| s.preemptions),
            evict_ms: None,
            spec_accept_rate: server.and_then(|s| s.spec_decode_accept_rate),
            total_time_s: (end - start).max(0.0),
            start_time: start,
            end_time: end,
        }
    }
}

/// One workload of a suite: its name (`short_input`), file and figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteEntry {
    pub workload: String,
    /// What it asked for: prompt and output tokens, requests, and requests in flight.
    pub input_tokens: usize,
    pub output_tokens: usize,
    pub requests: usize,
    pub concurrency: usize,
    /// The nativebench run directory it was measured in.
    pub run_dir: String,
    pub metrics: SageMetrics,
}

/// `benchmark_summary.json`: every workload's figures, and the totals over them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteSummary {
    pub suite: String,
    pub engine: String,
    pub model: String,
    pub workloads: Vec<SuiteEntry>,
    pub total_requests: usize,
    pub successful_requests: usize,
    pub failed_requests: usize,
    pub error_rate: f64,
    /// The mean of the workloads' figures, over those that have one.
    pub avg_ttft_ms: Option<f64>,
    pub avg_tpot_ms: Option<f64>,
    pub avg_throughput_tps: Option<f64>,
    pub total_time_s: f64,
    pub start_time: f64,
    pub end_time: f64,
}

fn mean_of(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = v.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

impl SuiteSummary {
    /// The summary of a suite's workloads, in the order they ran.
    pub fn of(suite: &str, engine: &str, model: &str, workloads: Vec<SuiteEntry>) -> Self {
        let total: usize = workloads.iter().map(|w| w.metrics.total_requests).sum();
        let ok: usize = workloads
            .iter()
            .map(|w| w.metrics.successful_requests)
            .sum();
        let start = workloads
            .iter()
            .map(|w| w.metrics.start_time)
            .fold(f64::INFINITY, f64::min);
        let end = workloads
            .iter()
            .map(|w| w.metrics.end_time)
            .fold(f64::NEG_INFINITY, f64::max);
        let (start, end) = if start <= end {
            (start, end)
        } else {
            (0.0, 0.0)
        };
        SuiteSummary {
            suite: suite.to_owned(),
            engine: engine.to_owned(),
            model: model.to_owned(),
            total_requests: total,
            successful_requests: ok,
            failed_requests: total - ok,
            error_rate: if total == 0 {
                0.0
            } else {
                (total - ok) as f64 / total as f64
            },
            avg_ttft_ms: mean_of(workloads.iter().map(|w| w.metrics.avg_ttft_ms)),
            avg_tpot_ms: mean_of(workloads.iter().map(|w| w.metrics.avg_tpot_ms)),
            avg_throughput_tps: mean_of(workloads.iter().map(|w| w.metrics.avg_throughput_tps)),
            total_time_s: end - start,
            start_time: start,
            end_time: end,
            workloads,
        }
    }

    /// REPORT.md: what ran, and one row per workload with the contract's figures; a
    /// figure the engine did not give reads `n/a`.
    pub fn markdown(&self) -> String {
        let f =
            |v: Option<f64>, digits: usize| v.map_or("n/a".to_owned(), |v| format!("{v:.digits$}"));
        let mut s = format!(
            "# {} benchmark report\n\nEngine: `{}`. Model: `{}`. {} requests, {} failed (error rate {:.3}), {:.2} s in all.\n\n",
            self.suite, self.engine, self.model, self.total_requests, self.failed_requests, self.error_rate, self.total_time_s
        );
        s.push_str("| workload | input / output tokens | requests | concurrency | avg TTFT (ms) | p50 TTFT (ms) | p95 TTFT (ms) | p99 TTFT (ms) | avg TBT (ms) | avg TPOT (ms) | throughput (tok/s) | peak mem (MB) | error rate | KV tokens | KV bytes | prefix hit rate | evictions | spec accept rate | time (s) |\n");
        s.push_str(&format!("|{}\n", " --- |".repeat(19)));
        for w in &self.workloads {
            let m = &w.metrics;
            s.push_str(&format!(
                "| {} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {} | {} | {} | {} | {} | {:.2} |\n",
                w.workload,
                w.input_tokens,
                w.output_tokens,
                w.requests,
                w.concurrency,
                f(m.avg_ttft_ms, 2),
                f(m.p50_ttft_ms, 2),
                f(m.p95_ttft_ms, 2),
                f(m.p99_ttft_ms, 2),
                f(m.avg_tbt_ms, 2),
                f(m.avg_tpot_ms, 2),
                f(m.avg_throughput_tps, 1),
                f(m.peak_mem_mb, 1),
                m.error_rate,
                f(m.kv_used_tokens, 0),
                f(m.kv_used_bytes, 0),
                f(m.prefix_hit_rate, 3),
                f(m.evict_count, 0),
                f(m.spec_accept_rate, 3),
                m.total_time_s,
            ));
        }
        s.push_str("\n`n/a`: the engine or server does not report the figure (`null` in the JSON files), never a zero it did not measure.\n\nEach workload's figures are in `<workload>_metrics.json`, the totals in `benchmark_summary.json`, and every request in the run directory named beside it.\n");
        s
    }
}
