//! The command a launched server runs: a recipe for llama-server, vLLM or SGLang that
//! fills in the host, the port and the flags that make a benchmark honest, or the user's
//! own command, which takes its port as `{port}`.

use std::ffi::OsString;

use serde::Serialize;

use crate::error::{Error, Result};

/// A server nativebench knows how to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipe {
    /// llama.cpp's `llama-server`: `--metrics` (Prometheus), `--slots` (per-slot state,
    /// read for KV use), `-np` slots for the run's concurrency, `-t` threads.
    LlamaServer,
    /// `vllm serve`.
    Vllm,
    /// SGLang's `python3 -m sglang.launch_server`, with `--enable-metrics`.
    Sglang,
}

impl Recipe {
    pub fn name(self) -> &'static str {
        match self {
            Recipe::LlamaServer => "llama-server",
            Recipe::Vllm => "vllm",
            Recipe::Sglang => "sglang",
        }
    }

    /// The recipe a program names, by its file name.
    fn of(program: &str) -> Option<Recipe> {
        let name = std::path::Path::new(program).file_name()?.to_str()?;
        match name {
            "llama-server" => Some(Recipe::LlamaServer),
            "vllm" => Some(Recipe::Vllm),
            "sglang" => Some(Recipe::Sglang),
            _ => None,
        }
    }
}

/// A validated `--launch`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaunchSpec {
    /// The words as given.
    pub words: Vec<String>,
    pub recipe: Option<Recipe>,
    /// A recipe's model, resolved to a file or directory (llama-server) or as given.
    pub model: Option<String>,
    /// llama-server's slots: the run's concurrency.
    pub parallel: usize,
    pub threads: Option<usize>,
}

/// The placeholder a command of the user's own takes its port in.
const PORT: &str = "{port}";

impl LaunchSpec {
    /// Parses `--launch`: shell words; a recipe when the program is `llama-server`,
    /// `vllm` or `sglang` (then MODEL and any extra flags follow), else the command as
    /// given with `{port}` where its port goes. `resolve` turns a recipe's model spec into
    /// what the server loads.
    pub fn parse(
        text: &str,
        parallel: usize,
        threads: Option<usize>,
        resolve: &dyn Fn(&str) -> Result<String>,
    ) -> Result<LaunchSpec> {
        let words = shell_words::split(text)
            .map_err(|e| Error::Config(format!("--launch `{text}`: {e}")))?;
        let Some(program) = words.first() else {
            return Err(Error::Config("--launch needs a command".into()));
        };
        let recipe = Recipe::of(program);
        let model = match recipe {
            Some(r) => {
                let rest = &words[1..];
                // `vllm serve MODEL` is vLLM's own spelling.
                let rest = match (r, rest.first().map(String::as_str)) {
                    (Recipe::Vllm, Some("serve")) => &rest[1..],
                    _ => rest,
                };
                let Some(spec) = rest.first().filter(|w| !w.starts_with('-')) else {
                    return Err(Error::Config(format!(
                        "--launch {}: name the model after it, e.g. `--launch \"{} MODEL\"`",
                        r.name(),
                        r.name()
                    )));
                };
                Some(match r {
                    Recipe::LlamaServer => resolve(spec)?,
                    Recipe::Vllm | Recipe::Sglang => spec.clone(),
                })
            }
            None if !words.iter().any(|w| w.contains(PORT)) => {
                return Err(Error::Config(format!(
                    "--launch `{text}`: not llama-server, vllm or sglang, so the command must take its port as {PORT} (for example `--port {PORT}`)"
                )))
            }
            None => None,
        };
        Ok(LaunchSpec {
            words,
            recipe,
            model,
            parallel: parallel.max(1),
            threads,
        })
    }

    /// The command line to run with the server on `port`.
    pub fn command(&self, port: u16) -> Result<Vec<OsString>> {
        let port_s = port.to_string();
        let model = self.model.clone().unwrap_or_default();
        let (program, extra) = (&self.words[0], &self.words[1..]);
        // The words after the model: the user's own flags, passed on last so they win.
        let after_model = |skip: usize| extra.iter().skip(skip).cloned();
        let argv: Vec<String> = match self.recipe {
            Some(Recipe::LlamaServer) => {
                let mut a = vec![
                    program.clone(),
                    "-m".into(),
                    model,
                    "--host".into(),
                    "127.0.0.1".into(),
                    "--port".into(),
                    port_s,
                    "--metrics".into(),
                    "--slots".into(),
                    "-np".into(),
                    self.parallel.to_string(),
                ];
                if let Some(t) = self.threads {
                    a.extend(["-t".into(), t.to_string()]);
                }
                a.extend(after_model(1));
                a
            }
            Some(Recipe::Vllm) => {
                let skip = if extra.first().map(String::as_str) == Some("serve") {
                    2
                } else {
                    1
                };
                let mut a = vec![
                    program.clone(),
                    "serve".into(),
                    model,
                    "--host".into(),
                    "127.0.0.1".into(),
                    "--port".into(),
                    port_s,
                ];
                a.extend(after_model(skip));
                a
            }
            Some(Recipe::Sglang) => {
                let mut a = vec![
                    "python3".into(),
                    "-m".into(),
                    "sglang.launch_server".into(),
                    "--model-path".into(),
                    model,
                    "--host".into(),
                    "127.0.0.1".into(),
                    "--port".into(),
                    port_s,
                    "--enable-metrics".into(),
                ];
                a.extend(after_model(1));
                a
            }
            None => self
                .words
                .iter()
                .map(|w| w.replace(PORT, &port_s))
                .collect(),
        };
        Ok(argv.into_iter().map(OsString::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LaunchSpec> {
        LaunchSpec::parse(text, 4, Some(2), &|s| Ok(format!("/models/{s}.gguf")))
    }

    fn argv(spec: &LaunchSpec) -> Vec<String> {
        spec.command(8123)
            .unwrap()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn recipes_fill_in_the_port_and_the_honest_flags() {
        let s = parse("/opt/bin/llama-server tiny --ctx-size 4096").unwrap();
        assert_eq!(s.recipe, Some(Recipe::LlamaServer));
        assert_eq!(
            argv(&s).join(" "),
            "/opt/bin/llama-server -m /models/tiny.gguf --host 127.0.0.1 --port 8123 \
             --metrics --slots -np 4 -t 2 --ctx-size 4096"
        );
        let v = parse("vllm serve Qwen/Qwen2.5-0.5B --max-num-seqs 8").unwrap();
        assert_eq!(
            argv(&v).join(" "),
            "vllm serve Qwen/Qwen2.5-0.5B --host 127.0.0.1 --port 8123 --max-num-seqs 8"
        );
        let g = parse("sglang Qwen/Qwen2.5-0.5B").unwrap();
        assert!(argv(&g).join(" ").ends_with("--port 8123 --enable-metrics"));
        let own = parse("python3 -m http.server '{port}'").unwrap();
        assert_eq!(argv(&own), ["python3", "-m", "http.server", "8123"]);
    }

    #[test]
    fn a_command_without_a_model_or_a_port_is_refused() {
        let e = parse("llama-server --ctx-size 1").unwrap_err().to_string();
        assert!(e.contains("name the model"), "{e}");
        let e = parse("my-server --port 9000").unwrap_err().to_string();
        assert!(e.contains("{port}"), "{e}");
        let e = parse("").unwrap_err().to_string();
        assert!(e.contains("needs a command"), "{e}");
        let e = parse("llama-server 'unclosed").unwrap_err().to_string();
        assert!(e.contains("--launch"), "{e}");
    }
}
