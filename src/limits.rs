//! The accepted range of every number a user or a file gives (flags, workload fields, the
//! sim engine's delays), and the one message for a value outside it: the name, the value
//! and the range, so that no number reaches an allocation, a `Duration` or a loop count
//! unchecked. `cli` turns these into clap value parsers; workload files check theirs here.

use std::fmt;

/// A closed range of integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    pub lo: i128,
    pub hi: i128,
}

/// A range of finite floats; `lo_open` excludes `lo` itself (a timeout of 0 s means
/// nothing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatRange {
    pub lo: f64,
    pub hi: f64,
    pub lo_open: bool,
    pub hi_open: bool,
}

const fn int(lo: i128, hi: i128) -> IntRange {
    IntRange { lo, hi }
}

const fn float(lo: f64, hi: f64) -> FloatRange {
    FloatRange {
        lo,
        hi,
        lo_open: false,
        hi_open: false,
    }
}

const fn above(lo: f64, hi: f64) -> FloatRange {
    FloatRange {
        lo,
        hi,
        lo_open: true,
        hi_open: false,
    }
}

/// Shards of one load (`run --shard I/N`): client hosts driving one server together.
pub const SHARDS: IntRange = int(1, 4096);
/// The point of a sweep plan `sweep run --index` runs (a job array's task id).
pub const SWEEP_INDEX: IntRange = int(0, 1_000_000);
/// How far from now a shared start time (`run --start-at`) may lie, seconds.
pub const START_AT_WINDOW_S: f64 = 86_400.0;

/// Prompts per run (requests are built up front, one record each).
pub const PROMPTS: IntRange = int(1, 10_000_000);
/// Requests in flight at once.
pub const CONCURRENCY: IntRange = int(1, 100_000);
/// Repetitions of a run or a bench test.
pub const REPETITIONS: IntRange = int(1, 1_000_000);
/// Warmup requests.
pub const WARMUP: IntRange = int(0, 1_000_000);
/// Prompt and output lengths in tokens (a 16M-token context is beyond every model).
pub const TOKENS: IntRange = int(1, 1 << 24);
/// A shared prefix, in tokens.
pub const PREFIX_TOKENS: IntRange = int(0, 1 << 24);
/// `max_tokens` of a data set line: anything a server accepts (`u32`); memory follows the
/// tokens that arrive, never this number.
pub const MAX_TOKENS: IntRange = int(1, u32::MAX as i128);
/// CPU threads.
pub const THREADS: IntRange = int(1, 4096);
/// llama.cpp's context and batch sizes, in tokens.
pub const CONTEXT: IntRange = int(1, 1 << 24);
/// Layers offloaded to a GPU (llama.cpp clamps to the model's).
pub const GPU_LAYERS: IntRange = int(0, 100_000);
/// llama.cpp's --poll.
pub const POLL: IntRange = int(0, 100);
/// A seed.
pub const SEED: IntRange = int(0, u64::MAX as i128);
/// A TCP port (0 picks a free one).
pub const PORT: IntRange = int(0, u16::MAX as i128);
/// Requests a sim engine decodes together.
pub const SIM_BATCH: IntRange = int(1, 100_000);
/// Requests a sim engine serves before it fails for good (`--sim-fail-after`).
pub const SIM_FAIL_AFTER: IntRange = int(0, u64::MAX as i128);
/// Connections `serve` holds open at once.
pub const MAX_CONNECTIONS: IntRange = int(1, 1_000_000);
/// Requests `serve` holds admitted and not finished.
pub const MAX_QUEUE: IntRange = int(1, 10_000_000);
/// Seconds of `serve`'s header, body and stall timeouts (a day at most).
pub const SERVE_TIMEOUT_S: FloatRange = above(0.0, 86_400.0);
/// A price in US dollars per million tokens.
pub const PRICE_USD: FloatRange = float(0.0, 1e9);
/// Seconds between scrapes of a server's Prometheus metrics.
pub const SCRAPE_S: FloatRange = float(0.05, 3600.0);
/// A measured value `ratio` sets against another (t/s, ms): not negative.
pub const RATIO_VALUE: FloatRange = float(0.0, 1e15);
/// The sim's reasoning and cached tokens per request (`--sim-reasoning-tokens`,
/// `--sim-cached-tokens`).
pub const SIM_TOKENS: IntRange = int(0, 1 << 24);
/// Sampling's top-k.
pub const TOP_K: IntRange = int(1, 1 << 24);
/// Seconds of a per-request timeout (a year at most: a `Duration` holds it).
pub const TIMEOUT_S: FloatRange = above(0.0, 31_536_000.0);
/// Seconds to wait for a server to be ready (0: not at all).
pub const READY_S: FloatRange = float(0.0, 31_536_000.0);
/// Seconds a timed run sends for.
pub const DURATION_S: FloatRange = above(0.0, 31_536_000.0);
/// Requests per second.
pub const RATE: FloatRange = above(0.0, 1e9);
/// The gamma shape of arrival gaps.
/// How much faster than recorded a trace is replayed.
pub const TRACE_SPEEDUP: FloatRange = above(0.0, 1e6);
/// A point in a trace, seconds from its start (`--trace-window`): a year.
pub const TRACE_SECONDS: FloatRange = float(0.0, 31_536_000.0);
/// Gamma shape of the arrival process.
pub const BURSTINESS: FloatRange = above(0.0, 1e6);
/// `--sample-interval`, ms: from 1 ms (finer only measures the sampler) to an hour.
pub const SAMPLE_INTERVAL_MS: FloatRange = float(1.0, 3_600_000.0);
/// `--sim-bytes-per-token` and `--sim-flops-per-token`: up to 1e15 per token.
pub const BYTES_PER_TOKEN: FloatRange = above(0.0, 1e15);
/// A sim engine delay in milliseconds (an hour at most).
pub const SIM_MS: FloatRange = float(0.0, 3_600_000.0);
/// A fraction: jitter, failure rate, a match rate.
pub const FRACTION: FloatRange = float(0.0, 1.0);
/// The length spread of random workloads, `[0, 1)`.
pub const RANGE_RATIO: FloatRange = FloatRange {
    lo: 0.0,
    hi: 1.0,
    lo_open: false,
    hi_open: true,
};
/// Sampling temperature.
pub const TEMPERATURE: FloatRange = float(0.0, 100.0);
/// Nucleus sampling threshold.
pub const TOP_P: FloatRange = above(0.0, 1.0);
/// A percentage (`report --threshold`).
pub const PERCENT: FloatRange = float(0.0, 1000.0);
/// A goodput objective or a threshold, in ms or percent.
pub const OBJECTIVE: FloatRange = above(0.0, 1e12);
/// A share of requests that must meet an objective, `(0, 1]`.
pub const SHARE: FloatRange = above(0.0, 1.0);
/// Runs per probe point of an SLO search.
pub const SEARCH_RUNS: IntRange = int(1, 100);

/// A value outside its range: `NAME VALUE: out of range, expected ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfRange {
    pub name: String,
    pub value: String,
    pub expected: String,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: out of range, expected {}",
            self.name, self.value, self.expected
        )
    }
}

impl std::error::Error for OutOfRange {}

impl IntRange {
    /// What the range accepts, for messages: `an integer from 1 to 100`.
    pub fn describe(&self) -> String {
        format!("an integer from {} to {}", self.lo, self.hi)
    }

    /// `v` when inside the range, converted to the type its user wants.
    pub fn check<T: TryFrom<i128>>(&self, name: &str, v: impl Into<i128>) -> Result<T, OutOfRange> {
        let v = v.into();
        if v < self.lo || v > self.hi {
            return Err(self.outside(name, &v.to_string()));
        }
        T::try_from(v).map_err(|_| self.outside(name, &v.to_string()))
    }

    /// Parses text as an integer inside the range; anything else (a fraction, `1e300`,
    /// `NaN`, a number past any integer type) gets the range's message.
    pub fn parse<T: TryFrom<i128>>(&self, name: &str, text: &str) -> Result<T, OutOfRange> {
        match text.trim().parse::<i128>() {
            Ok(v) => self.check(name, v),
            Err(_) => Err(self.outside(name, text)),
        }
    }

    fn outside(&self, name: &str, value: &str) -> OutOfRange {
        OutOfRange {
            name: name.to_owned(),
            value: value.to_owned(),
            expected: self.describe(),
        }
    }
}

impl FloatRange {
    /// What the range accepts, for messages: `a number from 0 (exclusive) to 10`.
    pub fn describe(&self) -> String {
        let open = |o: bool| if o { " (exclusive)" } else { "" };
        format!(
            "a number from {}{} to {}{}",
            self.lo,
            open(self.lo_open),
            self.hi,
            open(self.hi_open)
        )
    }

    /// Whether `v` is a finite number inside the range.
    pub fn contains(&self, v: f64) -> bool {
        let above = if self.lo_open {
            v > self.lo
        } else {
            v >= self.lo
        };
        let below = if self.hi_open {
            v < self.hi
        } else {
            v <= self.hi
        };
        v.is_finite() && above && below
    }

    /// `v` when inside the range.
    pub fn check(&self, name: &str, v: f64) -> Result<f64, OutOfRange> {
        if self.contains(v) {
            Ok(v)
        } else {
            Err(self.outside(name, &v.to_string()))
        }
    }

    /// Parses text as a number inside the range.
    pub fn parse(&self, name: &str, text: &str) -> Result<f64, OutOfRange> {
        match text.trim().parse::<f64>() {
            Ok(v) if self.contains(v) => Ok(v),
            _ => Err(self.outside(name, text)),
        }
    }

    fn outside(&self, name: &str, value: &str) -> OutOfRange {
        OutOfRange {
            name: name.to_owned(),
            value: value.to_owned(),
            expected: self.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_outside_or_not_an_integer_names_the_range() {
        assert_eq!(PROMPTS.parse::<usize>("--n", "5"), Ok(5));
        for bad in ["0", "-1", "1e300", "NaN", "inf", "10000001", "1.5", ""] {
            let e = PROMPTS.parse::<usize>("--n", bad).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("--n {bad}: out of range, expected an integer from 1 to 10000000")
            );
        }
        // Past u64: still the range's message, not a parse error.
        let e = SEED
            .parse::<u64>("--seed", "18446744073709551616")
            .unwrap_err();
        assert!(e.to_string().ends_with("to 18446744073709551615"), "{e}");
        assert_eq!(
            SEED.parse::<u64>("--seed", "18446744073709551615"),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn a_float_outside_names_the_range() {
        assert_eq!(TIMEOUT_S.parse("--timeout", "2.5"), Ok(2.5));
        for bad in ["0", "-1", "NaN", "inf", "1e20", "x"] {
            let e = TIMEOUT_S.parse("--timeout", bad).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("--timeout {bad}: out of range, expected a number from 0 (exclusive) to 31536000")
            );
        }
        assert!(RANGE_RATIO.contains(0.0) && !RANGE_RATIO.contains(1.0));
    }
}
