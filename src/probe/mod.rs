//! This machine's limits, measured by `nativebench env --probe` and cached in
//! `~/.cache/nativebench/probe.json` (or `$NATIVEBENCH_PROBE`): memory read bandwidth and
//! peak f32 FMA and int8 dot-product rates at 1..N threads, keyed by CPU, GPU and thread
//! count. Runs read the cache to place their speed against the roofline; they never
//! measure it themselves.

pub mod kernels;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::env::MachineInfo;
use crate::error::{Error, Result};
use kernels::Size;

/// The environment variable naming the probe file in place of the default.
pub const PROBE_VAR: &str = "NATIVEBENCH_PROBE";

/// The cache file: every machine and thread count measured so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeFile {
    pub entries: Vec<ProbeEntry>,
}

/// One machine at one thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeEntry {
    /// The CPU model and logical CPUs (`AMD EPYC x 2`), with GPUs after a `|`.
    pub machine: String,
    pub threads: usize,
    /// Streaming-read bandwidth, GB/s (1e9 bytes).
    pub read_gb_s: f64,
    /// Peak f32 FMA rate, GFLOP/s (an FMA is two).
    pub f32_gflop_s: f64,
    pub f32_kernel: String,
    /// Peak int8 dot-product rate, GOP/s, where the CPU has the instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8_gop_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8_kernel: Option<String>,
    pub measured_at: String,
}

/// This machine's key in the cache.
pub fn machine_key(m: &MachineInfo) -> String {
    let mut key = format!(
        "{} x {}",
        m.cpu_model.as_deref().unwrap_or("unknown CPU"),
        m.cpu_cores
    );
    if !m.gpus.is_empty() {
        let gpus: Vec<&str> = m.gpus.iter().map(|g| g.name.as_str()).collect();
        key.push_str(&format!(" | {}", gpus.join(", ")));
    }
    key
}

/// The probe file: `$NATIVEBENCH_PROBE`, else `~/.cache/nativebench/probe.json`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(PROBE_VAR).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".cache/nativebench/probe.json"))
}

impl ProbeFile {
    /// Reads the file; a missing one is empty, a corrupt one an error naming it.
    pub fn load(path: &Path) -> Result<ProbeFile> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Json {
                path: path.to_owned(),
                source: e,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ProbeFile::default()),
            Err(e) => Err(Error::Io {
                path: path.to_owned(),
                source: e,
            }),
        }
    }

    /// Writes the file whole, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                path: dir.to_owned(),
                source: e,
            })?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Json {
            path: path.to_owned(),
            source: e,
        })?;
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| Error::Io {
                path: path.to_owned(),
                source: e,
            })
    }

    /// The entry for `machine` at `threads`, or else at the most threads below it (a run
    /// with more threads than were probed is placed against the best measured).
    pub fn lookup(&self, machine: &str, threads: usize) -> Option<&ProbeEntry> {
        self.entries
            .iter()
            .filter(|e| e.machine == machine && e.threads <= threads)
            .max_by_key(|e| e.threads)
    }

    /// Replaces this machine's entries with `new`.
    fn replace(&mut self, machine: &str, new: Vec<ProbeEntry>) {
        self.entries.retain(|e| e.machine != machine);
        self.entries.extend(new);
    }
}

/// Measures this machine at 1..`max_threads` threads, saves the result in the cache at
/// `path` and returns this machine's entries. `quick` runs a smaller probe.
pub fn measure(
    machine: &MachineInfo,
    max_threads: usize,
    quick: bool,
    path: &Path,
) -> Result<Vec<ProbeEntry>> {
    let size = if quick { Size::QUICK } else { Size::FULL };
    let key = machine_key(machine);
    let now = chrono::Local::now().to_rfc3339();
    let entries: Vec<ProbeEntry> = (1..=max_threads.max(1))
        .map(|threads| {
            let (f32_flops, f32_kernel) = kernels::f32_fma_peak(threads, size);
            let int8 = kernels::int8_dot_peak(threads, size);
            ProbeEntry {
                machine: key.clone(),
                threads,
                read_gb_s: kernels::read_bandwidth(threads, size) / 1e9,
                f32_gflop_s: f32_flops / 1e9,
                f32_kernel: f32_kernel.into(),
                int8_gop_s: int8.map(|(ops, _)| ops / 1e9),
                int8_kernel: int8.map(|(_, k)| k.into()),
                measured_at: now.clone(),
            }
        })
        .collect();
    let mut file = ProbeFile::load(path).unwrap_or_default();
    file.replace(&key, entries.clone());
    file.save(path)?;
    Ok(entries)
}

/// The cached limits for this machine at `threads`, and a note when there are none.
pub fn cached(machine: &MachineInfo, threads: usize) -> (Option<ProbeEntry>, Option<String>) {
    let Some(path) = default_path() else {
        return (None, Some("no probe file: HOME is not set".into()));
    };
    match ProbeFile::load(&path) {
        Ok(f) => match f.lookup(&machine_key(machine), threads) {
            Some(e) => (Some(e.clone()), None),
            None => (
                None,
                Some(format!(
                    "no probe of this machine in {}: run `nativebench env --probe` for decode_mbu and prefill_mfu",
                    path.display()
                )),
            ),
        },
        Err(e) => (None, Some(format!("probe file unreadable: {e}"))),
    }
}

/// The probe's entries as a table.
pub fn render(entries: &[ProbeEntry], path: &Path) -> String {
    let mut s = format!(
        "probe of {} (cached in {})\n{:>7}  {:>10}  {:>13}  {:>12}\n",
        entries.first().map_or("-", |e| e.machine.as_str()),
        path.display(),
        "threads",
        "read GB/s",
        "f32 GFLOP/s",
        "int8 GOP/s"
    );
    for e in entries {
        s.push_str(&format!(
            "{:>7}  {:>10.1}  {:>13.1}  {:>12}\n",
            e.threads,
            e.read_gb_s,
            e.f32_gflop_s,
            e.int8_gop_s.map_or("-".into(), |v| format!("{v:.1}"))
        ));
    }
    if let Some(e) = entries.first() {
        s.push_str(&format!(
            "kernels: f32 {}, int8 {}\n",
            e.f32_kernel,
            e.int8_kernel.as_deref().unwrap_or("none on this CPU")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(machine: &str, threads: usize, bw: f64) -> ProbeEntry {
        ProbeEntry {
            machine: machine.into(),
            threads,
            read_gb_s: bw,
            f32_gflop_s: 1.0,
            f32_kernel: "k".into(),
            int8_gop_s: None,
            int8_kernel: None,
            measured_at: String::new(),
        }
    }

    #[test]
    fn lookup_takes_the_machine_and_the_most_threads_not_above_the_run() {
        let f = ProbeFile {
            entries: vec![
                entry("a", 1, 10.0),
                entry("a", 4, 40.0),
                entry("b", 2, 99.0),
            ],
        };
        assert_eq!(f.lookup("a", 1).unwrap().read_gb_s, 10.0);
        assert_eq!(f.lookup("a", 3).unwrap().read_gb_s, 10.0);
        assert_eq!(f.lookup("a", 8).unwrap().read_gb_s, 40.0);
        assert!(f.lookup("b", 1).is_none());
        assert!(f.lookup("c", 8).is_none());
    }

    #[test]
    fn the_file_round_trips_and_a_missing_one_is_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("sub/probe.json");
        assert_eq!(ProbeFile::load(&p).unwrap(), ProbeFile::default());
        let f = ProbeFile {
            entries: vec![entry("a", 1, 10.0)],
        };
        f.save(&p).unwrap();
        assert_eq!(ProbeFile::load(&p).unwrap(), f);
        std::fs::write(&p, "{").unwrap();
        assert!(ProbeFile::load(&p).is_err());
    }
}
