//! Reading a model's logits on the host, shared by the engines and `check-agreement`:
//! greedy choice as llama.cpp's greedy sampler makes it, and the NaN check that turns a
//! broken forward pass into a failed request instead of a garbage token.

use super::{EngineError, FailureKind};

/// The id of the largest logit; the first one on ties, as llama.cpp's greedy sampler.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Fails the request when a logit is NaN. `step` counts output tokens from 0 (prefill's
/// logits choose token 0).
pub fn check_nan(logits: &[f32], step: usize) -> Result<(), EngineError> {
    if logits.iter().any(|v| v.is_nan()) {
        return Err(EngineError::Request {
            kind: FailureKind::Engine,
            message: format!("NaN in the logits at step {step}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[0.0, 3.0, 1.0, 3.0]), 1);
        assert_eq!(argmax(&[-1.0]), 0);
        assert_eq!(argmax(&[f32::NEG_INFINITY, -5.0]), 1);
    }

    #[test]
    fn nan_is_a_request_failure_naming_the_step() {
        assert!(check_nan(&[0.0, f32::INFINITY, -1.0], 0).is_ok());
        let e = check_nan(&[0.0, f32::NAN], 7).unwrap_err();
        match e {
            EngineError::Request { kind, message } => {
                assert_eq!(kind, FailureKind::Engine);
                assert_eq!(message, "NaN in the logits at step 7");
            }
            other => panic!("{other:?}"),
        }
    }
}
