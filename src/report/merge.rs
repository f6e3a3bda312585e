//! `report --merge`: the shards of one load (`run --shard I/N`, one run directory each)
//! merged into one run directory. Every sample is kept, moved onto one timeline by each
//! shard's wall-clock start, and the figures are computed from the union by the same
//! aggregation as a single run's (`RunMetrics::compute`), so they are the figures one
//! client would have reported for the same requests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::run_dir::{self, MetricsFile, MANIFEST, METRICS, RUN_CONFIG, SAMPLES};
use crate::error::{Error, Result};
use crate::metrics::goodput::{self, Slo};
use crate::metrics::{RequestRecord, RunMetrics};
use crate::runner::shard::Shard;
use crate::runner::Driver;

/// The file a merged run directory records its shards in.
pub const MERGE: &str = "merge.json";

/// Fields of `run_config.json` that differ between the shards of one load by design.
const PER_SHARD: &[&str] = &["out", "quiet", "format", "results_dir", "shard"];

/// One shard that went into a merge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergedShard {
    pub dir: PathBuf,
    /// `I/N`, for a run made with `--shard`.
    pub shard: Option<String>,
    pub requests: usize,
    /// Its measured phase's wall-clock start, ms since the Unix epoch.
    pub started_unix_ms: f64,
}

/// `merge.json`: what a merged run directory was made from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergeInfo {
    pub shards: Vec<MergedShard>,
    /// Shards of the load that were not merged (`I/N`), and directories given that hold
    /// no run.
    pub missing: Vec<String>,
}

/// A merge, ready to be written as a run directory.
#[derive(Debug, Clone)]
pub struct Merged {
    /// Every shard's records, on the merged timeline, in the order they started.
    pub records: Vec<RequestRecord>,
    pub metrics: MetricsFile,
    /// The shards' common `run_config.json`, with the per-shard fields cleared.
    pub run_config: Value,
    /// The first shard's `manifest.json`.
    pub manifest: Value,
    pub info: MergeInfo,
}

/// One shard's run directory, read.
struct ShardRun {
    dir: PathBuf,
    config: Value,
    manifest: Value,
    file: MetricsFile,
    records: Vec<RequestRecord>,
    shard: Option<Shard>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.to_owned(),
        source: e,
    })
}

/// Reads a shard's run directory; `None` when it holds no run at all (a shard that never
/// ran, or never got as far as writing its files).
fn read_shard(dir: &Path) -> Result<Option<ShardRun>> {
    if !dir.join(METRICS).is_file() || !dir.join(SAMPLES).is_file() {
        return Ok(None);
    }
    let config: Value = read_json(&dir.join(RUN_CONFIG))?;
    let shard = match config.get("shard") {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value::<Shard>(v.clone()).map_err(|e| {
            Error::Config(format!(
                "{}: a bad `shard` in run_config.json: {e}",
                dir.display()
            ))
        })?),
    };
    let (records, torn) = run_dir::read_samples(&dir.join(SAMPLES))?;
    if torn {
        return Err(Error::Config(format!(
            "{}: samples.jsonl has a line that does not parse; the shard's samples are incomplete",
            dir.display()
        )));
    }
    Ok(Some(ShardRun {
        dir: dir.to_owned(),
        manifest: read_json(&dir.join(MANIFEST)).unwrap_or(Value::Null),
        file: read_json(&dir.join(METRICS))?,
        config,
        records,
        shard,
    }))
}

/// The first field (a dotted path) where two setups differ, with both values.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<(String, String, String)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(va, vb, &p)
            })
        }
        _ if a == b => None,
        _ => Some((path.to_owned(), a.to_string(), b.to_string())),
    }
}

/// The setup the shards must share: `run_config.json` less the per-shard fields, with
/// the shard count kept, and the nativebench version that ran it.
fn setup(run: &ShardRun) -> Value {
    let mut v = run.config.clone();
    if let Value::Object(m) = &mut v {
        for k in PER_SHARD {
            m.remove(*k);
        }
        m.insert(
            "shard_count".into(),
            run.shard.map_or(Value::Null, |s| s.count.into()),
        );
        m.insert(
            "nativebench_version".into(),
            run.manifest
                .pointer("/build/nativebench_version")
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    v
}

/// Merges the run directories `dirs` (the shards of one load). Refuses shards whose
/// setups differ, naming the first field that does; merges what is there when a shard
/// is missing, and names it in `missing`.
pub fn merge(dirs: &[PathBuf]) -> Result<Merged> {
    let mut runs = Vec::new();
    let mut missing = Vec::new();
    for d in dirs {
        match read_shard(d)? {
            Some(r) => runs.push(r),
            None => missing.push(format!("{} (no run there)", d.display())),
        }
    }
    let Some(first) = runs.first() else {
        return Err(Error::Config(format!(
            "nothing to merge: none of {} holds a run (metrics.json and samples.jsonl)",
            dirs.len()
        )));
    };
    let base = setup(first);
    for r in &runs[1..] {
        if let Some((field, a, b)) = first_difference(&base, &setup(r), "") {
            return Err(Error::Config(format!(
                "refusing to merge: the shards' setups differ in `{field}`: {a} in {}, {b} in {}",
                first.dir.display(),
                r.dir.display()
            )));
        }
    }
    let mut seen: BTreeMap<usize, &Path> = BTreeMap::new();
    for r in &runs {
        if let Some(s) = r.shard {
            if let Some(other) = seen.insert(s.index, &r.dir) {
                return Err(Error::Config(format!(
                    "shard {s} given twice: {} and {}",
                    other.display(),
                    r.dir.display()
                )));
            }
        }
    }
    if let Some(count) = first.shard.map(|s| s.count) {
        missing.extend(
            (0..count)
                .filter(|i| !seen.contains_key(i))
                .map(|i| format!("shard {i}/{count}")),
        );
    }
    let mut starts = Vec::with_capacity(runs.len());
    for r in &runs {
        starts.push(r.file.started_unix_ms.ok_or_else(|| {
            Error::Config(format!(
                "{}: metrics.json has no started_unix_ms (written by an older nativebench), so its requests cannot be placed beside the other shards'",
                r.dir.display()
            ))
        })?);
    }
    let t0 = starts.iter().copied().fold(f64::INFINITY, f64::min);
    let mut records = Vec::new();
    let mut shards = Vec::new();
    let mut warnings = Vec::new();
    for (r, &start) in runs.iter().zip(&starts) {
        let offset = start - t0;
        records.extend(r.records.iter().cloned().map(|mut rec| {
            rec.start_ms += offset;
            rec
        }));
        let name = r.shard.map(|s| s.to_string());
        let label = name.clone().unwrap_or_else(|| r.dir.display().to_string());
        warnings.extend(
            r.file
                .metrics
                .warnings
                .iter()
                .map(|w| format!("shard {label}: {w}")),
        );
        shards.push(MergedShard {
            dir: r.dir.clone(),
            shard: name,
            requests: r.records.len(),
            started_unix_ms: start,
        });
    }
    records.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let in_process = first.file.driver == Some(Driver::InProcess);
    let mut metrics = RunMetrics::compute(&records, in_process, None);
    if let Some(slo) = first
        .config
        .get("goodput")
        .and_then(|v| serde_json::from_value::<Option<Slo>>(v.clone()).ok())
        .flatten()
    {
        metrics.goodput = Some(goodput::compute(&records, slo, metrics.duration_s));
    }
    if !missing.is_empty() {
        warnings.insert(
            0,
            format!(
                "merged without {}: its requests are not here",
                missing.join(", ")
            ),
        );
    }
    metrics.warnings = warnings;
    let mut run_config = first.config.clone();
    if let Value::Object(m) = &mut run_config {
        m.insert("shard".into(), Value::Null);
        m.insert("out".into(), Value::Null);
    }
    Ok(Merged {
        metrics: MetricsFile {
            run_id: String::new(),
            engine: first.file.engine.clone(),
            model: first.file.model.clone(),
            workload: first.file.workload.clone(),
            started_at: first.file.started_at.clone(),
            interrupted: runs.iter().any(|r| r.file.interrupted),
            driver: first.file.driver,
            started_unix_ms: Some(t0),
            metrics,
        },
        records,
        run_config,
        manifest: first.manifest.clone(),
        info: MergeInfo { shards, missing },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_differing_field_is_named_by_its_path() {
        let a = json!({"engine": {"sim": {"decode_ms": 2.0}, "threads": 1}, "seed": 0});
        let b = json!({"engine": {"sim": {"decode_ms": 3.0}, "threads": 1}, "seed": 0});
        let (field, x, y) = first_difference(&a, &b, "").unwrap();
        assert_eq!(
            (field.as_str(), x.as_str(), y.as_str()),
            ("engine.sim.decode_ms", "2.0", "3.0")
        );
        assert_eq!(first_difference(&a, &a, ""), None);
    }
}
