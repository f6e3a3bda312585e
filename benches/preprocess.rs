//! Criterion microbenchmarks of preprocessing per model: chat-template rendering
//! (minijinja) of an 8-turn conversation with the model's own template, and tokenizing
//! 1 KiB and 64 KiB with its tokenizer. The synthetic tiny model always; the real
//! DeepSeek-R1-Distill-Qwen vocabulary and Gemma 3 where fetched
//! (models/fetch-qwen2-r1-vocab.sh, models/fetch-gemma3-270m.sh).
//!
//! `cargo bench --bench preprocess`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nativebench::engine::template::ChatTemplate;
use nativebench::model::{self, gguf::GgufFile, vocab::GgufVocab};
use nativebench::preprocess::templates::{conversation, named, text};

const MODELS: [&str; 3] = ["synth:tiny", "qwen2-r1-vocab", "gemma3-270m"];

fn preprocess(c: &mut Criterion) {
    for spec in MODELS {
        let Ok(m) = model::resolve(spec) else {
            eprintln!("skipping {spec}: not fetched");
            continue;
        };
        let g = GgufFile::open(&m.path).expect("the model's GGUF opens");
        let vocab = GgufVocab::from_gguf(&g).expect("its vocabulary reads");
        let tok = model::tokenizer_from_gguf(&g).expect("its tokenizer converts");
        let piece = |id: Option<u32>| {
            id.and_then(|i| vocab.tokens.get(i as usize).cloned())
                .unwrap_or_default()
        };
        let source = vocab.chat_template.clone().unwrap_or_else(|| {
            named(if spec.starts_with("gemma") {
                "gemma"
            } else {
                "chatml"
            })
            .map_or(String::new(), |t| t.source.to_string())
        });
        let template = ChatTemplate::new(
            &source,
            &piece(vocab.bos_token_id),
            &piece(vocab.eos_token_id),
        )
        .expect("the template compiles");

        let mut group = c.benchmark_group(format!("template_render/{spec}"));
        let messages = conversation(8, 256, source.contains("</think>"));
        group.throughput(Throughput::Elements(messages.len() as u64));
        group.bench_function(BenchmarkId::new("turns", 8), |b| {
            b.iter(|| template.render(&messages, true).expect("renders"))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("tokenize/{spec}"));
        for bytes in [1024usize, 65_536] {
            let t = text(bytes, 0);
            group.throughput(Throughput::Bytes(t.len() as u64));
            group.bench_function(BenchmarkId::new("bytes", bytes), |b| {
                b.iter(|| tok.encode_fast(t.as_str(), false).expect("encodes").len())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, preprocess);
criterion_main!(benches);
