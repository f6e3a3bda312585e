//! Measurement: per-request records from the recorder's marks, summary statistics,
//! run aggregates, the catalogue of the metrics reported, resource sampling, and what
//! is scored beside the timings (accuracy, cost, per-category figures).

pub mod accuracy;
pub mod aggregate;
pub mod catalogue;
pub mod category;
pub mod cost;
pub mod energy;
pub mod goodput;
pub mod gpu;
pub mod interval;
pub mod record;
pub mod resources;
pub mod roofline;
pub mod saturation;
pub mod server;
pub mod stats;
pub mod steady;

pub use aggregate::RunMetrics;
pub use record::{MarkRecorder, RequestRecord};
pub use stats::Summary;
