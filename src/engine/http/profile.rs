//! The client's own cost per streamed chunk, for `benches/client-capacity.sh` (hidden
//! flag `--chunk-profile FILE`). Two latencies per token chunk, in nanoseconds:
//!
//! - process: from the bytes read off the socket (one read takes all that is waiting)
//!   to the token mark recorded: body decode, SSE parse, JSON scan and record, plus the
//!   chunks before it in the same read.
//! - delivery: from the server handing the chunk to its connection (`serve
//!   --stamp-chunks`, on the host's monotonic clock) to the token mark: the loopback,
//!   the wait for the client to be scheduled, and the processing above.
//!
//! Each request collects its own samples and merges them once, at its end, so the
//! profile takes one lock per request, not per chunk.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::engine::openai::monotonic_ns;

/// One request's samples, in nanoseconds.
#[derive(Debug, Default)]
pub struct ChunkSamples {
    process: Vec<u64>,
    delivery: Vec<u64>,
}

impl ChunkSamples {
    /// Records a token chunk whose bytes were read at `read` and that the server stamped
    /// `sent_ns`, just after its mark.
    pub fn token(&mut self, read: Instant, sent_ns: Option<u64>) {
        self.process.push(read.elapsed().as_nanos() as u64);
        if let Some(sent) = sent_ns {
            self.delivery.push(monotonic_ns().saturating_sub(sent));
        }
    }
}

/// The run's histograms (1 ns to 60 s, 3 significant digits).
#[derive(Debug)]
pub struct ChunkProfile {
    path: PathBuf,
    hists: Mutex<(Histogram<u64>, Histogram<u64>)>,
}

/// A latency distribution as written, in microseconds.
#[derive(Debug, Serialize)]
struct Dist {
    count: u64,
    mean_us: f64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
}

impl Dist {
    fn of(h: &Histogram<u64>) -> Dist {
        let us = |ns: u64| ns as f64 / 1e3;
        Dist {
            count: h.len(),
            mean_us: h.mean() / 1e3,
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// The file written.
#[derive(Debug, Serialize)]
struct ProfileFile {
    process: Dist,
    delivery: Dist,
    /// CPU time of the whole client process so far (user + system), in seconds.
    client_cpu_s: f64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("fixed, valid bounds")
}

impl ChunkProfile {
    pub fn new(path: &Path) -> ChunkProfile {
        ChunkProfile {
            path: path.to_owned(),
            hists: Mutex::new((histogram(), histogram())),
        }
    }

    /// Adds one request's samples.
    pub fn merge(&self, s: &ChunkSamples) {
        let Ok(mut h) = self.hists.lock() else {
            return;
        };
        for &v in &s.process {
            h.0.saturating_record(v.max(1));
        }
        for &v in &s.delivery {
            h.1.saturating_record(v.max(1));
        }
    }

    /// Forgets the samples so far (those of the warmup).
    pub fn reset(&self) {
        if let Ok(mut h) = self.hists.lock() {
            h.0.reset();
            h.1.reset();
        }
    }

    /// Writes the distributions as JSON.
    pub fn write(&self) -> std::io::Result<()> {
        let file = {
            let h = self
                .hists
                .lock()
                .map_err(|_| std::io::Error::other("the profile lock is poisoned"))?;
            ProfileFile {
                process: Dist::of(&h.0),
                delivery: Dist::of(&h.1),
                client_cpu_s: process_cpu_s(),
            }
        };
        let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        std::fs::write(&self.path, text)
    }
}

/// This process's user + system CPU time, in seconds.
fn process_cpu_s() -> f64 {
    // SAFETY: getrusage fills one rusage struct through a valid pointer.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}
