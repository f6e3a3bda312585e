//! `nativebench sweep`: plan a matrix of runs for a scheduler, run one point of a plan,
//! and collect a plan's points into one sweep summary. Each point's `run` flags are
//! checked here, at planning and again before the point runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::ranged;
use crate::app::sweep::SweepConfig;
use crate::cluster::{Plan, Point, Spec};
use crate::error::{Error, Result};
use crate::limits;

/// Flags of `nativebench sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: SweepCommand,
}

/// The sweep subcommands.
#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// Expand a spec (TOML: [run] flags for every point, [matrix] values to combine)
    /// into numbered points in DIR/plan.json, with a Slurm job array (DIR/sweep.sbatch)
    /// and, given a [kubernetes] section, an Indexed Job (DIR/job.json).
    Plan {
        /// The spec file.
        spec: PathBuf,
        /// The plan directory: on storage every node mounts.
        #[arg(long, short = 'o', value_name = "DIR")]
        out: PathBuf,
    },
    /// Run one point of a plan into its run directory (DIR/points/...); a point already
    /// finished is skipped, so a job can be rerun.
    Run {
        /// The plan directory.
        dir: PathBuf,
        /// The point: a job array's task id ($SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX).
        #[arg(long, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::SWEEP_INDEX))]
        index: usize,
    },
    /// Gather a plan's finished points into DIR/sweep_summary.json (read by `report`),
    /// naming the points that have not finished.
    Collect {
        /// The plan directory.
        dir: PathBuf,
    },
}

/// A point's `run` config, from its arguments as `nativebench run` would take them.
fn point_config(p: &Point, out: Option<PathBuf>) -> Result<crate::app::run::RunConfig> {
    let mut argv = vec!["nativebench".to_owned(), "run".to_owned()];
    argv.extend(p.args.iter().cloned());
    let cli = super::Cli::try_parse_from(argv).map_err(|e| {
        let text = e.render().to_string();
        Error::Config(format!(
            "point {} ({}): {}",
            p.index,
            p.label,
            text.lines()
                .next()
                .unwrap_or("bad flags")
                .trim_start_matches("error: ")
        ))
    })?;
    let Some(super::Command::Run(mut a)) = cli.command else {
        return Err(Error::Config(format!("point {}: not a run", p.index)));
    };
    a.out = out;
    a.quiet = true;
    a.validate()
        .map_err(|e| Error::Config(format!("point {} ({}): {e}", p.index, p.label)))
}

impl SweepArgs {
    /// Validates the subcommand: a plan's every point, or the one point to run.
    pub fn validate(&self) -> Result<SweepConfig> {
        match &self.command {
            SweepCommand::Plan { spec, out } => {
                let s = Spec::load(spec)?;
                let points = s.points()?;
                for p in &points {
                    point_config(p, None)?;
                }
                Ok(SweepConfig::Plan {
                    spec: s,
                    points,
                    out: out.clone(),
                })
            }
            SweepCommand::Run { dir, index } => {
                let plan = Plan::load(dir)?;
                let build = crate::env::BuildInfo::current();
                plan.check_version(&build.nativebench_version, &build.git_sha)?;
                let point = plan.point(*index)?.clone();
                let run_dir = dir.join(&point.dir);
                let config = point_config(&point, Some(run_dir.clone()))?;
                Ok(SweepConfig::Run {
                    point,
                    run_dir,
                    config: Box::new(config),
                })
            }
            SweepCommand::Collect { dir } => Ok(SweepConfig::Collect {
                plan: Plan::load(dir)?,
                dir: dir.clone(),
            }),
        }
    }
}
