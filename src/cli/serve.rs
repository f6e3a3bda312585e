//! `nativebench serve`: its flags, validated into a [`ServePlan`].

use std::path::PathBuf;
use std::time::Duration;

use super::ranged;
use crate::limits;
use clap::Args;

use super::engine_args::EngineArgs;
use super::run::SimArgs;
use crate::app::serve::ServePlan;
use crate::engine::{EngineConfig, EngineKind};
use crate::error::{Error, Result};
use crate::serve::{ServeConfig, ServeLimits};

/// The environment variable holding the bearer token clients must send.
pub const SERVE_API_KEY_ENV: &str = "NATIVEBENCH_SERVE_API_KEY";

/// Flags of `nativebench serve`, as typed.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// In-process engine to serve: sim, llama-cpp or candle.
    #[arg(long, short = 'e', default_value = "sim")]
    pub engine: String,
    /// Model spec (as for `run`).
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// The file of an hf:owner/repo model to use (as for `run`).
    #[arg(long, value_name = "FILE")]
    pub hf_file: Option<String>,
    /// CPU threads for the engine.
    #[arg(long, short = 't', allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::THREADS))]
    pub threads: Option<usize>,
    /// Address to bind; loopback by default. Anything else exposes the engine.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 8000, allow_negative_numbers = true, value_parser = ranged::int::<u16>(limits::PORT))]
    pub port: u16,
    /// The model name served in /v1/models. Default: --model, else the engine's.
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// File holding a bearer token clients must send (or set NATIVEBENCH_SERVE_API_KEY).
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// Seed for sampling and the sim engine.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = ranged::int::<u64>(limits::SEED))]
    pub seed: u64,
    /// The whole engine config as JSON (used by `compare`, so both sides match exactly).
    #[arg(long, hide = true)]
    pub engine_config_json: Option<PathBuf>,
    /// Stamp each token chunk with its send time (`"nb_sent_ns"`, the host's monotonic
    /// clock), for measuring a client's own delay (benches/client-capacity.sh).
    #[arg(long, hide = true)]
    pub stamp_chunks: bool,
    /// Exit when stdin closes: `compare` holds the other end, so no server outlives it.
    #[arg(long, hide = true)]
    pub stop_with_parent: bool,

    /// Connections open at once; more wait until one closes.
    #[arg(long, default_value_t = 1024, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::MAX_CONNECTIONS))]
    pub max_connections: usize,
    /// Requests waiting for the engine or running, at most; one more is answered 429
    /// (with Retry-After) at once instead of waiting without bound.
    #[arg(long, default_value_t = 4096, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::MAX_QUEUE))]
    pub max_queue: usize,
    /// Seconds a client has to send a request's head; a keep-alive connection idle this
    /// long is closed.
    #[arg(long, default_value_t = 10.0, value_name = "S", allow_negative_numbers = true, value_parser = ranged::float(limits::SERVE_TIMEOUT_S))]
    pub header_timeout: f64,
    /// Seconds a client has to send a request's body (408 after).
    #[arg(long, default_value_t = 30.0, value_name = "S", allow_negative_numbers = true, value_parser = ranged::float(limits::SERVE_TIMEOUT_S))]
    pub body_timeout: f64,
    /// Seconds a streaming client may read nothing before its request is cancelled
    /// (each stream buffers a few dozen chunks, then waits for its client).
    #[arg(long, default_value_t = 30.0, value_name = "S", allow_negative_numbers = true, value_parser = ranged::float(limits::SERVE_TIMEOUT_S))]
    pub stall_timeout: f64,

    #[command(flatten)]
    pub engine_args: EngineArgs,

    #[command(flatten)]
    pub sim: SimArgs,
}

impl ServeArgs {
    /// Validates the flags once.
    pub fn validate(&self) -> Result<ServePlan> {
        let engine = match &self.engine_config_json {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                serde_json::from_str(&text).map_err(|e| Error::Json {
                    path: p.clone(),
                    source: e,
                })?
            }
            None => {
                let kind: EngineKind = self.engine.parse().map_err(Error::Config)?;
                let threads = self.threads;
                EngineConfig {
                    kind,
                    model: match (&self.model, &self.hf_file) {
                        (Some(m), Some(f)) => Some(crate::model::hf::spec_with_file(m, f)?),
                        (None, Some(_)) => {
                            return Err(Error::Config(
                                "--hf-file needs --model hf:owner/repo".into(),
                            ))
                        }
                        (m, None) => m.clone(),
                    },
                    threads,
                    seed: self.seed,
                    sampling: self.engine_args.sampling()?,
                    sim: self.sim.config()?,
                    llama: self.engine_args.llama_served()?,
                    candle: self.engine_args.candle()?,
                    ..EngineConfig::default()
                }
            }
        };
        if engine.kind.is_served() {
            return Err(Error::Config(
                "serve needs an in-process engine (sim, llama-cpp, candle), not http".into(),
            ));
        }
        let api_key = match &self.api_key_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| Error::io(p, e))?
                    .trim()
                    .to_owned(),
            ),
            None => std::env::var(SERVE_API_KEY_ENV).ok(),
        }
        .filter(|k| !k.is_empty());
        Ok(ServePlan {
            serve: ServeConfig {
                engine,
                host: self.host.clone(),
                port: self.port,
                api_key,
                model_name: self.served_model_name.clone(),
                stamp_chunks: self.stamp_chunks,
                limits: ServeLimits {
                    max_connections: self.max_connections,
                    max_queue: self.max_queue,
                    header_timeout: Duration::from_secs_f64(self.header_timeout),
                    body_timeout: Duration::from_secs_f64(self.body_timeout),
                    stall_timeout: Duration::from_secs_f64(self.stall_timeout),
                },
            },
            stop_with_parent: self.stop_with_parent,
        })
    }
}
