//! Fuzz targets for the seven parsers of untrusted input, run as ordinary tests: the GGUF
//! reader, the SSE parser, the JSON chunk scanner, the HTTP/1.1 reader, the workload
//! parsers (TOML, YAML, ShareGPT JSON, JSONL), chat-template rendering and the report
//! loader. Each mutates real seeds (and feeds raw bytes) for a bounded time, asserting no
//! panic and a typed error or a valid result, and prints how many cases it ran.
//!
//! `NATIVEBENCH_FUZZ_SECS` sets each target's time (default 10 s) and
//! `NATIVEBENCH_FUZZ_SEED` replays a run; a failure prints its seed and input.

use std::fmt::Debug;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use nativebench::engine::template::ChatTemplate;
use nativebench::engine::Message;
use nativebench::model::gguf::GgufFile;
use nativebench::openai::sse::{SseItem, SseParser};
use nativebench::openai::wire::{parse_head, BodyDecoder};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::support;

/// Runs `check` on values of `strategy` until the time budget is spent; a panic fails the
/// test with the seed and the input that caused it.
fn fuzz<T: Debug>(name: &str, strategy: impl Strategy<Value = T>, mut check: impl FnMut(&T)) {
    let secs: f64 = std::env::var("NATIVEBENCH_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let seed: u64 = std::env::var("NATIVEBENCH_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut cases = 0u64;
    while cases == 0 || start.elapsed() < budget {
        let value = strategy
            .new_tree(&mut runner)
            .expect("the strategy makes a value")
            .current();
        if let Err(p) = std::panic::catch_unwind(AssertUnwindSafe(|| check(&value))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let input: String = format!("{value:?}").chars().take(4000).collect();
            panic!("fuzz {name}: case {cases} (NATIVEBENCH_FUZZ_SEED={seed}) panicked: {msg}\ninput: {input}");
        }
        cases += 1;
    }
    println!(
        "fuzz {name}: {cases} cases in {:.1} s (NATIVEBENCH_FUZZ_SEED={seed})",
        start.elapsed().as_secs_f64()
    );
}

/// One change to a seed, at a position taken modulo its length.
#[derive(Debug, Clone)]
enum Op {
    Flip(usize, u8),
    Set(usize, u8),
    /// Inserts a token of the target's dictionary.
    Token(usize, usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    /// Copies a range elsewhere (repeats structure).
    Dup(usize, usize, usize),
    /// Writes a little-endian number that breaks sizes and counts.
    Word(usize, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let interesting = prop_oneof![
        Just(0u64),
        Just(1),
        Just(0xff),
        Just(u32::MAX as u64),
        Just(u32::MAX as u64 + 1),
        Just(1 << 40),
        Just(i64::MAX as u64),
        Just(u64::MAX),
        any::<u64>(),
    ];
    prop_oneof![
        1 => (any::<usize>(), 1u8..=255).prop_map(|(p, b)| Op::Flip(p, b)),
        1 => (any::<usize>(), prop_oneof![Just(0u8), Just(0xff), Just(0x80), Just(b'\n'), any::<u8>()])
            .prop_map(|(p, b)| Op::Set(p, b)),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(p, t)| Op::Token(p, t)),
        1 => (any::<usize>(), vec(any::<u8>(), 1..16)).prop_map(|(p, b)| Op::Insert(p, b)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(p, n)| Op::Delete(p, n)),
        1 => any::<usize>().prop_map(Op::Truncate),
        1 => (any::<usize>(), any::<usize>(), 1usize..128).prop_map(|(a, b, n)| Op::Dup(a, b, n)),
        1 => (any::<usize>(), interesting).prop_map(|(p, w)| Op::Word(p, w)),
    ]
}

fn apply(seed: &[u8], ops: &[Op], dict: &[&[u8]]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for op in ops {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match op {
            Op::Flip(p, x) if !b.is_empty() => {
                let i = p % b.len();
                b[i] ^= x;
            }
            Op::Set(p, x) if !b.is_empty() => {
                let i = p % b.len();
                b[i] = *x;
            }
            Op::Token(p, t) if !dict.is_empty() => {
                let i = at(*p, b.len());
                b.splice(i..i, dict[t % dict.len()].iter().copied());
            }
            Op::Insert(p, x) => {
                let i = at(*p, b.len());
                b.splice(i..i, x.iter().copied());
            }
            Op::Delete(p, n) if !b.is_empty() => {
                let i = p % b.len();
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Op::Truncate(p) => b.truncate(at(*p, b.len())),
            Op::Dup(from, to, n) if !b.is_empty() => {
                let i = from % b.len();
                let piece = b[i..(i + n).min(b.len())].to_vec();
                let j = at(*to, b.len());
                b.splice(j..j, piece);
            }
            Op::Word(p, w) if b.len() >= 8 => {
                let i = p % (b.len() - 7);
                b[i..i + 8].copy_from_slice(&w.to_le_bytes());
            }
            _ => {}
        }
    }
    b
}

/// Mutated seeds, three times in four, else raw bytes.
fn inputs(seeds: Vec<Vec<u8>>, dict: &'static [&'static [u8]]) -> BoxedStrategy<Vec<u8>> {
    let n = seeds.len();
    prop_oneof![
        3 => (0..n, vec(op(), 0..8)).prop_map(move |(i, ops)| apply(&seeds[i], &ops, dict)),
        1 => vec(any::<u8>(), 0..512),
    ]
    .boxed()
}

/// Where to cut a stream into the pieces the network delivers.
fn cuts() -> impl Strategy<Value = Vec<usize>> {
    vec(any::<usize>(), 0..6)
}

fn pieces<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in at.into_iter().chain([bytes.len()]) {
        out.push(&bytes[prev..c]);
        prev = c;
    }
    out
}

const JSON_DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"null",
    b"true",
    b"-",
    b"1e999",
    b"-0.0",
    b"18446744073709551616",
    b"\"choices\"",
    b"\"delta\"",
    b"\"content\"",
    b"\"usage\"",
    b"\"error\"",
    b"\"finish_reason\"",
    b"\xff",
    b"\xc3",
];

// ---- GGUF ------------------------------------------------------------------------------

fn gstr(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn gkv_str(out: &mut Vec<u8>, k: &str, v: &str) {
    gstr(out, k);
    out.extend(8u32.to_le_bytes());
    gstr(out, v);
}

fn gkv_u32(out: &mut Vec<u8>, k: &str, v: u32) {
    gstr(out, k);
    out.extend(4u32.to_le_bytes());
    out.extend(v.to_le_bytes());
}

/// A small, well-formed GGUF v3: llama metadata, a byte-level vocabulary and two tensors.
fn gguf_seed() -> Vec<u8> {
    let mut kv = Vec::new();
    let mut n_kv = 0u64;
    gkv_str(&mut kv, "general.architecture", "llama");
    gkv_str(&mut kv, "general.name", "fuzz");
    for (k, v) in [
        ("llama.context_length", 128),
        ("llama.embedding_length", 8),
        ("llama.block_count", 1),
        ("llama.attention.head_count", 2),
        ("llama.feed_forward_length", 16),
        ("general.alignment", 32),
        ("tokenizer.ggml.bos_token_id", 1),
        ("tokenizer.ggml.eos_token_id", 2),
    ] {
        gkv_u32(&mut kv, k, v);
    }
    n_kv += 10;
    gkv_str(&mut kv, "tokenizer.ggml.model", "gpt2");
    gkv_str(
        &mut kv,
        "tokenizer.chat_template",
        "{{ messages[0].content }}",
    );
    n_kv += 2;
    let tokens = ["<unk>", "<s>", "</s>", "a", "b", "ab", "Ġ", "Ġa"];
    gstr(&mut kv, "tokenizer.ggml.tokens");
    kv.extend(9u32.to_le_bytes());
    kv.extend(8u32.to_le_bytes());
    kv.extend((tokens.len() as u64).to_le_bytes());
    for t in tokens {
        gstr(&mut kv, t);
    }
    gstr(&mut kv, "tokenizer.ggml.token_type");
    kv.extend(9u32.to_le_bytes());
    kv.extend(5u32.to_le_bytes());
    kv.extend((tokens.len() as u64).to_le_bytes());
    for i in 0..tokens.len() {
        kv.extend((if i < 3 { 3i32 } else { 1 }).to_le_bytes());
    }
    gstr(&mut kv, "tokenizer.ggml.merges");
    kv.extend(9u32.to_le_bytes());
    kv.extend(8u32.to_le_bytes());
    kv.extend(2u64.to_le_bytes());
    gstr(&mut kv, "a b");
    gstr(&mut kv, "Ġ a");
    n_kv += 3;
    let mut tensors = Vec::new();
    for (name, offset) in [("token_embd.weight", 0u64), ("output_norm.weight", 256)] {
        gstr(&mut tensors, name);
        tensors.extend(2u32.to_le_bytes());
        tensors.extend(8u64.to_le_bytes());
        tensors.extend(8u64.to_le_bytes());
        tensors.extend(0u32.to_le_bytes()); // f32
        tensors.extend(offset.to_le_bytes());
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(2u64.to_le_bytes());
    out.extend(n_kv.to_le_bytes());
    out.extend(kv);
    out.extend(tensors);
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    out.extend(vec![0u8; 512]);
    out
}

#[test]
fn fuzz_gguf_reader() {
    let dir = support::tempdir();
    let path = dir.path().join("f.gguf");
    let seed = gguf_seed();
    // The seed itself is a valid file: the fuzzing starts from something the reader takes.
    std::fs::write(&path, &seed).unwrap();
    let g = GgufFile::open(&path).expect("the seed GGUF reads");
    assert_eq!(g.architecture().ok(), Some("llama"));
    const DICT: &[&[u8]] = &[b"GGUF", &[9, 0, 0, 0], &[8, 0, 0, 0], &[0xff; 8]];
    fuzz("gguf", inputs(vec![seed], DICT), |bytes| {
        std::fs::write(&path, bytes).unwrap();
        if let Ok(g) = GgufFile::open(&path) {
            let _ = g.architecture();
            let _ = nativebench::model::inspect::ModelReport::from_gguf(&g).map(|r| r.to_text());
            let _ = nativebench::model::convert::tokenizer_from_gguf(&g);
        }
    });
}

// ---- SSE -------------------------------------------------------------------------------

fn sse_seeds() -> Vec<Vec<u8>> {
    let chunk = |c: &str| {
        format!(
            r#"data: {{"id":"x","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":"{c}"}},"finish_reason":null}}]}}"#
        )
    };
    vec![
        format!(
            "{}\n\n{}\n\n: comment\n\ndata: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":2}}}}\n\ndata: [DONE]\n\n",
            chunk("he"),
            chunk("llo")
        )
        .into_bytes(),
        format!("{}\r\n\r\nevent: error\r\ndata: {{\"error\":{{\"message\":\"boom\"}}}}\r\n\r\n", chunk("x"))
            .into_bytes(),
        b"id: 1\rretry: 10\rdata: a\rdata: b\r\r:\r\ndata\n\n".to_vec(),
    ]
}

/// Every item of `pieces` fed in turn, and whether parsing stopped on an error.
fn sse_parse(pieces: &[&[u8]]) -> (Vec<SseItem<'static>>, bool, bool) {
    let mut p = SseParser::new();
    let mut items = Vec::new();
    for piece in pieces {
        if p.push(piece, &mut |i| items.push(i.into_owned())).is_err() {
            return (items, true, p.has_partial());
        }
    }
    (items, false, p.has_partial())
}

#[test]
fn fuzz_sse_parser() {
    const DICT: &[&[u8]] = &[
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"data:",
        b"data: ",
        b"event:",
        b":",
        b"[DONE]",
        b"id:",
        b"\xff",
        b"\xe2\x82",
    ];
    let strategy = (inputs(sse_seeds(), DICT), cuts());
    fuzz("sse", strategy, |(bytes, cuts)| {
        let whole = sse_parse(&[bytes]);
        let split = sse_parse(&pieces(bytes, cuts));
        // However the network cuts a stream, the events are the same.
        if !whole.1 {
            assert_eq!(whole, split, "cut at {cuts:?}");
        } else {
            assert!(
                split.1,
                "the whole stream is an error but its pieces are not"
            );
        }
        for item in whole.0 {
            if let SseItem::Event { data, .. } = item {
                let _ = nativebench::openai::parse(&data);
            }
        }
    });
}

// ---- JSON chunk scanner ----------------------------------------------------------------

fn chunk_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"h\u00e9\"llo\n"},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":"think"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}}"#,
        r#"{"choices":[{"text":"abc","index":0,"finish_reason":"length"}],"timings":{"prompt_ms":1.5,"predicted_ms":2e3},"nb_sent_ns":12345,"nb_token_ns":99}"#,
        r#"{"error":{"message":"out of memory","type":"server_error","code":500}}"#,
        r#"{"choices":[{"delta":{"content":null,"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":[1,2,{\"b\":-1.5e-3}]}"}}]}}]}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

#[test]
fn fuzz_json_chunk_scanner() {
    fuzz("json_chunk", inputs(chunk_seeds(), JSON_DICT), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let parsed = nativebench::openai::parse(&text);
        // What the scanner reads agrees with a full JSON parser on a valid chunk.
        if let (Ok(parts), Ok(v)) = (&parsed, serde_json::from_str::<serde_json::Value>(&text)) {
            let delta = &v["choices"][0]["delta"]["content"];
            if let Some(want) = delta.as_str() {
                if v["choices"][0]["text"].is_null() {
                    assert_eq!(want, &*parts.content);
                }
            }
        }
        let mut s = nativebench::openai::json::Scanner::new(&text);
        let _ = s.skip().map(|_| ()).and_then(|()| s.end());
    });
}

// ---- HTTP/1.1 reader -------------------------------------------------------------------

fn http_seeds() -> Vec<Vec<u8>> {
    let sse = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
    let mut chunked =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for part in sse.chunks(17) {
        chunked.extend(format!("{:x};ext=1\r\n", part.len()).bytes());
        chunked.extend(part);
        chunked.extend(b"\r\n");
    }
    chunked.extend(b"0\r\nTrailer: x\r\n\r\n");
    let body = br#"{"data":[{"id":"model"}]}"#;
    let mut length = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nConnection: keep-alive\r\n\r\n",
        body.len()
    )
    .into_bytes();
    length.extend(body);
    let mut close =
        b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    close.extend(b"busy");
    vec![
        chunked,
        length,
        close,
        b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
    ]
}

/// The head and the decoded body of a reply fed in `pieces`, or the first error.
fn http_read(pieces: &[&[u8]]) -> Result<(u16, Vec<u8>, bool), String> {
    let mut buf = Vec::new();
    let mut decoder = None;
    let mut status = 0;
    let mut body = Vec::new();
    for piece in pieces {
        let after_head;
        let mut input: &[u8] = piece;
        if decoder.is_none() {
            buf.extend_from_slice(piece);
            match parse_head(&buf)? {
                None => continue,
                Some((head, used)) => {
                    status = head.status;
                    decoder = Some(BodyDecoder::new(head.framing));
                    after_head = buf.split_off(used);
                    input = &after_head;
                }
            }
        }
        let d = decoder.as_mut().expect("the head was read");
        let limit = input.len() + 2;
        let mut steps = 0;
        while let Some(data) = d.next(&mut input).map_err(|e| e.to_string())? {
            body.extend_from_slice(data);
            steps += 1;
            assert!(steps <= limit, "the body decoder makes no progress");
        }
    }
    let done = decoder.is_some_and(|d| d.is_done() || d.ends_at_close());
    Ok((status, body, done))
}

#[test]
fn fuzz_http_reader() {
    const DICT: &[&[u8]] = &[
        b"\r\n",
        b"\r\n\r\n",
        b"HTTP/1.1 ",
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: 18446744073709551616\r\n",
        b"Content-Length: 5\r\n",
        b"ffffffffffffffff",
        b"0\r\n\r\n",
        b";",
        b"Connection: close\r\n",
        b"\xff",
    ];
    let strategy = (inputs(http_seeds(), DICT), cuts());
    fuzz("http1", strategy, |(bytes, cuts)| {
        let whole = http_read(&[bytes]);
        let split = http_read(&pieces(bytes, cuts));
        if let Ok((_, body, _)) = &whole {
            assert!(body.len() <= bytes.len());
        }
        // A reply reads the same however the network cuts it.
        assert_eq!(whole, split, "cut at {cuts:?}");
    });
}

// ---- Workload files --------------------------------------------------------------------

#[test]
fn fuzz_workload_parsers() {
    use nativebench::workload::builtin::WORKLOADS;
    use nativebench::workload::file::Format;
    let dir = support::tempdir();
    let mut seeds: Vec<(String, Vec<u8>)> = WORKLOADS
        .iter()
        .map(|(_, format, src)| {
            let ext = match format {
                Format::Toml => "toml",
                Format::Yaml => "yaml",
                Format::Json => "json",
            };
            (ext.to_string(), src.as_bytes().to_vec())
        })
        .collect();
    seeds.push((
        "json".into(),
        br#"[{"conversations":[{"from":"human","value":"Hi there"},{"from":"gpt","value":"Hello! How are you?"}]},{"conversations":[{"from":"system","value":"s"}]}]"#.to_vec(),
    ));
    seeds.push((
        "jsonl".into(),
        b"{\"prompt\":\"a\",\"max_tokens\":8}\n{\"messages\":[{\"role\":\"user\",\"content\":\"b\"}],\"output_len\":4}\n\n{\"prompt\":\"c\"}\n".to_vec(),
    ));
    const DICT: &[&[u8]] = &[
        b"\n",
        b"=",
        b"[",
        b"]",
        b"{",
        b"}",
        b"\"",
        b"'",
        b":",
        b"- ",
        b"&a ",
        b"*a",
        b"<<: ",
        b"num_prompts",
        b"max_tokens",
        b"4294967295",
        b"-1",
        b"1e300",
        b"nan",
        b"inf",
        b"input_len",
        b"output_len",
        b"prompts",
        b"file",
        b"../",
        b"\xff",
    ];
    let n = seeds.len();
    let bytes: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
    let strategy = (0..n, vec(op(), 0..8), any::<u64>());
    fuzz("workload", strategy, |(i, ops, seed)| {
        let (ext, _) = &seeds[*i];
        let text = apply(&bytes[*i], ops, DICT);
        let path = dir.path().join(format!("w.{ext}"));
        std::fs::write(&path, &text).unwrap();
        if let Ok(spec) = nativebench::workload::WorkloadSpec::load(path.to_str().unwrap()) {
            let _ = spec.scorer();
            if spec.num_prompts <= 8 {
                let _ = spec.requests(*seed, &mut |_| Ok::<_, ()>(None));
            }
        }
    });
}

// ---- Chat templates --------------------------------------------------------------------

const TEMPLATES: &[&str] = &[
    // ChatML
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] | trim + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    // Llama 3
    "{{ bos_token }}{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    // Mistral, with raise_exception
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}",
    // Gemma, with namespace and pycompat string methods
    "{% set ns = namespace(first=true) %}{% for m in messages %}{% if m.role == 'system' %}{% set ns.first = false %}{% endif %}<start_of_turn>{{ 'model' if m.role == 'assistant' else m.role }}\n{{ m.content.strip().replace('a', 'b').split(' ')|join(' ') }}<end_of_turn>\n{% endfor %}{{ strftime_now('%d %B %Y') }}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}",
];

fn message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![
            Just("user".to_string()),
            Just("assistant".to_string()),
            Just("system".to_string()),
            ".{0,8}"
        ],
        ".{0,40}",
    )
        .prop_map(|(role, content)| Message { role, content })
}

#[test]
fn fuzz_template_rendering() {
    const DICT: &[&[u8]] = &[
        b"{{",
        b"}}",
        b"{%",
        b"%}",
        b"{% for x in range(99999) %}",
        b"{% endfor %}",
        b"{% if ",
        b"{% endif %}",
        b" * 99999",
        b"|join",
        b"messages[99]",
        b"loop.index",
        b"strftime_now('%",
        b"raise_exception(",
        b"namespace(",
        b"'",
        b"(",
        b")",
        b"|",
        b".",
        b"[-1]",
        b"\xff",
    ];
    let seeds = TEMPLATES.iter().map(|t| t.as_bytes().to_vec()).collect();
    let strategy = (inputs(seeds, DICT), vec(message(), 0..4), any::<bool>());
    fuzz("template", strategy, |(src, messages, add)| {
        let src = String::from_utf8_lossy(src);
        if let Ok(t) = ChatTemplate::new(&src, "<s>", "</s>") {
            if let Ok(text) = t.render(messages, *add) {
                assert!(
                    text.len() <= 64 << 20,
                    "the rendered prompt passes its bound"
                );
            }
        }
    });
}

// ---- Report loader ---------------------------------------------------------------------

const RUN_FILES: [&str; 4] = [
    "metrics.json",
    "samples.jsonl",
    "manifest.json",
    "run_config.json",
];

fn load_and_render(dir: &Path) {
    let Ok(loaded) = nativebench::report::load::load(&[dir.to_path_buf()]) else {
        return;
    };
    for run in &loaded.runs {
        let flat = nativebench::report::flat::FlatRun::of(run);
        let _ = nativebench::report::csv::render(std::slice::from_ref(&flat));
        let _ = nativebench::report::summary::render(&run.file, "run");
        let _ = nativebench::report::vllm::render(run);
        let _ = nativebench::report::vllm::file_name(run);
        let _: Vec<_> = nativebench::report::requests::rows(run).collect();
    }
    let _ = nativebench::report::csv::render_requests(&loaded.runs);
}

#[test]
fn fuzz_report_loader() {
    let src = support::tempdir();
    let run_dir = src.path().join("run");
    support::sim_run(&run_dir, "0.1", &["--num-prompts", "4"]);
    let seeds: Vec<Vec<u8>> = RUN_FILES
        .iter()
        .map(|f| std::fs::read(run_dir.join(f)).expect("the sim run wrote its files"))
        .collect();
    let work = support::tempdir();
    let dir = work.path().join("r");
    std::fs::create_dir(&dir).unwrap();
    let strategy = (0..RUN_FILES.len(), vec(op(), 0..8), any::<bool>());
    fuzz("report", strategy, |(which, ops, drop_file)| {
        for (i, (name, seed)) in RUN_FILES.iter().zip(&seeds).enumerate() {
            let path = dir.join(name);
            if i != *which {
                std::fs::write(&path, seed).unwrap();
            } else if *drop_file {
                let _ = std::fs::remove_file(&path);
            } else {
                std::fs::write(&path, apply(seed, ops, JSON_DICT)).unwrap();
            }
        }
        load_and_render(&dir);
    });
}
