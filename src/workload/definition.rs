//! Workload definition files (TOML or YAML, one schema) -> a validated [`WorkloadSpec`]:
//! the keys each source kind reads, data files found beside the definition or built in,
//! and references checked where a workload defines them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::file::{self, Format};
use super::{builtin, datasets, in_range, ratio, Source, WorkloadSpec};
use crate::error::{Error, Result};
use crate::limits;
use crate::metrics::accuracy::Scorer;

/// A workload definition file, as written (TOML or YAML, the same schema). Lengths are
/// signed so that a negative value gets a message about the field rather than a type
/// error. Unknown keys are not denied here but collected by [`file::decode`], which names
/// them all.
#[derive(Debug, Deserialize)]
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

/// The kinds of prompt source a workload file can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Random,
    Documents,
    Sharegpt,
    Jsonl,
    Extraction,
    MultiTurn,
    SharedPrefix,
}

/// `[source]` as written: one flat table whose `kind` says which keys apply, so that the
/// decoder can name a misspelt key inside it (an internally tagged enum would hide them).
#[derive(Debug, Deserialize)]
struct SourceFile {
    kind: Kind,
    input_len: Option<i64>,
    range_ratio: Option<f64>,
    prefix_len: Option<i64>,
    seed: Option<u64>,
    files: Option<Vec<String>>,
    references: Option<Vec<String>>,
    instruction: Option<String>,
    path: Option<String>,
    schema: Option<String>,
    turns: Option<i64>,
    user_len: Option<i64>,
    assistant_len: Option<i64>,
    system_len: Option<i64>,
    think_ms: Option<f64>,
    groups: Option<i64>,
    prompts_per_group: Option<i64>,
    question_len: Option<i64>,
}

impl SourceFile {
    /// Checks that the keys given are the ones `kind` reads, and that its required ones
    /// are there.
    fn check(&self) -> std::result::Result<(), String> {
        let given = [
            ("input_len", self.input_len.is_some()),
            ("range_ratio", self.range_ratio.is_some()),
            ("prefix_len", self.prefix_len.is_some()),
            ("seed", self.seed.is_some()),
            ("files", self.files.is_some()),
            ("references", self.references.is_some()),
            ("instruction", self.instruction.is_some()),
            ("path", self.path.is_some()),
            ("schema", self.schema.is_some()),
            ("turns", self.turns.is_some()),
            ("user_len", self.user_len.is_some()),
            ("assistant_len", self.assistant_len.is_some()),
            ("system_len", self.system_len.is_some()),
            ("think_ms", self.think_ms.is_some()),
            ("groups", self.groups.is_some()),
            ("prompts_per_group", self.prompts_per_group.is_some()),
            ("question_len", self.question_len.is_some()),
        ];
        let (name, required, optional): (&str, &[&str], &[&str]) = match self.kind {
            Kind::Random => (
                "random",
                &["input_len"],
                &["range_ratio", "prefix_len", "seed"],
            ),
            Kind::Documents => ("documents", &["files", "instruction"], &["references"]),
            Kind::Sharegpt => ("sharegpt", &["path"], &[]),
            Kind::Jsonl => ("jsonl", &["path"], &[]),
            Kind::Extraction => ("extraction", &["path", "schema", "instruction"], &[]),
            Kind::SharedPrefix => (
                "shared_prefix",
                &["groups", "prompts_per_group", "system_len", "question_len"],
                &["seed"],
            ),
            // A ShareGPT file (`path`), or the generator's lengths.
            Kind::MultiTurn if self.path.is_some() => ("multi_turn", &["path"], &["think_ms"]),
            Kind::MultiTurn => (
                "multi_turn",
                &["turns", "user_len"],
                &["assistant_len", "system_len", "think_ms", "seed"],
            ),
        };
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|k| !given.iter().any(|(g, set)| g == k && *set))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "source of kind {name} needs {}",
                missing.join(", ")
            ));
        }
        let stray: Vec<String> = given
            .iter()
            .filter(|(k, set)| *set && !required.contains(k) && !optional.contains(k))
            .map(|(k, _)| format!("source.{k}"))
            .collect();
        if !stray.is_empty() {
            let takes = [required, optional].concat().join(", ");
            return Err(format!(
                "{} not read by a source of kind {name} (it takes {takes})",
                stray.join(", ")
            ));
        }
        Ok(())
    }
}

/// Parses and validates a workload definition. `dir` is where relative data paths are
/// looked up; `None` means the built-in data.
pub(super) fn parse(
    src: &str,
    format: Format,
    origin: &str,
    dir: Option<&Path>,
) -> Result<WorkloadSpec> {
    let file: WorkloadFile = file::decode(src, format).map_err(|e| Error::workload(origin, e))?;
    let bad = |msg: String| Error::workload(origin, msg);
    let s = file.source;
    s.check().map_err(bad)?;
    let text = |key: &Option<String>| key.clone().unwrap_or_default();
    let source = match s.kind {
        Kind::Random => Source::Random {
            input_len: in_range("input_len", s.input_len.unwrap_or_default(), limits::TOKENS)
                .map_err(bad)?,
            range_ratio: ratio("range_ratio", s.range_ratio.unwrap_or_default()).map_err(bad)?,
            prefix_len: in_range(
                "prefix_len",
                s.prefix_len.unwrap_or_default(),
                limits::PREFIX_TOKENS,
            )
            .map_err(bad)?,
            seed: s.seed,
        },
        Kind::Documents => {
            let files = s.files.unwrap_or_default();
            if files.is_empty() {
                return Err(bad("documents: `files` is empty".into()));
            }
            let read = |fs: &[String]| {
                fs.iter()
                    .map(|f| read_data(f, origin, dir))
                    .collect::<Result<Vec<_>>>()
            };
            let references = read(&s.references.unwrap_or_default())?;
            if !references.is_empty() && references.len() != files.len() {
                return Err(bad(format!(
                    "documents: {} references for {} files; give one reference per file",
                    references.len(),
                    files.len()
                )));
            }
            Source::Documents {
                docs: read(&files)?,
                instruction: text(&s.instruction),
                references,
            }
        }
        Kind::Sharegpt => Source::ShareGpt {
            entries: datasets::read_sharegpt(&data_path(&text(&s.path), dir))?,
        },
        Kind::Jsonl => {
            let path = text(&s.path);
            let data = read_data(&path, origin, dir)?;
            Source::Prompts {
                entries: datasets::parse_jsonl(&data, &data_origin(&path, dir))?,
            }
        }
        Kind::SharedPrefix => {
            let n = |name: &str, v: Option<i64>, range| {
                in_range::<usize>(name, v.unwrap_or_default(), range).map_err(bad)
            };
            Source::SharedPrefix {
                groups: n("groups", s.groups, limits::PROMPTS)?,
                prompts_per_group: n("prompts_per_group", s.prompts_per_group, limits::PROMPTS)?,
                system_len: n("system_len", s.system_len, limits::TOKENS)?,
                question_len: n("question_len", s.question_len, limits::TOKENS)?,
                seed: s.seed,
            }
        }
        Kind::MultiTurn => {
            let think_ms = s.think_ms.unwrap_or(0.0);
            if !(think_ms.is_finite() && (0.0..=3_600_000.0).contains(&think_ms)) {
                return Err(bad(format!(
                    "think_ms {think_ms} is out of range, expected a number from 0 to 3600000"
                )));
            }
            let len = |name: &str, v: Option<i64>, default: i64| {
                in_range::<usize>(name, v.unwrap_or(default), limits::PREFIX_TOKENS)
            };
            let chats = match &s.path {
                Some(p) => super::multi_turn::Chats::ShareGpt {
                    conversations: super::multi_turn::read_sharegpt(&data_path(p, dir))?,
                },
                None => super::multi_turn::Chats::Synthetic {
                    turns: in_range("turns", s.turns.unwrap_or_default(), limits::PROMPTS)
                        .map_err(bad)?,
                    user_len: in_range("user_len", s.user_len.unwrap_or_default(), limits::TOKENS)
                        .map_err(bad)?,
                    assistant_len: in_range(
                        "assistant_len",
                        s.assistant_len.unwrap_or(64),
                        limits::TOKENS,
                    )
                    .map_err(bad)?,
                    system_len: len("system_len", s.system_len, 0).map_err(bad)?,
                    seed: s.seed,
                },
            };
            Source::MultiTurn { chats, think_ms }
        }
        Kind::Extraction => {
            let (path, schema_path) = (text(&s.path), text(&s.schema));
            let schema: serde_json::Value =
                serde_json::from_str(&read_data(&schema_path, origin, dir)?)
                    .map_err(|e| bad(format!("{schema_path}: not JSON: {e}")))?;
            Scorer::extraction(&schema).map_err(|e| bad(format!("{schema_path}: {e}")))?;
            let data = read_data(&path, origin, dir)?;
            Source::Extraction {
                entries: datasets::parse_extraction(&data, &data_origin(&path, dir))?,
                instruction: text(&s.instruction),
                schema,
            }
        }
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

/// How errors name a data file: its path, or `builtin:` and its path.
fn data_origin(path: &str, dir: Option<&Path>) -> String {
    match dir {
        Some(d) => d.join(path).display().to_string(),
        None => format!("builtin:{path}"),
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
    use crate::workload::builtin_names;

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
        let err = parse(src, Format::Toml, "x.toml", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("num_prompts 0: out of range, expected an integer from 1 to 10000000"),
            "{err}"
        );
        let src = "[source]\nkind = \"random\"\ninput_len = -5\n";
        let err = parse(src, Format::Toml, "x.toml", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("input_len -5: out of range, expected an integer from 1 to 16777216"),
            "{err}"
        );
    }

    #[test]
    fn parse_errors_are_one_line_with_a_line_number() {
        let err = parse("num_prompts = \n", Format::Toml, "x.toml", None)
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.starts_with("workload x.toml: line 1:"), "{err}");
    }

    #[test]
    fn yaml_reads_the_same_schema_as_toml() {
        let toml = "name = \"w\"\nnum_prompts = 4\noutput_len = 16\n[source]\nkind = \"random\"\ninput_len = 32\nrange_ratio = 0.25\n";
        let yaml = "name: w\nnum_prompts: 4\noutput_len: 16\nsource:\n  kind: random\n  input_len: 32\n  range_ratio: 0.25\n";
        let a = parse(toml, Format::Toml, "w.toml", None).unwrap();
        let mut b = parse(yaml, Format::Yaml, "w.yaml", None).unwrap();
        b.origin = a.origin.clone();
        assert_eq!(a, b);
        assert_eq!(a.num_prompts, 4);
    }

    #[test]
    fn unknown_and_stray_keys_are_named() {
        let yaml = "nme: w\nsource:\n  kind: random\n  input_len: 3\n  inptu_len: 4\n";
        let err = parse(yaml, Format::Yaml, "w.yaml", None)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "workload w.yaml: unknown keys nme, source.inptu_len");
        let toml = "[source]\nkind = \"random\"\ninput_len = 3\nfiles = [\"a\"]\n";
        let err = parse(toml, Format::Toml, "w.toml", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("source.files not read by a source of kind random"),
            "{err}"
        );
        let err = parse("source:\n  kind: documents\n", Format::Yaml, "w.yaml", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("source of kind documents needs files, instruction"),
            "{err}"
        );
    }
}
