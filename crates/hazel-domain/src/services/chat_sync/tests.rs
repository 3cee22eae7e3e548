//! Unit tests of the Chat Sync use cases, with mocked ports.

use super::connections::default_connection_name;
use super::*;
use crate::model::chat_sync::{
    BotIdentity, ExternalAppId, ExternalBotId, ExternalUserId, ProviderErrorCode,
};
use crate::model::identity::Role;
use crate::ports::{
    MockChannelLinkRepository, MockChannelRepository, MockChatDirectory, MockConnectionRepository,
    MockCredentialVault, MockMemberRepository, MockStore,
};
use crate::services::test_support::{
    at, caller, clock, committed, matched_nothing, member_of, user,
};
use secrecy::SecretString;

struct Mocks {
    members: MockMemberRepository,
    channels: MockChannelRepository,
    connections: MockConnectionRepository,
    links: MockChannelLinkRepository,
    store: MockStore,
    vault: MockCredentialVault,
    slack: MockChatDirectory,
}

impl Mocks {
    fn new() -> Self {
        let mut slack = MockChatDirectory::new();
        slack.expect_provider().return_const(Provider::Slack);
        let mut vault = MockCredentialVault::new();
        vault
            .expect_seal()
            .returning(|_, _| Ok(SealedCredentials::from_bytes(vec![1, 2, 3])));
        vault
            .expect_open()
            .returning(|_, _| Ok(slack_credentials()));
        Self {
            members: MockMemberRepository::new(),
            channels: MockChannelRepository::new(),
            connections: MockConnectionRepository::new(),
            links: MockChannelLinkRepository::new(),
            store: MockStore::new(),
            vault,
            slack,
        }
    }

    fn service(self) -> ChatSyncService {
        ChatSyncService::new(ChatSyncPorts {
            members: Arc::new(self.members),
            channels: Arc::new(self.channels),
            connections: Arc::new(self.connections),
            links: Arc::new(self.links),
            store: Arc::new(self.store),
            clock: Arc::new(clock()),
            vault: Arc::new(self.vault),
            providers: ChatProviders::new().with_directory(Arc::new(self.slack)),
        })
    }
}

fn slack_credentials() -> Credentials {
    Credentials::Slack {
        bot_token: SecretString::from("xoxb-test"),
        signing_secret: SecretString::from("sign"),
        app_token: None,
    }
}

fn bot() -> BotIdentity {
    BotIdentity {
        user_id: ExternalUserId::parse("u", "U0BOT").unwrap(),
        bot_id: Some(ExternalBotId::parse("b", "B0BOT").unwrap()),
        app_id: Some(ExternalAppId::parse("a", "A0APP").unwrap()),
    }
}

fn new_connection(org: OrganizationId) -> NewConnection {
    NewConnection {
        organization_id: org,
        provider: Provider::Slack,
        external_workspace_id: ExternalWorkspaceId::parse("w", "T1").unwrap(),
        external_workspace_name: None,
        name: None,
        integration_connection_id: None,
        credentials: Some(PendingCredentials::known(slack_credentials())),
        settings: ConnectionSettingsPatch::default(),
        metadata: None,
    }
}

fn connection(org: OrganizationId) -> SyncConnection {
    SyncConnection {
        id: SyncConnectionId::new(),
        organization_id: org,
        provider: Provider::Slack,
        external_workspace_id: ExternalWorkspaceId::parse("w", "T1").unwrap(),
        external_workspace_name: None,
        name: Name::parse("n", "Slack").unwrap(),
        status: ConnectionStatus::Connected,
        integration_connection_id: None,
        credentials: Some(SealedCredentials::from_bytes(vec![9])),
        bot: None,
        settings: ConnectionSettings::default(),
        metadata: JsonObject::empty(),
        last_sync_at: None,
        created_at: at(),
        updated_at: at(),
        created_by: crate::ids::UserId::new(),
    }
}

#[test]
fn unnamed_connections_get_a_fitting_default_name() {
    let short = ExternalWorkspaceId::parse("w", "T1").unwrap();
    assert_eq!(
        default_connection_name(Provider::Slack, &short)
            .unwrap()
            .as_str(),
        "slack T1"
    );
    let long = ExternalWorkspaceId::parse("w", &"9".repeat(255)).unwrap();
    let name = default_connection_name(Provider::Discord, &long).unwrap();
    assert_eq!(name.as_str().chars().count(), Name::MAX_CHARS);
    assert!(name.as_str().starts_with("discord 999"));
}

#[tokio::test]
async fn refused_credentials_save_nothing() {
    let ada = user("ada");
    let org = OrganizationId::new();
    let mut mocks = Mocks::new();
    let m = member_of(&ada, org, Role::Owner);
    mocks
        .members
        .expect_find_for_user()
        .returning(move |_, _| Ok(Some(m.clone())));
    mocks
        .connections
        .expect_find_by_workspace()
        .returning(|_, _, _| Ok(None));
    mocks.slack.expect_validate().returning(|_, _| {
        Err(ProviderError::InsufficientPermissions {
            message: "missing_scope".into(),
            required_scopes: vec!["channels:history".into()],
        })
    });
    mocks.store.expect_commit().never();
    let err = mocks
        .service()
        .create_connection(&caller(&ada), new_connection(org))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CreateConnectionError::Provider(e) if e.code() == ProviderErrorCode::InsufficientPermissions),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_created_connection_keeps_the_bot_identity_learnt_while_validating() {
    let ada = user("ada");
    let org = OrganizationId::new();
    let mut mocks = Mocks::new();
    let m = member_of(&ada, org, Role::Owner);
    mocks
        .members
        .expect_find_for_user()
        .returning(move |_, _| Ok(Some(m.clone())));
    mocks
        .connections
        .expect_find_by_workspace()
        .returning(|_, _, _| Ok(None));
    mocks.slack.expect_validate().times(1).returning(|_, _| {
        Ok(ValidatedWorkspace {
            workspace_name: None,
            bot: bot(),
        })
    });
    mocks
        .store
        .expect_commit()
        .withf(|c| {
            matches!(c.as_slice(), [Change::InsertConnection(connection)]
                if connection.bot == Some(bot()))
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let created = mocks
        .service()
        .create_connection(&caller(&ada), new_connection(org))
        .await
        .unwrap();
    assert_eq!(created.data.connection.bot, Some(bot()));
}

#[tokio::test]
async fn a_live_connection_to_the_same_workspace_conflicts() {
    let ada = user("ada");
    let org = OrganizationId::new();
    let mut mocks = Mocks::new();
    let m = member_of(&ada, org, Role::Admin);
    mocks
        .members
        .expect_find_for_user()
        .returning(move |_, _| Ok(Some(m.clone())));
    mocks
        .connections
        .expect_find_by_workspace()
        .returning(move |o, _, _| Ok(Some(connection(o))));
    mocks.slack.expect_validate().never();
    let err = mocks
        .service()
        .create_connection(&caller(&ada), new_connection(org))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CreateConnectionError::ConnectionExists),
        "{err:?}"
    );
}

#[tokio::test]
async fn without_credentials_or_integration_the_integration_is_not_connected() {
    let ada = user("ada");
    let org = OrganizationId::new();
    let mut mocks = Mocks::new();
    let m = member_of(&ada, org, Role::Owner);
    mocks
        .members
        .expect_find_for_user()
        .returning(move |_, _| Ok(Some(m.clone())));
    mocks
        .connections
        .expect_find_by_workspace()
        .returning(|_, _, _| Ok(None));
    let err = mocks
        .service()
        .create_connection(
            &caller(&ada),
            NewConnection {
                credentials: None,
                ..new_connection(org)
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CreateConnectionError::IntegrationNotConnected(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn members_may_not_create_connections() {
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
        .create_connection(&caller(&ada), new_connection(org))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CreateConnectionError::Forbidden(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn members_are_refused_before_their_credentials_are_parsed() {
    let ada = user("ada");
    let org = OrganizationId::new();
    let conn = connection(org);
    let id = conn.id;
    let mut mocks = Mocks::new();
    let m = member_of(&ada, org, Role::Member);
    mocks
        .members
        .expect_find_for_user()
        .returning(move |_, _| Ok(Some(m.clone())));
    mocks.connections.expect_find().returning(move |_| {
        Ok(Some(ConnectionView {
            connection: conn.clone(),
            channel_count: 0,
        }))
    });
    mocks.store.expect_commit().never();
    let unparseable = || {
        Some(PendingCredentials::parse_with(|_| {
            Err(ValidationError::new(
                "credentials.signingSecret",
                "is required",
            ))
        }))
    };
    let service = mocks.service();
    let err = service
        .update_connection(
            &caller(&ada),
            id,
            ConnectionPatch {
                credentials: unparseable(),
                ..ConnectionPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpdateConnectionError::Forbidden(_)),
        "{err:?}"
    );
    let err = service
        .create_connection(
            &caller(&ada),
            NewConnection {
                credentials: unparseable(),
                ..new_connection(org)
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CreateConnectionError::Forbidden(_)),
        "{err:?}"
    );
}

#[test]
fn known_credentials_must_match_the_connections_provider() {
    let err = PendingCredentials::known(slack_credentials())
        .for_provider(Provider::Discord)
        .unwrap_err();
    assert_eq!(err.field(), "credentials");
    assert!(
        PendingCredentials::known(slack_credentials())
            .for_provider(Provider::Slack)
            .is_ok()
    );
}

#[tokio::test]
async fn failed_validation_records_the_error_status() {
    let ada = user("ada");
    let org = OrganizationId::new();
    let conn = connection(org);
    let id = conn.id;
    let mut mocks = Mocks::new();
    let m = member_of(&ada, org, Role::Owner);
    mocks
        .members
        .expect_find_for_user()
        .returning(move |_, _| Ok(Some(m.clone())));
    mocks.connections.expect_find().returning(move |_| {
        Ok(Some(ConnectionView {
            connection: conn.clone(),
            channel_count: 0,
        }))
    });
    mocks.slack.expect_validate().returning(|_, _| {
        Err(ProviderError::AuthExpired {
            message: "token_revoked".into(),
        })
    });
    mocks
        .store
        .expect_commit()
        .withf(|c| {
            // A refusal learns no bot: the stored identity stays as it was.
            matches!(c.as_slice(), [Change::PatchConnection { columns, .. }]
                if matches!(&columns.status, Some(ConnectionStatus::Error { code: ProviderErrorCode::AuthExpired, .. }))
                    && columns.bot.is_none())
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let out = mocks
        .service()
        .validate_connection(&caller(&ada), id)
        .await
        .unwrap();
    assert!(matches!(out.data, ValidationOutcome::Invalid { .. }));
}

#[tokio::test]
async fn selecting_channels_creates_links_and_deactivates_unselected_ones() {
    let ada = user("ada");
    let org = OrganizationId::new();
    let conn = connection(org);
    let id = conn.id;
    let mut mocks = Mocks::new();
    let m = member_of(&ada, org, Role::Owner);
    mocks
        .members
        .expect_find_for_user()
        .returning(move |_, _| Ok(Some(m.clone())));
    mocks.connections.expect_find().returning(move |_| {
        Ok(Some(ConnectionView {
            connection: conn.clone(),
            channel_count: 1,
        }))
    });
    let ext = |id: &str, private: bool| ExternalChannel {
        id: ExternalChannelId::parse("id", id).unwrap(),
        name: format!("chan-{id}"),
        is_private: private,
        member_count: Some(3),
        bot_is_member: true,
    };
    let listed = vec![ext("C1", false), ext("C2", true)];
    mocks
        .slack
        .expect_list_channels()
        .returning(move |_, _| Ok(listed.clone()));
    let old_link = ChannelLink {
        id: ChannelLinkId::new(),
        connection_id: id,
        hazel_channel_id: ChannelId::new(),
        external_channel_id: ExternalChannelId::parse("id", "C1").unwrap(),
        external_channel_name: None,
        direction: Direction::Both,
        is_active: true,
        settings: LinkSettings::default(),
        created_at: at(),
        updated_at: at(),
    };
    let old_link_id = old_link.id;
    mocks
        .links
        .expect_list_all()
        .returning(move |_| Ok(vec![old_link.clone()]));
    mocks
        .store
        .expect_commit()
        .withf(move |c| {
            matches!(c.as_slice(), [
                Change::PatchChannelLink { id: off, columns, .. },
                Change::InsertChannel(ch),
                Change::InsertChannelLink(on),
            ] if *off == old_link_id
                && *columns == LinkColumns { is_active: Some(false), ..LinkColumns::default() }
                && ch.kind == ChannelKind::Private && on.hazel_channel_id == ch.id
                && on.external_channel_id.as_str() == "C2" && on.direction == Direction::Both)
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    mocks
        .service()
        .select_channels(
            &caller(&ada),
            id,
            vec![ExternalChannelId::parse("id", "C2").unwrap()],
            false,
        )
        .await
        .unwrap();
}

fn external(id: &str) -> ExternalChannel {
    ExternalChannel {
        id: ExternalChannelId::parse("id", id).unwrap(),
        name: format!("chan-{id}"),
        is_private: false,
        member_count: None,
        bot_is_member: true,
    }
}

fn live_link(connection: SyncConnectionId, external_id: &str) -> ChannelLink {
    ChannelLink {
        id: ChannelLinkId::new(),
        connection_id: connection,
        hazel_channel_id: ChannelId::new(),
        external_channel_id: ExternalChannelId::parse("id", external_id).unwrap(),
        external_channel_name: None,
        direction: Direction::Both,
        is_active: true,
        settings: LinkSettings::default(),
        created_at: at(),
        updated_at: at(),
    }
}

/// Mocks where the caller administers `conn`, which `find` returns.
fn administering(conn: &SyncConnection) -> (Mocks, Caller) {
    let ada = user("ada");
    let mut mocks = Mocks::new();
    let m = member_of(&ada, conn.organization_id, Role::Owner);
    mocks
        .members
        .expect_find_for_user()
        .returning(move |_, _| Ok(Some(m.clone())));
    let found = conn.clone();
    mocks.connections.expect_find().returning(move |_| {
        Ok(Some(ConnectionView {
            connection: found.clone(),
            channel_count: 0,
        }))
    });
    (mocks, caller(&ada))
}

#[tokio::test]
async fn successful_validation_writes_only_the_status_and_the_missing_workspace_name() {
    let conn = connection(OrganizationId::new());
    let (mut mocks, caller) = administering(&conn);
    mocks.slack.expect_validate().returning(|_, _| {
        Ok(ValidatedWorkspace {
            workspace_name: Some("Acme".into()),
            bot: bot(),
        })
    });
    // The credentials read before the provider round trip are never written back: a
    // concurrent PATCH of the credentials must survive this validation.
    mocks.vault.checkpoint();
    mocks.vault.expect_seal().never();
    mocks
        .vault
        .expect_open()
        .returning(|_, _| Ok(slack_credentials()));
    let expected = ConnectionColumns {
        status: Some(ConnectionStatus::Connected),
        fallback_workspace_name: Some(Name::parse("n", "Acme").unwrap()),
        bot: Some(bot()),
        ..ConnectionColumns::default()
    };
    let id = conn.id;
    mocks
        .store
        .expect_commit()
        .withf(move |c| {
            matches!(c.as_slice(), [Change::PatchConnection { id: patched, columns, updated_at }]
                if *patched == id && *columns == expected && columns.credentials.is_none()
                    && *updated_at == at())
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let out = mocks
        .service()
        .validate_connection(&caller, id)
        .await
        .unwrap();
    assert!(
        matches!(out.data, ValidationOutcome::Valid { .. }),
        "{out:?}"
    );
}

#[tokio::test]
async fn validating_a_connection_deleted_meanwhile_is_not_found() {
    let conn = connection(OrganizationId::new());
    let (mut mocks, caller) = administering(&conn);
    mocks.slack.expect_validate().returning(|_, _| {
        Ok(ValidatedWorkspace {
            workspace_name: None,
            bot: bot(),
        })
    });
    mocks
        .store
        .expect_commit()
        .times(1)
        .returning(|_| Err(matched_nothing(0)));
    let err = mocks
        .service()
        .validate_connection(&caller, conn.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ValidateConnectionError::ConnectionNotFound),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_rename_writes_only_the_name() {
    let conn = connection(OrganizationId::new());
    let (mut mocks, caller) = administering(&conn);
    mocks.slack.expect_validate().never();
    let expected = ConnectionColumns {
        name: Some(Name::parse("n", "Renamed").unwrap()),
        ..ConnectionColumns::default()
    };
    mocks
        .store
        .expect_commit()
        .withf(move |c| {
            matches!(c.as_slice(), [Change::PatchConnection { columns, .. }] if *columns == expected)
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let updated = mocks
        .service()
        .update_connection(
            &caller,
            conn.id,
            ConnectionPatch {
                name: Some(Name::parse("n", "Renamed").unwrap()),
                ..ConnectionPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.data.connection.id, conn.id);
}

#[tokio::test]
async fn new_credentials_are_sealed_and_resume_the_connection() {
    let mut conn = connection(OrganizationId::new());
    conn.status = ConnectionStatus::Disconnected;
    let (mut mocks, caller) = administering(&conn);
    mocks.slack.expect_validate().times(1).returning(|_, _| {
        Ok(ValidatedWorkspace {
            workspace_name: Some("Acme".into()),
            bot: bot(),
        })
    });
    let expected = ConnectionColumns {
        external_workspace_name: Some(Name::parse("n", "Mine").unwrap()),
        credentials: Some(SealedCredentials::from_bytes(vec![1, 2, 3])),
        bot: Some(bot()),
        status: Some(ConnectionStatus::Connected),
        settings: ConnectionSettingsPatch {
            sync_edits: Some(false),
            ..ConnectionSettingsPatch::default()
        },
        ..ConnectionColumns::default()
    };
    mocks
        .store
        .expect_commit()
        .withf(move |c| {
            matches!(c.as_slice(), [Change::PatchConnection { columns, .. }] if *columns == expected)
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    mocks
        .service()
        .update_connection(
            &caller,
            conn.id,
            ConnectionPatch {
                external_workspace_name: Some(Name::parse("n", "Mine").unwrap()),
                credentials: Some(PendingCredentials::known(slack_credentials())),
                settings: ConnectionSettingsPatch {
                    sync_edits: Some(false),
                    ..ConnectionSettingsPatch::default()
                },
                ..ConnectionPatch::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn updating_a_connection_deleted_meanwhile_is_not_found() {
    let conn = connection(OrganizationId::new());
    let (mut mocks, caller) = administering(&conn);
    mocks
        .store
        .expect_commit()
        .times(1)
        .returning(|_| Err(matched_nothing(0)));
    let err = mocks
        .service()
        .update_connection(
            &caller,
            conn.id,
            ConnectionPatch {
                name: Some(Name::parse("n", "Renamed").unwrap()),
                ..ConnectionPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpdateConnectionError::ConnectionNotFound),
        "{err:?}"
    );
}

#[tokio::test]
async fn deleting_a_connection_deleted_meanwhile_is_not_found() {
    let conn = connection(OrganizationId::new());
    let (mut mocks, caller) = administering(&conn);
    mocks
        .store
        .expect_commit()
        .withf(|c| matches!(c.as_slice(), [Change::DeleteConnection { .. }]))
        .times(1)
        .returning(|_| Err(matched_nothing(0)));
    let err = mocks
        .service()
        .delete_connection(&caller, conn.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectionAdminError::ConnectionNotFound),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_link_update_writes_only_the_patched_fields_and_answers_the_stored_link() {
    let conn = connection(OrganizationId::new());
    let (mut mocks, caller) = administering(&conn);
    let link = live_link(conn.id, "C1");
    let id = link.id;
    let stored = ChannelLink {
        direction: Direction::Inbound,
        ..link.clone()
    };
    let mut reads = mockall::Sequence::new();
    mocks
        .links
        .expect_find()
        .times(1)
        .in_sequence(&mut reads)
        .returning(move |_| Ok(Some(link.clone())));
    let answered = stored.clone();
    mocks
        .links
        .expect_find()
        .times(1)
        .in_sequence(&mut reads)
        .returning(move |_| Ok(Some(answered.clone())));
    let expected = LinkColumns {
        direction: Some(Direction::Inbound),
        ..LinkColumns::default()
    };
    mocks
        .store
        .expect_commit()
        .withf(move |c| {
            matches!(c.as_slice(), [Change::PatchChannelLink { id: patched, columns, .. }]
                if *patched == id && *columns == expected)
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let updated = mocks
        .service()
        .update_link(
            &caller,
            id,
            LinkPatch {
                direction: Some(Direction::Inbound),
                ..LinkPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.data, stored);
}

#[tokio::test]
async fn changing_or_deleting_a_link_deleted_meanwhile_is_not_found() {
    for delete in [false, true] {
        let conn = connection(OrganizationId::new());
        let (mut mocks, caller) = administering(&conn);
        let link = live_link(conn.id, "C1");
        let id = link.id;
        mocks
            .links
            .expect_find()
            .times(1)
            .returning(move |_| Ok(Some(link.clone())));
        mocks
            .store
            .expect_commit()
            .times(1)
            .returning(|_| Err(matched_nothing(0)));
        let service = mocks.service();
        let err = if delete {
            service.delete_link(&caller, id).await.unwrap_err()
        } else {
            service
                .update_link(
                    &caller,
                    id,
                    LinkPatch {
                        is_active: Some(false),
                        ..LinkPatch::default()
                    },
                )
                .await
                .unwrap_err()
        };
        assert!(
            matches!(err, LinkAdminError::ChannelLinkNotFound),
            "delete: {delete}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_channel_listed_twice_by_the_provider_is_linked_once() {
    let conn = connection(OrganizationId::new());
    let (mut mocks, caller) = administering(&conn);
    // Overlapping pages: C1 appears on two of them.
    mocks
        .slack
        .expect_list_channels()
        .returning(|_, _| Ok(vec![external("C1"), external("C2"), external("C1")]));
    mocks.links.expect_list_all().returning(|_| Ok(Vec::new()));
    mocks
        .store
        .expect_commit()
        .withf(|c| {
            let linked: Vec<&str> = c
                .iter()
                .filter_map(|change| match change {
                    Change::InsertChannelLink(l) => Some(l.external_channel_id.as_str()),
                    _ => None,
                })
                .collect();
            let channels = c
                .iter()
                .filter(|change| matches!(change, Change::InsertChannel(_)))
                .count();
            linked == ["C1", "C2"] && channels == 2
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let selected = mocks
        .service()
        .select_channels(&caller, conn.id, Vec::new(), true)
        .await
        .unwrap();
    let listed: Vec<&str> = selected
        .data
        .iter()
        .map(|d| d.channel.id.as_str())
        .collect();
    assert_eq!(listed, ["C1", "C2"]);
}

#[tokio::test]
async fn integration_credentials_open_for_their_connection_and_are_sealed_for_the_new_one() {
    let ada = user("ada");
    let org = OrganizationId::new();
    let source = connection(org);
    let source_id = source.id;
    let mut mocks = Mocks::new();
    let m = member_of(&ada, org, Role::Owner);
    mocks
        .members
        .expect_find_for_user()
        .returning(move |_, _| Ok(Some(m.clone())));
    mocks
        .connections
        .expect_find_by_workspace()
        .returning(|_, _, _| Ok(None));
    mocks.connections.expect_find().returning(move |_| {
        Ok(Some(ConnectionView {
            connection: source.clone(),
            channel_count: 0,
        }))
    });
    mocks.slack.expect_validate().returning(|_, _| {
        Ok(ValidatedWorkspace {
            workspace_name: None,
            bot: bot(),
        })
    });
    let sealed_for = Arc::new(std::sync::Mutex::new(Vec::new()));
    mocks.vault.checkpoint();
    mocks
        .vault
        .expect_open()
        .withf(move |id, _| *id == source_id)
        .times(1)
        .returning(|_, _| Ok(slack_credentials()));
    let record = sealed_for.clone();
    mocks.vault.expect_seal().times(1).returning(move |id, _| {
        record.lock().unwrap().push(id);
        Ok(SealedCredentials::from_bytes(vec![2]))
    });
    mocks
        .store
        .expect_commit()
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let created = mocks
        .service()
        .create_connection(
            &caller(&ada),
            NewConnection {
                credentials: None,
                integration_connection_id: Some(
                    Opaque::parse("i", &source_id.to_string(), 64).unwrap(),
                ),
                ..new_connection(org)
            },
        )
        .await
        .unwrap();
    let new_id = created.data.connection.id;
    assert_ne!(new_id, source_id);
    assert_eq!(*sealed_for.lock().unwrap(), vec![new_id]);
}

#[tokio::test]
async fn a_background_failure_is_written_compare_and_set_on_what_the_worker_read() {
    let conn = connection(OrganizationId::new());
    let (id, seen) = (conn.id, conn.updated_at);
    let mut mocks = Mocks::new();
    mocks
        .store
        .expect_commit()
        .withf(move |c| {
            matches!(c.as_slice(), [Change::SetConnectionStatusIfUnchanged {
                id: written, seen_updated_at, status: ConnectionStatus::Error { code, .. }, ..
            }] if *written == id && *seen_updated_at == seen && *code == ProviderErrorCode::AuthExpired)
                && c.expectation(0) == Some(crate::ports::Expectation::ExactlyOne)
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let report = mocks
        .service()
        .record_connection_failure(&conn, ProviderErrorCode::AuthExpired, "revoked".into())
        .await
        .unwrap();
    assert_eq!(report, StatusReport::Recorded);
}

#[tokio::test]
async fn a_stale_background_failure_is_superseded_not_an_error() {
    let conn = connection(OrganizationId::new());
    let mut mocks = Mocks::new();
    mocks
        .store
        .expect_commit()
        .times(1)
        .returning(|_| Err(matched_nothing(0)));
    let report = mocks
        .service()
        .record_connection_failure(&conn, ProviderErrorCode::AuthExpired, "revoked".into())
        .await
        .unwrap();
    assert_eq!(report, StatusReport::Superseded);
}

#[tokio::test]
async fn channels_of_the_same_name_are_each_selected_under_that_name() {
    // Hazel channel names are not unique, so a derived name never makes a selection fail.
    let conn = connection(OrganizationId::new());
    let (mut mocks, caller) = administering(&conn);
    mocks.slack.expect_list_channels().returning(|_, _| {
        let mut first = external("C1");
        first.name = "general".into();
        let mut second = external("C2");
        second.name = "general".into();
        Ok(vec![first, second])
    });
    mocks.links.expect_list_all().returning(|_| Ok(Vec::new()));
    mocks
        .store
        .expect_commit()
        .withf(|c| {
            let names: Vec<&str> = c
                .iter()
                .filter_map(|change| match change {
                    Change::InsertChannel(ch) => Some(ch.name.as_str()),
                    _ => None,
                })
                .collect();
            names == ["general", "general"]
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    mocks
        .service()
        .select_channels(&caller, conn.id, Vec::new(), true)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_selection_maps_only_link_conflicts_to_link_exists() {
    for (rule, link_exists) in [
        (crate::ports::UniqueRule::LinkExternalChannel, true),
        (crate::ports::UniqueRule::LinkHazelChannel, true),
        (crate::ports::UniqueRule::PrimaryKey, false),
    ] {
        let conn = connection(OrganizationId::new());
        let (mut mocks, caller) = administering(&conn);
        mocks
            .slack
            .expect_list_channels()
            .returning(|_, _| Ok(vec![external("C1")]));
        mocks.links.expect_list_all().returning(|_| Ok(Vec::new()));
        mocks.store.expect_commit().times(1).returning(move |_| {
            Err(StoreError::Conflict {
                change_index: 1,
                constraint: rule,
            })
        });
        let err = mocks
            .service()
            .select_channels(&caller, conn.id, Vec::new(), true)
            .await
            .unwrap_err();
        if link_exists {
            assert!(
                matches!(err, SelectChannelsError::ChannelLinkExists),
                "{rule:?}: {err:?}"
            );
        } else {
            assert!(
                matches!(err, SelectChannelsError::Unexpected(_)),
                "{rule:?}: {err:?}"
            );
        }
    }
}

/// Mocks for `create_link` of `C9` in a connection of `org` the caller owns, with a Hazel
/// channel of that organization and no links yet; the provider answers `eligibility`.
fn link_mocks(
    ada: &crate::model::identity::User,
    conn: &SyncConnection,
    eligibility: ChannelEligibility,
) -> (Mocks, ChannelId) {
    let mut mocks = Mocks::new();
    let m = member_of(ada, conn.organization_id, Role::Owner);
    mocks
        .members
        .expect_find_for_user()
        .returning(move |_, _| Ok(Some(m.clone())));
    let view = conn.clone();
    mocks.connections.expect_find().returning(move |_| {
        Ok(Some(ConnectionView {
            connection: view.clone(),
            channel_count: 0,
        }))
    });
    let channel = Channel {
        id: ChannelId::new(),
        organization_id: conn.organization_id,
        name: Name::parse("name", "general").unwrap(),
        kind: ChannelKind::Public,
        created_at: at(),
    };
    let channel_id = channel.id;
    mocks
        .channels
        .expect_find()
        .returning(move |_| Ok(Some(channel.clone())));
    mocks.links.expect_list_all().returning(|_| Ok(Vec::new()));
    mocks
        .slack
        .expect_check_channel()
        .withf(|_, _, c| c.as_str() == "C9")
        .times(1)
        .returning(move |_, _, _| Ok(eligibility.clone()));
    (mocks, channel_id)
}

fn new_link(channel: ChannelId) -> NewLink {
    NewLink {
        hazel_channel_id: channel,
        external_channel_id: ExternalChannelId::parse("id", "C9").unwrap(),
        external_channel_name: None,
        direction: None,
        settings: LinkSettingsPatch::default(),
    }
}

#[tokio::test]
async fn linking_a_joinable_channel_joins_it_before_storing_the_link() {
    let ada = user("ada");
    let conn = connection(OrganizationId::new());
    let (mut mocks, channel) = link_mocks(&ada, &conn, ChannelEligibility::Joinable);
    let mut order = mockall::Sequence::new();
    mocks
        .slack
        .expect_join_channel()
        .withf(|_, _, c| c.as_str() == "C9")
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _, _| Ok(()));
    mocks
        .store
        .expect_commit()
        .withf(|c| matches!(c.as_slice(), [Change::InsertChannelLink(l)] if l.external_channel_id.as_str() == "C9"))
        .times(1)
        .in_sequence(&mut order)
        .returning(|c| Ok(committed(c.len())));
    let link = mocks
        .service()
        .create_link(&caller(&ada), conn.id, new_link(channel))
        .await
        .unwrap();
    assert_eq!(link.data.external_channel_id.as_str(), "C9");
}

#[tokio::test]
async fn linking_an_ineligible_channel_is_refused_naming_the_fix_and_stores_nothing() {
    let ada = user("ada");
    let conn = connection(OrganizationId::new());
    let (mut mocks, channel) = link_mocks(
        &ada,
        &conn,
        ChannelEligibility::Ineligible(crate::model::chat_sync::IneligibleReason::NotFound),
    );
    mocks.slack.expect_join_channel().never();
    mocks.store.expect_commit().never();
    let err = mocks
        .service()
        .create_link(&caller(&ada), conn.id, new_link(channel))
        .await
        .unwrap_err();
    match err {
        CreateLinkError::Provider(ProviderError::InsufficientPermissions { message, .. }) => {
            assert!(
                message.contains("C9") && message.contains("invite"),
                "{message}"
            );
        }
        other => panic!("expected INSUFFICIENT_PERMISSIONS, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failed_join_stores_no_link() {
    let ada = user("ada");
    let conn = connection(OrganizationId::new());
    let (mut mocks, channel) = link_mocks(&ada, &conn, ChannelEligibility::Joinable);
    mocks.slack.expect_join_channel().returning(|_, _, _| {
        Err(ProviderError::RateLimited {
            retry_after_seconds: 3,
        })
    });
    mocks.store.expect_commit().never();
    let err = mocks
        .service()
        .create_link(&caller(&ada), conn.id, new_link(channel))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        CreateLinkError::Provider(ProviderError::RateLimited {
            retry_after_seconds: 3
        })
    ));
}
