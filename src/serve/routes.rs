//! The OpenAI-compatible endpoints: `/v1/chat/completions` and `/v1/completions`
//! (streaming and not), `/v1/models` and `/health`. Requests are checked, queued FIFO to
//! the engine thread, and answered in OpenAI's shapes. Streamed replies end with a
//! `: nativebench queue_ms=.. engine_ms=..` comment before `data: [DONE]`; non-streamed
//! replies carry the same figures in `x-nativebench-*` headers.
//!
//! Engines report token *times*, not token text, so each streamed chunk carries one
//! placeholder token (`" tok"`); the non-streamed reply carries the real text.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::worker::{Job, JobEvent};
use crate::engine::openai::{
    monotonic_ns, ServerTimings, ENGINE_HEADER, ENGINE_TTFT_HEADER, QUEUE_HEADER,
};
use crate::engine::{FinishReason, Message, Outcome, Prompt, Request};

/// Largest request body accepted.
const MAX_BODY: usize = 16 << 20;
/// Output length when a request sets none.
const DEFAULT_MAX_TOKENS: u32 = 128;
/// Content of each streamed token chunk (see the module comment).
const TOKEN_PIECE: &str = " tok";

/// What every connection shares.
pub struct State {
    pub jobs: std_mpsc::Sender<Job>,
    pub model: String,
    pub api_key: Option<String>,
    pub next_id: AtomicU64,
    pub created: u64,
    /// Stamp each token chunk with its send time (`serve --stamp-chunks`).
    pub stamp_chunks: bool,
}

/// The start of a chunk that carries a send-time stamp (`--stamp-chunks`): the field
/// comes first, its value is [`STAMP_WIDTH`] spaces until the chunk is sent.
const STAMP_HEAD: &str = "data: {\"nb_sent_ns\":";
/// Room for the stamp: u64 nanoseconds, padded with spaces (valid JSON whitespace).
const STAMP_WIDTH: usize = 20;

/// A streamed body fed by a channel. With `stamp`, each stamped chunk gets the host's
/// monotonic time written into it as hyper takes it to write to the socket, so a client
/// on the same host can measure what happens after the server let go of it.
pub struct ChannelBody {
    rx: mpsc::UnboundedReceiver<Bytes>,
    stamp: bool,
}

fn stamped(b: Bytes) -> Bytes {
    if !b.starts_with(STAMP_HEAD.as_bytes()) {
        return b;
    }
    let mut m = b.try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..]));
    let digits = monotonic_ns().to_string();
    let at = STAMP_HEAD.len();
    m[at..at + digits.len()].copy_from_slice(digits.as_bytes());
    m.freeze()
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let stamp = self.stamp;
        self.rx
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(Frame::data(if stamp { stamped(b) } else { b }))))
    }
}

/// The reply body type: a whole body or a stream.
pub type Reply = Response<http_body_util::Either<http_body_util::Full<Bytes>, ChannelBody>>;

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(http_body_util::Either::Left(http_body_util::Full::new(
        body.into(),
    )));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

fn error(status: StatusCode, kind: &str, message: &str) -> Reply {
    let body = json!({ "error": { "message": message, "type": kind, "code": status.as_u16() } });
    full(status, "application/json", body.to_string())
}

/// Routes one request.
pub async fn handle(state: Arc<State>, req: hyper::Request<Incoming>) -> Result<Reply, Infallible> {
    let arrived = Instant::now();
    let path = req.uri().path().trim_end_matches('/').to_owned();
    if path != "/health" && !authorized(&state, &req) {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing or wrong bearer token",
        ));
    }
    let method = req.method().clone();
    let reply = match (&method, path.as_str()) {
        (&Method::GET, "/health") => full(StatusCode::OK, "application/json", r#"{"status":"ok"}"#),
        (&Method::GET, "/v1/models") => {
            let body = json!({ "object": "list", "data": [{
                "id": state.model, "object": "model", "created": state.created, "owned_by": "nativebench"
            }]});
            full(StatusCode::OK, "application/json", body.to_string())
        }
        (&Method::POST, "/v1/chat/completions") => completion(&state, req, true, arrived).await,
        (&Method::POST, "/v1/completions") => completion(&state, req, false, arrived).await,
        (_, "/health" | "/v1/models" | "/v1/chat/completions" | "/v1/completions") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method not allowed",
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!("no route {path}"),
        ),
    };
    Ok(reply)
}

fn authorized(state: &State, req: &hyper::Request<Incoming>) -> bool {
    let Some(key) = &state.api_key else {
        return true;
    };
    let got = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compare without an early exit, so the time taken does not reveal the key.
    got.is_some_and(|g| {
        g.len() == key.len()
            && g.bytes()
                .zip(key.bytes())
                .fold(0u8, |a, (x, y)| a | (x ^ y))
                == 0
    })
}

/// A parsed completion request.
#[derive(Debug)]
struct Parsed {
    req: Request,
    stream: bool,
    include_usage: bool,
}

fn parse(body: &Value, chat: bool, id: u64) -> Result<Parsed, String> {
    if !body.is_object() {
        return Err("the body must be a JSON object".into());
    }
    let prompt = if chat {
        let ms = body["messages"]
            .as_array()
            .ok_or("`messages` must be an array")?;
        if ms.is_empty() {
            return Err("`messages` is empty".into());
        }
        let mut out = Vec::with_capacity(ms.len());
        for m in ms {
            let role = m["role"]
                .as_str()
                .ok_or("each message needs a string `role`")?;
            let content = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(""),
                Value::Null => String::new(),
                _ => return Err("a message's `content` must be a string or a list of parts".into()),
            };
            out.push(Message {
                role: role.to_owned(),
                content,
            });
        }
        Prompt::Chat(out)
    } else {
        match &body["prompt"] {
            Value::String(s) => Prompt::Text(s.clone()),
            Value::Array(a) if a.len() == 1 && a[0].is_string() => {
                Prompt::Text(a[0].as_str().unwrap_or_default().to_owned())
            }
            _ => return Err("`prompt` must be a string".into()),
        }
    };
    let max = match body.get("max_completion_tokens").or(body.get("max_tokens")) {
        None | Some(Value::Null) => DEFAULT_MAX_TOKENS,
        Some(v) => v
            .as_u64()
            .filter(|&n| (1..=1 << 20).contains(&n))
            .ok_or("`max_tokens` must be an integer from 1 to 1048576")? as u32,
    };
    let flag = |k: &str| body.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok(Parsed {
        req: Request {
            id,
            prompt,
            max_tokens: max,
            ignore_eos: flag("ignore_eos"),
        },
        stream: flag("stream"),
        include_usage: body["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false),
    })
}

async fn completion(
    state: &State,
    req: hyper::Request<Incoming>,
    chat: bool,
    arrived: Instant,
) -> Reply {
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("cannot read the body: {e}"),
            )
        }
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("the body is not JSON: {e}"),
            )
        }
    };
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let p = match parse(&body, chat, id) {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", &m),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let job = Job {
        req: p.req,
        arrived,
        events: tx,
    };
    if state.jobs.send(job).is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "the engine has stopped",
        );
    }
    let shape = Shape::new(state, chat, id);
    if p.stream {
        let (btx, brx) = mpsc::unbounded_channel();
        tokio::spawn(stream_events(rx, btx, shape, p.include_usage));
        let mut r = Response::new(http_body_util::Either::Right(ChannelBody {
            rx: brx,
            stamp: state.stamp_chunks,
        }));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        r.headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-cache"));
        return r;
    }
    loop {
        match rx.recv().await {
            Some(JobEvent::Tokens(_)) => {}
            Some(JobEvent::Done(Ok((out, t)))) => return whole(&shape, &out, &t),
            Some(JobEvent::Done(Err(e))) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "engine_error",
                    &e.to_string(),
                )
            }
            None => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the engine dropped the request",
                )
            }
        }
    }
}

/// The fixed parts of one reply's JSON.
struct Shape {
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

impl Shape {
    fn new(state: &State, chat: bool, n: u64) -> Shape {
        let id = if chat {
            format!("chatcmpl-{n}")
        } else {
            format!("cmpl-{n}")
        };
        let object = if chat {
            "chat.completion.chunk"
        } else {
            "text_completion"
        };
        let model = Value::from(state.model.as_str()).to_string();
        let head = format!(
            r#"{{"id":"{id}","object":"{object}","created":{},"model":{model},"#,
            state.created
        );
        let piece_head = if state.stamp_chunks {
            format!("{STAMP_HEAD}{:STAMP_WIDTH$},{}", "", &head[1..])
        } else {
            format!("data: {head}")
        };
        Shape {
            chat,
            head,
            piece_head,
            id,
            model: state.model.clone(),
            created: state.created,
        }
    }

    fn piece(&self, text: &str, finish: Option<&str>) -> Bytes {
        let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
        let text = Value::from(text).to_string();
        let choice = if self.chat {
            format!(r#"{{"index":0,"delta":{{"content":{text}}},"finish_reason":{finish}}}"#)
        } else {
            format!(r#"{{"index":0,"text":{text},"finish_reason":{finish}}}"#)
        };
        Bytes::from(format!("{}\"choices\":[{choice}]}}\n\n", self.piece_head))
    }

    fn role(&self) -> Bytes {
        Bytes::from(format!(
            "data: {}\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n",
            self.head
        ))
    }
}

fn usage(out: &Outcome) -> Value {
    json!({
        "prompt_tokens": out.prompt_tokens,
        "completion_tokens": out.output_tokens,
        "total_tokens": out.prompt_tokens + out.output_tokens,
    })
}

fn finish_str(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "length",
        FinishReason::Stop => "stop",
    }
}

fn whole(shape: &Shape, out: &Outcome, t: &ServerTimings) -> Reply {
    let text = out.text.clone().unwrap_or_default();
    let choice = if shape.chat {
        json!({ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": finish_str(out.finish_reason) })
    } else {
        json!({ "index": 0, "text": text, "finish_reason": finish_str(out.finish_reason) })
    };
    let body = json!({
        "id": shape.id,
        "object": if shape.chat { "chat.completion" } else { "text_completion" },
        "created": shape.created,
        "model": shape.model,
        "choices": [choice],
        "usage": usage(out),
    });
    let mut r = full(StatusCode::OK, "application/json", body.to_string());
    let h = r.headers_mut();
    for (name, v) in [
        (QUEUE_HEADER, Some(t.queue_ms)),
        (ENGINE_HEADER, Some(t.engine_ms)),
        (ENGINE_TTFT_HEADER, t.engine_ttft_ms),
    ] {
        if let Some(v) = v.and_then(|v| HeaderValue::from_str(&format!("{v:.4}")).ok()) {
            h.insert(name, v);
        }
    }
    r
}

/// Turns the engine's events into SSE bytes. A client that hangs up closes `out`; the
/// loop then ends and dropping `events` tells the engine to stop.
async fn stream_events(
    mut events: mpsc::UnboundedReceiver<JobEvent>,
    out: mpsc::UnboundedSender<Bytes>,
    shape: Shape,
    include_usage: bool,
) {
    if out.send(shape.role()).is_err() {
        return;
    }
    while let Some(ev) = events.recv().await {
        let bytes = match ev {
            JobEvent::Tokens(k) => shape.piece(&TOKEN_PIECE.repeat(k as usize), None),
            JobEvent::Done(Ok((o, t))) => {
                let mut b =
                    String::from_utf8_lossy(&shape.piece("", Some(finish_str(o.finish_reason))))
                        .into_owned();
                if include_usage {
                    b.push_str(&format!(
                        "data: {}\"choices\":[],\"usage\":{}}}\n\n",
                        shape.head,
                        usage(&o)
                    ));
                }
                b.push_str(&format!(": {}\n\ndata: [DONE]\n\n", t.to_comment()));
                let _ = out.send(Bytes::from(b));
                return;
            }
            JobEvent::Done(Err(e)) => {
                let err = json!({ "error": { "message": e.to_string(), "type": "engine_error" } });
                let _ = out.send(Bytes::from(format!("data: {err}\n\ndata: [DONE]\n\n")));
                return;
            }
        };
        if out.send(bytes).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_with_messages_a_client_can_act_on() {
        let ok = parse(&json!({"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"stream":true,"ignore_eos":true}), true, 1).unwrap();
        assert_eq!(ok.req.max_tokens, 3);
        assert!(ok.stream && ok.req.ignore_eos && !ok.include_usage);
        let parts = parse(&json!({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}), true, 1).unwrap();
        assert_eq!(
            parts.req.prompt,
            Prompt::Chat(vec![Message {
                role: "user".into(),
                content: "ab".into()
            }])
        );
        assert_eq!(parts.req.max_tokens, DEFAULT_MAX_TOKENS);
        assert!(parse(&json!({"messages":[]}), true, 1)
            .unwrap_err()
            .contains("empty"));
        assert!(parse(&json!({"prompt": 5}), false, 1)
            .unwrap_err()
            .contains("prompt"));
        assert!(parse(&json!({"prompt": "x", "max_tokens": 0}), false, 1)
            .unwrap_err()
            .contains("max_tokens"));
        assert!(parse(&json!([1]), false, 1).is_err());
    }

    fn state(stamp_chunks: bool) -> State {
        State {
            jobs: std_mpsc::channel().0,
            model: "m\"x".into(),
            api_key: None,
            next_id: AtomicU64::new(0),
            created: 1,
            stamp_chunks,
        }
    }

    #[test]
    fn chunks_parse_back_with_the_client_parser() {
        for (chat, stamp) in [(true, false), (false, false), (true, true)] {
            let shape = Shape::new(&state(stamp), chat, 4);
            let mut b = shape.piece(" tok", None);
            if stamp {
                b = stamped(b);
            }
            let text = std::str::from_utf8(&b).unwrap();
            let data = text.strip_prefix("data: ").unwrap().trim_end();
            let p = crate::engine::openai::parse(data).unwrap();
            assert_eq!(p.content, " tok");
            assert_eq!(p.sent_ns.is_some(), stamp, "{text}");
            if let Some(ns) = p.sent_ns {
                assert!(ns > 0 && ns <= monotonic_ns());
            }
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["model"], "m\"x");
        }
    }
}
