//! GGUF vocabulary -> `tokenizers` tokenizer, for both kinds llama.cpp knows best:
//! SentencePiece BPE ("llama": Llama 2, Gemma) and byte-level BPE ("gpt2": GPT-2,
//! Llama 3, SmolLM). The result tokenizes as llama.cpp does with `parse_special = false`
//! once `set_encode_special_tokens(true)` is set on it, and as llama.cpp does with
//! `parse_special = true` by default.

use std::path::Path;

use serde_json::{json, Value as Json};
use tokenizers::models::bpe::{Vocab as BpeVocab, BPE};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
    Tokenizer,
};

use super::error::{ModelError, Result};
use super::gguf::GgufFile;
use super::vocab::{token_type, GgufVocab, VocabKind};

/// The pre-tokenizer regexes of the `tokenizer.ggml.pre` values supported here, as in
/// llama.cpp's `llama-vocab.cpp`.
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// SentencePiece's visible space.
const SPM_SPACE: &str = "\u{2581}";

/// Reads the GGUF at `path` and converts its embedded tokenizer.
pub fn tokenizer_from_gguf_path(path: &Path) -> Result<Tokenizer> {
    let g = GgufFile::open(path)?;
    tokenizer_from_gguf(&g)
}

/// Converts the tokenizer embedded in a GGUF header.
pub fn tokenizer_from_gguf(g: &GgufFile) -> Result<Tokenizer> {
    let vocab = GgufVocab::from_gguf(g)?;
    build_tokenizer(&vocab, &g.path)
}

/// Builds a `tokenizers` tokenizer from a GGUF vocabulary; `origin` names the file in errors.
pub fn build_tokenizer(vocab: &GgufVocab, origin: &Path) -> Result<Tokenizer> {
    let err = |m: String| ModelError::tokenizer(origin, m);
    // Duplicate token strings (rare, but they exist) keep their first id, as lookups
    // by text in llama.cpp do.
    let mut ids: BpeVocab = BpeVocab::with_capacity(vocab.tokens.len());
    for (id, tok) in vocab.tokens.iter().enumerate() {
        ids.entry(tok.clone()).or_insert(id as u32);
    }
    let (model, normalizer, pre_tokenizer, decoder) = match vocab.kind {
        VocabKind::Gpt2 => gpt2_parts(vocab, ids).map_err(err)?,
        VocabKind::Llama => spm_parts(vocab, ids).map_err(err)?,
    };
    let mut tokenizer = Tokenizer::new(model);
    if let Some(n) = normalizer {
        tokenizer
            .with_normalizer(Some(parse::<NormalizerWrapper>(n).map_err(err)?))
            .map_err(|e| err(e.to_string()))?;
    }
    if let Some(p) = pre_tokenizer {
        tokenizer.with_pre_tokenizer(Some(parse::<PreTokenizerWrapper>(p).map_err(err)?));
    }
    tokenizer.with_decoder(Some(parse::<DecoderWrapper>(decoder).map_err(err)?));
    if let Some(pp) = post_processor(vocab) {
        tokenizer.with_post_processor(Some(parse::<PostProcessorWrapper>(pp).map_err(err)?));
    }

    // Control and unknown tokens are special; user-defined ones are matched in the raw
    // text before anything else, as llama.cpp's tokenizer_st_partition does.
    let mut special = Vec::new();
    let mut user = Vec::new();
    for (tok, &ty) in vocab.tokens.iter().zip(&vocab.token_types) {
        match ty {
            token_type::CONTROL | token_type::UNKNOWN => {
                special.push(AddedToken::from(tok.clone(), true).normalized(false))
            }
            token_type::USER_DEFINED => {
                user.push(AddedToken::from(tok.clone(), false).normalized(false))
            }
            _ => {}
        }
    }
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| err(format!("special tokens: {e}")))?;
    tokenizer
        .add_tokens(user)
        .map_err(|e| err(format!("user-defined tokens: {e}")))?;
    Ok(tokenizer)
}

type Parts = (BPE, Option<Json>, Option<Json>, Json);

fn gpt2_parts(vocab: &GgufVocab, ids: BpeVocab) -> Result<Parts, String> {
    let merges = vocab
        .merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("merge '{m}' is not two tokens separated by a space"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let pre = vocab.pre.as_deref().unwrap_or("default");
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |regex: &str| json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false});
    let (pre_tokenizer, ignore_merges) = match pre {
        "default" | "gpt-2" | "gpt2" => (byte_level(true), false),
        "llama-bpe" | "llama3" | "smaug-bpe" => (
            json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_REGEX), byte_level(false)]}),
            true,
        ),
        // DeepSeek-R1's Qwen distills keep Qwen2's pre-tokenizer (llama.cpp maps both
        // names to LLAMA_VOCAB_PRE_TYPE_QWEN2).
        "qwen2" | "deepseek-r1-qwen" => (
            json!({"type": "Sequence", "pretokenizers": [split(QWEN2_REGEX), byte_level(false)]}),
            false,
        ),
        "smollm" => (
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
            false,
        ),
        other => {
            return Err(format!(
                "unsupported pre-tokenizer '{other}' (supported: gpt-2, llama-bpe, qwen2, deepseek-r1-qwen, smollm)"
            ))
        }
    };
    let model = BPE::builder()
        .vocab_and_merges(ids, merges)
        .ignore_merges(ignore_merges)
        .build()
        .map_err(|e| format!("BPE model: {e}"))?;
    let decoder = json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true});
    Ok((model, None, Some(pre_tokenizer), decoder))
}

fn spm_parts(vocab: &GgufVocab, ids: BpeVocab) -> Result<Parts, String> {
    if vocab.scores.len() != vocab.tokens.len() {
        return Err("a llama (SentencePiece) tokenizer needs tokenizer.ggml.scores".into());
    }
    let merges = spm_merges(vocab, &ids);
    let mut builder = BPE::builder()
        .vocab_and_merges(ids, merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = vocab.unknown_token_id {
        builder = builder.unk_token(vocab.tokens[unk as usize].clone());
    }
    let model = builder.build().map_err(|e| format!("BPE model: {e}"))?;
    let replace = json!({"type": "Replace", "pattern": {"String": " "}, "content": SPM_SPACE});
    let normalizer = if vocab.add_space_prefix {
        json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SPM_SPACE}, replace]})
    } else {
        replace
    };
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": SPM_SPACE}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if vocab.add_space_prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    Ok((
        model,
        Some(normalizer),
        None,
        json!({"type": "Sequence", "decoders": decoders}),
    ))
}

/// SentencePiece BPE merges from scores: every split of a token into two tokens is a
/// merge, ranked by the merged token's score (higher first), ties by token id and then
/// by the ids of the two halves. llama.cpp's SPM tokenizer merges the adjacent pair whose
/// concatenation scores highest, which this ordering reproduces.
fn spm_merges(vocab: &GgufVocab, ids: &BpeVocab) -> Vec<(String, String)> {
    let mut ranked: Vec<(f32, u32, u32, u32)> = Vec::new();
    for (id, tok) in vocab.tokens.iter().enumerate() {
        if vocab.token_types[id] == token_type::BYTE {
            continue;
        }
        for (split, _) in tok.char_indices().skip(1) {
            let (l, r) = tok.split_at(split);
            if let (Some(&li), Some(&ri)) = (ids.get(l), ids.get(r)) {
                ranked.push((vocab.scores[id], id as u32, li, ri));
            }
        }
    }
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    ranked
        .into_iter()
        .map(|(_, _, l, r)| {
            (
                vocab.tokens[l as usize].clone(),
                vocab.tokens[r as usize].clone(),
            )
        })
        .collect()
}

/// BOS/EOS insertion as llama.cpp's `add_special` does, plus byte-level offsets.
fn post_processor(vocab: &GgufVocab) -> Option<Json> {
    let mut single = Vec::new();
    let mut specials = serde_json::Map::new();
    let mut special = |id: Option<u32>| {
        let id = id?;
        let tok = vocab.tokens.get(id as usize)?.clone();
        specials.insert(
            tok.clone(),
            json!({"id": tok, "ids": [id], "tokens": [tok]}),
        );
        Some(json!({"SpecialToken": {"id": tok, "type_id": 0}}))
    };
    let bos = vocab
        .add_bos_token
        .then(|| special(vocab.bos_token_id))
        .flatten();
    let eos = vocab
        .add_eos_token
        .then(|| special(vocab.eos_token_id))
        .flatten();
    single.extend(bos.clone());
    single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
    single.extend(eos.clone());
    let mut pair = single.clone();
    pair.extend(bos);
    pair.push(json!({"Sequence": {"id": "B", "type_id": 1}}));
    pair.extend(eos);
    let template = (!specials.is_empty()).then(|| {
        json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
    });
    match vocab.kind {
        VocabKind::Gpt2 => {
            let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true});
            Some(match template {
                Some(t) => json!({"type": "Sequence", "processors": [byte_level, t]}),
                None => byte_level,
            })
        }
        VocabKind::Llama => template,
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: Json) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("invalid component {v}: {e}"))
}
