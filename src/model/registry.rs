//! The model registry (`models/registry.toml`, compiled in): synthetic presets and the
//! real models that can be fetched without a model hub.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::error::{ModelError, Result};

const REGISTRY_TOML: &str = include_str!("../../models/registry.toml");

/// The shape of a synthetic llama model.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    pub description: String,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    /// Vocabulary size of the model (embedding rows).
    pub vocab: usize,
    /// Tokens the BPE learns from the corpus; the rest up to `vocab` are reserved.
    pub bpe_vocab: usize,
    pub context_length: u64,
    pub rope_theta: f32,
    pub rms_norm_eps: f32,
    /// No `output.weight`: the output projection reuses `token_embd`, as in SmolLM2 and
    /// Llama 3.2 1B.
    pub tied_embeddings: bool,
}

impl Preset {
    /// Dimension of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let n = &self.name;
        let positive = [
            self.hidden,
            self.layers,
            self.heads,
            self.kv_heads,
            self.ffn,
            self.vocab,
        ];
        if positive.contains(&0) {
            return Err(format!("preset {n}: every dimension must be positive"));
        }
        if !self.hidden.is_multiple_of(self.heads) || !self.head_dim().is_multiple_of(2) {
            return Err(format!(
                "preset {n}: hidden must split into even-sized heads"
            ));
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(format!("preset {n}: heads must be a multiple of kv_heads"));
        }
        // Every quant's block (32) must divide the rows it quantizes.
        if !self.hidden.is_multiple_of(32) || !self.ffn.is_multiple_of(32) {
            return Err(format!(
                "preset {n}: hidden and ffn must be multiples of 32"
            ));
        }
        if self.bpe_vocab > self.vocab || self.bpe_vocab < 512 {
            return Err(format!("preset {n}: need 512 <= bpe_vocab <= vocab"));
        }
        Ok(())
    }
}

/// A real model the project knows how to fetch.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KnownModel {
    pub name: String,
    pub description: String,
    /// File name inside the model cache directory.
    pub file: String,
    pub size_bytes: u64,
    pub sha256: String,
    /// Where the bytes come from.
    pub source: String,
    /// The script (relative to the repository) that fetches it.
    pub fetch: String,
}

/// The parsed registry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    #[serde(rename = "preset")]
    pub presets: Vec<Preset>,
    #[serde(rename = "model")]
    pub models: Vec<KnownModel>,
}

impl Registry {
    /// Parses and validates registry TOML.
    pub fn parse(text: &str) -> std::result::Result<Registry, String> {
        let reg: Registry = toml::from_str(text).map_err(|e| e.to_string())?;
        for p in &reg.presets {
            p.validate()?;
        }
        Ok(reg)
    }

    /// The preset called `name`.
    pub fn preset(&self, name: &str) -> Result<&Preset> {
        self.presets
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ModelError::UnknownPreset {
                name: name.to_string(),
                known: self
                    .presets
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The known real model called `name`.
    pub fn model(&self, name: &str) -> Option<&KnownModel> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// The registry compiled into this binary.
pub fn registry() -> Result<&'static Registry> {
    static REGISTRY: OnceLock<std::result::Result<Registry, String>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| Registry::parse(REGISTRY_TOML))
        .as_ref()
        .map_err(|e| ModelError::Registry(e.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_registry_parses_with_the_issue_shapes() {
        let reg = registry().expect("registry parses");
        let smol = reg.preset("llama-135m").expect("llama-135m");
        assert_eq!(
            (
                smol.hidden,
                smol.layers,
                smol.heads,
                smol.kv_heads,
                smol.ffn,
                smol.vocab
            ),
            (576, 30, 9, 3, 1536, 49152)
        );
        let l1b = reg.preset("llama-1b").expect("llama-1b");
        assert_eq!(
            (
                l1b.hidden,
                l1b.layers,
                l1b.heads,
                l1b.kv_heads,
                l1b.ffn,
                l1b.vocab
            ),
            (2048, 16, 32, 8, 8192, 128256)
        );
        let gemma = reg.model("gemma3-270m").expect("gemma");
        assert_eq!(gemma.sha256.len(), 64);
    }

    #[test]
    fn unknown_preset_lists_the_known_ones() {
        let err = registry().unwrap().preset("huge").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown synthetic preset 'huge' (known: tiny, llama-135m, llama-1b)"
        );
    }

    #[test]
    fn invalid_preset_is_rejected() {
        let text = REGISTRY_TOML.replacen("kv_heads = 2", "kv_heads = 3", 1);
        let err = Registry::parse(&text).unwrap_err();
        assert!(err.contains("multiple of kv_heads"), "{err}");
    }
}
