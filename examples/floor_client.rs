//! The floor under any streaming client on this machine, for benches/client-capacity.sh:
//! one thread, one epoll set over N keep-alive connections, each streaming completions
//! from an OpenAI-compatible server, and nothing done with the bytes but finding the end
//! of each reply. Every read asks the kernel when its newest bytes arrived
//! (`SO_TIMESTAMPNS`), and the wait from there to the read is recorded. That wait is the
//! wake-up and scheduling cost no client can avoid here; nativebench's client-added
//! latency (kernel receipt to token mark) is measured the same way, so the two compare.
//!
//!   cargo run --release --example floor_client -- HOST:PORT CONCURRENCY REQUESTS TOKENS
//!
//! Prints one JSON line: reads, wait p50/p90/p99/p999 in microseconds, and CPU per read.
//! Linux only.

#[cfg(target_os = "linux")]
fn main() -> std::io::Result<()> {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("floor_client: Linux only (it reads the kernel's receive timestamps)");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::VecDeque;
    use std::io::{self, Write};
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;

    use nativebench::clock::clock_ns as clock;
    use nativebench::openai::receipt;

    struct Conn {
        stream: TcpStream,
        /// The last bytes seen, so an end marker split across reads is still found.
        tail: Vec<u8>,
    }

    pub fn main() -> io::Result<()> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.len() != 4 {
            eprintln!("usage: floor_client HOST:PORT CONCURRENCY REQUESTS TOKENS");
            std::process::exit(2);
        }
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
        let addr = &args[0];
        let conc: usize = args[1].parse().map_err(|_| bad("CONCURRENCY"))?;
        let total: usize = args[2].parse().map_err(|_| bad("REQUESTS"))?;
        let tokens: usize = args[3].parse().map_err(|_| bad("TOKENS"))?;
        let body = format!(
            "{{\"model\":\"sim\",\"prompt\":\"hello\",\"max_tokens\":{tokens},\"stream\":true,\"ignore_eos\":true}}"
        );
        let request = format!(
            "POST /v1/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        const DONE: &[u8] = b"data: [DONE]";

        // SAFETY: epoll_create1 with no flags.
        let ep = unsafe { libc::epoll_create1(0) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut conns = Vec::new();
        let mut sent = 0;
        for i in 0..conc.min(total) {
            let mut stream = TcpStream::connect(addr)?;
            stream.set_nodelay(true)?;
            receipt::enable_fd(stream.as_raw_fd())?;
            stream.write_all(request.as_bytes())?;
            sent += 1;
            stream.set_nonblocking(true)?;
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i as u64,
            };
            // SAFETY: registers an open socket with a valid event.
            if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &mut ev) } != 0
            {
                return Err(io::Error::last_os_error());
            }
            conns.push(Conn {
                stream,
                tail: Vec::new(),
            });
        }

        let cpu0 = clock(libc::CLOCK_PROCESS_CPUTIME_ID);
        let mut waits: Vec<u64> = Vec::with_capacity(total * tokens);
        let mut buf = vec![0u8; 32 << 10];
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
        let mut ready = VecDeque::new();
        let mut done = 0;
        while done < total {
            // SAFETY: epoll_wait fills at most events.len() entries.
            let n =
                unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 60_000) };
            if n <= 0 {
                return Err(io::Error::other("no reply within 60 s"));
            }
            ready.extend(events[..n as usize].iter().map(|e| e.u64 as usize));
            while let Some(i) = ready.pop_front() {
                let c = &mut conns[i];
                let (len, stamp) = match receipt::recv_fd(c.stream.as_raw_fd(), &mut buf) {
                    Ok((0, _)) => return Err(io::Error::other("the server closed a connection")),
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                };
                if let Some(k) = stamp {
                    // The kernel stamps on the realtime clock, so the wait is read on it too.
                    waits.push(clock(libc::CLOCK_REALTIME).saturating_sub(k));
                }
                c.tail.extend_from_slice(&buf[..len]);
                if memchr::memmem::find(&c.tail, DONE).is_some() {
                    done += 1;
                    c.tail.clear();
                    if sent < total {
                        c.stream.set_nonblocking(false)?;
                        c.stream.write_all(request.as_bytes())?;
                        c.stream.set_nonblocking(true)?;
                        sent += 1;
                    }
                } else if c.tail.len() > DONE.len() {
                    let keep = c.tail.len() - DONE.len();
                    c.tail.drain(..keep);
                }
            }
        }
        let cpu_ns = clock(libc::CLOCK_PROCESS_CPUTIME_ID) - cpu0;
        waits.sort_unstable();
        let q = |p: f64| {
            let i = ((waits.len() as f64 * p) as usize).min(waits.len().saturating_sub(1));
            waits.get(i).map_or(0.0, |&v| v as f64 / 1e3)
        };
        println!(
            "{{\"client\":\"floor\",\"concurrency\":{conc},\"reads\":{},\"wait_p50_us\":{:.1},\"wait_p90_us\":{:.1},\"wait_p99_us\":{:.1},\"wait_p999_us\":{:.1},\"cpu_us_per_read\":{:.2}}}",
            waits.len(),
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            cpu_ns as f64 / 1e3 / waits.len().max(1) as f64
        );
        Ok(())
    }
}
