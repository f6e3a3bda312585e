//! The engine contract: one trait that every engine implements, the recorder it reports
//! phase boundaries through, and the one place where an engine name becomes an engine.
//!
//! The runner owns the clock and the record. An engine only says *when* a phase ends
//! (through [`Recorder::mark`]); it never reads the clock for a metric, never formats and
//! never prints.

pub mod batching;
#[cfg(feature = "candle")]
pub mod candle;
#[cfg(not(feature = "candle"))]
pub use disabled::candle;
pub mod device;
mod disabled;
#[cfg(feature = "llama-cpp")]
pub mod llama_cpp;
#[cfg(not(feature = "llama-cpp"))]
pub use disabled::llama_cpp;
pub mod http;
pub mod logits;
pub mod nvtx;
pub mod options;
pub mod prompt;
pub mod sim;
pub mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use http::{HttpApi, HttpConfig};
pub use options::{
    CacheType, CandleConfig, FlashAttn, LlamaCppConfig, SamplingConfig, WeightDType,
};
pub use sim::{SimConfig, SimEngine};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// What the model is asked: raw text (completion style) or chat messages, which the
/// engine renders through its chat template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    Text(String),
    Chat(Vec<Message>),
}

/// One request as an engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Position in the workload (stable across repetitions).
    pub id: u64,
    pub prompt: Prompt,
    /// Output length limit. With `ignore_eos` it is the exact output length.
    pub max_tokens: u32,
    /// Keep generating past end-of-sequence, so output lengths are exact.
    pub ignore_eos: bool,
    /// The workload's category of the prompt, carried into the request's record. Engines
    /// ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The answer the workload expects (a reference summary, or the expected JSON), which
    /// the answer is scored against after the run. Engines ignore it, except the sim,
    /// which says it under `--sim-echo` so that scoring can be checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// When the request arrives, µs from the start of the measured phase, for a workload
    /// that sets its own arrival times (a trace). Runners send it then; engines ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival_us: Option<u64>,
    /// The request's place in a multi-turn conversation: runners send a conversation's
    /// turns in order, each after the one before it ends and its think time. Engines
    /// ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<Turn>,
}

/// A turn of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// The conversation, numbered from 0 in the workload.
    pub conversation: u64,
    /// The turn within it, from 0.
    pub index: u32,
    /// How long the user thinks before sending this turn, after the last one ended, µs.
    pub think_us: u64,
}

/// A phase boundary, reported by the engine at the moment the phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The chat template has been rendered.
    Templated,
    /// The prompt has been tokenized.
    Tokenized,
    /// The request has been written to the wire (HTTP engines).
    Sent,
    /// `n` more output tokens exist. The first such mark is the first token (for an
    /// in-process engine: prefill is done and the first token sampled); each later one
    /// ends a decode step (or, over HTTP, a chunk carrying `n` tokens).
    Tokens(u32),
    /// The output tokens have been turned back into text.
    Detokenized,
}

/// Device-side (CUDA event) time for a phase, reported beside the host time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePhase {
    Prefill,
    DecodeStep,
}

/// Receives phase boundaries from an engine. The runner's implementation reads the clock.
pub trait Recorder {
    /// Marks the end of a phase now. Engines synchronize their device before calling it.
    fn mark(&mut self, mark: Mark);
    /// Device time for a phase measured with device events, in milliseconds.
    fn device_ms(&mut self, _phase: DevicePhase, _ms: f64) {}
    /// The server's own time of the tokens just marked, on its host's monotonic clock in
    /// nanoseconds, where the server stamps its chunks (`nativebench serve`): the served
    /// engine's time per token, set against the client's mark of the same tokens.
    fn server_tokens_ns(&mut self, _ns: u64) {}
    /// The tokens of the next [`Mark::Tokens`] are reasoning (thinking before the
    /// answer), not answer: a reasoning model's engine, or a stream's `reasoning_content`.
    fn reasoning(&mut self) {}
    /// True once the user asked the run to stop; a long request may end early by
    /// returning [`EngineError::Interrupted`].
    fn interrupted(&self) -> bool {
        false
    }
}

/// A borrowed recorder records into the one it borrows (engines hold recorders boxed).
impl<R: Recorder + ?Sized> Recorder for &mut R {
    fn mark(&mut self, mark: Mark) {
        (**self).mark(mark)
    }
    fn device_ms(&mut self, phase: DevicePhase, ms: f64) {
        (**self).device_ms(phase, ms)
    }
    fn server_tokens_ns(&mut self, ns: u64) {
        (**self).server_tokens_ns(ns)
    }
    fn reasoning(&mut self) {
        (**self).reasoning()
    }
    fn interrupted(&self) -> bool {
        (**self).interrupted()
    }
}

/// Why a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// `max_tokens` reached.
    Length,
    /// The model emitted end-of-sequence (only without `ignore_eos`).
    Stop,
}

/// What an engine returns for a completed request. Times are not here: they are in the
/// marks the recorder took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    pub finish_reason: FinishReason,
    /// The detokenized output, when the engine produced one.
    pub text: Option<String>,
    /// The engine's own timings, in milliseconds (for example llama.cpp's `t_p_eval`),
    /// reported beside the harness's so the two can be compared.
    pub engine_timings_ms: BTreeMap<String, f64>,
    /// Prompt tokens the engine took from its prefix cache instead of computing them
    /// (`usage.prompt_tokens_details.cached_tokens` over HTTP), when it says.
    pub cached_tokens: Option<u32>,
}

/// The kind of a request failure, recorded in `error_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The engine failed while generating.
    Engine,
    /// A failure injected on purpose (the sim engine's failure rate).
    Injected,
    /// The request exceeded the context or another model limit.
    InvalidRequest,
    /// HTTP: the server could not be reached (connection refused, no route).
    Connection,
    /// HTTP: the server answered with this non-success status code.
    HttpStatus(u16),
    /// HTTP: no complete reply within the per-request timeout.
    Timeout,
    /// HTTP: the connection or stream ended before the reply was complete.
    Disconnected,
    /// HTTP: a successful reply that is not an event stream.
    NotSse,
    /// HTTP: malformed SSE or JSON.
    Parse,
    /// HTTP: the server reported an error inside the stream.
    StreamError,
    /// HTTP: the reply had no `usage` and no tokenizer was given to count tokens.
    NoUsage,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            FailureKind::Engine => "engine",
            FailureKind::Injected => "injected",
            FailureKind::InvalidRequest => "invalid_request",
            FailureKind::Connection => "connection",
            FailureKind::HttpStatus(code) => return write!(f, "http_{code}"),
            FailureKind::Timeout => "timeout",
            FailureKind::Disconnected => "disconnected",
            FailureKind::NotSse => "not_sse",
            FailureKind::Parse => "parse",
            FailureKind::StreamError => "stream_error",
            FailureKind::NoUsage => "no_usage",
        };
        f.write_str(s)
    }
}

/// Errors from building or running an engine.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The engine exists but this build does not include it.
    #[error("this build has no {engine} support: rebuild with --features {feature}")]
    NotCompiled {
        engine: &'static str,
        feature: &'static str,
    },
    /// The engine was given input it cannot use: no model, or a model that does not
    /// exist. Invalid input, as a bad flag is.
    #[error("{engine}: {message}")]
    Input {
        engine: &'static str,
        message: String,
    },
    /// The engine cannot start: a model it cannot load, a device it cannot open.
    #[error("{engine}: {message}")]
    Setup {
        engine: &'static str,
        message: String,
    },
    /// One request failed; the run records it and goes on.
    #[error("{kind}: {message}")]
    Request { kind: FailureKind, message: String },
    /// The user asked the run to stop while this request was in flight.
    #[error("interrupted")]
    Interrupted,
}

impl EngineError {
    /// The engine cannot start.
    pub fn setup(engine: &'static str, message: impl Into<String>) -> Self {
        EngineError::Setup {
            engine,
            message: message.into(),
        }
    }

    /// The engine was given input it cannot use.
    pub fn input(engine: &'static str, message: impl Into<String>) -> Self {
        EngineError::Input {
            engine,
            message: message.into(),
        }
    }

    /// A model that cannot be resolved or read: invalid input when the user named
    /// nothing that exists, else the engine cannot start.
    pub fn model(engine: &'static str, e: crate::model::ModelError) -> Self {
        if e.is_input() {
            EngineError::input(engine, e.to_string())
        } else {
            EngineError::setup(engine, e.to_string())
        }
    }

    /// One request failed inside the engine; the run records it and goes on.
    pub fn failed(message: impl Into<String>) -> Self {
        EngineError::Request {
            kind: FailureKind::Engine,
            message: message.into(),
        }
    }
}

/// What an engine can do, which decides how the runner drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Runs inside this process, so every phase is visible.
    pub in_process: bool,
    /// Reports the end of prefill separately from the first token.
    pub separable_prefill: bool,
    /// How many sequences it decodes together; 1 means requests run one at a time.
    pub max_batch: usize,
    /// Records device time with device events (CUDA).
    pub device_timer: bool,
}

/// Facts about an engine instance, for the manifest and the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineInfo {
    pub name: String,
    pub version: String,
    pub device: String,
    pub threads: Option<usize>,
    /// The model as the user named it.
    pub model: String,
    /// The model file, when there is one, for the manifest's sha256 and size.
    pub model_path: Option<PathBuf>,
    /// Engine-specific facts (build number, backend, context size ...).
    pub details: BTreeMap<String, String>,
}

/// An inference engine. See ARCHITECTURE.md, "The engine contract".
pub trait Engine {
    fn info(&self) -> EngineInfo;
    fn capabilities(&self) -> Capabilities;
    /// Generates one request, marking each phase on `rec` as it ends.
    fn generate(&mut self, req: &Request, rec: &mut dyn Recorder) -> Result<Outcome, EngineError>;
    /// Generates several requests together, decoding them in one batch, with each request
    /// marked on its own recorder. The runner calls it with at most
    /// `capabilities().max_batch` requests. By default an engine with continuous batching
    /// runs them as a fixed queue (all there from the start); any other runs them one
    /// after another.
    fn generate_batch(
        &mut self,
        reqs: &[Request],
        recs: &mut [&mut dyn Recorder],
    ) -> Vec<Result<Outcome, EngineError>> {
        if let Some(engine) = self.continuous() {
            let mut queue = batching::FixedQueue::new(reqs, recs);
            engine.run_continuous(&mut queue);
            return queue.results();
        }
        reqs.iter()
            .zip(recs.iter_mut())
            .map(|(r, rec)| self.generate(r, &mut **rec))
            .collect()
    }
    /// How many tokens the engine's prefill would see for this request (template rendered
    /// and tokenized), when it can tell. Workloads use it to hit exact input lengths.
    fn prompt_tokens(&mut self, _req: &Request) -> Result<Option<usize>, EngineError> {
        Ok(None)
    }
    /// Token-level access for llama-bench-style tests, when the engine offers it.
    fn token_bench(&mut self) -> Option<&mut dyn TokenBench> {
        None
    }
    /// Continuous batching (requests joining between decode steps), when the engine
    /// offers it; `serve` then feeds it from its queue.
    fn continuous(&mut self) -> Option<&mut dyn batching::ContinuousBatching> {
        None
    }
    /// The served engine behind an OpenAI-compatible server, which the runner drives
    /// with the load generator (many requests in flight, an arrival process) instead of
    /// one request at a time.
    fn served(&mut self) -> Option<&mut http::HttpEngine> {
        None
    }
}

/// Token-level access for `nativebench bench`, in the manner of llama-bench: the caller
/// owns the clock and calls [`TokenBench::synchronize`] before reading it.
pub trait TokenBench {
    /// Tokens in the vocabulary (test prompts are random ids below this).
    fn vocab_size(&self) -> u32;
    /// Forgets every token in the context (the KV cache).
    fn clear(&mut self) -> Result<(), EngineError>;
    /// Processes `tokens` after what the context holds, in chunks of the batch size.
    fn prefill(&mut self, tokens: &[u32]) -> Result<(), EngineError>;
    /// One decode step: one token through the model.
    fn decode(&mut self, token: u32) -> Result<(), EngineError>;
    /// Waits for all queued device work.
    fn synchronize(&mut self);
}

/// The engines nativebench knows, compiled in or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    Sim,
    LlamaCpp,
    Candle,
    Http,
}

impl EngineKind {
    pub const ALL: [EngineKind; 4] = [
        EngineKind::Sim,
        EngineKind::LlamaCpp,
        EngineKind::Candle,
        EngineKind::Http,
    ];

    /// The name used on the command line and in outputs.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Sim => "sim",
            EngineKind::LlamaCpp => "llama-cpp",
            EngineKind::Candle => "candle",
            EngineKind::Http => "http",
        }
    }

    /// The engine that drives an OpenAI-compatible server.
    pub fn served() -> EngineKind {
        EngineKind::Http
    }

    /// Whether the engine runs behind a server (driven by the load generator) rather
    /// than in this process.
    pub fn is_served(self) -> bool {
        self == EngineKind::Http
    }

    /// Whether this build can run the engine.
    pub fn compiled_in(self) -> bool {
        match self {
            EngineKind::Sim => true,
            EngineKind::LlamaCpp => cfg!(feature = "llama-cpp"),
            EngineKind::Candle => disabled::CANDLE_AVAILABLE,
            EngineKind::Http => true,
        }
    }

    /// The real in-process engines (not the sim calibration instrument) in this build.
    pub fn in_process_compiled() -> Vec<EngineKind> {
        [EngineKind::LlamaCpp, EngineKind::Candle]
            .into_iter()
            .filter(|k| k.compiled_in())
            .collect()
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EngineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        let wanted = match wanted.as_str() {
            "llama.cpp" | "llamacpp" | "llama" => "llama-cpp",
            other => other,
        };
        EngineKind::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<_> = EngineKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown engine `{s}`: choose one of {}", names.join(", "))
            })
    }
}

/// Everything needed to build an engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    pub kind: EngineKind,
    /// The model spec as given (`synth:tiny`, a path ...); the sim engine ignores it.
    pub model: Option<String>,
    pub threads: Option<usize>,
    pub seed: u64,
    pub sampling: SamplingConfig,
    pub sim: SimConfig,
    pub llama: LlamaCppConfig,
    /// The candle engine's device and dtype.
    #[serde(default)]
    pub candle: CandleConfig,
    /// The `http` engine's settings (server URL, API, headers; never the API key).
    #[serde(default)]
    pub http: HttpConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            kind: EngineKind::Sim,
            model: None,
            threads: None,
            seed: 0,
            sampling: SamplingConfig::default(),
            sim: SimConfig::default(),
            llama: LlamaCppConfig::default(),
            candle: CandleConfig::default(),
            http: HttpConfig::default(),
        }
    }
}

impl EngineConfig {
    /// The engine `serve` runs for this config: the same, with the sim's serve-only decode
    /// step in place of its own (`--sim-serve-decode-ms`), so a test can make the served
    /// engine slower than the in-process one on purpose.
    pub fn under_serve(&self) -> EngineConfig {
        let mut c = self.clone();
        if let (EngineKind::Sim, Some(ms)) = (c.kind, c.sim.serve_decode_ms) {
            c.sim.decode_ms = ms;
        }
        c
    }

    /// The wait `serve` adds to each streamed token chunk after its engine produced it
    /// (`--sim-serve-chunk-delay-ms`, sim only): a slow HTTP side, on purpose.
    pub fn serve_chunk_delay(&self) -> Option<std::time::Duration> {
        let ms = self.sim.serve_chunk_delay_ms;
        (self.kind == EngineKind::Sim && ms > 0.0)
            .then(|| std::time::Duration::from_secs_f64(ms / 1e3))
    }
}

/// Builds the engine a config names. This is the one place engines are dispatched.
pub fn build(config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
    match config.kind {
        EngineKind::Sim => Ok(Box::new(SimEngine::new(config.sim.clone(), config.seed))),
        EngineKind::LlamaCpp => llama_cpp::open(config),
        EngineKind::Candle => candle::open(config),
        EngineKind::Http => http::build(config),
    }
}
