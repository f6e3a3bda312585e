//! Steady state: the figures of a run over the window where its in-flight count sat at
//! its plateau, so that ramp-up (requests still arriving) and drain (the last ones
//! finishing alone) do not dilute throughput or flatter latency.
//!
//! The plateau level is the time-weighted median of the in-flight count while anything
//! is in flight; the window runs from the first moment the count reaches 90% of that
//! level (rounded) to the last moment it is still there. Throughput counts the output tokens streamed and the
//! requests finished inside the window, over its length; latencies are those of the
//! requests that started inside it.

use serde::{Deserialize, Serialize};

use super::record::RequestRecord;
use super::stats::Summary;

/// A window shorter than this share of the run, or with fewer requests started in it,
/// gives no steady state: there was no plateau to speak of.
const MIN_SHARE: f64 = 0.1;
const MIN_REQUESTS: usize = 5;

/// `metrics.json`'s `steady_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteadyState {
    /// The window, seconds from the run's first request start.
    pub start_s: f64,
    pub end_s: f64,
    /// The plateau's in-flight level and the time-weighted mean inside the window.
    pub plateau_in_flight: usize,
    pub mean_in_flight: f64,
    /// Requests that started inside the window (their latencies below).
    pub requests: usize,
    pub request_throughput_req_s: f64,
    pub output_throughput_tok_s: f64,
    pub ttft_ms: Option<Summary>,
    pub tpot_ms: Option<Summary>,
    pub e2e_ms: Option<Summary>,
}

/// The steady-state window of `records` (every request, failed ones too, counts as in
/// flight), or `None` where the run had no plateau that held.
pub fn compute(records: &[RequestRecord]) -> Option<SteadyState> {
    if records.len() < MIN_REQUESTS {
        return None;
    }
    let mut events: Vec<(f64, i64)> = records
        .iter()
        .flat_map(|r| [(r.start_ms, 1), (r.start_ms + r.e2e_ms, -1)])
        .collect();
    // Ends before starts at the same instant: a request that ends as another begins
    // does not count both.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let t0 = events.first()?.0;
    let t_end = events.last()?.0;
    let span = t_end - t0;
    if span <= 0.0 {
        return None;
    }
    // The step function: (from, to, level).
    let mut steps = Vec::with_capacity(events.len());
    let mut level = 0i64;
    for w in events.windows(2) {
        level += w[0].1;
        if w[1].0 > w[0].0 {
            steps.push((w[0].0, w[1].0, level.max(0) as usize));
        }
    }
    let busy_steps: Vec<(f64, f64, usize)> = steps.iter().copied().filter(|s| s.2 > 0).collect();
    let plateau = weighted_quantile(&busy_steps, 0.5);
    let threshold = ((plateau as f64 * 0.9).round() as usize).max(1);
    let from = steps.iter().find(|s| s.2 >= threshold)?.0;
    let to = steps.iter().rev().find(|s| s.2 >= threshold)?.1;
    if to - from < MIN_SHARE * span {
        return None;
    }
    let inside: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.start_ms >= from && r.start_ms <= to)
        .collect();
    if inside.len() < MIN_REQUESTS {
        return None;
    }
    let secs = (to - from) / 1e3;
    let finished = records
        .iter()
        .filter(|r| r.ok && (from..=to).contains(&(r.start_ms + r.e2e_ms)))
        .count();
    let tokens = records
        .iter()
        .filter(|r| r.ok)
        .flat_map(|r| r.token_ms.iter().map(move |t| r.start_ms + t))
        .filter(|t| (from..=to).contains(t))
        .count();
    let busy: f64 = steps
        .iter()
        .map(|&(a, b, l)| (b.min(to) - a.max(from)).max(0.0) * l as f64)
        .sum();
    let ok: Vec<&&RequestRecord> = inside.iter().filter(|r| r.ok).collect();
    let summary = |f: &dyn Fn(&RequestRecord) -> Option<f64>| {
        Summary::of(&ok.iter().filter_map(|r| f(r)).collect::<Vec<f64>>())
    };
    Some(SteadyState {
        start_s: (from - t0) / 1e3,
        end_s: (to - t0) / 1e3,
        plateau_in_flight: plateau,
        mean_in_flight: busy / (to - from),
        requests: inside.len(),
        request_throughput_req_s: finished as f64 / secs,
        output_throughput_tok_s: tokens as f64 / secs,
        ttft_ms: summary(&|r| r.ttft_ms),
        tpot_ms: summary(&|r| r.tpot_ms),
        e2e_ms: summary(&|r| Some(r.e2e_ms)),
    })
}

/// The level below which a share `q` of the time was spent.
fn weighted_quantile(steps: &[(f64, f64, usize)], q: f64) -> usize {
    let mut by_level: Vec<(usize, f64)> = steps.iter().map(|&(a, b, l)| (l, b - a)).collect();
    by_level.sort_by_key(|s| s.0);
    let total: f64 = by_level.iter().map(|s| s.1).sum();
    let mut acc = 0.0;
    for (level, dt) in &by_level {
        acc += dt;
        if acc >= q * total {
            return *level;
        }
    }
    by_level.last().map_or(0, |s| s.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request starting at `start` for `e2e` ms, one token every ms after `ttft`.
    fn rec(start: f64, ttft: f64, e2e: f64) -> RequestRecord {
        RequestRecord {
            ok: true,
            start_ms: start,
            ttft_ms: Some(ttft),
            e2e_ms: e2e,
            token_ms: (ttft as u32..=e2e as u32).map(f64::from).collect(),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn the_window_leaves_out_ramp_up_and_drain() {
        // Four streams, each a chain of back-to-back 100 ms requests; stream k starts at
        // 50k ms (ramp-up) and runs 10 requests, so the last streams finish later (drain).
        let mut records = Vec::new();
        for k in 0..4 {
            for i in 0..10 {
                records.push(rec(50.0 * k as f64 + 100.0 * i as f64, 10.0, 100.0));
            }
        }
        let s = compute(&records).unwrap();
        assert_eq!(s.plateau_in_flight, 4);
        // All four are in flight from 150 ms (the last stream's start) to 1000 ms (the
        // first stream's end).
        assert!((s.start_s - 0.15).abs() < 1e-9, "{s:?}");
        assert!((s.end_s - 1.0).abs() < 1e-9, "{s:?}");
        assert!((s.mean_in_flight - 4.0).abs() < 1e-9, "{s:?}");
        // Inside the window four requests finish every 100 ms: 40 req/s, and each
        // streams 91 tokens per 100 ms: 3640 tok/s.
        assert!((s.request_throughput_req_s - 40.0).abs() < 2.5, "{s:?}");
        assert!((s.output_throughput_tok_s - 3640.0).abs() < 100.0, "{s:?}");
        assert_eq!(s.ttft_ms.unwrap().p50, 10.0);
    }

    #[test]
    fn no_plateau_no_steady_state() {
        // One request after another, never overlapping, but a long lone tail request.
        let records = vec![rec(0.0, 1.0, 10.0); 3];
        assert_eq!(compute(&records), None);
    }
}
