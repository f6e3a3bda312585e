//! The runner: drives an engine over a list of requests with warmup and repetitions,
//! owns the clock, turns each request's marks into a record, and reports progress as
//! events. It knows nothing of files or formatting; the caller's event sink does that.

pub mod arrival;
pub mod bench;
mod continuous;
pub mod in_flight;
pub mod load;
pub mod progress;
pub mod shard;
pub mod sweep;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, EngineError, Request};
use crate::error::Result;
use crate::metrics::{MarkRecorder, RequestRecord};
use arrival::Arrival;

/// How a run drives its engine, in-process or served: the one config both drivers read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerConfig {
    /// Requests run before measuring, not recorded.
    pub warmup: usize,
    /// Times the whole request list is measured (ignored with a duration).
    pub repetitions: usize,
    /// Requests offered at once (for a served engine: the most in flight).
    pub concurrency: usize,
    /// When requests are sent to a served engine: all at once (paced by `concurrency`),
    /// or an arrival process at a rate.
    #[serde(default)]
    pub arrival: Arrival,
    /// Send to a served engine for this long, cycling through the requests, instead of
    /// a fixed count.
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Seed of the arrival process.
    #[serde(default)]
    pub seed: u64,
    /// A wall-clock time (ms since the Unix epoch) at which the measured requests start,
    /// after warmup: shards of one load on several hosts (`--start-at`) start together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_unix_ms: Option<f64>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            warmup: 1,
            repetitions: 1,
            concurrency: 1,
            arrival: Arrival::Unlimited,
            duration_s: None,
            seed: 0,
            start_at_unix_ms: None,
        }
    }
}

/// Which driver ran the requests, recorded with the metrics so that a report reads the
/// settings that applied instead of guessing them from the engine's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// One request (or one batch) at a time in this process; `concurrency` up to the
    /// engine's batch.
    InProcess,
    /// The load generator: many requests in flight to a server, under `concurrency`
    /// and the arrival process.
    Load,
}

/// What the runner reports as it goes. The progress display and the sample writer are
/// both plain consumers of these.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The run is about to start: `measured` requests after `warmup` warmup requests.
    Started { warmup: usize, measured: usize },
    /// A warmup request finished.
    WarmupDone,
    /// A measured request finished, successfully or not.
    Request(&'a RequestRecord),
}

/// The result of driving an engine.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub records: Vec<RequestRecord>,
    /// The user stopped the run before every request was measured.
    pub interrupted: bool,
    /// Notes on how the run was driven that a reader needs (for example concurrency the
    /// engine could not honour).
    pub notes: Vec<String>,
    /// Which driver ran the requests.
    pub driver: Driver,
    /// The wall clock (ms since the Unix epoch) at the start of the measured phase, the
    /// zero of every record's `start_ms`: what puts the shards of one load on one
    /// timeline when they are merged.
    pub started_unix_ms: Option<f64>,
}

/// The wall clock now, ms since the Unix epoch.
pub fn unix_ms_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// How long to wait before the measured phase: until `start_at_unix_ms`, or not at all.
pub fn until_start(config: &RunnerConfig) -> Option<std::time::Duration> {
    let left_ms = config.start_at_unix_ms? - unix_ms_now();
    (left_ms > 0.0).then(|| std::time::Duration::from_secs_f64(left_ms / 1e3))
}

/// A note when the measured phase began after its shared start time (a host that came
/// late), which a reader of merged shards needs.
pub fn late_start_note(config: &RunnerConfig, started_unix_ms: f64) -> Option<String> {
    let late_ms = started_unix_ms - config.start_at_unix_ms?;
    (late_ms > 1000.0).then(|| {
        format!(
            "the measured requests started {:.1} s after --start-at (warmup or setup ran past it)",
            late_ms / 1e3
        )
    })
}

/// Sleeps until the shared start time in steps, checking `stop`; false when stopped.
fn wait_for_start(config: &RunnerConfig, stop: &AtomicBool) -> bool {
    while let Some(left) = until_start(config) {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(left.min(std::time::Duration::from_millis(100)));
    }
    !stop.load(Ordering::Relaxed)
}

/// Runs `requests` on `engine`: warmup first, then `repetitions` passes (or `duration_s`
/// of sending, for a served engine), checking `stop` before every request. A served
/// engine goes to the load generator, every other one runs in this process. `on_event`
/// sees every event; an error from it ends the run.
pub fn run(
    engine: &mut dyn Engine,
    requests: &[Request],
    config: &RunnerConfig,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(RunEvent<'_>) -> Result<()>,
) -> Result<RunOutcome> {
    if let Some(served) = engine.served() {
        return load::run(served, requests, config, stop, on_event);
    }
    let outcome = |records, interrupted, notes| RunOutcome {
        records,
        interrupted,
        notes,
        driver: Driver::InProcess,
        started_unix_ms: None,
    };
    let mut notes = Vec::new();
    let batch = engine.capabilities().max_batch.max(1);
    if config.concurrency > batch {
        notes.push(format!(
            "concurrency {} requested, but {} runs {} request{} at a time in-process; requests ran one after another",
            config.concurrency,
            engine.info().name,
            batch,
            if batch == 1 { "" } else { "s" }
        ));
    }
    let warmup: Vec<&Request> = requests
        .iter()
        .cycle()
        .take(if requests.is_empty() {
            0
        } else {
            config.warmup
        })
        .collect();
    on_event(RunEvent::Started {
        warmup: warmup.len(),
        measured: requests.len() * config.repetitions,
    })?;

    let mut sink = NullRecorder { stop };
    for req in warmup {
        if stop.load(Ordering::Relaxed) {
            return Ok(outcome(Vec::new(), true, notes));
        }
        // A warmup failure is not measured, but a run whose warmup fails at setup level
        // (not a per-request failure) cannot measure anything either.
        match engine.generate(req, &mut sink) {
            Ok(_) | Err(EngineError::Request { .. }) | Err(EngineError::Interrupted) => {}
            Err(e) => return Err(e.into()),
        }
        on_event(RunEvent::WarmupDone)?;
    }

    if !wait_for_start(config, stop) {
        return Ok(outcome(Vec::new(), true, notes));
    }
    let started_unix_ms = unix_ms_now();
    notes.extend(late_start_note(config, started_unix_ms));
    let outcome = |records, interrupted, notes| RunOutcome {
        started_unix_ms: Some(started_unix_ms),
        ..outcome(records, interrupted, notes)
    };
    // Requests offered at once: as many as the engine decodes together, at most. A
    // workload with its own arrival times (a trace) runs one request at a time, each
    // sent at its time or, when the one before still runs, as soon as it ends.
    let timed = requests.iter().any(|r| r.arrival_us.is_some());
    let chats = requests.iter().any(|r| r.turn.is_some());
    if timed && config.concurrency > 1 {
        notes.push(format!(
            "concurrency {} requested, but in-process a trace runs one request at a time at its arrival times; a request arriving while another runs waits (schedule_lag_ms)",
            config.concurrency
        ));
    }
    if chats && config.concurrency > 1 {
        notes.push(format!(
            "concurrency {} requested, but in-process conversations run one request at a time, conversation after conversation, turns in order",
            config.concurrency
        ));
    }
    let group = if timed || chats {
        1
    } else {
        config.concurrency.clamp(1, batch)
    };
    if group > 1 {
        if let Some(engine) = engine.continuous() {
            // A request starts as soon as another ends, as against a server.
            let mut queue =
                continuous::RunQueue::new(requests, config.repetitions, group, stop, on_event);
            engine.run_continuous(&mut queue);
            return queue.outcome(notes).map(|o| RunOutcome {
                started_unix_ms: Some(started_unix_ms),
                ..o
            });
        }
    }
    let run_start = Instant::now();
    let mut records = Vec::with_capacity(requests.len() * config.repetitions);
    for rep in 0..config.repetitions {
        for reqs in requests.chunks(group) {
            if stop.load(Ordering::Relaxed) {
                return Ok(outcome(records, true, notes));
            }
            // The user reads the reply before sending the next turn.
            if let Some(t) = reqs[0].turn.filter(|t| t.index > 0 && t.think_us > 0) {
                std::thread::sleep(std::time::Duration::from_micros(t.think_us));
            }
            let scheduled = reqs[0]
                .arrival_us
                .map(|us| run_start + std::time::Duration::from_micros(us));
            if let Some(at) = scheduled {
                arrival::wait_until(at);
            }
            let mut recs: Vec<MarkRecorder> = reqs
                .iter()
                .map(|r| MarkRecorder::start(r.max_tokens as usize, stop))
                .collect();
            let _running: Vec<in_flight::InFlight> = reqs
                .iter()
                .map(|r| in_flight::enter(r, rep as u32, run_start))
                .collect();
            let results = if reqs.len() == 1 {
                vec![engine.generate(&reqs[0], &mut recs[0])]
            } else {
                let mut dyn_recs: Vec<&mut dyn crate::engine::Recorder> = recs
                    .iter_mut()
                    .map(|r| r as &mut dyn crate::engine::Recorder)
                    .collect();
                engine.generate_batch(reqs, &mut dyn_recs)
            };
            let returned = Instant::now();
            if results
                .iter()
                .any(|r| matches!(r, Err(EngineError::Interrupted)))
            {
                // Cut short by the user: not a measurement, not a failure.
                return Ok(outcome(records, true, notes));
            }
            for ((req, rec), result) in reqs.iter().zip(recs).zip(results) {
                // In a batch a request ends at its own last mark, not when the slowest
                // sequence of the batch does.
                let te = if reqs.len() == 1 {
                    returned
                } else {
                    rec.last_mark().unwrap_or(returned)
                };
                let mut record = rec.finish(req, result, te, run_start);
                record.repetition = rep as u32;
                if let Some(at) = scheduled {
                    record
                        .set_schedule(at.saturating_duration_since(run_start).as_secs_f64() * 1e3);
                }
                on_event(RunEvent::Request(&record))?;
                records.push(record);
            }
        }
    }
    Ok(outcome(records, false, notes))
}

/// The recorder for warmup requests: no clock reads, only the stop flag.
struct NullRecorder<'a> {
    stop: &'a AtomicBool,
}

impl crate::engine::Recorder for NullRecorder<'_> {
    fn mark(&mut self, _: crate::engine::Mark) {}
    fn interrupted(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
