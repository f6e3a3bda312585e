//! The runner: drives an engine over a list of requests with warmup and repetitions,
//! owns the clock, turns each request's marks into a record, and reports progress as
//! events. It knows nothing of files or formatting; the caller's event sink does that.

pub mod arrival;
pub mod bench;
mod continuous;
pub mod load;
pub mod progress;
pub mod sweep;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, EngineError, Request};
use crate::error::Result;
use crate::metrics::{MarkRecorder, RequestRecord};

/// How a run drives its engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerConfig {
    /// Requests run before measuring, not recorded.
    pub warmup: usize,
    /// Times the whole request list is measured.
    pub repetitions: usize,
    /// Requests offered at once.
    pub concurrency: usize,
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
}

/// Runs `requests` on `engine`: warmup first, then `repetitions` passes, checking `stop`
/// before every request. `on_event` sees every event; an error from it ends the run.
pub fn run(
    engine: &mut dyn Engine,
    requests: &[Request],
    config: &RunnerConfig,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(RunEvent<'_>) -> Result<()>,
) -> Result<RunOutcome> {
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
            return Ok(RunOutcome {
                records: Vec::new(),
                interrupted: true,
                notes,
            });
        }
        // A warmup failure is not measured, but a run whose warmup fails at setup level
        // (not a per-request failure) cannot measure anything either.
        match engine.generate(req, &mut sink) {
            Ok(_) | Err(EngineError::Request { .. }) | Err(EngineError::Interrupted) => {}
            Err(e) => return Err(e.into()),
        }
        on_event(RunEvent::WarmupDone)?;
    }

    // Requests offered at once: as many as the engine decodes together, at most.
    let group = config.concurrency.clamp(1, batch);
    if group > 1 {
        if let Some(engine) = engine.continuous() {
            // A request starts as soon as another ends, as against a server.
            let mut queue =
                continuous::RunQueue::new(requests, config.repetitions, group, stop, on_event);
            engine.run_continuous(&mut queue);
            return queue.outcome(notes);
        }
    }
    let run_start = Instant::now();
    let mut records = Vec::with_capacity(requests.len() * config.repetitions);
    for rep in 0..config.repetitions {
        for reqs in requests.chunks(group) {
            if stop.load(Ordering::Relaxed) {
                return Ok(RunOutcome {
                    records,
                    interrupted: true,
                    notes,
                });
            }
            let mut recs: Vec<MarkRecorder> = reqs
                .iter()
                .map(|r| MarkRecorder::start(r.max_tokens as usize, stop))
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
                return Ok(RunOutcome {
                    records,
                    interrupted: true,
                    notes,
                });
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
                on_event(RunEvent::Request(&record))?;
                records.push(record);
            }
        }
    }
    Ok(RunOutcome {
        records,
        interrupted: false,
        notes,
    })
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
