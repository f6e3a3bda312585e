//! The aggregate CSV: one row per run, one column per field of the flat record, in its
//! declaration order (RFC 4180 quoting). Numbers keep full precision so a spreadsheet
//! sees what metrics.json holds.

use super::flat::{self, FlatRun};

/// Renders `runs` as CSV with a header line.
pub fn render(runs: &[FlatRun]) -> String {
    let mut out = line(flat::columns().iter().map(String::as_str));
    for r in runs {
        let cells = r.cells();
        let texts: Vec<String> = cells.iter().map(|(_, v)| flat::cell_text(v)).collect();
        out.push_str(&line(texts.iter().map(String::as_str)));
    }
    out
}

fn line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let mut s = cells.map(quote).collect::<Vec<_>>().join(",");
    s.push_str("\r\n");
    s
}

/// Quotes a field when it holds a comma, a quote or a line break. A leading `=`, `+`,
/// `-` or `@` in text would run as a formula in a spreadsheet, so such text (never a
/// number) is prefixed with a quote mark.
fn quote(s: &str) -> String {
    let formula =
        s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err());
    let s = if formula {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("=cmd()"), "'=cmd()");
        assert_eq!(quote("-1.5"), "-1.5");
    }
}
