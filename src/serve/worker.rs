//! The engine thread: requests arrive FIFO on a channel and run on the in-process
//! engine, one at a time or, for an engine that decodes several together, as many as are
//! waiting up to its batch size. The engine lives on this thread alone (engines need not
//! be `Send`).
//! Each request's queue wait, engine time and time to first token are measured here, on
//! the server's side, so a client can split server time from network time.

use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::engine::openai::ServerTimings;
use crate::engine::{
    self, EngineConfig, EngineError, EngineInfo, Mark, Outcome, Recorder, Request,
};

/// One request for the engine.
pub struct Job {
    pub req: Request,
    /// When the server finished reading the request.
    pub arrived: Instant,
    pub events: mpsc::UnboundedSender<JobEvent>,
}

/// What the engine thread reports about a job, in order.
#[derive(Debug)]
pub enum JobEvent {
    /// `n` more output tokens exist.
    Tokens(u32),
    /// The request is done.
    Done(Result<(Outcome, ServerTimings), EngineError>),
}

/// Reports marks to the connection handling the request, and stops the engine early
/// when the client has gone.
struct JobRecorder<'a> {
    events: &'a mpsc::UnboundedSender<JobEvent>,
    first: Option<Instant>,
    /// When the engine finished the request (its detokenize mark): in a batch, where its
    /// own engine time ends.
    done: Option<Instant>,
}

impl Recorder for JobRecorder<'_> {
    fn mark(&mut self, mark: Mark) {
        match mark {
            Mark::Tokens(k) => {
                self.first.get_or_insert_with(Instant::now);
                let _ = self.events.send(JobEvent::Tokens(k));
            }
            Mark::Detokenized => self.done = Some(Instant::now()),
            _ => {}
        }
    }

    fn interrupted(&self) -> bool {
        self.events.is_closed()
    }
}

/// Runs jobs together on the engine and reports each one's result and server timings.
/// A request's engine time ends when the engine finished it, not at the batch's end.
fn run_batch(engine: &mut dyn engine::Engine, jobs: Vec<Job>) {
    if jobs.is_empty() {
        return;
    }
    let reqs: Vec<Request> = jobs.iter().map(|j| j.req.clone()).collect();
    let start = Instant::now();
    let mut recorders: Vec<JobRecorder<'_>> = jobs
        .iter()
        .map(|j| JobRecorder {
            events: &j.events,
            first: None,
            done: None,
        })
        .collect();
    let mut recs: Vec<&mut dyn Recorder> = recorders
        .iter_mut()
        .map(|r| r as &mut dyn Recorder)
        .collect();
    let results = engine.generate_batch(&reqs, &mut recs);
    let end = Instant::now();
    for ((job, rec), result) in jobs.iter().zip(&recorders).zip(results) {
        let timings = ServerTimings {
            queue_ms: ms(job.arrived, start),
            engine_ms: ms(start, rec.done.unwrap_or(end)),
            engine_ttft_ms: rec.first.map(|t| ms(start, t)),
        };
        let _ = job
            .events
            .send(JobEvent::Done(result.map(|o| (o, timings))));
    }
}

fn ms(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64() * 1e3
}

/// Starts the engine thread. Returns the job queue and the engine's facts once the
/// engine is built, or the error that kept it from building.
pub fn start(config: EngineConfig) -> Result<(std_mpsc::Sender<Job>, EngineInfo), EngineError> {
    let (jobs_tx, jobs_rx) = std_mpsc::channel::<Job>();
    let (ready_tx, ready_rx) = std_mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("nativebench-engine".into())
        .spawn(move || {
            let mut engine = match engine::build(&config) {
                Ok(e) => {
                    let _ = ready_tx.send(Ok(e.info()));
                    e
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let max_batch = engine.capabilities().max_batch.max(1);
            while let Ok(first) = jobs_rx.recv() {
                // FIFO: the oldest job, plus whatever else is already waiting, up to the
                // engine's batch; a client that left while queued is dropped here.
                let jobs: Vec<Job> = std::iter::once(first)
                    .chain(std::iter::from_fn(|| jobs_rx.try_recv().ok()))
                    .filter(|j| !j.events.is_closed())
                    .take(max_batch)
                    .collect();
                run_batch(engine.as_mut(), jobs);
            }
        });
    if let Err(e) = spawned {
        return Err(EngineError::Setup {
            engine: "serve",
            message: format!("cannot start the engine thread: {e}"),
        });
    }
    match ready_rx.recv() {
        Ok(Ok(info)) => Ok((jobs_tx, info)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(EngineError::Setup {
            engine: "serve",
            message: "the engine thread stopped while building the engine".into(),
        }),
    }
}
