//! Criterion microbenchmarks of the in-process engines on the synthetic tiny model:
//! prefill of 64 and 512 tokens, one decode step, and tokenizing 1 KiB and 64 KiB.
//! Each measurement synchronizes the engine before the clock stops (`iter_custom`).
//!
//! `cargo bench --bench engines`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nativebench::engine::{self, EngineConfig, EngineKind, Prompt, Request};

const MODEL: &str = "synth:tiny:q8_0";

fn config(kind: EngineKind, ctx: u32) -> EngineConfig {
    let mut c = EngineConfig {
        kind,
        model: Some(MODEL.into()),
        threads: Some(std::thread::available_parallelism().map_or(1, |n| n.get())),
        ..EngineConfig::default()
    };
    c.llama.ctx_size = Some(ctx);
    c
}

fn engines(c: &mut Criterion) {
    for kind in EngineKind::in_process_compiled() {
        let Ok(mut eng) = engine::build(&config(kind, 1024)) else {
            eprintln!("skipping {kind}: it cannot open {MODEL}");
            continue;
        };
        let mut g = c.benchmark_group(format!("{kind}"));
        let vocab = eng.token_bench().map_or(1, |t| t.vocab_size());
        for n in [64usize, 512] {
            let tokens: Vec<u32> = (0..n as u32).map(|i| (i * 7919) % vocab).collect();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(BenchmarkId::new("prefill", n), |b| {
                b.iter_custom(|iters| {
                    let tb = eng
                        .token_bench()
                        .expect("in-process engines offer token access");
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        tb.clear().expect("clear");
                        let t = Instant::now();
                        tb.prefill(&tokens).expect("prefill");
                        tb.synchronize();
                        total += t.elapsed();
                    }
                    total
                })
            });
        }
        g.throughput(Throughput::Elements(1));
        g.bench_function("decode_step", |b| {
            b.iter_custom(|iters| {
                let tb = eng
                    .token_bench()
                    .expect("in-process engines offer token access");
                tb.clear().expect("clear");
                tb.prefill(&[1, 2, 3, 4]).expect("prefill");
                tb.synchronize();
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    // Stay inside the context: start over every 512 steps, untimed.
                    if i % 512 == 511 {
                        tb.clear().expect("clear");
                        tb.prefill(&[1, 2, 3, 4]).expect("prefill");
                        tb.synchronize();
                    }
                    let t = Instant::now();
                    tb.decode((i as u32 * 31) % vocab).expect("decode");
                    tb.synchronize();
                    total += t.elapsed();
                }
                total
            })
        });
        let prose = include_str!("../workloads/data/bridges.txt");
        for kib in [1usize, 64] {
            let text: String = prose.chars().cycle().take(kib * 1024).collect();
            let req = Request {
                id: 0,
                prompt: Prompt::Text(text),
                max_tokens: 1,
                ignore_eos: true,
                category: None,
                expected: None,
                arrival_us: None,
                turn: None,
            };
            g.throughput(Throughput::Bytes((kib * 1024) as u64));
            g.bench_function(BenchmarkId::new("tokenize_kib", kib), |b| {
                b.iter(|| eng.prompt_tokens(&req).expect("tokenize"))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, engines);
criterion_main!(benches);
