//! Discord's rate limits as the outbound calls keep them: one bucket per route and major
//! parameter (the channel or webhook it acts on), learnt from the `X-RateLimit-*` headers of
//! every answer, and the bot's global limit, learnt from a 429 that says `global`.
//!
//! A call whose bucket is spent, or made while the global limit holds, is not sent: it is
//! answered at once as [`DeliveryError::RateLimited`] with the time left, so the delivery
//! worker reschedules it and moves on. Nothing ever sleeps here, so a limited channel never
//! slows another: their buckets are apart, and no call waits for another's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hazel_domain::model::sync::{DeliveryError, RateLimitScope};
use reqwest::header::HeaderMap;

/// A bucket's state: how many calls are left until it resets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    remaining: u32,
    resets_at: Instant,
}

/// The buckets of one bot, by route and major parameter, and its global limit.
#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    buckets: HashMap<String, Bucket>,
    global_until: Option<Instant>,
}

/// The key of a bucket: the route template and the major parameter's value.
pub(crate) fn bucket_key(route: &str, major: &str) -> String {
    format!("{route} {major}")
}

/// A wait rounded up to whole milliseconds, at least one.
fn wait(until: Instant, now: Instant) -> Duration {
    until
        .saturating_duration_since(now)
        .max(Duration::from_millis(1))
}

impl RateLimits {
    /// Whether a call of bucket `key` may go now; the rate limit to answer instead when not.
    pub(crate) fn check(&mut self, key: &str, now: Instant) -> Result<(), DeliveryError> {
        if let Some(until) = self.global_until {
            if until > now {
                return Err(DeliveryError::RateLimited {
                    retry_after: wait(until, now),
                    scope: RateLimitScope::Global,
                });
            }
            self.global_until = None;
        }
        match self.buckets.get(key) {
            Some(bucket) if bucket.resets_at <= now => {
                self.buckets.remove(key);
                Ok(())
            }
            Some(bucket) if bucket.remaining == 0 => Err(DeliveryError::RateLimited {
                retry_after: wait(bucket.resets_at, now),
                scope: RateLimitScope::Route,
            }),
            Some(_) | None => Ok(()),
        }
    }

    /// Learns bucket `key`'s state from an answer's `X-RateLimit-Remaining` and
    /// `X-RateLimit-Reset-After` (seconds, fractional); answers without them change nothing.
    pub(crate) fn record(&mut self, key: &str, headers: &HeaderMap, now: Instant) {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
        };
        let remaining = header("x-ratelimit-remaining").and_then(|v| v.parse::<u32>().ok());
        let reset_after = header("x-ratelimit-reset-after")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(|seconds| Duration::from_secs_f64(seconds.min(86_400.0)));
        if let (Some(remaining), Some(reset_after)) = (remaining, reset_after) {
            self.buckets.insert(
                key.to_owned(),
                Bucket {
                    remaining,
                    resets_at: now + reset_after,
                },
            );
        }
    }

    /// Learns from a 429: the global limit holds for `retry_after` when it was global,
    /// otherwise bucket `key` is spent for that long.
    pub(crate) fn limited(&mut self, key: &str, error: &DeliveryError, now: Instant) {
        let DeliveryError::RateLimited { retry_after, scope } = error else {
            return;
        };
        let until = now + *retry_after;
        match scope {
            RateLimitScope::Global => {
                self.global_until = Some(self.global_until.map_or(until, |held| held.max(until)));
            }
            RateLimitScope::Route | RateLimitScope::Shared => {
                self.buckets.insert(
                    key.to_owned(),
                    Bucket {
                        remaining: 0,
                        resets_at: until,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(remaining: &str, reset_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-ratelimit-remaining",
            HeaderValue::from_str(remaining).unwrap(),
        );
        headers.insert(
            "x-ratelimit-reset-after",
            HeaderValue::from_str(reset_after).unwrap(),
        );
        headers
    }

    #[test]
    fn a_spent_bucket_holds_its_own_route_until_it_resets() {
        let now = Instant::now();
        let mut limits = RateLimits::default();
        let spent = bucket_key("/webhooks/{webhook_id}/{webhook_token}", "1");
        let other = bucket_key("/webhooks/{webhook_id}/{webhook_token}", "2");
        limits.record(&spent, &headers("0", "2.5"), now);
        limits.record(&other, &headers("3", "2.5"), now);

        let held = limits
            .check(&spent, now + Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(
            held,
            DeliveryError::RateLimited {
                retry_after: Duration::from_millis(1500),
                scope: RateLimitScope::Route,
            }
        );
        // Another channel's bucket is not slowed.
        assert_eq!(limits.check(&other, now), Ok(()));
        assert_eq!(limits.check(&spent, now + Duration::from_secs(3)), Ok(()));
    }

    #[test]
    fn a_global_limit_holds_every_route_and_a_429_spends_its_bucket() {
        let now = Instant::now();
        let mut limits = RateLimits::default();
        let global = DeliveryError::RateLimited {
            retry_after: Duration::from_secs(2),
            scope: RateLimitScope::Global,
        };
        limits.limited("a", &global, now);
        for key in ["a", "b"] {
            assert!(matches!(
                limits.check(key, now + Duration::from_secs(1)),
                Err(DeliveryError::RateLimited {
                    scope: RateLimitScope::Global,
                    ..
                })
            ));
        }
        assert_eq!(limits.check("b", now + Duration::from_secs(2)), Ok(()));

        let route = DeliveryError::RateLimited {
            retry_after: Duration::from_secs(5),
            scope: RateLimitScope::Route,
        };
        limits.limited("c", &route, now);
        assert!(limits.check("c", now + Duration::from_secs(4)).is_err());
        assert_eq!(limits.check("d", now + Duration::from_secs(4)), Ok(()));
    }

    #[test]
    fn unusable_headers_change_nothing() {
        let now = Instant::now();
        let mut limits = RateLimits::default();
        for (remaining, reset_after) in [("x", "1"), ("0", "-1"), ("0", "NaN"), ("0", "soon")] {
            limits.record("k", &headers(remaining, reset_after), now);
            assert_eq!(limits.check("k", now), Ok(()), "{remaining} {reset_after}");
        }
    }
}
