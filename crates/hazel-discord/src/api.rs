//! The REST transport: one place that authenticates, builds URLs, sends, times out and
//! classifies answers.
//!
//! Every route the adapter calls goes through [`RestApi::get`] (and, as messaging grows, JSON
//! `post`/`patch`/`delete` beside it sharing [`RestApi::send`]), so error mapping and token
//! handling exist once.

use std::time::Duration;

use hazel_domain::model::chat_sync::ProviderError;
use hazel_provider_http::{
    TransportFailure, authorization, body_too_large, read_body, retry_after_header,
    retry_after_seconds,
};
use reqwest::header::AUTHORIZATION;
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::errors::{ApiError, PLATFORM, from_transport};

/// The largest answer body read from Discord; a larger one is refused rather than buffered.
pub(crate) const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// One delivery call: its verb, route template (for logs and rate-limit buckets), path
/// segments (each percent-encoded), query, JSON body and bot token.
pub(crate) struct RawCall<'a> {
    pub(crate) method: reqwest::Method,
    pub(crate) route: &'static str,
    pub(crate) segments: &'a [&'a str],
    pub(crate) query: &'a [(&'a str, String)],
    pub(crate) body: Option<&'a Value>,
    pub(crate) token: Option<&'a SecretString>,
}

/// What a delivery call answered.
#[derive(Debug)]
pub(crate) struct RawAnswer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// A client of one Discord REST API base URL.
#[derive(Clone, Debug)]
pub(crate) struct RestApi {
    base: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl RestApi {
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

    /// `GET`s the route `route` (a template, for logs and messages) at the path `segments`,
    /// each percent-encoded.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        route: &'static str,
        segments: &[&str],
        token: &SecretString,
    ) -> Result<T, ApiError> {
        let url = self.url(route, segments)?;
        self.send(route, token, self.http.get(url)).await
    }

    /// Sends one call for delivery and answers what came back, however it ended: the status,
    /// the headers the rate limits and failures are read from, and the body (capped).
    /// `token` authenticates as the bot; webhook routes carry their own token in the path
    /// and send none. Only the route template is ever logged.
    pub(crate) async fn exchange(&self, call: RawCall<'_>) -> Result<RawAnswer, TransportFailure> {
        let url = self
            .url(call.route, call.segments)
            .map_err(|_| TransportFailure::Unbuildable)?;
        let mut request = self
            .http
            .request(call.method, url)
            .query(call.query)
            .timeout(self.timeout);
        if let Some(token) = call.token {
            let value = authorization(PLATFORM, "Bot", token.expose_secret())
                .map_err(|_| TransportFailure::Unbuildable)?;
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let outcome = async {
            let mut response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = read_body(&mut response, MAX_BODY_BYTES).await?;
            Ok::<_, reqwest::Error>(RawAnswer {
                status,
                headers,
                body: body.unwrap_or_default(),
            })
        }
        .await;
        match outcome {
            Ok(answer) => {
                tracing::debug!(
                    discord.route = call.route,
                    status = answer.status,
                    "Discord delivery call"
                );
                Ok(answer)
            }
            Err(error) => {
                let failure = TransportFailure::of(&error);
                let error = error.without_url();
                tracing::debug!(discord.route = call.route, %error, "Discord transport failure");
                Err(failure)
            }
        }
    }

    fn url(&self, route: &str, segments: &[&str]) -> Result<Url, ProviderError> {
        let invalid = || ProviderError::Platform {
            message: format!(
                "could not build the URL of Discord {route}; check the Discord API URL"
            ),
        };
        let mut url = Url::parse(&self.base).map_err(|_| invalid())?;
        url.path_segments_mut()
            .map_err(|()| invalid())?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Authenticates, sends and decodes one call; logs its outcome without the token.
    async fn send<T: DeserializeOwned>(
        &self,
        route: &'static str,
        token: &SecretString,
        request: RequestBuilder,
    ) -> Result<T, ApiError> {
        let result = async {
            let response = request
                .header(
                    AUTHORIZATION,
                    authorization(PLATFORM, "Bot", token.expose_secret())?,
                )
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|error| from_transport(route, error, self.timeout))?;
            self.read(route, response).await
        }
        .await;
        match &result {
            Ok(_) => tracing::debug!(discord.route = route, outcome = "ok", "Discord API call"),
            Err(ApiError::Provider(error)) => tracing::debug!(
                discord.route = route,
                outcome = error.code().as_str(),
                "Discord API call"
            ),
            Err(ApiError::Rejected { status, code, .. }) => tracing::debug!(
                discord.route = route,
                outcome = "rejected",
                status,
                code,
                "Discord API call"
            ),
        }
        result
    }

    async fn read<T: DeserializeOwned>(
        &self,
        route: &'static str,
        mut response: Response,
    ) -> Result<T, ApiError> {
        let status = response.status();
        let retry_after_header = retry_after_header(response.headers());
        let bytes = read_body(&mut response, MAX_BODY_BYTES)
            .await
            .map_err(|error| from_transport(route, error, self.timeout))?
            .ok_or_else(|| body_too_large(PLATFORM, route, MAX_BODY_BYTES))?;
        let json = serde_json::from_slice::<Value>(&bytes).ok();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let body_retry_after = json
                .as_ref()
                .and_then(|body| body.get("retry_after"))
                .and_then(Value::as_f64);
            return Err(ProviderError::RateLimited {
                retry_after_seconds: retry_after_seconds(
                    body_retry_after,
                    retry_after_header.as_deref(),
                ),
            }
            .into());
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ProviderError::InvalidCredentials {
                message: "Discord rejected the bot token (HTTP 401)".to_owned(),
            }
            .into());
        }
        if status.is_client_error() {
            return Err(ApiError::Rejected {
                route,
                status: status.as_u16(),
                code: json
                    .as_ref()
                    .and_then(|body| body.get("code"))
                    .and_then(Value::as_u64),
            });
        }
        if !status.is_success() {
            return Err(ProviderError::Platform {
                message: format!("Discord answered {route} with HTTP {}", status.as_u16()),
            }
            .into());
        }
        if json.is_none() {
            return Err(ProviderError::Platform {
                message: format!("Discord answered {route} with a body that is not JSON"),
            }
            .into());
        }
        decode(route, &bytes).map_err(ApiError::from)
    }
}

/// Decodes a successful answer. On failure only the error's category, position and field
/// path are logged: serde quotes offending values, and a server may echo the token into one.
fn decode<T: DeserializeOwned>(route: &str, bytes: &[u8]) -> Result<T, ProviderError> {
    hazel_provider_http::decode(bytes).map_err(|failure| {
        tracing::debug!(
            discord.route = route,
            category = ?failure.category(),
            line = failure.line(),
            column = failure.column(),
            path = %failure.path(),
            "unexpected Discord answer shape"
        );
        failure.error(PLATFORM, route)
    })
}
