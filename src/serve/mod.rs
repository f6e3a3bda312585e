//! `nativebench serve`: an OpenAI-compatible HTTP server over an in-process engine.
//!
//! The engine runs on a thread of its own and takes requests FIFO; the HTTP side runs on
//! tokio. Each reply reports the request's queue wait and engine time (see `routes`), so
//! a client can split what the server spent from what the network and HTTP added.

pub mod metrics;
mod routes;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

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
        let (jobs, info) = worker::start(config.engine.under_serve())?;
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

    /// Accepts connections until the process ends.
    pub async fn run(self) -> Result<()> {
        loop {
            let (stream, _) = match self.listener.accept().await {
                Ok(s) => s,
                // Out of file descriptors and the like: keep serving the others.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let state = self.state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| routes::handle(state.clone(), req));
                // A client that hangs up mid-reply ends its connection; nothing to do.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
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
