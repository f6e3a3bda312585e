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
use crate::metrics::RequestRecord;
use crate::runner::Driver;

/// A statistic read from a summary.
type Stat = fn(&Summary) -> f64;

/// The percentiles written for each latency (`--metric-percentiles 50,90,95,99`).
const PERCENTILES: [(&str, Stat); 4] = [
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
    out.insert(
        "request_rate".into(),
        rate.map_or(json!("inf"), |r| json!(r)),
    );
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
    // The per-request lists of --save-detailed, over every request as vLLM keeps them
    // (a failed one with zeros and its error), times in seconds.
    let all = &run.records;
    let list = |f: fn(&RequestRecord) -> Value| Value::Array(all.iter().map(f).collect());
    out.insert(
        "input_lens".into(),
        list(|r| json!(r.prompt_tokens.unwrap_or(0))),
    );
    out.insert(
        "output_lens".into(),
        list(|r| json!(if r.ok { r.output_tokens } else { 0 })),
    );
    out.insert(
        "ttfts".into(),
        list(|r| json!(r.ttft_ms.map_or(0.0, ms_to_s))),
    );
    out.insert(
        "itls".into(),
        list(|r| json!(r.gaps_ms().map(ms_to_s).collect::<Vec<_>>())),
    );
    out.insert("latencies".into(), list(|r| json!(ms_to_s(r.e2e_ms))));
    out.insert("start_times".into(), list(|r| json!(ms_to_s(r.start_ms))));
    out.insert(
        "generated_texts".into(),
        list(|r| json!(r.output_text.clone().unwrap_or_default())),
    );
    out.insert(
        "errors".into(),
        list(|r| json!(r.error.clone().unwrap_or_default())),
    );
    let (peak_tokens, peak_requests) = peaks(&ok);
    out.insert("max_output_tokens_per_s".into(), json!(peak_tokens));
    out.insert("max_concurrent_requests".into(), json!(peak_requests));
    // vLLM's inverse real-time factor applies to speech models only.
    out.insert("rtfx".into(), json!(0.0));
    stats(&mut out, "ttft", m.ttft_ms.as_ref());
    stats(&mut out, "tpot", m.tpot_ms.as_ref());
    stats(&mut out, "itl", m.itl_ms.as_ref());
    stats(&mut out, "e2el", m.e2e_ms.as_ref());
    Value::Object(out)
}

/// vLLM's peaks over one-second buckets from the first request's start: the most output
/// tokens in one second, and the most requests in flight during one second.
fn peaks(ok: &[&RequestRecord]) -> (f64, u64) {
    let Some(first) = ok.iter().map(|r| r.start_ms).reduce(f64::min) else {
        return (0.0, 0);
    };
    let last = ok
        .iter()
        .map(|r| r.start_ms + r.e2e_ms)
        .fold(first, f64::max);
    let buckets = ((last - first) / 1e3).ceil() as usize + 1;
    let (mut tokens, mut active) = (vec![0u64; buckets], vec![0u64; buckets]);
    let bucket = |t_ms: f64| (((t_ms - first) / 1e3).max(0.0) as usize).min(buckets - 1);
    for r in ok {
        for t in &r.token_ms {
            tokens[bucket(r.start_ms + t)] += 1;
        }
        for b in &mut active[bucket(r.start_ms)..=bucket(r.start_ms + r.e2e_ms)] {
            *b += 1;
        }
    }
    let max = |v: &[u64]| v.iter().copied().max().unwrap_or(0);
    (max(&tokens) as f64, max(&active))
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
    fn peaks_count_tokens_and_requests_per_second() {
        let r = |start_ms: f64, token_ms: Vec<f64>| RequestRecord {
            ok: true,
            start_ms,
            e2e_ms: token_ms.last().copied().unwrap_or(0.0),
            token_ms,
            ..RequestRecord::default()
        };
        // Two requests overlap in the first second (5 tokens in it); one runs alone later.
        let a = r(0.0, vec![100.0, 200.0, 300.0]);
        let b = r(500.0, vec![100.0, 200.0, 1200.0]);
        let c = r(2500.0, vec![100.0]);
        assert_eq!(peaks(&[&a, &b, &c]), (5.0, 2));
        assert_eq!(peaks(&[]), (0.0, 0));
    }

    #[test]
    fn population_std_is_numpys() {
        // [1, 2, 3, 4]: sample std 1.2910, numpy's std 1.1180.
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((population_std(&s) - 1.118_033_988_749_895).abs() < 1e-12);
    }
}
