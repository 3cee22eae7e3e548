//! The Web API transport: one place that authenticates, sends, times out and reads `ok`.
//!
//! Every Slack method the adapter calls goes through [`WebApi::get`] (and, as messaging grows,
//! a form/JSON `post` beside it sharing [`WebApi::send`]), so the error mapping and the token
//! handling exist once.

use std::time::Duration;

use hazel_domain::model::chat_sync::ProviderError;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::errors::{from_slack_error, from_transport, redacted, retry_after_seconds};
use crate::scopes::parse_scope_list;

/// The header in which Slack lists the token's granted scopes.
const OAUTH_SCOPES_HEADER: &str = "x-oauth-scopes";

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
        let result = async {
            let authorization = bearer(token)?;
            let response = request
                .header(AUTHORIZATION, authorization)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|error| from_transport(method, error, self.timeout))?;
            self.read(method, response).await
        }
        .await
        .map_err(|error| redacted(error, token.expose_secret()));
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
        response: Response,
    ) -> Result<Reply<T>, ProviderError> {
        let status = response.status();
        let headers = response.headers();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
            return Err(ProviderError::RateLimited {
                retry_after_seconds: retry_after_seconds(retry_after),
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
        let bytes = response
            .bytes()
            .await
            .map_err(|error| from_transport(method, error, self.timeout))?;
        let Ok(envelope) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(unreadable(method, status));
        };
        match envelope.get("ok").and_then(Value::as_bool) {
            Some(true) if status.is_success() => {
                let body = serde_json::from_value(envelope).map_err(|error| {
                    tracing::debug!(%error, "unexpected Slack answer shape");
                    ProviderError::Platform {
                        message: format!("Slack answered {method} with an unexpected shape"),
                    }
                })?;
                Ok(Reply {
                    body,
                    granted_scopes,
                })
            }
            Some(false) => {
                let error = envelope.get("error").and_then(Value::as_str).unwrap_or("");
                let needed = envelope.get("needed").and_then(Value::as_str);
                Err(from_slack_error(
                    method,
                    error,
                    needed,
                    granted_scopes.as_deref(),
                ))
            }
            _ => Err(unreadable(method, status)),
        }
    }
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
