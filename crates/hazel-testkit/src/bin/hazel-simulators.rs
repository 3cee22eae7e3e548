//! Runs the Slack and Discord simulators with a demo workspace each, so a real `hazel-sync serve`
//! can be pointed at them (`HAZEL_SLACK_API_URL`, `HAZEL_DISCORD_API_URL`) and tried with curl.

use std::net::SocketAddr;

use clap::Parser;
use hazel_testkit::sim::discord::{ChannelKind, DiscordSimulator};
use hazel_testkit::sim::slack::SlackSimulator;

/// Slack and Discord API simulators with demo data, checking every request against the
/// official specs.
#[derive(Debug, Parser)]
#[command(name = "hazel-simulators", version, about)]
struct Args {
    /// Where the Slack Web API simulator listens.
    #[arg(long, default_value = "127.0.0.1:9101")]
    slack: SocketAddr,
    /// Where the Discord REST simulator listens.
    #[arg(long, default_value = "127.0.0.1:9102")]
    discord: SocketAddr,
}

/// Demo Slack workspace.
const SLACK_TEAM: &str = "T0DEMO";
/// Demo Slack bot token (simulator only).
const SLACK_TOKEN: &str = "xoxb-demo-bot-token";
/// Demo Discord guild.
const DISCORD_GUILD: &str = "1100000000000000001";
/// Demo Discord bot.
const DISCORD_BOT: &str = "1200000000000000002";
/// Demo Discord bot token (simulator only).
const DISCORD_TOKEN: &str = "ZGVtbw.discord-bot.demo-token";

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let slack = SlackSimulator::start_on(args.slack).await;
    slack.add_workspace(SLACK_TEAM, "Demo Slack");
    slack.add_bot_token(SLACK_TEAM, SLACK_TOKEN, hazel_slack::REQUIRED_SCOPES);
    slack.add_channel(SLACK_TEAM, "C0GENERAL", "general", false, 12);
    slack.add_channel(SLACK_TEAM, "C0RANDOM", "random", false, 7);
    slack.add_channel(SLACK_TEAM, "G0PRIVATE", "private-plans", true, 3);

    let discord = DiscordSimulator::start_on(args.discord).await;
    discord.add_guild(DISCORD_GUILD, "Demo Discord");
    discord.add_bot(DISCORD_TOKEN, DISCORD_BOT, "hazel-bot");
    discord.add_bot_to_guild(
        DISCORD_GUILD,
        DISCORD_BOT,
        hazel_discord::REQUIRED_PERMISSION_BITS,
    );
    discord.add_channel(
        DISCORD_GUILD,
        "1300000000000000001",
        "general",
        ChannelKind::Text,
        false,
    );
    discord.add_channel(
        DISCORD_GUILD,
        "1300000000000000002",
        "mods",
        ChannelKind::Text,
        true,
    );

    // The Gateway the service's Discord sessions connect to, so a demo `serve` never dials
    // Discord itself.
    let gateway = hazel_testkit::sim::discord_gateway::DiscordGatewaySimulator::start().await;
    gateway.add_bot(DISCORD_TOKEN, DISCORD_BOT);

    println!("export HAZEL_SLACK_API_URL={}", slack.url());
    println!("export HAZEL_DISCORD_API_URL={}", discord.url());
    println!("export HAZEL_DISCORD_GATEWAY_URL={}", gateway.url());
    // The demo workspaces, for scripts that seed connections (scripts/schemathesis.sh).
    println!("export HAZEL_DEMO_SLACK_TEAM={SLACK_TEAM}");
    println!("export HAZEL_DEMO_SLACK_BOT_TOKEN={SLACK_TOKEN}");
    println!("export HAZEL_DEMO_DISCORD_GUILD={DISCORD_GUILD}");
    println!("export HAZEL_DEMO_DISCORD_BOT_TOKEN={DISCORD_TOKEN}");
    println!("# Slack workspace {SLACK_TEAM}: botToken {SLACK_TOKEN}, any signingSecret");
    println!("# Discord guild {DISCORD_GUILD}: botToken {DISCORD_TOKEN}");
    println!("# Ctrl-C stops the simulators and lists any request that broke the specs.");
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("cannot wait for Ctrl-C: {error}");
    }
    for (name, violations) in [
        ("Slack", slack.take_violations()),
        ("Discord", discord.take_violations()),
    ] {
        if violations.is_empty() {
            eprintln!("{name}: every request followed the spec");
        } else {
            eprintln!(
                "{name}: {} request(s) broke the spec:\n  - {}",
                violations.len(),
                violations.join("\n  - ")
            );
        }
    }
}
