//! `nativebench report`: load the runs, then write CSV (aggregate, appended, per request),
//! Markdown, HTML, an Excel workbook and vLLM's result JSON, or compare two runs or sets
//! and exit [`REGRESSION_EXIT`] on a regression so CI can gate on it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::error::{Error, Result};
use crate::report::bench as fmt_bench;
use crate::report::compare;
use crate::report::flat::FlatRun;
use crate::report::load::{self, Loaded, ReportError};
use crate::report::{csv, html, markdown, run_dir, vllm, xlsx};

/// The exit status of `report --compare` when a metric regressed.
pub const REGRESSION_EXIT: u8 = 3;

/// Where `report --format vllm` writes.
#[derive(Debug, Clone, PartialEq)]
pub enum VllmOut {
    /// One JSON object per run and line, on stdout.
    Stdout,
    /// One file per run in this directory.
    Dir(PathBuf),
}

/// The outputs a `report` writes (each `None` when not asked for; `-` is stdout).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outputs {
    pub csv: Option<PathBuf>,
    pub md: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub xlsx: Option<PathBuf>,
    pub requests_csv: Option<PathBuf>,
    pub append_csv: Option<PathBuf>,
    pub vllm: Option<VllmOut>,
}

/// A validated `report`.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportPlan {
    /// Write the formats asked for.
    Outputs { paths: Vec<PathBuf>, out: Outputs },
    /// Compare NEW against BASE.
    Compare {
        base: PathBuf,
        new: PathBuf,
        /// A fraction: 0.05 is 5%.
        threshold: f64,
        md: Option<PathBuf>,
    },
    /// Merge the shards of one load into one run directory.
    Merge { shards: Vec<PathBuf>, out: PathBuf },
}

/// A path given on the command line that holds nothing usable is a usage error.
fn usage(e: ReportError) -> Error {
    Error::Config(e.to_string())
}

/// Runs `report`: reports go to files or `out`, warnings about skipped runs to `err`.
/// Returns the exit status: success, or [`REGRESSION_EXIT`] when --compare found one.
pub fn run(plan: &ReportPlan, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode> {
    match plan {
        ReportPlan::Outputs {
            paths,
            out: outputs,
        } => {
            let loaded = load::load(paths).map_err(usage)?;
            let notes = warn(&loaded, err);
            write_outputs(outputs, &loaded, &notes, out, err)?;
            Ok(ExitCode::SUCCESS)
        }
        ReportPlan::Compare {
            base,
            new,
            threshold,
            md,
        } => {
            let b = load::load(std::slice::from_ref(base)).map_err(usage)?;
            let n = load::load(std::slice::from_ref(new)).map_err(usage)?;
            warn(&b, err);
            warn(&n, err);
            for (side, loaded, path) in [("BASE", &b, base), ("NEW", &n, new)] {
                if loaded.runs.is_empty() {
                    return Err(Error::Config(format!(
                        "--compare {side} {} holds only bench runs; compare those with `nativebench bench` tables",
                        path.display()
                    )));
                }
            }
            let c = compare::compare(&b.runs, &n.runs, *threshold).map_err(usage)?;
            let text = compare::render(&c);
            emit(
                md.as_deref().unwrap_or(Path::new("-")),
                text.as_bytes(),
                out,
                err,
            )?;
            Ok(if c.regressions().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(REGRESSION_EXIT)
            })
        }
        ReportPlan::Merge { shards, out: dir } => {
            write_merged(shards, dir, out, err)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `report --merge`: the shards merged into the run directory `dir`, its summary on
/// `out` and what is missing on `err`.
fn write_merged(
    shards: &[PathBuf],
    dir: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    use crate::report::{merge, summary, RunDir};
    let mut merged = merge::merge(shards)?;
    for m in &merged.info.missing {
        let _ = writeln!(err, "warning: missing {m}: merged the rest");
    }
    let mut run =
        RunDir::create(dir).map_err(|e| Error::Config(format!("--out {}: {e}", dir.display())))?;
    merged.metrics.run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let serde_json::Value::Object(m) = &mut merged.run_config {
        m.insert("out".into(), dir.display().to_string().into());
    }
    run.rewrite_samples(&merged.records)?;
    run.write_json(run_dir::RUN_CONFIG, &merged.run_config)?;
    run.write_json(run_dir::MANIFEST, &merged.manifest)?;
    run.write_json(merge::MERGE, &merged.info)?;
    run.write_json(run_dir::METRICS, &merged.metrics)?;
    let _ = write!(
        out,
        "{}",
        summary::render(&merged.metrics, &dir.display().to_string())
    );
    Ok(())
}

/// Writes every output asked for. Each is built in memory first and written whole, so
/// one that fails (a header that differs, a folder that is not there) leaves no part.
fn write_outputs(
    o: &Outputs,
    loaded: &Loaded,
    notes: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let flat: Vec<FlatRun> = loaded.runs.iter().map(FlatRun::of).collect();
    if let Some(p) = &o.append_csv {
        let existing = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::Config(format!("--append-csv {}: {e}", p.display()))),
        };
        let a = csv::append(&existing, &flat)
            .map_err(|e| Error::Config(format!("--append-csv {}: {e}", p.display())))?;
        write_file(p, a.text.as_bytes())?;
        let _ = writeln!(
            err,
            "appended {} run(s) to {} ({} already there)",
            a.added,
            p.display(),
            a.present
        );
    }
    if let Some(p) = &o.csv {
        emit(p, csv::render(&flat).as_bytes(), out, err)?;
        if !loaded.benches.is_empty() {
            bench_csv(p, loaded, out, err)?;
        }
    }
    if let Some(p) = &o.requests_csv {
        emit(p, csv::render_requests(&loaded.runs).as_bytes(), out, err)?;
    }
    if let Some(p) = &o.xlsx {
        let book = xlsx::render(&xlsx::XlsxInput {
            runs: &loaded.runs,
            flat: &flat,
            sweeps: &loaded.sweeps,
        })
        .map_err(Error::Runtime)?;
        emit(p, &book, out, err)?;
    }
    match &o.vllm {
        None => {}
        Some(VllmOut::Stdout) => {
            let mut text = String::new();
            for run in &loaded.runs {
                text.push_str(&vllm::render(run).to_string());
                text.push('\n');
            }
            emit(Path::new("-"), text.as_bytes(), out, err)?;
        }
        Some(VllmOut::Dir(dir)) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Config(format!("--out {}: {e}", dir.display())))?;
            let mut used = std::collections::HashSet::new();
            for run in &loaded.runs {
                let mut name = vllm::file_name(run);
                let mut k = 1;
                while !used.insert(name.clone()) {
                    k += 1;
                    name = vllm::file_name(run).replace(".json", &format!("-{k}.json"));
                }
                let mut bytes = serde_json::to_vec_pretty(&vllm::render(run))
                    .map_err(|e| Error::Runtime(e.to_string()))?;
                bytes.push(b'\n');
                emit(&dir.join(name), &bytes, out, err)?;
            }
        }
    }
    if let Some(p) = &o.html {
        let page = html::render(&html::HtmlInput {
            runs: &loaded.runs,
            flat: &flat,
            decompositions: &loaded.decompositions,
            benches: &loaded.benches,
            preprocess: &loaded.preprocess,
            notes,
            generated_at: chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string(),
        });
        emit(p, page.as_bytes(), out, err)?;
    }
    if let Some(p) = &o.md {
        let text = markdown::render(&markdown::MarkdownInput {
            runs: &flat,
            benches: &loaded.benches,
            notes,
        });
        emit(p, text.as_bytes(), out, err)?;
    }
    Ok(())
}

/// bench runs in llama-bench's CSV columns: beside FILE as FILE-bench.csv (a CSV has one
/// header), or alone on stdout when there are no other runs.
fn bench_csv(p: &Path, loaded: &Loaded, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let records: Vec<_> = loaded
        .benches
        .iter()
        .flat_map(|b| b.records.iter().cloned())
        .collect();
    let text = fmt_bench::csv(&records);
    if p == Path::new("-") {
        if loaded.runs.is_empty() {
            return emit(p, text.as_bytes(), out, err);
        }
        let _ = writeln!(
            err,
            "warning: {} bench run(s) not in the CSV on stdout: give --csv a file name",
            loaded.benches.len()
        );
        return Ok(());
    }
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    emit(
        &p.with_file_name(format!("{stem}-bench.csv")),
        text.as_bytes(),
        out,
        err,
    )
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

/// Writes `bytes` to `path`, or to `out` for `-`.
fn emit(path: &Path, bytes: &[u8], out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    if path == Path::new("-") {
        return out.write_all(bytes).map_err(|e| Error::io("<stdout>", e));
    }
    write_file(path, bytes)?;
    let _ = writeln!(err, "wrote {}", path.display());
    Ok(())
}

/// Writes a whole file the user named; one that cannot be written is a bad path (exit 2).
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    run_dir::write_atomic(path, bytes).map_err(|e| Error::Config(format!("cannot write {e}")))
}
