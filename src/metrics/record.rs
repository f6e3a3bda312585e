//! Per-request records: the recorder an engine marks, and the flat record every format
//! serialises (one line of `samples.jsonl`). Every metric is derived from the marks'
//! timestamps, with the definitions of ARCHITECTURE.md.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engine::{DevicePhase, EngineError, FinishReason, Mark, Outcome, Recorder, Request};

/// How much of a prompt a record keeps, in characters.
const PROMPT_PREVIEW_CHARS: usize = 200;
/// The most token times a record reserves room for before they arrive.
const RESERVED_TOKENS: usize = 4096;

/// One request, measured. Field names carry their unit; `None` means the phase was not
/// observable (for example prefill over HTTP) or did not happen (a request that failed
/// before its first token).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RequestRecord {
    pub request_id: u64,
    pub repetition: u32,
    pub ok: bool,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub finish_reason: Option<FinishReason>,
    pub prompt_tokens: Option<u32>,
    pub output_tokens: u32,
    pub max_tokens: u32,
    /// The request's start, relative to the start of the measured phase of the run.
    pub start_ms: f64,
    /// Until the request was written to the wire (HTTP engines).
    pub send_ms: Option<f64>,
    pub template_ms: Option<f64>,
    pub tokenize_ms: Option<f64>,
    pub prefill_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    /// `tn - t1`: all decode steps together.
    pub decode_ms: Option<f64>,
    pub detokenize_ms: Option<f64>,
    pub e2e_ms: f64,
    pub prefill_tok_s: Option<f64>,
    pub decode_tok_s: Option<f64>,
    /// Time of every output token from the request's start (`t1 .. tn`, minus `t0`). A
    /// chunk carrying k tokens appears as k equal times.
    pub token_ms: Vec<f64>,
    /// Device (CUDA event) time of prefill, when the engine measures it.
    pub prefill_device_ms: Option<f64>,
    /// Device time of each decode step, when the engine measures it.
    pub decode_step_device_ms: Vec<f64>,
    /// The engine's own timings, beside the harness's.
    pub engine_timings_ms: BTreeMap<String, f64>,
    pub prompt_preview: String,
    pub output_text: Option<String>,
    /// Reasoning tokens among the output tokens (from `usage`, or counted from the
    /// stream's reasoning deltas or the engine's reasoning marks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u32>,
    /// Time to the first answer (non-reasoning) token; equals TTFT for a request that
    /// did not reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfa_ms: Option<f64>,
    /// Time to the first reasoning token, for a request that reasoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfr_ms: Option<f64>,
    /// Prompt tokens the engine took from its prefix cache, where it says
    /// (`usage.prompt_tokens_details.cached_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u32>,
    /// When the arrival process scheduled the request, from the start of the measured
    /// phase (runs with a request rate or a trace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_ms: Option<f64>,
    /// How late the request left against its schedule: its start less `scheduled_ms`
    /// (the concurrency cap held it, or the client could not keep up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_lag_ms: Option<f64>,
    /// The conversation and the turn within it (from 0), for a multi-turn workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// Tokens carried by each streamed chunk, kept only when some chunk carried more than
    /// one (otherwise every chunk is one entry of `token_ms`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunk_tokens: Vec<u32>,
    /// The workload's category of the prompt (coding, chat ...), when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Accuracy against the workload's reference, scored after the run
    /// (`metrics::accuracy`): ROUGE F1 against a reference summary ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rouge1_f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rouge2_f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rougel_f1: Option<f64>,
    /// ... or, for an extraction, whether the answer is JSON, matches the schema, and
    /// the share of expected fields it got exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_valid: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_valid: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_exact_match: Option<f64>,
    /// What the request cost at the prices given (`--price-*`, `--prices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Where `output_tokens` came from over HTTP: `usage`, `tokenizer` or `chunks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_source: Option<String>,
    /// What was odd about a request that still counts (`no_done`), counted in
    /// `metrics.json`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The server's own time of every output token, from the request's start on the
    /// client's clock (served runs whose server stamps each chunk with its engine's time,
    /// as `nativebench serve` does; the clock offset removed). One entry per entry of
    /// `token_ms`, or none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_token_ms: Vec<f64>,
}

impl RequestRecord {
    /// Sets the time the arrival process gave the request; the lag is its start less
    /// that time (never negative: the pacer sleeps until the slot).
    pub fn set_schedule(&mut self, scheduled_ms: f64) {
        self.scheduled_ms = Some(scheduled_ms);
        self.schedule_lag_ms = Some((self.start_ms - scheduled_ms).max(0.0));
    }

    /// TTFT counted from the scheduled time, not from the send: what a user arriving on
    /// schedule waited, queueing in the client included (no coordinated omission).
    pub fn ttft_from_schedule_ms(&self) -> Option<f64> {
        Some(self.ttft_ms? + self.schedule_lag_ms?)
    }

    /// E2E counted from the scheduled time.
    pub fn e2e_from_schedule_ms(&self) -> Option<f64> {
        Some(self.e2e_ms + self.schedule_lag_ms?)
    }

    /// Every gap between consecutive output tokens (ITL, decode steps).
    pub fn gaps_ms(&self) -> impl Iterator<Item = f64> + '_ {
        self.token_ms.windows(2).map(|w| w[1] - w[0])
    }

    /// The served engine's own gap before every token after the first, where the server
    /// stamped its tokens (`server_token_ms`).
    pub fn server_gaps_ms(&self) -> impl Iterator<Item = f64> + '_ {
        self.server_token_ms.windows(2).map(|w| w[1] - w[0])
    }

    /// What HTTP and serialization added to every gap between tokens: the client's gap
    /// less the server's gap for the same two tokens. It needs no common clock (each
    /// side's gap is read on its own), and over a request it sums to the last token's
    /// delivery less the first's.
    pub fn http_gaps_ms(&self) -> Vec<f64> {
        if self.server_token_ms.len() != self.token_ms.len() {
            return Vec::new();
        }
        self.gaps_ms()
            .zip(self.server_gaps_ms())
            .map(|(c, s)| c - s)
            .collect()
    }

    /// How long each token took from the server's engine to the client's mark (client
    /// mark less server stamp, less the clock offset).
    pub fn delivery_ms(&self) -> impl Iterator<Item = f64> + '_ {
        let same = self.server_token_ms.len() == self.token_ms.len();
        self.token_ms
            .iter()
            .zip(&self.server_token_ms)
            .filter(move |_| same)
            .map(|(c, s)| c - s)
    }

    /// Every gap between consecutive chunks (HTTP): the same as [`gaps_ms`](Self::gaps_ms)
    /// unless a chunk carried several tokens.
    pub fn chunk_gaps_ms(&self) -> Vec<f64> {
        if self.chunk_tokens.is_empty() {
            return self.gaps_ms().collect();
        }
        let mut at = 0usize;
        let times: Vec<f64> = self
            .chunk_tokens
            .iter()
            .filter_map(|&k| {
                let t = self.token_ms.get(at).copied();
                at += k as usize;
                t
            })
            .collect();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

/// The runner's [`Recorder`]: takes the clock at each mark and keeps the instants, so the
/// per-token cost is one clock read and one push.
pub struct MarkRecorder<'a> {
    t0: Instant,
    /// `t0` on the host's monotonic clock, which a server's stamps on the same host use.
    t0_ns: u64,
    templated: Option<Instant>,
    tokenized: Option<Instant>,
    sent: Option<Instant>,
    tokens: Vec<Instant>,
    chunk_tokens: Vec<u32>,
    /// The server's time of each token in `tokens`, as long as every chunk had one.
    server_tokens_ns: Vec<u64>,
    /// The next tokens marked are reasoning ([`Recorder::reasoning`]).
    reasoning_next: bool,
    /// Reasoning tokens marked, and the index in `tokens` of the first reasoning and the
    /// first answer token.
    reasoning_tokens: u32,
    first_reasoning: Option<usize>,
    first_answer: Option<usize>,
    detokenized: Option<Instant>,
    prefill_device_ms: Option<f64>,
    decode_step_device_ms: Vec<f64>,
    stop: &'a AtomicBool,
}

impl<'a> MarkRecorder<'a> {
    /// Starts a request's clock now (`t0`). `expected_tokens` (a request's `max_tokens`,
    /// any number a data set gives) only sizes the first allocation, up to a bound: the
    /// record grows as tokens arrive.
    pub fn start(expected_tokens: usize, stop: &'a AtomicBool) -> Self {
        MarkRecorder {
            t0: Instant::now(),
            t0_ns: crate::clock::monotonic_ns(),
            templated: None,
            tokenized: None,
            sent: None,
            tokens: Vec::with_capacity(expected_tokens.min(RESERVED_TOKENS)),
            chunk_tokens: Vec::new(),
            server_tokens_ns: Vec::new(),
            reasoning_next: false,
            reasoning_tokens: 0,
            first_reasoning: None,
            first_answer: None,
            detokenized: None,
            prefill_device_ms: None,
            decode_step_device_ms: Vec::new(),
            stop,
        }
    }

    /// The instant the request started.
    pub fn t0(&self) -> Instant {
        self.t0
    }

    /// The latest mark taken: the end of the request as the engine reported it.
    pub fn last_mark(&self) -> Option<Instant> {
        [
            self.templated,
            self.tokenized,
            self.sent,
            self.tokens.last().copied(),
            self.detokenized,
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// Ends the request at `te` and derives its record from the marks.
    pub fn finish(
        self,
        req: &Request,
        result: Result<Outcome, EngineError>,
        te: Instant,
        run_start: Instant,
    ) -> RequestRecord {
        let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1e3;
        let t0 = self.t0;
        let token_ms: Vec<f64> = self.tokens.iter().map(|&t| ms(t0, t)).collect();
        let first = self.tokens.first().copied();
        let last = self.tokens.last().copied();
        let n = self.tokens.len();

        let mut r = RequestRecord {
            request_id: req.id,
            max_tokens: req.max_tokens,
            start_ms: ms(run_start, t0),
            e2e_ms: ms(t0, te),
            output_tokens: n as u32,
            send_ms: self.sent.map(|t| ms(t0, t)),
            template_ms: self.templated.map(|t| ms(t0, t)),
            tokenize_ms: self.tokenized.map(|t| ms(self.templated.unwrap_or(t0), t)),
            // Prefill is separable only where tokenization was seen, i.e. in-process.
            prefill_ms: self.tokenized.zip(first).map(|(a, b)| ms(a, b)),
            ttft_ms: first.map(|t| ms(t0, t)),
            decode_ms: first.zip(last).filter(|_| n > 1).map(|(a, b)| ms(a, b)),
            detokenize_ms: last.zip(self.detokenized).map(|(a, b)| ms(a, b)),
            prefill_device_ms: self.prefill_device_ms,
            decode_step_device_ms: self.decode_step_device_ms,
            prompt_preview: preview(req),
            category: req.category.clone(),
            conversation: req.turn.map(|t| t.conversation),
            turn: req.turn.map(|t| t.index),
            ..RequestRecord::default()
        };
        r.ttfa_ms = self.first_answer.and_then(|i| token_ms.get(i).copied());
        r.ttfr_ms = self.first_reasoning.and_then(|i| token_ms.get(i).copied());
        r.reasoning_tokens = (self.reasoning_tokens > 0).then_some(self.reasoning_tokens);
        r.tpot_ms = r.decode_ms.map(|d| d / (n - 1) as f64);
        r.decode_tok_s = r
            .decode_ms
            .filter(|&d| d > 0.0)
            .map(|d| (n - 1) as f64 / d * 1e3);
        r.token_ms = token_ms;
        if self.chunk_tokens.iter().any(|&k| k != 1) {
            r.chunk_tokens = self.chunk_tokens;
        }
        // Only where the server stamped every chunk: a partial series would pair tokens
        // with the wrong stamps.
        if n > 0 && self.server_tokens_ns.len() == n {
            let t0_ns = self.t0_ns as i128;
            r.server_token_ms = self
                .server_tokens_ns
                .iter()
                .map(|&s| (s as i128 - t0_ns) as f64 / 1e6)
                .collect();
        }
        match result {
            Ok(out) => {
                r.ok = true;
                r.prompt_tokens = Some(out.prompt_tokens);
                r.finish_reason = Some(out.finish_reason);
                // The engine's count is authoritative (a chunk may carry several tokens).
                r.output_tokens = out.output_tokens;
                // A server's usage can count more tokens than the chunks showed; TPOT then
                // spreads the decode time over the counted tokens, as vLLM does.
                let counted = out.output_tokens as usize;
                if counted > 1 && n > 1 && counted != n {
                    r.tpot_ms = r.decode_ms.map(|d| d / (counted - 1) as f64);
                }
                r.prefill_tok_s = r
                    .prefill_ms
                    .filter(|&p| p > 0.0)
                    .map(|p| f64::from(out.prompt_tokens) / p * 1e3);
                r.engine_timings_ms = out.engine_timings_ms;
                r.output_text = out.text;
                r.cached_tokens = out.cached_tokens;
            }
            Err(e) => {
                r.ok = false;
                r.error_kind = Some(match &e {
                    EngineError::Request { kind, .. } => kind.to_string(),
                    EngineError::Interrupted => "interrupted".into(),
                    _ => "engine".into(),
                });
                r.error = Some(e.to_string());
            }
        }
        r
    }
}

fn preview(req: &Request) -> String {
    let text = match &req.prompt {
        crate::engine::Prompt::Text(t) => t.as_str(),
        crate::engine::Prompt::Chat(ms) => ms.last().map(|m| m.content.as_str()).unwrap_or(""),
    };
    text.chars().take(PROMPT_PREVIEW_CHARS).collect()
}

impl Recorder for MarkRecorder<'_> {
    #[inline]
    fn mark(&mut self, mark: Mark) {
        let now = Instant::now();
        match mark {
            Mark::Templated => self.templated = Some(now),
            Mark::Tokenized => self.tokenized = Some(now),
            Mark::Sent => self.sent = Some(now),
            Mark::Tokens(k) => {
                let at = self.tokens.len();
                if std::mem::take(&mut self.reasoning_next) {
                    self.reasoning_tokens += k;
                    self.first_reasoning.get_or_insert(at);
                } else {
                    self.first_answer.get_or_insert(at);
                }
                self.tokens.extend(std::iter::repeat_n(now, k as usize));
                self.chunk_tokens.push(k);
            }
            Mark::Detokenized => self.detokenized = Some(now),
        }
    }

    fn server_tokens_ns(&mut self, ns: u64) {
        // The stamp is for the chunk just marked, which may carry several tokens.
        let k = self.chunk_tokens.last().copied().unwrap_or(0) as usize;
        self.server_tokens_ns.extend(std::iter::repeat_n(ns, k));
    }

    fn reasoning(&mut self) {
        self.reasoning_next = true;
    }

    fn device_ms(&mut self, phase: DevicePhase, ms: f64) {
        match phase {
            DevicePhase::Prefill => self.prefill_device_ms = Some(ms),
            DevicePhase::DecodeStep => self.decode_step_device_ms.push(ms),
        }
    }

    fn interrupted(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
