//! The `http` engine: drives an OpenAI-compatible server (vLLM, SGLang, llama.cpp's
//! `llama-server`, `nativebench serve`, OpenAI) over streaming chat or completions.
//!
//! It marks the request sent, every chunk that carries content or reasoning content (a
//! chunk with only the role does not count), and leaves the end to the caller. Token
//! counts come from the reply's `usage`, or else from re-tokenizing with a tokenizer file.
//! [`HttpClient`] is the async entry point the load generator drives with many requests
//! in flight; [`HttpEngine`] wraps it in the synchronous [`Engine`] contract.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use super::openai::{self as chunk, ChunkParts, ServerTimings};
use super::sse::{SseItem, SseParser};
use super::{
    Capabilities, Engine, EngineConfig, EngineError, EngineInfo, FailureKind, FinishReason, Mark,
    Outcome, Prompt, Recorder, Request,
};

/// The environment variable the API key is read from unless told otherwise.
pub const DEFAULT_API_KEY_ENV: &str = "OPENAI_API_KEY";
/// How much of an error reply is kept in the record.
const ERROR_BODY_CHARS: usize = 300;

/// Which OpenAI endpoint to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpApi {
    /// `/chat/completions`: messages, rendered by the server's chat template.
    #[default]
    Chat,
    /// `/completions`: raw text.
    Completions,
}

impl FromStr for HttpApi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chat" | "chat-completions" => Ok(HttpApi::Chat),
            "completions" | "completion" => Ok(HttpApi::Completions),
            _ => Err(format!("unknown --api `{s}`: choose chat or completions")),
        }
    }
}

/// The HTTP engine's settings. The API key is never here: only where to find it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// The server's base URL (`http://127.0.0.1:8000/v1`) or a full endpoint URL.
    pub url: Option<String>,
    pub api: HttpApi,
    /// The `model` sent in each request; default: the run's `--model`, else the first
    /// model the server lists.
    pub served_model: Option<String>,
    /// The environment variable holding the API key.
    pub api_key_env: String,
    /// A file holding the API key (read at start, trimmed); wins over the variable.
    pub api_key_file: Option<PathBuf>,
    /// Extra request headers. Values are redacted when the config is written out.
    #[serde(serialize_with = "redacted_headers")]
    pub headers: Vec<(String, String)>,
    /// Per-request limit on the whole exchange, in seconds.
    pub timeout_s: f64,
    /// A tokenizer.json to count output tokens with when a reply has no `usage`.
    pub tokenizer: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            url: None,
            api: HttpApi::Chat,
            served_model: None,
            api_key_env: DEFAULT_API_KEY_ENV.into(),
            api_key_file: None,
            headers: Vec::new(),
            timeout_s: 600.0,
            tokenizer: None,
        }
    }
}

fn redacted_headers<S: serde::Serializer>(h: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    let v: Vec<(&str, &str)> = h.iter().map(|(k, _)| (k.as_str(), "<redacted>")).collect();
    v.serialize(s)
}

/// Parses and checks a server URL: plain `http://` with a host. The endpoint path is
/// appended unless the URL already names one.
pub fn endpoint_uri(url: &str, api: HttpApi) -> Result<Uri, String> {
    let uri: Uri = url
        .trim()
        .parse()
        .map_err(|e| format!("--url `{url}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "--url `{url}`: https is not supported by this build (no TLS); use an http:// endpoint or a local TLS proxy"
            ))
        }
        _ => return Err(format!("--url `{url}` must start with http://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("--url `{url}` has no host"));
    }
    let path = uri.path().trim_end_matches('/');
    let full = if path.ends_with("/completions") {
        path.to_owned()
    } else {
        match api {
            HttpApi::Chat => format!("{path}/chat/completions"),
            HttpApi::Completions => format!("{path}/completions"),
        }
    };
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    format!("http://{authority}{full}")
        .parse()
        .map_err(|e| format!("--url `{url}`: {e}"))
}

/// The API key, kept out of `Debug` and never formatted into a message.
#[derive(Clone)]
struct ApiKey(HeaderValue);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

fn setup(message: impl Into<String>) -> EngineError {
    EngineError::Setup {
        engine: "http",
        message: message.into(),
    }
}

fn fail(kind: FailureKind, message: impl Into<String>) -> EngineError {
    EngineError::Request {
        kind,
        message: message.into(),
    }
}

fn read_api_key(config: &HttpConfig) -> Result<Option<ApiKey>, EngineError> {
    let key = match &config.api_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                setup(format!(
                    "cannot read the API key file {}: {e}",
                    path.display()
                ))
            })?;
            Some(text.trim().to_owned())
        }
        None => std::env::var(&config.api_key_env).ok(),
    };
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    // The message never includes the key itself.
    let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
        .map_err(|_| setup("the API key holds characters a header cannot carry"))?;
    value.set_sensitive(true);
    Ok(Some(ApiKey(value)))
}

/// What a streamed reply gave beyond the [`Outcome`].
#[derive(Debug, Clone, PartialEq)]
pub struct HttpReply {
    pub outcome: Outcome,
    /// Reasoning tokens, from `usage` or counted by chunk.
    pub reasoning_tokens: Option<u32>,
    /// The server's own split of its time, when it reported one.
    pub server: Option<ServerTimings>,
}

/// An OpenAI-compatible client: one per run, shared by every request in flight.
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    endpoint: Uri,
    api: HttpApi,
    model: Option<String>,
    api_key: Option<ApiKey>,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    tokenizer: Option<tokenizers::Tokenizer>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds a client from an engine config (its `http` part, and `model` as the default
    /// served model). Must be called inside a tokio runtime only when it is used there.
    pub fn new(config: &EngineConfig) -> Result<Self, EngineError> {
        let h = &config.http;
        let url = h
            .url
            .as_deref()
            .ok_or_else(|| setup("no server: give --url http://HOST:PORT/v1"))?;
        let endpoint = endpoint_uri(url, h.api).map_err(setup)?;
        if !(h.timeout_s.is_finite() && h.timeout_s > 0.0) {
            return Err(setup(format!(
                "--timeout must be positive, got {}",
                h.timeout_s
            )));
        }
        let mut headers = Vec::new();
        for (k, v) in &h.headers {
            let name =
                HeaderName::from_str(k).map_err(|_| setup(format!("bad header name `{k}`")))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| setup(format!("the value of header `{k}` cannot be sent")))?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        let tokenizer = h
            .tokenizer
            .as_ref()
            .map(|p| {
                tokenizers::Tokenizer::from_file(p)
                    .map_err(|e| setup(format!("cannot load the tokenizer {}: {e}", p.display())))
            })
            .transpose()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs_f64(h.timeout_s.min(30.0))));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(usize::MAX)
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(HttpClient {
            client,
            endpoint,
            api: h.api,
            model: h.served_model.clone().or_else(|| config.model.clone()),
            api_key: read_api_key(h)?,
            headers,
            timeout: Duration::from_secs_f64(h.timeout_s),
            tokenizer,
        })
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }

    /// The model name sent, when there is one.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Asks the server for its first model (`GET .../models`) when none was named, so
    /// servers that require `model` (vLLM) work without `--served-model`.
    pub async fn discover_model(&mut self) {
        if self.model.is_some() {
            return;
        }
        let path = self.endpoint.path();
        let base = path
            .strip_suffix("/chat/completions")
            .or_else(|| path.strip_suffix("/completions"))
            .unwrap_or(path);
        let authority = self
            .endpoint
            .authority()
            .map(|a| a.as_str())
            .unwrap_or_default();
        let Ok(uri) = format!("http://{authority}{base}/models").parse::<Uri>() else {
            return;
        };
        let mut req = hyper::Request::get(uri);
        if let Some(k) = &self.api_key {
            req = req.header(AUTHORIZATION, k.0.clone());
        }
        let Ok(req) = req.body(Full::new(Bytes::new())) else {
            return;
        };
        let fetch = async {
            let resp = self.client.request(req).await.ok()?;
            let body = resp.into_body().collect().await.ok()?.to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
            v["data"][0]["id"].as_str().map(str::to_owned)
        };
        if let Ok(Some(id)) = tokio::time::timeout(Duration::from_secs(5), fetch).await {
            self.model = Some(id);
        }
    }

    /// The JSON body of a streaming request.
    pub fn body(&self, req: &Request) -> serde_json::Value {
        let mut b = serde_json::json!({
            "max_tokens": req.max_tokens,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        if let Some(m) = &self.model {
            b["model"] = m.clone().into();
        }
        if req.ignore_eos {
            // vLLM, SGLang and llama.cpp's server all honour it; only sent when on.
            b["ignore_eos"] = true.into();
        }
        match (self.api, &req.prompt) {
            (HttpApi::Chat, Prompt::Chat(ms)) => b["messages"] = serde_json::json!(ms),
            (HttpApi::Chat, Prompt::Text(t)) => {
                b["messages"] = serde_json::json!([{ "role": "user", "content": t }])
            }
            (HttpApi::Completions, Prompt::Text(t)) => b["prompt"] = t.clone().into(),
            (HttpApi::Completions, Prompt::Chat(ms)) => {
                let text: Vec<&str> = ms.iter().map(|m| m.content.as_str()).collect();
                b["prompt"] = text.join("\n").into();
            }
        }
        b
    }

    /// Sends one request and reads its stream, marking `Sent` and each content chunk on
    /// `rec`. Every failure is a typed [`EngineError::Request`].
    pub async fn generate<R: Recorder + ?Sized>(
        &self,
        req: &Request,
        rec: &mut R,
    ) -> Result<HttpReply, EngineError> {
        match tokio::time::timeout(self.timeout, self.exchange(req, rec)).await {
            Ok(r) => r,
            Err(_) => Err(fail(
                FailureKind::Timeout,
                format!(
                    "no complete reply within {:.3} s (--timeout)",
                    self.timeout.as_secs_f64()
                ),
            )),
        }
    }

    async fn exchange<R: Recorder + ?Sized>(
        &self,
        req: &Request,
        rec: &mut R,
    ) -> Result<HttpReply, EngineError> {
        let body = serde_json::to_vec(&self.body(req))
            .map_err(|e| fail(FailureKind::InvalidRequest, e.to_string()))?;
        let body = Bytes::from(body);
        let make = || {
            let mut builder = hyper::Request::post(self.endpoint.clone())
                .header(CONTENT_TYPE, "application/json")
                .header(hyper::header::ACCEPT, "text/event-stream");
            if let Some(k) = &self.api_key {
                builder = builder.header(AUTHORIZATION, k.0.clone());
            }
            for (k, v) in &self.headers {
                builder = builder.header(k, v.clone());
            }
            builder
                .body(Full::new(body.clone()))
                .map_err(|e| fail(FailureKind::InvalidRequest, e.to_string()))
        };
        let first = make()?;
        rec.mark(Mark::Sent);
        let mut sent = self.client.request(first).await;
        if sent.as_ref().err().is_some_and(stale_connection) {
            // A pooled keep-alive connection that the server had already closed (llama.cpp's
            // server closes one after a fixed number of requests): nothing was answered on
            // it, so the request goes once more, on a fresh connection.
            sent = self.client.request(make()?).await;
        }
        let resp = sent.map_err(|e| {
            let kind = if e.is_connect() {
                FailureKind::Connection
            } else {
                FailureKind::Disconnected
            };
            fail(kind, format!("{}: {}", self.endpoint, error_chain(&e)))
        })?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let mut body = resp.into_body();
        if !status.is_success() {
            let text = read_snippet(&mut body).await;
            return Err(fail(
                FailureKind::HttpStatus(status.as_u16()),
                format!("HTTP {status}: {text}"),
            ));
        }
        if !content_type.starts_with("text/event-stream") {
            let text = read_snippet(&mut body).await;
            return Err(fail(
                FailureKind::NotSse,
                format!("the reply is `{content_type}`, not an event stream: {text}"),
            ));
        }
        self.read_stream(&mut body, rec).await
    }

    async fn read_stream<R: Recorder + ?Sized>(
        &self,
        body: &mut hyper::body::Incoming,
        rec: &mut R,
    ) -> Result<HttpReply, EngineError> {
        let mut parser = SseParser::new();
        let mut items = Vec::new();
        let mut acc = chunk::Accumulator::default();
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
                        let k = self.tokens_in(&parts);
                        if let Some(k) = k {
                            rec.mark(Mark::Tokens(k));
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
        self.finish(acc)
    }

    /// Tokens a chunk carries: `None` for a chunk without content (role-only, usage),
    /// else 1, or the tokenizer's count of its text when a tokenizer was given.
    fn tokens_in(&self, parts: &ChunkParts) -> Option<u32> {
        let text = parts.content.len() + parts.reasoning.len();
        if text == 0 {
            return None;
        }
        let Some(tok) = &self.tokenizer else {
            return Some(1);
        };
        let s = format!("{}{}", parts.reasoning, parts.content);
        let n = tok.encode(s, false).map(|e| e.len()).unwrap_or(1);
        Some(n.max(1) as u32)
    }

    fn finish(&self, acc: chunk::Accumulator) -> Result<HttpReply, EngineError> {
        let usage = acc.usage;
        let output_tokens = match (usage.and_then(|u| u.completion_tokens), &self.tokenizer) {
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
}

/// The first bytes of an error reply, for the record (bounded in size and time).
async fn read_snippet(body: &mut hyper::body::Incoming) -> String {
    let mut buf = Vec::new();
    let read = async {
        while buf.len() < ERROR_BODY_CHARS * 4 {
            match body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        buf.extend_from_slice(&d);
                    }
                }
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
    let text = String::from_utf8_lossy(&buf);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(ERROR_BODY_CHARS).collect()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The synchronous [`Engine`] over [`HttpClient`]: one request at a time, on a runtime of
/// its own. The load generator drives [`HttpClient`] directly for concurrency.
pub struct HttpEngine {
    client: Arc<HttpClient>,
    rt: tokio::runtime::Runtime,
    config: EngineConfig,
}

impl HttpEngine {
    pub fn new(config: &EngineConfig) -> Result<Self, EngineError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| setup(format!("cannot start the async runtime: {e}")))?;
        let mut client = HttpClient::new(config)?;
        rt.block_on(client.discover_model());
        Ok(HttpEngine {
            client: Arc::new(client),
            rt,
            config: config.clone(),
        })
    }

    /// The client, for the load generator.
    pub fn client(&self) -> Arc<HttpClient> {
        self.client.clone()
    }
}

impl Engine for HttpEngine {
    fn info(&self) -> EngineInfo {
        let mut details = BTreeMap::new();
        details.insert("endpoint".into(), self.client.endpoint.to_string());
        details.insert(
            "api".into(),
            format!("{:?}", self.config.http.api).to_lowercase(),
        );
        EngineInfo {
            name: "http".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            device: "remote".into(),
            threads: None,
            model: self
                .client
                .model
                .clone()
                .unwrap_or_else(|| "server default".into()),
            model_path: None,
            details,
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            in_process: false,
            separable_prefill: false,
            max_batch: usize::MAX,
            device_timer: false,
        }
    }

    fn generate(&mut self, req: &Request, rec: &mut dyn Recorder) -> Result<Outcome, EngineError> {
        self.rt
            .block_on(self.client.generate(req, rec))
            .map(|r| r.outcome)
    }

    fn prompt_tokens(&mut self, req: &Request) -> Result<Option<usize>, EngineError> {
        // Without the server's template only a raw count is possible; it is close enough
        // to fit random prompts, and absent without a tokenizer.
        let Some(tok) = &self.client.tokenizer else {
            return Ok(None);
        };
        let text = match &req.prompt {
            Prompt::Text(t) => t.clone(),
            Prompt::Chat(ms) => ms
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        };
        Ok(tok.encode(text, false).ok().map(|e| e.len()))
    }
}

/// Builds the engine (the dispatch arm of `engine::build`).
pub fn build(config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
    Ok(Box::new(HttpEngine::new(config)?))
}

/// Whether a request failed because its pooled connection was closed by the server before
/// any reply: hyper's "connection closed before message completed".
fn stale_connection(e: &hyper_util::client::legacy::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<hyper::Error>())
        .is_some_and(|h| h.is_incomplete_message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_completed() {
        let u = endpoint_uri("http://127.0.0.1:8000/v1", HttpApi::Chat).unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:8000/v1/chat/completions");
        let u = endpoint_uri("http://h:1/v1/", HttpApi::Completions).unwrap();
        assert_eq!(u.to_string(), "http://h:1/v1/completions");
        let u = endpoint_uri("http://h:1/x/v1/completions", HttpApi::Chat).unwrap();
        assert_eq!(u.path(), "/x/v1/completions");
        assert!(endpoint_uri("ftp://h/v1", HttpApi::Chat)
            .unwrap_err()
            .contains("http://"));
        assert!(endpoint_uri("https://h/v1", HttpApi::Chat)
            .unwrap_err()
            .contains("TLS"));
        assert!(endpoint_uri("not a url", HttpApi::Chat).is_err());
        assert!(endpoint_uri("/v1", HttpApi::Chat).is_err());
    }

    #[test]
    fn header_values_are_redacted_in_the_config() {
        let c = HttpConfig {
            headers: vec![("X-Secret".into(), "s3cr3t".into())],
            ..HttpConfig::default()
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(
            json.contains("X-Secret") && !json.contains("s3cr3t"),
            "{json}"
        );
    }

    #[test]
    fn the_body_passes_max_tokens_and_ignore_eos_through() {
        let config = EngineConfig {
            kind: super::super::EngineKind::Http,
            model: Some("m".into()),
            http: HttpConfig {
                url: Some("http://127.0.0.1:9/v1".into()),
                api_key_env: "NATIVEBENCH_TEST_NO_SUCH_KEY".into(),
                ..HttpConfig::default()
            },
            ..EngineConfig::default()
        };
        let client = HttpClient::new(&config).unwrap();
        let req = Request {
            id: 0,
            prompt: Prompt::Text("hi".into()),
            max_tokens: 7,
            ignore_eos: true,
        };
        let b = client.body(&req);
        assert_eq!(b["max_tokens"], 7);
        assert_eq!(b["ignore_eos"], true);
        assert_eq!(b["model"], "m");
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["messages"][0]["content"], "hi");
        let b = client.body(&Request {
            ignore_eos: false,
            ..req
        });
        assert!(b.get("ignore_eos").is_none());
    }
}
