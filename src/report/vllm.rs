//! `report --format vllm`: a run as the JSON `vllm bench serve --save-result
//! --save-detailed` writes, with its key names and units (seconds for the per-request
//! lists, milliseconds for the statistics), so tools made for vLLM's results read ours.
//!
//! The statistics follow vLLM's definitions: TPOT per request excludes the first token,
//! ITL is every gap between tokens, `std_*` is the population standard deviation (numpy's
//! default), and percentiles interpolate linearly between closest ranks. Figures vLLM has
//! no key for stay in metrics.json.

use serde_json::{json, Map, Value};

use super::load::LoadedRun;
use crate::metrics::stats::Summary;
use crate::runner::Driver;

/// The percentiles written for each latency (`--metric-percentiles 50,90,95,99`).
const PERCENTILES: [(&str, fn(&Summary) -> f64); 4] = [
    ("p50", |s| s.p50),
    ("p90", |s| s.p90),
    ("p95", |s| s.p95),
    ("p99", |s| s.p99),
];

/// vLLM's std from a sample std over `count` values.
fn population_std(s: &Summary) -> f64 {
    if s.count < 2 {
        return 0.0;
    }
    let n = s.count as f64;
    s.std * ((n - 1.0) / n).sqrt()
}

fn stats(out: &mut Map<String, Value>, name: &str, s: Option<&Summary>) {
    let s = s.copied().unwrap_or_default();
    out.insert(format!("mean_{name}_ms"), json!(s.mean));
    out.insert(format!("median_{name}_ms"), json!(s.p50));
    out.insert(format!("std_{name}_ms"), json!(population_std(&s)));
    for (p, read) in PERCENTILES {
        out.insert(format!("{p}_{name}_ms"), json!(read(&s)));
    }
}

fn ms_to_s(v: f64) -> f64 {
    v / 1e3
}

/// The run as vLLM's result JSON.
pub fn render(run: &LoadedRun) -> Value {
    let f = &run.file;
    let m = &f.metrics;
    let config = run.config.as_ref();
    let at = |p: &str| config.and_then(|c| c.pointer(p));
    let served = f.driver == Some(Driver::Load);
    let rate = at("/runner/arrival/rate")
        .and_then(Value::as_f64)
        .filter(|_| served);
    let concurrency = at("/runner/concurrency").and_then(Value::as_u64);
    let date = chrono::DateTime::parse_from_rfc3339(&f.started_at)
        .map(|d| d.format("%Y%m%d-%H%M%S").to_string())
        .unwrap_or_default();
    let ok: Vec<_> = run.records.iter().filter(|r| r.ok).collect();
    let mut out = Map::new();
    out.insert("date".into(), json!(date));
    out.insert("endpoint_type".into(), json!(f.engine));
    out.insert("backend".into(), json!(f.engine));
    out.insert("label".into(), json!(f.run_id));
    out.insert("model_id".into(), json!(f.model));
    out.insert("tokenizer_id".into(), json!(f.model));
    out.insert("num_prompts".into(), json!(m.num_requests));
    out.insert("request_rate".into(), rate.map_or(json!("inf"), |r| json!(r)));
    out.insert("burstiness".into(), json!(1.0));
    out.insert("max_concurrency".into(), json!(concurrency));
    out.insert("duration".into(), json!(m.duration_s));
    out.insert("completed".into(), json!(m.completed));
    out.insert("failed".into(), json!(m.failed));
    out.insert("total_input_tokens".into(), json!(m.total_input_tokens));
    out.insert("total_output_tokens".into(), json!(m.total_output_tokens));
    out.insert(
        "request_throughput".into(),
        json!(m.request_throughput_req_s),
    );
    out.insert(
        "request_goodput".into(),
        json!(m.goodput.as_ref().map(|g| g.goodput_req_s)),
    );
    out.insert("output_throughput".into(), json!(m.output_throughput_tok_s));
    out.insert(
        "total_token_throughput".into(),
        json!(m.total_throughput_tok_s),
    );
    // The per-request lists of --save-detailed, over the completed requests as vLLM
    // keeps them, in seconds.
    out.insert(
        "input_lens".into(),
        json!(ok.iter().map(|r| r.prompt_tokens.unwrap_or(0)).collect::<Vec<_>>()),
    );
    out.insert(
        "output_lens".into(),
        json!(ok.iter().map(|r| r.output_tokens).collect::<Vec<_>>()),
    );
    out.insert(
        "ttfts".into(),
        json!(ok
            .iter()
            .map(|r| r.ttft_ms.map_or(0.0, ms_to_s))
            .collect::<Vec<_>>()),
    );
    out.insert(
        "itls".into(),
        json!(ok
            .iter()
            .map(|r| r.gaps_ms().map(ms_to_s).collect::<Vec<_>>())
            .collect::<Vec<_>>()),
    );
    out.insert(
        "latencies".into(),
        json!(ok.iter().map(|r| ms_to_s(r.e2e_ms)).collect::<Vec<_>>()),
    );
    out.insert(
        "start_times".into(),
        json!(ok.iter().map(|r| ms_to_s(r.start_ms)).collect::<Vec<_>>()),
    );
    out.insert(
        "generated_texts".into(),
        json!(ok
            .iter()
            .map(|r| r.output_text.clone().unwrap_or_default())
            .collect::<Vec<_>>()),
    );
    out.insert(
        "errors".into(),
        json!(run
            .records
            .iter()
            .filter_map(|r| r.error.clone())
            .collect::<Vec<_>>()),
    );
    stats(&mut out, "ttft", m.ttft_ms.as_ref());
    stats(&mut out, "tpot", m.tpot_ms.as_ref());
    stats(&mut out, "itl", m.itl_ms.as_ref());
    stats(&mut out, "e2el", m.e2e_ms.as_ref());
    Value::Object(out)
}

/// The file name vLLM would give the result: backend, rate, concurrency and model, made
/// unique by the run id.
pub fn file_name(run: &LoadedRun) -> String {
    let safe: String = run
        .file
        .run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}-{safe}.json", run.file.engine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_std_is_numpys() {
        // [1, 2, 3, 4]: sample std 1.2910, numpy's std 1.1180.
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((population_std(&s) - 1.118_033_988_749_895).abs() < 1e-12);
    }
}
