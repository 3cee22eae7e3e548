//! Chat Sync: connections to external workspaces, credentials, channel links.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::Timestamp;
use super::text::{Name, Opaque};
use crate::error::ValidationError;
use crate::ids::{ChannelId, ChannelLinkId, OrganizationId, SyncConnectionId, UserId};

/// An external chat platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Slack.
    Slack,
    /// Discord.
    Discord,
    /// Microsoft Teams.
    Teams,
}

impl Provider {
    /// The wire and storage name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Teams => "teams",
        }
    }

    /// Parses a provider name.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` for anything but `slack`, `discord`, `teams`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "slack" => Ok(Self::Slack),
            "discord" => Ok(Self::Discord),
            "teams" => Ok(Self::Teams),
            _ => Err(ValidationError::new(
                field,
                "must be one of slack, discord, teams",
            )),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use super::external::{
    ExternalAppId, ExternalBotId, ExternalChannelId, ExternalMessageId, ExternalUserId,
    ExternalWorkspaceId, MAX_EXTERNAL_ID_CHARS,
};

/// Which way messages flow over a channel link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// External → Hazel and Hazel → external.
    #[default]
    Both,
    /// External → Hazel only.
    Inbound,
    /// Hazel → external only.
    Outbound,
}

impl Direction {
    /// The wire and storage name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Both => "both",
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    /// Parses a direction name.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` for anything but `both`, `inbound`, `outbound`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "both" => Ok(Self::Both),
            "inbound" => Ok(Self::Inbound),
            "outbound" => Ok(Self::Outbound),
            _ => Err(ValidationError::new(
                field,
                "must be one of both, inbound, outbound",
            )),
        }
    }

    /// Whether external messages may flow into Hazel.
    #[must_use]
    pub fn allows_inbound(self) -> bool {
        matches!(self, Self::Both | Self::Inbound)
    }

    /// Whether Hazel messages may flow out.
    #[must_use]
    pub fn allows_outbound(self) -> bool {
        matches!(self, Self::Both | Self::Outbound)
    }
}

/// The documented provider error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderErrorCode {
    /// The credentials are wrong.
    InvalidCredentials,
    /// The credentials expired or were revoked.
    AuthExpired,
    /// The provider asked us to slow down.
    RateLimited,
    /// The bot lacks scopes or permissions.
    InsufficientPermissions,
    /// The provider could not be reached.
    NetworkError,
    /// The provider failed or answered something unexpected.
    PlatformError,
}

impl ProviderErrorCode {
    /// The wire and storage name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::AuthExpired => "AUTH_EXPIRED",
            Self::RateLimited => "RATE_LIMITED",
            Self::InsufficientPermissions => "INSUFFICIENT_PERMISSIONS",
            Self::NetworkError => "NETWORK_ERROR",
            Self::PlatformError => "PLATFORM_ERROR",
        }
    }

    /// Parses a stored code (the exact [`Self::as_str`] form); `None` for anything else.
    #[must_use]
    pub fn from_stored(raw: &str) -> Option<Self> {
        match raw {
            "INVALID_CREDENTIALS" => Some(Self::InvalidCredentials),
            "AUTH_EXPIRED" => Some(Self::AuthExpired),
            "RATE_LIMITED" => Some(Self::RateLimited),
            "INSUFFICIENT_PERMISSIONS" => Some(Self::InsufficientPermissions),
            "NETWORK_ERROR" => Some(Self::NetworkError),
            "PLATFORM_ERROR" => Some(Self::PlatformError),
            _ => None,
        }
    }
}

/// A failure reported by (or on the way to) a chat provider. Messages never contain secrets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider rejected the credentials.
    #[error("the provider rejected the credentials: {message}")]
    InvalidCredentials {
        /// The provider's reason.
        message: String,
    },
    /// The credentials expired or were revoked.
    #[error("the credentials expired or were revoked: {message}")]
    AuthExpired {
        /// The provider's reason.
        message: String,
    },
    /// Too many requests.
    #[error("rate limited by the provider; retry after {retry_after_seconds} s")]
    RateLimited {
        /// When to try again.
        retry_after_seconds: u64,
    },
    /// Missing scopes or permissions.
    #[error("the bot lacks permissions: {message}")]
    InsufficientPermissions {
        /// What is missing, in words.
        message: String,
        /// Scopes (Slack) or permissions (Discord) still needed.
        required_scopes: Vec<String>,
    },
    /// The provider could not be reached.
    #[error("could not reach the provider: {message}")]
    Network {
        /// What went wrong.
        message: String,
    },
    /// The provider failed.
    #[error("the provider failed: {message}")]
    Platform {
        /// What went wrong.
        message: String,
    },
}

impl ProviderError {
    /// The documented error code.
    #[must_use]
    pub fn code(&self) -> ProviderErrorCode {
        match self {
            Self::InvalidCredentials { .. } => ProviderErrorCode::InvalidCredentials,
            Self::AuthExpired { .. } => ProviderErrorCode::AuthExpired,
            Self::RateLimited { .. } => ProviderErrorCode::RateLimited,
            Self::InsufficientPermissions { .. } => ProviderErrorCode::InsufficientPermissions,
            Self::Network { .. } => ProviderErrorCode::NetworkError,
            Self::Platform { .. } => ProviderErrorCode::PlatformError,
        }
    }
}

/// A connection's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Credentials validated; syncing.
    Connected,
    /// Paused by a person.
    Disconnected,
    /// The last validation or delivery failed.
    Error {
        /// The provider error code.
        code: ProviderErrorCode,
        /// A human-readable reason (no secrets).
        message: String,
    },
}

impl ConnectionStatus {
    /// The wire and storage name.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::Error { .. } => "error",
        }
    }
}

/// Per-connection sync switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Sync thread replies as replies (else as top-level messages).
    pub sync_threads: bool,
    /// Sync reactions.
    pub sync_reactions: bool,
    /// Sync edits.
    pub sync_edits: bool,
    /// Sync deletes.
    pub sync_deletes: bool,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            sync_threads: true,
            sync_reactions: true,
            sync_edits: true,
            sync_deletes: true,
        }
    }
}

/// A partial update of [`ConnectionSettings`]; absent fields keep their value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionSettingsPatch {
    /// New `syncThreads`.
    pub sync_threads: Option<bool>,
    /// New `syncReactions`.
    pub sync_reactions: Option<bool>,
    /// New `syncEdits`.
    pub sync_edits: Option<bool>,
    /// New `syncDeletes`.
    pub sync_deletes: Option<bool>,
}

impl ConnectionSettings {
    /// Applies a partial update.
    #[must_use]
    pub fn patched(self, patch: ConnectionSettingsPatch) -> Self {
        Self {
            sync_threads: patch.sync_threads.unwrap_or(self.sync_threads),
            sync_reactions: patch.sync_reactions.unwrap_or(self.sync_reactions),
            sync_edits: patch.sync_edits.unwrap_or(self.sync_edits),
            sync_deletes: patch.sync_deletes.unwrap_or(self.sync_deletes),
        }
    }
}

/// Per-link settings. The optional switches override the connection's settings for this link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSettings {
    /// Sync pins (default false).
    pub sync_pins: bool,
    /// Map mentions between platforms (default true).
    pub mention_mapping: bool,
    /// Overrides of the connection's switches.
    pub overrides: ConnectionSettingsPatch,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            sync_pins: false,
            mention_mapping: true,
            overrides: ConnectionSettingsPatch::default(),
        }
    }
}

/// A partial update of [`LinkSettings`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkSettingsPatch {
    /// New `syncPins`.
    pub sync_pins: Option<bool>,
    /// New `mentionMapping`.
    pub mention_mapping: Option<bool>,
    /// New overrides; each present field replaces the stored override.
    pub overrides: ConnectionSettingsPatch,
}

impl LinkSettings {
    /// Applies a partial update.
    #[must_use]
    pub fn patched(self, patch: LinkSettingsPatch) -> Self {
        let o = patch.overrides;
        Self {
            sync_pins: patch.sync_pins.unwrap_or(self.sync_pins),
            mention_mapping: patch.mention_mapping.unwrap_or(self.mention_mapping),
            overrides: ConnectionSettingsPatch {
                sync_threads: o.sync_threads.or(self.overrides.sync_threads),
                sync_reactions: o.sync_reactions.or(self.overrides.sync_reactions),
                sync_edits: o.sync_edits.or(self.overrides.sync_edits),
                sync_deletes: o.sync_deletes.or(self.overrides.sync_deletes),
            },
        }
    }

    /// The settings in force on this link: the connection's, overridden by the link's.
    #[must_use]
    pub fn effective(self, connection: ConnectionSettings) -> ConnectionSettings {
        connection.patched(self.overrides)
    }
}

/// Credentials in clear text, only ever held in memory. `Debug` prints no secret.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// Slack bot credentials.
    Slack {
        /// `xoxb-…` bot token.
        bot_token: SecretString,
        /// Signing secret for Events API requests.
        signing_secret: SecretString,
        /// `xapp-…` app-level token, for Socket Mode intake.
        app_token: Option<SecretString>,
    },
    /// Discord bot credentials.
    Discord {
        /// Bot token (without the `Bot ` scheme).
        bot_token: SecretString,
        /// Application id, when known.
        application_id: Option<ExternalAppId>,
    },
    /// Microsoft Teams (Bot Framework) credentials.
    Teams {
        /// Microsoft App id.
        app_id: String,
        /// Microsoft App password.
        app_password: SecretString,
        /// Azure AD tenant.
        tenant_id: String,
    },
}

/// A pasted secret: trimmed, non-empty, without whitespace inside.
fn pasted_secret(field: &str, raw: &str) -> Result<SecretString, ValidationError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::new(
            field,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(SecretString::from(value.to_owned()))
}

/// A pasted non-secret value: trimmed and non-empty.
fn pasted_text(field: &str, raw: &str) -> Result<String, ValidationError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    Ok(value.to_owned())
}

/// The documented prefixes of Slack tokens, each with the kind of token it marks.
pub const SLACK_TOKEN_PREFIXES: [(&str, &str); 9] = [
    ("xoxb-", "a bot token (xoxb-)"),
    ("xoxp-", "a user token (xoxp-)"),
    ("xapp-", "an app-level token (xapp-)"),
    ("xoxe.", "a token-rotation refresh token (xoxe.)"),
    ("xoxe-", "a token-rotation refresh token (xoxe-)"),
    ("xoxa-", "a workspace app token (xoxa-)"),
    ("xoxr-", "a refresh token (xoxr-)"),
    ("xoxc-", "a browser session token (xoxc-)"),
    ("xoxs-", "a session token (xoxs-)"),
];

/// What is wrong with the shape of a Discord bot token, if anything. A bot token is three
/// parts joined by `.` (the bot's user id, a timestamp and an HMAC), each base64url without
/// padding; the message never quotes the value.
fn discord_token_shape_problem(token: &str) -> Option<String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Some(format!(
            "it has {} dot-separated part{}",
            parts.len(),
            if parts.len() == 1 { "" } else { "s" }
        ));
    }
    if let Some(position) = parts.iter().position(|part| part.is_empty()) {
        return Some(format!("its part {} is empty", position + 1));
    }
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if let Some(position) = parts.iter().position(|part| !part.chars().all(base64url)) {
        return Some(format!(
            "its part {} holds a character that is not a letter, digit, '-' or '_'",
            position + 1
        ));
    }
    None
}

/// The kind of Slack token a value is, by its documented prefix.
fn slack_token_kind(token: &str) -> Option<&'static str> {
    SLACK_TOKEN_PREFIXES
        .into_iter()
        .find(|(prefix, _)| token.starts_with(prefix))
        .map(|(_, kind)| kind)
}

/// Pasted credentials: one parser per field, so an adapter can state (and check) a field's rule
/// on its own, and one per provider built from them.
impl Credentials {
    /// A pasted secret (a signing secret, an app password): trimmed, then non-empty and
    /// without whitespace or control characters.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` otherwise.
    pub fn parse_secret(field: &str, raw: &str) -> Result<SecretString, ValidationError> {
        pasted_secret(field, raw)
    }

    /// A pasted non-secret value (a Teams app or tenant id): trimmed, then non-empty.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` when blank.
    pub fn parse_text(field: &str, raw: &str) -> Result<String, ValidationError> {
        pasted_text(field, raw)
    }

    /// A Slack bot token as pasted: a secret that starts with `xoxb-`. A token of another kind
    /// is refused naming the kind it is, so a user token is never reported later as missing
    /// scopes.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` otherwise.
    pub fn parse_slack_bot_token(field: &str, raw: &str) -> Result<SecretString, ValidationError> {
        let token = pasted_secret(field, raw)?;
        match slack_token_kind(token.expose_secret()) {
            Some(kind) if kind.contains("xoxb-") => Ok(token),
            Some(kind) if kind.contains("xapp-") => Err(ValidationError::new(
                field,
                "is an app-level token (xapp-); it belongs in credentials.appToken, and \
                 credentials.botToken takes the bot token (xoxb-) from the app's OAuth & \
                 Permissions page",
            )),
            Some(kind) => Err(ValidationError::new(
                field,
                format!(
                    "is {kind}, not a bot token; give the Bot User OAuth Token (xoxb-) from \
                     the app's OAuth & Permissions page"
                ),
            )),
            None => Err(ValidationError::new(
                field,
                "must be a Slack bot token (xoxb-) from the app's OAuth & Permissions page",
            )),
        }
    }

    /// A Slack app-level token as pasted: a secret that starts with `xapp-`; a token of
    /// another kind is refused naming the kind it is.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` otherwise.
    pub fn parse_slack_app_token(field: &str, raw: &str) -> Result<SecretString, ValidationError> {
        let token = pasted_secret(field, raw)?;
        match slack_token_kind(token.expose_secret()) {
            Some(kind) if kind.contains("xapp-") => Ok(token),
            Some(kind) => Err(ValidationError::new(
                field,
                format!(
                    "is {kind}, not an app-level token; give an app-level token (xapp-) \
                     with connections:write from the app's Basic Information page"
                ),
            )),
            None => Err(ValidationError::new(
                field,
                "must be a Slack app-level token (xapp-) with connections:write",
            )),
        }
    }

    /// A Discord bot token as pasted: trimmed, and a token pasted with its `Bot ` scheme (as
    /// it travels in an `Authorization` header, any case) has the scheme stripped; then a
    /// secret. A Slack token or an OAuth `Bearer` token is refused naming what it is.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` otherwise.
    pub fn parse_discord_bot_token(
        field: &str,
        raw: &str,
    ) -> Result<SecretString, ValidationError> {
        let raw = raw.trim();
        let unprefixed = match raw.split_once(char::is_whitespace) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bot") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("bearer") => {
                return Err(ValidationError::new(
                    field,
                    "is an OAuth bearer token; give the bot token from the application's Bot \
                     page",
                ));
            }
            _ => raw,
        };
        let token = pasted_secret(field, unprefixed)?;
        if let Some(kind) = slack_token_kind(token.expose_secret()) {
            return Err(ValidationError::new(
                field,
                format!(
                    "is a Slack token ({kind}); give the bot token from the Discord \
                     application's Bot page"
                ),
            ));
        }
        if let Some(problem) = discord_token_shape_problem(token.expose_secret()) {
            return Err(ValidationError::new(
                field,
                format!(
                    "is not a Discord bot token: {problem}; a bot token is three dot-separated \
                     parts of letters, digits, '-' and '_' (copy it with Reset Token on the \
                     application's Bot page)"
                ),
            ));
        }
        Ok(token)
    }

    /// A Discord application id as pasted: trimmed, then a snowflake, the decimal form of an
    /// unsigned 64-bit integer (digits only, no leading zeros, at most `u64::MAX`).
    ///
    /// # Errors
    /// [`ValidationError`] on `field` otherwise.
    pub fn parse_discord_application_id(
        field: &str,
        raw: &str,
    ) -> Result<ExternalAppId, ValidationError> {
        let id = pasted_text(field, raw)?;
        if id.parse::<u64>().is_ok_and(|n| n.to_string() == id) {
            ExternalAppId::parse(field, &id)
        } else {
            Err(ValidationError::new(
                field,
                "must be a Discord application id (a snowflake: digits only)",
            ))
        }
    }

    /// Slack credentials as pasted, each field parsed by its parser
    /// ([`Self::parse_slack_bot_token`], [`Self::parse_secret`],
    /// [`Self::parse_slack_app_token`]).
    ///
    /// # Errors
    /// [`ValidationError`] on `credentials.botToken`, `credentials.signingSecret` or
    /// `credentials.appToken`.
    pub fn slack(
        bot_token: &SecretString,
        signing_secret: &SecretString,
        app_token: Option<&SecretString>,
    ) -> Result<Self, ValidationError> {
        Ok(Self::Slack {
            bot_token: Self::parse_slack_bot_token(
                "credentials.botToken",
                bot_token.expose_secret(),
            )?,
            signing_secret: pasted_secret(
                "credentials.signingSecret",
                signing_secret.expose_secret(),
            )?,
            app_token: app_token
                .map(|token| {
                    Self::parse_slack_app_token("credentials.appToken", token.expose_secret())
                })
                .transpose()?,
        })
    }

    /// Discord credentials as pasted ([`Self::parse_discord_bot_token`],
    /// [`Self::parse_discord_application_id`]).
    ///
    /// # Errors
    /// [`ValidationError`] on `credentials.botToken` or `credentials.applicationId` (which
    /// must be a snowflake).
    pub fn discord(
        bot_token: &SecretString,
        application_id: Option<&str>,
    ) -> Result<Self, ValidationError> {
        Ok(Self::Discord {
            bot_token: Self::parse_discord_bot_token(
                "credentials.botToken",
                bot_token.expose_secret(),
            )?,
            application_id: application_id
                .map(|raw| Self::parse_discord_application_id("credentials.applicationId", raw))
                .transpose()?,
        })
    }

    /// Teams credentials as pasted, each value trimmed ([`Self::parse_text`],
    /// [`Self::parse_secret`]).
    ///
    /// # Errors
    /// [`ValidationError`] on `credentials.appId`, `credentials.appPassword` or
    /// `credentials.tenantId` when empty.
    pub fn teams(
        app_id: &str,
        app_password: &SecretString,
        tenant_id: &str,
    ) -> Result<Self, ValidationError> {
        Ok(Self::Teams {
            app_id: pasted_text("credentials.appId", app_id)?,
            app_password: pasted_secret("credentials.appPassword", app_password.expose_secret())?,
            tenant_id: pasted_text("credentials.tenantId", tenant_id)?,
        })
    }

    /// The provider these credentials are for.
    #[must_use]
    pub fn provider(&self) -> Provider {
        match self {
            Self::Slack { .. } => Provider::Slack,
            Self::Discord { .. } => Provider::Discord,
            Self::Teams { .. } => Provider::Teams,
        }
    }
}

/// The parser behind [`PendingCredentials`].
type CredentialsParser =
    Box<dyn FnOnce(Provider) -> Result<Credentials, ValidationError> + Send + Sync>;

/// Credentials as a client sent them, whose shape can only be checked once the connection's
/// provider is known: an update names no provider, so the service parses them after it has
/// loaded the connection and checked the caller's rights. `Debug` prints nothing of them.
pub struct PendingCredentials(CredentialsParser);

impl PendingCredentials {
    /// Credentials that `parse` turns into the given provider's shape, naming the bad field
    /// (`credentials.signingSecret`) when it cannot.
    #[must_use]
    pub fn parse_with(
        parse: impl FnOnce(Provider) -> Result<Credentials, ValidationError> + Send + Sync + 'static,
    ) -> Self {
        Self(Box::new(parse))
    }

    /// Credentials already in a provider's shape; they must match the connection's provider.
    #[must_use]
    pub fn known(credentials: Credentials) -> Self {
        Self::parse_with(move |provider| {
            if credentials.provider() == provider {
                Ok(credentials)
            } else {
                Err(ValidationError::new(
                    "credentials",
                    format!("must be {provider} credentials"),
                ))
            }
        })
    }

    /// The credentials in `provider`'s shape.
    ///
    /// # Errors
    /// [`ValidationError`] naming the missing or malformed credential field.
    pub fn for_provider(self, provider: Provider) -> Result<Credentials, ValidationError> {
        (self.0)(provider)
    }
}

impl fmt::Debug for PendingCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PendingCredentials(..)")
    }
}

/// Credentials encrypted at rest (nonce and ciphertext, opaque to everyone but the cipher).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedCredentials(Vec<u8>);

impl SealedCredentials {
    /// Wraps sealed bytes.
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The sealed bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedCredentials({} bytes)", self.0.len())
    }
}

/// A secret an adapter keeps for one channel link (the Discord link's webhook id and token),
/// as the vault sealed it for storage: opaque bytes that open only for that link.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedLinkSecret(Vec<u8>);

impl SealedLinkSecret {
    /// Wraps sealed bytes.
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The sealed bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedLinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedLinkSecret({} bytes)", self.0.len())
    }
}

/// Free-form JSON object text supplied by clients (`metadata`); the HTTP edge checks it is an
/// object and the domain carries it untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonObject(String);

impl JsonObject {
    /// Longest accepted metadata, in bytes of JSON text.
    pub const MAX_BYTES: usize = 16 * 1024;

    /// An empty object.
    #[must_use]
    pub fn empty() -> Self {
        Self("{}".to_owned())
    }

    /// Wraps JSON text that the caller has checked is an object.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` when the text is longer than [`Self::MAX_BYTES`] or does
    /// not look like an object.
    pub fn from_checked_json(field: &str, json: String) -> Result<Self, ValidationError> {
        if json.len() > Self::MAX_BYTES {
            return Err(ValidationError::new(
                field,
                "must be at most 16 KiB of JSON",
            ));
        }
        if !(json.starts_with('{') && json.ends_with('}')) {
            return Err(ValidationError::new(field, "must be a JSON object"));
        }
        Ok(Self(json))
    }

    /// The JSON text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A connection from an organization to an external workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncConnection {
    /// Id.
    pub id: SyncConnectionId,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The platform.
    pub provider: Provider,
    /// The workspace on the platform.
    pub external_workspace_id: ExternalWorkspaceId,
    /// Its name there.
    pub external_workspace_name: Option<Name>,
    /// Display name of the connection.
    pub name: Name,
    /// State.
    pub status: ConnectionStatus,
    /// An integration connection whose credentials this one uses.
    pub integration_connection_id: Option<Opaque>,
    /// Encrypted credentials.
    pub credentials: Option<SealedCredentials>,
    /// The bot the credentials belong to, learnt when they were last validated.
    pub bot: Option<BotIdentity>,
    /// Sync switches.
    pub settings: ConnectionSettings,
    /// Client-supplied metadata.
    pub metadata: JsonObject,
    /// Time of the last synced event.
    pub last_sync_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// The user who created it.
    pub created_by: UserId,
}

/// A link between a Hazel channel and an external channel of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelLink {
    /// Id.
    pub id: ChannelLinkId,
    /// The connection.
    pub connection_id: SyncConnectionId,
    /// The Hazel channel.
    pub hazel_channel_id: ChannelId,
    /// The external channel.
    pub external_channel_id: ExternalChannelId,
    /// Its name there.
    pub external_channel_name: Option<Name>,
    /// Which way messages flow.
    pub direction: Direction,
    /// Whether the link syncs at all.
    pub is_active: bool,
    /// Link settings.
    pub settings: LinkSettings,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A channel on the provider, as discovered live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalChannel {
    /// Its id.
    pub id: ExternalChannelId,
    /// Its name.
    pub name: String,
    /// Whether it is private.
    pub is_private: bool,
    /// Member count, when the provider tells.
    pub member_count: Option<u64>,
    /// Whether the bot is in the channel. A public Slack channel it has not joined is listed
    /// with `false`: it sends no events until the bot joins (which linking does).
    pub bot_is_member: bool,
}

/// Who the connection's bot is on the platform, learnt while validating its credentials;
/// inbound events from it are our own echoes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotIdentity {
    /// The bot's user id (Slack `auth.test` `user_id`, Discord `/users/@me` `id`); answered as
    /// `externalBotUserId`.
    pub user_id: ExternalUserId,
    /// The bot id, where the platform has one apart from the user (Slack `bot_id`).
    pub bot_id: Option<ExternalBotId>,
    /// The app the bot belongs to (Slack `bots.info` `app_id`, Discord application id).
    pub app_id: Option<ExternalAppId>,
}

/// What the provider told about a workspace when credentials were validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedWorkspace {
    /// The workspace name.
    pub workspace_name: Option<String>,
    /// The bot the credentials belong to.
    pub bot: BotIdentity,
}

/// Why the bot cannot sync a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IneligibleReason {
    /// The bot cannot see the channel (unknown, deleted, private without the bot, or of
    /// another workspace).
    NotFound,
    /// The channel is archived.
    Archived,
    /// Forum, voice, category, stage or another kind of channel that holds no plain
    /// messages; `kind` names it.
    UnsupportedKind {
        /// The kind, in words (`forum`).
        kind: String,
    },
    /// The bot lacks permissions there (Discord `VIEW_CHANNEL`, `SEND_MESSAGES`,
    /// `MANAGE_WEBHOOKS`), by their platform names.
    MissingPermissions {
        /// The missing permissions.
        permissions: Vec<String>,
    },
}

/// Whether the bot can read and post in one external channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelEligibility {
    /// The bot can read and post there.
    Eligible,
    /// A public channel the bot has not joined: it can join it (Slack `conversations.join`).
    Joinable,
    /// The bot cannot sync it.
    Ineligible(IneligibleReason),
}

impl IneligibleReason {
    /// The `INSUFFICIENT_PERMISSIONS` error refusing to link `channel` for this reason,
    /// naming the missing permissions.
    #[must_use]
    pub fn into_error(self, channel: &ExternalChannelId) -> ProviderError {
        let (message, required_scopes) = match self {
            Self::NotFound => (
                format!("the bot cannot see channel {channel}; invite it there first"),
                Vec::new(),
            ),
            Self::Archived => (format!("channel {channel} is archived"), Vec::new()),
            Self::UnsupportedKind { kind } => (
                format!("channel {channel} is a {kind} channel, which cannot be synced"),
                Vec::new(),
            ),
            Self::MissingPermissions { permissions } => (
                format!(
                    "the bot lacks {} in channel {channel}",
                    permissions.join(", ")
                ),
                permissions,
            ),
        };
        ProviderError::InsufficientPermissions {
            message,
            required_scopes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_settings_override_connection_settings() {
        let connection = ConnectionSettings::default();
        let link = LinkSettings::default().patched(LinkSettingsPatch {
            overrides: ConnectionSettingsPatch {
                sync_reactions: Some(false),
                ..ConnectionSettingsPatch::default()
            },
            ..LinkSettingsPatch::default()
        });
        let effective = link.effective(connection);
        assert!(!effective.sync_reactions);
        assert!(effective.sync_threads);
    }

    #[test]
    fn directions_gate_flow() {
        assert!(Direction::Both.allows_inbound() && Direction::Both.allows_outbound());
        assert!(Direction::Inbound.allows_inbound() && !Direction::Inbound.allows_outbound());
        assert!(!Direction::Outbound.allows_inbound() && Direction::Outbound.allows_outbound());
        assert_eq!(
            Direction::parse("direction", "sideways")
                .unwrap_err()
                .field(),
            "direction"
        );
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let creds = Credentials::Slack {
            bot_token: SecretString::from("xoxb-very-secret"),
            signing_secret: SecretString::from("shh-signing"),
            app_token: Some(SecretString::from("xapp-hidden")),
        };
        let printed = format!("{creds:?}");
        assert!(
            !printed.contains("very-secret")
                && !printed.contains("shh-signing")
                && !printed.contains("xapp-hidden")
        );
    }

    #[test]
    fn every_error_code_round_trips_and_nothing_else_parses() {
        use ProviderErrorCode as C;
        // This match has no wildcard, so adding a variant stops this test from compiling until
        // the variant is listed here and in `all`, whose round trip then checks `from_stored`.
        let listed = |code: C| match code {
            C::InvalidCredentials
            | C::AuthExpired
            | C::RateLimited
            | C::InsufficientPermissions
            | C::NetworkError
            | C::PlatformError => code,
        };
        let all = [
            C::InvalidCredentials,
            C::AuthExpired,
            C::RateLimited,
            C::InsufficientPermissions,
            C::NetworkError,
            C::PlatformError,
        ];
        for code in all.map(listed) {
            assert_eq!(C::from_stored(code.as_str()), Some(code), "{code:?}");
        }
        for unknown in ["", "auth_expired", "AUTH_EXPIRED ", "UNKNOWN"] {
            assert_eq!(C::from_stored(unknown), None, "{unknown:?}");
        }
    }

    fn secret(raw: &str) -> SecretString {
        SecretString::from(raw.to_owned())
    }

    #[test]
    fn pasted_slack_credentials_are_trimmed() {
        let Credentials::Slack {
            bot_token,
            signing_secret,
            app_token,
        } = Credentials::slack(
            &secret("  xoxb-1-2-abc\n"),
            &secret("\tshh "),
            Some(&secret(" xapp-1-A1-9 ")),
        )
        .unwrap()
        else {
            panic!("not Slack credentials");
        };
        assert_eq!(bot_token.expose_secret(), "xoxb-1-2-abc");
        assert_eq!(signing_secret.expose_secret(), "shh");
        assert_eq!(app_token.unwrap().expose_secret(), "xapp-1-A1-9");
    }

    #[test]
    fn slack_tokens_of_the_wrong_kind_are_named() {
        let refused = |bot: &str, app: Option<&str>| {
            Credentials::slack(&secret(bot), &secret("s"), app.map(secret).as_ref()).unwrap_err()
        };
        let user = refused("xoxp-1-2-3", None);
        assert_eq!(user.field(), "credentials.botToken");
        assert!(user.message().contains("user token (xoxp-)"), "{user:?}");
        assert!(!user.message().contains("scope"), "{user:?}");
        let app_as_bot = refused("xapp-1-2", None);
        assert!(app_as_bot.message().contains("credentials.appToken"));
        let garbage = refused("not-a-token", None);
        assert!(garbage.message().contains("xoxb-"), "{garbage:?}");
        let bot_as_app = refused("xoxb-1", Some("xoxb-2"));
        assert_eq!(bot_as_app.field(), "credentials.appToken");
        assert!(bot_as_app.message().contains("bot token (xoxb-)"));
        assert_eq!(
            refused("xoxb-1", Some("abc")).field(),
            "credentials.appToken"
        );
        assert_eq!(refused("xoxb-1 2", None).field(), "credentials.botToken");
        assert_eq!(refused("   ", None).field(), "credentials.botToken");
        assert_eq!(
            Credentials::slack(&secret("xoxb-1"), &secret(" "), None)
                .unwrap_err()
                .field(),
            "credentials.signingSecret"
        );
    }

    #[test]
    fn a_discord_token_loses_its_bot_scheme_and_other_kinds_are_named() {
        for pasted in ["Bot abc.def.ghi", "  bot  abc.def.ghi ", "abc.def.ghi"] {
            let Credentials::Discord { bot_token, .. } =
                Credentials::discord(&secret(pasted), None).unwrap()
            else {
                panic!("not Discord credentials");
            };
            assert_eq!(bot_token.expose_secret(), "abc.def.ghi", "{pasted:?}");
        }
        let bearer = Credentials::discord(&secret("Bearer abc"), None).unwrap_err();
        assert_eq!(bearer.field(), "credentials.botToken");
        assert!(bearer.message().contains("OAuth bearer"));
        let slack = Credentials::discord(&secret("xoxb-1"), None).unwrap_err();
        assert!(slack.message().contains("Slack token"), "{slack:?}");
        for (malformed, problem) in [
            ("abcdef", "1 dot-separated part"),
            ("a.b", "2 dot-separated parts"),
            ("a.b.c.d", "4 dot-separated parts"),
            ("a..c", "part 2 is empty"),
            ("a.b+/.c", "part 2 holds a character"),
        ] {
            let err = Credentials::discord(&secret(malformed), None).unwrap_err();
            assert_eq!(err.field(), "credentials.botToken", "{malformed}");
            assert!(err.message().contains(problem), "{malformed}: {err:?}");
            assert!(err.message().contains("not a Discord bot token"), "{err:?}");
        }
        assert_eq!(
            Credentials::discord(&secret("a.b.c"), Some("12ab"))
                .unwrap_err()
                .field(),
            "credentials.applicationId"
        );
        let Credentials::Discord { application_id, .. } =
            Credentials::discord(&secret("a.b.c"), Some(" 123 ")).unwrap()
        else {
            panic!("not Discord credentials");
        };
        assert_eq!(application_id.unwrap().as_str(), "123");
    }

    #[test]
    fn pasted_teams_credentials_are_trimmed_and_required() {
        let Credentials::Teams {
            app_id, tenant_id, ..
        } = Credentials::teams(" app ", &secret(" pw "), " tenant ").unwrap()
        else {
            panic!("not Teams credentials");
        };
        assert_eq!((app_id.as_str(), tenant_id.as_str()), ("app", "tenant"));
        assert_eq!(
            Credentials::teams("a", &secret(""), "t")
                .unwrap_err()
                .field(),
            "credentials.appPassword"
        );
    }

    #[test]
    fn an_ineligible_channel_is_refused_naming_what_is_missing() {
        let channel = ExternalChannelId::parse("c", "123").unwrap();
        let error = IneligibleReason::MissingPermissions {
            permissions: vec!["SEND_MESSAGES".to_owned(), "MANAGE_WEBHOOKS".to_owned()],
        }
        .into_error(&channel);
        assert_eq!(error.code(), ProviderErrorCode::InsufficientPermissions);
        let ProviderError::InsufficientPermissions {
            message,
            required_scopes,
        } = error
        else {
            panic!("wrong variant");
        };
        assert_eq!(required_scopes, ["SEND_MESSAGES", "MANAGE_WEBHOOKS"]);
        assert!(message.contains("SEND_MESSAGES, MANAGE_WEBHOOKS") && message.contains("123"));
        let forum = IneligibleReason::UnsupportedKind {
            kind: "forum".to_owned(),
        }
        .into_error(&channel);
        assert!(forum.to_string().contains("forum"));
    }
}
