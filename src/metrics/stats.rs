//! Summary statistics for latency samples: count, mean, sample std, min, the fixed
//! percentile set and max. Percentiles are exact (linear interpolation between closest
//! ranks, numpy's default and vLLM's) while samples are few, and come from an
//! HdrHistogram at scale, where sorting every sample would cost more than it tells.

use serde::{Deserialize, Serialize};

/// Above this many samples, percentiles come from an HdrHistogram.
pub const EXACT_LIMIT: usize = 200_000;

/// The statistics reported for every latency metric.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for fewer than two samples.
    pub std: f64,
    pub min: f64,
    pub p1: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

const QUANTILES: [f64; 6] = [0.01, 0.10, 0.50, 0.90, 0.95, 0.99];

impl Summary {
    /// Summarises `samples`. Non-finite samples are ignored. `None` when nothing is left.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        let (mean, std) = mean_std(&v);
        let q = if n <= EXACT_LIMIT {
            v.sort_unstable_by(f64::total_cmp);
            QUANTILES.map(|p| exact_quantile(&v, p))
        } else {
            hdr_quantiles(&v)
        };
        let (min, max) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        Some(Summary {
            count: n,
            mean,
            std,
            min,
            p1: q[0],
            p10: q[1],
            p50: q[2],
            p90: q[3],
            p95: q[4],
            p99: q[5],
            max,
        })
    }

    /// Coefficient of variation (std / mean); 0 when the mean is 0.
    pub fn cv(&self) -> f64 {
        if self.mean == 0.0 {
            0.0
        } else {
            self.std / self.mean.abs()
        }
    }
}

/// Mean and sample standard deviation, by Welford's method (stable for long runs).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let (mut mean, mut m2) = (0.0, 0.0);
    for (i, &x) in v.iter().enumerate() {
        let d = x - mean;
        mean += d / (i + 1) as f64;
        m2 += d * (x - mean);
    }
    let std = if v.len() > 1 {
        (m2 / (v.len() - 1) as f64).sqrt()
    } else {
        0.0
    };
    (mean, std)
}

/// The `p` quantile of sorted samples, interpolating linearly between closest ranks.
pub fn exact_quantile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Quantiles from an HdrHistogram at three significant digits, with values recorded in
/// nanoseconds-of-a-millisecond units (1e-6 of the sample's unit) so sub-microsecond
/// latencies keep their digits.
fn hdr_quantiles(v: &[f64]) -> [f64; 6] {
    const SCALE: f64 = 1e6;
    let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("3 significant digits is valid");
    let shift = v.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
    for &x in v {
        // The histogram holds non-negative integers; shift negatives (never expected for
        // latencies, but a report must not panic on them).
        let _ = h.record(((x - shift) * SCALE).round().max(0.0) as u64);
    }
    QUANTILES.map(|p| h.value_at_quantile(p) as f64 / SCALE + shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_on_a_small_set() {
        // numpy: np.percentile([1,2,3,4,10], [1,10,50,90,95,99]) ->
        // [1.04, 1.4, 3.0, 7.6, 8.8, 9.76]; np.std(ddof=1) -> 3.5355339
        let s = Summary::of(&[4.0, 2.0, 10.0, 1.0, 3.0]).unwrap();
        assert_eq!(s.count, 5);
        assert!((s.mean - 4.0).abs() < 1e-12);
        assert!((s.std - 3.535_533_9).abs() < 1e-6);
        let want = [1.04, 1.4, 3.0, 7.6, 8.8, 9.76];
        let got = [s.p1, s.p10, s.p50, s.p90, s.p95, s.p99];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{got:?}");
        }
        assert_eq!((s.min, s.max), (1.0, 10.0));
    }

    #[test]
    fn empty_and_non_finite_samples() {
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[f64::NAN]).is_none());
        let s = Summary::of(&[2.0, f64::INFINITY]).unwrap();
        assert_eq!((s.count, s.std, s.p99), (1, 0.0, 2.0));
    }

    #[test]
    fn histogram_percentiles_agree_with_exact_ones_at_scale() {
        let v: Vec<f64> = (0..EXACT_LIMIT + 1000)
            .map(|i| (i % 1000) as f64 * 0.01)
            .collect();
        let s = Summary::of(&v).unwrap();
        // Uniform over [0, 9.99]: p50 ~ 5, p99 ~ 9.9, within the histogram's 0.1%.
        assert!((s.p50 - 5.0).abs() < 0.02, "{}", s.p50);
        assert!((s.p99 - 9.89).abs() < 0.02, "{}", s.p99);
    }
}
