//! The client's own cost per streamed chunk, for `benches/client-capacity.sh` (hidden
//! flag `--chunk-profile FILE`). Latencies per token chunk, in nanoseconds, all on the
//! host's monotonic clock:
//!
//! - process: from the read that brought the chunk's bytes (one read takes all that is
//!   waiting) to the token mark recorded: body decode, SSE parse, JSON scan and record,
//!   plus the chunks before it in the same read.
//! - client (the client-added latency): from the kernel's receipt of the read's newest
//!   bytes ([`receipt`](crate::openai::receipt)) to the token mark: the process time above plus
//!   the client's wake-up and its wait behind other sockets. Exact for a chunk that came
//!   alone in its read; for the earlier chunks of a read that brought several it starts
//!   at the newest bytes' receipt, so `shared_read_chunks` counts those. A read the kernel
//!   did not stamp (the first packets after the host's first timestamping socket is
//!   opened, before the kernel's deferred switch-on has run) has no client latency, and
//!   `unstamped_chunks` counts its chunks instead of the profile pretending.
//! - delivery: from the server handing the chunk to its connection (`serve
//!   --stamp-chunks`) to the token mark, and transit, from that stamp to the kernel's
//!   receipt: the server's write and the loopback, which are not the client's.
//!
//! Each request collects its own samples and merges them once, at its end, so the
//! profile takes one lock per request, not per chunk.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::clock::monotonic_ns;
use crate::openai::receipt::Arrival;

/// One request's samples, in nanoseconds.
#[derive(Debug, Default)]
pub struct ChunkSamples {
    process: Vec<u64>,
    client: Vec<u64>,
    transit: Vec<u64>,
    delivery: Vec<u64>,
    /// Token chunks that came in the same read as an earlier one.
    shared_read: u64,
    /// Token chunks whose read carried no kernel receive stamp.
    unstamped: u64,
    last_read_ns: u64,
}

impl ChunkSamples {
    /// Records a token chunk whose bytes arrived as `arrived` says and that the server
    /// stamped `sent_ns`, just after its mark.
    pub(super) fn token(&mut self, arrived: Arrival, sent_ns: Option<u64>) {
        let now = monotonic_ns();
        if arrived.read_ns == self.last_read_ns {
            self.shared_read += 1;
        }
        self.last_read_ns = arrived.read_ns;
        self.process.push(now.saturating_sub(arrived.read_ns));
        match arrived.kernel_ns {
            Some(kernel) => self.client.push(now.saturating_sub(kernel)),
            None => self.unstamped += 1,
        }
        if let Some(sent) = sent_ns {
            self.delivery.push(now.saturating_sub(sent));
            if let Some(kernel) = arrived.kernel_ns {
                self.transit.push(kernel.saturating_sub(sent));
            }
        }
    }
}

/// The run's histograms (1 ns to 60 s, 3 significant digits).
#[derive(Debug)]
struct Hists {
    process: Histogram<u64>,
    client: Histogram<u64>,
    transit: Histogram<u64>,
    delivery: Histogram<u64>,
    shared_read: u64,
    unstamped: u64,
}

impl Hists {
    fn new() -> Hists {
        let h = || Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("fixed, valid bounds");
        Hists {
            process: h(),
            client: h(),
            transit: h(),
            delivery: h(),
            shared_read: 0,
            unstamped: 0,
        }
    }
}

/// The run's per-chunk profile, written as JSON at its end.
#[derive(Debug)]
pub struct ChunkProfile {
    path: PathBuf,
    hists: Mutex<Hists>,
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
    client: Dist,
    transit: Dist,
    delivery: Dist,
    /// Token chunks that came in the same read as an earlier one (see `client`).
    shared_read_chunks: u64,
    /// Token chunks whose read the kernel did not stamp: in `process`, not in `client`
    /// or `transit`.
    unstamped_chunks: u64,
    /// CPU time of the whole client process so far (user + system), in seconds.
    client_cpu_s: f64,
}

impl ChunkProfile {
    pub fn new(path: &Path) -> ChunkProfile {
        ChunkProfile {
            path: path.to_owned(),
            hists: Mutex::new(Hists::new()),
        }
    }

    /// Adds one request's samples.
    pub fn merge(&self, s: &ChunkSamples) {
        let Ok(mut guard) = self.hists.lock() else {
            return;
        };
        let h = &mut *guard;
        let pairs = [
            (&mut h.process, &s.process),
            (&mut h.client, &s.client),
            (&mut h.transit, &s.transit),
            (&mut h.delivery, &s.delivery),
        ];
        for (hist, samples) in pairs {
            for &v in samples {
                hist.saturating_record(v.max(1));
            }
        }
        h.shared_read += s.shared_read;
        h.unstamped += s.unstamped;
    }

    /// Forgets the samples so far (those of the warmup).
    pub fn reset(&self) {
        if let Ok(mut h) = self.hists.lock() {
            *h = Hists::new();
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
                process: Dist::of(&h.process),
                client: Dist::of(&h.client),
                transit: Dist::of(&h.transit),
                delivery: Dist::of(&h.delivery),
                shared_read_chunks: h.shared_read,
                unstamped_chunks: h.unstamped,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A read without a kernel stamp is counted as such, not dropped from the profile
    /// unseen and not given a made-up client latency.
    #[test]
    fn a_read_without_a_kernel_stamp_is_counted_as_unstamped() {
        let mut s = ChunkSamples::default();
        let read_ns = monotonic_ns();
        s.token(
            Arrival {
                read_ns,
                kernel_ns: None,
            },
            Some(read_ns),
        );
        s.token(
            Arrival {
                read_ns: read_ns + 1,
                kernel_ns: Some(read_ns),
            },
            Some(read_ns),
        );
        assert_eq!(
            (s.process.len(), s.client.len(), s.transit.len()),
            (2, 1, 1)
        );
        assert_eq!(s.unstamped, 1);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.json");
        let p = ChunkProfile::new(&path);
        p.merge(&s);
        p.write().unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["unstamped_chunks"], 1);
        assert_eq!(v["client"]["count"], 1);
        assert_eq!(v["process"]["count"], 2);
    }
}
