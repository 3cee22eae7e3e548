//! Session leases: one holder per connection, taken over after expiry, lost leases refused.

use std::time::Duration;

use hazel_domain::ids::{SyncConnectionId, WorkerId};
use hazel_domain::ports::SessionLeases as _;

use crate::support::{each_backend, each_backend_url, migrated, now};

const TTL: Duration = Duration::from_secs(30);

#[tokio::test]
async fn two_processes_racing_for_one_connection_get_one_lease() {
    each_backend_url(|url| async move {
        // Two pools on one database, as two processes have.
        let first = migrated(&url).await;
        let second = migrated(&url).await;
        for _ in 0..5 {
            let connection = SyncConnectionId::new();
            let at = now();
            let (a, b) = tokio::join!(
                first.acquire(connection, WorkerId::new(), TTL, at),
                second.acquire(connection, WorkerId::new(), TTL, at),
            );
            let won = [a.unwrap(), b.unwrap()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>();
            assert_eq!(won.len(), 1, "exactly one holder: {won:?}");
            assert_eq!(won[0].connection_id, connection);
        }
        // Many racers on one connection: still one.
        let connection = SyncConnectionId::new();
        let at = now();
        let racers = (0..8).map(|i| {
            let db = if i % 2 == 0 { &first } else { &second };
            db.acquire(connection, WorkerId::new(), TTL, at)
        });
        let won = futures::future::join_all(racers)
            .await
            .into_iter()
            .filter_map(Result::unwrap)
            .count();
        assert_eq!(won, 1);
    })
    .await;
}

#[tokio::test]
async fn a_lease_is_renewed_by_its_holder_and_taken_over_only_after_it_expires() {
    each_backend(|db| async move {
        let connection = SyncConnectionId::new();
        let (a, b) = (WorkerId::new(), WorkerId::new());
        let t0 = now();
        let lease = db.acquire(connection, a, TTL, t0).await.unwrap().unwrap();
        assert_eq!(lease.holder, a);
        assert_eq!(lease.expires_at, hazel_domain::model::normalize(t0 + TTL));
        // Held: nobody else, and no second taking by the same holder either.
        assert!(
            db.acquire(connection, b, TTL, t0 + Duration::from_secs(10))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            db.acquire(connection, a, TTL, t0 + Duration::from_secs(10))
                .await
                .unwrap()
                .is_none()
        );
        // The heartbeat extends it past the first expiry.
        let renewed = db
            .renew(&lease, TTL, t0 + Duration::from_secs(20))
            .await
            .unwrap()
            .expect("still held");
        assert_eq!(renewed.token, lease.token);
        assert!(
            db.acquire(connection, b, TTL, t0 + Duration::from_secs(40))
                .await
                .unwrap()
                .is_none()
        );
        // No heartbeat for a whole TTL: it expires and another holder takes it over.
        let taken = db
            .acquire(connection, b, TTL, t0 + Duration::from_secs(51))
            .await
            .unwrap()
            .expect("expired leases are taken over");
        assert_eq!(taken.holder, b);
        assert_ne!(taken.token, lease.token);
        // The old holder learns it lost the lease: its heartbeat answers nothing …
        assert!(
            db.renew(&renewed, TTL, t0 + Duration::from_secs(52))
                .await
                .unwrap()
                .is_none()
        );
        // … and its release leaves the new holder's lease alone.
        db.release(&renewed).await.unwrap();
        assert!(
            db.renew(&taken, TTL, t0 + Duration::from_secs(53))
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn a_released_lease_is_free_at_once_and_an_expired_one_cannot_be_renewed() {
    each_backend(|db| async move {
        let connection = SyncConnectionId::new();
        let t0 = now();
        let lease = db
            .acquire(connection, WorkerId::new(), TTL, t0)
            .await
            .unwrap()
            .unwrap();
        db.release(&lease).await.unwrap();
        let next = db
            .acquire(
                connection,
                WorkerId::new(),
                TTL,
                t0 + Duration::from_secs(1),
            )
            .await
            .unwrap()
            .expect("released leases are free");
        // A holder whose heartbeat comes too late has lost the lease, even untaken.
        assert!(
            db.renew(&next, TTL, t0 + Duration::from_secs(40))
                .await
                .unwrap()
                .is_none()
        );
        // Leases of different connections never block each other.
        assert!(
            db.acquire(SyncConnectionId::new(), WorkerId::new(), TTL, t0)
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn only_live_connected_connections_of_the_provider_may_run_sessions() {
    use hazel_domain::model::chat_sync::{ConnectionStatus, Provider};
    use hazel_domain::ports::{Change, SessionConnections as _};

    use crate::support::{World, commit, connection};

    each_backend(|db| async move {
        let world = World::create(&db).await;
        let org = world.organization.id;
        let user = world.user.id;
        let live = connection(org, user, "T0LIVE");
        let mut paused = connection(org, user, "T0PAUSED");
        paused.status = ConnectionStatus::Disconnected;
        let mut discord = connection(org, user, "1100000000000000001");
        discord.provider = Provider::Discord;
        let deleted = connection(org, user, "T0GONE");
        let deleted_id = deleted.id;
        commit(
            &db,
            vec![
                Change::InsertConnection(live.clone()),
                Change::InsertConnection(paused),
                Change::InsertConnection(discord.clone()),
                Change::InsertConnection(deleted),
            ],
        )
        .await;
        commit(
            &db,
            vec![Change::DeleteConnection {
                id: deleted_id,
                at: now(),
            }],
        )
        .await;
        let slack: Vec<_> = db
            .connected(Provider::Slack)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(slack, [live.id]);
        let discords: Vec<_> = db
            .connected(Provider::Discord)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(discords, [discord.id]);
    })
    .await;
}
