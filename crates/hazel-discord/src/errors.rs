//! Translation of Discord's answers and transport failures into [`ProviderError`].
//!
//! Discord's free-text `message` is never copied into an error: only HTTP statuses and numeric
//! error codes are, so a server echoing the request cannot leak the token.

use std::time::Duration;

use hazel_domain::model::chat_sync::ProviderError;

use crate::permissions::REQUIRED_PERMISSIONS;
use crate::provider::is_snowflake;

/// The wait reported when a 429 says neither `retry_after` nor `Retry-After`.
pub(crate) const DEFAULT_RETRY_AFTER_SECONDS: u64 = 60;

/// The longest wait reported (a day): a server asking for more is not taken literally.
pub(crate) const MAX_RETRY_AFTER_SECONDS: u64 = 86_400;

/// Discord's JSON error code "Unknown Guild".
const UNKNOWN_GUILD: u64 = 10_004;
/// Discord's JSON error code "Unknown Member".
const UNKNOWN_MEMBER: u64 = 10_007;
/// Discord's JSON error code "Missing Access".
const MISSING_ACCESS: u64 = 50_001;
/// Discord's JSON error code "Missing Permissions".
const MISSING_PERMISSIONS: u64 = 50_013;

/// A failed call, before the caller has said what a refusal means for its route.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// Fully classified already (transport, 401, 429, 5xx, unreadable answer).
    Provider(ProviderError),
    /// Any other 4xx: its meaning depends on the route.
    Rejected {
        /// The route template, for messages (`/guilds/{guild_id}`).
        route: &'static str,
        /// The HTTP status.
        status: u16,
        /// Discord's JSON error code, when the body had one.
        code: Option<u64>,
    },
}

impl ApiError {
    /// The error for a route where a refusal has no special meaning: "Missing Permissions"
    /// (50013) is `InsufficientPermissions`, any other refusal a `Platform` error.
    pub(crate) fn into_provider(self) -> ProviderError {
        match self {
            Self::Provider(error) => error,
            Self::Rejected {
                route,
                code: Some(MISSING_PERMISSIONS),
                ..
            } => ProviderError::InsufficientPermissions {
                message: format!(
                    "Discord refused {route}: the bot lacks a permission it needs there \
                     (code {MISSING_PERMISSIONS}, Missing Permissions); check its roles and the \
                     channel's permission overwrites"
                ),
                // Discord does not say which permission; naming none is more honest than
                // naming every required one.
                required_scopes: Vec::new(),
            },
            Self::Rejected {
                route,
                status,
                code,
            } => ProviderError::Platform {
                message: match code {
                    Some(code) => {
                        format!("Discord answered {route} with HTTP {status} (code {code})")
                    }
                    None => format!("Discord answered {route} with HTTP {status}"),
                },
            },
        }
    }

    /// The error for a guild route: "Unknown Guild", "Unknown Member" or "Missing Access"
    /// mean the bot is not in the guild or cannot see it; anything else is read as on any
    /// route (a 404 without those codes is a route Discord does not know: `Platform`).
    pub(crate) fn in_guild(self, guild_id: &str) -> ProviderError {
        match self {
            Self::Rejected {
                code: Some(UNKNOWN_GUILD | UNKNOWN_MEMBER | MISSING_ACCESS),
                ..
            } => not_in_guild(guild_id),
            other => other.into_provider(),
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        Self::Provider(error)
    }
}

/// The bot cannot reach the guild: every required permission is still needed.
pub(crate) fn not_in_guild(guild_id: &str) -> ProviderError {
    let shown = if is_snowflake(guild_id) {
        guild_id
    } else {
        "(not a snowflake)"
    };
    ProviderError::InsufficientPermissions {
        message: format!(
            "the bot is not in Discord guild {shown} or cannot see it; invite it with the required permissions"
        ),
        required_scopes: REQUIRED_PERMISSIONS
            .iter()
            .map(|permission| permission.name.to_owned())
            .collect(),
    }
}

/// Maps a failed HTTP exchange (no usable answer) to the domain error.
pub(crate) fn from_transport(
    route: &str,
    error: reqwest::Error,
    timeout: Duration,
) -> ProviderError {
    let error = error.without_url();
    tracing::debug!(discord.route = route, %error, "Discord transport failure");
    if error.is_builder() {
        return ProviderError::Platform {
            message: format!(
                "could not build the request for Discord {route}; check the Discord API URL"
            ),
        };
    }
    let message = if error.is_timeout() {
        format!(
            "Discord did not answer {route} within {} ms",
            timeout.as_millis()
        )
    } else if error.is_connect() {
        format!("could not connect to Discord for {route}")
    } else {
        format!("the connection to Discord failed during {route}")
    };
    ProviderError::Network { message }
}

/// Seconds to wait after a 429: the body's `retry_after` (seconds, fractional), else the
/// `Retry-After` header, rounded up and at most [`MAX_RETRY_AFTER_SECONDS`]. Each candidate
/// must be a finite, non-negative number, so an unusable body value does not hide a usable
/// header; [`DEFAULT_RETRY_AFTER_SECONDS`] when neither is usable.
pub(crate) fn retry_after_seconds(body_retry_after: Option<f64>, header: Option<&str>) -> u64 {
    let usable = |seconds: &f64| seconds.is_finite() && *seconds >= 0.0;
    body_retry_after
        .filter(usable)
        .or_else(|| {
            header
                .and_then(|raw| raw.trim().parse::<f64>().ok())
                .filter(usable)
        })
        .map_or(DEFAULT_RETRY_AFTER_SECONDS, |seconds| {
            // The value is finite, non-negative and clamped, so the conversion is exact enough.
            seconds.ceil().min(MAX_RETRY_AFTER_SECONDS as f64) as u64
        })
}
