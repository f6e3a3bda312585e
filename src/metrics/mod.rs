//! Measurement: per-request records from the recorder's marks, summary statistics,
//! run aggregates, the catalogue of the metrics reported, and resource sampling.

pub mod aggregate;
pub mod catalogue;
pub mod goodput;
pub mod gpu;
pub mod record;
pub mod resources;
pub mod server;
pub mod stats;

pub use aggregate::RunMetrics;
pub use record::{MarkRecorder, RequestRecord};
pub use stats::Summary;
