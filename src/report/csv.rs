//! CSV, written one way for every table nativebench writes: RFC 4180 quoting by the
//! `csv` crate (a field is quoted when it holds a comma, a quote or a line break), and
//! text a spreadsheet would run as a formula defused with a leading quote mark.
//!
//! The aggregate CSV ([`render`]) has one row per run and one column per field of the
//! flat record, in its declaration order. Numbers keep full precision so a spreadsheet
//! sees what metrics.json holds.

use std::borrow::Cow;

use super::flat::{self, FlatRun};
use super::load::LoadedRun;
use super::requests;

/// How lines end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    /// RFC 4180's CRLF.
    Crlf,
    /// LF, as llama-bench writes its CSV.
    Lf,
}

/// Renders `runs` as CSV with a header line.
pub fn render(runs: &[FlatRun]) -> String {
    let rows = runs
        .iter()
        .map(|r| r.cells().iter().map(|(_, v)| flat::cell_text(v)).collect());
    write(&flat::columns(), rows, LineEnd::Crlf)
}

/// Writes a header line and `rows` below it.
pub fn write<H: AsRef<str>>(
    header: &[H],
    rows: impl IntoIterator<Item = Vec<String>>,
    end: LineEnd,
) -> String {
    let header: Vec<String> = header.iter().map(|h| h.as_ref().to_owned()).collect();
    let width = header.len();
    write_rows(
        std::iter::once(header).chain(rows.into_iter().inspect(|row| {
            debug_assert_eq!(row.len(), width, "a CSV row of another length");
        })),
        end,
    )
}

/// Writes `rows`, with no header line.
fn write_rows(rows: impl IntoIterator<Item = Vec<String>>, end: LineEnd) -> String {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(match end {
            LineEnd::Crlf => ::csv::Terminator::CRLF,
            LineEnd::Lf => ::csv::Terminator::Any(b'\n'),
        })
        // Rows are built to the header's length; a short one is still written rather than
        // failing a whole report.
        .flexible(true)
        .from_writer(Vec::new());
    // Writing to memory cannot fail.
    let mut put = |fields: &mut dyn Iterator<Item = &str>| {
        for f in fields {
            let _ = w.write_field(defuse(f).as_bytes());
        }
        let _ = w.write_record(None::<&[u8]>);
    };
    for row in rows {
        put(&mut row.iter().map(String::as_str));
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
}

/// The per-request CSV (`report --requests-csv`): one row per request of every run.
pub fn render_requests(runs: &[LoadedRun]) -> String {
    let rows = runs
        .iter()
        .flat_map(|run| requests::rows(run).map(|row| row.iter().map(flat::cell_text).collect()));
    write(&requests::header(), rows, LineEnd::Crlf)
}

/// What appending to an aggregate CSV gives: the whole new file, and how many runs were
/// added and were already there.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub text: String,
    pub added: usize,
    pub present: usize,
}

/// The columns that identify a run in an appended CSV: its id and its start, since run
/// ids are directory names (a sweep point's is its label) and repeat across results.
const KEY: [&str; 2] = ["run_id", "started_at"];

/// Adds to `existing` (an aggregate CSV, empty for a new file) the runs it does not hold
/// yet, by run id and start time. The header is written once and never changes: a file
/// with another header is refused, naming the columns that differ.
pub fn append(existing: &str, runs: &[FlatRun]) -> Result<Appended, String> {
    let columns = flat::columns();
    let keys = KEY.map(|k| columns.iter().position(|c| c == k).unwrap_or(0));
    let key_of = |cells: &[String]| keys.map(|i| cells.get(i).cloned().unwrap_or_default());
    let mut present = std::collections::HashSet::new();
    if !existing.trim().is_empty() {
        let mut reader = ::csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(existing.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| format!("cannot read its header: {e}"))?
            .iter()
            .map(str::to_owned)
            .collect();
        if header != columns {
            return Err(header_difference(&header, &columns));
        }
        for record in reader.records() {
            let record = record.map_err(|e| format!("cannot read it: {e}"))?;
            let cells: Vec<String> = record.iter().map(str::to_owned).collect();
            present.insert(key_of(&cells));
        }
    }
    let mut text = if existing.trim().is_empty() {
        write(&columns, std::iter::empty(), LineEnd::Crlf)
    } else {
        let mut t = existing.to_owned();
        if !t.ends_with('\n') {
            t.push_str("\r\n");
        }
        t
    };
    let (mut added, mut already) = (0, 0);
    let mut rows = Vec::new();
    for run in runs {
        let cells: Vec<String> = run
            .cells()
            .iter()
            .map(|(_, v)| defuse(&flat::cell_text(v)).into_owned())
            .collect();
        if present.insert(key_of(&cells)) {
            added += 1;
            rows.push(
                run.cells()
                    .iter()
                    .map(|(_, v)| flat::cell_text(v))
                    .collect(),
            );
        } else {
            already += 1;
        }
    }
    text.push_str(&write_rows(rows, LineEnd::Crlf));
    Ok(Appended {
        text,
        added,
        present: already,
    })
}

/// Says how a CSV's header differs from the columns this build writes.
fn header_difference(found: &[String], expected: &[String]) -> String {
    let missing: Vec<&str> = expected
        .iter()
        .filter(|c| !found.contains(c))
        .map(String::as_str)
        .collect();
    let unexpected: Vec<&str> = found
        .iter()
        .filter(|c| !expected.contains(c))
        .map(String::as_str)
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("it lacks {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        parts.push(format!(
            "it has {} that this build does not write",
            unexpected.join(", ")
        ));
    }
    if parts.is_empty() {
        parts.push("its columns are in another order".into());
    }
    format!(
        "its header differs from this build's ({}); append to a new file",
        parts.join("; ")
    )
}

/// A leading `=`, `+`, `-` or `@` in text would run as a formula in a spreadsheet, so
/// such text (never a number) is prefixed with a quote mark.
fn defuse(s: &str) -> Cow<'_, str> {
    let formula =
        s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err());
    if formula {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let row = [
            "plain",
            "a,b",
            "say \"hi\"",
            "=cmd()",
            "-1.5",
            "two\r\nlines",
            "",
        ];
        let out = write(
            &["h1", "h2", "h3", "h4", "h5", "h6", "h7"],
            [row.map(String::from).to_vec()],
            LineEnd::Crlf,
        );
        assert_eq!(
            out,
            "h1,h2,h3,h4,h5,h6,h7\r\n\
             plain,\"a,b\",\"say \"\"hi\"\"\",'=cmd(),-1.5,\"two\r\nlines\",\r\n"
        );
        let out = write(&["a", "b"], [vec!["1".into(), "x\ny".into()]], LineEnd::Lf);
        assert_eq!(out, "a,b\n1,\"x\ny\"\n");
    }
}
