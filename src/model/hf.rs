//! `hf:owner/repo[@revision][/file]` and `hf:owner/repo[@revision]:QUANT`: models from the
//! Hugging Face Hub, through the `hf-hub` crate's sync client (ureq), in the standard cache.
//!
//! The cache layout (as huggingface_hub and hf-hub write it):
//! `<cache>/models--owner--repo/refs/<revision>` holds a commit hash, and
//! `<cache>/models--owner--repo/snapshots/<hash>/<file>` are the files (links into
//! `blobs/<etag>`). A download goes to `blobs/<etag>.part` first and becomes the blob only
//! when complete, so an interrupted one is resumed and never taken for a whole file.
//!
//! Resolution looks in the cache first and does not touch the network when the cache
//! holds what the spec needs. Otherwise it asks the hub (`HF_ENDPOINT`, default
//! <https://huggingface.co>) for the repo's file list, picks the files (a GGUF, or
//! config.json, tokenizer files and safetensors) and downloads the missing ones.
//! `HF_HUB_OFFLINE=1` forbids the network: a file missing from the cache is an error that
//! names it. `HF_TOKEN` (else the token file `huggingface-cli login` writes) is sent as a
//! bearer token and written nowhere.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};

use super::error::{ModelError, Result};
use super::spec::sha256_file;

/// The hub cache directory: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
/// `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
pub fn hub_cache_dir() -> PathBuf {
    if let Some(p) = env_path("HF_HUB_CACHE") {
        return p;
    }
    if let Some(p) = env_path("HF_HOME") {
        return p.join("hub");
    }
    let base = env_path("XDG_CACHE_HOME").unwrap_or_else(|| home_dir().join(".cache"));
    base.join("huggingface").join("hub")
}

fn env_path(k: &str) -> Option<PathBuf> {
    std::env::var_os(k)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$HOME`, or the current directory when it is unset.
pub(crate) fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Whether `HF_HUB_OFFLINE` forbids the network (`1`, `true`, `yes`, `on`).
pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// A parsed `hf:` spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfSpec {
    /// `owner/name`.
    pub repo: String,
    /// A branch, tag or commit; `main` when not given.
    pub revision: Option<String>,
    /// One file in the repo.
    pub file: Option<String>,
    /// A quantization pattern (`Q4_K_M`) that picks one GGUF of the repo.
    pub quant: Option<String>,
}

impl HfSpec {
    /// Parses what follows `hf:`. The error message says the expected form.
    pub fn parse(rest: &str) -> std::result::Result<HfSpec, String> {
        const FORM: &str =
            "expected hf:owner/repo[@revision][/file] or hf:owner/repo[@revision]:QUANT";
        let mut parts = rest.splitn(3, '/');
        let owner = parts.next().unwrap_or("");
        let name_part = parts.next().unwrap_or("");
        let file = parts.next().map(str::to_string);
        let (name_rev, quant) = match name_part.split_once(':') {
            Some((n, q)) => (n, Some(q.to_string())),
            None => (name_part, None),
        };
        let (name, revision) = match name_rev.split_once('@') {
            Some((n, r)) => (n, Some(r.to_string())),
            None => (name_rev, None),
        };
        let ok_name = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !s.starts_with('.')
        };
        if !ok_name(owner) || !ok_name(name) {
            return Err(FORM.to_string());
        }
        if revision
            .as_deref()
            .is_some_and(|r| r.is_empty() || r.starts_with('.') || r.contains(char::is_whitespace))
            || quant
                .as_deref()
                .is_some_and(|q| q.is_empty() || q.contains(['/', '@']))
            || file
                .as_deref()
                .is_some_and(|f| f.is_empty() || f.split('/').any(|c| c.is_empty() || c == ".."))
            || (file.is_some() && quant.is_some())
        {
            return Err(FORM.to_string());
        }
        Ok(HfSpec {
            repo: format!("{owner}/{name}"),
            revision,
            file,
            quant,
        })
    }

    fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or("main")
    }
}

/// `--hf-file FILE` applied to `--model hf:owner/repo[@revision]`: the spec that names the
/// file, `hf:owner/repo[@revision]/FILE`.
pub fn spec_with_file(model: &str, file: &str) -> Result<String> {
    let invalid = |message: &str| ModelError::InvalidSpec {
        spec: model.to_string(),
        message: message.to_string(),
    };
    let rest = model
        .strip_prefix("hf:")
        .ok_or_else(|| invalid("--hf-file needs an hf:owner/repo model"))?;
    let spec = HfSpec::parse(rest).map_err(|m| invalid(&m))?;
    if spec.file.is_some() || spec.quant.is_some() {
        return Err(invalid(
            "--hf-file names the file; the model spec must not also name one",
        ));
    }
    let with = format!("{rest}/{file}");
    HfSpec::parse(&with).map_err(|m| invalid(&m))?;
    Ok(format!("hf:{with}"))
}

/// What an `hf:` spec points at inside the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HfTarget {
    /// A single file (a GGUF, usually).
    File(PathBuf),
    /// A snapshot directory without a GGUF (config.json + safetensors + tokenizer.json).
    Dir(PathBuf),
}

/// What resolution found: the target, and where it came from (for the manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfResolved {
    pub target: HfTarget,
    /// The commit the snapshot belongs to.
    pub commit: String,
}

/// The files of a repo that a spec needs.
struct Selection {
    /// Downloaded or looked up in this order; all required.
    files: Vec<String>,
    /// Optional companions (a GGUF's tokenizer.json sidecar, tokenizer_config.json).
    optional: Vec<String>,
    gguf: Option<String>,
}

/// Picks the files `spec` needs from a repo's file names. The error is a one-line reason
/// (an input problem: the repo has no such file, or several files match).
fn select(spec: &HfSpec, names: &[String], place: &str) -> std::result::Result<Selection, String> {
    let has = |f: &str| names.iter().any(|n| n == f);
    let mut ggufs: Vec<&String> = names
        .iter()
        .filter(|n| has_extension(Path::new(n), "gguf"))
        .collect();
    ggufs.sort();
    let gguf_sel = |g: &str| {
        let sidecar = Path::new(g)
            .with_extension("tokenizer.json")
            .to_string_lossy()
            .into_owned();
        Selection {
            files: vec![g.to_string()],
            optional: names.iter().filter(|n| **n == sidecar).cloned().collect(),
            gguf: Some(g.to_string()),
        }
    };
    let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    if let Some(file) = &spec.file {
        if !has(file) {
            return Err(format!("{file} is not in {place}"));
        }
        if has_extension(Path::new(file), "gguf") {
            return Ok(gguf_sel(file));
        }
        return Ok(Selection {
            files: vec![file.clone()],
            optional: Vec::new(),
            gguf: None,
        });
    }
    if let Some(q) = &spec.quant {
        let ql = q.to_ascii_lowercase();
        let m: Vec<&String> = ggufs
            .iter()
            .copied()
            .filter(|g| g.to_ascii_lowercase().contains(&ql))
            .collect();
        return match m.as_slice() {
            [one] => Ok(gguf_sel(one)),
            [] if ggufs.is_empty() => Err(format!("no GGUF file matches {q}: {place} has none")),
            [] => Err(format!(
                "no GGUF file matches {q} (GGUF files: {})",
                list(&ggufs)
            )),
            several => Err(format!(
                "several GGUF files match {q} ({}); name one as hf:{}/FILE",
                list(several),
                spec.repo
            )),
        };
    }
    match ggufs.as_slice() {
        [one] => return Ok(gguf_sel(one)),
        [] => {}
        several => {
            return Err(format!(
                "several GGUF files ({}); name one as hf:{}/FILE or pick one with hf:{}:QUANT",
                list(several),
                spec.repo,
                spec.repo
            ))
        }
    }
    let mut shards: Vec<String> = names
        .iter()
        .filter(|n| !n.contains('/') && has_extension(Path::new(n), "safetensors"))
        .cloned()
        .collect();
    shards.sort();
    if shards.is_empty() {
        return Err(format!("{place} has no GGUF and no safetensors"));
    }
    let missing: Vec<&str> = ["config.json", "tokenizer.json"]
        .into_iter()
        .filter(|f| !has(f))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{place} has safetensors but no {}",
            missing.join(", ")
        ));
    }
    let mut files = vec!["config.json".to_string(), "tokenizer.json".to_string()];
    files.extend(shards);
    let optional = ["tokenizer_config.json", "model.safetensors.index.json"]
        .into_iter()
        .filter(|f| has(f))
        .map(str::to_string)
        .collect();
    Ok(Selection {
        files,
        optional,
        gguf: None,
    })
}

fn repo_dir(cache: &Path, repo: &str) -> PathBuf {
    cache.join(format!("models--{}", repo.replace('/', "--")))
}

fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// The cached snapshot for `revision`: `snapshots/<revision>` for a commit, else the
/// commit `refs/<revision>` names.
fn cached_snapshot(
    cache: &Path,
    repo: &str,
    revision: &str,
) -> std::result::Result<(PathBuf, String), String> {
    let dir = repo_dir(cache, repo);
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    if !dir.is_dir() {
        return Err(format!("no {name}"));
    }
    let commit = if is_commit(revision) {
        revision.to_string()
    } else {
        match std::fs::read_to_string(dir.join("refs").join(revision)) {
            Ok(c) => c.trim().to_string(),
            Err(_) => return Err(format!("{name} has no refs/{revision}")),
        }
    };
    let snap = dir.join("snapshots").join(&commit);
    if commit.is_empty() || !snap.is_dir() {
        return Err(format!(
            "{name}: snapshot '{commit}' of {revision} is missing"
        ));
    }
    Ok((snap, commit))
}

/// Relative names of the complete files in a snapshot (links whose blob exists).
fn snapshot_files(snap: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.is_file() {
                if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(snap, snap, &mut out);
    out.sort();
    out
}

fn target(snap: &Path, sel: &Selection) -> HfTarget {
    match (&sel.gguf, sel.files.as_slice()) {
        (Some(g), _) => HfTarget::File(snap.join(g)),
        (None, [one]) => HfTarget::File(snap.join(one)),
        _ => HfTarget::Dir(snap.to_path_buf()),
    }
}

/// Resolves `spec` against the hub cache at `cache`, downloading what is missing unless
/// offline.
pub fn resolve(spec: &HfSpec, cache: &Path) -> Result<HfResolved> {
    let revision = spec.revision();
    // The cache first: a spec it satisfies needs no network at all.
    let cache_miss = match cached_snapshot(cache, &spec.repo, revision) {
        Ok((snap, commit)) => match select(
            spec,
            &snapshot_files(&snap),
            &format!("the cached snapshot {}", snap.display()),
        ) {
            Ok(sel) => match missing_shard(&snap) {
                None => {
                    return Ok(HfResolved {
                        target: target(&snap, &sel),
                        commit,
                    })
                }
                Some(shard) => format!(
                    "{shard}, which model.safetensors.index.json names, is not in the cached snapshot {}",
                    snap.display()
                ),
            },
            Err(why) => why,
        },
        Err(why) => why,
    };
    let not_cached = |message: String| ModelError::HfNotCached {
        repo: spec.repo.clone(),
        cache: cache.to_path_buf(),
        message,
    };
    if offline() {
        return Err(not_cached(format!(
            "{cache_miss} (HF_HUB_OFFLINE is set: nothing is downloaded)"
        )));
    }
    download(spec, cache, &cache_miss)
}

/// A shard that the snapshot's model.safetensors.index.json names and the snapshot lacks
/// (a sharded download that stopped between files).
fn missing_shard(snap: &Path) -> Option<String> {
    let text = std::fs::read_to_string(snap.join("model.safetensors.index.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("weight_map")?
        .as_object()?
        .values()
        .filter_map(|f| f.as_str())
        .find(|f| !snap.join(f).is_file())
        .map(str::to_string)
}

fn hf_error(spec: &HfSpec, message: String, input: bool) -> ModelError {
    ModelError::Hub {
        repo: spec.repo.clone(),
        message,
        input,
    }
}

/// Turns an hf-hub error into a one-line model error; `what` names the file or listing.
fn api_error(
    spec: &HfSpec,
    what: &str,
    endpoint: &str,
    cache_miss: &str,
    e: ApiError,
) -> ModelError {
    let token = std::env::var("HF_TOKEN").is_ok_and(|t| !t.is_empty());
    match e {
        ApiError::RequestError(boxed) => match *boxed {
            ureq::Error::Status(code @ (401 | 403), resp) => hf_error(
                spec,
                format!(
                    "{what}: {code} from {}: the repo is gated or private; {}",
                    resp.get_url(),
                    if token {
                        "the token in HF_TOKEN has no access to it"
                    } else {
                        "set HF_TOKEN to a token with access to it"
                    }
                ),
                false,
            ),
            ureq::Error::Status(404, resp) => hf_error(
                spec,
                format!(
                    "{what}: not found at {} (revision {})",
                    resp.get_url(),
                    spec.revision()
                ),
                true,
            ),
            ureq::Error::Status(code, resp) => hf_error(
                spec,
                format!("{what}: HTTP {code} from {}", resp.get_url()),
                false,
            ),
            ureq::Error::Transport(t) => hf_error(
                spec,
                format!(
                    "cannot reach the hub at {endpoint} ({t}) and the cache cannot serve it: {cache_miss}"
                ),
                false,
            ),
        },
        ApiError::TooManyRetries(inner) => hf_error(
            spec,
            format!(
                "{what}: download failed after retries: {}; the partial file is kept and resumed next time",
                first_line(&inner.to_string())
            ),
            false,
        ),
        ApiError::IoError(io) => hf_error(
            spec,
            format!(
                "{what}: download failed: {io}; the partial file is kept and resumed next time"
            ),
            false,
        ),
        other => hf_error(spec, format!("{what}: {}", first_line(&other.to_string())), false),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Lists the repo on the hub, then downloads the files the spec needs that the cache
/// lacks, verifying each against its sha256 etag.
fn download(spec: &HfSpec, cache: &Path, cache_miss: &str) -> Result<HfResolved> {
    let endpoint = std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "https://huggingface.co".to_string());
    let endpoint = endpoint.trim_end_matches('/').to_string();
    let hub_cache = Cache::new(cache.to_path_buf());
    let token = std::env::var("HF_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| hub_cache.token());
    let api = ApiBuilder::from_cache(hub_cache)
        .with_endpoint(endpoint.clone())
        .with_token(token)
        .with_progress(std::io::stderr().is_terminal())
        .with_retries(3)
        .with_user_agent("nativebench", env!("CARGO_PKG_VERSION"))
        .build()
        .map_err(|e| api_error(spec, "client", &endpoint, cache_miss, e))?;
    let repo = api.repo(Repo::with_revision(
        spec.repo.clone(),
        RepoType::Model,
        spec.revision().to_string(),
    ));
    let info = repo
        .info()
        .map_err(|e| api_error(spec, "file list", &endpoint, cache_miss, e))?;
    let names: Vec<String> = info.siblings.iter().map(|s| s.rfilename.clone()).collect();
    let sel = select(
        spec,
        &names,
        &format!("the repo at revision {}", spec.revision()),
    )
    .map_err(|why| hf_error(spec, why, true))?;
    let snap = repo_dir(cache, &spec.repo)
        .join("snapshots")
        .join(&info.sha);
    for f in sel.files.iter().chain(&sel.optional) {
        if snap.join(f).is_file() {
            continue;
        }
        let path = repo
            .download(f)
            .map_err(|e| api_error(spec, f, &endpoint, cache_miss, e))?;
        verify(spec, f, &path)?;
        if !snap.join(f).is_file() {
            return Err(hf_error(
                spec,
                format!(
                    "{f}: the hub served commit {} for it, not the listed {}",
                    path.parent()
                        .and_then(|p| p.file_name())
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                    info.sha
                ),
                false,
            ));
        }
    }
    // The listing's commit is what the revision points at now (hf-hub writes the ref from
    // each file's x-repo-commit; a listing with nothing to download writes it here).
    let refs = repo_dir(cache, &spec.repo).join("refs");
    if !is_commit(spec.revision()) {
        // A revision such as refs/pr/1 is a path below refs/.
        let r = refs.join(spec.revision());
        let parent = r.parent().unwrap_or(&refs);
        std::fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
        std::fs::write(&r, &info.sha).map_err(|e| ModelError::io(&r, e))?;
    }
    Ok(HfResolved {
        target: target(&snap, &sel),
        commit: info.sha,
    })
}

/// A freshly downloaded file whose blob is named by a sha256 (an LFS etag) must hash to
/// it; a mismatch removes the blob and the link, so that no later run takes it for whole.
fn verify(spec: &HfSpec, file: &str, link: &Path) -> Result<()> {
    let blob = std::fs::canonicalize(link).map_err(|e| ModelError::io(link, e))?;
    let etag = blob
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().to_ascii_lowercase());
    if etag.len() != 64 || !etag.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(());
    }
    let (sha, _) = sha256_file(&blob)?;
    if sha != etag {
        let _ = std::fs::remove_file(link);
        let _ = std::fs::remove_file(&blob);
        return Err(hf_error(
            spec,
            format!("{file}: downloaded bytes hash to {sha}, not the hub's {etag}; removed"),
            false,
        ));
    }
    Ok(())
}

pub(crate) fn has_extension(p: &Path, ext: &str) -> bool {
    p.extension()
        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case(ext))
}

/// The repo and commit of a path inside a hub cache snapshot
/// (`.../models--owner--name/snapshots/<commit>/<file>`), for the manifest.
pub fn source_of(path: &Path) -> Option<(String, String)> {
    let comps: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let i = comps.iter().rposition(|c| c == "snapshots")?;
    let repo = comps.get(i.checked_sub(1)?)?.strip_prefix("models--")?;
    let commit = comps.get(i + 1)?;
    let (owner, name) = repo.split_once("--")?;
    Some((format!("{owner}/{name}"), commit.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> HfSpec {
        HfSpec::parse(s).unwrap()
    }

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
    fn parses_revision_file_and_quant() {
        assert_eq!(
            spec("acme/tiny@v1/sub/m.gguf"),
            HfSpec {
                repo: "acme/tiny".into(),
                revision: Some("v1".into()),
                file: Some("sub/m.gguf".into()),
                quant: None
            }
        );
        assert_eq!(spec("acme/tiny:Q4_K_M").quant.as_deref(), Some("Q4_K_M"));
        for bad in [
            "acme",
            "/x",
            "acme/",
            "acme/t@..",
            "acme/t@",
            "acme/t:",
            "acme/t:Q4/f",
            "a b/c",
            "acme/t/../x",
        ] {
            assert!(HfSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cached_sharded_model_missing_a_shard_is_not_taken() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = populate(
            tmp.path(),
            &["config.json", "tokenizer.json", "a.safetensors"],
        );
        std::fs::write(
            snap.join("model.safetensors.index.json"),
            r#"{"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}}"#,
        )
        .unwrap();
        assert_eq!(missing_shard(&snap).as_deref(), Some("b.safetensors"));
        std::fs::write(snap.join("b.safetensors"), b"x").unwrap();
        assert_eq!(missing_shard(&snap), None);
        let r = resolve(&spec("acme/tiny"), tmp.path()).unwrap();
        assert_eq!(r.target, HfTarget::Dir(snap));
    }

    #[test]
    fn hf_file_joins_the_spec() {
        assert_eq!(
            spec_with_file("hf:acme/t@v1", "m.gguf").unwrap(),
            "hf:acme/t@v1/m.gguf"
        );
        assert!(spec_with_file("x.gguf", "m.gguf").is_err());
        assert!(spec_with_file("hf:acme/t:Q4", "m.gguf").is_err());
    }

    #[test]
    fn resolves_files_and_single_gguf_from_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = populate(tmp.path(), &["model.Q8_0.gguf", "README.md"]);
        let r = resolve(&spec("acme/tiny"), tmp.path()).unwrap();
        assert_eq!(r.target, HfTarget::File(snap.join("model.Q8_0.gguf")));
        assert_eq!(r.commit, "abc123");
        let r = resolve(&spec("acme/tiny/README.md"), tmp.path()).unwrap();
        assert_eq!(r.target, HfTarget::File(snap.join("README.md")));
    }

    #[test]
    fn selection_explains_what_is_wrong() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let e = |s: &str, v: &[&str]| select(&spec(s), &names(v), "the repo").err().unwrap();
        assert!(e("acme/t", &["a.gguf", "b.gguf"]).contains("a.gguf, b.gguf"));
        assert!(
            e("acme/t:Q4", &["m-Q4_0.gguf", "m-Q4_K.gguf"]).contains("m-Q4_0.gguf, m-Q4_K.gguf")
        );
        assert_eq!(
            e("acme/t", &["README.md"]),
            "the repo has no GGUF and no safetensors"
        );
        assert_eq!(e("acme/t/x.gguf", &["a.gguf"]), "x.gguf is not in the repo");
        let s = select(
            &spec("acme/t"),
            &names(&[
                "config.json",
                "tokenizer.json",
                "tokenizer_config.json",
                "b.safetensors",
                "a.safetensors",
            ]),
            "the repo",
        )
        .unwrap();
        assert_eq!(
            s.files,
            [
                "config.json",
                "tokenizer.json",
                "a.safetensors",
                "b.safetensors"
            ]
        );
        assert_eq!(s.optional, ["tokenizer_config.json"]);
    }

    #[test]
    fn source_of_reads_repo_and_commit_from_a_snapshot_path() {
        assert_eq!(
            source_of(Path::new("/c/hub/models--acme--tiny/snapshots/abc/m.gguf")),
            Some(("acme/tiny".into(), "abc".into()))
        );
        assert_eq!(source_of(Path::new("/x/m.gguf")), None);
    }
}
