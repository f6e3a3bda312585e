//! Scraping a server's metrics while a run lasts: its Prometheus `/metrics` (parsed by
//! `prometheus-parse`) and, for llama-server, `/slots` (the KV cells each busy slot
//! holds). Each scrape is a line of `server_metrics.jsonl`, written and flushed as taken,
//! with the server's own values of the metrics [`NAMES`] maps, and ours. A scrape that
//! fails is counted, warned about once, and the run goes on.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use super::get;
use crate::error::{Error, Result};
use crate::metrics::server::{normalised, Scrape, ServerSummary, NAMES};

/// The file of scrapes in the run directory.
pub const SERVER_METRICS: &str = "server_metrics.jsonl";
/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where to scrape.
#[derive(Debug, Clone)]
pub struct Target {
    pub metrics_url: String,
    pub slots_url: Option<String>,
    pub interval: Duration,
}

/// A running scraper; [`Scraper::stop`] ends it and returns the summary.
pub struct Scraper {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(Vec<Scrape>, usize, Option<String>)>,
}

/// The server's values of the mapped metrics in a Prometheus text exposition (parsed by
/// `openmetrics-parser`), summed over label sets. `None` for text that is not Prometheus's.
pub fn parse_exposition(text: &str) -> Option<BTreeMap<String, f64>> {
    use openmetrics_parser::PrometheusValue;
    let exposition = openmetrics_parser::prometheus::parse_prometheus(text).ok()?;
    let mut out = BTreeMap::new();
    for (family, metrics) in &exposition.families {
        // A counter's family is named without `_total` by some servers (vLLM's
        // prometheus_client) and with it by others (llama-server): the table has the
        // sample's name, which ends in `_total`.
        let total = format!("{family}_total");
        let Some(name) = [family.as_str(), total.as_str()]
            .into_iter()
            .find(|n| NAMES.iter().any(|(_, _, theirs)| theirs == n))
        else {
            continue;
        };
        for sample in metrics.iter_samples() {
            let value = match &sample.value {
                PrometheusValue::Unknown(n) | PrometheusValue::Gauge(n) => n.as_f64(),
                PrometheusValue::Counter(c) => c.value.as_f64(),
                _ => continue,
            };
            *out.entry(name.to_owned()).or_insert(0.0) += value;
        }
    }
    Some(out)
}

/// KV cells in use and available, from llama-server's `/slots`: the prompt and decoded
/// tokens of each busy slot, over every slot's context.
pub fn slots_usage(text: &str) -> Option<(f64, f64)> {
    let slots: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
    let (mut used, mut capacity) = (0.0, 0.0);
    for s in &slots {
        capacity += s.get("n_ctx").and_then(|v| v.as_f64()).unwrap_or(0.0);
        if s.get("is_processing").and_then(|v| v.as_bool()) == Some(true) {
            let prompt = s
                .get("n_prompt_tokens")
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0);
            let decoded = s
                .pointer("/next_token/0/n_decoded")
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0);
            used += prompt + decoded;
        }
    }
    (capacity > 0.0).then_some((used, capacity))
}

impl Scraper {
    /// Starts scraping `target` into `dir/server_metrics.jsonl`.
    pub fn start(target: Target, dir: &Path) -> Result<Scraper> {
        let path = dir.join(SERVER_METRICS);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        // The first scrape is taken before the run starts: a counter's baseline. (A busy
        // llama-server answers /metrics between batches, so one asked for during a short
        // run may only answer after it.)
        let start = Instant::now();
        let mut out = BufWriter::new(file);
        let first = scrape_once(&target, 0.0, &mut out);
        let handle =
            std::thread::spawn(move || scrape_loop(&target, out, first, start, &path, &flag));
        Ok(Scraper { stop, handle })
    }

    /// Takes one last scrape, stops, and summarises. The second value is a warning about
    /// scrapes that failed, if any did.
    pub fn stop(self) -> (ServerSummary, Option<String>) {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.join() {
            Ok((scrapes, failed, warning)) => (ServerSummary::of(&scrapes, failed), warning),
            Err(_) => (
                ServerSummary::default(),
                Some("the server-metrics scraper stopped unexpectedly".into()),
            ),
        }
    }
}

/// One scrape: the mapped metrics (and KV use from `/slots`), written as a line of the
/// file. `None` when the server gave no Prometheus text.
fn scrape_once(target: &Target, t_s: f64, out: &mut BufWriter<File>) -> Option<Scrape> {
    let raw = get(&target.metrics_url, SCRAPE_TIMEOUT)
        .filter(|(status, _)| *status == 200)
        .and_then(|(_, body)| parse_exposition(&body))?;
    let mut values: BTreeMap<String, f64> = raw
        .iter()
        .filter_map(|(k, v)| normalised(k).map(|n| (n.to_owned(), *v)))
        .collect();
    let slots = target
        .slots_url
        .as_deref()
        .and_then(|u| get(u, SCRAPE_TIMEOUT))
        .and_then(|(_, body)| slots_usage(&body));
    if let Some((used, capacity)) = slots {
        values.insert("kv_used_tokens".into(), used);
        values.insert("kv_cache_usage".into(), used / capacity);
    }
    let line = json!({"t_s": t_s, "values": values, "raw": raw});
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    Some(Scrape { t_s, values })
}

fn scrape_loop(
    target: &Target,
    mut out: BufWriter<File>,
    first: Option<Scrape>,
    start: Instant,
    path: &Path,
    stop: &AtomicBool,
) -> (Vec<Scrape>, usize, Option<String>) {
    let mut failed = usize::from(first.is_none());
    let mut scrapes: Vec<Scrape> = first.into_iter().collect();
    loop {
        let next = Instant::now() + target.interval;
        while Instant::now() < next && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        // The last scrape is taken after the stop, so counters cover the whole run.
        let last = stop.load(Ordering::Relaxed);
        match scrape_once(target, start.elapsed().as_secs_f64(), &mut out) {
            Some(s) => scrapes.push(s),
            None => failed += 1,
        }
        if last {
            break;
        }
    }
    let warning = (failed > 0).then(|| {
        format!(
            "{failed} of {} scrapes of the server's metrics at {} got no Prometheus text; {} holds the rest",
            failed + scrapes.len(),
            target.metrics_url,
            path.display()
        )
    });
    (scrapes, failed, warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_the_cells_of_busy_slots() {
        let text = r#"[{"id":0,"n_ctx":1024,"is_processing":true,"n_prompt_tokens":100,
            "next_token":[{"n_decoded":28}]},{"id":1,"n_ctx":1024,"is_processing":false}]"#;
        assert_eq!(slots_usage(text), Some((128.0, 2048.0)));
        assert_eq!(slots_usage("not json"), None);
    }

    /// Each server's exposition as it writes it (llama-server's taken from the one CI
    /// builds; vLLM's, V1 and V0, and SGLang's with their documented names, labels,
    /// `_created` samples and histograms), and what the table must read from it.
    const FIXTURES: [(&str, &str); 4] = [
        (
            "vllm",
            include_str!("../../tests/fixtures/prometheus/vllm.prom"),
        ),
        (
            "vllm",
            include_str!("../../tests/fixtures/prometheus/vllm-v0.prom"),
        ),
        (
            "sglang",
            include_str!("../../tests/fixtures/prometheus/sglang.prom"),
        ),
        (
            "llama-server",
            include_str!("../../tests/fixtures/prometheus/llama-server.prom"),
        ),
    ];

    #[test]
    fn every_name_in_the_table_is_read_from_its_servers_exposition() {
        let parsed: Vec<(&str, BTreeMap<String, f64>)> = FIXTURES
            .iter()
            .map(|(server, text)| (*server, parse_exposition(text).expect(server)))
            .collect();
        // nativebench's own names are read from `serve`'s exposition in serve::metrics.
        for (ours, server, theirs) in NAMES.iter().filter(|n| n.1 != "nativebench") {
            assert!(
                parsed
                    .iter()
                    .any(|(s, values)| s == server && values.contains_key(*theirs)),
                "{server}'s {theirs} (our {ours}) is in no fixture of {server}"
            );
        }
        let vllm = &parsed[0].1;
        assert_eq!(vllm["vllm:kv_cache_usage_perc"], 0.25);
        assert_eq!(vllm["vllm:num_preemptions_total"], 2.0);
        assert_eq!(vllm["vllm:prefix_cache_hits_total"], 300.0);
        assert!(!vllm.contains_key("python_gc_objects_collected_total"));
        assert_eq!(parsed[2].1["sglang:token_usage"], 0.31);
        assert_eq!(parsed[3].1["llamacpp:prompt_tokens_cached_total"], 12.0);
    }

    #[test]
    fn text_that_is_not_prometheus_is_refused() {
        assert!(parse_exposition("<html>oops</html>").is_none());
        let v = parse_exposition(
            "# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 2\n",
        )
        .unwrap();
        assert_eq!(v["llamacpp:requests_processing"], 2.0);
    }
}
