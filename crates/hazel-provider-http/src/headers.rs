//! Header helpers shared by the adapters.

use hazel_domain::model::chat_sync::ProviderError;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

/// The `Authorization` header value `"{scheme} {token}"` (`Bearer`, `Bot`), marked sensitive so
/// it is never printed.
///
/// # Errors
///
/// `InvalidCredentials` when the token holds characters an HTTP header cannot carry; the message
/// names `platform`'s bot token, never the token.
pub fn authorization(
    platform: &'static str,
    scheme: &'static str,
    token: &str,
) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(&format!("{scheme} {token}")).map_err(|_| {
        ProviderError::InvalidCredentials {
            message: format!(
                "the {platform} bot token contains characters that are not allowed in an HTTP \
                 header"
            ),
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The `Retry-After` header of an answer, when present and printable.
#[must_use]
pub fn retry_after_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use hazel_domain::model::chat_sync::ProviderError;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    use super::{authorization, retry_after_header};

    #[test]
    fn the_authorization_value_is_sensitive_and_carries_the_scheme() {
        let value = authorization("Discord", "Bot", "abc.def").unwrap();
        assert_eq!(value.to_str().unwrap(), "Bot abc.def");
        assert!(value.is_sensitive());
        assert!(!format!("{value:?}").contains("abc.def"), "{value:?}");
    }

    #[test]
    fn a_token_a_header_cannot_carry_is_invalid_credentials_without_the_token() {
        assert_eq!(
            authorization("Slack", "Bearer", "xoxb-SECRET\nvalue"),
            Err(ProviderError::InvalidCredentials {
                message: "the Slack bot token contains characters that are not allowed in an \
                          HTTP header"
                    .to_owned(),
            })
        );
    }

    #[test]
    fn retry_after_is_read_when_printable() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after_header(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("12"));
        assert_eq!(retry_after_header(&headers).as_deref(), Some("12"));
        headers.insert(RETRY_AFTER, HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(retry_after_header(&headers), None);
    }
}
