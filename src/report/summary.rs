//! The summary printed to stdout after a run: the headline figures and one row per
//! latency metric, in the spirit of `vllm bench serve`'s result block.

use std::fmt::Write;

use super::run_dir::MetricsFile;
use crate::metrics::catalogue;
use crate::metrics::Summary;

/// The latency rows of the summary, in order: (label, metric).
fn latency_rows(m: &MetricsFile) -> Vec<(&'static str, Option<Summary>)> {
    let x = &m.metrics;
    vec![
        ("TTFT", x.ttft_ms),
        ("TPOT", x.tpot_ms),
        ("ITL", x.itl_ms),
        ("E2E", x.e2e_ms),
        ("schedule lag", x.schedule_lag_ms),
        ("TTFT from schedule", x.ttft_from_schedule_ms),
        ("E2E from schedule", x.e2e_from_schedule_ms),
        ("template", x.template_ms),
        ("tokenize", x.tokenize_ms),
        ("prefill", x.prefill_ms),
        ("decode step", x.decode_step_ms),
        ("detokenize", x.detokenize_ms),
        ("prefill (device)", x.prefill_device_ms),
        ("decode step (device)", x.decode_step_device_ms),
    ]
}

/// Renders one run's summary.
pub fn render(m: &MetricsFile, run_dir: &str) -> String {
    let x = &m.metrics;
    let mut s = String::new();
    let rule = "=".repeat(78);
    let _ = writeln!(s, "{rule}");
    let _ = writeln!(
        s,
        "engine {}  model {}  workload {}{}",
        m.engine,
        m.model,
        m.workload,
        if m.interrupted { "  (INTERRUPTED)" } else { "" }
    );
    let _ = writeln!(s, "{rule}");
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(s, "{k:<36}{v:>14}");
    };
    kv("Successful requests:", x.completed.to_string());
    kv("Failed requests:", x.failed.to_string());
    kv("Repetitions:", x.repetitions.count.to_string());
    kv("Duration (s):", format!("{:.2}", x.duration_s));
    kv("Total input tokens:", x.total_input_tokens.to_string());
    kv("Total output tokens:", x.total_output_tokens.to_string());
    kv(
        "Request throughput (req/s):",
        format!("{:.2}", x.request_throughput_req_s),
    );
    kv(
        "Output token throughput (tok/s):",
        format!("{:.2}", x.output_throughput_tok_s),
    );
    kv(
        "Total token throughput (tok/s):",
        format!("{:.2}", x.total_throughput_tok_s),
    );
    if let Some(t) = x.prefill_tok_s {
        kv("Prefill (tok/s, median):", format!("{:.2}", t.p50));
    }
    if let Some(t) = x.decode_tok_s {
        kv("Decode (tok/s, median):", format!("{:.2}", t.p50));
    }
    if let Some(r) = &x.resources {
        kv("Peak RSS (MiB):", format!("{:.1}", r.rss_peak_mib));
        kv("Average RSS (MiB):", format!("{:.1}", r.rss_avg_mib));
        if let Some(u) = r.gpu.gpu_util_avg_percent {
            kv("GPU utilisation (%, mean):", format!("{u:.1}"));
        }
        if let Some(m) = r.gpu.gpu_mem_used_peak_mib {
            kv("GPU memory used (MiB, peak):", format!("{m:.0}"));
        }
        if let Some(w) = r.gpu.gpu_power_avg_w {
            kv("GPU power (W, mean):", format!("{w:.1}"));
        }
    }
    if let Some(r) = x.roofline {
        kv(
            "Decode bytes/token (MB):",
            format!("{:.2}", r.decode_bytes_per_token / 1e6),
        );
        if let Some(v) = r.decode_mbu {
            kv("Decode MBU:", format!("{v:.3}"));
        }
        if let Some(v) = r.roofline_decode_tok_s {
            kv("Decode roofline (tok/s):", format!("{v:.2}"));
        }
        if let Some(v) = r.prefill_mfu {
            kv("Prefill MFU:", format!("{v:.3}"));
        }
    }
    match &x.energy {
        Some(e) if e.energy_j.is_some() => {
            if let Some(j) = e.energy_j_per_output_token {
                kv(
                    &format!("Energy (J/token, {}):", e.source.as_deref().unwrap_or("-")),
                    format!("{j:.4}"),
                );
            }
            if let Some(j) = e.energy_j_per_request {
                kv("Energy (J/request):", format!("{j:.3}"));
            }
        }
        _ => {}
    }
    let _ = writeln!(
        s,
        "{:-<78}\n{:<22}{:>8}{:>9}{:>9}{:>9}{:>9}{:>9}",
        "", "latency (ms)", "mean", "std", "p50", "p90", "p99", "max"
    );
    for (label, sum) in latency_rows(m) {
        if let Some(v) = sum {
            let _ = writeln!(
                s,
                "{label:<22}{:>8}{:>9}{:>9}{:>9}{:>9}{:>9}",
                num(v.mean),
                num(v.std),
                num(v.p50),
                num(v.p90),
                num(v.p99),
                num(v.max)
            );
        }
    }
    if !x.by_turn.is_empty() {
        let _ = writeln!(
            s,
            "{:<8}{:>10}{:>14}{:>14}{:>16}{:>14}",
            "turn", "requests", "TTFT p50 ms", "TTFT p90 ms", "prompt tokens", "cached tokens"
        );
        for t in &x.by_turn {
            let ttft =
                |f: fn(&Summary) -> f64| t.ttft_ms.as_ref().map_or("-".into(), |v| num(f(v)));
            let _ = writeln!(
                s,
                "{:<8}{:>10}{:>14}{:>14}{:>16}{:>14}",
                t.turn,
                t.requests,
                ttft(|v| v.p50),
                ttft(|v| v.p90),
                t.prompt_tokens_mean
                    .map_or("-".into(), |p| format!("{p:.0}")),
                t.cached_tokens.map_or("-".into(), |c| c.to_string())
            );
        }
    }
    for (name, v) in &x.engine_timings_ms {
        let _ = writeln!(
            s,
            "{:<22}{:>8}{:>9}{:>9}{:>9}{:>9}{:>9}",
            format!("engine {name}"),
            num(v.mean),
            num(v.std),
            num(v.p50),
            num(v.p90),
            num(v.p99),
            num(v.max)
        );
    }
    if let Some(r) = &x.resources {
        if !r.per_gpu.is_empty() {
            let _ = writeln!(
                s,
                "{:<8}{:>14}{:>16}{:>14}{:>12}{:>14}",
                "GPU",
                "util % mean/max",
                "mem MiB mean/max",
                "power W mean/max",
                "temp C max",
                "SM MHz mean"
            );
        }
        let f = |v: Option<f64>, d: usize| v.map_or("-".into(), |v| format!("{v:.d$}"));
        for g in &r.per_gpu {
            let _ = writeln!(
                s,
                "{:<8}{:>14}{:>16}{:>14}{:>12}{:>14}",
                g.index,
                format!("{}/{}", f(g.util_percent.mean, 0), f(g.util_percent.max, 0)),
                format!("{}/{}", f(g.mem_used_mib.mean, 0), f(g.mem_used_mib.max, 0)),
                format!("{}/{}", f(g.power_w.mean, 0), f(g.power_w.max, 0)),
                f(g.temp_c.max, 0),
                f(g.sm_clock_mhz.mean, 0)
            );
        }
    }
    if let Some(why) = x.energy.as_ref().and_then(|e| e.absent_reason.as_deref()) {
        let _ = writeln!(s, "energy: none ({why})");
    }
    let _ = writeln!(s, "{rule}");
    for w in &x.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let _ = writeln!(s, "results: {run_dir}");
    s
}

/// The rows of the side-by-side table: catalogue columns.
pub const SIDE_BY_SIDE: &[&str] = &[
    "output_throughput_tok_s",
    "ttft_p50_ms",
    "tpot_p50_ms",
    "itl_p99_ms",
    "e2e_p50_ms",
    "prefill_p50_ms",
    "decode_step_p50_ms",
    "failed",
];

/// Several runs side by side: one column per run.
pub fn side_by_side(runs: &[MetricsFile]) -> String {
    let mut s = String::new();
    let _ = write!(s, "{:<30}", "");
    for r in runs {
        let _ = write!(s, "{:>16}", r.engine);
    }
    let _ = writeln!(s);
    for c in SIDE_BY_SIDE.iter().filter_map(|&n| catalogue::column(n)) {
        let _ = write!(s, "{:<30}", c.label());
        for r in runs {
            let _ = write!(s, "{:>16}", c.value(&r.metrics).map_or("-".into(), num));
        }
        let _ = writeln!(s);
    }
    s
}

/// A number with precision that suits its size.
fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
