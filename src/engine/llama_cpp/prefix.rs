//! Prefix reuse (`--prefix-cache`, on under `serve` as llama-server's `cache_prompt`):
//! each slot keeps the KV of its last request, and a new request goes to the free slot
//! whose kept tokens share the longest prefix with its prompt, keeps that prefix's cells
//! (llama.cpp's `llama_memory_seq_rm` drops the rest) and prefills only what follows.

use llama_cpp_2::token::LlamaToken;

use super::LlamaCppEngine;

/// How many leading tokens `a` and `b` share.
pub(super) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl LlamaCppEngine {
    /// The free slot to run `prompt` in: the one whose kept tokens share the longest
    /// prefix with it (the first free one without a prefix cache, or on a tie).
    pub(super) fn pick_slot(&self, free: &[usize], prompt: &[LlamaToken]) -> Option<usize> {
        let shared = |s: usize| self.kept.get(s).map_or(0, |k| common_prefix(k, prompt));
        let best = free
            .iter()
            .copied()
            .max_by_key(|&s| (shared(s), usize::MAX - s));
        match self.prefix_cache {
            true => best,
            false => free.first().copied(),
        }
    }

    /// Readies `slot`'s sequence for `prompt` and says how many of its tokens are already
    /// in the cache: the common prefix with what the slot kept, but never the last prompt
    /// token, whose logits give the first output token. Everything after that prefix is
    /// removed; where llama.cpp cannot remove part of a sequence (a model with a sliding
    /// window), the whole sequence goes and nothing is reused.
    pub(super) fn reuse(&mut self, slot: usize, prompt: &[LlamaToken]) -> usize {
        let kept = self
            .kept
            .get_mut(slot)
            .map(std::mem::take)
            .unwrap_or_default();
        let n = match self.prefix_cache {
            true => common_prefix(&kept, prompt).min(prompt.len().saturating_sub(1)),
            false => 0,
        };
        let seq = Some(slot as u32);
        if n > 0
            && matches!(
                self.ctx.clear_kv_cache_seq(seq, Some(n as u32), None),
                Ok(true)
            )
        {
            return n;
        }
        let _ = self.ctx.clear_kv_cache_seq(seq, None, None);
        0
    }

    /// Records what `slot`'s sequence holds after a request that completed: its prompt
    /// and every output token that was decoded (all but the last one sampled).
    pub(super) fn keep(&mut self, slot: usize, prompt: &[LlamaToken], out: &[LlamaToken]) {
        if !self.prefix_cache {
            return;
        }
        if let Some(k) = self.kept.get_mut(slot) {
            k.clear();
            k.extend_from_slice(prompt);
            k.extend_from_slice(&out[..out.len().saturating_sub(1)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_prefix_stops_at_the_first_difference() {
        let t = |v: &[i32]| v.iter().map(|&i| LlamaToken(i)).collect::<Vec<_>>();
        assert_eq!(common_prefix(&t(&[1, 2, 3, 4]), &t(&[1, 2, 9, 4])), 2);
        assert_eq!(common_prefix(&t(&[1, 2]), &t(&[1, 2, 3])), 2);
        assert_eq!(common_prefix(&t(&[]), &t(&[1])), 0);
    }
}
