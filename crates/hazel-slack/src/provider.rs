//! [`SlackProvider`]: the [`ChatDirectory`] port over the Slack Web API.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use hazel_domain::model::chat_sync::{
    BotIdentity, ChannelEligibility, Credentials, ExternalAppId, ExternalBotId, ExternalChannel,
    ExternalChannelId, ExternalUserId, ExternalWorkspaceId, IneligibleReason, Provider,
    ProviderError, ValidatedWorkspace,
};
use hazel_domain::ports::ChatDirectory;
use hazel_provider_http::deadline_passed;
use secrecy::SecretString;
use serde::Deserialize;

use crate::api::WebApi;
use crate::errors::{PLATFORM, insufficient, quoted_id};
use crate::scopes::missing_scopes;
use crate::settings::SlackSettings;

/// How long one Web API call may take, connecting included, unless changed with
/// [`SlackProvider::with_timeout`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long one whole port operation (`validate`, `list_channels` with all its pages) may
/// take, unless changed with [`SlackProvider::with_operation_timeout`].
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Page size asked of `conversations.list` (Slack recommends at most 200).
const PAGE_LIMIT: &str = "200";

/// Most `conversations.list` pages followed before giving up on a server that keeps answering
/// with a next cursor (20 000 channels at [`PAGE_LIMIT`]).
const MAX_PAGES: usize = 100;

/// Time left for the call after a rate-limit wait: a wait that would end closer than this to
/// the operation's deadline is not started, and `RateLimited` is answered at once.
const RETRY_MARGIN: Duration = Duration::from_secs(2);

/// The Slack adapter of [`ChatDirectory`]: validates bot tokens, learns the bot's identity,
/// discovers channels and checks whether the bot can sync one.
#[derive(Clone, Debug)]
pub struct SlackProvider {
    api: WebApi,
    operation_timeout: Duration,
    /// Authors' profiles (`users.info`), bounded and expiring.
    profiles: crate::reader::ProfileCache,
}

impl SlackProvider {
    /// An adapter reaching the Web API at `settings.api_url` through `http`.
    ///
    /// Every call is bounded by a 15 s timeout that includes connecting, and every port
    /// operation (all its calls together) by 30 s; the shared `http` client may add its own
    /// connect timeout.
    #[must_use]
    pub fn new(settings: SlackSettings, http: reqwest::Client) -> Self {
        Self {
            api: WebApi::new(&settings.api_url, http, DEFAULT_TIMEOUT),
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            profiles: crate::reader::profile_cache(),
        }
    }

    /// The same adapter with another per-call timeout (connecting included).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.api.set_timeout(timeout);
        self
    }

    /// The same adapter with another deadline for a whole port operation (`validate`, or
    /// `list_channels` with every page it follows).
    #[must_use]
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
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
                tracing::debug!(slack.operation = name, "Slack operation deadline passed");
                Err(deadline_passed(PLATFORM, name, self.operation_timeout))
            })
    }

    /// The Web API client.
    pub(crate) fn api(&self) -> &WebApi {
        &self.api
    }

    pub(crate) fn profiles(&self) -> &crate::reader::ProfileCache {
        &self.profiles
    }

    /// The Web API base URL this adapter calls.
    #[must_use]
    pub fn api_url(&self) -> &str {
        self.api.base()
    }
}

/// The bot token of Slack credentials.
fn bot_token(credentials: &Credentials) -> Result<&SecretString, ProviderError> {
    match credentials {
        Credentials::Slack { bot_token, .. } => Ok(bot_token),
        other => Err(ProviderError::InvalidCredentials {
            message: format!(
                "expected Slack credentials, got {} credentials",
                other.provider()
            ),
        }),
    }
}

/// A user token (`xoxp-`) where the bot token belongs is refused before Slack is asked: Slack
/// would accept it and then report scopes as missing, which misleads. The HTTP edge refuses
/// such a paste already; this keeps the adapter's answer right for any other caller.
fn refuse_user_token(token: &SecretString) -> Result<(), ProviderError> {
    use secrecy::ExposeSecret;
    if token.expose_secret().trim_start().starts_with("xoxp-") {
        return Err(ProviderError::InvalidCredentials {
            message: "the token is a Slack user token (xoxp-), not a bot token; use the Bot \
                      User OAuth Token (xoxb-) from the app's OAuth & Permissions page"
                .to_owned(),
        });
    }
    Ok(())
}

/// `auth.test`'s answer, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct AuthTest {
    team_id: String,
    team: Option<String>,
    user_id: Option<String>,
    bot_id: Option<String>,
}

/// `bots.info`'s answer, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct BotsInfo {
    bot: BotInfo,
}

#[derive(Debug, Deserialize)]
struct BotInfo {
    app_id: Option<String>,
}

/// `conversations.info`'s answer.
#[derive(Debug, Deserialize)]
struct ConversationsInfo {
    channel: ConversationFlags,
}

/// What decides whether the bot can sync a conversation.
#[derive(Debug, Deserialize)]
pub(crate) struct ConversationFlags {
    #[serde(default)]
    pub(crate) is_archived: bool,
    #[serde(default)]
    pub(crate) is_member: bool,
    #[serde(default)]
    pub(crate) is_private: bool,
    #[serde(default)]
    pub(crate) is_im: bool,
    #[serde(default)]
    pub(crate) is_mpim: bool,
}

/// Whether the bot can sync a conversation, from `conversations.info`: direct messages never;
/// archived channels not; channels it is a member of yes; public channels it has not joined
/// can be joined (`conversations.join`). A private channel it is not in is not visible to it
/// (Slack answers `channel_not_found`), so it is not found.
pub(crate) fn eligibility(conversation: &ConversationFlags) -> ChannelEligibility {
    if conversation.is_im || conversation.is_mpim {
        ChannelEligibility::Ineligible(IneligibleReason::UnsupportedKind {
            kind: "direct message".to_owned(),
        })
    } else if conversation.is_archived {
        ChannelEligibility::Ineligible(IneligibleReason::Archived)
    } else if conversation.is_member {
        ChannelEligibility::Eligible
    } else if !conversation.is_private {
        ChannelEligibility::Joinable
    } else {
        ChannelEligibility::Ineligible(IneligibleReason::NotFound)
    }
}

/// A server-sent id as a domain id, or a `Platform` error naming the method and field.
fn slack_id<T>(
    parse: impl FnOnce(&str, &str) -> Result<T, hazel_domain::ValidationError>,
    method: &str,
    field: &str,
    raw: &str,
) -> Result<T, ProviderError> {
    parse(field, raw).map_err(|_| ProviderError::Platform {
        message: format!("Slack answered {method} with an unusable {field}"),
    })
}

/// `conversations.list`'s answer.
#[derive(Debug, Deserialize)]
struct ConversationsList {
    #[serde(default)]
    channels: Vec<Conversation>,
    response_metadata: Option<ResponseMetadata>,
}

#[derive(Debug, Deserialize)]
struct ResponseMetadata {
    #[serde(default)]
    next_cursor: String,
}

/// A conversation object, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct Conversation {
    id: String,
    name: Option<String>,
    #[serde(default)]
    is_private: bool,
    num_members: Option<u64>,
    /// Absent for channels the token cannot know about; a private channel is listed only
    /// to its members.
    is_member: Option<bool>,
}

impl Conversation {
    fn into_external(self) -> Result<ExternalChannel, ProviderError> {
        let id = ExternalChannelId::parse("id", &self.id).map_err(|_| ProviderError::Platform {
            message: "Slack listed a conversation with an unusable id".to_owned(),
        })?;
        Ok(ExternalChannel {
            name: self.name.unwrap_or_else(|| self.id.clone()),
            id,
            bot_is_member: self.is_member.unwrap_or(self.is_private),
            is_private: self.is_private,
            member_count: self.num_members,
        })
    }
}

#[async_trait]
impl ChatDirectory for SlackProvider {
    fn provider(&self) -> Provider {
        Provider::Slack
    }

    async fn validate(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<ValidatedWorkspace, ProviderError> {
        let token = bot_token(credentials)?;
        refuse_user_token(token)?;
        let app_token = match credentials {
            Credentials::Slack { app_token, .. } => app_token.as_ref(),
            _ => None,
        };
        self.within_deadline("validate", async {
            let validated = self.validate_token(workspace, token).await?;
            if let Some(app_token) = app_token {
                self.check_app_token(app_token).await?;
            }
            Ok(validated)
        })
        .await
    }

    async fn list_channels(
        &self,
        _workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<Vec<ExternalChannel>, ProviderError> {
        let token = bot_token(credentials)?;
        let deadline = tokio::time::Instant::now() + self.operation_timeout;
        self.within_deadline("list_channels", self.list_pages(token, deadline))
            .await
    }

    async fn check_channel(
        &self,
        _workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
        channel: &ExternalChannelId,
    ) -> Result<ChannelEligibility, ProviderError> {
        // The token belongs to one workspace, so a channel of another one is not found.
        let token = bot_token(credentials)?;
        self.within_deadline("check_channel", self.conversation(token, channel))
            .await
    }

    async fn join_channel(
        &self,
        _workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
        channel: &ExternalChannelId,
    ) -> Result<(), ProviderError> {
        let token = bot_token(credentials)?;
        self.within_deadline("join_channel", self.join(token, channel))
            .await
    }
}

impl SlackProvider {
    async fn validate_token(
        &self,
        workspace: &ExternalWorkspaceId,
        token: &SecretString,
    ) -> Result<ValidatedWorkspace, ProviderError> {
        let reply = self.api.get::<AuthTest>("auth.test", token, &[]).await?;
        let auth = reply.body;
        if auth.team_id != workspace.as_str() {
            return Err(ProviderError::InvalidCredentials {
                message: format!(
                    "the bot token belongs to another Slack workspace ({}), not {}",
                    quoted_id(&auth.team_id),
                    quoted_id(workspace.as_str())
                ),
            });
        }
        // Slack lists a token's scopes on every answer; a token without the header is treated
        // as holding none, so an unverifiable token is reported rather than accepted.
        let missing = missing_scopes(&reply.granted_scopes.unwrap_or_default());
        if !missing.is_empty() {
            return Err(insufficient(&missing, "the bot token is not enough"));
        }
        let Some(user_id) = auth.user_id.as_deref() else {
            return Err(ProviderError::Platform {
                message: "Slack answered auth.test without the bot's user_id".to_owned(),
            });
        };
        let user_id = slack_id(ExternalUserId::parse, "auth.test", "user_id", user_id)?;
        let (bot_id, app_id) = match auth.bot_id.as_deref() {
            // A bot token always names its bot; the app is read from the bot.
            Some(bot_id) => {
                let info = self
                    .api
                    .get::<BotsInfo>("bots.info", token, &[("bot", bot_id)])
                    .await?
                    .body;
                let app_id = info
                    .bot
                    .app_id
                    .as_deref()
                    .map(|id| slack_id(ExternalAppId::parse, "bots.info", "app_id", id))
                    .transpose()?;
                let bot_id = slack_id(ExternalBotId::parse, "auth.test", "bot_id", bot_id)?;
                (Some(bot_id), app_id)
            }
            None => (None, None),
        };
        Ok(ValidatedWorkspace {
            workspace_name: auth.team.filter(|name| !name.trim().is_empty()),
            bot: BotIdentity {
                user_id,
                bot_id,
                app_id,
            },
        })
    }

    /// Asks for a Socket Mode URL with the app-level token, so a wrong one is refused when
    /// the credentials are given, not found later as a socket that never opens. The URL (a
    /// one-use ticket) is dropped unused; it expires by itself.
    async fn check_app_token(&self, app_token: &SecretString) -> Result<(), ProviderError> {
        let answer = self
            .api
            .post_answering::<serde_json::Value>(
                "apps.connections.open",
                app_token,
                None,
                &[
                    "invalid_auth",
                    "not_authed",
                    "account_inactive",
                    "not_allowed_token_type",
                    "token_revoked",
                    "token_expired",
                ],
            )
            .await?;
        let fix = "generate an app-level token with the connections:write scope under Basic \
                   Information → App-Level Tokens and give it as credentials.appToken";
        match answer {
            Ok(_) => Ok(()),
            Err(code @ ("token_revoked" | "token_expired")) => Err(ProviderError::AuthExpired {
                message: format!(
                    "Slack refused the app-level token (credentials.appToken): {code}; {fix}"
                ),
            }),
            Err(code) => Err(ProviderError::InvalidCredentials {
                message: format!(
                    "Slack refused the app-level token (credentials.appToken): {code}; {fix}"
                ),
            }),
        }
    }

    async fn conversation(
        &self,
        token: &SecretString,
        channel: &ExternalChannelId,
    ) -> Result<ChannelEligibility, ProviderError> {
        let answer = self
            .api
            .get_answering::<ConversationsInfo>(
                "conversations.info",
                token,
                &[("channel", channel.as_str())],
                &["channel_not_found"],
            )
            .await?;
        Ok(match answer {
            Ok(reply) => eligibility(&reply.body.channel),
            Err(_channel_not_found) => ChannelEligibility::Ineligible(IneligibleReason::NotFound),
        })
    }

    async fn join(
        &self,
        token: &SecretString,
        channel: &ExternalChannelId,
    ) -> Result<(), ProviderError> {
        let body = serde_json::json!({"channel": channel.as_str()});
        let answer = self
            .api
            .post_answering::<serde_json::Value>(
                "conversations.join",
                token,
                Some(&body),
                &[
                    "channel_not_found",
                    "is_archived",
                    "method_not_supported_for_channel_type",
                    "is_private",
                ],
            )
            .await?;
        let reason = match answer {
            Ok(_) => return Ok(()),
            Err("is_archived") => IneligibleReason::Archived,
            Err("method_not_supported_for_channel_type") => IneligibleReason::UnsupportedKind {
                kind: "direct message".to_owned(),
            },
            // `channel_not_found`, `is_private`: a private channel only its members can add
            // the bot to.
            Err(_) => IneligibleReason::NotFound,
        };
        Err(reason.into_error(channel))
    }

    /// Every page of `conversations.list`. A page refused with `ratelimited` is asked again
    /// after the `Retry-After` Slack gave, keeping the pages already read, as long as that
    /// leaves time before `deadline` (the operation's); only then is `RateLimited` answered.
    async fn list_pages(
        &self,
        token: &SecretString,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<ExternalChannel>, ProviderError> {
        let mut channels = Vec::new();
        let mut cursor = String::new();
        let mut seen = HashSet::new();
        let mut pages = 0;
        while pages < MAX_PAGES {
            let mut query = vec![
                ("types", "public_channel,private_channel"),
                ("exclude_archived", "true"),
                ("limit", PAGE_LIMIT),
            ];
            if !cursor.is_empty() {
                query.push(("cursor", cursor.as_str()));
            }
            let page = match self
                .api
                .get::<ConversationsList>("conversations.list", token, &query)
                .await
            {
                Ok(reply) => reply.body,
                Err(ProviderError::RateLimited {
                    retry_after_seconds,
                }) => {
                    let wait = Duration::from_secs(retry_after_seconds);
                    // The next call needs time of its own after the wait.
                    if tokio::time::Instant::now() + wait + RETRY_MARGIN >= deadline {
                        return Err(ProviderError::RateLimited {
                            retry_after_seconds,
                        });
                    }
                    tracing::debug!(
                        slack.method = "conversations.list",
                        retry_after_seconds,
                        pages_read = pages,
                        "Slack rate limited the listing; waiting to resume it"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(other) => return Err(other),
            };
            pages += 1;
            for conversation in page.channels {
                channels.push(conversation.into_external()?);
            }
            cursor = page
                .response_metadata
                .map(|metadata| metadata.next_cursor)
                .unwrap_or_default();
            if cursor.is_empty() {
                return Ok(channels);
            }
            // A cursor seen before would list the same pages again, forever.
            if !seen.insert(cursor.clone()) {
                return Err(ProviderError::Platform {
                    message: "Slack answered conversations.list with a cursor it had already \
                              sent; the listing would never end"
                        .to_owned(),
                });
            }
        }
        Err(ProviderError::Platform {
            message: format!(
                "Slack kept answering conversations.list with more pages after {MAX_PAGES} pages"
            ),
        })
    }
}
