//! Waiting in black-box tests for what the service does in the background.

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 25 ms until it answers `Some`, and answers that value.
///
/// # Panics
/// After 60 s without an answer (the limit is generous because the machine may be loaded),
/// naming `what` was waited for.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
