//! `nativebench ratio`: the ratio of two sets of measurements (new / base, of their
//! medians), its 95% bootstrap interval and the verdict against a target band. The
//! comparison scripts in `benches/` call it, so every ratio they print is judged the same
//! way, in one place.

use std::io::Write;

use serde::Serialize;

use super::{print_json, OutputFormat};
use crate::error::{Error, Result};
use crate::metrics::interval::{judge, ratio_of_medians, BandVerdict};

/// A bootstrap over fewer rounds than this resamples too few distinct medians: its
/// interval comes out too narrow to trust, so the verdict waits for more.
pub const MIN_ROUNDS: usize = 5;

/// A validated `ratio`.
#[derive(Debug, Clone)]
pub struct RatioPlan {
    pub base: Vec<f64>,
    pub new: Vec<f64>,
    pub paired: bool,
    /// The target band of the ratio (the upper end may be infinite).
    pub band: (f64, f64),
    pub seed: u64,
    pub format: OutputFormat,
}

/// What `ratio --format json` prints.
#[derive(Debug, Serialize)]
struct RatioOut {
    ratio: f64,
    lo: f64,
    hi: f64,
    rounds: usize,
    paired: bool,
    band_lo: f64,
    /// Absent for a band with no upper end.
    #[serde(skip_serializing_if = "Option::is_none")]
    band_hi: Option<f64>,
    within_target: bool,
    verdict: String,
}

/// Prints the ratio, its interval and the verdict.
pub fn run(plan: &RatioPlan, out: &mut dyn Write) -> Result<()> {
    let iv = ratio_of_medians(&plan.base, &plan.new, plan.paired, plan.seed).ok_or_else(|| {
        Error::Config("the base's median is not positive: there is no ratio".into())
    })?;
    let rounds = plan.base.len().min(plan.new.len());
    let v = if rounds < MIN_ROUNDS {
        BandVerdict::Inconclusive {
            more: Some(MIN_ROUNDS - rounds),
        }
    } else {
        judge(&iv, plan.band, rounds)
    };
    let verdict = v.text("rounds");
    match plan.format {
        OutputFormat::Json => print_json(
            out,
            &RatioOut {
                ratio: iv.estimate,
                lo: iv.lo,
                hi: iv.hi,
                rounds,
                paired: plan.paired,
                band_lo: plan.band.0,
                band_hi: plan.band.1.is_finite().then_some(plan.band.1),
                within_target: verdict == "within target",
                verdict,
            },
        ),
        OutputFormat::Table => {
            let band = if plan.band.1.is_finite() {
                format!("{}..{}", plan.band.0, plan.band.1)
            } else {
                format!(">= {}", plan.band.0)
            };
            let _ = writeln!(
                out,
                "ratio {:.3}, 95% interval {:.3}..{:.3} ({rounds} rounds, {} bootstrap, seed {}); target {band}: {verdict}",
                iv.estimate,
                iv.lo,
                iv.hi,
                if plan.paired { "paired" } else { "unpaired" },
                plan.seed
            );
        }
    }
    Ok(())
}
