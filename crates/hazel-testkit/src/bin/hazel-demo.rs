//! `just demo`: the real service (its HTTP API, sync workers and Discord Gateway sessions, on a
//! fresh SQLite database) wired to the Slack and Discord simulators, one Hazel channel linked to
//! a Slack channel and a Discord channel, and messages crossing every way — Slack → Hazel over a
//! signed Events API request, Hazel → Slack and Discord under the author's name, Discord →
//! Hazel → Slack over the Gateway.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use hazel_testkit::{Backend, TestApp};
use serde_json::{Value, json};

const TEAM: &str = "T0DEMO001";
const BOT_TOKEN: &str = "xoxb-demo-bot-token";
const SIGNING_SECRET: &str = "demo-signing-secret";
const CHANNEL: &str = "C0GENERAL";
const ALICE: &str = "U0ALICE01";
const GUILD: &str = "1100000000000000001";
const DISCORD_BOT: &str = "1200000000000000002";
const DISCORD_TOKEN: &str = "ZGVtbw.discord-bot.demo-token";
const DISCORD_CHANNEL: &str = "1300000000000000001";
const DAVE: &str = "1400000000000000004";

/// Polls `check` for at most 30 s.
async fn eventually<T, Fut: Future<Output = Option<T>>>(
    mut check: impl FnMut() -> Fut,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if let Some(found) = check().await {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn step(text: &str) {
    println!("\n==> {text}");
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("demo failed: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    step("Starting hazel-sync (fresh SQLite database) beside the Slack and Discord simulators");
    let app = TestApp::spawn_bridge_simulated(Backend::Sqlite)
        .await
        .ok_or("the SQLite backend did not start")?;
    println!("    service:          {}", app.base_url);
    println!("    Slack simulator:  {}", app.slack.url());
    println!("    Events API URL:   {}", app.slack_events_url());
    println!("    Discord REST:     {}", app.discord.url());
    println!("    Discord Gateway:  {}", app.discord_gateway.url());

    step("Slack: workspace Demo Slack, #general, the bot, and Alice");
    app.slack.add_workspace(TEAM, "Demo Slack");
    app.slack
        .add_bot_token(TEAM, BOT_TOKEN, hazel_slack::REQUIRED_SCOPES);
    app.slack.add_channel(TEAM, CHANNEL, "general", false, 2);
    app.slack.add_user(
        TEAM,
        ALICE,
        "Alice (Slack)",
        Some("https://avatars.slack-edge.com/alice_72.png"),
    );
    app.slack
        .deliver_events_api(&app.slack_events_url(), SIGNING_SECRET);

    step("Hazel: Ada, her organization and #bridged, linked to Slack's #general");
    let ada = app.user("Ada").await;
    let org = ada.create_org("Demo").await;
    let channel = ada.create_channel(&org, "bridged").await;
    let connection = ada
        .post(
            "/connections",
            json!({"organizationId": org, "provider": "slack", "externalWorkspaceId": TEAM,
                   "credentials": {"botToken": BOT_TOKEN, "signingSecret": SIGNING_SECRET}}),
        )
        .await
        .expect_status(201);
    println!(
        "    POST /api/v1/connections → {} ({})",
        connection.data()["status"],
        connection.data()["externalWorkspaceName"]
    );
    let connection = connection.id();
    ada.post(
        &format!("/connections/{connection}/channel-links"),
        json!({"hazelChannelId": channel, "externalChannelId": CHANNEL}),
    )
    .await
    .expect_status(201);
    println!("    POST /api/v1/connections/{connection}/channel-links → both ways");

    step("Discord: guild Demo Discord, #general, and the bot; linked to #bridged too");
    app.discord.add_guild(GUILD, "Demo Discord");
    app.discord.add_bot(DISCORD_TOKEN, DISCORD_BOT, "hazel-bot");
    app.discord
        .add_bot_to_guild(GUILD, DISCORD_BOT, hazel_discord::REQUIRED_PERMISSION_BITS);
    app.discord.add_channel(
        GUILD,
        DISCORD_CHANNEL,
        "general",
        hazel_testkit::sim::discord::ChannelKind::Text,
        false,
    );
    app.discord_gateway.add_bot(DISCORD_TOKEN, DISCORD_BOT);
    let discord = ada
        .post(
            "/connections",
            json!({"organizationId": org, "provider": "discord", "externalWorkspaceId": GUILD,
                   "credentials": {"botToken": DISCORD_TOKEN}}),
        )
        .await
        .expect_status(201)
        .id();
    ada.post(
        &format!("/connections/{discord}/channel-links"),
        json!({"hazelChannelId": channel, "externalChannelId": DISCORD_CHANNEL}),
    )
    .await
    .expect_status(201);
    eventually(|| async { app.discord_gateway.connected().then_some(()) })
        .await
        .ok_or("the Discord Gateway session never started")?;
    println!(
        "    the service's Gateway session identified: {:?}",
        app.discord_gateway.stats()
    );

    step("Slack → Hazel: Alice writes in #general");
    app.slack
        .post_as_user(CHANNEL, ALICE, "Hello from Slack :wave:")
        .await;
    let status = app.slack.sent_events().last().and_then(|sent| sent.status);
    println!("    the simulator POSTed a signed event_callback → HTTP {status:?}");
    let arrived = eventually(|| async {
        let listed = ada
            .get(&format!("/channels/{channel}/messages"))
            .await
            .expect_status(200);
        listed.data().as_array()?.first().cloned()
    })
    .await
    .ok_or("the Slack message never reached Hazel")?;
    println!(
        "    GET /api/v1/channels/{channel}/messages → {:?} by {} ({})",
        arrived["content"].as_str().unwrap_or_default(),
        arrived["author"]["name"],
        arrived["author"]["externalProvider"]
    );

    step("Hazel → Slack: Ada answers in #bridged");
    ada.post_message(&channel, "Hi **Alice**, greetings from Hazel")
        .await;
    let posted = eventually(|| async {
        app.slack
            .messages(CHANNEL)
            .into_iter()
            .find(|m| m.bot_id.is_some())
    })
    .await
    .ok_or("the Hazel message never reached Slack")?;
    println!(
        "    chat.postMessage in #general: {:?} as {:?} with metadata {}",
        posted.text,
        posted.username.unwrap_or_default(),
        posted.metadata.unwrap_or(Value::Null)
    );

    let in_discord = eventually(|| async {
        app.discord
            .messages(DISCORD_CHANNEL)
            .into_iter()
            .find(|m| m.content.contains("greetings"))
    })
    .await
    .ok_or("the Hazel message never reached Discord")?;
    println!(
        "    webhook message in Discord #general: {:?} as {:?}",
        in_discord.content, in_discord.username
    );

    step("Discord → Hazel → Slack: Dave writes in Discord's #general");
    let id = app
        .discord
        .post_as_user(DISCORD_CHANNEL, DAVE, "dave", "Hello from **Discord**");
    app.discord_gateway.dispatch(
        "MESSAGE_CREATE",
        json!({"id": id, "channel_id": DISCORD_CHANNEL, "guild_id": GUILD,
               "author": {"id": DAVE, "username": "dave", "global_name": "Dave", "avatar": null},
               "content": "Hello from **Discord**", "edited_timestamp": null, "attachments": []}),
    );
    let relayed = eventually(|| async {
        app.slack
            .messages(CHANNEL)
            .into_iter()
            .find(|m| m.bot_id.is_some() && m.text.contains("Discord"))
    })
    .await
    .ok_or("the Discord message never reached Slack")?;
    println!(
        "    chat.postMessage in Slack #general: {:?} as {:?}",
        relayed.text,
        relayed.username.unwrap_or_default()
    );

    step("The echo of the Slack post came back from Slack and was ignored");
    let receipts = eventually(|| async {
        let listed = ada
            .get(&format!(
                "/connections/{connection}/deliveries?direction=inbound"
            ))
            .await
            .expect_status(200);
        let items = listed.data().as_array()?.clone();
        (items.len() >= 2 && items.iter().all(|d| d["status"] != "pending")).then_some(items)
    })
    .await
    .ok_or("the receipts were not processed")?;
    for receipt in receipts.iter().rev() {
        println!(
            "    {} {} {}",
            receipt["kind"].as_str().unwrap_or_default(),
            receipt["status"].as_str().unwrap_or_default(),
            receipt["reason"].as_str().unwrap_or_default()
        );
    }
    let violations = app.slack.take_violations();
    if !violations.is_empty() {
        return Err(format!("requests broke Slack's spec: {violations:?}"));
    }
    let violations = app.discord.take_violations();
    if !violations.is_empty() {
        return Err(format!("requests broke Discord's spec: {violations:?}"));
    }
    step("Done: every request followed Slack's and Discord's published specs");
    Ok(())
}
