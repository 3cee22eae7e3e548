//! The Web API transport: one place that authenticates, sends, times out and reads `ok`.
//!
//! Every Slack method the adapter calls goes through [`WebApi::get`] (and, as messaging grows,
//! a form/JSON `post` beside it sharing [`WebApi::send`]), so the error mapping and the token
//! handling exist once.

use std::fmt::Write as _;
use std::time::Duration;

use hazel_domain::model::chat_sync::ProviderError;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use crate::errors::{
    SlackRefusal, from_slack_error, from_transport, redacted, retry_after_seconds,
};
use crate::scopes::parse_scope_list;

/// The header in which Slack lists the token's granted scopes.
const OAUTH_SCOPES_HEADER: &str = "x-oauth-scopes";

/// The largest answer body read from Slack; a larger one is refused rather than buffered.
pub(crate) const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A successful answer of a Web API method.
#[derive(Debug)]
pub(crate) struct Reply<T> {
    /// The decoded body.
    pub(crate) body: T,
    /// The scopes the token holds (`x-oauth-scopes`), when Slack said.
    pub(crate) granted_scopes: Option<Vec<String>>,
}

/// A client of one Slack Web API base URL.
#[derive(Clone, Debug)]
pub(crate) struct WebApi {
    base: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl WebApi {
    pub(crate) fn new(base: &str, http: reqwest::Client, timeout: Duration) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            timeout,
        }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Calls `method` with `GET` and query parameters.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        method: &'static str,
        token: &SecretString,
        query: &[(&str, &str)],
    ) -> Result<Reply<T>, ProviderError> {
        let request = self
            .http
            .get(format!("{}/{method}", self.base))
            .query(query);
        self.send(method, token, request).await
    }

    /// Authenticates, sends and decodes one call; logs its outcome without the token.
    async fn send<T: DeserializeOwned>(
        &self,
        method: &'static str,
        token: &SecretString,
        request: RequestBuilder,
    ) -> Result<Reply<T>, ProviderError> {
        let secret = token.expose_secret();
        let result = async {
            let authorization = bearer(token)?;
            let response = request
                .header(AUTHORIZATION, authorization)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|error| from_transport(method, error, self.timeout))?;
            self.read(method, response, secret).await
        }
        .await
        .map_err(|error| redacted(error, secret));
        match &result {
            Ok(_) => tracing::debug!(slack.method = method, outcome = "ok", "Slack API call"),
            Err(error) => tracing::debug!(
                slack.method = method,
                outcome = error.code().as_str(),
                "Slack API call"
            ),
        }
        result
    }

    async fn read<T: DeserializeOwned>(
        &self,
        method: &'static str,
        mut response: Response,
        secret: &str,
    ) -> Result<Reply<T>, ProviderError> {
        let status = response.status();
        let headers = response.headers();
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(ProviderError::RateLimited {
                retry_after_seconds: retry_after_seconds(retry_after.as_deref()),
            });
        }
        if status.is_server_error() {
            return Err(ProviderError::Platform {
                message: format!("Slack answered {method} with HTTP {}", status.as_u16()),
            });
        }
        let granted_scopes = headers
            .get(OAUTH_SCOPES_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(parse_scope_list);
        let bytes = read_body(&mut response, MAX_BODY_BYTES)
            .await
            .map_err(|error| from_transport(method, error, self.timeout))?
            .ok_or_else(|| ProviderError::Platform {
                message: format!(
                    "Slack answered {method} with a body larger than {} MiB",
                    MAX_BODY_BYTES / (1024 * 1024)
                ),
            })?;
        let Ok(envelope) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(unreadable(method, status));
        };
        match envelope.get("ok").and_then(Value::as_bool) {
            Some(true) if status.is_success() => Ok(Reply {
                body: decode(method, &bytes)?,
                granted_scopes,
            }),
            Some(false) => {
                // A server echoing the token where a scope name stands must not turn it into a
                // "required scope": such entries are dropped here, before any message is built.
                let needed: Vec<String> = envelope
                    .get("needed")
                    .and_then(Value::as_str)
                    .map(parse_scope_list)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|scope| secret.is_empty() || !scope.contains(secret))
                    .collect();
                Err(from_slack_error(&SlackRefusal {
                    method,
                    error: envelope.get("error").and_then(Value::as_str).unwrap_or(""),
                    needed: &needed,
                    granted: granted_scopes.as_deref(),
                    retry_after: retry_after.as_deref(),
                }))
            }
            _ => Err(unreadable(method, status)),
        }
    }
}

/// Reads a whole answer body, or `None` when it is larger than `limit` bytes: a declared
/// `Content-Length` is checked first, then the body is read chunk by chunk so an undeclared
/// (chunked) oversized body is cut off as soon as it passes the limit.
async fn read_body(
    response: &mut Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|declared| declared > limit as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Decodes a successful answer. On failure only the error's category, position and field
/// path are logged: serde quotes offending values, and a server may echo the token into one.
fn decode<T: DeserializeOwned>(method: &str, bytes: &[u8]) -> Result<T, ProviderError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = field_path(error.path());
        let inner = error.inner();
        tracing::debug!(
            slack.method = method,
            category = ?inner.classify(),
            line = inner.line(),
            column = inner.column(),
            path = %path,
            "unexpected Slack answer shape"
        );
        ProviderError::Platform {
            message: format!("Slack answered {method} with an unexpected shape"),
        }
    })
}

/// A decode failure's location (`$.channels[3].is_private`). Keys that do not look like field
/// names are shown as `?`, so no server-sent text reaches a log.
fn field_path(path: &serde_path_to_error::Path) -> String {
    let mut shown = String::from("$");
    for segment in path {
        // Writing to a String cannot fail.
        let _ = match segment {
            Segment::Seq { index } => write!(shown, "[{index}]"),
            Segment::Map { key } if is_field_name(key) => write!(shown, ".{key}"),
            Segment::Enum { variant } if is_field_name(variant) => write!(shown, ".{variant}"),
            Segment::Map { .. } | Segment::Enum { .. } | Segment::Unknown => {
                write!(shown, ".?")
            }
        };
    }
    shown
}

/// A field name as Slack spells them (`response_metadata`, `num_members`).
fn is_field_name(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 40
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The `Authorization` header for `token`, marked sensitive so it is never printed.
fn bearer(token: &SecretString) -> Result<HeaderValue, ProviderError> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
            ProviderError::InvalidCredentials {
                message:
                    "the Slack bot token contains characters that are not allowed in an HTTP header"
                        .to_owned(),
            }
        })?;
    value.set_sensitive(true);
    Ok(value)
}

fn unreadable(method: &str, status: StatusCode) -> ProviderError {
    ProviderError::Platform {
        message: format!(
            "Slack answered {method} with HTTP {} and a body that is not a Web API answer",
            status.as_u16()
        ),
    }
}
