//! The one flat per-run record that every report format serialises: CSV writes all of its
//! fields as columns, Markdown and HTML show named views of the same fields, and the
//! column names are its field names (ARCHITECTURE.md: the same names in JSON, CSV and HTML).

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::load::{LoadedRun, MetricsSource};
use crate::metrics::Summary;

/// One run, flattened: identity, configuration, counts, throughput, derived
/// normalisations, latency statistics and phases. Units are in the names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlatRun {
    pub run_id: String,
    pub started_at: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub model: String,
    pub workload: String,
    pub device: Option<String>,
    pub threads: Option<u64>,
    pub git_sha: Option<String>,
    pub nativebench_version: Option<String>,
    /// Build features, space-separated.
    pub features: Option<String>,
    pub cpu_model: Option<String>,
    /// Requests offered at once.
    pub concurrency: Option<u64>,
    /// Offered requests per second; empty when unlimited.
    pub request_rate_req_s: Option<f64>,
    pub repetitions: usize,
    pub interrupted: bool,
    /// `metrics_json`, or `samples` when the metrics were recomputed from samples.jsonl.
    pub metrics_source: MetricsSource,
    pub num_requests: usize,
    pub completed: usize,
    pub failed: usize,
    pub error_rate: f64,
    pub duration_s: f64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub request_throughput_req_s: f64,
    pub input_throughput_tok_s: f64,
    pub output_throughput_tok_s: f64,
    pub total_throughput_tok_s: f64,
    pub goodput_req_s: Option<f64>,
    pub ms_per_output_token: Option<f64>,
    pub output_tokens_per_request: Option<f64>,
    pub input_tokens_per_request: Option<f64>,
    pub prefill_tok_s_p50: Option<f64>,
    pub decode_tok_s_p50: Option<f64>,
    pub ttft_mean_ms: Option<f64>,
    pub ttft_std_ms: Option<f64>,
    pub ttft_min_ms: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p90_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub ttft_max_ms: Option<f64>,
    pub tpot_mean_ms: Option<f64>,
    pub tpot_std_ms: Option<f64>,
    pub tpot_min_ms: Option<f64>,
    pub tpot_p50_ms: Option<f64>,
    pub tpot_p90_ms: Option<f64>,
    pub tpot_p99_ms: Option<f64>,
    pub tpot_max_ms: Option<f64>,
    pub itl_mean_ms: Option<f64>,
    pub itl_std_ms: Option<f64>,
    pub itl_min_ms: Option<f64>,
    pub itl_p50_ms: Option<f64>,
    pub itl_p90_ms: Option<f64>,
    pub itl_p99_ms: Option<f64>,
    pub itl_max_ms: Option<f64>,
    pub e2e_mean_ms: Option<f64>,
    pub e2e_std_ms: Option<f64>,
    pub e2e_min_ms: Option<f64>,
    pub e2e_p50_ms: Option<f64>,
    pub e2e_p90_ms: Option<f64>,
    pub e2e_p99_ms: Option<f64>,
    pub e2e_max_ms: Option<f64>,
    pub template_mean_ms: Option<f64>,
    pub tokenize_mean_ms: Option<f64>,
    pub prefill_mean_ms: Option<f64>,
    pub prefill_p50_ms: Option<f64>,
    pub decode_step_mean_ms: Option<f64>,
    pub decode_step_p50_ms: Option<f64>,
    pub detokenize_mean_ms: Option<f64>,
    /// Coefficients of variation across repetitions (empty with one repetition).
    pub rep_output_throughput_cv: Option<f64>,
    pub rep_ttft_p50_cv: Option<f64>,
    pub rep_tpot_p50_cv: Option<f64>,
    pub rss_peak_mib: Option<f64>,
    pub cpu_avg_percent: Option<f64>,
    /// NVML figures, empty where no NVIDIA driver was present.
    pub gpu_util_avg_percent: Option<f64>,
    pub gpu_mem_used_peak_mib: Option<f64>,
    pub gpu_power_avg_w: Option<f64>,
    /// The run's warnings, joined by "; ".
    pub warnings: String,
    pub run_dir: String,
}

/// The Markdown and HTML "latest runs" table.
pub const HEADLINE: &[&str] = &[
    "run_id",
    "engine",
    "model",
    "workload",
    "device",
    "threads",
    "concurrency",
    "completed",
    "failed",
    "output_throughput_tok_s",
    "request_throughput_req_s",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "tpot_p50_ms",
    "itl_p99_ms",
    "e2e_p50_ms",
    "git_sha",
];

/// Derived normalisations: tokens/s, ms/token and tokens per request.
pub const DERIVED: &[&str] = &[
    "run_id",
    "engine",
    "output_throughput_tok_s",
    "total_throughput_tok_s",
    "ms_per_output_token",
    "output_tokens_per_request",
    "input_tokens_per_request",
    "prefill_tok_s_p50",
    "decode_tok_s_p50",
    "decode_step_mean_ms",
];

/// The full history, newest first.
pub const HISTORY: &[&str] = &[
    "started_at",
    "engine",
    "model",
    "workload",
    "device",
    "threads",
    "concurrency",
    "git_sha",
    "output_throughput_tok_s",
    "ttft_p50_ms",
    "tpot_p50_ms",
    "e2e_p50_ms",
    "failed",
    "run_id",
];

fn stat(s: &Option<Summary>, f: fn(&Summary) -> f64) -> Option<f64> {
    s.as_ref().map(f)
}

fn text(v: Option<&Value>, ptr: &str) -> Option<String> {
    v.and_then(|v| v.pointer(ptr)).and_then(|x| match x {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Requests offered at once and the offered rate, from run_config.json. The load
/// generator's settings apply to the HTTP engine, the runner's to in-process engines.
fn load_shape(run: &LoadedRun) -> (Option<u64>, Option<f64>) {
    let c = run.config.as_ref();
    let at = |p: &str| c.and_then(|v| v.pointer(p));
    let order = if run.file.engine == "http" {
        ["/load/concurrency", "/runner/concurrency"]
    } else {
        ["/runner/concurrency", "/load/concurrency"]
    };
    let concurrency = order
        .iter()
        .find_map(|p| at(p).and_then(Value::as_u64))
        .or_else(|| at("/workload/concurrency").and_then(Value::as_u64));
    let rate = if run.file.engine == "http" {
        at("/load/arrival/rate").and_then(Value::as_f64)
    } else {
        None
    };
    (concurrency, rate)
}

impl FlatRun {
    /// Flattens a loaded run.
    pub fn of(run: &LoadedRun) -> FlatRun {
        let f = &run.file;
        let m = &f.metrics;
        let man = run.manifest.as_ref();
        let (concurrency, request_rate_req_s) = load_shape(run);
        let per_request = |total: u64| (m.completed > 0).then(|| total as f64 / m.completed as f64);
        let features = man
            .and_then(|v| v.pointer("/build/features"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            });
        let reps = &m.repetitions;
        let rep_cv = |s: &Option<crate::metrics::aggregate::Spread>| {
            s.as_ref().filter(|s| s.values.len() > 1).map(|s| s.cv)
        };
        FlatRun {
            run_id: f.run_id.clone(),
            started_at: f.started_at.clone(),
            engine: f.engine.clone(),
            engine_version: text(man, "/engine/version"),
            model: f.model.clone(),
            workload: f.workload.clone(),
            device: text(man, "/engine/device"),
            threads: man
                .and_then(|v| v.pointer("/engine/threads"))
                .and_then(Value::as_u64),
            git_sha: text(man, "/build/git_sha"),
            nativebench_version: text(man, "/build/nativebench_version"),
            features,
            cpu_model: text(man, "/machine/cpu_model"),
            concurrency,
            request_rate_req_s,
            repetitions: reps.count,
            interrupted: f.interrupted,
            metrics_source: run.source,
            num_requests: m.num_requests,
            completed: m.completed,
            failed: m.failed,
            error_rate: m.error_rate,
            duration_s: m.duration_s,
            total_input_tokens: m.total_input_tokens,
            total_output_tokens: m.total_output_tokens,
            request_throughput_req_s: m.request_throughput_req_s,
            input_throughput_tok_s: m.input_throughput_tok_s,
            output_throughput_tok_s: m.output_throughput_tok_s,
            total_throughput_tok_s: m.total_throughput_tok_s,
            goodput_req_s: m.goodput.as_ref().map(|g| g.goodput_req_s),
            ms_per_output_token: m.ms_per_output_token,
            output_tokens_per_request: per_request(m.total_output_tokens),
            input_tokens_per_request: per_request(m.total_input_tokens),
            prefill_tok_s_p50: stat(&m.prefill_tok_s, |s| s.p50),
            decode_tok_s_p50: stat(&m.decode_tok_s, |s| s.p50),
            ttft_mean_ms: stat(&m.ttft_ms, |s| s.mean),
            ttft_std_ms: stat(&m.ttft_ms, |s| s.std),
            ttft_min_ms: stat(&m.ttft_ms, |s| s.min),
            ttft_p50_ms: stat(&m.ttft_ms, |s| s.p50),
            ttft_p90_ms: stat(&m.ttft_ms, |s| s.p90),
            ttft_p99_ms: stat(&m.ttft_ms, |s| s.p99),
            ttft_max_ms: stat(&m.ttft_ms, |s| s.max),
            tpot_mean_ms: stat(&m.tpot_ms, |s| s.mean),
            tpot_std_ms: stat(&m.tpot_ms, |s| s.std),
            tpot_min_ms: stat(&m.tpot_ms, |s| s.min),
            tpot_p50_ms: stat(&m.tpot_ms, |s| s.p50),
            tpot_p90_ms: stat(&m.tpot_ms, |s| s.p90),
            tpot_p99_ms: stat(&m.tpot_ms, |s| s.p99),
            tpot_max_ms: stat(&m.tpot_ms, |s| s.max),
            itl_mean_ms: stat(&m.itl_ms, |s| s.mean),
            itl_std_ms: stat(&m.itl_ms, |s| s.std),
            itl_min_ms: stat(&m.itl_ms, |s| s.min),
            itl_p50_ms: stat(&m.itl_ms, |s| s.p50),
            itl_p90_ms: stat(&m.itl_ms, |s| s.p90),
            itl_p99_ms: stat(&m.itl_ms, |s| s.p99),
            itl_max_ms: stat(&m.itl_ms, |s| s.max),
            e2e_mean_ms: stat(&m.e2e_ms, |s| s.mean),
            e2e_std_ms: stat(&m.e2e_ms, |s| s.std),
            e2e_min_ms: stat(&m.e2e_ms, |s| s.min),
            e2e_p50_ms: stat(&m.e2e_ms, |s| s.p50),
            e2e_p90_ms: stat(&m.e2e_ms, |s| s.p90),
            e2e_p99_ms: stat(&m.e2e_ms, |s| s.p99),
            e2e_max_ms: stat(&m.e2e_ms, |s| s.max),
            template_mean_ms: stat(&m.template_ms, |s| s.mean),
            tokenize_mean_ms: stat(&m.tokenize_ms, |s| s.mean),
            prefill_mean_ms: stat(&m.prefill_ms, |s| s.mean),
            prefill_p50_ms: stat(&m.prefill_ms, |s| s.p50),
            decode_step_mean_ms: stat(&m.decode_step_ms, |s| s.mean),
            decode_step_p50_ms: stat(&m.decode_step_ms, |s| s.p50),
            detokenize_mean_ms: stat(&m.detokenize_ms, |s| s.mean),
            rep_output_throughput_cv: rep_cv(&reps.output_throughput_tok_s),
            rep_ttft_p50_cv: rep_cv(&reps.ttft_p50_ms),
            rep_tpot_p50_cv: rep_cv(&reps.tpot_p50_ms),
            rss_peak_mib: m.resources.map(|r| r.rss_peak_mib),
            cpu_avg_percent: m.resources.and_then(|r| r.cpu_avg_percent),
            gpu_util_avg_percent: m.resources.and_then(|r| r.gpu.gpu_util_avg_percent),
            gpu_mem_used_peak_mib: m.resources.and_then(|r| r.gpu.gpu_mem_used_peak_mib),
            gpu_power_avg_w: m.resources.and_then(|r| r.gpu.gpu_power_avg_w),
            warnings: m.warnings.join("; "),
            run_dir: run.dir.display().to_string(),
        }
    }

    /// Every field as (column name, value), in declaration order. Derived from the
    /// serialisation itself, so no format keeps its own column list.
    pub fn cells(&self) -> Vec<(String, Value)> {
        serde_json::to_string(self)
            .ok()
            .and_then(|s| serde_json::from_str::<Ordered>(&s).ok())
            .map(|o| o.0)
            .unwrap_or_default()
    }

    /// The values of the named columns (null for a name that is not a column).
    pub fn pick(&self, names: &[&str]) -> Vec<Value> {
        let cells = self.cells();
        names
            .iter()
            .map(|n| {
                cells
                    .iter()
                    .find(|(k, _)| k == n)
                    .map_or(Value::Null, |(_, v)| v.clone())
            })
            .collect()
    }

    /// The run's name in legends and bar labels: its run_id, as the tables show it.
    pub fn run_label(&self) -> String {
        self.run_id.clone()
    }

    /// A label for a series of runs: engine, model and the load.
    pub fn label(&self) -> String {
        let mut s = format!("{} · {}", self.engine, self.model);
        if let Some(c) = self.concurrency.filter(|&c| c > 1) {
            s.push_str(&format!(" · c={c}"));
        }
        if let Some(r) = self.request_rate_req_s {
            s.push_str(&format!(" · {r} req/s"));
        }
        s
    }

    /// What makes two runs measure the same thing: engine, model, workload and its
    /// request shape (tokens per request), device and threads. Load is not part of it.
    pub fn setup_key(&self) -> String {
        let tokens = |v: Option<f64>| v.map_or(String::new(), |t| format!("{t:.0}"));
        format!(
            "{}|{}|{}|{}/{}|{}|{}",
            self.engine,
            self.model,
            self.workload,
            tokens(self.input_tokens_per_request),
            tokens(self.output_tokens_per_request),
            self.device.as_deref().unwrap_or(""),
            self.threads.map_or(String::new(), |t| t.to_string()),
        )
    }

    /// What identifies a series of comparable runs over time: the setup at one load.
    pub fn series_key(&self) -> String {
        format!(
            "{}|{:?}|{:?}",
            self.setup_key(),
            self.concurrency,
            self.request_rate_req_s
        )
    }
}

/// The column names, in order.
pub fn columns() -> Vec<String> {
    let dummy = FlatRun::of(&LoadedRun::placeholder());
    dummy.cells().into_iter().map(|(k, _)| k).collect()
}

/// A JSON object's fields in document order (serde_json's `Map` sorts them).
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A cell as text: empty for null, numbers as JSON writes them (shortest round-trip).
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number for people: precision that suits its size. Non-numbers as text.
pub fn cell_display(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => n.as_f64().map_or_else(String::new, human),
        Value::Null => "–".into(),
        // RFC 3339 timestamps to the second, for people.
        Value::String(t) if t.len() >= 19 && t.get(10..11) == Some("T") => {
            t[..19].replace('T', " ")
        }
        other => cell_text(other),
    }
}

/// A float with precision that suits its size.
pub fn human(v: f64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_names_a_real_column() {
        let cols = columns();
        assert!(cols.len() > 60, "{cols:?}");
        assert_eq!(cols[0], "run_id");
        assert_eq!(cols.last().map(String::as_str), Some("run_dir"));
        for name in HEADLINE.iter().chain(DERIVED).chain(HISTORY) {
            assert!(cols.iter().any(|c| c == name), "{name} is not a column");
        }
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(1234.56), "1235");
        assert_eq!(human(123.456), "123.5");
        assert_eq!(human(2.0), "2.00");
        assert_eq!(human(0.01234), "0.012");
    }
}
