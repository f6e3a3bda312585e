//! The run directory, the contract with users and with `report`:
//! `samples.jsonl` (a line per request, flushed as each finishes), `metrics.json`,
//! `run_config.json` and `manifest.json`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::EngineInfo;
use crate::env::{BuildInfo, MachineInfo};
use crate::error::{Error, Result};
use crate::metrics::{RequestRecord, RunMetrics};

pub const SAMPLES: &str = "samples.jsonl";
pub const METRICS: &str = "metrics.json";
pub const RUN_CONFIG: &str = "run_config.json";
pub const MANIFEST: &str = "manifest.json";

/// `metrics.json`: what was run, and its aggregates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsFile {
    pub run_id: String,
    pub engine: String,
    pub model: String,
    pub workload: String,
    pub started_at: String,
    /// The user stopped the run; the figures cover what was measured before.
    pub interrupted: bool,
    /// Which driver ran the requests: `in-process` or `load` (the load generator, for a
    /// served engine), so that a report reads the settings that applied. Absent in run
    /// directories written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<crate::runner::Driver>,
    /// The wall clock (ms since the Unix epoch) at the start of the measured phase, the
    /// zero of every record's `start_ms` (absent in run directories written before it
    /// was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_ms: Option<f64>,
    #[serde(flatten)]
    pub metrics: RunMetrics,
}

/// The model file a run loaded, identified by content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub sha256: String,
    /// For a model from the Hugging Face Hub cache: the repo (`owner/name`) and the commit
    /// sha of its snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_revision: Option<String>,
}

impl ModelFile {
    /// Hashes a model file; for a model directory, its weights, config and tokenizer
    /// (`ResolvedModel::fingerprint`).
    pub fn of(path: &Path) -> Result<Self> {
        let (sha256, size_bytes) = if path.is_dir() {
            let f = crate::model::resolve(&path.to_string_lossy()).and_then(|m| m.fingerprint())?;
            (f.sha256, f.size_bytes)
        } else {
            crate::model::spec::sha256_file(path)?
        };
        let (hf_repo, hf_revision) = crate::model::hf::source_of(path).unzip();
        Ok(ModelFile {
            path: path.to_owned(),
            size_bytes,
            sha256,
            hf_repo,
            hf_revision,
        })
    }
}

/// `manifest.json`: where and with what a run was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub timestamp: String,
    pub build: BuildInfo,
    pub machine: MachineInfo,
    pub engine: EngineInfo,
    pub model_file: Option<ModelFile>,
    /// The server `--launch` started: its command line, version, URL and log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<crate::launch::ServerInfo>,
}

impl Manifest {
    /// The manifest of a run that started at `started` on the engine `engine`: this build,
    /// this machine, and the model file's identity.
    pub fn capture(started: &chrono::DateTime<chrono::Local>, engine: &EngineInfo) -> Result<Self> {
        Ok(Manifest {
            timestamp: started.to_rfc3339(),
            build: BuildInfo::current(),
            machine: MachineInfo::detect(),
            engine: engine.clone(),
            model_file: engine
                .model_path
                .as_deref()
                .map(ModelFile::of)
                .transpose()?,
            server: None,
        })
    }
}

/// An open run directory.
pub struct RunDir {
    path: PathBuf,
    samples: BufWriter<File>,
}

impl RunDir {
    /// Creates the directory (and parents) and opens `samples.jsonl`. An existing
    /// `samples.jsonl` there is an error: a run never overwrites another's results.
    pub fn create(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let samples_path = path.join(SAMPLES);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&samples_path)
            .map_err(|e| Error::io(&samples_path, e))?;
        Ok(RunDir {
            path: path.to_owned(),
            samples: BufWriter::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and flushes it to the OS, so an interrupted or crashed run
    /// keeps every request it finished.
    pub fn append(&mut self, record: &RequestRecord) -> Result<()> {
        let p = self.path.join(SAMPLES);
        serde_json::to_writer(&mut self.samples, record).map_err(|e| Error::Json {
            path: p.clone(),
            source: e,
        })?;
        self.samples
            .write_all(b"\n")
            .and_then(|_| self.samples.flush())
            .map_err(|e| Error::io(p, e))
    }

    /// Replaces `samples.jsonl` with `records`, through a temporary file and a rename:
    /// after the run, to add what was scored off the timed path (accuracy, cost). Nothing
    /// is appended afterwards.
    pub fn rewrite_samples(&mut self, records: &[RequestRecord]) -> Result<()> {
        let p = self.path.join(SAMPLES);
        let tmp = self.path.join("samples.jsonl.tmp");
        let mut text = Vec::new();
        for r in records {
            serde_json::to_writer(&mut text, r).map_err(|e| Error::Json {
                path: p.clone(),
                source: e,
            })?;
            text.push(b'\n');
        }
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| Error::io(&p, e))
    }

    /// Writes `name` as pretty JSON, through a temporary file and a rename, so a reader
    /// never sees half a file.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        write_json_atomic(&self.path.join(name), value)
    }
}

/// Writes pretty JSON to `path` via a temporary file and a rename.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Json {
        path: path.to_owned(),
        source: e,
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so a reader
/// (or a failed write) never sees half a file; the temporary file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let written = std::fs::write(&tmp, bytes)
        .map_err(|e| Error::io(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Reads every record of a `samples.jsonl`, stopping at the first line that does not
/// parse (the tail of a run killed mid-write). Returns the records and whether a bad
/// line was found.
pub fn read_samples(path: &Path) -> Result<(Vec<RequestRecord>, bool)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(r) => out.push(r),
            Err(_) => return Ok((out, true)),
        }
    }
    Ok((out, false))
}

/// The default directory name: `<timestamp>-<engine>-<model>`, with the model reduced
/// to characters that are safe in a path.
pub fn default_run_id(
    timestamp: &chrono::DateTime<chrono::Local>,
    engine: &str,
    model: &str,
) -> String {
    let model = Path::new(model)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(model);
    let safe: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}-{engine}-{safe}", timestamp.format("%Y%m%d-%H%M%S"))
}
