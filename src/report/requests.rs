//! The per-request table: one row per measured request of every run, the scalar fields of
//! `samples.jsonl` with the run they belong to in front. `report --requests-csv` writes it
//! as CSV and `report --xlsx` as a Requests sheet per run, from the same columns.

use serde_json::Value;

use super::load::LoadedRun;
use crate::metrics::RequestRecord;

/// A column: its name (the samples.jsonl field, or a figure derived from one) and how it
/// is read from a record. Units are in the names.
type Column = (&'static str, fn(&RequestRecord) -> Value);

fn num(v: Option<f64>) -> Value {
    v.and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn text(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

/// The run's identity, in front of every request's columns.
pub const RUN_COLUMNS: &[&str] = &["run_id", "started_at", "engine", "model", "workload"];

/// The request's own columns, in order.
pub const COLUMNS: &[Column] = &[
    ("request_id", |r| r.request_id.into()),
    ("repetition", |r| r.repetition.into()),
    ("ok", |r| r.ok.into()),
    ("error_kind", |r| text(r.error_kind.as_deref())),
    ("error", |r| text(r.error.as_deref())),
    ("finish_reason", |r| {
        r.finish_reason
            .and_then(|f| serde_json::to_value(f).ok())
            .unwrap_or(Value::Null)
    }),
    ("prompt_tokens", |r| {
        r.prompt_tokens.map_or(Value::Null, Value::from)
    }),
    ("output_tokens", |r| r.output_tokens.into()),
    ("reasoning_tokens", |r| {
        r.reasoning_tokens.map_or(Value::Null, Value::from)
    }),
    ("max_tokens", |r| r.max_tokens.into()),
    ("start_ms", |r| num(Some(r.start_ms))),
    ("send_ms", |r| num(r.send_ms)),
    ("template_ms", |r| num(r.template_ms)),
    ("tokenize_ms", |r| num(r.tokenize_ms)),
    ("prefill_ms", |r| num(r.prefill_ms)),
    ("ttft_ms", |r| num(r.ttft_ms)),
    ("tpot_ms", |r| num(r.tpot_ms)),
    ("itl_mean_ms", |r| {
        let gaps: Vec<f64> = r.gaps_ms().collect();
        num((!gaps.is_empty()).then(|| gaps.iter().sum::<f64>() / gaps.len() as f64))
    }),
    ("itl_max_ms", |r| num(r.gaps_ms().reduce(f64::max))),
    ("decode_ms", |r| num(r.decode_ms)),
    ("detokenize_ms", |r| num(r.detokenize_ms)),
    ("e2e_ms", |r| num(Some(r.e2e_ms))),
    ("prefill_tok_s", |r| num(r.prefill_tok_s)),
    ("decode_tok_s", |r| num(r.decode_tok_s)),
    ("category", |r| text(r.category.as_deref())),
    ("rouge1_f1", |r| num(r.rouge1_f1)),
    ("rouge2_f1", |r| num(r.rouge2_f1)),
    ("rougel_f1", |r| num(r.rougel_f1)),
    ("json_valid", |r| {
        r.json_valid.map_or(Value::Null, Value::from)
    }),
    ("schema_valid", |r| {
        r.schema_valid.map_or(Value::Null, Value::from)
    }),
    ("field_exact_match", |r| num(r.field_exact_match)),
    ("cost_usd", |r| num(r.cost_usd)),
];

/// The header: the run's columns, then the request's.
pub fn header() -> Vec<&'static str> {
    RUN_COLUMNS
        .iter()
        .copied()
        .chain(COLUMNS.iter().map(|(name, _)| *name))
        .collect()
}

/// One row per request of `run`, in the header's order.
pub fn rows(run: &LoadedRun) -> impl Iterator<Item = Vec<Value>> + '_ {
    let f = &run.file;
    let identity: Vec<Value> = [&f.run_id, &f.started_at, &f.engine, &f.model, &f.workload]
        .map(|s| Value::String(s.clone()))
        .to_vec();
    run.records.iter().map(move |r| {
        identity
            .iter()
            .cloned()
            .chain(COLUMNS.iter().map(|(_, read)| read(r)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_every_column_of_its_record() {
        let mut run = LoadedRun::placeholder();
        run.file.run_id = "r1".into();
        run.records = vec![RequestRecord {
            request_id: 7,
            ok: true,
            output_tokens: 3,
            ttft_ms: Some(2.5),
            e2e_ms: 9.0,
            token_ms: vec![2.5, 4.5, 8.5],
            ..RequestRecord::default()
        }];
        let rows: Vec<_> = rows(&run).collect();
        assert_eq!(rows.len(), 1);
        let header = header();
        assert_eq!(rows[0].len(), header.len());
        let at = |name: &str| &rows[0][header.iter().position(|h| *h == name).unwrap()];
        assert_eq!(at("run_id"), "r1");
        assert_eq!(at("request_id"), 7);
        assert_eq!(at("ttft_ms"), 2.5);
        assert_eq!(at("itl_mean_ms"), 3.0);
        assert_eq!(at("itl_max_ms"), 4.0);
        assert_eq!(at("tpot_ms"), &Value::Null);
    }
}
