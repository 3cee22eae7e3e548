//! Authentication, organizations and members.

use std::sync::Arc;

use super::{Caller, Mutation, admin_membership, membership, store_failure};
use crate::error::{AdminError, MembershipError, ValidationError, unexpected_on_read_failure};
use crate::ids::{ApiTokenId, MemberId, OrganizationId, UserId};
use crate::model::Timestamp;
use crate::model::identity::{
    ApiToken, Member, MemberKind, MemberProfile, Organization, Role, TokenSecret, User,
};
use crate::model::page::{Page, PageRequest};
use crate::model::text::{Email, Name, Slug};
use crate::ports::{
    Change, Clock, MemberRepository, OrganizationRepository, Store, StoreError, UniqueRule,
    UserRepository,
};

/// Failures of [`IdentityService::authenticate`].
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// No user has this token.
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`IdentityService::bootstrap`].
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`IdentityService::create_organization`].
#[derive(Debug, thiserror::Error)]
pub enum CreateOrganizationError {
    /// The explicit `slug` is taken.
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`IdentityService::list_organizations`].
#[derive(Debug, thiserror::Error)]
pub enum ListOrganizationsError {
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`IdentityService::add_member`].
#[derive(Debug, thiserror::Error)]
pub enum AddMemberError {
    /// The organization does not exist or the caller is not a member.
    #[error("organization not found")]
    OrganizationNotFound,
    /// The caller is not an owner or admin, or an admin adds an owner.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The user is already a member (on `email`).
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<AdminError> for AddMemberError {
    fn from(err: AdminError) -> Self {
        match err {
            AdminError::OrganizationNotFound => Self::OrganizationNotFound,
            AdminError::Forbidden(reason) => Self::Forbidden(reason),
            AdminError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

unexpected_on_read_failure!(
    AuthenticateError,
    BootstrapError,
    ListOrganizationsError,
    AddMemberError,
);

/// A user created (or found) by [`IdentityService::bootstrap`], with a fresh token.
#[derive(Debug)]
pub struct Bootstrapped {
    /// The user.
    pub user: User,
    /// A new token for the user, shown once.
    pub token: TokenSecret,
    /// Whether the user was created now.
    pub created: bool,
}

/// A member added by [`IdentityService::add_member`].
#[derive(Debug)]
pub struct AddedMember {
    /// The new member and its email.
    pub profile: MemberProfile,
    /// The token of the user, only when the user was created now.
    pub token: Option<TokenSecret>,
}

/// Input of [`IdentityService::add_member`].
#[derive(Clone, Debug)]
pub struct NewMember {
    /// The user's email; a user is created when none has it.
    pub email: Email,
    /// Display name (of the user, if created, and of the member).
    pub name: Name,
    /// Role in the organization.
    pub role: Role,
}

/// How one attempt to add a member ended.
enum AddAttempt {
    /// The member was added.
    Added(Mutation<AddedMember>),
    /// The user was to be created, but a concurrent request created one with the same email.
    UserCreatedConcurrently,
}

/// Authentication, organizations and members.
#[derive(Clone)]
pub struct IdentityService {
    users: Arc<dyn UserRepository>,
    organizations: Arc<dyn OrganizationRepository>,
    members: Arc<dyn MemberRepository>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl IdentityService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(
        users: Arc<dyn UserRepository>,
        organizations: Arc<dyn OrganizationRepository>,
        members: Arc<dyn MemberRepository>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            organizations,
            members,
            store,
            clock,
        }
    }

    /// The user a bearer token belongs to.
    ///
    /// # Errors
    /// [`AuthenticateError::Unauthenticated`] for an unknown token.
    pub async fn authenticate(&self, token: &TokenSecret) -> Result<Caller, AuthenticateError> {
        let user = self
            .users
            .find_by_token(&token.hash())
            .await?
            .ok_or(AuthenticateError::Unauthenticated)?;
        Ok(Caller { user })
    }

    /// Creates the user with `email` unless it exists, and issues a new token for it. Running it
    /// again for the same email never creates a second user.
    ///
    /// # Errors
    /// [`BootstrapError::Unexpected`] on storage failures.
    pub async fn bootstrap(
        &self,
        email: Email,
        name: Name,
    ) -> Result<Bootstrapped, BootstrapError> {
        let now = self.clock.now();
        let existing = self.users.find_by_email(&email).await?;
        let created = existing.is_none();
        let user = existing.unwrap_or_else(|| User {
            id: UserId::new(),
            email,
            name,
            created_at: now,
        });
        let token = TokenSecret::generate();
        let mut changes = Vec::with_capacity(2);
        if created {
            changes.push(Change::InsertUser(user.clone()));
        }
        changes.push(Change::InsertApiToken(ApiToken {
            id: ApiTokenId::new(),
            user_id: user.id,
            hash: token.hash(),
            created_at: now,
        }));
        self.store
            .commit(changes.into())
            .await
            .map_err(store_failure)?;
        Ok(Bootstrapped {
            user,
            token,
            created,
        })
    }

    /// Creates an organization; the caller becomes its owner.
    ///
    /// # Errors
    /// [`CreateOrganizationError::Validation`] on `slug` when the slug is taken.
    pub async fn create_organization(
        &self,
        caller: &Caller,
        name: Name,
        slug: Option<Slug>,
    ) -> Result<Mutation<Organization>, CreateOrganizationError> {
        let now = self.clock.now();
        let id = OrganizationId::new();
        let explicit_slug = slug.is_some();
        // A derived slug gets a suffix from the id's random tail, so two organizations with the
        // same name do not collide.
        let suffix: String = id.to_string().chars().rev().take(6).collect();
        let slug = slug.unwrap_or_else(|| Slug::derive(&name, &suffix));
        let organization = Organization {
            id,
            name,
            slug,
            created_at: now,
        };
        let owner = Member {
            id: MemberId::new(),
            organization_id: id,
            kind: MemberKind::Native {
                user_id: caller.user.id,
            },
            name: caller.user.name.clone(),
            avatar_url: None,
            role: Role::Owner,
            created_at: now,
        };
        let committed = self
            .store
            .commit(
                vec![
                    Change::InsertOrganization(organization.clone()),
                    Change::InsertMember(owner),
                ]
                .into(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict {
                    constraint: UniqueRule::OrganizationSlug,
                    ..
                } if explicit_slug => ValidationError::new("slug", "is already taken").into(),
                other => CreateOrganizationError::Unexpected(store_failure(other)),
            })?;
        Ok(Mutation {
            data: organization,
            transaction_id: committed.transaction_id,
        })
    }

    /// The caller's organizations.
    ///
    /// # Errors
    /// [`ListOrganizationsError::Unexpected`] on storage failures.
    pub async fn list_organizations(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<Organization>, ListOrganizationsError> {
        Ok(self
            .organizations
            .list_for_user(caller.user.id, page)
            .await?)
    }

    /// Adds a member to an organization, creating the user when no user has the email. When
    /// another request creates that user between this one's read and its write, the member is
    /// added for the user that request created.
    ///
    /// # Errors
    /// [`AddMemberError::OrganizationNotFound`] when the caller is not a member;
    /// [`AddMemberError::Forbidden`] unless the caller is an owner or admin, or when an admin adds
    /// an owner; [`AddMemberError::Validation`] on `email` when the user is already a member.
    pub async fn add_member(
        &self,
        caller: &Caller,
        organization: OrganizationId,
        new: NewMember,
    ) -> Result<Mutation<AddedMember>, AddMemberError> {
        let acting = admin_membership(&self.members, organization, caller).await?;
        if new.role == Role::Owner && acting.role != Role::Owner {
            return Err(AddMemberError::Forbidden(
                "only owners may add owners".to_owned(),
            ));
        }
        let now = self.clock.now();
        let existing = self.users.find_by_email(&new.email).await?;
        match self
            .try_add_member(organization, &new, existing, now)
            .await?
        {
            AddAttempt::Added(added) => Ok(added),
            AddAttempt::UserCreatedConcurrently => {
                // The email is taken now, so the user exists: add it as an existing user, once.
                let user = self.users.find_by_email(&new.email).await?.ok_or_else(|| {
                    AddMemberError::Unexpected(anyhow::anyhow!(
                        "a user conflicted on email but cannot be found by it"
                    ))
                })?;
                match self
                    .try_add_member(organization, &new, Some(user), now)
                    .await?
                {
                    AddAttempt::Added(added) => Ok(added),
                    AddAttempt::UserCreatedConcurrently => Err(AddMemberError::Unexpected(
                        anyhow::anyhow!("adding an existing user conflicted on creating it"),
                    )),
                }
            }
        }
    }

    /// One attempt of [`Self::add_member`]: adds `existing`, or creates the user (with a token)
    /// when `existing` is `None`.
    async fn try_add_member(
        &self,
        organization: OrganizationId,
        new: &NewMember,
        existing: Option<User>,
        now: Timestamp,
    ) -> Result<AddAttempt, AddMemberError> {
        let already_a_member =
            || ValidationError::new("email", "is already a member of this organization").into();
        if let Some(user) = &existing
            && self
                .members
                .find_for_user(organization, user.id)
                .await?
                .is_some()
        {
            return Err(already_a_member());
        }
        let creates_user = existing.is_none();
        let mut changes = Vec::with_capacity(3);
        let (user, token) = match existing {
            Some(user) => (user, None),
            None => {
                let user = User {
                    id: UserId::new(),
                    email: new.email.clone(),
                    name: new.name.clone(),
                    created_at: now,
                };
                let token = TokenSecret::generate();
                changes.push(Change::InsertUser(user.clone()));
                changes.push(Change::InsertApiToken(ApiToken {
                    id: ApiTokenId::new(),
                    user_id: user.id,
                    hash: token.hash(),
                    created_at: now,
                }));
                (user, Some(token))
            }
        };
        let member = Member {
            id: MemberId::new(),
            organization_id: organization,
            kind: MemberKind::Native { user_id: user.id },
            name: new.name.clone(),
            avatar_url: None,
            role: new.role,
            created_at: now,
        };
        let member_change = changes.len();
        changes.push(Change::InsertMember(member.clone()));
        let committed = match self.store.commit(changes.into()).await {
            Ok(committed) => committed,
            // Another request created a user with this email.
            Err(StoreError::Conflict {
                change_index: 0,
                constraint: UniqueRule::UserEmail,
            }) if creates_user => {
                return Ok(AddAttempt::UserCreatedConcurrently);
            }
            // A concurrent request added the same person first.
            Err(StoreError::Conflict {
                change_index,
                constraint: UniqueRule::MemberUser,
            }) if change_index == member_change => {
                return Err(already_a_member());
            }
            Err(other) => return Err(AddMemberError::Unexpected(store_failure(other))),
        };
        Ok(AddAttempt::Added(Mutation {
            data: AddedMember {
                profile: MemberProfile {
                    member,
                    email: Some(user.email),
                },
                token,
            },
            transaction_id: committed.transaction_id,
        }))
    }

    /// Members of an organization the caller belongs to.
    ///
    /// # Errors
    /// [`MembershipError::OrganizationNotFound`] when the caller is not a member.
    pub async fn list_members(
        &self,
        caller: &Caller,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<MemberProfile>, MembershipError> {
        membership(&self.members, organization, caller).await?;
        Ok(self.members.list(organization, page).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{
        MockMemberRepository, MockOrganizationRepository, MockStore, MockUserRepository,
    };
    use crate::services::test_support::{caller, clock, committed, member_of, user};

    struct Mocks {
        users: MockUserRepository,
        members: MockMemberRepository,
        store: MockStore,
    }

    impl Mocks {
        fn new() -> Self {
            Self {
                users: MockUserRepository::new(),
                members: MockMemberRepository::new(),
                store: MockStore::new(),
            }
        }

        fn service(self) -> IdentityService {
            IdentityService::new(
                Arc::new(self.users),
                Arc::new(MockOrganizationRepository::new()),
                Arc::new(self.members),
                Arc::new(self.store),
                Arc::new(clock()),
            )
        }
    }

    fn new_member(role: Role) -> NewMember {
        NewMember {
            email: Email::parse("email", "new@example.com").unwrap(),
            name: Name::parse("name", "New").unwrap(),
            role,
        }
    }

    #[tokio::test]
    async fn plain_members_may_not_add_members() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Member);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks.store.expect_commit().never();
        let err = mocks
            .service()
            .add_member(&caller(&ada), org, new_member(Role::Member))
            .await
            .unwrap_err();
        assert!(matches!(err, AddMemberError::Forbidden(_)), "{err:?}");
    }

    #[tokio::test]
    async fn admins_may_not_add_owners() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Admin);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks.store.expect_commit().never();
        let err = mocks
            .service()
            .add_member(&caller(&ada), org, new_member(Role::Owner))
            .await
            .unwrap_err();
        assert!(matches!(err, AddMemberError::Forbidden(_)), "{err:?}");
    }

    #[tokio::test]
    async fn non_members_do_not_see_the_organization() {
        let ada = user("ada");
        let mut mocks = Mocks::new();
        mocks
            .members
            .expect_find_for_user()
            .returning(|_, _| Ok(None));
        let err = mocks
            .service()
            .add_member(
                &caller(&ada),
                OrganizationId::new(),
                new_member(Role::Member),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, AddMemberError::OrganizationNotFound),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn adding_a_new_person_creates_user_token_and_member_in_one_changeset() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Owner);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks.users.expect_find_by_email().returning(|_| Ok(None));
        mocks
            .store
            .expect_commit()
            .withf(|changes| {
                matches!(
                    changes.as_slice(),
                    [Change::InsertUser(_), Change::InsertApiToken(_), Change::InsertMember(m)] if m.role == Role::Admin
                )
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let added = mocks
            .service()
            .add_member(&caller(&ada), org, new_member(Role::Admin))
            .await
            .unwrap();
        assert!(added.data.token.is_some());
        assert_eq!(added.data.profile.member.organization_id, org);
    }

    #[tokio::test]
    async fn adding_an_existing_user_issues_no_token() {
        let ada = user("ada");
        let bob = user("bob");
        let org = OrganizationId::new();
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Owner);
        let bob_id = bob.id;
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, u| Ok((u != bob_id).then(|| m.clone())));
        mocks
            .users
            .expect_find_by_email()
            .returning(move |_| Ok(Some(bob.clone())));
        mocks
            .store
            .expect_commit()
            .withf(|changes| matches!(changes.as_slice(), [Change::InsertMember(_)]))
            .returning(|c| Ok(committed(c.len())));
        let added = mocks
            .service()
            .add_member(&caller(&ada), org, new_member(Role::Member))
            .await
            .unwrap();
        assert!(added.data.token.is_none());
        assert_eq!(added.data.profile.member.user_id(), Some(bob_id));
    }

    #[tokio::test]
    async fn bootstrap_reuses_an_existing_user() {
        let ada = user("ada");
        let mut mocks = Mocks::new();
        let found = ada.clone();
        mocks
            .users
            .expect_find_by_email()
            .returning(move |_| Ok(Some(found.clone())));
        mocks
            .store
            .expect_commit()
            .withf(|changes| matches!(changes.as_slice(), [Change::InsertApiToken(_)]))
            .returning(|c| Ok(committed(c.len())));
        let out = mocks
            .service()
            .bootstrap(ada.email.clone(), ada.name.clone())
            .await
            .unwrap();
        assert!(!out.created);
        assert_eq!(out.user.id, ada.id);
    }

    #[tokio::test]
    async fn unknown_tokens_are_rejected() {
        let mut mocks = Mocks::new();
        mocks.users.expect_find_by_token().returning(|_| Ok(None));
        let err = mocks
            .service()
            .authenticate(&TokenSecret::presented("nope"))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthenticateError::Unauthenticated));
    }

    #[tokio::test]
    async fn a_user_created_concurrently_is_added_as_an_existing_user() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let racer = User {
            email: Email::parse("email", "new@example.com").unwrap(),
            ..user("racer")
        };
        let racer_id = racer.id;
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Owner);
        let ada_id = ada.id;
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, u| Ok((u == ada_id).then(|| m.clone())));
        // Not there at the first read; created by another request before this one's write.
        let mut reads = mockall::Sequence::new();
        mocks
            .users
            .expect_find_by_email()
            .times(1)
            .in_sequence(&mut reads)
            .returning(|_| Ok(None));
        mocks
            .users
            .expect_find_by_email()
            .times(1)
            .in_sequence(&mut reads)
            .returning(move |_| Ok(Some(racer.clone())));
        let mut commits = mockall::Sequence::new();
        mocks
            .store
            .expect_commit()
            .withf(|c| matches!(c.first(), Some(Change::InsertUser(_))))
            .times(1)
            .in_sequence(&mut commits)
            .returning(|_| {
                Err(StoreError::Conflict {
                    change_index: 0,
                    constraint: UniqueRule::UserEmail,
                })
            });
        mocks
            .store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::InsertMember(m)] if m.user_id() == Some(racer_id))
            })
            .times(1)
            .in_sequence(&mut commits)
            .returning(|c| Ok(committed(c.len())));
        let added = mocks
            .service()
            .add_member(&caller(&ada), org, new_member(Role::Member))
            .await
            .unwrap();
        assert_eq!(added.data.profile.member.user_id(), Some(racer_id));
        assert!(
            added.data.token.is_none(),
            "the token is the creator's to hand out"
        );
    }

    #[tokio::test]
    async fn a_member_added_concurrently_is_already_a_member() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Owner);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks.users.expect_find_by_email().returning(|_| Ok(None));
        mocks.store.expect_commit().times(1).returning(|_| {
            Err(StoreError::Conflict {
                change_index: 2,
                constraint: UniqueRule::MemberUser,
            })
        });
        let err = mocks
            .service()
            .add_member(&caller(&ada), org, new_member(Role::Member))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AddMemberError::Validation(v) if v.field() == "email"),
            "{err:?}"
        );
    }
}
