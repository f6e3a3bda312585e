//! Extraction accuracy: whether an answer is JSON, whether it matches the workload's JSON
//! Schema (validated by the `jsonschema` crate, so a workload may use any draft), and the
//! share of the expected top-level fields it got exactly right.

use serde_json::Value;

/// A compiled schema to score answers against.
pub struct Extraction {
    validator: jsonschema::Validator,
}

/// What one answer scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExtractionScore {
    pub json_valid: bool,
    pub schema_valid: bool,
    /// Expected fields whose value the answer has exactly, over the expected fields.
    pub field_exact_match: f64,
}

impl Extraction {
    /// Compiles `schema`; an invalid schema is an error naming what is wrong.
    pub fn new(schema: &Value) -> Result<Extraction, String> {
        let validator = jsonschema::validator_for(schema)
            .map_err(|e| format!("not a valid JSON Schema: {e}"))?;
        Ok(Extraction { validator })
    }

    /// Scores `answer` (the model's text) against `expected` (a JSON object).
    pub fn score(&self, expected: &Value, answer: &str) -> ExtractionScore {
        let Some(got) = parse_answer(answer) else {
            return ExtractionScore {
                json_valid: false,
                schema_valid: false,
                field_exact_match: 0.0,
            };
        };
        ExtractionScore {
            json_valid: true,
            schema_valid: self.validator.is_valid(&got),
            field_exact_match: field_match(expected, &got),
        }
    }
}

/// The answer as JSON: the whole reply, trimmed, or the body of a Markdown code fence
/// around it (```json ... ```), as chat models often write it.
fn parse_answer(answer: &str) -> Option<Value> {
    let t = answer.trim();
    let body = t
        .strip_prefix("```")
        .and_then(|r| r.strip_suffix("```"))
        .map(|r| r.strip_prefix("json").unwrap_or(r))
        .unwrap_or(t);
    serde_json::from_str(body.trim()).ok()
}

/// The share of `expected`'s top-level fields that `got` has with an equal value.
fn field_match(expected: &Value, got: &Value) -> f64 {
    let Some(want) = expected.as_object().filter(|w| !w.is_empty()) else {
        return if expected == got { 1.0 } else { 0.0 };
    };
    let hits = want
        .iter()
        .filter(|(k, v)| got.get(k.as_str()).is_some_and(|g| same(v, g)))
        .count();
    hits as f64 / want.len() as f64
}

/// JSON equality where numbers compare by value (`1843` equals `1843.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scorer() -> Extraction {
        Extraction::new(&json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "year": {"type": "integer"}},
            "required": ["name", "year"],
            "additionalProperties": false
        }))
        .unwrap()
    }

    #[test]
    fn scores_validity_schema_and_fields() {
        let want = json!({"name": "Ada", "year": 1843});
        let s = scorer();
        let exact = s.score(&want, r#"{"year": 1843.0, "name": "Ada"}"#);
        assert_eq!(
            exact,
            ExtractionScore {
                json_valid: true,
                // 1843.0 is a number, and the schema asks for an integer: draft 2020-12
                // counts a float with no fraction as an integer.
                schema_valid: true,
                field_exact_match: 1.0
            }
        );
        let fenced = s.score(&want, "```json\n{\"name\": \"ada\", \"year\": 1843}\n```");
        assert_eq!((fenced.json_valid, fenced.schema_valid), (true, true));
        assert_eq!(
            fenced.field_exact_match, 0.5,
            "names match exactly or not at all"
        );
        let extra = s.score(&want, r#"{"name": "Ada", "year": 1843, "x": 1}"#);
        assert_eq!((extra.schema_valid, extra.field_exact_match), (false, 1.0));
        let prose = s.score(&want, "The name is Ada.");
        assert_eq!(
            (
                prose.json_valid,
                prose.schema_valid,
                prose.field_exact_match
            ),
            (false, false, 0.0)
        );
    }

    #[test]
    fn an_invalid_schema_is_refused() {
        let err = Extraction::new(&json!({"type": "no-such-type"}))
            .err()
            .unwrap();
        assert!(err.starts_with("not a valid JSON Schema"), "{err}");
    }
}
