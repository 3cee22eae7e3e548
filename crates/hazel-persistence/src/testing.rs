//! Helpers for tests that need a real PostgreSQL database.
//!
//! Test suites run against PostgreSQL when the environment variable `HAZEL_TEST_POSTGRES_URL`
//! holds the URL of a server's administrative database (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test then creates its own database with
//! [`fresh_postgres_url`], so tests never share state.

use anyhow::{Context as _, bail};
use sea_orm::sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "HAZEL_TEST_POSTGRES_URL";

/// The admin URL from [`POSTGRES_ENV`], or `None` after telling — once per test process, on
/// stderr directly so that the test harness's output capture does not hide it — that the
/// PostgreSQL variants are skipped.
#[must_use]
pub fn postgres_admin_url() -> Option<String> {
    static NOTICE: std::sync::Once = std::sync::Once::new();
    let url = std::env::var(POSTGRES_ENV).ok();
    if url.is_none() {
        NOTICE.call_once(|| {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "skipping PostgreSQL tests: {POSTGRES_ENV} is not set (SQLite tests still run)"
            );
        });
    }
    url
}

/// Prefix of every database [`fresh_postgres_url`] creates.
const TEST_DATABASE_PREFIX: &str = "hazel_test_";

/// Creates a fresh, empty PostgreSQL database on the server of `admin_url` (for example
/// `postgres://postgres@127.0.0.1:5432/postgres`), named `hazel_test_<uuid>`, and returns its
/// URL (the admin URL with the database name replaced).
///
/// # Errors
/// When `admin_url` is not a `postgres://` URL, the server cannot be reached, or the database
/// cannot be created.
pub async fn fresh_postgres_url(admin_url: &str) -> anyhow::Result<String> {
    let name = format!("{TEST_DATABASE_PREFIX}{}", uuid::Uuid::now_v7().simple());
    let url = with_database(admin_url, &name)?;
    let mut admin = PgConnection::connect(admin_url)
        .await
        .context("connecting to the PostgreSQL admin database")?;
    // The name is made of a fixed prefix and hex digits, so it needs no escaping.
    admin
        .execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await
        .with_context(|| format!("creating database {name}"))?;
    admin
        .close()
        .await
        .context("closing the admin connection")?;
    Ok(url)
}

/// Drops a database made by [`fresh_postgres_url`], disconnecting whoever still uses it.
/// Refuses any other database.
///
/// # Errors
/// When `database_url` does not name a test database, or the server refuses.
pub async fn drop_postgres_database(admin_url: &str, database_url: &str) -> anyhow::Result<()> {
    let name = database_name(database_url)?;
    if !name.starts_with(TEST_DATABASE_PREFIX)
        || !name[TEST_DATABASE_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_hexdigit())
    {
        bail!("refusing to drop {name:?}: not a database made by fresh_postgres_url");
    }
    let mut admin = PgConnection::connect(admin_url)
        .await
        .context("connecting to the PostgreSQL admin database")?;
    admin
        .execute(AssertSqlSafe(format!(
            r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
        )))
        .await
        .with_context(|| format!("dropping database {name}"))?;
    admin
        .close()
        .await
        .context("closing the admin connection")?;
    Ok(())
}

/// Splits a PostgreSQL URL into (everything before the path, path, query).
fn split_url(url: &str) -> anyhow::Result<(&str, &str, Option<&str>)> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        bail!("expected a postgres:// URL");
    };
    let scheme_len = url.len() - rest.len();
    let (without_query, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let authority_end = without_query[scheme_len..]
        .find('/')
        .map_or(without_query.len(), |i| scheme_len + i);
    let (base, path) = without_query.split_at(authority_end);
    Ok((base, path.trim_start_matches('/'), query))
}

/// `url` with its database replaced by `name`; the query string is kept.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, _, query) = split_url(url)?;
    Ok(match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    })
}

/// The database named by `url`.
fn database_name(url: &str) -> anyhow::Result<&str> {
    match split_url(url)?.1 {
        "" => bail!("the URL names no database"),
        name => Ok(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_rest_kept() {
        for (admin, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/t",
            ),
            (
                "postgresql://u:p@db/admin?sslmode=disable",
                "postgresql://u:p@db/t?sslmode=disable",
            ),
            ("postgres://localhost", "postgres://localhost/t"),
            ("postgres://localhost?x=1", "postgres://localhost/t?x=1"),
        ] {
            assert_eq!(with_database(admin, "t").unwrap(), expected, "{admin}");
        }
        assert!(with_database("sqlite::memory:", "t").is_err());
    }

    #[test]
    fn database_names_are_read_back() {
        assert_eq!(
            database_name("postgres://h/hazel_test_ab?x=1").unwrap(),
            "hazel_test_ab"
        );
        assert!(database_name("postgres://h").is_err());
    }
}
