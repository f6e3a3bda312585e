//! nativebench: an in-process LLM inference benchmark.
//!
//! The binary is a thin shell over this library: `cli` turns arguments into validated
//! configs, `runner` drives an `engine` over a `workload`, `metrics` turns the marks into
//! records and statistics, and `report` writes them out.

pub mod cli;
pub mod clock;
pub mod engine;
pub mod env;
pub mod error;
pub mod metrics;
pub mod model;
pub mod openai;
pub mod report;
pub mod runner;
pub mod serve;
pub mod workload;

pub use error::{Error, Result};
pub mod session;
