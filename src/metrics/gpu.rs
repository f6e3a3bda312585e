//! NVIDIA GPU telemetry through NVML (utilisation, memory, power, temperature), for the
//! resource sampler and the manifest. NVML is loaded from the driver at run time, so every
//! build reports GPUs where a driver exists; without one, opening fails quietly and there is
//! simply no GPU telemetry.

use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::Nvml;
use serde::{Deserialize, Serialize};

/// An open NVML session over every GPU the driver shows.
pub struct GpuProbe {
    nvml: Nvml,
    count: u32,
}

/// One reading over all GPUs. Utilisation is the mean over GPUs; memory and power are
/// sums; temperature is the hottest GPU. Each figure is `None` when no GPU reported it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GpuReading {
    pub util_percent: Option<f64>,
    /// Device memory in use, device-wide (every process, not only this one).
    pub mem_used_mib: Option<f64>,
    pub power_w: Option<f64>,
    pub temp_c: Option<f64>,
}

/// GPU figures over the measured part of a run, as they appear in `metrics.json`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GpuSummary {
    /// Mean GPU utilisation (NVML: time a kernel was running), in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_util_avg_percent: Option<f64>,
    /// Peak device memory in use (device-wide), in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_mem_used_peak_mib: Option<f64>,
    /// Mean board power, in watts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_power_avg_w: Option<f64>,
    /// Highest GPU temperature, in degrees Celsius.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_temp_max_c: Option<f64>,
}

/// One GPU at one instant, as a line of `resources.jsonl` carries it. A figure the board
/// does not report is absent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GpuSample {
    /// The GPU's NVML index.
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub util_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_used_mib: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temp_c: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_clock_mhz: Option<f64>,
    /// NVML's total-energy counter since the driver loaded, in joules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_j: Option<f64>,
}

/// Facts about one GPU for the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuFacts {
    pub name: String,
    pub memory_mib: Option<u64>,
}

impl GpuProbe {
    /// Opens NVML; `None` without an NVIDIA driver or without any GPU (the normal case on
    /// a CPU machine, so nothing is reported).
    pub fn open() -> Option<GpuProbe> {
        let nvml = Nvml::init().ok()?;
        let count = nvml.device_count().ok().filter(|&n| n > 0)?;
        Some(GpuProbe { nvml, count })
    }

    /// The driver's version (for example `580.65.06`).
    pub fn driver_version(&self) -> Option<String> {
        self.nvml.sys_driver_version().ok()
    }

    /// The newest CUDA version the driver supports (for example `13.0`).
    pub fn cuda_driver_version(&self) -> Option<String> {
        let v = self.nvml.sys_cuda_driver_version().ok()?;
        Some(format!("{}.{}", v / 1000, (v % 1000) / 10))
    }

    /// Name and memory of each GPU.
    pub fn gpus(&self) -> Vec<GpuFacts> {
        (0..self.count)
            .filter_map(|i| self.nvml.device_by_index(i).ok())
            .map(|d| GpuFacts {
                name: d.name().unwrap_or_else(|_| "unknown NVIDIA GPU".into()),
                memory_mib: d.memory_info().ok().map(|m| m.total >> 20),
            })
            .collect()
    }

    /// Reads each GPU now, one sample per GPU.
    pub fn read_each(&self) -> Vec<GpuSample> {
        (0..self.count)
            .filter_map(|i| Some((i, self.nvml.device_by_index(i).ok()?)))
            .map(|(index, d)| GpuSample {
                index,
                util_percent: d.utilization_rates().ok().map(|u| f64::from(u.gpu)),
                mem_used_mib: d
                    .memory_info()
                    .ok()
                    .map(|m| m.used as f64 / (1024.0 * 1024.0)),
                power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
                temp_c: d.temperature(TemperatureSensor::Gpu).ok().map(f64::from),
                sm_clock_mhz: d.clock_info(Clock::SM).ok().map(f64::from),
                energy_j: d
                    .total_energy_consumption()
                    .ok()
                    .map(|mj| mj as f64 / 1000.0),
            })
            .collect()
    }

    /// Reads every GPU now, combined (see [`GpuReading`]).
    pub fn read(&self) -> GpuReading {
        combine(&self.read_each())
    }
}

/// One reading over all GPUs from one sample of each. Figures a GPU does not report
/// (power on some boards) are left out of the sums.
pub fn combine(samples: &[GpuSample]) -> GpuReading {
    let util: Vec<f64> = samples.iter().filter_map(|g| g.util_percent).collect();
    let sum = |f: fn(&GpuSample) -> Option<f64>| samples.iter().filter_map(f).reduce(|a, b| a + b);
    GpuReading {
        util_percent: mean(&util),
        mem_used_mib: sum(|g| g.mem_used_mib),
        power_w: sum(|g| g.power_w),
        temp_c: samples.iter().filter_map(|g| g.temp_c).reduce(f64::max),
    }
}

/// Mean and maximum of each figure of one GPU over a run: the summary prints them per
/// GPU, as nvidia-smi-based tools do.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GpuStats {
    pub index: u32,
    pub util_percent: MeanMax,
    pub mem_used_mib: MeanMax,
    pub power_w: MeanMax,
    pub temp_c: MeanMax,
    pub sm_clock_mhz: MeanMax,
}

/// Mean and maximum of a figure; both absent when it was never reported.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MeanMax {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl MeanMax {
    fn of(v: &[f64]) -> MeanMax {
        MeanMax {
            mean: mean(v),
            max: v.iter().copied().reduce(f64::max),
        }
    }
}

/// Per-GPU mean and max over a run's samples (one `Vec<GpuSample>` per instant).
pub fn stats_per_gpu(series: &[Vec<GpuSample>]) -> Vec<GpuStats> {
    let mut indices: Vec<u32> = series.iter().flatten().map(|g| g.index).collect();
    indices.sort_unstable();
    indices.dedup();
    indices
        .into_iter()
        .map(|index| {
            let of = |f: fn(&GpuSample) -> Option<f64>| {
                let v: Vec<f64> = series
                    .iter()
                    .flatten()
                    .filter(|g| g.index == index)
                    .filter_map(f)
                    .collect();
                MeanMax::of(&v)
            };
            GpuStats {
                index,
                util_percent: of(|g| g.util_percent),
                mem_used_mib: of(|g| g.mem_used_mib),
                power_w: of(|g| g.power_w),
                temp_c: of(|g| g.temp_c),
                sm_clock_mhz: of(|g| g.sm_clock_mhz),
            }
        })
        .collect()
}

/// Summarises the readings taken during a run; `None` when there were none.
pub fn summarize(readings: &[GpuReading]) -> Option<GpuSummary> {
    if readings.is_empty() {
        return None;
    }
    let pick = |f: fn(&GpuReading) -> Option<f64>| readings.iter().filter_map(f).collect();
    let (util, mem, power, temp): (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) = (
        pick(|r| r.util_percent),
        pick(|r| r.mem_used_mib),
        pick(|r| r.power_w),
        pick(|r| r.temp_c),
    );
    let max = |v: &[f64]| v.iter().copied().reduce(f64::max);
    Some(GpuSummary {
        gpu_util_avg_percent: mean(&util),
        gpu_mem_used_peak_mib: max(&mem),
        gpu_power_avg_w: mean(&power),
        gpu_temp_max_c: max(&temp),
    })
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_driver_means_no_probe_and_no_panic() {
        // On a machine with a driver this opens; either way it must return, not panic.
        if let Some(p) = GpuProbe::open() {
            assert!(!p.gpus().is_empty());
            let _ = p.read();
        }
    }

    #[test]
    fn summary_averages_power_and_keeps_peaks() {
        let r = |u, m, p, t| GpuReading {
            util_percent: Some(u),
            mem_used_mib: Some(m),
            power_w: Some(p),
            temp_c: t,
        };
        let s = summarize(&[
            r(50.0, 100.0, 200.0, Some(60.0)),
            r(100.0, 300.0, 300.0, None),
        ])
        .unwrap();
        assert_eq!(s.gpu_util_avg_percent, Some(75.0));
        assert_eq!(s.gpu_mem_used_peak_mib, Some(300.0));
        assert_eq!(s.gpu_power_avg_w, Some(250.0));
        assert_eq!(s.gpu_temp_max_c, Some(60.0));
        assert_eq!(summarize(&[]), None);
        assert_eq!(
            summarize(&[GpuReading::default()]),
            Some(GpuSummary::default())
        );
    }
}
