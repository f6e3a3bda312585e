//! A llama model from a directory (config.json, tokenizer.json, *.safetensors) through
//! candle_transformers' `llama`, in f32, f16 or bf16.
//!
//! candle's loader panics when a layer's tensor is missing or misshapen, so every tensor
//! the config implies is checked against the files first, and a mismatch is one clear
//! error naming the tensor.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama::{Cache, Config, Llama, LlamaConfig, LlamaEosToks};
use tokenizers::Tokenizer;

use super::model::{chat_template, first_line, Loaded, Weights};
use super::{setup, MAX_CTX};
use crate::engine::{prompt, EngineError, WeightDType};
use crate::model::ResolvedModel;

/// A llama model and its KV cache.
pub struct LlamaDir {
    model: Llama,
    /// The cache as created: RoPE tables and no keys or values. Each sequence starts from a
    /// clone of it (tensors are shared, so the clone is cheap).
    empty: Cache,
    cache: Cache,
}

impl LlamaDir {
    pub fn forward(&mut self, input: &Tensor, index_pos: usize) -> candle_core::Result<Tensor> {
        if index_pos == 0 {
            // candle's llama appends to its cache whatever the position.
            self.clear();
        }
        self.model.forward(input, index_pos, &mut self.cache)
    }

    pub fn clear(&mut self) {
        self.cache = self.empty.clone();
    }
}

/// Loads a llama directory in `dtype` (default f32).
pub fn load(
    model: &ResolvedModel,
    device: &Device,
    dtype: Option<WeightDType>,
) -> Result<Loaded, EngineError> {
    let dir = &model.path;
    let config_path = model
        .config_json
        .clone()
        .unwrap_or_else(|| dir.join("config.json"));
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| setup(format!("{}: {e}", config_path.display())))?;
    let raw: LlamaConfig = serde_json::from_str(&text).map_err(|e| {
        setup(format!(
            "{}: not a llama config candle can read: {e}",
            config_path.display()
        ))
    })?;
    let wanted = dtype.unwrap_or_default();
    let dt = match wanted {
        WeightDType::F32 => DType::F32,
        WeightDType::F16 => DType::F16,
        WeightDType::Bf16 => DType::BF16,
    };
    probe_dtype(device, dt, wanted)?;
    let eos_ids = match &raw.eos_token_id {
        Some(LlamaEosToks::Single(id)) => vec![*id],
        Some(LlamaEosToks::Multiple(ids)) => ids.clone(),
        None => Vec::new(),
    };
    let bos = raw.bos_token_id;
    let config = raw.into_config(false);
    check_config(&config, &config_path)?;

    // SAFETY: the files are memory-mapped read-only; nativebench does not write them while
    // a model is loaded.
    let st = unsafe { MmapedSafetensors::multi(&model.weights) }
        .map_err(|e| setup(format!("{}: {}", dir.display(), first_line(&e.to_string()))))?;
    check_tensors(&config, &st, dir)?;
    let vb = VarBuilder::from_backend(Box::new(st), dt, device.clone());
    let cant = |e: candle_core::Error| {
        setup(format!(
            "candle cannot load {}: {}",
            dir.display(),
            first_line(&e.to_string())
        ))
    };
    let llama = Llama::load(vb, &config).map_err(cant)?;
    let empty = Cache::new(true, dt, &config, device).map_err(cant)?;

    let tok_path = model
        .tokenizer_json
        .clone()
        .unwrap_or_else(|| dir.join("tokenizer.json"));
    let tokenizer = Tokenizer::from_file(&tok_path)
        .map_err(|e| setup(format!("{}: tokenizer: {e}", tok_path.display())))?;
    let template = match template_source(dir)? {
        Some(src) => Some(chat_template(
            &src,
            &tokenizer,
            bos,
            eos_ids.first().copied(),
        )?),
        None => None,
    };
    let n_ctx = config.max_position_embeddings.clamp(1, MAX_CTX);
    let n_params = config_params(&config);

    let mut details = BTreeMap::new();
    details.insert("architecture".into(), "llama".into());
    details.insert("format".into(), "safetensors".into());
    details.insert("dtype".into(), wanted.to_string());
    details.insert("quantization".into(), "none".into());
    details.insert("n_params".into(), n_params.to_string());
    details.insert(
        "model_type".into(),
        crate::model::gguf::type_label("llama", n_params as u64, &wanted.as_str().to_uppercase()),
    );
    details.insert("n_ctx".into(), n_ctx.to_string());
    details.insert("tokenizer".into(), tok_path.display().to_string());
    details.insert(
        "chat_template".into(),
        if template.is_some() {
            "tokenizer_config.json".into()
        } else {
            prompt::NO_TEMPLATE.into()
        },
    );
    Ok(Loaded {
        weights: Weights::Safetensors(LlamaDir {
            model: llama,
            cache: empty.clone(),
            empty,
        }),
        tokenizer,
        template,
        end_ids: eos_ids,
        vocab_size: config.vocab_size,
        n_ctx,
        details,
    })
}

/// Runs a small matmul and softmax in `dt` on the device, so that a dtype the device
/// cannot compute in fails here, clearly, rather than in the middle of a forward pass.
fn probe_dtype(device: &Device, dt: DType, wanted: WeightDType) -> Result<(), EngineError> {
    let probe = || -> candle_core::Result<Vec<Vec<f32>>> {
        let a = Tensor::ones((4, 4), DType::F32, device)?.to_dtype(dt)?;
        let m = a.matmul(&a)?;
        candle_nn::ops::softmax_last_dim(&m)?
            .to_dtype(DType::F32)?
            .to_vec2()
    };
    probe().map(|_| ()).map_err(|e| {
        setup(format!(
            "the device {} cannot compute in {wanted}: {}",
            crate::engine::device::spec_of(device),
            first_line(&e.to_string())
        ))
    })
}

fn check_config(c: &Config, path: &Path) -> Result<(), EngineError> {
    let bad = |why: String| setup(format!("{}: {why}", path.display()));
    let positive = [
        ("hidden_size", c.hidden_size),
        ("intermediate_size", c.intermediate_size),
        ("vocab_size", c.vocab_size),
        ("num_hidden_layers", c.num_hidden_layers),
        ("num_attention_heads", c.num_attention_heads),
        ("num_key_value_heads", c.num_key_value_heads),
    ];
    for (k, v) in positive {
        if v == 0 {
            return Err(bad(format!("{k} must be at least 1")));
        }
    }
    if !c.hidden_size.is_multiple_of(c.num_attention_heads) {
        return Err(bad(format!(
            "hidden_size {} is not a multiple of num_attention_heads {}",
            c.hidden_size, c.num_attention_heads
        )));
    }
    if !c.num_attention_heads.is_multiple_of(c.num_key_value_heads) {
        return Err(bad(format!(
            "num_attention_heads {} is not a multiple of num_key_value_heads {}",
            c.num_attention_heads, c.num_key_value_heads
        )));
    }
    Ok(())
}

/// Every tensor `config` implies, with its shape, as candle's llama loads them.
fn expected_tensors(c: &Config) -> Vec<(String, Vec<usize>)> {
    let (h, f, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
    let head_dim = h / c.num_attention_heads;
    let (q, kv) = (
        head_dim * c.num_attention_heads,
        head_dim * c.num_key_value_heads,
    );
    let mut t = vec![
        ("model.embed_tokens.weight".to_string(), vec![v, h]),
        ("model.norm.weight".to_string(), vec![h]),
    ];
    if !c.tie_word_embeddings {
        t.push(("lm_head.weight".into(), vec![v, h]));
    }
    for i in 0..c.num_hidden_layers {
        let p = format!("model.layers.{i}");
        for (name, shape) in [
            ("self_attn.q_proj.weight", vec![q, h]),
            ("self_attn.k_proj.weight", vec![kv, h]),
            ("self_attn.v_proj.weight", vec![kv, h]),
            ("self_attn.o_proj.weight", vec![h, q]),
            ("mlp.gate_proj.weight", vec![f, h]),
            ("mlp.up_proj.weight", vec![f, h]),
            ("mlp.down_proj.weight", vec![h, f]),
            ("input_layernorm.weight", vec![h]),
            ("post_attention_layernorm.weight", vec![h]),
        ] {
            t.push((format!("{p}.{name}"), shape));
        }
    }
    t
}

fn check_tensors(c: &Config, st: &MmapedSafetensors, dir: &Path) -> Result<(), EngineError> {
    let have: HashMap<String, Vec<usize>> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    let mismatch = |why: String| {
        setup(format!(
            "{}: the safetensors do not match config.json: {why}",
            dir.display()
        ))
    };
    for (name, shape) in expected_tensors(c) {
        match have.get(&name) {
            None => return Err(mismatch(format!("no tensor {name}"))),
            Some(s) if *s != shape => {
                return Err(mismatch(format!(
                    "{name} has shape {s:?}, config.json implies {shape:?}"
                )))
            }
            Some(_) => {}
        }
    }
    let layers_in_files = have
        .keys()
        .filter_map(|k| {
            k.strip_prefix("model.layers.")?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .map_or(0, |m| m + 1);
    if layers_in_files > c.num_hidden_layers {
        return Err(mismatch(format!(
            "the files hold {layers_in_files} layers, config.json says num_hidden_layers = {}",
            c.num_hidden_layers
        )));
    }
    Ok(())
}

fn config_params(c: &Config) -> usize {
    expected_tensors(c)
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum()
}

/// The chat template of `tokenizer_config.json`, when it has one as a string.
fn template_source(dir: &Path) -> Result<Option<String>, EngineError> {
    let path = dir.join("tokenizer_config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| setup(format!("{}: {e}", path.display())))?;
    Ok(v.get("chat_template")
        .and_then(|t| t.as_str())
        .map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        LlamaConfig {
            hidden_size: 8,
            intermediate_size: 16,
            vocab_size: 10,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            rms_norm_eps: 1e-5,
            rope_theta: 10000.0,
            bos_token_id: None,
            eos_token_id: None,
            rope_scaling: None,
            max_position_embeddings: 64,
            tie_word_embeddings: Some(true),
        }
        .into_config(false)
    }

    #[test]
    fn the_config_implies_every_tensor_with_its_shape() {
        let t: BTreeMap<String, Vec<usize>> = expected_tensors(&config()).into_iter().collect();
        assert_eq!(t.len(), 2 + 2 * 9, "tied embeddings: no lm_head");
        assert_eq!(t["model.layers.1.self_attn.k_proj.weight"], vec![4, 8]);
        assert_eq!(t["model.layers.0.mlp.down_proj.weight"], vec![8, 16]);
    }

    #[test]
    fn impossible_head_counts_are_errors() {
        let mut c = config();
        c.num_key_value_heads = 3;
        let e = check_config(&c, Path::new("config.json")).unwrap_err();
        assert!(
            e.to_string()
                .contains("not a multiple of num_key_value_heads"),
            "{e}"
        );
        c.num_attention_heads = 0;
        assert!(check_config(&c, Path::new("config.json")).is_err());
    }
}
