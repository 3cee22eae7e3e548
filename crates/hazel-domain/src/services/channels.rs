//! Channels.

use std::sync::Arc;

use super::{Caller, Mutation, membership, store_failure};
use crate::error::{MembershipError, ValidationError, unexpected_on_read_failure};
use crate::ids::{ChannelId, OrganizationId};
use crate::model::channel::{Channel, ChannelKind};
use crate::model::page::{Page, PageRequest};
use crate::model::text::Name;
use crate::ports::{Change, ChannelRepository, Clock, MemberRepository, Store};

/// Failures of [`ChannelService::create`].
#[derive(Debug, thiserror::Error)]
pub enum CreateChannelError {
    /// The organization does not exist or the caller is not a member.
    #[error("organization not found")]
    OrganizationNotFound,
    /// The thread's parent is unknown, elsewhere, or itself a thread (on `parentChannelId`).
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<MembershipError> for CreateChannelError {
    fn from(err: MembershipError) -> Self {
        match err {
            MembershipError::OrganizationNotFound => Self::OrganizationNotFound,
            MembershipError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

unexpected_on_read_failure!(CreateChannelError);

/// Channel use cases.
#[derive(Clone)]
pub struct ChannelService {
    members: Arc<dyn MemberRepository>,
    channels: Arc<dyn ChannelRepository>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl ChannelService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(
        members: Arc<dyn MemberRepository>,
        channels: Arc<dyn ChannelRepository>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            members,
            channels,
            store,
            clock,
        }
    }

    /// Creates a channel. A thread's parent must be a non-thread channel of the same organization.
    ///
    /// # Errors
    /// [`CreateChannelError::OrganizationNotFound`] when the caller is not a member;
    /// [`CreateChannelError::Validation`] on `parentChannelId` when the parent is unknown,
    /// elsewhere, or itself a thread.
    pub async fn create(
        &self,
        caller: &Caller,
        organization: OrganizationId,
        name: Name,
        kind: ChannelKind,
    ) -> Result<Mutation<Channel>, CreateChannelError> {
        membership(&self.members, organization, caller).await?;
        if let Some(parent) = kind.parent() {
            let parent = self
                .channels
                .find(parent)
                .await?
                .filter(|p| p.organization_id == organization)
                .ok_or_else(|| {
                    ValidationError::new("parentChannelId", "is not a channel of this organization")
                })?;
            if matches!(parent.kind, ChannelKind::Thread { .. }) {
                return Err(ValidationError::new(
                    "parentChannelId",
                    "must not be a thread channel",
                )
                .into());
            }
        }
        let channel = Channel {
            id: ChannelId::new(),
            organization_id: organization,
            name,
            kind,
            created_at: self.clock.now(),
        };
        let committed = self
            .store
            .commit(vec![Change::InsertChannel(channel.clone())].into())
            .await
            .map_err(store_failure)?;
        Ok(Mutation {
            data: channel,
            transaction_id: committed.transaction_id,
        })
    }

    /// Channels of an organization the caller belongs to.
    ///
    /// # Errors
    /// [`MembershipError::OrganizationNotFound`] when the caller is not a member.
    pub async fn list(
        &self,
        caller: &Caller,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<Channel>, MembershipError> {
        membership(&self.members, organization, caller).await?;
        Ok(self.channels.list(organization, page).await?)
    }
}

/// Why a channel cannot be reached by the caller: the failures of every use case that only
/// needs to see a channel (listing its messages).
#[derive(Debug, thiserror::Error)]
pub enum ChannelAccessError {
    /// The channel does not exist or belongs to an organization the caller is not a member of.
    #[error("channel not found")]
    ChannelNotFound,
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

unexpected_on_read_failure!(ChannelAccessError);

/// Finds a channel the caller may see: unknown and other organizations' channels are
/// [`ChannelAccessError::ChannelNotFound`].
pub(crate) async fn visible_channel(
    channels: &Arc<dyn ChannelRepository>,
    members: &Arc<dyn MemberRepository>,
    caller: &Caller,
    id: ChannelId,
) -> Result<(Channel, crate::model::identity::Member), ChannelAccessError> {
    let channel = channels
        .find(id)
        .await?
        .ok_or(ChannelAccessError::ChannelNotFound)?;
    let member = members
        .find_for_user(channel.organization_id, caller.user.id)
        .await?
        .ok_or(ChannelAccessError::ChannelNotFound)?;
    Ok((channel, member))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::identity::Role;
    use crate::ports::{MockChannelRepository, MockMemberRepository, MockStore};
    use crate::services::test_support::{at, caller, clock, committed, member_of, user};

    fn service(
        members: MockMemberRepository,
        channels: MockChannelRepository,
        store: MockStore,
    ) -> ChannelService {
        ChannelService::new(
            Arc::new(members),
            Arc::new(channels),
            Arc::new(store),
            Arc::new(clock()),
        )
    }

    #[tokio::test]
    async fn thread_parent_must_belong_to_the_same_organization() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let mut members = MockMemberRepository::new();
        let m = member_of(&ada, org, Role::Member);
        members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        let mut channels = MockChannelRepository::new();
        channels.expect_find().returning(|id| {
            Ok(Some(Channel {
                id,
                organization_id: OrganizationId::new(),
                name: Name::parse("n", "elsewhere").unwrap(),
                kind: ChannelKind::Public,
                created_at: at(),
            }))
        });
        let mut store = MockStore::new();
        store.expect_commit().never();
        let err = service(members, channels, store)
            .create(
                &caller(&ada),
                org,
                Name::parse("name", "t").unwrap(),
                ChannelKind::Thread {
                    parent: ChannelId::new(),
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CreateChannelError::Validation(v) if v.field() == "parentChannelId"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn members_create_channels() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let mut members = MockMemberRepository::new();
        let m = member_of(&ada, org, Role::Member);
        members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        let mut store = MockStore::new();
        store
            .expect_commit()
            .withf(move |c| matches!(c.as_slice(), [Change::InsertChannel(ch)] if ch.organization_id == org))
            .returning(|c| Ok(committed(c.len())));
        let made = service(members, MockChannelRepository::new(), store)
            .create(
                &caller(&ada),
                org,
                Name::parse("name", "general").unwrap(),
                ChannelKind::Public,
            )
            .await
            .unwrap();
        assert_eq!(made.data.name.as_str(), "general");
    }
}
