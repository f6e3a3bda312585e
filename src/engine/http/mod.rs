//! The `http` engine: drives an OpenAI-compatible server (vLLM, SGLang, llama.cpp's
//! `llama-server`, `nativebench serve`, OpenAI) over streaming chat or completions.
//!
//! It marks the request sent, every chunk that carries content or reasoning content (a
//! chunk with only the role does not count), and leaves the end to the caller. Token
//! counts come from the reply's `usage`, or else from re-tokenizing with a tokenizer file.
//! [`HttpClient`] is the async entry point the load generator drives with many requests
//! in flight; [`HttpEngine`] owns it, one per run, behind the [`Engine`] contract.
//! The wire itself (chunks, SSE, HTTP/1.1) is `crate::openai`.
//!
//! - `config`: the settings and the URL check
//! - `auth`: the API key and extra headers, never shown
//! - `client`: requests, and every failure typed
//! - `stream`: a reply's event stream, chunk by chunk (the hot path)
//! - `profile`: the client's own cost per chunk, when measured

mod auth;
mod client;
mod config;
mod profile;
mod stream;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use client::HttpClient;
pub use config::{endpoint_uri, with_endpoint, HttpApi, HttpConfig, DEFAULT_API_KEY_ENV};
pub use profile::ChunkProfile;
pub use stream::{HttpReply, TokenSource, NO_DONE};

use super::{
    Capabilities, Engine, EngineConfig, EngineError, EngineInfo, FailureKind, Outcome, Prompt,
    Recorder, Request,
};

fn setup(message: impl Into<String>) -> EngineError {
    EngineError::setup("http", message)
}

fn fail(kind: FailureKind, message: impl Into<String>) -> EngineError {
    EngineError::Request {
        kind,
        message: message.into(),
    }
}

/// The served engine: one [`HttpClient`] per run on a runtime of its own. The runner
/// drives it with the load generator (`runner::load`, many requests in flight, through
/// [`Engine::served`]); as a plain [`Engine`] it sends one request at a time.
pub struct HttpEngine {
    client: Arc<HttpClient>,
    rt: tokio::runtime::Runtime,
    config: EngineConfig,
}

impl HttpEngine {
    pub fn new(config: &EngineConfig) -> Result<Self, EngineError> {
        // One worker per core this process may use (taskset narrows it), at most 8; on
        // one core, a single-threaded runtime spares the work-stealing machinery.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
        let mut builder = if threads == 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(threads);
            b
        };
        let rt = builder
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

    /// The client every request of the run shares.
    pub fn client(&self) -> &Arc<HttpClient> {
        &self.client
    }

    /// The client, to change between runs (no request in flight holds it then).
    pub fn client_mut(&mut self) -> Option<&mut HttpClient> {
        Arc::get_mut(&mut self.client)
    }

    /// The runtime the client's connections live on; every request runs here.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// The settings the engine was built from.
    pub fn config(&self) -> &HttpConfig {
        &self.config.http
    }
}

impl Engine for HttpEngine {
    fn info(&self) -> EngineInfo {
        let mut details = BTreeMap::new();
        details.insert("endpoint".into(), self.client.endpoint().to_string());
        details.insert(
            "api".into(),
            format!("{:?}", self.config.http.api).to_lowercase(),
        );
        EngineInfo {
            name: "http".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            device: "remote".into(),
            threads: None,
            model: self.client.model().unwrap_or("server default").to_owned(),
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

    fn served(&mut self) -> Option<&mut HttpEngine> {
        Some(self)
    }

    fn prompt_tokens(&mut self, req: &Request) -> Result<Option<usize>, EngineError> {
        // Without the server's template only a raw count is possible; it is close enough
        // to fit random prompts, and absent without a tokenizer.
        let Some(tok) = self.client.tokenizer() else {
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
