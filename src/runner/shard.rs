//! One shard of a load that several client hosts generate together (`run --shard I/N`):
//! its share of the concurrency, the request rate and the prompts, so that N shards
//! offer what one client would have.

use serde::{Deserialize, Serialize};

use super::RunnerConfig;
use crate::limits;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`: shard I (from 0) of N.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "--shard {s}: out of range, expected I/N with N an integer from {} to {} and I from 0 to N-1",
                limits::SHARDS.lo,
                limits::SHARDS.hi
            )
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let inside = (limits::SHARDS.lo..=limits::SHARDS.hi).contains(&(count as i128));
        if !inside || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// This shard's part of `total` when it is split as evenly as it can be: the first
    /// `total % count` shards take one more.
    pub fn share(&self, total: usize) -> usize {
        total / self.count + usize::from(self.index < total % self.count)
    }

    /// Whether the request at `position` of the workload is this shard's: every N-th,
    /// so that the N shards together send every prompt once.
    pub fn takes(&self, position: usize) -> bool {
        position % self.count == self.index
    }

    /// The load this shard offers: its share of the concurrency, 1/N of the request
    /// rate, and its own arrival seed (N shards drawing the same gaps would arrive in
    /// step). Fails when the concurrency is smaller than the number of shards.
    pub fn load(&self, whole: &RunnerConfig) -> Result<RunnerConfig, String> {
        let concurrency = self.share(whole.concurrency);
        if concurrency == 0 {
            return Err(format!(
                "--shard {self}: a concurrency of {} cannot be split {} ways; raise --concurrency to at least {}",
                whole.concurrency, self.count, self.count
            ));
        }
        let rate = whole.arrival.rate().map(|r| r / self.count as f64);
        Ok(RunnerConfig {
            concurrency,
            arrival: match rate {
                Some(r) => whole.arrival.with_rate(Some(r)),
                None => whole.arrival,
            },
            seed: whole.seed.wrapping_add(self.index as u64),
            ..whole.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::arrival::Arrival;

    #[test]
    fn shards_split_concurrency_rate_and_prompts_without_overlap() {
        let whole = RunnerConfig {
            concurrency: 5,
            arrival: Arrival::Constant { rate: 6.0 },
            ..RunnerConfig::default()
        };
        let shards: Vec<Shard> = (0..2).map(|i| format!("{i}/2").parse().unwrap()).collect();
        let loads: Vec<RunnerConfig> = shards.iter().map(|s| s.load(&whole).unwrap()).collect();
        assert_eq!(loads[0].concurrency + loads[1].concurrency, 5);
        assert_eq!(loads[0].arrival, Arrival::Constant { rate: 3.0 });
        assert_ne!(loads[0].seed, loads[1].seed);
        for p in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.takes(p)).count(), 1);
        }
        let one = RunnerConfig::default();
        let e = shards[1].load(&one).unwrap_err();
        assert!(e.contains("concurrency of 1"), "{e}");
    }

    #[test]
    fn bad_shards_are_refused_with_the_range() {
        for s in ["2/2", "0/0", "1", "a/2", "-1/2", "0/4097", "0/1e300"] {
            let e = s.parse::<Shard>().unwrap_err();
            assert!(e.contains("out of range, expected"), "{s}: {e}");
        }
        assert_eq!("3/4".parse::<Shard>(), Ok(Shard { index: 3, count: 4 }));
    }
}
