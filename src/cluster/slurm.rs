//! The Slurm job array of a plan: `sbatch DIR/sweep.sbatch` runs task I as
//! `nativebench sweep run DIR --index I`, one point per task.

use std::path::Path;

use super::plan::{Plan, SlurmSpec};

/// The job-array script in a plan directory.
pub const SCRIPT: &str = "sweep.sbatch";
/// Where the tasks' output goes, under the plan directory.
pub const LOGS: &str = "logs";

/// `s` quoted for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `sbatch` script for `plan`, whose directory is `dir` (absolute: the tasks start
/// wherever Slurm puts them) and whose points `binary` runs.
pub fn script(plan: &Plan, dir: &Path, binary: &str) -> String {
    let s: &SlurmSpec = &plan.spec.slurm;
    let last = plan.points.len().saturating_sub(1);
    let dir = dir.display().to_string();
    let mut lines = vec![
        "#!/bin/bash".to_owned(),
        "# A Slurm job array over the points of a nativebench sweep plan: task I runs point I."
            .to_owned(),
        "# Made by `nativebench sweep plan`. Submit with `sbatch` from any directory; the plan"
            .to_owned(),
        "# directory must be on storage that every node mounts at the same path.".to_owned(),
        "#SBATCH --job-name=nativebench-sweep".to_owned(),
        match s.max_running {
            Some(m) => format!("#SBATCH --array=0-{last}%{m}"),
            None => format!("#SBATCH --array=0-{last}"),
        },
        format!("#SBATCH --output={dir}/{LOGS}/point-%a.log"),
    ];
    let opt = |name: &str, v: Option<String>| v.map(|v| format!("#SBATCH --{name}={v}"));
    lines.extend(opt("partition", s.partition.clone()));
    lines.extend(opt("time", s.time.clone()));
    lines.extend(opt("cpus-per-task", s.cpus_per_task.map(|c| c.to_string())));
    lines.extend(opt("gpus-per-task", s.gpus_per_task.map(|c| c.to_string())));
    lines.extend(opt("mem", s.mem.clone()));
    lines.extend(s.extra.iter().map(|e| format!("#SBATCH {e}")));
    lines.push("set -euo pipefail".to_owned());
    lines.push(format!(
        "exec {} sweep run {} --index \"$SLURM_ARRAY_TASK_ID\"",
        shell_quote(binary),
        shell_quote(&dir)
    ));
    lines.join("\n") + "\n"
}
