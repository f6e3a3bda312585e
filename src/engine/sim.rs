//! The `sim` engine: a calibration instrument with known delays.
//!
//! It does the real, cheap work of an engine (renders the chat template, tokenizes with a
//! simple deterministic tokenizer, builds output text) and holds each phase to a configured
//! duration with real waits, busy-waited at the end for sub-millisecond accuracy. Because
//! the true timings are known, it proves the recorder, the statistics and the served path
//! end to end. It is not a stand-in for a real engine's numbers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::batching::{Admitted, BatchQueue, ContinuousBatching};
use super::template::ChatTemplate;
use super::{
    Capabilities, Engine, EngineError, EngineInfo, FailureKind, FinishReason, Mark, Outcome,
    Prompt, Recorder, Request, TokenBench,
};

/// The sim engine's delays. Every delay is the duration of the whole phase, measured from
/// the phase's start, so the real work the sim does is inside it, not added to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Chat-template rendering, per request.
    pub template_ms: f64,
    /// Tokenization, per KiB of rendered prompt.
    pub tokenize_ms_per_kb: f64,
    /// Prefill, fixed part per request.
    pub prefill_ms: f64,
    /// Prefill, per prompt token.
    pub prefill_ms_per_token: f64,
    /// One decode step (one output token after the first).
    pub decode_ms: f64,
    /// Relative standard deviation of every delay (0.05 = 5%), drawn from a seeded RNG.
    pub jitter: f64,
    /// Probability that a request fails partway through.
    pub failure_rate: f64,
    /// Requests decoded together: up to this many share each prefill and decode step,
    /// as a batching server's do.
    #[serde(default = "one")]
    pub max_batch: usize,
    /// Say each request's expected answer (`Request::expected`), a sim token at a time,
    /// and stop at its end: a model that is always right, so accuracy scoring can be
    /// checked against known scores.
    #[serde(default)]
    pub echo: bool,
    /// Under `serve` only: the decode step, in place of `decode_ms` (see
    /// `EngineConfig::under_serve`): a served engine slower than the in-process one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve_decode_ms: Option<f64>,
    /// Under `serve` only: a wait per streamed token chunk, after the engine produced it
    /// (`EngineConfig::serve_chunk_delay`): a slow HTTP side.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub serve_chunk_delay_ms: f64,
    /// Bytes the "model" reads per decoded token, declared so that `decode_mbu` and
    /// `roofline_decode_tok_s` can be checked exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_token: Option<f64>,
    /// FLOPs per prompt token, declared so that `prefill_mfu` can be checked exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flops_per_token: Option<f64>,
    /// The engine fails for good after this many requests: every later one gets a setup
    /// error, as from a lost device. Shows how a run or a server reports a dead engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_after: Option<u64>,
    /// The first this many output tokens of every request are reasoning (marked with
    /// [`Recorder::reasoning`]; `serve` streams them as `reasoning_content`).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub reasoning_tokens: u32,
    /// Every request reports this many of its prompt tokens (at most all of them) as
    /// taken from a prefix cache (`usage.prompt_tokens_details.cached_tokens` under
    /// `serve`). The delays are not changed by it.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub cached_tokens: u32,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn one() -> usize {
    1
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            template_ms: 0.05,
            tokenize_ms_per_kb: 0.02,
            prefill_ms: 1.0,
            prefill_ms_per_token: 0.05,
            decode_ms: 2.0,
            jitter: 0.0,
            failure_rate: 0.0,
            max_batch: 1,
            echo: false,
            serve_decode_ms: None,
            serve_chunk_delay_ms: 0.0,
            bytes_per_token: None,
            flops_per_token: None,
            fail_after: None,
            reasoning_tokens: 0,
            cached_tokens: 0,
        }
    }
}

impl SimConfig {
    /// Checks that every delay is a finite, non-negative number and rates are in [0, 1].
    pub fn validate(&self) -> Result<(), String> {
        let delays = [
            ("--sim-template-ms", self.template_ms, crate::limits::SIM_MS),
            (
                "--sim-tokenize-ms-per-kb",
                self.tokenize_ms_per_kb,
                crate::limits::SIM_MS,
            ),
            ("--sim-prefill-ms", self.prefill_ms, crate::limits::SIM_MS),
            (
                "--sim-prefill-ms-per-token",
                self.prefill_ms_per_token,
                crate::limits::SIM_MS,
            ),
            ("--sim-decode-ms", self.decode_ms, crate::limits::SIM_MS),
            ("--sim-jitter", self.jitter, crate::limits::FRACTION),
            (
                "--sim-failure-rate",
                self.failure_rate,
                crate::limits::FRACTION,
            ),
            (
                "--sim-serve-decode-ms",
                self.serve_decode_ms.unwrap_or(0.0),
                crate::limits::SIM_MS,
            ),
            (
                "--sim-serve-chunk-delay-ms",
                self.serve_chunk_delay_ms,
                crate::limits::SIM_MS,
            ),
        ];
        for (name, v, range) in delays {
            range.check(name, v).map_err(|e| e.to_string())?;
        }
        crate::limits::SIM_BATCH
            .check::<usize>("--sim-batch", self.max_batch as i128)
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The sim engine.
pub struct SimEngine {
    config: SimConfig,
    rng: StdRng,
    template: ChatTemplate,
    /// Requests started so far, against `fail_after`.
    started: u64,
}

/// ChatML, the template most open models use; rendered with the project's renderer so
/// the template phase does real work.
const SIM_TEMPLATE: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// Output vocabulary: the sim's "model" says these words in a seeded order.
const WORDS: &[&str] = &[
    "the",
    "model",
    "token",
    "cache",
    "layer",
    "batch",
    "stream",
    "kernel",
    "memory",
    "latency",
    "decode",
    "prefill",
    "queue",
    "thread",
    "vector",
    "matrix",
    "device",
    "bandwidth",
    "context",
    "prompt",
];

impl SimEngine {
    pub fn new(config: SimConfig, seed: u64) -> Self {
        let template = ChatTemplate::new(SIM_TEMPLATE, "", "")
            .expect("the built-in sim template is valid jinja");
        SimEngine {
            config,
            rng: StdRng::seed_from_u64(seed),
            template,
            started: 0,
        }
    }

    fn render(&self, prompt: &Prompt) -> Result<String, EngineError> {
        match prompt {
            Prompt::Text(t) => Ok(t.clone()),
            Prompt::Chat(messages) => {
                self.template
                    .render(messages, true)
                    .map_err(|e| EngineError::Request {
                        kind: FailureKind::InvalidRequest,
                        message: e.to_string(),
                    })
            }
        }
    }

    /// A configured delay with the seeded jitter applied.
    fn jittered(&mut self, ms: f64) -> Duration {
        let factor = if self.config.jitter > 0.0 {
            let z: f64 = StandardNormal.sample(&mut self.rng);
            (1.0 + self.config.jitter * z).max(0.0)
        } else {
            1.0
        };
        Duration::from_secs_f64(ms * factor / 1000.0)
    }
}

/// Waits until `deadline`: sleeps while far away, then spins, so a wait ends within a few
/// microseconds of its deadline without burning a core for its whole length. The spin
/// window covers the usual oversleep of a timer wakeup; keeping it short matters on a
/// busy machine, where a thread that spins long is the one the scheduler preempts.
pub fn wait_until(deadline: Instant) {
    const SPIN: Duration = Duration::from_micros(500);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > SPIN {
            std::thread::sleep(left - SPIN);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The sim tokenizer: a token is a run of up to 8 ASCII alphanumeric bytes, or any one
/// other non-space byte (UTF-8 multibyte characters count a token per byte). Deterministic
/// and cheap, with a count close to a real BPE's for English text.
pub fn sim_tokenize(text: &str) -> Vec<u32> {
    let mut ids = Vec::with_capacity(text.len() / 4 + 1);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if b.is_ascii_alphanumeric() {
            while i < bytes.len() && i - start < 8 && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
        } else {
            i += 1;
        }
        ids.push(fnv1a(&bytes[start..i]) % 32_000);
    }
    ids
}

/// `text` cut where [`sim_tokenize`] cuts it, each piece keeping the whitespace before
/// it, so the pieces are the sim's tokens of `text` and concatenate back to it exactly.
fn echo_pieces(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let (mut from, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if bytes[i].is_ascii_alphanumeric() {
            while i < bytes.len() && i - start < 8 && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
        } else {
            i += 1;
            // A multibyte character is one piece: its bytes are tokens to the sim, but a
            // piece must be text.
            while i < bytes.len() && !text.is_char_boundary(i) {
                i += 1;
            }
        }
        pieces.push(text[from..i].to_owned());
        from = i;
    }
    if let Some(last) = pieces.last_mut() {
        last.push_str(&text[from..]);
    }
    pieces
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl Engine for SimEngine {
    fn info(&self) -> EngineInfo {
        let mut details = BTreeMap::new();
        details.insert(
            "config".into(),
            serde_json::to_string(&self.config).unwrap_or_default(),
        );
        EngineInfo {
            name: "sim".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            device: "host".into(),
            threads: Some(1),
            model: "sim".into(),
            model_path: None,
            details,
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            in_process: true,
            separable_prefill: true,
            max_batch: self.config.max_batch,
            device_timer: false,
        }
    }

    fn prompt_tokens(&mut self, req: &Request) -> Result<Option<usize>, EngineError> {
        Ok(Some(sim_tokenize(&self.render(&req.prompt)?).len()))
    }

    fn generate(&mut self, req: &Request, rec: &mut dyn Recorder) -> Result<Outcome, EngineError> {
        let mut results = self.generate_batch(std::slice::from_ref(req), &mut [rec]);
        results.pop().unwrap_or(Err(EngineError::Interrupted))
    }

    fn token_bench(&mut self) -> Option<&mut dyn TokenBench> {
        Some(self)
    }

    fn continuous(&mut self) -> Option<&mut dyn ContinuousBatching> {
        Some(self)
    }
}

/// One running request.
struct Active<'r> {
    ticket: usize,
    req: Request,
    rec: Box<dyn Recorder + 'r>,
    seq: Seq,
}

impl ContinuousBatching for SimEngine {
    /// Each round admits what the queue has, up to the batch size: templates and
    /// tokenizes each new request in turn (a server's CPU side), runs one prefill over
    /// their prompts, which gives each its first token, and then one decode step that
    /// gives every request that was already running its next token. A batch of one is
    /// the plain sequential engine.
    fn run_continuous<'r>(&mut self, queue: &mut dyn BatchQueue<'r>) {
        let cfg = self.config.clone();
        let mut running: Vec<Active<'r>> = Vec::new();
        loop {
            running = self.retire(
                running,
                queue,
                |a| a.rec.interrupted(),
                || Err(EngineError::Interrupted),
            );
            let room = cfg.max_batch.max(1).saturating_sub(running.len());
            let new = if room > 0 {
                queue.admit(room, running.is_empty())
            } else {
                Vec::new()
            };
            if new.is_empty() && running.is_empty() {
                return;
            }
            let decoding = running.len();
            let started = self.start(new, queue);
            if decoding > 0 {
                let start = Instant::now();
                wait_until(start + self.jittered(cfg.decode_ms));
                for a in &mut running {
                    a.seq.next_token(&a.req, &mut *a.rec, cfg.failure_rate);
                }
            }
            running.extend(started);
            running = self.retire(
                running,
                queue,
                |a| a.seq.result.is_some(),
                || Err(EngineError::Interrupted),
            );
        }
    }
}

impl SimEngine {
    /// Templates and tokenizes newly admitted requests, prefills them together, and gives
    /// each its first token. A request that fails to render ends here.
    fn start<'r>(
        &mut self,
        new: Vec<Admitted<'r>>,
        queue: &mut dyn BatchQueue<'r>,
    ) -> Vec<Active<'r>> {
        let cfg = self.config.clone();
        // Every failure point is drawn before any jittered delay, so a seeded run fails
        // the same requests however they are batched.
        let fails: Vec<Option<u32>> = new
            .iter()
            .map(|a| {
                (cfg.failure_rate > 0.0 && self.rng.random_bool(cfg.failure_rate))
                    .then(|| self.rng.random_range(0..a.req.max_tokens.max(1)))
            })
            .collect();
        let mut started = Vec::with_capacity(new.len());
        for (mut a, fail_at) in new.into_iter().zip(fails) {
            if let Some(n) = cfg.fail_after.filter(|&n| self.started >= n) {
                let message = format!("the engine failed after {n} requests (--sim-fail-after)");
                queue.finished(a.ticket, a.rec, Err(EngineError::setup("sim", message)));
                continue;
            }
            self.started += 1;
            let start = Instant::now();
            let rendered = match self.render(&a.req.prompt) {
                Ok(r) => r,
                Err(e) => {
                    queue.finished(a.ticket, a.rec, Err(e));
                    continue;
                }
            };
            wait_until(start + self.jittered(cfg.template_ms));
            a.rec.mark(Mark::Templated);

            let start = Instant::now();
            let ids = sim_tokenize(&rendered);
            let kb = rendered.len() as f64 / 1024.0;
            wait_until(start + self.jittered(cfg.tokenize_ms_per_kb * kb));
            a.rec.mark(Mark::Tokenized);
            let echo = (cfg.echo)
                .then(|| a.req.expected.as_deref().map(echo_pieces))
                .flatten();
            let seq = Seq {
                reasoning: cfg.reasoning_tokens,
                cached: (cfg.cached_tokens > 0).then(|| cfg.cached_tokens.min(ids.len() as u32)),
                fail_at,
                echo,
                prompt_tokens: ids.len(),
                next: ids.iter().fold(a.req.id as usize, |h, &t| h ^ t as usize),
                // max_tokens is a request's claim (up to u32::MAX from a data set):
                // memory follows the tokens made.
                out: Vec::with_capacity((a.req.max_tokens as usize).min(1024)),
                result: None,
            };
            started.push(Active {
                ticket: a.ticket,
                req: a.req,
                rec: a.rec,
                seq,
            });
        }
        if started.is_empty() {
            return started;
        }
        let tokens: usize = started.iter().map(|a| a.seq.prompt_tokens).sum();
        let start = Instant::now();
        let prefill = cfg.prefill_ms + cfg.prefill_ms_per_token * tokens as f64;
        wait_until(start + self.jittered(prefill));
        for a in &mut started {
            a.seq.next_token(&a.req, &mut *a.rec, cfg.failure_rate);
        }
        started
    }

    /// Hands every request that `done` picks back to the queue, with its result (or
    /// `otherwise` when it has none yet), and keeps the rest.
    fn retire<'r>(
        &mut self,
        running: Vec<Active<'r>>,
        queue: &mut dyn BatchQueue<'r>,
        done: impl Fn(&Active<'r>) -> bool,
        otherwise: impl Fn() -> Result<Outcome, EngineError>,
    ) -> Vec<Active<'r>> {
        let mut kept = Vec::with_capacity(running.len());
        for mut a in running {
            if done(&a) {
                let result = a.seq.result.take().unwrap_or_else(&otherwise);
                queue.finished(a.ticket, a.rec, result);
            } else {
                kept.push(a);
            }
        }
        kept
    }
}

/// One request's state inside a batch.
struct Seq {
    /// Output tokens that are reasoning, from the first.
    reasoning: u32,
    /// Prompt tokens reported as cached.
    cached: Option<u32>,
    /// The output token at which an injected failure ends it.
    fail_at: Option<u32>,
    /// The expected answer's pieces, one per output token, under `--sim-echo`.
    echo: Option<Vec<String>>,
    prompt_tokens: usize,
    /// The last word index said, seeded from the prompt.
    next: usize,
    out: Vec<usize>,
    /// Set when the request ends, with its outcome or error.
    result: Option<Result<Outcome, EngineError>>,
}

impl Seq {
    /// The request's next output token, or its injected failure; completes it at its
    /// last token (a request for none completes at once).
    fn next_token(&mut self, req: &Request, rec: &mut dyn Recorder, failure_rate: f64) {
        if self.result.is_some() {
            return;
        }
        if req.max_tokens == 0 {
            return self.finish(rec);
        }
        let step = self.out.len() as u32;
        if self.fail_at == Some(step) {
            self.result = Some(Err(EngineError::Request {
                kind: FailureKind::Injected,
                message: format!(
                    "sim failure injected at output token {step} (failure rate {failure_rate})"
                ),
            }));
            return;
        }
        self.next = self.next.wrapping_mul(31).wrapping_add(7) % WORDS.len();
        if (self.out.len() as u32) < self.reasoning {
            rec.reasoning();
        }
        self.out.push(self.next);
        rec.mark(Mark::Tokens(1));
        let answered = self
            .echo
            .as_ref()
            .is_some_and(|e| self.out.len() >= e.len());
        if answered || self.out.len() >= req.max_tokens as usize {
            self.finish(rec);
        }
    }

    /// Detokenizes the output and completes the request.
    fn finish(&mut self, rec: &mut dyn Recorder) {
        let (text, finish_reason) = match &self.echo {
            Some(pieces) => {
                let n = self.out.len();
                let reason = if n >= pieces.len() {
                    FinishReason::Stop
                } else {
                    FinishReason::Length
                };
                (pieces[..n.min(pieces.len())].concat(), reason)
            }
            None => (
                self.out
                    .iter()
                    .map(|&w| WORDS[w])
                    .collect::<Vec<_>>()
                    .join(" "),
                FinishReason::Length,
            ),
        };
        rec.mark(Mark::Detokenized);
        self.result = Some(Ok(Outcome {
            prompt_tokens: self.prompt_tokens as u32,
            output_tokens: self.out.len() as u32,
            finish_reason,
            text: Some(text),
            engine_timings_ms: BTreeMap::new(),
            cached_tokens: self.cached,
        }));
    }
}

/// Token-level access with the same configured delays, so `bench` can be calibrated.
impl TokenBench for SimEngine {
    fn vocab_size(&self) -> u32 {
        32_000
    }

    fn clear(&mut self) -> Result<(), EngineError> {
        Ok(())
    }

    fn prefill(&mut self, tokens: &[u32]) -> Result<(), EngineError> {
        let start = Instant::now();
        let ms = self.config.prefill_ms + self.config.prefill_ms_per_token * tokens.len() as f64;
        wait_until(start + self.jittered(ms));
        Ok(())
    }

    fn decode(&mut self, _token: u32) -> Result<(), EngineError> {
        let start = Instant::now();
        wait_until(start + self.jittered(self.config.decode_ms));
        Ok(())
    }

    fn synchronize(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_splits_words_and_punctuation() {
        assert_eq!(sim_tokenize("hello, world").len(), 3);
        // A 20-character word is three tokens of at most 8 bytes.
        assert_eq!(sim_tokenize("abcdefghijklmnopqrst").len(), 3);
        assert_eq!(sim_tokenize("  \n "), Vec::<u32>::new());
        assert_eq!(sim_tokenize("same words"), sim_tokenize("same   words"));
    }

    #[test]
    fn echo_pieces_are_sim_tokens_that_rebuild_the_text() {
        let text = " {\"name\": \"Inês Carvalho\", \"founded\": 1978}\n";
        let pieces = echo_pieces(text);
        assert_eq!(pieces.concat(), text);
        let ascii = "A suspension bridge, held by tension.";
        assert_eq!(echo_pieces(ascii).len(), sim_tokenize(ascii).len());
        assert!(echo_pieces("").is_empty());
    }

    #[test]
    fn invalid_delays_are_rejected() {
        let bad = SimConfig {
            decode_ms: -1.0,
            ..SimConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("--sim-decode-ms"));
        let bad = SimConfig {
            failure_rate: 1.5,
            ..SimConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("failure-rate"));
    }
}
