//! The candle engine, in-process: quantized GGUF (llama, gemma3, qwen2, qwen3) or a
//! llama safetensors directory, on the CPU, CUDA or Metal.
//!
//! Each request starts from an empty KV cache. Prefill runs the prompt in chunks of the
//! batch size and samples the first token; each decode step is one token through the
//! model plus sampling. The device is synchronized before every mark; on CUDA, events on
//! candle's stream also time prefill and each decode step on the device. Each request and
//! its phases are NVTX ranges on `nvtx` builds (`engine::nvtx`).

mod device_clock;
mod model;
mod safetensors;
mod threads;

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};

use super::device;
use super::nvtx::{self, Span};
use super::{
    logits, prompt, Capabilities, DevicePhase, Engine, EngineConfig, EngineError, EngineInfo,
    FailureKind, FinishReason, Mark, Outcome, Recorder, Request, SamplingConfig, TokenBench,
};
use device_clock::DeviceTimer;
use model::{first_line, Loaded};

pub use model::SUPPORTED_GGUF;

const NAME: &str = "candle";
/// The candle release this engine runs (candle-core and candle-transformers, as locked).
pub const CANDLE_VERSION: &str = "0.11.1";
/// Context per sequence when the model allows more (llama.cpp's engine uses the same).
const MAX_CTX: usize = 4096;

fn setup(message: impl Into<String>) -> EngineError {
    EngineError::setup(NAME, message)
}

fn failed(message: impl Into<String>) -> EngineError {
    EngineError::failed(message)
}

/// A candle model on a device, with its tokenizer and threads.
pub struct CandleEngine {
    device: Device,
    model: Loaded,
    /// Where candle's float matmuls and CPU attention run (see `threads`).
    pool: rayon::ThreadPool,
    timer: Option<DeviceTimer>,
    sampling: SamplingConfig,
    seed: u64,
    /// Prefill chunk: tokens per forward pass.
    n_batch: usize,
    /// Tokens in the KV cache, for [`TokenBench`].
    pos: usize,
    info: EngineInfo,
}

/// Opens the engine a config describes.
pub fn open(config: &EngineConfig) -> Result<Box<dyn Engine>, EngineError> {
    Ok(Box::new(CandleEngine::open(config)?))
}

impl CandleEngine {
    /// Sizes the CPU threads, opens the device, and loads the model.
    pub fn open(config: &EngineConfig) -> Result<Self, EngineError> {
        let spec = config.model.as_deref().ok_or_else(|| {
            EngineError::input(NAME, "needs --model (a .gguf, a model directory, synth:PRESET[:QUANT], or a registry name)")
        })?;
        // Before anything runs a candle CPU op (the synthetic writer does): the pool's size
        // is fixed at its first use.
        let threads = threads::barrier_pool_threads(config.threads)?;
        let pool = threads::rayon_pool(threads)?;
        let resolved = crate::model::resolve(spec).map_err(|e| EngineError::model(NAME, e))?;
        let dev_spec = config.candle.device;
        let device = device::open(&dev_spec)?;
        let model = model::load(&resolved, &device, config.candle.dtype)?;
        let timer = DeviceTimer::for_device(&device);
        let n_batch = (config.llama.batch_size as usize).max(1);

        let mut details = model.details.clone();
        details.insert("n_batch".into(), n_batch.to_string());
        details.insert(
            "sampling".into(),
            if config.sampling.is_greedy() {
                "greedy".into()
            } else {
                format!("{:?}", sampling_of(&config.sampling))
            },
        );
        let info = EngineInfo {
            name: NAME.into(),
            version: CANDLE_VERSION.into(),
            device: dev_spec.to_string(),
            threads: Some(threads),
            model: resolved.name.clone(),
            model_path: Some(resolved.path.clone()),
            details,
        };
        Ok(CandleEngine {
            device,
            model,
            pool,
            timer,
            sampling: config.sampling.clone(),
            seed: config.seed,
            n_batch,
            pos: 0,
            info,
        })
    }

    /// The model's tokenizer on `text`, special tokens added (BOS where the model wants
    /// one) and parsed in the text, as llama.cpp tokenizes a prompt.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        self.model
            .tokenizer
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| EngineError::Request {
                kind: FailureKind::InvalidRequest,
                message: format!("tokenize: {e}"),
            })
    }

    fn synchronize_device(&self) -> Result<(), EngineError> {
        device::synchronize(&self.device)
    }

    /// Marks a phase end once the device has finished the work queued for it.
    fn mark(&self, rec: &mut dyn Recorder, mark: Mark) -> Result<(), EngineError> {
        self.synchronize_device()?;
        rec.mark(mark);
        Ok(())
    }

    /// Runs `tokens` at positions `pos..` in chunks of the batch size and returns the
    /// logits after the last one, on the host.
    fn forward(&mut self, tokens: &[u32], mut pos: usize) -> Result<Vec<f32>, EngineError> {
        if pos + tokens.len() > self.model.n_ctx {
            return Err(failed(format!(
                "{} tokens at position {pos} do not fit the context of {}",
                tokens.len(),
                self.model.n_ctx
            )));
        }
        let mut last = None;
        for chunk in tokens.chunks(self.n_batch) {
            let (device, weights) = (&self.device, &mut self.model.weights);
            let mut run = || -> candle_core::Result<Tensor> {
                let input = Tensor::new(chunk, device)?.unsqueeze(0)?;
                weights.forward(&input, pos)
            };
            // The pool sizes candle's CPU matmuls; a GPU's kernels are launched from the
            // calling thread instead, so that they sit inside this thread's NVTX ranges
            // (Nsight Compute's `--nvtx-include "decode 3/"` found no kernel when they
            // were launched from a pool thread) and no step pays a thread hop.
            let logits = if device.is_cpu() {
                self.pool.install(run)
            } else {
                run()
            };
            last = Some(logits.map_err(|e| failed(first_line(&e.to_string()).to_owned()))?);
            pos += chunk.len();
        }
        let logits = last.ok_or_else(|| failed("no tokens to run"))?;
        logits
            .to_vec1::<f32>()
            .map_err(|e| failed(first_line(&e.to_string()).to_owned()))
    }

    /// Template and tokenize, marking both, and check the request fits the context.
    fn prepare(&self, req: &Request, rec: &mut dyn Recorder) -> Result<Vec<u32>, EngineError> {
        let text = {
            let _r = nvtx::range(Span::Template);
            prompt::render(&req.prompt, self.model.template.as_ref())?
        };
        self.mark(rec, Mark::Templated)?;
        let tokens = {
            let _r = nvtx::range(Span::Tokenize);
            self.tokenize(&text)?
        };
        self.mark(rec, Mark::Tokenized)?;
        prompt::check_fits(
            tokens.len(),
            req.max_tokens,
            self.model.n_ctx,
            "a shorter request",
        )?;
        Ok(tokens)
    }

    /// One forward pass and the choice of the next token, timed on the device when it has
    /// a timer.
    fn step(
        &mut self,
        tokens: &[u32],
        pos: usize,
        step: usize,
        sampler: &mut Option<LogitsProcessor>,
        rec: &mut dyn Recorder,
    ) -> Result<u32, EngineError> {
        let _r = nvtx::range(if step == 0 {
            Span::Prefill
        } else {
            Span::Decode(step)
        });
        if let Some(t) = &mut self.timer {
            t.start();
        }
        let logits = self.forward(tokens, pos)?;
        let token = choose(&logits, step, sampler)?;
        if let Some(t) = &mut self.timer {
            let ms = t
                .stop_ms()
                .map_err(|e| failed(format!("device timer: {e}")))?;
            let phase = if step == 0 {
                DevicePhase::Prefill
            } else {
                DevicePhase::DecodeStep
            };
            rec.device_ms(phase, ms);
        }
        Ok(token)
    }

    fn run(&mut self, req: &Request, rec: &mut dyn Recorder) -> Result<Outcome, EngineError> {
        let prompt = self.prepare(req, rec)?;
        self.model.weights.clear();
        let mut sampler = self.sampler(req.id);
        let mut token = self.step(&prompt, 0, 0, &mut sampler, rec)?;
        self.mark(rec, Mark::Tokens(1))?;
        let mut out = vec![token];
        let mut finish = FinishReason::Length;
        while out.len() < req.max_tokens as usize {
            if !req.ignore_eos && self.model.end_ids.contains(&token) {
                finish = FinishReason::Stop;
                break;
            }
            if rec.interrupted() {
                return Err(EngineError::Interrupted);
            }
            let pos = prompt.len() + out.len() - 1;
            token = self
                .step(&[token], pos, out.len(), &mut sampler, rec)
                .map_err(|e| match e {
                    EngineError::Request { kind, message } if !message.starts_with("NaN") => {
                        EngineError::Request {
                            kind,
                            message: format!("at output token {}: {message}", out.len()),
                        }
                    }
                    other => other,
                })?;
            self.mark(rec, Mark::Tokens(1))?;
            out.push(token);
        }
        let text = {
            let _r = nvtx::range(Span::Detokenize);
            self.model
                .tokenizer
                .decode(&out, true)
                .map_err(|e| failed(format!("detokenize: {e}")))?
        };
        self.mark(rec, Mark::Detokenized)?;
        Ok(Outcome {
            prompt_tokens: prompt.len() as u32,
            output_tokens: out.len() as u32,
            finish_reason: finish,
            text: Some(text),
            engine_timings_ms: BTreeMap::new(),
            cached_tokens: None,
        })
    }

    /// `None` is greedy.
    fn sampler(&self, request_id: u64) -> Option<LogitsProcessor> {
        if self.sampling.is_greedy() {
            return None;
        }
        Some(LogitsProcessor::from_sampling(
            SamplingConfig::request_seed(self.seed, request_id),
            sampling_of(&self.sampling),
        ))
    }

    /// Greedy decoding of `n` tokens after `prompt` from an empty cache, with the logits of
    /// the first step (for `check-agreement`).
    pub fn greedy_trace(
        &mut self,
        prompt: &[u32],
        n: usize,
    ) -> Result<(Vec<u32>, Vec<f32>), EngineError> {
        self.model.weights.clear();
        let first = self.forward(prompt, 0)?;
        let mut logits = first.clone();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            logits::check_nan(&logits, out.len())?;
            let t = logits::argmax(&logits);
            out.push(t);
            if out.len() < n {
                logits = self.forward(&[t], prompt.len() + out.len() - 1)?;
            }
        }
        self.model.weights.clear();
        Ok((out, first))
    }
}

/// candle's sampling for a (non-greedy) config.
fn sampling_of(s: &SamplingConfig) -> Sampling {
    let temperature = f64::from(s.temperature);
    match (s.top_k, s.top_p) {
        (Some(k), Some(p)) => Sampling::TopKThenTopP {
            k: k as usize,
            p: f64::from(p),
            temperature,
        },
        (Some(k), None) => Sampling::TopK {
            k: k as usize,
            temperature,
        },
        (None, Some(p)) => Sampling::TopP {
            p: f64::from(p),
            temperature,
        },
        (None, None) => Sampling::All { temperature },
    }
}

/// The next token from host logits: a NaN fails the request; greedy without a sampler.
fn choose(
    logits: &[f32],
    step: usize,
    sampler: &mut Option<LogitsProcessor>,
) -> Result<u32, EngineError> {
    logits::check_nan(logits, step)?;
    match sampler {
        None => Ok(logits::argmax(logits)),
        Some(s) => {
            let t = Tensor::from_slice(logits, logits.len(), &Device::Cpu)
                .and_then(|t| s.sample(&t))
                .map_err(|e| failed(format!("sampling: {}", first_line(&e.to_string()))))?;
            Ok(t)
        }
    }
}

impl Engine for CandleEngine {
    fn info(&self) -> EngineInfo {
        self.info.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            in_process: true,
            separable_prefill: true,
            max_batch: 1,
            device_timer: self.timer.is_some(),
        }
    }

    fn prompt_tokens(&mut self, req: &Request) -> Result<Option<usize>, EngineError> {
        let text = prompt::render(&req.prompt, self.model.template.as_ref())?;
        Ok(Some(self.tokenize(&text)?.len()))
    }

    fn generate(&mut self, req: &Request, rec: &mut dyn Recorder) -> Result<Outcome, EngineError> {
        let result = {
            let _r = nvtx::range(Span::Request(req.id));
            self.run(req, rec)
        };
        // The next request starts from an empty cache whatever happened to this one.
        self.model.weights.clear();
        result
    }

    fn token_bench(&mut self) -> Option<&mut dyn TokenBench> {
        Some(self)
    }
}

impl TokenBench for CandleEngine {
    fn vocab_size(&self) -> u32 {
        self.model.vocab_size.clamp(1, u32::MAX as usize) as u32
    }

    fn clear(&mut self) -> Result<(), EngineError> {
        self.model.weights.clear();
        self.pos = 0;
        Ok(())
    }

    fn prefill(&mut self, tokens: &[u32]) -> Result<(), EngineError> {
        self.forward(tokens, self.pos)?;
        self.pos += tokens.len();
        Ok(())
    }

    fn decode(&mut self, token: u32) -> Result<(), EngineError> {
        self.forward(&[token], self.pos)?;
        self.pos += 1;
        Ok(())
    }

    fn synchronize(&mut self) {
        // The logits were copied to the host, which waits for the device; a failure here
        // would surface on the next forward pass.
        let _ = self.synchronize_device();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_choice_fails_on_nan() {
        let mut greedy = None;
        assert_eq!(choose(&[0.1, 0.5, 0.2], 0, &mut greedy).unwrap(), 1);
        let e = choose(&[0.1, f32::NAN], 3, &mut greedy).unwrap_err();
        assert_eq!(e.to_string(), "engine: NaN in the logits at step 3");
    }

    #[test]
    fn seeded_sampling_repeats_and_respects_top_k() {
        let cfg = SamplingConfig {
            temperature: 1.0,
            top_k: Some(2),
            top_p: None,
        };
        let logits = [0.0, 5.0, 4.9, -3.0, 1.0];
        let draw = |seed| {
            let mut s = Some(LogitsProcessor::from_sampling(seed, sampling_of(&cfg)));
            (0..32)
                .map(|i| choose(&logits, i, &mut s).unwrap())
                .collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7), "the same seed samples the same tokens");
        assert!(a.iter().all(|&t| t == 1 || t == 2), "top-k 2: {a:?}");
        assert!(
            a.contains(&1) && a.contains(&2),
            "both top tokens drawn: {a:?}"
        );
    }

    #[test]
    fn sampling_maps_every_combination() {
        let mut s = SamplingConfig {
            temperature: 0.5,
            top_k: None,
            top_p: None,
        };
        assert_eq!(sampling_of(&s), Sampling::All { temperature: 0.5 });
        s.top_p = Some(0.9);
        assert!(matches!(sampling_of(&s), Sampling::TopP { .. }));
        s.top_k = Some(4);
        assert!(matches!(
            sampling_of(&s),
            Sampling::TopKThenTopP { k: 4, .. }
        ));
    }
}
