//! Proves that a full create / validate / fail / rotate cycle of a connection logs no secret, at
//! TRACE level for every crate. A test binary of its own: it installs the process's subscriber.

use hazel_testkit::TestApp;
use hazel_testkit::sim::slack::Failure;
use serde_json::json;

const TOKEN: &str = "xoxb-999-888-neverlogthistoken";
const SIGNING: &str = "signing-neverlogthissecret";
const ROTATED: &str = "xoxb-999-888-rotatedsecrettoken";
const BAD: &str = "xoxb-bad-wrongsecrettoken";

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
    let body = |token: &str| {
        json!({"organizationId": org, "provider": "slack", "externalWorkspaceId": "T0LOGS",
               "credentials": {"botToken": token, "signingSecret": SIGNING}})
    };
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

    let logs = hazel_testkit::logs::captured();
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
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} appeared in the logs:\n{logs}"
        );
    }
}
