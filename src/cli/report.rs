//! `nativebench report`: its flags, and their validation into a [`ReportPlan`].

use std::path::{Path, PathBuf};

use clap::Args;

use crate::app::report::{Outputs, ReportPlan, VllmOut};
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
    /// Write an Excel workbook here: a Summary sheet (a row per run), a sheet per sweep
    /// (a row per point) and a Requests sheet per run (a row per request).
    #[arg(long, value_name = "FILE")]
    pub xlsx: Option<PathBuf>,
    /// Write one row per request of every run here (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub requests_csv: Option<PathBuf>,
    /// Add the runs not yet in FILE (by run id and start time) to it, creating it with a
    /// header if it is new. A file whose header differs is refused.
    #[arg(long, value_name = "FILE")]
    pub append_csv: Option<PathBuf>,
    /// Another format: `vllm` writes each run as `vllm bench serve --save-result
    /// --save-detailed` JSON, one file per run in --out DIR, or one line per run on stdout.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<ReportFormat>,
    /// The directory --format writes its files into, or the run directory --merge
    /// writes.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Merge the run directories of one load's shards (`run --shard I/N`) into one run
    /// directory, --out DIR: every sample kept, the figures computed over their union.
    /// Shards whose setups differ are refused; a missing shard is named and the rest
    /// merged.
    #[arg(long, num_args = 1.., value_name = "DIR", requires = "out", conflicts_with_all = ["paths", "csv", "md", "html", "xlsx", "requests_csv", "append_csv", "format", "compare"])]
    pub merge: Option<Vec<PathBuf>>,
    /// Compare two runs (or two directories of runs) metric by metric; exits 3 when a
    /// metric regressed beyond the threshold and beyond noise.
    #[arg(long, num_args = 2, value_names = ["BASE", "NEW"], conflicts_with_all = ["paths", "csv", "html", "xlsx", "requests_csv", "append_csv", "format"])]
    pub compare: Option<Vec<PathBuf>>,
    /// The smallest change --compare calls a regression, in percent ("5%" or "5").
    #[arg(long, value_name = "PERCENT", requires = "compare")]
    pub threshold: Option<String>,
}

/// The formats `--format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// `vllm bench serve --save-result` JSON.
    Vllm,
}

/// A file the report will write: `-` (stdout, where allowed) or a path in a folder that
/// exists, so that a bad one is refused before anything is written.
fn output_path(flag: &str, path: &Option<PathBuf>, stdout_ok: bool) -> Result<Option<PathBuf>> {
    let Some(p) = path else { return Ok(None) };
    if p == Path::new("-") {
        return if stdout_ok {
            Ok(Some(p.clone()))
        } else {
            Err(Error::Config(format!("{flag} needs a file name")))
        };
    }
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::Config(format!(
            "{flag} {}: the folder {} does not exist",
            p.display(),
            parent.display()
        )));
    }
    if p.is_dir() {
        return Err(Error::Config(format!(
            "{flag} {}: is a directory",
            p.display()
        )));
    }
    Ok(Some(p.clone()))
}

impl ReportArgs {
    /// Validates the flags once, into a plan.
    pub fn validate(&self) -> Result<ReportPlan> {
        if let (Some(shards), Some(out)) = (&self.merge, &self.out) {
            if out.join(crate::report::run_dir::SAMPLES).exists() {
                return Err(Error::Config(format!(
                    "--out {}: already holds a run; merge into a new directory",
                    out.display()
                )));
            }
            return Ok(ReportPlan::Merge {
                shards: shards.clone(),
                out: out.clone(),
            });
        }
        if self.out.is_some() && self.format.is_none() {
            return Err(Error::Config(
                "--out is where --format or --merge writes: give one of them".into(),
            ));
        }
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
        let paths = if self.paths.is_empty() {
            vec![PathBuf::from(DEFAULT_RESULTS)]
        } else {
            self.paths.clone()
        };
        let vllm = match (self.format, &self.out) {
            (None, _) => None,
            (Some(ReportFormat::Vllm), None) => Some(VllmOut::Stdout),
            (Some(ReportFormat::Vllm), Some(dir)) => {
                if dir.exists() && !dir.is_dir() {
                    return Err(Error::Config(format!(
                        "--out {}: not a directory",
                        dir.display()
                    )));
                }
                Some(VllmOut::Dir(dir.clone()))
            }
        };
        let mut out = Outputs {
            csv: output_path("--csv", &self.csv, true)?,
            md: output_path("--md", &self.md, true)?,
            html: output_path("--html", &self.html, false)?,
            xlsx: output_path("--xlsx", &self.xlsx, false)?,
            requests_csv: output_path("--requests-csv", &self.requests_csv, true)?,
            append_csv: output_path("--append-csv", &self.append_csv, false)?,
            vllm,
        };
        if out == Outputs::default() {
            out.md = Some(PathBuf::from("-"));
        }
        let to_stdout = [&out.csv, &out.md, &out.requests_csv]
            .into_iter()
            .filter(|p| p.as_deref() == Some(Path::new("-")))
            .count()
            + usize::from(out.vllm == Some(VllmOut::Stdout));
        if to_stdout > 1 {
            return Err(Error::Config(
                "only one output can go to stdout (`-`): give the others file names".into(),
            ));
        }
        Ok(ReportPlan::Outputs { paths, out })
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
            xlsx: None,
            requests_csv: None,
            append_csv: None,
            format: None,
            out: None,
            merge: None,
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
                out: Outputs {
                    md: Some(PathBuf::from("-")),
                    ..Outputs::default()
                }
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
