//! The sync engine's tables: receipts deduplicate, the outbox keeps each link's order, link
//! claims and receipt leases are exclusive and expire, guarded writes refuse a lost lease,
//! message links round-trip with every part.

use std::collections::BTreeSet;
use std::time::Duration;

use hazel_domain::ids::{DeliveryId, MessageLinkId, ReceiptId, WorkerId};
use hazel_domain::model::chat_sync::ExternalChannelId;
use hazel_domain::model::chat_sync::{
    ChannelLink, ConnectionStatus, Direction, Provider, SyncConnection,
};
use hazel_domain::model::delivery::{
    ContentHash, Delivery, DeliveryKind, DeliveryState, EventReceipt, IgnoreReason, LastError,
    LinkSource, MessageLink, ReceiptSource,
};
use hazel_domain::model::external::ExternalMessageId;
use hazel_domain::model::page::PageRequest;
use hazel_domain::model::sync::{
    DedupeKey, ExternalRefs, InboundEvent, InboundEventKind, ReactionEmoji,
};
use hazel_domain::ports::{
    Change, ChangeOutcome, Changeset, DeliveryFilter, DeliveryRef, Store as _, StoreError,
    SyncChange, SyncQueue as _, SyncRepository as _, UniqueRule,
};
use hazel_domain::services::sync::Route;

use crate::support::{World, commit, connection, each_backend, link, message, now};

fn external(raw: &str) -> ExternalMessageId {
    ExternalMessageId::parse("m", raw).unwrap()
}

fn receipt(connection: hazel_domain::ids::SyncConnectionId, key: &str) -> EventReceipt {
    let event = InboundEvent {
        dedupe_key: DedupeKey::new(key),
        workspace: crate::support::workspace_id("T1"),
        channel: ExternalChannelId::parse("c", "C1").unwrap(),
        occurred_at: now(),
        kind: InboundEventKind::ReactionAdded {
            message: external("1.1"),
            user: hazel_domain::model::external::ExternalUserId::parse("u", "U1").unwrap(),
            emoji: ReactionEmoji::Custom("PartyParrot".into()),
        },
    };
    EventReceipt {
        id: ReceiptId::new(),
        connection_id: connection,
        source: ReceiptSource::Webhook,
        dedupe_key: event.dedupe_key.clone(),
        event,
        state: DeliveryState::due(now()),
        hazel_message_id: None,
        channel_link_id: None,
        created_at: now(),
    }
}

fn delivery(
    connection: hazel_domain::ids::SyncConnectionId,
    link: hazel_domain::ids::ChannelLinkId,
    message: hazel_domain::ids::MessageId,
    kind: DeliveryKind,
) -> Delivery {
    Delivery {
        id: DeliveryId::new(),
        connection_id: connection,
        channel_link_id: link,
        kind,
        hazel_message_id: message,
        emoji: None,
        state: DeliveryState::due(now() - Duration::from_secs(1)),
        created_at: now(),
    }
}

#[tokio::test]
async fn a_receipt_recorded_twice_is_one_receipt_and_reads_back_whole() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        commit(&db, vec![Change::InsertConnection(conn.clone())]).await;
        let first = receipt(conn.id, "reaction:add:C1:1.1:U1:PartyParrot");
        let again = receipt(conn.id, "reaction:add:C1:1.1:U1:PartyParrot");
        let committed = commit(
            &db,
            Changeset::new()
                .with(SyncChange::InsertReceipt(Box::new(first.clone())))
                .with(SyncChange::InsertReceipt(Box::new(again))),
        )
        .await;
        assert_eq!(
            committed.outcomes,
            vec![ChangeOutcome::Applied, ChangeOutcome::Skipped]
        );
        let worker = WorkerId::new();
        let leases = db
            .claim_receipts(worker, 10, Duration::from_secs(30), now())
            .await
            .unwrap();
        assert_eq!(leases.len(), 1);
        assert_eq!(leases[0].receipt.event, first.event);
        assert_eq!(leases[0].receipt.id, first.id);
        // Leased: another worker finds nothing until the lease expires.
        let other = WorkerId::new();
        assert!(
            db.claim_receipts(other, 10, Duration::from_secs(30), now())
                .await
                .unwrap()
                .is_empty()
        );
        let later = now() + Duration::from_secs(31);
        let taken_over = db
            .claim_receipts(other, 10, Duration::from_secs(30), later)
            .await
            .unwrap();
        assert_eq!(taken_over.len(), 1);
        // The first worker's guarded write now refuses and writes nothing.
        let refused = db
            .commit(
                Changeset::new()
                    .with(
                        SyncChange::HoldsReceiptLease {
                            id: first.id,
                            worker,
                            now: later,
                        }
                        .expect_one(),
                    )
                    .with(SyncChange::SetReceiptState {
                        id: first.id,
                        state: DeliveryState::Ignored {
                            reason: IgnoreReason::OwnBot,
                            completed_at: later,
                        },
                        hazel_message_id: None,
                        channel_link_id: None,
                    }),
            )
            .await;
        assert!(matches!(
            refused,
            Err(StoreError::Precondition {
                change_index: 0,
                ..
            })
        ));
        let listed = db
            .list_deliveries(conn.id, DeliveryFilter::default(), &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].state.status().as_str(), "pending");
    })
    .await;
}

#[tokio::test]
async fn one_worker_holds_a_links_queue_and_the_head_is_in_order() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        let l = link(conn.id, world.channel.id, "C1");
        let msg = message(world.channel.id, world.owner.id, "hi");
        commit(
            &db,
            vec![
                Change::InsertConnection(conn.clone()),
                Change::InsertChannelLink(l.clone()),
                Change::InsertMessage(msg.clone()),
            ],
        )
        .await;
        let create = delivery(conn.id, l.id, msg.id, DeliveryKind::MessageCreate);
        let edit = delivery(conn.id, l.id, msg.id, DeliveryKind::MessageEdit);
        commit(
            &db,
            Changeset::new().with(SyncChange::EnqueueDelivery(Box::new(create.clone()))),
        )
        .await;
        commit(
            &db,
            Changeset::new().with(SyncChange::EnqueueDelivery(Box::new(edit.clone()))),
        )
        .await;
        let (a, b) = (WorkerId::new(), WorkerId::new());
        let lease = Duration::from_secs(30);
        let claims = db.claim_links(a, 10, lease, now()).await.unwrap();
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0].channel_link_id, l.id);
        assert!(
            db.claim_links(b, 10, lease, now())
                .await
                .unwrap()
                .is_empty()
        );
        let head = db.queue_head(l.id, 10).await.unwrap();
        let kinds: Vec<_> = head.iter().map(|q| q.delivery.kind).collect();
        assert_eq!(
            kinds,
            vec![DeliveryKind::MessageCreate, DeliveryKind::MessageEdit]
        );
        assert!(head[0].sequence < head[1].sequence);

        // The holder records the create; the guard passes.
        let delivered = Changeset::new()
            .with(
                SyncChange::HoldsLinkClaim {
                    link: l.id,
                    worker: a,
                    now: now(),
                }
                .expect_one(),
            )
            .with(SyncChange::SetDeliveryState {
                id: create.id,
                state: DeliveryState::Delivered {
                    attempts: 1,
                    completed_at: now(),
                },
                external_message_id: Some(external("1.1")),
            });
        db.commit(delivered).await.unwrap();
        assert_eq!(db.queue_head(l.id, 10).await.unwrap().len(), 1);

        // Released, the other worker takes it at once; the first one's guard now refuses.
        db.release_link(&claims[0]).await.unwrap();
        let taken = db.claim_links(b, 10, lease, now()).await.unwrap();
        assert_eq!(taken.len(), 1);
        let stale = db
            .commit(
                Changeset::new().with(
                    SyncChange::HoldsLinkClaim {
                        link: l.id,
                        worker: a,
                        now: now(),
                    }
                    .expect_one(),
                ),
            )
            .await;
        assert!(matches!(stale, Err(StoreError::Precondition { .. })));
        assert!(db.renew_link(&taken[0], lease, now()).await.unwrap());
        assert!(!db.renew_link(&claims[0], lease, now()).await.unwrap());

        // A paused connection's queue is not claimed (held, not dropped).
        db.release_link(&taken[0]).await.unwrap();
        commit(
            &db,
            vec![Change::PatchConnection {
                id: conn.id,
                columns: hazel_domain::ports::ConnectionColumns {
                    status: Some(ConnectionStatus::Disconnected),
                    ..Default::default()
                },
                updated_at: now(),
            }],
        )
        .await;
        assert!(
            db.claim_links(a, 10, lease, now())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(db.queue_head(l.id, 10).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn dead_letters_are_requeued_once_and_listed_by_status() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        let l = link(conn.id, world.channel.id, "C1");
        let msg = message(world.channel.id, world.owner.id, "hi");
        commit(
            &db,
            vec![
                Change::InsertConnection(conn.clone()),
                Change::InsertChannelLink(l.clone()),
                Change::InsertMessage(msg.clone()),
            ],
        )
        .await;
        let mut dead = delivery(conn.id, l.id, msg.id, DeliveryKind::MessageCreate);
        dead.state = DeliveryState::Failed {
            attempts: 10,
            last_error: LastError {
                code: "TRANSIENT".into(),
                message: "502".into(),
            },
            completed_at: now(),
        };
        commit(
            &db,
            Changeset::new().with(SyncChange::EnqueueDelivery(Box::new(dead.clone()))),
        )
        .await;
        let failed = db
            .list_deliveries(
                conn.id,
                DeliveryFilter {
                    status: Some(hazel_domain::model::delivery::DeliveryStatus::Failed),
                    direction: None,
                },
                &PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(failed.items.len(), 1);
        assert_eq!(failed.items[0].state, dead.state);
        let requeue = || SyncChange::RequeueDelivery {
            id: dead.id,
            at: now(),
        };
        let first = commit(&db, Changeset::new().with(requeue())).await;
        assert_eq!(first.outcomes, vec![ChangeOutcome::Affected(1)]);
        let second = commit(&db, Changeset::new().with(requeue())).await;
        assert_eq!(second.outcomes, vec![ChangeOutcome::Affected(0)]);
        assert!(db.failed_deliveries(conn.id, 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn message_links_keep_every_part_and_are_unique_on_both_ids() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        let l = link(conn.id, world.channel.id, "C1");
        let msg = message(world.channel.id, world.owner.id, "hi");
        commit(
            &db,
            vec![
                Change::InsertConnection(conn.clone()),
                Change::InsertChannelLink(l.clone()),
                Change::InsertMessage(msg.clone()),
            ],
        )
        .await;
        let linked = MessageLink {
            id: MessageLinkId::new(),
            channel_link_id: l.id,
            hazel_message_id: msg.id,
            external: ExternalRefs::new(vec![external("1.1"), external("1.2"), external("1.3")])
                .unwrap(),
            source: LinkSource::Hazel,
            thread: None,
            content_hash: ContentHash::of("hi"),
            reactions: [ReactionEmoji::Unicode("👍🏼".into())].into_iter().collect(),
            pinned: false,
            created_at: now(),
            updated_at: now(),
        };
        commit(
            &db,
            Changeset::new().with(SyncChange::InsertMessageLink(Box::new(linked.clone()))),
        )
        .await;
        assert_eq!(
            db.message_link(l.id, msg.id).await.unwrap(),
            Some(linked.clone())
        );
        assert_eq!(
            db.message_link_by_external(l.id, &external("1.1"))
                .await
                .unwrap(),
            Some(linked.clone())
        );
        let mut twin = linked.clone();
        twin.id = MessageLinkId::new();
        twin.external = ExternalRefs::single(external("9.9"));
        let conflict = db
            .commit(Changeset::new().with(SyncChange::InsertMessageLink(Box::new(twin))))
            .await;
        assert!(
            matches!(
                conflict,
                Err(StoreError::Conflict {
                    constraint: UniqueRule::MessageLinkHazel,
                    ..
                })
            ),
            "{conflict:?}"
        );
        let mut other_message = message(world.channel.id, world.owner.id, "other");
        other_message.id = hazel_domain::ids::MessageId::new();
        commit(&db, vec![Change::InsertMessage(other_message.clone())]).await;
        let mut same_external = linked.clone();
        same_external.id = MessageLinkId::new();
        same_external.hazel_message_id = other_message.id;
        let conflict = db
            .commit(Changeset::new().with(SyncChange::InsertMessageLink(Box::new(same_external))))
            .await;
        assert!(
            matches!(
                conflict,
                Err(StoreError::Conflict {
                    constraint: UniqueRule::MessageLinkExternal,
                    ..
                })
            ),
            "{conflict:?}"
        );
        // An edit that dropped a part.
        commit(
            &db,
            Changeset::new().with(SyncChange::UpdateMessageLink {
                id: linked.id,
                external: ExternalRefs::new(vec![external("1.1"), external("1.2")]).unwrap(),
                thread: None,
                content_hash: ContentHash::of("shorter"),
                reactions: BTreeSet::new(),
                updated_at: now(),
            }),
        )
        .await;
        let updated = db.message_link(l.id, msg.id).await.unwrap().unwrap();
        assert_eq!(updated.external.parts().len(), 2);
        assert_eq!(updated.content_hash, ContentHash::of("shorter"));
        assert!(updated.reactions.is_empty());
    })
    .await;
}

/// A channel's routes are answered from memory for a second, but a link this process adds or
/// removes is seen by the very next read, and one another process adds is seen within the
/// second.
#[tokio::test]
async fn a_channels_routes_follow_link_changes_at_once_here_and_within_a_second_elsewhere() {
    crate::support::each_backend_url(|url| async move {
        let db = crate::support::migrated(&url).await;
        let other = hazel_persistence::Database::connect(&url).await.unwrap();
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        commit(&db, vec![Change::InsertConnection(conn.clone())]).await;
        assert!(
            db.routes_for_channel(world.channel.id)
                .await
                .unwrap()
                .is_empty()
        );

        let here = link(conn.id, world.channel.id, "C1");
        commit(&db, vec![Change::InsertChannelLink(here.clone())]).await;
        let routes = db.routes_for_channel(world.channel.id).await.unwrap();
        assert_eq!(
            routes.iter().map(|r| r.link.id).collect::<Vec<_>>(),
            vec![here.id]
        );

        // A channel is linked once per connection: the other process links it in another.
        let second = connection(world.organization.id, world.user.id, "T2");
        let elsewhere = link(second.id, world.channel.id, "C2");
        commit(
            &other,
            vec![
                Change::InsertConnection(second),
                Change::InsertChannelLink(elsewhere.clone()),
            ],
        )
        .await;
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            let routes = db.routes_for_channel(world.channel.id).await.unwrap();
            if routes.len() == 2 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "a link added by another process was not seen within the cache's lifetime"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        commit(
            &db,
            vec![Change::DeleteChannelLink {
                id: here.id,
                at: now(),
            }],
        )
        .await;
        let routes = db.routes_for_channel(world.channel.id).await.unwrap();
        assert_eq!(
            routes.iter().map(|r| r.link.id).collect::<Vec<_>>(),
            vec![elsewhere.id]
        );
    })
    .await;
}

/// A link's route (by id and by external channel) and a workspace's connections are answered
/// from memory too, but the next read after this process changes the connection or the link
/// sees the change, and a link or workspace not found is never remembered as missing.
#[tokio::test]
async fn routes_and_workspace_connections_follow_this_processs_changes_at_once() {
    crate::support::each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        let workspace = crate::support::workspace_id("T1");
        let provider = conn.provider;
        let external = ExternalChannelId::parse("c", "C1").unwrap();
        // Missing, then added: seen at once.
        assert!(
            db.connections_for_workspace(provider, &workspace)
                .await
                .unwrap()
                .is_empty()
        );
        commit(&db, vec![Change::InsertConnection(conn.clone())]).await;
        assert_eq!(
            db.connections_for_workspace(provider, &workspace)
                .await
                .unwrap()
                .len(),
            1
        );
        let linked = link(conn.id, world.channel.id, "C1");
        assert!(db.route(linked.id).await.unwrap().is_none());
        assert!(
            db.route_for_external(conn.id, &external)
                .await
                .unwrap()
                .is_none()
        );
        commit(&db, vec![Change::InsertChannelLink(linked.clone())]).await;
        assert_eq!(db.route(linked.id).await.unwrap().unwrap().link, linked);

        // Kept, then changed: the next reads see the change.
        let status = |route: Option<Route>| route.unwrap().connection.status;
        assert_eq!(
            status(db.route_for_external(conn.id, &external).await.unwrap()),
            ConnectionStatus::Connected
        );
        commit(
            &db,
            vec![Change::PatchConnection {
                id: conn.id,
                columns: hazel_domain::ports::ConnectionColumns {
                    status: Some(ConnectionStatus::Disconnected),
                    ..Default::default()
                },
                updated_at: now(),
            }],
        )
        .await;
        assert_eq!(
            status(db.route(linked.id).await.unwrap()),
            ConnectionStatus::Disconnected
        );
        assert_eq!(
            status(db.route_for_external(conn.id, &external).await.unwrap()),
            ConnectionStatus::Disconnected
        );
        assert_eq!(
            db.connections_for_workspace(provider, &workspace)
                .await
                .unwrap()[0]
                .status,
            ConnectionStatus::Disconnected
        );

        commit(
            &db,
            vec![Change::DeleteChannelLink {
                id: linked.id,
                at: now(),
            }],
        )
        .await;
        assert!(db.route(linked.id).await.unwrap().is_none());
        assert!(
            db.route_for_external(conn.id, &external)
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

/// A batch of delivery outcomes (states in a row, message links in a row) is written with one
/// statement per kind, answers each change's outcome, and reads back through the batched
/// reads; a run with a conflicting row fails naming that change and writes nothing.
/// A catch-up reads only what it can read, however many other links there are.
#[tokio::test]
async fn readable_routes_are_the_active_inbound_links_of_connected_connections() {
    crate::support::each_backend(|db| async move {
        let world = World::create(&db).await;
        let mut changes = Vec::new();
        let mut linked = |workspace: &str, edit: &dyn Fn(&mut SyncConnection, &mut ChannelLink)| {
            let mut conn = connection(world.organization.id, world.user.id, workspace);
            let mut l = link(conn.id, world.channel.id, "C1");
            edit(&mut conn, &mut l);
            changes.push(Change::InsertConnection(conn));
            changes.push(Change::InsertChannelLink(l.clone()));
            l.id
        };
        let both = linked("T1", &|_, _| {});
        let inbound = linked("T2", &|_, l| l.direction = Direction::Inbound);
        linked("T3", &|_, l| l.direction = Direction::Outbound);
        linked("T4", &|_, l| l.is_active = false);
        linked("T5", &|c, _| c.status = ConnectionStatus::Disconnected);
        linked("T6", &|c, _| c.provider = Provider::Discord);
        commit(&db, changes).await;
        let mut read: Vec<_> = db
            .readable_routes(Provider::Slack)
            .await
            .unwrap()
            .into_iter()
            .map(|route| route.link.id)
            .collect();
        read.sort();
        let mut expected = vec![both, inbound];
        expected.sort();
        assert_eq!(read, expected);
    })
    .await;
}

/// Outcomes of several receipts and deliveries enqueued in one changeset (as a batch of
/// receipts processed together writes them): each answers its own outcome, and a link's queue
/// keeps the order the changeset gave.
#[tokio::test]
async fn receipt_outcomes_and_deliveries_written_together_keep_their_answers_and_order() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        let l = link(conn.id, world.channel.id, "C1");
        let receipts: Vec<_> = (0..3).map(|i| receipt(conn.id, &format!("k{i}"))).collect();
        let mut setup = vec![
            Change::InsertConnection(conn.clone()),
            Change::InsertChannelLink(l.clone()),
        ];
        setup.extend(
            receipts
                .iter()
                .map(|r| Change::Sync(SyncChange::InsertReceipt(Box::new(r.clone())))),
        );
        commit(&db, setup).await;
        let messages: Vec<_> = (0..4)
            .map(|i| {
                let mut m = message(world.channel.id, world.owner.id, &format!("hi {i}"));
                m.id = hazel_domain::ids::MessageId::new();
                m
            })
            .collect();
        let mut batch = Changeset::new();
        for m in &messages {
            batch.push(Change::InsertMessage(m.clone()));
        }
        for m in &messages {
            batch.push(SyncChange::EnqueueDelivery(Box::new(delivery(
                conn.id,
                l.id,
                m.id,
                DeliveryKind::MessageCreate,
            ))));
        }
        let done = |id: ReceiptId, i: usize| SyncChange::SetReceiptState {
            id,
            state: DeliveryState::Delivered {
                attempts: 1,
                completed_at: now(),
            },
            hazel_message_id: Some(messages[i].id),
            channel_link_id: Some(l.id),
        };
        batch.push(done(receipts[0].id, 0));
        batch.push(done(ReceiptId::new(), 1));
        batch.push(done(receipts[2].id, 2));
        let committed = db.commit(batch).await.unwrap();
        assert_eq!(
            committed.outcomes[8..],
            [
                ChangeOutcome::Affected(1),
                ChangeOutcome::Affected(0),
                ChangeOutcome::Affected(1),
            ]
        );
        // Only the receipt without an outcome is still pending.
        let left = db
            .claim_receipts(WorkerId::new(), 10, Duration::from_secs(30), now())
            .await
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].receipt.id, receipts[1].id);
        let listed = db
            .list_deliveries(conn.id, DeliveryFilter::default(), &PageRequest::default())
            .await
            .unwrap();
        let delivered: Vec<_> = listed
            .items
            .iter()
            .filter(|r| r.id == DeliveryRef::Inbound(receipts[0].id))
            .collect();
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].hazel_message_id, Some(messages[0].id));
        assert_eq!(delivered[0].channel_link_id, Some(l.id));
        // The link's queue, head first, is in the changeset's order.
        let head: Vec<_> = db
            .queue_head(l.id, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|q| q.delivery.hazel_message_id)
            .collect();
        assert_eq!(head, messages.iter().map(|m| m.id).collect::<Vec<_>>());
    })
    .await;
}

#[tokio::test]
async fn a_batch_of_outcomes_is_written_together_and_a_conflict_names_its_change() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        let l = link(conn.id, world.channel.id, "C1");
        let messages: Vec<_> = (0..3)
            .map(|i| {
                let mut m = message(world.channel.id, world.owner.id, &format!("hi {i}"));
                m.id = hazel_domain::ids::MessageId::new();
                m
            })
            .collect();
        let deliveries: Vec<_> = messages
            .iter()
            .map(|m| delivery(conn.id, l.id, m.id, DeliveryKind::MessageCreate))
            .collect();
        let mut setup = vec![
            Change::InsertConnection(conn.clone()),
            Change::InsertChannelLink(l.clone()),
        ];
        setup.extend(messages.iter().cloned().map(Change::InsertMessage));
        setup.extend(
            deliveries
                .iter()
                .cloned()
                .map(|d| Change::Sync(SyncChange::EnqueueDelivery(Box::new(d)))),
        );
        commit(&db, setup).await;
        let linked = |i: usize| MessageLink {
            id: MessageLinkId::new(),
            channel_link_id: l.id,
            hazel_message_id: messages[i].id,
            external: ExternalRefs::single(external(&format!("1.{i}"))),
            source: LinkSource::Hazel,
            thread: None,
            content_hash: ContentHash::of("hi"),
            reactions: BTreeSet::new(),
            pinned: false,
            created_at: now(),
            updated_at: now(),
        };
        let delivered = |id: DeliveryId, i: usize| SyncChange::SetDeliveryState {
            id,
            state: DeliveryState::Delivered {
                attempts: 1,
                completed_at: now(),
            },
            external_message_id: Some(external(&format!("1.{i}"))),
        };
        let mut batch = Changeset::new();
        for (i, d) in deliveries.iter().enumerate().take(2) {
            batch.push(delivered(d.id, i));
        }
        // A delivery that does not exist matches nothing, alone.
        batch.push(delivered(DeliveryId::new(), 9));
        for i in 0..2 {
            batch.push(SyncChange::InsertMessageLink(Box::new(linked(i))));
        }
        let committed = db.commit(batch).await.unwrap();
        assert_eq!(
            committed.outcomes,
            vec![
                ChangeOutcome::Affected(1),
                ChangeOutcome::Affected(1),
                ChangeOutcome::Affected(0),
                ChangeOutcome::Applied,
                ChangeOutcome::Applied,
            ]
        );
        let ids: Vec<_> = messages.iter().map(|m| m.id).collect();
        let mut found: Vec<_> = db
            .message_links(l.id, &ids)
            .await
            .unwrap()
            .into_iter()
            .map(|link| link.hazel_message_id)
            .collect();
        found.sort_unstable();
        let mut want = ids[..2].to_vec();
        want.sort_unstable();
        assert_eq!(found, want);
        let by_external = db
            .message_links_by_external(l.id, &[external("1.1"), external("7.7")])
            .await
            .unwrap();
        assert_eq!(by_external.len(), 1);
        assert_eq!(by_external[0].hazel_message_id, messages[1].id);
        let views = db
            .message_views(&[messages[0].id, hazel_domain::ids::MessageId::new()])
            .await
            .unwrap();
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].message, messages[0]);
        assert_eq!(views[0].author.id, world.owner.id);
        let record = db
            .delivery(hazel_domain::ports::DeliveryRef::Outbound(deliveries[0].id))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(record.state, DeliveryState::Delivered { .. }));
        assert_eq!(record.external_message_id, Some(external("1.0")));

        // The third message's outcome, with a second link for the first message: the run
        // fails at that change, and nothing of the changeset is written.
        let mut twin = linked(0);
        twin.external = ExternalRefs::single(external("8.8"));
        let conflict = db
            .commit(
                Changeset::new()
                    .with(delivered(deliveries[2].id, 2))
                    .with(delivered(deliveries[1].id, 1))
                    .with(SyncChange::InsertMessageLink(Box::new(linked(2))))
                    .with(SyncChange::InsertMessageLink(Box::new(twin))),
            )
            .await;
        assert!(
            matches!(
                conflict,
                Err(StoreError::Conflict {
                    change_index: 3,
                    constraint: UniqueRule::MessageLinkHazel,
                })
            ),
            "{conflict:?}"
        );
        assert!(
            db.message_link(l.id, messages[2].id)
                .await
                .unwrap()
                .is_none()
        );
        let record = db
            .delivery(hazel_domain::ports::DeliveryRef::Outbound(deliveries[2].id))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(record.state, DeliveryState::Pending { .. }));
    })
    .await;
}

/// A changeset guarded by several receipt leases (a batch of receipts processed together)
/// checks every guard: when one lease was lost, the changeset refuses naming that guard and
/// writes nothing, the others' states included.
#[tokio::test]
async fn a_batch_guarded_by_leases_refuses_whole_when_one_lease_is_lost() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        let receipts: Vec<_> = (0..3).map(|i| receipt(conn.id, &format!("g{i}"))).collect();
        let mut setup = vec![Change::InsertConnection(conn.clone())];
        setup.extend(
            receipts
                .iter()
                .map(|r| Change::Sync(SyncChange::InsertReceipt(Box::new(r.clone())))),
        );
        commit(&db, setup).await;
        let worker = WorkerId::new();
        let leases = db
            .claim_receipts(worker, 10, Duration::from_secs(30), now())
            .await
            .unwrap();
        assert_eq!(leases.len(), 3);
        let lost = leases
            .iter()
            .position(|l| l.receipt.id == receipts[1].id)
            .unwrap();
        db.release_receipt(&leases[lost]).await.unwrap();
        let guarded = |ids: &[ReceiptId]| {
            // One time for every guard, as a worker's batch has: the guards form one run.
            let at = now();
            let mut batch = Changeset::new();
            for id in ids {
                batch.push(
                    SyncChange::HoldsReceiptLease {
                        id: *id,
                        worker,
                        now: at,
                    }
                    .expect_one(),
                );
            }
            for id in ids {
                batch.push(SyncChange::SetReceiptState {
                    id: *id,
                    state: DeliveryState::Ignored {
                        reason: IgnoreReason::OwnBot,
                        completed_at: now(),
                    },
                    hazel_message_id: None,
                    channel_link_id: None,
                });
            }
            batch
        };
        let all: Vec<_> = receipts.iter().map(|r| r.id).collect();
        let refused = db.commit(guarded(&all)).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Precondition {
                    change_index: 1,
                    ..
                })
            ),
            "{refused:?}"
        );
        let statuses = |listed: Vec<hazel_domain::ports::DeliveryRecord>| {
            let mut found: Vec<_> = listed
                .into_iter()
                .map(|r| (r.id, r.state.status().as_str().to_owned()))
                .collect();
            found.sort_by_key(|(id, _)| format!("{id:?}"));
            found
        };
        let listed = db
            .list_deliveries(conn.id, DeliveryFilter::default(), &PageRequest::default())
            .await
            .unwrap();
        assert!(
            statuses(listed.items)
                .iter()
                .all(|(_, status)| status == "pending")
        );
        // The leases still held write their states.
        let held = [receipts[0].id, receipts[2].id];
        let committed = db.commit(guarded(&held)).await.unwrap();
        assert_eq!(committed.outcomes.len(), 4);
        let listed = db
            .list_deliveries(conn.id, DeliveryFilter::default(), &PageRequest::default())
            .await
            .unwrap();
        let found = statuses(listed.items);
        let ignored: Vec<_> = found
            .iter()
            .filter(|(_, status)| status == "ignored")
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(ignored.len(), 2);
        assert!(ignored.contains(&DeliveryRef::Inbound(receipts[0].id)));
        assert!(ignored.contains(&DeliveryRef::Inbound(receipts[2].id)));
    })
    .await;
}

/// Receipts recorded by many concurrent changesets (webhook intake; SQLite writes a batch of
/// them with one statement): each dedupe key is recorded once, the changeset that wrote it
/// answers `Applied` and every other `Skipped`, however the batches fall.
#[tokio::test]
async fn concurrent_receipts_are_each_recorded_once_and_answer_who_wrote_them() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        commit(&db, vec![Change::InsertConnection(conn.clone())]).await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..48 {
            let db = db.clone();
            // Sixteen keys, each sent three times.
            let r = receipt(conn.id, &format!("dup{}", i % 16));
            tasks.spawn(async move {
                let committed = db
                    .commit(Changeset::new().with(SyncChange::InsertReceipt(Box::new(r.clone()))))
                    .await
                    .unwrap();
                (r, committed.outcomes)
            });
        }
        let mut written = std::collections::BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            let (r, outcomes) = joined.unwrap();
            assert_eq!(outcomes.len(), 1);
            match outcomes[0] {
                ChangeOutcome::Applied => {
                    let before = written.insert(r.dedupe_key.as_str().to_owned(), r.id);
                    assert!(before.is_none(), "{:?} applied twice", r.dedupe_key);
                }
                ChangeOutcome::Skipped => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!(written.len(), 16);
        let leases = db
            .claim_receipts(WorkerId::new(), 100, Duration::from_secs(30), now())
            .await
            .unwrap();
        let mut claimed: Vec<_> = leases.iter().map(|l| l.receipt.id).collect();
        claimed.sort();
        let mut applied: Vec<_> = written.into_values().collect();
        applied.sort();
        assert_eq!(claimed, applied);
    })
    .await;
}
