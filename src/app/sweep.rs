//! `nativebench sweep`: write a plan and its job files, run one point of it through
//! `app::run` (skipping a point already finished), and collect the finished points into
//! a sweep summary that `report` reads.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::run::{RunConfig, RunResult};
use crate::cluster::{k8s, plan, slurm, Plan, Point, Spec};
use crate::error::{Error, Result};
use crate::report::run_dir::{self, MetricsFile, METRICS, RUN_CONFIG};
use crate::report::sweep::{SweepPoint, SweepSummary, SWEEP_SUMMARY};
use crate::runner::sweep::Sweep;
use crate::runner::RunnerConfig;

/// A validated `sweep` subcommand.
#[derive(Debug, Clone)]
pub enum SweepConfig {
    /// Write the plan of `spec` (expanded into `points`) into `out`.
    Plan {
        spec: Spec,
        points: Vec<Point>,
        out: PathBuf,
    },
    /// Run `point` into `run_dir` with `config`.
    Run {
        point: Point,
        run_dir: PathBuf,
        config: Box<RunConfig>,
    },
    /// Gather the plan in `dir`.
    Collect { plan: Plan, dir: PathBuf },
}

/// Runs a `sweep` subcommand; `run` returns the point's result (none when skipped).
pub fn run(config: &SweepConfig, stop: &AtomicBool, out: &mut dyn Write) -> Result<RunResult> {
    let none = RunResult {
        runs: Vec::new(),
        interrupted: false,
        failure: None,
    };
    match config {
        SweepConfig::Plan {
            spec,
            points,
            out: dir,
        } => {
            write_plan(spec, points, dir, out)?;
            Ok(none)
        }
        SweepConfig::Run {
            point,
            run_dir,
            config,
        } => {
            if finished(run_dir) {
                let _ = writeln!(
                    out,
                    "point {} ({}) finished already: {}; skipped",
                    point.index,
                    point.label,
                    run_dir.display()
                );
                return Ok(none);
            }
            set_aside(run_dir)?;
            super::run::execute(config, stop, out)
        }
        SweepConfig::Collect { plan, dir } => {
            collect(plan, dir, out)?;
            Ok(none)
        }
    }
}

/// A point's run directory holds a run that ended on its own.
fn finished(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(METRICS))
        .ok()
        .and_then(|t| serde_json::from_str::<MetricsFile>(&t).ok())
        .is_some_and(|m| !m.interrupted)
}

/// Moves a point's unfinished run (a job killed or stopped) out of the way, so that the
/// rerun writes a whole one and the partial one is kept to look at.
fn set_aside(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let to = super::run::unique(&PathBuf::from(format!("{}.partial-{stamp}", dir.display())));
    std::fs::rename(dir, &to).map_err(|e| Error::io(dir, e))
}

fn write_plan(spec: &Spec, points: &[Point], dir: &Path, out: &mut dyn Write) -> Result<()> {
    if let Ok(old) = Plan::load(dir) {
        if old.points != points {
            return Err(Error::Config(format!(
                "--out {}: holds another plan; plan into a new directory",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir.join(slurm::LOGS))
        .map_err(|e| Error::Config(format!("--out {}: {e}", dir.display())))?;
    let abs = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    let build = crate::env::BuildInfo::current();
    let plan = Plan {
        nativebench_version: build.nativebench_version,
        git_sha: build.git_sha,
        created_at: chrono::Local::now().to_rfc3339(),
        spec: spec.clone(),
        points: points.to_vec(),
    };
    run_dir::write_json_atomic(&dir.join(plan::PLAN), &plan)?;
    let binary = match &spec.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "nativebench".into()),
    };
    let script = dir.join(slurm::SCRIPT);
    run_dir::write_atomic(&script, slurm::script(&plan, &abs, &binary).as_bytes())?;
    make_executable(&script)?;
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan".into());
    let job = k8s::manifest(&plan, &name);
    if let Some(job) = &job {
        run_dir::write_json_atomic(&dir.join(k8s::MANIFEST), job)?;
    }
    let _ = writeln!(
        out,
        "{} point(s) in {}",
        points.len(),
        dir.join(plan::PLAN).display()
    );
    for p in points {
        let _ = writeln!(out, "  {:>4}  {}", p.index, p.label);
    }
    let _ = writeln!(out, "Slurm:      sbatch {}", script.display());
    if job.is_some() {
        let _ = writeln!(
            out,
            "Kubernetes: kubectl apply -f {}",
            dir.join(k8s::MANIFEST).display()
        );
    }
    let _ = writeln!(
        out,
        "then:       nativebench sweep collect {}",
        dir.display()
    );
    Ok(())
}

fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(path, e))
}

/// The finished points' figures into `sweep_summary.json`, the rest named as missing.
fn collect(plan: &Plan, dir: &Path, out: &mut dyn Write) -> Result<()> {
    let mut points = Vec::new();
    let mut missing = Vec::new();
    for p in &plan.points {
        let run = dir.join(&p.dir);
        let metrics = std::fs::read_to_string(run.join(METRICS))
            .ok()
            .and_then(|t| serde_json::from_str::<MetricsFile>(&t).ok())
            .filter(|m| !m.interrupted);
        let load = std::fs::read_to_string(run.join(RUN_CONFIG))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| serde_json::from_value::<RunnerConfig>(v.get("runner")?.clone()).ok());
        match (metrics, load) {
            (Some(m), Some(load)) => points.push(SweepPoint::of(
                &p.dir,
                &run.display().to_string(),
                &load,
                &m,
            )),
            _ => missing.push(format!("{} {}", p.index, p.label)),
        }
    }
    let summary = SweepSummary {
        sweep: Sweep::Matrix(plan.spec.matrix.keys().cloned().collect()),
        points,
        skipped: Vec::new(),
        missing,
    };
    run_dir::write_json_atomic(&dir.join(SWEEP_SUMMARY), &summary)?;
    let _ = write!(out, "{}", summary.render());
    for m in &summary.missing {
        let _ = writeln!(out, "missing point {m}: not finished");
    }
    let _ = writeln!(
        out,
        "{} of {} point(s) in {}",
        summary.points.len(),
        plan.points.len(),
        dir.join(SWEEP_SUMMARY).display()
    );
    Ok(())
}
