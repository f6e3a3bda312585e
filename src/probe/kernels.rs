//! The probe's kernels: a streaming read over buffers larger than the caches, and
//! register-resident f32 FMA and int8 dot-product loops, each run on 1..N threads started
//! together. Each returns the best of a few rounds: the machine's limit, not its mean.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

/// How much work each measurement does.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Bytes read per round, over all threads (well above the last-level cache).
    pub read_bytes: usize,
    /// Rounds; the fastest counts.
    pub rounds: usize,
    /// Inner iterations of the compute loops per thread and round.
    pub compute_iters: u64,
}

impl Size {
    /// A full probe: 1 GiB per round (a server's L3 is at most a few hundred MiB).
    pub const FULL: Size = Size {
        read_bytes: 1 << 30,
        rounds: 4,
        compute_iters: 20_000_000,
    };
    /// A quick probe for tests and impatient users: figures less settled.
    pub const QUICK: Size = Size {
        read_bytes: 64 << 20,
        rounds: 2,
        compute_iters: 1_000_000,
    };
}

/// Runs `work` on `threads` threads started together, `rounds` times, and returns the
/// fastest round's time in seconds: from the first thread's start to the last thread's
/// end, as each thread clocks itself (the spawning thread may not run in between).
fn fastest<S: Sync>(threads: usize, rounds: usize, state: &[S], work: impl Fn(&S) + Sync) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let barrier = Barrier::new(threads);
        let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
            let handles: Vec<_> = state
                .iter()
                .take(threads)
                .map(|st| {
                    let (barrier, work) = (&barrier, &work);
                    s.spawn(move || {
                        barrier.wait();
                        let start = Instant::now();
                        work(st);
                        (start, Instant::now())
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let first = spans.iter().map(|s| s.0).min();
        let last = spans.iter().map(|s| s.1).max();
        if let (Some(a), Some(b)) = (first, last) {
            best = best.min(b.duration_since(a).as_secs_f64());
        }
    }
    best
}

/// Memory read bandwidth with `threads` threads, bytes per second. Each thread fills its
/// own buffer first (so its pages sit near it) and then sums it as 64-bit words, which
/// the compiler vectorizes: a read-only stream, not memcpy.
pub fn read_bandwidth(threads: usize, size: Size) -> f64 {
    let words = (size.read_bytes / 8 / threads).max(1024) / 8 * 8;
    let buffers: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || (0..words as u64).map(|i| i ^ t as u64).collect()))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let secs = fastest(threads, size.rounds, &buffers, |b| {
        black_box(sum_words(black_box(b)));
    });
    (buffers.len() * words * 8) as f64 / secs
}

fn sum_words(b: &[u64]) -> u64 {
    simd::sum_words(b).unwrap_or_else(|| sum_words_portable(b))
}

fn sum_words_portable(b: &[u64]) -> u64 {
    // Eight independent lanes, so the loop is bound by loads, not by one add chain.
    let mut acc = [0u64; 8];
    for c in b.chunks_exact(8) {
        for (a, x) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(*x);
        }
    }
    acc.iter().fold(0, |a, &x| a.wrapping_add(x))
}

/// Peak f32 FLOP/s (an FMA counts two) with `threads` threads, and the kernel used.
pub fn f32_fma_peak(threads: usize, size: Size) -> (f64, &'static str) {
    let (flops_per_iter, kernel, run): (f64, &str, fn(u64) -> f32) = simd::f32_kernel();
    let state = vec![(); threads];
    let secs = fastest(threads, size.rounds, &state, |_| {
        black_box(run(black_box(size.compute_iters)));
    });
    (
        flops_per_iter * size.compute_iters as f64 * threads as f64 / secs,
        kernel,
    )
}

/// Peak int8 dot-product operations per second (a multiply and an add per byte pair),
/// where the CPU has an int8 dot-product instruction; `None` elsewhere.
pub fn int8_dot_peak(threads: usize, size: Size) -> Option<(f64, &'static str)> {
    let (ops_per_iter, kernel, run) = simd::int8_kernel()?;
    let state = vec![(); threads];
    let secs = fastest(threads, size.rounds, &state, |_| {
        black_box(run(black_box(size.compute_iters)));
    });
    Some((
        ops_per_iter * size.compute_iters as f64 * threads as f64 / secs,
        kernel,
    ))
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// Independent accumulators: enough to cover FMA latency (4) on two ports.
    const ACC: usize = 12;

    type Kernel<T> = (f64, &'static str, fn(u64) -> T);

    pub fn f32_kernel() -> Kernel<f32> {
        if is_x86_feature_detected!("avx512f") {
            (2.0 * 16.0 * ACC as f64, "avx512-fma", |n| {
                // SAFETY: avx512f was detected at run time.
                unsafe { fma512(n) }
            })
        } else if is_x86_feature_detected!("fma") && is_x86_feature_detected!("avx") {
            (2.0 * 8.0 * ACC as f64, "avx2-fma", |n| {
                // SAFETY: fma and avx were detected at run time.
                unsafe { fma256(n) }
            })
        } else {
            super::scalar_f32()
        }
    }

    /// The read kernel in AVX2 whatever the optimisation level: four 256-bit loads and
    /// adds per 128 bytes, independent.
    pub fn sum_words(b: &[u64]) -> Option<u64> {
        if !is_x86_feature_detected!("avx2") {
            return None;
        }
        // SAFETY: avx2 was detected at run time.
        Some(unsafe { sum256(b) })
    }

    #[target_feature(enable = "avx2")]
    fn sum256(b: &[u64]) -> u64 {
        let mut acc = [_mm256_setzero_si256(); 4];
        let chunks = b.chunks_exact(16);
        let tail: u64 = chunks.remainder().iter().fold(0, |a, &x| a.wrapping_add(x));
        for c in chunks {
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: each chunk holds 16 u64s: four unaligned 256-bit loads.
                let v = unsafe { _mm256_loadu_si256(c.as_ptr().add(i * 4).cast()) };
                *a = _mm256_add_epi64(*a, v);
            }
        }
        let mut out = [0u64; 4];
        let s = acc
            .iter()
            .fold(_mm256_setzero_si256(), |s, &x| _mm256_add_epi64(s, x));
        // SAFETY: `out` holds four u64s.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), s) };
        out.iter().fold(tail, |a, &x| a.wrapping_add(x))
    }

    pub fn int8_kernel() -> Option<Kernel<i32>> {
        if is_x86_feature_detected!("avx512vnni") {
            Some((2.0 * 64.0 * ACC as f64, "avx512-vnni", |n| {
                // SAFETY: avx512vnni (and so avx512f) was detected at run time.
                unsafe { vnni512(n) }
            }))
        } else {
            None
        }
    }

    #[target_feature(enable = "avx512f")]
    fn fma512(n: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); ACC];
        for _ in 0..n {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum()
    }

    #[target_feature(enable = "avx,fma")]
    fn fma256(n: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); ACC];
        for _ in 0..n {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut out = [0f32; 8];
        let s = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, &x| _mm256_add_ps(s, x));
        // SAFETY: `out` holds 8 f32s.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum()
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    fn vnni512(n: u64) -> i32 {
        let (a, b) = (_mm512_set1_epi8(3), _mm512_set1_epi8(-2));
        let mut acc = [_mm512_setzero_si512(); ACC];
        for _ in 0..n {
            for x in acc.iter_mut() {
                *x = _mm512_dpbusd_epi32(*x, a, b);
            }
        }
        acc.iter()
            .map(|&x| _mm512_reduce_add_epi32(x))
            .fold(0i32, i32::wrapping_add)
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod simd {
    type Kernel<T> = (f64, &'static str, fn(u64) -> T);

    pub fn f32_kernel() -> Kernel<f32> {
        super::scalar_f32()
    }

    pub fn int8_kernel() -> Option<Kernel<i32>> {
        None
    }

    pub fn sum_words(_: &[u64]) -> Option<u64> {
        None
    }
}

/// A portable FMA loop the compiler may vectorize: a floor, named as such.
fn scalar_f32() -> (f64, &'static str, fn(u64) -> f32) {
    const LANES: usize = 32;
    (2.0 * LANES as f64, "portable", |n| {
        let mut acc = [1.0f32; LANES];
        for _ in 0..n {
            for x in acc.iter_mut() {
                *x = x.mul_add(0.999_999, 1e-7);
            }
        }
        acc.iter().sum()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Size = Size {
        read_bytes: 1 << 20,
        rounds: 1,
        compute_iters: 1000,
    };

    #[test]
    fn every_kernel_gives_a_positive_finite_rate() {
        for threads in [1, 2] {
            let bw = read_bandwidth(threads, TINY);
            assert!(bw.is_finite() && bw > 0.0, "{bw}");
            let (f, kernel) = f32_fma_peak(threads, TINY);
            assert!(f.is_finite() && f > 0.0, "{f} {kernel}");
            if let Some((i, _)) = int8_dot_peak(threads, TINY) {
                assert!(i.is_finite() && i > 0.0);
            }
        }
        let words: Vec<u64> = (1..=37).collect();
        assert_eq!(sum_words(&words), 37 * 38 / 2);
        assert_eq!(
            sum_words_portable(&[1, 2, 3, 4, 5, 6, 7, 8, 100]),
            36,
            "a tail under 8 is not read"
        );
    }
}
