//! Classification of failures every provider meets the same way: transport errors, rate-limit
//! waits and operation deadlines.

use std::time::Duration;

use hazel_domain::model::chat_sync::ProviderError;

/// The wait reported when a 429 says nothing usable about when to retry.
pub const DEFAULT_RETRY_AFTER_SECONDS: u64 = 60;

/// The longest wait reported (a day): a server asking for more is not taken literally.
pub const MAX_RETRY_AFTER_SECONDS: u64 = 86_400;

/// Maps a failed HTTP exchange (no usable answer) to the domain error: a request that could not
/// be built is `Platform` (the configured API URL is wrong), a timeout, refused connection or
/// dropped connection is `Network`. Messages name `platform` (`"Slack"`) and `operation`, and
/// the per-call `timeout` for a timeout, never the error's text.
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
    if error.is_builder() {
        return ProviderError::Platform {
            message: format!(
                "could not build the request for {platform} {operation}; check the {platform} \
                 API URL"
            ),
        };
    }
    let message = if error.is_timeout() {
        format!(
            "{platform} did not answer {operation} within {} ms",
            timeout.as_millis()
        )
    } else if error.is_connect() {
        format!("could not connect to {platform} for {operation}")
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use hazel_domain::model::chat_sync::ProviderError;

    use super::{
        DEFAULT_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS, deadline_passed, retry_after_seconds,
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
        assert_eq!(
            transport_error("Slack", "auth.test", &error, timeout),
            ProviderError::Network {
                message: "Slack did not answer auth.test within 100 ms".to_owned(),
            }
        );
    }
}
