//! ROUGE-1, ROUGE-2 and ROUGE-L F1, as Google's `rouge-score` package computes them with
//! its default tokenizer and no stemming: lowercase, every run of characters other than
//! ASCII letters and digits is a separator, n-gram overlap by clipped counts, and the
//! longest common subsequence for ROUGE-L. `tests/fixtures/rouge/` holds scores that
//! package produced, and the tests below must equal them within 1e-6.

use std::collections::HashMap;

/// Precision, recall and F1 of one ROUGE variant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Score {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Score {
    fn of(hits: usize, predicted: usize, target: usize) -> Score {
        let precision = hits as f64 / predicted.max(1) as f64;
        let recall = hits as f64 / target.max(1) as f64;
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Score {
            precision,
            recall,
            f1,
        }
    }
}

/// ROUGE-1, ROUGE-2 and ROUGE-L of a prediction against its reference.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rouge {
    pub rouge1: Score,
    pub rouge2: Score,
    pub rouge_l: Score,
}

/// Scores `prediction` against `target`.
pub fn score(target: &str, prediction: &str) -> Rouge {
    let t = tokenize(target);
    let p = tokenize(prediction);
    Rouge {
        rouge1: ngram_score(&t, &p, 1),
        rouge2: ngram_score(&t, &p, 2),
        rouge_l: lcs_score(&t, &p),
    }
}

/// rouge-score's tokenizer: lowercase, non-alphanumeric runs become spaces, split.
pub fn tokenize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn ngrams(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for g in tokens.windows(n) {
        *counts.entry(g).or_insert(0) += 1;
    }
    counts
}

fn ngram_score(target: &[String], prediction: &[String], n: usize) -> Score {
    let t = ngrams(target, n);
    let p = ngrams(prediction, n);
    let hits = t
        .iter()
        .map(|(g, &c)| c.min(p.get(g).copied().unwrap_or(0)))
        .sum();
    Score::of(hits, p.values().sum(), t.values().sum())
}

fn lcs_score(target: &[String], prediction: &[String]) -> Score {
    if target.is_empty() || prediction.is_empty() {
        return Score::default();
    }
    // One row of the dynamic-programming table at a time.
    let mut prev = vec![0usize; prediction.len() + 1];
    let mut row = vec![0usize; prediction.len() + 1];
    for t in target {
        for (j, p) in prediction.iter().enumerate() {
            row[j + 1] = if t == p {
                prev[j] + 1
            } else {
                row[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut row);
    }
    Score::of(prev[prediction.len()], prediction.len(), target.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        target: String,
        prediction: String,
        /// `[precision, recall, fmeasure]` per variant, from rouge-score.
        rouge1: [f64; 3],
        rouge2: [f64; 3],
        #[serde(rename = "rougeL")]
        rouge_l: [f64; 3],
    }

    #[test]
    fn equals_rouge_score_on_the_fixture() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("../../../tests/fixtures/rouge/scores.json"))
                .expect("the fixture parses");
        assert!(cases.len() >= 10, "{} cases", cases.len());
        for c in &cases {
            let got = score(&c.target, &c.prediction);
            for (name, s, want) in [
                ("rouge1", got.rouge1, c.rouge1),
                ("rouge2", got.rouge2, c.rouge2),
                ("rougeL", got.rouge_l, c.rouge_l),
            ] {
                let have = [s.precision, s.recall, s.f1];
                for (h, w) in have.iter().zip(want) {
                    assert!(
                        (h - w).abs() < 1e-6,
                        "{name}: {have:?} vs rouge-score {want:?} for {:?} / {:?}",
                        c.target,
                        c.prediction
                    );
                }
            }
        }
    }

    #[test]
    fn identical_text_scores_one_and_disjoint_text_zero() {
        let r = score("The cat sat.", "the CAT sat");
        assert_eq!((r.rouge1.f1, r.rouge2.f1, r.rouge_l.f1), (1.0, 1.0, 1.0));
        let r = score("the cat sat", "a dog ran");
        assert_eq!((r.rouge1.f1, r.rouge2.f1, r.rouge_l.f1), (0.0, 0.0, 0.0));
        assert_eq!(score("", "anything").rouge_l, Score::default());
    }
}
