//! Accuracy of the answers, for workloads that define a reference: ROUGE against
//! reference summaries, JSON validity, schema validity and field-level exact match against
//! expected extractions. Scored after the run from the recorded output text, so it never
//! sits on the timed path and never changes a latency figure.

pub mod extraction;
pub mod rouge;

use serde::{Deserialize, Serialize};

use super::record::RequestRecord;
use super::stats::mean_std;

/// How a workload's answers are scored.
pub enum Scorer {
    /// ROUGE-1, ROUGE-2 and ROUGE-L F1 against a reference text.
    Rouge,
    /// Validity, schema validity and field match against expected JSON.
    Extraction(extraction::Extraction),
}

impl Scorer {
    /// An extraction scorer for `schema`, or why the schema is not one.
    pub fn extraction(schema: &serde_json::Value) -> Result<Scorer, String> {
        extraction::Extraction::new(schema).map(Scorer::Extraction)
    }

    /// Scores a completed record's output against `expected` (the reference text, or the
    /// expected JSON as text) and writes the scores into it. Failed requests, and those
    /// without output text, are not scored.
    pub fn score(&self, expected: &str, record: &mut RequestRecord) {
        let Some(text) = record.output_text.as_deref().filter(|_| record.ok) else {
            return;
        };
        match self {
            Scorer::Rouge => {
                let r = rouge::score(expected, text);
                record.rouge1_f1 = Some(r.rouge1.f1);
                record.rouge2_f1 = Some(r.rouge2.f1);
                record.rougel_f1 = Some(r.rouge_l.f1);
            }
            Scorer::Extraction(x) => {
                let want = serde_json::from_str(expected).unwrap_or(serde_json::Value::Null);
                let s = x.score(&want, text);
                record.json_valid = Some(s.json_valid);
                record.schema_valid = Some(s.schema_valid);
                record.field_exact_match = Some(s.field_exact_match);
            }
        }
    }
}

/// The mean scores over the scored requests of a run (or of a category): `metrics.json`
/// `accuracy`. A figure is absent when no request had it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccuracySummary {
    /// Completed requests that were scored.
    pub scored_requests: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rouge1_f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rouge2_f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rougel_f1: Option<f64>,
    /// Share of answers that parse as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_valid_rate: Option<f64>,
    /// Share of answers that match the workload's JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_valid_rate: Option<f64>,
    /// Mean share of expected fields extracted exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_exact_match: Option<f64>,
}

impl AccuracySummary {
    /// The means over `records`, or `None` when none was scored.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a RequestRecord>) -> Option<Self> {
        let scored: Vec<&RequestRecord> = records
            .into_iter()
            .filter(|r| r.rouge1_f1.is_some() || r.json_valid.is_some())
            .collect();
        if scored.is_empty() {
            return None;
        }
        let mean = |f: &dyn Fn(&RequestRecord) -> Option<f64>| {
            let v: Vec<f64> = scored.iter().filter_map(|r| f(r)).collect();
            (!v.is_empty()).then(|| mean_std(&v).0)
        };
        let rate = |b: Option<bool>| b.map(|b| if b { 1.0 } else { 0.0 });
        Some(AccuracySummary {
            scored_requests: scored.len(),
            rouge1_f1: mean(&|r| r.rouge1_f1),
            rouge2_f1: mean(&|r| r.rouge2_f1),
            rougel_f1: mean(&|r| r.rougel_f1),
            json_valid_rate: mean(&|r| rate(r.json_valid)),
            schema_valid_rate: mean(&|r| rate(r.schema_valid)),
            field_exact_match: mean(&|r| r.field_exact_match),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_land_in_the_record_and_average_over_scored_requests() {
        let mut a = RequestRecord {
            ok: true,
            output_text: Some("the cat sat".into()),
            ..RequestRecord::default()
        };
        let mut failed = RequestRecord::default();
        Scorer::Rouge.score("the cat sat on the mat", &mut a);
        Scorer::Rouge.score("the cat sat on the mat", &mut failed);
        assert_eq!(a.rouge1_f1, Some(2.0 * 1.0 * 0.5 / 1.5));
        assert_eq!(failed.rouge1_f1, None, "a failed request is not scored");
        let mut b = a.clone();
        b.rouge1_f1 = Some(0.0);
        let s = AccuracySummary::of([&a, &b, &failed]).unwrap();
        assert_eq!(s.scored_requests, 2);
        assert!((s.rouge1_f1.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.json_valid_rate, None);
        assert_eq!(AccuracySummary::of([&failed]), None);
    }
}
