//! Workloads: definition files (built in or by path) and prompt data sets, validated once
//! into a [`WorkloadSpec`], then turned into the list of requests a run sends.

pub mod builtin;
pub mod datasets;
mod definition;
pub mod file;
pub mod multi_turn;
pub mod synthetic;
pub mod trace;

use std::path::Path;

use serde::Serialize;

use crate::engine::{Message, Prompt, Request};
use crate::error::{Error, Result};
use crate::limits;
use crate::metrics::accuracy::Scorer;
use datasets::{ExtractionEntry, JsonlEntry, ShareGptEntry};
use file::Format;

/// Output length when neither the workload nor the data set gives one.
pub const DEFAULT_OUTPUT_LEN: usize = 128;

/// Where prompts come from, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Seeded word prompts fitted to `input_len` tokens (vLLM's random data set).
    Random {
        input_len: usize,
        range_ratio: f64,
        prefix_len: usize,
        seed: Option<u64>,
    },
    /// Documents with an instruction in front of each, and optionally a reference summary
    /// of each (scored by ROUGE).
    Documents {
        #[serde(rename = "documents", serialize_with = "count")]
        docs: Vec<String>,
        instruction: String,
        /// One per document, or none.
        #[serde(serialize_with = "count")]
        references: Vec<String>,
    },
    /// Conversations from a ShareGPT file.
    ShareGpt {
        #[serde(rename = "conversations", serialize_with = "count")]
        entries: Vec<ShareGptEntry>,
    },
    /// Prompts from a JSONL file.
    Prompts {
        #[serde(rename = "prompts", serialize_with = "count")]
        entries: Vec<JsonlEntry>,
    },
    /// Documents with facts to extract into JSON that a schema describes, each with the
    /// expected answer (scored for validity and field-level exact match).
    Extraction {
        #[serde(rename = "documents", serialize_with = "count")]
        entries: Vec<ExtractionEntry>,
        instruction: String,
        schema: serde_json::Value,
    },
    /// A request trace: arrival times and lengths from the file, prompts of seeded words
    /// fitted to each input length, Mooncake's `hash_ids` as shared 512-token blocks.
    Trace {
        #[serde(rename = "requests", serialize_with = "count")]
        entries: Vec<trace::TraceEntry>,
        options: trace::TraceOptions,
    },
    /// SGLang's generated shared prefix: `groups` groups of `prompts_per_group` prompts,
    /// each group's prompts starting with the same system prompt of `system_len` tokens
    /// and going on with a question of its own, `question_len` tokens more (exact with
    /// the engine's tokenizer).
    SharedPrefix {
        groups: usize,
        prompts_per_group: usize,
        system_len: usize,
        question_len: usize,
        seed: Option<u64>,
    },
    /// Multi-turn conversations (`num_prompts` of them), each turn a request that resends
    /// the history, sent in order with `think_ms` between a reply and the next turn.
    MultiTurn {
        chats: multi_turn::Chats,
        think_ms: f64,
    },
}

fn count<T, S: serde::Serializer>(v: &[T], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(v.len() as u64)
}

/// A validated workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadSpec {
    pub name: String,
    /// `builtin:NAME`, a file path, or `--prompt`.
    pub origin: String,
    pub description: String,
    pub num_prompts: usize,
    /// Requests offered at once.
    pub concurrency: usize,
    /// Output tokens per request; `None` takes it from the data set.
    pub output_len: Option<usize>,
    /// Send prompts as chat messages, rendered by the engine's chat template.
    pub chat: bool,
    pub ignore_eos: bool,
    pub source: Source,
}

/// Command-line values that replace a workload's own, each already inside its range
/// ([`limits`](crate::limits)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub num_prompts: Option<usize>,
    pub concurrency: Option<usize>,
    pub input_len: Option<usize>,
    pub output_len: Option<usize>,
    pub range_ratio: Option<f64>,
    pub prefix_len: Option<usize>,
    pub ignore_eos: Option<bool>,
    pub chat: Option<bool>,
}

/// The names of the built-in workloads.
/// A seed of its own for a run that was given none: random prompts then differ from every
/// earlier run's, so a server's prefix cache cannot flatter a rerun with hits it kept.
pub fn fresh_seed() -> u64 {
    rand::random()
}

pub fn builtin_names() -> Vec<&'static str> {
    builtin::WORKLOADS.iter().map(|(n, ..)| *n).collect()
}

impl WorkloadSpec {
    /// Loads a workload by built-in name, or from a file: `.toml`, `.yaml` or `.yml` (a
    /// workload definition), `.json` (ShareGPT) or `.jsonl` (one prompt per line).
    pub fn load(selector: &str) -> Result<Self> {
        if let Some((format, src)) = builtin::workload(selector) {
            return definition::parse(src, format, &format!("builtin:{selector}"), None);
        }
        let path = Path::new(selector);
        if !path.exists() {
            return Err(Error::Config(format!(
                "unknown workload `{selector}`: not a built-in ({}) and no such file",
                builtin_names().join(", ")
            )));
        }
        let origin = path.display().to_string();
        match Format::of(path) {
            Some(format @ (Format::Toml | Format::Yaml)) => {
                let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                definition::parse(&src, format, &origin, path.parent())
            }
            Some(Format::Json) => Ok(Self::from_source(
                &origin,
                Source::ShareGpt {
                    entries: datasets::read_sharegpt(path)?,
                },
            )),
            None if path.extension().is_some_and(|e| e == "jsonl") => Ok(Self::from_source(
                &origin,
                Source::Prompts {
                    entries: datasets::read_jsonl(path)?,
                },
            )),
            None => Err(Error::workload(
                origin,
                "unknown file type: use .toml or .yaml (workload), .json (ShareGPT) or .jsonl (prompts)",
            )),
        }
    }

    /// How the answers of this workload are scored, when it defines references: ROUGE
    /// against reference summaries, or validity and field match against expected JSON.
    pub fn scorer(&self) -> Result<Option<Scorer>> {
        match &self.source {
            Source::Documents { references, .. } if !references.is_empty() => {
                Ok(Some(Scorer::Rouge))
            }
            Source::Extraction { schema, .. } => Scorer::extraction(schema)
                .map(Some)
                .map_err(|e| Error::workload(&self.origin, e)),
            _ => Ok(None),
        }
    }

    /// A workload replaying the trace at `path` (`--trace`).
    pub fn trace(path: &Path, options: trace::TraceOptions) -> Result<Self> {
        let entries = trace::load(path, &options)?;
        Ok(Self::from_source(
            &path.display().to_string(),
            Source::Trace { entries, options },
        ))
    }

    /// Whether the workload sets its own arrival times (a trace).
    pub fn has_arrivals(&self) -> bool {
        matches!(self.source, Source::Trace { .. })
    }

    /// Whether the workload is made of conversations whose turns go in order.
    pub fn is_multi_turn(&self) -> bool {
        matches!(self.source, Source::MultiTurn { .. })
    }

    /// A workload of one prompt given on the command line.
    pub fn single_prompt(prompt: &str) -> Self {
        let mut spec = Self::from_source(
            "--prompt",
            Source::Prompts {
                entries: vec![JsonlEntry {
                    prompt: Prompt::Text(prompt.to_owned()),
                    max_tokens: None,
                    category: None,
                }],
            },
        );
        spec.name = "prompt".into();
        spec.num_prompts = 1;
        spec
    }

    pub(crate) fn from_source(origin: &str, source: Source) -> Self {
        let n = match &source {
            Source::ShareGpt { entries } => entries.len(),
            Source::Prompts { entries } => entries.len(),
            Source::Documents { docs, .. } => docs.len(),
            Source::Extraction { entries, .. } => entries.len(),
            Source::Trace { entries, .. } => entries.len(),
            Source::MultiTurn {
                chats: multi_turn::Chats::ShareGpt { conversations },
                ..
            } => conversations.len(),
            Source::MultiTurn { .. } => 4,
            Source::SharedPrefix {
                groups,
                prompts_per_group,
                ..
            } => groups * prompts_per_group,
            Source::Random { .. } => 10,
        };
        let name = Path::new(origin)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(origin)
            .to_owned();
        WorkloadSpec {
            name,
            origin: origin.to_owned(),
            description: String::new(),
            num_prompts: n,
            concurrency: 1,
            output_len: None,
            chat: true,
            ignore_eos: true,
            source,
        }
    }

    /// Applies command-line overrides and validates the result.
    pub fn apply(mut self, o: &Overrides) -> Result<Self> {
        let origin = self.origin.clone();
        let bad = |msg: String| Error::workload(&origin, msg);
        if let Some(n) = o.num_prompts {
            self.num_prompts = n;
        }
        if let Some(c) = o.concurrency {
            self.concurrency = c;
        }
        if let Some(n) = o.output_len {
            self.output_len = Some(n);
        }
        if let Some(v) = o.ignore_eos {
            self.ignore_eos = v;
        }
        if let Some(v) = o.chat {
            self.chat = v;
        }
        let random_flags =
            o.input_len.is_some() || o.range_ratio.is_some() || o.prefix_len.is_some();
        match &mut self.source {
            Source::Random {
                input_len,
                range_ratio,
                prefix_len,
                ..
            } => {
                if let Some(n) = o.input_len {
                    *input_len = n;
                }
                if let Some(r) = o.range_ratio {
                    *range_ratio = r;
                }
                if let Some(n) = o.prefix_len {
                    *prefix_len = n;
                }
            }
            Source::Trace { entries, .. } if self.num_prompts > entries.len() => {
                return Err(bad(format!(
                    "--num-prompts {} is more than the {} requests the trace holds (in its window)",
                    self.num_prompts,
                    entries.len()
                )))
            }
            _ if random_flags => {
                return Err(bad(
                    "--random-* flags apply only to random workloads (short, long, stress, random)"
                        .into(),
                ))
            }
            _ => {}
        }
        Ok(self)
    }

    /// Output length of the `i`-th request when the data set does not set it.
    fn output_len_or_default(&self) -> usize {
        self.output_len.unwrap_or(DEFAULT_OUTPUT_LEN)
    }

    fn wrap(&self, text: String) -> Prompt {
        if self.chat {
            Prompt::Chat(vec![Message {
                role: "user".into(),
                content: text,
            }])
        } else {
            Prompt::Text(text)
        }
    }

    /// Builds the requests. `count` tells how many tokens the engine's prefill would see
    /// for a request (`None` when it cannot tell); random prompts are fitted with it so
    /// that input lengths are exact for that engine.
    pub fn requests<E>(
        &self,
        seed: u64,
        count: &mut dyn FnMut(&Request) -> std::result::Result<Option<usize>, E>,
    ) -> std::result::Result<Vec<Request>, E> {
        if let Source::MultiTurn { chats, think_ms } = &self.source {
            let plan = multi_turn::Plan {
                chats,
                conversations: self.num_prompts,
                think_us: (think_ms * 1e3).round() as u64,
                output_len: self.output_len,
                chat: self.chat,
                ignore_eos: self.ignore_eos,
                seed,
            };
            return multi_turn::requests(&plan, count);
        }
        let seed = match self.source {
            Source::Random { seed: Some(s), .. } | Source::SharedPrefix { seed: Some(s), .. } => s,
            _ => seed,
        };
        let mut lens = synthetic::rng(seed, 1);
        let mut out = Vec::with_capacity(self.num_prompts);
        for i in 0..self.num_prompts {
            let id = i as u64;
            let request = |prompt: Prompt, max_tokens: usize| Request {
                id,
                prompt,
                max_tokens: max_tokens.min(u32::MAX as usize) as u32,
                ignore_eos: self.ignore_eos,
                category: None,
                expected: None,
                arrival_us: None,
                turn: None,
            };
            let req = match &self.source {
                Source::Random {
                    input_len,
                    range_ratio,
                    prefix_len,
                    ..
                } => {
                    let target =
                        prefix_len + synthetic::sample_len(&mut lens, *input_len, *range_ratio);
                    let max = synthetic::sample_len(
                        &mut lens,
                        self.output_len_or_default(),
                        *range_ratio,
                    );
                    let mut ws = synthetic::words(&mut synthetic::rng(seed, 2), *prefix_len);
                    ws.extend(synthetic::words(
                        &mut synthetic::rng(seed, 100 + id),
                        target + 16,
                    ));
                    let text = synthetic::fit(&ws, target, |t| {
                        count(&request(self.wrap(t.to_owned()), max))
                    })?;
                    request(self.wrap(text), max)
                }
                Source::Documents {
                    docs,
                    instruction,
                    references,
                } => {
                    let doc = &docs[i % docs.len()];
                    let mut r = request(
                        self.wrap(format!("{instruction}\n\n{doc}")),
                        self.output_len_or_default(),
                    );
                    r.expected = references.get(i % docs.len()).map(|s| s.trim().to_owned());
                    r
                }
                Source::Extraction {
                    entries,
                    instruction,
                    schema,
                } => {
                    let e = &entries[i % entries.len()];
                    let schema = serde_json::to_string_pretty(schema).unwrap_or_default();
                    let text = format!(
                        "{instruction}\n\nJSON Schema:\n{schema}\n\nDocument:\n{}",
                        e.document
                    );
                    let mut r = request(self.wrap(text), self.output_len_or_default());
                    r.expected = Some(e.expected.to_string());
                    r.category = e.category.clone();
                    r
                }
                Source::ShareGpt { entries } => {
                    let e = &entries[i % entries.len()];
                    let max = match self.output_len {
                        Some(n) => n,
                        None => {
                            let reply = request(Prompt::Text(e.reply.clone()), 1);
                            count(&reply)?.unwrap_or(e.reply.len() / 4).max(1)
                        }
                    };
                    request(self.wrap(e.prompt.clone()), max)
                }
                Source::Trace { entries, .. } => {
                    let e = &entries[i];
                    let max = self.output_len.unwrap_or(e.output_len).max(1);
                    let ws = trace_words(seed, id, e);
                    let text = synthetic::fit(&ws, e.input_len.max(1), |t| {
                        count(&request(self.wrap(t.to_owned()), max))
                    })?;
                    let mut r = request(self.wrap(text), max);
                    r.arrival_us = Some((e.at_ms * 1e3).round() as u64);
                    r
                }
                Source::MultiTurn { .. } => unreachable!("built by multi_turn::requests above"),
                Source::SharedPrefix {
                    prompts_per_group,
                    system_len,
                    question_len,
                    ..
                } => {
                    let group = (i / prompts_per_group.max(&1)) as u64;
                    let max = self.output_len_or_default();
                    let mut count_text = |t: &str| count(&request(self.wrap(t.to_owned()), max));
                    // The group's system prompt alone, then the question after it, so the
                    // shared part is the same tokens in every prompt of the group.
                    let system = synthetic::words(
                        &mut synthetic::rng(seed, 10_000 + group),
                        system_len + 16,
                    );
                    let system = synthetic::fit(&system, *system_len, &mut count_text)?;
                    let mut ws: Vec<&str> = system.split(' ').collect();
                    ws.extend(synthetic::words(
                        &mut synthetic::rng(seed, 100 + id),
                        question_len + 16,
                    ));
                    let text = synthetic::fit(&ws, system_len + question_len, &mut count_text)?;
                    request(self.wrap(text), max)
                }
                Source::Prompts { entries } => {
                    let e = &entries[i % entries.len()];
                    let max = self
                        .output_len
                        .or(e.max_tokens.map(|m| m as usize))
                        .unwrap_or(DEFAULT_OUTPUT_LEN);
                    let prompt = match &e.prompt {
                        Prompt::Text(t) => self.wrap(t.clone()),
                        chat => chat.clone(),
                    };
                    let mut r = request(prompt, max);
                    r.category = e.category.clone();
                    r
                }
            };
            out.push(req);
        }
        Ok(out)
    }
}

/// The words of a trace request: one seeded block of [`trace::BLOCK_TOKENS`] words per
/// Mooncake hash id (equal ids, equal blocks, so the trace's prefix reuse is
/// reproduced), then words of this request alone, enough to fit its input length.
fn trace_words(seed: u64, id: u64, e: &trace::TraceEntry) -> Vec<&'static str> {
    let mut ws = Vec::with_capacity(e.input_len + 16);
    for &h in &e.hash_ids {
        ws.extend(synthetic::words(
            &mut synthetic::rng(seed ^ h.rotate_left(17), 3),
            trace::BLOCK_TOKENS,
        ));
    }
    let rest = (e.input_len + 16).saturating_sub(ws.len()).max(16);
    ws.extend(synthetic::words(&mut synthetic::rng(seed, 100 + id), rest));
    ws
}

/// How many requests repeat the prompt of an earlier one in the list: an engine that
/// caches prefixes answers a repeat from its cache, which flatters its figures.
pub fn repeated_prompts(requests: &[Request]) -> usize {
    let mut seen = std::collections::HashSet::new();
    requests
        .iter()
        .filter(|r| !seen.insert(serde_json::to_string(&r.prompt).unwrap_or_default()))
        .count()
}

/// `v` as a `T` within `range`, or the range's message naming the field.
pub(crate) fn in_range<T: TryFrom<i128>>(
    name: &str,
    v: i64,
    range: limits::IntRange,
) -> std::result::Result<T, String> {
    range.check(name, v).map_err(|e| e.to_string())
}

/// A fraction within the random data set's `range_ratio` range.
pub(crate) fn ratio(name: &str, v: f64) -> std::result::Result<f64, String> {
    limits::RANGE_RATIO
        .check(name, v)
        .map_err(|e| e.to_string())
}
