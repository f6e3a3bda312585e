//! A GGUF tokenizer vocabulary (`tokenizer.ggml.*`) as plain data. The synthetic writer
//! produces one and turns it into GGUF metadata; the converter reads one from a GGUF and
//! turns it into a `tokenizers` tokenizer. Both directions go through this one type.

use candle_core::quantized::gguf_file::Value;

use super::error::{ModelError, Result};
use super::gguf::{value_u64, GgufFile};

/// llama.cpp's `llama_token_type` values, as stored in `tokenizer.ggml.token_type`.
pub mod token_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const USER_DEFINED: i32 = 4;
    pub const UNUSED: i32 = 5;
    pub const BYTE: i32 = 6;
}

/// The tokenizer kinds the converter supports (`tokenizer.ggml.model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabKind {
    /// SentencePiece BPE with scores and byte fallback (Llama 2, Gemma).
    Llama,
    /// Byte-level BPE with merges (GPT-2, Llama 3, Qwen, SmolLM).
    Gpt2,
}

impl VocabKind {
    /// The `tokenizer.ggml.model` string.
    pub fn as_str(self) -> &'static str {
        match self {
            VocabKind::Llama => "llama",
            VocabKind::Gpt2 => "gpt2",
        }
    }
}

/// Everything a GGUF says about its tokenizer.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufVocab {
    pub kind: VocabKind,
    /// `tokenizer.ggml.pre`: the pre-tokenizer of byte-level BPE vocabularies.
    pub pre: Option<String>,
    pub tokens: Vec<String>,
    /// One `token_type` per token (NORMAL when the file has none).
    pub token_types: Vec<i32>,
    /// SentencePiece scores (empty for byte-level BPE).
    pub scores: Vec<f32>,
    /// Byte-level BPE merges, `"left right"`, highest priority first.
    pub merges: Vec<String>,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    pub unknown_token_id: Option<u32>,
    pub padding_token_id: Option<u32>,
    pub add_bos_token: bool,
    pub add_eos_token: bool,
    /// SentencePiece's dummy prefix: a "▁" before the text.
    pub add_space_prefix: bool,
    pub chat_template: Option<String>,
}

impl GgufVocab {
    /// Reads the vocabulary from a GGUF header.
    pub fn from_gguf(g: &GgufFile) -> Result<GgufVocab> {
        let missing = |key: &str, detail: &str| ModelError::MissingKey {
            path: g.path.clone(),
            key: key.to_string(),
            detail: detail.to_string(),
        };
        let model = g.require_str("tokenizer.ggml.model")?;
        let kind = match model {
            "llama" => VocabKind::Llama,
            "gpt2" => VocabKind::Gpt2,
            other => {
                return Err(ModelError::tokenizer(
                    &g.path,
                    format!("unsupported tokenizer model '{other}' (supported: llama, gpt2)"),
                ))
            }
        };
        let tokens: Vec<String> = string_array(g, "tokenizer.ggml.tokens")?
            .ok_or_else(|| missing("tokenizer.ggml.tokens", ""))?;
        let n = tokens.len();
        let token_types = match g.get_array("tokenizer.ggml.token_type") {
            None => vec![token_type::NORMAL; n],
            Some(a) => a
                .iter()
                .map(|v| match *v {
                    Value::I32(t) => Some(t),
                    Value::U32(t) => i32::try_from(t).ok(),
                    _ => None,
                })
                .collect::<Option<Vec<i32>>>()
                .filter(|t| t.len() == n)
                .ok_or_else(|| {
                    missing(
                        "tokenizer.ggml.token_type",
                        ": expected one integer per token",
                    )
                })?,
        };
        let scores = match g.get_array("tokenizer.ggml.scores") {
            None => Vec::new(),
            Some(a) => a
                .iter()
                .map(|v| match *v {
                    Value::F32(s) => Some(s),
                    Value::F64(s) => Some(s as f32),
                    _ => None,
                })
                .collect::<Option<Vec<f32>>>()
                .filter(|s| s.len() == n)
                .ok_or_else(|| {
                    missing("tokenizer.ggml.scores", ": expected one float per token")
                })?,
        };
        let merges = string_array(g, "tokenizer.ggml.merges")?.unwrap_or_default();
        if kind == VocabKind::Gpt2 && merges.is_empty() {
            return Err(missing(
                "tokenizer.ggml.merges",
                " (a gpt2 tokenizer needs merges)",
            ));
        }
        let id = |key: &str| -> Result<Option<u32>> {
            match g.get(key) {
                None => Ok(None),
                Some(v) => value_u64(v)
                    .and_then(|id| u32::try_from(id).ok())
                    .filter(|&id| (id as usize) < n)
                    .map(Some)
                    .ok_or_else(|| missing(key, &format!(": {v:?} is not a token id < {n}"))),
            }
        };
        Ok(GgufVocab {
            kind,
            pre: g.get_str("tokenizer.ggml.pre").map(str::to_string),
            bos_token_id: id("tokenizer.ggml.bos_token_id")?,
            eos_token_id: id("tokenizer.ggml.eos_token_id")?,
            unknown_token_id: id("tokenizer.ggml.unknown_token_id")?,
            padding_token_id: id("tokenizer.ggml.padding_token_id")?,
            // llama.cpp's defaults when the keys are absent.
            add_bos_token: g
                .get_bool("tokenizer.ggml.add_bos_token")
                .unwrap_or(kind == VocabKind::Llama),
            add_eos_token: g.get_bool("tokenizer.ggml.add_eos_token").unwrap_or(false),
            add_space_prefix: g
                .get_bool("tokenizer.ggml.add_space_prefix")
                .unwrap_or(kind == VocabKind::Llama),
            chat_template: g.get_str("tokenizer.chat_template").map(str::to_string),
            tokens,
            token_types,
            scores,
            merges,
        })
    }

    /// The `tokenizer.*` metadata entries that describe this vocabulary.
    pub fn to_metadata(&self) -> Vec<(String, Value)> {
        let mut md: Vec<(String, Value)> = vec![(
            "tokenizer.ggml.model".into(),
            Value::String(self.kind.as_str().into()),
        )];
        if let Some(pre) = &self.pre {
            md.push(("tokenizer.ggml.pre".into(), Value::String(pre.clone())));
        }
        md.push((
            "tokenizer.ggml.tokens".into(),
            Value::Array(self.tokens.iter().cloned().map(Value::String).collect()),
        ));
        md.push((
            "tokenizer.ggml.token_type".into(),
            Value::Array(self.token_types.iter().copied().map(Value::I32).collect()),
        ));
        if !self.scores.is_empty() {
            md.push((
                "tokenizer.ggml.scores".into(),
                Value::Array(self.scores.iter().copied().map(Value::F32).collect()),
            ));
        }
        if !self.merges.is_empty() {
            md.push((
                "tokenizer.ggml.merges".into(),
                Value::Array(self.merges.iter().cloned().map(Value::String).collect()),
            ));
        }
        let ids = [
            ("tokenizer.ggml.bos_token_id", self.bos_token_id),
            ("tokenizer.ggml.eos_token_id", self.eos_token_id),
            ("tokenizer.ggml.unknown_token_id", self.unknown_token_id),
            ("tokenizer.ggml.padding_token_id", self.padding_token_id),
        ];
        for (key, id) in ids {
            if let Some(id) = id {
                md.push((key.into(), Value::U32(id)));
            }
        }
        md.push((
            "tokenizer.ggml.add_bos_token".into(),
            Value::Bool(self.add_bos_token),
        ));
        md.push((
            "tokenizer.ggml.add_eos_token".into(),
            Value::Bool(self.add_eos_token),
        ));
        if let Some(t) = &self.chat_template {
            md.push(("tokenizer.chat_template".into(), Value::String(t.clone())));
        }
        md
    }
}

fn string_array(g: &GgufFile, key: &str) -> Result<Option<Vec<String>>> {
    let Some(items) = g.get_array(key) else {
        return Ok(None);
    };
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(Some)
        .ok_or_else(|| ModelError::MissingKey {
            path: g.path.clone(),
            key: key.to_string(),
            detail: ": expected an array of strings".to_string(),
        })
}
