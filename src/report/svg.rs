//! Inline SVG charts for the HTML report: line charts (CDFs, sweeps, history) and
//! stacked horizontal bars (phase breakdowns). Plain strings, no scripts and no fonts to
//! fetch, so the page stays a single self-contained file. Every label is escaped here.

use std::fmt::Write;

/// Colours for series, in order (Tableau 10: distinct, and readable in print).
pub const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

const W: f64 = 560.0;
const H: f64 = 300.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 44.0;

/// Escapes text for HTML and SVG, in element content and in quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Where the legend entry leads (the run's row in the report), if anywhere.
    pub link: Option<String>,
}

/// How a line chart is drawn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Draw each point as a dot (sweeps, history).
    pub markers: bool,
    /// Fix the y range to [0, 1] (CDFs).
    pub unit_y: bool,
    /// Cut the x axis here (the tail beyond it is left out).
    pub x_max: Option<f64>,
    /// Labels for integer x positions instead of numbers (history: dates).
    pub x_names: Vec<String>,
    /// x positions marked with a dashed vertical line (request starts in a time series).
    pub x_marks: Vec<f64>,
    /// Both axes logarithmic (a roofline): points are given as measured, drawn at their
    /// log10 with ticks at powers of ten labelled in the data's own units. Points with a
    /// coordinate at or below zero cannot be drawn and are left out.
    pub log_xy: bool,
}

/// A value on a log axis, given its log10, as its label: 0.001 .. 10000 written out,
/// beyond that as a power of ten.
fn log_tick_label(t: f64) -> String {
    if (-3.0..0.0).contains(&t) && t.fract() == 0.0 {
        format!("{:.*}", -t as usize, 10f64.powf(t))
    } else if (-2.0..=4.0).contains(&t) {
        tick_label(10f64.powf(t))
    } else {
        format!("1e{t:.0}")
    }
}

/// Integer powers of ten within [lo, hi] (as log10 values); where the range spans less
/// than one power, the nice linear ticks of the log values.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.ceil() as i64, hi.floor() as i64);
    if b - a >= 1 {
        (a..=b).map(|t| t as f64).collect()
    } else {
        ticks(lo, hi, 4)
    }
}

/// "Nice" tick positions (1, 2, 5 times a power of ten) covering [lo, hi].
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).ceil() * step;
    (0..)
        .map(|i| start + i as f64 * step)
        .take_while(|v| *v <= hi + step * 1e-9)
        .take(50)
        .collect()
}

fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        let s = format!("{v:.1}");
        s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
    } else {
        format!("{v:.2}")
    }
}

fn open(out: &mut String, title: &str, height: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" role="img" class="chart"><title>{t}</title><text x="{x}" y="18" class="ct">{t}</text>"#,
        t = esc(title),
        x = W / 2.0
    );
}

/// A line chart with axes, ticks and a legend. Series with no points are left out.
pub fn line_chart(c: &LineChart, series: &[Series]) -> String {
    let logged: Vec<Series>;
    let series = if c.log_xy {
        logged = series
            .iter()
            .map(|s| Series {
                points: s
                    .points
                    .iter()
                    .filter(|(x, y)| *x > 0.0 && *y > 0.0)
                    .map(|(x, y)| (x.log10(), y.log10()))
                    .collect(),
                ..s.clone()
            })
            .collect();
        &logged[..]
    } else {
        series
    };
    let value_label = |v: f64| {
        if c.log_xy {
            tick_label(10f64.powf(v))
        } else {
            tick_label(v)
        }
    };
    let pts = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let mut out = String::new();
    let entries: Vec<Entry> = series
        .iter()
        .enumerate()
        .map(|(i, s)| Entry {
            label: &s.label,
            colour: PALETTE[i % PALETTE.len()],
            link: s.link.as_deref(),
        })
        .collect();
    let (key, rows) = legend(&entries, H + 8.0, false);
    let height = H + 8.0 + LEGEND_ROW * rows as f64;
    open(&mut out, &c.title, height);
    if pts().next().is_none() {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" class="empty">no data</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return out;
    }
    let d_lo = pts().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let mut x_hi = pts().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    if let Some(m) = c.x_max.filter(|m| *m > d_lo) {
        x_hi = x_hi.min(m);
    }
    // Start at 0 when the data nearly do; otherwise zoom in on where the data are.
    let pad = (x_hi - d_lo).max(1e-9) * 0.04;
    let x_lo = if !c.log_xy && d_lo >= 0.0 && d_lo < 0.3 * x_hi {
        0.0
    } else {
        d_lo - pad
    };
    if c.markers {
        x_hi += pad;
    }
    let (y_lo, y_hi) = if c.unit_y {
        (0.0, 1.0)
    } else if c.log_xy {
        // A log axis has no zero: a quarter of a decade of room on each side.
        let hi = pts().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let lo = pts().map(|p| p.1).fold(f64::INFINITY, f64::min);
        (lo - 0.25, hi.max(lo) + 0.25)
    } else {
        let hi = pts().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let lo = pts().map(|p| p.1).fold(f64::INFINITY, f64::min).min(0.0);
        (lo, if hi > lo { hi * 1.08 } else { lo + 1.0 })
    };
    let x_hi = if x_hi > x_lo { x_hi } else { x_lo + 1.0 };
    let sx = |x: f64| LEFT + (x - x_lo) / (x_hi - x_lo) * (W - LEFT - RIGHT);
    let sy = |y: f64| H - BOTTOM - (y - y_lo) / (y_hi - y_lo) * (H - TOP - BOTTOM);
    axes(&mut out, c, (x_lo, x_hi), (y_lo, y_hi), &sx, &sy);
    for &m in c.x_marks.iter().filter(|m| (x_lo..=x_hi).contains(*m)) {
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" class="mark" stroke="#999" stroke-dasharray="3,3"/>"##,
            H - BOTTOM,
            x = sx(m)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let visible: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite() && *x <= x_hi)
            .collect();
        // A CDF is a step function: up at each sample, flat between them.
        let drawn: Vec<(f64, f64)> = if c.unit_y {
            let mut prev = 0.0;
            visible
                .iter()
                .flat_map(|&(x, y)| [(x, std::mem::replace(&mut prev, y)), (x, y)])
                .collect()
        } else {
            visible.clone()
        };
        let path: Vec<String> = drawn
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        if path.len() > 1 {
            let _ = write!(
                out,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                path.join(" ")
            );
        }
        if c.markers || path.len() == 1 {
            for &(x, y) in &visible {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"><title>{}: {}</title></circle>"#,
                    sx(x),
                    sy(y),
                    esc(&s.label),
                    value_label(y)
                );
            }
        }
    }
    out.push_str(&key);
    out.push_str("</svg>");
    out
}

fn axes(
    out: &mut String,
    c: &LineChart,
    (x_lo, x_hi): (f64, f64),
    (y_lo, y_hi): (f64, f64),
    sx: &dyn Fn(f64) -> f64,
    sy: &dyn Fn(f64) -> f64,
) {
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
    let (y_ticks, x_ticks, label): (_, _, fn(f64) -> String) = if c.log_xy {
        (log_ticks(y_lo, y_hi), log_ticks(x_lo, x_hi), log_tick_label)
    } else {
        (ticks(y_lo, y_hi, 5), ticks(x_lo, x_hi, 6), tick_label)
    };
    for t in y_ticks {
        let y = sy(t);
        let _ = write!(
            out,
            r#"<line x1="{x0}" x2="{x1}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{}" y="{:.1}" class="yt">{}</text>"#,
            x0 - 6.0,
            y + 4.0,
            label(t)
        );
    }
    if c.x_names.is_empty() {
        for t in x_ticks {
            let x = sx(t);
            let _ = write!(
                out,
                r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{}" class="ax"/><text x="{x:.1}" y="{}" class="xt">{}</text>"#,
                y1 + 4.0,
                y1 + 16.0,
                label(t)
            );
        }
    } else {
        let every = c.x_names.len().div_ceil(6).max(1);
        for (i, name) in c.x_names.iter().enumerate().step_by(every) {
            if (i as f64) < x_lo || (i as f64) > x_hi {
                continue;
            }
            let x = sx(i as f64);
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{}" class="xt">{}</text>"#,
                y1 + 16.0,
                esc(name)
            );
        }
    }
    let _ = write!(
        out,
        r#"<line x1="{x0}" x2="{x1}" y1="{y1}" y2="{y1}" class="ax"/><line x1="{x0}" x2="{x0}" y1="{y0}" y2="{y1}" class="ax"/><text x="{}" y="{}" class="al">{}</text><text transform="translate(14 {}) rotate(-90)" class="al">{}</text>"#,
        (x0 + x1) / 2.0,
        y1 + 34.0,
        esc(&c.x_label),
        (y0 + y1) / 2.0,
        esc(&c.y_label)
    );
}

/// One horizontal bar of a stacked-bar chart: its label and one value per segment
/// (`None` where that segment was not measured).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub values: Vec<Option<f64>>,
    /// Where the bar's label leads, if anywhere.
    pub link: Option<String>,
}

/// Horizontal stacked bars with one colour per segment, a value axis and a legend.
pub fn stacked_bars(title: &str, unit: &str, segments: &[&str], bars: &[Bar]) -> String {
    const LABEL_W: f64 = 170.0;
    const ROW: f64 = 26.0;
    let axis_y = TOP + bars.len() as f64 * ROW + 4.0;
    // The legend names only the segments some bar has.
    let entries: Vec<Entry> = segments
        .iter()
        .enumerate()
        .filter(|&(i, _)| {
            bars.iter()
                .any(|b| b.values.get(i).is_some_and(|v| v.is_some_and(|v| v > 0.0)))
        })
        .map(|(i, s)| Entry {
            label: s,
            colour: PALETTE[i % PALETTE.len()],
            link: None,
        })
        .collect();
    let (key, rows) = legend(&entries, axis_y + 40.0, true);
    let height = axis_y + 40.0 + LEGEND_ROW * rows as f64 + 4.0;
    let mut out = String::new();
    open(&mut out, title, height);
    let total = |b: &Bar| b.values.iter().flatten().filter(|v| **v > 0.0).sum::<f64>();
    let max = bars.iter().map(total).fold(0.0, f64::max);
    let max = if max > 0.0 { max * 1.05 } else { 1.0 };
    let (x0, x1) = (LABEL_W, W - RIGHT);
    let sx = |v: f64| (v / max) * (x1 - x0);
    for t in ticks(0.0, max, 5) {
        let x = x0 + sx(t);
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{axis_y}" class="grid"/><text x="{x:.1}" y="{}" class="xt">{}</text>"#,
            axis_y + 14.0,
            tick_label(t)
        );
    }
    for (row, b) in bars.iter().enumerate() {
        let y = TOP + row as f64 * ROW + 4.0;
        let label = format!(
            r#"<text x="{}" y="{:.1}" class="bl"><title>{}</title>{}</text>"#,
            x0 - 6.0,
            y + 13.0,
            esc(&b.label),
            esc(&truncate(&b.label, BAR_LABEL_CHARS))
        );
        out.push_str(&linked(b.link.as_deref(), &label));
        let mut at = x0;
        for (i, v) in b.values.iter().enumerate() {
            let Some(v) = v.filter(|v| *v > 0.0 && v.is_finite()) else {
                continue;
            };
            let w = sx(v);
            let _ = write!(
                out,
                r#"<rect x="{at:.1}" y="{y:.1}" width="{w:.2}" height="18" fill="{}"><title>{}: {} {}</title></rect>"#,
                PALETTE[i % PALETTE.len()],
                esc(segments.get(i).copied().unwrap_or("")),
                tick_label(v),
                esc(unit)
            );
            at += w;
        }
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="bv">{}</text>"#,
            (at + 4.0).min(x1 - 2.0),
            y + 13.0,
            tick_label(total(b))
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" class="al">{}</text>"#,
        (x0 + x1) / 2.0,
        axis_y + 30.0,
        esc(unit)
    );
    out.push_str(&key);
    out.push_str("</svg>");
    out
}

/// The height of a legend row.
const LEGEND_ROW: f64 = 16.0;
/// The widest a character of legend text (11 px) is taken to be: wider than the average
/// of the fonts a browser picks for `system-ui`, so an estimate never underlaps.
const CHAR_W: f64 = 6.8;
/// Characters of a bar's label that fit left of the bars.
const BAR_LABEL_CHARS: usize = 24;

/// A legend entry.
struct Entry<'a> {
    label: &'a str,
    colour: &'a str,
    link: Option<&'a str>,
}

/// Wraps `body` in a link when there is one.
fn linked(link: Option<&str>, body: &str) -> String {
    match link {
        Some(href) => format!(r#"<a href="{}">{body}</a>"#, esc(href)),
        None => body.to_owned(),
    }
}

/// Lays a legend out below a chart from `top`: entries left to right by the width of
/// their text, a new row when the next would pass the right edge, and a label too long
/// for a row of its own cut with an ellipsis (the whole of it in its tooltip). So
/// entries never overlap each other or the chart, however long a run's name. Returns
/// the SVG and the number of rows.
fn legend(entries: &[Entry], top: f64, square: bool) -> (String, usize) {
    const LEFT_EDGE: f64 = 10.0;
    const SWATCH: f64 = 16.0;
    const GAP: f64 = 14.0;
    let room = ((W - LEFT_EDGE - SWATCH - RIGHT) / CHAR_W).floor() as usize;
    let mut out = String::new();
    let (mut x, mut row) = (LEFT_EDGE, 0usize);
    for (i, e) in entries.iter().enumerate() {
        let text = truncate(e.label, room);
        let w = SWATCH + CHAR_W * text.chars().count() as f64;
        if i > 0 && x + w > W - RIGHT {
            (x, row) = (LEFT_EDGE, row + 1);
        }
        let y = top + LEGEND_ROW * (row as f64 + 1.0) - 4.0;
        let swatch = if square {
            format!(
                r#"<rect x="{x:.1}" y="{:.1}" width="12" height="10" fill="{}" class="sw"/>"#,
                y - 9.0,
                e.colour
            )
        } else {
            format!(
                r#"<rect x="{x:.1}" y="{:.1}" width="12" height="4" fill="{}" class="sw"/>"#,
                y - 5.0,
                e.colour
            )
        };
        let body = format!(
            r#"{swatch}<text x="{:.1}" y="{y:.1}" class="lg"><title>{}</title>{}</text>"#,
            x + SWATCH,
            esc(e.label),
            esc(&text)
        );
        out.push_str(&linked(e.link, &body));
        x += w + GAP;
    }
    (out, if entries.is_empty() { 0 } else { row + 1 })
}

/// At most `n` characters, with an ellipsis when cut.
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The empirical CDF of `samples` as at most `max_points` points (x sorted, y in (0, 1]).
pub fn cdf(samples: &[f64], max_points: usize) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(max_points.max(2)).max(1);
    let mut out: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| (v[i], (i + 1) as f64 / n as f64))
        .collect();
    if out.last().map(|p| p.1) != Some(1.0) {
        out.push((v[n - 1], 1.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_everywhere() {
        assert_eq!(
            esc(r#"<img src=x onerror="a">&'"#),
            "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;"
        );
        let s = line_chart(
            &LineChart {
                title: "<script>".into(),
                ..LineChart::default()
            },
            &[Series {
                label: "<b>".into(),
                points: vec![(1.0, 0.5)],
                link: Some("#\"><script>".into()),
            }],
        );
        assert!(!s.contains("<script>") && !s.contains("<b>"), "{s}");
    }

    #[test]
    fn nice_ticks_and_cdf() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(0.0, 1.0, 5);
        assert_eq!(t.len(), 6);
        assert!(
            (t[3] - 0.6).abs() < 1e-12 && (t[5] - 1.0).abs() < 1e-12,
            "{t:?}"
        );
        assert_eq!(
            cdf(&[3.0, 1.0, 2.0, 4.0], 100),
            vec![(1.0, 0.25), (2.0, 0.5), (3.0, 0.75), (4.0, 1.0)]
        );
        let big: Vec<f64> = (0..10_000).map(f64::from).collect();
        let c = cdf(&big, 100);
        assert!(
            c.len() <= 101 && c.last() == Some(&(9999.0, 1.0)),
            "{}",
            c.len()
        );
    }

    #[test]
    fn bars_and_empty_charts_render() {
        let s = stacked_bars(
            "phases",
            "ms",
            &["a", "b"],
            &[Bar {
                label: "x".into(),
                values: vec![Some(1.0), None],
                link: None,
            }],
        );
        assert!(s.contains("<rect") && s.ends_with("</svg>"));
        let e = line_chart(&LineChart::default(), &[]);
        assert!(e.contains("no data"));
    }

    #[test]
    fn a_log_chart_ticks_powers_of_ten_in_the_datas_units_and_drops_what_it_cannot_draw() {
        let s = line_chart(
            &LineChart {
                log_xy: true,
                markers: true,
                ..LineChart::default()
            },
            &[Series {
                label: "run".into(),
                points: vec![(0.1, 1.0), (100.0, 100_000.0), (0.0, 5.0)],
                link: None,
            }],
        );
        let labels = |class: &str| -> Vec<String> {
            s.split(&format!(r#"class="{class}">"#))
                .skip(1)
                .map(|t| t.split('<').next().unwrap().to_owned())
                .collect()
        };
        assert_eq!(labels("xt"), ["0.1", "1", "10", "100"]);
        assert_eq!(labels("yt"), ["1", "10", "100", "1000", "10000", "1e5"]);
        // The point at x = 0 has no place on a log axis; the two others are drawn with
        // their measured values in the tooltip.
        assert_eq!(s.matches("<circle").count(), 2, "{s}");
        assert!(s.contains("run: 100000"), "{s}");
    }
}
