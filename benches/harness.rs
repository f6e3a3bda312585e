//! Harness overhead: what nativebench's own recorder costs per token.
//!
//! A zero-delay sim engine generates tokens as fast as it can, once with a recorder that
//! does nothing and once with the runner's `MarkRecorder` (a clock read and a push per
//! token). The difference per token is the harness's cost, which every in-process
//! decode step pays. Target: under 1 µs per token.
//!
//! `cargo bench --bench harness` runs the criterion groups, then prints the figure.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use nativebench::engine::{Engine, Mark, Prompt, Recorder, Request, SimConfig, SimEngine};
use nativebench::metrics::MarkRecorder;

const TOKENS: u32 = 4096;

fn zero_delay_engine() -> SimEngine {
    let zero = SimConfig {
        template_ms: 0.0,
        tokenize_ms_per_kb: 0.0,
        prefill_ms: 0.0,
        prefill_ms_per_token: 0.0,
        decode_ms: 0.0,
        jitter: 0.0,
        failure_rate: 0.0,
        max_batch: 1,
    };
    SimEngine::new(zero, 0)
}

fn request() -> Request {
    Request {
        id: 0,
        prompt: Prompt::Text("measure the harness".into()),
        max_tokens: TOKENS,
        ignore_eos: true,
    }
}

/// A recorder that records nothing: the baseline.
struct Null;

impl Recorder for Null {
    fn mark(&mut self, _: Mark) {}
}

fn with_null(engine: &mut SimEngine, req: &Request) -> Duration {
    let t = Instant::now();
    engine.generate(req, &mut Null).expect("sim generates");
    t.elapsed()
}

fn with_marks(engine: &mut SimEngine, req: &Request, stop: &AtomicBool) -> Duration {
    let t = Instant::now();
    let mut rec = MarkRecorder::start(req.max_tokens as usize, stop);
    let out = engine.generate(req, &mut rec);
    let record = rec.finish(req, out, Instant::now(), t);
    let d = t.elapsed();
    assert_eq!(record.output_tokens, TOKENS);
    d
}

fn recorder(c: &mut Criterion) {
    let mut engine = zero_delay_engine();
    let req = request();
    let stop = AtomicBool::new(false);
    let mut g = c.benchmark_group("recorder");
    g.throughput(Throughput::Elements(u64::from(TOKENS)));
    g.bench_function(BenchmarkId::new("sim_decode", "null_recorder"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| with_null(&mut engine, &req)).sum())
    });
    g.bench_function(BenchmarkId::new("sim_decode", "mark_recorder"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| with_marks(&mut engine, &req, &stop))
                .sum()
        })
    });
    g.finish();
}

/// Alternates the two recorders and prints the median cost per token of each, and the
/// difference: the recorder's cost.
fn print_overhead() {
    let mut engine = zero_delay_engine();
    let req = request();
    let stop = AtomicBool::new(false);
    let (mut null, mut marks) = (Vec::new(), Vec::new());
    for _ in 0..201 {
        null.push(with_null(&mut engine, &req).as_secs_f64() * 1e9 / f64::from(TOKENS));
        marks.push(with_marks(&mut engine, &req, &stop).as_secs_f64() * 1e9 / f64::from(TOKENS));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (n, m) = (median(&mut null), median(&mut marks));
    println!(
        "harness overhead: {m:.1} ns/token with the recorder, {n:.1} ns/token without: recorder cost {:.1} ns/token (target < 1000 ns)",
        m - n
    );
}

criterion_group!(benches, recorder);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_overhead();
}
