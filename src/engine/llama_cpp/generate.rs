//! One request at a time (template, tokenize, prefill, then one decode step per token,
//! each marked as it ends), the [`Engine`] and [`TokenBench`] implementations, and the
//! greedy trace that `check-agreement` compares with candle's.

use std::collections::BTreeMap;

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::{failed, LlamaCppEngine};
use crate::engine::batching::ContinuousBatching;
use crate::engine::nvtx::{self, Span};
use crate::engine::{
    Capabilities, Engine, EngineError, EngineInfo, FinishReason, Mark, Outcome, Prompt, Recorder,
    Request, SamplingConfig, TokenBench,
};

impl LlamaCppEngine {
    pub(super) fn render(&self, prompt: &Prompt) -> Result<String, EngineError> {
        crate::engine::prompt::render(prompt, self.template.as_ref())
    }

    pub(super) fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), true, true)
    }

    pub(super) fn sampler(&self, request_id: u64) -> LlamaSampler {
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
    pub(super) fn eval(&mut self, tokens: &[LlamaToken]) -> Result<(), EngineError> {
        for chunk in tokens.chunks(self.n_batch.max(1)) {
            let mut batch = LlamaBatch::get_one(chunk).map_err(|e| failed(e.to_string()))?;
            self.ctx
                .decode(&mut batch)
                .map_err(|e| failed(format!("llama_decode: {e}")))?;
        }
        Ok(())
    }

    pub(super) fn clear_kv(&mut self) {
        // Metadata only (as llama-bench does between repetitions): O(1), not a memset.
        let _ = self.ctx.clear_kv_cache_seq(None, None, None);
        self.kept.iter_mut().for_each(Vec::clear);
    }

    /// Template and tokenize, marking both, and check the request fits its sequence's
    /// share of the context.
    pub(super) fn prepare(
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
        crate::engine::prompt::check_fits(
            prompt.len(),
            req.max_tokens,
            self.n_ctx as usize,
            "raise --ctx-size",
        )?;
        Ok(prompt)
    }

    fn run(&mut self, req: &Request, rec: &mut dyn Recorder) -> Result<Outcome, EngineError> {
        let cached;
        let prompt = self.prepare(req, rec)?;
        self.ctx.reset_timings();
        let mut sampler = self.sampler(req.id);
        let vocab = self.model.vocab();
        let mut token = {
            let _r = nvtx::range(Span::Prefill);
            let reused = self.reuse(0, &prompt);
            self.eval(&prompt[reused..])?;
            cached = self.prefix_cache.then_some(reused as u32);
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
        self.keep(0, &prompt, &out);

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
            cached_tokens: cached,
        })
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
            crate::engine::logits::check_nan(&logits, out.len())?;
            let t = crate::engine::logits::argmax(&logits);
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
        // happened to this one, unless the prefix cache keeps what a completed one left.
        if result.is_err() || !self.prefix_cache {
            self.clear_kv();
        }
        result
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
