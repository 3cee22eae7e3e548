//! [`SlackProvider`]: the [`ChatProvider`] port over the Slack Web API.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use hazel_domain::model::chat_sync::{
    Credentials, ExternalChannel, ExternalWorkspaceId, Provider, ProviderError, ValidatedWorkspace,
    parse_external_id,
};
use hazel_domain::ports::ChatProvider;
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

/// The Slack adapter of [`ChatProvider`]: validates bot tokens and discovers channels.
#[derive(Clone, Debug)]
pub struct SlackProvider {
    api: WebApi,
    operation_timeout: Duration,
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

/// `auth.test`'s answer, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct AuthTest {
    team_id: String,
    team: Option<String>,
    user_id: Option<String>,
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
}

impl Conversation {
    fn into_external(self) -> Result<ExternalChannel, ProviderError> {
        let id = parse_external_id("id", &self.id).map_err(|_| ProviderError::Platform {
            message: "Slack listed a conversation with an unusable id".to_owned(),
        })?;
        Ok(ExternalChannel {
            name: self.name.unwrap_or_else(|| self.id.clone()),
            id,
            is_private: self.is_private,
            member_count: self.num_members,
        })
    }
}

#[async_trait]
impl ChatProvider for SlackProvider {
    fn provider(&self) -> Provider {
        Provider::Slack
    }

    async fn validate(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<ValidatedWorkspace, ProviderError> {
        let token = bot_token(credentials)?;
        self.within_deadline("validate", self.validate_token(workspace, token))
            .await
    }

    async fn list_channels(
        &self,
        _workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<Vec<ExternalChannel>, ProviderError> {
        let token = bot_token(credentials)?;
        self.within_deadline("list_channels", self.list_pages(token))
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
        Ok(ValidatedWorkspace {
            workspace_name: auth.team.filter(|name| !name.trim().is_empty()),
            bot_user_id: auth.user_id,
        })
    }

    async fn list_pages(
        &self,
        token: &SecretString,
    ) -> Result<Vec<ExternalChannel>, ProviderError> {
        let mut channels = Vec::new();
        let mut cursor = String::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("types", "public_channel,private_channel"),
                ("exclude_archived", "true"),
                ("limit", PAGE_LIMIT),
            ];
            if !cursor.is_empty() {
                query.push(("cursor", cursor.as_str()));
            }
            let page = self
                .api
                .get::<ConversationsList>("conversations.list", token, &query)
                .await?
                .body;
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
