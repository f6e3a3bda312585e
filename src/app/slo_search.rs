//! `run --slo-search`: the highest request rate (or concurrency) at which at least a
//! target share of requests meets every latency objective. Bracketing from the low end
//! of the range (doubling until a point fails or the top is reached), then bisection
//! between the highest point that passed and the lowest that failed, to 5% for a rate
//! and to 1 for a concurrency. Each probe point runs `--search-runs` times into a run
//! directory of its own; a point passes when the median share over its runs meets the
//! target. `slo_search.json` beside the runs holds the answer and every probe.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use super::run::{run_one, series_of_runs, RunConfig, RunResult, Watched};
use super::{print_json, OutputFormat};

use crate::engine::EngineKind;
use crate::error::{Error, Result};
use crate::metrics::goodput::Slo;
use crate::report::run_dir;
use crate::report::MetricsFile;
use crate::runner::sweep::Sweep;

/// The file the search writes beside its probe runs.
pub const SLO_SEARCH_FILE: &str = "slo_search.json";
/// Bisection of a rate stops when the bracket is within this share of its low end.
const RATE_TOLERANCE: f64 = 0.05;
/// No search probes more points than this.
const MAX_PROBES: usize = 24;

/// What the search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchAxis {
    /// Requests per second (the arrival process of --request-rate, Poisson by default).
    Rate,
    /// Requests in flight at once.
    Concurrency,
}

/// A validated `--slo-search`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloSearch {
    pub slo: Slo,
    /// The share of requests that must meet every objective, in (0, 1].
    pub target: f64,
    pub axis: SearchAxis,
    pub lo: f64,
    pub hi: f64,
    /// Runs per probe point.
    pub runs: usize,
}

/// One run of a probe point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRun {
    pub run_dir: String,
    /// Requests meeting every objective / measured requests.
    pub good_fraction: f64,
    pub completed: usize,
    pub failed: usize,
    pub request_throughput_req_s: f64,
    pub ttft_p99_ms: Option<f64>,
    pub tpot_p99_ms: Option<f64>,
    /// The saturation test's verdict, where it had enough requests.
    pub saturated: Option<bool>,
}

/// One probe point: its runs, the spread of their shares, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub value: f64,
    pub good_fraction_median: f64,
    pub good_fraction_min: f64,
    pub good_fraction_max: f64,
    pub passed: bool,
    pub runs: Vec<ProbeRun>,
}

/// `slo_search.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchReport {
    pub slo: Slo,
    pub target: f64,
    pub axis: SearchAxis,
    pub range: [f64; 2],
    pub runs_per_probe: usize,
    /// The highest value that passed; absent when even the lowest failed.
    pub answer: Option<f64>,
    /// The lowest value that failed, where one did: the limit lies between the two.
    pub lowest_failing: Option<f64>,
    pub verdict: String,
    /// Every probe in the order it ran.
    pub probes: Vec<Probe>,
    pub interrupted: bool,
}

impl SearchReport {
    /// The report as a few lines of text.
    pub fn render(&self) -> String {
        let unit = match self.axis {
            SearchAxis::Rate => "req/s",
            SearchAxis::Concurrency => "in flight",
        };
        let mut s = format!(
            "SLO search over {} {:?}..{:?} ({} run(s) per point, target {:.1}% of requests)\n{:>12}  {:>9}  {:>15}  verdict\n",
            match self.axis {
                SearchAxis::Rate => "rate",
                SearchAxis::Concurrency => "concurrency",
            },
            self.range[0],
            self.range[1],
            self.runs_per_probe,
            self.target * 100.0,
            unit,
            "met",
            "spread"
        );
        for p in &self.probes {
            s.push_str(&format!(
                "{:>12}  {:>8.1}%  {:>6.1}%..{:>5.1}%  {}\n",
                fmt_value(p.value),
                p.good_fraction_median * 100.0,
                p.good_fraction_min * 100.0,
                p.good_fraction_max * 100.0,
                if p.passed { "pass" } else { "FAIL" }
            ));
        }
        s.push_str(&self.verdict);
        s.push('\n');
        s
    }
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// Runs the search with the one engine of `config`, into `<out>/probe-NN-<point>[-rR]`.
pub(super) fn run(
    config: &RunConfig,
    search: &SloSearch,
    watched: &Watched,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<RunResult> {
    let (kind, base) = series_of_runs(config, "--slo-search", "slo-search")?;
    let mut searcher = Searcher {
        config,
        search,
        kind,
        base: &base,
        watched,
        stop,
        runs: Vec::new(),
        probes: Vec::new(),
        interrupted: false,
    };
    let (answer, lowest_failing) = searcher.search()?;
    let verdict = verdict(search, answer, lowest_failing, searcher.interrupted);
    let report = SearchReport {
        slo: search.slo,
        target: search.target,
        axis: search.axis,
        range: [search.lo, search.hi],
        runs_per_probe: search.runs,
        answer,
        lowest_failing,
        verdict: verdict.clone(),
        probes: searcher.probes,
        interrupted: searcher.interrupted,
    };
    std::fs::create_dir_all(&base).map_err(|e| Error::io(&base, e))?;
    run_dir::write_json_atomic(&base.join(SLO_SEARCH_FILE), &report)?;
    match config.format {
        OutputFormat::Table => {
            let _ = writeln!(
                out,
                "{}slo search: {}",
                report.render(),
                base.join(SLO_SEARCH_FILE).display()
            );
        }
        OutputFormat::Json => print_json(out, &report),
    }
    Ok(RunResult {
        runs: searcher.runs,
        interrupted: report.interrupted,
        failure: (answer.is_none() && !report.interrupted).then_some(verdict),
    })
}

fn verdict(s: &SloSearch, answer: Option<f64>, failing: Option<f64>, interrupted: bool) -> String {
    let what = match s.axis {
        SearchAxis::Rate => "request rate",
        SearchAxis::Concurrency => "concurrency",
    };
    let share = format!("{:.1}%", s.target * 100.0);
    match (answer, failing) {
        _ if interrupted => "the search was interrupted; the probes so far are kept".into(),
        (None, _) => format!(
            "even the lowest {what} ({}) fails: fewer than {share} of requests meet every objective; lower --search-range",
            fmt_value(s.lo)
        ),
        (Some(a), None) => format!(
            "the highest {what} searched ({}) meets the objectives for {share} of requests: the limit is at or above it; raise --search-range",
            fmt_value(a)
        ),
        (Some(a), Some(f)) => format!(
            "highest {what} meeting the objectives for {share} of requests: {} (the next probe above, {}, failed)",
            fmt_value(a),
            fmt_value(f)
        ),
    }
}

struct Searcher<'a> {
    config: &'a RunConfig,
    search: &'a SloSearch,
    kind: EngineKind,
    base: &'a Path,
    watched: &'a Watched,
    stop: &'a AtomicBool,
    runs: Vec<(PathBuf, MetricsFile)>,
    probes: Vec<Probe>,
    interrupted: bool,
}

impl Searcher<'_> {
    /// The highest passing value and the lowest failing one.
    fn search(&mut self) -> Result<(Option<f64>, Option<f64>)> {
        let (lo, hi) = (self.search.lo, self.search.hi);
        if !self.probe(lo)? {
            return Ok((None, Some(lo)));
        }
        // Bracket: double from the bottom until a point fails or the top passes.
        let mut good = lo;
        let bad = loop {
            let next = self.round((good * 2.0).min(hi));
            if next <= good || self.interrupted {
                return Ok((Some(good), None));
            }
            if self.probe(next)? {
                good = next;
            } else {
                break next;
            }
        };
        // Bisect between the two.
        let mut bad = bad;
        while !self.close_enough(good, bad) && self.probes.len() < MAX_PROBES && !self.interrupted {
            let mid = self.round((good + bad) / 2.0);
            if mid <= good || mid >= bad {
                break;
            }
            if self.probe(mid)? {
                good = mid;
            } else {
                bad = mid;
            }
        }
        Ok((Some(good), Some(bad)))
    }

    fn round(&self, v: f64) -> f64 {
        match self.search.axis {
            SearchAxis::Rate => v,
            SearchAxis::Concurrency => v.floor(),
        }
    }

    fn close_enough(&self, good: f64, bad: f64) -> bool {
        match self.search.axis {
            SearchAxis::Rate => bad - good <= RATE_TOLERANCE * good,
            SearchAxis::Concurrency => bad - good <= 1.0,
        }
    }

    /// Runs one point `runs` times; whether its median share meets the target.
    fn probe(&mut self, value: f64) -> Result<bool> {
        let n = self.probes.len();
        let sweep = match self.search.axis {
            SearchAxis::Rate => Sweep::RequestRate(vec![Some(value)]),
            SearchAxis::Concurrency => Sweep::Concurrency(vec![value as usize]),
        };
        let Some((label, runner)) = sweep.points(&self.config.runner).into_iter().next() else {
            return Ok(false);
        };
        let mut runs = Vec::new();
        for rep in 0..self.search.runs {
            let name = if self.search.runs > 1 {
                format!("probe-{n:02}-{label}-r{}", rep + 1)
            } else {
                format!("probe-{n:02}-{label}")
            };
            // Every probe run its own prompts (see execute_sweep).
            let point = RunConfig {
                seed: self
                    .config
                    .seed
                    .wrapping_add((n * self.search.runs + rep) as u64),
                out: Some(self.base.join(name)),
                runner: runner.clone(),
                sweep: None,
                slo_search: None,
                goodput: Some(self.search.slo),
                ..self.config.clone()
            };
            let (dir, metrics) = run_one(&point, self.kind, false, self.watched, self.stop)?;
            let m = &metrics.metrics;
            runs.push(ProbeRun {
                run_dir: dir.display().to_string(),
                good_fraction: m.goodput.map_or(0.0, |g| g.good_fraction),
                completed: m.completed,
                failed: m.failed,
                request_throughput_req_s: m.request_throughput_req_s,
                ttft_p99_ms: m.ttft_ms.as_ref().map(|s| s.p99),
                tpot_p99_ms: m.tpot_ms.as_ref().map(|s| s.p99),
                saturated: m.saturation.map(|s| s.saturated),
            });
            let interrupted = metrics.interrupted;
            self.runs.push((dir, metrics));
            if interrupted {
                self.interrupted = true;
                break;
            }
        }
        let mut shares: Vec<f64> = runs.iter().map(|r| r.good_fraction).collect();
        shares.sort_by(f64::total_cmp);
        let median = if shares.is_empty() {
            0.0
        } else {
            crate::metrics::stats::exact_quantile(&shares, 0.5)
        };
        let passed = !self.interrupted && median >= self.search.target;
        self.probes.push(Probe {
            value,
            good_fraction_median: median,
            good_fraction_min: shares.first().copied().unwrap_or(0.0),
            good_fraction_max: shares.last().copied().unwrap_or(0.0),
            passed,
            runs,
        });
        Ok(passed)
    }
}
