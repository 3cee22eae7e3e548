//! Entities and value objects.

pub mod channel;
pub mod chat_sync;
pub mod identity;
pub mod message;
pub mod notification;
pub mod page;
pub mod text;

/// A point in time, always UTC.
pub type Timestamp = time::OffsetDateTime;
