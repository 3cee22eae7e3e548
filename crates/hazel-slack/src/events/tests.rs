//! Decoding of realistic Events API payloads (shapes of Slack's Events API spec).

use hazel_domain::model::chat_sync::Credentials;
use hazel_domain::model::sync::{
    ExternalMention, InboundError, InboundInput, InboundOutcome, ReactionEmoji,
};
use hazel_domain::ports::ChatInbound;
use secrecy::SecretString;
use serde_json::json;

use super::*;
use crate::inbound::SlackInbound;
use crate::signature::sign;

const HAZEL_ID: &str = "01890f3e-7b1a-7cc2-9f00-0123456789ab";

fn callback(event: Value) -> Vec<u8> {
    json!({
        "token": "XXYYZZ",
        "team_id": "T0TEAM",
        "api_app_id": "A0APP",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev0001",
        "event_time": 1_700_000_000,
        "authed_users": ["U0BOT"],
    })
    .to_string()
    .into_bytes()
}

fn event_of(body: &[u8]) -> InboundEvent {
    match decode(body).unwrap() {
        SlackPayload::Callback(SlackCallback {
            event: Decoded::Event(event),
            ..
        }) => *event,
        other => panic!("not an event: {other:?}"),
    }
}

fn ignored(body: &[u8]) -> IgnoreReason {
    match decode(body).unwrap() {
        SlackPayload::Callback(SlackCallback {
            event: Decoded::Ignored(reason),
            ..
        }) => reason,
        other => panic!("not ignored: {other:?}"),
    }
}

fn created(event: &InboundEvent) -> &ExternalMessage {
    match &event.kind {
        InboundEventKind::MessageCreated(message) => message,
        other => panic!("not a creation: {other:?}"),
    }
}

fn plain_message() -> Value {
    json!({
        "type": "message",
        "channel": "C0CHAN",
        "user": "U0ALICE",
        "text": "Hello <@U0BOB> and <!here>, *bold*",
        "ts": "1700000000.000100",
        "event_ts": "1700000000.000100",
        "channel_type": "channel",
        "team": "T0TEAM",
        "user_profile": {"display_name": "alice", "real_name": "Alice A", "image_72": "https://a.slack-edge.com/alice.png"}
    })
}

#[test]
fn a_url_verification_is_a_challenge() {
    let body = json!({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"});
    assert_eq!(
        decode(body.to_string().as_bytes()).unwrap(),
        SlackPayload::UrlVerification {
            challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".to_owned()
        }
    );
}

#[test]
fn a_plain_message_is_created_with_its_author_mentions_and_key() {
    let event = event_of(&callback(plain_message()));
    assert_eq!(event.workspace.as_str(), "T0TEAM");
    assert_eq!(event.channel.as_str(), "C0CHAN");
    assert_eq!(
        event.dedupe_key.as_str(),
        "T0TEAM:C0CHAN:1700000000.000100:create"
    );
    assert_eq!(event.occurred_at.unix_timestamp(), 1_700_000_000);
    let message = created(&event);
    assert_eq!(message.id.as_str(), "1700000000.000100");
    assert_eq!(message.author.id.as_str(), "U0ALICE");
    assert_eq!(message.author.name, "alice");
    assert_eq!(message.author.kind, AuthorKind::Person);
    assert_eq!(
        message.author.avatar_url.as_ref().map(Url::as_str),
        Some("https://a.slack-edge.com/alice.png")
    );
    assert_eq!(message.text, "Hello <@U0BOB> and <!here>, *bold*");
    assert_eq!(
        message.mentions,
        vec![
            ExternalMention::User(ExternalUserId::parse("u", "U0BOB").unwrap()),
            ExternalMention::Here
        ]
    );
    assert_eq!(message.thread, None);
    assert_eq!(message.origin, None);
}

#[test]
fn the_same_message_under_a_new_event_id_has_the_same_key() {
    let first = event_of(&callback(plain_message()));
    let mut body: Value = serde_json::from_slice(&callback(plain_message())).unwrap();
    body["event_id"] = json!("Ev0002");
    let again = event_of(body.to_string().as_bytes());
    assert_eq!(first.dedupe_key, again.dedupe_key);
}

#[test]
fn replies_and_broadcasts_carry_their_thread() {
    let mut reply = plain_message();
    reply["ts"] = json!("1700000050.000200");
    reply["thread_ts"] = json!("1700000000.000100");
    let event = event_of(&callback(reply));
    assert_eq!(
        created(&event).thread.as_ref().map(|t| t.parent.as_str()),
        Some("1700000000.000100")
    );

    let mut broadcast = plain_message();
    broadcast["subtype"] = json!("thread_broadcast");
    broadcast["ts"] = json!("1700000060.000300");
    broadcast["thread_ts"] = json!("1700000000.000100");
    let event = event_of(&callback(broadcast));
    assert_eq!(
        created(&event).thread.as_ref().map(|t| t.parent.as_str()),
        Some("1700000000.000100")
    );

    // A thread's parent names itself as thread_ts: it is no reply.
    let mut parent = plain_message();
    parent["thread_ts"] = json!("1700000000.000100");
    assert_eq!(created(&event_of(&callback(parent))).thread, None);
}

#[test]
fn a_file_share_carries_its_files_as_links() {
    let mut share = plain_message();
    share["subtype"] = json!("file_share");
    share["files"] = json!([{
        "id": "F0FILE", "name": "report.pdf", "title": "Report", "mimetype": "application/pdf",
        "url_private": "https://files.slack.com/files-pri/T0TEAM-F0FILE/report.pdf",
        "permalink": "https://team.slack.com/files/U0ALICE/F0FILE/report.pdf"
    }]);
    let event = event_of(&callback(share));
    let attachments = &created(&event).attachments;
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].name.as_str(), "report.pdf");
    assert_eq!(
        attachments[0].url.as_str(),
        "https://files.slack.com/files-pri/T0TEAM-F0FILE/report.pdf"
    );
    assert_eq!(
        attachments[0].content_type.as_ref().map(Opaque::as_str),
        Some("application/pdf")
    );
}

#[test]
fn our_marker_is_the_origin_and_bots_are_bots() {
    let mut ours = plain_message();
    ours["user"] = json!("U0BOT");
    ours["bot_id"] = json!("B0BOT");
    ours["app_id"] = json!("A0APP");
    ours["username"] = json!("Alice (Hazel)");
    ours["metadata"] =
        json!({"event_type": "hazel_message", "event_payload": {"hazel_message_id": HAZEL_ID}});
    let event = event_of(&callback(ours));
    let message = created(&event);
    assert_eq!(
        message.origin.map(|o| o.hazel_message_id.to_string()),
        Some(HAZEL_ID.to_owned())
    );
    assert_eq!(
        message.author.kind,
        AuthorKind::Bot {
            bot_id: Some(ExternalBotId::parse("b", "B0BOT").unwrap())
        }
    );
    let bot = BotIdentity {
        user_id: ExternalUserId::parse("u", "U0BOT").unwrap(),
        bot_id: Some(ExternalBotId::parse("b", "B0BOT").unwrap()),
        app_id: None,
    };
    assert!(is_own_bot(&message.author, &bot));

    // Another bot (a CI integration) is content, not ours, and carries no origin.
    let mut other = plain_message();
    other["subtype"] = json!("bot_message");
    other.as_object_mut().unwrap().remove("user");
    other.as_object_mut().unwrap().remove("user_profile");
    other["bot_id"] = json!("B0CI");
    other["username"] = json!("CI");
    other["metadata"] =
        json!({"event_type": "deploy", "event_payload": {"hazel_message_id": HAZEL_ID}});
    let event = event_of(&callback(other));
    let message = created(&event);
    assert_eq!(message.author.id.as_str(), "B0CI");
    assert_eq!(message.author.name, "CI");
    assert_eq!(message.origin, None);
    assert!(!is_own_bot(&message.author, &bot));
}

#[test]
fn an_edit_is_the_message_as_it_is_now() {
    let body = callback(json!({
        "type": "message", "subtype": "message_changed", "hidden": true,
        "channel": "C0CHAN", "ts": "1700000100.000500", "event_ts": "1700000100.000500",
        "message": {
            "type": "message", "user": "U0ALICE", "text": "Hello, edited",
            "ts": "1700000000.000100", "edited": {"user": "U0ALICE", "ts": "1700000100.000000"}
        },
        "previous_message": {"type": "message", "user": "U0ALICE", "text": "Hello", "ts": "1700000000.000100"}
    }));
    let event = event_of(&body);
    assert_eq!(
        event.dedupe_key.as_str(),
        "T0TEAM:C0CHAN:1700000000.000100:edit:1700000100.000000"
    );
    match event.kind {
        InboundEventKind::MessageEdited(message) => {
            assert_eq!(message.id.as_str(), "1700000000.000100");
            assert_eq!(message.text, "Hello, edited");
        }
        other => panic!("not an edit: {other:?}"),
    }
}

#[test]
fn a_change_without_a_text_edit_is_ignored() {
    // A reply bumps the parent's reply_count: Slack sends message_changed without `edited`.
    let body = callback(json!({
        "type": "message", "subtype": "message_changed", "hidden": true,
        "channel": "C0CHAN", "ts": "1700000100.000500", "event_ts": "1700000100.000500",
        "message": {"type": "message", "user": "U0ALICE", "text": "Hello", "ts": "1700000000.000100", "reply_count": 1},
        "previous_message": {"type": "message", "user": "U0ALICE", "text": "Hello", "ts": "1700000000.000100"}
    }));
    assert_eq!(ignored(&body), IgnoreReason::NotAnEdit);
}

#[test]
fn a_deletion_names_the_deleted_message() {
    let body = callback(json!({
        "type": "message", "subtype": "message_deleted", "hidden": true,
        "channel": "C0CHAN", "ts": "1700000200.000600", "deleted_ts": "1700000000.000100",
        "event_ts": "1700000200.000600",
        "previous_message": {"type": "message", "user": "U0ALICE", "text": "Hello", "ts": "1700000000.000100"}
    }));
    let event = event_of(&body);
    assert_eq!(
        event.dedupe_key.as_str(),
        "T0TEAM:C0CHAN:1700000000.000100:delete"
    );
    assert_eq!(
        event.kind,
        InboundEventKind::MessageDeleted {
            message: ExternalMessageId::parse("ts", "1700000000.000100").unwrap()
        }
    );
}

#[test]
fn reactions_carry_the_emoji_with_its_skin_tone() {
    let reaction = |kind: &str, name: &str, event_ts: &str| {
        callback(json!({
            "type": kind, "user": "U0BOB", "reaction": name, "item_user": "U0ALICE",
            "item": {"type": "message", "channel": "C0CHAN", "ts": "1700000000.000100"},
            "event_ts": event_ts
        }))
    };
    let added = event_of(&reaction(
        "reaction_added",
        "+1::skin-tone-3",
        "1700000300.000100",
    ));
    assert_eq!(added.channel.as_str(), "C0CHAN");
    assert_eq!(
        added.kind,
        InboundEventKind::ReactionAdded {
            message: ExternalMessageId::parse("ts", "1700000000.000100").unwrap(),
            user: ExternalUserId::parse("u", "U0BOB").unwrap(),
            emoji: ReactionEmoji::Unicode("👍🏼".to_owned()),
        }
    );
    let removed = event_of(&reaction(
        "reaction_removed",
        "PartyParrot",
        "1700000301.000100",
    ));
    assert!(matches!(
        removed.kind,
        InboundEventKind::ReactionRemoved { emoji: ReactionEmoji::Custom(ref name), .. } if name == "PartyParrot"
    ));
    // Adding the same reaction again later is a new event; a redelivery is not.
    let again = event_of(&reaction(
        "reaction_added",
        "+1::skin-tone-3",
        "1700000400.000100",
    ));
    assert_ne!(added.dedupe_key, again.dedupe_key);
    let redelivered = event_of(&reaction(
        "reaction_added",
        "+1::skin-tone-3",
        "1700000300.000100",
    ));
    assert_eq!(added.dedupe_key, redelivered.dedupe_key);
    // A reaction on a file is not a message's.
    let on_file = callback(json!({
        "type": "reaction_added", "user": "U0BOB", "reaction": "tada",
        "item": {"type": "file", "file": "F0FILE"}, "event_ts": "1700000300.000100"
    }));
    assert_eq!(
        ignored(&on_file),
        IgnoreReason::NotAMessage("file".to_owned())
    );
}

#[test]
fn pins_name_the_message_and_who_pinned_it() {
    let pin = |kind: &str| {
        callback(json!({
            "type": kind, "user": "U0ALICE", "channel_id": "C0CHAN",
            "item": {"type": "message", "channel": "C0CHAN", "created_by": "U0ALICE",
                     "message": {"type": "message", "user": "U0BOB", "text": "pin me", "ts": "1700000000.000100"}},
            "event_ts": "1700000500.000100"
        }))
    };
    let added = event_of(&pin("pin_added"));
    assert_eq!(
        added.kind,
        InboundEventKind::PinAdded {
            message: ExternalMessageId::parse("ts", "1700000000.000100").unwrap(),
            by: Some(ExternalUserId::parse("u", "U0ALICE").unwrap()),
        }
    );
    assert!(matches!(
        event_of(&pin("pin_removed")).kind,
        InboundEventKind::PinRemoved { .. }
    ));
}

#[test]
fn system_subtypes_and_other_events_are_ignored_with_a_reason() {
    for subtype in [
        "channel_join",
        "channel_topic",
        "channel_purpose",
        "channel_name",
        "bot_add",
    ] {
        let mut event = plain_message();
        event["subtype"] = json!(subtype);
        assert_eq!(
            ignored(&callback(event)),
            IgnoreReason::SystemSubtype(subtype.to_owned()),
            "{subtype}"
        );
    }
    let other =
        callback(json!({"type": "channel_created", "channel": {"id": "C1"}, "event_ts": "1.2"}));
    assert_eq!(
        ignored(&other),
        IgnoreReason::UnsupportedEvent("channel_created".to_owned())
    );
    assert!(
        IgnoreReason::SystemSubtype("channel_join".to_owned())
            .describe()
            .contains("channel_join")
    );
}

#[test]
fn unreadable_bodies_are_malformed() {
    for body in [
        b"not json".to_vec(),
        json!({"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}})
            .to_string()
            .into_bytes(),
        callback(json!({"type": "message", "channel": "C0CHAN", "text": "no ts", "user": "U1"})),
    ] {
        assert!(matches!(decode(&body), Err(DecodeError::Malformed { .. })));
    }
}

#[test]
fn timestamps_parse_with_their_microseconds() {
    let at = parse_ts("1525215129.000001").unwrap();
    assert_eq!(at.unix_timestamp(), 1_525_215_129);
    assert_eq!(at.microsecond(), 1);
    assert_eq!(parse_ts("x.1"), None);
}

fn input(body: &[u8], timestamp: i64, signature: &str) -> InboundInput {
    InboundInput {
        headers: vec![
            (
                "x-slack-request-timestamp".to_owned(),
                timestamp.to_string(),
            ),
            ("x-slack-signature".to_owned(), signature.to_owned()),
            ("x-slack-retry-num".to_owned(), "1".to_owned()),
        ],
        body: body.to_vec(),
        received_at: Timestamp::from_unix_timestamp(timestamp).unwrap(),
    }
}

fn credentials(secret: &str) -> Credentials {
    Credentials::Slack {
        bot_token: SecretString::from("xoxb-1".to_owned()),
        signing_secret: SecretString::from(secret.to_owned()),
        app_token: None,
    }
}

#[tokio::test]
async fn the_port_verifies_then_decodes() {
    let inbound = SlackInbound;
    let secret = SecretString::from("signing".to_owned());
    let now = Timestamp::from_unix_timestamp(1_700_000_000).unwrap();
    let body = callback(plain_message());
    let signed = input(&body, 1_700_000_000, &sign(&secret, 1_700_000_000, &body));

    assert_eq!(inbound.workspace_of(&signed).unwrap().as_str(), "T0TEAM");
    let outcome = inbound
        .verify_and_decode(&signed, &credentials("signing"), now)
        .await
        .unwrap();
    assert!(matches!(outcome, InboundOutcome::Events(ref events) if events.len() == 1));

    let forged = inbound
        .verify_and_decode(&signed, &credentials("other"), now)
        .await;
    assert!(matches!(forged, Err(InboundError::Unauthenticated { .. })));

    let stale = inbound
        .verify_and_decode(
            &signed,
            &credentials("signing"),
            now + time::Duration::seconds(301),
        )
        .await;
    assert_eq!(stale, Err(InboundError::Stale));

    let challenge = json!({"token": "t", "challenge": "c-1", "type": "url_verification"})
        .to_string()
        .into_bytes();
    let check = input(
        &challenge,
        1_700_000_000,
        &sign(&secret, 1_700_000_000, &challenge),
    );
    assert!(SlackInbound::is_url_verification(&check));
    assert!(matches!(
        inbound.workspace_of(&check),
        Err(InboundError::Malformed { .. })
    ));
    assert_eq!(
        inbound
            .verify_and_decode(&check, &credentials("signing"), now)
            .await,
        Ok(InboundOutcome::Challenge("c-1".to_owned()))
    );

    let mut join = plain_message();
    join["subtype"] = json!("channel_join");
    let join = callback(join);
    let join = input(&join, 1_700_000_000, &sign(&secret, 1_700_000_000, &join));
    assert_eq!(
        inbound
            .verify_and_decode(&join, &credentials("signing"), now)
            .await,
        Ok(InboundOutcome::Events(Vec::new()))
    );
}
