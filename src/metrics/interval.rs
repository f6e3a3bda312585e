//! How sure a ratio between two measurements is: a 95% interval for it, from a seeded
//! bootstrap over rounds (or from standard errors), and the verdict a target band allows:
//! "within target" only when the whole interval lies inside the band, "outside target"
//! when it lies wholly outside, and otherwise "inconclusive", with an estimate of how many
//! more rounds would settle it. `nativebench ratio` (for the comparison scripts in
//! `benches/`) and `report --compare` both judge with it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::stats::exact_quantile;

/// The normal quantile of a two-sided 95% interval.
pub const Z95: f64 = 1.959_964;
/// Bootstrap resamples per interval.
pub const RESAMPLES: usize = 10_000;
/// More rounds than this is not an estimate worth printing.
const MAX_MORE: f64 = 100_000.0;

/// A figure and its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    exact_quantile(v, 0.5)
}

/// The ratio of medians `median(new) / median(base)` and its 95% bootstrap percentile
/// interval, seeded. With `paired`, round `i` of each side ran together (alternated), so
/// rounds are resampled as pairs and a drift that moved both sides cancels; otherwise
/// each side is resampled on its own. `None` without values on both sides, when paired
/// sides differ in length, or when the base's median is not positive.
pub fn ratio_of_medians(base: &[f64], new: &[f64], paired: bool, seed: u64) -> Option<Interval> {
    if base.is_empty() || new.is_empty() || (paired && base.len() != new.len()) {
        return None;
    }
    let ratio = |b: &mut [f64], n: &mut [f64]| {
        let mb = median(b);
        (mb > 0.0).then(|| median(n) / mb)
    };
    let estimate = ratio(&mut base.to_vec(), &mut new.to_vec())?;
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut b, mut n) = (
        Vec::with_capacity(base.len()),
        Vec::with_capacity(new.len()),
    );
    let mut stats = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        b.clear();
        n.clear();
        if paired {
            for _ in 0..base.len() {
                let i = rng.random_range(0..base.len());
                b.push(base[i]);
                n.push(new[i]);
            }
        } else {
            b.extend((0..base.len()).map(|_| base[rng.random_range(0..base.len())]));
            n.extend((0..new.len()).map(|_| new[rng.random_range(0..new.len())]));
        }
        if let Some(r) = ratio(&mut b, &mut n).filter(|r| r.is_finite()) {
            stats.push(r);
        }
    }
    if stats.is_empty() {
        return None;
    }
    stats.sort_unstable_by(f64::total_cmp);
    Some(Interval {
        estimate,
        lo: exact_quantile(&stats, 0.025),
        hi: exact_quantile(&stats, 0.975),
    })
}

/// The ratio `new / base` with a 95% interval from each side's standard error (the
/// delta method: relative errors add in quadrature). `None` when `base` is zero.
pub fn ratio_from_se(base: f64, base_se: f64, new: f64, new_se: f64) -> Option<Interval> {
    if base == 0.0 || !(base.is_finite() && new.is_finite()) {
        return None;
    }
    let r = new / base;
    let rel = |v: f64, se: f64| if v == 0.0 { 0.0 } else { se / v.abs() };
    let half = Z95 * r.abs() * (rel(base, base_se).powi(2) + rel(new, new_se).powi(2)).sqrt();
    Some(Interval {
        estimate: r,
        lo: r - half,
        hi: r + half,
    })
}

/// The difference `new - base` with a 95% interval from each side's standard error.
pub fn difference_from_se(base: f64, base_se: f64, new: f64, new_se: f64) -> Interval {
    let d = new - base;
    let half = Z95 * (base_se.powi(2) + new_se.powi(2)).sqrt();
    Interval {
        estimate: d,
        lo: d - half,
        hi: d + half,
    }
}

/// What an interval says against a target band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandVerdict {
    /// The whole interval lies inside the band.
    Within,
    /// The whole interval lies outside it.
    Outside,
    /// It straddles an edge: about this many more rounds would settle it, when that can
    /// be estimated (not when the estimate sits on the edge itself).
    Inconclusive { more: Option<usize> },
}

impl BandVerdict {
    /// The verdict in words, counting `unit`s (`rounds`, `runs`, `requests`).
    pub fn text(self, unit: &str) -> String {
        match self {
            BandVerdict::Within => "within target".into(),
            BandVerdict::Outside => "outside target".into(),
            BandVerdict::Inconclusive { more: Some(n) } => {
                format!("inconclusive: {n} more {unit} needed")
            }
            BandVerdict::Inconclusive { more: None } => {
                "inconclusive: the estimate sits on the band's edge".into()
            }
        }
    }
}

/// Judges `iv`, measured over `n` rounds, against the band `[lo, hi]` (either end may
/// be infinite). An interval narrows as one over the square root of the rounds, so the
/// rounds needed are `n` times the square of how much too wide it is.
pub fn judge(iv: &Interval, band: (f64, f64), n: usize) -> BandVerdict {
    let (lo, hi) = band;
    if iv.lo >= lo && iv.hi <= hi {
        return BandVerdict::Within;
    }
    if iv.hi < lo || iv.lo > hi {
        return BandVerdict::Outside;
    }
    let (below, above) = (iv.estimate - iv.lo, iv.hi - iv.estimate);
    // How much each half must shrink: to fit inside the band when the estimate is in
    // it, to clear the nearer edge when it is not.
    let shrink = if iv.estimate < lo {
        above / (lo - iv.estimate)
    } else if iv.estimate > hi {
        below / (iv.estimate - hi)
    } else {
        let room = |half: f64, space: f64| if half > 0.0 { half / space } else { 0.0 };
        room(below, iv.estimate - lo).max(room(above, hi - iv.estimate))
    };
    let needed = n.max(1) as f64 * shrink * shrink;
    let more = (shrink.is_finite() && needed < MAX_MORE)
        .then(|| ((needed - n as f64).ceil() as usize).max(1));
    BandVerdict::Inconclusive { more }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tight_paired_ratio_inside_the_band_is_within_target() {
        // Both sides drift together from round to round; paired, the drift cancels.
        let base: Vec<f64> = (0..8).map(|i| 100.0 + 10.0 * i as f64).collect();
        let new: Vec<f64> = base.iter().map(|b| b * 1.01).collect();
        let iv = ratio_of_medians(&base, &new, true, 0).unwrap();
        assert!((iv.estimate - 1.01).abs() < 1e-12, "{iv:?}");
        assert!(iv.lo > 1.0 && iv.hi < 1.02, "{iv:?}");
        assert_eq!(judge(&iv, (0.97, 1.03), 8), BandVerdict::Within);
        // Unpaired, the same drift is noise, and the interval is wide.
        let wide = ratio_of_medians(&base, &new, false, 0).unwrap();
        assert!(wide.hi - wide.lo > 0.1, "{wide:?}");
        assert!(matches!(
            judge(&wide, (0.97, 1.03), 8),
            BandVerdict::Inconclusive { more: Some(m) } if m > 8
        ));
    }

    #[test]
    fn the_same_seed_gives_the_same_interval() {
        let a = [1.0, 1.2, 0.9, 1.1, 1.05];
        let b = [1.1, 1.0, 1.0, 1.2, 0.95];
        let x = ratio_of_medians(&a, &b, true, 7).unwrap();
        assert_eq!(x, ratio_of_medians(&a, &b, true, 7).unwrap());
        assert!(x.lo <= x.estimate && x.estimate <= x.hi);
    }

    #[test]
    fn more_rounds_are_estimated_from_the_interval_width() {
        // Half-width 0.04 around 1.00 against a ±3% band: (0.04 / 0.03)^2 = 1.78 times
        // the 8 rounds, so 7 more.
        let iv = Interval {
            estimate: 1.0,
            lo: 0.96,
            hi: 1.04,
        };
        let v = judge(&iv, (0.97, 1.03), 8);
        assert_eq!(v, BandVerdict::Inconclusive { more: Some(7) });
        assert_eq!(v.text("rounds"), "inconclusive: 7 more rounds needed");
        // Estimate outside the band, interval reaching into it: rounds to clear the edge.
        let iv = Interval {
            estimate: 1.05,
            lo: 1.01,
            hi: 1.09,
        };
        assert_eq!(
            judge(&iv, (0.97, 1.03), 4),
            BandVerdict::Inconclusive { more: Some(12) }
        );
        let out = Interval {
            estimate: 1.10,
            lo: 1.05,
            hi: 1.15,
        };
        assert_eq!(judge(&out, (0.97, 1.03), 4), BandVerdict::Outside);
        // A one-sided target (0.97 or more).
        assert_eq!(judge(&out, (0.97, f64::INFINITY), 4), BandVerdict::Within);
        let edge = Interval {
            estimate: 0.97,
            lo: 0.95,
            hi: 0.99,
        };
        assert_eq!(
            judge(&edge, (0.97, 1.03), 4).text("rounds"),
            "inconclusive: the estimate sits on the band's edge"
        );
    }

    #[test]
    fn standard_errors_give_a_delta_method_interval() {
        let iv = ratio_from_se(100.0, 1.0, 110.0, 1.1).unwrap();
        assert!((iv.estimate - 1.1).abs() < 1e-12);
        let half = Z95 * 1.1 * (2.0f64 * 0.01 * 0.01).sqrt();
        assert!((iv.hi - iv.estimate - half).abs() < 1e-12, "{iv:?}");
        assert!(ratio_from_se(0.0, 1.0, 1.0, 1.0).is_none());
        let d = difference_from_se(0.01, 0.003, 0.02, 0.004);
        assert!((d.hi - d.estimate - Z95 * 0.005).abs() < 1e-12);
        assert!(ratio_of_medians(&[], &[1.0], false, 0).is_none());
        assert!(ratio_of_medians(&[1.0], &[1.0, 2.0], true, 0).is_none());
        assert!(ratio_of_medians(&[0.0], &[1.0], false, 0).is_none());
    }
}
