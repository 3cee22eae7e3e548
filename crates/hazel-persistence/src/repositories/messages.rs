//! Messages with their authors and reactions.

use std::collections::HashMap;

use anyhow::anyhow;
use async_trait::async_trait;
use hazel_domain::ids::{ChannelId, MemberId, MessageId};
use hazel_domain::model::identity::Member;
use hazel_domain::model::message::{Emoji, Message, MessageView, Reaction, ReactionSummary};
use hazel_domain::model::page::{Page, PageRequest};
use hazel_domain::ports::{MessageRepository, RepoError};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};

use super::{convert, convert_opt};
use crate::Database;
use crate::entity::{members, messages, reactions};
use crate::error::ReadResultExt as _;
use crate::page::{Order, page_of, to_page};

#[async_trait]
impl MessageRepository for Database {
    async fn find(&self, id: MessageId) -> Result<Option<Message>, RepoError> {
        let row = messages::Entity::find_by_id(id.to_string())
            .one(self.connection())
            .await
            .read("finding a message")?;
        convert_opt(row, messages::Model::into_domain)
    }

    async fn view(&self, id: MessageId) -> Result<Option<MessageView>, RepoError> {
        match MessageRepository::find(self, id).await? {
            Some(message) => Ok(self.views_of(vec![message]).await?.pop()),
            None => Ok(None),
        }
    }

    async fn list(
        &self,
        channel: ChannelId,
        page: &PageRequest,
    ) -> Result<Page<MessageView>, RepoError> {
        let select = messages::Entity::find()
            .filter(messages::Column::ChannelId.eq(channel.to_string()))
            .filter(messages::Column::DeletedAt.is_null());
        let rows = page_of(select, messages::Column::Id, Order::NewestFirst, page)
            .all(self.connection())
            .await
            .read("listing a channel's messages")?;
        let messages = to_page(convert(rows, messages::Model::into_domain)?, page, |m| {
            m.id.to_string()
        });
        Ok(Page {
            items: self.views_of(messages.items).await?,
            next_cursor: messages.next_cursor,
        })
    }

    async fn find_reaction(
        &self,
        message: MessageId,
        member: MemberId,
        emoji: &Emoji,
    ) -> Result<Option<Reaction>, RepoError> {
        let row = reactions::Entity::find()
            .filter(reactions::Column::MessageId.eq(message.to_string()))
            .filter(reactions::Column::MemberId.eq(member.to_string()))
            .filter(reactions::Column::Emoji.eq(emoji.as_str()))
            .one(self.connection())
            .await
            .read("finding a reaction")?;
        convert_opt(row, reactions::Model::into_domain)
    }
}

impl Database {
    /// The messages among `ids` (deleted ones included) with their authors and reactions:
    /// three queries whatever their number.
    pub(crate) async fn views_by_ids(
        &self,
        ids: &[MessageId],
    ) -> Result<Vec<MessageView>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = messages::Entity::find()
            .filter(messages::Column::Id.is_in(ids.iter().map(ToString::to_string)))
            .all(self.connection())
            .await
            .read("finding messages")?;
        self.views_of(convert(rows, messages::Model::into_domain)?)
            .await
    }

    /// Attaches authors and reactions to `messages`: two queries whatever their number.
    async fn views_of(&self, messages: Vec<Message>) -> Result<Vec<MessageView>, RepoError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut author_ids: Vec<String> =
            messages.iter().map(|m| m.author_id.to_string()).collect();
        author_ids.sort_unstable();
        author_ids.dedup();
        let author_rows = members::Entity::find()
            .filter(members::Column::Id.is_in(author_ids))
            .all(self.connection())
            .await
            .read("reading message authors")?;
        let authors: HashMap<MemberId, Member> = convert(author_rows, members::Model::into_domain)?
            .into_iter()
            .map(|member| (member.id, member))
            .collect();

        let message_ids = messages.iter().map(|m| m.id.to_string());
        let reaction_rows = reactions::Entity::find()
            .filter(reactions::Column::MessageId.is_in(message_ids))
            .all(self.connection())
            .await
            .read("reading reactions")?;
        let mut reactions: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
        for reaction in convert(reaction_rows, reactions::Model::into_domain)? {
            reactions
                .entry(reaction.message_id)
                .or_default()
                .push(reaction);
        }

        messages
            .into_iter()
            .map(|message| {
                let author = authors.get(&message.author_id).cloned().ok_or_else(|| {
                    RepoError::Unexpected(anyhow!(
                        "message {} has no author row {}",
                        message.id,
                        message.author_id
                    ))
                })?;
                let reactions = reactions
                    .get(&message.id)
                    .map_or_else(Vec::new, |r| ReactionSummary::summarize(r));
                Ok(MessageView {
                    message,
                    author,
                    reactions,
                })
            })
            .collect()
    }
}
