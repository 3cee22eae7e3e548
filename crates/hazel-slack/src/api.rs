//! The Web API transport: one place that authenticates, sends, times out and reads `ok`.
//!
//! Every Slack method the adapter calls goes through [`WebApi::get`] (and, as messaging grows,
//! a form/JSON `post` beside it sharing [`WebApi::send`]), so the error mapping and the token
//! handling exist once.

use std::time::Duration;

use hazel_domain::model::chat_sync::ProviderError;
use hazel_provider_http::{
    authorization, body_too_large, read_body, retry_after_header, retry_after_seconds,
};
use reqwest::header::AUTHORIZATION;
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::errors::{PLATFORM, SlackRefusal, from_slack_error, from_transport, redacted};
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
        match self.get_answering(method, token, query, &[]).await? {
            Ok(reply) => Ok(reply),
            // No refusal is answered when none is listed.
            Err(refusal) => Err(ProviderError::Platform {
                message: format!("Slack answered {method} with error {refusal}"),
            }),
        }
    }

    /// Calls `method` with `GET` and query parameters; an `ok: false` answer whose error is
    /// one of `answered` (`channel_not_found`) is handed back as `Ok(Err(code))` for the caller
    /// to read, any other failure is the usual [`ProviderError`].
    pub(crate) async fn get_answering<T: DeserializeOwned>(
        &self,
        method: &'static str,
        token: &SecretString,
        query: &[(&str, &str)],
        answered: &[&'static str],
    ) -> Result<Result<Reply<T>, &'static str>, ProviderError> {
        let request = self
            .http
            .get(format!("{}/{method}", self.base))
            .query(query);
        self.send(method, token, request, answered).await
    }

    /// Calls `method` with `POST` and a JSON body (a directory write such as
    /// `conversations.join`), or none for a method that takes no arguments
    /// (`apps.connections.open`); refusals as for [`WebApi::get_answering`].
    pub(crate) async fn post_answering<T: DeserializeOwned>(
        &self,
        method: &'static str,
        token: &SecretString,
        body: Option<&Value>,
        answered: &[&'static str],
    ) -> Result<Result<Reply<T>, &'static str>, ProviderError> {
        let request = self.http.post(format!("{}/{method}", self.base));
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        self.send(method, token, request, answered).await
    }

    /// Authenticates, sends and decodes one call; logs its outcome without the token.
    async fn send<T: DeserializeOwned>(
        &self,
        method: &'static str,
        token: &SecretString,
        request: RequestBuilder,
        answered: &[&'static str],
    ) -> Result<Result<Reply<T>, &'static str>, ProviderError> {
        let secret = token.expose_secret();
        let result = async {
            let authorization = authorization(PLATFORM, "Bearer", secret)?;
            let response = request
                .header(AUTHORIZATION, authorization)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|error| from_transport(method, error, self.timeout))?;
            self.read(method, response, secret, answered).await
        }
        .await
        .map_err(|error| redacted(error, secret));
        match &result {
            Ok(Ok(_)) => tracing::debug!(slack.method = method, outcome = "ok", "Slack API call"),
            Ok(Err(refusal)) => {
                tracing::debug!(slack.method = method, outcome = refusal, "Slack API call");
            }
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
        answered: &[&'static str],
    ) -> Result<Result<Reply<T>, &'static str>, ProviderError> {
        let status = response.status();
        let headers = response.headers();
        let retry_after = retry_after_header(headers);
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Slack says when to retry in the header only.
            return Err(ProviderError::RateLimited {
                retry_after_seconds: retry_after_seconds(None, retry_after.as_deref()),
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
            .ok_or_else(|| body_too_large(PLATFORM, method, MAX_BODY_BYTES))?;
        let Ok(envelope) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(unreadable(method, status));
        };
        match envelope.get("ok").and_then(Value::as_bool) {
            Some(true) if status.is_success() => Ok(Ok(Reply {
                body: decode(method, &bytes)?,
                granted_scopes,
            })),
            Some(false) => {
                let error = envelope.get("error").and_then(Value::as_str).unwrap_or("");
                if let Some(code) = answered.iter().find(|code| **code == error) {
                    return Ok(Err(*code));
                }
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
                    error,
                    needed: &needed,
                    granted: granted_scopes.as_deref(),
                    retry_after: retry_after.as_deref(),
                }))
            }
            _ => Err(unreadable(method, status)),
        }
    }
}

/// Decodes a successful answer. On failure only the error's category, position and field
/// path are logged: serde quotes offending values, and a server may echo the token into one.
fn decode<T: DeserializeOwned>(method: &str, bytes: &[u8]) -> Result<T, ProviderError> {
    hazel_provider_http::decode(bytes).map_err(|failure| {
        tracing::debug!(
            slack.method = method,
            category = ?failure.category(),
            line = failure.line(),
            column = failure.column(),
            path = %failure.path(),
            "unexpected Slack answer shape"
        );
        failure.error(PLATFORM, method)
    })
}

fn unreadable(method: &str, status: StatusCode) -> ProviderError {
    ProviderError::Platform {
        message: format!(
            "Slack answered {method} with HTTP {} and a body that is not a Web API answer",
            status.as_u16()
        ),
    }
}

/// What a delivery call sends: a JSON body (`POST`, the write methods) or query parameters
/// (`GET`, the history reads).
#[derive(Debug)]
pub(crate) enum Payload<'a> {
    /// A JSON object, posted with `Content-Type: application/json; charset=utf-8`.
    Json(&'a Value),
    /// Query parameters of a `GET`.
    Query(&'a [(&'a str, &'a str)]),
}

impl WebApi {
    /// Calls `method` for a delivery: every failure is classified into the
    /// [`DeliveryError`](hazel_domain::model::sync::DeliveryError) that says what to do next
    /// ([`classify_delivery`](crate::classify_delivery)); an `ok: false` answer whose error
    /// is one of `answered` (`already_reacted`) is handed back as `Ok(Err(code))`.
    pub(crate) async fn deliver<T: DeserializeOwned>(
        &self,
        method: &'static str,
        token: &SecretString,
        payload: Payload<'_>,
        answered: &[&'static str],
    ) -> Result<Result<T, &'static str>, hazel_domain::model::sync::DeliveryError> {
        use crate::delivery::{SlackFailure, classify_delivery};
        use hazel_provider_http::TransportFailure;

        let url = format!("{}/{method}", self.base);
        let request = match payload {
            Payload::Json(body) => self.http.post(url).json(body),
            Payload::Query(query) => self.http.get(url).query(query),
        };
        let secret = token.expose_secret();
        let authorization = authorization(PLATFORM, "Bearer", secret).map_err(|_| {
            hazel_domain::model::sync::DeliveryError::Auth {
                code: hazel_domain::model::sync::AuthFailure::InvalidCredentials,
                reason: "the Slack bot token cannot be sent in a header".to_owned(),
            }
        })?;
        let outcome = async {
            let mut response = request
                .header(AUTHORIZATION, authorization)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|error| {
                    classify_delivery(
                        method,
                        SlackFailure::Transport(TransportFailure::of(&error)),
                    )
                })?;
            let status = response.status().as_u16();
            let retry_after = retry_after_header(response.headers());
            let bytes = read_body(&mut response, MAX_BODY_BYTES)
                .await
                .map_err(|error| {
                    classify_delivery(
                        method,
                        SlackFailure::Transport(TransportFailure::of(&error)),
                    )
                })?;
            let envelope = bytes
                .as_deref()
                .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());
            let Some(envelope) = envelope else {
                return Err(match status {
                    // A success whose answer cannot be read may have taken effect.
                    200..=299 => hazel_domain::model::sync::DeliveryError::Ambiguous {
                        reason: format!("Slack answered {method} with an unreadable body"),
                    },
                    _ => classify_delivery(
                        method,
                        SlackFailure::Status {
                            status,
                            retry_after: retry_after.as_deref(),
                        },
                    ),
                });
            };
            match envelope.get("ok").and_then(Value::as_bool) {
                Some(true) if (200..300).contains(&status) => serde_json::from_value::<T>(envelope)
                    .map(Ok)
                    .map_err(|_| hazel_domain::model::sync::DeliveryError::Ambiguous {
                        reason: format!("Slack answered {method} with an unexpected shape"),
                    }),
                Some(false) => {
                    let error = envelope.get("error").and_then(Value::as_str).unwrap_or("");
                    if let Some(code) = answered.iter().find(|code| **code == error) {
                        return Ok(Err(*code));
                    }
                    Err(classify_delivery(
                        method,
                        SlackFailure::Refused {
                            status,
                            error,
                            retry_after: retry_after.as_deref(),
                        },
                    ))
                }
                _ => Err(classify_delivery(
                    method,
                    SlackFailure::Status {
                        status,
                        retry_after: retry_after.as_deref(),
                    },
                )),
            }
        }
        .await;
        match &outcome {
            Ok(Ok(_)) => tracing::debug!(slack.method = method, outcome = "ok", "Slack API call"),
            Ok(Err(code)) => {
                tracing::debug!(slack.method = method, outcome = code, "Slack API call")
            }
            Err(error) => tracing::debug!(
                slack.method = method,
                outcome = error.class(),
                "Slack API call"
            ),
        }
        outcome
    }
}
