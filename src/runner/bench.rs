//! llama-bench-style tests, in-process: `pp` (prompt processing), `tg` (text generation)
//! and `pp+tg`, optionally after `d` tokens already in the context. The procedure is
//! llama-bench's: random token ids, prompt decoded in chunks of the batch size, generation
//! one token per decode with no sampling, the cache cleared before every repetition, a
//! synchronize before the clock stops, and t/s reported as the mean and sample standard
//! deviation of per-repetition rates.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::engine::{EngineError, TokenBench};
use crate::metrics::aggregate::NOISY_CV;
use crate::metrics::stats::mean_std;

/// One test: `n_prompt` tokens of prompt, then `n_gen` generated, after `n_depth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchTest {
    pub n_prompt: usize,
    pub n_gen: usize,
    pub n_depth: usize,
}

impl BenchTest {
    /// llama-bench's test name: `pp512`, `tg128`, `pp512+tg128`, with ` @ d512` for depth.
    pub fn name(&self) -> String {
        let base = match (self.n_prompt, self.n_gen) {
            (p, 0) => format!("pp{p}"),
            (0, g) => format!("tg{g}"),
            (p, g) => format!("pp{p}+tg{g}"),
        };
        if self.n_depth > 0 {
            format!("{base} @ d{}", self.n_depth)
        } else {
            base
        }
    }

    /// Tokens the context must hold.
    pub fn n_ctx(&self) -> usize {
        self.n_prompt + self.n_gen + self.n_depth
    }
}

/// Per-repetition times of one test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchSamples {
    /// Whole-test time per repetition, ns.
    pub samples_ns: Vec<u64>,
    /// The prompt part of a `pp+tg` test, ns (empty otherwise).
    pub pp_samples_ns: Vec<u64>,
    /// The generation part of a `pp+tg` test, ns (empty otherwise).
    pub tg_samples_ns: Vec<u64>,
}

/// Rates over repetitions, computed as llama-bench computes them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub avg_ts: f64,
    pub stddev_ts: f64,
    /// Coefficient of variation of the per-repetition rates.
    pub cv: f64,
}

impl Rate {
    /// `tokens / time` per repetition, then their mean and sample std.
    pub fn of(tokens: usize, samples_ns: &[u64]) -> Option<Rate> {
        if samples_ns.is_empty() || tokens == 0 {
            return None;
        }
        let ts: Vec<f64> = samples_ns
            .iter()
            .map(|&ns| tokens as f64 * 1e9 / ns.max(1) as f64)
            .collect();
        let (avg_ts, stddev_ts) = mean_std(&ts);
        Some(Rate {
            avg_ts,
            stddev_ts,
            cv: if avg_ts > 0.0 {
                stddev_ts / avg_ts
            } else {
                0.0
            },
        })
    }

    pub fn noisy(&self) -> bool {
        self.cv > NOISY_CV
    }
}

/// The token ids of a test prompt: uniform random ids, as llama-bench uses.
fn random_tokens(rng: &mut StdRng, n: usize, vocab: u32) -> Vec<u32> {
    (0..n).map(|_| rng.random_range(0..vocab.max(1))).collect()
}

/// Runs one test `reps` times on `engine`, after a warmup unless `warmup` is false.
pub fn run_test(
    engine: &mut dyn TokenBench,
    test: BenchTest,
    reps: usize,
    warmup: bool,
    seed: u64,
) -> Result<BenchSamples, EngineError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let vocab = engine.vocab_size();
    let prompt = |rng: &mut StdRng, n| random_tokens(rng, n, vocab);
    if warmup {
        engine.clear()?;
        if test.n_prompt > 0 {
            engine.prefill(&prompt(&mut rng, test.n_prompt))?;
        }
        if test.n_gen > 0 {
            engine.decode(rng.random_range(0..vocab))?;
        }
        engine.synchronize();
    }
    let mut out = BenchSamples {
        samples_ns: Vec::with_capacity(reps),
        pp_samples_ns: Vec::new(),
        tg_samples_ns: Vec::new(),
    };
    for _ in 0..reps {
        engine.clear()?;
        if test.n_depth > 0 {
            engine.prefill(&prompt(&mut rng, test.n_depth))?;
            engine.synchronize();
        }
        // Token ids are drawn before the clock starts: the timed region holds model work.
        let pp = prompt(&mut rng, test.n_prompt);
        let tg: Vec<u32> = (0..test.n_gen)
            .map(|_| rng.random_range(0..vocab))
            .collect();
        let start = Instant::now();
        if !pp.is_empty() {
            engine.prefill(&pp)?;
        }
        engine.synchronize();
        let mid = Instant::now();
        for &t in &tg {
            engine.decode(t)?;
        }
        engine.synchronize();
        let end = Instant::now();
        out.samples_ns.push((end - start).as_nanos() as u64);
        if test.n_prompt > 0 && test.n_gen > 0 {
            out.pp_samples_ns.push((mid - start).as_nanos() as u64);
            out.tg_samples_ns.push((end - mid).as_nanos() as u64);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_llama_bench() {
        let t = |p, g, d| {
            BenchTest {
                n_prompt: p,
                n_gen: g,
                n_depth: d,
            }
            .name()
        };
        assert_eq!(t(512, 0, 0), "pp512");
        assert_eq!(t(0, 128, 0), "tg128");
        assert_eq!(t(512, 128, 0), "pp512+tg128");
        assert_eq!(t(0, 128, 4096), "tg128 @ d4096");
    }

    #[test]
    fn rates_are_means_of_per_repetition_rates() {
        // 100 tokens in 1 s and in 0.5 s: 100 and 200 t/s, mean 150, sample std 70.71.
        let r = Rate::of(100, &[1_000_000_000, 500_000_000]).unwrap();
        assert!((r.avg_ts - 150.0).abs() < 1e-9);
        assert!((r.stddev_ts - 70.710_678).abs() < 1e-5);
        assert!(r.noisy());
        assert!(Rate::of(100, &[]).is_none());
    }
}

/// A whole `bench` invocation, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchConfig {
    pub engines: Vec<crate::engine::EngineKind>,
    /// Engine settings; threads, batch sizes and context size are set per instance.
    pub engine: crate::engine::EngineConfig,
    pub tests: Vec<BenchTest>,
    pub threads: Vec<usize>,
    pub batch_sizes: Vec<u32>,
    pub ubatch_sizes: Vec<u32>,
    pub repetitions: usize,
    pub warmup: bool,
}

/// The model a test ran, with llama-bench's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchModel {
    pub model_filename: String,
    pub model_type: String,
    pub model_size: Option<u64>,
    pub model_n_params: Option<u64>,
}

/// One test's result, flat, with llama-bench's field names (and `engine`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRecord {
    pub engine: String,
    pub build_commit: String,
    #[serde(flatten)]
    pub model: BenchModel,
    pub backend: String,
    pub n_threads: usize,
    pub n_batch: u32,
    pub n_ubatch: u32,
    /// llama-bench's `poll`, for engines with ggml worker threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<u32>,
    /// llama-bench's K and V cache types, for llama.cpp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_k: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_v: Option<String>,
    pub n_prompt: usize,
    pub n_gen: usize,
    pub n_depth: usize,
    pub test: String,
    pub test_time: String,
    pub avg_ns: f64,
    pub stddev_ns: f64,
    /// Tokens per second over the repetitions: `avg_ts`, `stddev_ts` and `cv`.
    #[serde(flatten)]
    pub rate: Rate,
    pub samples_ns: Vec<u64>,
    pub samples_ts: Vec<f64>,
    /// The prompt part of a `pp+tg` test.
    pub pp_avg_ts: Option<f64>,
    pub pp_stddev_ts: Option<f64>,
    /// The generation part of a `pp+tg` test.
    pub tg_avg_ts: Option<f64>,
    pub tg_stddev_ts: Option<f64>,
    /// Decode's share of the probed memory bandwidth (`decode_mbu`) for tests that
    /// generate, where the model's cost and a probe of this machine are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mbu: Option<f64>,
}

impl BenchRecord {
    fn new(
        info: &crate::engine::EngineInfo,
        cfg: &Instance,
        test: BenchTest,
        s: &BenchSamples,
    ) -> Self {
        let tokens = test.n_prompt + test.n_gen;
        let ns: Vec<f64> = s.samples_ns.iter().map(|&n| n as f64).collect();
        let (avg_ns, stddev_ns) = mean_std(&ns);
        let rate = Rate::of(tokens, &s.samples_ns).unwrap_or(Rate {
            avg_ts: 0.0,
            stddev_ts: 0.0,
            cv: 0.0,
        });
        let pp = Rate::of(test.n_prompt, &s.pp_samples_ns);
        let tg = Rate::of(test.n_gen, &s.tg_samples_ns);
        let detail = |k: &str| info.details.get(k).cloned();
        BenchRecord {
            engine: info.name.clone(),
            build_commit: env!("NATIVEBENCH_GIT_SHA").into(),
            model: BenchModel {
                model_filename: info
                    .model_path
                    .as_ref()
                    .map_or_else(|| info.model.clone(), |p| p.display().to_string()),
                model_type: detail("model_type").unwrap_or_else(|| info.model.clone()),
                model_size: detail("model_size_bytes").and_then(|v| v.parse().ok()),
                model_n_params: detail("n_params").and_then(|v| v.parse().ok()),
            },
            backend: info.device.to_uppercase(),
            n_threads: cfg.threads,
            n_batch: cfg.batch,
            n_ubatch: cfg.ubatch,
            poll: detail("poll").and_then(|v| v.parse().ok()),
            type_k: detail("type_k"),
            type_v: detail("type_v"),
            n_prompt: test.n_prompt,
            n_gen: test.n_gen,
            n_depth: test.n_depth,
            test: test.name(),
            test_time: chrono::Local::now().to_rfc3339(),
            avg_ns,
            stddev_ns,
            rate,
            samples_ts: s
                .samples_ns
                .iter()
                .map(|&n| tokens as f64 * 1e9 / n.max(1) as f64)
                .collect(),
            samples_ns: s.samples_ns.clone(),
            pp_avg_ts: pp.map(|r| r.avg_ts),
            pp_stddev_ts: pp.map(|r| r.stddev_ts),
            tg_avg_ts: tg.map(|r| r.avg_ts),
            tg_stddev_ts: tg.map(|r| r.stddev_ts),
            mbu: None,
        }
    }
}

/// One combination of list values.
#[derive(Debug, Clone, Copy)]
struct Instance {
    threads: usize,
    batch: u32,
    ubatch: u32,
}

/// Runs every combination: engines × threads × batch × ubatch × tests, building one
/// engine (one context) per combination with a context just large enough for the test,
/// as llama-bench does. `on_record` sees each result as it completes; `stop` ends early.
pub fn run_all(
    config: &BenchConfig,
    stop: &std::sync::atomic::AtomicBool,
    on_record: &mut dyn FnMut(&BenchRecord, &crate::engine::EngineInfo) -> crate::error::Result<()>,
) -> crate::error::Result<()> {
    use std::sync::atomic::Ordering;
    for &kind in &config.engines {
        for &threads in &config.threads {
            for &batch in &config.batch_sizes {
                for &ubatch in &config.ubatch_sizes {
                    for &test in &config.tests {
                        if stop.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let mut ec = config.engine.clone();
                        ec.kind = kind;
                        ec.threads = Some(threads);
                        ec.llama.batch_size = batch;
                        ec.llama.ubatch_size = ubatch;
                        ec.llama.ctx_size = Some(test.n_ctx().max(1) as u32);
                        let mut engine = crate::engine::build(&ec)?;
                        let info = engine.info();
                        let tb = engine.token_bench().ok_or_else(|| {
                            crate::error::Error::Config(format!(
                                "engine {kind} has no token-level access for `bench`"
                            ))
                        })?;
                        let seed = config.engine.seed;
                        let samples = run_test(tb, test, config.repetitions, config.warmup, seed)?;
                        let inst = Instance {
                            threads,
                            batch,
                            ubatch,
                        };
                        on_record(&BenchRecord::new(&info, &inst, test, &samples), &info)?;
                    }
                }
            }
        }
    }
    Ok(())
}
