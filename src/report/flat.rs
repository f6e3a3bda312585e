//! The one flat per-run record that every report format serialises: CSV writes all of its
//! fields as columns, Markdown and HTML show named views of the same fields, and the
//! column names are its field names (ARCHITECTURE.md: the same names in JSON, CSV and HTML).
//! The run's identity and load are fields here; its figures are the columns of the
//! metric catalogue (`crate::metrics::catalogue`), so no format lists the metrics itself.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use super::load::{LoadedRun, MetricsSource};
use crate::metrics::catalogue;
use crate::metrics::RunMetrics;
use crate::runner::Driver;

/// One run, flattened: identity, configuration and load, then the catalogue's figures
/// (counts, throughput, derived normalisations, latency statistics, phases, resources).
/// Units are in the names.
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
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Requests offered at once.
    pub concurrency: Option<u64>,
    /// Offered requests per second; empty when unlimited.
    pub request_rate_req_s: Option<f64>,
    pub repetitions: usize,
    pub interrupted: bool,
    /// `metrics_json`, or `samples` when the metrics were recomputed from samples.jsonl.
    pub metrics_source: MetricsSource,
    /// The figures: a column for each column of the catalogue.
    #[serde(flatten, serialize_with = "figures")]
    pub metrics: RunMetrics,
    /// The run's warnings, joined by "; ".
    pub warnings: String,
    pub run_dir: String,
}

/// What built the binary that measured a run, and the machine it ran on (manifest.json).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    pub git_sha: Option<String>,
    pub nativebench_version: Option<String>,
    /// Build features, space-separated.
    pub features: Option<String>,
    pub cpu_model: Option<String>,
}

/// Serialises a run's figures as the catalogue's columns, in its order.
fn figures<S: Serializer>(m: &RunMetrics, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    for c in catalogue::columns() {
        map.serialize_entry(c.name(), &c.cell(m))?;
    }
    map.end()
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

fn text(v: Option<&Value>, ptr: &str) -> Option<String> {
    v.and_then(|v| v.pointer(ptr)).and_then(|x| match x {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Requests offered at once and the offered rate, from run_config.json's `runner`. The
/// rate applies only where the load generator drove the run (`driver` in metrics.json);
/// run directories written before the driver was recorded show no rate.
fn load_shape(run: &LoadedRun) -> (Option<u64>, Option<f64>) {
    let c = run.config.as_ref();
    let at = |p: &str| c.and_then(|v| v.pointer(p));
    let concurrency = at("/runner/concurrency")
        .and_then(Value::as_u64)
        .or_else(|| at("/workload/concurrency").and_then(Value::as_u64));
    let rate = match run.file.driver {
        Some(Driver::Load) => at("/runner/arrival/rate").and_then(Value::as_f64),
        _ => None,
    };
    (concurrency, rate)
}

impl FlatRun {
    /// Flattens a loaded run.
    pub fn of(run: &LoadedRun) -> FlatRun {
        let f = &run.file;
        let man = run.manifest.as_ref();
        let (concurrency, request_rate_req_s) = load_shape(run);
        let features = man
            .and_then(|v| v.pointer("/build/features"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            });
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
            provenance: Provenance {
                git_sha: text(man, "/build/git_sha"),
                nativebench_version: text(man, "/build/nativebench_version"),
                features,
                cpu_model: text(man, "/machine/cpu_model"),
            },
            concurrency,
            request_rate_req_s,
            repetitions: f.metrics.repetitions.count,
            interrupted: f.interrupted,
            metrics_source: run.source,
            metrics: f.metrics.clone(),
            warnings: f.metrics.warnings.join("; "),
            run_dir: run.dir.display().to_string(),
        }
    }

    /// Every field as (column name, value), in declaration order. Derived from the
    /// serialisation itself (serde_json's `Map` keeps insertion order: the crate enables
    /// `preserve_order`), so no format keeps its own column list.
    pub fn cells(&self) -> Vec<(String, Value)> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map.into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// The figure in the catalogue column `name`, when the run has one.
    pub fn num(&self, name: &str) -> Option<f64> {
        catalogue::column(name).and_then(|c| c.value(&self.metrics))
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
            tokens(self.metrics.input_tokens_per_request()),
            tokens(self.metrics.output_tokens_per_request()),
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

/// A run's model by its file name, without the folders.
fn short_model(r: &FlatRun) -> String {
    std::path::Path::new(&r.model)
        .file_name()
        .map_or_else(|| r.model.clone(), |n| n.to_string_lossy().into_owned())
}

/// Names for runs shown side by side: what differs between them (engine, model,
/// workload, device, threads, concurrency, rate), so a legend says what each line is
/// rather than repeating run ids. Runs alike in all of these are told apart by their
/// start time; a single run is named by its engine and model.
pub fn distinct_labels(runs: &[&FlatRun]) -> Vec<String> {
    type Part = fn(&FlatRun) -> String;
    let parts: [Part; 8] = [
        |r| r.engine.clone(),
        short_model,
        |r| r.workload.clone(),
        |r| r.device.clone().unwrap_or_default(),
        |r| r.threads.map_or(String::new(), |t| format!("t={t}")),
        |r| r.concurrency.map_or(String::new(), |c| format!("c={c}")),
        |r| {
            r.request_rate_req_s
                .map_or(String::new(), |q| format!("{q} req/s"))
        },
        |r| {
            let tokens = |v: Option<f64>| v.map_or("?".to_owned(), |t| format!("{t:.0}"));
            format!(
                "{}→{} tok",
                tokens(r.metrics.input_tokens_per_request()),
                tokens(r.metrics.output_tokens_per_request())
            )
        },
    ];
    let differing: Vec<Part> = parts
        .into_iter()
        .filter(|f| runs.iter().any(|r| f(r) != f(runs[0])))
        .collect();
    let mut labels: Vec<String> = runs
        .iter()
        .map(|r| {
            let named: Vec<String> = differing
                .iter()
                .map(|f| f(r))
                .filter(|p| !p.is_empty())
                .collect();
            match (named.is_empty(), runs.len()) {
                (false, _) => named.join(" · "),
                (true, 1) => format!("{} · {}", r.engine, short_model(r)),
                (true, _) => cell_display(&Value::String(r.started_at.clone())),
            }
        })
        .collect();
    // Runs still sharing a name get their start time, and those started in the same
    // second a number.
    let shared: Vec<bool> = labels
        .iter()
        .map(|l| labels.iter().filter(|m| *m == l).count() > 1)
        .collect();
    for ((label, r), shared) in labels.iter_mut().zip(runs).zip(shared) {
        let at = cell_display(&Value::String(r.started_at.clone()));
        if shared && !label.contains(&at) {
            label.push_str(&format!(" · {at}"));
        }
    }
    for i in 0..labels.len() {
        let same: Vec<usize> = (i + 1..labels.len())
            .filter(|&j| labels[j] == labels[i])
            .collect();
        for (k, j) in same.into_iter().enumerate() {
            labels[j] = format!("{} #{}", labels[j], k + 2);
        }
    }
    labels
}

/// The column names, in order.
pub fn columns() -> Vec<String> {
    let dummy = FlatRun::of(&LoadedRun::placeholder());
    dummy.cells().into_iter().map(|(k, _)| k).collect()
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
        // `get`, not indexing: a string from a run directory (a model name a server
        // gave) may put a multi-byte character across byte 19.
        Value::String(t) if t.get(10..11) == Some("T") && t.get(..19).is_some() => {
            t.get(..19).unwrap_or(t).replace('T', " ")
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
    fn runs_are_named_by_what_differs_between_them() {
        let mut a = FlatRun::of(&LoadedRun::placeholder());
        a.engine = "llama-cpp".into();
        a.model = "/models/tiny-q8_0.gguf".into();
        a.workload = "short".into();
        a.concurrency = Some(1);
        a.started_at = "2026-12-04T10:00:00+00:00".into();
        let mut b = a.clone();
        b.concurrency = Some(8);
        let mut c = a.clone();
        c.engine = "candle".into();
        assert_eq!(
            distinct_labels(&[&a, &b, &c]),
            ["llama-cpp · c=1", "llama-cpp · c=8", "candle · c=1"]
        );
        assert_eq!(distinct_labels(&[&a]), ["llama-cpp · tiny-q8_0.gguf"]);
        let d = a.clone();
        assert_eq!(
            distinct_labels(&[&a, &d]),
            ["2026-12-04 10:00:00", "2026-12-04 10:00:00 #2"]
        );
    }

    #[test]
    fn a_string_with_a_multi_byte_character_near_byte_19_is_shown_whole() {
        // "T" at byte 10, and a 3-byte character across byte 19.
        let name = "2024-01-02T03:04:0\u{20ac}5 model";
        let v = Value::String(name.to_owned());
        assert_eq!(cell_display(&v), name);
        let t = Value::String("2024-01-02T03:04:05.123+00:00".into());
        assert_eq!(cell_display(&t), "2024-01-02 03:04:05");
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(1234.56), "1235");
        assert_eq!(human(123.456), "123.5");
        assert_eq!(human(2.0), "2.00");
        assert_eq!(human(0.01234), "0.012");
    }
}
