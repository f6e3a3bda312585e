//! `--model` specs: parse the string once, then resolve it to files on disk that every
//! engine can open. Accepted forms:
//!
//! - `path/to/model.gguf`
//! - `path/to/dir` holding config.json, *.safetensors and tokenizer.json
//! - `synth:PRESET[:QUANT]`: generated on first use into the model cache, then reused
//! - `hf:owner/repo[@revision][/file]` or `hf:owner/repo[@revision]:QUANT`: from the
//!   Hugging Face Hub, through the standard cache (src/model/hf.rs)
//! - a registry name such as `gemma3-270m`, once fetched into the model cache

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::{ModelError, Result};
use super::hf::{self, has_extension, HfSpec, HfTarget};
use super::registry::registry;
use super::synth::{self, Quant, DEFAULT_SEED, GENERATOR_VERSION};

/// Environment variable that overrides the model cache directory.
pub const MODEL_CACHE_ENV: &str = "NATIVEBENCH_MODEL_CACHE";

/// The model cache: `$NATIVEBENCH_MODEL_CACHE`, else `~/.cache/nativebench/models`.
pub fn model_cache_dir() -> PathBuf {
    std::env::var_os(MODEL_CACHE_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(
            || {
                hf::home_dir()
                    .join(".cache")
                    .join("nativebench")
                    .join("models")
            },
            PathBuf::from,
        )
}

/// A parsed `--model` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// A GGUF file.
    Gguf(PathBuf),
    /// A directory with config.json, safetensors and tokenizer.json.
    Dir(PathBuf),
    /// A synthetic model.
    Synth {
        preset: String,
        quant: Quant,
        seed: u64,
    },
    /// A repository (and optionally a revision, one file or a quantization) on the
    /// Hugging Face Hub.
    Hf(HfSpec),
    /// A real model from the registry.
    Known(String),
}

impl FromStr for ModelSpec {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<ModelSpec> {
        let invalid = |message: &str| ModelError::InvalidSpec {
            spec: s.to_string(),
            message: message.to_string(),
        };
        if let Some(rest) = s.strip_prefix("synth:") {
            let mut parts = rest.split(':');
            let preset = parts.next().unwrap_or_default();
            if preset.is_empty() {
                return Err(invalid("expected synth:PRESET[:QUANT]"));
            }
            registry()?.preset(preset)?;
            let quant = match parts.next() {
                None => Quant::Q8_0,
                Some(q) => q.parse()?,
            };
            if parts.next().is_some() {
                return Err(invalid("expected synth:PRESET[:QUANT]"));
            }
            return Ok(ModelSpec::Synth {
                preset: preset.to_string(),
                quant,
                seed: DEFAULT_SEED,
            });
        }
        if let Some(rest) = s.strip_prefix("hf:") {
            return HfSpec::parse(rest)
                .map(ModelSpec::Hf)
                .map_err(|m| invalid(&m));
        }
        if s.is_empty() {
            return Err(invalid("empty model spec"));
        }
        if registry()?.model(s).is_some() && !Path::new(s).exists() {
            return Ok(ModelSpec::Known(s.to_string()));
        }
        let path = PathBuf::from(s);
        Ok(if path.is_dir() {
            ModelSpec::Dir(path)
        } else {
            ModelSpec::Gguf(path)
        })
    }
}

/// How a resolved model is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFormat {
    /// One GGUF file (weights and tokenizer).
    Gguf,
    /// A directory of safetensors with config.json and tokenizer.json.
    SafetensorsDir,
}

/// A model on disk, ready for an engine to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedModel {
    /// The spec as the user wrote it.
    pub spec: String,
    /// A short display name (`synth:tiny:q8_0`, `gemma3-270m`, the file stem).
    pub name: String,
    pub format: ModelFormat,
    /// The GGUF file, or the model directory.
    pub path: PathBuf,
    /// A tokenizer.json for the model, when one exists (synthetic models, directories).
    pub tokenizer_json: Option<PathBuf>,
    /// config.json, for directory models.
    pub config_json: Option<PathBuf>,
    /// The weight files: the GGUF, or the directory's safetensors (sorted).
    pub weights: Vec<PathBuf>,
}

/// Identity of the model bytes, for the run manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fingerprint {
    /// sha256 of the GGUF; for a directory, sha256 over "name\0sha256\n" of each weight,
    /// config and tokenizer file in name order.
    pub sha256: String,
    pub size_bytes: u64,
}

impl ResolvedModel {
    /// Hashes the model's files (reads every byte: about a second per few hundred MB).
    pub fn fingerprint(&self) -> Result<Fingerprint> {
        match self.format {
            ModelFormat::Gguf => {
                let (sha256, size_bytes) = sha256_file(&self.path)?;
                Ok(Fingerprint { sha256, size_bytes })
            }
            ModelFormat::SafetensorsDir => {
                let mut files: Vec<&PathBuf> = self
                    .weights
                    .iter()
                    .chain(&self.config_json)
                    .chain(&self.tokenizer_json)
                    .collect();
                files.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
                let mut outer = Sha256::new();
                let mut size_bytes = 0;
                for f in files {
                    let (sha, size) = sha256_file(f)?;
                    let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
                    outer.update(format!("{}\0{sha}\n", name.unwrap_or_default()));
                    size_bytes += size;
                }
                Ok(Fingerprint {
                    sha256: hex(&outer.finalize()),
                    size_bytes,
                })
            }
        }
    }
}

/// sha256 (lowercase hex) and size of a file.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where resolution looks and writes.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// Synthetic models are generated here; registry models are looked for here.
    pub model_cache: PathBuf,
    /// The Hugging Face hub cache.
    pub hf_cache: PathBuf,
}

impl ResolveOptions {
    /// The directories the environment selects.
    pub fn from_env() -> ResolveOptions {
        ResolveOptions {
            model_cache: model_cache_dir(),
            hf_cache: hf::hub_cache_dir(),
        }
    }
}

/// Parses and resolves a `--model` string with the environment's directories.
pub fn resolve(spec: &str) -> Result<ResolvedModel> {
    spec.parse::<ModelSpec>()?
        .resolve(spec, &ResolveOptions::from_env())
}

impl ModelSpec {
    /// Finds (or, for `synth:`, creates) the model's files. `original` is the spec as
    /// written, kept for reports.
    pub fn resolve(&self, original: &str, opts: &ResolveOptions) -> Result<ResolvedModel> {
        match self {
            ModelSpec::Gguf(path) => resolve_gguf(original, path, stem_name(path)),
            ModelSpec::Dir(path) => resolve_dir(original, path, stem_name(path)),
            ModelSpec::Synth {
                preset,
                quant,
                seed,
            } => {
                let path = synth_cache_path(&opts.model_cache, preset, *quant, *seed);
                let tok = synth::tokenizer_json_path(&path);
                // One generator at a time in this process: threads asking for the same
                // model wait for the first and then reuse its file.
                static GENERATING: Mutex<()> = Mutex::new(());
                let _one = GENERATING.lock().unwrap_or_else(|e| e.into_inner());
                if !(path.is_file() && tok.is_file()) {
                    let preset = registry()?.preset(preset)?;
                    synth::synthesize(preset, *quant, *seed, &path)?;
                }
                let mut m = resolve_gguf(original, &path, format!("synth:{preset}:{quant}"))?;
                m.tokenizer_json = Some(tok);
                Ok(m)
            }
            ModelSpec::Hf(spec) => {
                let name = format!("hf:{}", spec.repo);
                match hf::resolve(spec, &opts.hf_cache)?.target {
                    HfTarget::File(p) => resolve_gguf(original, &p, name),
                    HfTarget::Dir(p) => resolve_dir(original, &p, name),
                }
            }
            ModelSpec::Known(name) => {
                let reg = registry()?;
                let known = reg.model(name).ok_or_else(|| ModelError::InvalidSpec {
                    spec: original.to_string(),
                    message: "not in the registry".to_string(),
                })?;
                let path = opts.model_cache.join(&known.file);
                if !path.is_file() {
                    return Err(ModelError::NotFetched {
                        name: name.clone(),
                        path,
                        fetch: known.fetch.clone(),
                    });
                }
                resolve_gguf(original, &path, name.clone())
            }
        }
    }
}

/// `<cache>/synth-v<gen>-<preset>-<quant>-seed<seed>.gguf`.
pub fn synth_cache_path(cache: &Path, preset: &str, quant: Quant, seed: u64) -> PathBuf {
    cache.join(format!(
        "synth-v{GENERATOR_VERSION}-{preset}-{quant}-seed{seed}.gguf"
    ))
}

fn stem_name(path: &Path) -> String {
    path.file_stem().or_else(|| path.file_name()).map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn resolve_gguf(original: &str, path: &Path, name: String) -> Result<ResolvedModel> {
    if !path.is_file() {
        return Err(ModelError::NotFound {
            path: path.to_path_buf(),
        });
    }
    let tok = synth::tokenizer_json_path(path);
    Ok(ResolvedModel {
        spec: original.to_string(),
        name,
        format: ModelFormat::Gguf,
        path: path.to_path_buf(),
        tokenizer_json: tok.is_file().then_some(tok),
        config_json: None,
        weights: vec![path.to_path_buf()],
    })
}

fn resolve_dir(original: &str, dir: &Path, name: String) -> Result<ResolvedModel> {
    if !dir.is_dir() {
        return Err(ModelError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let mut weights: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ModelError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| has_extension(p, "safetensors") && p.is_file())
        .collect();
    weights.sort();
    let config = dir.join("config.json");
    let tokenizer = dir.join("tokenizer.json");
    let mut missing = Vec::new();
    if !config.is_file() {
        missing.push("config.json");
    }
    if !tokenizer.is_file() {
        missing.push("tokenizer.json");
    }
    if weights.is_empty() {
        missing.push("*.safetensors");
    }
    if !missing.is_empty() {
        return Err(ModelError::ModelDir {
            path: dir.to_path_buf(),
            message: format!(
                "model directory has no {} (it needs config.json, *.safetensors and tokenizer.json)",
                missing.join(", ")
            ),
        });
    }
    Ok(ResolvedModel {
        spec: original.to_string(),
        name,
        format: ModelFormat::SafetensorsDir,
        path: dir.to_path_buf(),
        tokenizer_json: Some(tokenizer),
        config_json: Some(config),
        weights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            "synth:tiny".parse::<ModelSpec>().unwrap(),
            ModelSpec::Synth {
                preset: "tiny".into(),
                quant: Quant::Q8_0,
                seed: DEFAULT_SEED
            }
        );
        assert!(matches!(
            "synth:llama-1b:q4_k".parse::<ModelSpec>().unwrap(),
            ModelSpec::Synth {
                quant: Quant::Q4K,
                ..
            }
        ));
        assert_eq!(
            "hf:acme/tiny/sub/model.gguf".parse::<ModelSpec>().unwrap(),
            ModelSpec::Hf(HfSpec {
                repo: "acme/tiny".into(),
                revision: None,
                file: Some("sub/model.gguf".into()),
                quant: None
            })
        );
        assert_eq!(
            "gemma3-270m".parse::<ModelSpec>().unwrap(),
            ModelSpec::Known("gemma3-270m".into())
        );
        assert_eq!(
            "x/y.gguf".parse::<ModelSpec>().unwrap(),
            ModelSpec::Gguf("x/y.gguf".into())
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let e = |s: &str| s.parse::<ModelSpec>().unwrap_err().to_string();
        assert_eq!(
            e("synth:huge"),
            "unknown synthetic preset 'huge' (known: tiny, llama-135m, llama-1b)"
        );
        assert_eq!(
            e("synth:tiny:q2"),
            "unknown quantization 'q2' (known: f32, f16, q8_0, q4_0, q4_k)"
        );
        assert_eq!(
            e("hf:acme"),
            "invalid model spec 'hf:acme': expected hf:owner/repo[@revision][/file] or hf:owner/repo[@revision]:QUANT"
        );
    }

    #[test]
    fn directory_without_config_or_tokenizer_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("model.safetensors"), b"x").unwrap();
        let spec = tmp.path().to_str().unwrap();
        let err = resolve(spec).unwrap_err().to_string();
        assert!(
            err.ends_with("model directory has no config.json, tokenizer.json (it needs config.json, *.safetensors and tokenizer.json)"),
            "{err}"
        );
        std::fs::write(tmp.path().join("config.json"), b"{}").unwrap();
        std::fs::write(tmp.path().join("tokenizer.json"), b"{}").unwrap();
        let m = resolve(spec).unwrap();
        assert_eq!(m.format, ModelFormat::SafetensorsDir);
        assert_eq!(m.fingerprint().unwrap().size_bytes, 5);
    }

    #[test]
    fn unfetched_registry_model_names_the_fetch_script() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = ResolveOptions {
            model_cache: tmp.path().into(),
            hf_cache: tmp.path().into(),
        };
        let err = ModelSpec::Known("gemma3-270m".into())
            .resolve("gemma3-270m", &opts)
            .unwrap_err()
            .to_string();
        assert!(err.contains("run models/fetch-gemma3-270m.sh"), "{err}");
    }
}
