//! Resource sampling of this process: resident memory (peak and average) and CPU use,
//! sampled on a background thread while a run measures, plus the GPUs' utilisation,
//! memory, power, temperature, SM clock and energy where an NVIDIA driver is present;
//! each sample is also a line of the run's `resources.jsonl`, flushed as it is taken.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::energy::{EnergyReading, EnergySummary, POWERCAP};
use super::gpu::{self, GpuProbe, GpuReading, GpuSample, GpuStats, GpuSummary};

/// How often resources are sampled unless `--sample-interval` says otherwise.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// The time series in a run directory, one [`ResourceSample`] a line.
pub const RESOURCES_FILE: &str = "resources.jsonl";

/// Memory and CPU over the measured part of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSummary {
    /// The process's peak resident set (the kernel's high-water mark, so nothing between
    /// samples is missed).
    pub rss_peak_mib: f64,
    pub rss_avg_mib: f64,
    /// CPU time over wall time, in percent of one core.
    pub cpu_avg_percent: Option<f64>,
    pub samples: usize,
    /// The interval samples were taken at, ms (absent in runs from before the series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_interval_ms: Option<f64>,
    /// From the first sample to the stop, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled_s: Option<f64>,
    /// GPU figures (`gpu_*` fields), absent where no NVIDIA driver is present.
    #[serde(flatten)]
    pub gpu: GpuSummary,
    /// Mean and max of each GPU's figures, one entry per GPU.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_gpu: Vec<GpuStats>,
}

/// One line of `resources.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSample {
    /// Milliseconds since the sampler started, just before the run's clock (the
    /// requests' `start_ms`) starts.
    pub t_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_mib: Option<f64>,
    /// This process's CPU time since the previous sample over the wall time, in percent
    /// of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    /// The machine's memory in use (total less available), MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sys_mem_used_mib: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuSample>,
}

/// What the sampler is asked to do.
#[derive(Debug, Clone)]
pub struct SamplerConfig {
    pub interval: Duration,
    /// Where to write the series (`resources.jsonl`); `None` keeps only the summary.
    pub series: Option<PathBuf>,
    /// RAPL's root, `/sys/class/powercap` but for tests.
    pub powercap: PathBuf,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            interval: SAMPLE_EVERY,
            series: None,
            powercap: PathBuf::from(POWERCAP),
        }
    }
}

/// What the sampling thread hands back.
struct Taken {
    rss: Vec<f64>,
    gpu: Vec<GpuReading>,
    per_gpu: Vec<Vec<GpuSample>>,
    energy_start: EnergyReading,
    energy_end: EnergyReading,
    first: Option<Instant>,
    warning: Option<String>,
}

/// A running sampler; [`ResourceSampler::stop`] ends it and summarises.
pub struct ResourceSampler {
    stop: Option<Sender<()>>,
    /// Samples the thread has taken so far.
    taken: Arc<AtomicUsize>,
    handle: Option<JoinHandle<Taken>>,
    started: Instant,
    cpu_start: Option<f64>,
    interval: Duration,
}

/// The sampler's result: the summary, the energy and anything to warn about.
pub struct Sampled {
    pub summary: Option<ResourceSummary>,
    pub energy: Option<(EnergyReading, EnergyReading)>,
    pub warning: Option<String>,
}

impl Sampled {
    /// The energy over the run, per output token and per request.
    pub fn energy(&self, output_tokens: u64, requests: usize) -> Option<EnergySummary> {
        self.energy
            .as_ref()
            .map(|(a, b)| a.until(b, output_tokens, requests))
    }
}

impl ResourceSampler {
    /// Starts sampling now, every [`SAMPLE_EVERY`], without a series file.
    pub fn start() -> Self {
        Self::start_with(SamplerConfig::default())
    }

    /// Starts sampling now. Samples are taken on a fixed grid (0, interval, 2 x interval
    /// ...) from the start, so their count is the sampled time over the interval plus one
    /// however long each takes; a late thread catches up. Each is written and flushed as
    /// it is taken.
    pub fn start_with(config: SamplerConfig) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let taken = Arc::new(AtomicUsize::new(0));
        let count = taken.clone();
        let interval = config.interval;
        let handle = std::thread::Builder::new()
            .name("nativebench-resources".into())
            .spawn(move || {
                // Opened here, before the run's clock starts (the caller waits for the first
                // sample), so loading NVML costs the run nothing.
                let probe = GpuProbe::open();
                let mut t = Taken {
                    rss: Vec::new(),
                    gpu: Vec::new(),
                    per_gpu: Vec::new(),
                    energy_start: EnergyReading::default(),
                    energy_end: EnergyReading::default(),
                    first: None,
                    warning: None,
                };
                let mut file = match config.series.as_deref().map(open_series).transpose() {
                    Ok(f) => f,
                    Err(e) => {
                        t.warning = Some(e);
                        None
                    }
                };
                let gpus =
                    |p: &Option<GpuProbe>| p.as_ref().map(GpuProbe::read_each).unwrap_or_default();
                t.energy_start = EnergyReading::take(&config.powercap, &gpus(&probe));
                let origin = Instant::now();
                t.first = Some(origin);
                let _ = ready_tx.send(());
                let mut last_cpu = (origin, cpu_seconds());
                for k in 1u32.. {
                    let now = Instant::now();
                    let cpu = cpu_seconds();
                    let dt = now.duration_since(last_cpu.0).as_secs_f64();
                    let cpu_percent = last_cpu
                        .1
                        .zip(cpu)
                        .filter(|_| dt > 0.0)
                        .map(|(a, b)| (b - a) / dt * 100.0);
                    last_cpu = (now, cpu);
                    let sample = ResourceSample {
                        t_ms: now.duration_since(origin).as_secs_f64() * 1e3,
                        rss_mib: rss_mib(),
                        cpu_percent,
                        sys_mem_used_mib: sys_mem_used_mib(),
                        gpus: gpus(&probe),
                    };
                    if let Some(f) = &mut file {
                        if let Err(e) = write_line(f, &sample) {
                            t.warning =
                                Some(format!("{RESOURCES_FILE}: {e}; the series stops there"));
                            file = None;
                        }
                    }
                    t.rss.extend(sample.rss_mib);
                    if !sample.gpus.is_empty() {
                        t.gpu.push(gpu::combine(&sample.gpus));
                        t.per_gpu.push(sample.gpus);
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                    let next = origin + interval * k;
                    match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                }
                t.energy_end = EnergyReading::take(&config.powercap, &gpus(&probe));
                t
            })
            .ok();
        // NVML and the first energy reading are done before the run's clock starts, so the
        // series covers the whole run.
        let _ = ready_rx.recv();
        ResourceSampler {
            stop: Some(tx),
            taken,
            handle,
            started: Instant::now(),
            cpu_start: cpu_seconds(),
            interval,
        }
    }

    /// Samples taken so far on the sampling thread.
    pub fn samples_taken(&self) -> usize {
        self.taken.load(Ordering::Relaxed)
    }

    /// Stops sampling. The summary is `None` where the OS gives no figures.
    pub fn stop(mut self) -> Sampled {
        drop(self.stop.take());
        let stopped = Instant::now();
        let Some(t) = self.handle.take().and_then(|h| h.join().ok()) else {
            return Sampled {
                summary: None,
                energy: None,
                warning: Some("the resource sampler could not run".into()),
            };
        };
        let wall = self.started.elapsed().as_secs_f64();
        let cpu = self
            .cpu_start
            .zip(cpu_seconds())
            .filter(|_| wall > 0.0)
            .map(|(a, b)| (b - a) / wall * 100.0);
        let summary = (!t.rss.is_empty()).then(|| {
            let avg = t.rss.iter().sum::<f64>() / t.rss.len() as f64;
            let peak = peak_rss_mib().unwrap_or_else(|| t.rss.iter().copied().fold(0.0, f64::max));
            ResourceSummary {
                rss_peak_mib: peak,
                rss_avg_mib: avg,
                cpu_avg_percent: cpu,
                samples: t.rss.len(),
                sample_interval_ms: Some(self.interval.as_secs_f64() * 1e3),
                sampled_s: t
                    .first
                    .map(|f| stopped.saturating_duration_since(f).as_secs_f64()),
                gpu: gpu::summarize(&t.gpu).unwrap_or_default(),
                per_gpu: gpu::stats_per_gpu(&t.per_gpu),
            }
        });
        Sampled {
            summary,
            energy: Some((t.energy_start, t.energy_end)),
            warning: t.warning,
        }
    }
}

fn open_series(path: &Path) -> Result<std::io::BufWriter<std::fs::File>, String> {
    std::fs::File::create(path)
        .map(std::io::BufWriter::new)
        .map_err(|e| format!("cannot write {}: {e}; no resource series", path.display()))
}

/// Writes one sample as a line and flushes it, so an interrupted run keeps the series.
fn write_line(f: &mut impl Write, sample: &ResourceSample) -> std::io::Result<()> {
    serde_json::to_writer(&mut *f, sample)?;
    f.write_all(b"\n")?;
    f.flush()
}

/// The machine's memory in use (`MemTotal - MemAvailable`), in MiB.
pub fn sys_mem_used_mib() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    Some((kib_field(&info, "MemTotal:")? - kib_field(&info, "MemAvailable:")?) / 1024.0)
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
    kib_field(&status, key)
}

/// The value of a `Key:   1234 kB` line of a /proc file, in KiB.
fn kib_field(text: &str, key: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
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
            std::thread::sleep(Duration::from_millis(20));
        }
        let r = s.stop().summary.unwrap();
        assert!(v.iter().all(|&b| b == 1));
        assert!(
            r.rss_peak_mib >= r.rss_avg_mib * 0.99 && r.rss_avg_mib > 1.0,
            "{r:?}"
        );
        assert!(r.samples >= 2, "{r:?}");
    }

    #[test]
    fn gpu_fields_are_absent_without_a_driver_and_read_back() {
        let mut r = ResourceSummary {
            rss_peak_mib: 10.0,
            rss_avg_mib: 9.0,
            cpu_avg_percent: None,
            samples: 3,
            sample_interval_ms: None,
            sampled_s: None,
            gpu: GpuSummary::default(),
            per_gpu: Vec::new(),
        };
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("rss_peak_mib").is_some());
        assert!(json.get("gpu_util_avg_percent").is_none(), "{json}");
        // metrics.json files written before GPU telemetry existed still load.
        let back: ResourceSummary = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);

        r.gpu.gpu_mem_used_peak_mib = Some(1234.5);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["gpu_mem_used_peak_mib"], 1234.5);
        assert_eq!(serde_json::from_value::<ResourceSummary>(json).unwrap(), r);
    }
}
