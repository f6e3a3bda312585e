//! Prompt data sets given by path: ShareGPT-format JSON and JSONL files of prompts.

use std::path::Path;

use serde::Deserialize;

use crate::engine::{Message, Prompt};
use crate::error::{Error, Result};
use crate::limits;

/// One conversation from a ShareGPT file: the first human turn is the prompt, and the
/// first model turn after it sets the output length (vLLM's convention).
#[derive(Debug, Clone, PartialEq)]
pub struct ShareGptEntry {
    pub prompt: String,
    pub reply: String,
}

#[derive(Deserialize)]
struct ShareGptConversation {
    conversations: Vec<ShareGptTurn>,
}

#[derive(Deserialize)]
struct ShareGptTurn {
    from: String,
    value: String,
}

/// Reads a ShareGPT JSON file: an array of `{"conversations": [{"from", "value"}, ...]}`.
/// Conversations without a human turn followed by a model turn are skipped, as vLLM does;
/// a file where none is usable is an error.
pub fn read_sharegpt(path: &Path) -> Result<Vec<ShareGptEntry>> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let convs: Vec<ShareGptConversation> = serde_json::from_str(&text).map_err(|e| {
        Error::workload(
            &origin,
            format!(
                "not a ShareGPT file (expected a JSON array of {{\"conversations\": [{{\"from\", \"value\"}}]}}): {e}"
            ),
        )
    })?;
    let entries: Vec<ShareGptEntry> = convs
        .into_iter()
        .filter_map(|c| {
            let human = c.conversations.iter().position(|t| is_human(&t.from))?;
            let reply = c.conversations[human + 1..]
                .iter()
                .find(|t| !is_human(&t.from))?;
            (!c.conversations[human].value.trim().is_empty()).then(|| ShareGptEntry {
                prompt: c.conversations[human].value.clone(),
                reply: reply.value.clone(),
            })
        })
        .collect();
    if entries.is_empty() {
        return Err(Error::workload(
            origin,
            "no conversation has a human turn followed by a model turn",
        ));
    }
    Ok(entries)
}

fn is_human(from: &str) -> bool {
    matches!(from, "human" | "user")
}

/// One line of a JSONL prompt file.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonlEntry {
    pub prompt: Prompt,
    pub max_tokens: Option<u32>,
    /// What kind of task the prompt is (coding, chat ...), carried into its samples.
    pub category: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonlLine {
    prompt: Option<String>,
    messages: Option<Vec<Message>>,
    /// Any JSON number, so that a value outside the range gets the range's message.
    max_tokens: Option<serde_json::Number>,
    category: Option<String>,
}

/// Reads a JSONL file with one `{"prompt": "..."}` or `{"messages": [...]}` object per
/// line, each with an optional `max_tokens` and `category`. Blank lines are skipped.
pub fn read_jsonl(path: &Path) -> Result<Vec<JsonlEntry>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_jsonl(&text, &path.display().to_string())
}

/// [`read_jsonl`] of text already read; `origin` names it in errors.
pub fn parse_jsonl(text: &str, origin: &str) -> Result<Vec<JsonlEntry>> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |msg: String| Error::workload(origin, format!("line {}: {msg}", i + 1));
        let parsed: JsonlLine = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
        let prompt = match (parsed.prompt, parsed.messages) {
            (Some(p), None) => Prompt::Text(p),
            (None, Some(m)) if !m.is_empty() => Prompt::Chat(m),
            _ => return Err(at("needs exactly one of \"prompt\" or \"messages\"".into())),
        };
        let max_tokens = match parsed.max_tokens {
            None => None,
            Some(n) => Some(
                n.as_i64()
                    .ok_or(())
                    .and_then(|v| limits::MAX_TOKENS.check("max_tokens", v).map_err(|_| ()))
                    .map_err(|()| {
                        at(format!(
                            "max_tokens {n}: out of range, expected {}",
                            limits::MAX_TOKENS.describe()
                        ))
                    })?,
            ),
        };
        if parsed
            .category
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(at("category is empty".into()));
        }
        entries.push(JsonlEntry {
            prompt,
            max_tokens,
            category: parsed.category,
        });
    }
    if entries.is_empty() {
        return Err(Error::workload(origin, "holds no prompts"));
    }
    Ok(entries)
}

/// One document of an extraction workload and the answer expected from it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractionEntry {
    pub document: String,
    /// The JSON a correct answer holds; each of its top-level fields is matched exactly.
    pub expected: serde_json::Value,
    pub category: Option<String>,
}

/// Parses an extraction data set: one `{"document", "expected"}` object per line, with an
/// optional `category`. `expected` must be a JSON object.
pub fn parse_extraction(text: &str, origin: &str) -> Result<Vec<ExtractionEntry>> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |msg: String| Error::workload(origin, format!("line {}: {msg}", i + 1));
        let e: ExtractionEntry = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
        if !e.expected.is_object() {
            return Err(at(
                "expected must be a JSON object of the fields to extract".into(),
            ));
        }
        entries.push(e);
    }
    if entries.is_empty() {
        return Err(Error::workload(origin, "holds no documents"));
    }
    Ok(entries)
}
