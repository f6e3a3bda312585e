//! The HTML report's resource charts: each run's `resources.jsonl` over time (memory,
//! CPU, GPUs) with its requests' starts marked, and the roofline (achieved FLOP/s
//! against arithmetic intensity, under the probed bandwidth and compute ceilings).

use std::path::Path;

use super::load::LoadedRun;
use super::plots::Plotted;
use super::svg::{self, LineChart, Series};
use crate::metrics::resources::{ResourceSample, RESOURCES_FILE};

/// The samples of a run directory's `resources.jsonl`; lines that do not parse (a
/// run cut off mid-line) are left out.
pub fn load_series(dir: &Path) -> Vec<ResourceSample> {
    std::fs::read_to_string(dir.join(RESOURCES_FILE))
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// One figure of the series to chart: its title, unit and how to read it per sample
/// (one value per line: the process, or each GPU).
type Figure = (
    &'static str,
    &'static str,
    fn(&ResourceSample) -> Vec<(String, f64)>,
);

const FIGURES: [Figure; 5] = [
    ("resident memory", "MiB", |s| {
        s.rss_mib
            .map(|v| ("RSS".to_owned(), v))
            .into_iter()
            .collect()
    }),
    ("CPU", "% of one core", |s| {
        s.cpu_percent
            .map(|v| ("CPU".to_owned(), v))
            .into_iter()
            .collect()
    }),
    ("system memory in use", "MiB", |s| {
        s.sys_mem_used_mib
            .map(|v| ("system".to_owned(), v))
            .into_iter()
            .collect()
    }),
    ("GPU utilisation", "%", |s| {
        s.gpus
            .iter()
            .filter_map(|g| Some((format!("GPU {}", g.index), g.util_percent?)))
            .collect()
    }),
    ("GPU power", "W", |s| {
        s.gpus
            .iter()
            .filter_map(|g| Some((format!("GPU {}", g.index), g.power_w?)))
            .collect()
    }),
];

/// Each run's resource charts, with request starts marked; empty where no run has a
/// series.
pub fn time_series(runs: &[Plotted]) -> String {
    let mut out = String::new();
    for p in runs {
        let samples = load_series(&p.run.dir);
        if samples.is_empty() {
            continue;
        }
        let marks = request_starts(p.run);
        for (what, unit, read) in FIGURES {
            let mut series: Vec<Series> = Vec::new();
            for s in &samples {
                for (label, v) in read(s) {
                    let point = (s.t_ms / 1e3, v);
                    match series.iter_mut().find(|x| x.label == label) {
                        Some(x) => x.points.push(point),
                        None => series.push(Series {
                            label,
                            points: vec![point],
                            link: Some(p.link.clone()),
                        }),
                    }
                }
            }
            if series.is_empty() {
                continue;
            }
            out.push_str(&svg::line_chart(
                &LineChart {
                    title: format!("{what}: {}", p.label),
                    x_label: "time since the run started (s); dashed: request starts".into(),
                    y_label: unit.into(),
                    x_marks: marks.clone(),
                    ..LineChart::default()
                },
                &series,
            ));
        }
    }
    out
}

/// Request starts in seconds on the run's clock, at most 200 (more would be a wall).
fn request_starts(run: &LoadedRun) -> Vec<f64> {
    let mut starts: Vec<f64> = run.records.iter().map(|r| r.start_ms / 1e3).collect();
    starts.sort_by(f64::total_cmp);
    let every = starts.len().div_ceil(200).max(1);
    starts.into_iter().step_by(every).collect()
}

/// The roofline of the runs that have one, on log-log axes: achieved GFLOP/s against
/// FLOPs per byte, with each probe's ceiling (bandwidth x intensity, capped at the
/// peak). `None` when no run was placed against a probe.
pub fn roofline(runs: &[Plotted]) -> Option<String> {
    let mut series = Vec::new();
    for p in runs {
        let Some(r) = p.run.file.metrics.roofline else {
            continue;
        };
        let (Some(limits), Some(flops)) = (r.limits, r.decode_flops_per_token) else {
            continue;
        };
        if r.decode_bytes_per_token <= 0.0 || flops <= 0.0 {
            continue;
        }
        let intensity = flops / r.decode_bytes_per_token;
        let ceiling: Vec<(f64, f64)> = (-8..=16)
            .map(|i| 10f64.powf(f64::from(i) / 4.0))
            .map(|ai| {
                let gflops = (limits.read_gb_s * ai).min(limits.peak_gflop_s);
                (ai, gflops)
            })
            .collect();
        series.push(Series {
            // A GPU run is placed against its device's probe, not a thread count's.
            label: match p.flat.device.as_deref().filter(|d| d.starts_with("cuda")) {
                Some(device) => format!("ceiling ({device})"),
                None => format!("ceiling ({} threads)", limits.threads),
            },
            points: ceiling,
            link: None,
        });
        let mut achieved = Vec::new();
        if let Some(rate) = p.run.file.metrics.decode_tok_s.as_ref().map(|s| s.mean) {
            achieved.push((intensity, rate * flops / 1e9));
        }
        if let (Some(pf), Some(rate)) = (
            r.prefill_flops_per_token,
            p.run.file.metrics.prefill_tok_s.as_ref().map(|s| s.mean),
        ) {
            // Prefill reads the weights once for the whole prompt.
            let prompt = p.run.file.metrics.total_input_tokens as f64
                / p.run.file.metrics.completed.max(1) as f64;
            let ai = pf * prompt / r.decode_bytes_per_token;
            achieved.push((ai, rate * pf / 1e9));
        }
        series.push(Series {
            label: format!("{} (decode, prefill)", p.label),
            points: achieved,
            link: Some(p.link.clone()),
        });
    }
    (!series.is_empty()).then(|| {
        svg::line_chart(
            &LineChart {
                title: "roofline: achieved against the probed limits".into(),
                x_label: "arithmetic intensity (FLOP/byte, log)".into(),
                y_label: "GFLOP/s (log)".into(),
                markers: true,
                log_xy: true,
                ..LineChart::default()
            },
            &series,
        )
    })
}
