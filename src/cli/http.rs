//! Flags of the `http` engine and the load generator, shared by `run` and `compare`,
//! named as `vllm bench serve` users expect. Validated once into an [`HttpConfig`], the
//! runner's arrival settings, goodput objectives and a sweep.

use std::path::PathBuf;

use super::ranged;
use crate::limits;
use clap::{Args, ValueEnum};

use crate::app::run::ServerPlan;
use crate::engine::http::{endpoint_uri, with_endpoint, DEFAULT_API_KEY_ENV};
use crate::engine::{EngineKind, HttpApi, HttpConfig};
use crate::error::{Error, Result};
use crate::launch::LaunchSpec;
use crate::metrics::goodput::Slo;
use crate::runner::arrival::Arrival;
use crate::runner::sweep::Sweep;
use crate::runner::RunnerConfig;

/// The arrival process of `--request-rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArrivalKind {
    /// Gamma-distributed gaps with shape --burstiness (1 = Poisson).
    Poisson,
    /// Evenly spaced requests.
    Constant,
}

/// HTTP engine and load flags, as typed.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP engine and load generator")]
pub struct HttpArgs {
    /// Server base URL for --engine http, e.g. http://127.0.0.1:8000/v1 (or a full
    /// .../chat/completions URL).
    #[arg(long, visible_alias = "base-url")]
    pub url: Option<String>,
    /// OpenAI API to drive: chat or completions.
    #[arg(long, default_value = "chat")]
    pub api: String,
    /// The endpoint's path on --url's host, e.g. /v1/completions (vLLM's --endpoint); it
    /// names the API, in place of --api.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// vLLM's --backend, for `vllm bench serve` command lines: openai-chat means the chat
    /// API; vllm, openai, sglang, llama.cpp, tgi, lmdeploy and the other text backends
    /// mean completions. Every one of them is spoken as OpenAI's streaming API.
    #[arg(long)]
    pub backend: Option<String>,
    /// Accepted for `vllm bench serve` command lines: every run is saved anyway.
    #[arg(long, hide = true)]
    pub save_result: bool,
    /// The `model` sent to the server. Default: --model, else the first model the server
    /// lists.
    #[arg(long, visible_alias = "served-model-name")]
    pub served_model: Option<String>,
    /// Environment variable holding the API key (sent as a bearer token).
    #[arg(long, default_value = DEFAULT_API_KEY_ENV)]
    pub api_key_env: String,
    /// File holding the API key; wins over --api-key-env.
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// Extra request header, `Name: value` or `Name=value`; repeatable.
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// Per-request timeout in seconds.
    #[arg(
        long,
        visible_alias = "request-timeout",
        default_value_t = 600.0,
        allow_negative_numbers = true, value_parser = ranged::float(limits::TIMEOUT_S)
    )]
    pub timeout: f64,
    /// tokenizer.json used to count output tokens when a reply carries no usage.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Wait up to this many seconds for the server to complete a first request (a
    /// one-token probe, once a second) before the run starts; 0 starts at once.
    #[arg(
        long,
        visible_alias = "ready-check-timeout-sec",
        default_value_t = 0.0,
        allow_negative_numbers = true, value_parser = ranged::float(limits::READY_S)
    )]
    pub ready_check_timeout: f64,
    /// Write the client's own cost per chunk to this JSON file (benches/client-capacity.sh).
    #[arg(long, hide = true)]
    pub chunk_profile: Option<PathBuf>,
    /// Requests per second, or inf (all at once, paced by --concurrency).
    #[arg(long, allow_negative_numbers = true)]
    pub request_rate: Option<String>,
    /// Gamma shape of the arrival gaps: 1 is Poisson, below 1 burstier (vLLM's meaning).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true, value_parser = ranged::float(limits::BURSTINESS))]
    pub burstiness: f64,
    /// Arrival process for --request-rate.
    #[arg(long, value_enum, default_value_t = ArrivalKind::Poisson)]
    pub arrival: ArrivalKind,
    /// Send for this many seconds, cycling through the prompts, instead of --num-prompts.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::DURATION_S))]
    pub duration: Option<f64>,
    /// Sweep: one run per concurrency, e.g. 1,4,16 (one run directory each + a summary).
    #[arg(
        long,
        value_delimiter = ',',
        allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::CONCURRENCY),
        conflicts_with = "request_rate_list"
    )]
    pub concurrency_list: Vec<usize>,
    /// Sweep: one run per request rate, e.g. 1,2,4,inf.
    #[arg(long, value_delimiter = ',')]
    pub request_rate_list: Vec<String>,
    /// Goodput objectives in ms, e.g. ttft:200,tpot:50,e2el:5000.
    #[arg(long, num_args = 1..)]
    pub goodput: Vec<String>,
    /// Start this server for the run and stop it after (quote it as one argument):
    /// `llama-server MODEL [FLAGS]`, `vllm serve MODEL [FLAGS]` or `sglang MODEL [FLAGS]`
    /// get the port and the flags a benchmark needs filled in; any other command runs as
    /// given, with `{port}` where its port goes. Implies --engine http; its output goes to
    /// server.log in the run directory.
    #[arg(long, value_name = "CMD")]
    pub launch: Option<String>,
    /// Scrape this Prometheus endpoint during the run (automatic with --launch).
    #[arg(long, value_name = "URL")]
    pub metrics_url: Option<String>,
    /// Seconds between scrapes of the server's metrics.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true, value_parser = super::ranged::float(crate::limits::SCRAPE_S))]
    pub scrape_interval: f64,
}

/// How long a launched server may take to become ready when --ready-check-timeout is 0.
pub const LAUNCH_READY_TIMEOUT_S: f64 = 600.0;

fn rate(s: &str, flag: &str) -> Result<Option<f64>> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("inf") || t.eq_ignore_ascii_case("infinity") {
        return Ok(None);
    }
    limits::RATE
        .parse(flag, t)
        .map(Some)
        .map_err(|e| Error::Config(format!("{e} requests per second, or inf")))
}

/// The API a `vllm bench serve --backend` name stands for.
fn backend_api(name: &str) -> Result<HttpApi> {
    match name {
        "openai-chat" | "vllm-chat" => Ok(HttpApi::Chat),
        "vllm" | "openai" | "sglang" | "llama.cpp" | "tgi" | "lmdeploy" | "deepspeed-mii"
        | "scalellm" | "tensorrt-llm" => Ok(HttpApi::Completions),
        _ => Err(Error::Config(format!(
            "unknown --backend `{name}`: nativebench speaks OpenAI's API, as openai-chat (chat) \
             or vllm, openai, sglang, llama.cpp, tgi, lmdeploy, deepspeed-mii, scalellm, \
             tensorrt-llm (completions)"
        ))),
    }
}

impl HttpArgs {
    /// The HTTP engine's settings. `engines` says whether http is among the run's
    /// engines, which makes --url required.
    pub fn http_config(&self, engines: &[EngineKind]) -> Result<HttpConfig> {
        let mut api: HttpApi = self.api.parse().map_err(Error::Config)?;
        if let Some(b) = &self.backend {
            api = backend_api(b)?;
        }
        let mut url = self.url.clone();
        if let (Some(u), Some(endpoint)) = (&url, &self.endpoint) {
            let (full, named) = with_endpoint(u, endpoint).map_err(Error::Config)?;
            if let Some(b) = self.backend.as_deref().filter(|_| named != api) {
                return Err(Error::Config(format!(
                    "--backend {b} and --endpoint {endpoint} name different APIs"
                )));
            }
            (url, api) = (Some(full), named);
        }
        if let Some(url) = &url {
            endpoint_uri(url, api).map_err(Error::Config)?;
        } else if engines.iter().any(|k| k.is_served()) && self.launch.is_none() {
            return Err(Error::Config(
                "--engine http needs --url, e.g. --url http://127.0.0.1:8000/v1".into(),
            ));
        }
        let mut headers = Vec::new();
        for h in &self.headers {
            let (k, v) = h
                .split_once(':')
                .or_else(|| h.split_once('='))
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| {
                    // Name the header, never its value: it may be a credential.
                    let name: String = h.chars().take_while(|c| *c != ':' && *c != '=').collect();
                    Error::Config(format!("--header `{name}`: expected `Name: value`"))
                })?;
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        Ok(HttpConfig {
            url,
            api,
            served_model: self.served_model.clone(),
            api_key_env: self.api_key_env.clone(),
            api_key_file: self.api_key_file.clone(),
            headers,
            timeout_s: self.timeout,
            ready_timeout_s: self.ready_check_timeout,
            tokenizer: self.tokenizer.clone(),
            chunk_profile: self.chunk_profile.clone(),
        })
    }

    /// The load generator's settings, given the run's concurrency, warmup, repetitions
    /// and seed.
    /// How the runner offers requests: `base` (warmup, repetitions, concurrency, seed)
    /// with the arrival process and duration these flags give.
    pub fn runner_config(&self, base: RunnerConfig) -> Result<RunnerConfig> {
        let r = self
            .request_rate
            .as_deref()
            .map(|s| rate(s, "--request-rate"))
            .transpose()?
            .flatten();
        let arrival = Arrival::new(r, self.burstiness, self.arrival == ArrivalKind::Constant)
            .map_err(Error::Config)?;
        Ok(RunnerConfig {
            arrival,
            duration_s: self.duration,
            ..base
        })
    }

    /// The arrival process a rate sweep or a rate search varies the rate of: the shape of
    /// --arrival and --burstiness (at a placeholder rate of 1 req/s).
    pub fn arrival_shape(&self) -> Result<Arrival> {
        Arrival::new(
            Some(1.0),
            self.burstiness,
            self.arrival == ArrivalKind::Constant,
        )
        .map_err(Error::Config)
    }

    /// The server to launch and the metrics to scrape, when asked for. `parallel` is the
    /// run's concurrency (llama-server's slots) and `threads` the run's --threads.
    pub fn server_plan(&self, parallel: usize, threads: Option<usize>) -> Result<ServerPlan> {
        if let Some(u) = &self.metrics_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(Error::Config(
                    "--metrics-url must be an http:// or https:// URL".into(),
                ));
            }
        }
        if self.launch.is_some() && self.url.is_some() {
            return Err(Error::Config(
                "--launch starts its own server: drop --url".into(),
            ));
        }
        let launch = self
            .launch
            .as_deref()
            .map(|text| {
                LaunchSpec::parse(text, parallel, threads, &|spec| {
                    crate::model::resolve(spec)
                        .map(|m| m.path.display().to_string())
                        .map_err(Into::into)
                })
            })
            .transpose()?;
        Ok(ServerPlan {
            launch,
            metrics_url: self.metrics_url.clone(),
            scrape_interval_s: self.scrape_interval,
            ready_timeout_s: if self.ready_check_timeout > 0.0 {
                self.ready_check_timeout
            } else {
                LAUNCH_READY_TIMEOUT_S
            },
        })
    }

    /// The latency objectives of `--goodput`, when given.
    pub fn goodput(&self) -> Result<Option<Slo>> {
        if self.goodput.is_empty() {
            return Ok(None);
        }
        Slo::parse(&self.goodput.join(","))
            .map(Some)
            .map_err(Error::Config)
    }

    /// The sweep of `--concurrency-list` or `--request-rate-list`, when given.
    pub fn sweep(&self) -> Result<Option<Sweep>> {
        if !self.concurrency_list.is_empty() {
            return Ok(Some(Sweep::Concurrency(self.concurrency_list.clone())));
        }
        if self.request_rate_list.is_empty() {
            return Ok(None);
        }
        let v = self
            .request_rate_list
            .iter()
            .map(|s| rate(s, "--request-rate-list"))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Sweep::RequestRate(v)))
    }
}
