//! Running beyond one machine on the schedulers users already run: a sweep plan (a
//! matrix of `run` settings expanded into numbered, independent points, `plan.json`)
//! and the job files that run its points, a Slurm job array (`slurm.rs`) and a
//! Kubernetes Indexed Job (`k8s.rs`). Each point is one `run` into its own run
//! directory under the plan's directory, which every node must mount.

pub mod k8s;
pub mod plan;
pub mod slurm;

pub use plan::{Plan, Point, Spec};
