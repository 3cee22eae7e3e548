//! The sync engine end to end: one Hazel channel linked to a Slack channel and a Discord
//! channel, the in-process fake providers behind both, inbound events recorded as the webhook
//! intake records them, and the real workers delivering.

use std::time::Duration;

use hazel_domain::ids::SyncConnectionId;
use hazel_domain::model::chat_sync::{ExternalChannelId, ExternalWorkspaceId};
use hazel_domain::model::delivery::{DeliveryState, DeliveryStatus, IgnoreReason, ReceiptSource};
use hazel_domain::model::external::{ExternalMessageId, ExternalUserId};
use hazel_domain::model::page::PageRequest;
use hazel_domain::model::sync::{
    AuthFailure, AuthorKind, DedupeKey, DeliveryError, ExternalAuthor, ExternalMessage,
    InboundEvent, InboundEventKind, RateLimitScope, ThreadRef,
};
use hazel_domain::ports::{DeliveryFilter, DeliveryRecord, SyncRepository as _};
use hazel_testkit::TestApp;
use hazel_testkit::eventually;
use hazel_testkit::fake::Op;
use serde_json::{Value, json};

use crate::chat_sync::{
    DISCORD_GUILD, Team, discord_body, discord_guild, slack_body, slack_workspace, team,
};

const SLACK_CHANNEL: &str = "C0GENERAL";
const DISCORD_CHANNEL: &str = "1300000000000000001";

/// A Hazel channel bridged to Slack and Discord.
struct Bridge {
    team: Team,
    channel: String,
    slack: String,
    discord: String,
    slack_link: String,
    discord_link: String,
}

async fn bridge(app: &TestApp) -> Bridge {
    let team = team(app).await;
    slack_workspace(app);
    discord_guild(app);
    let slack = team
        .owner
        .post("/connections", slack_body(&team.org))
        .await
        .expect_status(201)
        .id();
    let discord = team
        .owner
        .post("/connections", discord_body(&team.org))
        .await
        .expect_status(201)
        .id();
    let channel = team.owner.create_channel(&team.org, "bridged").await;
    let link = |connection: &str, external: &str| {
        let body = json!({"hazelChannelId": channel, "externalChannelId": external});
        let path = format!("/connections/{connection}/channel-links");
        let owner = &team.owner;
        async move { owner.post(&path, body).await.expect_status(201).id() }
    };
    let slack_link = link(&slack, SLACK_CHANNEL).await;
    let discord_link = link(&discord, DISCORD_CHANNEL).await;
    Bridge {
        team,
        channel,
        slack,
        discord,
        slack_link,
        discord_link,
    }
}

fn connection_id(raw: &str) -> SyncConnectionId {
    SyncConnectionId::parse("id", raw).unwrap()
}

async fn deliveries(
    app: &TestApp,
    connection: &str,
    filter: DeliveryFilter,
) -> Vec<DeliveryRecord> {
    app.database
        .list_deliveries(
            connection_id(connection),
            filter,
            &PageRequest {
                limit: 200,
                after: None,
            },
        )
        .await
        .unwrap()
        .items
}

fn outbound() -> DeliveryFilter {
    DeliveryFilter {
        status: None,
        direction: Some(hazel_domain::model::delivery::DeliveryDirection::Outbound),
    }
}

fn inbound_filter() -> DeliveryFilter {
    DeliveryFilter {
        status: None,
        direction: Some(hazel_domain::model::delivery::DeliveryDirection::Inbound),
    }
}

fn author(user: &str) -> ExternalAuthor {
    ExternalAuthor {
        id: ExternalUserId::parse("u", user).unwrap(),
        name: format!("Slack {user}"),
        avatar_url: None,
        kind: AuthorKind::Person,
    }
}

fn slack_event(key: &str, kind: InboundEventKind) -> InboundEvent {
    InboundEvent {
        dedupe_key: DedupeKey::new(key),
        workspace: ExternalWorkspaceId::parse("w", crate::chat_sync::SLACK_TEAM).unwrap(),
        channel: ExternalChannelId::parse("c", SLACK_CHANNEL).unwrap(),
        occurred_at: time::OffsetDateTime::now_utc(),
        kind,
    }
}

fn slack_message(ts: &str, user: &str, text: &str) -> ExternalMessage {
    ExternalMessage {
        id: ExternalMessageId::parse("m", ts).unwrap(),
        author: author(user),
        text: text.to_owned(),
        thread: None,
        attachments: vec![],
        mentions: vec![],
        origin: None,
    }
}

async fn record(app: &TestApp, connection: &str, events: Vec<InboundEvent>) -> u64 {
    let provider =
        hazel_domain::ports::ConnectionRepository::find(&app.database, connection_id(connection))
            .await
            .unwrap()
            .unwrap()
            .connection
            .provider;
    app.services
        .sync
        .ingest
        .record(
            connection_id(connection),
            provider,
            ReceiptSource::Webhook,
            events,
        )
        .await
        .unwrap()
}

async fn hazel_messages(bridge: &Bridge) -> Vec<Value> {
    bridge
        .team
        .owner
        .get(&format!("/channels/{}/messages", bridge.channel))
        .await
        .expect_status(200)
        .data()
        .as_array()
        .unwrap()
        .clone()
}

fn reason_of(record: &DeliveryRecord) -> Option<IgnoreReason> {
    match record.state {
        DeliveryState::Ignored { reason, .. } => Some(reason),
        _ => None,
    }
}

/// Every recorded receipt is finished (not pending).
async fn receipts_done(app: &TestApp, connection: &str) -> Vec<DeliveryRecord> {
    eventually("receipts to be processed", || async {
        let records = deliveries(app, connection, inbound_filter()).await;
        (!records.is_empty()
            && records
                .iter()
                .all(|r| r.state.status() != DeliveryStatus::Pending))
        .then_some(records)
    })
    .await
}

// ----------------------------------------------------------------------------------------

async fn a_native_message_reaches_every_outbound_link(app: TestApp) {
    let bridge = bridge(&app).await;
    bridge
        .team
        .owner
        .post_message(&bridge.channel, "hello both")
        .await;
    for (fake, channel) in [
        (&app.fake_slack, SLACK_CHANNEL),
        (&app.fake_discord, DISCORD_CHANNEL),
    ] {
        let posted = eventually("the post", || async {
            let messages = fake.messages(channel);
            (!messages.is_empty()).then_some(messages)
        })
        .await;
        assert_eq!(posted.len(), 1);
        assert_eq!(posted[0].text, "hello both");
    }
    let finished = |connection: String| {
        let app = &app;
        async move {
            eventually("the deliveries to finish", || async {
                let records = deliveries(app, &connection, outbound()).await;
                (!records.is_empty()
                    && records
                        .iter()
                        .all(|r| r.state.status() == DeliveryStatus::Delivered))
                .then_some(records)
            })
            .await
        }
    };
    let records = finished(bridge.slack.clone()).await;
    finished(bridge.discord.clone()).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].channel_link_id.map(|l| l.to_string()),
        Some(bridge.slack_link.clone())
    );
    // Metrics count it by provider and outcome, never by an id.
    let lines = [
        r#"hazel_sync_deliveries_total{outcome="delivered",provider="slack"} 1"#,
        r#"hazel_sync_deliveries_total{outcome="delivered",provider="discord"} 1"#,
        r#"hazel_sync_delivery_latency_seconds_count{provider="slack"} 1"#,
    ];
    let metrics = eventually("the delivery metrics", || async {
        let metrics = reqwest::get(format!("{}/metrics", app.base_url))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        lines
            .iter()
            .all(|line| metrics.contains(line))
            .then_some(metrics)
    })
    .await;
    assert!(!metrics.contains(&bridge.slack_link));
}

async fn an_inbound_message_reaches_hazel_and_every_other_link_never_its_source(app: TestApp) {
    let bridge = bridge(&app).await;
    let event = slack_event(
        "Ev1",
        InboundEventKind::MessageCreated(slack_message("1700.000001", "U0SAM", "from slack")),
    );
    assert_eq!(record(&app, &bridge.slack, vec![event]).await, 1);
    let posted = eventually("the fan-out to Discord", || async {
        let messages = app.fake_discord.messages(DISCORD_CHANNEL);
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(posted[0].text, "from slack");
    let messages = hazel_messages(&bridge).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], "from slack");
    assert_eq!(messages[0]["author"]["externalProvider"], "slack");
    // Never back to its source.
    assert!(app.fake_slack.calls_of(Op::Post).is_empty());
    let receipts = receipts_done(&app, &bridge.slack).await;
    assert_eq!(receipts[0].state.status(), DeliveryStatus::Delivered);
}

async fn the_same_event_twice_makes_one_message(app: TestApp) {
    let bridge = bridge(&app).await;
    let event = || {
        slack_event(
            "Ev2",
            InboundEventKind::MessageCreated(slack_message("1700.000002", "U0SAM", "once")),
        )
    };
    assert_eq!(record(&app, &bridge.slack, vec![event()]).await, 1);
    assert_eq!(record(&app, &bridge.slack, vec![event()]).await, 0);
    // A redelivery under a new key finds the message link and writes nothing either.
    let mut again = event();
    again.dedupe_key = DedupeKey::new("Ev2-retry");
    assert_eq!(record(&app, &bridge.slack, vec![again]).await, 1);
    let receipts = receipts_done(&app, &bridge.slack).await;
    assert_eq!(receipts.len(), 2);
    assert!(
        receipts
            .iter()
            .any(|r| reason_of(r) == Some(IgnoreReason::AlreadyInSync))
    );
    assert_eq!(hazel_messages(&bridge).await.len(), 1);
    eventually("the one fan-out", || async {
        (app.fake_discord.messages(DISCORD_CHANNEL).len() == 1).then_some(())
    })
    .await;
}

async fn echoes_of_our_own_messages_are_ignored_with_the_reason(app: TestApp) {
    let bridge = bridge(&app).await;
    let bot = app.slack.bot_identity(crate::chat_sync::SLACK_TOKEN);
    let mut ours = slack_message("1700.000003", &bot.user_id, "our echo");
    ours.author.kind = AuthorKind::Bot { bot_id: None };
    let mut marked = slack_message("1700.000004", "U0SAM", "marked");
    marked.origin = Some(hazel_domain::model::sync::OriginMarker {
        hazel_message_id: hazel_domain::ids::MessageId::new(),
    });
    let mut ci = slack_message("1700.000005", "U0CI", "build passed");
    ci.author.kind = AuthorKind::Bot { bot_id: None };
    record(
        &app,
        &bridge.slack,
        vec![
            slack_event("Ev3", InboundEventKind::MessageCreated(ours)),
            slack_event("Ev4", InboundEventKind::MessageCreated(marked)),
            slack_event("Ev5", InboundEventKind::MessageCreated(ci)),
        ],
    )
    .await;
    let receipts = receipts_done(&app, &bridge.slack).await;
    let mut reasons: Vec<_> = receipts.iter().filter_map(reason_of).collect();
    reasons.sort_by_key(|r| r.as_str());
    assert_eq!(reasons, vec![IgnoreReason::OwnBot, IgnoreReason::OwnOrigin]);
    // Other bots' messages are content.
    let messages = hazel_messages(&bridge).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], "build passed");
}

async fn inactive_links_and_paused_connections_are_ignored_with_the_reason(app: TestApp) {
    let bridge = bridge(&app).await;
    bridge
        .team
        .owner
        .patch(
            &format!("/channel-links/{}", bridge.slack_link),
            json!({"isActive": false}),
        )
        .await
        .expect_status(200);
    record(
        &app,
        &bridge.slack,
        vec![slack_event(
            "Ev6",
            InboundEventKind::MessageCreated(slack_message("1700.000006", "U0SAM", "no")),
        )],
    )
    .await;
    let receipts = receipts_done(&app, &bridge.slack).await;
    assert_eq!(reason_of(&receipts[0]), Some(IgnoreReason::LinkInactive));

    bridge
        .team
        .owner
        .patch(
            &format!("/connections/{}", bridge.discord),
            json!({"status": "disconnected"}),
        )
        .await
        .expect_status(200);
    let event = InboundEvent {
        channel: ExternalChannelId::parse("c", DISCORD_CHANNEL).unwrap(),
        workspace: ExternalWorkspaceId::parse("w", DISCORD_GUILD).unwrap(),
        ..slack_event(
            "create:1",
            InboundEventKind::MessageCreated(slack_message("1400000000000000001", "1500", "no")),
        )
    };
    record(&app, &bridge.discord, vec![event]).await;
    let receipts = receipts_done(&app, &bridge.discord).await;
    assert_eq!(
        reason_of(&receipts[0]),
        Some(IgnoreReason::ConnectionNotConnected)
    );
    assert!(hazel_messages(&bridge).await.is_empty());
}

async fn direction_rules_hold_each_way(app: TestApp) {
    let bridge = bridge(&app).await;
    // Slack: outbound only; Discord: inbound only.
    for (link, direction) in [
        (&bridge.slack_link, "outbound"),
        (&bridge.discord_link, "inbound"),
    ] {
        bridge
            .team
            .owner
            .patch(
                &format!("/channel-links/{link}"),
                json!({"direction": direction}),
            )
            .await
            .expect_status(200);
    }
    bridge
        .team
        .owner
        .post_message(&bridge.channel, "native")
        .await;
    record(
        &app,
        &bridge.slack,
        vec![slack_event(
            "Ev7",
            InboundEventKind::MessageCreated(slack_message("1700.000007", "U0SAM", "refused")),
        )],
    )
    .await;
    eventually("the native post to Slack", || async {
        (app.fake_slack.messages(SLACK_CHANNEL).len() == 1).then_some(())
    })
    .await;
    let receipts = receipts_done(&app, &bridge.slack).await;
    assert_eq!(
        reason_of(&receipts[0]),
        Some(IgnoreReason::DirectionDisallows)
    );
    // Discord takes nothing outbound: no row was ever queued for it.
    assert!(
        deliveries(&app, &bridge.discord, outbound())
            .await
            .is_empty()
    );
    assert!(app.fake_discord.calls().is_empty());
    let contents: Vec<Value> = hazel_messages(&bridge)
        .await
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(contents, vec![json!("native")]);
}

async fn edits_reactions_and_deletes_the_service_caused_do_not_bounce(app: TestApp) {
    let bridge = bridge(&app).await;
    record(
        &app,
        &bridge.slack,
        vec![slack_event(
            "Ev8",
            InboundEventKind::MessageCreated(slack_message("1700.000008", "U0SAM", "v1")),
        )],
    )
    .await;
    eventually("the fan-out", || async {
        (app.fake_discord.messages(DISCORD_CHANNEL).len() == 1).then_some(())
    })
    .await;
    // The same text coming back as an edit is what the link last wrote: no write, no fan-out.
    record(
        &app,
        &bridge.slack,
        vec![slack_event(
            "Ev9",
            InboundEventKind::MessageEdited(slack_message("1700.000008", "U0SAM", "v1")),
        )],
    )
    .await;
    // Discord's echo of the post it was sent (by our bot) is ignored.
    let discord_bot = crate::chat_sync::DISCORD_BOT;
    let posted = app.fake_discord.messages(DISCORD_CHANNEL);
    let echo = InboundEvent {
        channel: ExternalChannelId::parse("c", DISCORD_CHANNEL).unwrap(),
        workspace: ExternalWorkspaceId::parse("w", DISCORD_GUILD).unwrap(),
        ..slack_event(
            "create:echo",
            InboundEventKind::MessageCreated(slack_message(&posted[0].id, discord_bot, "v1")),
        )
    };
    record(&app, &bridge.discord, vec![echo]).await;
    let slack = receipts_done(&app, &bridge.slack).await;
    assert!(
        slack
            .iter()
            .any(|r| reason_of(r) == Some(IgnoreReason::AlreadyInSync))
    );
    let discord = receipts_done(&app, &bridge.discord).await;
    assert_eq!(reason_of(&discord[0]), Some(IgnoreReason::OwnBot));
    assert!(app.fake_discord.calls_of(Op::Edit).is_empty());
    assert!(app.fake_slack.calls().is_empty());
    assert_eq!(hazel_messages(&bridge).await.len(), 1);
}

async fn thread_replies_map_both_ways(app: TestApp) {
    let bridge = bridge(&app).await;
    let root = bridge
        .team
        .owner
        .post_message(&bridge.channel, "root")
        .await;
    let root_posted = eventually("the root post", || async {
        app.fake_slack.messages(SLACK_CHANNEL).first().cloned()
    })
    .await;
    bridge
        .team
        .owner
        .post(
            &format!("/channels/{}/messages", bridge.channel),
            json!({"content": "reply", "parentMessageId": root}),
        )
        .await
        .expect_status(201);
    let reply = eventually("the reply post", || async {
        app.fake_slack
            .messages(SLACK_CHANNEL)
            .into_iter()
            .find(|m| m.text == "reply")
    })
    .await;
    assert_eq!(
        reply.thread_parent.as_deref(),
        Some(root_posted.id.as_str())
    );
    // Inbound: a Slack reply in the root's thread becomes a Hazel reply to the root.
    let mut inbound = slack_message("1700.000010", "U0SAM", "slack reply");
    inbound.thread = Some(ThreadRef {
        parent: ExternalMessageId::parse("m", &root_posted.id).unwrap(),
        channel: None,
    });
    record(
        &app,
        &bridge.slack,
        vec![slack_event(
            "Ev10",
            InboundEventKind::MessageCreated(inbound),
        )],
    )
    .await;
    receipts_done(&app, &bridge.slack).await;
    let messages = hazel_messages(&bridge).await;
    let synced = messages
        .iter()
        .find(|m| m["content"] == "slack reply")
        .unwrap();
    assert_eq!(synced["parentMessageId"], json!(root));
    // And Discord gets it as a reply to its own copy of the root.
    let discord_root = eventually("Discord's root", || async {
        app.fake_discord
            .messages(DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.text == "root")
    })
    .await;
    let discord_reply = eventually("Discord's reply", || async {
        app.fake_discord
            .messages(DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.text == "slack reply")
    })
    .await;
    assert_eq!(discord_reply.thread_parent, Some(discord_root.id));
}

async fn react(client: &hazel_testkit::Client, message: &str) {
    client
        .post(
            &format!("/messages/{message}/reactions"),
            json!({"emoji": "👍"}),
        )
        .await
        .expect_status(201);
}

async fn unreact(client: &hazel_testkit::Client, message: &str) {
    client
        .delete(&format!("/messages/{message}/reactions/%F0%9F%91%8D"))
        .await
        .expect_status(200);
}

async fn the_bot_reaction_stays_while_any_hazel_member_has_the_emoji(app: TestApp) {
    let bridge = bridge(&app).await;
    let message = bridge
        .team
        .owner
        .post_message(&bridge.channel, "react")
        .await;
    eventually("the post", || async {
        (!app.fake_slack.messages(SLACK_CHANNEL).is_empty()).then_some(())
    })
    .await;
    react(&bridge.team.owner, &message).await;
    react(&bridge.team.admin, &message).await;
    let held = |n: usize| {
        let fake = app.fake_slack.clone();
        async move {
            let settled = fake.messages(SLACK_CHANNEL)[0].reactions.len() == n;
            settled.then_some(())
        }
    };
    eventually("the bot's reaction", || held(1)).await;
    unreact(&bridge.team.owner, &message).await;
    // The admin still has 👍: the removal is ignored and the bot keeps its reaction.
    eventually("the first removal to be handled", || async {
        let records = deliveries(&app, &bridge.slack, outbound()).await;
        records
            .iter()
            .any(|r| reason_of(r) == Some(IgnoreReason::ReactionStillHeld))
            .then_some(())
    })
    .await;
    assert_eq!(app.fake_slack.messages(SLACK_CHANNEL)[0].reactions.len(), 1);
    unreact(&bridge.team.admin, &message).await;
    eventually("the bot's reaction to go", || held(0)).await;
    assert_eq!(app.fake_slack.calls_of(Op::React).len(), 1);
    assert_eq!(app.fake_slack.calls_of(Op::Unreact).len(), 1);
}

async fn a_rate_limit_waits_for_retry_after_then_delivers(app: TestApp) {
    let bridge = bridge(&app).await;
    app.fake_slack.fail_next(
        Op::Post,
        DeliveryError::RateLimited {
            retry_after: Duration::from_millis(1_200),
            scope: RateLimitScope::Route,
        },
        1,
    );
    let started = tokio::time::Instant::now();
    bridge
        .team
        .owner
        .post_message(&bridge.channel, "slow down")
        .await;
    eventually("the retried post", || async {
        (app.fake_slack.messages(SLACK_CHANNEL).len() == 1).then_some(())
    })
    .await;
    assert!(started.elapsed() >= Duration::from_millis(1_200));
    assert_eq!(app.fake_slack.calls_of(Op::Post).len(), 2);
    let records = eventually("the delivery recorded", || async {
        let records = deliveries(&app, &bridge.slack, outbound()).await;
        (records.first()?.state.status() == DeliveryStatus::Delivered).then_some(records)
    })
    .await;
    assert_eq!(records[0].state.attempts(), 2);
    // Discord was never held up by Slack's limit.
    assert_eq!(app.fake_discord.calls_of(Op::Post).len(), 1);
}

async fn server_errors_retry_then_dead_letter_then_retry_through_the_api(app: TestApp) {
    let bridge = bridge(&app).await;
    let limit = app.config.sync_retry.max_attempts as usize;
    app.fake_slack.fail_next(
        Op::Post,
        DeliveryError::Transient {
            reason: "HTTP 502".to_owned(),
        },
        limit,
    );
    bridge
        .team
        .owner
        .post_message(&bridge.channel, "flaky")
        .await;
    let dead = eventually("the dead letter", || async {
        deliveries(&app, &bridge.slack, outbound())
            .await
            .into_iter()
            .find(|r| r.state.status() == DeliveryStatus::Failed)
    })
    .await;
    assert_eq!(dead.state.attempts() as usize, limit);
    assert_eq!(app.fake_slack.calls_of(Op::Post).len(), limit);
    let id = dead.id.to_hyphenated();
    let retried = bridge
        .team
        .owner
        .post(&format!("/deliveries/{id}/retry"), json!({}))
        .await
        .expect_status(200);
    assert_eq!(retried.data()["status"], "pending");
    eventually("the retried delivery", || async {
        (app.fake_slack.messages(SLACK_CHANNEL).len() == 1).then_some(())
    })
    .await;
    bridge
        .team
        .owner
        .post(&format!("/deliveries/{id}/retry"), json!({}))
        .await
        .expect_status(409);
}

async fn an_ambiguous_send_is_resolved_not_posted_twice(app: TestApp) {
    let bridge = bridge(&app).await;
    app.fake_slack.lose_next_post_answer();
    bridge
        .team
        .owner
        .post_message(&bridge.channel, "did it go?")
        .await;
    eventually("the resolution", || async {
        let records = deliveries(&app, &bridge.slack, outbound()).await;
        (records.first()?.state.status() == DeliveryStatus::Delivered).then_some(())
    })
    .await;
    assert_eq!(app.fake_slack.messages(SLACK_CHANNEL).len(), 1);
    assert_eq!(app.fake_slack.calls_of(Op::Post).len(), 1);
    assert!(!app.fake_slack.calls_of(Op::FindByOrigin).is_empty());
}

async fn auth_failures_hold_deliveries_until_validate(app: TestApp) {
    let bridge = bridge(&app).await;
    app.fake_slack.fail_next(
        Op::Post,
        DeliveryError::Auth {
            code: AuthFailure::AuthExpired,
            reason: "token_revoked".to_owned(),
        },
        1,
    );
    bridge
        .team
        .owner
        .post_message(&bridge.channel, "held")
        .await;
    let connection = eventually("the connection in error", || async {
        let connection = bridge
            .team
            .owner
            .get(&format!("/connections/{}", bridge.slack))
            .await
            .expect_status(200)
            .data()
            .clone();
        (connection["status"] == "error").then_some(connection)
    })
    .await;
    assert_eq!(connection["errorCode"], "AUTH_EXPIRED");
    let records = deliveries(&app, &bridge.slack, outbound()).await;
    assert_eq!(records[0].state.status(), DeliveryStatus::Pending);
    assert!(app.fake_slack.messages(SLACK_CHANNEL).is_empty());
    let validated = bridge
        .team
        .owner
        .post(
            &format!("/connections/{}/validate", bridge.slack),
            json!({}),
        )
        .await
        .expect_status(200);
    assert_eq!(validated.body["valid"], true, "{}", validated.text);
    eventually("the held delivery", || async {
        (app.fake_slack.messages(SLACK_CHANNEL).len() == 1).then_some(())
    })
    .await;
}

async fn a_links_queue_stays_in_order_under_retries_with_two_processes(app: TestApp) {
    let bridge = bridge(&app).await;
    let beside = app
        .spawn_beside(Some(hazel_testkit::app::test_workers()))
        .await;
    app.fake_slack.fail_next(
        Op::Post,
        DeliveryError::Transient {
            reason: "HTTP 503".to_owned(),
        },
        2,
    );
    let message = bridge.team.owner.post_message(&bridge.channel, "v0").await;
    for version in 1..=3 {
        bridge
            .team
            .owner
            .patch(
                &format!("/messages/{message}"),
                json!({"content": format!("v{version}")}),
            )
            .await
            .expect_status(200);
    }
    eventually("every edit", || async {
        let messages = app.fake_slack.messages(SLACK_CHANNEL);
        (messages.len() == 1 && messages[0].text == "v3").then_some(())
    })
    .await;
    let order: Vec<(Op, String)> = app
        .fake_slack
        .calls()
        .into_iter()
        .filter(|c| matches!(c.op, Op::Post | Op::Edit))
        .map(|c| (c.op, c.content.unwrap_or_default()))
        .collect();
    // Two failed tries of the create, then the create; no edit ever goes before it. Each
    // delivery sends the message as it is when it goes out, so the edits queued behind the
    // create find the text delivered already.
    let posts = order.iter().take_while(|(op, _)| *op == Op::Post).count();
    assert_eq!(posts, 3, "{order:?}");
    assert!(
        order[posts..].iter().all(|(op, _)| *op == Op::Edit),
        "{order:?}"
    );
    beside.stop().await;
}

async fn a_long_message_goes_out_in_parts_edited_and_deleted_together(app: TestApp) {
    let bridge = bridge(&app).await;
    app.fake_discord.set_length_limit(2_000);
    let long: String = (0..1000).map(|i| format!("w{:03} ", i % 1000)).collect();
    let long = long.trim_end().to_owned();
    assert!(long.chars().count() >= 4_999);
    let message = bridge.team.owner.post_message(&bridge.channel, &long).await;
    let parts = eventually("three parts", || async {
        let parts = app.fake_discord.messages(DISCORD_CHANNEL);
        (parts.len() == 3).then_some(parts)
    })
    .await;
    assert!(parts.iter().all(|p| p.text.chars().count() <= 2_000));
    let edited = long.replace("w000", "EDIT");
    bridge
        .team
        .owner
        .patch(&format!("/messages/{message}"), json!({"content": edited}))
        .await
        .expect_status(200);
    eventually("the parts edited", || async {
        let now = app.fake_discord.messages(DISCORD_CHANNEL);
        (now.len() == 3 && now[0].text.starts_with("EDIT")).then_some(())
    })
    .await;
    let ids: Vec<String> = app
        .fake_discord
        .messages(DISCORD_CHANNEL)
        .iter()
        .map(|p| p.id.clone())
        .collect();
    assert_eq!(ids, parts.iter().map(|p| p.id.clone()).collect::<Vec<_>>());
    bridge
        .team
        .owner
        .delete(&format!("/messages/{message}"))
        .await
        .expect_status(200);
    eventually("every part deleted", || async {
        app.fake_discord
            .messages(DISCORD_CHANNEL)
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(app.fake_discord.calls_of(Op::Delete).len(), 1);
}

async fn two_processes_deliver_every_item_exactly_once(app: TestApp) {
    let bridge = bridge(&app).await;
    let beside = app
        .spawn_beside(Some(hazel_testkit::app::test_workers()))
        .await;
    let total = 30;
    for i in 0..total {
        bridge
            .team
            .owner
            .post_message(&bridge.channel, &format!("item {i}"))
            .await;
    }
    for (fake, channel) in [
        (&app.fake_slack, SLACK_CHANNEL),
        (&app.fake_discord, DISCORD_CHANNEL),
    ] {
        eventually("every item", || async {
            (fake.messages(channel).len() >= total).then_some(())
        })
        .await;
        // Settle: nothing more arrives late.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut texts: Vec<String> = fake.messages(channel).into_iter().map(|m| m.text).collect();
        assert_eq!(texts.len(), total, "duplicates on {channel}");
        texts.dedup();
        assert_eq!(texts.len(), total);
        // One link's queue is in order: item i before item i+1.
        let expected: Vec<String> = (0..total).map(|i| format!("item {i}")).collect();
        assert_eq!(texts, expected);
    }
    beside.stop().await;
}

async fn a_kill_mid_delivery_loses_and_duplicates_nothing_and_edits_find_the_message(
    mut app: TestApp,
) {
    let bridge = bridge(&app).await;
    app.fake_slack.stall_next_post();
    let message = bridge
        .team
        .owner
        .post_message(&bridge.channel, "survives")
        .await;
    eventually("the stalled post to take effect", || async {
        (app.fake_slack.messages(SLACK_CHANNEL).len() == 1).then_some(())
    })
    .await;
    // A second process, started after the first is killed mid-call.
    let fake = app.fake_slack.clone();
    let owner_token = bridge.team.owner.token().unwrap().to_owned();
    let beside = app
        .spawn_beside(Some(hazel_testkit::app::test_workers()))
        .await;
    let database = app.database.clone();
    let slack = bridge.slack.clone();
    app.kill().await;
    let records = eventually("the take-over after the lease", || async {
        let records = database
            .list_deliveries(connection_id(&slack), outbound(), &PageRequest::default())
            .await
            .unwrap()
            .items;
        (records.first()?.state.status() == DeliveryStatus::Delivered).then_some(records)
    })
    .await;
    assert_eq!(records.len(), 1);
    assert_eq!(fake.messages(SLACK_CHANNEL).len(), 1, "posted twice");
    assert_eq!(fake.calls_of(Op::Post).len(), 1);
    // The message link survived: an edit through the new process finds the message.
    let caller = beside
        .services
        .identity
        .authenticate(&hazel_domain::model::identity::TokenSecret::presented(
            &owner_token,
        ))
        .await
        .unwrap();
    beside
        .services
        .messages
        .edit(
            &caller,
            hazel_domain::ids::MessageId::parse("id", &message).unwrap(),
            hazel_domain::model::message::MessageContent::parse("c", "edited later").unwrap(),
        )
        .await
        .unwrap();
    eventually("the edit", || async {
        let messages = fake.messages(SLACK_CHANNEL);
        (messages.len() == 1 && messages[0].text == "edited later").then_some(())
    })
    .await;
    beside.stop().await;
}

async fn the_deliveries_api_lists_filters_and_retries(app: TestApp) {
    let bridge = bridge(&app).await;
    app.fake_slack.fail_next(
        Op::Post,
        DeliveryError::Rejected {
            reason: "HTTP 400 invalid_blocks".to_owned(),
        },
        1,
    );
    bridge.team.owner.post_message(&bridge.channel, "one").await;
    record(
        &app,
        &bridge.slack,
        vec![slack_event(
            "Ev20",
            InboundEventKind::MessageCreated(slack_message("1700.000020", "U0SAM", "two")),
        )],
    )
    .await;
    let path = format!("/connections/{}/deliveries", bridge.slack);
    let failed = eventually("the dead letter", || async {
        let page = bridge
            .team
            .member
            .get(&format!("{path}?status=failed"))
            .await
            .expect_status(200);
        let items = page.data().as_array().cloned().unwrap_or_default();
        (items.len() == 1).then(|| items[0].clone())
    })
    .await;
    assert_eq!(failed["direction"], "outbound");
    assert_eq!(failed["kind"], "message.create");
    assert_eq!(failed["lastError"]["code"], "REJECTED");
    assert_eq!(failed["attempts"], 1);
    let inbound = bridge
        .team
        .member
        .get(&format!("{path}?direction=inbound"))
        .await
        .expect_status(200);
    let inbound = inbound.data().as_array().unwrap();
    assert_eq!(inbound.len(), 1);
    assert_eq!(inbound[0]["direction"], "inbound");
    assert_eq!(inbound[0]["externalMessageId"], "1700.000020");
    // Both ways, newest first.
    let all = bridge.team.member.get(&path).await.expect_status(200);
    assert_eq!(all.data().as_array().unwrap().len(), 2);
    // What a delivery lacks is left out, as the document describes it, never answered null.
    for delivery in all.data().as_array().unwrap() {
        let nulls: Vec<&String> = delivery
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, value)| value.is_null())
            .map(|(key, _)| key)
            .collect();
        assert!(nulls.is_empty(), "null fields {nulls:?} in {delivery}");
    }
    assert_eq!(all.data()[0]["direction"], "inbound");
    let paged = bridge
        .team
        .member
        .get(&format!("{path}?limit=1"))
        .await
        .expect_status(200);
    let cursor = paged.body["nextCursor"].as_str().unwrap().to_owned();
    let next = bridge
        .team
        .member
        .get(&format!("{path}?limit=1&cursor={cursor}"))
        .await
        .expect_status(200);
    assert_eq!(next.data()[0]["direction"], "outbound");
    assert!(next.body["nextCursor"].is_null());

    let id = failed["id"].as_str().unwrap();
    let refused = bridge
        .team
        .member
        .post(&format!("/deliveries/{id}/retry"), json!({}))
        .await
        .expect_status(403);
    assert_eq!(refused.error_code(), "UnauthorizedError");
    let unknown = bridge
        .team
        .owner
        .post(
            &format!("/deliveries/{}/retry", hazel_domain::ids::DeliveryId::new()),
            json!({}),
        )
        .await
        .expect_status(404);
    assert_eq!(unknown.error_code(), "ChatSyncDeliveryNotFoundError");
    let retried = bridge
        .team
        .admin
        .post(&format!("{path}/retry-failed"), json!({}))
        .await
        .expect_status(200);
    assert_eq!(retried.body["retriedCount"], 1);
    assert!(retried.body["transactionId"].is_string());
    eventually("the re-queued post", || async {
        (app.fake_slack.messages(SLACK_CHANNEL).len() == 1).then_some(())
    })
    .await;
    let again = bridge
        .team
        .admin
        .post(&format!("/deliveries/{id}/retry"), json!({}))
        .await
        .expect_status(409);
    assert_eq!(again.error_code(), "ChatSyncDeliveryNotFailedError");
    // lastSyncAt became real.
    let connection = bridge
        .team
        .member
        .get(&format!("/connections/{}", bridge.slack))
        .await
        .expect_status(200);
    assert!(
        connection.data()["lastSyncAt"].is_string(),
        "{}",
        connection.text
    );
}

fn input(signature: &str) -> hazel_domain::model::sync::InboundInput {
    hazel_domain::model::sync::InboundInput {
        headers: vec![
            (
                "x-fake-workspace".to_owned(),
                crate::chat_sync::SLACK_TEAM.to_owned(),
            ),
            ("x-fake-signature".to_owned(), signature.to_owned()),
        ],
        body: b"{}".to_vec(),
        received_at: time::OffsetDateTime::now_utc(),
    }
}

async fn intake_verifies_then_records_and_refused_input_stores_nothing(app: TestApp) {
    use hazel_domain::model::chat_sync::Provider;
    use hazel_domain::services::sync::{IntakeError, IntakeOutcome};
    let bridge = bridge(&app).await;
    let ingest = &app.services.sync.ingest;
    app.fake_slack.queue_inbound(vec![slack_event(
        "Ev30",
        InboundEventKind::MessageCreated(slack_message("1700.000030", "U0SAM", "via intake")),
    )]);
    let refused = ingest
        .intake(Provider::Slack, ReceiptSource::Webhook, &input("forged"))
        .await;
    assert!(
        matches!(refused, Err(IntakeError::Unauthenticated(_))),
        "{refused:?}"
    );
    assert!(
        deliveries(&app, &bridge.slack, inbound_filter())
            .await
            .is_empty()
    );
    let accepted = ingest
        .intake(Provider::Slack, ReceiptSource::Webhook, &input("valid"))
        .await
        .unwrap();
    assert_eq!(accepted, IntakeOutcome::Recorded(1));
    receipts_done(&app, &bridge.slack).await;
    let messages = hazel_messages(&bridge).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], "via intake");
    let mut other = input("valid");
    other.headers[0].1 = "T0NOBODY".to_owned();
    assert!(matches!(
        ingest
            .intake(Provider::Slack, ReceiptSource::Webhook, &other)
            .await,
        Err(IntakeError::UnknownWorkspace)
    ));
}

/// Work written in this process starts at once: with workers that would not poll again within
/// the test (an hour between looks when idle), a Hazel message and an inbound event still go
/// out, because the store wakes the workers when it commits them.
async fn committed_work_wakes_idle_workers(backend: hazel_testkit::Backend) {
    let Some(app) = TestApp::spawn_with(backend, |config| {
        config.sync_workers = Some(hazel_worker::WorkerSettings {
            idle_poll: Duration::from_secs(3600),
            ..hazel_testkit::app::test_workers()
        });
    })
    .await
    else {
        return;
    };
    let bridge = bridge(&app).await;
    // Both workers are idle by now, sleeping their hour.
    tokio::time::sleep(Duration::from_millis(300)).await;
    bridge
        .team
        .owner
        .post_message(&bridge.channel, "woken out")
        .await;
    eventually("the native message in Discord", || async {
        let messages = app.fake_discord.messages(DISCORD_CHANNEL);
        messages.iter().any(|m| m.text == "woken out").then_some(())
    })
    .await;
    let event = slack_event(
        "EvWAKE",
        InboundEventKind::MessageCreated(slack_message("1700.000009", "U0SAM", "woken in")),
    );
    assert_eq!(record(&app, &bridge.slack, vec![event]).await, 1);
    eventually("the inbound message relayed to Discord", || async {
        let messages = app.fake_discord.messages(DISCORD_CHANNEL);
        messages.iter().any(|m| m.text == "woken in").then_some(())
    })
    .await;
    assert_eq!(hazel_messages(&bridge).await.len(), 2);
}

mod wake_ups {
    #[tokio::test]
    async fn committed_work_wakes_idle_workers_on_sqlite() {
        super::committed_work_wakes_idle_workers(hazel_testkit::Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn committed_work_wakes_idle_workers_on_postgres() {
        super::committed_work_wakes_idle_workers(hazel_testkit::Backend::Postgres).await;
    }
}

hazel_testkit::on_every_backend!(
    intake_verifies_then_records_and_refused_input_stores_nothing,
    the_deliveries_api_lists_filters_and_retries,
    a_native_message_reaches_every_outbound_link,
    an_inbound_message_reaches_hazel_and_every_other_link_never_its_source,
    the_same_event_twice_makes_one_message,
    echoes_of_our_own_messages_are_ignored_with_the_reason,
    inactive_links_and_paused_connections_are_ignored_with_the_reason,
    direction_rules_hold_each_way,
    edits_reactions_and_deletes_the_service_caused_do_not_bounce,
    thread_replies_map_both_ways,
    the_bot_reaction_stays_while_any_hazel_member_has_the_emoji,
    a_rate_limit_waits_for_retry_after_then_delivers,
    server_errors_retry_then_dead_letter_then_retry_through_the_api,
    an_ambiguous_send_is_resolved_not_posted_twice,
    auth_failures_hold_deliveries_until_validate,
    a_links_queue_stays_in_order_under_retries_with_two_processes,
    a_long_message_goes_out_in_parts_edited_and_deleted_together,
    two_processes_deliver_every_item_exactly_once,
    a_kill_mid_delivery_loses_and_duplicates_nothing_and_edits_find_the_message,
);
