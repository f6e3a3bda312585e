//! Continuous batching: each request in a slot of its own (a sequence id with its share
//! of the context), admitted between joint decode steps and handed back as it finishes.

use std::collections::BTreeMap;

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::{failed, LlamaCppEngine};
use crate::engine::batching::{Admitted, BatchQueue, ContinuousBatching};
use crate::engine::nvtx::{self, Span};
use crate::engine::{EngineError, FinishReason, Mark, Outcome, Recorder, Request};

/// One sequence of a batched generation: a request in its slot (its sequence id).
struct Seq<'r> {
    ticket: usize,
    req: Request,
    rec: Box<dyn Recorder + 'r>,
    sampler: LlamaSampler,
    out: Vec<LlamaToken>,
    pos: i32,
    /// The prompt's tokens, kept for the slot's prefix cache.
    prompt: Vec<LlamaToken>,
    /// Prompt tokens taken from the slot's cache (with a prefix cache).
    cached: Option<u32>,
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
            // Each running sequence holds a cell per position it has decoded; a retired
            // one's cells are free (cleared when its slot is next taken).
            let cells: u64 = seqs
                .iter()
                .flatten()
                .map(|s| u64::try_from(s.pos).unwrap_or(0))
                .sum();
            queue.kv_in_use(cells, cells * self.kv_bytes_per_cell);
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
                let free: Vec<usize> = (0..slots).filter(|&s| seqs[s].is_none()).collect();
                if free.is_empty() {
                    queue.finished(a.ticket, a.rec, Err(failed("no free sequence slot")));
                    continue;
                }
                match self.start(a, &free, &mut batch) {
                    Ok((slot, seq)) => seqs[slot] = Some(seq),
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
        // The next batch starts from an empty cache, unless the prefix cache keeps what
        // the completed requests left (a failed or stopped one's slot kept nothing).
        if !self.prefix_cache {
            self.clear_kv();
        }
        queue.kv_in_use(0, 0);
    }
}

/// A request that could not start: its ticket and recorder go back with the error.
type NotStarted<'r> = (usize, Box<dyn Recorder + 'r>, EngineError);

impl LlamaCppEngine {
    /// Templates, tokenizes and prefills a new request in one of the `free` slots (the
    /// one with the longest common prefix, with a prefix cache), and samples its first
    /// token.
    fn start<'r>(
        &mut self,
        mut a: Admitted<'r>,
        free: &[usize],
        batch: &mut LlamaBatch,
    ) -> Result<(usize, Seq<'r>), NotStarted<'r>> {
        let _admit = nvtx::range(Span::Admit(a.req.id));
        let prompt = match self.prepare(&a.req, &mut *a.rec) {
            Ok(p) => p,
            Err(e) => return Err((a.ticket, a.rec, e)),
        };
        let Some(slot) = self.pick_slot(free, &prompt) else {
            return Err((a.ticket, a.rec, failed("no free sequence slot")));
        };
        let prefill = nvtx::range(Span::Prefill);
        let reused = self.reuse(slot, &prompt);
        let rest = &prompt[reused..];
        let n_batch = self.n_batch.max(1);
        let mut logits_at = 0;
        for (c, chunk) in rest.chunks(n_batch).enumerate() {
            batch.clear();
            let last_chunk = (c + 1) * n_batch >= rest.len();
            let mut added = Ok(());
            for (j, &t) in chunk.iter().enumerate() {
                let logits = last_chunk && j + 1 == chunk.len();
                let pos = (reused + c * n_batch + j) as i32;
                added = added.and(batch.add(t, pos, &[slot as i32], logits));
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
        let seq = Seq {
            ticket: a.ticket,
            req: a.req,
            rec: a.rec,
            sampler,
            out: vec![token],
            pos: prompt.len() as i32,
            cached: self.prefix_cache.then_some(reused as u32),
            prompt,
            logits_at: 0,
        };
        Ok((slot, seq))
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
        for (index, slot) in seqs.iter_mut().enumerate() {
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
            self.keep(index, &seq.prompt, &seq.out);
            let outcome = Outcome {
                prompt_tokens: seq.prompt.len() as u32,
                output_tokens: seq.out.len() as u32,
                finish_reason: if stop {
                    FinishReason::Stop
                } else {
                    FinishReason::Length
                },
                text: Some(String::from_utf8_lossy(&bytes).into_owned()),
                engine_timings_ms: BTreeMap::new(),
                cached_tokens: seq.cached,
            };
            queue.finished(seq.ticket, seq.rec, Ok(outcome));
        }
    }
}
