//! The OpenAI-compatible client: one per run, shared by every request in flight. It
//! builds each streaming request, sends it on a pooled keep-alive connection
//! ([`conn`](crate::openai::conn)), turns every way an exchange can fail into a typed
//! [`FailureKind`], and hands a successful reply's body to [`stream::read`].

use std::time::Duration;

use hyper::Uri;

use super::auth::{self, ApiKey};
use super::config::{endpoint_uri, with_path};
use super::profile::ChunkProfile;
use super::stream::{self, HttpReply};
use super::{fail, setup, HttpApi};
use crate::engine::{EngineConfig, EngineError, FailureKind, Mark, Prompt, Recorder, Request};
use crate::openai::conn::{ConnError, Pool, Reply};

/// How much of an error reply is kept in the record.
const ERROR_BODY_CHARS: usize = 300;
/// The largest `/models` reply read when looking for the served model.
const MODELS_BODY_LIMIT: usize = 1 << 20;

/// An OpenAI-compatible client: one per run, shared by every request in flight.
pub struct HttpClient {
    pool: Pool,
    endpoint: Uri,
    api: HttpApi,
    model: Option<String>,
    /// The header lines every request carries after its request line: host, content
    /// type, the API key and extra headers. Holds secrets: never formatted.
    common_headers: Vec<u8>,
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
            .clone()
            .or_else(|| model_tokenizer(config.model.as_deref()))
            .as_ref()
            .map(|p| {
                tokenizers::Tokenizer::from_file(p)
                    .map_err(|e| setup(format!("cannot load the tokenizer {}: {e}", p.display())))
            })
            .transpose()?;
        let host = endpoint.host().unwrap_or_default();
        let port = endpoint.port_u16().unwrap_or(80);
        // An IPv6 literal keeps its brackets in `host()`, as connecting and `Host` want.
        let authority = format!("{host}:{port}");
        let common_headers = common_headers(
            &authority,
            auth::read_api_key(h)?.as_ref(),
            &auth::extra_headers(h)?,
        );
        let connect_timeout = Duration::from_secs_f64(h.timeout_s.min(30.0));
        Ok(HttpClient {
            // The profile's client-added latency starts at the kernel's receipt.
            pool: Pool::new(authority, connect_timeout, h.chunk_profile.is_some()),
            endpoint,
            api: h.api,
            model: h.served_model.clone().or_else(|| config.model.clone()),
            common_headers,
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
        let request = self.request("GET", uri.path(), &[]);
        let fetch = async {
            let mut reply = self.pool.send(&request).await.ok()?;
            if !(200..300).contains(&reply.head.status) {
                return None;
            }
            let body = reply.read_to_end(MODELS_BODY_LIMIT).await.ok()?;
            let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
            v["data"][0]["id"].as_str().map(str::to_owned)
        };
        if let Ok(Some(id)) = tokio::time::timeout(Duration::from_secs(5), fetch).await {
            self.model = Some(id);
        }
    }

    /// A whole request: its line, the common headers, and the body with its length.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
        let mut r = Vec::with_capacity(self.common_headers.len() + body.len() + 96);
        r.extend_from_slice(method.as_bytes());
        r.push(b' ');
        r.extend_from_slice(path.as_bytes());
        r.extend_from_slice(b" HTTP/1.1\r\n");
        r.extend_from_slice(&self.common_headers);
        if method != "GET" {
            r.extend_from_slice(b"content-type: application/json\r\n");
        }
        r.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        r.extend_from_slice(body);
        r
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
        let request = self.request("POST", self.endpoint.path(), &body);
        rec.mark(Mark::Sent);
        let mut reply = self
            .pool
            .send(&request)
            .await
            .map_err(|e| self.failure(e))?;
        let status = reply.head.status;
        if !(200..300).contains(&status) {
            let text = read_snippet(&mut reply).await;
            return Err(fail(
                FailureKind::HttpStatus(status),
                format!("HTTP {status}: {text}"),
            ));
        }
        if !reply.head.content_type.starts_with("text/event-stream") {
            let content_type = std::mem::take(&mut reply.head.content_type);
            let text = read_snippet(&mut reply).await;
            return Err(fail(
                FailureKind::NotSse,
                format!("the reply is `{content_type}`, not an event stream: {text}"),
            ));
        }
        let mut r = stream::read(
            &mut reply,
            self.tokenizer.as_ref(),
            self.profile.as_ref(),
            rec,
        )
        .await?;
        r.same_host = self.same_host();
        Ok(r)
    }

    /// Whether the server is on this host (a loopback address or `localhost`).
    pub fn same_host(&self) -> bool {
        let host = self.endpoint.host().unwrap_or_default();
        let ip = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback())
    }

    /// An exchange's failure below its content, typed.
    fn failure(&self, e: ConnError) -> EngineError {
        let kind = match e {
            ConnError::Connect(_) => FailureKind::Connection,
            ConnError::Closed(_) => FailureKind::Disconnected,
            ConnError::Protocol(_) => FailureKind::Parse,
        };
        fail(kind, format!("{}: {e}", self.endpoint))
    }
}

/// The tokenizer.json of `--model` when it names a model on this machine (a file or a
/// directory), to count output tokens when a reply has no usage. A served model's name
/// (`meta-llama/...`) is not looked up, and nothing is downloaded or generated.
fn model_tokenizer(model: Option<&str>) -> Option<std::path::PathBuf> {
    let spec = model?;
    if !std::path::Path::new(spec).exists() {
        return None;
    }
    crate::model::resolve(spec).ok()?.tokenizer_json
}

/// The header lines every request carries. The key and the extra headers were checked
/// to be valid header values when read.
fn common_headers(
    authority: &str,
    api_key: Option<&ApiKey>,
    extra: &[(hyper::header::HeaderName, hyper::header::HeaderValue)],
) -> Vec<u8> {
    let mut h = format!("host: {authority}\r\naccept: text/event-stream\r\n").into_bytes();
    let lines = api_key
        .map(|k| ("authorization", &k.0))
        .into_iter()
        .chain(extra.iter().map(|(k, v)| (k.as_str(), v)));
    for (name, value) in lines {
        h.extend_from_slice(name.as_bytes());
        h.extend_from_slice(b": ");
        h.extend_from_slice(value.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    h
}

/// The first bytes of an error reply, for the record (bounded in size and time).
async fn read_snippet(reply: &mut Reply<'_>) -> String {
    let read = reply.read_to_end(ERROR_BODY_CHARS * 4);
    let buf = match tokio::time::timeout(Duration::from_secs(2), read).await {
        Ok(Ok(b)) => b,
        _ => Vec::new(),
    };
    let text = String::from_utf8_lossy(&buf);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(ERROR_BODY_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::HttpConfig;

    #[test]
    fn the_body_passes_max_tokens_and_ignore_eos_through() {
        let config = EngineConfig {
            kind: crate::engine::EngineKind::served(),
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
            category: None,
            expected: None,
            arrival_us: None,
            turn: None,
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
