//! The requests inside an engine right now, process-wide, so that a run stopped from
//! outside (the signal's grace period over, or a second signal) records each of them as
//! `interrupted` instead of losing them. Only the stop path reads it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::engine::Request;
use crate::metrics::RequestRecord;

struct Entry {
    request_id: u64,
    repetition: u32,
    max_tokens: u32,
    category: Option<String>,
    started: Instant,
    run_start: Instant,
}

static ENTRIES: Mutex<BTreeMap<u64, Entry>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(0);
static CLOSED: AtomicBool = AtomicBool::new(false);

fn entries() -> MutexGuard<'static, BTreeMap<u64, Entry>> {
    ENTRIES.lock().unwrap_or_else(|e| e.into_inner())
}

/// A request's place in the registry while it runs; leaving it (dropping) ends it.
pub struct InFlight(u64);

impl Drop for InFlight {
    fn drop(&mut self) {
        entries().remove(&self.0);
    }
}

/// Registers `req` as running from now.
pub fn enter(req: &Request, repetition: u32, run_start: Instant) -> InFlight {
    let key = NEXT.fetch_add(1, Ordering::Relaxed);
    entries().insert(
        key,
        Entry {
            request_id: req.id,
            repetition,
            max_tokens: req.max_tokens,
            category: req.category.clone(),
            started: Instant::now(),
            run_start,
        },
    );
    InFlight(key)
}

/// Ends the registry: every request still in it becomes an `interrupted` record, and
/// [`closed`] is true from then on, so that no later record is written beside them.
pub fn cancel_all(why: &str) -> Vec<RequestRecord> {
    CLOSED.store(true, Ordering::SeqCst);
    let now = Instant::now();
    let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1e3;
    std::mem::take(&mut *entries())
        .into_values()
        .map(|e| RequestRecord {
            request_id: e.request_id,
            repetition: e.repetition,
            ok: false,
            error_kind: Some("interrupted".into()),
            error: Some(why.to_owned()),
            max_tokens: e.max_tokens,
            start_ms: ms(e.run_start, e.started),
            e2e_ms: ms(e.started, now),
            category: e.category,
            ..RequestRecord::default()
        })
        .collect()
}

/// True once [`cancel_all`] has run: the run's files are being finished from outside.
pub fn closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}
