//! Reporting: the run directory and the formats results are written in. Each format is
//! its own small module that turns results into bytes.

pub mod bench;
pub mod category;
pub mod compare;
pub mod cpu;
pub mod csv;
pub mod decomposition;
pub mod flat;
pub mod history;
pub mod html;
pub mod limit_plots;
pub mod load;
pub mod markdown;
pub mod merge;
pub mod noise;
pub mod plots;
pub mod preprocess;
pub mod requests;
pub mod resource_plots;
pub mod run_dir;
pub mod sagellm;
pub mod summary;
pub mod svg;
pub mod sweep;
pub mod vllm;
pub mod xlsx;

pub use run_dir::{Manifest, MetricsFile, RunDir};

/// The metric catalogue reaches every format: each of its columns is in the CSV header,
/// the Markdown and HTML "all metrics" tables and `report --compare`, and every view that
/// names columns names real ones.
#[cfg(test)]
mod catalogue_tests {
    use super::flat::{self, FlatRun};
    use super::load::LoadedRun;
    use super::{compare, csv, html, markdown, plots, summary, sweep};
    use crate::metrics::catalogue::{self, Better, CATALOGUE};
    use crate::metrics::{RequestRecord, RunMetrics};

    /// A run of four three-token requests.
    fn sample_run() -> LoadedRun {
        let records: Vec<RequestRecord> = (0..4)
            .map(|i| RequestRecord {
                request_id: i,
                ok: true,
                prompt_tokens: Some(8),
                output_tokens: 3,
                start_ms: i as f64 * 10.0,
                ttft_ms: Some(2.0 + i as f64),
                tpot_ms: Some(1.0),
                e2e_ms: 5.0 + i as f64,
                token_ms: vec![2.0, 3.0, 4.0],
                ..RequestRecord::default()
            })
            .collect();
        let mut run = LoadedRun::placeholder();
        run.file.run_id = "sample".into();
        run.file.engine = "sim".into();
        run.file.metrics = RunMetrics::compute(&records, true, None);
        run.records = records;
        run
    }

    #[test]
    fn every_catalogue_column_reaches_every_format() {
        let run = sample_run();
        let flat = [FlatRun::of(&run)];
        let csv = csv::render(&flat);
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let md = markdown::render(&markdown::MarkdownInput {
            runs: &flat,
            benches: &[],
            notes: &[],
        });
        let page = html::render(&html::HtmlInput {
            runs: std::slice::from_ref(&run),
            flat: &flat,
            decompositions: &[],
            benches: &[],
            preprocess: &[],
            notes: &[],
            generated_at: String::new(),
        });
        let cmp = compare::render(
            &compare::compare(std::slice::from_ref(&run), std::slice::from_ref(&run), 0.05)
                .unwrap(),
        );
        // metrics.json: every column reads the same from the file as from the run, so
        // what a metric is computed from is written there.
        let written = serde_json::to_string(&run.file).unwrap();
        let read_back: super::MetricsFile = serde_json::from_str(&written).unwrap();
        for c in catalogue::columns() {
            let (back, orig) = (c.cell(&read_back.metrics), c.cell(&run.file.metrics));
            // serde_json reads floats back to within an ulp, not always to the bit.
            let same = match (back.as_f64(), orig.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                _ => back == orig,
            };
            assert!(
                same,
                "{} does not survive metrics.json: {back} vs {orig}",
                c.name()
            );
        }
        for metric in CATALOGUE {
            let columns: Vec<_> = catalogue::columns()
                .iter()
                .filter(|c| c.metric.name == metric.name)
                .collect();
            assert!(!columns.is_empty(), "{} has no column", metric.name);
            for c in columns {
                let name = c.name();
                assert!(header.contains(&name), "{name} is not in the CSV header");
                let row = format!("| {name} |");
                assert!(
                    md.lines().any(|l| l.starts_with(&row)),
                    "{name} is not in the Markdown"
                );
                let cell = format!("<td class=\"t\">{name}</td>");
                assert!(page.contains(&cell), "{name} is not in the HTML");
                assert!(
                    cmp.lines().any(|l| l.starts_with(&row)),
                    "{name} is not in compare"
                );
            }
        }
    }

    #[test]
    fn column_names_are_unique_and_views_name_real_columns() {
        // The JSON text, not a `Map` (which would keep one of two equal keys): a figure
        // named like a field of the flat record would be written twice.
        let text = serde_json::to_string(&FlatRun::of(&sample_run())).unwrap();
        for c in flat::columns() {
            let key = format!("\"{c}\":");
            assert_eq!(text.matches(&key).count(), 1, "the column {c} repeats");
        }
        let views = [
            compare::JUDGED,
            summary::SIDE_BY_SIDE,
            sweep::COLUMNS,
            &plots::SWEEP_CHARTS.map(|(_, _, c)| c).concat(),
            &html::TRENDS.map(|(c, _)| c),
        ];
        for name in views.concat() {
            assert!(
                catalogue::column(name).is_some(),
                "{name} is not a catalogue column"
            );
        }
        for name in compare::JUDGED {
            let better = catalogue::column(name).unwrap().metric.better;
            assert_ne!(
                better,
                Better::Neither,
                "{name} is judged without a direction"
            );
        }
    }
}
