//! Channel discovery and selection.

use hazel_testkit::TestApp;
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

async fn discovery_lists_public_and_private_channels_live(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let resp = t
        .member
        .get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(200);
    let channels = resp.data();
    assert_eq!(channels.as_array().unwrap().len(), 3);
    let secret = by_id(channels, "G0SECRET");
    assert_eq!(secret["name"], "secret-plans");
    assert_eq!(secret["isPrivate"], true);
    assert_eq!(secret["memberCount"], 3);
    assert_eq!(secret["syncEnabled"], false);
    // Live: a channel added on the provider shows up on the next call.
    app.slack.add_channel(SLACK_TEAM, "C0NEW", "new", false, 1);
    let again = t.member.get(&format!("/connections/{id}/channels")).await;
    assert_eq!(again.data().as_array().unwrap().len(), 4);
}

async fn discovery_follows_slack_cursors_across_pages(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    for i in 0..450 {
        app.slack.add_channel(
            SLACK_TEAM,
            &format!("C{i:06}"),
            &format!("bulk-{i}"),
            i % 2 == 0,
            2,
        );
    }
    let resp = t
        .owner
        .get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(200);
    assert_eq!(resp.data().as_array().unwrap().len(), 453);
    let pages = app
        .slack
        .requests()
        .iter()
        .filter(|r| r.route == "conversations.list")
        .count();
    assert!(
        pages >= 3,
        "450+ channels at 200 per page need several calls, saw {pages}"
    );
}

async fn discovery_reports_provider_errors(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    app.slack.fail_next(
        "conversations.list",
        SlackFailure::RateLimited {
            retry_after_seconds: 90,
        },
    );
    let resp = t
        .owner
        .get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(429);
    assert_eq!(resp.error_code(), "RATE_LIMITED");
    assert_eq!(resp.body["error"]["retryAfterSeconds"], 90);
    app.slack
        .fail_next("conversations.list", SlackFailure::ServerError);
    let resp = t
        .owner
        .get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(502);
    assert_eq!(resp.error_code(), "PLATFORM_ERROR");
}

async fn selecting_channels_round_trips(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let path = format!("/connections/{id}/channels");
    let resp = t
        .admin
        .put(
            &path,
            json!({"channelIds": ["C0GENERAL", "G0SECRET"], "syncAll": false}),
        )
        .await
        .expect_status(200);
    assert!(resp.transaction_id() > 0);
    assert_eq!(by_id(resp.data(), "C0GENERAL")["syncEnabled"], true);
    assert_eq!(by_id(resp.data(), "C0RANDOM")["syncEnabled"], false);
    // Hazel channels were created, named after the external ones, private where Slack's is.
    let channels = t
        .owner
        .get(&format!("/organizations/{}/channels", t.org))
        .await;
    let hazel: Vec<(String, String)> = channels
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        hazel,
        vec![
            ("general".to_owned(), "public".to_owned()),
            ("secret-plans".to_owned(), "private".to_owned())
        ]
    );
    let links = t
        .owner
        .get(&format!("/connections/{id}/channel-links"))
        .await;
    assert_eq!(links.data().as_array().unwrap().len(), 2);
    assert!(
        links
            .data()
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["direction"] == "both" && l["isActive"] == true)
    );
    assert_eq!(
        t.owner.get(&format!("/connections/{id}")).await.data()["channelCount"],
        2
    );
    // The listing agrees.
    let listed = t.owner.get(&path).await;
    assert_eq!(by_id(listed.data(), "G0SECRET")["syncEnabled"], true);
    // Unselecting deactivates (keeps) the link; reselecting reactivates it without a new channel.
    let resp = t
        .admin
        .put(
            &path,
            json!({"channelIds": ["C0GENERAL"], "syncAll": false}),
        )
        .await
        .expect_status(200);
    assert_eq!(by_id(resp.data(), "G0SECRET")["syncEnabled"], false);
    assert_eq!(
        t.owner.get(&format!("/connections/{id}")).await.data()["channelCount"],
        1
    );
    let links = t
        .owner
        .get(&format!("/connections/{id}/channel-links"))
        .await;
    let secret_link = links
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["externalChannelId"] == "G0SECRET")
        .unwrap()
        .clone();
    assert_eq!(secret_link["isActive"], false);
    t.admin
        .put(&path, json!({"channelIds": [], "syncAll": true}))
        .await
        .expect_status(200);
    let channels = t
        .owner
        .get(&format!("/organizations/{}/channels", t.org))
        .await;
    assert_eq!(
        channels.data().as_array().unwrap().len(),
        3,
        "only C0RANDOM needed a new Hazel channel"
    );
    assert_eq!(
        t.owner.get(&format!("/connections/{id}")).await.data()["channelCount"],
        3
    );
}

async fn selecting_an_unknown_channel_changes_nothing(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let resp = t
        .owner
        .put(
            &format!("/connections/{id}/channels"),
            json!({"channelIds": ["C0GENERAL", "C0NOPE"], "syncAll": false}),
        )
        .await
        .expect_status(400);
    assert_eq!(resp.error_field(), "channelIds");
    assert!(
        t.owner
            .get(&format!("/organizations/{}/channels", t.org))
            .await
            .data()
            .as_array()
            .unwrap()
            .is_empty()
    );
    let missing = t
        .owner
        .put(
            &format!("/connections/{id}/channels"),
            json!({"syncAll": "yes"}),
        )
        .await
        .expect_status(400);
    assert_eq!(missing.error_field(), "syncAll");
}

async fn discord_discovery_lists_text_channels(app: TestApp) {
    let t = team(&app).await;
    discord_guild(&app);
    app.discord.add_channel(
        DISCORD_GUILD,
        "1300000000000000003",
        "Voice",
        hazel_testkit::sim::discord::ChannelKind::Voice,
        false,
    );
    let id = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(201)
        .id();
    let resp = t
        .owner
        .get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(200);
    let channels = resp.data().as_array().unwrap();
    assert_eq!(
        channels.len(),
        2,
        "voice channels are not synced: {}",
        resp.text
    );
    assert_eq!(by_id(resp.data(), "1300000000000000002")["isPrivate"], true);
    assert_eq!(
        by_id(resp.data(), "1300000000000000001")["isPrivate"],
        false
    );
}

/// Channels the bot cannot sync — of a kind that holds no messages, or where its roles and
/// overwrites take away a permission it needs — are not offered, and linking one straight
/// away is refused naming why, storing nothing.
async fn discord_channels_the_bot_cannot_sync_are_neither_offered_nor_linked(app: TestApp) {
    use hazel_testkit::sim::discord::ChannelKind;
    let t = team(&app).await;
    discord_guild(&app);
    let forum = "1300000000000000010";
    let muted = "1300000000000000011";
    let no_history = "1300000000000000012";
    app.discord
        .add_channel(DISCORD_GUILD, forum, "ideas", ChannelKind::Forum, false);
    app.discord.add_channel(
        DISCORD_GUILD,
        muted,
        "announcements-only",
        ChannelKind::Text,
        false,
    );
    app.discord.add_channel(
        DISCORD_GUILD,
        no_history,
        "ephemeral",
        ChannelKind::Text,
        false,
    );
    // The bot itself may not send in one channel; @everyone may not read history in the other
    // (and the bot's role does not give it back).
    app.discord.add_channel_overwrite(
        DISCORD_GUILD,
        muted,
        DISCORD_BOT,
        true,
        0,
        hazel_discord::SEND_MESSAGES.bit,
    );
    app.discord.add_channel_overwrite(
        DISCORD_GUILD,
        no_history,
        DISCORD_GUILD,
        false,
        0,
        hazel_discord::READ_MESSAGE_HISTORY.bit,
    );
    let id = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(201)
        .id();

    let listed = t
        .owner
        .get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(200);
    let mut ids: Vec<&str> = listed
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["1300000000000000001", "1300000000000000002"],
        "{}",
        listed.text
    );

    let hazel = t.owner.create_channel(&t.org, "target").await;
    let path = format!("/connections/{id}/channel-links");
    for (external, scopes, says) in [
        (forum, json!([]), "forum"),
        (muted, json!(["SEND_MESSAGES"]), "SEND_MESSAGES"),
        (
            no_history,
            json!(["READ_MESSAGE_HISTORY"]),
            "READ_MESSAGE_HISTORY",
        ),
        ("1300000000000000099", json!([]), "cannot see"),
    ] {
        let refused = t
            .owner
            .post(
                &path,
                json!({"hazelChannelId": hazel, "externalChannelId": external}),
            )
            .await
            .expect_status(422);
        assert_eq!(
            refused.error_code(),
            "INSUFFICIENT_PERMISSIONS",
            "{}",
            refused.text
        );
        assert_eq!(
            refused.body["error"]["requiredScopes"], scopes,
            "{}",
            refused.text
        );
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{}",
            refused.text
        );
        assert_no_secrets(&refused.text);
    }
    let links = t.owner.get(&path).await.expect_status(200);
    assert_eq!(links.data().as_array().unwrap().len(), 0, "{}", links.text);
    // Selecting one of them is refused as a channel the bot cannot use, linking nothing.
    let selected = t
        .owner
        .put(
            &format!("/connections/{id}/channels"),
            json!({"channelIds": [muted], "syncAll": false}),
        )
        .await
        .expect_status(400);
    assert_eq!(selected.error_field(), "channelIds");
    assert_eq!(t.owner.get(&path).await.data().as_array().unwrap().len(), 0);
    // A channel the bot can use is linked.
    t.owner
        .post(
            &path,
            json!({"hazelChannelId": hazel, "externalChannelId": "1300000000000000002"}),
        )
        .await
        .expect_status(201);
}

/// Hazel channel names are not unique: external channels named like an existing Hazel channel,
/// or like each other, are linked, not refused as a link conflict.
async fn selecting_channels_whose_names_clash_links_them_all(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let existing = t.owner.create_channel(&t.org, "general").await;
    app.slack
        .add_channel(SLACK_TEAM, "C0GENERAL2", "general", false, 2);
    let path = format!("/connections/{id}/channels");
    let resp = t
        .admin
        .put(&path, json!({"channelIds": [], "syncAll": true}))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert!(resp.transaction_id() > 0);
    for external in ["C0GENERAL", "C0GENERAL2", "C0RANDOM", "G0SECRET"] {
        assert_eq!(
            by_id(resp.data(), external)["syncEnabled"],
            true,
            "{external}"
        );
    }
    let channels = t
        .owner
        .get(&format!("/organizations/{}/channels", t.org))
        .await;
    let generals: Vec<&Value> = channels
        .data()
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "general")
        .collect();
    assert_eq!(generals.len(), 3, "{}", channels.text);
    // The existing channel was left unlinked; each external one got its own channel.
    let links = t
        .owner
        .get(&format!("/connections/{id}/channel-links"))
        .await;
    let linked: Vec<&str> = links
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["hazelChannelId"].as_str().unwrap())
        .collect();
    assert_eq!(linked.len(), 4, "{}", links.text);
    assert!(!linked.contains(&existing.as_str()));
    // Selecting again with the same clash changes nothing and still succeeds.
    let again = t
        .admin
        .put(&path, json!({"channelIds": [], "syncAll": true}))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        t.owner.get(&format!("/connections/{id}")).await.data()["channelCount"],
        4
    );
}

hazel_testkit::on_every_backend!(
    discovery_lists_public_and_private_channels_live,
    discovery_follows_slack_cursors_across_pages,
    discovery_reports_provider_errors,
    selecting_channels_round_trips,
    selecting_an_unknown_channel_changes_nothing,
    discord_discovery_lists_text_channels,
    discord_channels_the_bot_cannot_sync_are_neither_offered_nor_linked,
    selecting_channels_whose_names_clash_links_them_all
);
