//! CSV, written one way for every table nativebench writes: RFC 4180 quoting by the
//! `csv` crate (a field is quoted when it holds a comma, a quote or a line break), and
//! text a spreadsheet would run as a formula defused with a leading quote mark.
//!
//! The aggregate CSV ([`render`]) has one row per run and one column per field of the
//! flat record, in its declaration order. Numbers keep full precision so a spreadsheet
//! sees what metrics.json holds.

use std::borrow::Cow;

use super::flat::{self, FlatRun};

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
    put(&mut header.iter().map(AsRef::as_ref));
    for row in rows {
        debug_assert_eq!(row.len(), header.len(), "a CSV row of another length");
        put(&mut row.iter().map(String::as_str));
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
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
