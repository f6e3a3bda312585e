//! One streamed chunk's JSON, both ways. [`parse`] reads it on the client's per-token
//! path: the few fields a benchmark needs, through the validating scanner (`json`), with
//! text borrowed from the event's data. [`ChunkWriter`] writes what `serve` streams, in the
//! shape the parser reads.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

use super::json::{JsonError, Scanner};
use super::{ChunkParts, ServerTimings, Usage};

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

/// Why a chunk cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Not the JSON of a chunk.
    #[error("{0}")]
    Malformed(String),
    /// The server reported an error inside the stream.
    #[error("{0}")]
    Server(String),
}

fn parse_error(what: &str, data: &str) -> ChunkError {
    ChunkError::Malformed(format!(
        "a chunk is not {what}: {}",
        data.chars().take(120).collect::<String>()
    ))
}

/// Parses one `data:` payload. Malformed JSON is a parse failure; an `error` object (how
/// vLLM and others report a failure mid-stream) is a stream error.
pub fn parse(data: &str) -> Result<ChunkParts<'_>, ChunkError> {
    if !data.trim_start().starts_with('{') {
        return Err(parse_error("a JSON object", data));
    }
    let mut w = Wire::default();
    let mut s = Scanner::new(data);
    s.object(|s, key| w.member(s, &key))
        .and_then(|()| s.end())
        .map_err(|e| parse_error(&format!("a JSON chunk ({e})"), data))?;
    if let Some(msg) = w.error {
        return Err(ChunkError::Server(format!(
            "the server reported an error mid-stream: {msg}"
        )));
    }
    let mut native_timings = BTreeMap::new();
    for (key, v) in [("prompt_ms", w.prompt_ms), ("predicted_ms", w.predicted_ms)] {
        if let Some(x) = v {
            native_timings.insert(format!("server_native_{key}"), x);
        }
    }
    Ok(ChunkParts {
        content: joined(w.content, w.text),
        reasoning: joined(w.reasoning_content, w.reasoning),
        finish_reason: w.finish_reason,
        usage: w.usage,
        native_timings,
        sent_ns: w.sent_ns,
        token_ns: w.token_ns,
    })
}

/// What a chunk's JSON holds, as far as a benchmark reads it; every other field is
/// passed over (checked, not kept). Only the first choice counts: a benchmark streams
/// one (`n` = 1).
#[derive(Default)]
struct Wire<'a> {
    content: Option<Cow<'a, str>>,
    /// The completions API's text.
    text: Option<Cow<'a, str>>,
    /// vLLM and DeepSeek call it `reasoning_content`; newer servers `reasoning`.
    reasoning_content: Option<Cow<'a, str>>,
    reasoning: Option<Cow<'a, str>>,
    finish_reason: Option<Cow<'a, str>>,
    usage: Option<Usage>,
    /// llama.cpp's server puts its own `timings` in the last chunk.
    prompt_ms: Option<f64>,
    predicted_ms: Option<f64>,
    /// How vLLM and others report a failure mid-stream: its message.
    error: Option<String>,
    sent_ns: Option<u64>,
    token_ns: Option<u64>,
}

impl<'a> Wire<'a> {
    fn member(&mut self, s: &mut Scanner<'a>, key: &str) -> Result<(), JsonError> {
        match key {
            "choices" => s.unless_null(|s| {
                s.array(|s, i| match i {
                    0 => s.object(|s, k| self.choice(s, &k)),
                    _ => s.skip().map(drop),
                })
            }),
            "usage" => s.unless_null(|s| {
                let mut u = Usage::default();
                s.object(|s, k| {
                    match &*k {
                        "prompt_tokens" => u.prompt_tokens = as_u32(s.opt_u64()?),
                        "completion_tokens" => u.completion_tokens = as_u32(s.opt_u64()?),
                        "completion_tokens_details" => s.unless_null(|s| {
                            s.object(|s, k| {
                                match &*k {
                                    "reasoning_tokens" => u.reasoning_tokens = as_u32(s.opt_u64()?),
                                    _ => drop(s.skip()?),
                                }
                                Ok(())
                            })
                        })?,
                        "prompt_tokens_details" => s.unless_null(|s| {
                            s.object(|s, k| {
                                match &*k {
                                    "cached_tokens" => u.cached_tokens = as_u32(s.opt_u64()?),
                                    _ => drop(s.skip()?),
                                }
                                Ok(())
                            })
                        })?,
                        _ => drop(s.skip()?),
                    }
                    Ok(())
                })?;
                self.usage = Some(u);
                Ok(())
            }),
            "timings" => s.unless_null(|s| {
                s.object(|s, k| {
                    match &*k {
                        "prompt_ms" => self.prompt_ms = s.opt_f64()?,
                        "predicted_ms" => self.predicted_ms = s.opt_f64()?,
                        _ => drop(s.skip()?),
                    }
                    Ok(())
                })
            }),
            "error" => s.unless_null(|s| {
                self.error = Some(error_message(s)?);
                Ok(())
            }),
            "nb_sent_ns" => {
                self.sent_ns = s.opt_u64()?;
                Ok(())
            }
            TOKEN_FIELD => {
                self.token_ns = s.opt_u64()?;
                Ok(())
            }
            _ => s.skip().map(drop),
        }
    }

    fn choice(&mut self, s: &mut Scanner<'a>, key: &str) -> Result<(), JsonError> {
        match key {
            "delta" => {
                return s.unless_null(|s| {
                    s.object(|s, k| {
                        match &*k {
                            "content" => self.content = s.opt_string()?,
                            "reasoning_content" => self.reasoning_content = s.opt_string()?,
                            "reasoning" => self.reasoning = s.opt_string()?,
                            _ => drop(s.skip()?),
                        }
                        Ok(())
                    })
                })
            }
            "text" => self.text = s.opt_string()?,
            "finish_reason" => self.finish_reason = s.opt_string()?,
            _ => drop(s.skip()?),
        }
        Ok(())
    }
}

/// A mid-stream error's `message` when it is an object with one, else its JSON text.
fn error_message(s: &mut Scanner<'_>) -> Result<String, JsonError> {
    let raw = s.clone().skip()?;
    let mut message = None;
    if s.next_is(b'{') {
        s.object(|s, k| {
            match &*k {
                "message" if s.next_is(b'"') => message = s.opt_string()?,
                _ => drop(s.skip()?),
            }
            Ok(())
        })?;
    } else {
        s.skip()?;
    }
    Ok(message.map_or_else(|| raw.to_owned(), Cow::into_owned))
}

/// The field of a token chunk that carries when `serve`'s engine produced the chunk's
/// tokens ([`ChunkParts::token_ns`]).
const TOKEN_FIELD: &str = "nb_token_ns";

/// The start of a chunk that carries a send-time stamp (`serve --stamp-chunks`): the
/// field comes first, its value is [`STAMP_WIDTH`] spaces until [`stamp`] fills it in.
const STAMP_HEAD: &str = "data: {\"nb_sent_ns\":";
/// Room for the stamp: u64 nanoseconds, padded with spaces (valid JSON whitespace).
const STAMP_WIDTH: usize = 20;

/// Writes the host's monotonic time into a chunk written with room for a stamp, as the
/// chunk is handed to its connection, so a client on the same host can measure what
/// happens after the server let go of it ([`ChunkParts::sent_ns`]). Other bytes pass as
/// they are.
pub fn stamp(b: Bytes) -> Bytes {
    if !b.starts_with(STAMP_HEAD.as_bytes()) {
        return b;
    }
    let mut m = b.try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..]));
    let digits = crate::clock::monotonic_ns().to_string();
    let at = STAMP_HEAD.len();
    m[at..at + digits.len()].copy_from_slice(digits.as_bytes());
    m.freeze()
}

/// Writes one reply in OpenAI's shapes: the streamed chunks [`parse`] reads, and the
/// whole (non-streamed) body. The fixed parts are formatted once per reply.
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    chat: bool,
    /// `{"id":..,"object":..,"created":..,"model":..,` for chunks.
    head: String,
    /// What a token chunk starts with: `data: ` and the head, with room for a stamp
    /// first when chunks are stamped.
    piece_head: String,
    id: String,
    model: String,
    created: u64,
}

impl ChunkWriter {
    /// The writer of reply number `n`: chat (`chat.completion.chunk`) or completions
    /// (`text_completion`), with room for a send stamp in each token chunk when `stamp`.
    pub fn new(chat: bool, n: u64, model: &str, created: u64, stamp: bool) -> ChunkWriter {
        let (id, object) = if chat {
            (format!("chatcmpl-{n}"), "chat.completion.chunk")
        } else {
            (format!("cmpl-{n}"), "text_completion")
        };
        let quoted = serde_json::Value::from(model).to_string();
        let head =
            format!(r#"{{"id":"{id}","object":"{object}","created":{created},"model":{quoted},"#);
        let piece_head = if stamp {
            format!("{STAMP_HEAD}{:STAMP_WIDTH$},{}", "", &head[1..])
        } else {
            format!("data: {head}")
        };
        ChunkWriter {
            chat,
            head,
            piece_head,
            id,
            model: model.to_owned(),
            created,
        }
    }

    /// The first chunk of a chat stream: the assistant's role, no content.
    pub fn role(&self) -> Bytes {
        Bytes::from(format!(
            "data: {}\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n",
            self.head
        ))
    }

    /// A chunk carrying `text`, and the finish reason on the last one; `engine_ns` is
    /// when the engine produced the chunk's tokens, on the host's monotonic clock.
    pub fn piece(&self, text: &str, finish: Option<&str>, engine_ns: Option<u64>) -> Bytes {
        self.delta("content", text, finish, engine_ns)
    }

    /// A chunk carrying reasoning `text` (`delta.reasoning_content`, as vLLM and DeepSeek
    /// stream a model's thinking); the completions API has no such field, so there it is
    /// text like any other.
    pub fn reasoning_piece(&self, text: &str, engine_ns: Option<u64>) -> Bytes {
        self.delta("reasoning_content", text, None, engine_ns)
    }

    fn delta(
        &self,
        field: &str,
        text: &str,
        finish: Option<&str>,
        engine_ns: Option<u64>,
    ) -> Bytes {
        let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
        let engine = engine_ns.map_or(String::new(), |ns| format!("\"{TOKEN_FIELD}\":{ns},"));
        let text = serde_json::Value::from(text).to_string();
        let choice = if self.chat {
            format!(r#"{{"index":0,"delta":{{"{field}":{text}}},"finish_reason":{finish}}}"#)
        } else {
            format!(r#"{{"index":0,"text":{text},"finish_reason":{finish}}}"#)
        };
        Bytes::from(format!(
            "{}{engine}\"choices\":[{choice}]}}\n\n",
            self.piece_head
        ))
    }

    /// The chunk with no choices that carries `usage` (`stream_options.include_usage`).
    pub fn usage(&self, usage: &Usage) -> String {
        format!(
            "data: {}\"choices\":[],\"usage\":{}}}\n\n",
            self.head,
            usage_json(usage)
        )
    }

    /// The end of a stream: the server-timing comment, then `data: [DONE]`.
    pub fn end(&self, timings: &ServerTimings) -> String {
        format!(": {}\n\ndata: [DONE]\n\n", timings.to_comment())
    }

    /// An error reported inside the stream (read back as [`ChunkError::Server`]), then
    /// `data: [DONE]`.
    pub fn error(&self, message: &str) -> String {
        let err = serde_json::json!({ "error": { "message": message, "type": "engine_error" } });
        format!("data: {err}\n\ndata: [DONE]\n\n")
    }

    /// The whole (non-streamed) reply's JSON body.
    pub fn whole(&self, text: &str, finish: &str, usage: &Usage) -> String {
        let choice = if self.chat {
            serde_json::json!({ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": finish })
        } else {
            serde_json::json!({ "index": 0, "text": text, "finish_reason": finish })
        };
        serde_json::json!({
            "id": self.id,
            "object": if self.chat { "chat.completion" } else { "text_completion" },
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": usage_json(usage),
        })
        .to_string()
    }
}

fn usage_json(u: &Usage) -> serde_json::Value {
    let (p, c) = (
        u.prompt_tokens.unwrap_or(0),
        u.completion_tokens.unwrap_or(0),
    );
    let mut v =
        serde_json::json!({ "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c });
    if let Some(n) = u.cached_tokens {
        v["prompt_tokens_details"] = serde_json::json!({ "cached_tokens": n });
    }
    if let Some(n) = u.reasoning_tokens {
        v["completion_tokens_details"] = serde_json::json!({ "reasoning_tokens": n });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

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
        assert!(matches!(e, ChunkError::Malformed(_)), "{e}");
    }

    #[test]
    fn the_first_choice_counts_and_null_choices_are_none() {
        let p =
            parse(r#"{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}"#).unwrap();
        assert_eq!(p.content, "a");
        for empty in [r#"{"choices":null}"#, r#"{"choices":[]}"#, "{}"] {
            assert_eq!(parse(empty).unwrap(), ChunkParts::default(), "{empty}");
        }
        let e = parse(r#"{"choices":{"delta":{}}}"#).unwrap_err();
        assert!(e.to_string().contains("expected an array"), "{e}");
    }

    #[test]
    fn usage_and_errors() {
        let u = parse(r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":3}}}"#).unwrap();
        assert_eq!(
            u.usage,
            Some(Usage {
                prompt_tokens: Some(5),
                completion_tokens: Some(9),
                reasoning_tokens: Some(3),
                cached_tokens: None,
            })
        );
        let e = parse(r#"{"error":{"message":"boom"}}"#).unwrap_err();
        assert!(
            matches!(&e, ChunkError::Server(m) if m.contains("boom")),
            "{e}"
        );
        let e = parse("{not json").unwrap_err();
        assert!(
            matches!(&e, ChunkError::Malformed(m) if m.starts_with("a chunk is not")),
            "{e}"
        );
        assert!(parse("[1,2]").is_err());
    }

    #[test]
    fn what_the_writer_writes_the_parser_reads() {
        let body = |b: &str| b.strip_prefix("data: ").unwrap().trim_end().to_owned();
        for (chat, stamped) in [(true, false), (false, false), (true, true)] {
            let w = ChunkWriter::new(chat, 4, "m\"x", 1, stamped);
            let mut b = w.piece(" tok", None, Some(7));
            if stamped {
                b = stamp(b);
            }
            let data = body(std::str::from_utf8(&b).unwrap());
            let p = parse(&data).unwrap();
            assert_eq!(p.content, " tok");
            assert_eq!(p.sent_ns.is_some(), stamped, "{data}");
            assert_eq!(p.token_ns, Some(7), "{data}");
            if let Some(ns) = p.sent_ns {
                assert!(ns > 0 && ns <= crate::clock::monotonic_ns());
            }
            let v: serde_json::Value = serde_json::from_str(&data).unwrap();
            assert_eq!(v["model"], "m\"x");

            let mut last = w.piece("", Some("length"), None);
            if stamped {
                last = stamp(last);
            }
            let last = body(std::str::from_utf8(&last).unwrap());
            assert_eq!(
                parse(&last).unwrap().finish_reason.as_deref(),
                Some("length")
            );
            let u = Usage {
                prompt_tokens: Some(3),
                completion_tokens: Some(5),
                reasoning_tokens: Some(2),
                cached_tokens: Some(1),
            };
            let mut r = w.reasoning_piece("hm", None);
            if stamped {
                r = stamp(r);
            }
            let data = body(std::str::from_utf8(&r).unwrap());
            let p = parse(&data).unwrap();
            if chat {
                assert_eq!((&*p.reasoning, &*p.content), ("hm", ""));
            }
            assert_eq!(parse(&body(&w.usage(&u))).unwrap().usage, Some(u));
            let e = w.error("boom");
            let first = e.split("\n\n").next().unwrap();
            assert!(
                matches!(parse(&body(first)), Err(ChunkError::Server(m)) if m.contains("boom"))
            );
            let t = ServerTimings {
                queue_ms: 1.0,
                engine_ms: 2.0,
                engine_ttft_ms: None,
            };
            let end = w.end(&t);
            let comment = end.strip_prefix(": ").unwrap().lines().next().unwrap();
            assert_eq!(ServerTimings::parse_comment(comment), Some(t));
            assert!(end.ends_with("data: [DONE]\n\n"));
            let whole: serde_json::Value =
                serde_json::from_str(&w.whole("hi", "stop", &u)).unwrap();
            assert_eq!(whole["usage"]["total_tokens"], 8);
            let text = if chat {
                &whole["choices"][0]["message"]["content"]
            } else {
                &whole["choices"][0]["text"]
            };
            assert_eq!(text, "hi");
        }
    }

    /// How a chunk fails, as the oracle tells it.
    #[derive(Debug, PartialEq)]
    enum Kind {
        Parse,
        StreamError,
    }

    /// What `parse` must give for a document, read the slow way: through a
    /// `serde_json::Value`. `Err(kind)` for a failure.
    fn oracle(data: &str) -> Result<ChunkParts<'static>, Kind> {
        use serde_json::Value;
        let bad = Err(Kind::Parse);
        let Ok(Value::Object(top)) = serde_json::from_str::<Value>(data) else {
            return bad;
        };
        let absent = Value::Null;
        let get = |v: &'_ Value, k: &str| -> Value { v.get(k).cloned().unwrap_or(Value::Null) };
        let string = |v: Value| -> Result<Option<String>, Kind> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s)),
                _ => Err(Kind::Parse),
            }
        };
        let int = |v: Value| -> Result<Option<u32>, Kind> {
            match v {
                Value::Null => Ok(None),
                Value::Number(n) => n.as_u64().map(|n| as_u32(Some(n))).ok_or(Kind::Parse),
                _ => Err(Kind::Parse),
            }
        };
        let top = Value::Object(top);
        let mut p = ChunkParts::default();
        let (mut content, mut text, mut rc, mut r) = (None, None, None, None);
        match get(&top, "choices") {
            Value::Null => {}
            Value::Array(cs) => match cs.first().cloned().unwrap_or(absent) {
                Value::Null if cs.is_empty() => {}
                c @ Value::Object(_) => {
                    match get(&c, "delta") {
                        Value::Null => {}
                        d @ Value::Object(_) => {
                            content = string(get(&d, "content"))?;
                            rc = string(get(&d, "reasoning_content"))?;
                            r = string(get(&d, "reasoning"))?;
                        }
                        _ => return bad,
                    }
                    text = string(get(&c, "text"))?;
                    p.finish_reason = string(get(&c, "finish_reason"))?.map(Cow::Owned);
                }
                _ => return bad,
            },
            _ => return bad,
        }
        p.content = Cow::Owned(joined(content.map(Cow::Owned), text.map(Cow::Owned)).into_owned());
        p.reasoning = Cow::Owned(joined(rc.map(Cow::Owned), r.map(Cow::Owned)).into_owned());
        match get(&top, "usage") {
            Value::Null => {}
            u @ Value::Object(_) => {
                let details = match get(&u, "completion_tokens_details") {
                    Value::Null => None,
                    d @ Value::Object(_) => int(get(&d, "reasoning_tokens"))?,
                    _ => return bad,
                };
                let cached = match get(&u, "prompt_tokens_details") {
                    Value::Null => None,
                    d @ Value::Object(_) => int(get(&d, "cached_tokens"))?,
                    _ => return bad,
                };
                p.usage = Some(Usage {
                    prompt_tokens: int(get(&u, "prompt_tokens"))?,
                    completion_tokens: int(get(&u, "completion_tokens"))?,
                    reasoning_tokens: details,
                    cached_tokens: cached,
                });
            }
            _ => return bad,
        }
        match get(&top, "timings") {
            Value::Null => {}
            t @ Value::Object(_) => {
                for key in ["prompt_ms", "predicted_ms"] {
                    match get(&t, key) {
                        Value::Null => {}
                        Value::Number(n) => {
                            p.native_timings
                                .insert(format!("server_native_{key}"), n.as_f64().unwrap());
                        }
                        _ => return bad,
                    }
                }
            }
            _ => return bad,
        }
        p.sent_ns = match get(&top, "nb_sent_ns") {
            Value::Null => None,
            Value::Number(n) => Some(n.as_u64().ok_or(Kind::Parse)?),
            _ => return bad,
        };
        if !get(&top, "error").is_null() {
            return Err(Kind::StreamError);
        }
        Ok(p)
    }

    /// A random JSON value, nested at most `depth` deep.
    fn value(rng: &mut StdRng, depth: u32) -> String {
        let strings = [
            "\"\"",
            "\" tok\"",
            "\"a\\\"b\"",
            "\"\\u00e9\\n\"",
            "\"é😀\"",
        ];
        match rng.random_range(0..if depth == 0 { 5 } else { 7 }) {
            0 => "null".into(),
            1 => ["true", "false"][rng.random_range(0..2)].into(),
            2 => [
                "0",
                "42",
                "-7",
                "1.5",
                "2e3",
                "1795581148",
                "18446744073709551616",
            ][rng.random_range(0..7)]
            .into(),
            3 | 4 => strings[rng.random_range(0..strings.len())].into(),
            5 => {
                let items: Vec<String> = (0..rng.random_range(0..3))
                    .map(|_| value(rng, depth - 1))
                    .collect();
                format!("[{}]", items.join(","))
            }
            _ => {
                let keys = ["content", "text", "role", "message", "prompt_tokens", "x"];
                let mut used = Vec::new();
                for _ in 0..rng.random_range(0..3) {
                    let k = keys[rng.random_range(0..keys.len())];
                    if !used.iter().any(|(u, _)| *u == k) {
                        used.push((k, value(rng, depth - 1)));
                    }
                }
                let members: Vec<String> =
                    used.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                format!("{{{}}}", members.join(", "))
            }
        }
    }

    /// A chunk shaped like a server's, with random values where a server could put them.
    fn random_chunk(rng: &mut StdRng) -> String {
        let mut members = vec![r#""id":"chatcmpl-1","object":"chat.completion.chunk""#.to_owned()];
        let pick = |rng: &mut StdRng, typical: &str| {
            if rng.random_bool(0.7) {
                typical.to_owned()
            } else {
                value(rng, 2)
            }
        };
        if rng.random_bool(0.8) {
            let mut choice = vec![r#""index":0"#.to_owned()];
            if rng.random_bool(0.8) {
                let mut delta = Vec::new();
                for (k, typical) in [
                    ("role", r#""assistant""#),
                    ("content", r#"" tok""#),
                    ("reasoning_content", r#""hm\"m""#),
                    ("reasoning", "null"),
                ] {
                    if rng.random_bool(0.5) {
                        delta.push(format!("\"{k}\":{}", pick(rng, typical)));
                    }
                }
                choice.push(format!("\"delta\":{{{}}}", delta.join(",")));
            }
            for (k, typical) in [
                ("text", r#""abc""#),
                ("finish_reason", "null"),
                ("logprobs", "null"),
            ] {
                if rng.random_bool(0.4) {
                    choice.push(format!("\"{k}\":{}", pick(rng, typical)));
                }
            }
            let extra = if rng.random_bool(0.2) {
                format!(",{}", value(rng, 2))
            } else {
                String::new()
            };
            members.push(format!("\"choices\":[{{{}}}{extra}]", choice.join(",")));
        }
        for (k, typical) in [
            (
                "usage",
                r#"{"prompt_tokens":5,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":3}}"#,
            ),
            ("timings", r#"{"prompt_ms":1.25,"predicted_ms":30}"#),
            ("nb_sent_ns", "123456789"),
            ("error", r#"{"message":"overloaded"}"#),
            ("model", r#""m""#),
        ] {
            if rng.random_bool(0.25) {
                members.push(format!("\"{k}\":{}", pick(rng, typical)));
            }
        }
        format!("{{{}}}", members.join(","))
    }

    /// Property: the scanner and serde_json agree on every chunk: what it holds, and
    /// whether it is malformed, also after random edits break it.
    #[test]
    fn parsing_agrees_with_serde_json_on_valid_and_broken_chunks() {
        let mut rng = StdRng::seed_from_u64(8);
        let alphabet: Vec<char> = "{}[]\":,\\0123456789.-+eEuntrfals ".chars().collect();
        let (mut ok, mut failed) = (0, 0);
        for case in 0..4000 {
            let mut chars: Vec<char> = random_chunk(&mut rng).chars().collect();
            for _ in 0..rng.random_range(0..3) {
                let i = rng.random_range(0..chars.len());
                let c = alphabet[rng.random_range(0..alphabet.len())];
                match rng.random_range(0..3) {
                    0 => drop(chars.remove(i)),
                    1 => chars.insert(i, c),
                    _ => chars[i] = c,
                }
            }
            let data: String = chars.into_iter().collect();
            let want = oracle(&data);
            let got = parse(&data).map_err(|e| match e {
                ChunkError::Malformed(_) => Kind::Parse,
                ChunkError::Server(_) => Kind::StreamError,
            });
            match (&got, &want) {
                (Ok(g), Ok(w)) => {
                    ok += 1;
                    assert_eq!(g, w, "case {case}: {data}");
                }
                (Err(g), Err(w)) => {
                    failed += 1;
                    assert_eq!(g, w, "case {case}: {data}");
                }
                _ => panic!("case {case}: {data}\nscanner: {got:?}\nserde_json: {want:?}"),
            }
        }
        assert!(ok > 1000 && failed > 1000, "{ok} parsed, {failed} refused");
    }
}
