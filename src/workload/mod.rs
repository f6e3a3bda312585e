//! Workloads: definition files (built in or by path) and prompt data sets, validated once
//! into a [`WorkloadSpec`], then turned into the list of requests a run sends.

pub mod builtin;
pub mod datasets;
pub mod synthetic;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::{Message, Prompt, Request};
use crate::error::{Error, Result};
use crate::limits;
use datasets::{JsonlEntry, ShareGptEntry};

/// Output length when neither the workload nor the data set gives one.
pub const DEFAULT_OUTPUT_LEN: usize = 128;

/// A workload definition file, as written (TOML). Lengths are signed so that a negative
/// value gets a message about the field rather than a type error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    name: Option<String>,
    description: Option<String>,
    num_prompts: Option<i64>,
    concurrency: Option<i64>,
    output_len: Option<i64>,
    chat: Option<bool>,
    ignore_eos: Option<bool>,
    source: SourceFile,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum SourceFile {
    Random {
        input_len: i64,
        #[serde(default)]
        range_ratio: f64,
        #[serde(default)]
        prefix_len: i64,
        seed: Option<u64>,
    },
    Documents {
        files: Vec<String>,
        instruction: String,
    },
    Sharegpt {
        path: String,
    },
    Jsonl {
        path: String,
    },
}

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
    /// Documents with an instruction in front of each.
    Documents {
        #[serde(rename = "documents", serialize_with = "count")]
        docs: Vec<String>,
        instruction: String,
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
pub fn builtin_names() -> Vec<&'static str> {
    builtin::WORKLOADS.iter().map(|(n, _)| *n).collect()
}

impl WorkloadSpec {
    /// Loads a workload by built-in name, or from a file: `.toml` (a workload definition),
    /// `.json` (ShareGPT) or `.jsonl` (one prompt per line).
    pub fn load(selector: &str) -> Result<Self> {
        if let Some(src) = builtin::workload(selector) {
            return parse_toml(src, &format!("builtin:{selector}"), None);
        }
        let path = Path::new(selector);
        if !path.exists() {
            return Err(Error::Config(format!(
                "unknown workload `{selector}`: not a built-in ({}) and no such file",
                builtin_names().join(", ")
            )));
        }
        let origin = path.display().to_string();
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => {
                let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                parse_toml(&src, &origin, path.parent())
            }
            Some("json") => Ok(Self::from_source(
                &origin,
                Source::ShareGpt {
                    entries: datasets::read_sharegpt(path)?,
                },
            )),
            Some("jsonl") => Ok(Self::from_source(
                &origin,
                Source::Prompts {
                    entries: datasets::read_jsonl(path)?,
                },
            )),
            _ => Err(Error::workload(
                origin,
                "unknown file type: use .toml (workload), .json (ShareGPT) or .jsonl (prompts)",
            )),
        }
    }

    /// A workload of one prompt given on the command line.
    pub fn single_prompt(prompt: &str) -> Self {
        let mut spec = Self::from_source(
            "--prompt",
            Source::Prompts {
                entries: vec![JsonlEntry {
                    prompt: Prompt::Text(prompt.to_owned()),
                    max_tokens: None,
                }],
            },
        );
        spec.name = "prompt".into();
        spec.num_prompts = 1;
        spec
    }

    fn from_source(origin: &str, source: Source) -> Self {
        let n = match &source {
            Source::ShareGpt { entries } => entries.len(),
            Source::Prompts { entries } => entries.len(),
            Source::Documents { docs, .. } => docs.len(),
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
        let seed = match self.source {
            Source::Random { seed: Some(s), .. } => s,
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
                Source::Documents { docs, instruction } => {
                    let doc = &docs[i % docs.len()];
                    request(
                        self.wrap(format!("{instruction}\n\n{doc}")),
                        self.output_len_or_default(),
                    )
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
                    request(prompt, max)
                }
            };
            out.push(req);
        }
        Ok(out)
    }
}

fn in_range<T: TryFrom<i128>>(
    name: &str,
    v: i64,
    range: limits::IntRange,
) -> std::result::Result<T, String> {
    range.check(name, v).map_err(|e| e.to_string())
}

/// Parses and validates a workload definition. `dir` is where relative data paths are
/// looked up; `None` means the built-in data.
fn parse_toml(src: &str, origin: &str, dir: Option<&Path>) -> Result<WorkloadSpec> {
    let file: WorkloadFile = toml::from_str(src).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!("line {}: ", src[..s.start].lines().count().max(1)))
            .unwrap_or_default();
        Error::workload(
            origin,
            format!("{line}{}", e.message().trim().replace('\n', "; ")),
        )
    })?;
    let bad = |msg: String| Error::workload(origin, msg);
    let source = match file.source {
        SourceFile::Random {
            input_len,
            range_ratio,
            prefix_len,
            seed,
        } => Source::Random {
            input_len: in_range("input_len", input_len, limits::TOKENS).map_err(bad)?,
            range_ratio: limits::RANGE_RATIO
                .check("range_ratio", range_ratio)
                .map_err(|e| e.to_string())
                .map_err(bad)?,
            prefix_len: in_range("prefix_len", prefix_len, limits::PREFIX_TOKENS).map_err(bad)?,
            seed,
        },
        SourceFile::Documents { files, instruction } => {
            if files.is_empty() {
                return Err(bad("documents: `files` is empty".into()));
            }
            let docs = files
                .iter()
                .map(|f| read_data(f, origin, dir))
                .collect::<Result<Vec<_>>>()?;
            Source::Documents { docs, instruction }
        }
        SourceFile::Sharegpt { path } => Source::ShareGpt {
            entries: datasets::read_sharegpt(&data_path(&path, dir))?,
        },
        SourceFile::Jsonl { path } => Source::Prompts {
            entries: datasets::read_jsonl(&data_path(&path, dir))?,
        },
    };
    let mut spec = WorkloadSpec::from_source(origin, source);
    if let Some(name) = file.name {
        spec.name = name;
    }
    spec.description = file.description.unwrap_or_default();
    spec.chat = file.chat.unwrap_or(true);
    spec.ignore_eos = file.ignore_eos.unwrap_or(true);
    if let Some(n) = file.num_prompts {
        spec.num_prompts = in_range("num_prompts", n, limits::PROMPTS).map_err(bad)?;
    }
    if let Some(c) = file.concurrency {
        spec.concurrency = in_range("concurrency", c, limits::CONCURRENCY).map_err(bad)?;
    }
    if let Some(n) = file.output_len {
        spec.output_len = Some(in_range("output_len", n, limits::TOKENS).map_err(bad)?);
    }
    Ok(spec)
}

fn data_path(path: &str, dir: Option<&Path>) -> PathBuf {
    match dir {
        Some(d) => d.join(path),
        None => PathBuf::from(path),
    }
}

fn read_data(path: &str, origin: &str, dir: Option<&Path>) -> Result<String> {
    let text = match dir {
        None => builtin::data(path)
            .map(str::to_owned)
            .ok_or_else(|| Error::workload(origin, format!("no built-in data file {path}")))?,
        Some(d) => {
            let p = d.join(path);
            std::fs::read_to_string(&p).map_err(|e| Error::io(p, e))?
        }
    };
    if text.trim().is_empty() {
        return Err(Error::workload(origin, format!("{path} is empty")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_loads() {
        for name in builtin_names() {
            let spec = WorkloadSpec::load(name).unwrap();
            assert!(spec.num_prompts > 0, "{name}");
        }
        let short = WorkloadSpec::load("short").unwrap();
        assert_eq!(short.num_prompts, 5);
        assert_eq!(short.output_len, Some(128));
        let stress = WorkloadSpec::load("stress").unwrap();
        assert_eq!(stress.concurrency, 10);
    }

    #[test]
    fn negative_and_zero_values_name_the_field() {
        let src = "num_prompts = 0\n[source]\nkind = \"random\"\ninput_len = 5\n";
        let err = parse_toml(src, "x.toml", None).unwrap_err().to_string();
        assert!(
            err.contains("num_prompts 0: out of range, expected an integer from 1 to 10000000"),
            "{err}"
        );
        let src = "[source]\nkind = \"random\"\ninput_len = -5\n";
        let err = parse_toml(src, "x.toml", None).unwrap_err().to_string();
        assert!(
            err.contains("input_len -5: out of range, expected an integer from 1 to 16777216"),
            "{err}"
        );
    }

    #[test]
    fn parse_errors_are_one_line_with_a_line_number() {
        let err = parse_toml("num_prompts = \n", "x.toml", None)
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.starts_with("workload x.toml: line 1:"), "{err}");
    }
}
