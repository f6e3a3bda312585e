//! Energy over a run: NVML's total-energy counter on GPUs, RAPL's package counters
//! (`/sys/class/powercap`) on CPUs. Each is read at the start and the end of the measured
//! part; where neither can be read the run says why instead of failing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::gpu::GpuSample;

/// Where RAPL's counters live.
pub const POWERCAP: &str = "/sys/class/powercap";

/// One reading of every energy counter this machine lets us read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnergyReading {
    /// Sum of the CPU packages' counters, in joules, with each package's wrap range.
    rapl: Option<Vec<(f64, f64)>>,
    /// Sum of the GPUs' total-energy counters, in joules.
    nvml_j: Option<f64>,
    /// Why RAPL could not be read.
    rapl_absent: Option<String>,
}

/// Energy used over a run, as `metrics.json` records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergySummary {
    /// The counters used: `nvml`, `rapl` or `nvml+rapl`; absent with `absent_reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_j: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_j_per_output_token: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_j_per_request: Option<f64>,
    /// Why no energy figure could be given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent_reason: Option<String>,
}

impl EnergyReading {
    /// Reads RAPL under `powercap` and takes the GPUs' counters from `gpus`.
    pub fn take(powercap: &Path, gpus: &[GpuSample]) -> EnergyReading {
        let (rapl, rapl_absent) = match read_rapl(powercap) {
            Ok(v) => (Some(v), None),
            Err(why) => (None, Some(why)),
        };
        let nvml: Vec<f64> = gpus.iter().filter_map(|g| g.energy_j).collect();
        EnergyReading {
            rapl,
            nvml_j: (!nvml.is_empty() && nvml.len() == gpus.len()).then(|| nvml.iter().sum()),
            rapl_absent,
        }
    }

    /// The energy between `self` (the start) and `end`, per output token and request.
    pub fn until(&self, end: &EnergyReading, output_tokens: u64, requests: usize) -> EnergySummary {
        let mut parts = Vec::new();
        let mut joules = 0.0;
        if let (Some(a), Some(b)) = (self.nvml_j, end.nvml_j) {
            parts.push("nvml");
            joules += (b - a).max(0.0);
        }
        if let (Some(a), Some(b)) = (&self.rapl, &end.rapl) {
            if a.len() == b.len() {
                parts.push("rapl");
                for ((a, range), (b, _)) in a.iter().zip(b) {
                    // A counter passes its range at most once over a run.
                    joules += if b >= a { b - a } else { b + range - a };
                }
            }
        }
        if parts.is_empty() {
            let rapl = self
                .rapl_absent
                .clone()
                .unwrap_or_else(|| "RAPL changed during the run".into());
            return EnergySummary {
                absent_reason: Some(format!(
                    "no NVML energy counter (no NVIDIA GPU or driver); {rapl}"
                )),
                ..EnergySummary::default()
            };
        }
        let per = |n: f64| (n > 0.0).then(|| joules / n);
        EnergySummary {
            source: Some(parts.join("+")),
            energy_j: Some(joules),
            energy_j_per_output_token: per(output_tokens as f64),
            energy_j_per_request: per(requests as f64),
            absent_reason: None,
        }
    }
}

/// Each CPU package's counter and wrap range, in joules: the top-level `intel-rapl:N`
/// zones (AMD's driver uses the same names). Sub-zones (core, uncore, dram) are inside
/// their package's figure and are not added again.
fn read_rapl(powercap: &Path) -> Result<Vec<(f64, f64)>, String> {
    let dir = std::fs::read_dir(powercap)
        .map_err(|e| format!("no RAPL: {} cannot be read ({e})", powercap.display()))?;
    let mut zones: Vec<PathBuf> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("intel-rapl:") && n.matches(':').count() == 1)
        })
        .collect();
    zones.sort();
    if zones.is_empty() {
        return Err(format!(
            "no RAPL: {} has no intel-rapl package zone",
            powercap.display()
        ));
    }
    zones
        .iter()
        .map(|z| {
            let read = |f: &str| -> Result<f64, String> {
                let p = z.join(f);
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    format!(
                        "no RAPL: {} cannot be read ({e}; root-only since Linux 5.10)",
                        p.display()
                    )
                })?;
                text.trim()
                    .parse::<f64>()
                    .map(|uj| uj / 1e6)
                    .map_err(|_| format!("no RAPL: {} holds no number", p.display()))
            };
            Ok((read("energy_uj")?, read("max_energy_range_uj")?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(root: &Path, name: &str, uj: u64, range: u64) {
        let z = root.join(name);
        std::fs::create_dir_all(&z).unwrap();
        std::fs::write(z.join("energy_uj"), format!("{uj}\n")).unwrap();
        std::fs::write(z.join("max_energy_range_uj"), format!("{range}\n")).unwrap();
    }

    #[test]
    fn rapl_packages_are_summed_across_a_wrap_and_subzones_are_not_counted_twice() {
        let tmp = tempfile::tempdir().unwrap();
        zone(tmp.path(), "intel-rapl:0", 9_000_000, 10_000_000);
        zone(tmp.path(), "intel-rapl:1", 1_000_000, 10_000_000);
        zone(tmp.path(), "intel-rapl:0:0", 5, 10_000_000);
        let start = EnergyReading::take(tmp.path(), &[]);
        // Package 0 wraps: 9 J -> 1 J over a 10 J range is 2 J; package 1 uses 3 J.
        zone(tmp.path(), "intel-rapl:0", 1_000_000, 10_000_000);
        zone(tmp.path(), "intel-rapl:1", 4_000_000, 10_000_000);
        let end = EnergyReading::take(tmp.path(), &[]);
        let e = start.until(&end, 10, 2);
        assert_eq!(e.source.as_deref(), Some("rapl"));
        assert_eq!(e.energy_j, Some(5.0));
        assert_eq!(e.energy_j_per_output_token, Some(0.5));
        assert_eq!(e.energy_j_per_request, Some(2.5));
    }

    #[test]
    fn nvml_counters_add_to_rapl_and_nothing_readable_is_a_stated_absence() {
        let gpu = |j| GpuSample {
            energy_j: Some(j),
            ..GpuSample::default()
        };
        let none = Path::new("/nonexistent/powercap");
        let e = EnergyReading::take(none, &[gpu(100.0), gpu(50.0)]).until(
            &EnergyReading::take(none, &[gpu(130.0), gpu(60.0)]),
            4,
            1,
        );
        assert_eq!(
            (e.source.as_deref(), e.energy_j),
            (Some("nvml"), Some(40.0))
        );
        assert_eq!(e.energy_j_per_output_token, Some(10.0));

        let e = EnergyReading::take(none, &[]).until(&EnergyReading::take(none, &[]), 4, 1);
        assert_eq!(e.energy_j, None);
        let why = e.absent_reason.unwrap();
        assert!(
            why.contains("NVML") && why.contains("/nonexistent/powercap"),
            "{why}"
        );
    }

    #[test]
    fn an_unreadable_counter_is_a_reason_not_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("intel-rapl:0")).unwrap();
        let r = EnergyReading::take(tmp.path(), &[]);
        let e = r.until(&r, 1, 1);
        assert!(e.absent_reason.unwrap().contains("energy_uj"));
    }
}
