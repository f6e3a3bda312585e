//! nativebench: an in-process LLM inference benchmark.
//!
//! The binary is a thin shell over this library: `cli` turns arguments into validated
//! configs, and `app` runs each command: `runner` drives an `engine` over a `workload`,
//! `metrics` turns the marks into records and statistics, and `report` writes them out.
//! `openai` is the wire stack the served engine and `serve` share. ARCHITECTURE.md has
//! the layers and the rules between them.

pub mod affinity;
pub mod app;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod engine;
pub mod env;
pub mod error;
pub mod launch;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod openai;
pub mod preprocess;
pub mod probe;
pub mod report;
pub mod runner;
pub mod serve;
pub mod workload;

pub use error::{Error, Result};
