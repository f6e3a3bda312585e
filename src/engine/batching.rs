//! Continuous batching: an engine that decodes several sequences together takes new
//! requests between decode steps, as vLLM and llama.cpp's server do, rather than only
//! when a whole batch has finished. `serve` feeds it from its queue; a fixed list of
//! requests ([`FixedQueue`], behind `generate_batch`) is the same loop with nothing
//! arriving late.

use super::{EngineError, Outcome, Recorder, Request};

/// A request handed to the engine, with the recorder its marks go to.
pub struct Admitted<'r> {
    /// Names the request when its result goes back to the queue.
    pub ticket: usize,
    pub req: Request,
    pub rec: Box<dyn Recorder + 'r>,
}

/// Where a continuously batching engine takes requests from, and gives results to.
pub trait BatchQueue<'r> {
    /// Up to `room` requests to start now. With `wait` (the engine has nothing running)
    /// it blocks until at least one comes, and returns none only when no more will.
    fn admit(&mut self, room: usize, wait: bool) -> Vec<Admitted<'r>>;
    /// The request admitted as `ticket` ended; its recorder comes back with the result.
    fn finished(
        &mut self,
        ticket: usize,
        rec: Box<dyn Recorder + 'r>,
        result: Result<Outcome, EngineError>,
    );
    /// The engine's KV cache now holds `cells` token cells, taking `bytes` bytes; an
    /// engine that knows says so after each step (`serve` exposes it at /metrics).
    fn kv_in_use(&mut self, _cells: u64, _bytes: u64) {}
}

/// An engine that batches continuously.
pub trait ContinuousBatching {
    /// Runs requests from `queue` until it has no more, admitting new ones between
    /// decode steps while fewer than the engine's batch size are running.
    fn run_continuous<'r>(&mut self, queue: &mut dyn BatchQueue<'r>);
}

/// A fixed list of requests, all there from the start: `generate_batch` over
/// [`ContinuousBatching`].
pub struct FixedQueue<'q, 'r> {
    reqs: &'q [Request],
    recs: std::iter::Enumerate<std::slice::IterMut<'q, &'r mut dyn Recorder>>,
    results: Vec<Option<Result<Outcome, EngineError>>>,
}

impl<'q, 'r> FixedQueue<'q, 'r> {
    pub fn new(reqs: &'q [Request], recs: &'q mut [&'r mut dyn Recorder]) -> Self {
        FixedQueue {
            reqs,
            results: vec![None; recs.len()],
            recs: recs.iter_mut().enumerate(),
        }
    }

    /// Each request's result, in order.
    pub fn results(self) -> Vec<Result<Outcome, EngineError>> {
        self.results
            .into_iter()
            .map(|r| r.unwrap_or(Err(EngineError::Interrupted)))
            .collect()
    }
}

impl<'q, 'r: 'q> BatchQueue<'q> for FixedQueue<'q, 'r> {
    fn admit(&mut self, room: usize, _wait: bool) -> Vec<Admitted<'q>> {
        let reqs = self.reqs;
        self.recs
            .by_ref()
            .take(room)
            .filter_map(|(i, rec)| {
                Some(Admitted {
                    ticket: i,
                    req: reqs.get(i)?.clone(),
                    rec: Box::new(&mut **rec),
                })
            })
            .collect()
    }

    fn finished(
        &mut self,
        ticket: usize,
        _rec: Box<dyn Recorder + 'q>,
        result: Result<Outcome, EngineError>,
    ) {
        if let Some(slot) = self.results.get_mut(ticket) {
            *slot = Some(result);
        }
    }
}
