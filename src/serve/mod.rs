//! `nativebench serve`: an OpenAI-compatible HTTP server over an in-process engine.
//!
//! The engine runs on a thread of its own and takes requests FIFO; the HTTP side runs on
//! tokio. Each reply reports the request's queue wait and engine time (see `routes`), so
//! a client can split what the server spent from what the network and HTTP added.

pub mod metrics;
mod routes;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::engine::{EngineConfig, EngineInfo};
use crate::error::{Error, Result};

/// What `serve` needs. The bearer token is held here only at run time; it is never
/// serialised or printed.
#[derive(Clone)]
pub struct ServeConfig {
    pub engine: EngineConfig,
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// Clients must send `Authorization: Bearer <token>` when set.
    pub api_key: Option<String>,
    /// The model name reported and accepted; default: the model spec or the engine's.
    pub model_name: Option<String>,
    /// Stamp each token chunk with its send time, for measuring a client's own delay.
    pub stamp_chunks: bool,
    /// What one client, or many, may hold of the server.
    pub limits: ServeLimits,
}

/// The bounds that keep a server up under abuse: connections, the queue of requests,
/// and how long a client may take to send a request or to read its stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServeLimits {
    /// Connections open at once; more wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// Requests admitted and not finished (waiting for the engine or running); one more
    /// is answered 429 at once.
    pub max_queue: usize,
    /// Time to send a request's head, and the most a keep-alive connection idles.
    pub header_timeout: Duration,
    /// Time to send a request's body.
    pub body_timeout: Duration,
    /// How long a streaming client may read nothing before its request is cancelled.
    pub stall_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: 1024,
            max_queue: 4096,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("engine", &self.engine)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model_name", &self.model_name)
            .field("stamp_chunks", &self.stamp_chunks)
            .field("limits", &self.limits)
            .finish()
    }
}

/// A server that is listening.
pub struct Server {
    pub addr: SocketAddr,
    pub info: EngineInfo,
    pub model: String,
    listener: TcpListener,
    state: Arc<routes::State>,
}

impl Server {
    /// Builds the engine (on its own thread) and binds the listener. Must be called
    /// inside a tokio runtime.
    pub async fn bind(config: &ServeConfig) -> Result<Server> {
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .map_err(|e| {
                Error::Runtime(format!(
                    "cannot listen on {}:{}: {e}",
                    config.host, config.port
                ))
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Runtime(format!("cannot read the bound address: {e}")))?;
        let healthy = Arc::new(AtomicBool::new(true));
        let (jobs, info) = worker::start(config.engine.under_serve(), healthy.clone())?;
        let model = config
            .model_name
            .clone()
            .or_else(|| config.engine.model.clone())
            .unwrap_or_else(|| info.model.clone());
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let state = Arc::new(routes::State {
            jobs,
            model: model.clone(),
            api_key: config.api_key.clone(),
            next_id: AtomicU64::new(0),
            created,
            stamp_chunks: config.stamp_chunks,
            chunk_delay: config.engine.serve_chunk_delay(),
            healthy,
            in_queue: Arc::new(AtomicUsize::new(0)),
            limits: config.limits,
            metrics: Arc::new(metrics::ServeMetrics::default()),
        });
        Ok(Server {
            addr,
            info,
            model,
            listener,
            state,
        })
    }

    /// The base URL clients use (`http://ADDR/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Accepts connections until the process ends, at most `max_connections` at once.
    pub async fn run(self) -> Result<()> {
        let open = Arc::new(Semaphore::new(self.state.limits.max_connections.max(1)));
        loop {
            let Ok(permit) = open.clone().acquire_owned().await else {
                return Ok(());
            };
            let (stream, _) = match self.listener.accept().await {
                Ok(s) => s,
                // Out of file descriptors and the like: keep serving the others.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let state = self.state.clone();
            tokio::spawn(async move {
                let header_timeout = state.limits.header_timeout;
                let service = service_fn(move |req| routes::handle(state.clone(), req));
                // A client that hangs up mid-reply ends its connection; nothing to do.
                // The header timeout also closes a keep-alive connection left idle.
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    }
}

/// Runs a server to the end of the process: binds, calls `ready` with the listening
/// server (the CLI prints its address), and serves.
pub fn serve_forever(config: &ServeConfig, ready: impl FnOnce(&Server)) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8)))
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        let server = Server::bind(config).await?;
        ready(&server);
        server.run().await
    })
}
