//! What machine and build this is: the facts `nativebench env` prints and every
//! manifest records, so that a number can always be traced to where it was measured.

use std::process::Command;

use serde::{Deserialize, Serialize};

/// One GPU, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub name: String,
    pub driver: String,
    pub memory_mib: Option<u64>,
    /// The newest CUDA version the driver supports (from NVML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_driver: Option<String>,
}

/// The machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineInfo {
    pub os: String,
    pub kernel: Option<String>,
    pub arch: String,
    pub cpu_model: Option<String>,
    /// Logical CPUs this process may use.
    pub cpu_cores: usize,
    pub memory_gib: Option<f64>,
    pub gpus: Vec<GpuInfo>,
}

/// The build of nativebench itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    pub nativebench_version: String,
    pub git_sha: String,
    pub features: Vec<String>,
    pub rustc: String,
    pub profile: String,
    pub target_cpu_native: bool,
}

impl BuildInfo {
    /// This binary's build facts, recorded by build.rs.
    pub fn current() -> Self {
        BuildInfo {
            nativebench_version: env!("CARGO_PKG_VERSION").into(),
            git_sha: env!("NATIVEBENCH_GIT_SHA").into(),
            features: env!("NATIVEBENCH_FEATURES")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            rustc: env!("NATIVEBENCH_RUSTC").into(),
            profile: env!("NATIVEBENCH_PROFILE").into(),
            target_cpu_native: env!("NATIVEBENCH_RUSTFLAGS").contains("target-cpu=native"),
        }
    }
}

impl MachineInfo {
    /// Reads the machine's facts. Missing facts are `None`, never errors.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let line = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_owned();
                line.split_whitespace().nth(1)?.parse::<f64>().ok()
            })
            .map(|kib| kib / (1024.0 * 1024.0));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned());
        MachineInfo {
            os: os_name(),
            kernel,
            arch: std::env::consts::ARCH.into(),
            cpu_model,
            cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib,
            gpus: detect_gpus(),
        }
    }
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned())
}

/// GPUs through NVML, else `nvidia-smi`; an empty list on machines without a driver.
fn detect_gpus() -> Vec<GpuInfo> {
    if let Some(probe) = crate::metrics::gpu::GpuProbe::open() {
        let driver = probe.driver_version().unwrap_or_default();
        let cuda_driver = probe.cuda_driver_version();
        return probe
            .gpus()
            .into_iter()
            .map(|g| GpuInfo {
                name: g.name,
                driver: driver.clone(),
                memory_mib: g.memory_mib,
                cuda_driver: cuda_driver.clone(),
            })
            .collect();
    }
    let out = Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,driver_version,memory.total",
            "--format=csv,noheader,nounits",
        ])
        .output();
    let Ok(out) = out else { return Vec::new() };
    if !out.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            Some(GpuInfo {
                name: f.first()?.to_string(),
                driver: f.get(1)?.to_string(),
                memory_mib: f.get(2).and_then(|m| m.parse().ok()),
                cuda_driver: None,
            })
        })
        .collect()
}

/// A human-readable description of the machine and build, for `nativebench env`.
pub fn describe(m: &MachineInfo, b: &BuildInfo) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("{k:<14} {v}\n"));
    line("os", m.os.clone());
    line("kernel", m.kernel.clone().unwrap_or_else(|| "-".into()));
    line("arch", m.arch.clone());
    line("cpu", m.cpu_model.clone().unwrap_or_else(|| "-".into()));
    line("cores", m.cpu_cores.to_string());
    line(
        "memory",
        m.memory_gib.map_or("-".into(), |g| format!("{g:.1} GiB")),
    );
    if m.gpus.is_empty() {
        line("gpu", "none found".into());
    }
    for g in &m.gpus {
        let mem = g.memory_mib.map_or(String::new(), |x| format!(", {x} MiB"));
        let cuda = g
            .cuda_driver
            .as_ref()
            .map_or(String::new(), |c| format!(", CUDA {c}"));
        line(
            "gpu",
            format!("{} (driver {}{cuda}{mem})", g.name, g.driver),
        );
    }
    line(
        "nativebench",
        format!("{} ({})", b.nativebench_version, b.git_sha),
    );
    line(
        "features",
        if b.features.is_empty() {
            "none".into()
        } else {
            b.features.join(", ")
        },
    );
    line("rustc", b.rustc.clone());
    line("profile", b.profile.clone());
    line("native cpu", b.target_cpu_native.to_string());
    s
}
