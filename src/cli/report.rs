//! `nativebench report`: its flags, and their validation into a [`ReportPlan`].

use std::path::{Path, PathBuf};

use clap::Args;

use crate::app::report::ReportPlan;
use crate::error::{Error, Result};
use crate::report::compare::{self, DEFAULT_THRESHOLD};

/// The results directory read when no path is given.
pub const DEFAULT_RESULTS: &str = "results";

/// Flags of `nativebench report`, as typed.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Run directories, or directories holding run directories (searched a few levels
    /// deep). Default: results.
    pub paths: Vec<PathBuf>,
    /// Write the aggregate CSV here (`-` for stdout): one row per run, one column per
    /// field of the flat record.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Markdown tables of the latest runs, to stdout or to FILE. The default output when
    /// no other is asked for.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub md: Option<PathBuf>,
    /// Write a self-contained HTML report with plots here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Compare two runs (or two directories of runs) metric by metric; exits 3 when a
    /// metric regressed beyond the threshold and beyond noise.
    #[arg(long, num_args = 2, value_names = ["BASE", "NEW"], conflicts_with_all = ["paths", "csv", "html"])]
    pub compare: Option<Vec<PathBuf>>,
    /// The smallest change --compare calls a regression, in percent ("5%" or "5").
    #[arg(long, value_name = "PERCENT", requires = "compare")]
    pub threshold: Option<String>,
}

impl ReportArgs {
    /// Validates the flags once, into a plan.
    pub fn validate(&self) -> Result<ReportPlan> {
        if let Some(pair) = &self.compare {
            let [base, new] = pair.as_slice() else {
                return Err(Error::Config("--compare takes two paths: BASE NEW".into()));
            };
            let threshold = match &self.threshold {
                Some(t) => compare::parse_threshold(t).map_err(Error::Config)?,
                None => DEFAULT_THRESHOLD,
            };
            return Ok(ReportPlan::Compare {
                base: base.clone(),
                new: new.clone(),
                threshold,
                md: self.md.clone(),
            });
        }
        if self.html.as_deref() == Some(Path::new("-")) {
            return Err(Error::Config("--html needs a file name".into()));
        }
        let paths = if self.paths.is_empty() {
            vec![PathBuf::from(DEFAULT_RESULTS)]
        } else {
            self.paths.clone()
        };
        let nothing_asked = self.csv.is_none() && self.md.is_none() && self.html.is_none();
        Ok(ReportPlan::Outputs {
            paths,
            csv: self.csv.clone(),
            md: if nothing_asked {
                Some(PathBuf::from("-"))
            } else {
                self.md.clone()
            },
            html: self.html.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::report::ReportPlan;

    fn args(paths: &[&str]) -> ReportArgs {
        ReportArgs {
            paths: paths.iter().map(PathBuf::from).collect(),
            csv: None,
            md: None,
            html: None,
            compare: None,
            threshold: None,
        }
    }

    #[test]
    fn markdown_to_stdout_is_the_default_output() {
        let plan = args(&[]).validate().unwrap();
        assert_eq!(
            plan,
            ReportPlan::Outputs {
                paths: vec![PathBuf::from("results")],
                csv: None,
                md: Some(PathBuf::from("-")),
                html: None
            }
        );
    }

    #[test]
    fn thresholds_parse_as_percent() {
        let mut a = args(&[]);
        a.compare = Some(vec!["a".into(), "b".into()]);
        a.threshold = Some("12.5%".into());
        match a.validate().unwrap() {
            ReportPlan::Compare { threshold, .. } => assert!((threshold - 0.125).abs() < 1e-12),
            p => panic!("{p:?}"),
        }
        a.threshold = Some("-3".into());
        let e = a.validate().unwrap_err().to_string();
        assert!(e.contains("--threshold"), "{e}");
    }
}
