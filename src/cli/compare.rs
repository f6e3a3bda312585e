//! `nativebench compare`: the flags of `run`, for exactly one in-process engine.

use clap::Args;

use super::run::RunArgs;
use crate::app::run::RunConfig;
use crate::error::{Error, Result};

/// Flags of `nativebench compare`: those of `run`, for one in-process engine.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

impl CompareArgs {
    /// Validates the flags into the run both sides share.
    pub fn validate(&self) -> Result<RunConfig> {
        let config = self.run.validate()?;
        match config.engines.as_slice() {
            [k] if !k.is_served() => Ok(config),
            _ => Err(Error::Config(
                "compare needs exactly one in-process engine: --engine sim, llama-cpp or candle"
                    .into(),
            )),
        }
    }
}
