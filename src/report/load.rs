//! Finding and loading runs for `report`: a run is a directory holding `metrics.json` or
//! `samples.jsonl`. Partial or corrupt runs are skipped with a reason that names them, so
//! one bad directory never stops a report; a run with samples but no usable metrics.json
//! has its metrics recomputed from the samples.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::decomposition::{Decomposition, DECOMPOSITION};
use super::run_dir::{self, MetricsFile, MANIFEST, METRICS, RUN_CONFIG, SAMPLES};
use super::sweep::{SweepSummary, SWEEP_SUMMARY};
use crate::metrics::{RequestRecord, RunMetrics};
use crate::runner::bench::BenchRecord;

/// The results file of a `nativebench bench` run.
pub const BENCH: &str = "bench.jsonl";
/// What `nativebench preprocess` writes.
pub const PREPROCESS: &str = "preprocess.json";
/// How deep below a given path runs are looked for (results/<sweep>/<point>/<engine>).
const MAX_DEPTH: usize = 5;

/// Why `report` could not produce anything.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A path given on the command line that does not exist or cannot be listed.
    #[error("{}: {message}", path.display())]
    Path { path: PathBuf, message: String },
    /// Nothing usable was found under the paths given.
    #[error("no usable run under {paths}{}", skipped_note(*.skipped))]
    NoRuns { paths: String, skipped: usize },
    /// `--compare` found no run in NEW with the setup of a run in BASE.
    #[error("no run in NEW matches a run in BASE by engine, model, workload, concurrency and rate ({detail})")]
    NoMatch { detail: String },
}

fn skipped_note(n: usize) -> String {
    match n {
        0 => " (a run is a directory with metrics.json or samples.jsonl)".into(),
        n => format!(" ({n} skipped as partial or corrupt)"),
    }
}

/// Where a run's figures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsSource {
    /// The run's own metrics.json.
    MetricsJson,
    /// Recomputed from samples.jsonl (metrics.json missing or unreadable).
    Samples,
}

/// One run, ready to report.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub dir: PathBuf,
    pub file: MetricsFile,
    /// manifest.json, kept as JSON so that runs from older or newer builds still load.
    pub manifest: Option<Value>,
    /// run_config.json, likewise.
    pub config: Option<Value>,
    /// The measured requests (empty when samples.jsonl is absent).
    pub records: Vec<RequestRecord>,
    pub source: MetricsSource,
}

/// A run left out of the report, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub dir: PathBuf,
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skipped run {}: {}", self.dir.display(), self.reason)
    }
}

/// A `compare` directory's decomposition of the served overhead.
#[derive(Debug, Clone)]
pub struct LoadedDecomposition {
    pub dir: PathBuf,
    pub decomposition: Decomposition,
}

/// A `nativebench bench` run: its llama-bench-style records.
#[derive(Debug, Clone)]
pub struct LoadedBench {
    pub dir: PathBuf,
    pub records: Vec<BenchRecord>,
}

/// A sweep: its `sweep_summary.json`, and the directory its points' runs are in.
#[derive(Debug, Clone)]
pub struct LoadedSweep {
    pub dir: PathBuf,
    pub summary: SweepSummary,
}

impl LoadedSweep {
    /// Whether `run` is this sweep's point `label` (`<sweep>/<label>`; a plan's labels
    /// are `points/<point>`).
    pub fn holds(&self, run: &LoadedRun, label: &str) -> bool {
        run.dir == self.dir.join(label)
    }
}

/// Everything found under the paths given.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Oldest first.
    pub runs: Vec<LoadedRun>,
    /// `bench` runs, in the order found.
    pub benches: Vec<LoadedBench>,
    pub sweeps: Vec<LoadedSweep>,
    pub decompositions: Vec<LoadedDecomposition>,
    /// `preprocess` results (their preprocess.json), in the order found.
    pub preprocess: Vec<crate::preprocess::PreprocessReport>,
    pub skipped: Vec<Skipped>,
    /// Runs loaded with a caveat (metrics recomputed), one line each.
    pub notes: Vec<String>,
}

/// Loads every run under `paths` (each a run directory or a directory of them).
pub fn load(paths: &[PathBuf]) -> Result<Loaded, ReportError> {
    let mut out = Loaded::default();
    for p in paths {
        if !p.is_dir() {
            return Err(ReportError::Path {
                path: p.clone(),
                message: if p.exists() {
                    "not a directory (give a run directory or a results directory)".into()
                } else {
                    "no such directory".into()
                },
            });
        }
        walk(p, 0, &mut out)?;
    }
    if out.runs.is_empty() && out.benches.is_empty() && out.preprocess.is_empty() {
        let paths = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ReportError::NoRuns {
            paths,
            skipped: out.skipped.len(),
        });
    }
    out.runs.sort_by(|a, b| {
        (a.file.started_at.as_str(), &a.dir).cmp(&(b.file.started_at.as_str(), &b.dir))
    });
    out.runs.dedup_by(|a, b| a.dir == b.dir);
    Ok(out)
}

fn walk(dir: &Path, depth: usize, out: &mut Loaded) -> Result<(), ReportError> {
    let has = |name: &str| dir.join(name).is_file();
    if has(DECOMPOSITION) {
        match read_json::<Decomposition>(&dir.join(DECOMPOSITION)) {
            Ok(d) => out.decompositions.push(LoadedDecomposition {
                dir: dir.to_owned(),
                decomposition: d,
            }),
            Err(e) => out.notes.push(format!(
                "ignored {}: {e}",
                dir.join(DECOMPOSITION).display()
            )),
        }
    }
    if has(SWEEP_SUMMARY) {
        match read_json::<SweepSummary>(&dir.join(SWEEP_SUMMARY)) {
            Ok(summary) => out.sweeps.push(LoadedSweep {
                dir: dir.to_owned(),
                summary,
            }),
            Err(e) => out.notes.push(format!(
                "ignored {}: {e}",
                dir.join(SWEEP_SUMMARY).display()
            )),
        }
    }
    if has(PREPROCESS) {
        match read_json::<crate::preprocess::PreprocessReport>(&dir.join(PREPROCESS)) {
            Ok(r) => out.preprocess.push(r),
            Err(e) => out.skipped.push(Skipped {
                dir: dir.to_owned(),
                reason: format!("its {PREPROCESS} cannot be read: {e}"),
            }),
        }
        return Ok(());
    }
    if has(BENCH) && !has(METRICS) {
        match load_bench(&dir.join(BENCH)) {
            Ok((records, note)) if !records.is_empty() => {
                out.notes
                    .extend(note.map(|n| format!("bench run {}: {n}", dir.display())));
                out.benches.push(LoadedBench {
                    dir: dir.to_owned(),
                    records,
                });
            }
            Ok(_) => out.skipped.push(Skipped {
                dir: dir.to_owned(),
                reason: "its bench.jsonl holds no complete test".into(),
            }),
            Err(reason) => out.skipped.push(Skipped {
                dir: dir.to_owned(),
                reason,
            }),
        }
        return Ok(());
    }
    if has(METRICS) || has(SAMPLES) {
        match load_run(dir) {
            Ok((run, note)) => {
                out.notes.extend(note);
                out.runs.push(run);
            }
            Err(reason) => out.skipped.push(Skipped {
                dir: dir.to_owned(),
                reason,
            }),
        }
        return Ok(());
    }
    if has(MANIFEST) || has(RUN_CONFIG) {
        out.skipped.push(Skipped {
            dir: dir.to_owned(),
            reason: "it has neither metrics.json nor samples.jsonl".into(),
        });
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| ReportError::Path {
        path: dir.to_owned(),
        message: e.to_string(),
    })?;
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        walk(&sub, depth + 1, out)?;
    }
    Ok(())
}

/// A bench run's records: every complete line, with a note when a line was unreadable
/// (a run cut off while writing its last test).
fn load_bench(path: &Path) -> Result<(Vec<BenchRecord>, Option<String>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("bench.jsonl: {e}"))?;
    let mut records = Vec::new();
    let mut bad = 0usize;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<BenchRecord>(line) {
            Ok(r) => records.push(r),
            Err(_) => bad += 1,
        }
    }
    let note = (bad > 0).then(|| format!("{bad} unreadable line(s) of bench.jsonl left out"));
    Ok((records, note))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("{e}"))
}

/// Loads one run directory, or says why it cannot be used. The second value is a note
/// for a run that loaded with a caveat.
pub fn load_run(dir: &Path) -> Result<(LoadedRun, Option<String>), String> {
    let manifest = read_json::<Value>(&dir.join(MANIFEST)).ok();
    let config = read_json::<Value>(&dir.join(RUN_CONFIG)).ok();
    let samples_path = dir.join(SAMPLES);
    // A run stopped by a full disk or a kill may end in a cut line: the complete lines
    // before it are what was measured, read with a note.
    let mut cut = None;
    let records = if samples_path.is_file() {
        let (records, truncated) =
            run_dir::read_samples(&samples_path).map_err(|e| e.to_string())?;
        if truncated {
            cut = Some(format!(
                "run {}: samples.jsonl is cut or corrupt after {} complete lines; reading those",
                dir.display(),
                records.len()
            ));
        }
        Some(records)
    } else {
        None
    };
    let metrics_path = dir.join(METRICS);
    let parsed = if metrics_path.is_file() {
        Some(read_json::<MetricsFile>(&metrics_path))
    } else {
        None
    };
    let name = dir.display();
    let (file, source, note) = match (parsed, records.as_ref()) {
        (Some(Ok(file)), _) => (file, MetricsSource::MetricsJson, None),
        (None, None) => return Err("it has neither metrics.json nor samples.jsonl".into()),
        (Some(Err(e)), None) => return Err(format!("metrics.json is unreadable ({e})")),
        (parsed, Some(records)) => {
            if records.is_empty() {
                return Err("metrics.json is missing and samples.jsonl holds no request".into());
            }
            let why = match parsed {
                Some(Err(e)) => format!("metrics.json is unreadable ({e})"),
                _ => "metrics.json is missing".to_owned(),
            };
            (
                recompute(dir, records, manifest.as_ref(), config.as_ref()),
                MetricsSource::Samples,
                Some(format!(
                    "run {name}: {why}; metrics recomputed from samples.jsonl"
                )),
            )
        }
    };
    let note = [cut, note]
        .into_iter()
        .flatten()
        .reduce(|a, b| format!("{a}; {b}"));
    Ok((
        LoadedRun {
            dir: dir.to_owned(),
            file,
            manifest,
            config,
            records: records.unwrap_or_default(),
            source,
        },
        note,
    ))
}

/// Rebuilds metrics.json's contents from the samples and whatever else the run left.
fn recompute(
    dir: &Path,
    records: &[RequestRecord],
    manifest: Option<&Value>,
    config: Option<&Value>,
) -> MetricsFile {
    // Only an in-process engine sees tokenization, so its gaps are decode steps.
    let in_process = records.iter().any(|r| r.tokenize_ms.is_some());
    let text = |v: Option<&Value>, ptr: &str| {
        v.and_then(|v| v.pointer(ptr))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    MetricsFile {
        run_id,
        engine: text(manifest, "/engine/name")
            .or_else(|| text(config, "/engine/kind"))
            .unwrap_or_else(|| "unknown".into()),
        model: text(config, "/engine/model")
            .or_else(|| text(manifest, "/engine/model"))
            .unwrap_or_else(|| "unknown".into()),
        workload: text(config, "/workload/name").unwrap_or_else(|| "unknown".into()),
        started_at: text(manifest, "/timestamp").unwrap_or_default(),
        interrupted: false,
        driver: None,
        started_unix_ms: None,
        metrics: RunMetrics::compute(records, in_process, None),
    }
}

impl LoadedRun {
    /// A run with nothing measured, for listing the flat record's columns.
    pub fn placeholder() -> LoadedRun {
        LoadedRun {
            dir: PathBuf::new(),
            file: MetricsFile {
                run_id: String::new(),
                engine: String::new(),
                model: String::new(),
                workload: String::new(),
                started_at: String::new(),
                interrupted: false,
                driver: None,
                started_unix_ms: None,
                metrics: RunMetrics::compute(&[], true, None),
            },
            manifest: None,
            config: None,
            records: Vec::new(),
            source: MetricsSource::MetricsJson,
        }
    }
}
