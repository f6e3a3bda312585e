//! Reading one streamed reply: body frames through the SSE parser into chunks, a token
//! mark for every chunk that carries content or reasoning, and the reply's totals at the
//! end. This is the client's per-chunk hot path.

use std::collections::BTreeMap;
use std::time::Instant;

use http_body_util::BodyExt;
use tokenizers::Tokenizer;

use super::profile::{ChunkProfile, ChunkSamples};
use super::{error_chain, fail};
use crate::engine::openai::{self as chunk, ChunkParts, ServerTimings};
use crate::engine::sse::{SseItem, SseParser};
use crate::engine::{EngineError, FailureKind, FinishReason, Mark, Outcome, Recorder};

/// What a streamed reply gave beyond the [`Outcome`].
#[derive(Debug, Clone, PartialEq)]
pub struct HttpReply {
    pub outcome: Outcome,
    /// Reasoning tokens, from `usage` or counted by chunk.
    pub reasoning_tokens: Option<u32>,
    /// The server's own split of its time, when it reported one.
    pub server: Option<ServerTimings>,
}

/// Reads the event stream of a successful reply to its `data: [DONE]`, marking tokens on
/// `rec`. A stream that breaks or ends early is a [`FailureKind::Disconnected`].
pub(super) async fn read<R: Recorder + ?Sized>(
    body: &mut hyper::body::Incoming,
    tokenizer: Option<&Tokenizer>,
    profile: Option<&ChunkProfile>,
    rec: &mut R,
) -> Result<HttpReply, EngineError> {
    let mut parser = SseParser::new();
    let mut items = Vec::new();
    let mut acc = chunk::Accumulator::default();
    let mut samples = profile.map(|_| ChunkSamples::default());
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                return Err(fail(
                    FailureKind::Disconnected,
                    format!(
                        "the stream broke after {} chunks: {}",
                        acc.chunks,
                        error_chain(&e)
                    ),
                ))
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let arrived = samples.as_ref().map(|_| Instant::now());
        if acc.done {
            continue; // drain to the end so the connection can be reused
        }
        parser
            .push(&data, &mut items)
            .map_err(|e| fail(FailureKind::Parse, e.to_string()))?;
        for item in items.drain(..) {
            match item {
                SseItem::Comment(c) => acc.comment(&c),
                SseItem::Event { data, .. } => {
                    if data.trim() == "[DONE]" {
                        acc.done = true;
                        continue;
                    }
                    let parts = chunk::parse(&data)?;
                    if let Some(k) = tokens_in(&parts, tokenizer) {
                        rec.mark(Mark::Tokens(k));
                        if let (Some(s), Some(t)) = (&mut samples, arrived) {
                            s.token(t, parts.sent_ns);
                        }
                    }
                    acc.add(parts);
                }
            }
        }
    }
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
    if let (Some(p), Some(s)) = (profile, &samples) {
        p.merge(s);
    }
    finish(acc, tokenizer)
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
    })
}
