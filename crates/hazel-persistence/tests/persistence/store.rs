//! The changeset committer: transaction ids, atomicity, conflicts and idempotent inserts.

use std::collections::BTreeSet;

use hazel_domain::ids::{MessageId, OrganizationId};
use hazel_domain::model::identity::Role;
use hazel_domain::ports::{
    Change, ChangeOutcome, MessageRepository, NotificationRepository, OrganizationRepository,
    Store as _, StoreError, UniqueRule, UserRepository as _,
};
use tokio::task::JoinSet;

use crate::support::{
    World, commit, each_backend, native_member, organization, shadow_member, user, uuid_suffix,
};

#[tokio::test]
async fn a_later_commit_always_answers_a_larger_transaction_id() {
    each_backend(|db| async move {
        let mut last = commit(&db, Vec::new()).await;
        assert!(last.outcomes.is_empty());
        for _ in 0..5 {
            let next = commit(
                &db,
                vec![Change::InsertUser(user(&format!("{}@x.io", uuid_suffix())))],
            )
            .await;
            if db.backend() == "sqlite" {
                // SQLite counts changesets.
                assert_eq!(next.transaction_id.value(), last.transaction_id.value() + 1);
            } else {
                assert!(next.transaction_id > last.transaction_id);
            }
            last = next;
        }
    })
    .await;
}

#[tokio::test]
async fn postgres_answers_the_transactions_own_id_and_keeps_no_counter() {
    use sea_orm::{ConnectionTrait as _, Database as Sea, Statement};

    let Some(admin_url) = hazel_persistence::testing::postgres_admin_url() else {
        return;
    };
    let url = hazel_persistence::testing::fresh_postgres_url(&admin_url)
        .await
        .unwrap();
    let db = crate::support::migrated(&url).await;
    let committed = commit(
        &db,
        vec![Change::InsertUser(user(&format!("{}@x.io", uuid_suffix())))],
    )
    .await;
    let raw = Sea::connect(&url).await.unwrap();
    let row = raw
        .query_one_raw(Statement::from_string(
            raw.get_database_backend(),
            "SELECT value FROM transaction_counter WHERE id = 1",
        ))
        .await
        .unwrap()
        .unwrap();
    // The counter row is never taken on PostgreSQL.
    assert_eq!(row.try_get::<i64>("", "value").unwrap(), 0);
    let row = raw
        .query_one_raw(Statement::from_string(
            raw.get_database_backend(),
            "SELECT pg_current_xact_id()::xid::text AS now",
        ))
        .await
        .unwrap()
        .unwrap();
    let later: u64 = row.try_get::<String>("", "now").unwrap().parse().unwrap();
    assert!(committed.transaction_id.value() > 0);
    assert!(later > committed.transaction_id.value());
    raw.close().await.unwrap();
    drop(db);
    hazel_persistence::testing::drop_postgres_database(&admin_url, &url)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_commits_all_succeed_with_distinct_ids() {
    each_backend(|db| async move {
        let World { organization, .. } = World::create(&db).await;
        let before = commit(&db, Vec::new()).await.transaction_id.value();
        let mut tasks = JoinSet::new();
        for i in 0..20 {
            let db = db.clone();
            tasks.spawn(async move {
                let u = user(&format!("concurrent-{i}-{}@x.io", uuid_suffix()));
                let m = native_member(organization.id, &u, Role::Member);
                db.commit(vec![Change::InsertUser(u), Change::InsertMember(m)].into())
                    .await
                    .map(|c| c.transaction_id.value())
            });
        }
        let mut ids = BTreeSet::new();
        while let Some(joined) = tasks.join_next().await {
            let id = joined
                .unwrap()
                .unwrap_or_else(|e| panic!("a concurrent commit failed: {e:#}"));
            assert!(ids.insert(id), "transaction id {id} was handed out twice");
        }
        let after = commit(&db, Vec::new()).await.transaction_id.value();
        if db.backend() == "sqlite" {
            // One counter value per changeset, none lost.
            let expected: BTreeSet<u64> = (before + 1..=before + 20).collect();
            assert_eq!(ids, expected);
            assert_eq!(after, before + 21);
        } else {
            assert!(ids.iter().all(|id| *id > before && *id < after), "{ids:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_conflict_names_its_change_and_applies_nothing() {
    each_backend(|db| async move {
        let taken = user(&format!("taken-{}@x.io", uuid_suffix()));
        let before = commit(&db, vec![Change::InsertUser(taken.clone())]).await;

        let fresh = user(&format!("fresh-{}@x.io", uuid_suffix()));
        let mut duplicate = user(taken.email.as_str());
        duplicate.name = fresh.name.clone();
        let org = organization(&format!("org-{}", uuid_suffix()));
        let err = db
            .commit(
                vec![
                    Change::InsertUser(fresh.clone()),
                    Change::InsertOrganization(org.clone()),
                    Change::InsertUser(duplicate),
                ]
                .into(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    change_index: 2,
                    constraint: UniqueRule::UserEmail
                }
            ),
            "{err:?}"
        );
        assert_eq!(db.find_by_email(&fresh.email).await.unwrap(), None);
        assert_eq!(
            OrganizationRepository::find(&db, org.id).await.unwrap(),
            None
        );
        let next = commit(&db, Vec::new()).await;
        if db.backend() == "sqlite" {
            // The counter increment was rolled back with the rest.
            assert_eq!(
                next.transaction_id.value(),
                before.transaction_id.value() + 1
            );
        } else {
            assert!(next.transaction_id > before.transaction_id);
        }
    })
    .await;
}

#[tokio::test]
async fn uniqueness_rules_are_reported_as_conflicts() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conflict = |changes: Vec<Change>| {
            let db = db.clone();
            async move { db.commit(changes.into()).await.unwrap_err() }
        };

        let same_slug = organization(world.organization.slug.as_str());
        assert!(matches!(
            conflict(vec![Change::InsertOrganization(same_slug)]).await,
            StoreError::Conflict {
                change_index: 0,
                constraint: UniqueRule::OrganizationSlug
            }
        ));

        let twice = native_member(world.organization.id, &world.user, Role::Admin);
        assert!(matches!(
            conflict(vec![Change::InsertMember(twice)]).await,
            StoreError::Conflict {
                change_index: 0,
                constraint: UniqueRule::MemberUser
            }
        ));

        let shadow = shadow_member(world.organization.id, "U1");
        commit(&db, vec![Change::InsertMember(shadow)]).await;
        let same_external = shadow_member(world.organization.id, "U1");
        assert!(matches!(
            conflict(vec![Change::InsertMember(same_external)]).await,
            StoreError::Conflict {
                change_index: 0,
                constraint: UniqueRule::MemberExternalUser
            }
        ));

        // The same primary key twice.
        assert!(matches!(
            conflict(vec![Change::InsertChannel(world.channel.clone())]).await,
            StoreError::Conflict {
                change_index: 0,
                constraint: UniqueRule::PrimaryKey
            }
        ));

        // The same external author may exist in another organization.
        let other = organization(&format!("other-{}", uuid_suffix()));
        commit(
            &db,
            vec![
                Change::InsertOrganization(other.clone()),
                Change::InsertMember(shadow_member(other.id, "U1")),
            ],
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_dangling_reference_is_an_unexpected_error_not_a_conflict() {
    each_backend(|db| async move {
        let ada = user(&format!("{}@x.io", uuid_suffix()));
        let orphan = native_member(OrganizationId::new(), &ada, Role::Member);
        let err = db
            .commit(
                vec![
                    Change::InsertUser(ada.clone()),
                    Change::InsertMember(orphan),
                ]
                .into(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unexpected(_)), "{err:?}");
        assert_eq!(db.find_by_email(&ada.email).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn repeated_reactions_and_deduplicated_notifications_are_skipped() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let (_, bob) = world.add_member(&db, "bob").await;
        let message = crate::support::message(world.channel.id, world.owner.id, "hello");
        commit(&db, vec![Change::InsertMessage(message.clone())]).await;

        let first = crate::support::reaction(message.id, bob.id, "👍");
        let again = crate::support::reaction(message.id, bob.id, "👍");
        let other_emoji = crate::support::reaction(message.id, bob.id, ":tada:");
        let committed = commit(
            &db,
            vec![
                Change::InsertReaction(first.clone()),
                Change::InsertReaction(again),
                Change::InsertReaction(other_emoji),
            ],
        )
        .await;
        assert_eq!(
            committed.outcomes,
            vec![
                ChangeOutcome::Applied,
                ChangeOutcome::Skipped,
                ChangeOutcome::Applied
            ]
        );
        let found = MessageRepository::find_reaction(&db, message.id, bob.id, &first.emoji)
            .await
            .unwrap();
        assert_eq!(found, Some(first));

        let key = format!("{}:{}", bob.id, message.id);
        let keyed = crate::support::notification(&bob, None, None, Some(&key));
        let same_key = crate::support::notification(&bob, None, None, Some(&key));
        let unkeyed_a = crate::support::notification(&bob, None, None, None);
        let unkeyed_b = crate::support::notification(&bob, None, None, None);
        let committed = commit(
            &db,
            vec![
                Change::InsertNotification(keyed.clone()),
                Change::InsertNotification(same_key.clone()),
                Change::InsertNotification(unkeyed_a),
                Change::InsertNotification(unkeyed_b),
            ],
        )
        .await;
        assert_eq!(
            committed.outcomes,
            vec![
                ChangeOutcome::Applied,
                ChangeOutcome::Skipped,
                ChangeOutcome::Applied,
                ChangeOutcome::Applied
            ]
        );
        assert_eq!(
            NotificationRepository::find(&db, keyed.id).await.unwrap(),
            Some(keyed)
        );
        assert_eq!(
            NotificationRepository::find(&db, same_key.id)
                .await
                .unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn deleting_message_notifications_counts_and_keeps_to_the_member_and_messages() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let (_, bob) = world.add_member(&db, "bob").await;
        let alice = &world.owner;
        let (m1, m2, m3) = (
            MessageId::new().to_string(),
            MessageId::new().to_string(),
            MessageId::new().to_string(),
        );
        let channel = world.channel.id.to_string();

        let mention_m1 = crate::support::notification(
            alice,
            Some(("mention", &m1)),
            Some(("channel", &channel)),
            None,
        );
        let reaction_on_m2 = crate::support::notification(
            alice,
            Some(("reaction", "r1")),
            Some(("message", &m2)),
            None,
        );
        let mention_m3 = crate::support::notification(
            alice,
            Some(("mention", &m3)),
            Some(("channel", &channel)),
            None,
        );
        // Its resource id is m2, but its resource is not a message: it stays.
        let not_a_message = crate::support::notification(alice, None, Some(("channel", &m2)), None);
        let bobs_mention_m1 = crate::support::notification(
            &bob,
            Some(("mention", &m1)),
            Some(("channel", &channel)),
            None,
        );
        commit(
            &db,
            [
                &mention_m1,
                &reaction_on_m2,
                &mention_m3,
                &not_a_message,
                &bobs_mention_m1,
            ]
            .into_iter()
            .map(|n| Change::InsertNotification(n.clone()))
            .collect::<Vec<_>>(),
        )
        .await;

        let ids = |raw: &[&String]| {
            raw.iter()
                .map(|r| MessageId::parse("id", r).unwrap())
                .collect::<Vec<_>>()
        };
        let committed = commit(
            &db,
            vec![
                Change::DeleteMessageNotifications {
                    member_id: alice.id,
                    message_ids: ids(&[&m1, &m2]),
                },
                Change::DeleteMessageNotifications {
                    member_id: alice.id,
                    message_ids: Vec::new(),
                },
            ],
        )
        .await;
        assert_eq!(
            committed.outcomes,
            vec![ChangeOutcome::Affected(2), ChangeOutcome::Affected(0)]
        );
        assert_eq!(committed.affected(0), 2);

        for gone in [&mention_m1, &reaction_on_m2] {
            assert_eq!(
                NotificationRepository::find(&db, gone.id).await.unwrap(),
                None
            );
        }
        for kept in [&mention_m3, &not_a_message, &bobs_mention_m1] {
            assert_eq!(
                NotificationRepository::find(&db, kept.id)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(kept)
            );
        }
    })
    .await;
}

#[tokio::test]
async fn single_row_changes_report_how_many_rows_they_matched() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let message = crate::support::message(world.channel.id, world.owner.id, "hi");
        let reaction = crate::support::reaction(message.id, world.owner.id, "👍");
        let about_reaction = crate::support::notification(
            &world.owner,
            Some(("reaction", &reaction.id.to_string())),
            Some(("message", &message.id.to_string())),
            None,
        );
        let plain = crate::support::notification(&world.owner, None, None, None);
        commit(
            &db,
            vec![
                Change::InsertMessage(message.clone()),
                Change::InsertReaction(reaction.clone()),
                Change::InsertNotification(about_reaction.clone()),
                Change::InsertNotification(plain.clone()),
            ],
        )
        .await;

        let read_at = crate::support::now();
        let committed = commit(
            &db,
            vec![
                Change::SetNotificationRead {
                    id: plain.id,
                    read_at: Some(read_at),
                },
                Change::DeleteReaction(reaction.id),
                Change::DeleteReactionNotifications(reaction.id),
                Change::DeleteReaction(reaction.id),
            ],
        )
        .await;
        assert_eq!(
            committed.outcomes,
            vec![
                ChangeOutcome::Affected(1),
                ChangeOutcome::Affected(1),
                ChangeOutcome::Affected(1),
                ChangeOutcome::Affected(0)
            ]
        );
        assert_eq!(
            NotificationRepository::find(&db, about_reaction.id)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            NotificationRepository::find(&db, plain.id)
                .await
                .unwrap()
                .unwrap()
                .read_at,
            Some(read_at)
        );

        let committed = commit(
            &db,
            vec![
                Change::SetNotificationRead {
                    id: plain.id,
                    read_at: None,
                },
                Change::DeleteNotification(plain.id),
                Change::DeleteNotification(plain.id),
            ],
        )
        .await;
        assert_eq!(
            committed.outcomes,
            vec![
                ChangeOutcome::Affected(1),
                ChangeOutcome::Affected(1),
                ChangeOutcome::Affected(0)
            ]
        );
        assert_eq!(
            NotificationRepository::find(&db, plain.id).await.unwrap(),
            None
        );
    })
    .await;
}
