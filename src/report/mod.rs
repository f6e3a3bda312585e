//! Reporting: the run directory and the formats results are written in. Each format is
//! its own small module that turns results into bytes.

pub mod bench;
pub mod compare;
pub mod csv;
pub mod decomposition;
pub mod flat;
pub mod history;
pub mod html;
pub mod load;
pub mod markdown;
pub mod noise;
pub mod plots;
pub mod run_dir;
pub mod summary;
pub mod svg;
pub mod sweep;

pub use run_dir::{Manifest, MetricsFile, RunDir};
