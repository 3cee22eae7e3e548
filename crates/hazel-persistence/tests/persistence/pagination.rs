//! Cursor pagination: no duplicates or gaps across pages, even while rows are inserted.

use std::collections::BTreeSet;

use hazel_domain::ids::{ChannelId, MessageId, NotificationId};
use hazel_domain::model::page::{Page, PageRequest};
use hazel_domain::ports::{
    Change, ChannelLinkRepository, ChannelRepository, MessageRepository, NotificationFilter,
    NotificationRepository,
};

use crate::support::{
    World, channel, commit, connection, each_backend, link, message, notification,
};

fn next_request(limit: u32, page_cursor: Option<&String>) -> Option<PageRequest> {
    page_cursor.map(|cursor| PageRequest::parse(Some(i64::from(limit)), Some(cursor)).unwrap())
}

#[tokio::test]
async fn oldest_first_pages_are_stable_while_rows_are_inserted() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let mut expected = vec![world.channel.id];
        let initial: Vec<_> = (0..6).map(|_| channel(world.organization.id)).collect();
        expected.extend(initial.iter().map(|c| c.id));
        commit(
            &db,
            initial
                .into_iter()
                .map(Change::InsertChannel)
                .collect::<Vec<_>>(),
        )
        .await;

        let limit = 3;
        let mut request = PageRequest { limit, after: None };
        let mut seen: Vec<ChannelId> = Vec::new();
        loop {
            let page: Page<_> = ChannelRepository::list(&db, world.organization.id, &request)
                .await
                .unwrap();
            assert!(page.items.len() <= limit as usize);
            seen.extend(page.items.iter().map(|c| c.id));
            match next_request(limit, page.next_cursor.as_ref()) {
                Some(next) => request = next,
                None => break,
            }
            // A row inserted between pages is newer than every row seen so far, so it shows
            // up at the end of the listing, exactly once.
            let late = channel(world.organization.id);
            expected.push(late.id);
            commit(&db, vec![Change::InsertChannel(late)]).await;
        }
        assert_eq!(seen, expected);
    })
    .await;
}

#[tokio::test]
async fn newest_first_pages_are_stable_while_rows_are_inserted() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let initial: Vec<_> = (0..7)
            .map(|i| message(world.channel.id, world.owner.id, &format!("m{i}")))
            .collect();
        let mut expected: Vec<MessageId> = initial.iter().map(|m| m.id).collect();
        expected.reverse();
        commit(
            &db,
            initial
                .into_iter()
                .map(Change::InsertMessage)
                .collect::<Vec<_>>(),
        )
        .await;

        let limit = 2;
        let mut request = PageRequest { limit, after: None };
        let mut seen: Vec<MessageId> = Vec::new();
        let mut pages = 0;
        loop {
            let page = MessageRepository::list(&db, world.channel.id, &request)
                .await
                .unwrap();
            pages += 1;
            seen.extend(page.items.iter().map(|v| v.message.id));
            // Newer messages belong before the first page and never appear in later ones.
            commit(
                &db,
                vec![Change::InsertMessage(message(
                    world.channel.id,
                    world.owner.id,
                    "late",
                ))],
            )
            .await;
            match next_request(limit, page.next_cursor.as_ref()) {
                Some(next) => request = next,
                None => break,
            }
        }
        assert_eq!(seen, expected);
        assert_eq!(pages, 4);
    })
    .await;
}

#[tokio::test]
async fn notifications_and_links_page_without_duplicates() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let notifications: Vec<_> = (0..5)
            .map(|_| notification(&world.owner, None, None, None))
            .collect();
        let conn = connection(world.organization.id, world.user.id, "T1");
        let channels: Vec<_> = (0..5).map(|_| channel(world.organization.id)).collect();
        let links: Vec<_> = channels
            .iter()
            .enumerate()
            .map(|(i, c)| link(conn.id, c.id, &format!("C{i}")))
            .collect();
        let mut changes: Vec<Change> = notifications
            .iter()
            .cloned()
            .map(Change::InsertNotification)
            .collect();
        changes.push(Change::InsertConnection(conn.clone()));
        changes.extend(channels.into_iter().map(Change::InsertChannel));
        changes.extend(links.iter().cloned().map(Change::InsertChannelLink));
        commit(&db, changes).await;

        let filter = NotificationFilter {
            member_ids: vec![world.owner.id],
            unread_only: false,
        };
        let mut request = PageRequest {
            limit: 2,
            after: None,
        };
        let mut seen: Vec<NotificationId> = Vec::new();
        loop {
            let page = NotificationRepository::list(&db, &filter, &request)
                .await
                .unwrap();
            seen.extend(page.items.iter().map(|n| n.id));
            match next_request(2, page.next_cursor.as_ref()) {
                Some(next) => request = next,
                None => break,
            }
        }
        let mut expected: Vec<NotificationId> = notifications.iter().map(|n| n.id).collect();
        expected.reverse();
        assert_eq!(seen, expected);

        let mut request = PageRequest {
            limit: 2,
            after: None,
        };
        let mut seen = BTreeSet::new();
        let mut listed = Vec::new();
        loop {
            let page = ChannelLinkRepository::list(&db, conn.id, &request)
                .await
                .unwrap();
            for l in &page.items {
                assert!(seen.insert(l.id), "link {} listed twice", l.id);
            }
            listed.extend(page.items);
            match next_request(2, page.next_cursor.as_ref()) {
                Some(next) => request = next,
                None => break,
            }
        }
        assert_eq!(listed, links);
    })
    .await;
}
