//! `nativebench serve`: an in-process engine behind the OpenAI-compatible server, until
//! the process is stopped.

use std::io::Write;

use crate::error::Result;
use crate::serve::{serve_forever, ServeConfig};

/// A validated `serve`.
#[derive(Debug, Clone)]
pub struct ServePlan {
    pub serve: ServeConfig,
    /// Exit when stdin closes: `compare` starts `serve` this way, so no server outlives it.
    pub stop_with_parent: bool,
}

/// Runs `serve` until the process is stopped. The first stdout line is
/// `listening on http://HOST:PORT/v1`, for scripts and `compare` to read.
pub fn run(plan: &ServePlan) -> Result<()> {
    let config = &plan.serve;
    if plan.stop_with_parent {
        std::thread::spawn(|| {
            // Nothing is ever written to stdin: EOF or an error means the parent is gone.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    serve_forever(config, |server| {
        let loopback = server.addr.ip().is_loopback();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", server.base_url());
        let _ = out.flush();
        eprintln!(
            "nativebench serve: engine {} ({}), model `{}`{}{}",
            server.info.name,
            server.info.device,
            server.model,
            if config.api_key.is_some() {
                ", bearer token required"
            } else {
                ""
            },
            if loopback {
                ""
            } else {
                "; WARNING: not bound to loopback, reachable from the network"
            },
        );
    })
}
