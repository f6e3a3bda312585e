//! `hf:owner/repo[/file]` resolution through the Hugging Face hub cache layout, offline.
//!
//! The layout (as huggingface_hub and hf-hub write it):
//! `<cache>/models--owner--repo/refs/main` holds a commit hash, and
//! `<cache>/models--owner--repo/snapshots/<hash>/<file>` are the files (symlinks into
//! `blobs/`). Nothing here touches the network: a repo or file missing from the cache is
//! an error that says so.

use std::path::{Path, PathBuf};

use super::error::{ModelError, Result};

/// The hub cache directory: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
/// `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
pub fn hub_cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = env("HF_HUB_CACHE") {
        return p;
    }
    if let Some(p) = env("HF_HOME") {
        return p.join("hub");
    }
    let base = env("XDG_CACHE_HOME").unwrap_or_else(|| home_dir().join(".cache"));
    base.join("huggingface").join("hub")
}

/// `$HOME`, or the current directory when it is unset.
pub(crate) fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// What an `hf:` spec points at inside the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HfTarget {
    /// A single file (a GGUF, usually).
    File(PathBuf),
    /// A snapshot directory without a GGUF (config.json + safetensors + tokenizer.json).
    Dir(PathBuf),
}

/// Finds `repo` (`owner/name`) and optionally `file` in the hub cache at `cache`.
pub fn resolve_in_cache(cache: &Path, repo: &str, file: Option<&str>) -> Result<HfTarget> {
    let not_cached = |message: String| ModelError::HfNotCached {
        repo: repo.to_string(),
        cache: cache.to_path_buf(),
        message,
    };
    let repo_dir = cache.join(format!("models--{}", repo.replace('/', "--")));
    if !repo_dir.is_dir() {
        return Err(not_cached(format!(
            "no {} (nothing is downloaded while offline)",
            repo_dir
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        )));
    }
    let snapshot = snapshot_dir(&repo_dir).map_err(not_cached)?;
    if let Some(file) = file {
        let path = snapshot.join(file);
        if path.is_file() {
            return Ok(HfTarget::File(path));
        }
        let why = if path.symlink_metadata().is_ok() {
            "is a dangling link (incomplete download)"
        } else {
            "is not in the cached snapshot"
        };
        return Err(not_cached(format!("{file} {why} {}", snapshot.display())));
    }
    let mut ggufs: Vec<PathBuf> = std::fs::read_dir(&snapshot)
        .map_err(|e| ModelError::io(&snapshot, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| has_extension(p, "gguf") && p.is_file())
        .collect();
    ggufs.sort();
    match ggufs.len() {
        0 => Ok(HfTarget::Dir(snapshot)),
        1 => Ok(HfTarget::File(ggufs.remove(0))),
        _ => Err(ModelError::InvalidSpec {
            spec: format!("hf:{repo}"),
            message: format!(
                "the snapshot holds several GGUF files ({}); name one as hf:{repo}/FILE",
                ggufs
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// The snapshot that `refs/main` names, or the only snapshot when there is no ref.
fn snapshot_dir(repo_dir: &Path) -> std::result::Result<PathBuf, String> {
    let snapshots = repo_dir.join("snapshots");
    match std::fs::read_to_string(repo_dir.join("refs").join("main")) {
        Ok(hash) => {
            let hash = hash.trim();
            let dir = snapshots.join(hash);
            if hash.is_empty() || !dir.is_dir() {
                return Err(format!(
                    "refs/main names snapshot '{hash}', which is missing"
                ));
            }
            Ok(dir)
        }
        Err(_) => {
            let dirs: Vec<PathBuf> = std::fs::read_dir(&snapshots)
                .map(|rd| {
                    rd.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.is_dir())
                        .collect()
                })
                .unwrap_or_default();
            match dirs.as_slice() {
                [only] => Ok(only.clone()),
                [] => Err("no refs/main and no snapshot".to_string()),
                _ => Err("no refs/main and several snapshots".to_string()),
            }
        }
    }
}

pub(crate) fn has_extension(p: &Path, ext: &str) -> bool {
    p.extension()
        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn populate(cache: &Path, files: &[&str]) -> PathBuf {
        let repo = cache.join("models--acme--tiny");
        let snap = repo.join("snapshots").join("abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), "abc123\n").unwrap();
        for f in files {
            std::fs::write(snap.join(f), b"x").unwrap();
        }
        snap
    }

    #[test]
    fn resolves_files_and_single_gguf_through_refs_main() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = populate(tmp.path(), &["model.Q8_0.gguf", "README.md"]);
        assert_eq!(
            resolve_in_cache(tmp.path(), "acme/tiny", None).unwrap(),
            HfTarget::File(snap.join("model.Q8_0.gguf"))
        );
        assert_eq!(
            resolve_in_cache(tmp.path(), "acme/tiny", Some("README.md")).unwrap(),
            HfTarget::File(snap.join("README.md"))
        );
    }

    #[test]
    fn missing_repo_or_file_is_a_not_cached_error() {
        let tmp = tempfile::tempdir().unwrap();
        populate(tmp.path(), &["config.json"]);
        let err = resolve_in_cache(tmp.path(), "acme/other", None).unwrap_err();
        assert!(matches!(err, ModelError::HfNotCached { .. }));
        assert!(err.to_string().contains("models--acme--other"), "{err}");
        let err = resolve_in_cache(tmp.path(), "acme/tiny", Some("x.gguf")).unwrap_err();
        assert!(
            err.to_string()
                .contains("x.gguf is not in the cached snapshot"),
            "{err}"
        );
    }

    #[test]
    fn several_ggufs_need_a_file_name() {
        let tmp = tempfile::tempdir().unwrap();
        populate(tmp.path(), &["a.gguf", "b.gguf"]);
        let err = resolve_in_cache(tmp.path(), "acme/tiny", None).unwrap_err();
        assert!(err.to_string().contains("a.gguf, b.gguf"), "{err}");
    }
}
