//! When the kernel received the bytes a read returns, for the client-capacity profile
//! (`--chunk-profile`): the socket asks for receive timestamps (`SO_TIMESTAMPNS`) and
//! each read is a `recvmsg` that takes the newest one along. The time from there to a
//! token's mark is what the client adds to that token: its wake-up, its wait behind other
//! sockets' chunks, and its own parsing, but not the server or the loopback before it.
//! Linux only; elsewhere a read knows only when it returned.

use std::io;

use tokio::net::TcpStream;

use crate::clock::{clock_ns, monotonic_ns};

/// When a read's bytes arrived, on the host's monotonic clock ([`monotonic_ns`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Arrival {
    /// Just after the read returned.
    pub read_ns: u64,
    /// When the kernel had received the newest of those bytes, where it said.
    pub kernel_ns: Option<u64>,
}

/// Asks the kernel to timestamp what `stream` receives.
pub(crate) fn enable(stream: &TcpStream) -> io::Result<()> {
    imp::enable(stream)
}

/// Reads what `stream` has into `buf`, with when it arrived; 0 bytes at the close.
pub(crate) async fn read(stream: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, Arrival)> {
    loop {
        stream.readable().await?;
        // A read that did not fill the buffer drained the socket, so it also clears the
        // readiness, as tokio's own reads do: otherwise every chunk would cost a second
        // recvmsg that finds nothing, and the profile would weigh the client down.
        let mut short = None;
        let got = stream.try_io(tokio::io::Interest::READABLE, || {
            let (n, stamp) = imp::recv(stream, buf)?;
            if n > 0 && n < buf.len() {
                short = Some((n, stamp));
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok((n, stamp))
        });
        let (n, kernel_real) = match (got, short) {
            (_, Some(read)) => read,
            (Ok(read), None) => read,
            (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => continue,
            (Err(e), None) => return Err(e),
        };
        let read_ns = monotonic_ns();
        let kernel_ns = kernel_real.map(on_monotonic);
        return Ok((n, Arrival { read_ns, kernel_ns }));
    }
}

/// A `CLOCK_REALTIME` time (the kernel stamps received bytes on it) moved onto the
/// monotonic clock, by how long before a reading of both clocks it was.
fn on_monotonic(real_ns: u64) -> u64 {
    let (mono, real) = clock_pair();
    mono.saturating_sub(real.saturating_sub(real_ns))
}

/// The monotonic and realtime clocks at one instant: a monotonic reading between two
/// realtime ones, paired with the later. Read one after the other, a thread that is
/// preempted between the two reads (milliseconds, on a busy machine) would move every
/// stamp it converts that much earlier: before the server even sent the bytes. A pair
/// whose realtime readings lie far apart is read again, and the tightest one kept. Pairing
/// with the later realtime reading errs, by at most the pair's width, on the same side as
/// a plain read after the monotonic one did: a stamp never lands after the read.
fn clock_pair() -> (u64, u64) {
    // Three clock reads take well under a microsecond when nothing comes between them.
    const TIGHT_NS: u64 = 1_000;
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..4 {
        let before = realtime_ns();
        let mono = monotonic_ns();
        let after = realtime_ns();
        let width = after.saturating_sub(before);
        if width < best.0 {
            best = (width, mono, after);
        }
        if width <= TIGHT_NS {
            break;
        }
    }
    (best.1, best.2)
}

fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::os::fd::AsRawFd;

    use tokio::net::TcpStream;

    pub fn enable(stream: &TcpStream) -> io::Result<()> {
        super::enable_fd(stream.as_raw_fd())
    }

    pub fn recv(stream: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
        super::recv_fd(stream.as_raw_fd(), buf)
    }
}

/// Asks the kernel to timestamp what the socket `fd` receives (`SO_TIMESTAMPNS`). Also
/// used by `examples/floor_client.rs`, so the floor and the client read alike.
#[cfg(target_os = "linux")]
pub fn enable_fd(fd: std::os::fd::RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int through a valid pointer; a bad fd is an error.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One `recvmsg` on the socket `fd`: the bytes, and the kernel's receive time of the
/// newest of them (`CLOCK_REALTIME`, in nanoseconds) when it sent one.
#[cfg(target_os = "linux")]
pub fn recv_fd(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one control message holding a timespec, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at one iovec over `buf` and at `control`, both live and writable
    // for the sizes given, for the length of the call; a bad fd is an error.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG macros walk the control buffer the kernel just filled, within
    // msg_controllen; the timespec is read unaligned from its message's data.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                stamp = Some(crate::clock::timespec_ns(&ts));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, stamp))
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;

    use tokio::net::TcpStream;

    pub fn enable(_: &TcpStream) -> io::Result<()> {
        Ok(())
    }

    pub fn recv(stream: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
        stream.try_read(buf).map(|n| (n, None))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    /// Waits until the kernel stamps what `client` receives. Linux switches receive
    /// timestamping on for the whole host when the first socket asks for it, but defers
    /// that switch (`net_enable_timestamp`: a static key flipped from a workqueue), so on a
    /// loaded machine the first packets after `enable` can arrive unstamped. The product
    /// counts such reads as unstamped; a test about what a stamp means waits for stamps.
    async fn until_stamped(client: &TcpStream, server: &mut TcpStream) {
        let mut buf = [0u8; 64];
        for _ in 0..1000 {
            server.write_all(b".").await.unwrap();
            let (n, at) = read(client, &mut buf).await.unwrap();
            assert!(n > 0);
            if at.kernel_ns.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the kernel never stamped a loopback read in 10 s of probes");
    }

    /// Bytes that sat 80 ms in the socket before the read are stamped at least that long
    /// before it: the stamp is the kernel's receipt, not the read.
    #[tokio::test]
    async fn the_kernel_stamp_is_when_the_bytes_arrived_not_when_they_were_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        enable(&client).unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        until_stamped(&client, &mut server).await;

        server.write_all(b"data: x\n\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        let mut buf = [0u8; 64];
        let (n, at) = read(&client, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"data: x\n\n");
        let kernel = at
            .kernel_ns
            .expect("stamps are on once one read was stamped");
        let waited = at.read_ns - kernel;
        assert!(
            (75_000_000..5_000_000_000).contains(&waited),
            "waited {waited} ns in the socket"
        );

        // Read at once, the same bytes are stamped within the time it takes to read them.
        server.write_all(b"data: y\n\n").await.unwrap();
        let (n, at) = read(&client, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"data: y\n\n");
        assert!(at.kernel_ns.unwrap() <= at.read_ns + 1_000_000);
    }

    /// A socket that never asked for stamps reads its bytes with none: the case the
    /// profile counts as unstamped.
    #[tokio::test]
    async fn a_socket_without_timestamping_reads_unstamped() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        server.write_all(b"data: z\n\n").await.unwrap();
        let mut buf = [0u8; 64];
        let (n, at) = read(&client, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"data: z\n\n");
        assert_eq!(at.kernel_ns, None);
    }
}
