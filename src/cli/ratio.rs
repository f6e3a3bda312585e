//! `nativebench ratio`: the flags, validated into a [`RatioPlan`].

use clap::Args;

use crate::app::ratio::RatioPlan;
use crate::app::OutputFormat;
use crate::error::{Error, Result};

/// Flags of `nativebench ratio`, as typed.
#[derive(Debug, Clone, Args)]
pub struct RatioArgs {
    /// The baseline's values, one per round, comma-separated (for example llama-bench's
    /// t/s in each round).
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        allow_negative_numbers = true,
        value_parser = super::ranged::float(crate::limits::RATIO_VALUE)
    )]
    pub base: Vec<f64>,
    /// The values set against the baseline (the ratio is new / base).
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        allow_negative_numbers = true,
        value_parser = super::ranged::float(crate::limits::RATIO_VALUE)
    )]
    pub new: Vec<f64>,
    /// Round i of each side ran together (alternated): rounds are resampled as pairs, so
    /// a drift of the machine that moved both sides cancels.
    #[arg(long)]
    pub paired: bool,
    /// The target band of the ratio, LO,HI; HI may be `inf` for a lower bound alone.
    #[arg(long, default_value = "0.97,1.03")]
    pub band: String,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0, value_parser = super::ranged::int::<u64>(crate::limits::SEED))]
    pub seed: u64,
    /// A sentence, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

fn finite(flag: &str, v: &[f64]) -> Result<Vec<f64>> {
    match v.iter().find(|x| !x.is_finite()) {
        Some(x) => Err(Error::Config(format!(
            "{flag} takes finite numbers, got {x}"
        ))),
        None => Ok(v.to_vec()),
    }
}

impl RatioArgs {
    /// Validates the flags once.
    pub fn validate(&self) -> Result<RatioPlan> {
        let (base, new) = (finite("--base", &self.base)?, finite("--new", &self.new)?);
        if self.paired && base.len() != new.len() {
            return Err(Error::Config(format!(
                "--paired needs as many --new values as --base values, got {} and {}",
                new.len(),
                base.len()
            )));
        }
        let band = self
            .band
            .split_once(',')
            .and_then(|(lo, hi)| Some((lo.trim().parse::<f64>().ok()?, hi.trim().parse::<f64>().ok()?)))
            .filter(|(lo, hi)| lo.is_finite() && !hi.is_nan() && lo < hi)
            .ok_or_else(|| {
                Error::Config(format!(
                    "--band must be LO,HI with LO < HI (HI may be inf), such as 0.97,1.03, got `{}`",
                    self.band
                ))
            })?;
        Ok(RatioPlan {
            base,
            new,
            paired: self.paired,
            band,
            seed: self.seed,
            format: self.format,
        })
    }
}
