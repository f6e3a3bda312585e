//! The models candle runs, one variant per architecture behind one interface (`forward`,
//! `clear`), and loading them with their tokenizer, chat template and end-of-generation
//! tokens: quantized GGUF chosen by `general.architecture`, or a llama safetensors
//! directory.

use std::collections::BTreeMap;
use std::fs::File;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::{
    quantized_gemma3, quantized_llama, quantized_qwen2, quantized_qwen3,
};
use tokenizers::Tokenizer;

use super::safetensors::LlamaDir;
use super::{setup, MAX_CTX};
use crate::engine::template::ChatTemplate;
use crate::engine::{prompt, EngineError, WeightDType};
use crate::model::{gguf, GgufFile, ModelFormat, ModelReport, ResolvedModel};

/// The GGUF architectures candle runs (`general.architecture`).
pub const SUPPORTED_GGUF: [&str; 4] = ["llama", "gemma3", "qwen2", "qwen3"];

/// Token texts llama.cpp also treats as end of generation when the vocabulary has them.
const END_OF_TURN: [&str; 5] = [
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
];

/// A loaded model's weights, by architecture.
pub enum Weights {
    Llama(quantized_llama::ModelWeights),
    Gemma3(quantized_gemma3::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
    Safetensors(LlamaDir),
}

impl Weights {
    /// Logits `[vocab]` (f32) after the last of `input` (`[1, seq]` token ids), which sit at
    /// positions `index_pos..` of the sequence.
    pub fn forward(&mut self, input: &Tensor, index_pos: usize) -> candle_core::Result<Tensor> {
        let logits = match self {
            Weights::Llama(m) => m.forward(input, index_pos)?,
            Weights::Gemma3(m) => m.forward(input, index_pos)?,
            Weights::Qwen2(m) => m.forward(input, index_pos)?,
            Weights::Qwen3(m) => m.forward(input, index_pos)?,
            Weights::Safetensors(m) => m.forward(input, index_pos)?,
        };
        logits.squeeze(0)?.to_dtype(candle_core::DType::F32)
    }

    /// Forgets the sequence in the KV cache, so the next forward starts a new one.
    /// quantized_qwen3 appends to its cache whatever the position, so it must be cleared;
    /// the llama and qwen2 models restart at position 0 but clearing also frees the
    /// memory; quantized_gemma3 has no clear and restarts its cache at position 0.
    pub fn clear(&mut self) {
        match self {
            Weights::Llama(m) => m.clear_kv_cache(),
            Weights::Gemma3(_) => {}
            Weights::Qwen2(m) => m.clear_kv_cache(),
            Weights::Qwen3(m) => m.clear_kv_cache(),
            Weights::Safetensors(m) => m.clear(),
        }
    }
}

/// A model ready to run, with what the engine needs around it.
pub struct Loaded {
    pub weights: Weights,
    pub tokenizer: Tokenizer,
    pub template: Option<ChatTemplate>,
    /// Tokens that end generation (unless ignore-EOS).
    pub end_ids: Vec<u32>,
    /// Rows of the logits.
    pub vocab_size: usize,
    /// Tokens a sequence may hold.
    pub n_ctx: usize,
    /// Facts for EngineInfo details.
    pub details: BTreeMap<String, String>,
}

/// Loads `model` onto `device`.
pub fn load(
    model: &ResolvedModel,
    device: &Device,
    dtype: Option<WeightDType>,
) -> Result<Loaded, EngineError> {
    match model.format {
        ModelFormat::Gguf => {
            if let Some(d) = dtype.filter(|&d| d != WeightDType::F32) {
                return Err(setup(format!(
                    "--dtype {d} applies to safetensors models; a GGUF keeps its own weight types and candle computes it in f32"
                )));
            }
            load_gguf(model, device)
        }
        ModelFormat::SafetensorsDir => super::safetensors::load(model, device, dtype),
    }
}

fn load_gguf(model: &ResolvedModel, device: &Device) -> Result<Loaded, EngineError> {
    let path = &model.path;
    // Our reader checks the header and tensor table first: a corrupt file is one clear
    // line here, before candle reads it.
    let g = GgufFile::open(path).map_err(|e| setup(e.to_string()))?;
    let arch = g
        .architecture()
        .map_err(|e| setup(e.to_string()))?
        .to_owned();
    if !SUPPORTED_GGUF.contains(&arch.as_str()) {
        return Err(setup(format!(
            "{}: architecture `{arch}` is not supported by candle here (supported: {})",
            path.display(),
            SUPPORTED_GGUF.join(", ")
        )));
    }
    let tokenizer = match &model.tokenizer_json {
        Some(p) => Tokenizer::from_file(p)
            .map_err(|e| setup(format!("{}: tokenizer: {e}", p.display())))?,
        None => crate::model::tokenizer_from_gguf(&g).map_err(|e| setup(e.to_string()))?,
    };
    let report = ModelReport::from_gguf(&g).map_err(|e| setup(e.to_string()))?;

    let cant_load = |e: candle_core::Error| {
        setup(format!(
            "candle cannot load {}: {}",
            path.display(),
            first_line(&e.to_string())
        ))
    };
    let mut file = File::open(path).map_err(|e| setup(format!("{}: {e}", path.display())))?;
    let content = gguf_file::Content::read(&mut file).map_err(cant_load)?;
    let weights = match arch.as_str() {
        "llama" => Weights::Llama(
            quantized_llama::ModelWeights::from_gguf(content, &mut file, device)
                .map_err(cant_load)?,
        ),
        "gemma3" => Weights::Gemma3(
            quantized_gemma3::ModelWeights::from_gguf(content, &mut file, device)
                .map_err(cant_load)?,
        ),
        "qwen2" => Weights::Qwen2(
            quantized_qwen2::ModelWeights::from_gguf(content, &mut file, device)
                .map_err(cant_load)?,
        ),
        _ => Weights::Qwen3(
            quantized_qwen3::ModelWeights::from_gguf(content, &mut file, device)
                .map_err(cant_load)?,
        ),
    };

    let id = |k: &str| g.get_u64(k).and_then(|v| u32::try_from(v).ok());
    let (bos, eos) = (
        id("tokenizer.ggml.bos_token_id"),
        id("tokenizer.ggml.eos_token_id"),
    );
    let mut end_ids: Vec<u32> = [
        eos,
        id("tokenizer.ggml.eot_token_id"),
        id("tokenizer.ggml.eom_token_id"),
    ]
    .into_iter()
    .flatten()
    .collect();
    end_ids.extend(END_OF_TURN.iter().filter_map(|t| tokenizer.token_to_id(t)));
    end_ids.sort_unstable();
    end_ids.dedup();
    let template = match g.get_str("tokenizer.chat_template") {
        Some(src) => Some(chat_template(src, &tokenizer, bos, eos)?),
        None => None,
    };
    let vocab_size = g
        .get_array("tokenizer.ggml.tokens")
        .map_or(tokenizer.get_vocab_size(true), <[_]>::len);
    let n_ctx = (report.hparams.context_length as usize).clamp(1, MAX_CTX);

    let mut details = BTreeMap::new();
    details.insert("architecture".into(), arch.clone());
    details.insert("format".into(), "gguf".into());
    details.insert("dtype".into(), "f32".into());
    details.insert("quantization".into(), quantization(&report));
    details.insert("n_params".into(), report.parameter_count.to_string());
    details.insert("model_size_bytes".into(), report.weight_bytes.to_string());
    details.insert(
        "model_type".into(),
        gguf::type_label(
            &arch,
            report.parameter_count,
            report.file_type.map_or("?", gguf::file_type_name),
        ),
    );
    details.insert("n_ctx".into(), n_ctx.to_string());
    details.insert(
        "tokenizer".into(),
        match &model.tokenizer_json {
            Some(p) => p.display().to_string(),
            None => "converted from GGUF".into(),
        },
    );
    details.insert(
        "chat_template".into(),
        if template.is_some() {
            "model".into()
        } else {
            prompt::NO_TEMPLATE.into()
        },
    );
    Ok(Loaded {
        weights,
        tokenizer,
        template,
        end_ids,
        vocab_size,
        n_ctx,
        details,
    })
}

/// Compiles a chat template with the model's BOS and EOS texts.
pub fn chat_template(
    src: &str,
    tokenizer: &Tokenizer,
    bos: Option<u32>,
    eos: Option<u32>,
) -> Result<ChatTemplate, EngineError> {
    let piece = |id: Option<u32>| {
        id.and_then(|i| tokenizer.id_to_token(i))
            .unwrap_or_default()
    };
    ChatTemplate::new(src, &piece(bos), &piece(eos))
        .map_err(|e| setup(format!("the model's chat template does not parse: {e}")))
}

/// The weight types by share of the bytes, largest first: `Q8_0 96%, F32 4%`.
fn quantization(report: &ModelReport) -> String {
    let total: u64 = report.bytes_by_type.values().map(|t| t.bytes).sum();
    let mut types: Vec<(&String, u64)> = report
        .bytes_by_type
        .iter()
        .map(|(k, t)| (k, t.bytes))
        .collect();
    types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    types
        .iter()
        .map(|(k, b)| format!("{k} {:.0}%", *b as f64 * 100.0 / total.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// candle's errors can carry a backtrace or context on later lines; a setup error stays
/// on one.
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}
