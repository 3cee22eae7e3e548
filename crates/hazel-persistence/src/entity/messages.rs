//! `messages`: attachments are a JSON array in one text column, since they are only ever read
//! and written with their message.

use anyhow::Context as _;
use hazel_domain::model::message::{Attachment, Message, MessageContent};
use hazel_domain::model::text::{Name, Url};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::{from_db, from_db_opt, parse_id, parse_id_opt, stored_opaque, to_db, to_db_opt};

/// A row of `messages`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub channel_id: String,
    pub author_id: String,
    pub content: String,
    pub parent_message_id: Option<String>,
    pub attachments: String,
    pub created_at: TimeDateTimeWithTimeZone,
    pub edited_at: Option<TimeDateTimeWithTimeZone>,
    pub deleted_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// One element of the `attachments` JSON array.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredAttachment {
    url: String,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
}

impl Model {
    /// The domain message.
    pub(crate) fn into_domain(self) -> anyhow::Result<Message> {
        let message = || -> anyhow::Result<Message> {
            let stored: Vec<StoredAttachment> = serde_json::from_str(&self.attachments)
                .context("column attachments is not a JSON array of attachments")?;
            let attachments = stored
                .into_iter()
                .map(|a| {
                    Ok(Attachment {
                        url: Url::parse("attachments.url", &a.url)?,
                        name: Name::parse("attachments.name", &a.name)?,
                        content_type: a
                            .content_type
                            .as_deref()
                            .map(|t| stored_opaque("attachments.contentType", t))
                            .transpose()?,
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(Message {
                id: parse_id("id", &self.id)?,
                channel_id: parse_id("channel_id", &self.channel_id)?,
                author_id: parse_id("author_id", &self.author_id)?,
                content: MessageContent::parse("content", &self.content)?,
                parent_message_id: parse_id_opt(
                    "parent_message_id",
                    self.parent_message_id.as_deref(),
                )?,
                attachments,
                created_at: from_db(self.created_at),
                edited_at: from_db_opt(self.edited_at),
                deleted_at: from_db_opt(self.deleted_at),
            })
        };
        message().with_context(|| format!("unreadable messages row {}", self.id))
    }
}

/// The `attachments` column value of a message.
pub(crate) fn attachments_json(attachments: &[Attachment]) -> anyhow::Result<String> {
    let stored: Vec<StoredAttachment> = attachments
        .iter()
        .map(|a| StoredAttachment {
            url: a.url.as_str().to_owned(),
            name: a.name.as_str().to_owned(),
            content_type: a.content_type.as_ref().map(|t| t.as_str().to_owned()),
        })
        .collect();
    serde_json::to_string(&stored).context("encoding attachments")
}

impl TryFrom<&Message> for Model {
    type Error = anyhow::Error;

    fn try_from(message: &Message) -> anyhow::Result<Self> {
        Ok(Self {
            id: message.id.to_string(),
            channel_id: message.channel_id.to_string(),
            author_id: message.author_id.to_string(),
            content: message.content.as_str().to_owned(),
            parent_message_id: message.parent_message_id.map(|p| p.to_string()),
            attachments: attachments_json(&message.attachments)?,
            created_at: to_db(message.created_at),
            edited_at: to_db_opt(message.edited_at),
            deleted_at: to_db_opt(message.deleted_at),
        })
    }
}
