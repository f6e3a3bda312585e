//! `nativebench report`: its flags, their validation into a [`ReportPlan`], and running
//! it: load the runs, then write CSV, Markdown and HTML, or compare two runs or sets and
//! exit [`REGRESSION_EXIT`] on a regression so CI can gate on it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::error::{Error, Result};
use crate::report::compare::{self, DEFAULT_THRESHOLD};
use crate::report::flat::FlatRun;
use crate::report::load::{self, Loaded, ReportError};
use crate::report::{csv, html, markdown};

/// The exit status of `report --compare` when a metric regressed.
pub const REGRESSION_EXIT: u8 = 3;
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

/// A validated `report`.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportPlan {
    /// Write the formats asked for (`-` is stdout).
    Outputs {
        paths: Vec<PathBuf>,
        csv: Option<PathBuf>,
        md: Option<PathBuf>,
        html: Option<PathBuf>,
    },
    /// Compare NEW against BASE.
    Compare {
        base: PathBuf,
        new: PathBuf,
        /// A fraction: 0.05 is 5%.
        threshold: f64,
        md: Option<PathBuf>,
    },
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

/// A path given on the command line that holds nothing usable is a usage error.
fn usage(e: ReportError) -> Error {
    Error::Config(e.to_string())
}

/// Runs `report`: reports go to files or `out`, warnings about skipped runs to `err`.
/// Returns the exit status: success, or [`REGRESSION_EXIT`] when --compare found one.
pub fn run(args: &ReportArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode> {
    match args.validate()? {
        ReportPlan::Outputs {
            paths,
            csv: csv_path,
            md,
            html: html_path,
        } => {
            let loaded = load::load(&paths).map_err(usage)?;
            let notes = warn(&loaded, err);
            let flat: Vec<FlatRun> = loaded.runs.iter().map(FlatRun::of).collect();
            if let Some(p) = csv_path {
                emit(&p, &csv::render(&flat), out, err)?;
            }
            if let Some(p) = html_path {
                let page = html::render(&html::HtmlInput {
                    runs: &loaded.runs,
                    flat: &flat,
                    decompositions: &loaded.decompositions,
                    notes: &notes,
                    generated_at: chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string(),
                });
                emit(&p, &page, out, err)?;
            }
            if let Some(p) = md {
                let text = markdown::render(&markdown::MarkdownInput {
                    runs: &flat,
                    notes: &notes,
                });
                emit(&p, &text, out, err)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ReportPlan::Compare {
            base,
            new,
            threshold,
            md,
        } => {
            let b = load::load(std::slice::from_ref(&base)).map_err(usage)?;
            let n = load::load(std::slice::from_ref(&new)).map_err(usage)?;
            warn(&b, err);
            warn(&n, err);
            let c = compare::compare(&b.runs, &n.runs, threshold).map_err(usage)?;
            let text = compare::render(&c);
            emit(md.as_deref().unwrap_or(Path::new("-")), &text, out, err)?;
            Ok(if c.regressions().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(REGRESSION_EXIT)
            })
        }
    }
}

/// Prints a warning for every skipped run and caveat, and returns them for the report.
fn warn(loaded: &Loaded, err: &mut dyn Write) -> Vec<String> {
    let notes: Vec<String> = loaded
        .skipped
        .iter()
        .map(ToString::to_string)
        .chain(loaded.notes.iter().cloned())
        .collect();
    for n in &notes {
        let _ = writeln!(err, "warning: {n}");
    }
    notes
}

/// Writes `text` to `path`, or to `out` for `-`.
fn emit(path: &Path, text: &str, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    if path == Path::new("-") {
        return out
            .write_all(text.as_bytes())
            .map_err(|e| Error::io("<stdout>", e));
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
    let _ = writeln!(err, "wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
