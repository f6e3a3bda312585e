//! The metric catalogue: every figure a run reports, once, with its unit, which way is
//! better, how it is derived and how it is read from [`RunMetrics`]. The reports are
//! generated from it: the figure columns of the CSV, the Markdown and HTML "all metrics"
//! tables and `report --compare` list every [`column`](columns) of it, and the narrower
//! views (the headline tables, the sweep summary, the side-by-side table of a run) name
//! its columns. A metric added here, and computed in [`RunMetrics`] (whose serialisation
//! is metrics.json), reaches every one of them.

use std::sync::OnceLock;

use super::aggregate::{RunMetrics, Spread};
use super::record::RequestRecord;
use super::stats::Summary;

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Neither: a property of the workload (how many requests, how many tokens).
    Neither,
}

impl Better {
    pub fn text(self) -> &'static str {
        match self {
            Better::Lower => "lower",
            Better::Higher => "higher",
            Better::Neither => "–",
        }
    }
}

/// A figure's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Requests,
    Tokens,
    /// A share, 0 to 1; changes in it are absolute (points), not relative.
    Fraction,
    Seconds,
    Ms,
    ReqPerS,
    TokPerS,
    MiB,
    Percent,
    Watts,
    /// Money, at the prices given (US dollars per million tokens, or any one currency).
    Usd,
    Bytes,
    Joules,
}

impl Unit {
    pub fn text(self) -> &'static str {
        match self {
            Unit::Requests => "requests",
            Unit::Tokens => "tokens",
            Unit::Fraction => "fraction",
            Unit::Seconds => "s",
            Unit::Ms => "ms",
            Unit::ReqPerS => "req/s",
            Unit::TokPerS => "tok/s",
            Unit::MiB => "MiB",
            Unit::Percent => "%",
            Unit::Watts => "W",
            Unit::Usd => "USD",
            Unit::Bytes => "B",
            Unit::Joules => "J",
        }
    }

    /// Whether a label names the unit: counts and fractions speak for themselves.
    fn in_label(self) -> bool {
        !matches!(self, Unit::Requests | Unit::Tokens | Unit::Fraction)
    }
}

/// A statistic of a distribution ([`Summary`]) that can have a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Mean,
    Std,
    Min,
    P50,
    P90,
    P99,
    Max,
}

impl Stat {
    pub fn name(self) -> &'static str {
        match self {
            Stat::Mean => "mean",
            Stat::Std => "std",
            Stat::Min => "min",
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P99 => "p99",
            Stat::Max => "max",
        }
    }

    pub fn of(self, s: &Summary) -> f64 {
        match self {
            Stat::Mean => s.mean,
            Stat::Std => s.std,
            Stat::Min => s.min,
            Stat::P50 => s.p50,
            Stat::P90 => s.p90,
            Stat::P99 => s.p99,
            Stat::Max => s.max,
        }
    }

    /// The quantile a percentile stands for.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Stat::P50 => Some(0.50),
            Stat::P90 => Some(0.90),
            Stat::P99 => Some(0.99),
            _ => None,
        }
    }
}

/// The statistics of a latency: a column each.
const LATENCY: &[Stat] = &[
    Stat::Mean,
    Stat::Std,
    Stat::Min,
    Stat::P50,
    Stat::P90,
    Stat::P99,
    Stat::Max,
];

/// How a figure is read from a run's aggregates.
#[derive(Clone, Copy)]
pub enum Read {
    /// A whole number, written without a decimal point.
    Count(fn(&RunMetrics) -> u64),
    /// A figure, absent when the run could not measure it.
    Scalar(fn(&RunMetrics) -> Option<f64>),
    /// A distribution, reported by the statistics listed, a column each.
    Distribution(fn(&RunMetrics) -> Option<Summary>, &'static [Stat]),
}

/// Where a figure's per-request samples come from: what `report --compare` resamples
/// (a bootstrap over the requests) to judge how noisy one run's figure is.
#[derive(Clone, Copy)]
pub enum PerRequest {
    /// A value per request; a distribution's percentiles are percentiles of these.
    Value(fn(&RequestRecord) -> Option<f64>),
    /// Every gap between tokens, pooled over the requests.
    Gaps,
    /// A throughput: `f(request)` summed over the requests, over their summed E2E.
    Rate(fn(&RequestRecord) -> f64),
    /// Not a figure of the requests one by one.
    None,
}

/// Where runs record a figure's spread across repetitions: of the whole figure (`stat`
/// `None`) or of one statistic of a distribution.
#[derive(Clone, Copy)]
pub struct Reps {
    pub stat: Option<Stat>,
    pub read: fn(&RunMetrics) -> Option<&Spread>,
}

/// One metric of the catalogue.
#[derive(Clone, Copy)]
pub struct Metric {
    /// Its name: the field of metrics.json (the last key, for nested ones such as
    /// `resources.rss_peak_mib`), and the CSV column, or with a statistic the column's
    /// stem (`ttft_ms` gives `ttft_p50_ms`).
    pub name: &'static str,
    /// What tables call it: "TTFT", "output throughput".
    pub label: &'static str,
    pub unit: Unit,
    pub better: Better,
    /// How it is derived, in one line.
    pub about: &'static str,
    pub read: Read,
    pub per_request: PerRequest,
    pub reps: Option<Reps>,
}

impl Metric {
    const fn new(
        name: &'static str,
        label: &'static str,
        unit: Unit,
        better: Better,
        read: Read,
        about: &'static str,
    ) -> Metric {
        Metric {
            name,
            label,
            unit,
            better,
            about,
            read,
            per_request: PerRequest::None,
            reps: None,
        }
    }

    /// Its per-request samples.
    const fn per(mut self, per_request: PerRequest) -> Metric {
        self.per_request = per_request;
        self
    }

    /// Where its spread across repetitions is recorded.
    const fn reps(
        mut self,
        stat: Option<Stat>,
        read: fn(&RunMetrics) -> Option<&Spread>,
    ) -> Metric {
        self.reps = Some(Reps { stat, read });
        self
    }
}

/// A repetition spread's coefficient of variation, when there were several repetitions.
fn rep_cv(s: &Option<Spread>) -> Option<f64> {
    s.as_ref().filter(|s| s.values.len() > 1).map(|s| s.cv)
}

use Better::{Higher, Lower, Neither};
use PerRequest::{Gaps, Rate, Value};
use Read::{Count, Distribution, Scalar};
use Unit::*;

/// Every metric, in the order of the CSV's columns.
#[rustfmt::skip]
pub static CATALOGUE: &[Metric] = &[
    Metric::new("num_requests", "measured requests", Requests, Neither,
        Count(|m| m.num_requests as u64),
        "requests measured (warmup excluded), completed or failed"),
    Metric::new("completed", "completed requests", Requests, Higher,
        Count(|m| m.completed as u64),
        "measured requests that completed"),
    Metric::new("failed", "failed requests", Requests, Lower,
        Count(|m| m.failed as u64),
        "measured requests that failed; recorded, never dropped"),
    Metric::new("error_rate", "error rate", Fraction, Lower,
        Scalar(|m| Some(m.error_rate)),
        "failed / measured requests"),
    Metric::new("duration_s", "duration", Seconds, Lower,
        Scalar(|m| Some(m.duration_s)),
        "first request start to last request end"),
    Metric::new("total_input_tokens", "input tokens", Tokens, Neither,
        Count(|m| m.total_input_tokens),
        "prompt tokens of the completed requests"),
    Metric::new("total_output_tokens", "output tokens", Tokens, Neither,
        Count(|m| m.total_output_tokens),
        "output tokens of the completed requests"),
    Metric::new("request_throughput_req_s", "request throughput", ReqPerS, Higher,
        Scalar(|m| Some(m.request_throughput_req_s)),
        "completed requests / duration")
        .per(Rate(|_| 1.0)),
    Metric::new("input_throughput_tok_s", "input throughput", TokPerS, Higher,
        Scalar(|m| Some(m.input_throughput_tok_s)),
        "input tokens / duration")
        .per(Rate(|r| r.prompt_tokens.map_or(0.0, f64::from))),
    Metric::new("output_throughput_tok_s", "output throughput", TokPerS, Higher,
        Scalar(|m| Some(m.output_throughput_tok_s)),
        "output tokens / duration")
        .per(Rate(|r| f64::from(r.output_tokens)))
        .reps(None, |m| m.repetitions.output_throughput_tok_s.as_ref()),
    Metric::new("total_throughput_tok_s", "total throughput", TokPerS, Higher,
        Scalar(|m| Some(m.total_throughput_tok_s)),
        "(input + output tokens) / duration")
        .per(Rate(|r| f64::from(r.output_tokens) + r.prompt_tokens.map_or(0.0, f64::from))),
    Metric::new("goodput_req_s", "goodput", ReqPerS, Higher,
        Scalar(|m| m.goodput.as_ref().map(|g| g.goodput_req_s)),
        "`goodput.goodput_req_s`: completed requests meeting every --goodput objective / duration"),
    Metric::new("ms_per_output_token", "ms per output token", Ms, Lower,
        Scalar(|m| m.ms_per_output_token),
        "1000 / output throughput: wall time per output token over the run"),
    Metric::new("output_tokens_per_request", "output tokens per request", Tokens, Neither,
        Scalar(RunMetrics::output_tokens_per_request),
        "output tokens / completed requests"),
    Metric::new("input_tokens_per_request", "input tokens per request", Tokens, Neither,
        Scalar(RunMetrics::input_tokens_per_request),
        "input tokens / completed requests"),
    Metric::new("prefill_tok_s", "prefill", TokPerS, Higher,
        Distribution(|m| m.prefill_tok_s, &[Stat::P50]),
        "prompt tokens / prefill time, per request")
        .per(Value(|r| r.prefill_tok_s)),
    Metric::new("decode_tok_s", "decode", TokPerS, Higher,
        Distribution(|m| m.decode_tok_s, &[Stat::P50]),
        "(n - 1) / (last token - first token), per request")
        .per(Value(|r| r.decode_tok_s)),
    Metric::new("ttft_ms", "TTFT", Ms, Lower,
        Distribution(|m| m.ttft_ms, LATENCY),
        "first token - request start; in-process, template + tokenize + prefill")
        .per(Value(|r| r.ttft_ms))
        .reps(Some(Stat::P50), |m| m.repetitions.ttft_p50_ms.as_ref()),
    Metric::new("ttfa_ms", "TTFA", Ms, Lower,
        Distribution(|m| m.ttfa_ms, LATENCY),
        "first answer (non-reasoning) token - request start; TTFT for a request that did not reason")
        .per(Value(|r| r.ttfa_ms)),
    Metric::new("ttfr_ms", "TTFR", Ms, Lower,
        Distribution(|m| m.ttfr_ms, &[Stat::Mean, Stat::P50]),
        "first reasoning token - request start, over the requests that reasoned")
        .per(Value(|r| r.ttfr_ms)),
    Metric::new("tpot_ms", "TPOT", Ms, Lower,
        Distribution(|m| m.tpot_ms, LATENCY),
        "(last token - first token) / (n - 1) per request; one-token requests excluded")
        .per(Value(|r| r.tpot_ms))
        .reps(Some(Stat::P50), |m| m.repetitions.tpot_p50_ms.as_ref()),
    Metric::new("itl_ms", "ITL", Ms, Lower,
        Distribution(|m| m.itl_ms, LATENCY),
        "every gap between consecutive tokens, pooled over the requests")
        .per(Gaps),
    Metric::new("e2e_ms", "E2E", Ms, Lower,
        Distribution(|m| m.e2e_ms, LATENCY),
        "request end - request start")
        .per(Value(|r| Some(r.e2e_ms))),
    Metric::new("schedule_lag_ms", "schedule lag", Ms, Lower,
        Distribution(|m| m.schedule_lag_ms, &[Stat::Mean, Stat::P50, Stat::P99, Stat::Max]),
        "send time - scheduled time, under a request rate or a trace")
        .per(Value(|r| r.schedule_lag_ms)),
    Metric::new("ttft_from_schedule_ms", "TTFT from schedule", Ms, Lower,
        Distribution(|m| m.ttft_from_schedule_ms, LATENCY),
        "first token - scheduled time: TTFT plus the schedule lag")
        .per(Value(RequestRecord::ttft_from_schedule_ms)),
    Metric::new("e2e_from_schedule_ms", "E2E from schedule", Ms, Lower,
        Distribution(|m| m.e2e_from_schedule_ms, LATENCY),
        "request end - scheduled time: E2E plus the schedule lag")
        .per(Value(RequestRecord::e2e_from_schedule_ms)),
    Metric::new("template_ms", "template", Ms, Lower,
        Distribution(|m| m.template_ms, &[Stat::Mean]),
        "rendering the chat template (in-process engines)")
        .per(Value(|r| r.template_ms)),
    Metric::new("tokenize_ms", "tokenize", Ms, Lower,
        Distribution(|m| m.tokenize_ms, &[Stat::Mean]),
        "tokenizing the rendered prompt (in-process engines)")
        .per(Value(|r| r.tokenize_ms)),
    Metric::new("prefill_ms", "prefill", Ms, Lower,
        Distribution(|m| m.prefill_ms, &[Stat::Mean, Stat::P50]),
        "the forward pass over the prompt plus sampling the first token")
        .per(Value(|r| r.prefill_ms)),
    Metric::new("decode_step_ms", "decode step", Ms, Lower,
        Distribution(|m| m.decode_step_ms, &[Stat::Mean, Stat::P50]),
        "a gap between tokens in-process: one forward pass plus sampling")
        .per(Gaps),
    Metric::new("detokenize_ms", "detokenize", Ms, Lower,
        Distribution(|m| m.detokenize_ms, &[Stat::Mean]),
        "turning the output tokens back into text (in-process engines)")
        .per(Value(|r| r.detokenize_ms)),
    Metric::new("prefix_hit_rate", "prefix-cache hit rate", Fraction, Higher,
        Scalar(|m| m.prefix_hit_rate),
        "cached prompt tokens / prompt tokens, over the requests whose engine reported cached tokens"),
    Metric::new("rep_output_throughput_cv", "repetitions' output throughput CV", Fraction, Lower,
        Scalar(|m| rep_cv(&m.repetitions.output_throughput_tok_s)),
        "`repetitions.output_throughput_tok_s.cv`: std / mean across repetitions (2 or more)"),
    Metric::new("rep_ttft_p50_cv", "repetitions' TTFT p50 CV", Fraction, Lower,
        Scalar(|m| rep_cv(&m.repetitions.ttft_p50_ms)),
        "`repetitions.ttft_p50_ms.cv`: std / mean across repetitions (2 or more)"),
    Metric::new("rep_tpot_p50_cv", "repetitions' TPOT p50 CV", Fraction, Lower,
        Scalar(|m| rep_cv(&m.repetitions.tpot_p50_ms)),
        "`repetitions.tpot_p50_ms.cv`: std / mean across repetitions (2 or more)"),
    Metric::new("rss_peak_mib", "peak RSS", MiB, Lower,
        Scalar(|m| m.resources.as_ref().map(|r| r.rss_peak_mib)),
        "`resources.rss_peak_mib`: the process's peak resident memory (kernel high-water mark)"),
    Metric::new("cpu_avg_percent", "CPU", Percent, Lower,
        Scalar(|m| m.resources.as_ref().and_then(|r| r.cpu_avg_percent)),
        "`resources.cpu_avg_percent`: CPU time over wall time, in percent of one core"),
    Metric::new("gpu_util_avg_percent", "GPU utilisation", Percent, Neither,
        Scalar(|m| m.resources.as_ref().and_then(|r| r.gpu.gpu_util_avg_percent)),
        "`resources.gpu_util_avg_percent`: mean share of time a kernel ran (NVML)"),
    Metric::new("gpu_mem_used_peak_mib", "GPU memory", MiB, Lower,
        Scalar(|m| m.resources.as_ref().and_then(|r| r.gpu.gpu_mem_used_peak_mib)),
        "`resources.gpu_mem_used_peak_mib`: peak device memory in use, device-wide (NVML)"),
    Metric::new("gpu_power_avg_w", "GPU power", Watts, Lower,
        Scalar(|m| m.resources.as_ref().and_then(|r| r.gpu.gpu_power_avg_w)),
        "`resources.gpu_power_avg_w`: mean board power (NVML)"),
    Metric::new("energy_j_per_output_token", "energy per output token", Joules, Lower,
        Scalar(|m| m.energy.as_ref().and_then(|e| e.energy_j_per_output_token)),
        "`energy.energy_j_per_output_token`: energy counters' difference over the run (NVML on GPUs, RAPL on CPUs) / output tokens"),
    Metric::new("energy_j_per_request", "energy per request", Joules, Lower,
        Scalar(|m| m.energy.as_ref().and_then(|e| e.energy_j_per_request)),
        "`energy.energy_j_per_request`: the same energy / completed requests"),
    Metric::new("decode_bytes_per_token", "bytes per decoded token", Bytes, Neither,
        Scalar(|m| m.roofline.map(|r| r.decode_bytes_per_token)),
        "`roofline.decode_bytes_per_token`: weights read per token plus the KV cache at the mean decode context"),
    Metric::new("decode_mbu", "decode MBU", Fraction, Higher,
        Scalar(|m| m.roofline.and_then(|r| r.decode_mbu)),
        "`roofline.decode_mbu`: bytes per token x decode tok/s / probed read bandwidth at the run's threads"),
    Metric::new("prefill_mfu", "prefill MFU", Fraction, Higher,
        Scalar(|m| m.roofline.and_then(|r| r.prefill_mfu)),
        "`roofline.prefill_mfu`: FLOPs per prompt token x prefill tok/s / probed peak FLOP/s"),
    Metric::new("roofline_decode_tok_s", "decode roofline", TokPerS, Neither,
        Scalar(|m| m.roofline.and_then(|r| r.roofline_decode_tok_s)),
        "`roofline.roofline_decode_tok_s`: the decode rate the probed bandwidth allows"),
    Metric::new("rouge1_f1", "ROUGE-1 F1", Fraction, Higher,
        Scalar(|m| m.accuracy.as_ref().and_then(|a| a.rouge1_f1)),
        "`accuracy.rouge1_f1`: mean unigram-overlap F1 against the reference summaries (rouge-score's tokenizer, no stemming)"),
    Metric::new("rouge2_f1", "ROUGE-2 F1", Fraction, Higher,
        Scalar(|m| m.accuracy.as_ref().and_then(|a| a.rouge2_f1)),
        "`accuracy.rouge2_f1`: mean bigram-overlap F1 against the reference summaries"),
    Metric::new("rougel_f1", "ROUGE-L F1", Fraction, Higher,
        Scalar(|m| m.accuracy.as_ref().and_then(|a| a.rougel_f1)),
        "`accuracy.rougel_f1`: mean longest-common-subsequence F1 against the reference summaries"),
    Metric::new("json_valid_rate", "valid JSON", Fraction, Higher,
        Scalar(|m| m.accuracy.as_ref().and_then(|a| a.json_valid_rate)),
        "`accuracy.json_valid_rate`: share of extraction answers that parse as JSON"),
    Metric::new("schema_valid_rate", "schema-valid JSON", Fraction, Higher,
        Scalar(|m| m.accuracy.as_ref().and_then(|a| a.schema_valid_rate)),
        "`accuracy.schema_valid_rate`: share of extraction answers that match the workload's JSON Schema"),
    Metric::new("field_exact_match", "field exact match", Fraction, Higher,
        Scalar(|m| m.accuracy.as_ref().and_then(|a| a.field_exact_match)),
        "`accuracy.field_exact_match`: mean share of expected fields an extraction answer has exactly"),
    Metric::new("cost_usd", "cost", Usd, Lower,
        Scalar(|m| m.cost.map(|c| c.cost_usd)),
        "`cost.cost_usd`: input tokens x input price + output tokens x output price, over the completed requests"),
    Metric::new("cost_per_request_usd", "cost per request", Usd, Lower,
        Scalar(|m| m.cost.map(|c| c.cost_per_request_usd)),
        "`cost.cost_per_request_usd`: the run's cost / completed requests"),
    Metric::new("cost_per_mtok_output_usd", "cost per million output tokens", Usd, Lower,
        Scalar(|m| m.cost.and_then(|c| c.cost_per_mtok_output_usd)),
        "`cost.cost_per_mtok_output_usd`: the run's cost (input and output) / output tokens x 1e6"),
];

/// One column of the reports: a metric, or one statistic of a distribution.
pub struct Column {
    name: String,
    pub metric: &'static Metric,
    pub stat: Option<Stat>,
}

impl Column {
    /// The column's name: the metric's, with a statistic before a `_ms` unit suffix
    /// (`ttft_p50_ms`) or after any other name (`prefill_tok_s_p50`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What tables call it: "TTFT p50 (ms)", "output throughput (tok/s)".
    pub fn label(&self) -> String {
        let mut s = self.metric.label.to_owned();
        if let Some(stat) = self.stat {
            s = format!("{s} {}", stat.name());
        }
        if self.metric.unit.in_label() {
            s = format!("{s} ({})", self.metric.unit.text());
        }
        s
    }

    /// The column's figure for a run, when it has one.
    pub fn value(&self, m: &RunMetrics) -> Option<f64> {
        match (self.metric.read, self.stat) {
            (Read::Count(f), _) => Some(f(m) as f64),
            (Read::Scalar(f), _) => f(m),
            (Read::Distribution(f, _), Some(stat)) => f(m).map(|s| stat.of(&s)),
            (Read::Distribution(..), None) => None,
        }
    }

    /// The figure as a JSON value: counts as integers, floats as floats, null when absent.
    pub fn cell(&self, m: &RunMetrics) -> serde_json::Value {
        match self.metric.read {
            Read::Count(f) => f(m).into(),
            _ => self.value(m).into(),
        }
    }

    /// The figure's spread across the run's repetitions, where the run records it.
    pub fn reps<'a>(&self, m: &'a RunMetrics) -> Option<&'a Spread> {
        self.metric
            .reps
            .filter(|r| r.stat == self.stat)
            .and_then(|r| (r.read)(m))
    }
}

/// Every column of every metric, in catalogue order.
pub fn columns() -> &'static [Column] {
    static COLUMNS: OnceLock<Vec<Column>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let mut out = Vec::new();
        for metric in CATALOGUE {
            let Read::Distribution(_, stats) = metric.read else {
                out.push(Column {
                    name: metric.name.to_owned(),
                    metric,
                    stat: None,
                });
                continue;
            };
            for &stat in stats {
                let name = match metric.name.strip_suffix("_ms") {
                    Some(stem) => format!("{stem}_{}_ms", stat.name()),
                    None => format!("{}_{}", metric.name, stat.name()),
                };
                out.push(Column {
                    name,
                    metric,
                    stat: Some(stat),
                });
            }
        }
        out
    })
}

/// The column of that name.
pub fn column(name: &str) -> Option<&'static Column> {
    columns().iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|m| m.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a metric name repeats");
        let mut cols: Vec<&str> = columns().iter().map(Column::name).collect();
        cols.sort_unstable();
        let n = cols.len();
        cols.dedup();
        assert_eq!(cols.len(), n, "a column name repeats");
    }

    #[test]
    fn columns_read_their_statistic() {
        let m = RunMetrics::compute(&[], true, None);
        let c = column("ttft_p50_ms").expect("a column");
        assert_eq!((c.metric.name, c.stat), ("ttft_ms", Some(Stat::P50)));
        assert_eq!(c.label(), "TTFT p50 (ms)");
        assert_eq!(c.value(&m), None);
        assert_eq!(
            column("prefill_tok_s_p50").unwrap().metric.name,
            "prefill_tok_s"
        );
        let failed = column("failed").unwrap();
        assert_eq!(failed.label(), "failed requests");
        assert_eq!(failed.cell(&m), serde_json::json!(0));
        assert!(column("ttft_ms").is_none());
    }
}
