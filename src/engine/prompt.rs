//! What the in-process engines share between a request and their tokenizer: the prompt
//! rendered through the model's chat template, and the check that a request fits the
//! context. One implementation, so that llama.cpp and candle see the same text.

use super::template::ChatTemplate;
use super::{EngineError, FailureKind, Prompt};

/// The text a model's tokenizer sees for `prompt`: raw text as is; chat messages through
/// the model's template with the assistant's turn opened, or, for a model without one,
/// the message contents joined by newlines.
pub fn render(prompt: &Prompt, template: Option<&ChatTemplate>) -> Result<String, EngineError> {
    match (prompt, template) {
        (Prompt::Text(t), _) => Ok(t.clone()),
        (Prompt::Chat(ms), Some(t)) => t.render(ms, true).map_err(|e| EngineError::Request {
            kind: FailureKind::InvalidRequest,
            message: format!("chat template: {e}"),
        }),
        (Prompt::Chat(ms), None) => Ok(ms
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// How a model without a chat template renders chat messages, for EngineInfo details.
pub const NO_TEMPLATE: &str = "none: message contents joined by newlines";

/// Fails a request whose prompt is empty, or whose prompt plus output would not fit a
/// context of `n_ctx` tokens. `remedy` says what to change (a flag), in parentheses.
pub fn check_fits(
    prompt_tokens: usize,
    max_tokens: u32,
    n_ctx: usize,
    remedy: &str,
) -> Result<(), EngineError> {
    if prompt_tokens > 0 && prompt_tokens + max_tokens as usize <= n_ctx {
        return Ok(());
    }
    Err(EngineError::Request {
        kind: FailureKind::InvalidRequest,
        message: format!(
            "prompt of {prompt_tokens} tokens plus {max_tokens} output tokens does not fit the context of {n_ctx} ({remedy})"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Message;

    #[test]
    fn chat_without_a_template_joins_contents() {
        let p = Prompt::Chat(vec![
            Message {
                role: "system".into(),
                content: "a".into(),
            },
            Message {
                role: "user".into(),
                content: "b".into(),
            },
        ]);
        assert_eq!(render(&p, None).unwrap(), "a\nb");
        let t = ChatTemplate::new(
            "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
            "<s>",
            "</s>",
        )
        .unwrap();
        assert_eq!(render(&p, Some(&t)).unwrap(), "<system>a<user>b<assistant>");
        assert_eq!(
            render(&Prompt::Text("raw".into()), Some(&t)).unwrap(),
            "raw"
        );
    }

    #[test]
    fn a_request_must_fit_the_context() {
        assert!(check_fits(10, 10, 20, "x").is_ok());
        let e = check_fits(10, 11, 20, "raise --ctx-size").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid_request: prompt of 10 tokens plus 11 output tokens does not fit the context of 20 (raise --ctx-size)"
        );
        assert!(check_fits(0, 1, 20, "x").is_err(), "an empty prompt");
    }
}
