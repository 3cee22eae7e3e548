//! Translation of Discord's answers and transport failures into [`ProviderError`].
//!
//! Discord's free-text `message` is never copied into an error: only HTTP statuses and numeric
//! error codes are, so a server echoing the request cannot leak the token.

use std::time::Duration;

use hazel_domain::model::chat_sync::ProviderError;
use hazel_provider_http::transport_error;

use crate::permissions::REQUIRED_PERMISSIONS;
use crate::provider::is_snowflake;

/// The platform's name, as messages of the shared HTTP helpers spell it.
pub(crate) const PLATFORM: &str = "Discord";

/// Discord's JSON error code "Unknown Channel".
pub(crate) const UNKNOWN_CHANNEL: u64 = 10_003;
/// Discord's JSON error code "Unknown Guild".
pub(crate) const UNKNOWN_GUILD: u64 = 10_004;
/// Discord's JSON error code "Unknown Member".
const UNKNOWN_MEMBER: u64 = 10_007;
/// Discord's JSON error code "Missing Access".
pub(crate) const MISSING_ACCESS: u64 = 50_001;
/// Discord's JSON error code "Missing Permissions".
pub(crate) const MISSING_PERMISSIONS: u64 = 50_013;

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
    transport_error(PLATFORM, route, &error, timeout)
}
