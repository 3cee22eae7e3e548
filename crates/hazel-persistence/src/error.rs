//! Translation of `DbErr` at the crate boundary: it never reaches the domain as a type.

use hazel_domain::ports::RepoError;
use sea_orm::{DbErr, SqlErr};

/// Whether `err` is a violated unique constraint (or primary key), on either backend.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Adds what was being done to a database error and erases its type.
pub(crate) fn db_error(err: DbErr, doing: &str) -> anyhow::Error {
    anyhow::Error::new(err).context(doing.to_owned())
}

/// `.read(…)` on a database result: the port's error, with context.
pub(crate) trait ReadResultExt<T> {
    /// Maps the error to [`RepoError::Unexpected`], saying what was being read.
    fn read(self, doing: &str) -> Result<T, RepoError>;
}

impl<T> ReadResultExt<T> for Result<T, DbErr> {
    fn read(self, doing: &str) -> Result<T, RepoError> {
        self.map_err(|err| RepoError::Unexpected(db_error(err, doing)))
    }
}
