//! The backend loop and builders of domain values.

use std::future::Future;

use hazel_domain::ids::{
    ChannelId, ChannelLinkId, MemberId, MessageId, NotificationId, OrganizationId, ReactionId,
    SyncConnectionId, UserId,
};
use hazel_domain::model::Timestamp;
use hazel_domain::model::channel::{Channel, ChannelKind};
use hazel_domain::model::chat_sync::{
    ChannelLink, ConnectionSettings, ConnectionStatus, Direction, JsonObject, LinkSettings,
    Provider, SyncConnection,
};
use hazel_domain::model::identity::{Member, MemberKind, Organization, Role, User};
use hazel_domain::model::message::{Emoji, Message, MessageContent, Reaction};
use hazel_domain::model::notification::Notification;
use hazel_domain::model::text::{Email, Name, Opaque, Slug};
use hazel_domain::ports::{Change, Changeset, Clock as _, Committed, Store as _, SystemClock};
use hazel_persistence::{Database, testing};

/// Runs `body` on a fresh, migrated SQLite file database, then on a fresh, migrated
/// PostgreSQL database when `HAZEL_TEST_POSTGRES_URL` is set.
pub(crate) async fn each_backend<F, Fut>(body: F)
where
    F: Fn(Database) -> Fut,
    Fut: Future<Output = ()>,
{
    let body = &body;
    each_backend_url(|url| async move { body(migrated(&url).await).await }).await;
}

/// Runs `body` with the URL of a fresh SQLite file database, then of a fresh PostgreSQL
/// database when `HAZEL_TEST_POSTGRES_URL` is set, for tests that open several pools.
pub(crate) async fn each_backend_url<F, Fut>(body: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    eprintln!("running on SQLite");
    body(format!(
        "sqlite://{}",
        dir.path().join("hazel.db").display()
    ))
    .await;

    if let Some(admin_url) = testing::postgres_admin_url() {
        let url = testing::fresh_postgres_url(&admin_url).await.unwrap();
        eprintln!("running on PostgreSQL");
        body(url.clone()).await;
        testing::drop_postgres_database(&admin_url, &url)
            .await
            .unwrap();
    }
}

pub(crate) async fn migrated(url: &str) -> Database {
    let db = Database::connect(url).await.unwrap();
    db.migrate().await.unwrap();
    db
}

/// Commits `changes`, which must succeed.
pub(crate) async fn commit(db: &Database, changes: impl Into<Changeset>) -> Committed {
    db.commit(changes.into())
        .await
        .unwrap_or_else(|e| panic!("commit failed on {}: {e:#}", db.backend()))
}

pub(crate) fn now() -> Timestamp {
    SystemClock.now()
}

pub(crate) fn name(raw: &str) -> Name {
    Name::parse("name", raw).unwrap()
}

pub(crate) fn workspace_id(raw: &str) -> hazel_domain::model::chat_sync::ExternalWorkspaceId {
    hazel_domain::model::chat_sync::ExternalWorkspaceId::parse("externalWorkspaceId", raw).unwrap()
}

pub(crate) fn opaque(raw: &str) -> Opaque {
    Opaque::parse("opaque", raw, 255).unwrap()
}

pub(crate) fn emoji(raw: &str) -> Emoji {
    Emoji::parse("emoji", raw).unwrap()
}

pub(crate) fn user(email: &str) -> User {
    User {
        id: UserId::new(),
        email: Email::parse("email", email).unwrap(),
        name: name("Ada"),
        created_at: now(),
    }
}

pub(crate) fn organization(slug: &str) -> Organization {
    Organization {
        id: OrganizationId::new(),
        name: name("Acme"),
        slug: Slug::parse("slug", slug).unwrap(),
        created_at: now(),
    }
}

pub(crate) fn native_member(organization: OrganizationId, user: &User, role: Role) -> Member {
    Member {
        id: MemberId::new(),
        organization_id: organization,
        kind: MemberKind::Native { user_id: user.id },
        name: user.name.clone(),
        avatar_url: None,
        role,
        created_at: now(),
    }
}

pub(crate) fn shadow_member(organization: OrganizationId, external_user_id: &str) -> Member {
    Member {
        id: MemberId::new(),
        organization_id: organization,
        kind: MemberKind::Shadow {
            provider: Provider::Slack,
            external_user_id: hazel_domain::model::chat_sync::ExternalUserId::parse(
                "id",
                external_user_id,
            )
            .unwrap(),
        },
        name: name("Slack person"),
        avatar_url: Some(
            hazel_domain::model::text::Url::parse("url", "https://a.example/p.png").unwrap(),
        ),
        role: Role::Member,
        created_at: now(),
    }
}

pub(crate) fn channel(organization: OrganizationId) -> Channel {
    Channel {
        id: ChannelId::new(),
        organization_id: organization,
        name: name("general"),
        kind: ChannelKind::Public,
        created_at: now(),
    }
}

pub(crate) fn message(channel: ChannelId, author: MemberId, text: &str) -> Message {
    Message {
        id: MessageId::new(),
        channel_id: channel,
        author_id: author,
        content: MessageContent::parse("content", text).unwrap(),
        parent_message_id: None,
        attachments: Vec::new(),
        created_at: now(),
        edited_at: None,
        deleted_at: None,
    }
}

pub(crate) fn reaction(message: MessageId, member: MemberId, with: &str) -> Reaction {
    Reaction {
        id: ReactionId::new(),
        message_id: message,
        member_id: member,
        emoji: emoji(with),
        created_at: now(),
    }
}

/// A notification of `member` targeting `targeted` inside `resource` (`(type, id)` pairs).
pub(crate) fn notification(
    member: &Member,
    targeted: Option<(&str, &str)>,
    resource: Option<(&str, &str)>,
    dedupe_key: Option<&str>,
) -> Notification {
    Notification {
        id: NotificationId::new(),
        member_id: member.id,
        organization_id: member.organization_id,
        targeted_resource_id: targeted.map(|(_, id)| opaque(id)),
        targeted_resource_type: targeted.map(|(kind, _)| opaque(kind)),
        resource_id: resource.map(|(_, id)| opaque(id)),
        resource_type: resource.map(|(kind, _)| opaque(kind)),
        dedupe_key: dedupe_key.map(str::to_owned),
        created_at: now(),
        read_at: None,
    }
}

pub(crate) fn connection(
    organization: OrganizationId,
    created_by: UserId,
    workspace: &str,
) -> SyncConnection {
    SyncConnection {
        id: SyncConnectionId::new(),
        organization_id: organization,
        provider: Provider::Slack,
        external_workspace_id: workspace_id(workspace),
        external_workspace_name: None,
        name: name("Slack"),
        status: ConnectionStatus::Connected,
        integration_connection_id: None,
        credentials: None,
        bot: None,
        settings: ConnectionSettings::default(),
        metadata: JsonObject::empty(),
        last_sync_at: None,
        created_at: now(),
        updated_at: now(),
        created_by,
    }
}

pub(crate) fn link(
    connection: SyncConnectionId,
    channel: ChannelId,
    external_channel: &str,
) -> ChannelLink {
    ChannelLink {
        id: ChannelLinkId::new(),
        connection_id: connection,
        hazel_channel_id: channel,
        external_channel_id: hazel_domain::model::chat_sync::ExternalChannelId::parse(
            "externalChannelId",
            external_channel,
        )
        .unwrap(),
        external_channel_name: None,
        direction: Direction::Both,
        is_active: true,
        settings: LinkSettings::default(),
        created_at: now(),
        updated_at: now(),
    }
}

/// An organization with one owner (a user) and one channel, committed.
pub(crate) struct World {
    pub(crate) user: User,
    pub(crate) organization: Organization,
    pub(crate) owner: Member,
    pub(crate) channel: Channel,
}

impl World {
    pub(crate) async fn create(db: &Database) -> Self {
        let suffix = uuid_suffix();
        let user = user(&format!("owner-{suffix}@example.com"));
        let organization = organization(&format!("acme-{suffix}"));
        let owner = native_member(organization.id, &user, Role::Owner);
        let channel = channel(organization.id);
        commit(
            db,
            vec![
                Change::InsertUser(user.clone()),
                Change::InsertOrganization(organization.clone()),
                Change::InsertMember(owner.clone()),
                Change::InsertChannel(channel.clone()),
            ],
        )
        .await;
        Self {
            user,
            organization,
            owner,
            channel,
        }
    }

    /// Another native member of the organization, committed.
    pub(crate) async fn add_member(&self, db: &Database, email_name: &str) -> (User, Member) {
        let user = user(&format!("{email_name}-{}@example.com", uuid_suffix()));
        let member = native_member(self.organization.id, &user, Role::Member);
        commit(
            db,
            vec![
                Change::InsertUser(user.clone()),
                Change::InsertMember(member.clone()),
            ],
        )
        .await;
        (user, member)
    }
}

/// A short unique suffix for emails and slugs.
pub(crate) fn uuid_suffix() -> String {
    let id = MessageId::new().to_string().replace('-', "");
    id[id.len() - 12..].to_owned()
}
