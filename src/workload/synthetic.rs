//! Synthetic prompts: seeded word sequences fitted to an exact token count with the
//! engine's own tokenizer, in the manner of vLLM's random data set (input and output
//! lengths drawn from `len * [1 - r, 1 + r]`, an optional shared prefix).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Common English words of at most 8 letters: each is one token for the sim tokenizer and
/// usually one for a real BPE, so fitting converges in a few steps.
const WORDS: &[&str] = &[
    "time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world",
    "school", "state", "family", "student", "group", "country", "problem", "hand", "part", "place",
    "case", "week", "company", "system", "program", "question", "work", "number", "night", "point",
    "home", "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right",
    "study", "book", "eye", "job", "word", "business", "issue", "side", "kind", "head", "house",
    "service", "friend", "father", "power", "hour", "game", "line", "end", "member", "law", "car",
    "city", "name", "team", "minute", "idea", "kid", "body", "back", "parent", "face", "others",
    "level", "office", "door", "health", "person", "art", "war", "history", "party", "result",
    "change", "morning", "reason", "research", "girl", "guy", "moment", "air", "teacher", "force",
    "river", "stone", "light", "green", "small", "large", "early", "young", "long", "great",
    "little", "own", "other", "old", "big", "high", "next", "last", "late", "hard", "open",
    "clear", "simple", "quiet", "bright", "cold", "warm", "slow", "fast",
];

/// Draws a length from `base * [1 - ratio, 1 + ratio]`, at least 1.
pub fn sample_len(rng: &mut StdRng, base: usize, ratio: f64) -> usize {
    if ratio <= 0.0 || base == 0 {
        return base.max(1);
    }
    let lo = ((base as f64) * (1.0 - ratio)).floor().max(1.0) as usize;
    let hi = ((base as f64) * (1.0 + ratio)).ceil() as usize;
    rng.random_range(lo..=hi.max(lo))
}

/// `n` seeded words.
pub fn words(rng: &mut StdRng, n: usize) -> Vec<&'static str> {
    (0..n)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect()
}

/// A seeded RNG for one purpose of one workload, so adding a prompt or changing one
/// length does not reshuffle every other random choice.
pub fn rng(seed: u64, stream: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Finds the longest prefix of `words` whose token count, as `count` measures it, does not
/// exceed `target`, then tops it up one short word at a time where a long word left it
/// short. `count` sees the candidate text. Returns the text.
///
/// Token counts grow with `k` (never shrink by more than a merge at the seam), so a
/// binary search converges in log2(len) evaluations.
pub fn fit<E>(
    words: &[&str],
    target: usize,
    mut count: impl FnMut(&str) -> Result<Option<usize>, E>,
) -> Result<String, E> {
    let text = |k: usize| words[..k].join(" ");
    let (mut lo, mut hi) = (1usize, words.len());
    if count(&text(hi))?.is_none() {
        // No tokenizer to fit against: one word per token is the closest guess.
        return Ok(text(target.clamp(1, words.len())));
    }
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        match count(&text(mid))? {
            Some(n) if n <= target => lo = mid,
            _ => hi = mid - 1,
        }
    }
    let mut best = text(lo);
    let mut have = count(&best)?.unwrap_or(target);
    // A word worth two tokens can leave the fit one short: add one-letter words, each a
    // single token for every tokenizer we know, until the count is exact.
    while have < target {
        let more = format!("{best} a");
        match count(&more)? {
            Some(n) if n <= target && n > have => (best, have) = (more, n),
            _ => break,
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sim::sim_tokenize;

    #[test]
    fn fit_hits_the_exact_count_with_overhead() {
        let mut r = rng(1, 0);
        let ws = words(&mut r, 300);
        // A template that adds five tokens around the content.
        let counter = |t: &str| -> Result<_, ()> {
            Ok(Some(sim_tokenize(&format!("< a > {t} < b >")).len()))
        };
        let text = fit(&ws, 128, counter).unwrap();
        assert_eq!(counter(&text).unwrap(), Some(128));
    }

    #[test]
    fn lengths_stay_in_the_range() {
        let mut r = rng(3, 1);
        for _ in 0..200 {
            let n = sample_len(&mut r, 100, 0.25);
            assert!((75..=125).contains(&n), "{n}");
        }
        assert_eq!(sample_len(&mut r, 100, 0.0), 100);
    }
}
