//! `nativebench bench`: llama-bench's flags, lists and test names, across every
//! in-process engine; validated into a [`BenchPlan`].

use std::path::PathBuf;

use super::ranged;
use crate::limits::{self, IntRange};
use clap::Args;

use super::engine_args::EngineArgs;
use crate::app::bench::{BenchFormat, BenchPlan};
use crate::engine::{EngineConfig, EngineKind};
use crate::error::{Error, Result};
use crate::runner::bench::{BenchConfig, BenchTest};

/// Flags of `nativebench bench`. Lists are comma-separated; numeric lists also take
/// llama-bench's ranges, `first-last+step` and `first-last*mult`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Engines, comma-separated. Default: every in-process engine compiled in.
    #[arg(long, short = 'e', value_delimiter = ',')]
    pub engine: Vec<String>,
    /// Model spec (as for `run`). Default: synth:llama-135m:q8_0.
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Prompt sizes for pp tests (0: none).
    #[arg(short = 'p', long = "n-prompt", default_value = "512")]
    pub n_prompt: String,
    /// Generation sizes for tg tests (0: none).
    #[arg(short = 'n', long = "n-gen", default_value = "128")]
    pub n_gen: String,
    /// pp+tg tests as PP,TG pairs (repeat the flag for more); also `-pg`.
    #[arg(long = "pg")]
    pub pg: Vec<String>,
    /// Tokens already in the context before each test (KV depth).
    #[arg(short = 'd', long = "n-depth", default_value = "0")]
    pub n_depth: String,
    /// Repetitions of each test.
    #[arg(short = 'r', long, default_value_t = 5, allow_negative_numbers = true, value_parser = ranged::int::<usize>(limits::REPETITIONS))]
    pub repetitions: usize,
    /// Threads (a list). Default: the logical CPUs available.
    #[arg(short = 't', long)]
    pub threads: Option<String>,
    /// Logical batch sizes (a list); also `-b`.
    #[arg(short = 'b', long = "batch-size", default_value = "2048")]
    pub batch_size: String,
    /// Physical batch sizes (a list); also `-ub`.
    #[arg(long = "ubatch-size", visible_alias = "ub", default_value = "512")]
    pub ubatch_size: String,
    /// Skip the warmup run before each test.
    #[arg(long)]
    pub no_warmup: bool,
    /// Output format on stdout.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = BenchFormat::Md)]
    pub output: BenchFormat,
    /// Directory for bench.jsonl, manifest.json and run_config.json. Default:
    /// <results-dir>/<timestamp>-bench-<model>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// Seed for the random test prompts.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = ranged::int::<u64>(limits::SEED))]
    pub seed: u64,
    #[command(flatten)]
    pub backend: super::engine_args::BackendArgs,

    #[command(flatten)]
    pub sim: super::run::SimArgs,
}

/// The most values one list flag expands to: every combination of them is a test.
const MAX_LIST: usize = 256;

/// Parses `512`, `128,256`, `128-512+128` or `128-1024*2`, every value inside `range`.
pub fn parse_list(flag: &str, s: &str, range: IntRange) -> Result<Vec<usize>> {
    let bad = |why: &str| Error::Config(format!("{flag} `{s}`: {why}"));
    let num = |t: &str| -> Result<usize> {
        range
            .parse(flag, t)
            .map_err(|e| Error::Config(e.to_string()))
    };
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let range = part.split_once('-').filter(|(a, _)| !a.is_empty());
        match range {
            None => out.push(num(part)?),
            Some((first, rest)) => {
                let (last, step, mul) = if let Some((l, st)) = rest.split_once('+') {
                    (num(l)?, num(st)?, false)
                } else if let Some((l, m)) = rest.split_once('*') {
                    (num(l)?, num(m)?, true)
                } else {
                    (num(rest)?, 1, false)
                };
                let mut v = num(first)?;
                if (mul && (step < 2 || v == 0)) || (!mul && step == 0) || v > last {
                    return Err(bad("a range needs first <= last and a step that advances"));
                }
                while v <= last && out.len() <= MAX_LIST {
                    out.push(v);
                    v = if mul { v * step } else { v + step };
                }
            }
        }
        if out.len() > MAX_LIST {
            return Err(bad(&format!("more than {MAX_LIST} values")));
        }
    }
    if out.is_empty() {
        return Err(bad("empty list"));
    }
    Ok(out)
}

impl BenchArgs {
    /// Validates the flags into a config.
    pub fn validate(&self) -> Result<BenchPlan> {
        Ok(BenchPlan {
            bench: self.bench_config()?,
            out: self.out.clone(),
            results_dir: self.results_dir.clone(),
            output: self.output,
        })
    }

    fn bench_config(&self) -> Result<BenchConfig> {
        let engines = if self.engine.is_empty() {
            let real = EngineKind::in_process_compiled();
            if real.is_empty() {
                return Err(Error::Config(
                    "no in-process engine is compiled in: name one with --engine (sim calibrates the harness)".into(),
                ));
            }
            real
        } else {
            self.engine
                .iter()
                .map(|e| e.parse::<EngineKind>().map_err(Error::Config))
                .collect::<Result<Vec<_>>>()?
        };
        if engines.iter().any(|k| k.is_served()) {
            return Err(Error::Config(
                "`bench` measures in-process engines; use `run --engine http` for servers".into(),
            ));
        }
        let mut tests = Vec::new();
        let depths = parse_list("-d", &self.n_depth, limits::PREFIX_TOKENS)?;
        for &d in &depths {
            for p in parse_list("-p", &self.n_prompt, limits::PREFIX_TOKENS)?
                .into_iter()
                .filter(|&p| p > 0)
            {
                tests.push(BenchTest {
                    n_prompt: p,
                    n_gen: 0,
                    n_depth: d,
                });
            }
            for g in parse_list("-n", &self.n_gen, limits::PREFIX_TOKENS)?
                .into_iter()
                .filter(|&g| g > 0)
            {
                tests.push(BenchTest {
                    n_prompt: 0,
                    n_gen: g,
                    n_depth: d,
                });
            }
            for pair in &self.pg {
                let v = parse_list("-pg", pair, limits::TOKENS)?;
                match v.as_slice() {
                    [p, g] if *p > 0 && *g > 0 => tests.push(BenchTest {
                        n_prompt: *p,
                        n_gen: *g,
                        n_depth: d,
                    }),
                    _ => {
                        return Err(Error::Config(format!(
                            "-pg `{pair}`: expected PP,TG with both above 0"
                        )))
                    }
                }
            }
        }
        if tests.is_empty() {
            return Err(Error::Config(
                "no test to run: -p, -n and -pg are all 0 or empty".into(),
            ));
        }
        let threads = match &self.threads {
            Some(t) => parse_list("-t", t, limits::THREADS)?,
            None => vec![std::thread::available_parallelism().map_or(1, |n| n.get())],
        };
        let sizes = |flag: &str, s: &str| -> Result<Vec<u32>> {
            let v = parse_list(flag, s, limits::CONTEXT)?;
            Ok(v.into_iter().map(|x| x as u32).collect())
        };
        let llama = EngineArgs {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            threads_batch: None,
            parallel: Some(1),
            ctx_size: None,
            batch_size: 2048,
            ubatch_size: 512,
            prefix_cache: false,
            no_prefix_cache: false,
            backend: self.backend.clone(),
        }
        .llama(1)?;
        let candle = self.backend.candle()?;
        Ok(BenchConfig {
            engine: EngineConfig {
                kind: engines[0],
                model: self.model.clone().or_else(|| {
                    (engines.iter().any(|&e| e != EngineKind::Sim))
                        .then(|| super::run::DEFAULT_MODEL.to_owned())
                }),
                seed: self.seed,
                llama,
                candle,
                sim: self.sim.config()?,
                ..EngineConfig::default()
            },
            engines,
            tests,
            threads,
            batch_sizes: sizes("-b", &self.batch_size)?,
            ubatch_sizes: sizes("-ub", &self.ubatch_size)?,
            repetitions: self.repetitions,
            warmup: !self.no_warmup,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: IntRange = limits::PREFIX_TOKENS;

    #[test]
    fn lists_and_ranges_parse_like_llama_bench() {
        assert_eq!(parse_list("-p", "512", R).unwrap(), vec![512]);
        assert_eq!(parse_list("-p", "128,256", R).unwrap(), vec![128, 256]);
        assert_eq!(
            parse_list("-p", "128-512+128", R).unwrap(),
            vec![128, 256, 384, 512]
        );
        assert_eq!(
            parse_list("-p", "64-512*2", R).unwrap(),
            vec![64, 128, 256, 512]
        );
        assert_eq!(
            parse_list("-p", "x", R).unwrap_err().to_string(),
            "-p x: out of range, expected an integer from 0 to 16777216"
        );
        assert!(parse_list("-p", "8-4", R).is_err());
    }

    #[test]
    fn a_list_never_grows_past_its_bound_or_overflows() {
        for s in ["1-16777216", "0-16777216*2", "1-99999999999999999999"] {
            let e = parse_list("-p", s, R).unwrap_err().to_string();
            assert!(e.starts_with("-p "), "{s}: {e}");
        }
        assert_eq!(
            parse_list("-p", "1-16777216*16777215", R).unwrap(),
            vec![1, 16777215]
        );
    }
}
