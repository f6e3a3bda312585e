//! Tokenizer parity: the `tokenizers` tokenizer (converted from the GGUF, or a given
//! tokenizer.json) against llama.cpp's own tokenizer, text by text, on the shipped corpus.
//! Both sides tokenize without adding BOS/EOS and without parsing special tokens.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{ModelError, Result};

/// The outcome of a parity run.
#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    pub path: PathBuf,
    /// Where the `tokenizers` side came from: "converted from GGUF" or a tokenizer.json.
    pub tokenizer_source: String,
    pub texts: usize,
    pub matched_texts: usize,
    /// matched_texts / texts.
    pub match_rate: f64,
    pub llama_cpp_tokens: usize,
    pub tokenizers_tokens: usize,
    /// The first few texts whose ids differ.
    pub mismatches: Vec<Mismatch>,
}

/// One text whose token ids differ, with the region around the first difference.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    pub index: usize,
    /// The text around the first difference.
    pub excerpt: String,
    /// Token pieces from the first difference on, as each side split them.
    pub llama_cpp: Vec<String>,
    pub tokenizers: Vec<String>,
}

/// How many mismatches a report keeps.
pub const MAX_MISMATCHES: usize = 10;

impl ParityReport {
    /// `matched/texts (rate%)` and token totals, then the kept mismatches.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}: {} texts, {} identical ({:.2}%); tokens llama.cpp {} / tokenizers {} ({})\n",
            self.path.display(),
            self.texts,
            self.matched_texts,
            self.match_rate * 100.0,
            self.llama_cpp_tokens,
            self.tokenizers_tokens,
            self.tokenizer_source
        );
        for m in &self.mismatches {
            s.push_str(&format!(
                "  text {}: {:?}\n    llama.cpp:  {:?}\n    tokenizers: {:?}\n",
                m.index, m.excerpt, m.llama_cpp, m.tokenizers
            ));
        }
        s
    }
}

/// Compares llama.cpp's tokenizer for the GGUF at `path` with the `tokenizers` one, on
/// `texts`. `tokenizer_json` selects a tokenizer.json; by default the GGUF's tokenizer is
/// converted.
pub fn tokenizer_parity(
    path: &Path,
    tokenizer_json: Option<&Path>,
    texts: &[&str],
) -> Result<ParityReport> {
    imp::tokenizer_parity(path, tokenizer_json, texts)
}

#[cfg(feature = "llama-cpp")]
mod imp {
    use super::*;
    use crate::model::convert::tokenizer_from_gguf_path;

    pub(super) fn tokenizer_parity(
        path: &Path,
        tokenizer_json: Option<&Path>,
        texts: &[&str],
    ) -> Result<ParityReport> {
        let (mut hf, source) = match tokenizer_json {
            Some(p) => (
                tokenizers::Tokenizer::from_file(p).map_err(|e| ModelError::tokenizer(p, e))?,
                p.display().to_string(),
            ),
            None => (
                tokenizer_from_gguf_path(path)?,
                "converted from GGUF".to_string(),
            ),
        };
        // llama.cpp with parse_special = false treats control tokens as text.
        hf.set_encode_special_tokens(true);
        let model = crate::model::llama::load_model(path, true)?;
        let vocab = model.vocab();
        let piece = |id: u32| hf.id_to_token(id).unwrap_or_else(|| format!("<id {id}>"));
        let mut report = ParityReport {
            path: path.to_path_buf(),
            tokenizer_source: source,
            texts: texts.len(),
            matched_texts: 0,
            match_rate: 0.0,
            llama_cpp_tokens: 0,
            tokenizers_tokens: 0,
            mismatches: Vec::new(),
        };
        for (index, text) in texts.iter().enumerate() {
            let ours: Vec<u32> = vocab
                .tokenize(text.as_bytes(), false, false)
                .into_iter()
                .map(|t| t.0 as u32)
                .collect();
            let theirs = hf
                .encode(*text, false)
                .map_err(|e| ModelError::tokenizer(path, e))?
                .get_ids()
                .to_vec();
            report.llama_cpp_tokens += ours.len();
            report.tokenizers_tokens += theirs.len();
            if ours == theirs {
                report.matched_texts += 1;
                continue;
            }
            if report.mismatches.len() < MAX_MISMATCHES {
                let first = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
                // Approximate byte position of the difference: decode the common prefix.
                let prefix = hf.decode(&ours[..first], false).unwrap_or_default();
                let at = floor_char_boundary(text, prefix.len().min(text.len()));
                let end = floor_char_boundary(text, (at + 40).min(text.len()));
                let start = floor_char_boundary(text, at.saturating_sub(20));
                report.mismatches.push(Mismatch {
                    index,
                    excerpt: text[start..end].to_string(),
                    llama_cpp: ours[first..].iter().take(8).map(|&i| piece(i)).collect(),
                    tokenizers: theirs[first..].iter().take(8).map(|&i| piece(i)).collect(),
                });
            }
        }
        report.match_rate = if texts.is_empty() {
            1.0
        } else {
            report.matched_texts as f64 / texts.len() as f64
        };
        Ok(report)
    }

    fn floor_char_boundary(s: &str, mut i: usize) -> usize {
        while i > 0 && !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

#[cfg(not(feature = "llama-cpp"))]
mod imp {
    use super::*;

    pub(super) fn tokenizer_parity(
        _path: &Path,
        _tokenizer_json: Option<&Path>,
        _texts: &[&str],
    ) -> Result<ParityReport> {
        Err(ModelError::LlamaCppDisabled)
    }
}
