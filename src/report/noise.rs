//! How uncertain one run's figure is, from its per-request samples: a seeded bootstrap
//! over requests (reproducible verdicts), with the samples' own spread standing in for
//! extreme quantiles the bootstrap cannot see past.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::metrics::catalogue::{Column, PerRequest, Stat};
use crate::metrics::stats::{exact_quantile, mean_std};
use crate::metrics::RequestRecord;

/// Bootstrap resamples per estimate (seeded: verdicts are reproducible).
const BOOTSTRAP: usize = 200;
/// Samples used by the bootstrap; more are subsampled and the error scaled back.
const BOOTSTRAP_MAX: usize = 20_000;

/// Where a metric's per-request samples come from, for the bootstrap.
#[derive(Clone, Copy)]
pub enum Samples {
    /// A percentile of a per-request value.
    Quantile(fn(&RequestRecord) -> Option<f64>, f64),
    /// A percentile of every gap between tokens, pooled.
    GapQuantile(f64),
    /// Throughput: `f(record)` summed over requests / their summed E2E.
    Rate(fn(&RequestRecord) -> f64),
    /// No per-request estimate.
    None,
}

impl Samples {
    /// Where a catalogue column's samples come from: its metric's per-request values,
    /// and for a percentile of a distribution, that percentile of them.
    pub fn of(c: &Column) -> Samples {
        match (
            c.metric.per_request,
            c.stat,
            c.stat.and_then(Stat::quantile),
        ) {
            (PerRequest::Rate(f), None, _) => Samples::Rate(f),
            (PerRequest::Value(f), _, Some(q)) => Samples::Quantile(f, q),
            (PerRequest::Gaps, _, Some(q)) => Samples::GapQuantile(q),
            _ => Samples::None,
        }
    }
}

/// The standard error of a metric from resampling one run's requests. Throughputs are
/// estimated as a ratio (tokens over summed E2E) and the ratio's relative error is
/// applied to the run's own figure.
pub fn bootstrap_se(samples: Samples, records: &[RequestRecord], value: f64) -> Option<f64> {
    let ok: Vec<&RequestRecord> = records.iter().filter(|r| r.ok).collect();
    let mut rng = StdRng::seed_from_u64(0x6e62);
    match samples {
        Samples::None => None,
        Samples::Rate(f) => {
            let pairs: Vec<(f64, f64)> = ok.iter().map(|r| (f(r), r.e2e_ms)).collect();
            let ratio = |v: &[(f64, f64)]| {
                let (a, t) = v.iter().fold((0.0, 0.0), |(a, t), p| (a + p.0, t + p.1));
                (t > 0.0).then(|| a / t)
            };
            let whole = ratio(&pairs)?;
            let se = resample_se(&pairs, &mut rng, |v| ratio(v))?;
            Some(se / whole * value.abs())
        }
        Samples::Quantile(f, q) => {
            let v: Vec<f64> = ok.iter().filter_map(|r| f(r)).collect();
            quantile_se(&v, q, &mut rng)
        }
        Samples::GapQuantile(q) => {
            let v: Vec<f64> = ok.iter().flat_map(|r| r.gaps_ms()).collect();
            quantile_se(&v, q, &mut rng)
        }
    }
}

/// The bootstrap cannot see past the largest sample: for a quantile with fewer than
/// this many samples beyond it (p99 of 15 requests), the samples' own spread is the
/// honest uncertainty.
const TAIL_SAMPLES: f64 = 5.0;

fn quantile_se(v: &[f64], q: f64, rng: &mut StdRng) -> Option<f64> {
    if v.len() > 1 && (v.len() as f64) * q.min(1.0 - q) < TAIL_SAMPLES {
        return Some(mean_std(v).1);
    }
    resample_se(v, rng, |s| {
        let mut s = s.to_vec();
        s.sort_unstable_by(f64::total_cmp);
        (!s.is_empty()).then(|| exact_quantile(&s, q))
    })
}

/// The standard deviation of `stat` over bootstrap resamples of `v` (subsampled to
/// `BOOTSTRAP_MAX`, with the error scaled back by the square root of the sizes).
fn resample_se<T: Copy>(
    v: &[T],
    rng: &mut StdRng,
    stat: impl Fn(&[T]) -> Option<f64>,
) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let m = v.len().min(BOOTSTRAP_MAX);
    let mut buf = Vec::with_capacity(m);
    let mut stats = Vec::with_capacity(BOOTSTRAP);
    for _ in 0..BOOTSTRAP {
        buf.clear();
        buf.extend((0..m).map(|_| v[rng.random_range(0..v.len())]));
        if let Some(s) = stat(&buf).filter(|s| s.is_finite()) {
            stats.push(s);
        }
    }
    let (_, std) = mean_std(&stats);
    Some(std * (m as f64 / v.len() as f64).sqrt())
}
