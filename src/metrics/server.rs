//! A server's own metrics over a run: what its Prometheus `/metrics` (and llama-server's
//! `/slots`) said at each scrape, under one set of names whatever the server, and their
//! summary under `server` in metrics.json. The mapping from vLLM's, SGLang's and
//! llama-server's names is the one table [`NAMES`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stats::mean_std;

/// (our name, server, the server's metric name). Counters end in `_total` on both sides;
/// their change over the run is what counts. Samples of one metric with different labels
/// (vLLM's `model_name`, `engine`) are summed.
pub const NAMES: &[(&str, &str, &str)] = &[
    // KV cache in use, 0 to 1.
    ("kv_cache_usage", "vllm", "vllm:kv_cache_usage_perc"),
    ("kv_cache_usage", "vllm", "vllm:gpu_cache_usage_perc"),
    ("kv_cache_usage", "sglang", "sglang:token_usage"),
    // KV-cache token cells and bytes in use.
    (
        "kv_used_tokens",
        "nativebench",
        "nativebench:kv_cache_used_cells",
    ),
    (
        "kv_used_bytes",
        "nativebench",
        "nativebench:kv_cache_used_bytes",
    ),
    // Requests waiting, and running.
    ("queue_len", "vllm", "vllm:num_requests_waiting"),
    ("queue_len", "sglang", "sglang:num_queue_reqs"),
    ("queue_len", "llama-server", "llamacpp:requests_deferred"),
    (
        "queue_len",
        "nativebench",
        "nativebench:num_requests_waiting",
    ),
    ("running", "vllm", "vllm:num_requests_running"),
    ("running", "sglang", "sglang:num_running_reqs"),
    ("running", "llama-server", "llamacpp:requests_processing"),
    ("running", "nativebench", "nativebench:num_requests_running"),
    // Preemptions.
    ("preemptions_total", "vllm", "vllm:num_preemptions_total"),
    // Prefix cache: hits over queries (tokens), or the server's own rate.
    (
        "prefix_cache_hits_total",
        "vllm",
        "vllm:prefix_cache_hits_total",
    ),
    (
        "prefix_cache_queries_total",
        "vllm",
        "vllm:prefix_cache_queries_total",
    ),
    (
        "prefix_cache_hit_rate",
        "vllm",
        "vllm:gpu_prefix_cache_hit_rate",
    ),
    ("prefix_cache_hit_rate", "sglang", "sglang:cache_hit_rate"),
    (
        "prompt_tokens_cached_total",
        "llama-server",
        "llamacpp:prompt_tokens_cached_total",
    ),
    (
        "prompt_tokens_uncached_total",
        "llama-server",
        "llamacpp:prompt_tokens_total",
    ),
    // Speculative decoding: accepted over drafted tokens, and tokens per draft.
    (
        "spec_draft_tokens_total",
        "vllm",
        "vllm:spec_decode_num_draft_tokens_total",
    ),
    (
        "spec_accepted_tokens_total",
        "vllm",
        "vllm:spec_decode_num_accepted_tokens_total",
    ),
    (
        "spec_drafts_total",
        "vllm",
        "vllm:spec_decode_num_drafts_total",
    ),
    (
        "spec_draft_tokens_total",
        "llama-server",
        "llamacpp:spec_decode_num_draft_tokens_total",
    ),
    (
        "spec_accepted_tokens_total",
        "llama-server",
        "llamacpp:spec_decode_num_accepted_tokens_total",
    ),
    (
        "spec_drafts_total",
        "llama-server",
        "llamacpp:spec_decode_num_drafts_total",
    ),
    (
        "spec_decode_mean_accept_len",
        "sglang",
        "sglang:spec_accept_length",
    ),
];

/// Our name for a server's metric, when the table has it.
pub fn normalised(server_name: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(_, _, theirs)| *theirs == server_name)
        .map(|(ours, _, _)| *ours)
}

/// One scrape: when (seconds from the run's start) and the values under our names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scrape {
    pub t_s: f64,
    pub values: BTreeMap<String, f64>,
}

/// A gauge over the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanMax {
    pub mean: f64,
    pub max: f64,
}

/// `server` in metrics.json: the server's own figures over the run. A figure the server
/// does not expose is absent, never zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSummary {
    pub scrapes: usize,
    /// Scrapes that got no usable answer.
    pub failed_scrapes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache_usage: Option<MeanMax>,
    /// KV cells (tokens) in use, from llama-server's `/slots`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_used_tokens: Option<MeanMax>,
    /// Bytes of KV cache those cells hold (`nativebench serve` over llama.cpp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_used_bytes: Option<MeanMax>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_cache_hit_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preemptions: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_decode_accept_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_decode_mean_accept_len: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_len: Option<MeanMax>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<MeanMax>,
}

impl ServerSummary {
    /// Summarises the scrapes of a run.
    pub fn of(scrapes: &[Scrape], failed: usize) -> ServerSummary {
        let series = |name: &str| -> Vec<f64> {
            scrapes
                .iter()
                .filter_map(|s| s.values.get(name).copied())
                .filter(|v| v.is_finite())
                .collect()
        };
        let gauge = |name: &str| {
            let v = series(name);
            (!v.is_empty()).then(|| MeanMax {
                mean: mean_std(&v).0,
                max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            })
        };
        // A counter's change from the first scrape to the last.
        let delta = |name: &str| {
            let v = series(name);
            match (v.first(), v.last()) {
                (Some(a), Some(b)) if v.len() > 1 => Some((b - a).max(0.0)),
                _ => None,
            }
        };
        let ratio = |num: Option<f64>, den: Option<f64>| match (num, den) {
            (Some(n), Some(d)) if d > 0.0 => Some(n / d),
            _ => None,
        };
        let cached = delta("prompt_tokens_cached_total");
        let prefix_cache_hit_rate = ratio(
            delta("prefix_cache_hits_total"),
            delta("prefix_cache_queries_total"),
        )
        .or_else(|| {
            ratio(
                cached,
                cached
                    .zip(delta("prompt_tokens_uncached_total"))
                    .map(|(c, u)| c + u),
            )
        })
        .or_else(|| gauge("prefix_cache_hit_rate").map(|g| g.mean));
        let accepted = delta("spec_accepted_tokens_total");
        ServerSummary {
            scrapes: scrapes.len(),
            failed_scrapes: failed,
            kv_cache_usage: gauge("kv_cache_usage"),
            kv_used_tokens: gauge("kv_used_tokens"),
            kv_used_bytes: gauge("kv_used_bytes"),
            prefix_cache_hit_rate,
            preemptions: delta("preemptions_total"),
            spec_decode_accept_rate: ratio(accepted, delta("spec_draft_tokens_total")),
            // vLLM's mean acceptance length: the target's own token plus those accepted.
            spec_decode_mean_accept_len: ratio(accepted, delta("spec_drafts_total"))
                .map(|a| 1.0 + a)
                .or_else(|| gauge("spec_decode_mean_accept_len").map(|g| g.mean)),
            queue_len: gauge("queue_len"),
            running: gauge("running"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(t_s: f64, values: &[(&str, f64)]) -> Scrape {
        Scrape {
            t_s,
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn gauges_average_and_counters_count_their_change() {
        let s = ServerSummary::of(
            &[
                scrape(
                    0.0,
                    &[
                        ("kv_cache_usage", 0.2),
                        ("prefix_cache_hits_total", 10.0),
                        ("prefix_cache_queries_total", 100.0),
                        ("spec_accepted_tokens_total", 0.0),
                        ("spec_draft_tokens_total", 0.0),
                        ("spec_drafts_total", 0.0),
                    ],
                ),
                scrape(
                    1.0,
                    &[
                        ("kv_cache_usage", 0.6),
                        ("prefix_cache_hits_total", 40.0),
                        ("prefix_cache_queries_total", 200.0),
                        ("spec_accepted_tokens_total", 30.0),
                        ("spec_draft_tokens_total", 40.0),
                        ("spec_drafts_total", 10.0),
                    ],
                ),
            ],
            1,
        );
        let kv = s.kv_cache_usage.unwrap();
        assert!((kv.mean - 0.4).abs() < 1e-12 && kv.max == 0.6);
        assert_eq!(s.prefix_cache_hit_rate, Some(0.3));
        assert_eq!(s.spec_decode_accept_rate, Some(0.75));
        assert_eq!(s.spec_decode_mean_accept_len, Some(4.0));
        assert_eq!(s.preemptions, None, "not exposed: absent, not zero");
        assert_eq!((s.scrapes, s.failed_scrapes), (2, 1));
    }
}
