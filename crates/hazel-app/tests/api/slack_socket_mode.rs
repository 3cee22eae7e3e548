//! Slack Socket Mode: a connection with an `appToken` opens the websocket itself, acks every
//! envelope after recording its events, reconnects when Slack asks or the socket drops, and
//! runs in one process only.

use std::time::Duration;

use hazel_testkit::TestApp;
use hazel_testkit::eventually;
use hazel_testkit::sim::slack_socket::{event_callback, message_event};
use serde_json::{Value, json};

use crate::chat_sync::*;

const APP_TOKEN: &str = "xapp-1-A0APP-111-socketsecretapptoken";

/// A Socket Mode connection with `C0GENERAL` linked to a Hazel channel, its socket open.
struct Socketed {
    team: Team,
    connection: String,
    channel: String,
}

async fn socketed(app: &TestApp) -> Socketed {
    let team = team(app).await;
    slack_workspace(app);
    app.slack.add_app_token(SLACK_TEAM, APP_TOKEN);
    let mut body = slack_body(&team.org);
    body["credentials"]["appToken"] = json!(format!("  {APP_TOKEN}\n"));
    let connection = team
        .owner
        .post("/connections", body)
        .await
        .expect_status(201)
        .id();
    let channel = team.owner.create_channel(&team.org, "general").await;
    team.owner
        .post(
            &format!("/connections/{connection}/channel-links"),
            json!({"hazelChannelId": channel, "externalChannelId": "C0GENERAL"}),
        )
        .await
        .expect_status(201);
    eventually("the socket to open", || async {
        (app.slack.open_sockets() == 1).then_some(())
    })
    .await;
    Socketed {
        team,
        connection,
        channel,
    }
}

fn said(event_id: &str, ts: &str, text: &str) -> Value {
    let app_id = "A0APP";
    event_callback(
        SLACK_TEAM,
        app_id,
        event_id,
        message_event(SLACK_TEAM, "C0GENERAL", "U0SAM", text, ts),
    )
}

async fn messages(s: &Socketed) -> Vec<Value> {
    s.team
        .owner
        .get(&format!("/channels/{}/messages", s.channel))
        .await
        .expect_status(200)
        .data()
        .as_array()
        .unwrap()
        .clone()
}

async fn inbound_deliveries(s: &Socketed) -> Vec<Value> {
    s.team
        .owner
        .get(&format!(
            "/connections/{}/deliveries?direction=inbound",
            s.connection
        ))
        .await
        .expect_status(200)
        .data()
        .as_array()
        .unwrap()
        .clone()
}

async fn envelopes_are_acked_and_their_events_recorded_once(app: TestApp) {
    let s = socketed(&app).await;
    let first = app
        .slack
        .push_event(
            SLACK_TEAM,
            said("Ev0S1", "1700000001.000100", "over the socket"),
        )
        .expect("an open socket");
    eventually("the ack", || async {
        app.slack.socket_acks().contains(&first).then_some(())
    })
    .await;
    let synced = eventually("the message in Hazel", || async {
        let listed = messages(&s).await;
        (!listed.is_empty()).then_some(listed)
    })
    .await;
    assert_eq!(synced.len(), 1);
    assert_eq!(synced[0]["content"], "over the socket");
    assert_eq!(synced[0]["author"]["externalProvider"], "slack");
    // Slack redelivers the same event (a retry, or under a new event id): one message.
    let again = app
        .slack
        .push_event(
            SLACK_TEAM,
            said("Ev0S1", "1700000001.000100", "over the socket"),
        )
        .unwrap();
    let redelivered = app
        .slack
        .push_event(
            SLACK_TEAM,
            said("Ev0S1b", "1700000001.000100", "over the socket"),
        )
        .unwrap();
    eventually("both acks", || async {
        let acks = app.slack.socket_acks();
        (acks.contains(&again) && acks.contains(&redelivered)).then_some(())
    })
    .await;
    eventually("the receipts processed", || async {
        let receipts = inbound_deliveries(&s).await;
        receipts
            .iter()
            .all(|r| r["status"] != "pending")
            .then_some(())
    })
    .await;
    assert_eq!(
        messages(&s).await.len(),
        1,
        "one message for one Slack message"
    );
    let receipts = inbound_deliveries(&s).await;
    assert!(
        !receipts.is_empty() && receipts.len() <= 2,
        "the retry with the same event id records no receipt: {receipts:?}"
    );
    // Every envelope was acknowledged exactly once.
    let acks = app.slack.socket_acks();
    assert_eq!(acks.len(), 3, "{acks:?}");
    app.slack.assert_no_violations();
    let opens = app
        .slack
        .requests()
        .into_iter()
        .filter(|r| r.route == "apps.connections.open")
        .collect::<Vec<_>>();
    // One when the credentials were validated, one for the socket.
    assert_eq!(opens.len(), 2);
    assert!(
        opens
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer [redacted]") && r.body.is_none())
    );
}

async fn a_disconnect_request_is_followed_by_a_new_socket(app: TestApp) {
    let s = socketed(&app).await;
    app.slack.disconnect_sockets("refresh_requested");
    eventually("the second socket", || async {
        (app.slack.sockets_opened() == 2 && app.slack.open_sockets() == 1).then_some(())
    })
    .await;
    let id = app
        .slack
        .push_event(
            SLACK_TEAM,
            said("Ev0S2", "1700000002.000100", "after the refresh"),
        )
        .unwrap();
    let sent = app.slack.sent_envelopes();
    assert_eq!(sent.last().unwrap().socket, 2, "sent on the new socket");
    eventually("the ack on the new socket", || async {
        app.slack.socket_acks().contains(&id).then_some(())
    })
    .await;
    eventually("the message in Hazel", || async {
        (messages(&s).await.len() == 1).then_some(())
    })
    .await;
    // Each socket had a ticket of its own (beside the validation's).
    let opens = app
        .slack
        .requests()
        .iter()
        .filter(|r| r.route == "apps.connections.open")
        .count();
    assert_eq!(opens, 3);
    assert_eq!(app.slack.socket_handshakes_refused(), 0);
}

async fn a_dropped_socket_is_replaced_with_backoff(app: TestApp) {
    let s = socketed(&app).await;
    // The next open fails once: the session backs off and tries again.
    app.slack.fail_next(
        "apps.connections.open",
        hazel_testkit::sim::slack::Failure::ServerError,
    );
    app.slack.drop_sockets();
    eventually("a new socket after the failure", || async {
        (app.slack.sockets_opened() == 2 && app.slack.open_sockets() == 1).then_some(())
    })
    .await;
    let opens = app
        .slack
        .requests()
        .iter()
        .filter(|r| r.route == "apps.connections.open")
        .count();
    assert_eq!(
        opens, 4,
        "the validation's, the first socket's, the failed one, the one that worked"
    );
    let id = app
        .slack
        .push_event(
            SLACK_TEAM,
            said("Ev0S3", "1700000003.000100", "after the drop"),
        )
        .unwrap();
    eventually("the ack", || async {
        app.slack.socket_acks().contains(&id).then_some(())
    })
    .await;
    eventually("the message in Hazel", || async {
        (messages(&s).await.len() == 1).then_some(())
    })
    .await;
}

async fn a_second_process_opens_no_second_socket_until_the_first_is_gone(mut app: TestApp) {
    let _s = socketed(&app).await;
    let second = app
        .spawn_beside(Some(hazel_testkit::app::test_workers()))
        .await;
    // Several scans of the second process (250 ms each) and lease renewals (500 ms) pass.
    let watched_until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < watched_until {
        assert_eq!(app.slack.open_sockets(), 1, "one socket for one connection");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.slack.sockets_opened(), 1);
    // The first process dies without releasing anything: the second takes over once the
    // lease (2 s) expires.
    app.kill().await;
    eventually("the second process's socket", || async {
        (app.slack.sockets_opened() == 2 && app.slack.open_sockets() == 1).then_some(())
    })
    .await;
    let id = app
        .slack
        .push_event(SLACK_TEAM, said("Ev0S4", "1700000004.000100", "taken over"))
        .unwrap();
    eventually("the ack from the second process", || async {
        app.slack.socket_acks().contains(&id).then_some(())
    })
    .await;
    second.stop().await;
}

/// Another holder takes the lease over (its fencing token replaced in the row, as a process
/// that found the lease expired would): the holder's next heartbeat finds it lost and closes
/// its socket; once that lease expires in turn, a socket opens again.
async fn a_lost_lease_stops_the_holders_socket(app: TestApp) {
    use sea_orm::{ConnectionTrait as _, Statement};
    let s = socketed(&app).await;
    let db = crate::raw_db(&app).await;
    let stolen = db
        .execute_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "UPDATE chat_sync_session_leases SET token = '{}' WHERE connection_id = '{}'",
                hazel_domain::ids::LeaseToken::new(),
                s.connection
            ),
        ))
        .await
        .unwrap();
    assert_eq!(
        stolen.rows_affected(),
        1,
        "the connection's lease row exists"
    );
    eventually("the holder to close its socket", || async {
        (app.slack.open_sockets() == 0).then_some(())
    })
    .await;
    assert_eq!(app.slack.sockets_opened(), 1);
    // The stolen lease was never renewed: after its 2 s it is free, and taken again.
    eventually("a socket under a new lease", || async {
        (app.slack.sockets_opened() == 2 && app.slack.open_sockets() == 1).then_some(())
    })
    .await;
}

/// New credentials (a rotated app token) restart the session on them: the old socket closes
/// and a new one opens, through a fresh `apps.connections.open`.
async fn new_credentials_restart_the_socket(app: TestApp) {
    const ROTATED: &str = "xapp-1-A0APP-222-rotatedsecretapptoken";
    let s = socketed(&app).await;
    app.slack.add_app_token(SLACK_TEAM, ROTATED);
    s.team
        .owner
        .patch(
            &format!("/connections/{}", s.connection),
            json!({"credentials": {
                "botToken": SLACK_TOKEN,
                "signingSecret": SLACK_SIGNING_SECRET,
                "appToken": ROTATED,
            }}),
        )
        .await
        .expect_status(200);
    eventually("the socket on the new token", || async {
        (app.slack.sockets_opened() == 2 && app.slack.open_sockets() == 1).then_some(())
    })
    .await;
    let id = app
        .slack
        .push_event(SLACK_TEAM, said("Ev0S5", "1700000005.000100", "rotated"))
        .unwrap();
    eventually("the ack on the new socket", || async {
        app.slack.socket_acks().contains(&id).then_some(())
    })
    .await;
}

/// An app token Slack does not know is refused when it is given, naming the field and the
/// fix, and nothing is stored; a wrong kind of token never reaches Slack.
async fn a_wrong_app_token_is_refused_when_given(app: TestApp) {
    let t = team(&app).await;
    slack_workspace(&app);
    let mut body = slack_body(&t.org);
    body["credentials"]["appToken"] = json!("xapp-1-A0APP-9-notknowntoslack");
    let refused = t
        .owner
        .post("/connections", body.clone())
        .await
        .expect_status(422);
    assert_eq!(refused.error_code(), "INVALID_CREDENTIALS");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("credentials.appToken") && message.contains("connections:write"),
        "{message}"
    );
    assert!(
        !refused.text.contains("notknowntoslack"),
        "{}",
        refused.text
    );
    body["credentials"]["appToken"] = json!(SLACK_TOKEN);
    let wrong_kind = t.owner.post("/connections", body).await.expect_status(400);
    assert_eq!(wrong_kind.error_field(), "credentials.appToken");
    assert_no_secrets(&wrong_kind.text);
    let listed = t
        .owner
        .get(&format!("/connections?organizationId={}", t.org))
        .await
        .expect_status(200);
    assert!(listed.data().as_array().unwrap().is_empty());
    assert_eq!(app.slack.sockets_opened(), 0);
}

async fn a_connection_without_an_app_token_opens_no_socket(app: TestApp) {
    let t = team(&app).await;
    connect_slack(&app, &t.owner, &t.org).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.slack.sockets_opened(), 0);
    assert!(
        !app.slack
            .requests()
            .iter()
            .any(|r| r.route == "apps.connections.open")
    );
}

async fn disconnecting_the_connection_closes_its_socket(app: TestApp) {
    let s = socketed(&app).await;
    s.team
        .owner
        .patch(
            &format!("/connections/{}", s.connection),
            json!({"status": "disconnected"}),
        )
        .await
        .expect_status(200);
    eventually("the socket to close", || async {
        (app.slack.open_sockets() == 0).then_some(())
    })
    .await;
}

async fn the_app_token_is_never_answered(app: TestApp) {
    let s = socketed(&app).await;
    let shown = s
        .team
        .owner
        .get(&format!("/connections/{}", s.connection))
        .await
        .expect_status(200);
    assert!(
        !shown.text.contains("socketsecretapptoken"),
        "{}",
        shown.text
    );
    assert!(!shown.text.contains("sim-ticket-"), "{}", shown.text);
}

hazel_testkit::on_every_backend!(
    envelopes_are_acked_and_their_events_recorded_once,
    a_disconnect_request_is_followed_by_a_new_socket,
    a_dropped_socket_is_replaced_with_backoff,
    a_second_process_opens_no_second_socket_until_the_first_is_gone,
    a_lost_lease_stops_the_holders_socket,
    new_credentials_restart_the_socket,
    a_wrong_app_token_is_refused_when_given,
    a_connection_without_an_app_token_opens_no_socket,
    disconnecting_the_connection_closes_its_socket,
    the_app_token_is_never_answered
);
