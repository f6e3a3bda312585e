//! Chat templates, rendered the way Hugging Face `transformers` renders them: Jinja with
//! Python string methods (minijinja-contrib's pycompat), `trim_blocks` and
//! `lstrip_blocks`, and the `raise_exception` and `strftime_now` helpers.

use minijinja::{context, Environment, Error as JinjaError, ErrorKind};

use super::Message;

/// A compiled chat template with its special tokens.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

const NAME: &str = "chat";

impl ChatTemplate {
    /// Compiles a template. A template that does not parse is an error here, once, not on
    /// every request.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, JinjaError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<String, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_function("strftime_now", |fmt: String| {
            chrono::Local::now().format(&fmt).to_string()
        });
        env.add_template_owned(NAME, source.to_owned())?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        })
    }

    /// Renders `messages`, ending with the assistant's turn opened when
    /// `add_generation_prompt` is set.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, JinjaError> {
        let tmpl = self.env.get_template(NAME)?;
        tmpl.render(context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Message {
        Message {
            role: "user".into(),
            content: text.into(),
        }
    }

    #[test]
    fn renders_a_hugging_face_style_template() {
        // The shape of a real HF template: python string methods, block trimming,
        // raise_exception on a bad role.
        let src = "{{ bos_token }}{% for m in messages %}\n{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('bad role ' + m.role) }}{% endif %}\n<|{{ m.role }}|>{{ m.content.strip() }}\n{% endfor %}\n{% if add_generation_prompt %}<|assistant|>{% endif %}";
        let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
        let out = t.render(&[user("  hi  ")], true).unwrap();
        assert_eq!(out, "<s><|user|>hi\n<|assistant|>");
        let err = t
            .render(
                &[Message {
                    role: "tool".into(),
                    content: "x".into(),
                }],
                true,
            )
            .unwrap_err();
        assert!(err.to_string().contains("bad role tool"), "{err}");
    }

    #[test]
    fn a_broken_template_fails_at_compile_time() {
        assert!(ChatTemplate::new("{% for m in messages %}", "", "").is_err());
    }
}
