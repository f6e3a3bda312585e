//! Which runs belong together: series of comparable runs over time (history and "latest
//! runs"), and sweeps (the same setup at several concurrencies or rates).

use std::collections::BTreeMap;

use super::flat::FlatRun;

/// Indices of the newest run of each series, newest series first. `runs` is oldest
/// first, as [`super::load::load`] returns it.
pub fn latest(runs: &[FlatRun]) -> Vec<usize> {
    let mut newest: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        newest.insert(r.series_key(), i);
    }
    let mut idx: Vec<usize> = newest.into_values().collect();
    idx.sort_unstable_by(|a, b| b.cmp(a));
    idx
}

/// Each series with more than one run: its label and the runs' indices, oldest first.
pub fn series(runs: &[FlatRun]) -> Vec<(String, Vec<usize>)> {
    let mut by: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        by.entry(r.series_key()).or_default().push(i);
    }
    by.into_values()
        .filter(|v| v.len() > 1)
        .map(|v| (runs[v[0]].label(), v))
        .collect()
}

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepAxis {
    Concurrency,
    RequestRate,
}

impl SweepAxis {
    /// The axis title.
    pub fn title(self) -> &'static str {
        match self {
            SweepAxis::Concurrency => "concurrency",
            SweepAxis::RequestRate => "request rate (req/s)",
        }
    }

    /// A run's position on this axis.
    pub fn value(self, r: &FlatRun) -> Option<f64> {
        match self {
            SweepAxis::Concurrency => r.concurrency.map(|c| c as f64),
            SweepAxis::RequestRate => r.request_rate_req_s,
        }
    }
}

/// A set of runs with one setup (engine, model, workload, device, threads) that differ
/// in concurrency or rate: the newest run at each point, sorted along the axis.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepGroup {
    pub label: String,
    pub axis: SweepAxis,
    pub points: Vec<(f64, usize)>,
}

/// Finds sweeps among `runs`: for each setup, the axis with at least two distinct values.
pub fn sweeps(runs: &[FlatRun]) -> Vec<SweepGroup> {
    let mut by: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        by.entry(r.setup_key()).or_default().push(i);
    }
    let mut out = Vec::new();
    for idx in by.into_values() {
        for axis in [SweepAxis::RequestRate, SweepAxis::Concurrency] {
            // The newest run at each point along the axis (later indices are newer).
            let mut at: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
            for &i in &idx {
                if let Some(x) = axis.value(&runs[i]).filter(|x| x.is_finite()) {
                    at.insert(x.to_bits(), (x, i));
                }
            }
            if at.len() >= 2 {
                let mut points: Vec<(f64, usize)> = at.into_values().collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                let r = &runs[points[0].1];
                out.push(SweepGroup {
                    label: format!("{} · {} · {}", r.engine, r.model, r.workload),
                    axis,
                    points,
                });
                break;
            }
        }
    }
    out
}
