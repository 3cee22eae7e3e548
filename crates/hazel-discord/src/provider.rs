//! [`DiscordProvider`]: the [`ChatDirectory`] port over the Discord REST API.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use hazel_domain::model::chat_sync::{
    BotIdentity, ChannelEligibility, Credentials, ExternalAppId, ExternalChannel,
    ExternalChannelId, ExternalUserId, ExternalWorkspaceId, IneligibleReason, Provider,
    ProviderError, ValidatedWorkspace,
};
use hazel_domain::ports::ChatDirectory;
use hazel_provider_http::deadline_passed;
use secrecy::SecretString;
use serde::Deserialize;

use crate::api::RestApi;
use crate::errors::{ApiError, MISSING_ACCESS, PLATFORM, UNKNOWN_CHANNEL, not_in_guild};
use crate::permissions::{
    ADMINISTRATOR, ChannelOverwrite, Role, VIEW_CHANNEL, channel_permissions, guild_permissions,
    missing, missing_in_channel, parse_bits,
};
use crate::settings::DiscordSettings;

/// How long one REST call may take, connecting included, unless changed with
/// [`DiscordProvider::with_timeout`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long one whole port operation (`validate`, `list_channels`, with all their calls) may
/// take, unless changed with [`DiscordProvider::with_operation_timeout`].
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// `GUILD_TEXT`: a text channel.
const GUILD_TEXT: u8 = 0;
/// `GUILD_ANNOUNCEMENT`: an announcement (news) channel.
const GUILD_ANNOUNCEMENT: u8 = 5;

/// The Discord adapter of [`ChatDirectory`]: validates bot tokens, learns the bot's identity,
/// discovers channels and checks the bot's effective permissions in one.
#[derive(Clone, Debug)]
pub struct DiscordProvider {
    api: RestApi,
    operation_timeout: Duration,
}

impl DiscordProvider {
    /// An adapter reaching the REST API at `settings.api_url` through `http`.
    ///
    /// Every call is bounded by a 15 s timeout that includes connecting, and every port
    /// operation (all its calls together) by 30 s; the shared `http` client may add its own
    /// connect timeout.
    #[must_use]
    pub fn new(settings: DiscordSettings, http: reqwest::Client) -> Self {
        Self {
            api: RestApi::new(&settings.api_url, http, DEFAULT_TIMEOUT),
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        }
    }

    /// The same adapter with another per-call timeout (connecting included).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.api.set_timeout(timeout);
        self
    }

    /// The same adapter with another deadline for a whole port operation (`validate` or
    /// `list_channels`, every call they make included).
    #[must_use]
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The REST API base URL this adapter calls.
    #[must_use]
    pub fn api_url(&self) -> &str {
        self.api.base()
    }

    /// Runs `operation` within the operation deadline; a `Network` error when it passes.
    async fn within_deadline<T>(
        &self,
        name: &str,
        operation: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        tokio::time::timeout(self.operation_timeout, operation)
            .await
            .unwrap_or_else(|_| {
                tracing::debug!(
                    discord.operation = name,
                    "Discord operation deadline passed"
                );
                Err(deadline_passed(PLATFORM, name, self.operation_timeout))
            })
    }
}

/// The bot token of Discord credentials.
fn bot_token(credentials: &Credentials) -> Result<&SecretString, ProviderError> {
    bot_credentials(credentials).map(|(token, _)| token)
}

/// The bot token and the application id (when given) of Discord credentials.
fn bot_credentials(
    credentials: &Credentials,
) -> Result<(&SecretString, Option<&ExternalAppId>), ProviderError> {
    match credentials {
        Credentials::Discord {
            bot_token,
            application_id,
        } => Ok((bot_token, application_id.as_ref())),
        other => Err(ProviderError::InvalidCredentials {
            message: format!(
                "expected Discord credentials, got {} credentials",
                other.provider()
            ),
        }),
    }
}

/// Whether `id` is a Discord snowflake as Discord writes one: a `u64` in canonical decimal
/// (no sign, no leading zeros, no overflow).
pub(crate) fn is_snowflake(id: &str) -> bool {
    id.parse::<u64>()
        .is_ok_and(|number| number.to_string() == id)
}

/// The guild id of a connection, when it can be one (a snowflake).
fn guild_id(workspace: &ExternalWorkspaceId) -> Result<&str, ProviderError> {
    let id = workspace.as_str();
    if is_snowflake(id) {
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

/// An application object, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct Application {
    id: String,
}

/// The name of a channel type that holds no plain messages, `None` for text and announcement
/// channels (the ones that can be synced).
pub(crate) fn unsupported_kind(kind: u8) -> Option<&'static str> {
    match kind {
        GUILD_TEXT | GUILD_ANNOUNCEMENT => None,
        1 | 3 => Some("direct message"),
        2 => Some("voice"),
        4 => Some("category"),
        10..=12 => Some("thread"),
        13 => Some("stage"),
        14 => Some("directory"),
        15 => Some("forum"),
        16 => Some("media"),
        _ => Some("unknown"),
    }
}

/// A guild object, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct Guild {
    name: String,
    owner_id: Option<String>,
    /// The guild's roles, `@everyone` (whose id is the guild's) included. Discord's guild
    /// object carries them; should an answer lack them, they are fetched on their own.
    roles: Option<Vec<Role>>,
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
    guild_id: Option<String>,
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
    #[serde(default = "no_bits")]
    allow: String,
    #[serde(default = "no_bits")]
    deny: String,
}

/// An empty permission set, for overwrites that leave `allow` or `deny` out.
fn no_bits() -> String {
    "0".to_owned()
}

impl Channel {
    /// Private when `@everyone` cannot see the channel: its guild-level permissions
    /// (`everyone`) with the channel's `@everyone` overwrite applied
    /// (`(everyone & !deny) | allow`) lack `VIEW_CHANNEL`. `ADMINISTRATOR` on `@everyone`
    /// overrides every overwrite, so such a guild has no private channels.
    fn is_private(&self, guild_id: &str, everyone: u64) -> Result<bool, ProviderError> {
        if everyone & ADMINISTRATOR.bit != 0 {
            return Ok(false);
        }
        let mut bits = everyone;
        // The `@everyone` role's id is the guild's, and no user has a guild's id, so the
        // overwrite is found by id alone.
        if let Some(overwrite) = self
            .permission_overwrites
            .iter()
            .find(|overwrite| overwrite.id == guild_id)
        {
            bits = (bits & !parse_bits(&overwrite.deny)?) | parse_bits(&overwrite.allow)?;
        }
        Ok(bits & VIEW_CHANNEL.bit == 0)
    }

    fn into_external(
        self,
        guild_id: &str,
        everyone: u64,
    ) -> Result<ExternalChannel, ProviderError> {
        let is_private = self.is_private(guild_id, everyone)?;
        let id = ExternalChannelId::parse("id", &self.id).map_err(|_| ProviderError::Platform {
            message: "Discord listed a channel with an unusable id".to_owned(),
        })?;
        Ok(ExternalChannel {
            name: self.name.unwrap_or_else(|| self.id.clone()),
            id,
            is_private,
            member_count: None,
            // A guild's bot sees the channels its permissions allow; there is nothing to join.
            bot_is_member: true,
        })
    }
}

impl Channel {
    fn overwrites(&self) -> Result<Vec<ChannelOverwrite>, ProviderError> {
        self.permission_overwrites
            .iter()
            .map(|overwrite| {
                Ok(ChannelOverwrite {
                    id: overwrite.id.clone(),
                    allow: parse_bits(&overwrite.allow)?,
                    deny: parse_bits(&overwrite.deny)?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl ChatDirectory for DiscordProvider {
    fn provider(&self) -> Provider {
        Provider::Discord
    }

    async fn validate(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<ValidatedWorkspace, ProviderError> {
        let (token, application_id) = bot_credentials(credentials)?;
        let guild_id = guild_id(workspace)?;
        self.within_deadline(
            "validate",
            self.validate_bot(guild_id, token, application_id),
        )
        .await
    }

    async fn list_channels(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<Vec<ExternalChannel>, ProviderError> {
        let token = bot_token(credentials)?;
        let guild_id = guild_id(workspace)?;
        self.within_deadline("list_channels", self.list_guild_channels(guild_id, token))
            .await
    }

    async fn check_channel(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
        channel: &ExternalChannelId,
    ) -> Result<ChannelEligibility, ProviderError> {
        let token = bot_token(credentials)?;
        let guild_id = guild_id(workspace)?;
        // A channel id that is no snowflake names no channel; Discord is not asked.
        if !is_snowflake(channel.as_str()) {
            return Ok(ChannelEligibility::Ineligible(IneligibleReason::NotFound));
        }
        self.within_deadline(
            "check_channel",
            self.channel_eligibility(guild_id, channel.as_str(), token),
        )
        .await
    }
}

impl DiscordProvider {
    /// `GET /guilds/{guild_id}`, the roles included.
    async fn guild_with_roles(
        &self,
        guild_id: &str,
        token: &SecretString,
    ) -> Result<(Guild, Vec<Role>), ProviderError> {
        let in_guild = |error: ApiError| error.in_guild(guild_id);
        let mut guild: Guild = self
            .api
            .get("/guilds/{guild_id}", &["guilds", guild_id], token)
            .await
            .map_err(in_guild)?;
        let roles = match guild.roles.take() {
            Some(roles) => roles,
            None => self
                .api
                .get(
                    "/guilds/{guild_id}/roles",
                    &["guilds", guild_id, "roles"],
                    token,
                )
                .await
                .map_err(in_guild)?,
        };
        Ok((guild, roles))
    }

    /// The bot's user (`/users/@me`), its id checked to be a snowflake.
    async fn me(&self, token: &SecretString) -> Result<User, ProviderError> {
        let me: User = self
            .api
            .get("/users/@me", &["users", "@me"], token)
            .await
            .map_err(ApiError::into_provider)?;
        if !is_snowflake(&me.id) {
            return Err(ProviderError::Platform {
                message: "Discord answered /users/@me with an id that is not a snowflake"
                    .to_owned(),
            });
        }
        Ok(me)
    }

    /// The bot's guild-level permissions and its roles in the guild.
    async fn guild_bits(
        &self,
        guild_id: &str,
        me: &User,
        token: &SecretString,
    ) -> Result<(String, u64, Vec<String>), ProviderError> {
        let (guild, roles) = self.guild_with_roles(guild_id, token).await?;
        let (bits, member_roles) = self
            .member_bits(guild_id, &guild, &roles, me, token)
            .await?;
        Ok((guild.name, bits, member_roles))
    }

    /// The bot's guild-level permissions in `guild` (whose roles are `roles`) and its roles.
    async fn member_bits(
        &self,
        guild_id: &str,
        guild: &Guild,
        roles: &[Role],
        me: &User,
        token: &SecretString,
    ) -> Result<(u64, Vec<String>), ProviderError> {
        let member: Member = self
            .api
            .get(
                "/guilds/{guild_id}/members/{user_id}",
                &["guilds", guild_id, "members", &me.id],
                token,
            )
            .await
            .map_err(|error| error.in_guild(guild_id))?;
        let is_owner = guild.owner_id.as_deref() == Some(me.id.as_str());
        let bits = guild_permissions(guild_id, is_owner, roles, &member.roles)?;
        Ok((bits, member.roles))
    }

    /// The bot's application: its id must be the one the credentials name, when they do.
    async fn application(
        &self,
        token: &SecretString,
        given: Option<&ExternalAppId>,
    ) -> Result<ExternalAppId, ProviderError> {
        let application: Application = self
            .api
            .get("/applications/@me", &["applications", "@me"], token)
            .await
            .map_err(ApiError::into_provider)?;
        if !is_snowflake(&application.id) {
            return Err(ProviderError::Platform {
                message: "Discord answered /applications/@me with an id that is not a snowflake"
                    .to_owned(),
            });
        }
        if let Some(given) = given.filter(|given| given.as_str() != application.id) {
            return Err(ProviderError::InvalidCredentials {
                message: format!(
                    "the bot token belongs to Discord application {}, not to the applicationId \
                     {given} given with it",
                    application.id
                ),
            });
        }
        ExternalAppId::parse("id", &application.id).map_err(|_| ProviderError::Platform {
            message: "Discord answered /applications/@me with an unusable id".to_owned(),
        })
    }

    async fn validate_bot(
        &self,
        guild_id: &str,
        token: &SecretString,
        application_id: Option<&ExternalAppId>,
    ) -> Result<ValidatedWorkspace, ProviderError> {
        let me = self.me(token).await?;
        let (guild_name, bits, _) = self.guild_bits(guild_id, &me, token).await?;
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
        let app_id = self.application(token, application_id).await?;
        let user_id = ExternalUserId::parse("id", &me.id).map_err(|_| ProviderError::Platform {
            message: "Discord answered /users/@me with an unusable id".to_owned(),
        })?;
        Ok(ValidatedWorkspace {
            workspace_name: Some(guild_name).filter(|name| !name.trim().is_empty()),
            bot: BotIdentity {
                user_id,
                bot_id: None,
                app_id: Some(app_id),
            },
        })
    }

    async fn channel_eligibility(
        &self,
        guild_id: &str,
        channel_id: &str,
        token: &SecretString,
    ) -> Result<ChannelEligibility, ProviderError> {
        let me = self.me(token).await?;
        let (_, guild_bits, roles) = self.guild_bits(guild_id, &me, token).await?;
        let channel: Channel = match self
            .api
            .get("/channels/{channel_id}", &["channels", channel_id], token)
            .await
        {
            Ok(channel) => channel,
            Err(ApiError::Rejected {
                code: Some(UNKNOWN_CHANNEL),
                ..
            }) => return Ok(ChannelEligibility::Ineligible(IneligibleReason::NotFound)),
            // Discord hides a channel the bot may not view behind "Missing Access".
            Err(ApiError::Rejected {
                code: Some(MISSING_ACCESS),
                ..
            }) => {
                return Ok(ChannelEligibility::Ineligible(
                    IneligibleReason::MissingPermissions {
                        permissions: vec![VIEW_CHANNEL.name.to_owned()],
                    },
                ));
            }
            Err(other) => return Err(other.into_provider()),
        };
        if channel.guild_id.as_deref() != Some(guild_id) {
            return Ok(ChannelEligibility::Ineligible(IneligibleReason::NotFound));
        }
        if let Some(kind) = unsupported_kind(channel.kind) {
            return Ok(ChannelEligibility::Ineligible(
                IneligibleReason::UnsupportedKind {
                    kind: kind.to_owned(),
                },
            ));
        }
        let bits =
            channel_permissions(guild_id, guild_bits, &me.id, &roles, &channel.overwrites()?);
        let missing = missing_in_channel(bits);
        Ok(if missing.is_empty() {
            ChannelEligibility::Eligible
        } else {
            ChannelEligibility::Ineligible(IneligibleReason::MissingPermissions {
                permissions: missing,
            })
        })
    }

    async fn list_guild_channels(
        &self,
        guild_id: &str,
        token: &SecretString,
    ) -> Result<Vec<ExternalChannel>, ProviderError> {
        let me = self.me(token).await?;
        // Whether a channel is private depends on what `@everyone` may do guild-wide.
        let (guild, roles) = self.guild_with_roles(guild_id, token).await?;
        let (guild_bits, member_roles) = self
            .member_bits(guild_id, &guild, &roles, &me, token)
            .await?;
        let everyone = match roles.iter().find(|role| role.id == guild_id) {
            Some(role) => parse_bits(&role.permissions)?,
            // Every guild has `@everyone`; without it, nothing is known to be public.
            None => 0,
        };
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
        let mut usable = Vec::new();
        for channel in channels.unwrap_or_default() {
            if let Some(kind) = unsupported_kind(channel.kind) {
                tracing::debug!(
                    discord.channel = %channel.id,
                    kind,
                    "Discord channel left out: its kind holds no plain messages"
                );
                continue;
            }
            let bits = channel_permissions(
                guild_id,
                guild_bits,
                &me.id,
                &member_roles,
                &channel.overwrites()?,
            );
            let missing = missing_in_channel(bits);
            if missing.is_empty() {
                usable.push(channel);
            } else {
                tracing::debug!(
                    discord.channel = %channel.id,
                    missing = %missing.join(", "),
                    "Discord channel left out: the bot lacks permissions there"
                );
            }
        }
        let mut channels = usable;
        // Discord does not order the list; its client shows channels by position.
        channels.sort_by(|a, b| a.position.cmp(&b.position).then_with(|| a.id.cmp(&b.id)));
        channels
            .into_iter()
            .map(|channel| channel.into_external(guild_id, everyone))
            .collect()
    }
}
