//! The API key and extra headers: read once at start, sent as sensitive header values,
//! and never formatted into any message, log or file.

use std::str::FromStr;

use hyper::header::{HeaderName, HeaderValue};

use super::{setup, HttpConfig};
use crate::engine::EngineError;

/// The API key, kept out of `Debug` and never formatted into a message.
#[derive(Clone)]
pub(super) struct ApiKey(pub(super) HeaderValue);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The key from `--api-key-file`, else from the `--api-key-env` variable; `None` when
/// neither holds one.
pub(super) fn read_api_key(config: &HttpConfig) -> Result<Option<ApiKey>, EngineError> {
    let key = match &config.api_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                setup(format!(
                    "cannot read the API key file {}: {e}",
                    path.display()
                ))
            })?;
            Some(text.trim().to_owned())
        }
        None => std::env::var(&config.api_key_env).ok(),
    };
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return url_basic_auth(config);
    };
    // The message never includes the key itself.
    let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
        .map_err(|_| setup("the API key holds characters a header cannot carry"))?;
    value.set_sensitive(true);
    Ok(Some(ApiKey(value)))
}

/// The `user:password@` of `--url` as basic auth, when there is one and no API key.
fn url_basic_auth(config: &HttpConfig) -> Result<Option<ApiKey>, EngineError> {
    use base64::Engine as _;
    let Some(creds) = config
        .url
        .as_deref()
        .and_then(super::config::url_credentials)
    else {
        return Ok(None);
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(creds);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .map_err(|_| setup("the URL's credentials cannot be sent in a header"))?;
    value.set_sensitive(true);
    Ok(Some(ApiKey(value)))
}

/// The `--header` pairs as header values, marked sensitive (they often carry tokens).
pub(super) fn extra_headers(
    config: &HttpConfig,
) -> Result<Vec<(HeaderName, HeaderValue)>, EngineError> {
    config
        .headers
        .iter()
        .map(|(k, v)| {
            let name =
                HeaderName::from_str(k).map_err(|_| setup(format!("bad header name `{k}`")))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| setup(format!("the value of header `{k}` cannot be sent")))?;
            value.set_sensitive(true);
            Ok((name, value))
        })
        .collect()
}
