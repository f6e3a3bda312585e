//! Reporting: the run directory and the formats results are written in. Each format is
//! its own small module that turns results into bytes.

pub mod run_dir;
pub mod summary;

pub use run_dir::{Manifest, MetricsFile, RunDir};
