//! The synthetic models' tokenizer: a byte-level BPE trained deterministically with the
//! `tokenizers` crate on the text shipped in `models/corpus/`, padded with reserved
//! control tokens up to the model's vocabulary size, with a ChatML chat template.

use std::path::Path;

use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, TokenizerBuilder};

use super::error::{ModelError, Result};
use super::vocab::{token_type, GgufVocab, VocabKind};

/// The corpus files compiled into the binary: (name, text). The tokenizer is trained on
/// them, and tokenizer parity is measured on them.
pub const CORPUS: &[(&str, &str)] = &[
    ("mixed.txt", include_str!("../../models/corpus/mixed.txt")),
    (
        "rust-book.txt",
        include_str!("../../models/corpus/rust-book.txt"),
    ),
];

/// Special tokens, ids 0.. in this order: document boundary, then ChatML's turn markers.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
/// `<|endoftext|>` begins a sequence (when one is asked for).
pub const BOS_ID: u32 = 0;
/// `<|im_end|>` ends an assistant turn, so it is what generation stops at.
pub const EOS_ID: u32 = 2;

/// ChatML, as SmolLM2-Instruct uses; llama.cpp recognises it by `<|im_start|>`.
pub const CHAT_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// The corpus split into paragraphs (at blank lines), the unit both of training and of
/// parity checks. Empty paragraphs are skipped.
pub fn corpus_paragraphs() -> impl Iterator<Item = &'static str> {
    CORPUS
        .iter()
        .flat_map(|(_, text)| text.split("\n\n"))
        .filter(|p| !p.trim().is_empty())
}

/// Trains the byte-level BPE to `bpe_vocab` tokens (fewer if the corpus runs out of pairs
/// seen twice) and pads it with `<|reserved_N|>` control tokens to `vocab_size`.
///
/// The `tokenizers` trainer breaks ties between equally frequent pairs by pair id, and
/// ids follow the sorted alphabet, so the result does not depend on hash ordering.
pub fn train_synthetic_vocab(bpe_vocab: usize, vocab_size: usize) -> Result<GgufVocab> {
    let origin = Path::new("models/corpus");
    let err = |e: tokenizers::Error| ModelError::tokenizer(origin, e);
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(bpe_vocab)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(
            SPECIAL_TOKENS
                .iter()
                .map(|t| AddedToken::from(*t, true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tokenizer = TokenizerBuilder::<BPE, _, ByteLevel, ByteLevel, ByteLevel>::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
        .with_post_processor(Some(ByteLevel::new(false, false, true)))
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .map_err(err)?;
    tokenizer
        .train(&mut trainer, corpus_paragraphs())
        .map_err(err)?;

    // The model's serialized form lists the vocabulary and the merges in rank order.
    let model = serde_json::to_value(tokenizer.get_model())
        .map_err(|e| ModelError::tokenizer(origin, e))?;
    let mut tokens = vec![String::new(); tokenizer.get_model().get_vocab().len()];
    for (tok, id) in tokenizer.get_model().get_vocab() {
        match tokens.get_mut(id as usize) {
            Some(slot) => *slot = tok,
            None => return Err(ModelError::tokenizer(origin, "trained ids are not dense")),
        }
    }
    if tokens.len() > vocab_size {
        return Err(ModelError::tokenizer(
            origin,
            format!(
                "trained {} tokens, more than the vocabulary of {vocab_size}",
                tokens.len()
            ),
        ));
    }
    let merges = model["merges"]
        .as_array()
        .ok_or_else(|| ModelError::tokenizer(origin, "trained model has no merges"))?
        .iter()
        .map(|m| match m {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(pair) => match (pair.first(), pair.get(1)) {
                (Some(serde_json::Value::String(a)), Some(serde_json::Value::String(b))) => {
                    Some(format!("{a} {b}"))
                }
                _ => None,
            },
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ModelError::tokenizer(origin, "unexpected merge format"))?;

    let mut token_types: Vec<i32> = (0..tokens.len())
        .map(|i| {
            if i < SPECIAL_TOKENS.len() {
                token_type::CONTROL
            } else {
                token_type::NORMAL
            }
        })
        .collect();
    for i in 0..vocab_size - tokens.len() {
        tokens.push(format!("<|reserved_{i}|>"));
        token_types.push(token_type::CONTROL);
    }
    Ok(GgufVocab {
        kind: VocabKind::Gpt2,
        pre: Some("gpt-2".into()),
        tokens,
        token_types,
        scores: Vec::new(),
        merges,
        bos_token_id: Some(BOS_ID),
        eos_token_id: Some(EOS_ID),
        unknown_token_id: None,
        padding_token_id: Some(BOS_ID),
        add_bos_token: false,
        add_eos_token: false,
        add_space_prefix: false,
        chat_template: Some(CHAT_TEMPLATE.to_string()),
    })
}

/// How many tokens of `vocab` are learned (not reserved): synthetic weights make these
/// the likely outputs, so generated text reads as words.
pub fn learned_token_count(vocab: &GgufVocab) -> usize {
    vocab
        .token_types
        .iter()
        .filter(|&&t| t == token_type::NORMAL)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::convert::build_tokenizer;

    #[test]
    fn trained_vocab_is_padded_and_roundtrips_text() {
        let vocab = train_synthetic_vocab(1024, 1100).expect("train");
        assert_eq!(vocab.tokens.len(), 1100);
        assert_eq!(vocab.tokens[0], "<|endoftext|>");
        assert_eq!(vocab.tokens[1099], "<|reserved_75|>");
        assert_eq!(learned_token_count(&vocab), 1024 - 3);
        // 1024 tokens = 3 specials + 256 bytes + 765 merges.
        assert_eq!(vocab.merges.len(), 1024 - 3 - 256);
        let tok = build_tokenizer(&vocab, Path::new("test")).expect("build");
        let text = "Ownership rules: each value has an owner. Größe 🦀";
        let enc = tok.encode(text, false).expect("encode");
        assert!(enc.get_ids().len() < text.len(), "merges should apply");
        assert_eq!(tok.decode(enc.get_ids(), false).expect("decode"), text);
    }
}
