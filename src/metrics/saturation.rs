//! Over-saturation: whether the load outran the server, so that queueing grew through
//! the run instead of settling. A server that keeps up has a TTFT and an in-flight count
//! that wander around a level; one that cannot has both rising with time, without bound.
//! The test is statistical: Mann-Kendall's trend test (Kendall's tau against request
//! order, with its normal approximation) on TTFT and on the in-flight count at each
//! request's start, both required to rise significantly and by a clear margin.

use serde::{Deserialize, Serialize};

use super::record::RequestRecord;

/// Fewer completed requests than this and no verdict is given.
pub const MIN_REQUESTS: usize = 12;
/// One-sided significance of each trend: z above this (p < 0.001).
pub const Z_CRITICAL: f64 = 3.09;
/// The smallest TTFT trend (Kendall's tau) that counts as growth, not drift.
pub const MIN_TTFT_TAU: f64 = 0.3;
/// The smallest in-flight trend that counts.
pub const MIN_IN_FLIGHT_TAU: f64 = 0.2;
/// The trend test uses at most this many requests, evenly spaced (it is O(n²)).
const MAX_TESTED: usize = 2000;

/// The saturation verdict of a run, as `metrics.json` records it under `saturation`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Saturation {
    /// Both trends significant and large enough: the server did not keep up.
    pub saturated: bool,
    /// Completed requests the test used.
    pub requests: usize,
    /// Kendall's tau of TTFT against start order (-1..1), and its z score.
    pub ttft_tau: f64,
    pub ttft_z: f64,
    /// The same for the number of requests in flight when each started.
    pub in_flight_tau: f64,
    pub in_flight_z: f64,
    /// Requests in flight when the first and the last tested request started.
    pub in_flight_first: usize,
    pub in_flight_last: usize,
}

impl Saturation {
    /// The warning a saturated run carries.
    pub fn warning(&self) -> Option<String> {
        self.saturated.then(|| {
            format!(
                "saturated: the server did not keep up with the load: TTFT rose through the run (Kendall tau {:.2}, z {:.1}) and requests in flight grew from {} to {} (tau {:.2}, z {:.1}); figures depend on the run's length, not only on the server",
                self.ttft_tau, self.ttft_z, self.in_flight_first, self.in_flight_last, self.in_flight_tau, self.in_flight_z
            )
        })
    }
}

/// The verdict over `records` (completed requests in start order); `None` with fewer
/// than [`MIN_REQUESTS`] completed requests with a TTFT.
pub fn detect(records: &[RequestRecord]) -> Option<Saturation> {
    let mut ok: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.ok && r.ttft_ms.is_some())
        .collect();
    if ok.len() < MIN_REQUESTS {
        return None;
    }
    ok.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let every = ok.len().div_ceil(MAX_TESTED).max(1);
    let tested: Vec<&RequestRecord> = ok.iter().copied().step_by(every).collect();
    let ttft: Vec<f64> = tested.iter().filter_map(|r| r.ttft_ms).collect();
    // In flight when a request started: every request of the run (failed ones too)
    // started before it and not yet ended.
    let mut ends: Vec<f64> = records.iter().map(|r| r.start_ms + r.e2e_ms).collect();
    let mut starts: Vec<f64> = records.iter().map(|r| r.start_ms).collect();
    ends.sort_by(f64::total_cmp);
    starts.sort_by(f64::total_cmp);
    let in_flight: Vec<f64> = tested
        .iter()
        .map(|r| {
            let started = starts.partition_point(|&s| s < r.start_ms);
            let ended = ends.partition_point(|&e| e <= r.start_ms);
            started.saturating_sub(ended) as f64
        })
        .collect();
    let (ttft_tau, ttft_z) = mann_kendall(&ttft);
    let (in_flight_tau, in_flight_z) = mann_kendall(&in_flight);
    Some(Saturation {
        saturated: ttft_z > Z_CRITICAL
            && ttft_tau >= MIN_TTFT_TAU
            && in_flight_z > Z_CRITICAL
            && in_flight_tau >= MIN_IN_FLIGHT_TAU,
        requests: tested.len(),
        ttft_tau,
        ttft_z,
        in_flight_tau,
        in_flight_z,
        in_flight_first: in_flight.first().copied().unwrap_or(0.0) as usize,
        in_flight_last: in_flight.last().copied().unwrap_or(0.0) as usize,
    })
}

/// Kendall's tau of `xs` against their order, and the Mann-Kendall z score (the normal
/// approximation, with the variance corrected for ties and a continuity correction).
/// A constant series has tau 0 and z 0.
pub fn mann_kendall(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    if n < 2 {
        return (0.0, 0.0);
    }
    let mut s: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            s += match xs[j].total_cmp(&xs[i]) {
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
            };
        }
    }
    let nf = n as f64;
    let pairs = nf * (nf - 1.0) / 2.0;
    let tau = s as f64 / pairs;
    // Ties shrink the variance: sum over groups of equal values of t(t-1)(2t+5).
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && sorted[j] == sorted[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        i = j;
    }
    let var = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    if var <= 0.0 {
        return (0.0, 0.0);
    }
    let z = match s {
        0 => 0.0,
        s if s > 0 => (s as f64 - 1.0) / var.sqrt(),
        s => (s as f64 + 1.0) / var.sqrt(),
    };
    (tau, z)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(start_ms: f64, ttft_ms: f64, e2e_ms: f64) -> RequestRecord {
        RequestRecord {
            ok: true,
            start_ms,
            ttft_ms: Some(ttft_ms),
            e2e_ms,
            ..RequestRecord::default()
        }
    }

    #[test]
    fn mann_kendall_matches_hand_figures() {
        // 1..5 rising: S = 10 pairs, tau 1, var = 5*4*15/18 = 16.67, z = 9/4.08 = 2.204.
        let (tau, z) = mann_kendall(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(tau, 1.0);
        assert!((z - 9.0 / (50.0f64 / 3.0).sqrt()).abs() < 1e-12, "{z}");
        let (tau, z) = mann_kendall(&[5.0, 4.0, 3.0, 2.0, 1.0]);
        assert_eq!(tau, -1.0);
        assert!(z < -2.0);
        assert_eq!(mann_kendall(&[3.0; 10]), (0.0, 0.0));
        assert_eq!(mann_kendall(&[1.0]), (0.0, 0.0));
    }

    #[test]
    fn a_queue_that_grows_is_saturated_and_a_steady_one_is_not() {
        // Every 10 ms a request; each takes 25 ms more than the one before to start
        // streaming: the backlog and the in-flight count grow through the run.
        let growing: Vec<RequestRecord> = (0..40)
            .map(|i| {
                let ttft = 5.0 + 25.0 * i as f64;
                rec(10.0 * i as f64, ttft, ttft + 20.0)
            })
            .collect();
        let s = detect(&growing).unwrap();
        assert!(s.saturated, "{s:?}");
        assert!(
            s.ttft_tau > 0.99 && s.in_flight_last > s.in_flight_first,
            "{s:?}"
        );
        assert!(s.warning().unwrap().starts_with("saturated: "));

        // The same arrivals served in a constant 15 ms with a little wobble: no trend.
        let steady: Vec<RequestRecord> = (0..40)
            .map(|i| rec(10.0 * i as f64, 5.0 + (i % 3) as f64, 15.0))
            .collect();
        let s = detect(&steady).unwrap();
        assert!(!s.saturated, "{s:?}");
        assert_eq!(s.warning(), None);
    }

    #[test]
    fn too_few_requests_give_no_verdict() {
        let few: Vec<RequestRecord> = (0..MIN_REQUESTS - 1)
            .map(|i| rec(i as f64, i as f64, 1.0))
            .collect();
        assert_eq!(detect(&few), None);
    }
}
