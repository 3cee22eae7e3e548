//! Notifications read back and filtered.

use hazel_domain::ids::{MemberId, MessageId, ReactionId};
use hazel_domain::model::notification::Notification;
use hazel_domain::model::page::PageRequest;
use hazel_domain::ports::{Change, NotificationFilter, NotificationRepository};
use hazel_persistence::Database;

use crate::support::{World, commit, each_backend, each_backend_url, migrated, notification};

#[tokio::test]
async fn notifications_round_trip_and_list_newest_first_per_filter() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let (_, bob) = world.add_member(&db, "bob").await;
        let mut read = notification(
            &world.owner,
            Some(("mention", "m1")),
            Some(("channel", "c1")),
            Some("owner:m1"),
        );
        read.read_at = Some(crate::support::now());
        let unread = notification(&world.owner, Some(("reply", "m2")), None, None);
        let bobs = notification(&bob, None, Some(("message", "m3")), None);
        commit(
            &db,
            [&read, &unread, &bobs]
                .into_iter()
                .map(|n| Change::InsertNotification(n.clone()))
                .collect::<Vec<_>>(),
        )
        .await;

        assert_eq!(
            NotificationRepository::find(&db, read.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&read)
        );

        let list = |member_ids, unread_only| {
            let db = db.clone();
            async move {
                NotificationRepository::list(
                    &db,
                    &NotificationFilter {
                        member_ids,
                        unread_only,
                    },
                    &PageRequest::default(),
                )
                .await
                .unwrap()
                .items
            }
        };
        assert_eq!(
            list(vec![world.owner.id], false).await,
            vec![unread.clone(), read.clone()]
        );
        assert_eq!(list(vec![world.owner.id], true).await, vec![unread.clone()]);
        assert_eq!(
            list(vec![world.owner.id, bob.id], false).await,
            vec![bobs.clone(), unread, read]
        );
        assert_eq!(list(Vec::new(), false).await, Vec::new());
    })
    .await;
}

/// A member's first page, listed over and over as clients poll it.
async fn first_page(db: &Database, member: MemberId, unread_only: bool) -> Vec<Notification> {
    NotificationRepository::list(
        db,
        &NotificationFilter {
            member_ids: vec![member],
            unread_only,
        },
        &PageRequest::default(),
    )
    .await
    .unwrap()
    .items
}

#[tokio::test]
async fn a_first_page_answered_from_memory_is_never_stale_after_a_change_of_this_process() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let owner = world.owner.id;
        assert_eq!(first_page(&db, owner, false).await, Vec::new());

        // Every change that can affect a member's notifications, each followed by the lists
        // that were answered (and kept) just before it.
        let message = MessageId::new();
        let mention = notification(
            &world.owner,
            Some(("mention", &message.to_string())),
            None,
            None,
        );
        commit(&db, vec![Change::InsertNotification(mention.clone())]).await;
        assert_eq!(first_page(&db, owner, false).await, vec![mention.clone()]);
        assert_eq!(first_page(&db, owner, true).await, vec![mention.clone()]);

        let read_at = crate::support::now();
        commit(
            &db,
            vec![Change::SetNotificationRead {
                id: mention.id,
                read_at: Some(read_at),
            }],
        )
        .await;
        assert_eq!(first_page(&db, owner, true).await, Vec::new());
        assert_eq!(
            first_page(&db, owner, false).await[0].read_at,
            Some(read_at)
        );

        commit(
            &db,
            vec![Change::DeleteMessageNotifications {
                member_id: owner,
                message_ids: vec![message],
            }],
        )
        .await;
        assert_eq!(first_page(&db, owner, false).await, Vec::new());

        let reaction = ReactionId::new();
        let reacted = notification(
            &world.owner,
            Some(("reaction", &reaction.to_string())),
            None,
            None,
        );
        let other = notification(&world.owner, None, Some(("channel", "c1")), None);
        commit(
            &db,
            vec![
                Change::InsertNotification(reacted.clone()),
                Change::InsertNotification(other.clone()),
            ],
        )
        .await;
        assert_eq!(first_page(&db, owner, false).await.len(), 2);
        commit(&db, vec![Change::DeleteReactionNotifications(reaction)]).await;
        assert_eq!(first_page(&db, owner, false).await, vec![other.clone()]);
        commit(&db, vec![Change::DeleteNotification(other.id)]).await;
        assert_eq!(first_page(&db, owner, false).await, Vec::new());
    })
    .await;
}

#[tokio::test]
async fn a_change_committed_by_another_process_is_listed_within_a_second_or_so() {
    each_backend_url(|url| async move {
        let here = migrated(&url).await;
        let elsewhere = migrated(&url).await;
        let world = World::create(&here).await;
        assert_eq!(first_page(&here, world.owner.id, false).await, Vec::new());

        let created = notification(&world.owner, None, Some(("channel", "c1")), None);
        commit(
            &elsewhere,
            vec![Change::InsertNotification(created.clone())],
        )
        .await;
        let started = std::time::Instant::now();
        while first_page(&here, world.owner.id, false).await.is_empty() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(3),
                "a notification committed by another pool was still not listed after 3 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(
            first_page(&here, world.owner.id, false).await,
            vec![created]
        );
    })
    .await;
}
