//! This machine's limits, measured by `nativebench env --probe` and cached in
//! `~/.cache/nativebench/probe.json` (or `$NATIVEBENCH_PROBE`): memory read bandwidth and
//! peak f32 FMA and int8 dot-product rates at 1..N threads, keyed by CPU, GPU and thread
//! count, and on CUDA builds each GPU's memory bandwidth, FMA peak and matmul rates
//! (gpu.rs). Runs read the cache to place their speed against the roofline; they never
//! measure it themselves.

pub mod gpu;
pub mod kernels;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::env::MachineInfo;
use crate::error::{Error, Result};
use gpu::GpuProbeEntry;
use kernels::Size;

/// The environment variable naming the probe file in place of the default.
pub const PROBE_VAR: &str = "NATIVEBENCH_PROBE";

/// The cache file: every machine and thread count measured so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeFile {
    pub entries: Vec<ProbeEntry>,
    /// GPUs measured by a CUDA build, one entry per machine and device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuProbeEntry>,
}

/// What one `env --probe` measured: the CPU at each thread count, each GPU the build could
/// reach, and why a GPU the machine has was not measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    pub cpu: Vec<ProbeEntry>,
    pub gpus: Vec<GpuProbeEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gpu_notes: Vec<String>,
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

    /// The entry for `device` (`cuda:0`) of `machine`.
    pub fn lookup_gpu(&self, machine: &str, device: &str) -> Option<&GpuProbeEntry> {
        self.gpus
            .iter()
            .find(|g| g.machine == machine && g.device == device)
    }

    /// Replaces this machine's CPU entries with `cpu`, and the entries of each GPU in
    /// `gpus` with its new one (a GPU not measured this time keeps its old figures).
    fn replace(&mut self, machine: &str, cpu: Vec<ProbeEntry>, gpus: Vec<GpuProbeEntry>) {
        self.entries.retain(|e| e.machine != machine);
        self.entries.extend(cpu);
        self.gpus.retain(|g| {
            !gpus
                .iter()
                .any(|n| n.machine == g.machine && n.device == g.device)
        });
        self.gpus.extend(gpus);
    }
}

/// Measures this machine at 1..`max_threads` threads and each GPU it has, saves the result
/// in the cache at `path` and returns it. `quick` runs a smaller probe.
pub fn measure(
    machine: &MachineInfo,
    max_threads: usize,
    quick: bool,
    path: &Path,
) -> Result<Probe> {
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
    let (mut gpus, mut gpu_notes) = (Vec::new(), Vec::new());
    for ordinal in 0..machine.gpus.len() {
        let device = format!("cuda:{ordinal}");
        match gpu::measure(ordinal, quick) {
            Ok(f) => gpus.push(GpuProbeEntry {
                machine: key.clone(),
                device,
                name: f.name,
                read_gb_s: f.read_gb_s,
                f32_gflop_s: f.f32_gflop_s,
                matmul_gflop_s: f.matmul_gflop_s,
                measured_at: now.clone(),
            }),
            Err(e) => gpu_notes.push(format!("{device} not probed: {e}")),
        }
    }
    let mut file = ProbeFile::load(path).unwrap_or_default();
    file.replace(&key, entries.clone(), gpus.clone());
    file.save(path)?;
    Ok(Probe {
        cpu: entries,
        gpus,
        gpu_notes,
    })
}

/// The cached limits for this machine at `threads`, and a note when there are none.
pub fn cached(machine: &MachineInfo, threads: usize) -> (Option<ProbeEntry>, Option<String>) {
    from_cache(|f| f.lookup(&machine_key(machine), threads).cloned())
}

/// The cached limits of this machine's GPU `device` (`cuda:0`), and a note when there are
/// none.
pub fn cached_gpu(machine: &MachineInfo, device: &str) -> (Option<GpuProbeEntry>, Option<String>) {
    from_cache(|f| f.lookup_gpu(&machine_key(machine), device).cloned())
}

fn from_cache<T>(find: impl Fn(&ProbeFile) -> Option<T>) -> (Option<T>, Option<String>) {
    let Some(path) = default_path() else {
        return (None, Some("no probe file: HOME is not set".into()));
    };
    match ProbeFile::load(&path) {
        Ok(f) => match find(&f) {
            Some(e) => (Some(e), None),
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

/// The probe as tables: the CPU at each thread count, then each GPU.
pub fn render(probe: &Probe, path: &Path) -> String {
    let entries = &probe.cpu;
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
    for g in &probe.gpus {
        let matmul: Vec<String> = g
            .matmul_gflop_s
            .iter()
            .map(|(dtype, v)| format!("{dtype} {:.1}", v / 1e3))
            .collect();
        s.push_str(&format!(
            "{} ({}): read {:.1} GB/s, f32 FMA {:.1} TFLOP/s, cuBLAS matmul TFLOP/s: {}\n",
            g.device,
            g.name,
            g.read_gb_s,
            g.f32_gflop_s / 1e3,
            matmul.join(", ")
        ));
    }
    for note in &probe.gpu_notes {
        s.push_str(&format!("{note}\n"));
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

    fn gpu(machine: &str, device: &str, bw: f64) -> GpuProbeEntry {
        GpuProbeEntry {
            machine: machine.into(),
            device: device.into(),
            name: "GPU".into(),
            read_gb_s: bw,
            f32_gflop_s: 1.0,
            matmul_gflop_s: Default::default(),
            measured_at: String::new(),
        }
    }

    #[test]
    fn a_new_gpu_probe_replaces_only_that_devices_entry() {
        let mut f = ProbeFile {
            entries: vec![entry("a", 1, 10.0)],
            gpus: vec![
                gpu("a", "cuda:0", 1.0),
                gpu("a", "cuda:1", 2.0),
                gpu("b", "cuda:0", 3.0),
            ],
        };
        f.replace(
            "a",
            vec![entry("a", 1, 11.0)],
            vec![gpu("a", "cuda:1", 20.0)],
        );
        assert_eq!(f.lookup_gpu("a", "cuda:0").unwrap().read_gb_s, 1.0);
        assert_eq!(f.lookup_gpu("a", "cuda:1").unwrap().read_gb_s, 20.0);
        assert_eq!(f.lookup_gpu("b", "cuda:0").unwrap().read_gb_s, 3.0);
        assert!(f.lookup_gpu("a", "cuda:2").is_none());
        assert_eq!(f.lookup("a", 1).unwrap().read_gb_s, 11.0);
    }

    #[test]
    fn lookup_takes_the_machine_and_the_most_threads_not_above_the_run() {
        let f = ProbeFile {
            entries: vec![
                entry("a", 1, 10.0),
                entry("a", 4, 40.0),
                entry("b", 2, 99.0),
            ],
            gpus: vec![],
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
            gpus: vec![gpu("a", "cuda:0", 4000.0)],
        };
        f.save(&p).unwrap();
        assert_eq!(ProbeFile::load(&p).unwrap(), f);
        std::fs::write(&p, "{").unwrap();
        assert!(ProbeFile::load(&p).is_err());
    }
}
