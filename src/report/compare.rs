//! `report --compare BASE NEW`: metric-by-metric verdicts between two runs, or two sets
//! of runs matched by setup. A metric regresses when it got worse by more than the
//! threshold AND by more than the noise: `NOISE_SIGMAS` standard errors of the
//! difference, judged from the runs' own spread. The standard error of each side comes
//! from, in order: the spread across several runs of the set, the spread across the
//! run's repetitions, or a bootstrap over its per-request samples.
//!
//! Each judged metric also gets a 95% interval for new / base (for a fraction, for the
//! difference), from the same standard errors: "unchanged" means that interval lies
//! inside the threshold's band, and a change that is neither settled inside nor beyond
//! it is "inconclusive", with how many more runs, repetitions or requests would settle it
//! ([`crate::metrics::interval`]).
//!
//! Every column of the metric catalogue is compared: the [`JUDGED`] ones get a verdict,
//! the rest are listed below them with their change alone.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::flat::{self, FlatRun};
use super::load::{LoadedRun, ReportError};
use super::noise::{bootstrap_se, Samples};
use crate::metrics::catalogue::{self, Column, Read, Unit};
use crate::metrics::interval::{self, BandVerdict, Interval};
use crate::metrics::stats::mean_std;

pub use crate::metrics::catalogue::Better;

/// The default threshold: a 5% change.
pub const DEFAULT_THRESHOLD: f64 = 0.05;
/// How many standard errors of the difference count as beyond noise.
pub const NOISE_SIGMAS: f64 = 3.0;

/// A metric's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Worse beyond the threshold and beyond noise.
    Regression,
    /// Better beyond the threshold and beyond noise.
    Improvement,
    /// Neither settled inside the threshold's band nor beyond noise: about `more` more
    /// `unit`s (runs, repetitions, requests) would settle it, where that can be told.
    Inconclusive {
        more: Option<usize>,
        unit: &'static str,
    },
    /// Within the threshold, and so is the 95% interval of the change.
    Unchanged,
    /// Not measured on one side.
    Missing,
    /// Listed, not judged (not among [`JUDGED`]).
    NotJudged,
}

impl Verdict {
    fn text(self) -> String {
        match self {
            Verdict::Regression => "**REGRESSION**".into(),
            Verdict::Improvement => "improvement".into(),
            Verdict::Inconclusive { more, unit } => BandVerdict::Inconclusive { more }.text(unit),
            Verdict::Unchanged => "unchanged".into(),
            Verdict::Missing => "n/a".into(),
            Verdict::NotJudged => "not judged".into(),
        }
    }
}

/// The catalogue columns that get a verdict, in the order shown: a regression in any of
/// them fails the comparison.
pub const JUDGED: &[&str] = &[
    "output_throughput_tok_s",
    "request_throughput_req_s",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "tpot_p50_ms",
    "itl_p50_ms",
    "itl_p99_ms",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "prefill_p50_ms",
    "error_rate",
];

/// The judged columns, then every other column of the catalogue.
fn columns() -> (Vec<&'static Column>, Vec<&'static Column>) {
    let judged = JUDGED
        .iter()
        .filter_map(|&n| catalogue::column(n))
        .collect();
    let others = catalogue::columns()
        .iter()
        .filter(|c| !JUDGED.contains(&c.name()))
        .collect();
    (judged, others)
}

/// One metric of one compared pair.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub metric: &'static str,
    pub better: Better,
    pub unit: Unit,
    pub base: Option<f64>,
    pub new: Option<f64>,
    /// Relative change (new - base) / base; absolute for a fraction (`error_rate`).
    pub change: Option<f64>,
    /// The difference that counts as beyond noise, in the metric's unit.
    pub noise: Option<f64>,
    /// The 95% interval of new / base (of new - base for a fraction).
    pub interval: Option<Interval>,
    pub verdict: Verdict,
}

/// The comparison of one setup (one run, or several runs of it) on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub label: String,
    pub base_runs: usize,
    pub new_runs: usize,
    /// The [`JUDGED`] columns.
    pub rows: Vec<MetricRow>,
    /// Every other column of the catalogue, not judged.
    pub others: Vec<MetricRow>,
}

/// Every compared pair, and what could not be matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub threshold: f64,
    pub pairs: Vec<Pair>,
    pub unmatched: Vec<String>,
}

impl Comparison {
    /// The metrics that regressed, as (pair label, metric).
    pub fn regressions(&self) -> Vec<(&str, &'static str)> {
        self.pairs
            .iter()
            .flat_map(|p| {
                p.rows
                    .iter()
                    .filter(|r| r.verdict == Verdict::Regression)
                    .map(move |r| (p.label.as_str(), r.metric))
            })
            .collect()
    }
}

/// Parses a threshold as a fraction: `5%` and `5` are both 5% (a bare number is always
/// percent, so `0.05` means 0.05%).
pub fn parse_threshold(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim();
    crate::limits::PERCENT
        .parse("--threshold", num)
        .map(|v| v / 100.0)
        .map_err(|e| format!("{e} percent, such as 5%"))
}

/// The setup a run is matched on across the two sides.
fn match_key(f: &FlatRun) -> String {
    format!(
        "{}|{}|{}|{:?}|{:?}",
        f.engine, f.model, f.workload, f.concurrency, f.request_rate_req_s
    )
}

/// Compares `base` with `new`. One run on each side is compared whatever its setup;
/// otherwise runs are matched by engine, model, workload, concurrency and rate, and
/// several runs of one setup on a side are treated as repeated measurements.
pub fn compare(
    base: &[LoadedRun],
    new: &[LoadedRun],
    threshold: f64,
) -> Result<Comparison, ReportError> {
    let (b, n) = (group(base), group(new));
    let mut pairs = Vec::new();
    let mut unmatched = Vec::new();
    if b.len() == 1 && n.len() == 1 {
        let (bs, ns) = (first(&b), first(&n));
        pairs.push(compare_sets(bs, ns, threshold));
    } else {
        for (key, bs) in &b {
            match n.get(key) {
                Some(ns) => pairs.push(compare_sets(bs, ns, threshold)),
                None => unmatched.push(format!("only in BASE: {}", bs[0].1.label())),
            }
        }
        for (key, ns) in &n {
            if !b.contains_key(key) {
                unmatched.push(format!("only in NEW: {}", ns[0].1.label()));
            }
        }
    }
    if pairs.is_empty() {
        return Err(ReportError::NoMatch {
            detail: unmatched.join("; "),
        });
    }
    Ok(Comparison {
        threshold,
        pairs,
        unmatched,
    })
}

/// Runs by setup, each with its flat record.
type BySetup<'a> = BTreeMap<String, Vec<(&'a LoadedRun, FlatRun)>>;

fn group(runs: &[LoadedRun]) -> BySetup<'_> {
    let mut by = BySetup::new();
    for r in runs {
        let f = FlatRun::of(r);
        by.entry(match_key(&f)).or_default().push((r, f));
    }
    by
}

fn first<'a, 'b>(m: &'b BySetup<'a>) -> &'b [(&'a LoadedRun, FlatRun)] {
    m.values().next().map(Vec::as_slice).unwrap_or(&[])
}

fn compare_sets(b: &[(&LoadedRun, FlatRun)], n: &[(&LoadedRun, FlatRun)], threshold: f64) -> Pair {
    let (bl, nl) = (&b[0].1, &n[0].1);
    let label = if bl.label() == nl.label() {
        format!("{} · {}", bl.label(), bl.workload)
    } else {
        format!("{} → {}", bl.label(), nl.label())
    };
    let (judged, others) = columns();
    let rows = judged
        .into_iter()
        .map(|c| verdict(c, estimate(c, b), estimate(c, n), threshold))
        .collect();
    let others = others
        .into_iter()
        .map(|c| {
            let mean = |runs| {
                let v = values(c, runs);
                (!v.is_empty()).then(|| mean_std(&v).0)
            };
            let (base, new) = (mean(b), mean(n));
            MetricRow {
                change: base.zip(new).map(|(b, n)| change(c.metric.unit, b, n)),
                verdict: Verdict::NotJudged,
                ..blank(c, base, new)
            }
        })
        .collect();
    Pair {
        label,
        base_runs: b.len(),
        new_runs: n.len(),
        rows,
        others,
    }
}

/// A side's figures in a column, one per run that has it.
fn values(c: &Column, runs: &[(&LoadedRun, FlatRun)]) -> Vec<f64> {
    runs.iter()
        .filter_map(|(_, f)| c.value(&f.metrics))
        .collect()
}

/// A side's value of a metric, its standard error when one can be judged, and what the
/// error was judged over: how many of which unit (runs, repetitions or requests).
#[derive(Debug, Clone, Copy, Default)]
struct Estimate {
    value: Option<f64>,
    se: Option<f64>,
    n: usize,
    unit: &'static str,
}

fn estimate(c: &Column, runs: &[(&LoadedRun, FlatRun)]) -> Estimate {
    let values = values(c, runs);
    if values.is_empty() {
        return Estimate::default();
    }
    let (mean, std) = mean_std(&values);
    let of = |se: f64, n: usize, unit| Estimate {
        value: Some(mean),
        se: Some(se),
        n,
        unit,
    };
    if values.len() > 1 {
        return of(std / (values.len() as f64).sqrt(), values.len(), "runs");
    }
    let (run, _) = runs[0];
    if let Some(s) = c.reps(&run.file.metrics).filter(|s| s.values.len() > 1) {
        let n = s.values.len();
        return of(s.std / (n as f64).sqrt(), n, "repetitions");
    }
    Estimate {
        value: Some(mean),
        se: bootstrap_se(Samples::of(c), &run.records, mean),
        n: run.records.iter().filter(|r| r.ok).count(),
        unit: "requests",
    }
}

/// A row with nothing judged yet.
fn blank(c: &'static Column, base: Option<f64>, new: Option<f64>) -> MetricRow {
    MetricRow {
        metric: c.name(),
        better: c.metric.better,
        unit: c.metric.unit,
        base,
        new,
        change: None,
        noise: None,
        interval: None,
        verdict: Verdict::Missing,
    }
}

/// The change from `b` to `n`: relative, or absolute for a fraction.
fn change(unit: Unit, b: f64, n: f64) -> f64 {
    if unit == Unit::Fraction {
        n - b
    } else if b != 0.0 {
        (n - b) / b.abs()
    } else if n == 0.0 {
        0.0
    } else {
        f64::INFINITY.copysign(n)
    }
}

fn verdict(c: &'static Column, b: Estimate, n: Estimate, threshold: f64) -> MetricRow {
    let (base, new) = (b.value, n.value);
    let noise = match (b.se, n.se) {
        (None, None) => None,
        (x, y) => Some(NOISE_SIGMAS * (x.unwrap_or(0.0).powi(2) + y.unwrap_or(0.0).powi(2)).sqrt()),
    };
    let mut row = MetricRow {
        noise,
        ..blank(c, base, new)
    };
    let (Some(bv), Some(nv)) = (base, new) else {
        return row;
    };
    let change = change(row.unit, bv, nv);
    row.change = Some(change);
    // The band the change must stay in, as a ratio (or a difference for a fraction).
    let (bse, nse) = (b.se.unwrap_or(0.0), n.se.unwrap_or(0.0));
    let (iv, band) = if row.unit == Unit::Fraction {
        let iv = interval::difference_from_se(bv, bse, nv, nse);
        (Some(iv), (-threshold, threshold))
    } else {
        let iv = interval::ratio_from_se(bv, bse, nv, nse);
        (iv, (1.0 - threshold, 1.0 + threshold))
    };
    row.interval = iv.filter(|_| noise.is_some());
    let worse = match row.better {
        Better::Lower => nv > bv,
        Better::Higher => nv < bv,
        // Never judged (a test keeps such columns out of JUDGED).
        Better::Neither => false,
    };
    let beyond_noise = noise.is_none_or(|z| (nv - bv).abs() > z);
    let n_min = b.n.min(n.n);
    let unit = if b.unit.is_empty() { n.unit } else { b.unit };
    row.verdict = if change.abs() > threshold {
        match noise {
            _ if beyond_noise && worse => Verdict::Regression,
            _ if beyond_noise => Verdict::Improvement,
            // Beyond the threshold, not beyond noise: noise shrinks as one over the square
            // root of the samples, so this many more would put the change beyond it.
            z => Verdict::Inconclusive {
                more: z.and_then(|z| more_samples(z / (nv - bv).abs(), n_min)),
                unit,
            },
        }
    } else {
        match row.interval.map(|iv| interval::judge(&iv, band, n_min)) {
            None | Some(BandVerdict::Within) => Verdict::Unchanged,
            Some(BandVerdict::Inconclusive { more }) => Verdict::Inconclusive { more, unit },
            // The change is inside the band, so its interval cannot lie wholly outside.
            Some(BandVerdict::Outside) => Verdict::Inconclusive { more: None, unit },
        }
    };
    row
}

/// More samples (beyond `n`) that would shrink an error by `factor`, if that is a number
/// worth printing.
fn more_samples(factor: f64, n: usize) -> Option<usize> {
    let needed = n.max(1) as f64 * factor * factor;
    (factor.is_finite() && needed < 1e5).then(|| ((needed - n as f64).ceil() as usize).max(1))
}

/// A row's 95% interval: of the ratio new / base, or in points for a fraction.
fn interval_text(r: &MetricRow) -> String {
    r.interval.map_or("–".to_owned(), |iv| {
        if r.unit == Unit::Fraction {
            format!("{:+.1}..{:+.1} pt", iv.lo * 100.0, iv.hi * 100.0)
        } else {
            format!("{:.3}..{:.3}", iv.lo, iv.hi)
        }
    })
}

/// The comparison as Markdown, ready for a pull request.
pub fn render(c: &Comparison) -> String {
    let mut s = String::new();
    let pct = |v: f64| format!("{:.0}%", v * 100.0);
    for p in &c.pairs {
        let _ = writeln!(
            s,
            "### compare: {} ({} base run{}, {} new run{})\n",
            super::markdown::cell(&p.label),
            p.base_runs,
            if p.base_runs == 1 { "" } else { "s" },
            p.new_runs,
            if p.new_runs == 1 { "" } else { "s" }
        );
        s.push_str(
            "| metric | better | base | new | change | new/base 95% | noise (±) | verdict |\n",
        );
        s.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
        for r in &p.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.metric,
                r.better.text(),
                num(r.base),
                num(r.new),
                change_text(r),
                interval_text(r),
                num(r.noise),
                r.verdict.text()
            );
        }
        if !p.others.is_empty() {
            s.push_str("\n<details><summary>Other metrics (not judged)</summary>\n\n");
            s.push_str("| metric | better | base | new | change |\n");
            s.push_str("| --- | --- | ---: | ---: | ---: |\n");
            for r in &p.others {
                // A count stays whole unless a set's mean is not.
                let count = catalogue::column(r.metric)
                    .is_some_and(|c| matches!(c.metric.read, Read::Count(_)));
                let f = |v: Option<f64>| match v {
                    Some(v) if count && v.fract() == 0.0 => format!("{v:.0}"),
                    v => num(v),
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    r.metric,
                    r.better.text(),
                    f(r.base),
                    f(r.new),
                    change_text(r)
                );
            }
            s.push_str("\n</details>\n");
        }
        s.push('\n');
    }
    for u in &c.unmatched {
        let _ = writeln!(s, "- {}", super::markdown::cell(u));
    }
    let regressions = c.regressions();
    let _ = writeln!(
        s,
        "threshold {} and {} standard errors of noise: {}",
        pct(c.threshold),
        NOISE_SIGMAS,
        if regressions.is_empty() {
            "no regression".to_owned()
        } else {
            let mut by_pair: Vec<(&str, Vec<&str>)> = Vec::new();
            for (label, metric) in &regressions {
                match by_pair.last_mut() {
                    Some((l, ms)) if l == label => ms.push(metric),
                    _ => by_pair.push((label, vec![metric])),
                }
            }
            let list: Vec<String> = by_pair
                .iter()
                .map(|(l, ms)| format!("{} ({})", super::markdown::cell(l), ms.join(", ")))
                .collect();
            format!(
                "REGRESSION in {} metric(s): {}",
                regressions.len(),
                list.join("; ")
            )
        }
    );
    s
}

fn num(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), flat::human)
}

/// A change in percent, or in points for a fraction.
fn change_text(r: &MetricRow) -> String {
    r.change.map_or("–".to_owned(), |c| {
        if r.unit == Unit::Fraction {
            format!("{:+.1} pt", c * 100.0)
        } else {
            format!("{:+.1}%", c * 100.0)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{RequestRecord, RunMetrics};
    use crate::report::run_dir::MetricsFile;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A run of `n` requests with 32 tokens each, every gap `gap_ms` times a seeded
    /// jitter of relative size `jitter`.
    fn run(n: usize, gap_ms: f64, jitter: f64, seed: u64) -> LoadedRun {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut start = 0.0;
        let records: Vec<RequestRecord> = (0..n)
            .map(|i| {
                let mut j = || 1.0 + jitter * (rng.random::<f64>() * 2.0 - 1.0);
                let mut t = 5.0 * j();
                let token_ms: Vec<f64> = (0..32)
                    .map(|k| {
                        if k > 0 {
                            t += gap_ms * j();
                        }
                        t
                    })
                    .collect();
                let e2e = t + 0.1;
                let r = RequestRecord {
                    request_id: i as u64,
                    ok: true,
                    prompt_tokens: Some(16),
                    output_tokens: 32,
                    start_ms: start,
                    ttft_ms: Some(token_ms[0]),
                    tpot_ms: Some((token_ms[31] - token_ms[0]) / 31.0),
                    decode_ms: Some(token_ms[31] - token_ms[0]),
                    e2e_ms: e2e,
                    token_ms,
                    ..RequestRecord::default()
                };
                start += e2e;
                r
            })
            .collect();
        let mut l = LoadedRun::placeholder();
        l.file = MetricsFile {
            engine: "sim".into(),
            metrics: RunMetrics::compute(&records, true, None),
            ..l.file
        };
        l.records = records;
        l
    }

    fn verdict_of(c: &Comparison, metric: &str) -> Verdict {
        c.pairs[0]
            .rows
            .iter()
            .find(|r| r.metric == metric)
            .map(|r| r.verdict)
            .unwrap()
    }

    #[test]
    fn the_same_distribution_twice_is_not_a_regression() {
        for seed in 0..5 {
            let c = compare(
                &[run(40, 2.0, 0.2, seed)],
                &[run(40, 2.0, 0.2, seed + 100)],
                0.05,
            )
            .unwrap();
            assert!(c.regressions().is_empty(), "{}", render(&c));
        }
    }

    #[test]
    fn a_clear_slowdown_regresses_and_a_noisy_small_one_does_not() {
        let c = compare(&[run(40, 2.0, 0.05, 1)], &[run(40, 2.4, 0.05, 2)], 0.05).unwrap();
        for m in [
            "tpot_p50_ms",
            "itl_p50_ms",
            "e2e_p50_ms",
            "output_throughput_tok_s",
        ] {
            assert_eq!(
                verdict_of(&c, m),
                Verdict::Regression,
                "{m}\n{}",
                render(&c)
            );
        }
        assert_eq!(verdict_of(&c, "error_rate"), Verdict::Unchanged);
        // 8% slower, but with 90% jitter on 6 requests: changes beyond 5% are not
        // beyond noise.
        let c = compare(&[run(6, 2.0, 0.9, 3)], &[run(6, 2.16, 0.9, 4)], 0.05).unwrap();
        assert!(c.regressions().is_empty(), "{}", render(&c));
        assert!(
            c.pairs[0]
                .rows
                .iter()
                .any(|r| matches!(r.verdict, Verdict::Inconclusive { .. })),
            "{}",
            render(&c)
        );
        // Faster is an improvement, and a large threshold silences everything.
        let c = compare(&[run(40, 2.4, 0.05, 1)], &[run(40, 2.0, 0.05, 2)], 0.05).unwrap();
        assert_eq!(verdict_of(&c, "tpot_p50_ms"), Verdict::Improvement);
        let c = compare(&[run(40, 2.0, 0.05, 1)], &[run(40, 2.4, 0.05, 2)], 0.5).unwrap();
        assert!(c.regressions().is_empty());
    }

    #[test]
    fn unchanged_needs_the_interval_inside_the_band() {
        let c = compare(&[run(40, 2.0, 0.01, 1)], &[run(40, 2.0, 0.01, 2)], 0.05).unwrap();
        let tpot = c.pairs[0]
            .rows
            .iter()
            .find(|r| r.metric == "tpot_p50_ms")
            .unwrap();
        assert_eq!(tpot.verdict, Verdict::Unchanged, "{}", render(&c));
        let iv = tpot.interval.unwrap();
        assert!(iv.lo >= 0.95 && iv.hi <= 1.05, "{iv:?}");
        // The same medians under 90% jitter on 6 requests: the change is small, but the
        // interval is too wide to call it unchanged; more requests would tell.
        let c = compare(&[run(6, 2.0, 0.9, 3)], &[run(6, 2.0, 0.9, 4)], 0.05).unwrap();
        let text = render(&c);
        assert!(
            c.pairs[0].rows.iter().any(|r| matches!(
                r.verdict,
                Verdict::Inconclusive { more: Some(m), unit: "requests" } if m > 0
            )),
            "{text}"
        );
        assert!(text.contains("more requests needed"), "{text}");
        assert!(text.contains("| new/base 95% |"), "{text}");
    }

    #[test]
    fn thresholds() {
        assert_eq!(parse_threshold("5%"), Ok(0.05));
        assert_eq!(parse_threshold(" 10 "), Ok(0.10));
        assert!(parse_threshold("-1%").is_err());
        assert!(parse_threshold("five").is_err());
        assert!(parse_threshold("NaN").is_err());
    }
}
