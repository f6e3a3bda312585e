//! `model inspect`: what a GGUF holds, from its header alone: architecture and shapes,
//! parameter count, bytes per tensor type, weight bytes read per decoded token, and the
//! tokenizer it carries.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::error::{ModelError, Result};
use super::gguf::{value_u64, GgufFile, TensorInfo};

/// Everything `model inspect` reports about one GGUF.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub path: PathBuf,
    pub file_size_bytes: u64,
    pub gguf_version: u32,
    pub architecture: String,
    pub name: Option<String>,
    /// `general.file_type` (llama.cpp's `llama_ftype`), when present.
    pub file_type: Option<u64>,
    pub hparams: Hparams,
    pub parameter_count: u64,
    pub tensor_count: usize,
    /// Bytes of all tensor data.
    pub weight_bytes: u64,
    /// Weight bytes one decode step reads: every matrix once, but only one row of the
    /// token embedding (all of it when the output projection is tied to it), and only
    /// the active share of MoE experts. KV-cache reads come on top and grow with context.
    pub bytes_read_per_token: u64,
    /// Per ggml type: tensors, parameters and bytes.
    pub bytes_by_type: BTreeMap<String, TypeTotals>,
    pub tokenizer: TokenizerSummary,
    pub tensors: Vec<TensorSummary>,
}

/// The architecture's hyperparameters, from `<arch>.*` metadata.
#[derive(Debug, Clone, Serialize)]
pub struct Hparams {
    pub context_length: u64,
    pub embedding_length: u64,
    pub block_count: u64,
    pub feed_forward_length: Option<u64>,
    pub head_count: u64,
    pub head_count_kv: Option<u64>,
    pub head_dim: Option<u64>,
    pub rope_dimension_count: Option<u64>,
    pub rope_freq_base: Option<f64>,
    pub rms_norm_eps: Option<f64>,
    pub vocab_size: Option<u64>,
    pub tied_embeddings: bool,
}

/// Totals for one ggml type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TypeTotals {
    pub tensors: usize,
    pub parameters: u64,
    pub bytes: u64,
}

/// The tokenizer embedded in the GGUF.
#[derive(Debug, Clone, Serialize)]
pub struct TokenizerSummary {
    /// `tokenizer.ggml.model`: `llama` (SentencePiece), `gpt2` (byte-level BPE), ...
    pub kind: Option<String>,
    /// `tokenizer.ggml.pre`, the pre-tokenizer of BPE vocabularies.
    pub pre: Option<String>,
    pub vocab_size: usize,
    pub merges: usize,
    pub bos_token_id: Option<u64>,
    pub eos_token_id: Option<u64>,
    pub chat_template_present: bool,
}

/// One tensor, for the JSON listing.
#[derive(Debug, Clone, Serialize)]
pub struct TensorSummary {
    pub name: String,
    /// Row-major shape (outermost first).
    pub shape: Vec<u64>,
    #[serde(rename = "type")]
    pub ggml_type: String,
    pub bytes: u64,
}

/// The architecture keys a model GGUF must carry to be loadable at all.
const REQUIRED_ARCH_KEYS: &[&str] = &[
    "context_length",
    "embedding_length",
    "block_count",
    "attention.head_count",
];

impl ModelReport {
    /// Whether most weight bytes are integer-quantized (so int8 dot products, not f32
    /// FMA, bound prefill).
    pub fn mostly_quantized(&self) -> bool {
        self.bytes_by_type
            .iter()
            .max_by_key(|(_, t)| t.bytes)
            .is_some_and(|(name, _)| {
                let n = name.to_ascii_lowercase();
                n.starts_with('q') || n.starts_with("iq")
            })
    }

    /// Builds the report, failing with `MissingKey` when an architecture key is absent.
    pub fn from_gguf(g: &GgufFile) -> Result<ModelReport> {
        let arch = g.architecture()?.to_string();
        let key = |k: &str| format!("{arch}.{k}");
        for k in REQUIRED_ARCH_KEYS {
            if arch_u64(g, &key(k)).is_none() {
                return Err(ModelError::MissingKey {
                    path: g.path.clone(),
                    key: key(k),
                    detail: format!(" (required for architecture '{arch}')"),
                });
            }
        }
        let req = |k: &str| arch_u64(g, &key(k)).unwrap_or_default();
        let embedding_length = req("embedding_length");
        let head_count = req("attention.head_count");
        let head_dim = arch_u64(g, &key("attention.key_length"))
            .or_else(|| (head_count > 0).then(|| embedding_length / head_count));
        let tied = g.tensor("output.weight").is_none();
        let tokens = g.get_array("tokenizer.ggml.tokens").map_or(0, <[_]>::len);
        let hparams = Hparams {
            context_length: req("context_length"),
            embedding_length,
            block_count: req("block_count"),
            feed_forward_length: arch_u64(g, &key("feed_forward_length")),
            head_count,
            head_count_kv: arch_u64(g, &key("attention.head_count_kv")),
            head_dim,
            rope_dimension_count: arch_u64(g, &key("rope.dimension_count")),
            rope_freq_base: g.get_f64(&key("rope.freq_base")),
            rms_norm_eps: g.get_f64(&key("attention.layer_norm_rms_epsilon")),
            vocab_size: arch_u64(g, &key("vocab_size"))
                .or_else(|| (tokens > 0).then_some(tokens as u64)),
            tied_embeddings: tied,
        };

        let mut bytes_by_type: BTreeMap<String, TypeTotals> = BTreeMap::new();
        for t in &g.tensors {
            let e = bytes_by_type
                .entry(t.ggml_type.name.to_string())
                .or_default();
            e.tensors += 1;
            e.parameters += t.n_elements();
            e.bytes += t.n_bytes;
        }
        let weight_bytes = g.tensors.iter().map(|t| t.n_bytes).sum();
        let tokenizer = TokenizerSummary {
            kind: g.get_str("tokenizer.ggml.model").map(str::to_string),
            pre: g.get_str("tokenizer.ggml.pre").map(str::to_string),
            vocab_size: tokens,
            merges: g.get_array("tokenizer.ggml.merges").map_or(0, <[_]>::len),
            bos_token_id: g.get_u64("tokenizer.ggml.bos_token_id"),
            eos_token_id: g.get_u64("tokenizer.ggml.eos_token_id"),
            chat_template_present: g.get_str("tokenizer.chat_template").is_some(),
        };
        Ok(ModelReport {
            path: g.path.clone(),
            file_size_bytes: g.file_size,
            gguf_version: g.version,
            name: g.get_str("general.name").map(str::to_string),
            file_type: g.get_u64("general.file_type"),
            parameter_count: g.tensors.iter().map(TensorInfo::n_elements).sum(),
            tensor_count: g.tensors.len(),
            weight_bytes,
            bytes_read_per_token: bytes_read_per_token(g, &arch, tied),
            bytes_by_type,
            tokenizer,
            tensors: g
                .tensors
                .iter()
                .map(|t| TensorSummary {
                    name: t.name.clone(),
                    shape: t.shape(),
                    ggml_type: t.ggml_type.name.to_string(),
                    bytes: t.n_bytes,
                })
                .collect(),
            hparams,
            architecture: arch,
        })
    }

    /// The human-readable form: a summary, then the shapes of the non-repeated tensors
    /// and of block 0 (every block has the same shapes).
    pub fn to_text(&self) -> String {
        let h = &self.hparams;
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let mut s = String::new();
        let _ = writeln!(s, "file          {}", self.path.display());
        let _ = writeln!(
            s,
            "size          {} ({} bytes), GGUF v{}",
            human_bytes(self.file_size_bytes),
            self.file_size_bytes,
            self.gguf_version
        );
        let _ = writeln!(
            s,
            "architecture  {}{}",
            self.architecture,
            self.name
                .as_deref()
                .map_or(String::new(), |n| format!(" ({n})"))
        );
        let _ = writeln!(
            s,
            "shape         hidden {}, layers {}, heads {}, kv heads {}, head dim {}, ffn {}, vocab {}, context {}{}",
            h.embedding_length,
            h.block_count,
            h.head_count,
            opt(h.head_count_kv),
            opt(h.head_dim),
            opt(h.feed_forward_length),
            opt(h.vocab_size),
            h.context_length,
            if h.tied_embeddings { ", tied embeddings" } else { "" }
        );
        let _ = writeln!(
            s,
            "parameters    {} ({:.1} M) in {} tensors",
            self.parameter_count,
            self.parameter_count as f64 / 1e6,
            self.tensor_count
        );
        let _ = writeln!(
            s,
            "weights       {} ({} bytes); read per decoded token: {} ({} bytes)",
            human_bytes(self.weight_bytes),
            self.weight_bytes,
            human_bytes(self.bytes_read_per_token),
            self.bytes_read_per_token
        );
        for (ty, t) in &self.bytes_by_type {
            let _ = writeln!(
                s,
                "  {ty:<8} {:>4} tensors {:>14} params {:>12}",
                t.tensors,
                t.parameters,
                human_bytes(t.bytes)
            );
        }
        let tk = &self.tokenizer;
        let _ = writeln!(
            s,
            "tokenizer     {}{}, {} tokens, {} merges, bos {}, eos {}, chat template {}",
            tk.kind.as_deref().unwrap_or("none"),
            tk.pre
                .as_deref()
                .map_or(String::new(), |p| format!(" (pre {p})")),
            tk.vocab_size,
            tk.merges,
            opt(tk.bos_token_id),
            opt(tk.eos_token_id),
            if tk.chat_template_present {
                "yes"
            } else {
                "no"
            }
        );
        let _ = writeln!(s, "tensors (blk.0 stands for every block):");
        for t in self
            .tensors
            .iter()
            .filter(|t| !t.name.starts_with("blk.") || t.name.starts_with("blk.0."))
        {
            let _ = writeln!(s, "  {:<28} {:<8} {:?}", t.name, t.ggml_type, t.shape);
        }
        s
    }
}

/// An architecture integer that may also be stored per layer as an array (the largest
/// entry is what sizes buffers).
fn arch_u64(g: &GgufFile, key: &str) -> Option<u64> {
    g.get_u64(key)
        .or_else(|| g.get_array(key)?.iter().filter_map(value_u64).max())
}

fn bytes_read_per_token(g: &GgufFile, arch: &str, tied: bool) -> u64 {
    let experts = arch_u64(g, &format!("{arch}.expert_count")).filter(|&n| n > 0);
    let used = arch_u64(g, &format!("{arch}.expert_used_count"));
    g.tensors
        .iter()
        .map(|t| {
            if t.name == "token_embd.weight" && !tied {
                // A lookup reads one row.
                let rows = t.dims.get(1).copied().unwrap_or(1).max(1);
                t.n_bytes / rows
            } else if let (true, Some(n), Some(k)) = (t.name.contains("_exps"), experts, used) {
                t.n_bytes / n * k.min(n)
            } else {
                t.n_bytes
            }
        })
        .sum()
}

/// 1536 -> "1.5 KiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
