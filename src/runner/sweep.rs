//! Sweeps: one run per concurrency (`--concurrency-list`) or per request rate
//! (`--request-rate-list`). The summary they write is `report::sweep`.

use serde::{Deserialize, Serialize};

use super::load::LoadConfig;

/// What a sweep varies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "values", rename_all = "snake_case")]
pub enum Sweep {
    Concurrency(Vec<usize>),
    /// Requests per second; `None` is inf.
    RequestRate(Vec<Option<f64>>),
}

impl Sweep {
    /// Each point's directory name and load settings.
    pub fn points(&self, base: &LoadConfig) -> Vec<(String, LoadConfig)> {
        let one = |label: String, load: LoadConfig| {
            (
                label,
                LoadConfig {
                    sweep: None,
                    ..load
                },
            )
        };
        match self {
            Sweep::Concurrency(cs) => cs
                .iter()
                .map(|&c| {
                    one(
                        format!("concurrency-{c}"),
                        LoadConfig {
                            concurrency: c,
                            ..base.clone()
                        },
                    )
                })
                .collect(),
            Sweep::RequestRate(rs) => rs
                .iter()
                .map(|&r| {
                    let label = r.map_or("rate-inf".to_owned(), |r| format!("rate-{r}"));
                    one(
                        label,
                        LoadConfig {
                            arrival: base.arrival.with_rate(r),
                            ..base.clone()
                        },
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::arrival::Arrival;

    #[test]
    fn points_vary_one_setting_each() {
        let base = LoadConfig {
            arrival: Arrival::Gamma {
                rate: 1.0,
                burstiness: 0.5,
            },
            ..LoadConfig::default()
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
        assert!(ps.iter().all(|p| p.1.sweep.is_none()));
    }
}
