//! `chat_sync_connections`: soft-deleted through `deleted_at`; the status is spread over
//! `status`, `error_code` and `error_message`.

use anyhow::{Context as _, anyhow, bail};
use hazel_domain::model::chat_sync::{
    BotIdentity, ConnectionSettings, ConnectionStatus, ExternalAppId, ExternalBotId,
    ExternalUserId, ExternalWorkspaceId, JsonObject, Provider, ProviderErrorCode,
    SealedCredentials, SyncConnection,
};
use hazel_domain::model::text::Name;
use sea_orm::entity::prelude::*;

use super::{from_db, from_db_opt, parse_id, stored_opaque, to_db, to_db_opt};

/// A row of `chat_sync_connections`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_sync_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub organization_id: String,
    pub provider: String,
    pub external_workspace_id: String,
    pub external_workspace_name: Option<String>,
    pub name: String,
    pub status: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub integration_connection_id: Option<String>,
    pub credentials: Option<Vec<u8>>,
    pub external_bot_user_id: Option<String>,
    pub external_bot_id: Option<String>,
    pub external_app_id: Option<String>,
    pub sync_threads: bool,
    pub sync_reactions: bool,
    pub sync_edits: bool,
    pub sync_deletes: bool,
    pub metadata: String,
    pub last_sync_at: Option<TimeDateTimeWithTimeZone>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
    pub created_by: String,
    pub deleted_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The domain connection.
    pub(crate) fn into_domain(self) -> anyhow::Result<SyncConnection> {
        let connection = || -> anyhow::Result<SyncConnection> {
            let status = match (
                self.status.as_str(),
                self.error_code.as_deref(),
                self.error_message.as_deref(),
            ) {
                ("connected", None, None) => ConnectionStatus::Connected,
                ("disconnected", None, None) => ConnectionStatus::Disconnected,
                ("error", Some(code), Some(message)) => ConnectionStatus::Error {
                    code: ProviderErrorCode::from_stored(code)
                        .ok_or_else(|| anyhow!("column error_code holds unknown code {code:?}"))?,
                    message: message.to_owned(),
                },
                (status, code, message) => bail!(
                    "status {status:?} does not fit error_code {code:?} and error_message {}",
                    if message.is_some() { "set" } else { "unset" }
                ),
            };
            Ok(SyncConnection {
                id: parse_id("id", &self.id)?,
                organization_id: parse_id("organization_id", &self.organization_id)?,
                provider: Provider::parse("provider", &self.provider)?,
                external_workspace_id: ExternalWorkspaceId::parse(
                    "external_workspace_id",
                    &self.external_workspace_id,
                )?,
                external_workspace_name: self
                    .external_workspace_name
                    .as_deref()
                    .map(|n| Name::parse("external_workspace_name", n))
                    .transpose()?,
                name: Name::parse("name", &self.name)?,
                status,
                integration_connection_id: self
                    .integration_connection_id
                    .as_deref()
                    .map(|i| stored_opaque("integration_connection_id", i))
                    .transpose()?,
                credentials: self.credentials.clone().map(SealedCredentials::from_bytes),
                bot: self.bot()?,
                settings: ConnectionSettings {
                    sync_threads: self.sync_threads,
                    sync_reactions: self.sync_reactions,
                    sync_edits: self.sync_edits,
                    sync_deletes: self.sync_deletes,
                },
                metadata: JsonObject::from_checked_json("metadata", self.metadata.clone())?,
                last_sync_at: from_db_opt(self.last_sync_at),
                created_at: from_db(self.created_at),
                updated_at: from_db(self.updated_at),
                created_by: parse_id("created_by", &self.created_by)?,
            })
        };
        connection().with_context(|| format!("unreadable chat_sync_connections row {}", self.id))
    }
}

impl Model {
    /// The stored bot identity: none before the first validation; the ids beside the user id
    /// only with it.
    fn bot(&self) -> anyhow::Result<Option<BotIdentity>> {
        let Some(user_id) = self.external_bot_user_id.as_deref() else {
            if self.external_bot_id.is_some() || self.external_app_id.is_some() {
                bail!("external_bot_id or external_app_id is set without external_bot_user_id");
            }
            return Ok(None);
        };
        Ok(Some(BotIdentity {
            user_id: ExternalUserId::parse("external_bot_user_id", user_id)?,
            bot_id: self
                .external_bot_id
                .as_deref()
                .map(|id| ExternalBotId::parse("external_bot_id", id))
                .transpose()?,
            app_id: self
                .external_app_id
                .as_deref()
                .map(|id| ExternalAppId::parse("external_app_id", id))
                .transpose()?,
        }))
    }
}

/// The columns of a bot identity: `(external_bot_user_id, external_bot_id, external_app_id)`.
pub(crate) fn bot_columns(
    bot: Option<&BotIdentity>,
) -> (Option<String>, Option<String>, Option<String>) {
    match bot {
        None => (None, None, None),
        Some(bot) => (
            Some(bot.user_id.as_str().to_owned()),
            bot.bot_id.as_ref().map(|id| id.as_str().to_owned()),
            bot.app_id.as_ref().map(|id| id.as_str().to_owned()),
        ),
    }
}

impl From<&SyncConnection> for Model {
    /// A live row (`deleted_at` unset) holding `connection`.
    fn from(connection: &SyncConnection) -> Self {
        let (error_code, error_message) = match &connection.status {
            ConnectionStatus::Connected | ConnectionStatus::Disconnected => (None, None),
            ConnectionStatus::Error { code, message } => {
                (Some(code.as_str().to_owned()), Some(message.clone()))
            }
        };
        let ConnectionSettings {
            sync_threads,
            sync_reactions,
            sync_edits,
            sync_deletes,
        } = connection.settings;
        let (external_bot_user_id, external_bot_id, external_app_id) =
            bot_columns(connection.bot.as_ref());
        Self {
            id: connection.id.to_string(),
            organization_id: connection.organization_id.to_string(),
            provider: connection.provider.as_str().to_owned(),
            external_workspace_id: connection.external_workspace_id.as_str().to_owned(),
            external_workspace_name: connection
                .external_workspace_name
                .as_ref()
                .map(|n| n.as_str().to_owned()),
            name: connection.name.as_str().to_owned(),
            status: connection.status.as_str().to_owned(),
            error_code,
            error_message,
            integration_connection_id: connection
                .integration_connection_id
                .as_ref()
                .map(|i| i.as_str().to_owned()),
            credentials: connection
                .credentials
                .as_ref()
                .map(|c| c.as_bytes().to_vec()),
            external_bot_user_id,
            external_bot_id,
            external_app_id,
            sync_threads,
            sync_reactions,
            sync_edits,
            sync_deletes,
            metadata: connection.metadata.as_str().to_owned(),
            last_sync_at: to_db_opt(connection.last_sync_at),
            created_at: to_db(connection.created_at),
            updated_at: to_db(connection.updated_at),
            created_by: connection.created_by.to_string(),
            deleted_at: None,
        }
    }
}
