//! Output of `nativebench bench`, in llama-bench's formats and column names: a Markdown
//! table, CSV, a JSON array, and JSON lines.

use std::fmt::Write;

use crate::runner::bench::BenchRecord;

/// llama-bench's default logical and physical batch sizes: columns for them appear only
/// when a run uses other values, as in llama-bench.
const DEFAULT_BATCH: u32 = 2048;
const DEFAULT_UBATCH: u32 = 512;

fn size(bytes: Option<u64>) -> String {
    match bytes {
        None => "-".into(),
        Some(b) if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        Some(b) => format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64),
    }
}

fn params(n: Option<u64>) -> String {
    match n {
        None => "-".into(),
        Some(n) if n >= 1_000_000_000 => format!("{:.2} B", n as f64 / 1e9),
        Some(n) => format!("{:.2} M", n as f64 / 1e6),
    }
}

fn rate(avg: f64, std: f64) -> String {
    format!("{avg:.2} ± {std:.2}")
}

/// A column read from a record; empty where the record has no value.
type Column = fn(&BenchRecord) -> Option<String>;

/// The Markdown table. `pp+tg` tests get `pp t/s` and `tg t/s` columns beside the
/// combined rate.
pub fn markdown(records: &[BenchRecord]) -> String {
    let batches = records.iter().any(|r| r.n_batch != DEFAULT_BATCH);
    let ubatches = records.iter().any(|r| r.n_ubatch != DEFAULT_UBATCH);
    let split = records.iter().any(|r| r.pp_avg_ts.is_some());
    // llama-bench's columns that appear only when some test leaves the default.
    let unusual = |f: Column, default: &str| {
        records
            .iter()
            .any(|r| f(r).is_some_and(|v| v != default))
            .then_some(f)
    };
    let extra: Vec<(&str, Column)> = [
        ("type_k", unusual(|r| r.type_k.clone(), "f16")),
        ("type_v", unusual(|r| r.type_v.clone(), "f16")),
        ("poll", unusual(|r| r.poll.map(|p| p.to_string()), "50")),
    ]
    .into_iter()
    .filter_map(|(name, f)| f.map(|f| (name, f)))
    .collect();
    let mut cols: Vec<(&str, bool)> = vec![
        ("engine", false),
        ("model", false),
        ("size", true),
        ("params", true),
        ("backend", false),
        ("threads", true),
    ];
    if batches {
        cols.push(("n_batch", true));
    }
    if ubatches {
        cols.push(("n_ubatch", true));
    }
    for (name, _) in &extra {
        cols.push((name, true));
    }
    cols.push(("test", true));
    cols.push(("t/s", true));
    if split {
        cols.push(("pp t/s", true));
        cols.push(("tg t/s", true));
    }
    let mbu = records.iter().any(|r| r.mbu.is_some());
    if mbu {
        cols.push(("mbu", true));
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let mut row = vec![
                r.engine.clone(),
                r.model.model_type.clone(),
                size(r.model.model_size),
                params(r.model.model_n_params),
                r.backend.clone(),
                r.n_threads.to_string(),
            ];
            if batches {
                row.push(r.n_batch.to_string());
            }
            if ubatches {
                row.push(r.n_ubatch.to_string());
            }
            for (_, f) in &extra {
                row.push(f(r).unwrap_or_default());
            }
            row.push(r.test.clone());
            row.push(rate(r.rate.avg_ts, r.rate.stddev_ts));
            if split {
                let part = |a: Option<f64>, s: Option<f64>| {
                    a.zip(s).map_or(String::new(), |(a, s)| rate(a, s))
                };
                row.push(part(r.pp_avg_ts, r.pp_stddev_ts));
                row.push(part(r.tg_avg_ts, r.tg_stddev_ts));
            }
            if mbu {
                row.push(r.mbu.map_or(String::new(), |v| format!("{v:.3}")));
            }
            row
        })
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.len(), 3])
                .max()
                .unwrap_or(3)
        })
        .collect();
    let mut s = String::new();
    let line = |s: &mut String, cells: Vec<String>| {
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    };
    line(
        &mut s,
        cols.iter()
            .zip(&widths)
            .map(|((h, right), w)| {
                if *right {
                    format!("{h:>w$}")
                } else {
                    format!("{h:<w$}")
                }
            })
            .collect(),
    );
    line(
        &mut s,
        cols.iter()
            .zip(&widths)
            .map(|((_, right), w)| {
                if *right {
                    format!("{}:", "-".repeat(w - 1))
                } else {
                    "-".repeat(*w)
                }
            })
            .collect(),
    );
    for row in rows {
        line(
            &mut s,
            row.iter()
                .zip(cols.iter().zip(&widths))
                .map(|(c, ((_, right), w))| {
                    if *right {
                        format!("{c:>w$}")
                    } else {
                        format!("{c:<w$}")
                    }
                })
                .collect(),
        );
    }
    s
}

/// The record's fields in declaration order, as JSON values.
fn fields(r: &BenchRecord) -> Vec<(String, serde_json::Value)> {
    match serde_json::to_value(r) {
        Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
        _ => Vec::new(),
    }
}

/// A CSV cell: empty for null, sample lists space-separated.
fn csv_cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// CSV with a header of the record's field names (those of every record, in the order
/// first seen: optional fields appear when any record has them); sample lists are
/// space-separated. Lines end in LF, as llama-bench's do.
pub fn csv(records: &[BenchRecord]) -> String {
    if records.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<(String, serde_json::Value)>> = records.iter().map(fields).collect();
    let mut header: Vec<&str> = Vec::new();
    for (k, _) in rows.iter().flatten() {
        if !header.contains(&k.as_str()) {
            header.push(k);
        }
    }
    let cells = rows.iter().map(|r| {
        header
            .iter()
            .map(|h| {
                r.iter()
                    .find(|(k, _)| k == h)
                    .map_or(String::new(), |(_, v)| csv_cell(v))
            })
            .collect()
    });
    super::csv::write(&header, cells, super::csv::LineEnd::Lf)
}

/// A JSON array of records.
pub fn json(records: &[BenchRecord]) -> String {
    serde_json::to_string_pretty(records).unwrap_or_default() + "\n"
}

/// One JSON record per line.
pub fn jsonl(records: &[BenchRecord]) -> String {
    records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
        .collect()
}
