//! `report --xlsx`: an Excel workbook (rust_xlsxwriter) with a Summary sheet (one row
//! per run, the flat record's columns, each figure headed by its catalogue label with its
//! unit), a sheet per sweep (one row per point) and a Requests sheet per run (one row per
//! request). Numbers are written as numbers, so a spreadsheet sorts and charts them.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use serde_json::Value;

use super::flat::{self, FlatRun};
use super::load::{LoadedRun, LoadedSweep};
use super::requests;
use crate::metrics::catalogue;

/// What the workbook is built from.
pub struct XlsxInput<'a> {
    /// Oldest first; `flat[i]` is `runs[i]` flattened.
    pub runs: &'a [LoadedRun],
    pub flat: &'a [FlatRun],
    pub sweeps: &'a [LoadedSweep],
}

/// Excel's limit on a sheet name's length.
const SHEET_NAME_CHARS: usize = 31;

/// The heading of a flat-record column: the catalogue's label with its unit ("TTFT p50
/// (ms)") for a figure, the field name for the run's identity.
pub fn heading(column: &str) -> String {
    catalogue::column(column).map_or_else(|| column.to_owned(), |c| c.label())
}

/// A sheet name Excel accepts: no `[]:*?/\`, at most 31 characters, and unique because
/// it starts with the sheet's number.
fn sheet_name(prefix: &str, n: usize, what: &str) -> String {
    let clean: String = what
        .chars()
        .map(|c| if "[]:*?/\\'".contains(c) { '_' } else { c })
        .collect();
    format!("{prefix} {n} {clean}")
        .chars()
        .take(SHEET_NAME_CHARS)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

fn put(ws: &mut Worksheet, row: u32, col: u16, v: &Value) -> Result<(), XlsxError> {
    match v {
        Value::Null => {}
        Value::Bool(b) => {
            ws.write_boolean(row, col, *b)?;
        }
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                ws.write_number(row, col, x)?;
            }
        }
        Value::String(s) => {
            ws.write_string(row, col, s)?;
        }
        other => {
            ws.write_string(row, col, other.to_string())?;
        }
    }
    Ok(())
}

/// Writes a table: a bold header row, frozen, and the rows below it.
fn table(
    ws: &mut Worksheet,
    header: &[String],
    rows: impl IntoIterator<Item = Vec<Value>>,
) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    for (c, h) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, &bold)?;
    }
    for (r, row) in rows.into_iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            put(ws, r as u32 + 1, c as u16, v)?;
        }
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

/// The workbook's bytes.
pub fn render(input: &XlsxInput) -> Result<Vec<u8>, String> {
    build(input).map_err(|e| format!("cannot build the workbook: {e}"))
}

fn build(input: &XlsxInput) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let columns = flat::columns();
    let header: Vec<String> = columns.iter().map(|c| heading(c)).collect();
    let ws = wb.add_worksheet();
    ws.set_name("Summary")?;
    table(
        ws,
        &header,
        input
            .flat
            .iter()
            .map(|r| r.cells().into_iter().map(|(_, v)| v).collect()),
    )?;

    for (i, sweep) in input.sweeps.iter().enumerate() {
        let ws = wb.add_worksheet();
        let name = sweep
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        ws.set_name(sheet_name("Sweep", i + 1, &name))?;
        let mut header = vec![
            "point".to_owned(),
            "concurrency".to_owned(),
            "request rate (req/s)".to_owned(),
        ];
        header.extend(catalogue::columns().iter().map(|c| c.label()));
        let rows = sweep.summary.points.iter().map(|p| {
            let run = input.runs.iter().find(|r| sweep.holds(r, &p.label));
            let mut row = vec![
                Value::String(p.label.clone()),
                p.concurrency.into(),
                p.request_rate.into(),
            ];
            row.extend(catalogue::columns().iter().map(|c| match run {
                Some(run) => c.cell(&run.file.metrics),
                // A point whose run directory is gone keeps the figures the sweep noted.
                None => p.figures.get(c.name()).cloned().unwrap_or(Value::Null),
            }));
            row
        });
        table(ws, &header, rows)?;
    }

    let header: Vec<String> = requests::header().iter().map(|h| h.to_string()).collect();
    for (i, run) in input.runs.iter().enumerate() {
        let ws = wb.add_worksheet();
        ws.set_name(sheet_name("Requests", i + 1, &run.file.run_id))?;
        table(ws, &header, requests::rows(run))?;
    }
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_legal_and_short() {
        let n = sheet_name(
            "Requests",
            12,
            "a/b:c[d]*e?f\\g 20261204-183406-bench-synth",
        );
        assert_eq!(n.chars().count(), SHEET_NAME_CHARS);
        assert!(!n.contains(['/', ':', '[', ']', '*', '?', '\\']), "{n}");
        assert!(n.starts_with("Requests 12 a_b_c"), "{n}");
    }

    #[test]
    fn figures_are_headed_by_label_and_unit() {
        assert_eq!(heading("ttft_p50_ms"), "TTFT p50 (ms)");
        assert_eq!(heading("run_id"), "run_id");
    }
}
