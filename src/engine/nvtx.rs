//! NVTX ranges, so that `nsys profile nativebench run ...` shows each request and its
//! phases on the timeline. Every engine opens them through this module, so the names are
//! the same whichever engine ran. Without the `nvtx` feature a range is a zero-sized value
//! and costs nothing.
//!
//! A request run on its own is one range, `request <id>` (the workload position, as in
//! `samples.jsonl`), holding `template`, `tokenize`, `prefill`, one `decode <step>` per
//! decode step (step 1 makes the second output token, so a request of n output tokens has
//! steps 1 to n-1) and `detokenize`. Requests decoded together overlap, which pushed
//! ranges cannot show: there `admit <id>` holds a request's template, tokenize and prefill,
//! each joint step is one `decode batch <k>` (for the k sequences it advances), and each
//! `detokenize` stands on its own.
//!
//! tests/integration/nvtx.rs records the ranges of real runs through an NVTX injection
//! library (tests/integration/nvtx_inject.c) and holds the engines to this shape.

use std::fmt;

/// An open NVTX range; it ends when dropped. Keep it in a named binding (`let _r = ...`),
/// not `_`, or it ends at once.
///
/// Ranges are pushed and popped on the calling thread, so they nest on the timeline (each
/// decode step inside its request); the value therefore stays on the thread that opened it.
#[must_use = "the range ends when this value is dropped"]
pub struct Range {
    /// Not `Send`: a pushed range must be popped on its own thread.
    _thread_bound: std::marker::PhantomData<*const ()>,
}

/// What a range covers; its `Display` is the range's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// A whole request run on its own, by its id.
    Request(u64),
    /// A request joining a batch: its template, tokenize and prefill, by its id.
    Admit(u64),
    Template,
    Tokenize,
    /// The prompt through the model and the first token chosen.
    Prefill,
    /// One token through the model and the next chosen; step 1 makes output token 2.
    Decode(usize),
    /// One decode step shared by this many sequences.
    DecodeBatch(usize),
    Detokenize,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::Request(id) => write!(f, "request {id}"),
            Span::Admit(id) => write!(f, "admit {id}"),
            Span::Template => f.write_str("template"),
            Span::Tokenize => f.write_str("tokenize"),
            Span::Prefill => f.write_str("prefill"),
            Span::Decode(step) => write!(f, "decode {step}"),
            Span::DecodeBatch(k) => write!(f, "decode batch {k}"),
            Span::Detokenize => f.write_str("detokenize"),
        }
    }
}

/// Opens the range for `span` on the calling thread's timeline. The name is formatted
/// only on `nvtx` builds with a tool attached.
#[inline]
pub fn range(span: Span) -> Range {
    #[cfg(feature = "nvtx")]
    if tool_attached() {
        ::nvtx::range_push!("{span}");
    }
    #[cfg(not(feature = "nvtx"))]
    let _ = span;
    Range {
        _thread_bound: std::marker::PhantomData,
    }
}

/// Whether an NVTX tool is attached to this process. NVTX3 loads a tool only from the
/// library `NVTX_INJECTION64_PATH` names (nsys and ncu set it; so do the tests), and reads
/// it once, so neither can this answer change while the process runs. Without a tool the
/// nvtx crate would still format every name into a fresh C string inside the timed decode
/// step; this check costs one load instead.
#[cfg(feature = "nvtx")]
fn tool_attached() -> bool {
    static ATTACHED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ATTACHED.get_or_init(|| std::env::var_os("NVTX_INJECTION64_PATH").is_some())
}

#[cfg(feature = "nvtx")]
impl Drop for Range {
    fn drop(&mut self) {
        if tool_attached() {
            ::nvtx::range_pop!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_open_and_close_without_a_profiler() {
        let outer = range(Span::Request(3));
        {
            let _inner = range(Span::Decode(1));
        }
        drop(outer);
        #[cfg(not(feature = "nvtx"))]
        assert_eq!(std::mem::size_of::<Range>(), 0);
    }

    #[test]
    fn names_carry_the_request_and_the_step() {
        let names: Vec<String> = [
            Span::Request(3),
            Span::Admit(4),
            Span::Template,
            Span::Tokenize,
            Span::Prefill,
            Span::Decode(1),
            Span::DecodeBatch(2),
            Span::Detokenize,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            names,
            [
                "request 3",
                "admit 4",
                "template",
                "tokenize",
                "prefill",
                "decode 1",
                "decode batch 2",
                "detokenize"
            ]
        );
    }
}
