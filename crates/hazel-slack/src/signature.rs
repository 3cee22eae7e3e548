//! Events API request verification: Slack's signature v0.
//!
//! Slack signs each request with `v0=` + hex HMAC-SHA256, keyed with the app's signing
//! secret, over `v0:{X-Slack-Request-Timestamp}:{raw body}`. A request is authentic when the
//! signature matches (compared in constant time, by `hmac`'s `verify_slice`) and its
//! timestamp is within [`MAX_SKEW_SECONDS`] of now, so a captured request cannot be replayed
//! later.

use hazel_domain::model::Timestamp;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The header carrying the signature (`v0=<hex>`).
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

/// The header carrying the signed Unix timestamp.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// How far (either way) a request's timestamp may be from now, in seconds.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// Why a request is not authentic. Never says anything about the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header is absent.
    #[error("the request has no {header} header")]
    Missing {
        /// Which header.
        header: &'static str,
    },
    /// The timestamp is not a Unix time, or the signature not `v0=` and 64 hex digits.
    #[error("the request's {header} header cannot be read")]
    Malformed {
        /// Which header.
        header: &'static str,
    },
    /// The timestamp is more than [`MAX_SKEW_SECONDS`] away from now.
    #[error("the request's timestamp is outside the accepted window")]
    Stale,
    /// The signature does not match the body and timestamp.
    #[error("the request's signature does not match")]
    Mismatch,
}

/// Verifies a request's `signature` and `timestamp` headers over its raw `body` with the
/// app's signing `secret`, at `now`.
///
/// # Errors
/// [`SignatureError::Missing`] or [`SignatureError::Malformed`] for absent or unreadable
/// headers, [`SignatureError::Stale`] for a timestamp more than 300 s away,
/// [`SignatureError::Mismatch`] for a wrong signature.
pub fn verify(
    secret: &SecretString,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing {
        header: TIMESTAMP_HEADER,
    })?;
    let signature = signature.ok_or(SignatureError::Missing {
        header: SIGNATURE_HEADER,
    })?;
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed {
            header: TIMESTAMP_HEADER,
        })?;
    let expected = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(|digits| hex::decode(digits).ok())
        .filter(|digest| digest.len() == 32)
        .ok_or(SignatureError::Malformed {
            header: SIGNATURE_HEADER,
        })?;
    if now
        .unix_timestamp()
        .checked_sub(seconds)
        .is_none_or(|skew| skew.abs() > MAX_SKEW_SECONDS)
    {
        return Err(SignatureError::Stale);
    }
    let mut mac = mac(secret);
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The `v0=<hex>` signature of `body` at `timestamp`: what Slack sends, for simulators and
/// tests that sign requests the way Slack does.
#[must_use]
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac(secret: &SecretString) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this never fails; the fallback keeps it total.
    Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()))
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    /// The example of Slack's "Verifying requests from Slack" guide
    /// (api.slack.com/authentication/verifying-requests-from-slack): a slash command body
    /// signed at 1531420618. The signature was checked independently with Python:
    /// `hmac.new(b"8f742231b10e8888abcd99yyyzzz85a5", b"v0:1531420618:" + body,
    /// hashlib.sha256).hexdigest()` gives the same digits.
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TIMESTAMP: &str = "1531420618";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    /// A JSON body signed with Python: `hmac.new(b"hazel-test-secret",
    /// b'v0:1700000000:{"type":"url_verification","challenge":"abc"}',
    /// hashlib.sha256).hexdigest()`.
    const OWN_BODY: &str = r#"{"type":"url_verification","challenge":"abc"}"#;
    const OWN_SIGNATURE: &str =
        "v0=5f238fb6af14090de90e26ca7671464c3c5b61087d41929a5f440387d62101d2";

    fn at(seconds: i64) -> Timestamp {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    fn secret(raw: &str) -> SecretString {
        SecretString::from(raw.to_owned())
    }

    #[test]
    fn known_vectors_verify() {
        assert_eq!(
            verify(
                &secret(SLACK_SECRET),
                Some(SLACK_TIMESTAMP),
                Some(SLACK_SIGNATURE),
                SLACK_BODY.as_bytes(),
                at(1_531_420_618 + 10),
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                &secret("hazel-test-secret"),
                Some("1700000000"),
                Some(OWN_SIGNATURE),
                OWN_BODY.as_bytes(),
                at(1_700_000_000),
            ),
            Ok(())
        );
        assert_eq!(
            sign(&secret(SLACK_SECRET), 1_531_420_618, SLACK_BODY.as_bytes()),
            SLACK_SIGNATURE
        );
    }

    #[test]
    fn forged_stale_and_unreadable_requests_are_refused() {
        let check = |secret_raw: &str, ts: Option<&str>, sig: Option<&str>, body: &str, now| {
            verify(&secret(secret_raw), ts, sig, body.as_bytes(), at(now))
        };
        let now = 1_700_000_000;
        let table = [
            // Another secret, another body, another timestamp: a mismatch.
            (
                check(
                    "other",
                    Some("1700000000"),
                    Some(OWN_SIGNATURE),
                    OWN_BODY,
                    now,
                ),
                Err(SignatureError::Mismatch),
            ),
            (
                check(
                    "hazel-test-secret",
                    Some("1700000000"),
                    Some(OWN_SIGNATURE),
                    "{}",
                    now,
                ),
                Err(SignatureError::Mismatch),
            ),
            (
                check(
                    "hazel-test-secret",
                    Some("1700000001"),
                    Some(OWN_SIGNATURE),
                    OWN_BODY,
                    now,
                ),
                Err(SignatureError::Mismatch),
            ),
            // 300 s either way is accepted, 301 s is not.
            (
                check(
                    "hazel-test-secret",
                    Some("1700000000"),
                    Some(OWN_SIGNATURE),
                    OWN_BODY,
                    now + 300,
                ),
                Ok(()),
            ),
            (
                check(
                    "hazel-test-secret",
                    Some("1700000000"),
                    Some(OWN_SIGNATURE),
                    OWN_BODY,
                    now - 300,
                ),
                Ok(()),
            ),
            (
                check(
                    "hazel-test-secret",
                    Some("1700000000"),
                    Some(OWN_SIGNATURE),
                    OWN_BODY,
                    now + 301,
                ),
                Err(SignatureError::Stale),
            ),
            (
                check(
                    "hazel-test-secret",
                    Some("1700000000"),
                    Some(OWN_SIGNATURE),
                    OWN_BODY,
                    now - 301,
                ),
                Err(SignatureError::Stale),
            ),
            (
                check("s", None, Some(OWN_SIGNATURE), OWN_BODY, now),
                Err(SignatureError::Missing {
                    header: TIMESTAMP_HEADER,
                }),
            ),
            (
                check("s", Some("1700000000"), None, OWN_BODY, now),
                Err(SignatureError::Missing {
                    header: SIGNATURE_HEADER,
                }),
            ),
            (
                check("s", Some("soon"), Some(OWN_SIGNATURE), OWN_BODY, now),
                Err(SignatureError::Malformed {
                    header: TIMESTAMP_HEADER,
                }),
            ),
            (
                check("s", Some("1700000000"), Some("v1=abcd"), OWN_BODY, now),
                Err(SignatureError::Malformed {
                    header: SIGNATURE_HEADER,
                }),
            ),
            (
                check("s", Some("1700000000"), Some("v0=abcd"), OWN_BODY, now),
                Err(SignatureError::Malformed {
                    header: SIGNATURE_HEADER,
                }),
            ),
            (
                check(
                    "s",
                    Some("-9223372036854775808"),
                    Some(OWN_SIGNATURE),
                    OWN_BODY,
                    now,
                ),
                Err(SignatureError::Stale),
            ),
        ];
        for (index, (got, want)) in table.into_iter().enumerate() {
            assert_eq!(got, want, "row {index}");
        }
    }

    #[test]
    fn errors_never_show_the_secret() {
        let shown = verify(
            &secret("very-secret-value"),
            Some("1700000000"),
            Some(OWN_SIGNATURE),
            OWN_BODY.as_bytes(),
            at(1_700_000_000),
        )
        .unwrap_err()
        .to_string();
        assert!(!shown.contains("very-secret-value"), "{shown}");
    }
}
