//! The Kubernetes Indexed Job of a plan (`batch/v1`, `completionMode: Indexed`): pod I
//! runs `nativebench sweep run DIR --index $(JOB_COMPLETION_INDEX)`, with the plan
//! directory on a PersistentVolumeClaim every pod mounts.

use serde_json::{json, Value};

use super::plan::{KubernetesSpec, Plan};

/// The manifest in a plan directory (JSON, which `kubectl apply -f` reads as YAML).
pub const MANIFEST: &str = "job.json";
/// The variable the Job controller sets to a pod's completion index.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The annotation that holds a pod's completion index.
const INDEX_ANNOTATION: &str = "metadata.annotations['batch.kubernetes.io/job-completion-index']";

/// The Indexed Job for `plan`, whose directory is named `dir_name`; `None` without a
/// `[kubernetes]` section in the spec.
pub fn manifest(plan: &Plan, dir_name: &str) -> Option<Value> {
    let k: &KubernetesSpec = plan.spec.kubernetes.as_ref()?;
    let n = plan.points.len();
    let plan_dir = k
        .plan_dir
        .clone()
        .unwrap_or_else(|| format!("{}/{dir_name}", k.mount.trim_end_matches('/')));
    let mut limits = serde_json::Map::new();
    if let Some(g) = k.gpus {
        limits.insert("nvidia.com/gpu".into(), g.to_string().into());
    }
    if let Some(c) = &k.cpu {
        limits.insert("cpu".into(), c.clone().into());
    }
    if let Some(m) = &k.memory {
        limits.insert("memory".into(), m.clone().into());
    }
    // A DNS label: lower case, digits and dashes, at most 63 characters with the suffix
    // the controller adds to pod names.
    let name: String = format!("nativebench-sweep-{dir_name}")
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(52)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned();
    let mut metadata =
        json!({ "name": name, "labels": { "app.kubernetes.io/name": "nativebench" } });
    if let Some(ns) = &k.namespace {
        metadata["namespace"] = ns.clone().into();
    }
    Some(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": k.parallelism.map_or(n, |p| p as usize),
            "backoffLimit": n.max(1) * 2,
            "template": {
                "metadata": { "labels": { "app.kubernetes.io/name": "nativebench" } },
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "nativebench",
                        "image": k.image,
                        "command": ["nativebench"],
                        "args": ["sweep", "run", plan_dir, "--index", format!("$({INDEX_ENV})")],
                        "env": [{
                            "name": INDEX_ENV,
                            "valueFrom": { "fieldRef": { "fieldPath": INDEX_ANNOTATION } }
                        }],
                        "resources": { "limits": limits },
                        "volumeMounts": [{ "name": "results", "mountPath": k.mount }]
                    }],
                    "volumes": [{
                        "name": "results",
                        "persistentVolumeClaim": { "claimName": k.claim }
                    }]
                }
            }
        }
    }))
}
