//! Reading an answer body without letting a server make the process buffer without bound.

use hazel_domain::model::chat_sync::ProviderError;
use reqwest::Response;

/// Reads a whole answer body, or `None` when it is larger than `limit` bytes: a declared
/// `Content-Length` is checked first, then the body is read chunk by chunk so an undeclared
/// (chunked) oversized body is cut off as soon as it passes the limit.
///
/// # Errors
///
/// The transport error when the connection fails or times out while the body is read; the
/// caller classifies it (see [`transport_error`](crate::transport_error)).
pub async fn read_body(
    response: &mut Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|declared| declared > limit as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The `Platform` error for an answer [`read_body`] refused: `platform` (`"Slack"`) answered
/// `operation` with a body larger than `limit` bytes (shown in whole MiB).
#[must_use]
pub fn body_too_large(platform: &'static str, operation: &str, limit: usize) -> ProviderError {
    ProviderError::Platform {
        message: format!(
            "{platform} answered {operation} with a body larger than {} MiB",
            limit / (1024 * 1024)
        ),
    }
}

#[cfg(test)]
mod tests {
    use hazel_domain::model::chat_sync::ProviderError;
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::{body_too_large, read_body};

    const LIMIT: usize = 1024;

    async fn body_of(answer: ResponseTemplate) -> Option<Vec<u8>> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = MockServer::start().await;
        Mock::given(path("/body"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let mut response = reqwest::get(format!("{}/body", server.uri()))
            .await
            .unwrap();
        read_body(&mut response, LIMIT).await.unwrap()
    }

    #[tokio::test]
    async fn a_body_up_to_the_limit_is_read_whole() {
        let full = "x".repeat(LIMIT);
        assert_eq!(
            body_of(ResponseTemplate::new(200).set_body_string(full.clone())).await,
            Some(full.into_bytes())
        );
        assert_eq!(body_of(ResponseTemplate::new(200)).await, Some(Vec::new()));
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_refused() {
        let answer = ResponseTemplate::new(200).set_body_string("x".repeat(LIMIT + 1));
        assert_eq!(body_of(answer).await, None);
    }

    #[test]
    fn the_refusal_names_the_platform_operation_and_limit() {
        assert_eq!(
            body_too_large("Slack", "auth.test", 8 * 1024 * 1024),
            ProviderError::Platform {
                message: "Slack answered auth.test with a body larger than 8 MiB".to_owned(),
            }
        );
    }
}
