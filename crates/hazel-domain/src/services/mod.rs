//! Use cases. Each service reads through repository ports, applies the policy rules, and
//! commits one changeset through the [`Store`](crate::ports::Store).

pub mod channels;
pub mod chat_sync;
pub mod identity;
pub mod messages;
pub mod notifications;
pub mod sessions;
pub mod sync;

use std::sync::Arc;

use crate::error::{AdminError, MembershipError};
use crate::ids::{OrganizationId, TransactionId};
use crate::model::identity::{Member, User};
use crate::ports::{MemberRepository, StoreError};

/// Every use case of the domain, wired to its ports. The application builds one value and
/// hands it to each driver: the HTTP adapter answers requests with it, and background workers
/// draw from the same services, so no use case belongs to one transport.
#[derive(Clone)]
pub struct Services {
    /// Authentication, organizations and members.
    pub identity: identity::IdentityService,
    /// Channels.
    pub channels: channels::ChannelService,
    /// Messages and reactions.
    pub messages: messages::MessageService,
    /// Notifications.
    pub notifications: notifications::NotificationService,
    /// Chat-sync connections and channel links.
    pub chat_sync: chat_sync::ChatSyncService,
    /// The sync engine: ingest, delivery, observability.
    pub sync: SyncServices,
}

/// The sync engine's use cases.
#[derive(Clone)]
pub struct SyncServices {
    /// Inbound events: receipts and their processing.
    pub ingest: sync::IngestService,
    /// Outbound deliveries.
    pub delivery: sync::DeliveryService,
    /// The deliveries API.
    pub deliveries: sync::DeliveriesService,
    /// The work queues (the workers claim from them).
    pub queue: std::sync::Arc<dyn crate::ports::SyncQueue>,
    /// Where the engine reports what it does (the workers report queue depth there).
    pub observer: std::sync::Arc<dyn crate::ports::SyncObserver>,
}

impl SyncServices {
    /// Wires every sync use case to the same ports.
    #[must_use]
    pub fn new(ports: sync::SyncPorts) -> Self {
        let touches = std::sync::Arc::<sync::RecentTouches>::default();
        Self {
            ingest: sync::IngestService::sharing(ports.clone(), std::sync::Arc::clone(&touches)),
            delivery: sync::DeliveryService::sharing(ports.clone(), touches),
            deliveries: sync::DeliveriesService::new(ports.clone()),
            observer: ports.observer.clone(),
            queue: ports.queue,
        }
    }
}

/// The authenticated user making a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user: User,
}

/// The result of a mutation: what was written and the transaction that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutation<T> {
    /// The written object.
    pub data: T,
    /// The transaction's id.
    pub transaction_id: TransactionId,
}

/// The cause of a store error when neither a conflict nor a failed precondition is expected
/// from the changeset; every use-case error converts it into its `Unexpected` variant.
pub(crate) fn store_failure(err: StoreError) -> anyhow::Error {
    match err {
        StoreError::Conflict {
            change_index,
            constraint,
        } => anyhow::anyhow!(
            "unexpected uniqueness conflict in change {change_index} ({constraint:?})"
        ),
        StoreError::Precondition {
            change_index,
            failure,
        } => {
            anyhow::anyhow!("unexpected failed precondition in change {change_index}: {failure:?}")
        }
        StoreError::Unexpected(e) => e,
    }
}

/// Maps a store error where the guarded change at `index` refusing means the row it targets
/// is gone (deleted by a concurrent request since it was read): that becomes `gone`, nothing
/// having been written; anything else is unexpected.
pub(crate) fn gone_unless_applied<E: From<anyhow::Error>>(
    index: usize,
    gone: E,
) -> impl FnOnce(StoreError) -> E {
    move |err| {
        if err.is_precondition_of(index) {
            gone
        } else {
            E::from(store_failure(err))
        }
    }
}

/// The caller's membership in `organization`. A non-member sees the organization as absent.
pub(crate) async fn membership(
    members: &Arc<dyn MemberRepository>,
    organization: OrganizationId,
    caller: &Caller,
) -> Result<Member, MembershipError> {
    members
        .find_for_user(organization, caller.user.id)
        .await?
        .ok_or(MembershipError::OrganizationNotFound)
}

/// Like [`membership`], then requires an owner or admin.
pub(crate) async fn admin_membership(
    members: &Arc<dyn MemberRepository>,
    organization: OrganizationId,
    caller: &Caller,
) -> Result<Member, AdminError> {
    let member = membership(members, organization, caller).await?;
    if member.role.is_admin() {
        Ok(member)
    } else {
        Err(AdminError::Forbidden(
            "only owners and admins of the organization may do this".to_owned(),
        ))
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders shared by the services' unit tests.

    use super::Caller;
    use crate::ids::{MemberId, OrganizationId, TransactionId, UserId};
    use crate::model::Timestamp;
    use crate::model::identity::{Member, MemberKind, Role, User};
    use crate::model::text::{Email, Name};
    use crate::ports::{
        ChangeOutcome, Committed, Expectation, MockClock, PreconditionFailure, StoreError,
    };

    pub(crate) fn at() -> Timestamp {
        Timestamp::UNIX_EPOCH + time::Duration::days(20_000)
    }

    pub(crate) fn clock() -> MockClock {
        let mut clock = MockClock::new();
        clock.expect_now().returning(at);
        clock
    }

    pub(crate) fn user(name: &str) -> User {
        User {
            id: UserId::new(),
            email: Email::parse("email", &format!("{name}@example.com")).unwrap(),
            name: Name::parse("name", name).unwrap(),
            created_at: at(),
        }
    }

    pub(crate) fn caller(user: &User) -> Caller {
        Caller { user: user.clone() }
    }

    pub(crate) fn member_of(user: &User, org: OrganizationId, role: Role) -> Member {
        Member {
            id: MemberId::new(),
            organization_id: org,
            kind: MemberKind::Native { user_id: user.id },
            name: user.name.clone(),
            avatar_url: None,
            role,
            created_at: at(),
        }
    }

    pub(crate) fn committed(n: usize) -> Committed {
        Committed {
            transaction_id: TransactionId::new(7),
            outcomes: vec![ChangeOutcome::Applied; n],
        }
    }

    /// What the store answers when the guarded change at `index` matched no row: a concurrent
    /// request deleted the row between the service's read and its write.
    pub(crate) fn matched_nothing(index: usize) -> StoreError {
        StoreError::Precondition {
            change_index: index,
            failure: PreconditionFailure {
                expected: Expectation::ExactlyOne,
                outcome: ChangeOutcome::Affected(0),
            },
        }
    }
}
