//! Harness overhead: what nativebench's own recorder costs per token.
//!
//! A zero-delay sim engine generates tokens as fast as it can, once with a recorder that
//! does nothing and once with the runner's `MarkRecorder` (a clock read and a push per
//! token). The difference per token is the harness's cost, which every in-process
//! decode step pays. Target: under 1 µs per token.
//!
//! Chunk parsing: what reading one streamed OpenAI chunk costs the HTTP client, which
//! does it once per token. The same chunks are parsed three ways side by side: the
//! client's validating scanner (`openai::parse`), serde_json into a derived struct of the
//! same fields, and serde_json into a `Value`. Each way yields the same `ChunkParts`,
//! checked before anything is timed (BENCHMARKS.md, chunk parsing).
//!
//! `cargo bench --bench harness` runs the criterion groups, then prints both figures
//! (`-- chunk_parse` or `-- recorder` runs one group).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use nativebench::engine::{Engine, Mark, Prompt, Recorder, Request, SimConfig, SimEngine};
use nativebench::metrics::MarkRecorder;
use nativebench::openai::{ChunkParts, Usage};
use serde::Deserialize;
use serde_json::Value;

const TOKENS: u32 = 4096;

fn zero_delay_engine() -> SimEngine {
    let zero = SimConfig {
        template_ms: 0.0,
        tokenize_ms_per_kb: 0.0,
        prefill_ms: 0.0,
        prefill_ms_per_token: 0.0,
        decode_ms: 0.0,
        jitter: 0.0,
        failure_rate: 0.0,
        max_batch: 1,
        echo: false,
        ..SimConfig::default()
    };
    SimEngine::new(zero, 0)
}

fn request() -> Request {
    Request {
        id: 0,
        prompt: Prompt::Text("measure the harness".into()),
        max_tokens: TOKENS,
        ignore_eos: true,
        category: None,
        expected: None,
        arrival_us: None,
        turn: None,
    }
}

/// A recorder that records nothing: the baseline.
struct Null;

impl Recorder for Null {
    fn mark(&mut self, _: Mark) {}
}

fn with_null(engine: &mut SimEngine, req: &Request) -> Duration {
    let t = Instant::now();
    engine.generate(req, &mut Null).expect("sim generates");
    t.elapsed()
}

fn with_marks(engine: &mut SimEngine, req: &Request, stop: &AtomicBool) -> Duration {
    let t = Instant::now();
    let mut rec = MarkRecorder::start(req.max_tokens as usize, stop);
    let out = engine.generate(req, &mut rec);
    let record = rec.finish(req, out, Instant::now(), t);
    let d = t.elapsed();
    assert_eq!(record.output_tokens, TOKENS);
    d
}

fn recorder(c: &mut Criterion) {
    let mut engine = zero_delay_engine();
    let req = request();
    let stop = AtomicBool::new(false);
    let mut g = c.benchmark_group("recorder");
    g.throughput(Throughput::Elements(u64::from(TOKENS)));
    g.bench_function(BenchmarkId::new("sim_decode", "null_recorder"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| with_null(&mut engine, &req)).sum())
    });
    g.bench_function(BenchmarkId::new("sim_decode", "mark_recorder"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| with_marks(&mut engine, &req, &stop))
                .sum()
        })
    });
    g.finish();
}

/// Alternates the two recorders and prints the median cost per token of each, and the
/// difference: the recorder's cost.
fn print_overhead() {
    let mut engine = zero_delay_engine();
    let req = request();
    let stop = AtomicBool::new(false);
    let (mut null, mut marks) = (Vec::new(), Vec::new());
    for _ in 0..201 {
        null.push(with_null(&mut engine, &req).as_secs_f64() * 1e9 / f64::from(TOKENS));
        marks.push(with_marks(&mut engine, &req, &stop).as_secs_f64() * 1e9 / f64::from(TOKENS));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (n, m) = (median(&mut null), median(&mut marks));
    println!(
        "harness overhead: {m:.1} ns/token with the recorder, {n:.1} ns/token without: recorder cost {:.1} ns/token (target < 1000 ns)",
        m - n
    );
}

/// Realistic chunks, one of each kind a client reads: (name, data).
const CHUNKS: [(&str, &str); 5] = [
    // vLLM's chat token chunk (with OpenAI's system_fingerprint): the per-token case.
    (
        "chat_token",
        r#"{"id":"chatcmpl-8c1f2e4a9b7d4f3e8a6c5b2d1e0f9a8b","object":"chat.completion.chunk","created":1764806400,"model":"Qwen/Qwen2.5-0.5B-Instruct","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}]}"#,
    ),
    // vLLM's completions token chunk.
    (
        "completion_token",
        r#"{"id":"cmpl-3b9e7a1c5d2f4e6a8b0c1d2e3f4a5b6c","object":"text_completion","created":1764806400,"model":"Qwen/Qwen2.5-0.5B-Instruct","choices":[{"index":0,"text":" world","logprobs":null,"finish_reason":null,"stop_reason":null}]}"#,
    ),
    // A chat token whose text holds escapes (quotes, newline, tab, \u escapes), so both
    // parsers must decode it into an owned string.
    (
        "escaped_token",
        r#"{"id":"chatcmpl-8c1f2e4a9b7d4f3e8a6c5b2d1e0f9a8b","object":"chat.completion.chunk","created":1764806400,"model":"Qwen/Qwen2.5-0.5B-Instruct","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"\"caf\u00e9\"\n\tx = \\d+ \ud83d\ude00"},"logprobs":null,"finish_reason":null}]}"#,
    ),
    // The last chunk with usage (`stream_options.include_usage`): no choices.
    (
        "usage_final",
        r#"{"id":"chatcmpl-8c1f2e4a9b7d4f3e8a6c5b2d1e0f9a8b","object":"chat.completion.chunk","created":1764806400,"model":"Qwen/Qwen2.5-0.5B-Instruct","system_fingerprint":"fp_44709d6fcb","choices":[],"usage":{"prompt_tokens":128,"total_tokens":384,"completion_tokens":256,"prompt_tokens_details":null,"completion_tokens_details":{"reasoning_tokens":0}}}"#,
    ),
    // llama.cpp server's last chunk: finish reason, usage and its own timings.
    (
        "llama_cpp_final",
        r#"{"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1764806400,"id":"chatcmpl-Xk2bQ9rT5vW8yZ1aC4dF7gH0","model":"SmolLM2-135M-Instruct-Q8_0.gguf","system_fingerprint":"b7100-4f3a2c1d","object":"chat.completion.chunk","usage":{"completion_tokens":256,"prompt_tokens":12,"total_tokens":268},"timings":{"prompt_n":12,"prompt_ms":10.5,"prompt_per_token_ms":0.875,"prompt_per_second":1142.857142857143,"predicted_n":256,"predicted_ms":2048.25,"predicted_per_token_ms":8.0009765625,"predicted_per_second":124.98474307823}}"#,
    ),
];

/// `a` then `b`, as `openai::parse` joins content with text and the two reasoning fields.
fn joined<'a>(a: Option<Cow<'a, str>>, b: Option<Cow<'a, str>>) -> Cow<'a, str> {
    match (a.filter(|s| !s.is_empty()), b.filter(|s| !s.is_empty())) {
        (Some(a), Some(b)) => Cow::Owned(format!("{a}{b}")),
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => Cow::Borrowed(""),
    }
}

fn as_u32(v: Option<u64>) -> Option<u32> {
    v.and_then(|n| u32::try_from(n).ok())
}

fn native_timings(prompt_ms: Option<f64>, predicted_ms: Option<f64>) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for (key, v) in [("prompt_ms", prompt_ms), ("predicted_ms", predicted_ms)] {
        if let Some(x) = v {
            m.insert(format!("server_native_{key}"), x);
        }
    }
    m
}

/// Text borrowed from the chunk unless it holds escapes. serde borrows a `Cow<str>` only
/// when it is the field's own type, not inside an `Option`, hence the newtype.
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

fn text(t: Option<Text<'_>>) -> Option<Cow<'_, str>> {
    t.map(|t| t.0)
}

/// The fields `openai::parse` reads, derived; every other field is ignored (and checked).
#[derive(Deserialize)]
struct DerivedChunk<'a> {
    #[serde(borrow)]
    choices: Option<Vec<DerivedChoice<'a>>>,
    usage: Option<DerivedUsage>,
    timings: Option<DerivedTimings>,
    #[serde(borrow)]
    error: Option<DerivedError<'a>>,
    nb_sent_ns: Option<u64>,
    nb_token_ns: Option<u64>,
}

#[derive(Deserialize)]
struct DerivedChoice<'a> {
    #[serde(borrow)]
    delta: Option<DerivedDelta<'a>>,
    #[serde(borrow)]
    text: Option<Text<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct DerivedDelta<'a> {
    #[serde(borrow)]
    content: Option<Text<'a>>,
    #[serde(borrow)]
    reasoning_content: Option<Text<'a>>,
    #[serde(borrow)]
    reasoning: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct DerivedUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    completion_tokens_details: Option<DerivedDetails>,
    prompt_tokens_details: Option<DerivedPromptDetails>,
}

#[derive(Deserialize)]
struct DerivedPromptDetails {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct DerivedDetails {
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct DerivedTimings {
    prompt_ms: Option<f64>,
    predicted_ms: Option<f64>,
}

#[derive(Deserialize)]
struct DerivedError<'a> {
    #[serde(borrow)]
    message: Option<Text<'a>>,
}

/// `openai::parse` done with serde's derived visitor: the same `ChunkParts`.
fn parse_derived(data: &str) -> Result<ChunkParts<'_>, String> {
    let w: DerivedChunk<'_> = serde_json::from_str(data).map_err(|e| e.to_string())?;
    if let Some(e) = w.error {
        return Err(text(e.message).unwrap_or_default().into_owned());
    }
    let (mut content, mut txt, mut rc, mut r, mut finish_reason) = (None, None, None, None, None);
    if let Some(c) = w.choices.and_then(|cs| cs.into_iter().next()) {
        if let Some(d) = c.delta {
            (content, rc, r) = (
                text(d.content),
                text(d.reasoning_content),
                text(d.reasoning),
            );
        }
        (txt, finish_reason) = (text(c.text), text(c.finish_reason));
    }
    let (prompt_ms, predicted_ms) = w
        .timings
        .map_or((None, None), |t| (t.prompt_ms, t.predicted_ms));
    Ok(ChunkParts {
        content: joined(content, txt),
        reasoning: joined(rc, r),
        finish_reason,
        usage: w.usage.map(|u| Usage {
            prompt_tokens: as_u32(u.prompt_tokens),
            completion_tokens: as_u32(u.completion_tokens),
            reasoning_tokens: as_u32(u.completion_tokens_details.and_then(|d| d.reasoning_tokens)),
            cached_tokens: as_u32(u.prompt_tokens_details.and_then(|d| d.cached_tokens)),
        }),
        native_timings: native_timings(prompt_ms, predicted_ms),
        sent_ns: w.nb_sent_ns,
        token_ns: w.nb_token_ns,
    })
}

/// `openai::parse` done through a `serde_json::Value` tree, strings moved out of it.
fn parse_value(data: &str) -> Result<ChunkParts<'static>, String> {
    let mut v: Value = serde_json::from_str(data).map_err(|e| e.to_string())?;
    let take = |v: Option<&mut Value>| match v.map(Value::take) {
        Some(Value::String(s)) => Some(Cow::<str>::Owned(s)),
        _ => None,
    };
    let int = |v: Option<&Value>| as_u32(v.and_then(Value::as_u64));
    let float = |v: Option<&Value>| v.and_then(Value::as_f64);
    if let Some(e) = v.get_mut("error").filter(|e| !e.is_null()) {
        return Err(take(e.get_mut("message")).unwrap_or_default().into_owned());
    }
    let (mut content, mut txt, mut rc, mut r, mut finish_reason) = (None, None, None, None, None);
    if let Some(c) = v.get_mut("choices").and_then(|cs| cs.get_mut(0)) {
        if let Some(d) = c.get_mut("delta") {
            content = take(d.get_mut("content"));
            rc = take(d.get_mut("reasoning_content"));
            r = take(d.get_mut("reasoning"));
        }
        txt = take(c.get_mut("text"));
        finish_reason = take(c.get_mut("finish_reason"));
    }
    let usage = v.get("usage").filter(|u| u.is_object()).map(|u| Usage {
        prompt_tokens: int(u.get("prompt_tokens")),
        completion_tokens: int(u.get("completion_tokens")),
        reasoning_tokens: int(u.pointer("/completion_tokens_details/reasoning_tokens")),
        cached_tokens: int(u.pointer("/prompt_tokens_details/cached_tokens")),
    });
    let t = v.get("timings");
    Ok(ChunkParts {
        content: joined(content, txt),
        reasoning: joined(rc, r),
        finish_reason,
        usage,
        native_timings: native_timings(
            float(t.and_then(|t| t.get("prompt_ms"))),
            float(t.and_then(|t| t.get("predicted_ms"))),
        ),
        sent_ns: v.get("nb_sent_ns").and_then(Value::as_u64),
        token_ns: v.get("nb_token_ns").and_then(Value::as_u64),
    })
}

/// The three ways must read the same fields out of every chunk, and the scanner and the
/// derived struct must both borrow plain text, or the comparison is not fair.
fn check_chunks_agree() {
    for (name, data) in CHUNKS {
        let scanned = nativebench::openai::parse(data).expect("the scanner reads every chunk");
        let derived = parse_derived(data).expect("the derived struct reads every chunk");
        let value = parse_value(data).expect("the Value tree reads every chunk");
        assert_eq!(
            scanned, derived,
            "{name}: scanner and derived struct differ"
        );
        assert_eq!(scanned, value, "{name}: scanner and Value differ");
        let borrowed = |p: &ChunkParts<'_>| matches!(p.content, Cow::Borrowed(_));
        assert_eq!(
            borrowed(&scanned),
            borrowed(&derived),
            "{name}: borrowing differs"
        );
    }
    let token = nativebench::openai::parse(CHUNKS[0].1).unwrap();
    assert!(matches!(token.content, Cow::Borrowed(" the")), "{token:?}");
    assert!(matches!(
        parse_derived(CHUNKS[0].1).unwrap().content,
        Cow::Borrowed(" the")
    ));
    assert_eq!(
        nativebench::openai::parse(CHUNKS[2].1).unwrap().content,
        "\"café\"\n\tx = \\d+ 😀"
    );
    let last = nativebench::openai::parse(CHUNKS[4].1).unwrap();
    assert_eq!(last.finish_reason.as_deref(), Some("length"));
    assert_eq!(last.native_timings.len(), 2);
    assert_eq!(
        nativebench::openai::parse(CHUNKS[3].1).unwrap().usage,
        Some(Usage {
            prompt_tokens: Some(128),
            completion_tokens: Some(256),
            reasoning_tokens: Some(0),
            cached_tokens: None,
        })
    );
}

fn chunk_parse(c: &mut Criterion) {
    check_chunks_agree();
    let mut g = c.benchmark_group("chunk_parse");
    g.throughput(Throughput::Elements(1));
    for (name, data) in CHUNKS {
        g.bench_with_input(BenchmarkId::new("scanner", name), data, |b, d| {
            b.iter(|| nativebench::openai::parse(black_box(d)))
        });
        g.bench_with_input(BenchmarkId::new("serde_derived", name), data, |b, d| {
            b.iter(|| parse_derived(black_box(d)))
        });
        g.bench_with_input(BenchmarkId::new("serde_value", name), data, |b, d| {
            b.iter(|| parse_value(black_box(d)))
        });
    }
    g.finish();
}

/// Alternates the three ways in rounds over every chunk and prints the median ns per
/// chunk of each, and the ratios: a load on the machine falls on all three alike.
fn print_chunk_parse() {
    check_chunks_agree();
    const PER_ROUND: u32 = 500;
    fn per_chunk<'a, T>(data: &'a str, f: impl Fn(&'a str) -> T) -> f64 {
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            black_box(f(black_box(data)));
        }
        t.elapsed().as_secs_f64() * 1e9 / f64::from(PER_ROUND)
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (name, data) in CHUNKS {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..101 {
            a.push(per_chunk(data, nativebench::openai::parse));
            b.push(per_chunk(data, parse_derived));
            c.push(per_chunk(data, parse_value));
        }
        let (a, b, c) = (median(a), median(b), median(c));
        println!(
            "chunk_parse {name:<16} scanner {a:6.0} ns, serde derived {b:6.0} ns, serde Value {c:6.0} ns: derived/scanner {:.2}x, Value/scanner {:.2}x",
            b / a,
            c / a
        );
    }
}

criterion_group!(benches, recorder, chunk_parse);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_overhead();
    print_chunk_parse();
}
