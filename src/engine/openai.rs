//! The OpenAI streaming wire format, both ways: reading a chunk's parts on the client,
//! and the server-timing comment that `nativebench serve` writes and the client reads, so
//! one piece of code defines it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{EngineError, FailureKind};

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
}

/// What one streamed chunk carries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkParts {
    pub content: String,
    pub reasoning: String,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// llama.cpp's server puts its own `timings` in the last chunk.
    pub native_timings: BTreeMap<String, f64>,
}

fn as_u32(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// Parses one `data:` payload. Malformed JSON is a parse failure; an `error` object (how
/// vLLM and others report a failure mid-stream) is a stream error.
pub fn parse(data: &str) -> Result<ChunkParts, EngineError> {
    let v: Value = serde_json::from_str(data).map_err(|e| EngineError::Request {
        kind: FailureKind::Parse,
        message: format!(
            "a chunk is not JSON ({e}): {}",
            data.chars().take(120).collect::<String>()
        ),
    })?;
    if !v.is_object() {
        return Err(EngineError::Request {
            kind: FailureKind::Parse,
            message: format!(
                "a chunk is not a JSON object: {}",
                data.chars().take(120).collect::<String>()
            ),
        });
    }
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| err.to_string());
        return Err(EngineError::Request {
            kind: FailureKind::StreamError,
            message: format!("the server reported an error mid-stream: {msg}"),
        });
    }
    let mut p = ChunkParts::default();
    if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
        let delta = choice.get("delta");
        let text = |key: &str| -> &str {
            delta
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        p.content = text("content").to_owned();
        // vLLM and DeepSeek call it `reasoning_content`; newer servers `reasoning`.
        p.reasoning = format!("{}{}", text("reasoning_content"), text("reasoning"));
        if let Some(t) = choice.get("text").and_then(Value::as_str) {
            p.content.push_str(t); // completions
        }
        p.finish_reason = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        p.usage = Some(Usage {
            prompt_tokens: u.get("prompt_tokens").and_then(as_u32),
            completion_tokens: u.get("completion_tokens").and_then(as_u32),
            reasoning_tokens: u
                .get("completion_tokens_details")
                .and_then(|d| d.get("reasoning_tokens"))
                .and_then(as_u32),
        });
    }
    if let Some(t) = v.get("timings").and_then(Value::as_object) {
        for key in ["prompt_ms", "predicted_ms"] {
            if let Some(x) = t.get(key).and_then(Value::as_f64) {
                p.native_timings.insert(format!("server_native_{key}"), x);
            }
        }
    }
    Ok(p)
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
    pub fn add(&mut self, p: ChunkParts) {
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
        if p.finish_reason.is_some() {
            self.finish_reason = p.finish_reason;
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
    fn role_only_chunks_carry_nothing_and_reasoning_is_separate() {
        let role = parse(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#)
            .unwrap();
        assert!(role.content.is_empty() && role.reasoning.is_empty());
        let r = parse(r#"{"choices":[{"delta":{"reasoning_content":"hmm"}}]}"#).unwrap();
        assert_eq!((r.content.as_str(), r.reasoning.as_str()), ("", "hmm"));
        let c = parse(r#"{"choices":[{"text":"abc","finish_reason":"length"}]}"#).unwrap();
        assert_eq!(c.content, "abc");
        assert_eq!(c.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn usage_and_errors() {
        let u = parse(r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":3}}}"#).unwrap();
        assert_eq!(
            u.usage,
            Some(Usage {
                prompt_tokens: Some(5),
                completion_tokens: Some(9),
                reasoning_tokens: Some(3)
            })
        );
        let e = parse(r#"{"error":{"message":"boom"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("stream_error:") && e.contains("boom"), "{e}");
        let e = parse("{not json").unwrap_err().to_string();
        assert!(e.starts_with("parse:"), "{e}");
        assert!(parse("[1,2]").is_err());
    }

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
