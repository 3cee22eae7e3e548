//! `chat_sync_channel_links`: soft-deleted through `deleted_at`; the per-link overrides of the
//! connection's settings are nullable columns (NULL: use the connection's value).

use anyhow::Context as _;
use hazel_domain::model::chat_sync::{
    ChannelLink, ConnectionSettingsPatch, Direction, LinkSettings,
};
use hazel_domain::model::text::Name;
use sea_orm::entity::prelude::*;

use super::{from_db, parse_id, to_db};

/// A row of `chat_sync_channel_links`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_sync_channel_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub connection_id: String,
    pub hazel_channel_id: String,
    pub external_channel_id: String,
    pub external_channel_name: Option<String>,
    pub direction: String,
    pub is_active: bool,
    pub sync_pins: bool,
    pub mention_mapping: bool,
    pub sync_threads_override: Option<bool>,
    pub sync_reactions_override: Option<bool>,
    pub sync_edits_override: Option<bool>,
    pub sync_deletes_override: Option<bool>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
    pub deleted_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The domain link.
    pub(crate) fn into_domain(self) -> anyhow::Result<ChannelLink> {
        let link = || -> anyhow::Result<ChannelLink> {
            Ok(ChannelLink {
                id: parse_id("id", &self.id)?,
                connection_id: parse_id("connection_id", &self.connection_id)?,
                hazel_channel_id: parse_id("hazel_channel_id", &self.hazel_channel_id)?,
                external_channel_id: hazel_domain::model::chat_sync::ExternalChannelId::parse(
                    "external_channel_id",
                    &self.external_channel_id,
                )?,
                external_channel_name: self
                    .external_channel_name
                    .as_deref()
                    .map(|n| Name::parse("external_channel_name", n))
                    .transpose()?,
                direction: Direction::parse("direction", &self.direction)?,
                is_active: self.is_active,
                settings: LinkSettings {
                    sync_pins: self.sync_pins,
                    mention_mapping: self.mention_mapping,
                    overrides: ConnectionSettingsPatch {
                        sync_threads: self.sync_threads_override,
                        sync_reactions: self.sync_reactions_override,
                        sync_edits: self.sync_edits_override,
                        sync_deletes: self.sync_deletes_override,
                    },
                },
                created_at: from_db(self.created_at),
                updated_at: from_db(self.updated_at),
            })
        };
        link().with_context(|| format!("unreadable chat_sync_channel_links row {}", self.id))
    }
}

impl From<&ChannelLink> for Model {
    /// A live row (`deleted_at` unset) holding `link`.
    fn from(link: &ChannelLink) -> Self {
        let LinkSettings {
            sync_pins,
            mention_mapping,
            overrides:
                ConnectionSettingsPatch {
                    sync_threads,
                    sync_reactions,
                    sync_edits,
                    sync_deletes,
                },
        } = link.settings;
        Self {
            id: link.id.to_string(),
            connection_id: link.connection_id.to_string(),
            hazel_channel_id: link.hazel_channel_id.to_string(),
            external_channel_id: link.external_channel_id.as_str().to_owned(),
            external_channel_name: link
                .external_channel_name
                .as_ref()
                .map(|n| n.as_str().to_owned()),
            direction: link.direction.as_str().to_owned(),
            is_active: link.is_active,
            sync_pins,
            mention_mapping,
            sync_threads_override: sync_threads,
            sync_reactions_override: sync_reactions,
            sync_edits_override: sync_edits,
            sync_deletes_override: sync_deletes,
            created_at: to_db(link.created_at),
            updated_at: to_db(link.updated_at),
            deleted_at: None,
        }
    }
}
