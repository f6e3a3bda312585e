//! Experiments 3 and 4, which need llama.cpp: minijinja against llama.cpp's built-in
//! `llama_chat_apply_template` on the same messages, and Hugging Face `tokenizers`
//! against llama.cpp's own tokenizer on the same vocabulary (the corpus, ids compared).
//! A build without the `llama-cpp` feature says how to rebuild.

use super::{PreprocessConfig, Row};
use crate::error::Result;

/// User turns of experiment 3's conversation.
pub const EXP3_TURNS: usize = 8;

/// Experiment 3: every template of the set and every model's own, rendered by minijinja
/// and by llama.cpp (which recognises a template by its markers), the same 8-turn
/// conversation without tools; `equal` says whether the two texts are the same.
pub fn template_engines(cfg: &PreprocessConfig) -> Result<Vec<Row>> {
    imp::template_engines(cfg)
}

/// Experiment 4: per model with a GGUF, the corpus paragraphs tokenized by both
/// tokenizers (no BOS/EOS, special tokens as text), timed over the whole corpus, with
/// how many paragraphs got identical ids.
pub fn tokenizers_vs_llama_cpp(cfg: &PreprocessConfig) -> Result<Vec<Row>> {
    imp::tokenizers_vs_llama_cpp(cfg)
}

#[cfg(feature = "llama-cpp")]
mod imp {
    use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};

    use super::super::measure::time;
    use super::super::templates::{conversation, TEMPLATES};
    use super::*;
    use crate::engine::template::ChatTemplate;
    use crate::error::Error;
    use crate::model::tokenizer::corpus_paragraphs;

    fn load(path: &std::path::Path) -> Result<LlamaModel> {
        Ok(crate::model::llama::load_model(path, true)?)
    }

    pub(super) fn template_engines(cfg: &PreprocessConfig) -> Result<Vec<Row>> {
        let Some(gguf) = cfg.models.iter().find_map(|m| m.gguf.clone()) else {
            return Err(Error::Config(
                "experiment 3 needs a GGUF model (llama.cpp's templater is a model method)".into(),
            ));
        };
        let model = load(&gguf)?;
        // (whose, name, source): the set's templates, then each model's own.
        let mut cases: Vec<(String, String, String)> = TEMPLATES
            .iter()
            .map(|t| ("set".into(), t.name.into(), t.source.into()))
            .collect();
        for m in &cfg.models {
            if m.template_name == "gguf" || m.template_name.starts_with("file:") {
                cases.push((
                    m.label.clone(),
                    m.template_name.clone(),
                    m.template_source.clone(),
                ));
            }
        }
        let mut rows = Vec::new();
        for (owner, name, source) in cases {
            let thinking = name == "reasoning" || source.contains("</think>");
            let messages = conversation(EXP3_TURNS, 256, thinking);
            let bytes: usize = messages.iter().map(|x| x.content.len()).sum();
            let ours = ChatTemplate::new(&source, "", "")
                .map_err(|e| Error::Config(format!("chat template {name}: {e}")))?;
            let (mj, mine) = time(cfg.reps, || ours.render(&messages, true));
            let mine = mine.map_err(|e| Error::Config(format!("chat template {name}: {e}")))?;
            let tmpl = LlamaChatTemplate::new(&source)
                .map_err(|e| Error::Config(format!("chat template {name}: {e}")))?;
            let chat = messages
                .iter()
                .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::Runtime(format!("llama.cpp chat message: {e}")))?;
            let theirs = model.apply_chat_template(&tmpl, &chat, true);
            let template = if owner == "set" {
                name.clone()
            } else {
                format!("{owner}:{name}")
            };
            let mut r = Row::new(3, &owner, &template, "minijinja", mj);
            r.turns = Some(EXP3_TURNS);
            r.text_bytes = bytes;
            match theirs {
                Err(e) => {
                    r.note = format!("llama.cpp does not know this template ({e})");
                    rows.push(r);
                }
                Ok(text) => {
                    let equal = text == mine;
                    let (lt, _) = time(cfg.reps, || model.apply_chat_template(&tmpl, &chat, true));
                    let note = if equal {
                        String::new()
                    } else {
                        first_difference(&mine, &text)
                    };
                    r.equal = Some(equal);
                    r.ratio = Some(mj.median_us / lt.median_us.max(1e-9));
                    r.note = note.clone();
                    rows.push(r);
                    let mut l = Row::new(3, &owner, &template, "llama_cpp_template", lt);
                    l.turns = Some(EXP3_TURNS);
                    l.text_bytes = bytes;
                    l.equal = Some(equal);
                    l.note = note;
                    rows.push(l);
                }
            }
        }
        Ok(rows)
    }

    /// Where two renderings part, as `at byte N: minijinja "..." / llama.cpp "..."`.
    fn first_difference(a: &str, b: &str) -> String {
        let at = a
            .char_indices()
            .zip(b.chars())
            .find(|((_, x), y)| x != y)
            .map_or(a.len().min(b.len()), |((i, _), _)| i);
        let cut = |s: &str| s[at.min(s.len())..].chars().take(24).collect::<String>();
        format!(
            "differ at byte {at}: minijinja {:?} / llama.cpp {:?}",
            cut(a),
            cut(b)
        )
    }

    pub(super) fn tokenizers_vs_llama_cpp(cfg: &PreprocessConfig) -> Result<Vec<Row>> {
        let texts: Vec<&str> = corpus_paragraphs().collect();
        let bytes: usize = texts.iter().map(|t| t.len()).sum();
        let mut rows = Vec::new();
        for m in cfg.models.iter().filter(|m| m.gguf.is_some()) {
            let Some(path) = &m.gguf else { continue };
            let model = load(path)?;
            let vocab = model.vocab();
            // llama.cpp with parse_special = false treats control tokens as text.
            let mut hf = m.tokenizer.clone();
            hf.set_encode_special_tokens(true);
            let (ht, theirs) = time(cfg.reps, || {
                texts
                    .iter()
                    .map(|t| hf.encode_fast(*t, false).map(|e| e.get_ids().to_vec()))
                    .collect::<std::result::Result<Vec<_>, _>>()
            });
            let theirs =
                theirs.map_err(|e| Error::Runtime(format!("{}: tokenize: {e}", m.label)))?;
            let (lt, ours) = time(cfg.reps, || {
                texts
                    .iter()
                    .map(|t| {
                        vocab
                            .tokenize(t.as_bytes(), false, false)
                            .into_iter()
                            .map(|x| x.0 as u32)
                            .collect::<Vec<u32>>()
                    })
                    .collect::<Vec<_>>()
            });
            let same = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
            let tokens: usize = ours.iter().map(Vec::len).sum();
            let equal = same == texts.len();
            for (phase, t) in [("hf_tokenizers", ht), ("llama_cpp_tokenizer", lt)] {
                let mut r = Row::new(4, &m.label, "", phase, t);
                r.text_bytes = bytes;
                r.tokens = Some(tokens);
                r.batch = Some(texts.len());
                r.per_item_us = Some(t.median_us / tokens.max(1) as f64);
                r.ratio = Some(ht.median_us / lt.median_us.max(1e-9));
                r.equal = Some(equal);
                r.note = format!("{same}/{} texts identical", texts.len());
                rows.push(r);
            }
        }
        Ok(rows)
    }
}

#[cfg(not(feature = "llama-cpp"))]
mod imp {
    use super::*;
    use crate::model::ModelError;

    pub(super) fn template_engines(_cfg: &PreprocessConfig) -> Result<Vec<Row>> {
        Err(ModelError::LlamaCppDisabled.into())
    }

    pub(super) fn tokenizers_vs_llama_cpp(_cfg: &PreprocessConfig) -> Result<Vec<Row>> {
        Err(ModelError::LlamaCppDisabled.into())
    }
}
