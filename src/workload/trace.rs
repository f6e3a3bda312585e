//! Trace replay: arrival times and input/output lengths from a published request trace,
//! so a run offers the load a production service saw. Three formats, read by their
//! published column definitions:
//!
//! - `mooncake`: Mooncake's JSONL traces, one `{"timestamp", "input_length",
//!   "output_length", "hash_ids"}` per line; `timestamp` in ms from the trace's start,
//!   `hash_ids` one id per 512-token block of the prompt, equal ids meaning equal blocks.
//! - `burstgpt`: BurstGPT's CSV, `Timestamp,Model,Request tokens,Response tokens,Total
//!   tokens,Log Type`, `Timestamp` in seconds from the trace's start.
//! - `azure`: Azure's LLM inference trace CSV, `TIMESTAMP,ContextTokens,GeneratedTokens`,
//!   `TIMESTAMP` a date and time (`2023-11-16 18:15:46.6805900`).
//!
//! Bad input (unsorted or negative times, unknown columns, missing fields) is one error
//! naming the file and the line.

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// Tokens per Mooncake `hash_ids` block.
pub const BLOCK_TOKENS: usize = 512;

/// A trace's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceFormat {
    Mooncake,
    Burstgpt,
    Azure,
}

impl TraceFormat {
    /// The names `--trace-format` takes.
    pub const NAMES: [&'static str; 3] = ["mooncake", "burstgpt", "azure"];

    pub fn parse(name: &str) -> Option<TraceFormat> {
        match name {
            "mooncake" => Some(TraceFormat::Mooncake),
            "burstgpt" => Some(TraceFormat::Burstgpt),
            "azure" => Some(TraceFormat::Azure),
            _ => None,
        }
    }

    /// The format a file's first line shows: a JSON object is Mooncake's, a CSV header
    /// names BurstGPT's or Azure's columns.
    fn detect(first_line: &str) -> Option<TraceFormat> {
        let l = first_line.trim_start_matches('\u{feff}').trim();
        if l.starts_with('{') {
            Some(TraceFormat::Mooncake)
        } else if l.starts_with("TIMESTAMP") {
            Some(TraceFormat::Azure)
        } else if l.starts_with("Timestamp") {
            Some(TraceFormat::Burstgpt)
        } else {
            None
        }
    }
}

/// One request of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceEntry {
    /// Arrival, ms from the start of the replay (after the window and the speedup).
    pub at_ms: f64,
    pub input_len: usize,
    pub output_len: usize,
    /// Mooncake's prompt blocks: equal ids are equal [`BLOCK_TOKENS`]-token blocks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hash_ids: Vec<u64>,
}

/// How a trace is replayed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceOptions {
    pub format: Option<TraceFormat>,
    /// Arrival times are divided by this (2 replays twice as fast).
    pub speedup: f64,
    /// Only the requests arriving in `[start, end)` seconds of the trace, replayed from
    /// `start`.
    pub window: Option<(f64, f64)>,
}

/// Reads a trace and selects its window, times from the window's start over the speedup.
pub fn load(path: &Path, opts: &TraceOptions) -> Result<Vec<TraceEntry>> {
    let origin = format!("trace {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let format = opts
        .format
        .or_else(|| TraceFormat::detect(first))
        .ok_or_else(|| {
            Error::workload(
                &origin,
                "line 1: not a Mooncake JSONL, BurstGPT or Azure CSV trace (give --trace-format)",
            )
        })?;
    let entries = parse(&text, format).map_err(|m| Error::workload(&origin, m))?;
    let (start_s, end_s) = opts.window.unwrap_or((0.0, f64::INFINITY));
    let picked: Vec<TraceEntry> = entries
        .into_iter()
        .filter(|e| e.at_ms >= start_s * 1e3 && e.at_ms < end_s * 1e3)
        .map(|e| TraceEntry {
            at_ms: (e.at_ms - start_s * 1e3) / opts.speedup,
            ..e
        })
        .collect();
    if picked.is_empty() {
        return Err(Error::workload(
            origin,
            "no request of the trace arrives in --trace-window",
        ));
    }
    Ok(picked)
}

/// Parses a whole trace in `format`; times are ms from the first request for Azure's
/// dates, and as written for the others. The error names the line.
pub fn parse(text: &str, format: TraceFormat) -> std::result::Result<Vec<TraceEntry>, String> {
    let entries = match format {
        TraceFormat::Mooncake => mooncake(text)?,
        TraceFormat::Burstgpt | TraceFormat::Azure => csv_trace(text, format)?,
    };
    if entries.is_empty() {
        return Err("the trace holds no request".into());
    }
    Ok(entries)
}

/// Checks a time against the one before it: negative or earlier is an error.
fn ordered(line: usize, at_ms: f64, prev: Option<f64>) -> std::result::Result<f64, String> {
    if !at_ms.is_finite() || at_ms < 0.0 {
        return Err(format!("line {line}: negative or invalid timestamp"));
    }
    if let Some(p) = prev.filter(|&p| at_ms < p) {
        return Err(format!(
            "line {line}: timestamp {at_ms} ms is before the previous line's {p} ms (the trace must be sorted by time)"
        ));
    }
    Ok(at_ms)
}

/// A token count from a trace: a whole number of at most 2^24.
fn tokens(line: usize, name: &str, v: f64) -> std::result::Result<usize, String> {
    if v.fract() != 0.0 || !(0.0..=crate::limits::PREFIX_TOKENS.hi as f64).contains(&v) {
        return Err(format!(
            "line {line}: {name} {v} is not a token count from 0 to {}",
            crate::limits::PREFIX_TOKENS.hi
        ));
    }
    Ok(v as usize)
}

fn mooncake(text: &str) -> std::result::Result<Vec<TraceEntry>, String> {
    const KEYS: [&str; 4] = ["timestamp", "input_length", "output_length", "hash_ids"];
    let mut out = Vec::new();
    let mut prev = None;
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(l).map_err(|e| format!("line {line}: not JSON: {e}"))?;
        let obj = v
            .as_object()
            .ok_or_else(|| format!("line {line}: not a JSON object"))?;
        if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "line {line}: unknown column `{k}` (Mooncake's are {})",
                KEYS.join(", ")
            ));
        }
        let num = |k: &str| {
            obj.get(k)
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| format!("line {line}: `{k}` is missing or not a number"))
        };
        let at_ms = ordered(line, num("timestamp")?, prev)?;
        prev = Some(at_ms);
        let hash_ids = match obj.get("hash_ids") {
            None => Vec::new(),
            Some(h) => h
                .as_array()
                .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect())
                .ok_or_else(|| format!("line {line}: `hash_ids` is not a list of block ids"))?,
        };
        let input_len = tokens(line, "input_length", num("input_length")?)?;
        if hash_ids.len() > input_len.div_ceil(BLOCK_TOKENS) {
            return Err(format!(
                "line {line}: {} hash_ids are more blocks of {BLOCK_TOKENS} tokens than input_length {input_len} holds",
                hash_ids.len()
            ));
        }
        out.push(TraceEntry {
            at_ms,
            input_len,
            output_len: tokens(line, "output_length", num("output_length")?)?,
            hash_ids,
        });
    }
    Ok(out)
}

fn csv_trace(text: &str, format: TraceFormat) -> std::result::Result<Vec<TraceEntry>, String> {
    let (columns, time, input, output): (&[&str], _, _, _) = match format {
        TraceFormat::Burstgpt => (
            &[
                "Timestamp",
                "Model",
                "Request tokens",
                "Response tokens",
                "Total tokens",
                "Log Type",
            ],
            "Timestamp",
            "Request tokens",
            "Response tokens",
        ),
        _ => (
            &["TIMESTAMP", "ContextTokens", "GeneratedTokens"],
            "TIMESTAMP",
            "ContextTokens",
            "GeneratedTokens",
        ),
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header = reader
        .headers()
        .map_err(|e| format!("line 1: not a CSV header: {e}"))?
        .clone();
    if let Some(h) = header.iter().find(|h| !columns.contains(h)) {
        return Err(format!(
            "line 1: unknown column `{h}` (the {} trace's are {})",
            if format == TraceFormat::Azure {
                "Azure"
            } else {
                "BurstGPT"
            },
            columns.join(", ")
        ));
    }
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("line 1: the column `{name}` is missing"))
    };
    let (t, n_in, n_out) = (col(time)?, col(input)?, col(output)?);
    let mut out = Vec::new();
    let (mut prev, mut origin) = (None, None);
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("line {line}: {e}")
        })?;
        let line = row.position().map_or(0, |p| p.line()) as usize;
        let field = |i: usize| row.get(i).unwrap_or("");
        let number = |i: usize, name: &str| {
            field(i)
                .parse::<f64>()
                .map_err(|_| format!("line {line}: {name} `{}` is not a number", field(i)))
        };
        let at_ms = match format {
            TraceFormat::Azure => {
                let at = chrono::NaiveDateTime::parse_from_str(field(t), "%Y-%m-%d %H:%M:%S%.f")
                    .map_err(|_| {
                        format!(
                            "line {line}: TIMESTAMP `{}` is not a date and time like 2023-11-16 18:15:46.6805900",
                            field(t)
                        )
                    })?;
                let first = *origin.get_or_insert(at);
                (at - first)
                    .num_microseconds()
                    .map_or(f64::NAN, |us| us as f64 / 1e3)
            }
            _ => number(t, time)? * 1e3,
        };
        let at_ms = ordered(line, at_ms, prev)?;
        prev = Some(at_ms);
        out.push(TraceEntry {
            at_ms,
            input_len: tokens(line, input, number(n_in, input)?)?,
            output_len: tokens(line, output, number(n_out, output)?)?,
            hash_ids: Vec::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_reads_its_published_columns() {
        let m = parse(
            "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 4, \"hash_ids\": [0, 1]}\n\
             {\"timestamp\": 27, \"input_length\": 1100, \"output_length\": 8, \"hash_ids\": [0, 1, 2]}\n",
            TraceFormat::Mooncake,
        )
        .unwrap();
        assert_eq!(m[1].at_ms, 27.0);
        assert_eq!((m[1].input_len, m[1].output_len), (1100, 8));
        assert_eq!(m[1].hash_ids, vec![0, 1, 2]);
        let b = parse(
            "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
             5.5,ChatGPT,472,18,490,Conversation log\n6.25,GPT-4,1087,0,1087,API log\n",
            TraceFormat::Burstgpt,
        )
        .unwrap();
        assert_eq!(b[0].at_ms, 5500.0);
        assert_eq!((b[1].input_len, b[1].output_len), (1087, 0));
        let a = parse(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n\
             2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47.0005900,396,109\n",
            TraceFormat::Azure,
        )
        .unwrap();
        assert_eq!(a[0].at_ms, 0.0);
        assert!((a[1].at_ms - 320.0).abs() < 1e-9, "{}", a[1].at_ms);
        assert_eq!(a[1].input_len, 396);
    }

    #[test]
    fn bad_traces_name_the_line() {
        let err = |text: &str, f| parse(text, f).unwrap_err();
        let e = err(
            "{\"timestamp\": 5, \"input_length\": 1, \"output_length\": 1}\n\
             {\"timestamp\": 4, \"input_length\": 1, \"output_length\": 1}\n",
            TraceFormat::Mooncake,
        );
        assert!(e.starts_with("line 2:") && e.contains("sorted"), "{e}");
        let e = err(
            "{\"timestamp\": -1, \"input_length\": 1, \"output_length\": 1}\n",
            TraceFormat::Mooncake,
        );
        assert!(e.starts_with("line 1:") && e.contains("negative"), "{e}");
        let e = err(
            "{\"timestamp\": 1, \"input_len\": 1, \"output_length\": 1}\n",
            TraceFormat::Mooncake,
        );
        assert!(e.contains("unknown column `input_len`"), "{e}");
        let e = err(
            "TIMESTAMP,ContextTokens,GeneratedTokens,Extra\n",
            TraceFormat::Azure,
        );
        assert!(e.starts_with("line 1: unknown column `Extra`"), "{e}");
        let e = err(
            "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
             1,m,1,1,2,x\n0.5,m,1,1,2,x\n",
            TraceFormat::Burstgpt,
        );
        assert!(e.starts_with("line 3:") && e.contains("sorted"), "{e}");
        let e = err(
            "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,1\n",
            TraceFormat::Azure,
        );
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
