//! The outbound port against a scripted Web API (wiremock): method names, parameters and
//! bodies as Slack's Web API spec names them, and failures as `DeliveryError` classes.

use std::time::Duration;

use hazel_domain::ids::{MemberId, MessageId};
use hazel_domain::model::chat_sync::{
    Credentials, ExternalChannelId, ExternalMessageId, ExternalWorkspaceId,
};
use hazel_domain::model::external::ExternalUserId;
use hazel_domain::model::sync::{
    DeliveryError, ExternalRefs, OriginMarker, OutboundMention, OutboundMessage, OutboundTarget,
    Persona, RateLimitScope, ReactionEmoji, ThreadRef, ThreadTarget,
};
use hazel_domain::model::text::{Name, Url};
use hazel_domain::ports::ChatOutbound;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::split::SLACK_MAX_CHARS;
use crate::{SlackProvider, SlackSettings};

const TOKEN: &str = "xoxb-1111-2222-TOPSECRETvalue";
const HAZEL_ID: &str = "01890f3e-7b1a-7cc2-9f00-0123456789ab";
const MEMBER: &str = "01890f3e-7b1a-7cc2-9f00-00000000000a";

fn provider(server: &MockServer) -> SlackProvider {
    let _ = rustls::crypto::ring::default_provider().install_default();
    SlackProvider::new(
        SlackSettings {
            api_url: server.uri(),
        },
        reqwest::Client::new(),
    )
    .with_timeout(Duration::from_secs(5))
}

fn target() -> OutboundTarget {
    OutboundTarget {
        link: hazel_domain::ids::ChannelLinkId::new(),
        workspace: ExternalWorkspaceId::parse("w", "T0TEAM").unwrap(),
        channel: ExternalChannelId::parse("c", "C0CHAN").unwrap(),
        credentials: Credentials::Slack {
            bot_token: SecretString::from(TOKEN),
            signing_secret: SecretString::from("s"),
            app_token: None,
        },
        bot: None,
    }
}

fn origin() -> OriginMarker {
    OriginMarker {
        hazel_message_id: MessageId::parse("m", HAZEL_ID).unwrap(),
    }
}

fn message(content: &str) -> OutboundMessage {
    OutboundMessage {
        persona: Persona {
            name: Name::parse("n", "Alice").unwrap(),
            avatar_url: Some(Url::parse("u", "https://hazel.example/alice.png").unwrap()),
        },
        content: content.to_owned(),
        thread: ThreadTarget::TopLevel,
        origin: origin(),
        attachments: Vec::new(),
        mentions: vec![OutboundMention {
            member_id: MemberId::parse("m", MEMBER).unwrap(),
            external_user_id: Some(ExternalUserId::parse("u", "U0BOB").unwrap()),
            display_name: Name::parse("n", "Bob").unwrap(),
        }],
    }
}

fn ts(raw: &str) -> ExternalMessageId {
    ExternalMessageId::parse("ts", raw).unwrap()
}

fn ok(extra: Value) -> ResponseTemplate {
    let mut body = json!({"ok": true});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn refused(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}))
}

fn bodies(requests: &[wiremock::Request], name: &str) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.url.path() == format!("/{name}"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_post_carries_persona_thread_marker_and_no_unfurls() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(ok(json!({"channel": "C0CHAN", "ts": "1700000000.000100"})))
        .expect(1)
        .mount(&server)
        .await;
    let mut reply = message(&format!("**hi** @[member:{MEMBER}] & <you>"));
    reply.thread = ThreadTarget::Reply(ThreadRef {
        parent: ts("1699999999.000001"),
        channel: None,
    });
    let refs = provider(&server).post(&target(), &reply).await.unwrap();
    assert_eq!(refs, ExternalRefs::single(ts("1700000000.000100")));
    let sent = &bodies(
        &server.received_requests().await.unwrap(),
        "chat.postMessage",
    )[0];
    assert_eq!(
        sent,
        &json!({
            "channel": "C0CHAN",
            "text": "*hi* <@U0BOB> &amp; &lt;you&gt;",
            "username": "Alice",
            "icon_url": "https://hazel.example/alice.png",
            "thread_ts": "1699999999.000001",
            "unfurl_links": false,
            "metadata": {"event_type": "hazel_message", "event_payload": {"hazel_message_id": HAZEL_ID}},
        })
    );
}

#[tokio::test]
async fn a_long_message_is_posted_in_parts_and_a_later_failure_is_ambiguous() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(ok(json!({"ts": "1700000000.000100"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(ok(json!({"ts": "1700000000.000200"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let long = "word ".repeat(SLACK_MAX_CHARS / 5 + 10);
    let refs = provider(&server)
        .post(&target(), &message(&long))
        .await
        .unwrap();
    assert_eq!(refs.parts().len(), 2);
    let sent = bodies(
        &server.received_requests().await.unwrap(),
        "chat.postMessage",
    );
    assert!(
        sent.iter()
            .all(|b| b["text"].as_str().unwrap().chars().count() <= SLACK_MAX_CHARS)
    );
    assert!(
        sent.iter()
            .all(|b| b["metadata"]["event_payload"]["hazel_message_id"] == HAZEL_ID)
    );

    // The next post's second part fails: the first part exists, so the outcome is unknown.
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(refused("internal_error"))
        .mount(&server)
        .await;
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(ok(json!({"ts": "1700000001.000100"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(refused("channel_not_found"))
        .mount(&server)
        .await;
    let failed = provider(&server).post(&target(), &message(&long)).await;
    assert!(
        matches!(failed, Err(DeliveryError::Ambiguous { .. })),
        "{failed:?}"
    );
}

#[tokio::test]
async fn edits_update_parts_and_delete_the_ones_no_longer_needed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .and(body_partial_json(
            json!({"channel": "C0CHAN", "ts": "1.1", "text": "_new_"}),
        ))
        .respond_with(ok(json!({"ts": "1.1"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.delete"))
        .and(body_partial_json(json!({"channel": "C0CHAN", "ts": "1.2"})))
        .respond_with(ok(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let posted = ExternalRefs::new(vec![ts("1.1"), ts("1.2")]).unwrap();
    let now = provider(&server)
        .edit(&target(), &posted, &message("*new*"))
        .await
        .unwrap();
    assert_eq!(now, ExternalRefs::single(ts("1.1")));
}

#[tokio::test]
async fn a_delete_removes_every_part_and_a_missing_root_is_gone() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.delete"))
        .and(body_partial_json(json!({"ts": "1.2"})))
        .respond_with(ok(json!({})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.delete"))
        .and(body_partial_json(json!({"ts": "1.1"})))
        .respond_with(ok(json!({})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.delete"))
        .and(body_partial_json(json!({"ts": "1.1"})))
        .respond_with(refused("message_not_found"))
        .mount(&server)
        .await;
    let posted = ExternalRefs::new(vec![ts("1.1"), ts("1.2")]).unwrap();
    let slack = provider(&server);
    assert_eq!(slack.delete(&target(), &posted).await, Ok(()));
    let again = slack.delete(&target(), &posted).await;
    assert!(
        matches!(again, Err(DeliveryError::Gone { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn reactions_and_pins_use_the_spec_parameters_and_are_idempotent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/reactions.add"))
        .and(body_partial_json(
            json!({"channel": "C0CHAN", "timestamp": "1.1", "name": "+1::skin-tone-3"}),
        ))
        .respond_with(refused("already_reacted"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/reactions.remove"))
        .and(body_partial_json(
            json!({"channel": "C0CHAN", "timestamp": "1.1", "name": "PartyParrot"}),
        ))
        .respond_with(ok(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/pins.add"))
        .and(body_partial_json(
            json!({"channel": "C0CHAN", "timestamp": "1.1"}),
        ))
        .respond_with(ok(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/pins.remove"))
        .and(body_partial_json(
            json!({"channel": "C0CHAN", "timestamp": "1.1"}),
        ))
        .respond_with(refused("no_pin"))
        .expect(1)
        .mount(&server)
        .await;
    let slack = provider(&server);
    let message = ts("1.1");
    assert_eq!(
        slack
            .react(
                &target(),
                &message,
                &ReactionEmoji::Unicode("👍🏼".to_owned())
            )
            .await,
        Ok(())
    );
    assert_eq!(
        slack
            .unreact(
                &target(),
                &message,
                &ReactionEmoji::Custom("PartyParrot".to_owned())
            )
            .await,
        Ok(())
    );
    assert_eq!(slack.pin(&target(), &message).await, Ok(()));
    assert_eq!(slack.unpin(&target(), &message).await, Ok(()));
    let thread = slack.start_thread(&target(), &message, "t").await.unwrap();
    assert_eq!(thread.parent, message);
}

#[tokio::test]
async fn find_by_origin_reads_the_history_or_the_threads_replies_with_metadata_around_the_send_time()
 {
    let server = MockServer::start().await;
    let marker =
        json!({"event_type": "hazel_message", "event_payload": {"hazel_message_id": HAZEL_ID}});
    Mock::given(method("GET"))
        .and(path("/conversations.history"))
        .and(query_param("channel", "C0CHAN"))
        .and(query_param("include_all_metadata", "true"))
        .and(query_param("oldest", "1699999880.000000"))
        .and(query_param("latest", "1700000600.000000"))
        .and(query_param("inclusive", "true"))
        .respond_with(ok(json!({
            "messages": [
                {"type": "message", "ts": "1700000001.000200", "text": "part 2", "metadata": marker},
                {"type": "message", "ts": "1700000001.000150", "text": "other",
                 "metadata": {"event_type": "hazel_message", "event_payload": {"hazel_message_id": MEMBER}}},
                {"type": "message", "ts": "1700000001.000100", "text": "part 1", "metadata": marker},
                {"type": "message", "ts": "1700000000.000100", "text": "no marker"}
            ],
            "has_more": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/conversations.replies"))
        .and(query_param("ts", "1699999000.000100"))
        .and(query_param("include_all_metadata", "true"))
        .respond_with(ok(json!({"messages": [{"type": "message", "ts": "1699999000.000100"}], "has_more": false})))
        .expect(1)
        .mount(&server)
        .await;
    let slack = provider(&server);
    let sent_at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let found = slack
        .find_by_origin(&target(), &message("part 1"), sent_at)
        .await
        .unwrap();
    assert_eq!(
        found,
        ExternalRefs::new(vec![ts("1700000001.000100"), ts("1700000001.000200")])
    );
    let thread = ThreadRef {
        parent: ts("1699999000.000100"),
        channel: None,
    };
    let mut reply = message("in the thread");
    reply.thread = ThreadTarget::Reply(thread);
    assert_eq!(
        slack.find_by_origin(&target(), &reply, sent_at).await,
        Ok(None)
    );
}

#[tokio::test]
async fn failures_are_classified_and_never_show_the_token() {
    let server = MockServer::start().await;
    let slack = provider(&server);
    let table: Vec<(ResponseTemplate, &str)> = vec![
        (
            ResponseTemplate::new(429).insert_header("retry-after", "7"),
            "RATE_LIMITED",
        ),
        (refused("ratelimited"), "RATE_LIMITED"),
        (refused("invalid_auth"), "AUTH"),
        (refused("token_revoked"), "AUTH"),
        (refused("account_inactive"), "AUTH"),
        (refused("not_in_channel"), "AUTH"),
        (refused("missing_scope"), "AUTH"),
        (refused("channel_not_found"), "REJECTED"),
        (refused("msg_too_long"), "REJECTED"),
        (refused("message_not_found"), "GONE"),
        (refused("internal_error"), "AMBIGUOUS"),
        (ResponseTemplate::new(503), "TRANSIENT"),
        (
            ResponseTemplate::new(200).set_body_string("<html>"),
            "AMBIGUOUS",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": TOKEN})),
            "REJECTED",
        ),
    ];
    for (response, class) in table {
        server.reset().await;
        Mock::given(method("POST"))
            .and(path("/chat.update"))
            .respond_with(response)
            .mount(&server)
            .await;
        let posted = ExternalRefs::single(ts("1.1"));
        let error = slack
            .edit(&target(), &posted, &message("x"))
            .await
            .unwrap_err();
        assert_eq!(error.class(), class, "{error:?}");
        assert!(!error.to_string().contains("TOPSECRET"), "{error}");
    }
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "7"))
        .mount(&server)
        .await;
    assert_eq!(
        slack.post(&target(), &message("x")).await,
        Err(DeliveryError::RateLimited {
            retry_after: Duration::from_secs(7),
            scope: RateLimitScope::Route,
        })
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .unwrap();
    let address = socket.local_addr().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let slack = SlackProvider::new(
        SlackSettings {
            api_url: format!("http://{address}"),
        },
        reqwest::Client::new(),
    );
    let error = slack.post(&target(), &message("x")).await.unwrap_err();
    assert_eq!(error.class(), "TRANSIENT", "{error:?}");
}

#[test]
fn long_persona_names_are_cut_and_attachments_become_links() {
    let mut long = message("see");
    long.persona.name = Name::parse("n", &"n".repeat(100)).unwrap_or(long.persona.name);
    let body = crate::post_body("C0CHAN", &long, "x");
    assert!(body["username"].as_str().unwrap().chars().count() <= crate::MAX_USERNAME_CHARS);
    let mut with_file = message("see");
    with_file.attachments = vec![hazel_domain::model::message::Attachment {
        url: Url::parse("u", "https://files.example/a|b.pdf").unwrap(),
        name: Name::parse("n", "a & b.pdf").unwrap(),
        content_type: None,
    }];
    assert_eq!(
        crate::message_parts(&with_file),
        vec!["see\n<https://files.example/a%7Cb.pdf|a &amp; b.pdf>".to_owned()]
    );
}
