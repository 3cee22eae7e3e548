//! Notifications: the policy of who may read, change and delete them.

use std::sync::Arc;

use super::{Caller, Mutation, gone_unless_applied, store_failure};
use crate::error::{MembershipError, ValidationError, unexpected_on_read_failure};
use crate::ids::{ChannelId, MemberId, MessageId, NotificationId, OrganizationId, TransactionId};
use crate::model::notification::Notification;
use crate::model::page::{Page, PageRequest};
use crate::model::text::Opaque;
use crate::model::{Timestamp, normalize};
use crate::ports::{
    Change, Changeset, ChannelRepository, Clock, MemberRepository, NotificationFilter,
    NotificationRepository, Store,
};

/// Most message ids one `deleteByMessageIds` call accepts.
pub const MAX_MESSAGE_IDS: usize = 1_000;

/// Failures of [`NotificationService::create`].
#[derive(Debug, thiserror::Error)]
pub enum CreateNotificationError {
    /// The member does not exist or belongs to an organization the caller is not a member of.
    #[error("member not found")]
    MemberNotFound,
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`NotificationService::set_read`] and [`NotificationService::delete`].
#[derive(Debug, thiserror::Error)]
pub enum ManageNotificationError {
    /// The notification does not exist (also when deleted while the request is under way) or
    /// belongs to an organization the caller is not a member of.
    #[error("notification not found")]
    NotificationNotFound,
    /// The caller is neither its owner nor an owner or admin of its organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`NotificationService::delete_by_message_ids`].
#[derive(Debug, thiserror::Error)]
pub enum DeleteByMessageIdsError {
    /// The channel does not exist.
    #[error("channel not found")]
    ChannelNotFound,
    /// The caller is not a member of the channel's organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Too many message ids (on `messageIds`).
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

unexpected_on_read_failure!(
    CreateNotificationError,
    ManageNotificationError,
    DeleteByMessageIdsError,
);

/// Input of [`NotificationService::create`].
#[derive(Clone, Debug)]
pub struct NewNotification {
    /// The member to notify.
    pub member_id: MemberId,
    /// What it points at.
    pub targeted_resource_id: Option<Opaque>,
    /// The kind of target.
    pub targeted_resource_type: Option<Opaque>,
    /// Where the target lives.
    pub resource_id: Option<Opaque>,
    /// The kind of resource.
    pub resource_type: Option<Opaque>,
}

/// The outcome of [`NotificationService::delete_by_message_ids`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeletedCount {
    /// How many notifications were deleted.
    pub deleted_count: u64,
    /// The transaction.
    pub transaction_id: TransactionId,
}

/// Notification use cases.
#[derive(Clone)]
pub struct NotificationService {
    members: Arc<dyn MemberRepository>,
    channels: Arc<dyn ChannelRepository>,
    notifications: Arc<dyn NotificationRepository>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl NotificationService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(
        members: Arc<dyn MemberRepository>,
        channels: Arc<dyn ChannelRepository>,
        notifications: Arc<dyn NotificationRepository>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            members,
            channels,
            notifications,
            store,
            clock,
        }
    }

    /// Creates a notification for a member of an organization the caller belongs to.
    ///
    /// # Errors
    /// [`CreateNotificationError::MemberNotFound`] for an unknown member and for a member of an
    /// organization the caller does not belong to: other organizations' members do not exist
    /// for the caller, so the answer reveals nothing about them.
    pub async fn create(
        &self,
        caller: &Caller,
        new: NewNotification,
    ) -> Result<Mutation<Notification>, CreateNotificationError> {
        let target = self
            .members
            .find(new.member_id)
            .await?
            .ok_or(CreateNotificationError::MemberNotFound)?;
        if self
            .members
            .find_for_user(target.organization_id, caller.user.id)
            .await?
            .is_none()
        {
            return Err(CreateNotificationError::MemberNotFound);
        }
        let notification = Notification {
            id: NotificationId::new(),
            member_id: target.id,
            organization_id: target.organization_id,
            targeted_resource_id: new.targeted_resource_id,
            targeted_resource_type: new.targeted_resource_type,
            resource_id: new.resource_id,
            resource_type: new.resource_type,
            dedupe_key: None,
            created_at: self.clock.now(),
            read_at: None,
        };
        let committed = self
            .store
            .commit(vec![Change::InsertNotification(notification.clone())].into())
            .await
            .map_err(store_failure)?;
        Ok(Mutation {
            data: notification,
            transaction_id: committed.transaction_id,
        })
    }

    /// The caller's own notifications, optionally of one organization and only unread ones.
    ///
    /// # Errors
    /// [`MembershipError::OrganizationNotFound`] when `organization` is given and the caller is
    /// not a member.
    pub async fn list(
        &self,
        caller: &Caller,
        organization: Option<OrganizationId>,
        unread_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Notification>, MembershipError> {
        let member_ids: Vec<MemberId> = match organization {
            // One organization: the caller's membership of it (a lookup the store may answer
            // from memory), not the list of all their memberships.
            Some(organization) => match self
                .members
                .find_for_user(organization, caller.user.id)
                .await?
            {
                Some(member) => vec![member.id],
                None => return Err(MembershipError::OrganizationNotFound),
            },
            None => self
                .members
                .memberships(caller.user.id)
                .await?
                .iter()
                .map(|m| m.id)
                .collect(),
        };
        let filter = NotificationFilter {
            member_ids,
            unread_only,
        };
        Ok(self.notifications.list(&filter, page).await?)
    }

    /// A notification the caller may change: their own, or any in an organization they
    /// administer. Other organizations' notifications do not exist for the caller.
    async fn manageable(
        &self,
        caller: &Caller,
        id: NotificationId,
    ) -> Result<Notification, ManageNotificationError> {
        let not_found = ManageNotificationError::NotificationNotFound;
        let Some(notification) = self.notifications.find(id).await? else {
            return Err(not_found);
        };
        let Some(member) = self
            .members
            .find_for_user(notification.organization_id, caller.user.id)
            .await?
        else {
            return Err(not_found);
        };
        if member.id == notification.member_id || member.role.is_admin() {
            Ok(notification)
        } else {
            Err(ManageNotificationError::Forbidden(
                "only the notification's owner or an owner/admin of its organization may change it"
                    .to_owned(),
            ))
        }
    }

    /// Marks a notification read at `read_at`, or unread with `None`. The time is stored and
    /// answered [normalized](normalize) (UTC, microseconds), whatever offset and precision the
    /// client sent.
    ///
    /// # Errors
    /// [`ManageNotificationError::NotificationNotFound`] for unknown or invisible notifications,
    /// also when it is deleted while this request is under way;
    /// [`ManageNotificationError::Forbidden`] for other members of the organization.
    pub async fn set_read(
        &self,
        caller: &Caller,
        id: NotificationId,
        read_at: Option<Timestamp>,
    ) -> Result<Mutation<Notification>, ManageNotificationError> {
        let read_at = read_at.map(normalize);
        let mut notification = self.manageable(caller, id).await?;
        notification.read_at = read_at;
        let committed = self
            .store
            .commit(Changeset::new().with(Change::SetNotificationRead { id, read_at }.expect_one()))
            .await
            .map_err(gone_unless_applied(
                0,
                ManageNotificationError::NotificationNotFound,
            ))?;
        Ok(Mutation {
            data: notification,
            transaction_id: committed.transaction_id,
        })
    }

    /// Deletes a notification.
    ///
    /// # Errors
    /// As [`NotificationService::set_read`]; a concurrent delete that wins makes this one
    /// [`ManageNotificationError::NotificationNotFound`].
    pub async fn delete(
        &self,
        caller: &Caller,
        id: NotificationId,
    ) -> Result<TransactionId, ManageNotificationError> {
        self.manageable(caller, id).await?;
        let committed = self
            .store
            .commit(Changeset::new().with(Change::DeleteNotification(id).expect_one()))
            .await
            .map_err(gone_unless_applied(
                0,
                ManageNotificationError::NotificationNotFound,
            ))?;
        Ok(committed.transaction_id)
    }

    /// Deletes the caller's notifications about any of `message_ids`.
    ///
    /// # Errors
    /// [`DeleteByMessageIdsError::ChannelNotFound`] for an unknown channel;
    /// [`DeleteByMessageIdsError::Forbidden`] when the caller is not a member of the channel's
    /// organization; [`DeleteByMessageIdsError::Validation`] on `messageIds` when more than
    /// [`MAX_MESSAGE_IDS`] are given.
    pub async fn delete_by_message_ids(
        &self,
        caller: &Caller,
        channel_id: ChannelId,
        message_ids: Vec<MessageId>,
    ) -> Result<DeletedCount, DeleteByMessageIdsError> {
        if message_ids.len() > MAX_MESSAGE_IDS {
            return Err(ValidationError::new(
                "messageIds",
                format!("must have at most {MAX_MESSAGE_IDS} items"),
            )
            .into());
        }
        let channel = self
            .channels
            .find(channel_id)
            .await?
            .ok_or(DeleteByMessageIdsError::ChannelNotFound)?;
        let member = self
            .members
            .find_for_user(channel.organization_id, caller.user.id)
            .await?
            .ok_or_else(|| {
                DeleteByMessageIdsError::Forbidden(
                    "the caller must be a member of the channel's organization".to_owned(),
                )
            })?;
        let committed = self
            .store
            .commit(
                vec![Change::DeleteMessageNotifications {
                    member_id: member.id,
                    message_ids,
                }]
                .into(),
            )
            .await
            .map_err(store_failure)?;
        Ok(DeletedCount {
            deleted_count: committed.affected(0),
            transaction_id: committed.transaction_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::identity::{Member, Role};
    use crate::ports::{
        ChangeOutcome, Committed, MockChannelRepository, MockMemberRepository,
        MockNotificationRepository, MockStore,
    };
    use crate::services::test_support::{
        at, caller, clock, committed, matched_nothing, member_of, user,
    };

    fn notification_for(member: &Member) -> Notification {
        Notification {
            id: NotificationId::new(),
            member_id: member.id,
            organization_id: member.organization_id,
            targeted_resource_id: None,
            targeted_resource_type: None,
            resource_id: None,
            resource_type: None,
            dedupe_key: None,
            created_at: at(),
            read_at: None,
        }
    }

    /// The policy matrix: who may mark someone's notification read.
    #[tokio::test]
    async fn policy_matrix_for_changing_a_notification() {
        let org = OrganizationId::new();
        let owner_user = user("owner");
        let owner_member = member_of(&owner_user, org, Role::Member);
        let note = notification_for(&owner_member);
        let cases: Vec<(&str, Option<Role>, bool, Option<&str>)> = vec![
            ("the notification's owner", None, true, None),
            ("an org owner", Some(Role::Owner), false, None),
            ("an org admin", Some(Role::Admin), false, None),
            (
                "another member",
                Some(Role::Member),
                false,
                Some("forbidden"),
            ),
            ("another organization", None, false, Some("not found")),
        ];
        for (who, role, is_owner, expected_error) in cases {
            let actor = user("actor");
            let acting_member = if is_owner {
                Some(owner_member.clone())
            } else {
                role.map(|r| member_of(&actor, org, r))
            };
            let mut members = MockMemberRepository::new();
            members
                .expect_find_for_user()
                .returning(move |_, _| Ok(acting_member.clone()));
            let mut notifications = MockNotificationRepository::new();
            let n = note.clone();
            notifications
                .expect_find()
                .returning(move |_| Ok(Some(n.clone())));
            let mut store = MockStore::new();
            let allowed = expected_error.is_none();
            store
                .expect_commit()
                .times(usize::from(allowed))
                .returning(|c| Ok(committed(c.len())));
            let service = NotificationService::new(
                Arc::new(members),
                Arc::new(MockChannelRepository::new()),
                Arc::new(notifications),
                Arc::new(store),
                Arc::new(clock()),
            );
            let result = service.set_read(&caller(&actor), note.id, Some(at())).await;
            match (expected_error, result) {
                (None, Ok(m)) => assert_eq!(m.data.read_at, Some(at()), "{who}"),
                (Some("forbidden"), Err(ManageNotificationError::Forbidden(_))) => {}
                (Some("not found"), Err(ManageNotificationError::NotificationNotFound)) => {}
                (expected, got) => panic!("{who}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[tokio::test]
    async fn delete_by_message_ids_requires_membership_of_the_channel_organization() {
        let mut channels = MockChannelRepository::new();
        channels.expect_find().returning(|id| {
            Ok(Some(crate::model::channel::Channel {
                id,
                organization_id: OrganizationId::new(),
                name: crate::model::text::Name::parse("n", "c").unwrap(),
                kind: crate::model::channel::ChannelKind::Public,
                created_at: at(),
            }))
        });
        let mut members = MockMemberRepository::new();
        members.expect_find_for_user().returning(|_, _| Ok(None));
        let mut store = MockStore::new();
        store.expect_commit().never();
        let service = NotificationService::new(
            Arc::new(members),
            Arc::new(channels),
            Arc::new(MockNotificationRepository::new()),
            Arc::new(store),
            Arc::new(clock()),
        );
        let err = service
            .delete_by_message_ids(
                &caller(&user("eve")),
                ChannelId::new(),
                vec![MessageId::new()],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, DeleteByMessageIdsError::Forbidden(_)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn delete_by_message_ids_targets_only_the_callers_member() {
        let org = OrganizationId::new();
        let ada = user("ada");
        let ada_m = member_of(&ada, org, Role::Admin);
        let ada_id = ada_m.id;
        let mut channels = MockChannelRepository::new();
        channels.expect_find().returning(move |id| {
            Ok(Some(crate::model::channel::Channel {
                id,
                organization_id: org,
                name: crate::model::text::Name::parse("n", "c").unwrap(),
                kind: crate::model::channel::ChannelKind::Public,
                created_at: at(),
            }))
        });
        let mut members = MockMemberRepository::new();
        members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(ada_m.clone())));
        let mut store = MockStore::new();
        store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::DeleteMessageNotifications { member_id, message_ids }]
                    if member_id == &ada_id && message_ids.len() == 2)
            })
            .returning(|_| {
                Ok(Committed {
                    transaction_id: TransactionId::new(3),
                    outcomes: vec![ChangeOutcome::Affected(2)],
                })
            });
        let service = NotificationService::new(
            Arc::new(members),
            Arc::new(channels),
            Arc::new(MockNotificationRepository::new()),
            Arc::new(store),
            Arc::new(clock()),
        );
        let out = service
            .delete_by_message_ids(
                &caller(&ada),
                ChannelId::new(),
                vec![MessageId::new(), MessageId::new()],
            )
            .await
            .unwrap();
        assert_eq!(out.deleted_count, 2);
    }

    /// A service where the caller owns `note` (through `owner`), committing through `store`.
    fn service_for_owner(
        owner: &Member,
        note: &Notification,
        store: MockStore,
    ) -> NotificationService {
        let mut members = MockMemberRepository::new();
        let m = owner.clone();
        members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        let mut notifications = MockNotificationRepository::new();
        let n = note.clone();
        notifications
            .expect_find()
            .returning(move |_| Ok(Some(n.clone())));
        NotificationService::new(
            Arc::new(members),
            Arc::new(MockChannelRepository::new()),
            Arc::new(notifications),
            Arc::new(store),
            Arc::new(clock()),
        )
    }

    #[tokio::test]
    async fn a_read_time_is_stored_and_answered_in_utc_microseconds() {
        let ada = user("ada");
        let owner = member_of(&ada, OrganizationId::new(), Role::Member);
        let note = notification_for(&owner);
        let sent = time::macros::datetime!(2026-01-02 03:04:05.123456789 +02:00);
        let normalized = time::macros::datetime!(2026-01-02 01:04:05.123456 UTC);
        let is_normalized = move |t: &Timestamp| {
            *t == normalized && t.offset() == time::UtcOffset::UTC && t.nanosecond() == 123_456_000
        };
        let mut store = MockStore::new();
        store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::SetNotificationRead { read_at: Some(t), .. }]
                    if is_normalized(t))
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let answered = service_for_owner(&owner, &note, store)
            .set_read(&caller(&ada), note.id, Some(sent))
            .await
            .unwrap();
        let read_at = answered.data.read_at.unwrap();
        assert!(is_normalized(&read_at), "{read_at}");
    }

    #[tokio::test]
    async fn changing_or_deleting_a_notification_deleted_meanwhile_is_not_found() {
        let ada = user("ada");
        let owner = member_of(&ada, OrganizationId::new(), Role::Member);
        let note = notification_for(&owner);
        for delete in [false, true] {
            let mut store = MockStore::new();
            store
                .expect_commit()
                .times(1)
                .returning(|_| Err(matched_nothing(0)));
            let service = service_for_owner(&owner, &note, store);
            let result = if delete {
                service.delete(&caller(&ada), note.id).await.map(|_| ())
            } else {
                service
                    .set_read(&caller(&ada), note.id, Some(at()))
                    .await
                    .map(|_| ())
            };
            assert!(
                matches!(result, Err(ManageNotificationError::NotificationNotFound)),
                "delete: {delete}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn notifying_a_member_of_another_organization_looks_like_an_unknown_member() {
        let eve = user("eve");
        let target = member_of(&user("bob"), OrganizationId::new(), Role::Member);
        let target_id = target.id;
        let mut members = MockMemberRepository::new();
        members
            .expect_find()
            .returning(move |_| Ok(Some(target.clone())));
        // Eve belongs to no organization of the target.
        members.expect_find_for_user().returning(|_, _| Ok(None));
        let mut store = MockStore::new();
        store.expect_commit().never();
        let service = NotificationService::new(
            Arc::new(members),
            Arc::new(MockChannelRepository::new()),
            Arc::new(MockNotificationRepository::new()),
            Arc::new(store),
            Arc::new(clock()),
        );
        let err = service
            .create(
                &caller(&eve),
                NewNotification {
                    member_id: target_id,
                    targeted_resource_id: None,
                    targeted_resource_type: None,
                    resource_id: None,
                    resource_type: None,
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, CreateNotificationError::MemberNotFound),
            "{err:?}"
        );
    }
}
