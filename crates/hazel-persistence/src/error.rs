//! Translation of `DbErr` at the crate boundary: it never reaches the domain as a type.

use hazel_domain::ports::{RepoError, UniqueRule};
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// The driver's own error inside `err`, when the database refused a statement.
fn database_error(err: &DbErr) -> Option<&(dyn sea_orm::sqlx::error::DatabaseError + 'static)> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => match &**e {
            sea_orm::sqlx::Error::Database(db) => Some(&**db),
            _ => None,
        },
        _ => None,
    }
}

/// What a refused statement means for the changeset that issued it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A uniqueness rule; `None` when the constraint is not one the domain knows.
    Unique(Option<UniqueRule>),
    /// A deadlock, serialization failure or busy database: the whole changeset may succeed
    /// when run again in a new transaction.
    Retryable,
    /// Anything else.
    Other,
}

/// Classifies a database error.
pub(crate) fn classify(err: &DbErr) -> Refused {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() {
        let constraint = database_error(err).and_then(|db| db.constraint());
        return Refused::Unique(unique_rule(constraint, &message));
    }
    match database_error(err).and_then(|db| db.code()) {
        Some(code) if is_retryable_code(&code) => Refused::Retryable,
        _ => Refused::Other,
    }
}

/// Whether a SQLSTATE (PostgreSQL) or extended result code (SQLite) says that running the
/// transaction again may succeed: PostgreSQL `40001` (serialization failure) and `40P01`
/// (deadlock detected); SQLite `SQLITE_BUSY` and `SQLITE_LOCKED` with their extended codes.
pub(crate) fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "40001" | "40P01"
            // SQLITE_BUSY, _RECOVERY, _SNAPSHOT, _TIMEOUT.
            | "5" | "261" | "517" | "773"
            // SQLITE_LOCKED, _SHAREDCACHE, _VTAB.
            | "6" | "262" | "518"
    )
}

/// The domain's uniqueness rule behind a violated constraint. PostgreSQL names the constraint
/// or unique index (`constraint`); SQLite names only the columns, in the message
/// (`UNIQUE constraint failed: users.email`).
pub(crate) fn unique_rule(constraint: Option<&str>, message: &str) -> Option<UniqueRule> {
    let key = match constraint {
        Some(name) => name,
        None => message
            .strip_prefix("UNIQUE constraint failed: ")
            .unwrap_or(message),
    };
    let rule = match key {
        "users_email_key" | "users.email" => UniqueRule::UserEmail,
        "api_tokens_hash_key" | "api_tokens.hash" => UniqueRule::ApiTokenHash,
        "organizations_slug_key" | "organizations.slug" => UniqueRule::OrganizationSlug,
        "uq_members_organization_user" | "members.organization_id, members.user_id" => {
            UniqueRule::MemberUser
        }
        "uq_members_organization_external_user"
        | "members.organization_id, members.external_provider, members.external_user_id" => {
            UniqueRule::MemberExternalUser
        }
        "uq_reactions_message_member_emoji"
        | "reactions.message_id, reactions.member_id, reactions.emoji" => UniqueRule::Reaction,
        "notifications_dedupe_key_key" | "notifications.dedupe_key" => {
            UniqueRule::NotificationDedupeKey
        }
        "uq_chat_sync_connections_live_workspace"
        | "chat_sync_connections.organization_id, chat_sync_connections.provider, \
           chat_sync_connections.external_workspace_id" => UniqueRule::ConnectionWorkspace,
        "uq_chat_sync_channel_links_live_hazel_channel"
        | "chat_sync_channel_links.connection_id, chat_sync_channel_links.hazel_channel_id" => {
            UniqueRule::LinkHazelChannel
        }
        "uq_chat_sync_channel_links_live_external_channel"
        | "chat_sync_channel_links.connection_id, chat_sync_channel_links.external_channel_id" => {
            UniqueRule::LinkExternalChannel
        }
        "uq_chat_sync_event_receipts_dedupe"
        | "chat_sync_event_receipts.connection_id, chat_sync_event_receipts.source, \
           chat_sync_event_receipts.dedupe_key" => UniqueRule::ReceiptDedupeKey,
        "uq_chat_sync_message_links_hazel"
        | "chat_sync_message_links.channel_link_id, chat_sync_message_links.hazel_message_id" => {
            UniqueRule::MessageLinkHazel
        }
        "uq_chat_sync_message_links_external"
        | "chat_sync_message_links.channel_link_id, chat_sync_message_links.external_root_id" => {
            UniqueRule::MessageLinkExternal
        }
        name if name.ends_with("_pkey") || name.ends_with(".id") => UniqueRule::PrimaryKey,
        _ => return None,
    };
    Some(rule)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlocks_serialization_failures_and_busy_databases_are_retryable() {
        for (code, retryable) in [
            ("40001", true),
            ("40P01", true),
            ("5", true),
            ("261", true),
            ("517", true),
            ("773", true),
            ("6", true),
            ("262", true),
            ("23505", false),
            ("23503", false),
            ("2067", false),
            ("1555", false),
            ("787", false),
            ("57014", false),
            ("", false),
        ] {
            assert_eq!(is_retryable_code(code), retryable, "{code}");
        }
    }

    #[test]
    fn unique_violations_name_their_rule_on_both_backends() {
        let sqlite =
            |columns: &str| unique_rule(None, &format!("UNIQUE constraint failed: {columns}"));
        for (postgres, sqlite_columns, rule) in [
            ("users_email_key", "users.email", UniqueRule::UserEmail),
            (
                "api_tokens_hash_key",
                "api_tokens.hash",
                UniqueRule::ApiTokenHash,
            ),
            (
                "organizations_slug_key",
                "organizations.slug",
                UniqueRule::OrganizationSlug,
            ),
            (
                "uq_members_organization_user",
                "members.organization_id, members.user_id",
                UniqueRule::MemberUser,
            ),
            (
                "uq_members_organization_external_user",
                "members.organization_id, members.external_provider, members.external_user_id",
                UniqueRule::MemberExternalUser,
            ),
            (
                "uq_reactions_message_member_emoji",
                "reactions.message_id, reactions.member_id, reactions.emoji",
                UniqueRule::Reaction,
            ),
            (
                "notifications_dedupe_key_key",
                "notifications.dedupe_key",
                UniqueRule::NotificationDedupeKey,
            ),
            (
                "uq_chat_sync_connections_live_workspace",
                "chat_sync_connections.organization_id, chat_sync_connections.provider, \
                 chat_sync_connections.external_workspace_id",
                UniqueRule::ConnectionWorkspace,
            ),
            (
                "uq_chat_sync_channel_links_live_hazel_channel",
                "chat_sync_channel_links.connection_id, chat_sync_channel_links.hazel_channel_id",
                UniqueRule::LinkHazelChannel,
            ),
            (
                "uq_chat_sync_channel_links_live_external_channel",
                "chat_sync_channel_links.connection_id, chat_sync_channel_links.external_channel_id",
                UniqueRule::LinkExternalChannel,
            ),
            ("channels_pkey", "channels.id", UniqueRule::PrimaryKey),
        ] {
            assert_eq!(
                unique_rule(Some(postgres), "duplicate key"),
                Some(rule),
                "{postgres}"
            );
            assert_eq!(sqlite(sqlite_columns), Some(rule), "{sqlite_columns}");
        }
        assert_eq!(unique_rule(Some("some_other_index"), "duplicate key"), None);
        assert_eq!(sqlite("channels.name"), None);
    }
}
