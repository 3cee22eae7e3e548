//! The three-way bridge end to end: one Hazel channel linked to a Slack channel (the Slack
//! simulator, events signed into `POST /webhooks/slack/events`) and to a Discord channel (the
//! Discord REST simulator, and the Gateway simulator the service's Discord session connects
//! to). What is said on either platform reaches the other through Hazel, once.

use std::time::Duration;

use hazel_testkit::TestApp;
use hazel_testkit::eventually;
use hazel_testkit::sim::slack::SlackMessage;
use serde_json::{Value, json};

use crate::chat_sync::{
    DISCORD_BOT, DISCORD_GUILD, DISCORD_TOKEN, SLACK_SIGNING_SECRET, SLACK_TEAM, Team,
    discord_body, discord_guild, slack_body, slack_workspace, team,
};

const SLACK_CHANNEL: &str = "C0GENERAL";
const DISCORD_CHANNEL: &str = "1300000000000000001";
const ALICE: &str = "U0ALICE01";
const DAVE: &str = "1400000000000000004";

struct Bridged {
    team: Team,
    channel: String,
    discord: String,
}

/// Links one Hazel channel to both platforms; the Discord session is established.
async fn bridged(app: &TestApp) -> Bridged {
    bridged_with(app, json!({})).await
}

/// [`bridged`], both links with these `settings`.
async fn bridged_with(app: &TestApp, settings: Value) -> Bridged {
    let team = team(app).await;
    slack_workspace(app);
    app.slack.add_user(SLACK_TEAM, ALICE, "Alice Liddell", None);
    discord_guild(app);
    app.discord_gateway.add_bot(DISCORD_TOKEN, DISCORD_BOT);
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
    for (connection, external) in [(&slack, SLACK_CHANNEL), (&discord, DISCORD_CHANNEL)] {
        team.owner
            .post(
                &format!("/connections/{connection}/channel-links"),
                json!({"hazelChannelId": channel, "externalChannelId": external,
                       "settings": settings}),
            )
            .await
            .expect_status(201);
    }
    app.slack
        .deliver_events_api(&app.slack_events_url(), SLACK_SIGNING_SECRET);
    Bridged {
        team,
        channel,
        discord,
    }
}

async fn session_established(app: &TestApp) {
    eventually("the Discord session", || async {
        app.discord_gateway.connected().then_some(())
    })
    .await;
}

async fn hazel_messages(b: &Bridged) -> Vec<Value> {
    let mut messages = b
        .team
        .owner
        .get(&format!("/channels/{}/messages?limit=200", b.channel))
        .await
        .expect_status(200)
        .data()
        .as_array()
        .cloned()
        .unwrap_or_default();
    messages.reverse();
    messages
}

fn slack_bot_messages(app: &TestApp) -> Vec<SlackMessage> {
    app.slack
        .messages(SLACK_CHANNEL)
        .into_iter()
        .filter(|m| m.bot_id.is_some())
        .collect()
}

/// What Discord dispatches for a message a person typed.
fn user_message(id: &str, content: &str) -> Value {
    json!({
        "id": id, "channel_id": DISCORD_CHANNEL, "guild_id": DISCORD_GUILD,
        "author": {"id": DAVE, "username": "dave", "global_name": "Dave", "avatar": null},
        "content": content, "edited_timestamp": null, "attachments": [],
    })
}

/// Posts `content` as Dave in the Discord channel and dispatches its `MESSAGE_CREATE`.
fn discord_says(app: &TestApp, content: &str) -> String {
    let id = app
        .discord
        .post_as_user(DISCORD_CHANNEL, DAVE, "dave", content);
    app.discord_gateway
        .dispatch("MESSAGE_CREATE", user_message(&id, content));
    id
}

/// Dispatches, as Discord does, a `MESSAGE_CREATE` for each message the service's webhooks
/// posted in the Discord channel (their echoes).
fn echo_webhook_messages(app: &TestApp) -> usize {
    let application = app.discord.application_id(DISCORD_TOKEN);
    let mut echoed = 0;
    for message in app.discord.messages(DISCORD_CHANNEL) {
        let Some(webhook) = message.webhook_id.clone() else {
            continue;
        };
        app.discord_gateway.dispatch(
            "MESSAGE_CREATE",
            json!({
                "id": message.id, "channel_id": DISCORD_CHANNEL, "guild_id": DISCORD_GUILD,
                "author": {"id": webhook, "username": message.username, "bot": true,
                           "avatar": null},
                "webhook_id": webhook, "application_id": application,
                "content": message.content, "edited_timestamp": null, "attachments": [],
            }),
        );
        echoed += 1;
    }
    echoed
}

async fn discord_and_slack_meet_in_hazel_once_each(app: TestApp) {
    let b = bridged(&app).await;
    session_established(&app).await;

    // Discord → Hazel → Slack.
    discord_says(&app, "hello from **Discord**");
    let messages = eventually("the Discord message in Hazel", || async {
        let messages = hazel_messages(&b).await;
        (messages.len() == 1).then_some(messages)
    })
    .await;
    assert_eq!(messages[0]["content"], "hello from **Discord**");
    assert_eq!(messages[0]["author"]["externalProvider"], "discord");
    let in_slack = eventually("the Discord message in Slack", || async {
        slack_bot_messages(&app).into_iter().next()
    })
    .await;
    assert_eq!(in_slack.text, "hello from *Discord*");

    // Slack → Hazel → Discord.
    app.slack
        .post_as_user(SLACK_CHANNEL, ALICE, "hello from _Slack_")
        .await;
    let in_discord = eventually("the Slack message in Discord", || async {
        app.discord
            .messages(DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.webhook_id.is_some())
    })
    .await;
    assert_eq!(in_discord.content, "hello from *Slack*");
    assert_eq!(in_discord.username, "Alice Liddell");

    // Discord's echo of the webhook message, and Slack's of the bot's, are no new messages.
    assert_eq!(echo_webhook_messages(&app), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let messages = hazel_messages(&b).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(slack_bot_messages(&app).len(), 1);
    let webhook_posts = app
        .discord
        .messages(DISCORD_CHANNEL)
        .iter()
        .filter(|m| m.webhook_id.is_some())
        .count();
    assert_eq!(webhook_posts, 1);
    app.discord.assert_no_violations();
    app.slack.assert_no_violations();
}

async fn edits_reactions_deletes_and_threads_cross_the_bridge(app: TestApp) {
    let b = bridged(&app).await;
    session_established(&app).await;

    // Discord → Hazel → Slack: an edit, a reaction and a delete.
    let id = discord_says(&app, "first draft");
    let posted = eventually("the Discord message in Slack", || async {
        slack_bot_messages(&app).into_iter().next()
    })
    .await;
    let mut edited = user_message(&id, "final text");
    edited["edited_timestamp"] = json!("2026-12-03T08:40:00.000000+00:00");
    app.discord_gateway.dispatch("MESSAGE_UPDATE", edited);
    eventually("the edit in Slack", || async {
        (slack_bot_messages(&app).first()?.text == "final text").then_some(())
    })
    .await;
    app.discord_gateway.dispatch(
        "MESSAGE_REACTION_ADD",
        json!({"user_id": DAVE, "channel_id": DISCORD_CHANNEL, "message_id": id,
               "guild_id": DISCORD_GUILD, "emoji": {"id": null, "name": "🎉"}}),
    );
    eventually("the reaction in Slack", || async {
        let root = slack_bot_messages(&app)
            .into_iter()
            .find(|m| m.ts == posted.ts)?;
        root.reactions.contains_key("tada").then_some(())
    })
    .await;
    app.discord_gateway.dispatch(
        "MESSAGE_DELETE",
        json!({"id": id, "channel_id": DISCORD_CHANNEL, "guild_id": DISCORD_GUILD}),
    );
    eventually("the delete in Slack", || async {
        slack_bot_messages(&app).is_empty().then_some(())
    })
    .await;

    // Discord → Hazel → Slack: a thread started from a message, and a reply in it.
    let root = discord_says(&app, "a question");
    let root_in_slack = eventually("the question in Slack", || async {
        slack_bot_messages(&app)
            .into_iter()
            .find(|m| m.text == "a question")
    })
    .await;
    app.discord_gateway.dispatch(
        "THREAD_CREATE",
        json!({"id": root, "parent_id": DISCORD_CHANNEL, "guild_id": DISCORD_GUILD,
               "name": "a question", "type": 11}),
    );
    let reply = app.discord.post_as_user(&root, DAVE, "dave", "an answer");
    let mut in_thread = user_message(&reply, "an answer");
    in_thread["channel_id"] = json!(root);
    app.discord_gateway.dispatch("MESSAGE_CREATE", in_thread);
    let reply_in_slack = eventually("the reply in Slack", || async {
        slack_bot_messages(&app)
            .into_iter()
            .find(|m| m.text == "an answer")
    })
    .await;
    assert_eq!(
        reply_in_slack.thread_ts.as_deref(),
        Some(root_in_slack.ts.as_str())
    );

    // Slack → Hazel → Discord: an edit.
    let parent = app
        .slack
        .post_as_user(SLACK_CHANNEL, ALICE, "from Slack")
        .await;
    let in_discord = eventually("the Slack message in Discord", || async {
        app.discord
            .messages(DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.webhook_id.is_some() && m.content == "from Slack")
    })
    .await;
    app.slack
        .edit_as_user(SLACK_CHANNEL, &parent, "from Slack, edited")
        .await;
    eventually("the edit in Discord", || async {
        app.discord
            .messages(DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.id == in_discord.id && m.content == "from Slack, edited")
    })
    .await;
    // Hazel holds what stayed: the question, its answer and Slack's message (the first
    // Discord message was deleted).
    let messages = hazel_messages(&b).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[1]["parentMessageId"], messages[0]["id"]);
    app.discord.assert_no_violations();
    app.slack.assert_no_violations();
}

/// The webhook messages of a Discord channel or thread.
fn webhook_posts(app: &TestApp, channel: &str) -> Vec<hazel_testkit::sim::discord::SimMessage> {
    app.discord
        .messages(channel)
        .into_iter()
        .filter(|m| m.webhook_id.is_some())
        .collect()
}

async fn slack_thread_replies_arrive_in_the_discord_thread_of_the_parent_once(app: TestApp) {
    let b = bridged(&app).await;
    session_established(&app).await;

    // A Slack message, mirrored at the top of the Discord channel.
    let parent = app
        .slack
        .post_as_user(SLACK_CHANNEL, ALICE, "shall we ship on Friday?")
        .await;
    let starter = eventually("the Slack message in Discord", || async {
        webhook_posts(&app, DISCORD_CHANNEL).into_iter().next()
    })
    .await;

    // Two replies in its Slack thread: Discord has no thread for it yet, so the first one
    // starts it from the mirrored message and the second joins it.
    app.slack
        .reply_as_user(SLACK_CHANNEL, &parent, ALICE, "yes")
        .await;
    eventually("the first reply in the Discord thread", || async {
        (webhook_posts(&app, &starter.id).len() == 1).then_some(())
    })
    .await;
    app.slack
        .reply_as_user(SLACK_CHANNEL, &parent, ALICE, "after lunch")
        .await;
    let replies = eventually("both replies in the Discord thread", || async {
        let replies = webhook_posts(&app, &starter.id);
        (replies.len() == 2).then_some(replies)
    })
    .await;
    assert_eq!(
        replies
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        ["yes", "after lunch"]
    );
    assert_eq!(replies[0].username, "Alice Liddell");
    assert_eq!(
        app.discord.thread(&starter.id).as_deref(),
        Some("shall we ship on Friday?")
    );
    // Once each, and never at the top level of the channel.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(webhook_posts(&app, &starter.id).len(), 2);
    assert_eq!(webhook_posts(&app, DISCORD_CHANNEL).len(), 1);
    let thread_starts = app
        .discord
        .requests()
        .iter()
        .filter(|r| r.route == "/channels/{channel_id}/messages/{message_id}/threads")
        .count();
    assert_eq!(thread_starts, 1);

    // A Slack reply to a message that came from Discord starts the thread from the person's
    // own Discord message.
    let question = discord_says(&app, "who reviews?");
    let in_slack = eventually("the Discord message in Slack", || async {
        slack_bot_messages(&app)
            .into_iter()
            .find(|m| m.text == "who reviews?")
    })
    .await;
    app.slack
        .reply_as_user(SLACK_CHANNEL, &in_slack.ts, ALICE, "I do")
        .await;
    let answer = eventually("the answer in Dave's Discord thread", || async {
        webhook_posts(&app, &question).into_iter().next()
    })
    .await;
    assert_eq!(answer.content, "I do");
    let messages = hazel_messages(&b).await;
    assert_eq!(messages.len(), 5, "{messages:?}");
    app.discord.assert_no_violations();
    app.slack.assert_no_violations();
}

/// Dispatches, as Discord does after a pin or unpin in the channel, `CHANNEL_PINS_UPDATE`.
fn pins_updated(app: &TestApp) {
    app.discord_gateway.dispatch(
        "CHANNEL_PINS_UPDATE",
        json!({"guild_id": DISCORD_GUILD, "channel_id": DISCORD_CHANNEL,
               "last_pin_timestamp": "2026-12-03T10:00:00.000000+00:00"}),
    );
}

/// Dave says `content` in Discord and pins it once its copy is in Slack; answers its id
/// once the pin reached Slack.
async fn discord_pins_a_new_message(app: &TestApp, content: &str) -> String {
    let id = discord_says(app, content);
    let copy = eventually("the Discord message in Slack", || async {
        slack_bot_messages(app).into_iter().next()
    })
    .await;
    app.discord.set_pinned(DISCORD_CHANNEL, &id, true);
    pins_updated(app);
    eventually("the pin in Slack", || async {
        (app.slack.pins(SLACK_CHANNEL) == [copy.ts.clone()]).then_some(())
    })
    .await;
    id
}

async fn pins_cross_the_bridge_both_ways(app: TestApp) {
    let b = bridged_with(&app, json!({"syncPins": true})).await;
    session_established(&app).await;

    // Discord → Hazel → Slack: Dave pins his message, then unpins it.
    let id = discord_pins_a_new_message(&app, "pin me").await;
    app.discord.set_pinned(DISCORD_CHANNEL, &id, false);
    pins_updated(&app);
    eventually("the unpin in Slack", || async {
        app.slack.pins(SLACK_CHANNEL).is_empty().then_some(())
    })
    .await;

    // Slack → Hazel → Discord: Alice pins her message, then unpins it.
    let ts = app
        .slack
        .post_as_user(SLACK_CHANNEL, ALICE, "pin this too")
        .await;
    let mirrored = eventually("the Slack message in Discord", || async {
        webhook_posts(&app, DISCORD_CHANNEL).into_iter().next()
    })
    .await;
    app.slack.pin_as_user(SLACK_CHANNEL, &ts, ALICE).await;
    eventually("the pin in Discord", || async {
        webhook_posts(&app, DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.id == mirrored.id && m.pinned)
    })
    .await;
    // Discord reports the bot's own pin too: read back, it changes nothing in Slack.
    pins_updated(&app);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(app.slack.pins(SLACK_CHANNEL), std::slice::from_ref(&ts));
    app.slack.unpin_as_user(SLACK_CHANNEL, &ts, ALICE).await;
    eventually("the unpin in Discord", || async {
        webhook_posts(&app, DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.id == mirrored.id && !m.pinned)
    })
    .await;
    pins_updated(&app);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(app.slack.pins(SLACK_CHANNEL).is_empty());
    assert_eq!(hazel_messages(&b).await.len(), 2);
    app.discord.assert_no_violations();
    app.slack.assert_no_violations();
}

async fn an_unpin_is_seen_as_the_first_change_a_restarted_process_hears_of(mut app: TestApp) {
    let b = bridged_with(&app, json!({"syncPins": true})).await;
    session_established(&app).await;
    let id = discord_pins_a_new_message(&app, "pinned before the restart").await;

    // A new process holds no memory of the channel's pins: it compares with the pin state
    // kept in the database, so the unpin it hears of first is not lost.
    app.kill().await;
    let restarted = app
        .spawn_beside(Some(hazel_testkit::app::test_workers()))
        .await;
    eventually("the restarted process's session", || async {
        let stats = app.discord_gateway.stats();
        (stats.connections >= 2 && app.discord_gateway.connected()).then_some(())
    })
    .await;
    app.discord.set_pinned(DISCORD_CHANNEL, &id, false);
    pins_updated(&app);
    eventually("the unpin in Slack", || async {
        app.slack.pins(SLACK_CHANNEL).is_empty().then_some(())
    })
    .await;
    // Read again with nothing changed, it relays nothing more.
    pins_updated(&app);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.slack.pins(SLACK_CHANNEL).is_empty());
    assert_eq!(hazel_messages(&b).await.len(), 1);
    app.discord.assert_no_violations();
    app.slack.assert_no_violations();
    restarted.stop().await;
}

async fn slack_reactions_reach_discord_through_the_bot(app: TestApp) {
    let _b = bridged(&app).await;
    session_established(&app).await;

    // On a Slack message mirrored by the webhook…
    let ts = app
        .slack
        .post_as_user(SLACK_CHANNEL, ALICE, "react to me")
        .await;
    let mirrored = eventually("the Slack message in Discord", || async {
        webhook_posts(&app, DISCORD_CHANNEL).into_iter().next()
    })
    .await;
    app.slack
        .react_as_user(SLACK_CHANNEL, &ts, ALICE, "tada")
        .await;
    eventually("the reaction in Discord", || async {
        let message = webhook_posts(&app, DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.id == mirrored.id)?;
        (message.reactions == ["🎉"]).then_some(())
    })
    .await;
    app.slack
        .unreact_as_user(SLACK_CHANNEL, &ts, ALICE, "tada")
        .await;
    eventually("the reaction removed in Discord", || async {
        let message = webhook_posts(&app, DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.id == mirrored.id)?;
        message.reactions.is_empty().then_some(())
    })
    .await;

    // …and on a message Dave typed in Discord, with a skin tone.
    let id = discord_says(&app, "and to me");
    let copy = eventually("the Discord message in Slack", || async {
        slack_bot_messages(&app)
            .into_iter()
            .find(|m| m.text == "and to me")
    })
    .await;
    app.slack
        .react_as_user(SLACK_CHANNEL, &copy.ts, ALICE, "+1::skin-tone-3")
        .await;
    let daves = eventually("the reaction on Dave's message", || async {
        app.discord
            .messages(DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.id == id && !m.reactions.is_empty())
    })
    .await;
    assert_eq!(daves.reactions, ["👍🏼"]);
    let reaction_calls = app
        .discord
        .requests()
        .iter()
        .filter(|r| {
            r.http_method == "PUT"
                && r.route
                    == "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"
        })
        .count();
    assert_eq!(reaction_calls, 2, "one call per reaction added");
    app.discord.assert_no_violations();
    app.slack.assert_no_violations();
}

async fn a_429_on_a_delivery_is_waited_out_and_the_message_delivered_once(app: TestApp) {
    let _b = bridged(&app).await;
    session_established(&app).await;
    // Warm the channel's webhook up, so the limited call is the message's execution.
    app.slack
        .post_as_user(SLACK_CHANNEL, ALICE, "warm up")
        .await;
    eventually("the first message in Discord", || async {
        (webhook_posts(&app, DISCORD_CHANNEL).len() == 1).then_some(())
    })
    .await;
    app.discord.fail_next(
        "POST /webhooks/{webhook_id}/{webhook_token}",
        hazel_testkit::sim::discord::Failure::RateLimited {
            retry_after_seconds: 1.5,
        },
    );

    let sent = std::time::Instant::now();
    app.slack
        .post_as_user(SLACK_CHANNEL, ALICE, "limited")
        .await;
    eventually("the limited message in Discord", || async {
        webhook_posts(&app, DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.content == "limited")
    })
    .await;

    // Not before Discord's retry_after, and once.
    assert!(
        sent.elapsed() >= Duration::from_millis(1400),
        "retried after {:?}",
        sent.elapsed()
    );
    let executions = app
        .discord
        .requests()
        .iter()
        .filter(|r| {
            r.route == "/webhooks/{webhook_id}/{webhook_token}"
                && r.body.as_ref().is_some_and(|b| b["content"] == "limited")
        })
        .count();
    assert_eq!(executions, 2, "the limited call, then its retry");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let limited = webhook_posts(&app, DISCORD_CHANNEL)
        .into_iter()
        .filter(|m| m.content == "limited")
        .count();
    assert_eq!(limited, 1);
    app.discord.assert_no_violations();
    app.slack.assert_no_violations();
}

async fn a_restarted_process_posts_through_the_same_sealed_webhook(mut app: TestApp) {
    let b = bridged(&app).await;
    session_established(&app).await;
    // Discord does not answer webhook tokens to everyone who lists them: only the webhook
    // kept by the first process can be posted through again.
    app.discord.hide_listed_webhook_tokens(true);
    app.slack
        .post_as_user(SLACK_CHANNEL, ALICE, "before the restart")
        .await;
    let first = eventually("the first message in Discord", || async {
        webhook_posts(&app, DISCORD_CHANNEL).into_iter().next()
    })
    .await;
    let webhook = first.webhook_id.clone();

    // The webhook's token is stored sealed, apart from the link, and never answered.
    let token = format!(
        "simulated-webhook-token-{}",
        webhook.clone().unwrap_or_default()
    );
    let stored = stored_link_secrets(&app).await;
    assert_eq!(stored.len(), 1);
    assert!(
        !String::from_utf8_lossy(&stored[0]).contains(&token),
        "the webhook token is stored in the clear"
    );
    let links = b
        .team
        .owner
        .get(&format!("/connections/{}/channel-links", b.discord))
        .await
        .expect_status(200);
    assert!(!links.body.to_string().contains(&token), "{}", links.body);

    // A new process on the same database.
    app.kill().await;
    let restarted = app
        .spawn_beside(Some(hazel_testkit::app::test_workers()))
        .await;
    app.slack
        .deliver_events_api(&restarted.slack_events_url(), SLACK_SIGNING_SECRET);
    let lists_before = webhook_lists(&app);
    app.slack
        .post_as_user(SLACK_CHANNEL, ALICE, "after the restart")
        .await;
    let second = eventually(
        "the message of the restarted process in Discord",
        || async {
            webhook_posts(&app, DISCORD_CHANNEL)
                .into_iter()
                .find(|m| m.content == "after the restart")
        },
    )
    .await;

    assert_eq!(second.webhook_id, webhook, "the same webhook");
    assert_eq!(
        app.discord.webhooks(DISCORD_CHANNEL).len(),
        1,
        "one webhook made"
    );
    assert_eq!(
        webhook_lists(&app),
        lists_before,
        "the kept webhook is not looked for"
    );
    app.discord.assert_no_violations();
    restarted.stop().await;
}

/// How often the channel's webhooks were listed.
fn webhook_lists(app: &TestApp) -> usize {
    app.discord
        .requests()
        .iter()
        .filter(|r| r.http_method == "GET" && r.route == "/channels/{channel_id}/webhooks")
        .count()
}

/// The sealed bytes of every stored link secret.
async fn stored_link_secrets(app: &TestApp) -> Vec<Vec<u8>> {
    use sea_orm::{ConnectionTrait as _, Statement};
    let connection = crate::raw_db(app).await;
    connection
        .query_all_raw(Statement::from_string(
            connection.get_database_backend(),
            "SELECT sealed FROM chat_sync_link_secrets",
        ))
        .await
        .expect("the link secrets are readable")
        .iter()
        .map(|row| row.try_get::<Vec<u8>>("", "sealed").expect("bytes"))
        .collect()
}

async fn a_discord_thread_without_a_starter_message_becomes_a_hazel_thread(app: TestApp) {
    let b = bridged(&app).await;
    session_established(&app).await;
    // A thread made on its own (no starter message): a snowflake of now.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let thread = ((u64::try_from(now_ms).expect("fits") - 1_420_070_400_000) << 22).to_string();
    app.discord_gateway.dispatch(
        "THREAD_CREATE",
        json!({"id": thread, "parent_id": DISCORD_CHANNEL, "guild_id": DISCORD_GUILD,
               "name": "release planning", "type": 11, "owner_id": DAVE,
               "newly_created": true}),
    );
    let reply = app
        .discord
        .post_as_user(&thread, DAVE, "dave", "first in the thread");
    let mut in_thread = user_message(&reply, "first in the thread");
    in_thread["channel_id"] = json!(thread);
    app.discord_gateway.dispatch("MESSAGE_CREATE", in_thread);

    let messages = eventually("the thread and its reply in Hazel", || async {
        let messages = hazel_messages(&b).await;
        (messages.len() == 2).then_some(messages)
    })
    .await;
    assert_eq!(messages[0]["content"], "release planning");
    assert_eq!(messages[0]["author"]["externalProvider"], "discord");
    assert_eq!(messages[1]["content"], "first in the thread");
    assert_eq!(messages[1]["parentMessageId"], messages[0]["id"]);
    // In Slack: the thread's name at the top, the reply in its thread.
    let (root, answer) = eventually("the thread in Slack", || async {
        let posted = slack_bot_messages(&app);
        let root = posted
            .iter()
            .find(|m| m.text == "release planning")?
            .clone();
        let answer = posted
            .iter()
            .find(|m| m.text == "first in the thread")?
            .clone();
        Some((root, answer))
    })
    .await;
    assert_eq!(answer.thread_ts.as_deref(), Some(root.ts.as_str()));
    app.discord.assert_no_violations();
    app.slack.assert_no_violations();
}

async fn a_dropped_gateway_connection_resumes_without_loss_or_duplicate(app: TestApp) {
    let b = bridged(&app).await;
    session_established(&app).await;
    discord_says(&app, "before the drop");
    eventually("the first message", || async {
        (hazel_messages(&b).await.len() == 1).then_some(())
    })
    .await;
    app.discord_gateway.drop_connection();
    // Said while the connection is down: Discord replays it on Resume.
    discord_says(&app, "during the drop");
    let messages = eventually("the replayed message", || async {
        let messages = hazel_messages(&b).await;
        (messages.len() == 2).then_some(messages)
    })
    .await;
    assert_eq!(messages[1]["content"], "during the drop");
    let stats = app.discord_gateway.stats();
    assert!(!stats.resumes.is_empty(), "{stats:?}");
    assert_eq!(stats.identifies.len(), 1, "{stats:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hazel_messages(&b).await.len(), 2);
}

async fn an_invalid_session_identifies_anew_and_catches_up_what_was_missed(app: TestApp) {
    let b = bridged(&app).await;
    session_established(&app).await;
    discord_says(&app, "before the outage");
    eventually("the first message in Slack", || async {
        (slack_bot_messages(&app).len() == 1).then_some(())
    })
    .await;

    // The connection drops and Discord refuses to resume it (Invalid Session, d=false):
    // whatever was said meanwhile is never replayed by the Gateway.
    app.discord_gateway.invalidate_session();
    app.discord_gateway.drop_connection();
    for text in ["missed one", "missed two", "missed three"] {
        app.discord
            .post_as_user(DISCORD_CHANNEL, DAVE, "dave", text);
    }

    let expected = [
        "before the outage",
        "missed one",
        "missed two",
        "missed three",
    ];
    let messages = eventually("the missed messages in Hazel", || async {
        let messages = hazel_messages(&b).await;
        (messages.len() == expected.len()).then_some(messages)
    })
    .await;
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(contents, expected);
    let in_slack = eventually("the missed messages in Slack", || async {
        let posted = slack_bot_messages(&app);
        (posted.len() == expected.len()).then_some(posted)
    })
    .await;
    let texts: Vec<&str> = in_slack.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, expected);
    let stats = app.discord_gateway.stats();
    assert_eq!(stats.identifies.len(), 2, "a new session: {stats:?}");
    assert!(!stats.resumes.is_empty(), "{stats:?}");

    // Once: a later message arrives live, and nothing is read twice.
    discord_says(&app, "after the outage");
    eventually("the live message after the catch-up", || async {
        (hazel_messages(&b).await.len() == expected.len() + 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(hazel_messages(&b).await.len(), expected.len() + 1);
    assert_eq!(slack_bot_messages(&app).len(), expected.len() + 1);
    app.discord.assert_no_violations();
    app.slack.assert_no_violations();
}

async fn the_catch_up_reads_the_threads_replies_and_the_threads_started_meanwhile(app: TestApp) {
    let b = bridged(&app).await;
    session_established(&app).await;
    let root = discord_says(&app, "a question");
    let thread = app
        .discord
        .start_thread_as_user(DISCORD_CHANNEL, Some(&root), DAVE, "a question");
    app.discord_gateway.dispatch("THREAD_CREATE", thread);
    let reply = app
        .discord
        .post_as_user(&root, DAVE, "dave", "a live answer");
    let mut in_thread = user_message(&reply, "a live answer");
    in_thread["channel_id"] = json!(root);
    app.discord_gateway.dispatch("MESSAGE_CREATE", in_thread);
    eventually("the live answer in Slack", || async {
        (slack_bot_messages(&app).len() == 2).then_some(())
    })
    .await;

    // The session is lost and not resumed: the Gateway replays nothing of what follows.
    app.discord_gateway.invalidate_session();
    app.discord_gateway.drop_connection();
    app.discord
        .post_as_user(&root, DAVE, "dave", "an answer while away");
    // The thread is archived meanwhile: it is read among the channel's archived threads.
    app.discord.archive_thread(&root);
    let planning =
        app.discord
            .start_thread_as_user(DISCORD_CHANNEL, None, DAVE, "release planning");
    let planning = planning["id"].as_str().expect("a thread id").to_owned();
    app.discord
        .post_as_user(&planning, DAVE, "dave", "first in the new thread");

    let in_slack = eventually("the missed replies in Slack", || async {
        let posted = slack_bot_messages(&app);
        (posted.len() == 5).then_some(posted)
    })
    .await;
    let find = |text: &str| {
        in_slack
            .iter()
            .find(|m| m.text == text)
            .unwrap_or_else(|| panic!("{text:?} in Slack: {in_slack:?}"))
    };
    let question = find("a question");
    assert_eq!(
        find("an answer while away").thread_ts.as_deref(),
        Some(question.ts.as_str())
    );
    let planned = find("release planning");
    assert_eq!(planned.thread_ts, None);
    assert_eq!(
        find("first in the new thread").thread_ts.as_deref(),
        Some(planned.ts.as_str())
    );
    let messages = hazel_messages(&b).await;
    assert_eq!(messages.len(), 5, "{messages:?}");
    // Nothing is read twice: the receipts absorb the thread and reply heard live.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(slack_bot_messages(&app).len(), 5);
    assert_eq!(hazel_messages(&b).await.len(), 5);
    app.discord.assert_no_violations();
    app.slack.assert_no_violations();
}

async fn a_refused_message_content_intent_puts_the_connection_in_error(app: TestApp) {
    app.discord_gateway.refuse_message_content(true);
    let b = bridged(&app).await;
    let connection = eventually("the Discord connection in error", || async {
        let connection = b
            .team
            .owner
            .get(&format!("/connections/{}", b.discord))
            .await
            .expect_status(200)
            .data()
            .clone();
        (connection["status"] == "error").then_some(connection)
    })
    .await;
    assert_eq!(connection["errorCode"], "INSUFFICIENT_PERMISSIONS");
    let message = connection["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("Privileged Gateway Intents"),
        "{connection}"
    );
    assert!(message.contains("Developer Portal"), "{connection}");
    // The session does not loop on the refusal.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.discord_gateway.stats().identifies.len(), 1);
}

async fn two_processes_hold_one_gateway_session_and_the_second_takes_over(mut app: TestApp) {
    let b = bridged(&app).await;
    session_established(&app).await;
    let beside = app
        .spawn_beside(Some(hazel_testkit::app::test_workers()))
        .await;
    // Several session scans of the second process later it has opened no session of its own.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats = app.discord_gateway.stats();
    assert_eq!(stats.connections, 1, "{stats:?}");
    assert_eq!(stats.identifies.len(), 1, "{stats:?}");
    discord_says(&app, "one session");
    eventually("the message in Hazel", || async {
        (hazel_messages(&b).await.len() == 1).then_some(())
    })
    .await;

    // The holder dies: once its lease expires the second process takes the session over.
    app.kill().await;
    eventually("the second process's session", || async {
        let stats = app.discord_gateway.stats();
        (stats.connections >= 2 && app.discord_gateway.connected()).then_some(())
    })
    .await;
    discord_says(&app, "after the takeover");
    let texts = || {
        slack_bot_messages(&app)
            .into_iter()
            .map(|m| m.text)
            .collect::<Vec<_>>()
    };
    eventually("the message relayed by the second process", || async {
        texts()
            .contains(&"after the takeover".to_owned())
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(texts(), ["one session", "after the takeover"]);
    beside.stop().await;
}

hazel_testkit::on_every_backend!(spawn spawn_bridge_simulated:
    discord_and_slack_meet_in_hazel_once_each,
    edits_reactions_deletes_and_threads_cross_the_bridge,
    slack_thread_replies_arrive_in_the_discord_thread_of_the_parent_once,
    pins_cross_the_bridge_both_ways,
    an_unpin_is_seen_as_the_first_change_a_restarted_process_hears_of,
    slack_reactions_reach_discord_through_the_bot,
    a_429_on_a_delivery_is_waited_out_and_the_message_delivered_once,
    a_restarted_process_posts_through_the_same_sealed_webhook,
    a_discord_thread_without_a_starter_message_becomes_a_hazel_thread,
    a_dropped_gateway_connection_resumes_without_loss_or_duplicate,
    an_invalid_session_identifies_anew_and_catches_up_what_was_missed,
    the_catch_up_reads_the_threads_replies_and_the_threads_started_meanwhile,
    a_refused_message_content_intent_puts_the_connection_in_error,
    two_processes_hold_one_gateway_session_and_the_second_takes_over,
);
