//! Markdown for pull requests: the latest runs, their derived normalisations and phase
//! means, as GitHub tables over named views of the flat record, then every figure of the
//! metric catalogue, folded. Cells are escaped so a model name or warning can neither
//! break a table nor inject HTML.

use std::fmt::Write;

use super::bench;
use super::category;
use super::flat::{self, FlatRun, DERIVED, HEADLINE};
use super::history;
use super::load::LoadedBench;
use crate::metrics::catalogue;

/// Phase means, the text twin of the HTML's stacked bars.
const PHASES: &[&str] = &[
    "run_id",
    "engine",
    "template_mean_ms",
    "tokenize_mean_ms",
    "prefill_mean_ms",
    "decode_step_mean_ms",
    "detokenize_mean_ms",
    "ttft_mean_ms",
    "e2e_mean_ms",
];

/// What the Markdown report says about the runs it was given.
pub struct MarkdownInput<'a> {
    pub runs: &'a [FlatRun],
    /// `bench` runs, each shown as llama-bench's table.
    pub benches: &'a [LoadedBench],
    /// Skipped runs and other caveats, one line each.
    pub notes: &'a [String],
}

/// Renders the latest run of each series (newest first), then every bench run.
pub fn render(input: &MarkdownInput) -> String {
    let mut s = if input.runs.is_empty() {
        String::new()
    } else {
        runs(input)
    };
    for b in input.benches {
        let _ = writeln!(
            s,
            "\n### nativebench bench: {}\n",
            cell(&b.dir.display().to_string())
        );
        s.push_str(&bench::markdown(&b.records));
    }
    if input.runs.is_empty() {
        notes(&mut s, &[], input.notes);
    }
    s
}

fn runs(input: &MarkdownInput) -> String {
    let latest: Vec<&FlatRun> = history::latest(input.runs)
        .into_iter()
        .map(|i| &input.runs[i])
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### nativebench: latest runs ({} of {} runs)\n",
        latest.len(),
        input.runs.len()
    );
    s.push_str(&table(&latest, HEADLINE));
    let _ = writeln!(s, "\n#### Derived: tokens/s, ms/token, tokens/request\n");
    s.push_str(&table(&latest, DERIVED));
    let _ = writeln!(s, "\n#### Phases (mean ms per request)\n");
    s.push_str(&table(&latest, PHASES));
    let by_category = category::rows(&latest);
    if !by_category.is_empty() {
        let _ = writeln!(s, "\n#### By category\n");
        s.push_str(&category_table(&by_category));
    }
    let _ = writeln!(
        s,
        "\n<details><summary>All metrics ({} columns)</summary>\n",
        catalogue::columns().len()
    );
    s.push_str(&all_metrics(&latest));
    s.push_str("\n</details>\n");
    let warned: Vec<&FlatRun> = latest
        .iter()
        .copied()
        .filter(|r| !r.warnings.is_empty())
        .collect();
    notes(&mut s, &warned, input.notes);
    s
}

/// The runs' warnings and the report's notes, as a list.
fn notes(s: &mut String, warned: &[&FlatRun], notes: &[String]) {
    if !warned.is_empty() || !notes.is_empty() {
        s.push('\n');
    }
    for r in warned {
        let _ = writeln!(s, "- warning ({}): {}", cell(&r.run_id), cell(&r.warnings));
    }
    for n in notes {
        let _ = writeln!(s, "- {}", cell(n));
    }
}

/// A GitHub table of `columns` over `runs`.
pub fn table(runs: &[&FlatRun], columns: &[&str]) -> String {
    let mut s = format!("| {} |\n", columns.join(" | "));
    let align: Vec<&str> = columns
        .iter()
        .map(|c| if is_text(c) { "---" } else { "---:" })
        .collect();
    let _ = writeln!(s, "| {} |", align.join(" | "));
    for r in runs {
        let cells: Vec<String> = r
            .pick(columns)
            .iter()
            .map(|v| cell(&flat::cell_display(v)))
            .collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    s
}

/// The per-category rows as a GitHub table.
fn category_table(rows: &[Vec<Option<String>>]) -> String {
    let cols = category::COLUMNS;
    let mut s = format!("| {} |\n", cols.join(" | "));
    let align: Vec<&str> = cols
        .iter()
        .map(|c| if category::is_text(c) { "---" } else { "---:" })
        .collect();
    let _ = writeln!(s, "| {} |", align.join(" | "));
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .map(|v| cell(v.as_deref().unwrap_or("–")))
            .collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    s
}

/// Every column of the metric catalogue, one row each, with a column per run.
fn all_metrics(runs: &[&FlatRun]) -> String {
    let mut s = String::from("| metric | unit | better |");
    for r in runs {
        let _ = write!(s, " {} |", cell(&r.run_id));
    }
    s.push_str("\n| --- | --- | --- |");
    s.push_str(&" ---: |".repeat(runs.len()));
    s.push('\n');
    for c in catalogue::columns() {
        let m = c.metric;
        let _ = write!(
            s,
            "| {} | {} | {} |",
            c.name(),
            m.unit.text(),
            m.better.text()
        );
        for r in runs {
            let _ = write!(s, " {} |", cell(&flat::cell_display(&c.cell(&r.metrics))));
        }
        s.push('\n');
    }
    s
}

fn is_text(col: &str) -> bool {
    matches!(
        col,
        "engine" | "model" | "workload" | "device" | "git_sha" | "run_id" | "started_at"
    )
}

/// Escapes a cell: pipes and line breaks would end it, `<` and `&` would be HTML.
pub fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_tables_or_inject_html() {
        assert_eq!(cell("a|b\n<script>"), "a\\|b &lt;script&gt;");
    }

    #[test]
    fn phase_view_names_real_columns() {
        let cols = flat::columns();
        for name in PHASES {
            assert!(cols.iter().any(|c| c == name), "{name}");
        }
    }
}
