//! The `http` engine's settings as they are recorded in `run_config.json`, and the check
//! of a server URL. The API key is never among them: only where to find it.

use std::path::PathBuf;
use std::str::FromStr;

use hyper::Uri;
use serde::{Deserialize, Serialize};

/// The environment variable the API key is read from unless told otherwise.
pub const DEFAULT_API_KEY_ENV: &str = "OPENAI_API_KEY";

/// Which OpenAI endpoint to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpApi {
    /// `/chat/completions`: messages, rendered by the server's chat template.
    #[default]
    Chat,
    /// `/completions`: raw text.
    Completions,
}

impl FromStr for HttpApi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chat" | "chat-completions" => Ok(HttpApi::Chat),
            "completions" | "completion" => Ok(HttpApi::Completions),
            _ => Err(format!("unknown --api `{s}`: choose chat or completions")),
        }
    }
}

/// The HTTP engine's settings. The API key is never here: only where to find it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// The server's base URL (`http://127.0.0.1:8000/v1`) or a full endpoint URL. A
    /// `user:password@` in it is sent as basic auth and redacted when written out.
    #[serde(serialize_with = "redacted_url")]
    pub url: Option<String>,
    pub api: HttpApi,
    /// The `model` sent in each request; default: the run's `--model`, else the first
    /// model the server lists.
    pub served_model: Option<String>,
    /// The environment variable holding the API key.
    pub api_key_env: String,
    /// A file holding the API key (read at start, trimmed); wins over the variable.
    pub api_key_file: Option<PathBuf>,
    /// Extra request headers. Values are redacted when the config is written out.
    #[serde(serialize_with = "redacted_headers")]
    pub headers: Vec<(String, String)>,
    /// Per-request limit on the whole exchange, in seconds.
    pub timeout_s: f64,
    /// Wait up to this long for the server to complete a first request before the run
    /// starts; 0 starts at once.
    pub ready_timeout_s: f64,
    /// A tokenizer.json to count output tokens with when a reply has no `usage`.
    pub tokenizer: Option<PathBuf>,
    /// Where to write the client's own cost per chunk (benches/client-capacity.sh).
    pub chunk_profile: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            url: None,
            api: HttpApi::Chat,
            served_model: None,
            api_key_env: DEFAULT_API_KEY_ENV.into(),
            api_key_file: None,
            headers: Vec::new(),
            timeout_s: 600.0,
            ready_timeout_s: 0.0,
            tokenizer: None,
            chunk_profile: None,
        }
    }
}

fn redacted_headers<S: serde::Serializer>(h: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    let v: Vec<(&str, &str)> = h.iter().map(|(k, _)| (k.as_str(), "<redacted>")).collect();
    v.serialize(s)
}

fn redacted_url<S: serde::Serializer>(u: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    u.as_deref().map(redact_url).serialize(s)
}

/// Where `url`'s credentials (`user:pass` before `@` in the authority) are, when it
/// has any: their byte range.
fn credentials_at(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    url[start..end].rfind('@').map(|at| start..start + at)
}

/// `url` with the credentials of its authority (`user:pass@`) replaced by `<redacted>@`,
/// for every message, log and file.
pub fn redact_url(url: &str) -> String {
    match credentials_at(url) {
        Some(r) => format!("{}<redacted>{}", &url[..r.start], &url[r.end..]),
        None => url.to_owned(),
    }
}

/// The `user:password` of `url`'s authority, when it has one.
pub fn url_credentials(url: &str) -> Option<&str> {
    credentials_at(url).map(|r| &url[r])
}

/// `url` without its credentials.
fn strip_credentials(url: &str) -> String {
    match credentials_at(url) {
        Some(r) => format!("{}{}", &url[..r.start], &url[r.end + 1..]),
        None => url.to_owned(),
    }
}

/// Parses and checks a server URL: plain `http://` with a host. The endpoint path is
/// appended unless the URL already names one. Credentials in the URL are left out of the
/// result (they go in a header), so that no message can show them.
pub fn endpoint_uri(url: &str, api: HttpApi) -> Result<Uri, String> {
    let shown = &redact_url(url);
    let uri: Uri = strip_credentials(url)
        .trim()
        .parse()
        .map_err(|e| format!("--url `{shown}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "--url `{shown}`: https is not supported by this build (no TLS); use an http:// endpoint or a local TLS proxy"
            ))
        }
        _ => return Err(format!("--url `{shown}` must start with http://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("--url `{shown}` has no host"));
    }
    // A bare host (`http://host:8000`, as `vllm bench serve --base-url` takes it) means
    // the OpenAI routes under /v1, where every OpenAI-compatible server has them.
    let path = match uri.path().trim_end_matches('/') {
        "" => "/v1",
        p => p,
    };
    let full = if path.ends_with("/completions") {
        path.to_owned()
    } else {
        match api {
            HttpApi::Chat => format!("{path}/chat/completions"),
            HttpApi::Completions => format!("{path}/completions"),
        }
    };
    with_path(&uri, &full).map_err(|e| format!("--url `{}`: {e}", redact_url(url)))
}

/// `url`'s host with the path `endpoint` instead of its own (`vllm bench serve
/// --endpoint`), and the API that path names.
pub fn with_endpoint(url: &str, endpoint: &str) -> Result<(String, HttpApi), String> {
    let uri: Uri = url
        .trim()
        .parse()
        .map_err(|e| format!("--url `{}` is not a URL: {e}", redact_url(url)))?;
    let path = endpoint.trim().trim_end_matches('/');
    let api = if path.ends_with("/chat/completions") {
        HttpApi::Chat
    } else if path.ends_with("/completions") {
        HttpApi::Completions
    } else {
        return Err(format!(
            "--endpoint `{endpoint}` must be a path ending in /chat/completions or /completions"
        ));
    };
    if !path.starts_with('/') {
        return Err(format!("--endpoint `{endpoint}` must start with /"));
    }
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let scheme = uri.scheme_str().unwrap_or("http");
    Ok((format!("{scheme}://{authority}{path}"), api))
}

/// `uri`'s scheme-less authority with another path.
pub(super) fn with_path(uri: &Uri, path: &str) -> Result<Uri, hyper::http::uri::InvalidUri> {
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    format!("http://{authority}{path}").parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_completed() {
        let u = endpoint_uri("http://127.0.0.1:8000/v1", HttpApi::Chat).unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:8000/v1/chat/completions");
        let u = endpoint_uri("http://h:1/v1/", HttpApi::Completions).unwrap();
        assert_eq!(u.to_string(), "http://h:1/v1/completions");
        let u = endpoint_uri("http://h:1/x/v1/completions", HttpApi::Chat).unwrap();
        assert_eq!(u.path(), "/x/v1/completions");
        assert!(endpoint_uri("ftp://h/v1", HttpApi::Chat)
            .unwrap_err()
            .contains("http://"));
        assert!(endpoint_uri("https://h/v1", HttpApi::Chat)
            .unwrap_err()
            .contains("TLS"));
        assert!(endpoint_uri("not a url", HttpApi::Chat).is_err());
        // A bare host means /v1, as vLLM's --base-url does.
        let u = endpoint_uri("http://h:8000", HttpApi::Chat).unwrap();
        assert_eq!(u.to_string(), "http://h:8000/v1/chat/completions");
        let u = endpoint_uri("http://h:8000/", HttpApi::Completions).unwrap();
        assert_eq!(u.to_string(), "http://h:8000/v1/completions");
        assert!(endpoint_uri("/v1", HttpApi::Chat).is_err());
    }

    #[test]
    fn an_endpoint_replaces_the_path_and_names_the_api() {
        let (url, api) = with_endpoint("http://h:8000", "/v1/completions").unwrap();
        assert_eq!(
            (url.as_str(), api),
            ("http://h:8000/v1/completions", HttpApi::Completions)
        );
        let (url, api) = with_endpoint("http://h:8000/x/v1", "/v1/chat/completions").unwrap();
        assert_eq!(
            (url.as_str(), api),
            ("http://h:8000/v1/chat/completions", HttpApi::Chat)
        );
        assert!(with_endpoint("http://h", "/v1/embeddings")
            .unwrap_err()
            .contains("must be a path"));
        assert!(with_endpoint("http://h", "v1/completions")
            .unwrap_err()
            .contains("start with /"));
    }

    #[test]
    fn credentials_in_a_url_are_redacted_and_kept_out_of_the_endpoint() {
        let url = "http://user:p@ss@127.0.0.1:8000/v1";
        assert_eq!(redact_url(url), "http://<redacted>@127.0.0.1:8000/v1");
        assert_eq!(url_credentials(url), Some("user:p@ss"));
        let uri = endpoint_uri(url, HttpApi::Chat).unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:8000/v1/chat/completions");
        let e = endpoint_uri("ftp://u:secret@h/v1", HttpApi::Chat).unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        let c = HttpConfig {
            url: Some(url.into()),
            ..HttpConfig::default()
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(
            !json.contains("p@ss") && json.contains("<redacted>@127.0.0.1"),
            "{json}"
        );
        assert_eq!(redact_url("http://h:1/a@b"), "http://h:1/a@b");
    }

    #[test]
    fn header_values_are_redacted_in_the_config() {
        let c = HttpConfig {
            headers: vec![("X-Secret".into(), "s3cr3t".into())],
            ..HttpConfig::default()
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(
            json.contains("X-Secret") && !json.contains("s3cr3t"),
            "{json}"
        );
    }
}
