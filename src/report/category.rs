//! The per-category table (`metrics.json` `by_category`) for Markdown and HTML: a row per
//! run and category, so a workload of mixed tasks shows which kind is slow or inaccurate.

use crate::metrics::category::CategoryStats;
use crate::metrics::Summary;

use super::flat::{human, FlatRun};

/// The columns, with their units in the names as elsewhere.
pub const COLUMNS: &[&str] = &[
    "run_id",
    "category",
    "requests",
    "failed",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "tpot_p50_ms",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "output_tok_s",
    "output_tokens_per_request",
    "rougel_f1",
    "field_exact_match",
];

/// The rows: one per run and category, in the runs' order; empty when no run has
/// categories. Absent figures are `None`.
pub fn rows(runs: &[&FlatRun]) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    for r in runs {
        for (name, c) in &r.metrics.by_category {
            out.push(row(&r.run_id, name, c));
        }
    }
    out
}

fn row(run_id: &str, name: &str, c: &CategoryStats) -> Vec<Option<String>> {
    let stat = |s: &Option<Summary>, f: fn(&Summary) -> f64| s.as_ref().map(|s| human(f(s)));
    let acc = c.accuracy.as_ref();
    vec![
        Some(run_id.to_owned()),
        Some(name.to_owned()),
        Some(c.requests.to_string()),
        Some(c.failed.to_string()),
        stat(&c.ttft_ms, |s| s.p50),
        stat(&c.ttft_ms, |s| s.p99),
        stat(&c.tpot_ms, |s| s.p50),
        stat(&c.e2e_ms, |s| s.p50),
        stat(&c.e2e_ms, |s| s.p99),
        c.output_tok_s.map(human),
        c.output_tokens_per_request.map(human),
        acc.and_then(|a| a.rougel_f1).map(human),
        acc.and_then(|a| a.field_exact_match).map(human),
    ]
}

/// Whether a column holds text (left-aligned).
pub fn is_text(column: &str) -> bool {
    matches!(column, "run_id" | "category")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{RequestRecord, RunMetrics};
    use crate::report::load::LoadedRun;

    #[test]
    fn a_row_per_run_and_category() {
        let records: Vec<RequestRecord> = ["chat", "coding", "chat"]
            .iter()
            .enumerate()
            .map(|(i, c)| RequestRecord {
                request_id: i as u64,
                ok: true,
                category: Some((*c).into()),
                output_tokens: 10,
                e2e_ms: 100.0,
                ttft_ms: Some(4.0 + i as f64),
                ..RequestRecord::default()
            })
            .collect();
        let mut run = LoadedRun::placeholder();
        run.file.run_id = "r1".into();
        run.file.metrics = RunMetrics::compute(&records, true, None);
        let flat = FlatRun::of(&run);
        let rows = rows(&[&flat]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].len(), COLUMNS.len());
        // chat: TTFT 4 and 6 ms, p50 5; 20 tokens over 0.2 s.
        assert_eq!(rows[0][1].as_deref(), Some("chat"));
        assert_eq!(rows[0][4].as_deref(), Some("5.00"));
        assert_eq!(rows[0][9].as_deref(), Some("100.0"));
        assert_eq!(rows[1][2].as_deref(), Some("1"));
        assert_eq!(rows[0][11], None, "no reference, no ROUGE");
    }
}
