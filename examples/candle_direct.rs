//! A minimal direct candle decode loop: the reference that `benches/candle-overhead.sh`
//! holds `nativebench run --engine candle` against. No nativebench code runs here: candle
//! loads the GGUF, prefills a prompt of random ids, and decodes greedily, and the loop
//! reads the clock around each step after the logits reach the host.
//!
//!   cargo run --release --example candle_direct -- MODEL.gguf [PROMPT_TOKENS] [OUTPUT_TOKENS] [SEQUENCES]
//!
//! Threads follow candle's own variables (CANDLE_NUM_THREADS, RAYON_NUM_THREADS). Prints
//! one JSON line: the median decode step in ms and the decode t/s it implies.

use std::fs::File;
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_gemma3, quantized_llama};

enum Model {
    Llama(quantized_llama::ModelWeights),
    Gemma3(quantized_gemma3::ModelWeights),
}

impl Model {
    fn forward(&mut self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Model::Llama(m) => m.forward(x, pos),
            Model::Gemma3(m) => m.forward(x, pos),
        }
    }
}

fn arg(args: &[String], i: usize, default: usize) -> usize {
    args.get(i).map_or(default, |s| {
        s.parse()
            .unwrap_or_else(|_| panic!("argument {i} must be a count"))
    })
}

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: candle_direct MODEL.gguf [PROMPT] [OUTPUT] [SEQUENCES]");
    let (n_prompt, n_out, n_seq) = (arg(&args, 2, 128), arg(&args, 3, 128), arg(&args, 4, 3));
    let device = Device::Cpu;
    let mut file = File::open(path)?;
    let content = gguf_file::Content::read(&mut file)?;
    let arch = match content.metadata.get("general.architecture") {
        Some(gguf_file::Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let vocab = match content.metadata.get("tokenizer.ggml.tokens") {
        Some(gguf_file::Value::Array(a)) => a.len(),
        _ => 32000,
    } as u32;
    let mut model = match arch.as_str() {
        "llama" => Model::Llama(quantized_llama::ModelWeights::from_gguf(
            content, &mut file, &device,
        )?),
        "gemma3" => Model::Gemma3(quantized_gemma3::ModelWeights::from_gguf(
            content, &mut file, &device,
        )?),
        other => panic!("this loop runs llama and gemma3 GGUFs, not {other:?}"),
    };

    let mut steps_ms = Vec::new();
    for seq in 0..n_seq {
        // Position 0 restarts both models' KV caches.
        let prompt: Vec<u32> = (0..n_prompt as u32)
            .map(|i| (i * 7919 + seq as u32 * 104_729) % vocab)
            .collect();
        let logits = model.forward(&Tensor::new(prompt.as_slice(), &device)?.unsqueeze(0)?, 0)?;
        let mut token = argmax(&logits.squeeze(0)?.to_vec1::<f32>()?);
        for i in 1..n_out {
            let t = Instant::now();
            let input = Tensor::new(&[token], &device)?.unsqueeze(0)?;
            let logits = model.forward(&input, n_prompt + i - 1)?;
            token = argmax(&logits.squeeze(0)?.to_vec1::<f32>()?);
            steps_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    steps_ms.sort_by(f64::total_cmp);
    let median = steps_ms[steps_ms.len() / 2];
    println!(
        "{{\"decode_step_ms_p50\": {median:.4}, \"decode_tok_s\": {:.3}, \"steps\": {}}}",
        1e3 / median,
        steps_ms.len()
    );
    Ok(())
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}
