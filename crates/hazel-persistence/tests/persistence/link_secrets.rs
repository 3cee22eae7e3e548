//! Link secrets: one sealed secret per channel link, replaced on change, removed on request
//! and with its link.

use hazel_domain::ids::ChannelLinkId;
use hazel_domain::model::chat_sync::SealedLinkSecret;
use hazel_domain::ports::{Change, LinkSecretStore as _};

use crate::support::{World, channel, commit, connection, each_backend, link, now};

#[tokio::test]
async fn a_links_sealed_secret_is_kept_replaced_and_removed_alone() {
    each_backend(|db| async move {
        let (link, other) = (ChannelLinkId::new(), ChannelLinkId::new());
        assert_eq!(db.sealed(link).await.unwrap(), None);

        db.put(link, SealedLinkSecret::from_bytes(vec![1, 2, 3]))
            .await
            .unwrap();
        db.put(other, SealedLinkSecret::from_bytes(vec![9]))
            .await
            .unwrap();
        assert_eq!(
            db.sealed(link).await.unwrap(),
            Some(SealedLinkSecret::from_bytes(vec![1, 2, 3]))
        );

        // A new webhook replaces the old one.
        db.put(link, SealedLinkSecret::from_bytes(vec![4, 0, 255]))
            .await
            .unwrap();
        assert_eq!(
            db.sealed(link).await.unwrap(),
            Some(SealedLinkSecret::from_bytes(vec![4, 0, 255]))
        );

        db.remove(link).await.unwrap();
        assert_eq!(db.sealed(link).await.unwrap(), None);
        assert_eq!(
            db.sealed(other).await.unwrap(),
            Some(SealedLinkSecret::from_bytes(vec![9]))
        );
        // Removing what is not there is no error.
        db.remove(link).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn deleting_a_link_or_its_connection_deletes_its_secret_in_the_same_commit() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        let (second, third) = (
            channel(world.organization.id),
            channel(world.organization.id),
        );
        let links = [
            link(conn.id, world.channel.id, "C1"),
            link(conn.id, second.id, "C2"),
        ];
        let other_conn = connection(world.organization.id, world.user.id, "T2");
        let elsewhere = link(other_conn.id, third.id, "C3");
        let mut changes = vec![
            Change::InsertConnection(conn.clone()),
            Change::InsertConnection(other_conn.clone()),
            Change::InsertChannel(second),
            Change::InsertChannel(third),
            Change::InsertChannelLink(elsewhere.clone()),
        ];
        changes.extend(links.iter().cloned().map(Change::InsertChannelLink));
        commit(&db, changes).await;
        for l in links.iter().chain([&elsewhere]) {
            db.put(l.id, SealedLinkSecret::from_bytes(vec![7]))
                .await
                .unwrap();
        }

        commit(
            &db,
            vec![Change::DeleteChannelLink {
                id: links[0].id,
                at: now(),
            }],
        )
        .await;
        assert_eq!(db.sealed(links[0].id).await.unwrap(), None);
        assert!(db.sealed(links[1].id).await.unwrap().is_some());

        commit(
            &db,
            vec![Change::DeleteConnection {
                id: conn.id,
                at: now(),
            }],
        )
        .await;
        assert_eq!(db.sealed(links[1].id).await.unwrap(), None);
        // Another connection's link keeps its secret.
        assert_eq!(
            db.sealed(elsewhere.id).await.unwrap(),
            Some(SealedLinkSecret::from_bytes(vec![7]))
        );
    })
    .await;
}
