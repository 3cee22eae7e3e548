//! Messages and reactions.

use hazel_domain::ValidationError;
use hazel_domain::ids::{ChannelId, MessageId};
use hazel_domain::model::message::{self as message_model, Emoji, MessageContent};
use hazel_domain::model::text::{Name, Opaque, Url};
use hazel_domain::services::channels::ChannelAccessError;
use hazel_domain::services::messages::{
    DeleteMessageError, EditMessageError, MessageAccessError, NewMessage, PostMessageError,
    RemoveReactionError,
};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::{ApiTags, answer, page_request};
use crate::ApiState;
use crate::auth::BearerAuth;
use crate::error::{ApiError, Resource};
use crate::model::{Deleted, Message, Mutation, Page};
use crate::payload::ApiJson;
use crate::responses::api_response;
use crate::text::{
    CursorText, EmojiRule, MessageTextRule, NameText, OpaqueText, Text, UrlRule, UuidText,
};

/// Longest accepted attachment content type, in characters.
const MAX_CONTENT_TYPE_CHARS: usize = 255;

/// Input of `messageCreate`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct CreateMessage {
    /// Text in Hazel Markdown (at most 40 000 characters); may be empty only with attachments.
    /// Mentions are `@[member:<memberId>]`, `@channel` and `@here`.
    content: Text<MessageTextRule>,
    /// The message this one replies to (a live message of the same channel).
    parent_message_id: Option<UuidText>,
    /// Files carried as links (at most 20).
    #[oai(validator(max_items = 20))]
    attachments: Option<Vec<AttachmentInput>>,
}

impl CreateMessage {
    fn into_domain(self) -> Result<NewMessage, ValidationError> {
        let attachments = self
            .attachments
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, a)| attachment(i, &a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NewMessage {
            content: MessageContent::parse("content", &self.content)?,
            parent_message_id: self
                .parent_message_id
                .as_deref()
                .map(|id| MessageId::parse("parentMessageId", id))
                .transpose()?,
            attachments,
        })
    }
}

fn attachment(
    index: usize,
    input: &AttachmentInput,
) -> Result<message_model::Attachment, ValidationError> {
    let field = |name: &str| format!("attachments[{index}].{name}");
    Ok(message_model::Attachment {
        url: Url::parse(&field("url"), &input.url)?,
        name: Name::parse(&field("name"), &input.name)?,
        content_type: input
            .content_type
            .as_deref()
            .map(|t| Opaque::parse(&field("contentType"), t, MAX_CONTENT_TYPE_CHARS))
            .transpose()?,
    })
}

/// A file carried as a link, as given by a client.
#[derive(Object, Deserialize)]
#[oai(
    rename = "AttachmentInput",
    rename_all = "camelCase",
    deny_unknown_fields
)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct AttachmentInput {
    /// Absolute http(s) URL of the file (at most 2048 characters).
    url: Text<UrlRule>,
    /// File name (1-200 characters).
    name: NameText,
    /// MIME type, when known (at most 255 characters).
    content_type: Option<OpaqueText>,
}

/// Input of `messageUpdate`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct UpdateMessage {
    /// The new text in Hazel Markdown (at most 40 000 characters). It may be blank only when
    /// the message has attachments; otherwise the answer is a 400 naming `content`.
    content: Text<MessageTextRule>,
}

/// Input of `messageReactionCreate`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct CreateReaction {
    /// A Unicode emoji or a `:short_name:`.
    emoji: Text<EmojiRule>,
}

api_response! {
    /// Answers of `messageCreate`.
    CreateMessageResponse {
        /// The message was posted.
        #[oai(status = 201)]
        Created(Json<Box<Mutation<Message>>>),
    }
    errors [BadRequest, Unauthorized, NotFound, UnsupportedMediaType, Internal]
    from PostMessageError {
        PostMessageError::ChannelNotFound => NotFound(ApiError::not_found(Resource::Channel)),
        PostMessageError::Validation(invalid) => BadRequest(invalid.into()),
        PostMessageError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `messageList`.
    ListMessagesResponse {
        /// The channel's messages, newest first; deleted messages are left out.
        #[oai(status = 200)]
        Ok(Json<Page<Message>>),
    }
    errors [BadRequest, Unauthorized, NotFound, Internal]
    from ChannelAccessError {
        ChannelAccessError::ChannelNotFound => NotFound(ApiError::not_found(Resource::Channel)),
        ChannelAccessError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `messageUpdate`.
    UpdateMessageResponse {
        /// The message's text was replaced.
        #[oai(status = 200)]
        Ok(Json<Box<Mutation<Message>>>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, UnsupportedMediaType, Internal]
    from EditMessageError {
        EditMessageError::MessageNotFound => NotFound(ApiError::not_found(Resource::Message)),
        EditMessageError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        EditMessageError::Validation(invalid) => BadRequest(invalid.into()),
        EditMessageError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `messageDelete`.
    DeleteMessageResponse {
        /// The message was deleted.
        #[oai(status = 200)]
        Ok(Json<Deleted>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, Internal]
    from DeleteMessageError {
        DeleteMessageError::MessageNotFound => NotFound(ApiError::not_found(Resource::Message)),
        DeleteMessageError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        DeleteMessageError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `messageReactionCreate`.
    CreateReactionResponse {
        /// The caller's reaction is on the message (adding it twice changes nothing).
        #[oai(status = 201)]
        Created(Json<Box<Mutation<Message>>>),
    }
    errors [BadRequest, Unauthorized, NotFound, UnsupportedMediaType, Internal]
    from MessageAccessError {
        MessageAccessError::MessageNotFound => NotFound(ApiError::not_found(Resource::Message)),
        MessageAccessError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `messageReactionDelete`.
    DeleteReactionResponse {
        /// The caller's reaction was removed.
        #[oai(status = 200)]
        Ok(Json<Deleted>),
    }
    errors [BadRequest, Unauthorized, NotFound, Internal]
    from RemoveReactionError {
        RemoveReactionError::MessageNotFound => NotFound(ApiError::not_found(Resource::Message)),
        RemoveReactionError::ReactionNotFound => NotFound(ApiError::not_found(Resource::Reaction)),
        RemoveReactionError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

/// Messages and reactions.
pub(crate) struct MessagesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Messages")]
impl MessagesApi {
    /// Post a message
    ///
    /// Posts as the caller's member in the channel's organization. Mentioned members, everyone
    /// on `@channel`/`@here`, and the author of the parent message are notified.
    #[oai(
        path = "/channels/:channelId/messages",
        method = "post",
        operation_id = "messageCreate"
    )]
    #[tracing::instrument(name = "messageCreate", skip_all, fields(channel_id = %channel_id.0))]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The channel.
        #[oai(name = "channelId")]
        channel_id: Path<UuidText>,
        body: ApiJson<CreateMessage>,
    ) -> CreateMessageResponse {
        answer(
            async {
                let channel = ChannelId::parse("channelId", &channel_id.0)?;
                let new = body.0.into_domain()?;
                let posted = state.messages.post(&auth.0, channel, new).await?;
                Ok(CreateMessageResponse::Created(Json(Box::new(
                    Mutation::new(posted.data.into(), posted.transaction_id),
                ))))
            }
            .await,
        )
    }

    /// List the messages of a channel
    ///
    /// Newest first. Messages synced in from a chat platform show the external author in
    /// `author.externalProvider`, `externalAuthorName` and `externalAuthorAvatarUrl`.
    #[oai(
        path = "/channels/:channelId/messages",
        method = "get",
        operation_id = "messageList"
    )]
    #[tracing::instrument(name = "messageList", skip_all, fields(channel_id = %channel_id.0))]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The channel.
        #[oai(name = "channelId")]
        channel_id: Path<UuidText>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<CursorText>>,
    ) -> ListMessagesResponse {
        answer(
            async {
                let channel = ChannelId::parse("channelId", &channel_id.0)?;
                let page = page_request(limit.0, cursor.0.as_deref())?;
                let found = state.messages.list(&auth.0, channel, &page).await?;
                Ok(ListMessagesResponse::Ok(Json(Page::from_domain(
                    found,
                    Message::from,
                ))))
            }
            .await,
        )
    }

    /// Edit a message
    ///
    /// Only its author may. Members newly mentioned by the new text are notified.
    #[oai(
        path = "/messages/:messageId",
        method = "patch",
        operation_id = "messageUpdate"
    )]
    #[tracing::instrument(name = "messageUpdate", skip_all, fields(message_id = %message_id.0))]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The message.
        #[oai(name = "messageId")]
        message_id: Path<UuidText>,
        body: ApiJson<UpdateMessage>,
    ) -> UpdateMessageResponse {
        answer(
            async {
                let message = MessageId::parse("messageId", &message_id.0)?;
                let content = MessageContent::parse("content", &body.0.content)?;
                let edited = state.messages.edit(&auth.0, message, content).await?;
                Ok(UpdateMessageResponse::Ok(Json(Box::new(Mutation::new(
                    edited.data.into(),
                    edited.transaction_id,
                )))))
            }
            .await,
        )
    }

    /// Delete a message
    ///
    /// A soft delete; its author and the organization's owners and admins may.
    #[oai(
        path = "/messages/:messageId",
        method = "delete",
        operation_id = "messageDelete"
    )]
    #[tracing::instrument(name = "messageDelete", skip_all, fields(message_id = %message_id.0))]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The message.
        #[oai(name = "messageId")]
        message_id: Path<UuidText>,
    ) -> DeleteMessageResponse {
        answer(
            async {
                let message = MessageId::parse("messageId", &message_id.0)?;
                let transaction = state.messages.delete(&auth.0, message).await?;
                Ok(DeleteMessageResponse::Ok(Json(Deleted::new(transaction))))
            }
            .await,
        )
    }

    /// React to a message
    ///
    /// Adds the caller's reaction; the message's author is notified.
    #[oai(
        path = "/messages/:messageId/reactions",
        method = "post",
        operation_id = "messageReactionCreate"
    )]
    #[tracing::instrument(name = "messageReactionCreate", skip_all, fields(message_id = %message_id.0))]
    async fn add_reaction(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The message.
        #[oai(name = "messageId")]
        message_id: Path<UuidText>,
        body: ApiJson<CreateReaction>,
    ) -> CreateReactionResponse {
        answer(
            async {
                let message = MessageId::parse("messageId", &message_id.0)?;
                let emoji = Emoji::parse("emoji", &body.0.emoji)?;
                let reacted = state.messages.add_reaction(&auth.0, message, emoji).await?;
                Ok(CreateReactionResponse::Created(Json(Box::new(
                    Mutation::new(reacted.data.into(), reacted.transaction_id),
                ))))
            }
            .await,
        )
    }

    /// Remove a reaction
    ///
    /// Removes the caller's reaction with this emoji (URL-encoded), and its notification.
    #[oai(
        path = "/messages/:messageId/reactions/:emoji",
        method = "delete",
        operation_id = "messageReactionDelete"
    )]
    #[tracing::instrument(name = "messageReactionDelete", skip_all, fields(message_id = %message_id.0))]
    async fn remove_reaction(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The message.
        #[oai(name = "messageId")]
        message_id: Path<UuidText>,
        /// The emoji, URL-encoded.
        emoji: Path<Text<EmojiRule>>,
    ) -> DeleteReactionResponse {
        answer(
            async {
                let message = MessageId::parse("messageId", &message_id.0)?;
                let emoji = Emoji::parse("emoji", &emoji.0)?;
                let transaction = state
                    .messages
                    .remove_reaction(&auth.0, message, &emoji)
                    .await?;
                Ok(DeleteReactionResponse::Ok(Json(Deleted::new(transaction))))
            }
            .await,
        )
    }
}
