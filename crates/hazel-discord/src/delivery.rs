//! What a failed Discord call means for a delivery: the pure classifier the outbound port's
//! calls answer through, so every Discord failure becomes the [`DeliveryError`] that says what
//! to do next.
//!
//! Discord refuses with an HTTP status and a JSON error `code`; the code decides where it is
//! specific, then the status, then how far a failed exchange got.

use hazel_domain::model::sync::{AuthFailure, DeliveryError, RateLimitScope};
use hazel_provider_http::{TransportFailure, retry_after, status_delivery_error};

use crate::errors::{
    MISSING_ACCESS, MISSING_PERMISSIONS, PLATFORM, UNKNOWN_CHANNEL, UNKNOWN_GUILD,
};

/// Discord's JSON error code "Unknown Message".
const UNKNOWN_MESSAGE: u64 = 10_008;

/// A failed Discord REST call, as far as its classification needs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DiscordFailure<'a> {
    /// No usable answer came back.
    Transport(TransportFailure),
    /// An error answer.
    Answer {
        /// The HTTP status.
        status: u16,
        /// The JSON error `code`, when the body had one.
        code: Option<u64>,
        /// A 429 body's `retry_after` (seconds, fractional).
        retry_after: Option<f64>,
        /// A 429 body's `global`.
        global: bool,
        /// The `Retry-After` header.
        retry_after_header: Option<&'a str>,
        /// The `X-RateLimit-Scope` header (`user`, `global`, `shared`).
        scope: Option<&'a str>,
    },
}

/// Classifies a failed call of `route` (`/channels/{channel_id}/messages`).
///
/// | answer | class |
/// |---|---|
/// | 429 | `RateLimited` after the body's `retry_after` (else `Retry-After`); `Global` when `global` or scope `global`, `Shared` for scope `shared`, else the route's bucket |
/// | 401 | `Auth(INVALID_CREDENTIALS)` |
/// | 50001 Missing Access, 50013 Missing Permissions, 10004 Unknown Guild, other 403 | `Auth(INSUFFICIENT_PERMISSIONS)` |
/// | 10008 Unknown Message, 410 | `Gone` |
/// | 10003 Unknown Channel, 50035 Invalid Form Body, any other 4xx | `Rejected` |
/// | 5xx, 408 | `Transient` |
/// | connection not made / request may have arrived | `Transient` / `Ambiguous` |
#[must_use]
pub fn classify_delivery(route: &str, failure: DiscordFailure<'_>) -> DeliveryError {
    let (status, code, body_retry_after, global, retry_after_header, scope) = match failure {
        DiscordFailure::Transport(transport) => return transport.delivery_error(PLATFORM, route),
        DiscordFailure::Answer {
            status,
            code,
            retry_after,
            global,
            retry_after_header,
            scope,
        } => (status, code, retry_after, global, retry_after_header, scope),
    };
    let wait = retry_after(body_retry_after, retry_after_header);
    let reason = || match code {
        Some(code) => format!("Discord answered {route} with HTTP {status} (code {code})"),
        None => format!("Discord answered {route} with HTTP {status}"),
    };
    if status == 429 {
        let scope = if global || scope == Some("global") {
            RateLimitScope::Global
        } else if scope == Some("shared") {
            RateLimitScope::Shared
        } else {
            RateLimitScope::Route
        };
        return DeliveryError::RateLimited {
            retry_after: wait,
            scope,
        };
    }
    match code {
        Some(UNKNOWN_MESSAGE) => DeliveryError::Gone { reason: reason() },
        Some(UNKNOWN_CHANNEL) => DeliveryError::Rejected { reason: reason() },
        Some(MISSING_ACCESS | MISSING_PERMISSIONS | UNKNOWN_GUILD) => DeliveryError::Auth {
            code: AuthFailure::InsufficientPermissions,
            reason: reason(),
        },
        _ if status == 401 => DeliveryError::Auth {
            code: AuthFailure::InvalidCredentials,
            reason: reason(),
        },
        _ => match status_delivery_error(PLATFORM, route, status, wait) {
            // Keep the code in the reason where Discord sent one.
            DeliveryError::Rejected { .. } => DeliveryError::Rejected { reason: reason() },
            other => other,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const ROUTE: &str = "/channels/{channel_id}/messages";

    fn answer(status: u16, code: Option<u64>) -> DeliveryError {
        classify_delivery(
            ROUTE,
            DiscordFailure::Answer {
                status,
                code,
                retry_after: None,
                global: false,
                retry_after_header: None,
                scope: None,
            },
        )
    }

    #[test]
    fn statuses_and_json_codes_have_their_classes() {
        for (status, code, class) in [
            (401, Some(0), "AUTH"),
            (401, None, "AUTH"),
            (403, Some(50_001), "AUTH"),
            (403, Some(50_013), "AUTH"),
            (404, Some(10_004), "AUTH"),
            (403, None, "AUTH"),
            (404, Some(10_008), "GONE"),
            (410, None, "GONE"),
            (404, Some(10_003), "REJECTED"),
            (404, None, "REJECTED"),
            (400, Some(50_035), "REJECTED"),
            (413, Some(40_005), "REJECTED"),
            (400, Some(10_014), "REJECTED"),
            (500, None, "TRANSIENT"),
            (502, None, "TRANSIENT"),
            (503, Some(0), "TRANSIENT"),
            (504, None, "TRANSIENT"),
        ] {
            assert_eq!(answer(status, code).class(), class, "{status} {code:?}");
        }
    }

    #[test]
    fn auth_failures_carry_the_connection_error_code() {
        assert!(matches!(
            answer(401, Some(0)),
            DeliveryError::Auth {
                code: AuthFailure::InvalidCredentials,
                ..
            }
        ));
        assert!(matches!(
            answer(403, Some(50_013)),
            DeliveryError::Auth {
                code: AuthFailure::InsufficientPermissions,
                ..
            }
        ));
        assert!(answer(403, Some(50_013)).to_string().contains("50013"));
    }

    #[test]
    fn rate_limits_read_the_body_then_the_header_and_their_scope() {
        let limited = |retry_after, global, header, scope| {
            classify_delivery(
                ROUTE,
                DiscordFailure::Answer {
                    status: 429,
                    code: Some(0),
                    retry_after,
                    global,
                    retry_after_header: header,
                    scope,
                },
            )
        };
        let expect = |seconds, scope| DeliveryError::RateLimited {
            retry_after: Duration::from_secs(seconds),
            scope,
        };
        assert_eq!(
            limited(Some(0.4), false, Some("9"), Some("user")),
            expect(1, RateLimitScope::Route)
        );
        assert_eq!(
            limited(None, false, Some("9"), None),
            expect(9, RateLimitScope::Route)
        );
        assert_eq!(
            limited(Some(2.0), true, None, Some("user")),
            expect(2, RateLimitScope::Global)
        );
        assert_eq!(
            limited(Some(2.0), false, None, Some("global")),
            expect(2, RateLimitScope::Global)
        );
        assert_eq!(
            limited(Some(3.0), false, None, Some("shared")),
            expect(3, RateLimitScope::Shared)
        );
    }

    #[test]
    fn transport_failures_are_split_by_how_far_the_request_got() {
        assert_eq!(
            classify_delivery(ROUTE, DiscordFailure::Transport(TransportFailure::NotSent)).class(),
            "TRANSIENT"
        );
        assert_eq!(
            classify_delivery(
                ROUTE,
                DiscordFailure::Transport(TransportFailure::OutcomeUnknown)
            )
            .class(),
            "AMBIGUOUS"
        );
    }
}
