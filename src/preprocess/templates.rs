//! The chat templates the preprocessing experiments render (models/templates/, written
//! in the formats real model families use), and the conversations and texts they render:
//! built deterministically from the shipped corpus, so Rust and the Python comparison
//! (benches/preprocess-python.py) render and tokenize the very same bytes.

use crate::engine::Message;
use crate::model::tokenizer::CORPUS;

/// One template of the project's set: its name and Jinja source.
#[derive(Debug, Clone, Copy)]
pub struct NamedTemplate {
    pub name: &'static str,
    pub source: &'static str,
}

/// The project's template set, in the order reports list them.
pub const TEMPLATES: &[NamedTemplate] = &[
    NamedTemplate {
        name: "chatml",
        source: include_str!("../../models/templates/chatml.jinja"),
    },
    NamedTemplate {
        name: "llama3",
        source: include_str!("../../models/templates/llama3.jinja"),
    },
    NamedTemplate {
        name: "gemma",
        source: include_str!("../../models/templates/gemma.jinja"),
    },
    NamedTemplate {
        name: "mistral",
        source: include_str!("../../models/templates/mistral.jinja"),
    },
    NamedTemplate {
        name: "reasoning",
        source: include_str!("../../models/templates/reasoning.jinja"),
    },
    NamedTemplate {
        name: "tools",
        source: include_str!("../../models/templates/tools.jinja"),
    },
];

/// The template of the set called `name`.
pub fn named(name: &str) -> Option<&'static NamedTemplate> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// The corpus as one string, paragraphs joined by blank lines, cycled to make texts.
fn corpus() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        CORPUS
            .iter()
            .map(|(_, t)| *t)
            .collect::<Vec<_>>()
            .join("\n\n")
    })
}

/// `bytes` bytes of corpus text (fewer by at most 3, to end on a character boundary),
/// starting `offset` bytes in and wrapping around.
pub fn text(bytes: usize, offset: usize) -> String {
    let c = corpus();
    let mut out = String::with_capacity(bytes + 4);
    let mut at = floor_boundary(c, offset % c.len());
    while out.len() < bytes {
        let end = floor_boundary(c, (at + (bytes - out.len())).min(c.len()));
        if end == at {
            // Fewer than a character's bytes left to fill, or the end of the corpus.
            if at < c.len() && out.len() + 4 > bytes {
                break;
            }
            at = 0;
            continue;
        }
        out.push_str(&c[at..end]);
        at = if end >= c.len() { 0 } else { end };
    }
    out
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A conversation of `turns` user turns: a system prompt, then `turns - 1` user messages
/// each answered by the assistant, then the last user message. Each message holds
/// `message_bytes` of corpus text; with `thinking`, every assistant answer starts with a
/// `<think>` block of the same size, as a reasoning model's history does.
pub fn conversation(turns: usize, message_bytes: usize, thinking: bool) -> Vec<Message> {
    let msg = |role: &str, content: String| Message {
        role: role.into(),
        content,
    };
    let mut m = vec![msg("system", "You are a helpful assistant.".into())];
    for i in 0..turns {
        m.push(msg("user", text(message_bytes, (2 * i) * 7919)));
        if i + 1 < turns {
            let answer = text(message_bytes, (2 * i + 1) * 7919);
            let content = if thinking {
                format!(
                    "<think>\n{}\n</think>\n\n{answer}",
                    text(message_bytes, (2 * i + 1) * 104_729)
                )
            } else {
                answer
            };
            m.push(msg("assistant", content));
        }
    }
    m
}

/// One user message of `bytes` bytes after the system prompt.
pub fn single_message(bytes: usize) -> Vec<Message> {
    vec![
        Message {
            role: "system".into(),
            content: "You are a helpful assistant.".into(),
        },
        Message {
            role: "user".into(),
            content: text(bytes, 0),
        },
    ]
}

/// The tools list the tool-calling template is rendered with (OpenAI function format).
pub fn tools() -> serde_json::Value {
    serde_json::json!([
        {"type": "function", "function": {"name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                "required": ["city"]}}},
        {"type": "function", "function": {"name": "search",
            "description": "Search the documentation",
            "parameters": {"type": "object", "properties": {
                "query": {"type": "string"}}, "required": ["query"]}}}
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::template::ChatTemplate;

    fn render(name: &str, messages: &[Message]) -> String {
        let t = named(name).expect("template");
        ChatTemplate::new(t.source, "<s>", "</s>")
            .expect("compiles")
            .render(messages, true)
            .expect("renders")
    }

    fn chat() -> Vec<Message> {
        let m = |r: &str, c: &str| Message {
            role: r.into(),
            content: c.into(),
        };
        vec![
            m("system", "Be brief."),
            m("user", " Hi "),
            m("assistant", "<think>\nsay hello\n</think>\n\nHello."),
            m("user", "Bye"),
        ]
    }

    #[test]
    fn every_template_renders_its_family_format() {
        let c = chat();
        assert_eq!(
            render("chatml", &c),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\n<think>\nsay hello\n</think>\n\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            render("llama3", &c[..2]),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(
            render("gemma", &c[..2]),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
        );
        assert_eq!(
            render("mistral", &c),
            "[SYSTEM_PROMPT] Be brief.[/SYSTEM_PROMPT][INST]  Hi [/INST] <think>\nsay hello\n</think>\n\nHello.</s>[INST] Bye[/INST]"
        );
        // The thinking block of the earlier answer is dropped; a new one is opened.
        assert_eq!(
            render("reasoning", &c),
            "<s>Be brief.<｜User｜> Hi <｜Assistant｜>Hello.<｜end▁of▁sentence｜><｜User｜>Bye<｜Assistant｜><think>\n"
        );
    }

    #[test]
    fn the_tools_template_lists_tools_only_when_given() {
        let t = ChatTemplate::new(named("tools").unwrap().source, "", "").unwrap();
        let c = chat();
        let with = t.render_with_tools(&c[..2], Some(&tools()), true).unwrap();
        assert!(
            with.starts_with("<|im_start|>system\nBe brief.\n\n# Tools"),
            "{with}"
        );
        assert!(with.contains("\"name\":\"get_weather\""), "{with}");
        assert_eq!(with.matches("<|im_start|>system").count(), 1, "{with}");
        assert!(with.ends_with("<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\n"));
        // Without tools it is plain ChatML.
        assert_eq!(t.render(&c, true).unwrap(), render("chatml", &c));
    }

    #[test]
    fn texts_and_conversations_have_the_sizes_asked() {
        for bytes in [1, 100, 1024, 300_000] {
            let t = text(bytes, 12_345);
            assert!(
                t.len() <= bytes && t.len() + 4 > bytes,
                "{bytes}: {}",
                t.len()
            );
        }
        assert_eq!(text(500, 7), text(500, 7));
        let c = conversation(4, 256, true);
        assert_eq!(c.len(), 1 + 4 + 3);
        assert_eq!(c.last().unwrap().role, "user");
        assert!(c[2].content.starts_with("<think>\n"));
    }
}
