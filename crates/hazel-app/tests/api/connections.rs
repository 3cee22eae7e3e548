//! Chat Sync connections: create, validation against the provider, error codes, status, update,
//! delete, uniqueness, roles, and credentials that never come back.

use hazel_testkit::TestApp;
use hazel_testkit::sim::discord::Failure as DiscordFailure;
use hazel_testkit::sim::slack::Failure as SlackFailure;
use serde_json::json;

use crate::chat_sync::*;

async fn creating_a_slack_connection_validates_and_hides_credentials(app: TestApp) {
    let t = team(&app).await;
    slack_workspace(&app);
    let resp = t
        .owner
        .post("/connections", slack_body(&t.org))
        .await
        .expect_status(201);
    assert_no_secrets(&resp.text);
    let c = resp.data();
    assert_eq!(c["organizationId"], t.org.as_str());
    assert_eq!(c["provider"], "slack");
    assert_eq!(c["externalWorkspaceId"], SLACK_TEAM);
    assert_eq!(
        c["externalWorkspaceName"], "Acme Slack",
        "taken from the provider"
    );
    assert_eq!(c["name"], "Acme Slack");
    assert_eq!(c["status"], "connected");
    assert_eq!(c["channelCount"], 0);
    assert_eq!(c["createdBy"].as_str(), t.owner.user_id.as_deref());
    assert_eq!(
        c["settings"],
        json!({"syncThreads": true, "syncReactions": true, "syncEdits": true, "syncDeletes": true})
    );
    assert!(c.get("credentials").is_none(), "{c}");
    assert!(c["lastSyncAt"].is_null());
    let id = resp.id();
    let got = t
        .member
        .get(&format!("/connections/{id}"))
        .await
        .expect_status(200);
    assert_no_secrets(&got.text);
    assert_eq!(got.data()["id"], id.as_str());
    let list = t
        .member
        .get(&format!("/connections?organizationId={}", t.org))
        .await
        .expect_status(200);
    assert_no_secrets(&list.text);
    assert_eq!(list.data().as_array().unwrap().len(), 1);
    assert!(
        app.slack.requests().iter().any(|r| r.route == "auth.test"),
        "credentials were checked with Slack"
    );
}

async fn credentials_are_encrypted_at_rest(app: TestApp) {
    use sea_orm::{ConnectionTrait as _, Statement};
    let t = team(&app).await;
    connect_slack(&app, &t.owner, &t.org).await;
    // Read the stored column directly, on either backend.
    let db = crate::raw_db(&app).await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT credentials FROM chat_sync_connections",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let sealed: Vec<u8> = rows[0].try_get("", "credentials").unwrap();
    assert!(
        sealed.len() > 12 + 16,
        "nonce, ciphertext and tag are stored: {} bytes",
        sealed.len()
    );
    assert_no_secrets(&String::from_utf8_lossy(&sealed));
    db.close().await.unwrap();
    // On SQLite, no page of the file (or its write-ahead log) holds a secret either.
    if let Some(path) = app.config.database_url.strip_prefix("sqlite://") {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal"] {
            if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend(b);
            }
        }
        assert!(!bytes.is_empty());
        assert_no_secrets(&String::from_utf8_lossy(&bytes));
    }
}

async fn slack_refusals_map_to_the_documented_error_codes(app: TestApp) {
    let t = team(&app).await;
    slack_workspace(&app);
    let cases: Vec<(SlackFailure, u16, &str)> = vec![
        (
            SlackFailure::SlackError("invalid_auth".into()),
            422,
            "INVALID_CREDENTIALS",
        ),
        (
            SlackFailure::SlackError("not_authed".into()),
            422,
            "INVALID_CREDENTIALS",
        ),
        (
            SlackFailure::SlackError("token_expired".into()),
            422,
            "AUTH_EXPIRED",
        ),
        (
            SlackFailure::SlackError("token_revoked".into()),
            422,
            "AUTH_EXPIRED",
        ),
        (
            SlackFailure::RateLimited {
                retry_after_seconds: 17,
            },
            429,
            "RATE_LIMITED",
        ),
        (SlackFailure::ServerError, 502, "PLATFORM_ERROR"),
        (SlackFailure::DropConnection, 502, "NETWORK_ERROR"),
    ];
    for (failure, status, code) in cases {
        app.slack.fail_next("auth.test", failure);
        let resp = t.owner.post("/connections", slack_body(&t.org)).await;
        assert_eq!(resp.status, status, "{code}: {}", resp.text);
        assert_eq!(resp.error_code(), code, "{}", resp.text);
        assert_no_secrets(&resp.text);
        if code == "RATE_LIMITED" {
            assert_eq!(resp.body["error"]["retryAfterSeconds"], 17, "{}", resp.text);
        }
    }
    let list = t
        .owner
        .get(&format!("/connections?organizationId={}", t.org))
        .await;
    assert!(
        list.data().as_array().unwrap().is_empty(),
        "a refused connection is not saved"
    );
}

async fn missing_slack_scopes_are_listed(app: TestApp) {
    let t = team(&app).await;
    app.slack.add_workspace(SLACK_TEAM, "Acme Slack");
    let granted: Vec<&str> = ALL_SLACK_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "chat:write" && *s != "reactions:write")
        .collect();
    app.slack.add_bot_token(SLACK_TEAM, SLACK_TOKEN, &granted);
    let resp = t
        .owner
        .post("/connections", slack_body(&t.org))
        .await
        .expect_status(422);
    assert_eq!(resp.error_code(), "INSUFFICIENT_PERMISSIONS");
    let mut required: Vec<String> = resp.body["error"]["requiredScopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    required.sort();
    assert_eq!(required, vec!["chat:write", "reactions:write"]);
}

async fn a_token_of_another_workspace_is_refused(app: TestApp) {
    let t = team(&app).await;
    slack_workspace(&app);
    app.slack.add_workspace("T0OTHER", "Other");
    let mut body = slack_body(&t.org);
    body["externalWorkspaceId"] = json!("T0OTHER");
    let resp = t.owner.post("/connections", body).await.expect_status(422);
    assert_eq!(resp.error_code(), "INVALID_CREDENTIALS");
}

async fn discord_connections_validate_guild_membership_and_permissions(app: TestApp) {
    let t = team(&app).await;
    discord_guild(&app);
    app.discord
        .fail_next("GET /users/@me", DiscordFailure::Unauthorized);
    let bad = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(422);
    assert_eq!(bad.error_code(), "INVALID_CREDENTIALS");
    app.discord
        .fail_next("GET /guilds/{guild_id}", DiscordFailure::Forbidden);
    let outside = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(422);
    assert_eq!(outside.error_code(), "INSUFFICIENT_PERMISSIONS");
    app.discord.fail_next(
        "GET /users/@me",
        DiscordFailure::RateLimited {
            retry_after_seconds: 3.0,
        },
    );
    let limited = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(429);
    assert_eq!(limited.body["error"]["retryAfterSeconds"], 3);
    let ok = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(201);
    assert_no_secrets(&ok.text);
    assert_eq!(ok.data()["externalWorkspaceName"], "Acme Discord");
    assert_eq!(ok.data()["status"], "connected");
}

async fn a_discord_bot_missing_permissions_is_told_which(app: TestApp) {
    let t = team(&app).await;
    app.discord.add_guild(DISCORD_GUILD, "Acme Discord");
    app.discord.add_bot(DISCORD_TOKEN, DISCORD_BOT, "hazel-bot");
    // Everything but MANAGE_WEBHOOKS (1 << 29).
    app.discord.add_bot_to_guild(
        DISCORD_GUILD,
        DISCORD_BOT,
        hazel_discord::REQUIRED_PERMISSION_BITS & !(1 << 29),
    );
    let resp = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(422);
    assert_eq!(resp.error_code(), "INSUFFICIENT_PERMISSIONS");
    assert_eq!(
        resp.body["error"]["requiredScopes"],
        json!(["MANAGE_WEBHOOKS"]),
        "{}",
        resp.text
    );
}

async fn one_live_connection_per_workspace_and_reconnect_after_delete(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let dup = t
        .admin
        .post("/connections", slack_body(&t.org))
        .await
        .expect_status(409);
    assert_eq!(dup.error_code(), "ChatSyncConnectionExistsError");
    // Another organization may connect the same workspace.
    let other = app.user("Otto").await;
    let other_org = other.create_org("Other").await;
    other
        .post("/connections", slack_body(&other_org))
        .await
        .expect_status(201);
    let deleted = t
        .owner
        .delete(&format!("/connections/{id}"))
        .await
        .expect_status(200);
    assert!(deleted.transaction_id() > 0);
    let gone = t
        .owner
        .get(&format!("/connections/{id}"))
        .await
        .expect_status(404);
    assert_eq!(gone.error_code(), "ChatSyncConnectionNotFoundError");
    t.owner
        .delete(&format!("/connections/{id}"))
        .await
        .expect_status(404);
    let list = t
        .owner
        .get(&format!("/connections?organizationId={}", t.org))
        .await;
    assert!(list.data().as_array().unwrap().is_empty());
    let again = t
        .owner
        .post("/connections", slack_body(&t.org))
        .await
        .expect_status(201);
    assert_ne!(again.id(), id);
}

async fn without_credentials_the_integration_must_be_connected(app: TestApp) {
    let t = team(&app).await;
    discord_guild(&app);
    let mut body = discord_body(&t.org);
    body.as_object_mut().unwrap().remove("credentials");
    let resp = t
        .owner
        .post("/connections", body.clone())
        .await
        .expect_status(409);
    assert_eq!(resp.error_code(), "ChatSyncIntegrationNotConnectedError");
    body["integrationConnectionId"] = json!("0190f5a2-0000-7000-8000-000000000000");
    let resp = t
        .owner
        .post("/connections", body.clone())
        .await
        .expect_status(409);
    assert_eq!(resp.error_code(), "ChatSyncIntegrationNotConnectedError");
    // A connected Discord connection's bot can serve a second guild of the same organization.
    let first = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(201)
        .id();
    app.discord.add_guild("1100000000000000009", "Second guild");
    app.discord.add_bot_to_guild(
        "1100000000000000009",
        DISCORD_BOT,
        hazel_discord::REQUIRED_PERMISSION_BITS,
    );
    body["externalWorkspaceId"] = json!("1100000000000000009");
    body["integrationConnectionId"] = json!(first);
    let second = t.owner.post("/connections", body).await.expect_status(201);
    assert_eq!(second.data()["integrationConnectionId"], first.as_str());
    assert_eq!(second.data()["externalWorkspaceName"], "Second guild");
}

async fn validate_records_the_outcome_in_the_status(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let path = format!("/connections/{id}/validate");
    app.slack.fail_next(
        "auth.test",
        SlackFailure::SlackError("token_revoked".into()),
    );
    let failed = t.admin.post(&path, json!({})).await.expect_status(200);
    assert_eq!(failed.body["valid"], false, "{}", failed.text);
    assert_eq!(failed.body["error"]["code"], "AUTH_EXPIRED");
    assert!(failed.transaction_id() > 0);
    let c = t.owner.get(&format!("/connections/{id}")).await;
    assert_eq!(c.data()["status"], "error");
    assert_eq!(c.data()["errorCode"], "AUTH_EXPIRED");
    assert!(
        c.data()["errorMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    let ok = t.owner.post(&path, json!({})).await.expect_status(200);
    assert_eq!(ok.body["valid"], true, "{}", ok.text);
    assert_eq!(ok.body["connection"]["id"], id.as_str());
    assert_eq!(ok.body["connection"]["status"], "connected");
    assert!(ok.body["connection"]["validatedAt"].is_string());
    let c = t.owner.get(&format!("/connections/{id}")).await;
    assert_eq!(c.data()["status"], "connected");
    assert!(
        c.data()["errorCode"].is_null() && c.data()["errorMessage"].is_null(),
        "{}",
        c.text
    );
}

async fn updates_change_fields_and_revalidate_credentials(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let path = format!("/connections/{id}");
    let updated = t
        .admin
        .patch(&path, json!({"name": "Main Slack", "settings": {"syncReactions": false}, "metadata": {"team": "core"}}))
        .await
        .expect_status(200);
    assert_eq!(updated.data()["name"], "Main Slack");
    assert_eq!(updated.data()["settings"]["syncReactions"], false);
    assert_eq!(updated.data()["settings"]["syncThreads"], true);
    assert_eq!(updated.data()["metadata"], json!({"team": "core"}));
    let paused = t
        .owner
        .patch(&path, json!({"status": "disconnected"}))
        .await
        .expect_status(200);
    assert_eq!(paused.data()["status"], "disconnected");
    // New credentials are checked first; refused ones (a token Slack does not know) change nothing.
    let refused = t
        .owner
        .patch(&path, json!({"name": "Renamed", "credentials": {"botToken": "xoxb-new", "signingSecret": "s2"}}))
        .await
        .expect_status(422);
    assert_eq!(refused.error_code(), "INVALID_CREDENTIALS");
    assert_eq!(t.owner.get(&path).await.data()["name"], "Main Slack");
    let resumed = t
        .owner
        .patch(&path, json!({"status": "connected"}))
        .await
        .expect_status(200);
    assert_eq!(resumed.data()["status"], "connected");
    for (body, field) in [
        (json!({"status": "error"}), "status"),
        (
            json!({"settings": {"syncThreads": "yes"}}),
            "settings.syncThreads",
        ),
        (json!({"metadata": [1, 2]}), "metadata"),
        (
            json!({"credentials": {"botToken": "xoxb-only"}}),
            "credentials.signingSecret",
        ),
    ] {
        let resp = t.owner.patch(&path, body.clone()).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.error_field(), field, "{body}: {}", resp.text);
    }
}

async fn members_read_but_only_owners_and_admins_change_connections(app: TestApp) {
    let t = team(&app).await;
    slack_workspace(&app);
    let denied = t
        .member
        .post("/connections", slack_body(&t.org))
        .await
        .expect_status(403);
    assert_eq!(denied.error_code(), "UnauthorizedError");
    let id = t
        .admin
        .post("/connections", slack_body(&t.org))
        .await
        .expect_status(201)
        .id();
    t.member
        .get(&format!("/connections/{id}"))
        .await
        .expect_status(200);
    t.member
        .get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(200);
    t.member
        .get(&format!("/connections/{id}/channel-links"))
        .await
        .expect_status(200);
    t.member
        .patch(&format!("/connections/{id}"), json!({"name": "x"}))
        .await
        .expect_status(403);
    t.member
        .post(&format!("/connections/{id}/validate"), json!({}))
        .await
        .expect_status(403);
    t.member
        .put(
            &format!("/connections/{id}/channels"),
            json!({"channelIds": [], "syncAll": false}),
        )
        .await
        .expect_status(403);
    // Refused for the role before the credentials' shape is looked at.
    t.member
        .patch(
            &format!("/connections/{id}"),
            json!({"credentials": {"botToken": "x"}}),
        )
        .await
        .expect_status(403);
    t.member
        .delete(&format!("/connections/{id}"))
        .await
        .expect_status(403);
    t.owner
        .get(&format!("/connections/{id}"))
        .await
        .expect_status(200);
}

async fn create_input_is_validated(app: TestApp) {
    let t = team(&app).await;
    slack_workspace(&app);
    let base = slack_body(&t.org);
    let with = |key: &str, value: serde_json::Value| {
        let mut b = base.clone();
        b[key] = value;
        b
    };
    for (body, field) in [
        (with("provider", json!("irc")), "provider"),
        (with("organizationId", json!("nope")), "organizationId"),
        (
            with("externalWorkspaceId", json!("")),
            "externalWorkspaceId",
        ),
        (
            with("credentials", json!({"botToken": SLACK_TOKEN})),
            "credentials.signingSecret",
        ),
        (
            with("settings", json!({"syncEdits": 1})),
            "settings.syncEdits",
        ),
    ] {
        let resp = t.owner.post("/connections", body.clone()).await;
        assert_eq!(resp.status, 400, "{field}: {}", resp.text);
        assert_eq!(resp.error_field(), field, "{}", resp.text);
        assert_no_secrets(&resp.text);
    }
    assert!(
        t.owner
            .get(&format!("/connections?organizationId={}", t.org))
            .await
            .data()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn credentials_copied_to_another_connection_do_not_open(app: TestApp) {
    use sea_orm::{ConnectionTrait as _, Statement};
    let t = team(&app).await;
    let source = connect_slack(&app, &t.owner, &t.org).await;
    let zed = app.user("Zed").await;
    let other_org = zed.create_org("Other").await;
    let target = connect_slack(&app, &zed, &other_org).await;
    let path = format!("/connections/{target}/validate");
    let valid = zed.post(&path, json!({})).await.expect_status(200);
    assert_eq!(valid.body["valid"], true, "{}", valid.text);
    // Someone with write access to the database copies the first connection's sealed
    // credentials into the second connection's row.
    let db = crate::raw_db(&app).await;
    let backend = db.get_database_backend();
    let copy = format!(
        "UPDATE chat_sync_connections SET credentials = \
         (SELECT credentials FROM chat_sync_connections WHERE id = '{source}') \
         WHERE id = '{target}'"
    );
    let updated = db
        .execute_raw(Statement::from_string(backend, copy))
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 1);
    db.close().await.unwrap();
    let refused = zed.post(&path, json!({})).await.expect_status(409);
    assert_eq!(
        refused.error_code(),
        "ChatSyncIntegrationNotConnectedError",
        "{}",
        refused.text
    );
    assert_no_secrets(&refused.text);
    // The connection the credentials were sealed for still opens them.
    let own = t
        .owner
        .post(&format!("/connections/{source}/validate"), json!({}))
        .await
        .expect_status(200);
    assert_eq!(own.body["valid"], true, "{}", own.text);
}

/// The bot identity columns of the only connection, read directly from the database.
async fn stored_bot_identity(app: &TestApp) -> [Option<String>; 3] {
    use sea_orm::{ConnectionTrait as _, Statement};
    let db = crate::raw_db(app).await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT external_bot_user_id, external_bot_id, external_app_id \
             FROM chat_sync_connections",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let column = |name: &str| rows[0].try_get::<Option<String>>("", name).unwrap();
    let identity = [
        column("external_bot_user_id"),
        column("external_bot_id"),
        column("external_app_id"),
    ];
    db.close().await.unwrap();
    identity
}

async fn the_slack_bot_identity_is_stored_and_answered(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let bot = app.slack.bot_identity(SLACK_TOKEN);
    let path = format!("/connections/{id}");
    assert_eq!(
        t.member.get(&path).await.data()["externalBotUserId"],
        bot.user_id.as_str()
    );
    assert_eq!(
        stored_bot_identity(&app).await,
        [
            Some(bot.user_id.clone()),
            Some(bot.bot_id.clone()),
            Some(bot.app_id.clone())
        ]
    );
    assert!(
        app.slack.requests().iter().any(|r| r.route == "bots.info"),
        "the app id was asked of Slack"
    );

    // New credentials of another bot of the workspace: its identity replaces the first.
    let other_token = "xoxb-333-444-otherbotsecret";
    app.slack
        .add_bot_token(SLACK_TEAM, other_token, ALL_SLACK_SCOPES);
    let other = app.slack.bot_identity(other_token);
    let updated = t
        .owner
        .patch(
            &path,
            json!({"credentials": {"botToken": other_token, "signingSecret": "s2"}}),
        )
        .await
        .expect_status(200);
    assert_eq!(updated.data()["externalBotUserId"], other.user_id.as_str());
    assert_eq!(
        stored_bot_identity(&app).await,
        [Some(other.user_id), Some(other.bot_id), Some(other.app_id)]
    );
}

async fn validation_learns_the_bot_identity_of_a_connection_that_has_none(app: TestApp) {
    use sea_orm::{ConnectionTrait as _, Statement};
    let t = team(&app).await;
    discord_guild(&app);
    let created = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(201);
    assert_eq!(created.data()["externalBotUserId"], DISCORD_BOT);
    let application = app.discord.application_id(DISCORD_TOKEN);
    assert_eq!(
        stored_bot_identity(&app).await,
        [
            Some(DISCORD_BOT.to_owned()),
            None,
            Some(application.clone())
        ]
    );
    // A connection stored before bot identities were kept has none …
    let db = crate::raw_db(&app).await;
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "UPDATE chat_sync_connections SET external_bot_user_id = NULL, external_bot_id = NULL, \
         external_app_id = NULL",
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    let id = created.id();
    let path = format!("/connections/{id}");
    let before = t.owner.get(&path).await.expect_status(200);
    assert!(
        before.data()["externalBotUserId"].is_null(),
        "{}",
        before.text
    );
    // … and learns it at its next validation.
    let validated = t
        .owner
        .post(&format!("{path}/validate"), json!({}))
        .await
        .expect_status(200);
    assert_eq!(validated.body["valid"], true, "{}", validated.text);
    assert_eq!(
        t.owner.get(&path).await.data()["externalBotUserId"],
        DISCORD_BOT
    );
    assert_eq!(
        stored_bot_identity(&app).await,
        [Some(DISCORD_BOT.to_owned()), None, Some(application)]
    );
}

async fn pasted_credentials_are_trimmed_and_wrong_kinds_are_named(app: TestApp) {
    let t = team(&app).await;
    slack_workspace(&app);
    discord_guild(&app);
    let slack = |credentials: serde_json::Value| {
        let mut body = slack_body(&t.org);
        body["credentials"] = credentials;
        body
    };
    for (credentials, field, says) in [
        (
            json!({"botToken": "xoxp-111-222-usertoken", "signingSecret": "s"}),
            "credentials.botToken",
            "user token (xoxp-)",
        ),
        (
            json!({"botToken": "xapp-1-A1-apptoken", "signingSecret": "s"}),
            "credentials.botToken",
            "credentials.appToken",
        ),
        (
            json!({"botToken": SLACK_TOKEN, "signingSecret": "s", "appToken": SLACK_TOKEN}),
            "credentials.appToken",
            "bot token (xoxb-)",
        ),
        (
            json!({"botToken": SLACK_TOKEN, "signingSecret": "   "}),
            "credentials.signingSecret",
            "empty",
        ),
    ] {
        let resp = t.owner.post("/connections", slack(credentials)).await;
        assert_eq!(resp.status, 400, "{}", resp.text);
        assert_eq!(resp.error_code(), "ValidationError", "{}", resp.text);
        assert_eq!(resp.error_field(), field, "{}", resp.text);
        let message = resp.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{field}: {message}");
        assert!(!message.contains("scope"), "never a scope error: {message}");
        assert_no_secrets(&resp.text);
    }
    assert!(
        app.slack.requests().is_empty(),
        "a token of the wrong kind is refused before Slack is asked"
    );
    let mut discord = discord_body(&t.org);
    discord["credentials"] = json!({"botToken": "Bearer some-oauth-token"});
    let bearer = t.owner.post("/connections", discord).await;
    assert_eq!(bearer.status, 400, "{}", bearer.text);
    assert_eq!(bearer.error_field(), "credentials.botToken");
    // A value that is not shaped as a bot token is told so, before Discord is asked.
    for malformed in ["Bot just-some-text", "MTIz.abc", "MTIz.a/c.def"] {
        let mut discord = discord_body(&t.org);
        discord["credentials"] = json!({"botToken": malformed});
        let refused = t.owner.post("/connections", discord).await;
        assert_eq!(refused.status, 400, "{malformed}: {}", refused.text);
        assert_eq!(refused.error_field(), "credentials.botToken");
        assert_eq!(refused.error_code(), "ValidationError");
    }
    assert!(
        app.discord.requests().is_empty(),
        "a malformed Discord token is refused before Discord is asked"
    );

    // Pasted with surrounding whitespace (and an app token for Socket Mode): accepted.
    app.slack
        .add_app_token(SLACK_TEAM, "xapp-1-A0APP-123-socketmodesecret");
    let trimmed = t
        .owner
        .post(
            "/connections",
            slack(json!({
                "botToken": format!("  {SLACK_TOKEN}\n"),
                "signingSecret": format!("{SLACK_SIGNING_SECRET} "),
                "appToken": " xapp-1-A0APP-123-socketmodesecret ",
            })),
        )
        .await
        .expect_status(201);
    assert_no_secrets(&trimmed.text);
    assert!(
        !trimmed.text.contains("socketmodesecret"),
        "{}",
        trimmed.text
    );
    // A Discord token pasted with its `Bot ` scheme works as the bare token.
    let mut discord = discord_body(&t.org);
    discord["credentials"] = json!({"botToken": format!("Bot {DISCORD_TOKEN}")});
    let prefixed = t
        .owner
        .post("/connections", discord)
        .await
        .expect_status(201);
    assert_eq!(prefixed.data()["externalBotUserId"], DISCORD_BOT);
}

hazel_testkit::on_every_backend!(
    the_slack_bot_identity_is_stored_and_answered,
    validation_learns_the_bot_identity_of_a_connection_that_has_none,
    pasted_credentials_are_trimmed_and_wrong_kinds_are_named,
    creating_a_slack_connection_validates_and_hides_credentials,
    credentials_are_encrypted_at_rest,
    credentials_copied_to_another_connection_do_not_open,
    slack_refusals_map_to_the_documented_error_codes,
    missing_slack_scopes_are_listed,
    a_token_of_another_workspace_is_refused,
    discord_connections_validate_guild_membership_and_permissions,
    a_discord_bot_missing_permissions_is_told_which,
    one_live_connection_per_workspace_and_reconnect_after_delete,
    without_credentials_the_integration_must_be_connected,
    validate_records_the_outcome_in_the_status,
    updates_change_fields_and_revalidate_credentials,
    members_read_but_only_owners_and_admins_change_connections,
    create_input_is_validated
);
