//! Resource sampling of this process: resident memory (peak and average) and CPU use,
//! sampled on a background thread while a run measures, plus the GPUs' utilisation,
//! memory, power and temperature where an NVIDIA driver is present.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::gpu::{self, GpuProbe, GpuReading, GpuSummary};

/// How often memory is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Memory and CPU over the measured part of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResourceSummary {
    /// The process's peak resident set (the kernel's high-water mark, so nothing between
    /// samples is missed).
    pub rss_peak_mib: f64,
    pub rss_avg_mib: f64,
    /// CPU time over wall time, in percent of one core.
    pub cpu_avg_percent: Option<f64>,
    pub samples: usize,
    /// GPU figures (`gpu_*` fields), absent where no NVIDIA driver is present.
    #[serde(flatten)]
    pub gpu: GpuSummary,
}

/// A running sampler; [`ResourceSampler::stop`] ends it and summarises.
pub struct ResourceSampler {
    stop: Arc<AtomicBool>,
    /// Memory samples the thread has taken so far.
    taken: Arc<AtomicUsize>,
    handle: Option<JoinHandle<(Vec<f64>, Vec<GpuReading>)>>,
    started: Instant,
    cpu_start: Option<f64>,
}

impl ResourceSampler {
    /// Starts sampling now.
    pub fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let taken = Arc::new(AtomicUsize::new(0));
        let count = taken.clone();
        let handle = std::thread::Builder::new()
            .name("nativebench-rss".into())
            .spawn(move || {
                // Opened here, not on the measuring thread, so loading NVML costs the run
                // nothing.
                let probe = GpuProbe::open();
                let (mut samples, mut gpu) = (Vec::new(), Vec::new());
                while !flag.load(Ordering::Relaxed) {
                    if let Some(rss) = rss_mib() {
                        samples.push(rss);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(p) = &probe {
                        gpu.push(p.read());
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
                (samples, gpu)
            })
            .ok();
        ResourceSampler {
            stop,
            taken,
            handle,
            started: Instant::now(),
            cpu_start: cpu_seconds(),
        }
    }

    /// Memory samples taken so far on the sampling thread (not counting the one `stop`
    /// adds).
    pub fn samples_taken(&self) -> usize {
        self.taken.load(Ordering::Relaxed)
    }

    /// Stops sampling. `None` where the OS gives no figures.
    pub fn stop(mut self) -> Option<ResourceSummary> {
        self.stop.store(true, Ordering::Relaxed);
        let (mut samples, gpu) = self.handle.take()?.join().ok()?;
        if let Some(rss) = rss_mib() {
            samples.push(rss);
        }
        if samples.is_empty() {
            return None;
        }
        let wall = self.started.elapsed().as_secs_f64();
        let cpu = self
            .cpu_start
            .zip(cpu_seconds())
            .filter(|_| wall > 0.0)
            .map(|(a, b)| (b - a) / wall * 100.0);
        let avg = samples.iter().sum::<f64>() / samples.len() as f64;
        let peak = peak_rss_mib().unwrap_or_else(|| samples.iter().copied().fold(0.0, f64::max));
        Some(ResourceSummary {
            rss_peak_mib: peak,
            rss_avg_mib: avg,
            cpu_avg_percent: cpu,
            samples: samples.len(),
            gpu: gpu::summarize(&gpu).unwrap_or_default(),
        })
    }
}

/// Current resident set of this process, in MiB.
pub fn rss_mib() -> Option<f64> {
    status_kib("VmRSS:").map(|k| k / 1024.0)
}

/// Peak resident set of this process so far, in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    status_kib("VmHWM:").map(|k| k / 1024.0)
}

fn status_kib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// User plus system CPU time of this process, in seconds.
fn cpu_seconds() -> Option<f64> {
    process_cpu_seconds("self")
}

/// User + system CPU time of a process (`self` or a pid) so far, in seconds.
pub fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}

/// CPU time every process on the machine has spent so far (user, nice, system, irq,
/// softirq and steal of `/proc/stat`'s `cpu` line; not idle or iowait), in seconds.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum();
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| busy / ticks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn samples_this_process() {
        let s = ResourceSampler::start();
        let v: Vec<u8> = vec![1; 8 << 20];
        // Two samples from the background thread, however late a busy machine first runs
        // it (a fixed sleep could end before it took any), bounded.
        let deadline = Instant::now() + Duration::from_secs(30);
        while s.samples_taken() < 2 {
            assert!(
                Instant::now() < deadline,
                "the sampler took no 2 samples in 30 s"
            );
            std::thread::sleep(SAMPLE_EVERY);
        }
        let r = s.stop().unwrap();
        assert!(v.iter().all(|&b| b == 1));
        assert!(
            r.rss_peak_mib >= r.rss_avg_mib * 0.99 && r.rss_avg_mib > 1.0,
            "{r:?}"
        );
        assert!(
            r.samples >= 3,
            "two from the thread, one at the stop: {r:?}"
        );
    }

    #[test]
    fn gpu_fields_are_absent_without_a_driver_and_read_back() {
        let mut r = ResourceSummary {
            rss_peak_mib: 10.0,
            rss_avg_mib: 9.0,
            cpu_avg_percent: None,
            samples: 3,
            gpu: GpuSummary::default(),
        };
        let json = serde_json::to_value(r).unwrap();
        assert!(json.get("rss_peak_mib").is_some());
        assert!(json.get("gpu_util_avg_percent").is_none(), "{json}");
        // metrics.json files written before GPU telemetry existed still load.
        let back: ResourceSummary = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);

        r.gpu.gpu_mem_used_peak_mib = Some(1234.5);
        let json = serde_json::to_value(r).unwrap();
        assert_eq!(json["gpu_mem_used_peak_mib"], 1234.5);
        assert_eq!(serde_json::from_value::<ResourceSummary>(json).unwrap(), r);
    }
}
