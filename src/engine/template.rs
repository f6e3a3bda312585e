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
/// The work a template may do per render (minijinja's fuel: about one unit per
/// instruction). Real chat templates use a few thousand; a loop over a billion items
/// stops here with an error instead of running for hours.
const FUEL: u64 = 50_000_000;
/// The longest rendered prompt, in bytes.
const MAX_OUTPUT: usize = 64 << 20;

/// A writer that refuses to grow past [`MAX_OUTPUT`].
struct Bounded(Vec<u8>);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT {
            return Err(std::io::Error::other("the rendered prompt passes 64 MiB"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Python's `strftime` as Hugging Face templates call it; a format chrono cannot render
/// is an error, not a panic (chrono's `to_string` panics on one).
fn strftime_now(fmt: String) -> Result<String, JinjaError> {
    use chrono::format::{Item, StrftimeItems};
    use std::fmt::Write as _;
    let items: Vec<Item<'_>> = StrftimeItems::new(&fmt).collect();
    let bad = || {
        JinjaError::new(
            ErrorKind::InvalidOperation,
            format!("strftime_now: bad format `{fmt}`"),
        )
    };
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(bad());
    }
    let mut out = String::new();
    write!(
        out,
        "{}",
        chrono::Local::now().format_with_items(items.into_iter())
    )
    .map_err(|_| bad())?;
    Ok(out)
}

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
        env.add_function("strftime_now", strftime_now);
        env.set_fuel(Some(FUEL));
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
        self.render_with_tools(messages, None, add_generation_prompt)
    }

    /// Renders `messages` with a `tools` list (JSON function descriptions, as
    /// `transformers`' `apply_chat_template(tools=...)` passes them); `None` leaves
    /// `tools` undefined, as a request without tools does.
    pub fn render_with_tools(
        &self,
        messages: &[Message],
        tools: Option<&serde_json::Value>,
        add_generation_prompt: bool,
    ) -> Result<String, JinjaError> {
        let tmpl = self.env.get_template(NAME)?;
        let mut out = Bounded(Vec::new());
        let tools = tools.map(minijinja::Value::from_serialize);
        tmpl.render_captured_to(
            context! {
                messages => messages,
                tools => tools,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            },
            &mut out,
        )?;
        String::from_utf8(out.0)
            .map_err(|e| JinjaError::new(ErrorKind::BadSerialization, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_template_is_bounded_in_work_and_output_and_never_panics() {
        let hostile = [
            // A billion iterations: fuel runs out.
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            // Output past the bound, from repeated strings.
            "{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}",
            // chrono panics on this format in `to_string`.
            "{{ strftime_now('%Q') }}",
            "{{ strftime_now('%') }}",
            "{{ raise_exception('no') }}",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        ];
        for src in hostile {
            let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
            let start = std::time::Instant::now();
            let r = t.render(&[user("hi")], true);
            assert!(r.is_err(), "{src}: {:?}", r.map(|s| s.len()));
            assert!(start.elapsed().as_secs() < 60, "{src}");
        }
        let t = ChatTemplate::new("{{ strftime_now('%Y') }}", "", "").unwrap();
        assert_eq!(t.render(&[], false).unwrap().len(), 4);
    }

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
