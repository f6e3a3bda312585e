//! `nativebench run`: its flags, and their validation into a [`RunConfig`].

use std::path::PathBuf;

use super::ranged;
use crate::limits;
use clap::Args;

use super::engine_args::EngineArgs;
use crate::app::run::RunConfig;
use crate::app::OutputFormat;
use crate::engine::{EngineConfig, EngineKind, SimConfig};
use crate::error::{Error, Result};
use crate::runner::arrival::Arrival;
use crate::runner::sweep::Sweep;
use crate::runner::RunnerConfig;
use crate::workload::{Overrides, WorkloadSpec};

/// The workload used when none is named.
pub const DEFAULT_WORKLOAD: &str = "short";
/// The model of the embedded default run (no engine named): a synthetic model shaped
/// like SmolLM2-135M, generated on first use, so the default needs no download.
pub const DEFAULT_MODEL: &str = "synth:llama-135m:q8_0";

/// Flags of `nativebench run`, as typed. Numbers that must be positive are parsed signed,
/// so a negative value gets a message about the flag rather than a parse error.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Run")]
pub struct RunArgs {
    /// Engines to run, comma-separated: sim, llama-cpp, candle, http. Default: every
    /// in-process engine compiled in, side by side (the sim engine when there is none).
    #[arg(long, short = 'e', value_delimiter = ',')]
    pub engine: Vec<String>,
    /// Model: a .gguf path, a model directory, synth:PRESET[:QUANT],
    /// hf:owner/repo[@revision][/file] or hf:owner/repo[@revision]:QUANT (downloaded from
    /// the Hugging Face Hub into its cache), or a registry name such as gemma3-270m.
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// The file of an hf:owner/repo model to use (its GGUF), as llama.cpp's --hf-file.
    #[arg(long, value_name = "FILE")]
    pub hf_file: Option<String>,
    /// Workload: a built-in name (see `nativebench workloads`), or a file: .toml
    /// (workload definition), .json (ShareGPT) or .jsonl (prompts).
    /// `--dataset-name` is vLLM's name for it (random works; sharegpt and custom take
    /// the file from --dataset-path).
    #[arg(
        long,
        short = 'w',
        visible_alias = "dataset-name",
        conflicts_with = "prompt"
    )]
    pub workload: Option<String>,
    /// A data set file, as vLLM's --dataset-path: the same as --workload FILE.
    #[arg(long, conflicts_with = "prompt")]
    pub dataset_path: Option<String>,
    /// A single prompt instead of a workload.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Replay a request trace instead of a workload: its arrival times and input/output
    /// lengths (Mooncake JSONL, BurstGPT or Azure CSV; see --trace-format).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["prompt", "workload", "dataset_path"])]
    pub trace: Option<PathBuf>,
    /// The trace's format: mooncake, burstgpt or azure. Default: told by its first line.
    #[arg(long, value_name = "FORMAT", value_parser = crate::workload::trace::TraceFormat::NAMES)]
    pub trace_format: Option<String>,
    /// Replay the trace this many times faster (2 halves every gap).
    #[arg(long, value_name = "X", default_value_t = 1.0, allow_negative_numbers = true, value_parser = ranged::float(limits::TRACE_SPEEDUP))]
    pub trace_speedup: f64,
    /// Replay only the requests arriving from START to END seconds into the trace.
    #[arg(long, value_name = "START,END", value_delimiter = ',', allow_negative_numbers = true, value_parser = ranged::float(limits::TRACE_SECONDS))]
    pub trace_window: Vec<f64>,
    /// Number of prompts to measure (per repetition).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::PROMPTS))]
    pub num_prompts: Option<usize>,
    /// Times the whole prompt list is measured; spreads are computed across them.
    #[arg(long, short = 'r', default_value_t = 1, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::REPETITIONS))]
    pub repetitions: usize,
    /// Warmup requests before measuring (not recorded).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::WARMUP))]
    pub warmup: usize,
    /// Requests offered at once (in-process engines that cannot batch run one at a time).
    #[arg(long, visible_alias = "max-concurrency", allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::CONCURRENCY))]
    pub concurrency: Option<usize>,
    /// Seed for prompt generation, arrivals and sampling. Default: a fresh one per run
    /// (recorded in run_config.json), so that no two runs send the same random prompts
    /// to a server's prefix cache; with --shard, 0, so that the hosts agree.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::int::<u64>(limits::SEED))]
    pub seed: Option<u64>,
    /// Input tokens per prompt for random workloads.
    #[arg(long, visible_alias = "input-len", allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::TOKENS))]
    pub random_input_len: Option<usize>,
    /// Output tokens per request (max_tokens; exact while ignore-EOS is on).
    #[arg(long, visible_aliases = ["random-output-len", "max-tokens"], allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::TOKENS))]
    pub output_len: Option<usize>,
    /// Lengths are drawn from len * [1 - r, 1 + r] (random workloads).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::RANGE_RATIO))]
    pub random_range_ratio: Option<f64>,
    /// Tokens of a prefix shared by every prompt (random workloads).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::PREFIX_TOKENS))]
    pub random_prefix_len: Option<usize>,
    /// Stop at end-of-sequence instead of generating exactly the output length.
    #[arg(long)]
    pub no_ignore_eos: bool,
    /// Generate exactly the output length, past end-of-sequence (the default; for
    /// `vllm bench serve` command lines).
    #[arg(long, conflicts_with = "no_ignore_eos")]
    pub ignore_eos: bool,
    /// Send prompts as raw text instead of chat messages through the chat template.
    #[arg(long)]
    pub no_chat: bool,
    /// CPU threads for the engine.
    #[arg(long, short = 't', allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::THREADS))]
    pub threads: Option<usize>,
    /// Run directory. Default: <results-dir>/<timestamp>-<engine>-<model>; with several
    /// engines, one subdirectory per engine.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Where default run directories go.
    #[arg(long, visible_alias = "result-dir", default_value = "results")]
    pub results_dir: PathBuf,
    /// What to print on stdout: a summary table, or metrics.json.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// No progress bar.
    #[arg(long, short = 'q', visible_alias = "disable-tqdm")]
    pub quiet: bool,
    /// How often resources (memory, CPU, GPUs) are sampled into resources.jsonl, ms.
    #[arg(long, value_name = "MS", default_value_t = 100.0, allow_negative_numbers = true, value_parser = ranged::float(limits::SAMPLE_INTERVAL_MS))]
    pub sample_interval: f64,
    /// Run shard I of N (from 0) of one load that N client hosts generate together: 1/N
    /// of the concurrency and request rate, and every N-th prompt. Merge the shards'
    /// run directories with `report --merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::runner::shard::Shard>,
    /// Start the measured requests (after warmup) at this wall-clock time, so that the
    /// shards on several hosts start together: unix seconds (`$(( $(date +%s) + 30 ))`)
    /// or an RFC 3339 time (2026-01-31T12:00:00Z), within a day of now.
    #[arg(long, value_name = "TIME", allow_negative_numbers = true, value_parser = start_at)]
    pub start_at: Option<f64>,

    #[command(flatten)]
    pub engine_args: EngineArgs,

    #[command(flatten)]
    pub sim: SimArgs,

    #[command(flatten)]
    pub http: super::http::HttpArgs,

    #[command(flatten)]
    pub prices: super::prices::PriceArgs,

    #[command(flatten)]
    pub search: super::search::SearchArgs,
}

/// The sim engine's delays (calibration instrument).
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Sim engine")]
pub struct SimArgs {
    /// Chat-template time per request, ms.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::SIM_MS))]
    pub sim_template_ms: Option<f64>,
    /// Tokenize time per KiB of prompt, ms.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::SIM_MS))]
    pub sim_tokenize_ms_per_kb: Option<f64>,
    /// Fixed prefill time per request, ms.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::SIM_MS))]
    pub sim_prefill_ms: Option<f64>,
    /// Prefill time per prompt token, ms.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::SIM_MS))]
    pub sim_prefill_ms_per_token: Option<f64>,
    /// Time per decode step, ms.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::SIM_MS))]
    pub sim_decode_ms: Option<f64>,
    /// Relative standard deviation of every delay (0.05 = 5%), seeded.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::FRACTION))]
    pub sim_jitter: Option<f64>,
    /// Probability that a request fails partway.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::FRACTION))]
    pub sim_failure_rate: Option<f64>,
    /// sim: requests decoded together, sharing each prefill and decode step (a batching
    /// server).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::SIM_BATCH))]
    pub sim_batch: Option<usize>,
    /// sim: answer each request with the workload's expected answer (the reference
    /// summary, the expected JSON) and stop there, so accuracy scores are known.
    #[arg(long)]
    pub sim_echo: bool,
    /// sim: the decode step under `serve` only, ms (`compare`'s served side slower than
    /// its in-process side, on purpose).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::SIM_MS))]
    pub sim_serve_decode_ms: Option<f64>,
    /// sim: under `serve` only, a wait per streamed token chunk after the engine produced
    /// it, ms (a slow HTTP side, on purpose).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::SIM_MS))]
    pub sim_serve_chunk_delay_ms: Option<f64>,
    /// sim: bytes the model reads per decoded token (for decode_mbu and the roofline).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::BYTES_PER_TOKEN))]
    pub sim_bytes_per_token: Option<f64>,
    /// sim: FLOPs per prompt token (for prefill_mfu).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::float(limits::BYTES_PER_TOKEN))]
    pub sim_flops_per_token: Option<f64>,
    /// sim: the engine fails for good after this many requests, warmup included (a lost
    /// device): every later request fails; `serve` turns /health unhealthy.
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::int::<u64>(limits::SIM_FAIL_AFTER))]
    pub sim_fail_after: Option<u64>,
    /// sim: the first N output tokens of every request are reasoning (a thinking model:
    /// `serve` streams them as `reasoning_content`, and TTFA comes after them).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::int::<u32>(limits::SIM_TOKENS))]
    pub sim_reasoning_tokens: Option<u32>,
    /// sim: every request reports N of its prompt tokens (at most all) as prefix-cache
    /// hits (`cached_tokens`).
    #[arg(long, allow_negative_numbers = true, value_parser = ranged::int::<u32>(limits::SIM_TOKENS))]
    pub sim_cached_tokens: Option<u32>,
}

impl SimArgs {
    pub(crate) fn config(&self) -> Result<SimConfig> {
        let d = SimConfig::default();
        let c = SimConfig {
            template_ms: self.sim_template_ms.unwrap_or(d.template_ms),
            tokenize_ms_per_kb: self.sim_tokenize_ms_per_kb.unwrap_or(d.tokenize_ms_per_kb),
            prefill_ms: self.sim_prefill_ms.unwrap_or(d.prefill_ms),
            prefill_ms_per_token: self
                .sim_prefill_ms_per_token
                .unwrap_or(d.prefill_ms_per_token),
            decode_ms: self.sim_decode_ms.unwrap_or(d.decode_ms),
            jitter: self.sim_jitter.unwrap_or(d.jitter),
            failure_rate: self.sim_failure_rate.unwrap_or(d.failure_rate),
            max_batch: self.sim_batch.unwrap_or(d.max_batch),
            echo: self.sim_echo,
            serve_decode_ms: self.sim_serve_decode_ms,
            serve_chunk_delay_ms: self.sim_serve_chunk_delay_ms.unwrap_or(0.0),
            bytes_per_token: self.sim_bytes_per_token,
            flops_per_token: self.sim_flops_per_token,
            fail_after: self.sim_fail_after,
            reasoning_tokens: self.sim_reasoning_tokens.unwrap_or(0),
            cached_tokens: self.sim_cached_tokens.unwrap_or(0),
        };
        c.validate().map_err(Error::Config)?;
        Ok(c)
    }
}

impl RunArgs {
    /// Validates the flags once, into a config.
    pub fn validate(&self) -> Result<RunConfig> {
        let mut model = match (&self.model, &self.hf_file) {
            (Some(m), Some(f)) => Some(crate::model::hf::spec_with_file(m, f)?),
            (None, Some(_)) => {
                return Err(Error::Config(
                    "--hf-file needs --model hf:owner/repo".into(),
                ))
            }
            (m, None) => m.clone(),
        };
        let engines = if self.engine.is_empty() && self.http.launch.is_some() {
            vec![EngineKind::served()]
        } else if self.engine.is_empty() {
            let real = EngineKind::in_process_compiled();
            if real.is_empty() {
                vec![EngineKind::Sim]
            } else {
                model = model.or_else(|| Some(DEFAULT_MODEL.to_owned()));
                real
            }
        } else {
            let mut v = Vec::new();
            for name in &self.engine {
                let kind: EngineKind = name.parse().map_err(Error::Config)?;
                if !v.contains(&kind) {
                    v.push(kind);
                }
            }
            v
        };
        if self.http.launch.is_some() && engines != [EngineKind::served()] {
            return Err(Error::Config(
                "--launch drives the server it starts with --engine http alone".into(),
            ));
        }
        let (repetitions, threads) = (self.repetitions, self.threads);
        let seed = match (self.seed, self.shard) {
            (Some(seed), _) => seed,
            (None, Some(_)) => 0,
            (None, None) => crate::workload::fresh_seed(),
        };

        let workload = match (&self.prompt, &self.workload) {
            (Some(p), _) => {
                if p.trim().is_empty() {
                    return Err(Error::Config("--prompt is empty".into()));
                }
                WorkloadSpec::single_prompt(p)
            }
            (None, _) if self.trace.is_some() => self.trace_workload()?,
            (None, w) => WorkloadSpec::load(&workload_name(w, &self.dataset_path)?)?,
        };
        if self.trace.is_none() && (self.trace_format.is_some() || !self.trace_window.is_empty()) {
            return Err(Error::Config(
                "--trace-format and --trace-window go with --trace FILE".into(),
            ));
        }
        let workload = workload.apply(&Overrides {
            num_prompts: self.num_prompts,
            concurrency: self.concurrency,
            input_len: self.random_input_len,
            output_len: self.output_len,
            range_ratio: self.random_range_ratio,
            prefix_len: self.random_prefix_len,
            ignore_eos: self.no_ignore_eos.then_some(false),
            chat: self.no_chat.then_some(false),
        })?;
        let runner = self.http.runner_config(RunnerConfig {
            warmup: self.warmup,
            repetitions,
            concurrency: workload.concurrency,
            seed,
            start_at_unix_ms: self.start_at.map(|s| s * 1e3),
            ..RunnerConfig::default()
        })?;
        let sweep = self.http.sweep()?;
        let slo_search = self.search.validate()?;
        let mut runner = runner;
        // A rate sweep or search sets each point's rate: without --request-rate the base
        // still carries the shape of --arrival and --burstiness for them.
        let by_rate = matches!(sweep, Some(Sweep::RequestRate(_)))
            || slo_search
                .as_ref()
                .is_some_and(|s| s.axis == crate::app::slo_search::SearchAxis::Rate);
        if by_rate && runner.arrival == Arrival::Unlimited {
            runner.arrival = self.http.arrival_shape()?;
        }
        if let Some(shard) = self.shard {
            // Checked here, so that a bad split is refused before anything runs.
            shard.load(&runner).map_err(Error::Config)?;
            if !self.http.concurrency_list.is_empty() || !self.http.request_rate_list.is_empty() {
                return Err(Error::Config(
                    "--shard splits one load: run each sweep point as its own sharded run".into(),
                ));
            }
            if slo_search.is_some() {
                return Err(Error::Config(
                    "--shard splits one load: an --slo-search runs from one client".into(),
                ));
            }
        }
        if workload.has_arrivals() {
            trace_fits(&runner, sweep.is_some() || slo_search.is_some())?;
        }
        Ok(RunConfig {
            engine: EngineConfig {
                kind: engines[0],
                model,
                threads,
                seed,
                sampling: self.engine_args.sampling()?,
                sim: self.sim.config()?,
                llama: self.engine_args.llama(runner.concurrency)?,
                candle: self.engine_args.candle()?,
                http: self.http.http_config(&engines)?,
            },
            goodput: self.http.goodput()?,
            prices: self.prices.validate(self.model.as_deref())?,
            sweep,
            slo_search,
            stop_on_saturation: self.search.stop_on_saturation,
            server: self.http.server_plan(workload.concurrency, threads)?,
            engines,
            workload,
            runner,
            shard: self.shard,
            seed,
            out: self.out.clone(),
            results_dir: self.results_dir.clone(),
            format: self.format,
            quiet: self.quiet,
            sample_interval_ms: self.sample_interval,
        })
    }
}

/// `--start-at`: unix seconds or an RFC 3339 time, within
/// [`limits::START_AT_WINDOW_S`] of now, as unix seconds.
fn start_at(s: &str) -> std::result::Result<f64, String> {
    let now = crate::runner::unix_ms_now() / 1e3;
    let (lo, hi) = (
        (now - limits::START_AT_WINDOW_S).floor(),
        (now + limits::START_AT_WINDOW_S).floor(),
    );
    let t = match s.trim().parse::<f64>() {
        Ok(v) => v,
        Err(_) => chrono::DateTime::parse_from_rfc3339(s.trim())
            .map(|t| t.timestamp_millis() as f64 / 1e3)
            .unwrap_or(f64::NAN),
    };
    if t.is_finite() && (lo..=hi).contains(&t) {
        Ok(t)
    } else {
        Err(format!(
            "--start-at {s}: out of range, expected unix seconds from {lo} to {hi} (within a day of now), or an RFC 3339 time"
        ))
    }
}

impl RunArgs {
    /// The workload of `--trace`, with its format, speedup and window.
    fn trace_workload(&self) -> Result<WorkloadSpec> {
        use crate::workload::trace::{TraceFormat, TraceOptions};
        let window = match self.trace_window[..] {
            [] => None,
            [start, end] if start < end => Some((start, end)),
            _ => {
                return Err(Error::Config(
                    "--trace-window takes START,END in seconds, START before END".into(),
                ))
            }
        };
        let path = self.trace.as_deref().unwrap_or(std::path::Path::new(""));
        WorkloadSpec::trace(
            path,
            TraceOptions {
                format: self.trace_format.as_deref().and_then(TraceFormat::parse),
                speedup: self.trace_speedup,
                window,
            },
        )
    }
}

/// A trace sets every arrival time itself: a request rate, a duration, repetitions or a
/// sweep would contradict it.
fn trace_fits(runner: &RunnerConfig, sweep: bool) -> Result<()> {
    let clash = if runner.arrival.rate().is_some() {
        Some("--request-rate")
    } else if runner.duration_s.is_some() {
        Some("--duration")
    } else if runner.repetitions > 1 {
        Some("--repetitions")
    } else if sweep {
        Some("a sweep")
    } else {
        None
    };
    match clash {
        Some(flag) => Err(Error::Config(format!(
            "--trace sets the arrival times; {flag} does not apply to it"
        ))),
        None => Ok(()),
    }
}

/// The workload to load from `--workload` (`--dataset-name`) and `--dataset-path`, as
/// `vllm bench serve` combines them: a path is the workload, named sharegpt or custom or
/// not named at all.
fn workload_name(name: &Option<String>, path: &Option<String>) -> Result<String> {
    match (name.as_deref(), path) {
        (None | Some("sharegpt" | "custom"), Some(p)) => Ok(p.clone()),
        (Some(n @ ("sharegpt" | "custom")), None) => Err(Error::Config(format!(
            "--dataset-name {n} needs the file: give --dataset-path FILE"
        ))),
        (Some(n), Some(_)) => Err(Error::Config(format!(
            "--dataset-path is the workload file; it goes with --dataset-name sharegpt or custom, not `{n}`"
        ))),
        (Some(n), None) => Ok(n.to_owned()),
        (None, None) => Ok(DEFAULT_WORKLOAD.to_owned()),
    }
}
