//! The OpenAI-compatible wire stack, below the engines and `serve`: the streaming chunk
//! format read and written by one module, SSE, the JSON scanner, and the HTTP/1.1 client
//! that reads each reply straight off its socket. Nothing here knows an engine; the
//! `http` engine (`engine::http`) and `serve` both build on it.
//!
//! - `chunk`: one chunk's JSON, parsed on the client and written by `serve`
//! - `sse`: server-sent events, line by line (the client's hot loop)
//! - `json`: the validating scanner the chunk parser reads with
//! - `wire`: HTTP/1.1 response heads and body framing, over bytes
//! - `conn`: keep-alive connections, and a reply read straight off its socket
//! - `receipt`: the kernel's receive timestamp of each read, where the OS gives one

use std::borrow::Cow;
use std::collections::BTreeMap;

pub mod chunk;
pub mod conn;
pub mod json;
pub mod receipt;
pub mod sse;
pub mod wire;

pub use chunk::{parse, ChunkError, ChunkWriter};

/// Response header carrying the server's queue wait (non-streaming replies).
pub const QUEUE_HEADER: &str = "x-nativebench-queue-ms";
/// Response header carrying the engine's time for the request (non-streaming replies).
pub const ENGINE_HEADER: &str = "x-nativebench-engine-ms";
/// Response header carrying the engine's time to the first token.
pub const ENGINE_TTFT_HEADER: &str = "x-nativebench-engine-ttft-ms";
/// The prefix of the final SSE comment holding the same figures.
const COMMENT_PREFIX: &str = "nativebench ";

/// How a server split its time for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerTimings {
    /// From the request's arrival at the server to the engine taking it (FIFO wait).
    pub queue_ms: f64,
    /// From the engine taking it to the engine finishing it.
    pub engine_ms: f64,
    /// From the engine taking it to its first token.
    pub engine_ttft_ms: Option<f64>,
}

impl ServerTimings {
    /// The SSE comment line (without the leading `:`), e.g.
    /// `nativebench queue_ms=0.012 engine_ms=55.100 engine_ttft_ms=20.300`.
    pub fn to_comment(&self) -> String {
        let mut s = format!(
            "{COMMENT_PREFIX}queue_ms={:.4} engine_ms={:.4}",
            self.queue_ms, self.engine_ms
        );
        if let Some(t) = self.engine_ttft_ms {
            s.push_str(&format!(" engine_ttft_ms={t:.4}"));
        }
        s
    }

    /// Reads a comment written by [`to_comment`](Self::to_comment); `None` for any other.
    pub fn parse_comment(c: &str) -> Option<Self> {
        let rest = c.strip_prefix(COMMENT_PREFIX)?;
        let mut t = ServerTimings {
            queue_ms: f64::NAN,
            engine_ms: f64::NAN,
            engine_ttft_ms: None,
        };
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            let v: f64 = v.parse().ok().filter(|v: &f64| v.is_finite())?;
            match k {
                "queue_ms" => t.queue_ms = v,
                "engine_ms" => t.engine_ms = v,
                "engine_ttft_ms" => t.engine_ttft_ms = Some(v),
                _ => {}
            }
        }
        (t.queue_ms.is_finite() && t.engine_ms.is_finite()).then_some(t)
    }

    /// Adds the figures to a record's engine timings as `server_queue_ms`,
    /// `server_engine_ms` and `server_engine_ttft_ms`.
    pub fn insert_into(&self, m: &mut BTreeMap<String, f64>) {
        m.insert("server_queue_ms".into(), self.queue_ms);
        m.insert("server_engine_ms".into(), self.engine_ms);
        if let Some(t) = self.engine_ttft_ms {
            m.insert("server_engine_ttft_ms".into(), t);
        }
    }
}

/// Token counts from a reply's `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub reasoning_tokens: Option<u32>,
    /// Prompt tokens served from the server's prefix cache
    /// (`prompt_tokens_details.cached_tokens`).
    pub cached_tokens: Option<u32>,
}

/// What one streamed chunk carries. Text borrows from the event's data where it can:
/// this is parsed once per token, on the client's hot path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkParts<'a> {
    pub content: Cow<'a, str>,
    pub reasoning: Cow<'a, str>,
    pub finish_reason: Option<Cow<'a, str>>,
    pub usage: Option<Usage>,
    /// llama.cpp's server puts its own `timings` in the last chunk.
    pub native_timings: BTreeMap<String, f64>,
    /// When `nativebench serve --stamp-chunks` handed the chunk to its connection
    /// ([`crate::clock::monotonic_ns`]).
    pub sent_ns: Option<u64>,
    /// When `nativebench serve`'s engine produced the chunk's tokens (its recorder's
    /// token mark), on the server host's monotonic clock: the server's own time per token.
    pub token_ns: Option<u64>,
}

/// A reply being read: the chunks so far.
#[derive(Debug, Default)]
pub struct Accumulator {
    /// Chunks that carried content or reasoning.
    pub chunks: u32,
    pub reasoning_chunks: u32,
    pub text: String,
    pub reasoning: String,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    pub server: Option<ServerTimings>,
    pub server_native: BTreeMap<String, f64>,
    /// `data: [DONE]` was seen.
    pub done: bool,
}

impl Accumulator {
    pub fn add(&mut self, p: ChunkParts<'_>) {
        if !p.content.is_empty() || !p.reasoning.is_empty() {
            self.chunks += 1;
        }
        if !p.reasoning.is_empty() {
            self.reasoning_chunks += 1;
        }
        self.text.push_str(&p.content);
        self.reasoning.push_str(&p.reasoning);
        if p.usage.is_some() {
            self.usage = p.usage;
        }
        if let Some(f) = p.finish_reason {
            self.finish_reason = Some(f.into_owned());
        }
        self.server_native.extend(p.native_timings);
    }

    pub fn comment(&mut self, c: &str) {
        if let Some(t) = ServerTimings::parse_comment(c) {
            self.server = Some(t);
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timing_comment_round_trips() {
        let t = ServerTimings {
            queue_ms: 1.25,
            engine_ms: 60.5,
            engine_ttft_ms: Some(20.0),
        };
        assert_eq!(ServerTimings::parse_comment(&t.to_comment()), Some(t));
        assert_eq!(ServerTimings::parse_comment("keep-alive"), None);
        assert_eq!(ServerTimings::parse_comment("nativebench queue_ms=x"), None);
    }
}
