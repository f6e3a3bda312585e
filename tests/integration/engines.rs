//! The checks every in-process engine passes alike, and `engine_tests!`, which makes them
//! tests once per engine: candle.rs and llama_cpp.rs each instantiate it, under test names
//! that carry the engine's, and add the engine's own assertions where an engine reports
//! more (llama.cpp's own timings, candle's device). What only one engine does (batched
//! decoding, NaN logits, safetensors) stays in that engine's file.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// The tiny synthetic model, generated on first use into the model cache.
pub const TINY: &str = "synth:tiny:q8_0";

/// Gemma 3 270M's sha256, as models/registry.toml pins it.
const GEMMA_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

/// Makes every shared check a test for one engine. Each check is named in this order with
/// its test's name; `=> |run| { ... }` after a check that returns its run adds the
/// engine's own assertions on it. Leaving a check out does not compile, so no engine
/// skips one.
///
/// ```ignore
/// engine_tests! {
///     engine: "candle",
///     short_workload: candle_short_workload_has_exact_lengths => |run| { ... },
///     kv_cache_reset: candle_kv_cache_is_reset_between_requests,
///     gemma3_270m: candle_gemma3_270m_writes_a_complete_run_directory => |run| { ... },
///     bench: candle_bench_runs_llama_bench_tests,
///     bad_input: candle_bad_input_is_a_one_line_error,
/// }
/// ```
macro_rules! engine_tests {
    (
        engine: $engine:literal,
        short_workload: $short:ident $(=> |$short_run:ident| $short_extra:block)?,
        kv_cache_reset: $kv:ident,
        gemma3_270m: $gemma:ident $(=> |$gemma_run:ident| $gemma_extra:block)?,
        bench: $bench:ident,
        bad_input: $bad:ident $(,)?
    ) => {
        #[test]
        fn $short() {
            let _run = $crate::engines::short_workload($engine);
            $(let $short_run = &_run; $short_extra)?
        }

        #[test]
        fn $kv() {
            $crate::engines::kv_cache_reset($engine);
        }

        #[test]
        fn $gemma() {
            // None: Gemma is not fetched, and the skip is reported (support::skip).
            let Some(_run) = $crate::engines::gemma3_270m($engine) else {
                return;
            };
            $(let $gemma_run = &_run; $gemma_extra)?
        }

        #[test]
        fn $bench() {
            $crate::engines::bench($engine);
        }

        #[test]
        fn $bad() {
            $crate::engines::bad_input($engine);
        }
    };
}
pub(crate) use engine_tests;

/// A run that succeeded, read back. Its files are in `tmp/run`; `tmp` is removed when
/// this is dropped.
pub struct EngineRun {
    pub tmp: tempfile::TempDir,
    pub samples: Vec<Value>,
    pub manifest: Value,
    pub metrics: Value,
}

/// `run -e ENGINE -m MODEL EXTRA... -t 2`, which must succeed and write all four files.
fn engine_run(engine: &str, model: &str, extra: &[&str]) -> EngineRun {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let args = [
        &["run", "-e", engine, "-m", model][..],
        extra,
        &["-t", "2", "-o", path_str(&dir), "-q"],
    ]
    .concat();
    ok_run(&args);
    for f in [
        "samples.jsonl",
        "metrics.json",
        "run_config.json",
        "manifest.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    EngineRun {
        samples: samples(&dir),
        manifest: json(&dir.join("manifest.json")),
        metrics: json(&dir.join("metrics.json")),
        tmp,
    }
}

/// The short workload on the tiny model: five requests of exactly 128 tokens in and 128
/// out, and a manifest naming the engine, its threads and the model file.
pub fn short_workload(engine: &str) -> EngineRun {
    let run = engine_run(engine, TINY, &["-w", "short"]);
    assert_eq!(run.samples.len(), 5);
    for r in &run.samples {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(
            r["output_tokens"], 128,
            "ignore-EOS makes the output length exact"
        );
        assert_eq!(r["token_ms"].as_array().unwrap().len(), 128);
        // The prompt is fitted with the engine's own tokenizer, template included.
        assert_eq!(r["prompt_tokens"], 128, "{r}");
        assert!(num(r, "prefill_ms") > 0.0, "{r}");
        assert!(!r["output_text"].as_str().unwrap().is_empty());
    }
    let m = &run.manifest;
    assert_eq!(m["engine"]["name"], engine);
    assert_eq!(m["engine"]["threads"], 2);
    assert_eq!(m["model_file"]["sha256"].as_str().unwrap().len(), 64);
    assert!(m["model_file"]["size_bytes"].as_u64().unwrap() > 0);
    assert!(m["engine"]["details"].is_object(), "{m}");
    run
}

/// The same prompt three times in one run of `model`, into `dir/repeat`: with the KV
/// cache reset between requests, greedy decoding gives the same text each time.
pub fn assert_repeats(engine: &str, model: &str, dir: &Path) {
    let out = dir.join("repeat");
    ok_run(&[
        "run",
        "-e",
        engine,
        "-m",
        model,
        "--prompt",
        "Once upon a time there was a small program that measured everything",
        "--output-len",
        "16",
        "-r",
        "3",
        "--warmup",
        "0",
        "-t",
        "2",
        "-o",
        path_str(&out),
        "-q",
    ]);
    let s = samples(&out);
    assert_eq!(s.len(), 3);
    let texts: Vec<&str> = s
        .iter()
        .map(|r| r["output_text"].as_str().unwrap())
        .collect();
    assert!(!texts[0].is_empty());
    assert!(
        texts.iter().all(|t| *t == texts[0]),
        "the KV cache leaked between requests: {texts:?}"
    );
}

/// The KV cache is reset between requests, on the tiny model.
pub fn kv_cache_reset(engine: &str) {
    let tmp = tempdir();
    assert_repeats(engine, TINY, tmp.path());
}

/// Gemma 3 270M by its registry name: a complete run directory with exact lengths past
/// `<eos>`, prompts fitted with Gemma's own tokenizer, the fetched file in the manifest,
/// and the KV cache reset between requests on a real model. `None` when Gemma is not
/// fetched (the skip is reported).
pub fn gemma3_270m(engine: &str) -> Option<EngineRun> {
    let path = gemma()?;
    let run = engine_run(
        engine,
        "gemma3-270m",
        &["-w", "short", "--num-prompts", "2", "--output-len", "32"],
    );
    assert_eq!(run.samples.len(), 2);
    for r in &run.samples {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["output_tokens"], 32, "ignore-EOS keeps going past <eos>");
        assert_eq!(
            r["prompt_tokens"], 128,
            "fitted with Gemma's own tokenizer: {r}"
        );
        assert!(num(r, "prefill_ms") > 0.0 && num(r, "tpot_ms") > 0.0, "{r}");
    }
    let m = &run.manifest;
    assert_eq!(m["model_file"]["sha256"], GEMMA_SHA256);
    assert_eq!(
        m["model_file"]["size_bytes"],
        std::fs::metadata(&path).unwrap().len(),
        "the manifest names the fetched file"
    );
    assert_eq!(run.metrics["completed"], 2, "{}", run.metrics);
    assert_eq!(run.metrics["failed"], 0, "{}", run.metrics);
    assert_repeats(engine, path_str(&path), run.tmp.path());
    Some(run)
}

/// `bench` runs llama-bench's tests on the engine and names the model as llama-bench
/// does, the same for every engine.
pub fn bench(engine: &str) {
    let tmp = tempdir();
    let o = ok_run(&[
        "bench",
        "-e",
        engine,
        "-m",
        TINY,
        "-p",
        "64",
        "-n",
        "8",
        "-r",
        "2",
        "-t",
        "2",
        "-o",
        "json",
        "--out",
        path_str(&tmp.path().join("bench")),
    ]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = v.as_array().unwrap();
    let tests: Vec<&str> = rows.iter().map(|t| t["test"].as_str().unwrap()).collect();
    assert_eq!(tests, vec!["pp64", "tg8"]);
    for t in rows {
        assert_eq!(t["engine"], engine, "{t}");
        assert_eq!(t["samples_ns"].as_array().unwrap().len(), 2);
        assert!(num(t, "avg_ts") > 0.0, "{t}");
        assert_eq!(t["n_threads"], 2);
        assert_eq!(t["backend"], "CPU", "{t}");
        // The tiny model's name, bytes and parameters as llama-bench gives them: every
        // engine names the same file the same way.
        assert_eq!(t["model_type"], "llama 3M Q8_0", "{t}");
        assert_eq!(t["model_size"], 2_790_400, "{t}");
        assert_eq!(t["model_n_params"], 2_622_720, "{t}");
    }
}

/// Bad input that every in-process engine answers alike: the arguments after
/// `run -e ENGINE` (split at spaces; `{dir}` is the test's folder, where `corrupt.gguf`
/// is written), the exit code the README's table gives (1 runtime failure, 2 invalid
/// flags or paths) and a fragment of the one `error:` line.
#[rustfmt::skip]
const BAD_INPUT: &[(&str, i32, &str)] = &[
    ("-m {dir}/corrupt.gguf",                1, "corrupt.gguf"),
    ("-m {dir}/absent.gguf",                 2, "no such model file"),
    ("",                                     2, "needs --model"),
    ("-m synth:tiny:q8_0 -t 0",              2, "--threads 0: out of range, expected an integer from 1 to 4096"),
    ("-m synth:tiny:q8_0 --poll 101",        2, "--poll 101: out of range, expected an integer from 0 to 100"),
    ("-m synth:tiny:q8_0 --dtype f8",        2, "unknown --dtype `f8`: choose f32, f16 or bf16"),
    ("-m synth:tiny:q8_0 --device tpu",      2, "unknown device `tpu`"),
];

/// Every row of [`BAD_INPUT`] on `engine`.
pub fn bad_input(engine: &str) {
    let tmp = tempdir();
    let dir = path_str(tmp.path());
    write(tmp.path(), "corrupt.gguf", "GGUF but not really a model");
    let out = tmp.path().join("x");
    for &(case, code, needle) in BAD_INPUT {
        let mut args = vec!["run".to_owned(), "-e".to_owned(), engine.to_owned()];
        args.extend(
            case.split(' ')
                .filter(|a| !a.is_empty())
                .map(|a| a.replace("{dir}", dir)),
        );
        args.extend(["-o", path_str(&out), "-q"].map(str::to_owned));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        let case = format!("nativebench {}", args.join(" "));
        assert_eq!(o.status.code(), Some(code), "{case}: {}", stderr(&o));
        assert_one_line_error(&o, code, needle);
    }
}
