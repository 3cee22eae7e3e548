//! What a failed Slack call means for a delivery: the pure classifier the outbound port's
//! calls answer through, so every Slack failure becomes the [`DeliveryError`] that says what
//! to do next.
//!
//! Slack answers most refusals with HTTP 200 and `{"ok": false, "error": "<code>"}`, so the
//! error code decides, then the HTTP status, then how far a failed exchange got.

use hazel_domain::model::sync::{AuthFailure, DeliveryError, RateLimitScope};
use hazel_provider_http::{TransportFailure, retry_after, status_delivery_error};

use crate::errors::PLATFORM;

/// A failed Slack Web API call, as far as its classification needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlackFailure<'a> {
    /// No usable answer came back.
    Transport(TransportFailure),
    /// An answer without an `ok: false` body (a 429, a 5xx from Slack's edge, …).
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header, when sent.
        retry_after: Option<&'a str>,
    },
    /// An `{"ok": false, "error": …}` answer.
    Refused {
        /// The HTTP status it came with (200 for most).
        status: u16,
        /// The `error` code.
        error: &'a str,
        /// The `Retry-After` header, when sent.
        retry_after: Option<&'a str>,
    },
}

/// Classifies a failed call of `method` (`chat.postMessage`).
///
/// | answer | class |
/// |---|---|
/// | HTTP 429, `ratelimited`, `rate_limited` | `RateLimited` (per method and workspace), after `Retry-After` |
/// | `invalid_auth`, `not_authed`, `account_inactive`, `not_allowed_token_type` | `Auth(INVALID_CREDENTIALS)` |
/// | `token_revoked`, `token_expired` | `Auth(AUTH_EXPIRED)` |
/// | `missing_scope`, `not_in_channel`, `no_permission`, `access_denied`, `team_access_not_granted`, `ekm_access_denied` | `Auth(INSUFFICIENT_PERMISSIONS)` |
/// | `message_not_found`, `thread_not_found` | `Gone` |
/// | `internal_error`, `fatal_error` (Slack: "some aspect of the operation may have succeeded") | `Ambiguous` |
/// | `request_timeout`, `service_unavailable`, HTTP 5xx, 408 | `Transient` |
/// | `channel_not_found`, `is_archived`, `msg_too_long`, `invalid_arguments`, any other code or 4xx | `Rejected` |
/// | connection not made / request may have arrived | `Transient` / `Ambiguous` |
#[must_use]
pub fn classify_delivery(method: &str, failure: SlackFailure<'_>) -> DeliveryError {
    let (status, error, retry_after_header) = match failure {
        SlackFailure::Transport(transport) => return transport.delivery_error(PLATFORM, method),
        SlackFailure::Status {
            status,
            retry_after,
        } => {
            return status_delivery_error(PLATFORM, method, status, retry_after_of(retry_after));
        }
        SlackFailure::Refused {
            status,
            error,
            retry_after,
        } => (status, error, retry_after),
    };
    let reason = || format!("Slack answered {method} with error {}", printable(error));
    let auth = |code| DeliveryError::Auth {
        code,
        reason: reason(),
    };
    match error {
        "ratelimited" | "rate_limited" => DeliveryError::RateLimited {
            retry_after: retry_after_of(retry_after_header),
            scope: RateLimitScope::Route,
        },
        _ if status == 429 => DeliveryError::RateLimited {
            retry_after: retry_after_of(retry_after_header),
            scope: RateLimitScope::Route,
        },
        "invalid_auth" | "not_authed" | "account_inactive" | "not_allowed_token_type" => {
            auth(AuthFailure::InvalidCredentials)
        }
        "token_revoked" | "token_expired" => auth(AuthFailure::AuthExpired),
        "missing_scope"
        | "not_in_channel"
        | "no_permission"
        | "access_denied"
        | "team_access_not_granted"
        | "ekm_access_denied" => auth(AuthFailure::InsufficientPermissions),
        "message_not_found" | "thread_not_found" => DeliveryError::Gone { reason: reason() },
        "internal_error" | "fatal_error" => DeliveryError::Ambiguous { reason: reason() },
        "request_timeout" | "service_unavailable" => DeliveryError::Transient { reason: reason() },
        _ if status >= 500 => DeliveryError::Transient { reason: reason() },
        _ => DeliveryError::Rejected { reason: reason() },
    }
}

fn retry_after_of(header: Option<&str>) -> std::time::Duration {
    retry_after(None, header)
}

/// The code when it looks like one (`msg_too_long`); a server echoing something else is not
/// repeated.
fn printable(code: &str) -> &str {
    let looks_like_code = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if looks_like_code {
        code
    } else {
        "(unrecognised)"
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn refused(error: &str) -> DeliveryError {
        classify_delivery(
            "chat.postMessage",
            SlackFailure::Refused {
                status: 200,
                error,
                retry_after: None,
            },
        )
    }

    #[test]
    fn every_documented_slack_error_has_its_class() {
        for (error, class) in [
            ("ratelimited", "RATE_LIMITED"),
            ("rate_limited", "RATE_LIMITED"),
            ("invalid_auth", "AUTH"),
            ("not_authed", "AUTH"),
            ("account_inactive", "AUTH"),
            ("not_allowed_token_type", "AUTH"),
            ("token_revoked", "AUTH"),
            ("token_expired", "AUTH"),
            ("missing_scope", "AUTH"),
            ("not_in_channel", "AUTH"),
            ("no_permission", "AUTH"),
            ("ekm_access_denied", "AUTH"),
            ("message_not_found", "GONE"),
            ("thread_not_found", "GONE"),
            ("internal_error", "AMBIGUOUS"),
            ("fatal_error", "AMBIGUOUS"),
            ("request_timeout", "TRANSIENT"),
            ("service_unavailable", "TRANSIENT"),
            ("channel_not_found", "REJECTED"),
            ("is_archived", "REJECTED"),
            ("msg_too_long", "REJECTED"),
            ("invalid_arguments", "REJECTED"),
            ("invalid_blocks", "REJECTED"),
            ("no_text", "REJECTED"),
            ("cant_update_message", "REJECTED"),
            ("edit_window_closed", "REJECTED"),
            ("cant_delete_message", "REJECTED"),
            ("invalid_metadata_format", "REJECTED"),
            ("metadata_too_large", "REJECTED"),
            ("too_many_attachments", "REJECTED"),
            ("some_future_error", "REJECTED"),
        ] {
            assert_eq!(refused(error).class(), class, "{error}");
        }
    }

    #[test]
    fn auth_errors_carry_the_connection_error_code() {
        for (error, code) in [
            ("invalid_auth", AuthFailure::InvalidCredentials),
            ("account_inactive", AuthFailure::InvalidCredentials),
            ("token_revoked", AuthFailure::AuthExpired),
            ("missing_scope", AuthFailure::InsufficientPermissions),
            ("not_in_channel", AuthFailure::InsufficientPermissions),
        ] {
            assert!(
                matches!(refused(error), DeliveryError::Auth { code: c, .. } if c == code),
                "{error}"
            );
        }
    }

    #[test]
    fn statuses_and_transport_failures_are_classified() {
        let status = |status, retry_after| {
            classify_delivery(
                "chat.update",
                SlackFailure::Status {
                    status,
                    retry_after,
                },
            )
        };
        assert_eq!(
            status(429, Some("30")),
            DeliveryError::RateLimited {
                retry_after: Duration::from_secs(30),
                scope: RateLimitScope::Route,
            }
        );
        for code in [500, 502, 503, 504] {
            assert_eq!(status(code, None).class(), "TRANSIENT", "HTTP {code}");
        }
        assert_eq!(status(400, None).class(), "REJECTED");
        assert_eq!(status(404, None).class(), "REJECTED");
        assert_eq!(
            classify_delivery(
                "chat.postMessage",
                SlackFailure::Transport(TransportFailure::NotSent)
            )
            .class(),
            "TRANSIENT"
        );
        assert_eq!(
            classify_delivery(
                "chat.postMessage",
                SlackFailure::Transport(TransportFailure::OutcomeUnknown)
            )
            .class(),
            "AMBIGUOUS"
        );
    }

    #[test]
    fn a_refusal_with_429_or_5xx_follows_the_status() {
        let limited = classify_delivery(
            "chat.postMessage",
            SlackFailure::Refused {
                status: 429,
                error: "",
                retry_after: Some("2"),
            },
        );
        assert_eq!(
            limited,
            DeliveryError::RateLimited {
                retry_after: Duration::from_secs(2),
                scope: RateLimitScope::Route
            }
        );
        let failed = classify_delivery(
            "chat.postMessage",
            SlackFailure::Refused {
                status: 503,
                error: "unknown_thing",
                retry_after: None,
            },
        );
        assert_eq!(failed.class(), "TRANSIENT");
    }

    #[test]
    fn reasons_never_repeat_what_does_not_look_like_an_error_code() {
        let shown = refused("xoxb-SECRET token echoed").to_string();
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(refused("msg_too_long").to_string().contains("msg_too_long"));
    }
}
