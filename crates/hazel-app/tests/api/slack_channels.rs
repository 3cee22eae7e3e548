//! Channels as whole kinds: membership in discovery, joining on link and on selection, links
//! checked with the provider, and discovery that waits out a rate limit.

use hazel_testkit::TestApp;
use hazel_testkit::sim::discord::ChannelKind;
use hazel_testkit::sim::slack::Failure as SlackFailure;
use serde_json::{Value, json};

use crate::chat_sync::*;

fn by_id<'a>(channels: &'a Value, id: &str) -> &'a Value {
    channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {channels}"))
}

/// The channels `conversations.join` was called for, in order.
fn joins(app: &TestApp) -> Vec<String> {
    app.slack
        .requests()
        .iter()
        .filter(|r| r.route == "conversations.join")
        .map(|r| {
            r.body.as_ref().unwrap()["channel"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn calls_of(app: &TestApp, method: &str) -> usize {
    app.slack
        .requests()
        .iter()
        .filter(|r| r.route == method)
        .count()
}

async fn link_count(client: &hazel_testkit::Client, id: &str) -> usize {
    client
        .get(&format!("/connections/{id}/channel-links"))
        .await
        .expect_status(200)
        .data()
        .as_array()
        .unwrap()
        .len()
}

async fn discovery_shows_whether_the_bot_is_a_member(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    app.slack.set_bot_membership(SLACK_TEAM, "C0RANDOM", false);
    let resp = t
        .member
        .get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(200);
    assert_eq!(by_id(resp.data(), "C0RANDOM")["botIsMember"], false);
    assert_eq!(by_id(resp.data(), "C0GENERAL")["botIsMember"], true);
    assert_eq!(by_id(resp.data(), "G0SECRET")["botIsMember"], true);
}

async fn linking_a_public_channel_the_bot_is_not_in_joins_it(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    app.slack.set_bot_membership(SLACK_TEAM, "C0RANDOM", false);
    let channel = t.owner.create_channel(&t.org, "random").await;
    t.owner
        .post(
            &format!("/connections/{id}/channel-links"),
            json!({"hazelChannelId": channel, "externalChannelId": "C0RANDOM"}),
        )
        .await
        .expect_status(201);
    assert_eq!(joins(&app), ["C0RANDOM"]);
    let listed = t.owner.get(&format!("/connections/{id}/channels")).await;
    assert_eq!(by_id(listed.data(), "C0RANDOM")["botIsMember"], true);
    assert_eq!(by_id(listed.data(), "C0RANDOM")["syncEnabled"], true);
    // A channel the bot is in is linked without joining anything.
    let general = t.owner.create_channel(&t.org, "general").await;
    t.owner
        .post(
            &format!("/connections/{id}/channel-links"),
            json!({"hazelChannelId": general, "externalChannelId": "C0GENERAL"}),
        )
        .await
        .expect_status(201);
    assert_eq!(joins(&app), ["C0RANDOM"]);
    app.slack.assert_no_violations();
}

async fn linking_a_private_channel_the_bot_is_not_in_is_refused(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    app.slack.set_bot_membership(SLACK_TEAM, "G0SECRET", false);
    let channel = t.owner.create_channel(&t.org, "secret").await;
    let resp = t
        .owner
        .post(
            &format!("/connections/{id}/channel-links"),
            json!({"hazelChannelId": channel, "externalChannelId": "G0SECRET"}),
        )
        .await
        .expect_status(422);
    assert_eq!(resp.error_code(), "INSUFFICIENT_PERMISSIONS");
    let message = resp.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("G0SECRET") && message.contains("invite"),
        "the message names the channel and the fix: {message}"
    );
    assert!(
        resp.body["error"]["requiredScopes"].is_array(),
        "{}",
        resp.text
    );
    assert!(joins(&app).is_empty(), "a private channel is never joined");
    assert_eq!(link_count(&t.owner, &id).await, 0);
    assert_no_secrets(&resp.text);
}

async fn linking_an_unknown_or_archived_channel_is_refused_and_stores_nothing(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    app.slack
        .add_channel(SLACK_TEAM, "C0OLD", "old-news", false, 4);
    app.slack.archive_channel(SLACK_TEAM, "C0OLD");
    let channel = t.owner.create_channel(&t.org, "general").await;
    let path = format!("/connections/{id}/channel-links");
    let unknown = t
        .owner
        .post(
            &path,
            json!({"hazelChannelId": channel, "externalChannelId": "C0NOPE"}),
        )
        .await
        .expect_status(422);
    assert_eq!(unknown.error_code(), "INSUFFICIENT_PERMISSIONS");
    assert!(unknown.text.contains("C0NOPE"), "{}", unknown.text);
    let archived = t
        .owner
        .post(
            &path,
            json!({"hazelChannelId": channel, "externalChannelId": "C0OLD"}),
        )
        .await
        .expect_status(422);
    assert_eq!(archived.error_code(), "INSUFFICIENT_PERMISSIONS");
    assert!(archived.text.contains("archived"), "{}", archived.text);
    assert_eq!(link_count(&t.owner, &id).await, 0);
    // A provider that cannot answer refuses the link too, with its own code.
    app.slack
        .fail_next("conversations.info", SlackFailure::ServerError);
    let down = t
        .owner
        .post(
            &path,
            json!({"hazelChannelId": channel, "externalChannelId": "C0GENERAL"}),
        )
        .await
        .expect_status(502);
    assert_eq!(down.error_code(), "PLATFORM_ERROR");
    assert_eq!(link_count(&t.owner, &id).await, 0);
}

async fn discord_links_are_checked_through_the_provider(app: TestApp) {
    let t = team(&app).await;
    discord_guild(&app);
    app.discord.add_channel(
        DISCORD_GUILD,
        "1300000000000000009",
        "Lounge",
        ChannelKind::Voice,
        false,
    );
    let id = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(201)
        .id();
    let channel = t.owner.create_channel(&t.org, "lounge").await;
    let path = format!("/connections/{id}/channel-links");
    let voice = t
        .owner
        .post(
            &path,
            json!({"hazelChannelId": channel, "externalChannelId": "1300000000000000009"}),
        )
        .await
        .expect_status(422);
    assert_eq!(voice.error_code(), "INSUFFICIENT_PERMISSIONS");
    let unknown = t
        .owner
        .post(
            &path,
            json!({"hazelChannelId": channel, "externalChannelId": "1300000000000000077"}),
        )
        .await
        .expect_status(422);
    assert_eq!(unknown.error_code(), "INSUFFICIENT_PERMISSIONS");
    assert_eq!(link_count(&t.owner, &id).await, 0);
    t.owner
        .post(
            &path,
            json!({"hazelChannelId": channel, "externalChannelId": "1300000000000000001"}),
        )
        .await
        .expect_status(201);
    assert_eq!(link_count(&t.owner, &id).await, 1);
}

async fn selecting_joins_unjoined_channels_and_lists_the_workspace_once(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    app.slack.set_bot_membership(SLACK_TEAM, "C0RANDOM", false);
    let before = calls_of(&app, "conversations.list");
    let resp = t
        .admin
        .put(
            &format!("/connections/{id}/channels"),
            json!({"channelIds": ["C0RANDOM", "C0GENERAL"], "syncAll": false}),
        )
        .await
        .expect_status(200);
    assert_eq!(by_id(resp.data(), "C0RANDOM")["botIsMember"], true);
    assert_eq!(by_id(resp.data(), "C0RANDOM")["syncEnabled"], true);
    assert_eq!(
        joins(&app),
        ["C0RANDOM"],
        "only the unjoined channel is joined"
    );
    assert_eq!(
        calls_of(&app, "conversations.list") - before,
        1,
        "one selection lists the workspace once"
    );
    assert_eq!(
        calls_of(&app, "conversations.info"),
        0,
        "the listing says who is a member; no channel is asked about again"
    );
    // A join Slack refuses stores nothing of the selection.
    app.slack
        .add_channel(SLACK_TEAM, "C0LATE", "late", false, 2);
    app.slack.set_bot_membership(SLACK_TEAM, "C0LATE", false);
    app.slack.fail_next(
        "conversations.join",
        SlackFailure::SlackError("missing_scope".to_owned()),
    );
    let refused = t
        .admin
        .put(
            &format!("/connections/{id}/channels"),
            json!({"channelIds": [], "syncAll": true}),
        )
        .await
        .expect_status(422);
    assert_eq!(refused.error_code(), "INSUFFICIENT_PERMISSIONS");
    assert!(
        !refused.body["error"]["requiredScopes"]
            .as_array()
            .unwrap()
            .is_empty(),
        "the missing scope is named: {}",
        refused.text
    );
    assert_eq!(link_count(&t.owner, &id).await, 2);
    app.slack.assert_no_violations();
}

async fn discovery_waits_out_a_rate_limit_and_keeps_the_pages_read(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    for i in 0..450 {
        app.slack.add_channel(
            SLACK_TEAM,
            &format!("C{i:06}"),
            &format!("bulk-{i}"),
            false,
            2,
        );
    }
    // Pages of 200: the third page is refused once, asking for a second's pause.
    app.slack.fail_after(
        "conversations.list",
        2,
        SlackFailure::RateLimited {
            retry_after_seconds: 1,
        },
    );
    let started = std::time::Instant::now();
    let resp = t
        .owner
        .get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(200);
    assert_eq!(resp.data().as_array().unwrap().len(), 453);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let cursors: Vec<Option<String>> = app
        .slack
        .requests()
        .iter()
        .filter(|r| r.route == "conversations.list")
        .map(|r| r.param("cursor").map(str::to_owned))
        .collect();
    assert_eq!(cursors.len(), 4, "three pages and one retry: {cursors:?}");
    assert_eq!(cursors[0], None, "the first page is read once");
    assert!(cursors[1].is_some());
    assert_eq!(
        cursors[2], cursors[3],
        "the refused page is asked again, not the listing from the start"
    );
}

async fn discovery_answers_rate_limited_when_the_wait_would_pass_the_deadline(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    app.slack.fail_next(
        "conversations.list",
        SlackFailure::RateLimited {
            retry_after_seconds: 120,
        },
    );
    let started = std::time::Instant::now();
    let resp = t
        .owner
        .get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(429);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a wait that cannot fit is not started"
    );
    assert_eq!(resp.error_code(), "RATE_LIMITED");
    assert_eq!(resp.body["error"]["retryAfterSeconds"], 120);
    assert_eq!(calls_of(&app, "conversations.list"), 1);
}

hazel_testkit::on_every_backend!(
    discovery_shows_whether_the_bot_is_a_member,
    linking_a_public_channel_the_bot_is_not_in_joins_it,
    linking_a_private_channel_the_bot_is_not_in_is_refused,
    linking_an_unknown_or_archived_channel_is_refused_and_stores_nothing,
    discord_links_are_checked_through_the_provider,
    selecting_joins_unjoined_channels_and_lists_the_workspace_once,
    discovery_waits_out_a_rate_limit_and_keeps_the_pages_read,
    discovery_answers_rate_limited_when_the_wait_would_pass_the_deadline
);
