//! Translation of Discord's answers and transport failures into [`ProviderError`].
//!
//! Discord's free-text `message` is never copied into an error: only HTTP statuses and numeric
//! error codes are, so a server echoing the request cannot leak the token.

use std::time::Duration;

use hazel_domain::model::chat_sync::ProviderError;

use crate::permissions::REQUIRED_PERMISSIONS;

/// The wait reported when a 429 says neither `retry_after` nor `Retry-After`.
pub(crate) const DEFAULT_RETRY_AFTER_SECONDS: u64 = 60;

/// Discord's JSON error code "Unknown Guild".
const UNKNOWN_GUILD: u64 = 10_004;
/// Discord's JSON error code "Unknown Member".
const UNKNOWN_MEMBER: u64 = 10_007;
/// Discord's JSON error code "Missing Access".
const MISSING_ACCESS: u64 = 50_001;

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
    /// The error for a route where a refusal has no special meaning.
    pub(crate) fn into_provider(self) -> ProviderError {
        match self {
            Self::Provider(error) => error,
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

    /// The error for a guild route: a 403/404 (or "Unknown Guild", "Unknown Member", "Missing
    /// Access") means the bot is not in the guild or cannot see it.
    pub(crate) fn in_guild(self, guild_id: &str) -> ProviderError {
        match self {
            Self::Rejected { status, code, .. }
                if matches!(status, 403 | 404)
                    || matches!(code, Some(UNKNOWN_GUILD | UNKNOWN_MEMBER | MISSING_ACCESS)) =>
            {
                not_in_guild(guild_id)
            }
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
    let shown = if guild_id.chars().all(|c| c.is_ascii_digit()) {
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
/// `Retry-After` header, rounded up.
pub(crate) fn retry_after_seconds(body_retry_after: Option<f64>, header: Option<&str>) -> u64 {
    body_retry_after
        .or_else(|| header.and_then(|raw| raw.trim().parse::<f64>().ok()))
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map_or(DEFAULT_RETRY_AFTER_SECONDS, |seconds| {
            // Saturating float-to-int conversion: absurd values clamp to u64::MAX.
            seconds.ceil() as u64
        })
}
