//! `nativebench preprocess`: resolves the models and the chat template, runs the
//! experiments (`preprocess`), and writes results.csv (appended), preprocess.json,
//! preprocess.md and preprocess.html into the output directory, and each model's
//! tokenizer.json beside them for the Python comparison.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::engine::template::ChatTemplate;
use crate::error::{Error, Result};
use crate::model::gguf::GgufFile;
use crate::model::vocab::GgufVocab;
use crate::model::{self, ModelFormat};
use crate::preprocess::templates::{named, TEMPLATES};
use crate::preprocess::{self, PreModel, PreprocessConfig, Reps};
use crate::report::preprocess as out_formats;

/// What `preprocess` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PreFormat {
    Md,
    Csv,
    Json,
}

/// A validated `preprocess`.
#[derive(Debug, Clone)]
pub struct PreprocessPlan {
    /// Model specs; empty for the defaults.
    pub models: Vec<String>,
    pub tokenizer: Option<PathBuf>,
    pub experiments: Vec<u8>,
    pub quick: bool,
    pub threads: Vec<usize>,
    pub repetitions: Option<usize>,
    pub chat_template: Option<String>,
    pub out: PathBuf,
    pub output: PreFormat,
}

/// The models measured when none is named: the synthetic one always, the real
/// vocabularies where they have been fetched.
const DEFAULT_MODELS: [&str; 3] = ["synth:tiny", "qwen2-r1-vocab", "gemma3-270m"];

/// A chat template given by `--chat-template`: its name in reports and its source.
fn template_from_flag(spec: &str) -> Result<(String, String)> {
    if let Some(t) = named(spec) {
        return Ok((format!("set:{}", t.name), t.source.to_string()));
    }
    let path = Path::new(spec);
    let bad = |why: String| Error::Config(format!("--chat-template {spec}: {why}"));
    if path.is_file() {
        let is = |ext: &str| {
            path.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(ext))
        };
        let label = format!(
            "file:{}",
            path.file_name()
                .map_or(spec.into(), |n| n.to_string_lossy().into_owned())
        );
        if is("gguf") {
            return gguf_template(path)
                .map(|s| (label, s))
                .map_err(|e| bad(e.to_string()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        if is("json") {
            return Ok((label, tokenizer_config_template(&text).map_err(bad)?));
        }
        return Ok((label, text));
    }
    // Otherwise a model spec whose GGUF embeds a template.
    let resolved = model::resolve(spec).map_err(|e| {
        bad(format!(
            "not a file, a template name ({}) or a model: {e}",
            TEMPLATES
                .iter()
                .map(|t| t.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let source = match resolved.format {
        ModelFormat::Gguf => gguf_template(&resolved.path).map_err(|e| bad(e.to_string()))?,
        _ => {
            let cfg = resolved.path.join("tokenizer_config.json");
            let text = std::fs::read_to_string(&cfg)
                .map_err(|e| bad(format!("{}: {e}", cfg.display())))?;
            tokenizer_config_template(&text).map_err(bad)?
        }
    };
    Ok((format!("model:{spec}"), source))
}

fn gguf_template(path: &Path) -> Result<String> {
    let g = GgufFile::open(path)?;
    g.get_str("tokenizer.chat_template")
        .map(str::to_string)
        .ok_or_else(|| Error::Config(format!("{}: no tokenizer.chat_template", path.display())))
}

/// The `chat_template` of a tokenizer_config.json: a string, or a list of named
/// templates of which `default` is used.
fn tokenizer_config_template(text: &str) -> std::result::Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match v.get("chat_template") {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .and_then(|t| t.get("template")?.as_str())
            .map(str::to_string)
            .ok_or_else(|| "chat_template lists no template named default".into()),
        _ => Err("no chat_template".into()),
    }
}

fn compile(name: &str, source: &str, bos: &str, eos: &str) -> Result<ChatTemplate> {
    ChatTemplate::new(source, bos, eos)
        .map_err(|e| Error::Config(format!("chat template {name} does not parse: {e}")))
}

/// Loads a model spec as the experiments use it.
fn load_model(spec: &str, template: Option<&(String, String)>) -> Result<PreModel> {
    let resolved = model::resolve(spec)?;
    if resolved.format != ModelFormat::Gguf {
        let tok = resolved
            .tokenizer_json
            .clone()
            .ok_or_else(|| Error::Config(format!("{spec}: no tokenizer.json")))?;
        let (name, source) = match template {
            Some(t) => t.clone(),
            None => match std::fs::read_to_string(resolved.path.join("tokenizer_config.json"))
                .ok()
                .and_then(|t| tokenizer_config_template(&t).ok())
            {
                Some(s) => ("tokenizer_config".into(), s),
                None => ("set:chatml".into(), TEMPLATES[0].source.into()),
            },
        };
        return tokenizer_model(spec, &tok, None, name, source);
    }
    let g = GgufFile::open(&resolved.path)?;
    let vocab = GgufVocab::from_gguf(&g)?;
    let tokenizer = match &resolved.tokenizer_json {
        Some(p) => {
            tokenizers::Tokenizer::from_file(p).map_err(|e| model::ModelError::tokenizer(p, e))?
        }
        None => model::convert::build_tokenizer(&vocab, &resolved.path)?,
    };
    let (template_name, template_source) = match (template, &vocab.chat_template) {
        (Some(t), _) => t.clone(),
        (None, Some(s)) => ("gguf".into(), s.clone()),
        // A model without a template gets its family's from the set.
        (None, None) => {
            let family = if g.architecture().is_ok_and(|a| a.starts_with("gemma")) {
                "gemma"
            } else {
                "chatml"
            };
            (
                format!("set:{family}"),
                named(family).map_or("", |t| t.source).into(),
            )
        }
    };
    let piece = |id: Option<u32>| {
        id.and_then(|i| vocab.tokens.get(i as usize).cloned())
            .unwrap_or_default()
    };
    let (bos_token, eos_token) = (piece(vocab.bos_token_id), piece(vocab.eos_token_id));
    let template = compile(&template_name, &template_source, &bos_token, &eos_token)?;
    Ok(PreModel {
        label: spec.to_string(),
        gguf: Some(resolved.path.clone()),
        tokenizer,
        template,
        template_name,
        template_source,
        bos_token,
        eos_token,
    })
}

fn tokenizer_model(
    label: &str,
    path: &Path,
    gguf: Option<PathBuf>,
    template_name: String,
    template_source: String,
) -> Result<PreModel> {
    let tokenizer = tokenizers::Tokenizer::from_file(path)
        .map_err(|e| Error::Config(format!("{}: not a tokenizer.json: {e}", path.display())))?;
    let template = compile(&template_name, &template_source, "", "")?;
    Ok(PreModel {
        label: label.to_string(),
        gguf,
        tokenizer,
        template,
        template_name,
        template_source,
        bos_token: String::new(),
        eos_token: String::new(),
    })
}

/// Runs `preprocess`: the experiments, then the files, then the chosen format on `out`.
pub fn run(plan: &PreprocessPlan, out: &mut dyn Write) -> Result<()> {
    let template = plan
        .chat_template
        .as_deref()
        .map(template_from_flag)
        .transpose()?;
    if let Some((name, source)) = &template {
        compile(name, source, "", "")?;
    }
    let mut warnings = Vec::new();
    let mut models = Vec::new();
    if plan.models.is_empty() && plan.tokenizer.is_none() {
        for spec in DEFAULT_MODELS {
            match load_model(spec, template.as_ref()) {
                Ok(m) => models.push(m),
                Err(Error::Model(e)) if matches!(e, model::ModelError::NotFetched { .. }) => {
                    warnings.push(format!("skipped {spec}: {e}"));
                }
                Err(e) => return Err(e),
            }
        }
    } else {
        for spec in &plan.models {
            models.push(load_model(spec, template.as_ref())?);
        }
    }
    if let Some(path) = &plan.tokenizer {
        let (name, source) = template
            .clone()
            .unwrap_or_else(|| ("set:chatml".into(), TEMPLATES[0].source.into()));
        let label = path
            .file_stem()
            .map_or("tokenizer".into(), |s| s.to_string_lossy().into_owned());
        models.push(tokenizer_model(&label, path, None, name, source)?);
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let reps = match (plan.repetitions, plan.quick) {
        (Some(r), q) => Reps {
            warmup: if q { 1 } else { 3 },
            reps: r,
        },
        (None, true) => Reps { warmup: 1, reps: 5 },
        (None, false) => Reps {
            warmup: 3,
            reps: 15,
        },
    };
    let cfg = PreprocessConfig {
        models,
        experiments: plan.experiments.clone(),
        quick: plan.quick,
        threads: plan.threads.clone(),
        reps,
    };
    std::fs::create_dir_all(&plan.out).map_err(|e| Error::io(&plan.out, e))?;
    let mut report = preprocess::run(&cfg, &mut |line| eprintln!("{line}"))?;
    report.warnings.splice(0..0, warnings);
    let noisy = report
        .warnings
        .iter()
        .filter(|w| w.starts_with("noisy"))
        .count();
    if noisy > 0 {
        eprintln!(
            "warning: {noisy} of {} figures are noisy (CV above 5%): see the cv column",
            report.rows.len()
        );
    }
    write_files(&plan.out, &cfg, &report)?;
    let text = match plan.output {
        PreFormat::Md => out_formats::markdown(&report),
        PreFormat::Csv => out_formats::csv(&report.rows, true)?,
        PreFormat::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::io("stdout", e))
}

fn write_files(
    dir: &Path,
    cfg: &PreprocessConfig,
    report: &preprocess::PreprocessReport,
) -> Result<()> {
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| Error::io(&p, e))
    };
    let csv_path = dir.join("results.csv");
    let fresh = !csv_path.is_file();
    let rows = out_formats::csv(&report.rows, fresh)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&csv_path)
        .map_err(|e| Error::io(&csv_path, e))?;
    f.write_all(rows.as_bytes())
        .map_err(|e| Error::io(&csv_path, e))?;
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Json {
        path: dir.join("preprocess.json"),
        source: e,
    })?;
    write("preprocess.json", json.as_bytes())?;
    write("preprocess.md", out_formats::markdown(report).as_bytes())?;
    write("preprocess.html", out_formats::html_page(report).as_bytes())?;
    // The exact tokenizers and templates measured, for benches/preprocess-python.py.
    let tdir = dir.join("tokenizers");
    std::fs::create_dir_all(&tdir).map_err(|e| Error::io(&tdir, e))?;
    for m in &cfg.models {
        let stem: String = m
            .label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let p = tdir.join(format!("{stem}.json"));
        m.tokenizer
            .save(&p, false)
            .map_err(|e| Error::Runtime(format!("{}: {e}", p.display())))?;
        let meta = serde_json::json!({
            "model": m.label,
            "template_name": m.template_name,
            "chat_template": m.template_source,
            "bos_token": m.bos_token,
            "eos_token": m.eos_token,
        });
        let p = tdir.join(format!("{stem}.template.json"));
        std::fs::write(&p, serde_json::to_string_pretty(&meta).unwrap_or_default())
            .map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}
