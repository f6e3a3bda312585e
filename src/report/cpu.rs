//! Where `compare`'s CPU went: each process's CPU time and the cores it ran on, the
//! engine's threads against the cores available, and `--pin`'s split. With the
//! decomposition it says, as far as can be measured, why a served engine ran slower.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

/// One process over one side's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessCpu {
    /// `in-process run`, `server`, `client`, or `whole machine` (every process on it,
    /// over the served run).
    pub role: String,
    /// User + system CPU time over the span measured.
    pub cpu_s: f64,
    /// The span measured.
    pub wall_s: f64,
    /// The cores it was allowed (`taskset -c` notation).
    pub cores_allowed: String,
    /// The cores its threads were last seen on at the end of the run.
    pub cores_seen: String,
}

impl ProcessCpu {
    /// Cores kept busy on average: CPU time over wall time.
    pub fn cores_used(&self) -> Option<f64> {
        (self.wall_s > 0.0 && self.cpu_s.is_finite()).then(|| self.cpu_s / self.wall_s)
    }
}

/// `decomposition.json`'s `cpu`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuReport {
    /// Cores `compare` may use.
    pub cores_available: usize,
    /// The engine's compute threads (`--threads`, or the engine's own default).
    pub engine_threads: Option<usize>,
    /// `--pin`: what was pinned where, or why nothing was.
    pub pin: String,
    pub processes: Vec<ProcessCpu>,
    /// What the figures say about a slower served engine.
    pub findings: Vec<String>,
}

/// How much slower the served engine must be, relative to the in-process figure, before
/// its cause is looked for.
const SLOWER: f64 = 0.03;

impl CpuReport {
    /// Fills in [`findings`](Self::findings): whether the served engine ran slower (the
    /// engine part of the ITL and TTFT p50 rows against the in-process figures) and what
    /// the processes' CPU use says about why.
    pub fn explain(&mut self, rows: &[super::decomposition::Row]) {
        let mut f = Vec::new();
        let slower: Vec<String> = rows
            .iter()
            .filter(|r| r.stat == "p50" && r.metric != "e2e_ms")
            .filter_map(|r| {
                let (e, inp) = (r.engine_ms?, r.in_process_ms?);
                (inp > 0.0 && e / inp > SLOWER)
                    .then(|| format!("{} p50 +{:.3} ms ({:+.0}%)", r.metric, e, e / inp * 100.0))
            })
            .collect();
        let used = |role: &str| {
            self.processes
                .iter()
                .find(|p| p.role == role)
                .and_then(ProcessCpu::cores_used)
        };
        let (inp, server, client) = (used("in-process run"), used("server"), used("client"));
        let machine = used("whole machine");
        let cores = self.cores_available as f64;
        if slower.is_empty() {
            f.push("the served engine ran no slower than in-process".into());
        } else {
            f.push(format!(
                "the served engine ran slower: {}",
                slower.join(", ")
            ));
            if let (Some(s), Some(c)) = (server, client) {
                let busy = s + c;
                let others = machine.map_or(0.0, |m| (m - busy).max(0.0));
                if others > 0.25 * cores && busy + others > 0.9 * cores {
                    f.push(format!(
                        "served, other processes on the machine kept {others:.2} cores busy beside the server's {s:.2} and the client's {c:.2} ({:.2} of the {} available): the engine competed with them for CPU, so its speed says little about serving",
                        busy + others,
                        self.cores_available
                    ));
                } else if busy > 0.9 * cores {
                    f.push(format!(
                        "served, the server kept {s:.2} cores busy and the client {c:.2}: {busy:.2} of the {} available, so the engine's threads competed with the server's HTTP threads and the client for CPU{}",
                        self.cores_available,
                        inp.map_or(String::new(), |i| format!(" (in-process, the run used {i:.2})"))
                    ));
                } else {
                    f.push(format!(
                        "served, the server kept {s:.2} cores busy and the client {c:.2}, {busy:.2} of the {} available: CPU contention does not explain it; the difference is drift between the runs or work inside the server",
                        self.cores_available
                    ));
                }
            }
        }
        if let Some(t) = self.engine_threads {
            if t + 1 > self.cores_available {
                f.push(format!(
                    "the engine's {t} threads and the client need {} cores; {} are available, so served they cannot run apart (--pin needs {} or more)",
                    t + 1,
                    self.cores_available,
                    t + 1
                ));
            }
        }
        self.findings = f;
    }

    /// The text below the decomposition table.
    pub fn render(&self) -> String {
        let mut s = format!(
            "\nwhere the CPU went ({} cores available, engine threads {}; pin: {}):\n",
            self.cores_available,
            self.engine_threads
                .map_or("engine default".to_owned(), |t| t.to_string()),
            self.pin
        );
        for p in &self.processes {
            let ran_on = if p.cores_seen.is_empty() {
                String::new()
            } else {
                format!(", ran on {}", p.cores_seen)
            };
            let _ = writeln!(
                s,
                "  {:<15} {:>8.2} s CPU over {:>7.2} s = {} cores busy; cores {}{ran_on}",
                p.role,
                p.cpu_s,
                p.wall_s,
                p.cores_used().map_or("-".to_owned(), |c| format!("{c:.2}")),
                p.cores_allowed,
            );
        }
        for f in &self.findings {
            let _ = writeln!(s, "why: {f}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::decomposition::Row;

    fn row(metric: &str, inp: f64, engine: f64) -> Row {
        Row {
            metric: metric.into(),
            stat: "p50".into(),
            in_process_ms: Some(inp),
            served_ms: Some(inp + engine),
            overhead_ms: Some(engine),
            server_queue_ms: Some(0.0),
            http_serialization_ms: Some(0.0),
            engine_ms: Some(engine),
            not_separable: false,
        }
    }

    fn report(server: f64, client: f64) -> CpuReport {
        let p = |role: &str, cpu: f64| ProcessCpu {
            role: role.into(),
            cpu_s: cpu,
            wall_s: 10.0,
            cores_allowed: "0-1".into(),
            cores_seen: "0-1".into(),
        };
        CpuReport {
            cores_available: 2,
            engine_threads: Some(2),
            pin: "off".into(),
            processes: vec![
                p("in-process run", 19.0),
                p("server", server),
                p("client", client),
            ],
            findings: Vec::new(),
        }
    }

    #[test]
    fn a_slower_engine_on_busy_cores_is_put_down_to_contention() {
        let mut r = report(17.0, 3.5);
        r.explain(&[row("itl_ms", 15.0, 2.7), row("ttft_ms", 250.0, 54.0)]);
        let text = r.render();
        assert!(text.contains("itl_ms p50 +2.700 ms (+18%)"), "{text}");
        assert!(text.contains("ttft_ms p50 +54.000 ms (+22%)"), "{text}");
        assert!(text.contains("2.05 of the 2 available"), "{text}");
        assert!(text.contains("competed"), "{text}");
        assert!(text.contains("--pin needs 3 or more"), "{text}");
        assert!(
            text.contains("17.00 s CPU over   10.00 s = 1.70 cores busy"),
            "{text}"
        );
    }

    #[test]
    fn idle_cores_rule_contention_out_and_a_matching_engine_says_so() {
        let mut r = report(5.0, 1.0);
        r.explain(&[row("itl_ms", 15.0, 2.7)]);
        assert!(
            r.findings[1].contains("does not explain it"),
            "{:?}",
            r.findings
        );
        let mut r = report(5.0, 1.0);
        r.explain(&[row("itl_ms", 15.0, 0.1)]);
        assert_eq!(
            r.findings[0],
            "the served engine ran no slower than in-process"
        );
    }
}
