//! Aggregates over a run's records: the contents of `metrics.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::accuracy::AccuracySummary;
use super::category::{self, CategoryStats};
use super::cost::CostSummary;
use super::record::RequestRecord;
use super::resources::ResourceSummary;
use super::stats::{mean_std, Summary};

/// A request sent more than this many ms after its scheduled time counts as late.
pub const SCHEDULE_LATE_MS: f64 = 10.0;

/// Above this coefficient of variation across repetitions, a result is flagged as noisy.
pub const NOISY_CV: f64 = 0.05;

/// A per-repetition figure: its values, mean, sample std and coefficient of variation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub values: Vec<f64>,
    pub mean: f64,
    pub std: f64,
    pub cv: f64,
}

impl Spread {
    fn of(values: Vec<f64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let (mean, std) = mean_std(&values);
        let cv = if mean == 0.0 { 0.0 } else { std / mean.abs() };
        Some(Spread {
            values,
            mean,
            std,
            cv,
        })
    }
}

/// How the figures varied between repetitions of the whole workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepetitionStats {
    pub count: usize,
    pub output_throughput_tok_s: Option<Spread>,
    pub ttft_p50_ms: Option<Spread>,
    pub tpot_p50_ms: Option<Spread>,
}

/// The aggregates of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    pub num_requests: usize,
    pub completed: usize,
    pub failed: usize,
    pub error_rate: f64,
    pub errors_by_kind: BTreeMap<String, usize>,
    /// Completed requests with something odd about them, by kind (`no_done`: a stream
    /// that ended without `data: [DONE]`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub warnings_by_kind: BTreeMap<String, usize>,
    /// Completed requests by where their output token count came from (HTTP: `usage`,
    /// `tokenizer` or `chunks`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output_tokens_sources: BTreeMap<String, usize>,
    /// First start to last end over the measured requests.
    pub duration_s: f64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub request_throughput_req_s: f64,
    pub input_throughput_tok_s: f64,
    pub output_throughput_tok_s: f64,
    pub total_throughput_tok_s: f64,
    /// Wall time per output token over the run (1000 / output throughput).
    pub ms_per_output_token: Option<f64>,
    pub ttft_ms: Option<Summary>,
    pub tpot_ms: Option<Summary>,
    pub itl_ms: Option<Summary>,
    /// Gaps between streamed chunks (HTTP engines; equals ITL when every chunk carries
    /// one token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_itl_ms: Option<Summary>,
    /// The served engine's own gap between tokens, from the server's per-token stamps
    /// (served runs against `nativebench serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_itl_ms: Option<Summary>,
    /// Per gap between tokens, the client's gap less the server's: what HTTP and
    /// serialization added to the inter-token latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_itl_overhead_ms: Option<Summary>,
    /// Per token, the client's mark less the server engine's stamp (less the clock
    /// offset): how long each token took to reach the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_delivery_ms: Option<Summary>,
    pub e2e_ms: Option<Summary>,
    pub template_ms: Option<Summary>,
    pub tokenize_ms: Option<Summary>,
    pub prefill_ms: Option<Summary>,
    /// One decode step: a forward pass plus sampling (in-process engines only).
    pub decode_step_ms: Option<Summary>,
    pub detokenize_ms: Option<Summary>,
    pub prefill_tok_s: Option<Summary>,
    pub decode_tok_s: Option<Summary>,
    pub prefill_device_ms: Option<Summary>,
    pub decode_step_device_ms: Option<Summary>,
    /// The engine's own timings, summarised per name.
    pub engine_timings_ms: BTreeMap<String, Summary>,
    pub repetitions: RepetitionStats,
    pub resources: Option<ResourceSummary>,
    /// Anything a reader must know before trusting the figures.
    pub warnings: Vec<String>,
    /// Reasoning tokens among the output tokens, when the server reported any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_reasoning_tokens: Option<u64>,
    /// Time to the first answer (non-reasoning) token; TTFT where no request reasoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfa_ms: Option<Summary>,
    /// Time to the first reasoning token, over the requests that reasoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfr_ms: Option<Summary>,
    /// Prompt tokens served from the engine's prefix cache, where it reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cached_tokens: Option<u64>,
    /// Cached prompt tokens / prompt tokens, over the completed requests whose engine
    /// reported cached tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_hit_rate: Option<f64>,
    /// How late each request left against the arrival schedule (runs with a request
    /// rate or a trace): send time less scheduled time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_lag_ms: Option<Summary>,
    /// TTFT from the scheduled time rather than the send (`ttft_ms + schedule_lag_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_from_schedule_ms: Option<Summary>,
    /// E2E from the scheduled time (`e2e_ms + schedule_lag_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_from_schedule_ms: Option<Summary>,
    /// Per turn of a multi-turn workload: TTFT, prompt tokens and cached tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_turn: Vec<TurnStats>,
    /// Requests per second meeting the `--goodput` objectives, when some were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<super::goodput::Goodput>,
    /// The server's own metrics over the run, when they were scraped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<super::server::ServerSummary>,
    /// Mean accuracy against the workload's references, when it defines them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<AccuracySummary>,
    /// The run's cost at the prices given, when some were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostSummary>,
    /// The figures per category, when the workload's prompts carry one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_category: BTreeMap<String, CategoryStats>,
    /// Energy over the run (NVML, RAPL), or why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<super::energy::EnergySummary>,
    /// The run against the machine's probed limits (in-process runs whose model's cost
    /// per token is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roofline: Option<super::roofline::Roofline>,
    /// Whether the load outran the server (`metrics/saturation.rs`); absent with too few
    /// requests for the test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation: Option<super::saturation::Saturation>,
    /// The figures over the in-flight plateau (`metrics/steady.rs`); absent where there
    /// was none, or the run was saturated (no plateau holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_state: Option<super::steady::SteadyState>,
}

/// Cached prompt tokens over prompt tokens, counting only the requests whose engine
/// said how many of their prompt tokens were cached: a request that did not say is
/// unknown, not a miss.
fn prefix_hit_rate(ok: &[&RequestRecord]) -> Option<f64> {
    let (cached, prompt) = ok
        .iter()
        .filter_map(|r| Some((u64::from(r.cached_tokens?), u64::from(r.prompt_tokens?))))
        .fold((0u64, 0u64), |(c, p), (a, b)| (c + a, p + b));
    (prompt > 0).then(|| cached as f64 / prompt as f64)
}

fn summary_of(
    records: &[&RequestRecord],
    f: impl Fn(&RequestRecord) -> Option<f64>,
) -> Option<Summary> {
    let v: Vec<f64> = records.iter().filter_map(|r| f(r)).collect();
    Summary::of(&v)
}

/// A per-token figure pooled over the requests that have it.
fn pooled(records: &[&RequestRecord], f: impl Fn(&RequestRecord) -> Vec<f64>) -> Option<Summary> {
    let v: Vec<f64> = records.iter().flat_map(|r| f(r)).collect();
    Summary::of(&v)
}

/// Output throughput, request count, and duration over a set of records.
fn span_s(records: &[&RequestRecord]) -> f64 {
    let first = records
        .iter()
        .map(|r| r.start_ms)
        .fold(f64::INFINITY, f64::min);
    let last = records
        .iter()
        .map(|r| r.start_ms + r.e2e_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    if records.is_empty() {
        0.0
    } else {
        (last - first).max(0.0) / 1e3
    }
}

fn per_s(x: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        x / secs
    } else {
        0.0
    }
}

impl RunMetrics {
    /// Aggregates `records` (the measured requests; warmup is never among them).
    /// `in_process` says whether gaps between tokens are decode steps.
    pub fn compute(
        records: &[RequestRecord],
        in_process: bool,
        resources: Option<ResourceSummary>,
    ) -> RunMetrics {
        let all: Vec<&RequestRecord> = records.iter().collect();
        let ok: Vec<&RequestRecord> = records.iter().filter(|r| r.ok).collect();
        let duration_s = span_s(&all);
        let input: u64 = ok
            .iter()
            .filter_map(|r| r.prompt_tokens)
            .map(u64::from)
            .sum();
        let output: u64 = ok.iter().map(|r| u64::from(r.output_tokens)).sum();
        let mut errors_by_kind = BTreeMap::new();
        for r in records.iter().filter(|r| !r.ok) {
            let kind = r.error_kind.clone().unwrap_or_else(|| "unknown".into());
            *errors_by_kind.entry(kind).or_insert(0) += 1;
        }
        let mut warnings_by_kind = BTreeMap::new();
        let mut output_tokens_sources = BTreeMap::new();
        for r in &ok {
            for w in &r.warnings {
                *warnings_by_kind.entry(w.clone()).or_insert(0) += 1;
            }
            if let Some(src) = &r.output_tokens_source {
                *output_tokens_sources.entry(src.clone()).or_insert(0) += 1;
            }
        }
        let gaps: Vec<f64> = ok.iter().flat_map(|r| r.gaps_ms()).collect();
        let output_tps = per_s(output as f64, duration_s);

        let mut names: Vec<&String> = ok.iter().flat_map(|r| r.engine_timings_ms.keys()).collect();
        names.sort();
        names.dedup();
        let engine_timings_ms = names
            .into_iter()
            .filter_map(|n| {
                Some((
                    n.clone(),
                    summary_of(&ok, |r| r.engine_timings_ms.get(n).copied())?,
                ))
            })
            .collect();
        let device_steps: Vec<f64> = ok
            .iter()
            .flat_map(|r| r.decode_step_device_ms.iter().copied())
            .collect();

        let mut m = RunMetrics {
            num_requests: records.len(),
            completed: ok.len(),
            failed: records.len() - ok.len(),
            error_rate: if records.is_empty() {
                0.0
            } else {
                (records.len() - ok.len()) as f64 / records.len() as f64
            },
            errors_by_kind,
            warnings_by_kind,
            output_tokens_sources,
            duration_s,
            total_input_tokens: input,
            total_output_tokens: output,
            request_throughput_req_s: per_s(ok.len() as f64, duration_s),
            input_throughput_tok_s: per_s(input as f64, duration_s),
            output_throughput_tok_s: output_tps,
            total_throughput_tok_s: per_s((input + output) as f64, duration_s),
            ms_per_output_token: (output_tps > 0.0).then(|| 1e3 / output_tps),
            ttft_ms: summary_of(&ok, |r| r.ttft_ms),
            tpot_ms: summary_of(&ok, |r| r.tpot_ms),
            itl_ms: Summary::of(&gaps),
            chunk_itl_ms: if in_process {
                None
            } else {
                let chunk_gaps: Vec<f64> = ok.iter().flat_map(|r| r.chunk_gaps_ms()).collect();
                Summary::of(&chunk_gaps)
            },
            server_itl_ms: pooled(&ok, |r| r.server_gaps_ms().collect()),
            http_itl_overhead_ms: pooled(&ok, RequestRecord::http_gaps_ms),
            token_delivery_ms: pooled(&ok, |r| r.delivery_ms().collect()),
            e2e_ms: summary_of(&ok, |r| Some(r.e2e_ms)),
            template_ms: summary_of(&ok, |r| r.template_ms),
            tokenize_ms: summary_of(&ok, |r| r.tokenize_ms),
            prefill_ms: summary_of(&ok, |r| r.prefill_ms),
            decode_step_ms: if in_process { Summary::of(&gaps) } else { None },
            detokenize_ms: summary_of(&ok, |r| r.detokenize_ms),
            prefill_tok_s: summary_of(&ok, |r| r.prefill_tok_s),
            decode_tok_s: summary_of(&ok, |r| r.decode_tok_s),
            prefill_device_ms: summary_of(&ok, |r| r.prefill_device_ms),
            decode_step_device_ms: Summary::of(&device_steps),
            engine_timings_ms,
            repetitions: repetition_stats(records),
            resources,
            warnings: Vec::new(),
            total_reasoning_tokens: ok
                .iter()
                .filter_map(|r| r.reasoning_tokens)
                .map(u64::from)
                .reduce(|a, b| a + b),
            ttfa_ms: summary_of(&ok, |r| r.ttfa_ms),
            ttfr_ms: summary_of(&ok, |r| r.ttfr_ms),
            total_cached_tokens: ok
                .iter()
                .filter_map(|r| r.cached_tokens)
                .map(u64::from)
                .reduce(|a, b| a + b),
            prefix_hit_rate: prefix_hit_rate(&ok),
            schedule_lag_ms: summary_of(&all, |r| r.schedule_lag_ms),
            ttft_from_schedule_ms: summary_of(&ok, RequestRecord::ttft_from_schedule_ms),
            e2e_from_schedule_ms: summary_of(&ok, RequestRecord::e2e_from_schedule_ms),
            by_turn: by_turn(&ok),
            goodput: None,
            server: None,
            accuracy: AccuracySummary::of(ok.iter().copied()),
            cost: CostSummary::of(ok.iter().copied()),
            by_category: category::by_category(records),
            energy: None,
            roofline: None,
            saturation: super::saturation::detect(records),
            steady_state: None,
        };
        if !m.saturation.is_some_and(|s| s.saturated) {
            m.steady_state = super::steady::compute(records);
        }
        m.warnings = m.derive_warnings();
        m.warnings.extend(schedule_warning(&all));
        m
    }

    /// Output tokens per completed request.
    pub fn output_tokens_per_request(&self) -> Option<f64> {
        self.per_completed(self.total_output_tokens)
    }

    /// Prompt tokens per completed request.
    pub fn input_tokens_per_request(&self) -> Option<f64> {
        self.per_completed(self.total_input_tokens)
    }

    fn per_completed(&self, total: u64) -> Option<f64> {
        (self.completed > 0).then(|| total as f64 / self.completed as f64)
    }

    fn derive_warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.num_requests == 0 {
            w.push("no request was measured".to_owned());
        } else if self.completed == 0 {
            w.push("every request failed".to_owned());
        } else if self.failed > 0 {
            w.push(format!(
                "{} of {} requests failed ({:.1}%); latency figures cover the completed ones",
                self.failed,
                self.num_requests,
                self.error_rate * 100.0
            ));
        }
        w.extend(self.saturation.and_then(|s| s.warning()));
        if let Some(n) = self.warnings_by_kind.get("no_done") {
            w.push(format!(
                "{n} of {} completed streams ended without `data: [DONE]` (cleanly, after their last chunk); they count as complete",
                self.completed
            ));
        }
        for (source, how) in [
            ("tokenizer", "re-tokenized with the tokenizer given"),
            (
                "chunks",
                "counted one per content chunk (give --tokenizer for exact counts)",
            ),
        ] {
            if let Some(n) = self.output_tokens_sources.get(source) {
                w.push(format!(
                    "the server sent no usage for {n} of {} completed requests: their output tokens were {how}",
                    self.completed
                ));
            }
        }
        let reps = &self.repetitions;
        for (name, spread) in [
            ("output throughput", &reps.output_throughput_tok_s),
            ("TTFT p50", &reps.ttft_p50_ms),
            ("TPOT p50", &reps.tpot_p50_ms),
        ] {
            if let Some(s) = spread
                .as_ref()
                .filter(|s| s.values.len() > 1 && s.cv > NOISY_CV)
            {
                w.push(format!(
                    "noisy: {name} varies {:.1}% (CV) across {} repetitions, above {:.0}%",
                    s.cv * 100.0,
                    s.values.len(),
                    NOISY_CV * 100.0
                ));
            }
        }
        w
    }
}

/// The figures of one turn index over every conversation of a multi-turn run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnStats {
    /// The turn, from 0.
    pub turn: u32,
    /// Completed requests at this turn.
    pub requests: usize,
    pub ttft_ms: Option<Summary>,
    pub prompt_tokens_mean: Option<f64>,
    /// Prompt tokens taken from the prefix cache at this turn, where the engine said.
    pub cached_tokens: Option<u64>,
}

fn by_turn(ok: &[&RequestRecord]) -> Vec<TurnStats> {
    let mut turns: BTreeMap<u32, Vec<&RequestRecord>> = BTreeMap::new();
    for r in ok {
        if let Some(t) = r.turn {
            turns.entry(t).or_default().push(r);
        }
    }
    turns
        .into_iter()
        .map(|(turn, rs)| {
            let prompts: Vec<f64> = rs
                .iter()
                .filter_map(|r| r.prompt_tokens)
                .map(f64::from)
                .collect();
            TurnStats {
                turn,
                requests: rs.len(),
                ttft_ms: summary_of(&rs, |r| r.ttft_ms),
                prompt_tokens_mean: (!prompts.is_empty())
                    .then(|| prompts.iter().sum::<f64>() / prompts.len() as f64),
                cached_tokens: rs
                    .iter()
                    .filter_map(|r| r.cached_tokens)
                    .map(u64::from)
                    .reduce(|a, b| a + b),
            }
        })
        .collect()
}

/// A warning when requests left late against their schedule: the latency of the
/// requests as sent then hides the wait (coordinated omission), which the
/// `*_from_schedule` figures include.
fn schedule_warning(all: &[&RequestRecord]) -> Option<String> {
    let lags: Vec<f64> = all.iter().filter_map(|r| r.schedule_lag_ms).collect();
    let late = lags.iter().filter(|&&l| l > SCHEDULE_LATE_MS).count();
    if late == 0 {
        return None;
    }
    let worst = lags.iter().copied().fold(0.0, f64::max);
    Some(format!(
        "the load lagged its schedule: {late} of {} requests left more than {SCHEDULE_LATE_MS} ms after their scheduled time (worst {worst:.1} ms), held by the concurrency cap, an engine still busy with earlier requests, or a client that could not keep up; ttft_from_schedule_ms and e2e_from_schedule_ms count that wait",
        lags.len()
    ))
}

fn repetition_stats(records: &[RequestRecord]) -> RepetitionStats {
    let mut by_rep: BTreeMap<u32, Vec<&RequestRecord>> = BTreeMap::new();
    for r in records {
        by_rep.entry(r.repetition).or_default().push(r);
    }
    let (mut tps, mut ttft, mut tpot) = (Vec::new(), Vec::new(), Vec::new());
    for rs in by_rep.values() {
        let ok: Vec<&RequestRecord> = rs.iter().copied().filter(|r| r.ok).collect();
        let out: u64 = ok.iter().map(|r| u64::from(r.output_tokens)).sum();
        let d = span_s(rs);
        if d > 0.0 {
            tps.push(out as f64 / d);
        }
        if let Some(s) = summary_of(&ok, |r| r.ttft_ms) {
            ttft.push(s.p50);
        }
        if let Some(s) = summary_of(&ok, |r| r.tpot_ms) {
            tpot.push(s.p50);
        }
    }
    RepetitionStats {
        count: by_rep.len(),
        output_throughput_tok_s: Spread::of(tps),
        ttft_p50_ms: Spread::of(ttft),
        tpot_p50_ms: Spread::of(tpot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64, start: f64, tokens: &[f64], ok: bool) -> RequestRecord {
        let n = tokens.len();
        RequestRecord {
            request_id: id,
            ok,
            error_kind: (!ok).then(|| "injected".into()),
            prompt_tokens: Some(10),
            output_tokens: n as u32,
            start_ms: start,
            ttft_ms: tokens.first().copied(),
            tpot_ms: (n > 1).then(|| (tokens[n - 1] - tokens[0]) / (n - 1) as f64),
            e2e_ms: tokens.last().copied().unwrap_or(0.0) + 1.0,
            token_ms: tokens.to_vec(),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn throughput_and_itl_follow_the_definitions() {
        // Two requests back to back: 0..11 ms and 11..22 ms, 3 tokens each.
        let rs = vec![
            rec(0, 0.0, &[4.0, 7.0, 10.0], true),
            rec(1, 11.0, &[4.0, 6.0, 10.0], true),
        ];
        let m = RunMetrics::compute(&rs, true, None);
        assert!((m.duration_s - 0.022).abs() < 1e-12);
        assert!((m.output_throughput_tok_s - 6.0 / 0.022).abs() < 1e-6);
        assert!((m.request_throughput_req_s - 2.0 / 0.022).abs() < 1e-6);
        let itl = m.itl_ms.unwrap();
        assert_eq!(itl.count, 4);
        assert_eq!((itl.min, itl.max), (2.0, 4.0));
        // TPOT per request: 3 ms both.
        assert_eq!(m.tpot_ms.unwrap().p50, 3.0);
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn failures_count_in_error_rate_not_in_latency() {
        let rs = vec![rec(0, 0.0, &[4.0, 7.0], true), rec(1, 9.0, &[50.0], false)];
        let m = RunMetrics::compute(&rs, true, None);
        assert_eq!((m.completed, m.failed), (1, 1));
        assert_eq!(m.error_rate, 0.5);
        assert_eq!(m.errors_by_kind["injected"], 1);
        assert_eq!(m.ttft_ms.unwrap().max, 4.0);
        assert!(m.warnings[0].contains("1 of 2 requests failed"));
    }

    #[test]
    fn latency_from_the_schedule_adds_the_lag_and_warns_when_late() {
        let mut on_time = rec(0, 0.0, &[4.0, 7.0], true);
        on_time.set_schedule(0.0);
        let mut late = rec(1, 70.0, &[4.0, 7.0], true);
        late.set_schedule(20.0);
        assert_eq!(late.schedule_lag_ms, Some(50.0));
        let m = RunMetrics::compute(&[on_time.clone(), late], true, None);
        assert_eq!(m.schedule_lag_ms.unwrap().max, 50.0);
        assert_eq!(m.ttft_from_schedule_ms.unwrap().max, 54.0);
        assert_eq!(m.e2e_from_schedule_ms.unwrap().max, 58.0);
        assert!(
            m.warnings
                .iter()
                .any(|w| w.starts_with("the load lagged its schedule: 1 of 2")),
            "{:?}",
            m.warnings
        );
        // On time, or without a schedule: no figures from it and no warning.
        let m = RunMetrics::compute(&[on_time], true, None);
        assert_eq!(m.schedule_lag_ms.unwrap().max, 0.0);
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        let m = RunMetrics::compute(&[rec(0, 0.0, &[4.0], true)], true, None);
        assert!(m.schedule_lag_ms.is_none() && m.ttft_from_schedule_ms.is_none());
    }

    #[test]
    fn noisy_repetitions_are_flagged() {
        let mut a = rec(0, 0.0, &[1.0, 2.0], true);
        let mut b = rec(0, 100.0, &[1.0, 20.0], true);
        a.repetition = 0;
        b.repetition = 1;
        let m = RunMetrics::compute(&[a, b], true, None);
        assert_eq!(m.repetitions.count, 2);
        assert!(
            m.warnings.iter().any(|w| w.starts_with("noisy: TPOT p50")),
            "{:?}",
            m.warnings
        );
    }
}
