//! Which cores a process may run on and which it ran on, and `compare --pin`'s split of
//! them: the engine's threads on some, the client on the others, so that neither takes
//! the other's CPU. Linux's `sched_{get,set}affinity`, through libc.

use std::fmt::Write;

/// The cores the process `pid` (0: this thread) may run on, in order; empty if unknown.
pub fn allowed_cores(pid: u32) -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into `set`.
    let rc = unsafe {
        libc::sched_getaffinity(
            pid as libc::pid_t,
            std::mem::size_of::<libc::cpu_set_t>(),
            &mut set,
        )
    };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads a bit of a valid set, below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Restricts the process `pid` (0: the calling thread, and every thread it starts from
/// now on) to `cores`. Threads already running keep their own cores.
pub fn set_cores(pid: u32, cores: &[usize]) -> Result<(), String> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cores.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        // SAFETY: CPU_SET sets a bit of a valid set, below CPU_SETSIZE.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: sched_setaffinity reads size_of::<cpu_set_t>() bytes of a valid set.
    let rc = unsafe {
        libc::sched_setaffinity(
            pid as libc::pid_t,
            std::mem::size_of::<libc::cpu_set_t>(),
            &set,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "cannot pin to cores {}: {}",
            list(cores),
            std::io::Error::last_os_error()
        ))
    }
}

/// The cores the threads of process `pid` ran on last (`/proc/PID/task/*/stat`, the
/// `processor` field), in order: where its work actually ran, sampled at one moment.
pub fn cores_seen(pid: u32) -> Vec<usize> {
    let mut seen = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return seen;
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        // Fields after the command name, which is in parentheses and may hold spaces;
        // `processor` is field 39 of stat(5), the 37th after the name.
        let core = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(36))
            .and_then(|f| f.parse().ok());
        if let Some(c) = core {
            seen.push(c);
        }
    }
    seen.sort_unstable();
    seen.dedup();
    seen
}

/// The cores a process's threads were seen on, sampled on a thread of its own until
/// [`stop`](CoreWatch::stop)ped: where the work ran over a whole run, not at one moment.
pub struct CoreWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<std::collections::BTreeSet<usize>>>,
}

/// How often [`CoreWatch`] looks.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl CoreWatch {
    /// Starts watching process `pid`.
    pub fn start(pid: u32) -> CoreWatch {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("nativebench-cores".into())
            .spawn(move || {
                let mut seen = std::collections::BTreeSet::new();
                loop {
                    seen.extend(cores_seen(pid));
                    if flag.load(Ordering::Relaxed) {
                        return seen;
                    }
                    std::thread::sleep(WATCH_EVERY);
                }
            })
            .ok();
        CoreWatch { stop, handle }
    }

    /// The cores seen so far, in order.
    pub fn stop(mut self) -> Vec<usize> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .map_or_else(Vec::new, |s| s.into_iter().collect())
    }
}

/// A core list as `taskset -c` writes it: `0-3,6`.
pub fn list(cores: &[usize]) -> String {
    let mut s = String::new();
    let mut i = 0;
    while i < cores.len() {
        let mut j = i;
        while j + 1 < cores.len() && cores[j + 1] == cores[j] + 1 {
            j += 1;
        }
        if !s.is_empty() {
            s.push(',');
        }
        let _ = if j > i {
            write!(s, "{}-{}", cores[i], cores[j])
        } else {
            write!(s, "{}", cores[i])
        };
        i = j + 1;
    }
    s
}

/// `compare --pin`: the engine (in-process, and the whole `serve` process) on the first
/// cores, the client on the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPlan {
    pub engine: Vec<usize>,
    pub client: Vec<usize>,
}

impl PinPlan {
    /// Splits `allowed` into a core per engine thread and at least one for the client; an
    /// error, saying what was short, where there are not enough cores.
    pub fn split(engine_threads: usize, allowed: &[usize]) -> Result<PinPlan, String> {
        let engine_threads = engine_threads.max(1);
        if allowed.len() < engine_threads + 1 {
            return Err(format!(
                "--pin needs {} cores (one per engine thread, {engine_threads}, and one for the client); this process may use {} ({}): not pinned",
                engine_threads + 1,
                allowed.len(),
                list(allowed)
            ));
        }
        Ok(PinPlan {
            engine: allowed[..engine_threads].to_vec(),
            client: allowed[engine_threads..].to_vec(),
        })
    }

    /// One line for the reader: which cores went where.
    pub fn describe(&self) -> String {
        format!(
            "engine and server on cores {}, client on cores {}",
            list(&self.engine),
            list(&self.client)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_gets_a_core_per_thread_and_the_client_the_rest() {
        let p = PinPlan::split(2, &[0, 1, 2, 3]).unwrap();
        assert_eq!(p.engine, vec![0, 1]);
        assert_eq!(p.client, vec![2, 3]);
        assert_eq!(
            p.describe(),
            "engine and server on cores 0-1, client on cores 2-3"
        );
        // Gaps in the allowed set (taskset -c 0,2,5) are respected.
        let p = PinPlan::split(1, &[0, 2, 5]).unwrap();
        assert_eq!((p.engine, p.client), (vec![0], vec![2, 5]));
    }

    #[test]
    fn too_few_cores_say_what_is_short() {
        let e = PinPlan::split(2, &[0, 1]).unwrap_err();
        assert!(e.contains("--pin needs 3 cores"), "{e}");
        assert!(e.contains("may use 2 (0-1)"), "{e}");
        assert!(e.ends_with("not pinned"), "{e}");
        assert!(PinPlan::split(1, &[0]).is_err());
        // No thread count given still leaves the engine one core.
        assert_eq!(PinPlan::split(0, &[0, 1]).unwrap().engine, vec![0]);
    }

    #[test]
    fn core_lists_read_as_taskset_writes_them() {
        assert_eq!(list(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
        assert_eq!(list(&[]), "");
        assert_eq!(list(&[4]), "4");
    }

    #[test]
    fn this_process_sees_its_own_cores() {
        let allowed = allowed_cores(0);
        assert!(!allowed.is_empty());
        let seen = cores_seen(std::process::id());
        assert!(!seen.is_empty(), "a running process ran somewhere");
        assert!(seen.iter().all(|c| *c < 4096));
    }
}
