//! The candle engine: the checks every in-process engine passes (engines.rs), a qwen3
//! GGUF and a llama safetensors directory in every dtype, agreement with llama.cpp, NaN
//! logits, and bad input only candle sees.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};

use crate::engines::{assert_repeats, engine_tests, TINY};
use crate::support::*;

engine_tests! {
    engine: "candle",
    short_workload: candle_short_workload_has_exact_lengths => |run| {
        let m = &run.manifest;
        assert_eq!(m["engine"]["version"], "0.11.1");
        assert_eq!(m["engine"]["device"], "cpu");
        assert_eq!(m["engine"]["details"]["architecture"], "llama");
    },
    kv_cache_reset: candle_kv_cache_is_reset_between_requests,
    gemma3_270m: candle_gemma3_270m_writes_a_complete_run_directory => |run| {
        assert_eq!(run.manifest["engine"]["details"]["architecture"], "gemma3");
    },
    bench: candle_bench_runs_llama_bench_tests,
    bad_input: candle_bad_input_is_a_one_line_error,
}

/// The tiny f32 model relabelled as a qwen3 GGUF (`qwen3.*` keys, plus the q/k norms
/// qwen3 adds), so candle runs it through quantized_qwen3, the model that does not reset
/// its KV cache by itself.
fn qwen3_model(dir: &Path) -> PathBuf {
    use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
    let src = nativebench::model::resolve("synth:tiny:f32").unwrap().path;
    let mut f = std::fs::File::open(&src).unwrap();
    let ct = gguf_file::Content::read(&mut f).unwrap();
    let u32_of = |k: &str| ct.metadata[k].to_u32().unwrap();
    let head_dim = u32_of("llama.embedding_length") / u32_of("llama.attention.head_count");
    let layers = u32_of("llama.block_count");
    let mut md: Vec<(String, gguf_file::Value)> = ct
        .metadata
        .iter()
        .map(|(k, v)| (k.replacen("llama.", "qwen3.", 1), v.clone()))
        .filter(|(k, _)| k != "general.architecture")
        .collect();
    md.push((
        "general.architecture".into(),
        gguf_file::Value::String("qwen3".into()),
    ));
    for k in ["qwen3.attention.key_length", "qwen3.attention.value_length"] {
        md.push((k.into(), gguf_file::Value::U32(head_dim)));
    }
    let mut tensors: Vec<(String, QTensor)> = ct
        .tensor_infos
        .keys()
        .map(|name| (name.clone(), ct.tensor(&mut f, name, &Device::Cpu).unwrap()))
        .collect();
    let ones = Tensor::ones(head_dim as usize, DType::F32, &Device::Cpu).unwrap();
    for i in 0..layers {
        for n in ["attn_q_norm", "attn_k_norm"] {
            let q = QTensor::quantize(&ones, GgmlDType::F32).unwrap();
            tensors.push((format!("blk.{i}.{n}.weight"), q));
        }
    }
    md.sort_by(|a, b| a.0.cmp(&b.0));
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let p = dir.join("qwen3-tiny.gguf");
    let mut out = std::fs::File::create(&p).unwrap();
    let md_refs: Vec<(&str, &gguf_file::Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    gguf_file::write(&mut out, &md_refs, &t_refs).unwrap();
    p
}

#[test]
fn candle_kv_cache_is_reset_between_requests_on_qwen3() {
    let tmp = tempdir();
    let model = qwen3_model(tmp.path());
    assert_repeats("candle", path_str(&model), tmp.path());
    let m = json(&tmp.path().join("repeat").join("manifest.json"));
    assert_eq!(m["engine"]["details"]["architecture"], "qwen3");
}

#[cfg(feature = "llama-cpp")]
fn agreement(model: &str) -> Value {
    let o = ok_run(&[
        "check-agreement",
        "-m",
        model,
        "--tokens",
        "32",
        "-t",
        "2",
        "--format",
        "json",
    ]);
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
#[cfg(feature = "llama-cpp")]
fn candle_and_llama_cpp_agree_on_the_tiny_model() {
    let f32 = agreement("synth:tiny:f32");
    assert_eq!(f32["tokens"], 32);
    assert_eq!(f32["matching_prefix"], 32, "{f32}");
    assert_eq!(f32["tokenizers_agree"], true);
    let rel = f32["max_rel_logit_diff"].as_f64().unwrap();
    assert!(rel < 0.05, "f32 logits far apart: {f32}");

    let q8 = agreement(TINY);
    assert!(q8["matching_prefix"].as_u64().unwrap() >= 8, "{q8}");

    // The table says the same in words.
    let o = ok_run(&[
        "check-agreement",
        "-m",
        "synth:tiny:f32",
        "-n",
        "4",
        "-t",
        "2",
    ]);
    assert!(
        stdout(&o).contains("greedy tokens: 4/4 agree from the start"),
        "{}",
        stdout(&o)
    );
}

/// A copy of the tiny f32 model whose final norm is NaN: every logit is NaN.
fn nan_model(dir: &Path) -> PathBuf {
    let src = nativebench::model::resolve("synth:tiny:f32").unwrap().path;
    let g = nativebench::model::GgufFile::open(&src).unwrap();
    let t = g.tensor("output_norm.weight").expect("an output norm");
    assert_eq!(t.ggml_type.name, "F32");
    let mut bytes = std::fs::read(&src).unwrap();
    let start = (g.data_offset + t.offset) as usize;
    for chunk in bytes[start..start + t.n_bytes as usize].chunks_mut(4) {
        chunk.copy_from_slice(&f32::NAN.to_le_bytes());
    }
    let p = dir.join("nan.gguf");
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn nan_logits_fail_the_request_and_say_so() {
    let tmp = tempdir();
    let model = nan_model(tmp.path());
    let out = tmp.path().join("nan");
    let o = run(&[
        "run",
        "-e",
        "candle",
        "-m",
        model.to_str().unwrap(),
        "--prompt",
        "hello",
        "--output-len",
        "4",
        "-r",
        "2",
        "--warmup",
        "0",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "every request failed: {}",
        stderr(&o)
    );
    let s = samples(&out);
    assert_eq!(s.len(), 2, "the run goes on after a failed request");
    for r in &s {
        assert_eq!(r["ok"], false);
        assert_eq!(r["error_kind"], "engine");
        let e = r["error"].as_str().unwrap();
        assert!(e.contains("NaN in the logits at step 0"), "{r}");
    }
}

// ---- A llama safetensors directory ----------------------------------------------------

pub(crate) struct Shape {
    hidden: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    ffn: usize,
    vocab: usize,
}

/// Writes a random llama model directory of `shape`, with tensors shaped for `tensors`
/// (so a mismatch can be written on purpose) and the tiny model's tokenizer.
pub(crate) fn llama_dir(dir: &Path, config: &Shape, tensors: &Shape) -> PathBuf {
    let d = dir.join("llama");
    std::fs::create_dir_all(&d).unwrap();
    let tok = nativebench::model::resolve(TINY)
        .unwrap()
        .tokenizer_json
        .expect("a tokenizer.json beside the synthetic model");
    std::fs::copy(tok, d.join("tokenizer.json")).unwrap();
    let cfg = json!({
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": config.hidden,
        "intermediate_size": config.ffn,
        "vocab_size": config.vocab,
        "num_hidden_layers": config.layers,
        "num_attention_heads": config.heads,
        "num_key_value_heads": config.kv_heads,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "max_position_embeddings": 512,
        "tie_word_embeddings": true,
        "bos_token_id": 1,
        "eos_token_id": 2
    });
    std::fs::write(d.join("config.json"), cfg.to_string()).unwrap();

    let s = tensors;
    let head_dim = s.hidden / s.heads;
    let dev = Device::Cpu;
    let rand = |shape: &[usize]| Tensor::randn(0f32, 0.05, shape, &dev).unwrap();
    let ones = |n: usize| Tensor::ones(n, DType::F32, &dev).unwrap();
    let mut ts: HashMap<String, Tensor> = HashMap::new();
    ts.insert(
        "model.embed_tokens.weight".into(),
        rand(&[s.vocab, s.hidden]),
    );
    ts.insert("model.norm.weight".into(), ones(s.hidden));
    for i in 0..s.layers {
        let p = format!("model.layers.{i}");
        let q = head_dim * s.heads;
        let kv = head_dim * s.kv_heads;
        for (n, shape) in [
            ("self_attn.q_proj.weight", vec![q, s.hidden]),
            ("self_attn.k_proj.weight", vec![kv, s.hidden]),
            ("self_attn.v_proj.weight", vec![kv, s.hidden]),
            ("self_attn.o_proj.weight", vec![s.hidden, q]),
            ("mlp.gate_proj.weight", vec![s.ffn, s.hidden]),
            ("mlp.up_proj.weight", vec![s.ffn, s.hidden]),
            ("mlp.down_proj.weight", vec![s.hidden, s.ffn]),
        ] {
            ts.insert(format!("{p}.{n}"), rand(&shape));
        }
        ts.insert(format!("{p}.input_layernorm.weight"), ones(s.hidden));
        ts.insert(
            format!("{p}.post_attention_layernorm.weight"),
            ones(s.hidden),
        );
    }
    candle_core::safetensors::save(&ts, d.join("model.safetensors")).unwrap();
    d
}

pub(crate) fn small() -> Shape {
    Shape {
        hidden: 64,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        ffn: 128,
        vocab: 2048,
    }
}

#[test]
fn a_llama_safetensors_directory_runs_in_every_dtype() {
    let tmp = tempdir();
    let dir = llama_dir(tmp.path(), &small(), &small());
    for dtype in ["f32", "f16", "bf16"] {
        let out = tmp.path().join(dtype);
        ok_run(&[
            "run",
            "-e",
            "candle",
            "-m",
            dir.to_str().unwrap(),
            "--dtype",
            dtype,
            "--prompt",
            "The weights are random but the shapes are real",
            "--output-len",
            "8",
            "--warmup",
            "0",
            "-t",
            "2",
            "-o",
            out.to_str().unwrap(),
            "-q",
        ]);
        let s = samples(&out);
        assert_eq!(s[0]["ok"], true, "{dtype}: {}", s[0]);
        assert_eq!(s[0]["output_tokens"], 8, "{dtype}");
        let m = json(&out.join("manifest.json"));
        assert_eq!(m["engine"]["details"]["dtype"], dtype);
        assert_eq!(m["engine"]["details"]["format"], "safetensors");
        // The directory's identity: weights, config and tokenizer hashed together.
        assert_eq!(m["model_file"]["sha256"].as_str().unwrap().len(), 64);
    }
}

/// Bad input only candle sees (the input every engine sees: engines.rs).
#[test]
fn candle_specific_bad_input_is_a_clear_error() {
    let tmp = tempdir();
    let d = tmp.path();
    let o = d.join("x");
    let o = o.to_str().unwrap();
    let candle = |extra: &[&str]| {
        let mut args = vec!["run", "-e", "candle", "-o", o, "-q", "--warmup", "0"];
        args.extend_from_slice(extra);
        run(&args)
    };

    // An architecture candle does not run: the tiny model relabelled as `mamba`.
    let src = nativebench::model::resolve(TINY).unwrap().path;
    let mut bytes = std::fs::read(&src).unwrap();
    let key = b"general.architecture";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("the architecture key");
    // key, then the value's type (u32) and length (u64), then the 5 bytes of "llama".
    let value = at + key.len() + 4 + 8;
    assert_eq!(&bytes[value..value + 5], b"llama");
    bytes[value..value + 5].copy_from_slice(b"mamba");
    let mamba = d.join("mamba.gguf");
    std::fs::write(&mamba, bytes).unwrap();
    assert_one_line_error(
        &candle(&["-m", mamba.to_str().unwrap()]),
        1,
        "architecture `mamba` is not supported by candle here (supported: llama, gemma3, qwen2, qwen3)",
    );

    let corrupt = write(d, "corrupt.gguf", "GGUF but not really a model");
    assert_one_line_error(
        &candle(&["-m", TINY, "--device", "cuda:0"]),
        1,
        "this build has no CUDA support: rebuild with --features cuda",
    );
    assert_one_line_error(
        &candle(&["-m", TINY, "--dtype", "f16"]),
        1,
        "--dtype f16 applies to safetensors models",
    );

    // Tensors shaped for another config: named, not a panic.
    let mut wide = small();
    wide.hidden = 96;
    wide.heads = 6;
    wide.kv_heads = 3;
    let dir = llama_dir(d, &small(), &wide);
    assert_one_line_error(
        &candle(&["-m", dir.to_str().unwrap()]),
        1,
        "the safetensors do not match config.json: model.embed_tokens.weight has shape [2048, 96], config.json implies [2048, 64]",
    );
    // A config with fewer layers than the files hold.
    let mut shallow = small();
    shallow.layers = 1;
    let dir = llama_dir(&d.join("shallow"), &shallow, &small());
    assert_one_line_error(
        &candle(&["-m", dir.to_str().unwrap()]),
        1,
        "the files hold 2 layers, config.json says num_hidden_layers = 1",
    );

    // candle's CPU pool is sized once per process: a thread sweep says so (after the
    // -t 1 test, whose record goes to --out, not to the checkout's results/).
    let sweep = d.join("sweep");
    assert_one_line_error(
        &run(&[
            "bench",
            "-e",
            "candle",
            "-m",
            TINY,
            "-p",
            "16",
            "-n",
            "0",
            "-r",
            "1",
            "-t",
            "1,2",
            "--out",
            path_str(&sweep),
        ]),
        1,
        "candle: the CPU thread pool is sized once per process and already runs 1 thread(s); run -t 2 in a process of its own",
    );

    // check-agreement: bad flags and a model llama.cpp cannot load.
    assert_one_line_error(
        &run(&["check-agreement", "-m", TINY, "--tokens", "0"]),
        2,
        "--tokens 0: out of range, expected an integer from 1 to 16777216",
    );
    let agreement = run(&["check-agreement", "-m", corrupt.to_str().unwrap()]);
    if cfg!(feature = "llama-cpp") {
        assert_one_line_error(&agreement, 1, "corrupt.gguf");
    } else {
        assert_one_line_error(&agreement, 1, "rebuild with --features llama-cpp");
    }
}
