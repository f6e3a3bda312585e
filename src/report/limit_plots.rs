//! Charts for finding a setup's limits: the Pareto frontier of throughput per user against
//! total throughput across runs and sweep points, and a per-request timeline of a run
//! (one lane per request: queued behind its schedule, waiting for the first token, then
//! decoding).

use std::fmt::Write;

use super::plots::Plotted;
use super::svg::{self, esc, LineChart, Series, PALETTE};

/// Runs with more requests than this get no timeline: their lanes would be thinner than
/// a pixel.
pub const MAX_TIMELINE_REQUESTS: usize = 4000;

/// A run's place on the Pareto chart: total output tok/s (x) and output tok/s per user,
/// 1000 / median TPOT (y).
fn pareto_point(p: &Plotted) -> Option<(f64, f64)> {
    let x = p.flat.num("output_throughput_tok_s")?;
    let tpot = p.flat.num("tpot_p50_ms")?;
    (x > 0.0 && tpot > 0.0).then(|| (x, 1000.0 / tpot))
}

/// The points no other point beats on both axes, by increasing x.
pub fn frontier(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut front: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(x, y)| {
            !points
                .iter()
                .any(|&(ox, oy)| ox >= x && oy >= y && (ox > x || oy > y))
        })
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    front.dedup();
    front
}

/// Output tok/s per user against total output tok/s, one labelled point per run (sweep
/// points are runs), with the frontier drawn through the runs no other beats on both.
/// `None` with fewer than two runs that have both figures.
pub fn pareto(runs: &[Plotted]) -> Option<String> {
    let placed: Vec<(&Plotted, (f64, f64))> = runs
        .iter()
        .filter_map(|p| pareto_point(p).map(|xy| (p, xy)))
        .collect();
    if placed.len() < 2 {
        return None;
    }
    let all: Vec<(f64, f64)> = placed.iter().map(|(_, xy)| *xy).collect();
    let mut series = vec![Series {
        label: "Pareto frontier".into(),
        points: frontier(&all),
        link: None,
    }];
    series.extend(placed.iter().map(|(p, xy)| Series {
        label: p.label.clone(),
        points: vec![*xy],
        link: Some(p.link.clone()),
    }));
    Some(svg::line_chart(
        &LineChart {
            title: "Pareto: throughput per user against total throughput".into(),
            x_label: "output tok/s (all requests)".into(),
            y_label: "output tok/s per user (1000 / TPOT p50)".into(),
            markers: true,
            ..LineChart::default()
        },
        &series,
    ))
}

const W: f64 = 560.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 44.0;

/// The segments of a lane, in order, with their colours.
const SEGMENTS: [(&str, &str); 4] = [
    ("queued (late on schedule)", PALETTE[9]),
    ("waiting for the first token", PALETTE[1]),
    ("decoding", PALETTE[0]),
    ("failed", PALETTE[2]),
];

/// One lane per request of `run`, by start time: from its scheduled time to its start
/// where it left late (a request rate or a trace), from its start to its first token,
/// then to its end (a failed request in one colour), on the run's clock in seconds.
/// `None` for a run without samples or with more than [`MAX_TIMELINE_REQUESTS`].
pub fn timeline(run: &Plotted) -> Option<String> {
    let mut records: Vec<_> = run.run.records.iter().collect();
    if records.is_empty() || records.len() > MAX_TIMELINE_REQUESTS {
        return None;
    }
    records.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let t0 = records
        .iter()
        .map(|r| r.scheduled_ms.unwrap_or(r.start_ms).min(r.start_ms))
        .fold(f64::INFINITY, f64::min);
    let t_end = records
        .iter()
        .map(|r| r.start_ms + r.e2e_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    let span_s = ((t_end - t0) / 1e3).max(1e-3);
    let n = records.len();
    let plot_h = (n as f64 * 4.0).clamp(120.0, 600.0);
    let lane = plot_h / n as f64;
    let height = TOP + plot_h + BOTTOM + 36.0;
    let sx = |ms: f64| LEFT + (ms - t0) / 1e3 / span_s * (W - LEFT - RIGHT);
    let title = format!("request timeline: {}", run.label);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" role="img" class="chart"><title>{t}</title><text x="{x}" y="18" class="ct">{t}</text>"#,
        t = esc(&title),
        x = W / 2.0
    );
    for t in svg::ticks(0.0, span_s, 6) {
        let x = LEFT + t / span_s * (W - LEFT - RIGHT);
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{y:.1}" class="grid"/><text x="{x:.1}" y="{ty:.1}" class="xt">{t}</text>"#,
            y = TOP + plot_h,
            ty = TOP + plot_h + 16.0,
            t = fmt_s(t)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{x}" y="{y}" class="al">seconds from the first request · one lane per request ({n})</text>"#,
        x = (LEFT + W - RIGHT) / 2.0,
        y = TOP + plot_h + 34.0
    );
    let h = (lane * 0.8).max(0.3);
    for (i, r) in records.iter().enumerate() {
        let y = TOP + i as f64 * lane;
        let end = r.start_ms + r.e2e_ms;
        let mut rect = |from: f64, to: f64, colour: &str, what: &str| {
            let _ = write!(
                s,
                r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{colour}"><title>request {id}: {what} {ms:.1} ms</title></rect>"#,
                x = sx(from),
                w = (sx(to) - sx(from)).max(0.5),
                id = r.request_id,
                ms = to - from
            );
        };
        if let Some(at) = r.scheduled_ms.filter(|&at| at < r.start_ms) {
            rect(at, r.start_ms, SEGMENTS[0].1, SEGMENTS[0].0);
        }
        match (r.ok, r.ttft_ms) {
            (true, Some(ttft)) => {
                rect(r.start_ms, r.start_ms + ttft, SEGMENTS[1].1, SEGMENTS[1].0);
                rect(r.start_ms + ttft, end, SEGMENTS[2].1, SEGMENTS[2].0);
            }
            (true, None) => rect(r.start_ms, end, SEGMENTS[2].1, SEGMENTS[2].0),
            (false, _) => rect(r.start_ms, end, SEGMENTS[3].1, SEGMENTS[3].0),
        }
    }
    // The legend, wrapped onto a second row where the first is full.
    let (mut x, mut y) = (LEFT, TOP + plot_h + BOTTOM + 12.0);
    for (label, colour) in SEGMENTS {
        let w = 14.0 + label.len() as f64 * 6.8 + 14.0;
        if x > LEFT && x + w > W - RIGHT {
            (x, y) = (LEFT, y + 16.0);
        }
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{ry:.1}" width="10" height="10" fill="{colour}"/><text x="{tx:.1}" y="{y:.1}" class="lg">{label}</text>"#,
            ry = y - 9.0,
            tx = x + 14.0
        );
        x += w;
    }
    s.push_str("</svg>");
    Some(s)
}

fn fmt_s(t: f64) -> String {
    let s = format!("{t:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontier_keeps_only_the_points_nothing_beats_on_both_axes() {
        let pts = [
            (10.0, 50.0),
            (20.0, 40.0),
            (15.0, 30.0), // beaten by (20, 40)
            (30.0, 10.0),
            (30.0, 5.0), // beaten by (30, 10)
            (5.0, 50.0), // beaten by (10, 50)
        ];
        assert_eq!(
            frontier(&pts),
            vec![(10.0, 50.0), (20.0, 40.0), (30.0, 10.0)]
        );
        assert_eq!(frontier(&[]), vec![]);
    }
}
