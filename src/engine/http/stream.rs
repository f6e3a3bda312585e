//! Reading one streamed reply: the body as it comes off the socket, through the SSE parser
//! into chunks, a token mark for every chunk that carries content or reasoning, and the
//! reply's totals at the end. This is the client's per-chunk hot path.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use tokenizers::Tokenizer;

use super::fail;
use super::profile::{ChunkProfile, ChunkSamples};
use crate::engine::{EngineError, FailureKind, FinishReason, Mark, Outcome, Recorder};
use crate::openai::conn::{ConnError, Reply};
use crate::openai::receipt::Arrival;
use crate::openai::sse::{SseItem, SseParser};
use crate::openai::{self as chunk, ChunkError, ChunkParts, ServerTimings};

/// What a streamed reply gave beyond the [`Outcome`].
#[derive(Debug, Clone, PartialEq)]
pub struct HttpReply {
    pub outcome: Outcome,
    /// Reasoning tokens, from `usage` or counted by chunk.
    pub reasoning_tokens: Option<u32>,
    /// The server's own split of its time, when it reported one.
    pub server: Option<ServerTimings>,
    /// When the stream's terminal event arrived (`[DONE]`, or the chunk that completed
    /// `finish_reason` and usage): the request's end, whenever the server closes the body.
    pub ended: Instant,
    /// Where the output token count came from.
    pub output_tokens_source: TokenSource,
    /// What was odd about a reply that still counts (`no_done`: the stream ended cleanly
    /// with its content but without `data: [DONE]`).
    pub warnings: Vec<&'static str>,
    /// The server is on this host (a loopback address): its per-token stamps read the
    /// same monotonic clock as the client's marks, with no offset to estimate.
    pub same_host: bool,
}

/// Where a reply's output token count came from (`output_tokens_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The server's `usage`.
    Usage,
    /// Re-tokenizing the text with `--tokenizer`, or the tokenizer of `--model`.
    Tokenizer,
    /// One token per content chunk: neither of the above was there.
    Chunks,
}

impl TokenSource {
    /// The name recorded in `output_tokens_source`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Usage => "usage",
            TokenSource::Tokenizer => "tokenizer",
            TokenSource::Chunks => "chunks",
        }
    }
}

/// The warning of a stream that ended cleanly, with its content, but without `[DONE]`.
pub const NO_DONE: &str = "no_done";

/// How long the rest of a body is read after its terminal event, so that its connection
/// can be reused; a server that holds the body open longer loses the connection, never
/// the request's time.
const DRAIN_AFTER_END: Duration = Duration::from_millis(200);

/// Reads the event stream of a successful reply to its terminal event (`data: [DONE]`,
/// or the chunk that completes `finish_reason` and usage), marking tokens on `rec`. A
/// stream cut midway through an event, or before any sign of its end, is a
/// [`FailureKind::Disconnected`]; one that ends cleanly after its last chunk but without
/// `[DONE]` is complete, with the [`NO_DONE`] warning.
pub(super) async fn read<R: Recorder + ?Sized>(
    reply: &mut Reply<'_>,
    tokenizer: Option<&Tokenizer>,
    profile: Option<&ChunkProfile>,
    rec: &mut R,
) -> Result<HttpReply, EngineError> {
    let mut parser = SseParser::new();
    let mut s = Reading {
        acc: chunk::Accumulator::default(),
        samples: profile.map(|_| ChunkSamples::default()),
        arrived: Arrival::default(),
        failed: None,
        tokenizer,
        rec,
    };
    let mut ended = None;
    let mut body_ended = false;
    while ended.is_none() {
        // Everything the socket had is parsed at once: under load one read carries many
        // chunks, and each costs one pass here rather than a wake-up of its own.
        let more = reply
            .read(|data, arrived| s.bytes(&mut parser, data, arrived))
            .await;
        let more = more.map_err(|e| {
            let kind = match e {
                ConnError::Protocol(_) => FailureKind::Parse,
                _ => FailureKind::Disconnected,
            };
            let chunks = s.acc.chunks;
            fail(kind, format!("the stream broke after {chunks} chunks: {e}"))
        })?;
        if let Some(e) = s.failed {
            return Err(e);
        }
        if s.acc.done || (s.acc.finish_reason.is_some() && s.acc.usage.is_some()) {
            ended = Some(Instant::now());
        }
        if !more {
            body_ended = true;
            break;
        }
    }
    let mut warnings = Vec::new();
    let ended = match ended {
        Some(t) => {
            // The rest of the body (`[DONE]` after a usage chunk, the chunked end), read
            // only for the connection's sake and within a bound.
            if !body_ended {
                let drain = async {
                    loop {
                        match reply.read(|d, a| s.bytes(&mut parser, d, a)).await {
                            Ok(true) => {}
                            Ok(false) => return true,
                            Err(_) => return false,
                        }
                    }
                };
                body_ended = tokio::time::timeout(DRAIN_AFTER_END, drain)
                    .await
                    .unwrap_or(false);
            }
            // Ended by its last chunk, then closed cleanly without `[DONE]`.
            if body_ended && !s.acc.done && !parser.has_partial() {
                warnings.push(NO_DONE);
            }
            t
        }
        None => {
            let t = Instant::now();
            let clean = !parser.has_partial();
            let has_end = s.acc.finish_reason.is_some() || s.acc.usage.is_some();
            if !(clean && has_end) {
                let where_ = if clean {
                    "before `data: [DONE]` or a finish_reason"
                } else {
                    "midway through an event"
                };
                return Err(fail(
                    FailureKind::Disconnected,
                    format!("the stream ended {where_}, after {} chunks", s.acc.chunks),
                ));
            }
            warnings.push(NO_DONE);
            t
        }
    };
    if let (Some(p), Some(samples)) = (profile, &s.samples) {
        p.merge(samples);
    }
    let mut reply = finish(s.acc, tokenizer)?;
    reply.ended = ended;
    reply.warnings = warnings;
    Ok(reply)
}

/// A reply being read: what its chunks gave so far, and the first failure.
struct Reading<'r, R: ?Sized> {
    acc: chunk::Accumulator,
    samples: Option<ChunkSamples>,
    /// When the bytes being parsed came off the socket (profiling only).
    arrived: Arrival,
    failed: Option<EngineError>,
    tokenizer: Option<&'r Tokenizer>,
    rec: &'r mut R,
}

impl<R: Recorder + ?Sized> Reading<'_, R> {
    /// Body data as it arrives; after `[DONE]` or a failure it is only drained, so the
    /// connection can be reused.
    fn bytes(&mut self, parser: &mut SseParser, data: &[u8], arrived: Arrival) {
        if self.acc.done || self.failed.is_some() {
            return;
        }
        self.arrived = arrived;
        if let Err(e) = parser.push(data, &mut |item| self.item(item)) {
            // Items before the malformed line still count, as they arrived.
            self.failed
                .get_or_insert(fail(FailureKind::Parse, e.to_string()));
        }
    }

    fn item(&mut self, item: SseItem<'_>) {
        if self.acc.done || self.failed.is_some() {
            return;
        }
        let data = match item {
            SseItem::Comment(c) => return self.acc.comment(&c),
            SseItem::Event { data, .. } => data,
        };
        if data.trim() == "[DONE]" {
            self.acc.done = true;
            return;
        }
        let parts = match chunk::parse(&data) {
            Ok(p) => p,
            Err(e) => {
                let kind = match e {
                    ChunkError::Malformed(_) => FailureKind::Parse,
                    ChunkError::Server(_) => FailureKind::StreamError,
                };
                self.failed = Some(fail(kind, e.to_string()));
                return;
            }
        };
        if let Some(k) = tokens_in(&parts, self.tokenizer) {
            // A chunk with answer text counts as answer, whatever reasoning it carries.
            if parts.content.is_empty() {
                self.rec.reasoning();
            }
            self.rec.mark(Mark::Tokens(k));
            if let Some(ns) = parts.token_ns {
                self.rec.server_tokens_ns(ns);
            }
            if let Some(s) = &mut self.samples {
                s.token(self.arrived, parts.sent_ns);
            }
        }
        self.acc.add(parts);
    }
}

/// Tokens a chunk carries: `None` for a chunk without content (role-only, usage),
/// else 1, or the tokenizer's count of its text when a tokenizer was given.
fn tokens_in(parts: &ChunkParts, tokenizer: Option<&Tokenizer>) -> Option<u32> {
    let text = parts.content.len() + parts.reasoning.len();
    if text == 0 {
        return None;
    }
    let Some(tok) = tokenizer else {
        return Some(1);
    };
    let s = format!("{}{}", parts.reasoning, parts.content);
    let n = tok.encode(s, false).map(|e| e.len()).unwrap_or(1);
    Some(n.max(1) as u32)
}

/// The reply's totals: token counts from `usage`, else from re-tokenizing the text,
/// else one per content chunk; the reply says which.
fn finish(
    acc: chunk::Accumulator,
    tokenizer: Option<&Tokenizer>,
) -> Result<HttpReply, EngineError> {
    let usage = acc.usage;
    let (output_tokens, output_tokens_source) =
        match (usage.and_then(|u| u.completion_tokens), tokenizer) {
            (Some(n), _) => (n, TokenSource::Usage),
            (None, Some(tok)) => {
                let all = format!("{}{}", acc.reasoning, acc.text);
                let n = tok
                    .encode(all, false)
                    .map(|e| e.len() as u32)
                    .map_err(|e| fail(FailureKind::Parse, format!("re-tokenizing: {e}")))?;
                (n, TokenSource::Tokenizer)
            }
            (None, None) => (acc.chunks, TokenSource::Chunks),
        };
    let prompt_tokens = usage.and_then(|u| u.prompt_tokens).unwrap_or(0);
    let reasoning_tokens = usage
        .and_then(|u| u.reasoning_tokens)
        .or((acc.reasoning_chunks > 0).then_some(acc.reasoning_chunks));
    let mut engine_timings_ms = BTreeMap::new();
    if let Some(s) = &acc.server {
        s.insert_into(&mut engine_timings_ms);
    }
    for (k, v) in &acc.server_native {
        engine_timings_ms.insert(k.clone(), *v);
    }
    Ok(HttpReply {
        outcome: Outcome {
            prompt_tokens,
            output_tokens,
            finish_reason: match acc.finish_reason.as_deref() {
                Some("stop") => FinishReason::Stop,
                _ => FinishReason::Length,
            },
            text: Some(acc.text),
            engine_timings_ms,
            cached_tokens: usage.and_then(|u| u.cached_tokens),
        },
        reasoning_tokens,
        server: acc.server,
        ended: Instant::now(),
        output_tokens_source,
        warnings: Vec::new(),
        same_host: false,
    })
}
