//! Time, as a port so tests control it.

use crate::model::{Timestamp, normalize};

/// Tells the time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> Timestamp;
}

/// The system clock, [normalized](normalize) (UTC, microseconds) so that stored and answered
/// times agree on every database.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        normalize(Timestamp::now_utc())
    }
}
