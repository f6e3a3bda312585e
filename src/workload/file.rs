//! Definition files read by nativebench (workloads, price tables), in TOML, YAML or JSON
//! by their extension, through one decoder: the same schema whatever the format, errors
//! on one line with the line number where the format gives one, and every key that
//! nativebench would not read named, so a typo is never silently ignored.

use std::path::Path;

use serde::de::DeserializeOwned;

/// A definition file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
    Json,
}

impl Format {
    /// The format of a file named `path`: `.toml`, `.yaml`/`.yml` or `.json`.
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Decodes `src` as `T`. The error is one line: the format's own message (with a line
/// number when there is one), or `unknown key(s) a, source.b` naming every key `T` has
/// no field for.
pub fn decode<T: DeserializeOwned>(src: &str, format: Format) -> Result<T, String> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let value: T = match format {
        Format::Toml => serde_ignored::deserialize(toml::Deserializer::new(src), &mut note)
            .map_err(|e| toml_message(src, &e))?,
        Format::Yaml => serde_saphyr::with_deserializer_from_str(src, |de| {
            serde_ignored::deserialize(de, &mut note)
        })
        .map_err(|e| yaml_message(&e))?,
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(src);
            let v = serde_ignored::deserialize(&mut de, &mut note).map_err(|e| e.to_string())?;
            de.end().map_err(|e| e.to_string())?;
            v
        }
    };
    match unknown.len() {
        0 => Ok(value),
        1 => Err(format!("unknown key {}", unknown[0])),
        _ => Err(format!("unknown keys {}", unknown.join(", "))),
    }
}

fn toml_message(src: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .map(|s| format!("line {}: ", src[..s.start].lines().count().max(1)))
        .unwrap_or_default();
    one_line(&format!("{line}{}", e.message()))
}

fn yaml_message(e: &serde_saphyr::Error) -> String {
    let bare = e.without_snippet();
    let text = one_line(&bare.to_string());
    match bare.location() {
        Some(at) if !text.contains("line ") => format!("line {}: {text}", at.line()),
        _ => text,
    }
}

fn one_line(s: &str) -> String {
    s.trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        n: i64,
    }

    #[test]
    fn every_format_decodes_the_same_schema() {
        let want = Outer {
            name: "a".into(),
            inner: Inner { n: 3 },
        };
        let toml = "name = \"a\"\n[inner]\nn = 3\n";
        let yaml = "name: a\ninner:\n  n: 3\n";
        let json = r#"{"name": "a", "inner": {"n": 3}}"#;
        assert_eq!(decode::<Outer>(toml, Format::Toml).unwrap(), want);
        assert_eq!(decode::<Outer>(yaml, Format::Yaml).unwrap(), want);
        assert_eq!(decode::<Outer>(json, Format::Json).unwrap(), want);
    }

    #[test]
    fn every_unknown_key_is_named_on_one_line() {
        let yaml = "name: a\ncolour: red\ninner:\n  n: 3\n  m: 4\n";
        let err = decode::<Outer>(yaml, Format::Yaml).unwrap_err();
        assert_eq!(err, "unknown keys colour, inner.m");
        let toml = "name = \"a\"\ncolour = 1\n[inner]\nn = 3\n";
        assert_eq!(
            decode::<Outer>(toml, Format::Toml).unwrap_err(),
            "unknown key colour"
        );
    }

    #[test]
    fn syntax_and_type_errors_are_one_line_with_a_line() {
        let err = decode::<Outer>("name: a\ninner:\n  n: [1\n", Format::Yaml).unwrap_err();
        assert!(!err.contains('\n') && err.contains("line "), "{err}");
        let err = decode::<Outer>("name: a\ninner:\n  n: x\n", Format::Yaml).unwrap_err();
        assert!(!err.contains('\n') && err.contains("line 3"), "{err}");
        let err = decode::<Outer>("name = \n", Format::Toml).unwrap_err();
        assert!(err.starts_with("line 1:"), "{err}");
    }
}
