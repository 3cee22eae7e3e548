//! Translation of Slack's answers and transport failures into [`ProviderError`].
//!
//! Nothing the server sent is copied into a message unless it looks like an identifier, so a
//! server that echoes the request (token included) cannot leak a secret through an error.

use std::time::Duration;

use hazel_domain::model::chat_sync::ProviderError;
use hazel_provider_http::{retry_after_seconds, transport_error};

use crate::scopes::missing_scopes;

/// The platform's name, as messages of the shared HTTP helpers spell it.
pub(crate) const PLATFORM: &str = "Slack";

/// `value` when every character satisfies `allowed` and it is 1–64 characters long.
fn restricted(value: &str, allowed: impl Fn(char) -> bool) -> Option<&str> {
    (!value.is_empty() && value.len() <= 64 && value.chars().all(allowed)).then_some(value)
}

/// `value` when it looks like a Slack error code (`invalid_auth`).
fn error_code(value: &str) -> Option<&str> {
    restricted(value, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
    })
}

/// `value` when it looks like an OAuth scope (`chat:write.customize`, `incoming-webhook`).
fn scope(value: &str) -> Option<&str> {
    restricted(value, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | ':')
    })
}

/// The server-sent Slack id (`T0123ABCD`) when it is safe to repeat in a message.
pub(crate) fn quoted_id(value: &str) -> &str {
    restricted(value, |c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .unwrap_or("(unprintable id)")
}

/// `error` with every occurrence of `secret` removed from its texts, and every required scope
/// that contains it dropped (a fake scope must not reach `requiredScopes`): the last line of
/// defence should a server echo the token in something that passed the checks above.
pub(crate) fn redacted(error: ProviderError, secret: &str) -> ProviderError {
    if secret.is_empty() {
        return error;
    }
    let scrub = |text: String| text.replace(secret, "[redacted]");
    match error {
        ProviderError::InvalidCredentials { message } => ProviderError::InvalidCredentials {
            message: scrub(message),
        },
        ProviderError::AuthExpired { message } => ProviderError::AuthExpired {
            message: scrub(message),
        },
        ProviderError::InsufficientPermissions {
            message,
            required_scopes,
        } => ProviderError::InsufficientPermissions {
            message: scrub(message),
            required_scopes: required_scopes
                .into_iter()
                .filter(|scope| !scope.contains(secret))
                .collect(),
        },
        ProviderError::Network { message } => ProviderError::Network {
            message: scrub(message),
        },
        ProviderError::Platform { message } => ProviderError::Platform {
            message: scrub(message),
        },
        limited @ ProviderError::RateLimited { .. } => limited,
    }
}

/// A Slack `{"ok": false, "error": …}` answer, as far as the mapping reads it.
#[derive(Debug)]
pub(crate) struct SlackRefusal<'a> {
    /// The Web API method that was called.
    pub(crate) method: &'a str,
    /// The answer's `error` code.
    pub(crate) error: &'a str,
    /// The scopes of the answer's `needed` field (for `missing_scope`).
    pub(crate) needed: &'a [String],
    /// The scopes of the `x-oauth-scopes` header, when Slack sent one.
    pub(crate) granted: Option<&'a [String]>,
    /// The `Retry-After` header, when Slack sent one.
    pub(crate) retry_after: Option<&'a str>,
}

/// Maps a Slack `{"ok": false, "error": …}` answer to the domain error.
pub(crate) fn from_slack_error(refusal: &SlackRefusal<'_>) -> ProviderError {
    let method = refusal.method;
    match refusal.error {
        error @ ("invalid_auth" | "not_authed" | "account_inactive" | "not_allowed_token_type") => {
            ProviderError::InvalidCredentials {
                message: format!("Slack rejected the bot token ({error})"),
            }
        }
        error @ ("token_expired" | "token_revoked") => ProviderError::AuthExpired {
            message: format!("the Slack bot token is no longer valid ({error})"),
        },
        "missing_scope" => {
            let mut required: Vec<String> = refusal
                .needed
                .iter()
                .filter(|needed| scope(needed).is_some())
                .cloned()
                .collect();
            for scope in refusal.granted.map(missing_scopes).unwrap_or_default() {
                if !required.contains(&scope) {
                    required.push(scope);
                }
            }
            insufficient(&required, &format!("Slack refused {method}"))
        }
        error @ ("no_permission"
        | "team_access_not_granted"
        | "access_denied"
        | "ekm_access_denied") => ProviderError::InsufficientPermissions {
            message: format!(
                "Slack refused {method} ({error}): the app has not been granted access to this \
                 workspace or resource; ask a workspace admin to allow it"
            ),
            required_scopes: Vec::new(),
        },
        "ratelimited" | "rate_limited" => ProviderError::RateLimited {
            retry_after_seconds: retry_after_seconds(None, refusal.retry_after),
        },
        other => ProviderError::Platform {
            message: match error_code(other) {
                Some(code) => format!("Slack answered {method} with error {code}"),
                None => format!("Slack answered {method} with an unrecognised error"),
            },
        },
    }
}

/// An `InsufficientPermissions` naming the missing scopes.
pub(crate) fn insufficient(required: &[String], context: &str) -> ProviderError {
    let message = if required.is_empty() {
        format!("{context}: the Slack app lacks an OAuth scope")
    } else {
        format!(
            "{context}: the Slack app lacks the OAuth scopes {}",
            required.join(", ")
        )
    };
    ProviderError::InsufficientPermissions {
        message,
        required_scopes: required.to_vec(),
    }
}

/// Maps a failed HTTP exchange (no usable answer) to the domain error.
pub(crate) fn from_transport(
    method: &str,
    error: reqwest::Error,
    timeout: Duration,
) -> ProviderError {
    // The URL is dropped from the logged error: it is not secret, but query strings may grow
    // to carry user content as messaging is added.
    let error = error.without_url();
    tracing::debug!(slack.method = method, %error, "Slack transport failure");
    transport_error(PLATFORM, method, &error, timeout)
}
