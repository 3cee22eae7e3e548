//! sea-orm entities, one module per table, each with the only conversion between its row and
//! the domain type. A row that does not parse is an error naming the table and the row id;
//! writes normalise timestamps so that what is read back equals what was written.

pub(crate) mod api_tokens;
pub(crate) mod channel_links;
pub(crate) mod channels;
pub(crate) mod connections;
pub(crate) mod members;
pub(crate) mod messages;
pub(crate) mod notifications;
pub(crate) mod organizations;
pub(crate) mod reactions;
pub(crate) mod users;

use std::str::FromStr;

use anyhow::Context as _;
use hazel_domain::ValidationError;
use hazel_domain::model::text::Opaque;
use hazel_domain::model::{Timestamp, normalize};
use time::UtcOffset;

/// Parses a stored id column.
pub(crate) fn parse_id<T>(column: &str, raw: &str) -> anyhow::Result<T>
where
    T: FromStr<Err = ValidationError>,
{
    raw.parse()
        .with_context(|| format!("column {column} holds {raw:?}, not an id"))
}

/// Parses an optional stored id column.
pub(crate) fn parse_id_opt<T>(column: &str, raw: Option<&str>) -> anyhow::Result<Option<T>>
where
    T: FromStr<Err = ValidationError>,
{
    raw.map(|raw| parse_id(column, raw)).transpose()
}

/// Rebuilds an opaque value. Length limits differ per field and were enforced when the value
/// entered the system, so reading back only checks the shape.
pub(crate) fn stored_opaque(column: &str, raw: &str) -> anyhow::Result<Opaque> {
    Ok(Opaque::parse(column, raw, usize::MAX)?)
}

/// The form a timestamp is written in: the domain's [`normalize`]d form (UTC, truncated to
/// microseconds, the precision of PostgreSQL's `timestamptz`), so that a value read back
/// compares equal on every backend.
pub(crate) fn to_db(at: Timestamp) -> Timestamp {
    normalize(at)
}

/// [`to_db`] for optional timestamps.
pub(crate) fn to_db_opt(at: Option<Timestamp>) -> Option<Timestamp> {
    at.map(to_db)
}

/// A timestamp as read: always in UTC, whatever offset the backend hands back.
pub(crate) fn from_db(at: Timestamp) -> Timestamp {
    at.to_offset(UtcOffset::UTC)
}

/// [`from_db`] for optional timestamps.
pub(crate) fn from_db_opt(at: Option<Timestamp>) -> Option<Timestamp> {
    at.map(from_db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_timestamps_are_utc_microseconds() {
        let at = time::macros::datetime!(2026-01-02 03:04:05.123456789 +02:00);
        let written = to_db(at);
        assert_eq!(written.offset(), UtcOffset::UTC);
        assert_eq!(written.nanosecond(), 123_456_000);
        assert_eq!(written, at.replace_nanosecond(123_456_000).unwrap());
    }

    fn member_row() -> members::Model {
        members::Model {
            id: hazel_domain::ids::MemberId::new().to_string(),
            organization_id: hazel_domain::ids::OrganizationId::new().to_string(),
            user_id: Some(hazel_domain::ids::UserId::new().to_string()),
            external_provider: None,
            external_user_id: None,
            name: "Ada".to_owned(),
            avatar_url: None,
            role: "admin".to_owned(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn member_rows_must_be_native_or_shadow() {
        assert!(member_row().into_domain().is_ok());
        let both = members::Model {
            external_provider: Some("slack".to_owned()),
            external_user_id: Some("U1".to_owned()),
            ..member_row()
        };
        let err = both.clone().into_domain().unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("members row {}", both.id)),
            "{err:#}"
        );
        let neither = members::Model {
            user_id: None,
            ..member_row()
        };
        assert!(neither.into_domain().is_err());
    }

    #[test]
    fn unknown_stored_names_are_errors_not_defaults() {
        let bad_role = members::Model {
            role: "root".to_owned(),
            ..member_row()
        };
        assert!(format!("{:#}", bad_role.into_domain().unwrap_err()).contains("role"));
    }

    #[test]
    fn unparsable_ids_name_the_column() {
        let err = parse_id::<hazel_domain::ids::UserId>("users.id", "nope").unwrap_err();
        assert!(format!("{err:#}").contains("users.id"));
    }
}
