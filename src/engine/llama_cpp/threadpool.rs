//! A persistent ggml CPU threadpool attached to the context, as llama-bench attaches one.
//!
//! Without an attached pool, ggml-cpu creates and joins a fresh set of worker threads for
//! every graph it computes, which is once per decode step. llama-bench creates one pool
//! per test (`ggml_threadpool_new`, workers polling for new work at level 50 before they
//! sleep) and attaches it with `llama_attach_threadpool`. Doing the same here keeps both
//! tools timing the same threading, so their tg numbers compare like with like.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_sys_2 as sys;

/// An owned ggml threadpool. Every context it is attached to must drop first.
pub struct Threadpool(*mut sys::ggml_threadpool);

// SAFETY: the pool is an opaque handle owned by this value; ggml synchronizes its
// workers internally, and we only pass the handle to llama.cpp from the owning thread.
unsafe impl Send for Threadpool {}

impl Threadpool {
    /// A pool of `n_threads` workers (the calling thread is worker 0 during compute),
    /// spinning at `poll` (0..=100) before they sleep.
    pub fn new(n_threads: usize, poll: u32) -> Result<Self, String> {
        let n = i32::try_from(n_threads).map_err(|_| format!("{n_threads} threads is too many"))?;
        // SAFETY: plain value initialisation and a constructor that returns NULL on failure.
        let pool = unsafe {
            let mut params = sys::ggml_threadpool_params_default(n);
            params.poll = poll.min(100);
            sys::ggml_threadpool_new(&mut params)
        };
        if pool.is_null() {
            return Err(format!(
                "ggml cannot create a threadpool of {n_threads} threads"
            ));
        }
        Ok(Threadpool(pool))
    }

    /// Attaches this pool (decode) and `batch` (prompt batches, or this pool when `None`).
    pub fn attach(
        &self,
        ctx: &mut LlamaContext<'_>,
        batch: Option<&Threadpool>,
    ) -> Result<(), String> {
        let raw = raw_context(ctx)?;
        let batch = batch.map_or(std::ptr::null_mut(), |b| b.0);
        // SAFETY: `raw` is the live context `ctx` owns (checked by `raw_context`), and both
        // pools outlive the attachment: the engine drops its context before its pools.
        unsafe { sys::llama_attach_threadpool(raw, self.0, batch) };
        Ok(())
    }
}

impl Drop for Threadpool {
    fn drop(&mut self) {
        // SAFETY: we own the pool, and no context references it any more.
        unsafe { sys::ggml_threadpool_free(self.0) };
    }
}

/// The `llama_context *` behind a llama-cpp-2 context.
///
/// llama-cpp-2 0.1.160 (pinned exactly in Cargo.toml) keeps the pointer crate-private and
/// has no threadpool API. Its `Debug` prints the pointer (`LlamaContext { context:
/// 0x… }`), so we read it from there. A `Debug` without an address is an error. As a
/// check, llama.cpp's context and batch sizes read through the pointer must match the
/// crate's; that check trusts the address, so it relies on the exact pin. Moving the pin
/// means reading this again.
fn raw_context(ctx: &LlamaContext<'_>) -> Result<*mut sys::llama_context, String> {
    let shown = format!("{ctx:?}");
    let addr = shown
        .split("0x")
        .nth(1)
        .map(|s| {
            s.chars()
                .take_while(char::is_ascii_hexdigit)
                .collect::<String>()
        })
        .and_then(|hex| usize::from_str_radix(&hex, 16).ok())
        .filter(|&a| a != 0)
        .ok_or_else(|| format!("cannot find the llama_context pointer in {shown:?}"))?;
    let raw = addr as *mut sys::llama_context;
    // SAFETY: `addr` is the address llama-cpp-2 printed for this live context.
    let (n_ctx, n_batch, n_ubatch) = unsafe {
        (
            sys::llama_n_ctx(raw),
            sys::llama_n_batch(raw),
            sys::llama_n_ubatch(raw),
        )
    };
    if (n_ctx, n_batch, n_ubatch) != (ctx.n_ctx(), ctx.n_batch(), ctx.n_ubatch()) {
        return Err("the llama_context pointer does not match its context".into());
    }
    Ok(raw)
}
