//! Repeated timing of one preprocessing step: warm-up runs, then repetitions, each timed
//! on the monotonic clock, summarised as the median with its spread (p10..p90) and the
//! coefficient of variation that the noise warning reads.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::metrics::stats::Summary;

/// How many times each step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reps {
    pub warmup: usize,
    pub reps: usize,
}

/// One step's timings, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timing {
    pub reps: usize,
    pub median_us: f64,
    pub p10_us: f64,
    pub p90_us: f64,
    pub min_us: f64,
    /// Sample std / mean over the repetitions.
    pub cv: f64,
}

impl Timing {
    /// The summary of `samples_us`.
    pub fn of(samples_us: &[f64]) -> Timing {
        let s = Summary::of(samples_us).unwrap_or_default();
        Timing {
            reps: s.count,
            median_us: s.p50,
            p10_us: s.p10,
            p90_us: s.p90,
            min_us: s.min,
            cv: s.cv(),
        }
    }
}

/// Runs `f` `reps.warmup` times untimed, then `reps.reps` times timed. `f` returns a
/// value that is kept from the optimiser; the last one is returned with the timing.
pub fn time<T>(reps: Reps, mut f: impl FnMut() -> T) -> (Timing, T) {
    for _ in 0..reps.warmup {
        std::hint::black_box(f());
    }
    let mut samples = Vec::with_capacity(reps.reps.max(1));
    let mut timed = || {
        let start = Instant::now();
        let out = std::hint::black_box(f());
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        out
    };
    let mut last = timed();
    for _ in 1..reps.reps {
        last = timed();
    }
    (Timing::of(&samples), last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_every_repetition_and_recovers_a_known_delay() {
        let mut calls = 0;
        let (t, last) = time(Reps { warmup: 2, reps: 5 }, || {
            calls += 1;
            std::thread::sleep(std::time::Duration::from_millis(2));
            calls
        });
        assert_eq!((calls, last, t.reps), (7, 7, 5));
        assert!(t.median_us >= 2000.0, "{t:?}");
        assert!(t.p10_us <= t.median_us && t.median_us <= t.p90_us);
    }
}
