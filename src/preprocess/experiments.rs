//! Experiments 1, 2 and 5: rendering against tokenizing, parallel tokenization on rayon
//! pools of 1..N threads, and whole against incremental detokenization. They need only
//! minijinja and `tokenizers`, so they run in every build.

use rayon::prelude::*;
use tokenizers::Tokenizer;

use super::measure::time;
use super::templates::{conversation, single_message, text, tools};
use super::{PreModel, PreprocessConfig, Row};
use crate::error::{Error, Result};

/// Message size of experiment 1's multi-turn conversations.
const TURN_BYTES: usize = 256;
/// Text size of each request in experiment 2's batches.
const REQUEST_BYTES: usize = 1024;

fn tokenize_err(m: &PreModel, e: impl std::fmt::Display) -> Error {
    Error::Runtime(format!("{}: tokenize: {e}", m.label))
}

fn template_err(m: &PreModel, e: impl std::fmt::Display) -> Error {
    Error::Config(format!(
        "{}: chat template {}: {e}",
        m.label, m.template_name
    ))
}

/// Encodes as a server does with a rendered prompt: special tokens in the text are
/// parsed as themselves, nothing is added.
fn encode(tok: &Tokenizer, text: &str) -> std::result::Result<usize, tokenizers::Error> {
    tok.encode_fast(text, false).map(|e| e.len())
}

/// Conversation sizes (user turns) and single-message sizes (bytes) of experiment 1.
pub fn exp1_points(quick: bool) -> (Vec<usize>, Vec<usize>) {
    if quick {
        (vec![1, 8, 64], vec![100, 4096, 262_144])
    } else {
        (
            vec![1, 2, 4, 8, 16, 32, 64],
            vec![100, 1024, 4096, 16_384, 65_536, 262_144],
        )
    }
}

/// Experiment 1: per model, render time and tokenize time of the rendered prompt, and
/// their ratio, for conversations of 1..64 turns and single messages of 100 B..256 KiB.
pub fn template_vs_tokenize(cfg: &PreprocessConfig) -> Result<Vec<Row>> {
    let (turns, sizes) = exp1_points(cfg.quick);
    let mut rows = Vec::new();
    for m in &cfg.models {
        let thinking =
            m.template_name.contains("reasoning") || m.template_source.contains("</think>");
        let cases = turns
            .iter()
            .map(|&t| (Some(t), conversation(t, TURN_BYTES, thinking)))
            .chain(sizes.iter().map(|&b| (None, single_message(b))));
        for (turns, messages) in cases {
            let bytes: usize = messages.iter().map(|x| x.content.len()).sum();
            let tools = m.template_name.ends_with("tools").then(tools);
            let (render, prompt) = time(cfg.reps, || {
                m.template
                    .render_with_tools(&messages, tools.as_ref(), true)
            });
            let prompt = prompt.map_err(|e| template_err(m, e))?;
            let (tokenize, n) = time(cfg.reps, || encode(&m.tokenizer, &prompt));
            let n = n.map_err(|e| tokenize_err(m, e))?;
            let ratio = render.median_us / tokenize.median_us.max(1e-9);
            for (phase, t) in [("render", render), ("tokenize", tokenize)] {
                let mut r = Row::new(1, &m.label, &m.template_name, phase, t);
                r.turns = turns;
                r.text_bytes = bytes;
                r.tokens = Some(n);
                r.ratio = Some(ratio);
                r.per_item_us = Some(t.median_us / n.max(1) as f64);
                r.note = format!("prompt {} B", prompt.len());
                rows.push(r);
            }
        }
    }
    Ok(rows)
}

/// Batch sizes of experiment 2.
pub fn exp2_batches(quick: bool) -> Vec<usize> {
    if quick {
        vec![1, 64]
    } else {
        vec![1, 8, 64, 256]
    }
}

/// Experiment 2: a batch of 1 KiB requests encoded on a rayon pool of each thread count,
/// with the speed-up against one thread, and the same requests encoded one at a time
/// (`single`: a request per call, as a server without batching does). The first model
/// only under `--quick`.
pub fn parallel_tokenization(cfg: &PreprocessConfig) -> Result<Vec<Row>> {
    let models = if cfg.quick {
        &cfg.models[..cfg.models.len().min(1)]
    } else {
        &cfg.models[..]
    };
    let mut rows = Vec::new();
    for m in models {
        for &batch in &exp2_batches(cfg.quick) {
            let texts: Vec<String> = (0..batch).map(|i| text(REQUEST_BYTES, i * 4099)).collect();
            let bytes: usize = texts.iter().map(String::len).sum();
            let (single, n) = time(cfg.reps, || {
                texts
                    .iter()
                    .map(|t| encode(&m.tokenizer, t))
                    .sum::<std::result::Result<usize, _>>()
            });
            let n = n.map_err(|e| tokenize_err(m, e))?;
            let mut r = Row::new(2, &m.label, "", "single", single);
            r.text_bytes = bytes;
            r.tokens = Some(n);
            r.threads = Some(1);
            r.batch = Some(batch);
            r.per_item_us = Some(single.median_us / batch as f64);
            rows.push(r);
            let mut one_thread = None;
            for &threads in &cfg.threads {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .map_err(|e| Error::Runtime(format!("rayon pool of {threads}: {e}")))?;
                let (t, got) = time(cfg.reps, || {
                    pool.install(|| {
                        texts
                            .par_iter()
                            .map(|t| encode(&m.tokenizer, t))
                            .sum::<std::result::Result<usize, _>>()
                    })
                });
                let got = got.map_err(|e| tokenize_err(m, e))?;
                let base = *one_thread.get_or_insert(t.median_us);
                let mut r = Row::new(2, &m.label, "", "batch", t);
                r.text_bytes = bytes;
                r.tokens = Some(got);
                r.threads = Some(threads);
                r.batch = Some(batch);
                r.per_item_us = Some(t.median_us / batch as f64);
                r.ratio = Some(base / t.median_us.max(1e-9));
                r.equal = Some(got == n);
                rows.push(r);
            }
        }
    }
    Ok(rows)
}

/// Experiment 5: per model, a text's ids decoded whole, and token by token through a
/// decode stream as a server streams them; both must give the same text.
pub fn detokenization(cfg: &PreprocessConfig) -> Result<Vec<Row>> {
    let bytes = if cfg.quick { 4096 } else { 16_384 };
    let mut rows = Vec::new();
    for m in &cfg.models {
        let source = text(bytes, 0);
        let ids = m
            .tokenizer
            .encode_fast(source.as_str(), false)
            .map_err(|e| tokenize_err(m, e))?
            .get_ids()
            .to_vec();
        let (whole, w) = time(cfg.reps, || m.tokenizer.decode(&ids, false));
        let w = w.map_err(|e| tokenize_err(m, e))?;
        let (inc, i) = time(cfg.reps, || {
            let mut stream = m.tokenizer.decode_stream(false);
            let mut out = String::with_capacity(source.len());
            for &id in &ids {
                if let Some(piece) = stream.step(id)? {
                    out.push_str(&piece);
                }
            }
            Ok::<_, tokenizers::Error>(out)
        });
        let i = i.map_err(|e| tokenize_err(m, e))?;
        for (phase, t) in [("detokenize_whole", whole), ("detokenize_incremental", inc)] {
            let mut r = Row::new(5, &m.label, "", phase, t);
            r.text_bytes = source.len();
            r.tokens = Some(ids.len());
            r.per_item_us = Some(t.median_us / ids.len().max(1) as f64);
            r.ratio = Some(inc.median_us / whole.median_us.max(1e-9));
            r.equal = Some(w == i && w == source);
            if w != source {
                r.note = "decoded text differs from the source".into();
            }
            rows.push(r);
        }
    }
    Ok(rows)
}
