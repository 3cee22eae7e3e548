//! Classification of failures every provider meets the same way: transport errors, HTTP
//! statuses without a platform code, rate-limit waits and operation deadlines.
//!
//! Each failure is classified once, by how far the request got ([`TransportFailure`]) or what
//! the status says, and then read two ways: as the management API's [`ProviderError`] (whose
//! documented codes do not change) and as the delivery workers' [`DeliveryError`] (which says
//! whether a retry is safe).

use std::time::Duration;

use hazel_domain::model::chat_sync::ProviderError;
use hazel_domain::model::sync::{AuthFailure, DeliveryError, RateLimitScope};

/// How far a failed HTTP exchange got: what decides whether sending it again is safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportFailure {
    /// The request could not be built (the configured API URL is wrong); nothing was sent.
    Unbuildable,
    /// The connection could not be made (refused, unresolvable, TLS failure, connect
    /// timeout): the request never left, so it may be sent again.
    NotSent,
    /// The request may have reached the platform (a timeout after connecting, a connection
    /// dropped before or while the answer came): its outcome is unknown.
    OutcomeUnknown,
}

impl TransportFailure {
    /// Classifies a `reqwest` failure. A connect failure is checked before a timeout: a
    /// connect timeout is both, and the request never left.
    #[must_use]
    pub fn of(error: &reqwest::Error) -> Self {
        if error.is_builder() {
            Self::Unbuildable
        } else if error.is_connect() {
            Self::NotSent
        } else {
            Self::OutcomeUnknown
        }
    }

    /// The failure as the delivery workers read it: [`DeliveryError::Transient`] when nothing
    /// left, [`DeliveryError::Ambiguous`] when the request may have arrived,
    /// [`DeliveryError::Rejected`] for an unbuildable request (retrying cannot help).
    #[must_use]
    pub fn delivery_error(self, platform: &'static str, operation: &str) -> DeliveryError {
        match self {
            Self::Unbuildable => DeliveryError::Rejected {
                reason: format!(
                    "could not build the request for {platform} {operation}; check the \
                     {platform} API URL"
                ),
            },
            Self::NotSent => DeliveryError::Transient {
                reason: format!("could not connect to {platform} for {operation}"),
            },
            Self::OutcomeUnknown => DeliveryError::Ambiguous {
                reason: format!(
                    "the request for {platform} {operation} may have arrived, but no answer \
                     came back"
                ),
            },
        }
    }
}

/// What an HTTP status says to the delivery workers when the platform sent no error code the
/// adapter knows better: 429 is a rate limit (of `retry_after`, on the route), 408 and 5xx are
/// transient (the platform did not act; SYNC.md retries them with backoff), 401 and 403 are
/// credential problems, 404 and 410 mean the resource is gone only when the adapter says so —
/// here 404 is a rejection (a wrong route or id) and 410 is [`DeliveryError::Gone`]; any other
/// status is a rejection (dead letter).
#[must_use]
pub fn status_delivery_error(
    platform: &'static str,
    operation: &str,
    status: u16,
    retry_after: Duration,
) -> DeliveryError {
    let said = format!("{platform} answered {operation} with HTTP {status}");
    match status {
        429 => DeliveryError::RateLimited {
            retry_after,
            scope: RateLimitScope::Route,
        },
        408 | 500..=599 => DeliveryError::Transient { reason: said },
        401 => DeliveryError::Auth {
            code: AuthFailure::InvalidCredentials,
            reason: said,
        },
        403 => DeliveryError::Auth {
            code: AuthFailure::InsufficientPermissions,
            reason: said,
        },
        410 => DeliveryError::Gone { reason: said },
        _ => DeliveryError::Rejected { reason: said },
    }
}

/// The [`DeliveryError`] for an outbound call that outlived its `deadline`: requests may have
/// left, so the outcome is unknown.
#[must_use]
pub fn delivery_deadline_passed(
    platform: &'static str,
    operation: &str,
    deadline: Duration,
) -> DeliveryError {
    DeliveryError::Ambiguous {
        reason: format!(
            "{platform} did not complete {operation} within {} ms",
            deadline.as_millis()
        ),
    }
}

/// The wait reported when a 429 says nothing usable about when to retry.
pub const DEFAULT_RETRY_AFTER_SECONDS: u64 = 60;

/// The longest wait reported (a day): a server asking for more is not taken literally.
pub const MAX_RETRY_AFTER_SECONDS: u64 = 86_400;

/// Maps a failed HTTP exchange (no usable answer) to the management API's error: a request that
/// could not be built is `Platform` (the configured API URL is wrong), a timeout, refused
/// connection or dropped connection is `Network` (the documented `NETWORK_ERROR`; whether the
/// request left is [`TransportFailure::of`]'s concern, which the delivery workers read).
/// Messages name `platform` (`"Slack"`) and `operation`, and the per-call `timeout` for a
/// timeout, never the error's text.
///
/// The adapter logs `error` with its own field names before calling this; strip its URL first
/// (`reqwest::Error::without_url`) so a query string never reaches a log.
#[must_use]
pub fn transport_error(
    platform: &'static str,
    operation: &str,
    error: &reqwest::Error,
    timeout: Duration,
) -> ProviderError {
    if TransportFailure::of(error) == TransportFailure::Unbuildable {
        return ProviderError::Platform {
            message: format!(
                "could not build the request for {platform} {operation}; check the {platform} \
                 API URL"
            ),
        };
    }
    let message = if error.is_connect() {
        format!("could not connect to {platform} for {operation}")
    } else if error.is_timeout() {
        format!(
            "{platform} did not answer {operation} within {} ms",
            timeout.as_millis()
        )
    } else {
        format!("the connection to {platform} failed during {operation}")
    };
    ProviderError::Network { message }
}

/// The `Network` error for a port operation that outlived its `deadline`: `platform` did not
/// complete `operation` (`validate`, `list_channels`) in time.
#[must_use]
pub fn deadline_passed(
    platform: &'static str,
    operation: &str,
    deadline: Duration,
) -> ProviderError {
    ProviderError::Network {
        message: format!(
            "{platform} did not complete {operation} within {} ms",
            deadline.as_millis()
        ),
    }
}

/// Seconds to wait after a rate-limited answer: `body_retry_after` (seconds, fractional; for
/// platforms that put it in the body), else the `Retry-After` `header` (integer or decimal
/// seconds), rounded up and at most [`MAX_RETRY_AFTER_SECONDS`]. Each candidate must be a
/// finite, non-negative number, so an unusable body value does not hide a usable header;
/// [`DEFAULT_RETRY_AFTER_SECONDS`] when neither is usable.
#[must_use]
pub fn retry_after_seconds(body_retry_after: Option<f64>, header: Option<&str>) -> u64 {
    let usable = |seconds: &f64| seconds.is_finite() && *seconds >= 0.0;
    body_retry_after
        .filter(usable)
        .or_else(|| {
            header
                .and_then(|raw| raw.trim().parse::<f64>().ok())
                .filter(usable)
        })
        .map_or(DEFAULT_RETRY_AFTER_SECONDS, |seconds| {
            // The value is finite, non-negative and clamped, so the conversion is exact enough.
            seconds.ceil().min(MAX_RETRY_AFTER_SECONDS as f64) as u64
        })
}

/// [`retry_after_seconds`] as a [`Duration`], for [`DeliveryError::RateLimited`].
#[must_use]
pub fn retry_after(body_retry_after: Option<f64>, header: Option<&str>) -> Duration {
    Duration::from_secs(retry_after_seconds(body_retry_after, header))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use hazel_domain::model::chat_sync::ProviderError;

    use hazel_domain::model::sync::{AuthFailure, DeliveryError, RateLimitScope};

    use super::{
        DEFAULT_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS, TransportFailure, deadline_passed,
        delivery_deadline_passed, retry_after, retry_after_seconds, status_delivery_error,
        transport_error,
    };

    #[test]
    fn retry_after_prefers_a_usable_body_value_then_the_header() {
        for (body, header, expected) in [
            (Some(1.2), Some("30"), 2),
            (Some(0.0), None, 0),
            (None, Some("30"), 30),
            (None, Some(" 2.5 "), 3),
            (Some(f64::NAN), Some("7"), 7),
            (Some(-1.0), Some("7"), 7),
            (Some(f64::INFINITY), None, DEFAULT_RETRY_AFTER_SECONDS),
            (
                None,
                Some("Wed, 21 Oct 2015 07:28:00 GMT"),
                DEFAULT_RETRY_AFTER_SECONDS,
            ),
            (None, Some("-3"), DEFAULT_RETRY_AFTER_SECONDS),
            (None, None, DEFAULT_RETRY_AFTER_SECONDS),
            (Some(1e12), None, MAX_RETRY_AFTER_SECONDS),
            (None, Some("99999999"), MAX_RETRY_AFTER_SECONDS),
        ] {
            assert_eq!(
                retry_after_seconds(body, header),
                expected,
                "{body:?} {header:?}"
            );
        }
    }

    #[test]
    fn statuses_without_a_platform_code_say_what_to_do_next() {
        let wait = Duration::from_secs(7);
        let class = |status| status_delivery_error("Slack", "chat.postMessage", status, wait);
        for (status, expected) in [
            (500, "TRANSIENT"),
            (502, "TRANSIENT"),
            (503, "TRANSIENT"),
            (504, "TRANSIENT"),
            (408, "TRANSIENT"),
            (400, "REJECTED"),
            (404, "REJECTED"),
            (413, "REJECTED"),
            (422, "REJECTED"),
            (302, "REJECTED"),
            (410, "GONE"),
        ] {
            assert_eq!(class(status).class(), expected, "HTTP {status}");
        }
        assert_eq!(
            class(429),
            DeliveryError::RateLimited {
                retry_after: wait,
                scope: RateLimitScope::Route
            }
        );
        assert!(matches!(
            class(401),
            DeliveryError::Auth {
                code: AuthFailure::InvalidCredentials,
                ..
            }
        ));
        assert!(matches!(
            class(403),
            DeliveryError::Auth {
                code: AuthFailure::InsufficientPermissions,
                ..
            }
        ));
    }

    #[test]
    fn transport_failures_read_as_delivery_errors_by_how_far_the_request_got() {
        assert_eq!(
            TransportFailure::NotSent
                .delivery_error("Discord", "/channels/{channel_id}/messages")
                .class(),
            "TRANSIENT"
        );
        assert_eq!(
            TransportFailure::OutcomeUnknown
                .delivery_error("Discord", "/channels/{channel_id}/messages")
                .class(),
            "AMBIGUOUS"
        );
        assert_eq!(
            TransportFailure::Unbuildable
                .delivery_error("Slack", "chat.postMessage")
                .class(),
            "REJECTED"
        );
        assert_eq!(
            delivery_deadline_passed("Slack", "post", Duration::from_secs(1)).class(),
            "AMBIGUOUS"
        );
        assert_eq!(retry_after(Some(1.5), None), Duration::from_secs(2));
    }

    #[test]
    fn a_passed_deadline_is_a_network_error() {
        assert_eq!(
            deadline_passed("Discord", "validate", Duration::from_millis(250)),
            ProviderError::Network {
                message: "Discord did not complete validate within 250 ms".to_owned(),
            }
        );
    }

    #[tokio::test]
    async fn an_unbuildable_request_blames_the_api_url() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let error = reqwest::Client::new()
            .get("not a url")
            .send()
            .await
            .unwrap_err();
        assert_eq!(TransportFailure::of(&error), TransportFailure::Unbuildable);
        assert_eq!(
            transport_error("Slack", "auth.test", &error, Duration::from_secs(1)),
            ProviderError::Platform {
                message: "could not build the request for Slack auth.test; check the Slack API \
                          URL"
                .to_owned(),
            }
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_network_error() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Bound but not listening: connections are refused, and no parallel test takes the port.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let address = socket.local_addr().unwrap();
        let error = reqwest::Client::new()
            .get(format!("http://{address}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(TransportFailure::of(&error), TransportFailure::NotSent);
        assert_eq!(
            transport_error("Discord", "/users/@me", &error, Duration::from_secs(1)),
            ProviderError::Network {
                message: "could not connect to Discord for /users/@me".to_owned(),
            }
        );
    }

    #[tokio::test]
    async fn a_timeout_names_the_per_call_limit() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Listening but never answering: the call times out.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let timeout = Duration::from_millis(100);
        let error = reqwest::Client::new()
            .get(format!("http://{address}/"))
            .timeout(timeout)
            .send()
            .await
            .unwrap_err();
        // The request was written to a listening socket: it may have arrived.
        assert_eq!(
            TransportFailure::of(&error),
            TransportFailure::OutcomeUnknown
        );
        assert_eq!(
            transport_error("Slack", "auth.test", &error, timeout),
            ProviderError::Network {
                message: "Slack did not answer auth.test within 100 ms".to_owned(),
            }
        );
    }

    #[tokio::test]
    async fn a_connection_dropped_after_the_request_left_has_an_unknown_outcome() {
        use tokio::io::AsyncReadExt as _;

        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            // Read the request, then hang up without answering.
            let mut buffer = [0_u8; 1024];
            let _ = socket.read(&mut buffer).await.unwrap();
            drop(socket);
        });
        let error = reqwest::Client::new()
            .post(format!("http://{address}/chat.postMessage"))
            .body("{}")
            .send()
            .await
            .unwrap_err();
        server.await.unwrap();
        assert_eq!(
            TransportFailure::of(&error),
            TransportFailure::OutcomeUnknown
        );
        assert_eq!(
            TransportFailure::of(&error)
                .delivery_error("Slack", "chat.postMessage")
                .class(),
            "AMBIGUOUS"
        );
        assert_eq!(
            transport_error("Slack", "chat.postMessage", &error, Duration::from_secs(1)).code(),
            hazel_domain::model::chat_sync::ProviderErrorCode::NetworkError
        );
    }
}
