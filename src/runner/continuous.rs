//! The in-process runner's side of continuous batching: the measured requests, in order,
//! handed to an engine that takes new ones between decode steps, so `--concurrency`
//! requests stay in flight as each one ends (as against a server), and each is recorded
//! the moment it ends.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{RunEvent, RunOutcome};
use crate::engine::batching::{Admitted, BatchQueue};
use crate::engine::{DevicePhase, EngineError, Mark, Outcome, Recorder, Request};
use crate::error::{Error, Result};
use crate::metrics::{MarkRecorder, RequestRecord};

/// A recorder the engine holds while the queue keeps a handle on it, to finish the
/// record when the request comes back.
struct Shared<'a>(Rc<RefCell<MarkRecorder<'a>>>);

impl Recorder for Shared<'_> {
    fn mark(&mut self, mark: Mark) {
        self.0.borrow_mut().mark(mark)
    }
    fn device_ms(&mut self, phase: DevicePhase, ms: f64) {
        self.0.borrow_mut().device_ms(phase, ms)
    }
    fn interrupted(&self) -> bool {
        self.0.borrow().interrupted()
    }
}

/// One request in flight: its repetition, the request, and its recorder.
/// A running request: its repetition, the request, its marks, and its place in the
/// process-wide registry of requests in flight.
type InFlight<'a> = (
    u32,
    &'a Request,
    Rc<RefCell<MarkRecorder<'a>>>,
    super::in_flight::InFlight,
);

/// The measured requests as a [`BatchQueue`].
pub(super) struct RunQueue<'a, 'e> {
    schedule: Box<dyn Iterator<Item = (u32, &'a Request)> + 'a>,
    concurrency: usize,
    stop: &'a AtomicBool,
    run_start: Instant,
    in_flight: HashMap<usize, InFlight<'a>>,
    next_ticket: usize,
    on_event: &'e mut dyn FnMut(RunEvent<'_>) -> Result<()>,
    records: Vec<RequestRecord>,
    interrupted: bool,
    failure: Option<Error>,
}

impl<'a, 'e> RunQueue<'a, 'e> {
    pub fn new(
        requests: &'a [Request],
        repetitions: usize,
        concurrency: usize,
        stop: &'a AtomicBool,
        on_event: &'e mut dyn FnMut(RunEvent<'_>) -> Result<()>,
    ) -> Self {
        let schedule =
            (0..repetitions as u32).flat_map(move |rep| requests.iter().map(move |r| (rep, r)));
        RunQueue {
            schedule: Box::new(schedule),
            concurrency: concurrency.max(1),
            stop,
            run_start: Instant::now(),
            in_flight: HashMap::new(),
            next_ticket: 0,
            on_event,
            records: Vec::with_capacity(requests.len() * repetitions),
            interrupted: false,
            failure: None,
        }
    }

    /// The run's records in the order the requests started, or the first error from
    /// `on_event`.
    pub fn outcome(mut self, notes: Vec<String>) -> Result<RunOutcome> {
        if let Some(e) = self.failure {
            return Err(e);
        }
        self.records
            .sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        Ok(RunOutcome {
            records: self.records,
            interrupted: self.interrupted,
            notes,
            driver: super::Driver::InProcess,
            started_unix_ms: None,
        })
    }
}

impl<'a> BatchQueue<'a> for RunQueue<'a, '_> {
    fn admit(&mut self, room: usize, _wait: bool) -> Vec<Admitted<'a>> {
        if self.stop.load(Ordering::Relaxed) {
            self.interrupted = true;
        }
        if self.interrupted || self.failure.is_some() {
            return Vec::new();
        }
        let room = room.min(self.concurrency.saturating_sub(self.in_flight.len()));
        let mut out = Vec::with_capacity(room);
        for (rep, req) in self.schedule.by_ref().take(room) {
            let rec = Rc::new(RefCell::new(MarkRecorder::start(
                req.max_tokens as usize,
                self.stop,
            )));
            let ticket = self.next_ticket;
            self.next_ticket += 1;
            out.push(Admitted {
                ticket,
                req: req.clone(),
                rec: Box::new(Shared(rec.clone())),
            });
            let running = super::in_flight::enter(req, rep, self.run_start);
            self.in_flight.insert(ticket, (rep, req, rec, running));
        }
        out
    }

    fn finished(
        &mut self,
        ticket: usize,
        rec: Box<dyn Recorder + 'a>,
        result: Result<Outcome, EngineError>,
    ) {
        drop(rec);
        let Some((rep, req, shared, _running)) = self.in_flight.remove(&ticket) else {
            return;
        };
        if matches!(result, Err(EngineError::Interrupted)) {
            // Cut short by the user: not a measurement, not a failure.
            self.interrupted = true;
            return;
        }
        let Ok(cell) = Rc::try_unwrap(shared) else {
            return; // the engine kept a handle on it: cannot happen once it is handed back
        };
        let marks = cell.into_inner();
        // A request ends at its own last mark, not when the slowest in its batch does.
        let te = marks.last_mark().unwrap_or_else(Instant::now);
        let mut record = marks.finish(req, result, te, self.run_start);
        record.repetition = rep;
        if self.failure.is_none() {
            if let Err(e) = (self.on_event)(RunEvent::Request(&record)) {
                self.failure = Some(e);
            }
        }
        self.records.push(record);
    }
}
