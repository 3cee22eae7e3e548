//! Entities and value objects.

pub mod channel;
pub mod chat_sync;
pub mod delivery;
pub mod external;
pub mod identity;
pub mod mentions;
pub mod message;
pub mod notification;
pub mod page;
pub mod session;
pub mod split;
pub mod sync;
pub mod text;

/// A point in time, always UTC.
pub type Timestamp = time::OffsetDateTime;

/// The canonical form of a timestamp: UTC, truncated to microseconds (the precision of
/// PostgreSQL's `timestamptz`). Every timestamp the domain writes or answers is in this form, so
/// what a client is answered equals what is stored and read back, on every database.
#[must_use]
pub fn normalize(at: Timestamp) -> Timestamp {
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.replace_nanosecond(utc.nanosecond() / 1_000 * 1_000)
        .unwrap_or(utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_timestamps_are_utc_microseconds_of_the_same_instant() {
        let at = time::macros::datetime!(2026-01-02 03:04:05.123456789 +02:00);
        let normalized = normalize(at);
        assert_eq!(normalized.offset(), time::UtcOffset::UTC);
        assert_eq!(normalized.nanosecond(), 123_456_000);
        assert_eq!(normalized.hour(), 1);
        assert_eq!(normalized, at.replace_nanosecond(123_456_000).unwrap());
        assert_eq!(normalize(normalized), normalized);
    }
}
