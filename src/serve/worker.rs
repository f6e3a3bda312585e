//! The engine thread: requests arrive FIFO on a channel and run on the in-process
//! engine. An engine that batches continuously (llama.cpp with `--parallel`, the sim
//! with `--sim-batch`) takes them between decode steps, up to its batch size, as vLLM
//! does. Any other engine gets every waiting request up to its batch size (one, for
//! candle) and runs them to the end. The engine lives on this thread alone (engines need
//! not be `Send`).
//! Each request's queue wait, engine time and time to first token are measured here, on
//! the server's side, so a client can split server time from network time.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::metrics::ServeMetrics;

use crate::engine::batching::{Admitted, BatchQueue};
use crate::engine::{
    self, EngineConfig, EngineError, EngineInfo, Mark, Outcome, Recorder, Request,
};
use crate::openai::ServerTimings;

/// One request for the engine.
pub struct Job {
    pub req: Request,
    /// When the server finished reading the request.
    pub arrived: Instant,
    pub events: mpsc::UnboundedSender<JobEvent>,
    /// Its place in the server's bounded queue, given back when the job is dropped.
    pub _slot: QueueSlot,
    /// The server's counters (`GET /metrics`).
    pub metrics: Arc<ServeMetrics>,
}

/// One place in the queue of requests admitted and not finished (`serve --max-queue`).
pub struct QueueSlot(Arc<AtomicUsize>);

impl QueueSlot {
    /// A place, or `None` when `max` requests already hold one.
    pub fn take(count: &Arc<AtomicUsize>, max: usize) -> Option<QueueSlot> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| QueueSlot(count.clone()))
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Marks the server unhealthy when the engine thread ends, however it ends (a failed
/// engine, or a panic unwinding it).
struct HealthGuard(Arc<AtomicBool>);

impl Drop for HealthGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// A failure of the engine itself rather than of one request: it serves nothing more.
fn engine_failed<T>(result: &Result<T, EngineError>) -> bool {
    matches!(result, Err(EngineError::Setup { .. }))
}

/// What the engine thread reports about a job, in order.
#[derive(Debug)]
pub enum JobEvent {
    /// `n` more output tokens exist since `at_ns`, when the engine marked them (the host's
    /// monotonic clock, [`crate::clock::monotonic_ns`]): the server's own time per token,
    /// which each chunk carries to the client.
    /// `reasoning`: the tokens are the model's reasoning, streamed as `reasoning_content`.
    Tokens { n: u32, at_ns: u64, reasoning: bool },
    /// The request is done.
    Done(Result<(Outcome, ServerTimings), EngineError>),
}

/// When the engine gave a request its first token and when it finished it (its
/// detokenize mark: in a batch, where its own engine time ends).
#[derive(Debug, Default)]
struct JobTimes {
    first: Cell<Option<Instant>>,
    done: Cell<Option<Instant>>,
}

/// Reports marks to the connection handling the request, and stops the engine early
/// when the client has gone.
struct JobRecorder {
    events: mpsc::UnboundedSender<JobEvent>,
    metrics: Arc<ServeMetrics>,
    times: Rc<JobTimes>,
    /// The next tokens marked are reasoning.
    reasoning_next: bool,
}

impl JobRecorder {
    fn new(job: &Job) -> (Self, Rc<JobTimes>) {
        let times = Rc::new(JobTimes::default());
        let rec = JobRecorder {
            events: job.events.clone(),
            metrics: job.metrics.clone(),
            times: times.clone(),
            reasoning_next: false,
        };
        (rec, times)
    }
}

impl Recorder for JobRecorder {
    fn mark(&mut self, mark: Mark) {
        match mark {
            Mark::Tokens(k) => {
                if self.times.first.get().is_none() {
                    self.times.first.set(Some(Instant::now()));
                }
                self.metrics.generated(k);
                let at_ns = crate::clock::monotonic_ns();
                let reasoning = std::mem::take(&mut self.reasoning_next);
                let _ = self.events.send(JobEvent::Tokens {
                    n: k,
                    at_ns,
                    reasoning,
                });
            }
            Mark::Detokenized => self.times.done.set(Some(Instant::now())),
            _ => {}
        }
    }

    fn reasoning(&mut self) {
        self.reasoning_next = true;
    }

    fn interrupted(&self) -> bool {
        self.events.is_closed()
    }
}

/// Sends a job's result with the server's split of its time: queue wait from arrival to
/// `taken` (the engine taking it), engine time from then to its finish.
fn report(job: &Job, taken: Instant, times: &JobTimes, result: Result<Outcome, EngineError>) {
    job.metrics
        .finished(result.as_ref().ok().map(|o| o.prompt_tokens));
    let (job_events, arrived) = (&job.events, job.arrived);
    let timings = ServerTimings {
        queue_ms: ms(arrived, taken),
        engine_ms: ms(taken, times.done.get().unwrap_or_else(Instant::now)),
        engine_ttft_ms: times.first.get().map(|t| ms(taken, t)),
    };
    let _ = job_events.send(JobEvent::Done(result.map(|o| (o, timings))));
}

/// Runs jobs together on an engine without continuous batching, and reports each one's
/// result and server timings. False when the engine failed for good.
fn run_batch(engine: &mut dyn engine::Engine, jobs: Vec<Job>) -> bool {
    if jobs.is_empty() {
        return true;
    }
    let reqs: Vec<Request> = jobs.iter().map(|j| j.req.clone()).collect();
    let start = Instant::now();
    let (mut recorders, times): (Vec<JobRecorder>, Vec<Rc<JobTimes>>) =
        jobs.iter().map(JobRecorder::new).unzip();
    let mut recs: Vec<&mut dyn Recorder> = recorders
        .iter_mut()
        .map(|r| r as &mut dyn Recorder)
        .collect();
    let results = engine.generate_batch(&reqs, &mut recs);
    let alive = !results.iter().any(engine_failed);
    for ((job, times), result) in jobs.iter().zip(&times).zip(results) {
        report(job, start, times, result);
    }
    alive
}

/// The job queue as a continuously batching engine sees it: requests are admitted
/// between decode steps, oldest first, and each reports as soon as it ends.
struct ServeQueue<'a> {
    jobs: &'a std_mpsc::Receiver<Job>,
    /// The server's counters, from the first job (every job carries the same).
    metrics: Option<Arc<ServeMetrics>>,
    running: HashMap<usize, (Job, Instant, Rc<JobTimes>)>,
    next_ticket: usize,
    /// The engine failed for good: admit nothing more, so it ends.
    failed: bool,
}

impl BatchQueue<'static> for ServeQueue<'_> {
    fn admit(&mut self, room: usize, wait: bool) -> Vec<Admitted<'static>> {
        let mut out = Vec::new();
        while out.len() < room && !self.failed {
            let job = if out.is_empty() && wait {
                self.jobs.recv().ok()
            } else {
                self.jobs.try_recv().ok()
            };
            let Some(job) = job else { break };
            if job.events.is_closed() {
                job.metrics.dropped();
                continue; // the client left while it was queued
            }
            job.metrics.taken();
            self.metrics.get_or_insert_with(|| job.metrics.clone());
            let (rec, times) = JobRecorder::new(&job);
            let ticket = self.next_ticket;
            self.next_ticket += 1;
            out.push(Admitted {
                ticket,
                req: job.req.clone(),
                rec: Box::new(rec),
            });
            self.running.insert(ticket, (job, Instant::now(), times));
        }
        out
    }

    fn finished(
        &mut self,
        ticket: usize,
        _rec: Box<dyn Recorder>,
        result: Result<Outcome, EngineError>,
    ) {
        self.failed |= engine_failed(&result);
        if let Some((job, taken, times)) = self.running.remove(&ticket) {
            report(&job, taken, &times, result);
        }
    }

    fn kv_in_use(&mut self, cells: u64, bytes: u64) {
        if let Some(m) = &self.metrics {
            m.kv_in_use(cells, bytes);
        }
    }
}

fn ms(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64() * 1e3
}

/// Starts the engine thread. Returns the job queue and the engine's facts once the
/// engine is built, or the error that kept it from building.
/// `healthy` turns false when the engine thread ends: after the engine failed for good,
/// every queued request is dropped (its client gets an error, not a hang) and new ones
/// are refused.
pub fn start(
    config: EngineConfig,
    healthy: Arc<AtomicBool>,
) -> Result<(std_mpsc::Sender<Job>, EngineInfo), EngineError> {
    let (jobs_tx, jobs_rx) = std_mpsc::channel::<Job>();
    let (ready_tx, ready_rx) = std_mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("nativebench-engine".into())
        .spawn(move || {
            let _health = HealthGuard(healthy);
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
            if let Some(engine) = engine.continuous() {
                let mut queue = ServeQueue {
                    jobs: &jobs_rx,
                    metrics: None,
                    running: HashMap::new(),
                    next_ticket: 0,
                    failed: false,
                };
                engine.run_continuous(&mut queue);
                return;
            }
            let max_batch = engine.capabilities().max_batch.max(1);
            while let Ok(first) = jobs_rx.recv() {
                // FIFO: the oldest job, plus whatever else is already waiting, up to the
                // engine's batch; a client that left while queued is dropped here.
                let jobs: Vec<Job> = std::iter::once(first)
                    .chain(std::iter::from_fn(|| jobs_rx.try_recv().ok()))
                    .filter(|j| {
                        let open = !j.events.is_closed();
                        if open {
                            j.metrics.taken();
                        } else {
                            j.metrics.dropped();
                        }
                        open
                    })
                    .take(max_batch)
                    .collect();
                if !run_batch(engine.as_mut(), jobs) {
                    return;
                }
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
