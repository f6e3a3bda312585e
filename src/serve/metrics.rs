//! `GET /metrics`: the server's own counters in Prometheus text format, named
//! `nativebench:*` so that a scrape (`run --metrics-url`) maps them through
//! `metrics::server::NAMES` like vLLM's, SGLang's and llama-server's. The connections
//! and the engine thread update them; the exposition reads them at once.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The server's counters and gauges.
#[derive(Debug, Default)]
pub struct ServeMetrics {
    /// Requests queued for the engine and not yet taken.
    waiting: AtomicI64,
    /// Requests the engine has taken and not yet finished.
    running: AtomicI64,
    prompt_tokens: AtomicU64,
    generation_tokens: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    /// KV-cache token cells in use and their bytes, once the engine has said (llama.cpp);
    /// not exposed before.
    kv_cells: AtomicU64,
    kv_bytes: AtomicU64,
    kv_known: std::sync::atomic::AtomicBool,
}

impl ServeMetrics {
    /// A request joined the engine's queue.
    pub fn queued(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
    }

    /// A queued request left the queue without running (its client left, or the engine
    /// had stopped).
    pub fn dropped(&self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }

    /// The engine took a queued request.
    pub fn taken(&self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    /// The engine made `n` more output tokens.
    pub fn generated(&self, n: u32) {
        self.generation_tokens
            .fetch_add(u64::from(n), Ordering::Relaxed);
    }

    /// A running request ended: with its prompt's tokens, or failed.
    pub fn finished(&self, prompt_tokens: Option<u32>) {
        self.running.fetch_sub(1, Ordering::Relaxed);
        match prompt_tokens {
            Some(n) => {
                self.prompt_tokens
                    .fetch_add(u64::from(n), Ordering::Relaxed);
                self.succeeded.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The engine's KV cache holds `cells` token cells, `bytes` bytes.
    pub fn kv_in_use(&self, cells: u64, bytes: u64) {
        self.kv_cells.store(cells, Ordering::Relaxed);
        self.kv_bytes.store(bytes, Ordering::Relaxed);
        self.kv_known.store(true, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (version 0.0.4) of every figure.
    pub fn exposition(&self) -> String {
        let gauge = |a: &AtomicI64| a.load(Ordering::Relaxed).max(0);
        let count = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, u64); 6] = [
            (
                "num_requests_waiting",
                "gauge",
                "Requests queued for the engine.",
                gauge(&self.waiting) as u64,
            ),
            (
                "num_requests_running",
                "gauge",
                "Requests the engine is generating.",
                gauge(&self.running) as u64,
            ),
            (
                "prompt_tokens_total",
                "counter",
                "Prompt tokens of finished requests.",
                count(&self.prompt_tokens),
            ),
            (
                "generation_tokens_total",
                "counter",
                "Output tokens generated.",
                count(&self.generation_tokens),
            ),
            (
                "request_success_total",
                "counter",
                "Requests that completed.",
                count(&self.succeeded),
            ),
            (
                "request_failure_total",
                "counter",
                "Requests that failed in the engine.",
                count(&self.failed),
            ),
        ];
        let kv = [
            (
                "kv_cache_used_cells",
                "gauge",
                "KV-cache token cells in use.",
                count(&self.kv_cells),
            ),
            (
                "kv_cache_used_bytes",
                "gauge",
                "Bytes of KV cache in use.",
                count(&self.kv_bytes),
            ),
        ];
        let kv = if self.kv_known.load(Ordering::Relaxed) {
            &kv[..]
        } else {
            &[]
        };
        let mut s = String::new();
        for (name, kind, help, v) in rows.iter().chain(kv) {
            let _ = write!(
                s,
                "# HELP {PREFIX}{name} {help}\n# TYPE {PREFIX}{name} {kind}\n{PREFIX}{name} {v}\n"
            );
        }
        s
    }
}

/// The prefix of every metric `serve` exposes.
pub const PREFIX: &str = "nativebench:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_what_happened_and_parses_as_prometheus_text() {
        let m = ServeMetrics::default();
        m.queued();
        m.queued();
        m.taken();
        m.generated(5);
        m.finished(Some(7));
        m.queued();
        m.dropped();
        let text = m.exposition();
        for line in [
            "nativebench:num_requests_waiting 1",
            "nativebench:num_requests_running 0",
            "nativebench:prompt_tokens_total 7",
            "nativebench:generation_tokens_total 5",
            "nativebench:request_success_total 1",
            "# TYPE nativebench:num_requests_waiting gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        // KV figures appear once an engine gives them (llama.cpp), never as a made-up 0.
        assert!(!text.contains("kv_cache_used"), "{text}");
        m.kv_in_use(300, 300 * 4096);
        // What a scrape reads, and every name the mapping table gives `nativebench`.
        let parsed =
            crate::launch::scrape::parse_exposition(&m.exposition()).expect("Prometheus text");
        for (ours, server, theirs) in crate::metrics::server::NAMES {
            if *server == "nativebench" {
                assert!(
                    parsed.contains_key(*theirs),
                    "{theirs} (our {ours}) not exposed"
                );
            }
        }
        assert_eq!(parsed["nativebench:num_requests_waiting"], 1.0);
        assert_eq!(parsed["nativebench:kv_cache_used_cells"], 300.0);
        assert_eq!(parsed["nativebench:kv_cache_used_bytes"], 1_228_800.0);
    }
}
