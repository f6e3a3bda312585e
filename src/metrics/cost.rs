//! Cost of a run against a hosted API's prices: per request from its token counts, then
//! per run and per million output tokens. Prices are per million tokens, in US dollars
//! (any currency works; the figures are then in that one).

use serde::{Deserialize, Serialize};

use super::record::RequestRecord;

/// Prices per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl Prices {
    /// Checks that both prices are finite and not negative; the error names the flag (or
    /// key) as `input` and `output` name them.
    pub fn validate(&self, input: &str, output: &str) -> Result<(), String> {
        for (name, v) in [(input, self.input_per_mtok), (output, self.output_per_mtok)] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{name} must be a price of 0 or more, got {v}"));
            }
        }
        Ok(())
    }

    /// What a completed request cost; `None` for a failed one (its tokens are not known).
    pub fn of(&self, r: &RequestRecord) -> Option<f64> {
        let input = f64::from(r.prompt_tokens?);
        r.ok.then(|| {
            (input * self.input_per_mtok + f64::from(r.output_tokens) * self.output_per_mtok) / 1e6
        })
    }
}

/// A run's cost: `metrics.json` `cost`, summed from the requests' `cost_usd`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostSummary {
    /// Every completed request's cost together.
    pub cost_usd: f64,
    pub cost_per_request_usd: f64,
    /// The run's cost (input and output tokens) per million output tokens.
    pub cost_per_mtok_output_usd: Option<f64>,
}

impl CostSummary {
    /// The cost of `records`, or `None` when no request was priced.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a RequestRecord>) -> Option<Self> {
        let (mut total, mut n, mut output) = (0.0, 0usize, 0u64);
        for r in records {
            if let Some(c) = r.cost_usd {
                total += c;
                n += 1;
                output += u64::from(r.output_tokens);
            }
        }
        (n > 0).then(|| CostSummary {
            cost_usd: total,
            cost_per_request_usd: total / n as f64,
            cost_per_mtok_output_usd: (output > 0).then(|| total / output as f64 * 1e6),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_follows_the_token_counts() {
        let p = Prices {
            input_per_mtok: 2.0,
            output_per_mtok: 8.0,
        };
        let mut r = RequestRecord {
            ok: true,
            prompt_tokens: Some(1000),
            output_tokens: 500,
            ..RequestRecord::default()
        };
        // 1000 * 2 / 1e6 + 500 * 8 / 1e6 = 0.006
        assert!((p.of(&r).unwrap() - 0.006).abs() < 1e-15);
        r.cost_usd = p.of(&r);
        let mut q = r.clone();
        q.cost_usd = Some(0.004);
        let s = CostSummary::of([&r, &q, &RequestRecord::default()]).unwrap();
        assert!((s.cost_usd - 0.010).abs() < 1e-15);
        assert!((s.cost_per_request_usd - 0.005).abs() < 1e-15);
        assert!((s.cost_per_mtok_output_usd.unwrap() - 10.0).abs() < 1e-9);
        let bad = Prices {
            input_per_mtok: -1.0,
            ..p
        };
        let err = bad.validate("--price-input-per-mtok", "--price-output-per-mtok");
        assert_eq!(
            err.unwrap_err(),
            "--price-input-per-mtok must be a price of 0 or more, got -1"
        );
        let nan = Prices {
            output_per_mtok: f64::NAN,
            ..p
        };
        assert!(nan.validate("a", "b").unwrap_err().starts_with("b must be"));
    }
}
