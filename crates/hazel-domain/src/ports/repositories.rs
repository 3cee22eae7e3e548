//! The read side: one repository port per aggregate. Reads never see soft-deleted rows unless
//! a method says so.

use async_trait::async_trait;

use crate::ids::{
    ChannelId, ChannelLinkId, MemberId, MessageId, NotificationId, OrganizationId,
    SyncConnectionId, UserId,
};
use crate::model::channel::Channel;
use crate::model::chat_sync::{ChannelLink, ExternalWorkspaceId, Provider, SyncConnection};
use crate::model::identity::{Member, MemberProfile, Organization, TokenHash, User};
use crate::model::message::{Message, MessageView};
use crate::model::notification::Notification;
use crate::model::page::{Page, PageRequest};
use crate::model::text::Email;

/// A failed read. Reads have no expected failures: a missing row is `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The database failed or returned a row that does not parse.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Users and their tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// The user with this email.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// The user holding the token with this hash.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find_by_token(&self, hash: &TokenHash) -> Result<Option<User>, RepoError>;
}

/// Organizations.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrganizationRepository: Send + Sync {
    /// One organization.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find(&self, id: OrganizationId) -> Result<Option<Organization>, RepoError>;

    /// The organizations `user` is a member of, oldest first.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn list_for_user(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<Organization>, RepoError>;
}

/// Members.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MemberRepository: Send + Sync {
    /// One member.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find(&self, id: MemberId) -> Result<Option<Member>, RepoError>;

    /// `user`'s membership in `organization`.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find_for_user(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<Member>, RepoError>;

    /// The members of `organization` among `ids`, in one query; unknown ids and members of
    /// other organizations are left out.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find_many(
        &self,
        organization: OrganizationId,
        ids: &[MemberId],
    ) -> Result<Vec<Member>, RepoError>;

    /// All of `user`'s memberships.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn memberships(&self, user: UserId) -> Result<Vec<Member>, RepoError>;

    /// Members of an organization with their emails, oldest first.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn list(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<MemberProfile>, RepoError>;

    /// Every native (non-shadow) member of an organization, for `@channel`/`@here`.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn list_native(&self, organization: OrganizationId) -> Result<Vec<Member>, RepoError>;
}

/// Channels.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChannelRepository: Send + Sync {
    /// One channel.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find(&self, id: ChannelId) -> Result<Option<Channel>, RepoError>;

    /// Channels of an organization, oldest first.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn list(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<Channel>, RepoError>;
}

/// Messages and their reactions.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MessageRepository: Send + Sync {
    /// One message, deleted or not.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find(&self, id: MessageId) -> Result<Option<Message>, RepoError>;

    /// One message with its author and reactions, deleted or not.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn view(&self, id: MessageId) -> Result<Option<MessageView>, RepoError>;

    /// Messages of a channel that are not deleted, newest first.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn list(
        &self,
        channel: ChannelId,
        page: &PageRequest,
    ) -> Result<Page<MessageView>, RepoError>;

    /// `member`'s reaction with `emoji` on `message`.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find_reaction(
        &self,
        message: MessageId,
        member: MemberId,
        emoji: &crate::model::message::Emoji,
    ) -> Result<Option<crate::model::message::Reaction>, RepoError>;
}

/// Which notifications to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationFilter {
    /// Notifications of these members.
    pub member_ids: Vec<MemberId>,
    /// Only those not yet read.
    pub unread_only: bool,
}

/// Notifications.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait NotificationRepository: Send + Sync {
    /// One notification.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find(&self, id: NotificationId) -> Result<Option<Notification>, RepoError>;

    /// Notifications matching `filter`, newest first.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn list(
        &self,
        filter: &NotificationFilter,
        page: &PageRequest,
    ) -> Result<Page<Notification>, RepoError>;
}

/// A connection with the figures answered alongside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionView {
    /// The connection.
    pub connection: SyncConnection,
    /// Number of active, live channel links.
    pub channel_count: u64,
}

/// Live (not deleted) chat-sync connections.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ConnectionRepository: Send + Sync {
    /// One live connection.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find(&self, id: SyncConnectionId) -> Result<Option<ConnectionView>, RepoError>;

    /// The live connection of an organization to a workspace.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find_by_workspace(
        &self,
        organization: OrganizationId,
        provider: Provider,
        workspace: &ExternalWorkspaceId,
    ) -> Result<Option<SyncConnection>, RepoError>;

    /// Live connections of an organization, oldest first.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn list(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<ConnectionView>, RepoError>;
}

/// Live (not deleted) channel links.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChannelLinkRepository: Send + Sync {
    /// One live link.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find(&self, id: ChannelLinkId) -> Result<Option<ChannelLink>, RepoError>;

    /// Live links of a connection, oldest first.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn list(
        &self,
        connection: SyncConnectionId,
        page: &PageRequest,
    ) -> Result<Page<ChannelLink>, RepoError>;

    /// Every live link of a connection, active or not.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn list_all(&self, connection: SyncConnectionId) -> Result<Vec<ChannelLink>, RepoError>;
}
