//! The synthetic model writer: a llama-architecture GGUF (GQA, RoPE, RMSNorm, SwiGLU)
//! with seeded random weights and the trained byte-level BPE tokenizer, plus the same
//! tokenizer as `tokenizer.json`.
//!
//! Output is byte-identical for the same preset, quant and seed: the metadata and tensors
//! are written in a fixed order, every tensor draws from its own generator seeded by
//! (seed, tensor name), so tensors can be generated and quantized on several threads
//! without changing a byte, and the generator is our own SplitMix64 rather than a library
//! RNG whose stream may change between versions.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use serde::Serialize;

use super::convert::build_tokenizer;
use super::error::{ModelError, Result};
use super::registry::Preset;
use super::tokenizer::{learned_token_count, train_synthetic_vocab};

/// Bumped whenever the bytes the writer produces change, so cached files are not reused
/// across incompatible versions.
pub const GENERATOR_VERSION: u32 = 2;
/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 0;
/// Rows of the output projection that belong to special and reserved tokens are scaled
/// down by this factor, so that greedy decoding picks learned tokens (text) rather than
/// reserved ones, and never EOS. The arithmetic per token is unchanged.
const RESERVED_ROW_SCALE: f32 = 0.01;

/// Weight storage types the writer produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Quant {
    F32,
    F16,
    Q8_0,
    Q4_0,
    Q4K,
}

impl Quant {
    /// Every quant, in the order the CLI lists them.
    pub const ALL: [Quant; 5] = [Quant::F32, Quant::F16, Quant::Q8_0, Quant::Q4_0, Quant::Q4K];

    /// The CLI / file-name spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Quant::F32 => "f32",
            Quant::F16 => "f16",
            Quant::Q8_0 => "q8_0",
            Quant::Q4_0 => "q4_0",
            Quant::Q4K => "q4_k",
        }
    }

    /// The storage type of a matrix whose rows are `row_len` wide. Q4_K needs rows that
    /// are a multiple of 256; like llama.cpp's quantizer, narrower rows fall back to Q5_0.
    fn dtype_for_rows(self, row_len: usize) -> GgmlDType {
        match self {
            Quant::F32 => GgmlDType::F32,
            Quant::F16 => GgmlDType::F16,
            Quant::Q8_0 => GgmlDType::Q8_0,
            Quant::Q4_0 => GgmlDType::Q4_0,
            Quant::Q4K if row_len.is_multiple_of(256) => GgmlDType::Q4K,
            Quant::Q4K => GgmlDType::Q5_0,
        }
    }

    /// llama.cpp's `llama_ftype` for `general.file_type`.
    fn file_type(self) -> u32 {
        match self {
            Quant::F32 => 0,
            Quant::F16 => 1,
            Quant::Q4_0 => 2,
            Quant::Q8_0 => 7,
            Quant::Q4K => 14, // MOSTLY_Q4_K_S: Q4_K, with fallbacks for narrow rows
        }
    }
}

impl FromStr for Quant {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Quant> {
        Quant::ALL
            .into_iter()
            .find(|q| {
                q.as_str().eq_ignore_ascii_case(s)
                    || (s.eq_ignore_ascii_case("q4k") && *q == Quant::Q4K)
            })
            .ok_or_else(|| ModelError::UnknownQuant {
                name: s.to_string(),
            })
    }
}

impl std::fmt::Display for Quant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `synthesize` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SynthSummary {
    pub preset: String,
    pub quant: Quant,
    pub seed: u64,
    pub gguf: PathBuf,
    pub tokenizer_json: PathBuf,
    pub file_size_bytes: u64,
    pub parameter_count: u64,
    pub vocab_size: usize,
    pub learned_tokens: usize,
    pub elapsed_s: f64,
}

/// The tokenizer.json written beside a synthetic GGUF: `x.gguf` -> `x.tokenizer.json`.
pub fn tokenizer_json_path(gguf: &Path) -> PathBuf {
    gguf.with_extension("tokenizer.json")
}

/// One tensor to generate.
struct Plan {
    name: String,
    /// Row-major shape: `[rows, cols]` for matrices (cols is the contiguous dim), `[n]`
    /// for norms.
    shape: Vec<usize>,
    /// Standard deviation of the weights; `None` for norm weights (all ones).
    std: Option<f32>,
    /// Embedding matrices only: the rows `[start, end)` of learned tokens; the other rows
    /// (special and reserved tokens) are scaled by `RESERVED_ROW_SCALE`.
    learned_rows: Option<(usize, usize)>,
    dtype: GgmlDType,
}

fn plans(p: &Preset, quant: Quant, learned: &[bool]) -> Vec<Plan> {
    let (h, hd, ffn, v) = (p.hidden, p.head_dim(), p.ffn, p.vocab);
    let q_dim = p.heads * hd;
    let kv_dim = p.kv_heads * hd;
    let matrix = |name: String, rows: usize, cols: usize| Plan {
        name,
        shape: vec![rows, cols],
        std: Some(1.0 / (cols as f32).sqrt()),
        learned_rows: None,
        dtype: quant.dtype_for_rows(cols),
    };
    let norm = |name: String| Plan {
        name,
        shape: vec![h],
        std: None,
        learned_rows: None,
        dtype: GgmlDType::F32,
    };
    // Logits get a standard deviation of about 2 either way (a normalised hidden state
    // has norm sqrt(h)); the embedding scale only sets the residual stream's start.
    let embedding = |name: &str| Plan {
        name: name.to_string(),
        shape: vec![v, h],
        std: Some(2.0 / (h as f32).sqrt()),
        learned_rows: Some(learned_span(learned)),
        dtype: quant.dtype_for_rows(h),
    };
    let mut out = vec![embedding("token_embd.weight")];
    for l in 0..p.layers {
        let b = |t: &str| format!("blk.{l}.{t}.weight");
        out.push(norm(b("attn_norm")));
        out.push(matrix(b("attn_q"), q_dim, h));
        out.push(matrix(b("attn_k"), kv_dim, h));
        out.push(matrix(b("attn_v"), kv_dim, h));
        out.push(Plan {
            std: Some(attn_output_std(p.layers, q_dim)),
            ..matrix(b("attn_output"), h, q_dim)
        });
        out.push(norm(b("ffn_norm")));
        out.push(matrix(b("ffn_gate"), ffn, h));
        out.push(matrix(b("ffn_up"), ffn, h));
        out.push(matrix(b("ffn_down"), h, ffn));
    }
    out.push(norm("output_norm.weight".to_string()));
    if !p.tied_embeddings {
        out.push(embedding("output.weight"));
    }
    out
}

/// Attention output projections are scaled down by 1/sqrt(layers) (as GPT-2 scales its
/// residual projections). With full-scale random attention, every position's state
/// converges to the context average over depth ("rank collapse"), and greedy decoding of
/// the 30-layer preset repeats one token forever; scaled, each step's prediction depends
/// on the current token and drifts with the context.
fn attn_output_std(layers: usize, fan_in: usize) -> f32 {
    1.0 / ((fan_in * layers.max(1)) as f32).sqrt()
}

/// The learned tokens are ids `[start, end)`: after the specials, before the padding.
fn learned_span(learned: &[bool]) -> (usize, usize) {
    let start = learned.iter().position(|&l| l).unwrap_or(0);
    let end = learned.iter().rposition(|&l| l).map_or(start, |e| e + 1);
    (start, end)
}

/// SplitMix64: tiny, fast, and its stream is fixed by definition.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn next_signed_unit(&mut self) -> f32 {
        ((self.next() >> 40) as f32) * (2.0 / (1u64 << 24) as f32) - 1.0
    }
}

/// A tensor's own seed: FNV-1a of its name, mixed with the model seed.
fn tensor_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn generate(plan: &Plan, seed: u64) -> candle_core::Result<QTensor> {
    let n: usize = plan.shape.iter().product();
    let data: Vec<f32> = match plan.std {
        None => vec![1.0; n],
        Some(std) => {
            // Uniform on [-a, a] has standard deviation a / sqrt(3).
            let a = std * 3f32.sqrt();
            let mut rng = SplitMix64(tensor_seed(seed, &plan.name));
            let mut data: Vec<f32> = (0..n).map(|_| rng.next_signed_unit() * a).collect();
            if let Some((start, end)) = plan.learned_rows {
                let cols = plan.shape[1];
                for (row, chunk) in data.chunks_mut(cols).enumerate() {
                    if row < start || row >= end {
                        chunk.iter_mut().for_each(|x| *x *= RESERVED_ROW_SCALE);
                    }
                }
            }
            data
        }
    };
    let t = Tensor::from_vec(data, plan.shape.as_slice(), &Device::Cpu)?;
    QTensor::quantize(&t, plan.dtype)
}

/// Generates and quantizes every tensor, on all cores; the result is in plan order.
fn generate_all(plans: &[Plan], seed: u64) -> candle_core::Result<Vec<QTensor>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<candle_core::Result<QTensor>>>> =
        Mutex::new((0..plans.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.min(plans.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(plan) = plans.get(i) else { break };
                let t = generate(plan, seed);
                if let Ok(mut slots) = slots.lock() {
                    slots[i] = Some(t);
                }
            });
        }
    });
    let slots = slots
        .into_inner()
        .map_err(|_| candle_core::Error::Msg("a tensor worker panicked".into()))?;
    slots
        .into_iter()
        .map(|t| t.unwrap_or_else(|| Err(candle_core::Error::Msg("tensor not generated".into()))))
        .collect()
}

fn llama_metadata(p: &Preset, quant: Quant, seed: u64) -> Vec<(String, Value)> {
    let u32v = |x: usize| Value::U32(x as u32);
    vec![
        ("general.architecture".into(), Value::String("llama".into())),
        (
            "general.name".into(),
            Value::String(format!("nativebench synth:{}:{quant} seed {seed}", p.name)),
        ),
        ("general.file_type".into(), Value::U32(quant.file_type())),
        ("general.quantization_version".into(), Value::U32(2)),
        (
            "llama.context_length".into(),
            Value::U32(p.context_length as u32),
        ),
        ("llama.embedding_length".into(), u32v(p.hidden)),
        ("llama.block_count".into(), u32v(p.layers)),
        ("llama.feed_forward_length".into(), u32v(p.ffn)),
        ("llama.attention.head_count".into(), u32v(p.heads)),
        ("llama.attention.head_count_kv".into(), u32v(p.kv_heads)),
        ("llama.rope.dimension_count".into(), u32v(p.head_dim())),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(p.rms_norm_eps),
        ),
        ("llama.rope.freq_base".into(), Value::F32(p.rope_theta)),
        ("llama.vocab_size".into(), u32v(p.vocab)),
        (
            "nativebench.synth.preset".into(),
            Value::String(p.name.clone()),
        ),
        ("nativebench.synth.seed".into(), Value::U64(seed)),
        (
            "nativebench.synth.generator_version".into(),
            Value::U32(GENERATOR_VERSION),
        ),
    ]
}

/// Writes the synthetic model for `preset` at `quant` to `out` (and its tokenizer.json
/// beside it). Both files are written under temporary names and renamed into place, so
/// a reader never sees a partial file.
pub fn synthesize(preset: &Preset, quant: Quant, seed: u64, out: &Path) -> Result<SynthSummary> {
    let started = Instant::now();
    let write_err = |message: String| ModelError::Write {
        path: out.to_path_buf(),
        message,
    };
    let vocab = train_synthetic_vocab(preset.bpe_vocab, preset.vocab)?;
    let learned: Vec<bool> = vocab
        .tokens
        .iter()
        .zip(&vocab.token_types)
        .map(|(_, &ty)| ty == super::vocab::token_type::NORMAL)
        .collect();
    let plans = plans(preset, quant, &learned);
    let tensors = generate_all(&plans, seed).map_err(|e| write_err(e.to_string()))?;

    let mut metadata = llama_metadata(preset, quant, seed);
    metadata.extend(vocab.to_metadata());
    let md_refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = plans
        .iter()
        .zip(&tensors)
        .map(|(p, t)| (p.name.as_str(), t))
        .collect();

    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    }
    let tmp = temp_path(out);
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
        let mut w = BufWriter::with_capacity(1 << 22, file);
        gguf_file::write(&mut w, &md_refs, &t_refs).map_err(|e| write_err(e.to_string()))?;
        let file = w
            .into_inner()
            .map_err(|e| ModelError::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| ModelError::io(&tmp, e))?;
        std::fs::rename(&tmp, out).map_err(|e| ModelError::io(out, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;

    let tok_path = tokenizer_json_path(out);
    let tok_tmp = temp_path(&tok_path);
    build_tokenizer(&vocab, out)?
        .save(&tok_tmp, false)
        .map_err(|e| ModelError::tokenizer(&tok_tmp, e))?;
    std::fs::rename(&tok_tmp, &tok_path).map_err(|e| ModelError::io(&tok_path, e))?;

    let file_size_bytes = std::fs::metadata(out)
        .map_err(|e| ModelError::io(out, e))?
        .len();
    Ok(SynthSummary {
        preset: preset.name.clone(),
        quant,
        seed,
        gguf: out.to_path_buf(),
        tokenizer_json: tok_path,
        file_size_bytes,
        parameter_count: plans
            .iter()
            .map(|p| p.shape.iter().product::<usize>() as u64)
            .sum(),
        vocab_size: vocab.tokens.len(),
        learned_tokens: learned_token_count(&vocab),
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// `dir/name` -> `dir/.name.tmp-<pid>-<n>`: unique per process and call, on the same
/// filesystem as the target so that the final rename is atomic.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = path
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quant_names_parse_and_q4k_falls_back_on_narrow_rows() {
        assert_eq!("Q8_0".parse::<Quant>().unwrap(), Quant::Q8_0);
        assert_eq!("q4k".parse::<Quant>().unwrap(), Quant::Q4K);
        assert_eq!(
            "q3_k".parse::<Quant>().unwrap_err().to_string(),
            "unknown quantization 'q3_k' (known: f32, f16, q8_0, q4_0, q4_k)"
        );
        assert_eq!(Quant::Q4K.dtype_for_rows(512), GgmlDType::Q4K);
        assert_eq!(Quant::Q4K.dtype_for_rows(576), GgmlDType::Q5_0);
    }

    #[test]
    fn generator_stream_is_fixed() {
        // SplitMix64's reference output for seed 0.
        let mut r = SplitMix64(0);
        assert_eq!(r.next(), 0xE220_A839_7B1D_CDAF);
        let mut r = SplitMix64(7);
        let x: Vec<f32> = (0..1000).map(|_| r.next_signed_unit()).collect();
        assert!(x.iter().all(|v| (-1.0..1.0).contains(v)));
        let mean = x.iter().sum::<f32>() / 1000.0;
        assert!(mean.abs() < 0.1, "mean {mean}");
    }
}
