//! Proves that a full create / validate / fail / rotate cycle of a connection, and Slack end to
//! end (signed and forged events in, deliveries out, a refused delivery), log no secret, at
//! TRACE level for every crate. A test binary of its own: it installs the process's subscriber.

use hazel_testkit::TestApp;
use hazel_testkit::sim::slack::Failure;
use serde_json::json;

const TOKEN: &str = "xoxb-999-888-neverlogthistoken";
const SIGNING: &str = "signing-neverlogthissecret";
const ROTATED: &str = "xoxb-999-888-rotatedsecrettoken";
const BAD: &str = "xoxb-bad-wrongsecrettoken";

fn body_for(org: &str, token: &str) -> serde_json::Value {
    json!({"organizationId": org, "provider": "slack", "externalWorkspaceId": "T0LOGS",
           "credentials": {"botToken": token, "signingSecret": SIGNING}})
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    hazel_testkit::logs::capture();
    let app = TestApp::spawn().await;
    app.slack.add_workspace("T0LOGS", "Logs Inc");
    app.slack
        .add_bot_token("T0LOGS", TOKEN, hazel_slack::REQUIRED_SCOPES);
    app.slack
        .add_bot_token("T0LOGS", ROTATED, hazel_slack::REQUIRED_SCOPES);
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let body = |token: &str| body_for(&org, token);
    // Refused: an unknown token.
    ada.post("/connections", body(BAD)).await.expect_status(422);
    // Created and validated.
    let id = ada
        .post("/connections", body(TOKEN))
        .await
        .expect_status(201)
        .id();
    ada.post(&format!("/connections/{id}/validate"), json!({}))
        .await
        .expect_status(200);
    // Validation failing at the provider.
    app.slack
        .fail_next("auth.test", Failure::SlackError("invalid_auth".into()));
    let failed = ada
        .post(&format!("/connections/{id}/validate"), json!({}))
        .await
        .expect_status(200);
    assert_eq!(failed.body["valid"], false);
    // Rotation, refused then accepted.
    ada.patch(
        &format!("/connections/{id}"),
        json!({"credentials": {"botToken": BAD, "signingSecret": SIGNING}}),
    )
    .await
    .expect_status(422);
    ada.patch(
        &format!("/connections/{id}"),
        json!({"credentials": {"botToken": ROTATED, "signingSecret": SIGNING}}),
    )
    .await
    .expect_status(200);
    ada.get(&format!("/connections/{id}/channels"))
        .await
        .expect_status(200);
    app.stop().await;
    let first_bearer = ada.token().unwrap().to_owned();

    // Slack end to end: signed events in (one forged), deliveries out, a refused delivery.
    let app = TestApp::spawn_slack_simulated(hazel_testkit::Backend::Sqlite)
        .await
        .unwrap();
    app.slack.add_workspace("T0LOGS", "Logs Inc");
    app.slack
        .add_bot_token("T0LOGS", TOKEN, hazel_slack::REQUIRED_SCOPES);
    app.slack
        .add_channel("T0LOGS", "C0LOGS001", "general", false, 2);
    app.slack.add_user("T0LOGS", "U0LOGS001", "Lou", None);
    app.slack
        .deliver_events_api(&app.slack_events_url(), SIGNING);
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "logs").await;
    let id = ada
        .post("/connections", body_for(&org, TOKEN))
        .await
        .expect_status(201)
        .id();
    ada.post(
        &format!("/connections/{id}/channel-links"),
        json!({"hazelChannelId": channel, "externalChannelId": "C0LOGS001"}),
    )
    .await
    .expect_status(201);
    app.slack.post_as_user("C0LOGS001", "U0LOGS001", "in").await;
    let forged = hazel_testkit::sim::slack::Delivery {
        secret: Some(secrecy::SecretString::from(BAD.to_owned())),
        ..Default::default()
    };
    let payload = app.slack.sent_events()[0].payload.clone();
    assert_eq!(app.slack.send_payload(payload, forged).await, Some(401));
    app.slack.fail_next(
        "chat.postMessage",
        Failure::SlackError("invalid_auth".into()),
    );
    ada.post_message(&channel, "out").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ada.get(&format!("/connections/{id}")).await.data()["status"] != "error" {
        assert!(std::time::Instant::now() < deadline, "no delivery failed");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    app.stop().await;

    let logs = hazel_testkit::logs::captured();
    assert!(
        logs.contains("slackEventsReceive"),
        "the webhook's logs were captured:\n{logs}"
    );
    assert!(
        logs.lines().count() > 10,
        "the capture saw the activity:\n{logs}"
    );
    assert!(
        logs.contains("/api/v1/connections"),
        "request logs were captured:\n{logs}"
    );
    let bearer = ada.token().unwrap();
    for secret in [
        TOKEN,
        SIGNING,
        ROTATED,
        BAD,
        "neverlogthis",
        "secrettoken",
        bearer,
        first_bearer.as_str(),
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} appeared in the logs:\n{logs}"
        );
    }
}

/// Socket Mode: the app token travels only in `apps.connections.open`'s `Authorization`
/// header, and the socket URL's ticket (which attaches anyone to the app's events) is never
/// logged, through opens, a refresh and a dropped socket.
#[tokio::test]
async fn no_app_token_or_socket_ticket_reaches_the_logs() {
    const APP_TOKEN: &str = "xapp-1-A0LOGS-1-neverlogthisapptoken";
    hazel_testkit::logs::capture();
    let app = TestApp::spawn().await;
    app.slack.add_workspace("T0SOCK", "Sockets Inc");
    app.slack.add_bot_token(
        "T0SOCK",
        "xoxb-1-2-sockbottoken",
        hazel_slack::REQUIRED_SCOPES,
    );
    app.slack.add_app_token("T0SOCK", APP_TOKEN);
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    ada.post(
        "/connections",
        json!({"organizationId": org, "provider": "slack", "externalWorkspaceId": "T0SOCK",
               "credentials": {"botToken": "xoxb-1-2-sockbottoken", "signingSecret": SIGNING,
                               "appToken": APP_TOKEN}}),
    )
    .await
    .expect_status(201);
    let opened = |n: u64| {
        let slack = &app.slack;
        async move {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
            while slack.sockets_opened() < n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "socket {n} never opened"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    opened(1).await;
    app.slack.disconnect_sockets("refresh_requested");
    opened(2).await;
    app.slack.drop_sockets();
    opened(3).await;
    let logs = hazel_testkit::logs::captured();
    assert!(
        logs.contains("Slack Socket Mode connected"),
        "the sessions logged nothing"
    );
    assert!(
        !logs.contains("neverlogthisapptoken"),
        "the app token leaked into the logs"
    );
    assert!(
        !logs.contains("sim-ticket-"),
        "a socket ticket leaked into the logs"
    );
}
