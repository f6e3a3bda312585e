//! The load generator: drives an OpenAI-compatible server with many requests in flight
//! on a tokio runtime, under a concurrency limit and an arrival process, for a number of
//! prompts or a duration. Every request ends as one [`RequestRecord`], as in the
//! in-process runner, and the caller sees the same [`RunEvent`]s.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};

use super::{Driver, RunEvent, RunOutcome, RunnerConfig};
use crate::engine::http::{HttpClient, HttpEngine, HttpReply};
use crate::engine::{EngineError, Mark, Recorder, Request};
use crate::error::{Error, Result};
use crate::metrics::{MarkRecorder, RequestRecord};

/// The name under which the client-side share of a request's time is recorded: its E2E
/// minus the server's reported queue wait and engine time (network, HTTP, serialization
/// on both sides).
pub const HTTP_OVERHEAD: &str = "http_overhead_ms";
/// The same for the first token: TTFT minus the server's queue wait and its engine's time
/// to the first token.
pub const HTTP_TTFT_OVERHEAD: &str = "http_ttft_overhead_ms";

/// Recorders of spawned requests need a stop flag that lives forever; the load
/// generator itself watches the user's flag and stops sending.
static NEVER: AtomicBool = AtomicBool::new(false);

/// Runs `requests` against the server of `engine` under `config`, with the client it
/// built. `on_event` sees every event; an error from it ends the run.
pub fn run(
    engine: &mut HttpEngine,
    requests: &[Request],
    config: &RunnerConfig,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(RunEvent<'_>) -> Result<()>,
) -> Result<RunOutcome> {
    let http = engine.config().clone();
    if let (Some(probe), true) = (requests.first(), http.ready_timeout_s > 0.0) {
        let within = Duration::from_secs_f64(http.ready_timeout_s);
        let rt = engine.runtime().handle().clone();
        // Between runs nothing else holds the client, so the probe can also name the model.
        let client = engine.client_mut().ok_or_else(|| {
            Error::Runtime("the http client is still in use by an earlier run".into())
        })?;
        rt.block_on(wait_ready(client, probe, within))?;
    }
    let client = engine.client().clone();
    let outcome =
        engine
            .runtime()
            .block_on(drive(client.clone(), requests, config, stop, on_event));
    if let (Some(p), Some(path)) = (client.profile(), &http.chunk_profile) {
        p.write().map_err(|e| Error::io(path, e))?;
    }
    outcome
}

/// One request, start to record: the unit every spawned task runs. `None`, with nothing
/// sent, when its clock would start at or past the run's `deadline` (`--duration`): the
/// dispatcher checks the deadline before it spawns the task, but the task may first run
/// later on a busy machine, and a request that starts after the duration is not part of
/// the run.
async fn one(
    client: Arc<HttpClient>,
    req: Request,
    slot: Slot,
    run_start: Instant,
    deadline: Option<Instant>,
) -> Option<RequestRecord> {
    let Slot {
        repetition,
        scheduled,
    } = slot;
    let mut rec = MarkRecorder::start(req.max_tokens as usize, &NEVER);
    if deadline.is_some_and(|d| rec.t0() >= d) {
        return None;
    }
    let running = super::in_flight::enter(&req, repetition, run_start);
    let result = client.generate(&req, &mut rec).await;
    drop(running);
    // A reply ends at its terminal event, not when the server closes the body.
    let te = result.as_ref().map_or_else(|_| Instant::now(), |r| r.ended);
    let mut record = record_of(rec, &req, result, te, run_start, repetition);
    if let Some(at) = scheduled {
        record.set_schedule(at.saturating_duration_since(run_start).as_secs_f64() * 1e3);
    }
    Some(record)
}

/// What the dispatcher offers at a time: one request, or a conversation whose turns go
/// one after another (consecutive requests of the same conversation).
fn units(requests: &[Request]) -> Vec<&[Request]> {
    let conversation = |r: &Request| r.turn.map(|t| t.conversation);
    let mut out = Vec::new();
    let mut rest = requests;
    while let Some(first) = rest.first() {
        let n = match conversation(first) {
            None => 1,
            c => rest.iter().take_while(|r| conversation(r) == c).count(),
        };
        let (unit, tail) = rest.split_at(n);
        out.push(unit);
        rest = tail;
    }
    out
}

/// A conversation's turns, run in order by one task: the first with the slot the
/// dispatcher got it, each later one after the reply before it and its think time, in a
/// slot of its own (it waits for one like any request).
struct Turns {
    sem: Arc<Semaphore>,
    halt: Arc<AtomicBool>,
    run_start: Instant,
    deadline: Option<Instant>,
}

impl Turns {
    async fn run(
        self,
        client: Arc<HttpClient>,
        turns: Vec<Request>,
        first: Slot,
        permit: tokio::sync::OwnedSemaphorePermit,
        tx: mpsc::UnboundedSender<RequestRecord>,
    ) {
        let mut permit = Some(permit);
        for (k, req) in turns.into_iter().enumerate() {
            let slot = if k == 0 {
                first
            } else {
                let think = req.turn.map_or(0, |t| t.think_us);
                tokio::time::sleep(Duration::from_micros(think)).await;
                if self.halt.load(Ordering::Relaxed) {
                    return;
                }
                match self.sem.clone().acquire_owned().await {
                    Ok(p) => permit = Some(p),
                    Err(_) => return,
                }
                Slot {
                    repetition: first.repetition,
                    scheduled: None,
                }
            };
            let record = one(client.clone(), req, slot, self.run_start, self.deadline).await;
            drop(permit.take());
            let Some(r) = record else { return };
            if tx.send(r).is_err() {
                return;
            }
        }
    }
}

/// Where a request sits in the run: its repetition, and the time the arrival process
/// gave it (none when every request is offered at once).
#[derive(Clone, Copy)]
struct Slot {
    repetition: u32,
    scheduled: Option<Instant>,
}

/// Turns a reply into a record, adding what only HTTP replies carry.
pub fn record_of(
    rec: MarkRecorder<'_>,
    req: &Request,
    result: std::result::Result<HttpReply, EngineError>,
    te: Instant,
    run_start: Instant,
    repetition: u32,
) -> RequestRecord {
    let (result, reasoning, server, source, warnings, same_host) = match result {
        Ok(r) => (
            Ok(r.outcome),
            r.reasoning_tokens,
            r.server,
            Some(r.output_tokens_source.as_str().to_owned()),
            r.warnings,
            r.same_host,
        ),
        Err(e) => (Err(e), None, None, None, Vec::new(), true),
    };
    let mut r = rec.finish(req, result, te, run_start);
    if !same_host {
        remove_clock_offset(&mut r);
    }
    r.repetition = repetition;
    // The server's usage, where it gave one, over the count of reasoning deltas.
    r.reasoning_tokens = reasoning.or(r.reasoning_tokens);
    r.output_tokens_source = source;
    r.warnings = warnings.into_iter().map(str::to_owned).collect();
    if let Some(s) = server.filter(|_| r.ok) {
        r.engine_timings_ms.insert(
            HTTP_OVERHEAD.into(),
            (r.e2e_ms - s.queue_ms - s.engine_ms).max(0.0),
        );
        if let (Some(ttft), Some(engine_ttft)) = (r.ttft_ms, s.engine_ttft_ms) {
            r.engine_timings_ms.insert(
                HTTP_TTFT_OVERHEAD.into(),
                (ttft - s.queue_ms - engine_ttft).max(0.0),
            );
        }
    }
    r
}

/// The clock offset of a server on another host, estimated from one request: its
/// fastest token is taken to have arrived at once, so every delivery is measured above
/// that one (`server_clock_offset_ms` records the shift). Gaps need no estimate: each
/// side's is read on its own clock.
pub fn remove_clock_offset(r: &mut RequestRecord) {
    let offset = r
        .token_ms
        .iter()
        .zip(&r.server_token_ms)
        .map(|(c, s)| c - s)
        .fold(f64::INFINITY, f64::min);
    if offset.is_finite() {
        for s in &mut r.server_token_ms {
            *s += offset;
        }
        r.engine_timings_ms
            .insert(SERVER_CLOCK_OFFSET.into(), offset);
    }
}

/// The name under which a remote server's estimated clock offset is recorded.
pub const SERVER_CLOCK_OFFSET: &str = "server_clock_offset_ms";

/// How often a server that is not ready yet is asked again.
const READY_RETRY: Duration = Duration::from_secs(1);

/// Waits until the server completes a request (`--ready-check-timeout`), as `vllm bench
/// serve` does: a server still loading its model refuses connections or answers 503.
/// The probe is the first prompt with one output token, sent once a second; each try
/// gets the time left. Not ready in time is a runtime error naming the last failure.
async fn wait_ready(client: &mut HttpClient, probe: &Request, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    let probe = Request {
        max_tokens: 1,
        ..probe.clone()
    };
    loop {
        client.discover_model().await;
        let left = deadline.saturating_duration_since(Instant::now());
        let last = match tokio::time::timeout(left, client.generate(&probe, &mut Discard)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no reply".to_owned(),
        };
        if Instant::now() + READY_RETRY >= deadline {
            return Err(Error::Engine(EngineError::setup(
                "http",
                format!(
                    "the server was not ready within {} s (--ready-check-timeout); last try: {last}",
                    within.as_secs_f64()
                ),
            )));
        }
        tokio::time::sleep(READY_RETRY).await;
    }
}

/// Warmup requests: sent like the others, their records thrown away.
struct Discard;
impl Recorder for Discard {
    fn mark(&mut self, _: Mark) {}
}

async fn warmup(client: &Arc<HttpClient>, requests: &[Request], load: &RunnerConfig) {
    let n = if requests.is_empty() { 0 } else { load.warmup };
    let sem = Arc::new(Semaphore::new(load.concurrency.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for req in requests.iter().cycle().take(n) {
        let Ok(permit) = sem.clone().acquire_owned().await else {
            break;
        };
        let (client, req) = (client.clone(), req.clone());
        tasks.push(tokio::spawn(async move {
            let _ = client.generate(&req, &mut Discard).await;
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn drive(
    client: Arc<HttpClient>,
    requests: &[Request],
    load: &RunnerConfig,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(RunEvent<'_>) -> Result<()>,
) -> Result<RunOutcome> {
    let warm = if requests.is_empty() { 0 } else { load.warmup };
    let measured = match load.duration_s {
        Some(_) => 0,
        None => requests.len() * load.repetitions,
    };
    on_event(RunEvent::Started {
        warmup: warm,
        measured,
    })?;
    warmup(&client, requests, load).await;
    if let Some(p) = client.profile() {
        p.reset();
    }
    for _ in 0..warm {
        on_event(RunEvent::WarmupDone)?;
    }
    let mut notes = Vec::new();
    if let Some(rate) = load.arrival.rate() {
        notes.push(format!(
            "arrivals: {:?} at {rate} req/s, at most {} in flight",
            load.arrival, load.concurrency
        ));
    }

    while let Some(left) = super::until_start(load) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
    }
    let started_unix_ms = super::unix_ms_now();
    notes.extend(super::late_start_note(load, started_unix_ms));
    let run_start = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel::<RequestRecord>();
    let sem = Arc::new(Semaphore::new(load.concurrency.max(1)));
    let abort = Cell::new(false);
    // Requests that found every --concurrency slot taken when their time came.
    let capped = Cell::new(0usize);
    let paced = load.arrival.rate().is_some();
    let interrupted = Cell::new(false);
    let deadline = load
        .duration_s
        .map(|d| run_start + Duration::from_secs_f64(d));

    // Set once the run stops or fails: conversations already under way send no more turns.
    let halt = Arc::new(AtomicBool::new(false));
    let units = units(requests);
    let dispatch = async {
        let mut gaps = load.arrival.gaps(load.seed);
        let mut next = run_start;
        let schedule: Box<dyn Iterator<Item = (u32, &[Request])> + '_> = match load.duration_s {
            Some(_) => Box::new(units.iter().cycle().map(|u| (0, *u))),
            None => Box::new(
                (0..load.repetitions as u32).flat_map(|rep| units.iter().map(move |u| (rep, *u))),
            ),
        };
        for (rep, unit) in schedule {
            let Some(req) = unit.first() else { continue };
            // A trace's request carries its own time; otherwise the process draws it.
            if let Some(us) = req.arrival_us {
                next = run_start + Duration::from_micros(us);
            }
            super::arrival::pace_until(next).await;
            let timed = paced || req.arrival_us.is_some();
            let slot = Slot {
                repetition: rep,
                scheduled: timed.then_some(next),
            };
            if req.arrival_us.is_none() {
                next += gaps.next_gap();
            }
            if timed && sem.available_permits() == 0 {
                capped.set(capped.get() + 1);
            }
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break;
            };
            if stop.load(Ordering::Relaxed) {
                interrupted.set(true);
                break;
            }
            if abort.get() || deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let (client, tx) = (client.clone(), tx.clone());
            if unit.len() > 1 {
                let turns = Turns {
                    sem: sem.clone(),
                    halt: halt.clone(),
                    run_start,
                    deadline,
                };
                tokio::spawn(turns.run(client, unit.to_vec(), slot, permit, tx));
                continue;
            }
            let req = req.clone();
            tokio::spawn(async move {
                let record = one(client, req, slot, run_start, deadline).await;
                drop(permit);
                // The receiver outlives every sender; a closed channel means the run
                // was abandoned, and the record has nowhere to go.
                if let Some(record) = record {
                    let _ = tx.send(record);
                }
            });
        }
        drop(tx);
    };
    let mut records = Vec::with_capacity(measured);
    let mut failure = None;
    let collect = async {
        while let Some(r) = rx.recv().await {
            if stop.load(Ordering::Relaxed) {
                halt.store(true, Ordering::Relaxed);
                interrupted.set(true);
            }
            if failure.is_none() {
                if let Err(e) = on_event(RunEvent::Request(&r)) {
                    failure = Some(e);
                    abort.set(true);
                    halt.store(true, Ordering::Relaxed);
                }
            }
            records.push(r);
        }
    };
    tokio::join!(dispatch, collect);
    if let Some(e) = failure {
        return Err(e);
    }
    records.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    if capped.get() > 0 {
        notes.push(format!(
            "{} of {} requests found all {} --concurrency slots taken at their scheduled time and waited for one",
            capped.get(),
            records.len(),
            load.concurrency
        ));
    }
    Ok(RunOutcome {
        records,
        interrupted: interrupted.get(),
        notes,
        driver: Driver::Load,
        started_unix_ms: Some(started_unix_ms),
    })
}
