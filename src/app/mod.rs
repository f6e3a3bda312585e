//! The application layer: one module per command, side by side, each taking a validated
//! config (made by `cli`, which only parses and checks flags) and doing the command's
//! work through the library: build the engine, drive it with the runner, write the run
//! directory and the reports. Nothing below this layer imports it.

pub mod agreement;
pub mod bench;
pub mod compare;
pub mod model;
pub mod preprocess;
pub mod ratio;
pub mod report;
pub mod roofline;
pub mod run;
pub mod serve;
pub mod slo_search;
pub mod suite;
pub mod sweep;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// A human-readable table.
    Table,
    /// JSON (for `run`, the contents of metrics.json).
    Json,
}

/// Writes `value` as pretty JSON and a newline, as commands print JSON on stdout.
pub fn print_json<T: Serialize>(out: &mut dyn std::io::Write, value: &T) {
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// How long a stopped command has, after the first SIGINT, SIGTERM or SIGHUP, to end the
/// requests in flight and write its files before it is stopped from outside: a request
/// stuck inside an engine or a template does not hold the process.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What a command leaves on disk when it is stopped before it could finish: metrics.json
/// over what was measured. Registered by the command, run once by whichever comes first
/// of the grace period's end and a second signal.
type Finalizer = Box<dyn FnOnce() + Send>;

static FINALIZER: Mutex<Option<Finalizer>> = Mutex::new(None);

fn finalizer() -> MutexGuard<'static, Option<Finalizer>> {
    FINALIZER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers what to write if the command is stopped before it ends on its own.
pub fn on_forced_stop(f: impl FnOnce() + Send + 'static) {
    *finalizer() = Some(Box::new(f));
}

/// Clears the registered finalizer and holds it off while the command writes its own
/// final files: a forced stop waits for the guard, so it never cuts those writes.
pub fn finishing() -> MutexGuard<'static, Option<Finalizer>> {
    let mut guard = finalizer();
    *guard = None;
    guard
}

/// Writes what the command registered, stops launched servers, and leaves with 130.
fn force_stop() -> ! {
    let f = finalizer().take();
    if let Some(f) = f {
        f();
    }
    // Leaving without destructors: a launched server goes first.
    crate::launch::kill_all();
    std::process::exit(130);
}

/// The process-wide stop flag, set by the first SIGINT, SIGTERM or SIGHUP.
pub fn stop_flag() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    static HANDLER: OnceLock<()> = OnceLock::new();
    HANDLER.get_or_init(|| {
        // First signal: finish the requests in flight, write metrics.json, exit 130;
        // after STOP_GRACE, whatever is still running is cancelled and the files are
        // written over what was measured. Second: the same at once.
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                force_stop();
            }
            eprintln!(
                "\ninterrupted: finishing the requests in flight and writing results within {} s (again to quit now)",
                STOP_GRACE.as_secs()
            );
            std::thread::spawn(|| {
                std::thread::sleep(STOP_GRACE);
                eprintln!("interrupted: the grace period is over; cancelling what is still running");
                force_stop();
            });
        });
    });
    &STOP
}
