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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::metrics::ServeMetrics;
use super::worker::{Job, JobEvent, QueueSlot};
use super::ServeLimits;
use crate::engine::{FinishReason, Message, Outcome, Prompt, Request};
use crate::openai::chunk::{self, ChunkWriter};
use crate::openai::{ServerTimings, Usage, ENGINE_HEADER, ENGINE_TTFT_HEADER, QUEUE_HEADER};

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
    /// A wait before each token chunk is written (`--sim-serve-chunk-delay-ms`).
    pub chunk_delay: Option<std::time::Duration>,
    /// False once the engine thread has stopped (a failed engine): `/health` says so.
    pub healthy: Arc<AtomicBool>,
    /// Requests admitted and not finished, against `limits.max_queue`.
    pub in_queue: Arc<AtomicUsize>,
    pub limits: ServeLimits,
    /// What `GET /metrics` exposes.
    pub metrics: Arc<ServeMetrics>,
}

/// Token chunks a stream holds for a client that reads slowly before the engine's side
/// of the stream waits for it (per-stream backpressure).
const STREAM_BUFFER: usize = 64;

/// A streamed body fed by a channel. With `stamp`, each stamped chunk gets the host's
/// monotonic time written into it as hyper takes it to write to the socket, so a client
/// on the same host can measure what happens after the server let go of it.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
    stamp: bool,
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
            .map(|o| o.map(|b| Ok(Frame::data(if stamp { chunk::stamp(b) } else { b }))))
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
    // Health and metrics are open, as vLLM's are: a scraper carries no API key.
    if path != "/health" && path != "/metrics" && !authorized(&state, &req) {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing or wrong bearer token",
        ));
    }
    let method = req.method().clone();
    let reply = match (&method, path.as_str()) {
        (&Method::GET, "/health") => {
            if state.healthy.load(Ordering::Relaxed) {
                full(StatusCode::OK, "application/json", r#"{"status":"ok"}"#)
            } else {
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    "the engine has stopped",
                )
            }
        }
        (&Method::GET, "/metrics") => full(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            state.metrics.exposition(),
        ),
        (&Method::GET, "/v1/models") => {
            let body = json!({ "object": "list", "data": [{
                "id": state.model, "object": "model", "created": state.created, "owned_by": "nativebench"
            }]});
            full(StatusCode::OK, "application/json", body.to_string())
        }
        (&Method::POST, "/v1/chat/completions") => completion(&state, req, true, arrived).await,
        (&Method::POST, "/v1/completions") => completion(&state, req, false, arrived).await,
        (_, "/health" | "/metrics" | "/v1/models" | "/v1/chat/completions" | "/v1/completions") => {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request_error",
                "method not allowed",
            )
        }
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
            category: None,
            expected: None,
            arrival_us: None,
            turn: None,
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
    let body = Limited::new(req.into_body(), MAX_BODY).collect();
    let bytes = match tokio::time::timeout(state.limits.body_timeout, body).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("cannot read the body: {e}"),
            )
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                &format!(
                    "the body did not arrive within {} s",
                    state.limits.body_timeout.as_secs_f64()
                ),
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
    let Some(slot) = QueueSlot::take(&state.in_queue, state.limits.max_queue) else {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            &format!(
                "the server's queue is full ({} requests, --max-queue); retry later",
                state.limits.max_queue
            ),
        );
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return r;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let job = Job {
        req: p.req,
        arrived,
        events: tx,
        _slot: slot,
        metrics: state.metrics.clone(),
    };
    state.metrics.queued();
    if !state.healthy.load(Ordering::Relaxed) || state.jobs.send(job).is_err() {
        state.metrics.dropped();
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "the engine has stopped",
        );
    }
    let shape = ChunkWriter::new(chat, id, &state.model, state.created, state.stamp_chunks);
    if p.stream {
        let (btx, brx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(stream_events(
            rx,
            Sink {
                out: btx,
                stall: state.limits.stall_timeout,
            },
            shape,
            p.include_usage,
            state.chunk_delay,
        ));
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
    let mut reasoning = 0u32;
    loop {
        match rx.recv().await {
            Some(JobEvent::Tokens {
                n, reasoning: r, ..
            }) => reasoning += if r { n } else { 0 },
            Some(JobEvent::Done(Ok((out, t)))) => return whole(&shape, &out, reasoning, &t),
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

/// The reply's usage; `reasoning`: the reasoning tokens among its output tokens,
/// reported only by an engine that reasoned.
fn usage(out: &Outcome, reasoning: u32) -> Usage {
    Usage {
        prompt_tokens: Some(out.prompt_tokens),
        completion_tokens: Some(out.output_tokens),
        reasoning_tokens: (reasoning > 0).then_some(reasoning),
        cached_tokens: out.cached_tokens,
    }
}

fn finish_str(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "length",
        FinishReason::Stop => "stop",
    }
}

fn whole(shape: &ChunkWriter, out: &Outcome, reasoning: u32, t: &ServerTimings) -> Reply {
    let text = out.text.as_deref().unwrap_or_default();
    let body = shape.whole(text, finish_str(out.finish_reason), &usage(out, reasoning));
    let mut r = full(StatusCode::OK, "application/json", body);
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

/// A stream's side toward its client: holds at most [`STREAM_BUFFER`] chunks, and gives
/// up on a client that reads nothing for `stall`.
struct Sink {
    out: mpsc::Sender<Bytes>,
    stall: std::time::Duration,
}

impl Sink {
    /// Err when the client has gone, or stalled past the timeout.
    async fn send(&self, b: Bytes) -> Result<(), ()> {
        match tokio::time::timeout(self.stall, self.out.send(b)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }
}

/// Turns the engine's events into SSE bytes. A client that hangs up closes `out`, or
/// stops reading past the stall timeout; the loop then ends and dropping `events` tells
/// the engine to stop.
async fn stream_events(
    mut events: mpsc::UnboundedReceiver<JobEvent>,
    out: Sink,
    shape: ChunkWriter,
    include_usage: bool,
    chunk_delay: Option<std::time::Duration>,
) {
    if out.send(shape.role()).await.is_err() {
        return;
    }
    let mut reasoned = 0u32;
    while let Some(ev) = events.recv().await {
        let bytes = match ev {
            JobEvent::Tokens {
                n,
                at_ns,
                reasoning,
            } => {
                // One chunk after another: a delay longer than the engine's step backs
                // the stream up, as a slow HTTP side would.
                if let Some(d) = chunk_delay {
                    tokio::time::sleep(d).await;
                }
                let text = TOKEN_PIECE.repeat(n as usize);
                if reasoning {
                    reasoned += n;
                    shape.reasoning_piece(&text, Some(at_ns))
                } else {
                    shape.piece(&text, None, Some(at_ns))
                }
            }
            JobEvent::Done(Ok((o, t))) => {
                let mut b = String::from_utf8_lossy(&shape.piece(
                    "",
                    Some(finish_str(o.finish_reason)),
                    None,
                ))
                .into_owned();
                if include_usage {
                    b.push_str(&shape.usage(&usage(&o, reasoned)));
                }
                b.push_str(&shape.end(&t));
                let _ = out.send(Bytes::from(b)).await;
                return;
            }
            JobEvent::Done(Err(e)) => {
                let _ = out.send(Bytes::from(shape.error(&e.to_string()))).await;
                return;
            }
        };
        if out.send(bytes).await.is_err() {
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
}
