//! CPU threads for candle. candle 0.11 runs its CPU work on two pools:
//!
//! - quantized matmuls and element-wise ops on its own process-wide "barrier pool", sized
//!   once, at first use, from `CANDLE_NUM_THREADS` (else `RAYON_NUM_THREADS`, else the
//!   physical cores); the calling thread is one of its workers;
//! - float matmuls (gemm) and CPU attention on the rayon pool they are called from.
//!
//! So `--threads N` sets `CANDLE_NUM_THREADS` before the barrier pool exists, and each
//! engine runs its forward passes inside a rayon pool of N threads. The barrier pool
//! cannot be resized afterwards: asking for another count in the same process is an error
//! rather than a run that silently uses a different count.

use std::sync::OnceLock;

use super::setup;
use crate::engine::EngineError;

const ENV: &str = "CANDLE_NUM_THREADS";

/// The threads of candle's barrier pool in this process, creating it with `requested`
/// threads (default: the logical CPUs, as llama.cpp's engine defaults) when it does not
/// exist yet.
pub fn barrier_pool_threads(requested: Option<usize>) -> Result<usize, EngineError> {
    static FIXED: OnceLock<usize> = OnceLock::new();
    let fixed = *FIXED.get_or_init(|| {
        if std::env::var_os(ENV).is_none() {
            let n = requested.unwrap_or_else(default_threads);
            // Before the pool's first use, which reads it; nothing else in this process
            // reads the variable concurrently.
            std::env::set_var(ENV, n.to_string());
        }
        candle_core::utils::barrier_pool().n_workers() + 1
    });
    match requested {
        Some(n) if n != fixed => Err(setup(format!(
            "the CPU thread pool is sized once per process and already runs {fixed} thread(s); \
             run -t {n} in a process of its own (or set {ENV})"
        ))),
        _ => Ok(fixed),
    }
}

/// A rayon pool of `n` threads for candle's float matmuls and attention.
pub fn rayon_pool(n: usize) -> Result<rayon::ThreadPool, EngineError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("candle-rayon-{i}"))
        .build()
        .map_err(|e| setup(format!("cannot start {n} CPU threads: {e}")))
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
