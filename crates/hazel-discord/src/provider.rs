//! [`DiscordProvider`]: the [`ChatProvider`] port over the Discord REST API.

use std::time::Duration;

use async_trait::async_trait;
use hazel_domain::model::chat_sync::{
    Credentials, ExternalChannel, ExternalWorkspaceId, Provider, ProviderError, ValidatedWorkspace,
    parse_external_id,
};
use hazel_domain::ports::ChatProvider;
use secrecy::SecretString;
use serde::Deserialize;

use crate::api::RestApi;
use crate::errors::{ApiError, not_in_guild};
use crate::permissions::{Role, VIEW_CHANNEL, guild_permissions, missing, parse_bits};
use crate::settings::DiscordSettings;

/// How long one REST call may take, connecting included, unless changed with
/// [`DiscordProvider::with_timeout`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// `GUILD_TEXT`: a text channel.
const GUILD_TEXT: u8 = 0;
/// `GUILD_ANNOUNCEMENT`: an announcement (news) channel.
const GUILD_ANNOUNCEMENT: u8 = 5;

/// The Discord adapter of [`ChatProvider`]: validates bot tokens and discovers channels.
#[derive(Clone, Debug)]
pub struct DiscordProvider {
    api: RestApi,
}

impl DiscordProvider {
    /// An adapter reaching the REST API at `settings.api_url` through `http`.
    ///
    /// Every call is bounded by a 15 s timeout that includes connecting; the shared `http`
    /// client may add its own connect timeout.
    #[must_use]
    pub fn new(settings: DiscordSettings, http: reqwest::Client) -> Self {
        Self {
            api: RestApi::new(&settings.api_url, http, DEFAULT_TIMEOUT),
        }
    }

    /// The same adapter with another per-call timeout (connecting included).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.api.set_timeout(timeout);
        self
    }

    /// The REST API base URL this adapter calls.
    #[must_use]
    pub fn api_url(&self) -> &str {
        self.api.base()
    }
}

/// The bot token of Discord credentials.
fn bot_token(credentials: &Credentials) -> Result<&SecretString, ProviderError> {
    match credentials {
        Credentials::Discord { bot_token, .. } => Ok(bot_token),
        other => Err(ProviderError::InvalidCredentials {
            message: format!(
                "expected Discord credentials, got {} credentials",
                other.provider()
            ),
        }),
    }
}

/// The guild id of a connection, when it can be one: Discord ids are snowflakes (decimal).
fn guild_id(workspace: &ExternalWorkspaceId) -> Result<&str, ProviderError> {
    let id = workspace.as_str();
    if id.len() <= 20 && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(not_in_guild(id))
    }
}

/// A user object, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct User {
    id: String,
}

/// A guild object, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct Guild {
    name: String,
    owner_id: Option<String>,
}

/// A guild member object, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct Member {
    #[serde(default)]
    roles: Vec<String>,
}

/// A channel object, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct Channel {
    id: String,
    #[serde(rename = "type")]
    kind: u8,
    name: Option<String>,
    #[serde(default)]
    position: i64,
    #[serde(default)]
    permission_overwrites: Vec<Overwrite>,
}

/// A permission overwrite of a channel.
#[derive(Debug, Deserialize)]
struct Overwrite {
    id: String,
    deny: String,
}

impl Channel {
    fn is_syncable(&self) -> bool {
        matches!(self.kind, GUILD_TEXT | GUILD_ANNOUNCEMENT)
    }

    /// Private when `@everyone` (the role whose id is the guild's) is denied `VIEW_CHANNEL`.
    fn is_private(&self, guild_id: &str) -> Result<bool, ProviderError> {
        for overwrite in &self.permission_overwrites {
            if overwrite.id == guild_id && parse_bits(&overwrite.deny)? & VIEW_CHANNEL.bit != 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn into_external(self, guild_id: &str) -> Result<ExternalChannel, ProviderError> {
        let is_private = self.is_private(guild_id)?;
        let id = parse_external_id("id", &self.id).map_err(|_| ProviderError::Platform {
            message: "Discord listed a channel with an unusable id".to_owned(),
        })?;
        Ok(ExternalChannel {
            name: self.name.unwrap_or_else(|| self.id.clone()),
            id,
            is_private,
            member_count: None,
        })
    }
}

#[async_trait]
impl ChatProvider for DiscordProvider {
    fn provider(&self) -> Provider {
        Provider::Discord
    }

    async fn validate(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<ValidatedWorkspace, ProviderError> {
        let token = bot_token(credentials)?;
        let guild_id = guild_id(workspace)?;
        let me: User = self
            .api
            .get("/users/@me", &["users", "@me"], token)
            .await
            .map_err(ApiError::into_provider)?;
        let in_guild = |error: ApiError| error.in_guild(guild_id);
        let guild: Guild = self
            .api
            .get("/guilds/{guild_id}", &["guilds", guild_id], token)
            .await
            .map_err(in_guild)?;
        let roles: Vec<Role> = self
            .api
            .get(
                "/guilds/{guild_id}/roles",
                &["guilds", guild_id, "roles"],
                token,
            )
            .await
            .map_err(in_guild)?;
        let member: Member = self
            .api
            .get(
                "/guilds/{guild_id}/members/{user_id}",
                &["guilds", guild_id, "members", &me.id],
                token,
            )
            .await
            .map_err(in_guild)?;
        let is_owner = guild.owner_id.as_deref() == Some(me.id.as_str());
        let bits = guild_permissions(guild_id, is_owner, &roles, &member.roles)?;
        let missing = missing(bits);
        if !missing.is_empty() {
            return Err(ProviderError::InsufficientPermissions {
                message: format!(
                    "the bot lacks the Discord permissions {} in guild {guild_id}",
                    missing.join(", ")
                ),
                required_scopes: missing,
            });
        }
        Ok(ValidatedWorkspace {
            workspace_name: Some(guild.name).filter(|name| !name.trim().is_empty()),
            bot_user_id: Some(me.id),
        })
    }

    async fn list_channels(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<Vec<ExternalChannel>, ProviderError> {
        let token = bot_token(credentials)?;
        let guild_id = guild_id(workspace)?;
        // Discord answers `null` for a guild without channels.
        let channels: Option<Vec<Channel>> = self
            .api
            .get(
                "/guilds/{guild_id}/channels",
                &["guilds", guild_id, "channels"],
                token,
            )
            .await
            .map_err(|error| error.in_guild(guild_id))?;
        let mut channels: Vec<Channel> = channels
            .unwrap_or_default()
            .into_iter()
            .filter(Channel::is_syncable)
            .collect();
        // Discord does not order the list; its client shows channels by position.
        channels.sort_by(|a, b| a.position.cmp(&b.position).then_with(|| a.id.cmp(&b.id)));
        channels
            .into_iter()
            .map(|channel| channel.into_external(guild_id))
            .collect()
    }
}
