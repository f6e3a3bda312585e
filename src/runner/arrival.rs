//! Arrival processes for the load generator: when each request is offered. vLLM's
//! conventions: an infinite rate sends everything at once (the concurrency limit then
//! paces the run), a finite rate draws gaps from a gamma distribution with shape
//! `burstiness` and mean `1 / rate` (burstiness 1 is a Poisson process; below 1 is
//! burstier, above 1 more regular), and `constant` sends at exactly `1 / rate`.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// Every request at once (`--request-rate inf`); the concurrency limit paces them.
    #[default]
    Unlimited,
    /// Exactly `rate` requests per second, evenly spaced.
    Constant { rate: f64 },
    /// Gamma-distributed gaps with mean `1 / rate` and shape `burstiness` (1 = Poisson).
    Gamma { rate: f64, burstiness: f64 },
}

impl Arrival {
    /// Builds an arrival process from `--request-rate`, `--burstiness` and `--arrival`,
    /// checking each value.
    pub fn new(rate: Option<f64>, burstiness: f64, constant: bool) -> Result<Arrival, String> {
        if !(burstiness.is_finite() && burstiness > 0.0) {
            return Err(format!(
                "--burstiness must be a positive number, got {burstiness}"
            ));
        }
        let Some(rate) = rate.filter(|r| r.is_finite()) else {
            return Ok(Arrival::Unlimited);
        };
        if rate <= 0.0 {
            return Err(format!(
                "--request-rate must be positive (or inf), got {rate}"
            ));
        }
        if constant {
            if burstiness != 1.0 {
                return Err(
                    "--burstiness applies to Poisson/gamma arrivals, not --arrival constant".into(),
                );
            }
            return Ok(Arrival::Constant { rate });
        }
        Ok(Arrival::Gamma { rate, burstiness })
    }

    /// The requests-per-second figure, `None` when unlimited.
    pub fn rate(&self) -> Option<f64> {
        match *self {
            Arrival::Unlimited => None,
            Arrival::Constant { rate } | Arrival::Gamma { rate, .. } => Some(rate),
        }
    }

    /// The same process at another rate (for `--request-rate-list`).
    pub fn with_rate(&self, rate: Option<f64>) -> Arrival {
        match (rate.filter(|r| r.is_finite()), *self) {
            (None, _) => Arrival::Unlimited,
            (Some(rate), Arrival::Constant { .. }) => Arrival::Constant { rate },
            (Some(rate), Arrival::Gamma { burstiness, .. }) => Arrival::Gamma { rate, burstiness },
            (Some(rate), Arrival::Unlimited) => Arrival::Gamma {
                rate,
                burstiness: 1.0,
            },
        }
    }

    /// A seeded source of gaps between consecutive requests.
    pub fn gaps(&self, seed: u64) -> Gaps {
        let gamma = match *self {
            Arrival::Gamma { rate, burstiness } => {
                Gamma::new(burstiness, 1.0 / (rate * burstiness)).ok()
            }
            _ => None,
        };
        Gaps {
            arrival: *self,
            rng: StdRng::seed_from_u64(seed ^ 0x6172_7269_7661_6c00),
            gamma,
        }
    }
}

/// Gaps between arrivals, drawn from an [`Arrival`] process.
pub struct Gaps {
    arrival: Arrival,
    rng: StdRng,
    gamma: Option<Gamma<f64>>,
}

impl Gaps {
    /// The time from one request's arrival to the next one's.
    pub fn next_gap(&mut self) -> Duration {
        let secs = match (self.arrival, &self.gamma) {
            (Arrival::Unlimited, _) => 0.0,
            (Arrival::Constant { rate }, _) => 1.0 / rate,
            (Arrival::Gamma { .. }, Some(g)) => g.sample(&mut self.rng),
            (Arrival::Gamma { rate, .. }, None) => 1.0 / rate,
        };
        Duration::from_secs_f64(secs.clamp(0.0, 1e6))
    }
}

/// How long before a slot the pacer stops sleeping and yields instead: tokio's timer
/// wakes on a millisecond tick, at best, so a sleep alone leaves up to a millisecond
/// late; the last stretch is spent yielding to the runtime's other tasks.
const SPIN: Duration = Duration::from_millis(2);

/// Waits, on the runtime, until `at`, to well within a millisecond of it.
pub async fn pace_until(at: Instant) {
    if let Some(early) = at.checked_sub(SPIN).filter(|&e| e > Instant::now()) {
        tokio::time::sleep_until(early.into()).await;
    }
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

/// Blocks this thread until `at`, as [`pace_until`] does on the runtime; the last
/// stretch spins without yielding, since a yield on a busy machine can give the core
/// away for longer than the whole stretch.
pub fn wait_until(at: Instant) {
    if let Some(early) = at.checked_sub(SPIN) {
        std::thread::sleep(early.saturating_duration_since(Instant::now()));
    }
    while Instant::now() < at {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_cv(a: Arrival, n: usize) -> (f64, f64) {
        let mut g = a.gaps(3);
        let v: Vec<f64> = (0..n).map(|_| g.next_gap().as_secs_f64()).collect();
        let (m, s) = crate::metrics::stats::mean_std(&v);
        (m, s / m)
    }

    #[test]
    fn poisson_and_gamma_have_the_requested_rate_and_burstiness() {
        // Poisson at 10 req/s: mean gap 0.1 s, CV 1.
        let (m, cv) = mean_cv(Arrival::new(Some(10.0), 1.0, false).unwrap(), 40_000);
        assert!((m - 0.1).abs() < 0.003, "{m}");
        assert!((cv - 1.0).abs() < 0.03, "{cv}");
        // Burstiness 0.25: same mean, CV 1/sqrt(0.25) = 2.
        let (m, cv) = mean_cv(Arrival::new(Some(10.0), 0.25, false).unwrap(), 40_000);
        assert!((m - 0.1).abs() < 0.006, "{m}");
        assert!((cv - 2.0).abs() < 0.1, "{cv}");
        // Constant: every gap exactly 1/rate.
        let (m, cv) = mean_cv(Arrival::new(Some(4.0), 1.0, true).unwrap(), 100);
        assert!((m - 0.25).abs() < 1e-9 && cv < 1e-9);
    }

    #[test]
    fn bad_values_are_rejected_and_inf_is_unlimited() {
        assert!(Arrival::new(Some(0.0), 1.0, false)
            .unwrap_err()
            .contains("--request-rate"));
        assert!(Arrival::new(Some(1.0), -1.0, false)
            .unwrap_err()
            .contains("--burstiness"));
        assert!(Arrival::new(Some(1.0), 0.5, true).is_err());
        assert_eq!(
            Arrival::new(Some(f64::INFINITY), 1.0, false),
            Ok(Arrival::Unlimited)
        );
        assert_eq!(
            Arrival::new(None, 1.0, false).unwrap().gaps(0).next_gap(),
            Duration::ZERO
        );
    }
}
