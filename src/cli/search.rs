//! Flags of `run` that look for the load a setup holds: `--slo-search` and its settings,
//! and `--stop-on-saturation` for sweeps. Validated into the app's `SloSearch`.

use clap::{Args, ValueEnum};

use super::ranged;
use crate::app::slo_search::{SearchAxis, SloSearch};
use crate::error::{Error, Result};
use crate::limits;
use crate::metrics::goodput::Slo;

/// What `--search` varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SearchKind {
    /// The request rate (req/s), with the arrival process of --request-rate.
    #[default]
    Rate,
    /// The number of requests in flight.
    Concurrency,
}

/// SLO search and saturation flags, as typed.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Finding the limits")]
pub struct SearchArgs {
    /// Search for the highest load at which --slo-target of requests meet every
    /// objective, in ms (e.g. ttft:500,tpot:50); writes slo_search.json and one run
    /// directory per probe.
    #[arg(long, value_name = "OBJECTIVES")]
    pub slo_search: Option<String>,
    /// The share of requests that must meet every objective, in (0, 1].
    #[arg(long, requires = "slo_search", default_value_t = 0.95, allow_negative_numbers = true, value_parser = ranged::float(limits::SHARE))]
    pub slo_target: f64,
    /// What the search varies.
    #[arg(long, requires = "slo_search", value_enum, default_value_t = SearchKind::Rate)]
    pub search: SearchKind,
    /// The range searched, LO,HI (req/s, or requests in flight). Default: 1,64 for a
    /// rate, 1,256 for a concurrency.
    #[arg(
        long,
        requires = "slo_search",
        value_name = "LO,HI",
        allow_hyphen_values = true
    )]
    pub search_range: Option<String>,
    /// Runs per probe point; a point passes on the median of its runs.
    #[arg(long, requires = "slo_search", default_value_t = 1, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::SEARCH_RUNS))]
    pub search_runs: usize,
    /// In a sweep, skip the points after the first one the saturation test flags.
    #[arg(long)]
    pub stop_on_saturation: bool,
}

impl SearchArgs {
    /// The search `--slo-search` asks for, checked; `None` without it.
    pub fn validate(&self) -> Result<Option<SloSearch>> {
        let Some(spec) = &self.slo_search else {
            return Ok(None);
        };
        let slo = Slo::parse_flag(spec, "--slo-search").map_err(Error::Config)?;
        let axis = match self.search {
            SearchKind::Rate => SearchAxis::Rate,
            SearchKind::Concurrency => SearchAxis::Concurrency,
        };
        let (lo, hi) = match &self.search_range {
            None => match axis {
                SearchAxis::Rate => (1.0, 64.0),
                SearchAxis::Concurrency => (1.0, 256.0),
            },
            Some(text) => range(text, axis)?,
        };
        Ok(Some(SloSearch {
            slo,
            target: self.slo_target,
            axis,
            lo,
            hi,
            runs: self.search_runs,
        }))
    }
}

/// `LO,HI`, each in the axis's range, LO below HI.
fn range(text: &str, axis: SearchAxis) -> Result<(f64, f64)> {
    let flag = "--search-range";
    let Some((lo, hi)) = text.split_once(',') else {
        return Err(Error::Config(format!(
            "{flag} `{text}`: expected LO,HI, e.g. 1,64"
        )));
    };
    let parse = |v: &str| -> Result<f64> {
        match axis {
            SearchAxis::Rate => limits::RATE
                .parse(flag, v)
                .map_err(|e| Error::Config(e.to_string())),
            SearchAxis::Concurrency => limits::CONCURRENCY
                .parse::<usize>(flag, v)
                .map(|c| c as f64)
                .map_err(|e| Error::Config(e.to_string())),
        }
    };
    let (lo, hi) = (parse(lo)?, parse(hi)?);
    if lo >= hi {
        return Err(Error::Config(format!(
            "{flag} `{text}`: LO must be below HI"
        )));
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(range: Option<&str>) -> SearchArgs {
        SearchArgs {
            slo_search: Some("ttft:500,tpot:50".into()),
            slo_target: 0.9,
            search_range: range.map(str::to_owned),
            search_runs: 3,
            ..SearchArgs::default()
        }
    }

    #[test]
    fn a_search_is_checked_into_its_plan() {
        let s = args(Some("2,32")).validate().unwrap().unwrap();
        assert_eq!((s.lo, s.hi, s.runs, s.target), (2.0, 32.0, 3, 0.9));
        assert_eq!(s.slo.ttft_ms, Some(500.0));
        assert_eq!(s.axis, SearchAxis::Rate);
        let d = args(None).validate().unwrap().unwrap();
        assert_eq!((d.lo, d.hi), (1.0, 64.0));
        assert_eq!(SearchArgs::default().validate().unwrap(), None);
    }

    #[test]
    fn bad_searches_are_one_line_errors() {
        let err = |a: SearchArgs| a.validate().unwrap_err().to_string();
        assert!(err(args(Some("8,2"))).contains("LO must be below HI"));
        assert!(err(args(Some("4,4"))).contains("LO must be below HI"));
        assert!(err(args(Some("4"))).contains("expected LO,HI"));
        assert!(err(args(Some("-1,4"))).contains("out of range"));
        let mut a = args(None);
        a.slo_search = Some("p99:5".into());
        assert!(err(a).contains("--slo-search: unknown objective `p99`"));
        let mut c = args(Some("1.5,8"));
        c.search = SearchKind::Concurrency;
        assert!(err(c).contains("out of range"));
    }
}
