//! The raw durable commit rate of a database: what the service's writes are compared with.

use std::str::FromStr as _;
use std::time::Duration;

use sea_orm::sqlx;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};

use crate::load::{Samples, drive};

/// The same database, written without the service: one single-row `INSERT` per transaction.
pub enum RawDatabase {
    /// A SQLite file, through one writer.
    Sqlite(sqlx::SqlitePool),
    /// A PostgreSQL database (its URL: each measurement opens its own pool).
    Postgres(String),
}

impl RawDatabase {
    /// Opens the database at `url` and creates the table the rows go to.
    ///
    /// # Errors
    /// When it cannot be opened or the table exists.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            // The service's durability settings, and one writer (SQLite has one).
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(1)
                .connect_with(options)
                .await?;
            sqlx::query("CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
                .execute(&pool)
                .await?;
            Ok(Self::Sqlite(pool))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(PgConnectOptions::from_str(url)?)
                .await?;
            sqlx::query("CREATE TABLE bench_raw (id BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)")
                .execute(&pool)
                .await?;
            pool.close().await;
            Ok(Self::Postgres(url.to_owned()))
        }
    }

    /// Single-row committed inserts from `clients` concurrent clients for `length`.
    ///
    /// # Errors
    /// When an insert fails.
    pub async fn measure(&self, clients: usize, length: Duration) -> anyhow::Result<Samples> {
        let insert = "INSERT INTO bench_raw (v) VALUES ('a benchmark message')";
        match self {
            Self::Sqlite(pool) => {
                let pool = pool.clone();
                drive(clients, length, move || {
                    let pool = pool.clone();
                    async move {
                        sqlx::query(insert).execute(&pool).await?;
                        Ok(())
                    }
                })
                .await
            }
            Self::Postgres(url) => {
                // No ping before each insert: the service pings only idle connections.
                let pool = PgPoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(u32::try_from(clients)?)
                    .min_connections(u32::try_from(clients)?)
                    .connect_with(PgConnectOptions::from_str(url)?)
                    .await?;
                let cell = drive(clients, length, {
                    let pool = pool.clone();
                    move || {
                        let pool = pool.clone();
                        async move {
                            sqlx::query(insert).execute(&pool).await?;
                            Ok(())
                        }
                    }
                })
                .await;
                pool.close().await;
                cell
            }
        }
    }

    /// Closes the pool.
    pub async fn close(self) {
        if let Self::Sqlite(pool) = self {
            pool.close().await;
        }
    }
}
