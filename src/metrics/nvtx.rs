//! NVTX ranges, so that `nsys profile nativebench run ...` shows each phase (template,
//! tokenize, prefill, each decode step) on the timeline. Without the `nvtx` feature a range
//! is a zero-sized value and costs nothing.

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

/// Opens a range named `name` on the calling thread's timeline.
#[inline]
pub fn range(name: &str) -> Range {
    #[cfg(feature = "nvtx")]
    push(name);
    #[cfg(not(feature = "nvtx"))]
    let _ = name;
    Range {
        _thread_bound: std::marker::PhantomData,
    }
}

#[cfg(feature = "nvtx")]
fn push(name: &str) {
    // The nvtx crate panics on an interior NUL; a range name never needs one.
    if name.contains('\0') {
        ::nvtx::range_push!("{}", name.replace('\0', ""));
    } else {
        ::nvtx::range_push!("{}", name);
    }
}

#[cfg(feature = "nvtx")]
impl Drop for Range {
    fn drop(&mut self) {
        ::nvtx::range_pop!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_open_and_close_without_a_profiler() {
        let outer = range("outer");
        {
            let _inner = range("inner\0with a nul");
        }
        drop(outer);
        #[cfg(not(feature = "nvtx"))]
        assert_eq!(std::mem::size_of::<Range>(), 0);
    }
}
