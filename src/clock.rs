//! The host's clocks, read directly: the one monotonic clock that a server and a client
//! on the same machine share, and the others the client profile and receive timestamps
//! need.

/// The host's monotonic clock (`CLOCK_MONOTONIC`, which `Instant` reads too) in
/// nanoseconds: one clock that a server and a client on the same machine share, so a
/// chunk's send and receive times can be subtracted across the two processes.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// A clock's time in nanoseconds; 0 if the clock cannot be read.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer; the clocks asked
    // for (monotonic, realtime, process CPU time) exist on every Linux.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return 0;
    }
    timespec_ns(&ts)
}

/// A `timespec` in nanoseconds.
pub fn timespec_ns(ts: &libc::timespec) -> u64 {
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}
