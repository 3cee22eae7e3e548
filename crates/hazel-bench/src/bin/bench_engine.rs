//! `bench-engine`: inbound events driven through the sync engine (receipt, ingest, fan-out,
//! delivery) against the in-process fake provider, beside the raw rate of single-row
//! committed inserts on the same database. See the crate README.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hazel_bench::load::{ms, quantile};
use hazel_bench::raw::RawDatabase;
use hazel_domain::ids::{MessageId, SyncConnectionId};
use hazel_domain::model::chat_sync::{ExternalChannelId, ExternalWorkspaceId, Provider};
use hazel_domain::model::delivery::{DeliveryDirection, DeliveryState, ReceiptSource};
use hazel_domain::model::external::{ExternalMessageId, ExternalUserId};
use hazel_domain::model::page::PageRequest;
use hazel_domain::model::sync::{
    AuthorKind, DedupeKey, ExternalAuthor, ExternalMessage, InboundEvent, InboundEventKind,
};
use hazel_domain::ports::{DeliveryFilter, DeliveryRecord, SyncRepository as _};
use hazel_testkit::{Backend, TestApp};
use serde_json::json;

const SOURCE_TEAM: &str = "T0BENCHSRC";
const TARGET_TEAM: &str = "T0BENCHDST";
const SOURCE_CHANNEL: &str = "C0SOURCE";
const TARGET_CHANNEL: &str = "C0TARGET";
/// Concurrent feeders, each recording one event per call as webhook intake does.
const FEEDERS: usize = 8;

struct Report {
    backend: &'static str,
    events: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    raw: f64,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let events: usize = match std::env::var("BENCH_EVENTS") {
        Ok(raw) => raw.parse().context("BENCH_EVENTS must be a whole number")?,
        Err(_) => 2_000,
    };
    let mut reports = vec![run(Backend::Sqlite, "SQLite", events).await?];
    if std::env::var(hazel_testkit::app::POSTGRES_ENV).is_ok() {
        reports.push(run(Backend::Postgres, "PostgreSQL", events).await?);
    } else {
        eprintln!("PostgreSQL skipped: HAZEL_TEST_POSTGRES_URL is not set");
    }
    println!("| database | events | events/s | p50 event→delivery | p99 | raw commits/s | ratio |");
    println!("|---|---|---|---|---|---|---|");
    for r in &reports {
        println!(
            "| {} | {} | {:.0} | {} | {} | {:.0} | {:.2}x |",
            r.backend,
            r.events,
            r.rate,
            ms(r.p50),
            ms(r.p99),
            r.raw,
            r.rate / r.raw.max(f64::MIN_POSITIVE)
        );
    }
    Ok(())
}

async fn run(backend: Backend, name: &'static str, events: usize) -> anyhow::Result<Report> {
    let app = TestApp::spawn_with(backend, |config| {
        config.sync_workers = Some(hazel_worker::WorkerSettings {
            delivery_tasks: 4,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(5),
            receipt_batch: 64,
            steps_per_claim: 256,
            stats_interval: Duration::from_secs(10),
        });
    })
    .await
    .context("the service starts")?;
    let (source, _target) = bridge(&app).await?;
    eprintln!("{name}: {events} events from {FEEDERS} feeders");

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut feeders = tokio::task::JoinSet::new();
    for _ in 0..FEEDERS {
        let next = Arc::clone(&next);
        let ingest = app.services.sync.ingest.clone();
        feeders.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= events {
                    break;
                }
                ingest
                    .record(
                        source,
                        Provider::Slack,
                        ReceiptSource::Webhook,
                        vec![event(i)?],
                    )
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = feeders.join_next().await {
        joined??;
    }
    eprintln!(
        "{name}: every event recorded after {:.2} s",
        started.elapsed().as_secs_f64()
    );
    loop {
        // Counted in place: copying every message at each poll would load the machine the
        // engine runs on.
        if app.fake_slack.message_count(TARGET_CHANNEL) >= events {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the engine did not deliver every event within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let (p50, p99) = latencies(&app, source).await?;
    // The service stops (its workers poll the queues) before the same database is measured
    // alone; the database itself stays until `app` is dropped.
    let mut app = app;
    app.kill().await;
    let raw_database = RawDatabase::open(&app.config.database_url).await?;
    let raw = raw_database
        .measure(1, Duration::from_secs(3))
        .await?
        .cell()
        .rate;
    raw_database.close().await;
    Ok(Report {
        backend: name,
        events,
        rate: events as f64 / elapsed.as_secs_f64(),
        p50,
        p99,
        raw,
    })
}

/// Two Slack workspaces, each with a connection, and one Hazel channel linked to a channel of
/// each: events come in from the first and go out to the second.
async fn bridge(app: &TestApp) -> anyhow::Result<(SyncConnectionId, SyncConnectionId)> {
    let owner = app.user("Bench").await;
    let org = owner.create_org("Bench").await;
    let channel = owner.create_channel(&org, "bridged").await;
    let mut ids = Vec::new();
    for (team, token, external) in [
        (SOURCE_TEAM, "xoxb-1-2-benchsource", SOURCE_CHANNEL),
        (TARGET_TEAM, "xoxb-1-2-benchtarget", TARGET_CHANNEL),
    ] {
        app.slack.add_workspace(team, team);
        app.slack
            .add_bot_token(team, token, hazel_slack::REQUIRED_SCOPES);
        app.slack.add_channel(team, external, external, false, 2);
        let connection = owner
            .post(
                "/connections",
                json!({
                    "organizationId": org,
                    "provider": "slack",
                    "externalWorkspaceId": team,
                    "credentials": {"botToken": token, "signingSecret": "0123456789abcdef0123456789abcdef"},
                }),
            )
            .await
            .expect_status(201)
            .id();
        owner
            .post(
                &format!("/connections/{connection}/channel-links"),
                json!({"hazelChannelId": channel, "externalChannelId": external}),
            )
            .await
            .expect_status(201);
        ids.push(SyncConnectionId::parse("id", &connection)?);
    }
    Ok((ids[0], ids[1]))
}

fn event(i: usize) -> anyhow::Result<InboundEvent> {
    let ts = format!("1700000000.{i:06}");
    Ok(InboundEvent {
        dedupe_key: DedupeKey::new(format!("Ev{i}")),
        workspace: ExternalWorkspaceId::parse("w", SOURCE_TEAM)?,
        channel: ExternalChannelId::parse("c", SOURCE_CHANNEL)?,
        occurred_at: time::OffsetDateTime::now_utc(),
        kind: InboundEventKind::MessageCreated(ExternalMessage {
            id: ExternalMessageId::parse("m", &ts)?,
            author: ExternalAuthor {
                id: ExternalUserId::parse("u", &format!("U{}", i % 50))?,
                name: format!("Author {}", i % 50),
                avatar_url: None,
                kind: AuthorKind::Person,
            },
            text: format!("benchmark event {i}"),
            thread: None,
            attachments: Vec::new(),
            mentions: Vec::new(),
            origin: None,
        }),
    })
}

/// Every record of `connection` going `direction`.
async fn all_records(
    app: &TestApp,
    connection: SyncConnectionId,
    direction: DeliveryDirection,
) -> anyhow::Result<Vec<DeliveryRecord>> {
    let mut records = Vec::new();
    let mut page = PageRequest {
        limit: 200,
        after: None,
    };
    loop {
        let found = app
            .database
            .list_deliveries(
                connection,
                DeliveryFilter {
                    status: None,
                    direction: Some(direction),
                },
                &page,
            )
            .await?;
        records.extend(found.items);
        match found.next_cursor {
            Some(cursor) => {
                page = PageRequest::parse(Some(200), Some(&cursor))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            None => break,
        }
    }
    Ok(records)
}

/// p50 and p99 from an event's receipt to its delivery on the other link.
async fn latencies(
    app: &TestApp,
    source: SyncConnectionId,
) -> anyhow::Result<(Duration, Duration)> {
    let received: std::collections::HashMap<MessageId, time::OffsetDateTime> =
        all_records(app, source, DeliveryDirection::Inbound)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.hazel_message_id?, r.created_at)))
            .collect();
    let mut latencies = Vec::new();
    for connection in app
        .database
        .connections_for_workspace(
            Provider::Slack,
            &ExternalWorkspaceId::parse("w", TARGET_TEAM)?,
        )
        .await?
    {
        for record in all_records(app, connection.id, DeliveryDirection::Outbound).await? {
            if let (DeliveryState::Delivered { completed_at, .. }, Some(message)) =
                (&record.state, record.hazel_message_id)
                && let Some(at) = received.get(&message)
            {
                latencies.push(Duration::try_from(*completed_at - *at).unwrap_or_default());
            }
        }
    }
    latencies.sort_unstable();
    Ok((quantile(&latencies, 0.5), quantile(&latencies, 0.99)))
}
