//! Reading one streamed reply: the body as it comes off the socket, through the SSE parser
//! into chunks, a token mark for every chunk that carries content or reasoning, and the
//! reply's totals at the end. This is the client's per-chunk hot path.

use std::collections::BTreeMap;

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
    /// The server is on this host (a loopback address): its per-token stamps read the
    /// same monotonic clock as the client's marks, with no offset to estimate.
    pub same_host: bool,
}

/// Reads the event stream of a successful reply to its `data: [DONE]`, marking tokens on
/// `rec`. A stream that breaks or ends early is a [`FailureKind::Disconnected`].
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
    loop {
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
        if !more {
            break;
        }
    }
    let acc = s.acc;
    if !acc.done {
        let where_ = if parser.has_partial() {
            "midway through an event"
        } else {
            "before `data: [DONE]`"
        };
        return Err(fail(
            FailureKind::Disconnected,
            format!("the stream ended {where_}, after {} chunks", acc.chunks),
        ));
    }
    if let (Some(p), Some(samples)) = (profile, &s.samples) {
        p.merge(samples);
    }
    finish(acc, tokenizer)
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

/// The reply's totals: token counts from `usage`, else from re-tokenizing the text; a
/// reply with neither is a [`FailureKind::NoUsage`].
fn finish(
    acc: chunk::Accumulator,
    tokenizer: Option<&Tokenizer>,
) -> Result<HttpReply, EngineError> {
    let usage = acc.usage;
    let output_tokens = match (usage.and_then(|u| u.completion_tokens), tokenizer) {
        (Some(n), _) => n,
        (None, Some(tok)) => {
            let all = format!("{}{}", acc.reasoning, acc.text);
            tok.encode(all, false)
                .map(|e| e.len() as u32)
                .map_err(|e| fail(FailureKind::Parse, format!("re-tokenizing: {e}")))?
        }
        (None, None) => {
            return Err(fail(
                FailureKind::NoUsage,
                format!(
                    "the reply has no usage ({} content chunks); ask the server for stream_options.include_usage or give --tokenizer",
                    acc.chunks
                ),
            ))
        }
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
        },
        reasoning_tokens,
        server: acc.server,
        same_host: false,
    })
}
