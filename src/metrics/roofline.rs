//! A run placed against the machine's limits: bytes and FLOPs per token from the model,
//! over the probed bandwidth and peak (`nativebench env --probe`). Plain arithmetic on
//! figures handed in, so the sim's declared costs give exact results.

use serde::{Deserialize, Serialize};

/// What one token costs, from the model (or declared by the sim).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TokenCost {
    /// Weight bytes one decode step reads.
    pub weight_bytes_per_token: f64,
    /// KV-cache bytes read per token of context at each decode step.
    pub kv_bytes_per_context_token: f64,
    /// FLOPs of one token apart from attention: 2 x parameters.
    pub flops_per_token: f64,
    /// Attention FLOPs per token per position attended to (4 x layers x heads x head dim).
    pub attn_flops_per_context_token: f64,
}

/// The machine's limits at the run's threads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory read bandwidth, GB/s.
    pub read_gb_s: f64,
    /// Peak FLOP rate for the engine's data type, GFLOP/s.
    pub peak_gflop_s: f64,
    /// The thread count the limits were probed at (a GPU run: the run's own threads;
    /// its limits are its device's).
    pub threads: usize,
}

/// The roofline figures of a run, as `metrics.json` records them under `roofline`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Roofline {
    /// Weights read per token plus the KV cache at the mean context of the decode steps.
    pub decode_bytes_per_token: f64,
    /// FLOPs per prompt token: 2 x parameters plus attention at the prompt's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_flops_per_token: Option<f64>,
    /// FLOPs per decoded token at the mean decode context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_flops_per_token: Option<f64>,
    /// decode_bytes_per_token x decode tok/s / probed bandwidth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_mbu: Option<f64>,
    /// prefill FLOPs per token x prefill tok/s / probed peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_mfu: Option<f64>,
    /// The decode rate the probed bandwidth allows: bandwidth / bytes per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roofline_decode_tok_s: Option<f64>,
    /// The limits used, absent where the machine was never probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

/// Inputs of [`place`]: the cost, the run's rates and contexts, and the limits.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    pub cost: TokenCost,
    /// Mean context length over the decode steps (prompt plus tokens so far).
    pub mean_decode_context: f64,
    /// Mean prompt length.
    pub mean_prompt_tokens: f64,
    pub decode_tok_s: Option<f64>,
    pub prefill_tok_s: Option<f64>,
    pub limits: Option<Limits>,
}

/// The run's roofline figures. Ratios need both a rate and the limits.
pub fn place(p: &Placement) -> Roofline {
    let c = &p.cost;
    let bytes = c.weight_bytes_per_token + c.kv_bytes_per_context_token * p.mean_decode_context;
    let flops_at = |ctx: f64| {
        (c.flops_per_token > 0.0)
            .then_some(c.flops_per_token + c.attn_flops_per_context_token * ctx)
    };
    // A prompt token at position i attends to i positions: the mean is half the prompt.
    let prefill_flops = flops_at(p.mean_prompt_tokens / 2.0);
    let bw = p.limits.map(|l| l.read_gb_s * 1e9);
    let peak = p.limits.map(|l| l.peak_gflop_s * 1e9);
    Roofline {
        decode_bytes_per_token: bytes,
        prefill_flops_per_token: prefill_flops,
        decode_flops_per_token: flops_at(p.mean_decode_context),
        decode_mbu: p
            .decode_tok_s
            .zip(bw)
            .filter(|_| bytes > 0.0)
            .map(|(r, bw)| bytes * r / bw),
        prefill_mfu: prefill_flops
            .zip(p.prefill_tok_s)
            .zip(peak)
            .map(|((f, r), peak)| f * r / peak),
        roofline_decode_tok_s: bw.filter(|_| bytes > 0.0).map(|bw| bw / bytes),
        limits: p.limits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_their_definitions() {
        let r = place(&Placement {
            cost: TokenCost {
                weight_bytes_per_token: 1e9,
                kv_bytes_per_context_token: 1e3,
                flops_per_token: 2e9,
                attn_flops_per_context_token: 1e4,
            },
            mean_decode_context: 1000.0,
            mean_prompt_tokens: 200.0,
            decode_tok_s: Some(10.0),
            prefill_tok_s: Some(100.0),
            limits: Some(Limits {
                read_gb_s: 20.0,
                peak_gflop_s: 1000.0,
                threads: 4,
            }),
        });
        assert_eq!(r.decode_bytes_per_token, 1.001e9);
        assert_eq!(r.decode_mbu, Some(1.001e9 * 10.0 / 20e9));
        assert_eq!(r.roofline_decode_tok_s, Some(20e9 / 1.001e9));
        assert_eq!(r.prefill_flops_per_token, Some(2e9 + 1e4 * 100.0));
        assert_eq!(r.prefill_mfu, Some((2e9 + 1e6) * 100.0 / 1e12));
    }

    #[test]
    fn without_limits_only_the_costs_are_given() {
        let r = place(&Placement {
            cost: TokenCost {
                weight_bytes_per_token: 5.0,
                ..TokenCost::default()
            },
            mean_decode_context: 10.0,
            mean_prompt_tokens: 10.0,
            decode_tok_s: Some(1.0),
            prefill_tok_s: Some(1.0),
            limits: None,
        });
        assert_eq!(r.decode_bytes_per_token, 5.0);
        assert_eq!(
            (r.decode_mbu, r.prefill_mfu, r.roofline_decode_tok_s),
            (None, None, None)
        );
        assert_eq!(r.prefill_flops_per_token, None);
    }
}
