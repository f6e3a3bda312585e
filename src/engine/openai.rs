//! The OpenAI streaming wire format, both ways: reading a chunk's parts on the client,
//! and the server-timing comment that `nativebench serve` writes and the client reads, so
//! one piece of code defines it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

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
    /// ([`monotonic_ns`]).
    pub sent_ns: Option<u64>,
}

/// The JSON of a chunk, as far as a benchmark reads it; every other field is skipped
/// unparsed.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow, default)]
    choices: Option<Vec<WireChoice<'a>>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    timings: Option<WireTimings>,
    /// How vLLM and others report a failure mid-stream; any shape.
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default, rename = "nb_sent_ns")]
    sent_ns: Option<u64>,
}

#[derive(Deserialize)]
struct WireChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<WireDelta<'a>>,
    /// The completions API's text.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireDelta<'a> {
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    content: Option<Cow<'a, str>>,
    /// vLLM and DeepSeek call it `reasoning_content`; newer servers `reasoning`.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    reasoning: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens_details: Option<WireUsageDetails>,
}

#[derive(Deserialize)]
struct WireUsageDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WireTimings {
    #[serde(default)]
    prompt_ms: Option<f64>,
    #[serde(default)]
    predicted_ms: Option<f64>,
}

/// An optional string that borrows from the input unless it holds escapes (serde
/// borrows a `Cow` only as a field of its own, not inside an `Option`).
fn opt_cow<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'de>>::deserialize(d)?.map(|b| b.0))
}

fn as_u32(v: Option<u64>) -> Option<u32> {
    v.and_then(|n| u32::try_from(n).ok())
}

/// `a` then `b`, allocating only when both hold text.
fn joined<'a>(a: Option<Cow<'a, str>>, b: Option<Cow<'a, str>>) -> Cow<'a, str> {
    match (a.filter(|s| !s.is_empty()), b.filter(|s| !s.is_empty())) {
        (Some(a), Some(b)) => Cow::Owned(format!("{a}{b}")),
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => Cow::Borrowed(""),
    }
}

fn parse_error(what: &str, data: &str) -> EngineError {
    EngineError::Request {
        kind: FailureKind::Parse,
        message: format!(
            "a chunk is not {what}: {}",
            data.chars().take(120).collect::<String>()
        ),
    }
}

/// Parses one `data:` payload. Malformed JSON is a parse failure; an `error` object (how
/// vLLM and others report a failure mid-stream) is a stream error.
pub fn parse(data: &str) -> Result<ChunkParts<'_>, EngineError> {
    if !data.trim_start().starts_with('{') {
        return Err(parse_error("a JSON object", data));
    }
    let w: Wire<'_> = serde_json::from_str(data)
        .map_err(|e| parse_error(&format!("a JSON chunk ({e})"), data))?;
    if let Some(err) = w.error.filter(|e| !e.is_null()) {
        let msg = err
            .get("message")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| err.to_string());
        return Err(EngineError::Request {
            kind: FailureKind::StreamError,
            message: format!("the server reported an error mid-stream: {msg}"),
        });
    }
    let mut p = ChunkParts {
        sent_ns: w.sent_ns,
        ..ChunkParts::default()
    };
    if let Some(choice) = w.choices.and_then(|c| c.into_iter().next()) {
        let (content, reasoning_content, reasoning) = match choice.delta {
            Some(d) => (d.content, d.reasoning_content, d.reasoning),
            None => (None, None, None),
        };
        p.content = joined(content, choice.text);
        p.reasoning = joined(reasoning_content, reasoning);
        p.finish_reason = choice.finish_reason;
    }
    if let Some(u) = w.usage {
        p.usage = Some(Usage {
            prompt_tokens: as_u32(u.prompt_tokens),
            completion_tokens: as_u32(u.completion_tokens),
            reasoning_tokens: as_u32(u.completion_tokens_details.and_then(|d| d.reasoning_tokens)),
        });
    }
    if let Some(t) = w.timings {
        for (key, v) in [("prompt_ms", t.prompt_ms), ("predicted_ms", t.predicted_ms)] {
            if let Some(x) = v {
                p.native_timings.insert(format!("server_native_{key}"), x);
            }
        }
    }
    Ok(p)
}

/// The host's monotonic clock (`CLOCK_MONOTONIC`, which `Instant` reads too) in
/// nanoseconds: one clock that a server and a client on the same machine share, so a
/// chunk's send and receive times can be subtracted across the two processes.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer; CLOCK_MONOTONIC
    // exists on every Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
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
    fn role_only_chunks_carry_nothing_and_reasoning_is_separate() {
        let role = parse(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#)
            .unwrap();
        assert!(role.content.is_empty() && role.reasoning.is_empty());
        let r = parse(r#"{"choices":[{"delta":{"reasoning_content":"hmm"}}]}"#).unwrap();
        assert_eq!((&*r.content, &*r.reasoning), ("", "hmm"));
        let c = parse(r#"{"choices":[{"text":"abc","finish_reason":"length"}]}"#).unwrap();
        assert_eq!(c.content, "abc");
        assert_eq!(c.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn text_is_borrowed_unless_escaped_and_other_fields_are_skipped() {
        let p = parse(r#"{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":null,"choices":[{"index":0,"delta":{"content":" tok"},"logprobs":null,"finish_reason":null}],"nb_sent_ns":42   }"#).unwrap();
        assert!(matches!(p.content, Cow::Borrowed(" tok")), "{p:?}");
        assert_eq!(p.sent_ns, Some(42));
        assert_eq!(p.finish_reason, None);
        let p =
            parse(r#"{"choices":[{"delta":{"content":"a\"b\u00e9","reasoning":null}}]}"#).unwrap();
        assert_eq!(p.content, "a\"bé");
        assert!(p.reasoning.is_empty());
        let p =
            parse(r#"{"choices":[{"delta":{"reasoning_content":"x","reasoning":"y"}}]}"#).unwrap();
        assert_eq!(p.reasoning, "xy");
        let e = parse(r#"{"choices":[{"delta":{"content":5}}]}"#).unwrap_err();
        assert!(e.to_string().starts_with("parse:"), "{e}");
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
