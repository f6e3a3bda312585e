//! A sweep spec (TOML: the `run` flags every point shares, and a matrix of values) and
//! the plan it expands into: numbered points, each a `run` command line and a run
//! directory, with the version of the binary that planned it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The plan file in a plan directory.
pub const PLAN: &str = "plan.json";
/// Where the points' run directories go, under the plan directory.
pub const POINTS: &str = "points";
/// The most points one plan may hold (a Slurm array or an Indexed Job of this size).
pub const MAX_POINTS: usize = 10_000;

/// `run` flags a plan sets itself, or that do not fit one point of a matrix.
const RESERVED: &[&str] = &[
    "out",
    "o",
    "results-dir",
    "result-dir",
    "shard",
    "concurrency-list",
    "request-rate-list",
    "launch",
];

/// A flag's value in a spec: text, a number, or a switch (true sets it, false leaves it
/// out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Text(s) => s.clone(),
        }
    }
}

/// Slurm settings of the job array (`#SBATCH` lines).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlurmSpec {
    pub partition: Option<String>,
    /// The time limit of one point, as Slurm writes it (`01:00:00`).
    pub time: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub gpus_per_task: Option<u32>,
    pub mem: Option<String>,
    /// The most points running at once (`--array=0-N%LIMIT`).
    pub max_running: Option<u32>,
    /// Further `#SBATCH` options, as written after `#SBATCH ` (`--account=lab`).
    #[serde(default)]
    pub extra: Vec<String>,
}

/// Kubernetes settings of the Indexed Job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KubernetesSpec {
    /// The container image holding the nativebench binary (on its PATH).
    pub image: String,
    /// The PersistentVolumeClaim every pod mounts: the shared storage of results.
    pub claim: String,
    /// Where the claim is mounted in the pod.
    #[serde(default = "default_mount")]
    pub mount: String,
    /// The plan directory as the pods see it; default: `<mount>/<plan directory name>`.
    pub plan_dir: Option<String>,
    pub namespace: Option<String>,
    /// Points running at once; default: all.
    pub parallelism: Option<u32>,
    /// GPUs per pod (`nvidia.com/gpu`).
    pub gpus: Option<u32>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

fn default_mount() -> String {
    "/results".into()
}

/// A sweep spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// `run` flags (long names, without dashes) every point gets.
    #[serde(default)]
    pub run: BTreeMap<String, Value>,
    /// `run` flags and their values: one point per combination, the last key (in
    /// alphabetical order) varying fastest.
    #[serde(default)]
    pub matrix: BTreeMap<String, Vec<Value>>,
    /// The nativebench binary the job files call; default: the one that made the plan.
    pub binary: Option<String>,
    #[serde(default)]
    pub slurm: SlurmSpec,
    pub kubernetes: Option<KubernetesSpec>,
}

/// One point of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub index: usize,
    /// The matrix values of this point, e.g. `concurrency=4 output-len=32`.
    pub label: String,
    /// Its run directory, relative to the plan directory.
    pub dir: String,
    /// The `run` arguments (without `--out`, which `sweep run` adds).
    pub args: Vec<String>,
}

/// `plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The version and git sha of the binary that made the plan; `sweep run` refuses a
    /// plan from another.
    pub nativebench_version: String,
    pub git_sha: String,
    pub created_at: String,
    pub spec: Spec,
    pub points: Vec<Point>,
}

fn flag_name(key: &str) -> Result<String> {
    let k = key.trim_start_matches('-');
    if k.is_empty()
        || !k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::Config(format!(
            "sweep spec: `{key}` is not a flag name"
        )));
    }
    if RESERVED.contains(&k) {
        return Err(Error::Config(format!(
            "sweep spec: `{k}` is set per point by the plan (or splits a run); use [matrix] for what varies"
        )));
    }
    Ok(k.replace('_', "-"))
}

fn push_flag(args: &mut Vec<String>, name: &str, v: &Value) {
    match v {
        Value::Bool(false) => {}
        Value::Bool(true) => args.push(format!("--{name}")),
        v => {
            args.push(format!("--{name}"));
            args.push(v.text());
        }
    }
}

/// A directory name from a label: what a path may safely hold.
fn dir_name(index: usize, label: &str) -> String {
    let safe: String = label
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || c == '.' || c == '-' => c,
            '=' => '-',
            _ => '_',
        })
        .collect();
    if safe.is_empty() {
        format!("{index:04}")
    } else {
        format!("{index:04}-{safe}")
    }
}

impl Spec {
    /// Reads and checks a spec file.
    pub fn load(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let spec: Spec = toml::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))?;
        for (k, vs) in &spec.matrix {
            if vs.is_empty() {
                return Err(Error::Config(format!(
                    "{}: [matrix] {k} lists no values",
                    path.display()
                )));
            }
            if spec.run.contains_key(k) {
                return Err(Error::Config(format!(
                    "{}: `{k}` is in both [run] and [matrix]",
                    path.display()
                )));
            }
        }
        Ok(spec)
    }

    /// Every point of the matrix: the shared flags, then this point's values.
    pub fn points(&self) -> Result<Vec<Point>> {
        let mut base = Vec::new();
        for (k, v) in &self.run {
            push_flag(&mut base, &flag_name(k)?, v);
        }
        let keys: Vec<(String, &Vec<Value>)> = self
            .matrix
            .iter()
            .map(|(k, v)| Ok((flag_name(k)?, v)))
            .collect::<Result<_>>()?;
        let total = keys
            .iter()
            .try_fold(1usize, |n, (_, v)| n.checked_mul(v.len()))
            .filter(|n| *n <= MAX_POINTS)
            .ok_or_else(|| {
                Error::Config(format!(
                    "sweep spec: the matrix has more than {MAX_POINTS} points"
                ))
            })?;
        let mut points = Vec::with_capacity(total);
        for index in 0..total {
            let mut args = base.clone();
            let mut label = Vec::new();
            let mut rest = index;
            let mut chosen = Vec::with_capacity(keys.len());
            for (name, values) in keys.iter().rev() {
                chosen.push((name, &values[rest % values.len()]));
                rest /= values.len();
            }
            for (name, v) in chosen.into_iter().rev() {
                push_flag(&mut args, name, v);
                label.push(format!("{name}={}", v.text()));
            }
            let label = label.join(" ");
            points.push(Point {
                index,
                dir: format!("{POINTS}/{}", dir_name(index, &label.replace(' ', ","))),
                label,
                args,
            });
        }
        Ok(points)
    }
}

impl Plan {
    /// Reads `plan.json` from a plan directory.
    pub fn load(dir: &Path) -> Result<Plan> {
        let path = dir.join(PLAN);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::Config(format!(
                "{}: {e} (make a plan with `nativebench sweep plan SPEC --out DIR`)",
                path.display()
            ))
        })?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: not a sweep plan: {e}", path.display())))
    }

    /// Refuses a plan made by another nativebench: its points would not measure the same.
    pub fn check_version(&self, version: &str, git_sha: &str) -> Result<()> {
        if self.nativebench_version != version || self.git_sha != git_sha {
            return Err(Error::Config(format!(
                "the plan was made by nativebench {} ({}) and this is {version} ({git_sha}): run it with the same binary, or make the plan again",
                self.nativebench_version, self.git_sha
            )));
        }
        Ok(())
    }

    /// The point at `index`, or an error naming the plan's range.
    pub fn point(&self, index: usize) -> Result<&Point> {
        self.points.get(index).ok_or_else(|| {
            Error::Config(format!(
                "--index {index}: out of range, the plan has {} point(s), 0 to {}",
                self.points.len(),
                self.points.len().saturating_sub(1)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Spec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_matrix_expands_into_every_combination_in_order() {
        let s = spec(
            r#"
            [run]
            engine = "sim"
            quiet = true
            no-chat = false
            [matrix]
            concurrency = [1, 4]
            sim-decode-ms = [2.5, 5.0, 10]
            "#,
        );
        let ps = s.points().unwrap();
        assert_eq!(ps.len(), 6);
        assert_eq!(ps[0].label, "concurrency=1 sim-decode-ms=2.5");
        assert_eq!(ps[5].label, "concurrency=4 sim-decode-ms=10");
        assert_eq!(
            ps[1].args,
            [
                "--engine",
                "sim",
                "--quiet",
                "--concurrency",
                "1",
                "--sim-decode-ms",
                "5"
            ]
        );
        assert_eq!(ps[3].dir, "points/0003-concurrency-4_sim-decode-ms-2.5");
    }

    #[test]
    fn reserved_flags_and_empty_lists_are_refused() {
        let e = spec("[run]\nout = \"x\"").points().unwrap_err().to_string();
        assert!(e.contains("`out`"), "{e}");
        let e = spec("[matrix]\nshard = [\"0/2\"]")
            .points()
            .unwrap_err()
            .to_string();
        assert!(e.contains("`shard`"), "{e}");
        let big = format!(
            "[matrix]\na = [{}]\nb = [{}]",
            vec!["1"; 200].join(","),
            vec!["1"; 200].join(",")
        );
        let e = spec(&big).points().unwrap_err().to_string();
        assert!(e.contains("more than"), "{e}");
    }
}
