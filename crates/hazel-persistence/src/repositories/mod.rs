//! The read side: every repository port implemented on [`Database`](crate::Database).

mod channels;
mod chat_sync;
mod identity;
mod messages;
mod notifications;

use hazel_domain::ports::RepoError;

/// Converts rows to domain values, failing on the first row that does not parse.
fn convert<R, T>(
    rows: Vec<R>,
    into_domain: impl Fn(R) -> anyhow::Result<T>,
) -> Result<Vec<T>, RepoError> {
    rows.into_iter()
        .map(|row| into_domain(row).map_err(RepoError::Unexpected))
        .collect()
}

/// Converts an optional row.
fn convert_opt<R, T>(
    row: Option<R>,
    into_domain: impl Fn(R) -> anyhow::Result<T>,
) -> Result<Option<T>, RepoError> {
    row.map(into_domain)
        .transpose()
        .map_err(RepoError::Unexpected)
}
