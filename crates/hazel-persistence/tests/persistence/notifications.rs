//! Notifications read back and filtered.

use hazel_domain::model::page::PageRequest;
use hazel_domain::ports::{Change, NotificationFilter, NotificationRepository};

use crate::support::{World, commit, each_backend, notification};

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
