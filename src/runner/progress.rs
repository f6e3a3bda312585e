//! The progress bar: a pure consumer of run events, drawn on stderr only when stderr is
//! a terminal and the user did not ask for quiet.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::RunEvent;

/// Shows run progress on stderr.
pub struct Progress {
    bar: ProgressBar,
    label: String,
}

impl Progress {
    /// A progress display for a run labelled `label`; hidden when `quiet` or when stderr
    /// is not a terminal (CI logs, pipes).
    pub fn new(label: &str, quiet: bool) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
        } else {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        };
        Progress {
            bar,
            label: label.to_owned(),
        }
    }

    /// Updates the display for one event.
    pub fn on_event(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::Started { warmup, measured } => {
                self.bar.set_length((warmup + measured) as u64);
                self.bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                self.bar.set_prefix(self.label.clone());
                self.bar
                    .set_message(if *warmup > 0 { "warmup" } else { "" });
            }
            RunEvent::WarmupDone => self.bar.inc(1),
            RunEvent::Request(r) => {
                self.bar.set_message(match r.ttft_ms {
                    Some(t) if r.ok => format!("ttft {t:.1} ms"),
                    _ => "failed".to_owned(),
                });
                self.bar.inc(1);
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
