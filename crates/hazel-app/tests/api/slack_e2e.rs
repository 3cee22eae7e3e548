//! Slack end to end: the real Slack adapters against the Slack simulator. Actions "in Slack"
//! arrive as signed Events API requests at `POST /webhooks/slack/events`, or as Socket Mode
//! envelopes on the connection's socket (the tests marked `over_socket_mode`), and reach the
//! Hazel channel; Hazel writes reach the Slack channel through the Web API, under the author's
//! persona and with the origin marker, and their echoes are ignored.

use std::time::{Duration, Instant};

use hazel_domain::ids::SyncConnectionId;
use hazel_domain::model::delivery::{DeliveryDirection, DeliveryStatus};
use hazel_domain::model::page::PageRequest;
use hazel_domain::ports::{DeliveryFilter, DeliveryRecord, SyncRepository as _};
use hazel_testkit::TestApp;
use hazel_testkit::eventually;
use hazel_testkit::sim::slack::{Delivery, Failure, SlackMessage};
use hazel_testkit::sim::slack_events::url_verification;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::chat_sync::{SLACK_SIGNING_SECRET, SLACK_TEAM, Team, slack_body, slack_workspace, team};

const CHANNEL: &str = "C0GENERAL";
const ALICE: &str = "U0ALICE01";
const ALICE_AVATAR: &str = "https://avatars.slack-edge.com/alice_72.png";
const BOB: &str = "U0BOB0001";

/// A Hazel channel linked to the Slack channel [`CHANNEL`], with Slack's events sent to the
/// service.
struct Linked {
    team: Team,
    channel: String,
    connection: String,
}

/// How Slack's events reach the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// Signed requests to the Events API Request URL.
    EventsApi,
    /// Envelopes on the connection's Socket Mode socket (the connection has an `appToken`).
    SocketMode,
}

/// The app-level token of the Socket Mode connections.
const APP_TOKEN: &str = "xapp-1-A0APP-111-socketsecretapptoken";

async fn linked(app: &TestApp) -> Linked {
    linked_over(app, Transport::EventsApi).await
}

/// [`linked`], with Slack's events sent over `transport`.
async fn linked_over(app: &TestApp, transport: Transport) -> Linked {
    let linked = linked_quietly(app, transport).await;
    match transport {
        Transport::EventsApi => app
            .slack
            .deliver_events_api(&app.slack_events_url(), SLACK_SIGNING_SECRET),
        Transport::SocketMode => app.slack.deliver_socket_mode(),
    }
    linked
}

/// [`linked`] without events reaching the service (it is "down" for Slack); over Socket
/// Mode, once the connection's socket is open.
async fn linked_quietly(app: &TestApp, transport: Transport) -> Linked {
    let team = team(app).await;
    slack_workspace(app);
    app.slack
        .add_user(SLACK_TEAM, ALICE, "Alice Liddell", Some(ALICE_AVATAR));
    app.slack.add_user(SLACK_TEAM, BOB, "Bob", None);
    let mut body = slack_body(&team.org);
    if transport == Transport::SocketMode {
        app.slack.add_app_token(SLACK_TEAM, APP_TOKEN);
        body["credentials"]["appToken"] = json!(APP_TOKEN);
    }
    let connection = team
        .owner
        .post("/connections", body)
        .await
        .expect_status(201)
        .id();
    let channel = team.owner.create_channel(&team.org, "bridged").await;
    team.owner
        .post(
            &format!("/connections/{connection}/channel-links"),
            json!({"hazelChannelId": channel, "externalChannelId": CHANNEL,
                   "settings": {"syncPins": true}}),
        )
        .await
        .expect_status(201);
    if transport == Transport::SocketMode {
        eventually("the connection's socket", || async {
            (app.slack.open_sockets() == 1).then_some(())
        })
        .await;
    }
    Linked {
        team,
        channel,
        connection,
    }
}

/// The Hazel channel's live messages, oldest first.
async fn hazel_messages(linked: &Linked) -> Vec<Value> {
    let mut messages = linked
        .team
        .owner
        .get(&format!("/channels/{}/messages?limit=200", linked.channel))
        .await
        .expect_status(200)
        .data()
        .as_array()
        .cloned()
        .unwrap_or_default();
    messages.reverse();
    messages
}

/// Waits until the Hazel channel holds `count` messages and answers them, oldest first.
async fn hazel_count(linked: &Linked, count: usize) -> Vec<Value> {
    eventually(&format!("{count} Hazel message(s)"), || async {
        let messages = hazel_messages(linked).await;
        (messages.len() == count).then_some(messages)
    })
    .await
}

/// The Slack channel's messages posted by the bot.
fn bot_messages(app: &TestApp) -> Vec<SlackMessage> {
    app.slack
        .messages(CHANNEL)
        .into_iter()
        .filter(|m| m.bot_id.is_some())
        .collect()
}

async fn records(
    app: &TestApp,
    connection: &str,
    direction: DeliveryDirection,
) -> Vec<DeliveryRecord> {
    app.database
        .list_deliveries(
            SyncConnectionId::parse("id", connection).unwrap(),
            DeliveryFilter {
                status: None,
                direction: Some(direction),
            },
            &PageRequest {
                limit: 200,
                after: None,
            },
        )
        .await
        .unwrap()
        .items
}

/// Waits until every inbound receipt of the connection is done (processed or ignored).
async fn receipts_settled(app: &TestApp, connection: &str) -> Vec<DeliveryRecord> {
    eventually("every receipt processed", || async {
        let receipts = records(app, connection, DeliveryDirection::Inbound).await;
        receipts
            .iter()
            .all(|r| r.state.status() != DeliveryStatus::Pending)
            .then_some(receipts)
    })
    .await
}

async fn slack_messages_edits_and_deletes_reach_hazel_with_their_authors(app: TestApp) {
    slack_messages_edits_and_deletes_reach_hazel_with_their_authors_over(app, Transport::EventsApi)
        .await;
}

async fn slack_messages_edits_and_deletes_reach_hazel_with_their_authors_over_socket_mode(
    app: TestApp,
) {
    slack_messages_edits_and_deletes_reach_hazel_with_their_authors_over(
        app,
        Transport::SocketMode,
    )
    .await;
}

async fn slack_messages_edits_and_deletes_reach_hazel_with_their_authors_over(
    app: TestApp,
    transport: Transport,
) {
    let linked = linked_over(&app, transport).await;
    let ts = app
        .slack
        .post_as_user(CHANNEL, ALICE, "hello from *Slack*, <@U0BOB0001> &amp; co")
        .await;
    let messages = hazel_count(&linked, 1).await;
    let message = &messages[0];
    // mrkdwn became Markdown; Bob, who has no member yet, is his plain name.
    assert_eq!(message["content"], "hello from **Slack**, @Bob & co");
    let author = &message["author"];
    assert_eq!(author["externalProvider"], "slack", "{author}");
    // users.info gave the shadow member its display name and avatar.
    assert_eq!(author["name"], "Alice Liddell", "{author}");
    assert_eq!(author["avatarUrl"], ALICE_AVATAR, "{author}");

    app.slack.edit_as_user(CHANNEL, &ts, "hello, edited").await;
    eventually("the edit in Hazel", || async {
        let messages = hazel_messages(&linked).await;
        (messages.first()?["content"] == "hello, edited").then_some(())
    })
    .await;

    // A second message by the same author reuses the profile read (and the shadow member).
    app.slack.post_as_user(CHANNEL, ALICE, "second").await;
    let messages = hazel_count(&linked, 2).await;
    assert_eq!(
        messages[0]["author"]["memberId"],
        messages[1]["author"]["memberId"]
    );
    let profile_reads = app
        .slack
        .requests()
        .iter()
        .filter(|r| r.route == "users.info" && r.param("user") == Some(ALICE))
        .count();
    assert_eq!(profile_reads, 1, "the profile is read once and cached");

    app.slack.delete_as_user(CHANNEL, &ts).await;
    let messages = hazel_count(&linked, 1).await;
    assert_eq!(messages[0]["content"], "second");
    app.slack.assert_no_violations();
}

async fn slack_thread_replies_reactions_and_pins_reach_hazel(app: TestApp) {
    slack_thread_replies_reactions_and_pins_reach_hazel_over(app, Transport::EventsApi).await;
}

async fn slack_thread_replies_reactions_and_pins_reach_hazel_over_socket_mode(app: TestApp) {
    slack_thread_replies_reactions_and_pins_reach_hazel_over(app, Transport::SocketMode).await;
}

async fn slack_thread_replies_reactions_and_pins_reach_hazel_over(
    app: TestApp,
    transport: Transport,
) {
    let linked = linked_over(&app, transport).await;
    let parent = app.slack.post_as_user(CHANNEL, ALICE, "a question").await;
    let parent_id = hazel_count(&linked, 1).await[0]["id"].clone();
    app.slack
        .reply_as_user(CHANNEL, &parent, BOB, "an answer")
        .await;
    let messages = hazel_count(&linked, 2).await;
    assert_eq!(messages[1]["content"], "an answer");
    assert_eq!(messages[1]["parentMessageId"], parent_id);
    // Bob has no avatar in Slack: his display name still comes from users.info.
    assert_eq!(messages[1]["author"]["name"], "Bob");
    // Now that Bob is a member, a mention of him is a Hazel mention (and notifies no one
    // native, since he is a shadow member).
    app.slack
        .post_as_user(CHANNEL, ALICE, "thanks <@U0BOB0001>!")
        .await;
    let messages = hazel_count(&linked, 3).await;
    let bob = messages[1]["author"]["memberId"].as_str().unwrap();
    assert_eq!(messages[2]["content"], format!("thanks @[member:{bob}]!"));

    app.slack
        .react_as_user(CHANNEL, &parent, BOB, "+1::skin-tone-3")
        .await;
    eventually("the reaction in Hazel", || async {
        let messages = hazel_messages(&linked).await;
        let reactions = messages.first()?["reactions"].as_array()?.clone();
        (reactions.len() == 1 && reactions[0]["emoji"] == "👍🏼").then_some(())
    })
    .await;
    app.slack
        .unreact_as_user(CHANNEL, &parent, BOB, "+1::skin-tone-3")
        .await;
    eventually("the reaction removed in Hazel", || async {
        let messages = hazel_messages(&linked).await;
        messages.first()?["reactions"]
            .as_array()?
            .is_empty()
            .then_some(())
    })
    .await;

    // Hazel has no pins of its own: a pin is processed, writes nothing into Hazel, and with
    // no other link of the channel relays nothing.
    app.slack.pin_as_user(CHANNEL, &parent, ALICE).await;
    let receipts = receipts_settled(&app, &linked.connection).await;
    assert_eq!(hazel_messages(&linked).await.len(), 3);
    let pin = receipts
        .iter()
        .find(|r| r.kind == Some(hazel_domain::model::delivery::DeliveryKind::PinAdd))
        .expect("the pin's receipt");
    assert_eq!(pin.state.status(), DeliveryStatus::Delivered);
    let outbound = records(&app, &linked.connection, DeliveryDirection::Outbound).await;
    assert!(
        outbound
            .iter()
            .all(|d| d.kind != Some(hazel_domain::model::delivery::DeliveryKind::PinAdd)),
        "no pin delivery without another link"
    );
    app.slack.assert_no_violations();
}

/// The channel of a second Slack workspace that a second link of the same Hazel channel joins.
const OTHER_CHANNEL: &str = "C0OTHER01";
const OTHER_TEAM: &str = "T0HAZEL02";

/// Links the Hazel channel of `linked` to [`OTHER_CHANNEL`] of a second workspace too, through
/// a second connection, with `sync_pins`.
async fn second_link(app: &TestApp, linked: &Linked, sync_pins: bool) -> String {
    const OTHER_TOKEN: &str = "xoxb-333-444-othersecrettoken";
    app.slack.add_workspace(OTHER_TEAM, "Other Slack");
    app.slack
        .add_bot_token(OTHER_TEAM, OTHER_TOKEN, crate::chat_sync::ALL_SLACK_SCOPES);
    app.slack
        .add_channel(OTHER_TEAM, OTHER_CHANNEL, "other", false, 3);
    let owner = &linked.team.owner;
    let connection = owner
        .post(
            "/connections",
            json!({"organizationId": linked.team.org, "provider": "slack",
                   "externalWorkspaceId": OTHER_TEAM,
                   "credentials": {"botToken": OTHER_TOKEN,
                                   "signingSecret": SLACK_SIGNING_SECRET}}),
        )
        .await
        .expect_status(201)
        .id();
    owner
        .post(
            &format!("/connections/{connection}/channel-links"),
            json!({"hazelChannelId": linked.channel, "externalChannelId": OTHER_CHANNEL,
                   "settings": {"syncPins": sync_pins}}),
        )
        .await
        .expect_status(201);
    connection
}

/// The message the bot posted in [`OTHER_CHANNEL`] for `text`, once it is there.
async fn relayed(app: &TestApp, text: &str) -> String {
    eventually("the message relayed to the other channel", || async {
        app.slack
            .messages(OTHER_CHANNEL)
            .into_iter()
            .find(|m| m.bot_id.is_some() && m.text.contains(text))
            .map(|m| m.ts)
    })
    .await
}

async fn slack_pins_are_relayed_to_the_channels_other_links_once(app: TestApp) {
    let linked = linked(&app).await;
    let other = second_link(&app, &linked, true).await;
    let pinned = app.slack.post_as_user(CHANNEL, ALICE, "pin me").await;
    let copy = relayed(&app, "pin me").await;

    app.slack.pin_as_user(CHANNEL, &pinned, ALICE).await;
    eventually("the pin relayed", || async {
        (app.slack.pins(OTHER_CHANNEL) == [copy.clone()]).then_some(())
    })
    .await;
    // The bot's own pin comes back as an event: it does not bounce to the first channel.
    eventually("the echo of the bot's pin ignored", || async {
        let receipts = receipts_settled(&app, &other).await;
        receipts
            .iter()
            .any(|r| {
                r.kind == Some(hazel_domain::model::delivery::DeliveryKind::PinAdd)
                    && r.state.status() == DeliveryStatus::Ignored
            })
            .then_some(())
    })
    .await;
    assert_eq!(app.slack.pins(CHANNEL), std::slice::from_ref(&pinned));
    let pin_adds = |connection: String| {
        let app = &app;
        async move {
            records(app, &connection, DeliveryDirection::Outbound)
                .await
                .into_iter()
                .filter(|d| d.kind == Some(hazel_domain::model::delivery::DeliveryKind::PinAdd))
                .count()
        }
    };
    assert_eq!(
        pin_adds(other.clone()).await,
        1,
        "one pin delivery, to the other link"
    );
    assert_eq!(
        pin_adds(linked.connection.clone()).await,
        0,
        "none back to the first"
    );

    // A second pin event for the message (another event, at another time): it is pinned
    // already, as synced, so nothing is relayed again.
    let mut repeated = app
        .slack
        .sent_events()
        .into_iter()
        .find(|e| e.payload["event"]["type"] == "pin_added" && e.payload["team_id"] == SLACK_TEAM)
        .expect("the pin's event")
        .payload;
    repeated["event_id"] = json!("Ev0PINAGAIN1");
    repeated["event"]["event_ts"] = json!("1799999999.000100");
    assert_eq!(
        app.slack.send_payload(repeated, Delivery::default()).await,
        Some(200)
    );
    eventually("the repeated pin ignored as in sync", || async {
        let receipts = receipts_settled(&app, &linked.connection).await;
        receipts
            .iter()
            .any(|r| {
                r.kind == Some(hazel_domain::model::delivery::DeliveryKind::PinAdd)
                    && matches!(
                        r.state,
                        hazel_domain::model::delivery::DeliveryState::Ignored {
                            reason: hazel_domain::model::delivery::IgnoreReason::AlreadyInSync,
                            ..
                        }
                    )
            })
            .then_some(())
    })
    .await;
    assert_eq!(
        pin_adds(other.clone()).await,
        1,
        "the repeat relayed nothing"
    );

    app.slack.unpin_as_user(CHANNEL, &pinned, ALICE).await;
    eventually("the unpin relayed", || async {
        app.slack.pins(OTHER_CHANNEL).is_empty().then_some(())
    })
    .await;
    receipts_settled(&app, &other).await;
    assert!(app.slack.pins(CHANNEL).is_empty());
    assert_eq!(
        pin_adds(other.clone()).await,
        1,
        "the unpin pinned nothing again"
    );
    assert_eq!(pin_adds(linked.connection.clone()).await, 0);
    app.slack.assert_no_violations();
}

async fn without_sync_pins_a_pin_is_not_relayed(app: TestApp) {
    let linked = linked(&app).await;
    let other = second_link(&app, &linked, false).await;
    let pinned = app.slack.post_as_user(CHANNEL, ALICE, "pin me").await;
    relayed(&app, "pin me").await;
    app.slack.pin_as_user(CHANNEL, &pinned, ALICE).await;
    receipts_settled(&app, &linked.connection).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.slack.pins(OTHER_CHANNEL).is_empty());
    let outbound = records(&app, &other, DeliveryDirection::Outbound).await;
    assert!(
        outbound
            .iter()
            .all(|d| d.kind != Some(hazel_domain::model::delivery::DeliveryKind::PinAdd)),
        "no pin delivery to a link without syncPins"
    );
    app.slack.assert_no_violations();
}

async fn hazel_messages_reach_slack_and_their_echoes_are_ignored(app: TestApp) {
    hazel_messages_reach_slack_and_their_echoes_are_ignored_over(app, Transport::EventsApi).await;
}

async fn hazel_messages_reach_slack_and_their_echoes_are_ignored_over_socket_mode(app: TestApp) {
    hazel_messages_reach_slack_and_their_echoes_are_ignored_over(app, Transport::SocketMode).await;
}

async fn hazel_messages_reach_slack_and_their_echoes_are_ignored_over(
    app: TestApp,
    transport: Transport,
) {
    let linked = linked_over(&app, transport).await;
    let owner = &linked.team.owner;
    let id = owner.post_message(&linked.channel, "hi **Slack**").await;
    let posted = eventually("the message in Slack", || async {
        bot_messages(&app).into_iter().next()
    })
    .await;
    assert_eq!(posted.text, "hi *Slack*");
    assert_eq!(posted.username.as_deref(), Some("Olive"));
    assert_eq!(
        posted
            .metadata
            .as_ref()
            .and_then(|m| m["event_payload"]["hazel_message_id"].as_str()),
        Some(id.as_str())
    );

    owner
        .patch(&format!("/messages/{id}"), json!({"content": "hi again"}))
        .await
        .expect_status(200);
    eventually("the edit in Slack", || async {
        (bot_messages(&app).first()?.text == "hi again").then_some(())
    })
    .await;

    owner
        .post(
            &format!("/channels/{}/messages", linked.channel),
            json!({"content": "a reply", "parentMessageId": id}),
        )
        .await
        .expect_status(201);
    let reply = eventually("the reply in Slack", || async {
        bot_messages(&app).into_iter().find(|m| m.text == "a reply")
    })
    .await;
    assert_eq!(reply.thread_ts.as_deref(), Some(posted.ts.as_str()));

    owner
        .post(&format!("/messages/{id}/reactions"), json!({"emoji": "🎉"}))
        .await
        .expect_status(201);
    eventually("the bot's reaction in Slack", || async {
        let root = bot_messages(&app).into_iter().find(|m| m.ts == posted.ts)?;
        root.reactions.contains_key("tada").then_some(())
    })
    .await;
    owner
        .delete(&format!("/messages/{id}/reactions/%F0%9F%8E%89"))
        .await;
    eventually("the bot's reaction removed", || async {
        let root = bot_messages(&app).into_iter().find(|m| m.ts == posted.ts)?;
        root.reactions.is_empty().then_some(())
    })
    .await;

    owner.delete(&format!("/messages/{id}")).await;
    eventually("the delete in Slack", || async {
        bot_messages(&app)
            .iter()
            .all(|m| m.ts != posted.ts)
            .then_some(())
    })
    .await;

    // Slack sent an event for every one of those actions of the bot; each was its own echo.
    let receipts = receipts_settled(&app, &linked.connection).await;
    assert!(receipts.len() >= 5, "{receipts:?}");
    assert!(
        receipts
            .iter()
            .all(|r| r.state.status() == DeliveryStatus::Ignored),
        "{receipts:?}"
    );
    let messages = hazel_messages(&linked).await;
    assert_eq!(messages.len(), 1, "no echo became a message: {messages:?}");
    assert_eq!(messages[0]["content"], "a reply");
    app.slack.assert_no_violations();
}

async fn forged_stale_and_unknown_requests_are_refused_and_store_nothing(app: TestApp) {
    let linked = linked(&app).await;
    app.slack.post_as_user(CHANNEL, ALICE, "genuine").await;
    hazel_count(&linked, 1).await;
    let genuine = app.slack.sent_events()[0].payload.clone();
    let mut fresh = genuine.clone();
    fresh["event_id"] = json!("Ev0FORGED01");
    fresh["event"]["ts"] = json!("1999999999.000001");
    fresh["event"]["event_ts"] = json!("1999999999.000001");
    fresh["event"]["text"] = json!("forged");

    let forged = Delivery {
        secret: Some(SecretString::from("not-the-signing-secret".to_owned())),
        ..Delivery::default()
    };
    assert_eq!(
        app.slack.send_payload(fresh.clone(), forged).await,
        Some(401)
    );
    let stale = Delivery {
        timestamp: Some(time::OffsetDateTime::now_utc().unix_timestamp() - 301),
        ..Delivery::default()
    };
    assert_eq!(
        app.slack.send_payload(fresh.clone(), stale).await,
        Some(401)
    );
    let mut unknown = fresh.clone();
    unknown["team_id"] = json!("T0UNKNOWN1");
    assert_eq!(
        app.slack.send_payload(unknown, Delivery::default()).await,
        Some(401)
    );
    // A request without any signature.
    let unsigned = reqwest::Client::new()
        .post(app.slack_events_url())
        .header("content-type", "application/json")
        .body(fresh.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    let body: Value = unsigned.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UnauthorizedError");
    // A body naming no usable team cannot be verified at all: refused the same way.
    // (Sent by hand: the simulator itself only sends what the Events API spec allows.)
    for garbage in [r#"{"type": "event_callback", "team_id": ""}"#, "not JSON"] {
        assert_eq!(signed_post(&app, garbage).await.status().as_u16(), 401);
    }
    // An authentic body that is no Events API payload is a 400 naming the body.
    let unreadable = signed_post(
        &app,
        r#"{"type": "event_callback", "team_id": "T0HAZEL01"}"#,
    )
    .await;
    assert_eq!(unreadable.status().as_u16(), 400);
    let body: Value = unreadable.json().await.unwrap();
    assert_eq!(body["error"]["field"], "body", "{body}");

    // Nothing of them was stored: one receipt, one message.
    let receipts = receipts_settled(&app, &linked.connection).await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hazel_messages(&linked).await.len(), 1);

    // The URL check Slack makes when the Request URL is saved is answered.
    let challenge = app
        .slack
        .send_payload(
            url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"),
            Delivery::default(),
        )
        .await;
    assert_eq!(challenge, Some(200));
    let answer: Value = signed_post(&app, &url_verification("abc").to_string())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["challenge"], "abc");
}

/// Posts `body` to the Events API route, signed with the connection's signing secret now.
async fn signed_post(app: &TestApp, body: &str) -> reqwest::Response {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = hazel_slack::signature::sign(
        &SecretString::from(SLACK_SIGNING_SECRET.to_owned()),
        now,
        body.as_bytes(),
    );
    reqwest::Client::new()
        .post(app.slack_events_url())
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", now.to_string())
        .header("x-slack-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn a_retried_or_redelivered_event_gives_one_message(app: TestApp) {
    let linked = linked(&app).await;
    app.slack.post_as_user(CHANNEL, ALICE, "once").await;
    hazel_count(&linked, 1).await;
    let payload = app.slack.sent_events()[0].payload.clone();
    let retry = Delivery {
        retry_num: Some(1),
        ..Delivery::default()
    };
    assert_eq!(
        app.slack.send_payload(payload.clone(), retry).await,
        Some(200)
    );
    // Slack may also deliver one message again under a new event_id.
    let mut redelivered = payload.clone();
    redelivered["event_id"] = json!("Ev0AGAIN001");
    assert_eq!(
        app.slack
            .send_payload(redelivered, Delivery::default())
            .await,
        Some(200)
    );
    let receipts = receipts_settled(&app, &linked.connection).await;
    assert_eq!(
        receipts.len(),
        1,
        "duplicates record nothing new: {receipts:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hazel_messages(&linked).await.len(), 1);
}

async fn slack_rate_limits_are_waited_out(app: TestApp) {
    let linked = linked(&app).await;
    app.slack.fail_next(
        "chat.postMessage",
        Failure::RateLimited {
            retry_after_seconds: 1,
        },
    );
    let started = Instant::now();
    linked
        .team
        .owner
        .post_message(&linked.channel, "patience")
        .await;
    eventually("the message in Slack", || async {
        bot_messages(&app)
            .into_iter()
            .find(|m| m.text == "patience")
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not waited: {:?}",
        started.elapsed()
    );
    let posts = app
        .slack
        .requests()
        .iter()
        .filter(|r| r.route == "chat.postMessage")
        .count();
    assert_eq!(posts, 2, "one refused try, one after the wait");
    assert_eq!(bot_messages(&app).len(), 1);
}

async fn invalid_auth_holds_deliveries_until_the_credentials_are_updated(app: TestApp) {
    let linked = linked(&app).await;
    let owner = &linked.team.owner;
    app.slack.fail_next(
        "chat.postMessage",
        Failure::SlackError("invalid_auth".to_owned()),
    );
    owner.post_message(&linked.channel, "held").await;
    let connection = eventually("the connection in error", || async {
        let connection = owner
            .get(&format!("/connections/{}", linked.connection))
            .await
            .expect_status(200)
            .data()
            .clone();
        (connection["status"] == "error").then_some(connection)
    })
    .await;
    assert_eq!(connection["errorCode"], "INVALID_CREDENTIALS");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(bot_messages(&app).is_empty(), "held while in error");
    let outbound = records(&app, &linked.connection, DeliveryDirection::Outbound).await;
    assert_eq!(outbound[0].state.status(), DeliveryStatus::Pending);

    let updated = owner
        .patch(
            &format!("/connections/{}", linked.connection),
            json!({"credentials": slack_body(&linked.team.org)["credentials"]}),
        )
        .await
        .expect_status(200);
    assert_eq!(updated.data()["status"], "connected", "{}", updated.text);
    eventually("the held delivery in Slack", || async {
        bot_messages(&app).into_iter().find(|m| m.text == "held")
    })
    .await;
    assert_eq!(bot_messages(&app).len(), 1);
}

async fn catch_up_reads_what_was_missed_without_duplicates(app: TestApp) {
    // The service is unreachable for Slack: messages are only in the channel's history.
    let linked = linked_quietly(&app, Transport::EventsApi).await;
    let first = app.slack.post_as_user(CHANNEL, ALICE, "missed one").await;
    app.slack
        .reply_as_user(CHANNEL, &first, BOB, "missed reply")
        .await;
    app.slack.post_as_user(CHANNEL, BOB, "missed two").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(hazel_messages(&linked).await.is_empty());

    // A process starting (here beside the first) catches up on every linked channel.
    let beside = app
        .spawn_beside(Some(hazel_testkit::app::test_workers()))
        .await;
    let messages = hazel_count(&linked, 3).await;
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    // Written in the order they were posted.
    assert_eq!(contents, ["missed one", "missed reply", "missed two"]);
    let reply = messages
        .iter()
        .find(|m| m["content"] == "missed reply")
        .unwrap();
    let parent = messages
        .iter()
        .find(|m| m["content"] == "missed one")
        .unwrap();
    assert_eq!(reply["parentMessageId"], parent["id"]);

    // Events come back; one arrives for a message the catch-up already read, and a restart
    // reads the history again: neither doubles anything.
    app.slack
        .deliver_events_api(&app.slack_events_url(), SLACK_SIGNING_SECRET);
    app.slack.post_as_user(CHANNEL, ALICE, "live again").await;
    hazel_count(&linked, 4).await;
    let history = app.slack.messages(CHANNEL);
    let missed = history.iter().find(|m| m.text == "missed two").unwrap();
    let replayed = json!({
        "token": "sim-verification-token", "team_id": SLACK_TEAM,
        "api_app_id": app.slack.sent_events()[0].payload["api_app_id"],
        "type": "event_callback", "event_id": "Ev0LATE0001", "event_time": 1,
        "authed_users": ["U0BOT000001"],
        "event": {"type": "message", "channel": CHANNEL, "user": BOB, "text": "missed two",
                  "ts": missed.ts, "event_ts": missed.ts, "channel_type": "channel"},
    });
    assert_eq!(
        app.slack.send_payload(replayed, Delivery::default()).await,
        Some(200)
    );
    beside.stop().await;
    let again = app
        .spawn_beside(Some(hazel_testkit::app::test_workers()))
        .await;
    receipts_settled(&app, &linked.connection).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    receipts_settled(&app, &linked.connection).await;
    assert_eq!(hazel_messages(&linked).await.len(), 4);
    let reads = app
        .slack
        .requests()
        .iter()
        .filter(|r| r.route == "conversations.history")
        .count();
    assert!(reads >= 2, "each start read the history ({reads})");
    again.stop().await;
    app.slack.assert_no_violations();
}

async fn a_socket_outage_is_caught_up_without_duplicates(app: TestApp) {
    let linked = linked_over(&app, Transport::SocketMode).await;
    app.slack.post_as_user(CHANNEL, ALICE, "before").await;
    hazel_count(&linked, 1).await;

    // The socket drops and Slack keeps the service out for a second (a rate-limited
    // apps.connections.open): what is posted meanwhile reaches no socket.
    let opens = || {
        app.slack
            .requests()
            .iter()
            .filter(|r| r.route == "apps.connections.open")
            .count()
    };
    let opened = opens();
    app.slack.fail_next(
        "apps.connections.open",
        Failure::RateLimited {
            retry_after_seconds: 1,
        },
    );
    app.slack.drop_sockets();
    eventually("the refused reconnect", || async {
        (app.slack.open_sockets() == 0 && opens() > opened).then_some(())
    })
    .await;
    let sent_before = app.slack.sent_events().len();
    let first = app.slack.post_as_user(CHANNEL, BOB, "missed one").await;
    app.slack
        .reply_as_user(CHANNEL, &first, ALICE, "missed reply")
        .await;
    app.slack.post_as_user(CHANNEL, BOB, "missed two").await;
    let lost = eventually("the outage's events sent", || async {
        let sent = app.slack.sent_events();
        (sent.len() >= sent_before + 3).then(|| sent[sent_before..].to_vec())
    })
    .await;
    assert!(
        lost.iter().all(|sent| sent.status.is_none()),
        "the outage's events reached no socket: {lost:?}"
    );

    // The new socket reads the channel's history from the last synced message.
    let messages = hazel_count(&linked, 4).await;
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["before", "missed one", "missed reply", "missed two"]
    );
    assert_eq!(messages[2]["parentMessageId"], messages[1]["id"]);
    assert_eq!(app.slack.open_sockets(), 1);

    // Live again, once.
    app.slack.post_as_user(CHANNEL, ALICE, "after").await;
    hazel_count(&linked, 5).await;
    receipts_settled(&app, &linked.connection).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hazel_messages(&linked).await.len(), 5);
    app.slack.assert_no_violations();
}

async fn one_event_over_both_transports_is_one_message(app: TestApp) {
    let linked = linked_over(&app, Transport::SocketMode).await;
    app.slack.post_as_user(CHANNEL, ALICE, "twice told").await;
    hazel_count(&linked, 1).await;
    // The same event reaches the Request URL too (the app was also given one).
    let payload = app.slack.sent_events()[0].payload.clone();
    app.slack
        .deliver_events_api(&app.slack_events_url(), SLACK_SIGNING_SECRET);
    assert_eq!(
        app.slack.send_payload(payload, Delivery::default()).await,
        Some(200)
    );
    // The socket's receipt made the message; the Request URL's (and the socket's first
    // catch-up's, when it read the channel after the post) are recognised as the same one.
    let receipts = eventually("both transports' receipts settled", || async {
        let receipts = receipts_settled(&app, &linked.connection).await;
        (receipts.len() >= 2).then_some(receipts)
    })
    .await;
    let delivered = receipts
        .iter()
        .filter(|r| r.state.status() == DeliveryStatus::Delivered)
        .count();
    assert_eq!(delivered, 1, "one receipt wrote the message: {receipts:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hazel_messages(&linked).await.len(), 1);
}

hazel_testkit::on_every_backend!(spawn spawn_slack_simulated:
    slack_messages_edits_and_deletes_reach_hazel_with_their_authors,
    slack_messages_edits_and_deletes_reach_hazel_with_their_authors_over_socket_mode,
    slack_thread_replies_reactions_and_pins_reach_hazel,
    slack_thread_replies_reactions_and_pins_reach_hazel_over_socket_mode,
    hazel_messages_reach_slack_and_their_echoes_are_ignored_over_socket_mode,
    a_socket_outage_is_caught_up_without_duplicates,
    one_event_over_both_transports_is_one_message,
    slack_pins_are_relayed_to_the_channels_other_links_once,
    without_sync_pins_a_pin_is_not_relayed,
    hazel_messages_reach_slack_and_their_echoes_are_ignored,
    forged_stale_and_unknown_requests_are_refused_and_store_nothing,
    a_retried_or_redelivered_event_gives_one_message,
    slack_rate_limits_are_waited_out,
    invalid_auth_holds_deliveries_until_the_credentials_are_updated,
    catch_up_reads_what_was_missed_without_duplicates,
);
