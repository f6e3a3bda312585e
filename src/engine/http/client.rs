//! The OpenAI-compatible client: one per run, shared by every request in flight. It
//! builds each streaming request, sends it on a pooled keep-alive connection, turns
//! every way an exchange can fail into a typed [`FailureKind`], and hands a successful
//! reply's body to [`stream::read`].

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::auth::{self, ApiKey};
use super::config::{endpoint_uri, with_path};
use super::profile::ChunkProfile;
use super::stream::{self, HttpReply};
use super::{error_chain, fail, setup, HttpApi};
use crate::engine::{EngineConfig, EngineError, FailureKind, Mark, Prompt, Recorder, Request};

/// How much of an error reply is kept in the record.
const ERROR_BODY_CHARS: usize = 300;

/// An OpenAI-compatible client: one per run, shared by every request in flight.
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    /// Never reuses a connection: the retry of a request whose pooled connection turned
    /// out closed goes here, so it cannot draw another closed one from the pool.
    fresh: Client<HttpConnector, Full<Bytes>>,
    endpoint: Uri,
    api: HttpApi,
    model: Option<String>,
    api_key: Option<ApiKey>,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    tokenizer: Option<tokenizers::Tokenizer>,
    profile: Option<ChunkProfile>,
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
            .build(connector.clone());
        let fresh = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Ok(HttpClient {
            client,
            fresh,
            endpoint,
            api: h.api,
            model: h.served_model.clone().or_else(|| config.model.clone()),
            api_key: auth::read_api_key(h)?,
            headers: auth::extra_headers(h)?,
            timeout: Duration::from_secs_f64(h.timeout_s),
            tokenizer,
            profile: h.chunk_profile.as_deref().map(ChunkProfile::new),
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

    /// The per-chunk profile, when one was asked for (`--chunk-profile`).
    pub fn profile(&self) -> Option<&ChunkProfile> {
        self.profile.as_ref()
    }

    /// The tokenizer that counts output tokens, when one was given.
    pub fn tokenizer(&self) -> Option<&tokenizers::Tokenizer> {
        self.tokenizer.as_ref()
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
        let Ok(uri) = with_path(&self.endpoint, &format!("{base}/models")) else {
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
            // it, so the request goes once more, on a new connection. Not from the pool:
            // the other idle connections may have been closed too.
            sent = self.fresh.request(make()?).await;
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
        stream::read(
            &mut body,
            self.tokenizer.as_ref(),
            self.profile.as_ref(),
            rec,
        )
        .await
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
    use crate::engine::HttpConfig;

    #[test]
    fn the_body_passes_max_tokens_and_ignore_eos_through() {
        let config = EngineConfig {
            kind: crate::engine::EngineKind::Http,
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
