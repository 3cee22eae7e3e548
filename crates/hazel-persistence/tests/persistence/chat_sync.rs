//! Connections and channel links: round trips, soft deletes and the live-row uniqueness rules.

use hazel_domain::ids::SyncConnectionId;
use hazel_domain::model::chat_sync::{BotIdentity, ExternalAppId, ExternalBotId, ExternalUserId};
use hazel_domain::model::chat_sync::{
    ConnectionSettings, ConnectionSettingsPatch, ConnectionStatus, Direction, JsonObject,
    LinkSettings, LinkSettingsPatch, Provider, ProviderErrorCode, SealedCredentials,
};
use hazel_domain::model::page::PageRequest;
use hazel_domain::ports::{
    Change, ChangeOutcome, ChannelLinkRepository, ConnectionColumns, ConnectionRepository,
    ConnectionView, LinkColumns, Store as _, StoreError, UniqueRule,
};

use crate::support::{
    World, channel, commit, connection, each_backend, link, name, opaque, workspace_id,
};

fn bot(user: &str, bot_id: Option<&str>, app_id: Option<&str>) -> BotIdentity {
    BotIdentity {
        user_id: ExternalUserId::parse("u", user).unwrap(),
        bot_id: bot_id.map(|id| ExternalBotId::parse("b", id).unwrap()),
        app_id: app_id.map(|id| ExternalAppId::parse("a", id).unwrap()),
    }
}

#[tokio::test]
async fn a_learnt_bot_identity_replaces_the_stored_one_whole_and_other_patches_keep_it() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let mut expected = connection(world.organization.id, world.user.id, "T1");
        expected.bot = Some(bot("U0BOT1", Some("B0BOT1"), Some("A0APP1")));
        commit(&db, vec![Change::InsertConnection(expected.clone())]).await;

        // A Discord-like identity has no bot id: the stored one is cleared, not kept.
        expected.bot = Some(bot("123", None, Some("456")));
        let patch = |columns| Change::PatchConnection {
            id: expected.id,
            columns,
            updated_at: expected.updated_at,
        };
        commit(
            &db,
            vec![patch(ConnectionColumns {
                bot: expected.bot.clone(),
                ..ConnectionColumns::default()
            })],
        )
        .await;
        // A patch that learnt nothing leaves the identity as it is.
        commit(
            &db,
            vec![patch(ConnectionColumns {
                name: Some(name("Renamed")),
                ..ConnectionColumns::default()
            })],
        )
        .await;
        expected.name = name("Renamed");
        let found = ConnectionRepository::find(&db, expected.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.connection.bot, expected.bot);
        assert_eq!(found.connection, expected);
    })
    .await;
}

#[tokio::test]
async fn connections_round_trip_every_field() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let mut full = connection(world.organization.id, world.user.id, "T1");
        full.provider = Provider::Discord;
        full.external_workspace_name = Some(name("Guild"));
        full.status = ConnectionStatus::Error {
            code: ProviderErrorCode::AuthExpired,
            message: "token revoked".to_owned(),
        };
        full.integration_connection_id = Some(opaque("int-1"));
        full.credentials = Some(SealedCredentials::from_bytes(vec![0, 1, 2, 255]));
        full.bot = Some(bot("U0BOT1", Some("B0BOT1"), Some("A0APP1")));
        full.settings = ConnectionSettings {
            sync_threads: false,
            sync_reactions: true,
            sync_edits: false,
            sync_deletes: true,
        };
        full.metadata =
            JsonObject::from_checked_json("metadata", r#"{"team":"x","n":1}"#.to_owned()).unwrap();
        full.last_sync_at = Some(crate::support::now());
        let minimal = connection(world.organization.id, world.user.id, "T2");
        commit(
            &db,
            vec![
                Change::InsertConnection(full.clone()),
                Change::InsertConnection(minimal.clone()),
            ],
        )
        .await;

        let found = ConnectionRepository::find(&db, full.id).await.unwrap();
        assert_eq!(
            found,
            Some(ConnectionView {
                connection: full.clone(),
                channel_count: 0
            })
        );
        assert_eq!(
            db.find_by_workspace(
                world.organization.id,
                Provider::Discord,
                &workspace_id("T1")
            )
            .await
            .unwrap(),
            Some(full.clone())
        );
        // Same workspace id, other provider: not found.
        assert_eq!(
            db.find_by_workspace(world.organization.id, Provider::Slack, &workspace_id("T1"))
                .await
                .unwrap(),
            None
        );
        let page = ConnectionRepository::list(&db, world.organization.id, &PageRequest::default())
            .await
            .unwrap();
        let listed: Vec<_> = page.items.into_iter().map(|v| v.connection).collect();
        assert_eq!(listed, vec![full, minimal]);
        assert_eq!(
            ConnectionRepository::find(&db, SyncConnectionId::new())
                .await
                .unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn patches_write_the_given_columns_of_live_connections_only() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let original = connection(world.organization.id, world.user.id, "T1");
        commit(&db, vec![Change::InsertConnection(original.clone())]).await;

        let mut expected = original.clone();
        expected.name = name("Renamed");
        expected.external_workspace_name = Some(name("Acme"));
        expected.status = ConnectionStatus::Error {
            code: ProviderErrorCode::RateLimited,
            message: "slow down".to_owned(),
        };
        expected.settings.sync_edits = false;
        expected.credentials = Some(SealedCredentials::from_bytes(vec![7; 40]));
        expected.bot = Some(bot("U0BOT2", Some("B0BOT2"), Some("A0APP2")));
        expected.metadata =
            JsonObject::from_checked_json("metadata", r#"{"a":1}"#.to_owned()).unwrap();
        expected.updated_at = crate::support::now();
        let committed = commit(
            &db,
            vec![Change::PatchConnection {
                id: original.id,
                columns: ConnectionColumns {
                    name: Some(expected.name.clone()),
                    external_workspace_name: expected.external_workspace_name.clone(),
                    fallback_workspace_name: None,
                    credentials: expected.credentials.clone(),
                    bot: expected.bot.clone(),
                    status: Some(expected.status.clone()),
                    settings: ConnectionSettingsPatch {
                        sync_edits: Some(false),
                        ..ConnectionSettingsPatch::default()
                    },
                    metadata: Some(expected.metadata.clone()),
                },
                updated_at: expected.updated_at,
            }],
        )
        .await;
        assert_eq!(committed.outcomes, vec![ChangeOutcome::Affected(1)]);
        let found = ConnectionRepository::find(&db, original.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.connection, expected);

        // Back to connected: the error columns are cleared with the status.
        expected.status = ConnectionStatus::Connected;
        commit(
            &db,
            vec![Change::PatchConnection {
                id: original.id,
                columns: ConnectionColumns {
                    status: Some(ConnectionStatus::Connected),
                    ..ConnectionColumns::default()
                },
                updated_at: expected.updated_at,
            }],
        )
        .await;
        let found = ConnectionRepository::find(&db, original.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.connection, expected);

        commit(
            &db,
            vec![Change::DeleteConnection {
                id: original.id,
                at: crate::support::now(),
            }],
        )
        .await;
        let committed = commit(
            &db,
            vec![Change::PatchConnection {
                id: original.id,
                columns: ConnectionColumns {
                    name: Some(name("Too late")),
                    ..ConnectionColumns::default()
                },
                updated_at: crate::support::now(),
            }],
        )
        .await;
        assert_eq!(committed.outcomes, vec![ChangeOutcome::Affected(0)]);
        assert_eq!(
            ConnectionRepository::find(&db, original.id).await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn a_status_patch_keeps_credentials_written_after_the_status_was_decided() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let mut original = connection(world.organization.id, world.user.id, "T1");
        original.credentials = Some(SealedCredentials::from_bytes(vec![1; 16]));
        commit(&db, vec![Change::InsertConnection(original.clone())]).await;

        // A validation reads the connection and asks the provider; meanwhile a PATCH stores
        // new credentials; then the validation records its verdict.
        let fresh = SealedCredentials::from_bytes(vec![2; 16]);
        commit(
            &db,
            vec![Change::PatchConnection {
                id: original.id,
                columns: ConnectionColumns {
                    credentials: Some(fresh.clone()),
                    ..ConnectionColumns::default()
                },
                updated_at: crate::support::now(),
            }],
        )
        .await;
        let verdict = ConnectionStatus::Error {
            code: ProviderErrorCode::InvalidCredentials,
            message: "invalid_auth".to_owned(),
        };
        commit(
            &db,
            vec![Change::PatchConnection {
                id: original.id,
                columns: ConnectionColumns {
                    status: Some(verdict.clone()),
                    ..ConnectionColumns::default()
                },
                updated_at: crate::support::now(),
            }],
        )
        .await;

        let found = ConnectionRepository::find(&db, original.id)
            .await
            .unwrap()
            .unwrap()
            .connection;
        assert_eq!(found.credentials, Some(fresh));
        assert_eq!(found.status, verdict);
        assert_eq!(found.name, original.name);
    })
    .await;
}

#[tokio::test]
async fn a_fallback_workspace_name_fills_only_a_missing_name() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let unnamed = connection(world.organization.id, world.user.id, "T1");
        let mut named = connection(world.organization.id, world.user.id, "T2");
        named.external_workspace_name = Some(name("Set by a person"));
        commit(
            &db,
            vec![
                Change::InsertConnection(unnamed.clone()),
                Change::InsertConnection(named.clone()),
            ],
        )
        .await;
        let fallback = |id| Change::PatchConnection {
            id,
            columns: ConnectionColumns {
                fallback_workspace_name: Some(name("From the provider")),
                ..ConnectionColumns::default()
            },
            updated_at: crate::support::now(),
        };
        commit(&db, vec![fallback(unnamed.id), fallback(named.id)]).await;

        let workspace_name = |id| {
            let db = db.clone();
            async move {
                ConnectionRepository::find(&db, id)
                    .await
                    .unwrap()
                    .unwrap()
                    .connection
                    .external_workspace_name
            }
        };
        assert_eq!(
            workspace_name(unnamed.id).await,
            Some(name("From the provider"))
        );
        assert_eq!(
            workspace_name(named.id).await,
            Some(name("Set by a person"))
        );
    })
    .await;
}

#[tokio::test]
async fn deleting_a_connection_hides_it_and_its_links_and_frees_the_workspace() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let first = connection(world.organization.id, world.user.id, "T1");
        let second_channel = channel(world.organization.id);
        let links = [
            link(first.id, world.channel.id, "C1"),
            link(first.id, second_channel.id, "C2"),
        ];
        let mut changes = vec![
            Change::InsertConnection(first.clone()),
            Change::InsertChannel(second_channel),
        ];
        changes.extend(links.iter().cloned().map(Change::InsertChannelLink));
        commit(&db, changes).await;

        // A second live connection to the same workspace is refused.
        let duplicate = connection(world.organization.id, world.user.id, "T1");
        let err = db
            .commit(vec![Change::InsertConnection(duplicate.clone())].into())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    change_index: 0,
                    constraint: UniqueRule::ConnectionWorkspace
                }
            ),
            "{err:?}"
        );

        let committed = commit(
            &db,
            vec![Change::DeleteConnection {
                id: first.id,
                at: crate::support::now(),
            }],
        )
        .await;
        assert_eq!(committed.outcomes, vec![ChangeOutcome::Affected(1)]);
        assert_eq!(
            ConnectionRepository::find(&db, first.id).await.unwrap(),
            None
        );
        assert_eq!(
            db.find_by_workspace(world.organization.id, Provider::Slack, &workspace_id("T1"))
                .await
                .unwrap(),
            None
        );
        let page = ConnectionRepository::list(&db, world.organization.id, &PageRequest::default())
            .await
            .unwrap();
        assert!(page.items.is_empty());
        for l in &links {
            assert_eq!(ChannelLinkRepository::find(&db, l.id).await.unwrap(), None);
        }
        assert!(db.list_all(first.id).await.unwrap().is_empty());
        assert!(
            ChannelLinkRepository::list(&db, first.id, &PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );

        // Deleting again matches nothing; the workspace can be connected again.
        let committed = commit(
            &db,
            vec![Change::DeleteConnection {
                id: first.id,
                at: crate::support::now(),
            }],
        )
        .await;
        assert_eq!(committed.outcomes, vec![ChangeOutcome::Affected(0)]);
        let committed = commit(&db, vec![Change::InsertConnection(duplicate.clone())]).await;
        assert_eq!(committed.outcomes, vec![ChangeOutcome::Applied]);
        assert_eq!(
            db.find_by_workspace(world.organization.id, Provider::Slack, &workspace_id("T1"))
                .await
                .unwrap(),
            Some(duplicate.clone())
        );
        // The old links were deleted too, so the new connection can link the same channels.
        commit(
            &db,
            vec![Change::InsertChannelLink(link(
                duplicate.id,
                world.channel.id,
                "C1",
            ))],
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn links_are_unique_per_connection_among_live_links() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        let other_conn = connection(world.organization.id, world.user.id, "T2");
        let other_channel = channel(world.organization.id);
        let third_channel = channel(world.organization.id);
        let first = link(conn.id, world.channel.id, "C1");
        commit(
            &db,
            vec![
                Change::InsertConnection(conn.clone()),
                Change::InsertConnection(other_conn.clone()),
                Change::InsertChannel(other_channel.clone()),
                Change::InsertChannel(third_channel.clone()),
                Change::InsertChannelLink(first.clone()),
            ],
        )
        .await;

        for (clash, rule) in [
            (
                link(conn.id, world.channel.id, "C9"),
                UniqueRule::LinkHazelChannel,
            ),
            (
                link(conn.id, third_channel.id, "C1"),
                UniqueRule::LinkExternalChannel,
            ),
        ] {
            let err = db
                .commit(
                    vec![
                        Change::InsertChannelLink(link(conn.id, other_channel.id, "C5")),
                        Change::InsertChannelLink(clash),
                    ]
                    .into(),
                )
                .await
                .unwrap_err();
            assert!(
                matches!(err, StoreError::Conflict { change_index: 1, constraint } if constraint == rule),
                "{err:?}"
            );
        }
        // Nothing of the refused changesets was written.
        assert_eq!(db.list_all(conn.id).await.unwrap(), vec![first.clone()]);

        // The same channels may be linked in another connection.
        commit(
            &db,
            vec![Change::InsertChannelLink(link(
                other_conn.id,
                world.channel.id,
                "C1",
            ))],
        )
        .await;

        // A deleted link frees both of its slots.
        let committed = commit(
            &db,
            vec![Change::DeleteChannelLink {
                id: first.id,
                at: crate::support::now(),
            }],
        )
        .await;
        assert_eq!(committed.outcomes, vec![ChangeOutcome::Affected(1)]);
        assert_eq!(
            ChannelLinkRepository::find(&db, first.id).await.unwrap(),
            None
        );
        let again = link(conn.id, world.channel.id, "C1");
        commit(&db, vec![Change::InsertChannelLink(again.clone())]).await;
        assert_eq!(db.list_all(conn.id).await.unwrap(), vec![again]);
    })
    .await;
}

#[tokio::test]
async fn link_patches_write_the_given_columns_and_keep_the_others() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        let mut original = link(conn.id, world.channel.id, "C1");
        original.external_channel_name = Some(name("general"));
        commit(
            &db,
            vec![
                Change::InsertConnection(conn.clone()),
                Change::InsertChannelLink(original.clone()),
            ],
        )
        .await;
        assert_eq!(
            ChannelLinkRepository::find(&db, original.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&original)
        );

        let mut expected = original.clone();
        expected.direction = Direction::Inbound;
        expected.settings = LinkSettings {
            sync_pins: true,
            mention_mapping: false,
            overrides: ConnectionSettingsPatch {
                sync_threads: Some(false),
                sync_reactions: None,
                sync_edits: Some(true),
                sync_deletes: None,
            },
        };
        expected.updated_at = crate::support::now();
        let committed = commit(
            &db,
            vec![Change::PatchChannelLink {
                id: original.id,
                columns: LinkColumns {
                    direction: Some(Direction::Inbound),
                    is_active: None,
                    settings: LinkSettingsPatch {
                        sync_pins: Some(true),
                        mention_mapping: Some(false),
                        overrides: expected.settings.overrides,
                    },
                },
                updated_at: expected.updated_at,
            }],
        )
        .await;
        assert_eq!(committed.outcomes, vec![ChangeOutcome::Affected(1)]);
        assert_eq!(
            ChannelLinkRepository::find(&db, original.id).await.unwrap(),
            Some(expected.clone())
        );

        // Selecting channels toggles only the flag: the direction and settings a concurrent
        // update wrote stay.
        expected.is_active = false;
        commit(
            &db,
            vec![Change::PatchChannelLink {
                id: original.id,
                columns: LinkColumns {
                    is_active: Some(false),
                    ..LinkColumns::default()
                },
                updated_at: expected.updated_at,
            }],
        )
        .await;
        assert_eq!(
            ChannelLinkRepository::find(&db, original.id).await.unwrap(),
            Some(expected)
        );

        commit(
            &db,
            vec![Change::DeleteChannelLink {
                id: original.id,
                at: crate::support::now(),
            }],
        )
        .await;
        let committed = commit(
            &db,
            vec![Change::PatchChannelLink {
                id: original.id,
                columns: LinkColumns {
                    is_active: Some(true),
                    ..LinkColumns::default()
                },
                updated_at: crate::support::now(),
            }],
        )
        .await;
        assert_eq!(committed.outcomes, vec![ChangeOutcome::Affected(0)]);
        assert_eq!(
            ChannelLinkRepository::find(&db, original.id).await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn channel_count_is_the_number_of_live_active_links() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let busy = connection(world.organization.id, world.user.id, "T1");
        let idle = connection(world.organization.id, world.user.id, "T2");
        let channels: Vec<_> = (0..4).map(|_| channel(world.organization.id)).collect();
        let active_a = link(busy.id, channels[0].id, "C0");
        let active_b = link(busy.id, channels[1].id, "C1");
        let mut inactive = link(busy.id, channels[2].id, "C2");
        inactive.is_active = false;
        let deleted = link(busy.id, channels[3].id, "C3");
        let mut changes = vec![
            Change::InsertConnection(busy.clone()),
            Change::InsertConnection(idle.clone()),
        ];
        changes.extend(channels.iter().cloned().map(Change::InsertChannel));
        changes.extend(
            [active_a, active_b, inactive.clone(), deleted.clone()].map(Change::InsertChannelLink),
        );
        changes.push(Change::DeleteChannelLink {
            id: deleted.id,
            at: crate::support::now(),
        });
        commit(&db, changes).await;

        assert_eq!(
            ConnectionRepository::find(&db, busy.id)
                .await
                .unwrap()
                .unwrap()
                .channel_count,
            2
        );
        let page = ConnectionRepository::list(&db, world.organization.id, &PageRequest::default())
            .await
            .unwrap();
        let counts: Vec<(SyncConnectionId, u64)> = page
            .items
            .iter()
            .map(|v| (v.connection.id, v.channel_count))
            .collect();
        assert_eq!(counts, vec![(busy.id, 2), (idle.id, 0)]);
        // Inactive links are still listed; deleted ones are not.
        assert_eq!(db.list_all(busy.id).await.unwrap().len(), 3);
        assert!(db.list_all(busy.id).await.unwrap().contains(&inactive));
    })
    .await;
}
