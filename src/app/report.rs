//! `nativebench report`: load the runs, then write CSV, Markdown and HTML, or compare two
//! runs or sets and exit [`REGRESSION_EXIT`] on a regression so CI can gate on it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::error::{Error, Result};
use crate::report::compare;
use crate::report::flat::FlatRun;
use crate::report::load::{self, Loaded, ReportError};
use crate::report::{csv, html, markdown};

/// The exit status of `report --compare` when a metric regressed.
pub const REGRESSION_EXIT: u8 = 3;

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

/// A path given on the command line that holds nothing usable is a usage error.
fn usage(e: ReportError) -> Error {
    Error::Config(e.to_string())
}

/// Runs `report`: reports go to files or `out`, warnings about skipped runs to `err`.
/// Returns the exit status: success, or [`REGRESSION_EXIT`] when --compare found one.
pub fn run(plan: &ReportPlan, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode> {
    match plan.clone() {
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
