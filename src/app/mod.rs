//! The application layer: one module per command, side by side, each taking a validated
//! config (made by `cli`, which only parses and checks flags) and doing the command's
//! work through the library: build the engine, drive it with the runner, write the run
//! directory and the reports. Nothing below this layer imports it.

pub mod agreement;
pub mod bench;
pub mod compare;
pub mod model;
pub mod ratio;
pub mod report;
pub mod run;
pub mod serve;
pub mod suite;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

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

/// The process-wide stop flag, set by the first Ctrl-C.
pub fn stop_flag() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    static HANDLER: OnceLock<()> = OnceLock::new();
    HANDLER.get_or_init(|| {
        // First Ctrl-C: finish the request in flight, write metrics.json, exit 130.
        // Second: leave at once; every finished request is already on disk.
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                // Leaving without destructors: a launched server goes first.
                crate::launch::kill_all();
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: finishing the request in flight and writing results (Ctrl-C again to quit now)");
        });
    });
    &STOP
}
