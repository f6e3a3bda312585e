//! Figures per category of request (coding, chat ...), for workloads whose prompts carry
//! one: `metrics.json` `by_category`. Latencies are per request, so they mean the same
//! whatever else ran beside them; a category's rate is its own requests' output tokens
//! over their own time, not a share of the run's throughput.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::accuracy::AccuracySummary;
use super::record::RequestRecord;
use super::stats::Summary;

/// The name requests without a category are grouped under when others have one.
pub const NONE: &str = "none";

/// One category's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryStats {
    pub requests: usize,
    pub completed: usize,
    pub failed: usize,
    pub input_tokens_per_request: Option<f64>,
    pub output_tokens_per_request: Option<f64>,
    pub ttft_ms: Option<Summary>,
    pub tpot_ms: Option<Summary>,
    pub e2e_ms: Option<Summary>,
    /// Output tokens / E2E time, both summed over the completed requests: the rate one
    /// request of this category streams at.
    pub output_tok_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<AccuracySummary>,
}

/// Groups `records` by category; empty when none has one.
pub fn by_category(records: &[RequestRecord]) -> BTreeMap<String, CategoryStats> {
    if records.iter().all(|r| r.category.is_none()) {
        return BTreeMap::new();
    }
    let mut groups: BTreeMap<String, Vec<&RequestRecord>> = BTreeMap::new();
    for r in records {
        let name = r.category.clone().unwrap_or_else(|| NONE.to_owned());
        groups.entry(name).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(name, rs)| (name, CategoryStats::of(&rs)))
        .collect()
}

impl CategoryStats {
    fn of(records: &[&RequestRecord]) -> CategoryStats {
        let ok: Vec<&RequestRecord> = records.iter().copied().filter(|r| r.ok).collect();
        let summary = |f: fn(&RequestRecord) -> Option<f64>| {
            Summary::of(&ok.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
        };
        let per = |total: f64| (!ok.is_empty()).then(|| total / ok.len() as f64);
        let output: f64 = ok.iter().map(|r| f64::from(r.output_tokens)).sum();
        let e2e_s: f64 = ok.iter().map(|r| r.e2e_ms).sum::<f64>() / 1e3;
        CategoryStats {
            requests: records.len(),
            completed: ok.len(),
            failed: records.len() - ok.len(),
            input_tokens_per_request: per(ok
                .iter()
                .filter_map(|r| r.prompt_tokens)
                .map(f64::from)
                .sum()),
            output_tokens_per_request: per(output),
            ttft_ms: summary(|r| r.ttft_ms),
            tpot_ms: summary(|r| r.tpot_ms),
            e2e_ms: summary(|r| Some(r.e2e_ms)),
            output_tok_s: (e2e_s > 0.0).then(|| output / e2e_s),
            accuracy: AccuracySummary::of(ok.iter().copied()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(category: Option<&str>, ok: bool, e2e: f64, ttft: f64) -> RequestRecord {
        RequestRecord {
            ok,
            category: category.map(str::to_owned),
            prompt_tokens: Some(10),
            output_tokens: 20,
            e2e_ms: e2e,
            ttft_ms: Some(ttft),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn groups_by_category_with_per_request_figures() {
        let rs = vec![
            rec(Some("coding"), true, 100.0, 5.0),
            rec(Some("coding"), true, 300.0, 15.0),
            rec(Some("chat"), false, 50.0, 1.0),
            rec(None, true, 200.0, 2.0),
        ];
        let by = by_category(&rs);
        assert_eq!(by.keys().collect::<Vec<_>>(), ["chat", "coding", "none"]);
        let coding = &by["coding"];
        assert_eq!(
            (coding.requests, coding.completed, coding.failed),
            (2, 2, 0)
        );
        assert_eq!(coding.ttft_ms.unwrap().p50, 10.0);
        // 40 tokens over 0.4 s.
        assert_eq!(coding.output_tok_s, Some(100.0));
        assert_eq!(by["chat"].failed, 1);
        assert_eq!(by["chat"].ttft_ms, None, "failed requests have no latency");
        assert!(by_category(&[rec(None, true, 1.0, 1.0)]).is_empty());
    }
}
