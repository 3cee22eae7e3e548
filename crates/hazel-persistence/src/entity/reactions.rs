//! `reactions`: unique per (message, member, emoji).

use anyhow::Context as _;
use hazel_domain::model::message::{Emoji, Reaction};
use sea_orm::entity::prelude::*;

use super::{from_db, parse_id, to_db};

/// A row of `reactions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub message_id: String,
    pub member_id: String,
    pub emoji: String,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The domain reaction.
    pub(crate) fn into_domain(self) -> anyhow::Result<Reaction> {
        let reaction = || -> anyhow::Result<Reaction> {
            Ok(Reaction {
                id: parse_id("id", &self.id)?,
                message_id: parse_id("message_id", &self.message_id)?,
                member_id: parse_id("member_id", &self.member_id)?,
                emoji: Emoji::parse("emoji", &self.emoji)?,
                created_at: from_db(self.created_at),
            })
        };
        reaction().with_context(|| format!("unreadable reactions row {}", self.id))
    }
}

impl From<&Reaction> for Model {
    fn from(reaction: &Reaction) -> Self {
        Self {
            id: reaction.id.to_string(),
            message_id: reaction.message_id.to_string(),
            member_id: reaction.member_id.to_string(),
            emoji: reaction.emoji.as_str().to_owned(),
            created_at: to_db(reaction.created_at),
        }
    }
}
