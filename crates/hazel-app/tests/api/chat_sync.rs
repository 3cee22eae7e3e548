//! Shared setup for the Chat Sync tests: a team, and workspaces in the provider simulators.

use hazel_testkit::sim::discord::ChannelKind;
use hazel_testkit::{Client, TestApp};
use serde_json::{Value, json};

/// The scopes a fully authorized Slack bot has.
pub(crate) const ALL_SLACK_SCOPES: &[&str] = hazel_slack::REQUIRED_SCOPES;
pub(crate) const SLACK_TEAM: &str = "T0HAZEL01";
pub(crate) const SLACK_TOKEN: &str = "xoxb-111-222-slacksecrettoken";
pub(crate) const SLACK_SIGNING_SECRET: &str = "8f14e45fceea167a5a36dedd4bea2543";
pub(crate) const DISCORD_GUILD: &str = "1100000000000000001";
pub(crate) const DISCORD_BOT: &str = "1200000000000000002";
pub(crate) const DISCORD_TOKEN: &str = "MTIwMDAwMDAwMDAwMDAwMDAwMg.discord.secrettoken";

/// An organization with an owner, an admin and a plain member.
pub(crate) struct Team {
    pub(crate) org: String,
    pub(crate) owner: Client,
    pub(crate) admin: Client,
    pub(crate) member: Client,
}

pub(crate) async fn team(app: &TestApp) -> Team {
    let owner = app.user("Olive").await;
    let org = owner.create_org("Acme").await;
    let (_, admin) = owner.add_member(&org, "Adam", "admin").await;
    let (_, member) = owner.add_member(&org, "Mia", "member").await;
    Team {
        org,
        owner,
        admin: admin.unwrap(),
        member: member.unwrap(),
    }
}

/// A Slack workspace with a fully scoped bot and three channels.
pub(crate) fn slack_workspace(app: &TestApp) {
    app.slack.add_workspace(SLACK_TEAM, "Acme Slack");
    app.slack
        .add_bot_token(SLACK_TEAM, SLACK_TOKEN, ALL_SLACK_SCOPES);
    app.slack
        .add_channel(SLACK_TEAM, "C0GENERAL", "general", false, 12);
    app.slack
        .add_channel(SLACK_TEAM, "C0RANDOM", "random", false, 7);
    app.slack
        .add_channel(SLACK_TEAM, "G0SECRET", "secret-plans", true, 3);
}

/// A Discord guild with the bot in it, holding every permission the service needs.
pub(crate) fn discord_guild(app: &TestApp) {
    app.discord.add_guild(DISCORD_GUILD, "Acme Discord");
    app.discord.add_bot(DISCORD_TOKEN, DISCORD_BOT, "hazel-bot");
    let bot_role = app.discord.add_bot_to_guild(
        DISCORD_GUILD,
        DISCORD_BOT,
        hazel_discord::REQUIRED_PERMISSION_BITS,
    );
    app.discord.add_channel(
        DISCORD_GUILD,
        "1300000000000000001",
        "general",
        ChannelKind::Text,
        false,
    );
    app.discord.add_channel(
        DISCORD_GUILD,
        "1300000000000000002",
        "mods",
        ChannelKind::Text,
        true,
    );
    // The private channel keeps `@everyone` out and lets the bot's role in.
    app.discord.add_channel_overwrite(
        DISCORD_GUILD,
        "1300000000000000002",
        &bot_role,
        false,
        hazel_discord::VIEW_CHANNEL.bit,
        0,
    );
}

pub(crate) fn slack_body(org: &str) -> Value {
    json!({
        "organizationId": org,
        "provider": "slack",
        "externalWorkspaceId": SLACK_TEAM,
        "credentials": {"botToken": SLACK_TOKEN, "signingSecret": SLACK_SIGNING_SECRET}
    })
}

pub(crate) fn discord_body(org: &str) -> Value {
    json!({
        "organizationId": org,
        "provider": "discord",
        "externalWorkspaceId": DISCORD_GUILD,
        "credentials": {"botToken": DISCORD_TOKEN}
    })
}

/// Creates a Slack connection as `client` and returns its id.
pub(crate) async fn connect_slack(app: &TestApp, client: &Client, org: &str) -> String {
    slack_workspace(app);
    client
        .post("/connections", slack_body(org))
        .await
        .expect_status(201)
        .id()
}

/// Asserts that no secret of the simulators' workspaces appears in `text`.
#[track_caller]
pub(crate) fn assert_no_secrets(text: &str) {
    for secret in [
        SLACK_TOKEN,
        SLACK_SIGNING_SECRET,
        DISCORD_TOKEN,
        "slacksecrettoken",
        "discord.secrettoken",
    ] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}
