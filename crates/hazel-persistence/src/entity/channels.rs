//! `channels`: `type` is public, private or thread; `parent_channel_id` is set exactly for
//! threads.

use anyhow::Context as _;
use hazel_domain::model::channel::{Channel, ChannelKind};
use hazel_domain::model::text::Name;
use sea_orm::entity::prelude::*;

use super::{from_db, parse_id, parse_id_opt, to_db};

/// A row of `channels`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub organization_id: String,
    pub name: String,
    #[sea_orm(column_name = "type")]
    pub kind: String,
    pub parent_channel_id: Option<String>,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The domain channel.
    pub(crate) fn into_domain(self) -> anyhow::Result<Channel> {
        let channel = || -> anyhow::Result<Channel> {
            let parent = parse_id_opt("parent_channel_id", self.parent_channel_id.as_deref())?;
            Ok(Channel {
                id: parse_id("id", &self.id)?,
                organization_id: parse_id("organization_id", &self.organization_id)?,
                name: Name::parse("name", &self.name)?,
                kind: ChannelKind::from_parts(&self.kind, parent)?,
                created_at: from_db(self.created_at),
            })
        };
        channel().with_context(|| format!("unreadable channels row {}", self.id))
    }
}

impl From<&Channel> for Model {
    fn from(channel: &Channel) -> Self {
        Self {
            id: channel.id.to_string(),
            organization_id: channel.organization_id.to_string(),
            name: channel.name.as_str().to_owned(),
            kind: channel.kind.type_name().to_owned(),
            parent_channel_id: channel.kind.parent().map(|p| p.to_string()),
            created_at: to_db(channel.created_at),
        }
    }
}
