//! `nativebench compare`: the flags of `run`, for exactly one in-process engine, and
//! `--pin`. `--launch` starts the served side's server (llama-server, vLLM, SGLang or any
//! command) in place of compare's own `serve`.

use clap::Args;

use super::run::RunArgs;
use crate::app::compare::CompareConfig;
use crate::error::{Error, Result};

/// Flags of `nativebench compare`: those of `run`, for one in-process engine.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Put the engine (in-process, and the whole `serve` process) on one core per engine
    /// thread and the client on the other cores, so neither takes the other's CPU; says
    /// so and runs unpinned where there are not enough cores.
    #[arg(long, help_heading = "Compare")]
    pub pin: bool,
}

impl CompareArgs {
    /// Validates the flags into the run both sides share.
    pub fn validate(&self) -> Result<CompareConfig> {
        // --launch is the served side's server: the shared run is validated without it
        // (it names an in-process engine), and the launch plan is the served side's.
        if self.run.shard.is_some() || self.run.start_at.is_some() {
            return Err(Error::Config(
                "--shard and --start-at split one `run` over several hosts; compare runs both sides here".into(),
            ));
        }
        let mut shared = self.run.clone();
        shared.http.launch = None;
        let mut config = shared.validate()?;
        if self.run.http.launch.is_some() {
            if self.pin {
                return Err(Error::Config(
                    "--pin places the engine of the `serve` that compare starts; with --launch the server's command places itself".into(),
                ));
            }
            config.server = self
                .run
                .http
                .server_plan(config.workload.concurrency, config.engine.threads)?;
        }
        match config.engines.as_slice() {
            [k] if !k.is_served() => {}
            _ => return Err(Error::Config(
                "compare needs exactly one in-process engine: --engine sim, llama-cpp or candle"
                    .into(),
            )),
        }
        if self.pin && config.engine.http.url.is_some() {
            return Err(Error::Config(
                "--pin places the engine of the `serve` that compare starts; with --url the server is not compare's to place".into(),
            ));
        }
        Ok(CompareConfig {
            run: config,
            pin: self.pin,
        })
    }
}
