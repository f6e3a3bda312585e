//! Places an in-process run against the machine's probed limits: the model's cost per
//! token (the sim's declared one, or a GGUF's from `model inspect`), the run's rates, and
//! the probe cache. Shared by `run` and `bench`.

use crate::engine::{EngineInfo, SimConfig};
use crate::env::MachineInfo;
use crate::metrics::roofline::{self, Limits, Placement, Roofline, TokenCost};
use crate::metrics::RequestRecord;
use crate::model::gguf::GgufFile;
use crate::model::inspect::ModelReport;
use crate::runner::bench::BenchRecord;

/// The engine's cost per token and whether int8 (not f32) bounds its compute; `None`
/// where the model's cost is unknown (an HTTP server, a sim that declared none, a model
/// that is not GGUF).
pub fn token_cost(sim: Option<&SimConfig>, info: &EngineInfo) -> Option<(TokenCost, bool)> {
    if let Some(sim) = sim {
        return (sim.bytes_per_token.is_some() || sim.flops_per_token.is_some()).then(|| {
            (
                TokenCost {
                    weight_bytes_per_token: sim.bytes_per_token.unwrap_or(0.0),
                    flops_per_token: sim.flops_per_token.unwrap_or(0.0),
                    ..TokenCost::default()
                },
                false,
            )
        });
    }
    let path = info.model_path.as_deref()?;
    let report = ModelReport::from_gguf(&GgufFile::open(path).ok()?).ok()?;
    Some((model_cost(&report), report.mostly_quantized()))
}

/// What one token costs a model: the weights a decode step reads, the f16 KV cache per
/// token of context (K and V, every layer), 2 x parameters FLOPs, and the attention
/// FLOPs per position attended to (QK and AV: 4 x layers x heads x head dim).
pub fn model_cost(report: &ModelReport) -> TokenCost {
    let h = &report.hparams;
    let head_dim = h
        .head_dim
        .unwrap_or(h.embedding_length / h.head_count.max(1)) as f64;
    let layers = h.block_count as f64;
    TokenCost {
        weight_bytes_per_token: report.bytes_read_per_token as f64,
        kv_bytes_per_context_token: 2.0
            * layers
            * h.head_count_kv.unwrap_or(h.head_count) as f64
            * head_dim
            * 2.0,
        flops_per_token: 2.0 * report.parameter_count as f64,
        attn_flops_per_context_token: 4.0 * layers * h.head_count as f64 * head_dim,
    }
}

/// The probed limits of the device the engine ran on: on a CUDA device, that GPU's
/// bandwidth and its matmul rate in the engine's dtype; on the CPU, the machine at
/// `threads` (int8 peak where the engine computes in int8, else f32). A note where the
/// device was never probed.
pub fn limits(
    machine: &MachineInfo,
    info: &EngineInfo,
    threads: usize,
    int8: bool,
) -> (Option<Limits>, Option<String>) {
    if info.device.starts_with("cuda") {
        let (entry, note) = crate::probe::cached_gpu(machine, &info.device);
        let dtype = info.details.get("dtype").map(String::as_str);
        let limits = entry.map(|g| Limits {
            read_gb_s: g.read_gb_s,
            peak_gflop_s: g.peak_gflop_s(dtype),
            threads,
        });
        return (limits, note);
    }
    let (entry, note) = crate::probe::cached(machine, threads);
    let limits = entry.map(|e| Limits {
        read_gb_s: e.read_gb_s,
        peak_gflop_s: if int8 {
            e.int8_gop_s.unwrap_or(e.f32_gflop_s)
        } else {
            e.f32_gflop_s
        },
        threads: e.threads,
    });
    (limits, note)
}

/// The run's roofline from its completed records: the mean decode context is the
/// prompt plus half the output, over requests.
pub fn of_run(
    cost: TokenCost,
    limits: Option<Limits>,
    records: &[RequestRecord],
    decode_tok_s: Option<f64>,
    prefill_tok_s: Option<f64>,
) -> Roofline {
    let ok: Vec<&RequestRecord> = records.iter().filter(|r| r.ok).collect();
    let n = ok.len().max(1) as f64;
    let prompt = |r: &RequestRecord| f64::from(r.prompt_tokens.unwrap_or(0));
    let mean_prompt = ok.iter().map(|r| prompt(r)).sum::<f64>() / n;
    let mean_context = ok
        .iter()
        .map(|r| prompt(r) + f64::from(r.output_tokens) / 2.0)
        .sum::<f64>()
        / n;
    roofline::place(&Placement {
        cost,
        mean_decode_context: mean_context,
        mean_prompt_tokens: mean_prompt,
        decode_tok_s,
        prefill_tok_s,
        limits,
    })
}

/// A bench test's decode MBU: its generation rate (the `tg` part of a `pp+tg` test) at
/// the mean context of its generated tokens, against the probe at its threads.
pub fn bench_mbu(
    r: &BenchRecord,
    cost: TokenCost,
    machine: &MachineInfo,
    info: &EngineInfo,
) -> Option<f64> {
    if r.n_gen == 0 {
        return None;
    }
    let rate = if r.n_prompt > 0 {
        r.tg_avg_ts?
    } else {
        r.rate.avg_ts
    };
    let (limits, _) = limits(machine, info, r.n_threads, false);
    roofline::place(&Placement {
        cost,
        mean_decode_context: (r.n_depth + r.n_prompt) as f64 + r.n_gen as f64 / 2.0,
        mean_prompt_tokens: r.n_prompt as f64,
        decode_tok_s: Some(rate),
        prefill_tok_s: None,
        limits: Some(limits?),
    })
    .decode_mbu
}
