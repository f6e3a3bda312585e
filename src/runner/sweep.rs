//! Sweeps: one run per concurrency (`--concurrency-list`) or per request rate
//! (`--request-rate-list`). The summary they write is `report::sweep`.

use serde::{Deserialize, Serialize};

use super::RunnerConfig;

/// What a sweep varies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "values", rename_all = "snake_case")]
pub enum Sweep {
    Concurrency(Vec<usize>),
    /// Requests per second; `None` is inf.
    RequestRate(Vec<Option<f64>>),
    /// A plan's matrix (`sweep plan`), by the flags it varies: its points run as
    /// separate jobs (`sweep run`), never through [`Sweep::points`].
    Matrix(Vec<String>),
}

impl Sweep {
    /// Each point's directory name and load settings.
    pub fn points(&self, base: &RunnerConfig) -> Vec<(String, RunnerConfig)> {
        match self {
            Sweep::Concurrency(cs) => cs
                .iter()
                .map(|&c| {
                    let point = RunnerConfig {
                        concurrency: c,
                        ..base.clone()
                    };
                    (format!("concurrency-{c}"), point)
                })
                .collect(),
            Sweep::RequestRate(rs) => rs
                .iter()
                .map(|&r| {
                    let label = r.map_or("rate-inf".to_owned(), |r| format!("rate-{r}"));
                    let point = RunnerConfig {
                        arrival: base.arrival.with_rate(r),
                        ..base.clone()
                    };
                    (label, point)
                })
                .collect(),
            Sweep::Matrix(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::arrival::Arrival;

    #[test]
    fn points_vary_one_setting_each() {
        let base = RunnerConfig {
            arrival: Arrival::Gamma {
                rate: 1.0,
                burstiness: 0.5,
            },
            ..RunnerConfig::default()
        };
        let ps = Sweep::Concurrency(vec![1, 8]).points(&base);
        assert_eq!(
            ps.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
            ["concurrency-1", "concurrency-8"]
        );
        assert_eq!(ps[1].1.concurrency, 8);
        let ps = Sweep::RequestRate(vec![Some(2.0), None]).points(&base);
        assert_eq!(ps[0].0, "rate-2");
        assert_eq!(
            ps[0].1.arrival,
            Arrival::Gamma {
                rate: 2.0,
                burstiness: 0.5
            }
        );
        assert_eq!(ps[1].1.arrival, Arrival::Unlimited);
    }
}
