//! The Discord outbound adapter (`DiscordOutbound`) against the Discord simulator: webhooks,
//! personas, splitting, threads, reactions, pins, rate limits and ambiguous sends, every call
//! checked against Discord's spec.

use std::time::Duration;

use hazel_discord::{
    DiscordOutbound, DiscordSettings, MAX_MESSAGE_CHARS, REQUIRED_PERMISSION_BITS, WEBHOOK_NAME,
};
use hazel_domain::ids::{ChannelLinkId, MemberId, MessageId};
use hazel_domain::model::chat_sync::{
    BotIdentity, Credentials, ExternalAppId, ExternalChannelId, ExternalMessageId, ExternalUserId,
    ExternalWorkspaceId,
};
use hazel_domain::model::sync::{
    DeliveryError, OriginMarker, OutboundMention, OutboundMessage, OutboundTarget, Persona,
    RateLimitScope, ReactionEmoji, ThreadRef, ThreadTarget,
};
use hazel_domain::model::text::{Name, Url};
use hazel_domain::ports::ChatOutbound;
use hazel_testkit::sim::DiscordSimulator;
use hazel_testkit::sim::discord::{ChannelKind, Failure};
use secrecy::SecretString;
use serde_json::json;

const GUILD: &str = "81384788765712384";
const BOT: &str = "80351110224678912";
const TOKEN: &str = "MTA4.simulated.secret";
const GENERAL: &str = "81384788765712390";
const RANDOM: &str = "81384788765712391";
const MEMBER: &str = "01890f3e-7b1a-7cc2-9f00-0123456789ab";
const ALICE: &str = "80351110224678000";

struct Setup {
    sim: DiscordSimulator,
    outbound: DiscordOutbound,
    app_id: String,
}

async fn setup() -> Setup {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = DiscordSimulator::start().await;
    sim.add_guild(GUILD, "Acme Guild");
    sim.add_bot(TOKEN, BOT, "hazel");
    sim.add_bot_to_guild(GUILD, BOT, REQUIRED_PERMISSION_BITS);
    sim.add_channel(GUILD, GENERAL, "general", ChannelKind::Text, false);
    sim.add_channel(GUILD, RANDOM, "random", ChannelKind::Text, false);
    let outbound = DiscordOutbound::new(
        &DiscordSettings { api_url: sim.url() },
        reqwest::Client::new(),
    )
    .with_timeout(Duration::from_secs(5));
    let app_id = sim.application_id(TOKEN);
    Setup {
        sim,
        outbound,
        app_id,
    }
}

impl Setup {
    fn target(&self, channel: &str) -> OutboundTarget {
        OutboundTarget {
            // One link per channel, the same at every call.
            link: ChannelLinkId::parse(
                "l",
                &format!(
                    "01890f3e-7b1a-7cc2-9f00-{}",
                    &format!("{channel:0>12}")[channel.len().max(12) - 12..]
                ),
            )
            .expect("test values are valid"),
            workspace: ExternalWorkspaceId::parse("w", GUILD).expect("test values are valid"),
            channel: ExternalChannelId::parse("c", channel).expect("test values are valid"),
            credentials: Credentials::Discord {
                bot_token: SecretString::from(TOKEN),
                application_id: None,
            },
            bot: Some(BotIdentity {
                user_id: ExternalUserId::parse("u", BOT).expect("test values are valid"),
                bot_id: None,
                app_id: Some(
                    ExternalAppId::parse("a", &self.app_id).expect("test values are valid"),
                ),
            }),
        }
    }
}

fn message(content: &str, author: &str) -> OutboundMessage {
    OutboundMessage {
        persona: Persona {
            name: Name::parse("n", author).expect("test values are valid"),
            avatar_url: Some(
                Url::parse("a", "https://hazel.example/avatars/olive.png")
                    .expect("test values are valid"),
            ),
        },
        content: content.to_owned(),
        thread: ThreadTarget::TopLevel,
        origin: OriginMarker {
            hazel_message_id: MessageId::new(),
        },
        attachments: Vec::new(),
        mentions: vec![OutboundMention {
            member_id: MemberId::parse("m", MEMBER).expect("test values are valid"),
            external_user_id: Some(
                ExternalUserId::parse("u", ALICE).expect("test values are valid"),
            ),
            display_name: Name::parse("n", "Alice").expect("test values are valid"),
        }],
    }
}

fn id(raw: &str) -> ExternalMessageId {
    ExternalMessageId::parse("id", raw).expect("test values are valid")
}

#[tokio::test]
async fn a_post_goes_through_the_channels_webhook_made_on_first_use_under_the_persona() {
    let s = setup().await;
    let target = s.target(GENERAL);

    let first = s
        .outbound
        .post(
            &target,
            &message(
                &format!("hi @[member:{MEMBER}] and @everyone"),
                "Discord Clyde",
            ),
        )
        .await
        .unwrap();
    let second = s
        .outbound
        .post(&target, &message("**again**", "Olive"))
        .await
        .unwrap();

    let hooks = s.sim.webhooks(GENERAL);
    assert_eq!(hooks.len(), 1, "one webhook per channel: {hooks:?}");
    assert_eq!(hooks[0].1, WEBHOOK_NAME);
    let posted = s.sim.messages(GENERAL);
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0].id, first.root().as_str());
    assert_eq!(posted[1].id, second.root().as_str());
    assert_eq!(posted[0].content, format!("hi <@{ALICE}> and \\@everyone"));
    // Discord refuses "discord" and "clyde" in usernames: adapted, not refused.
    assert_eq!(posted[0].username, "Disc0rd Clyd3");
    assert_eq!(posted[1].username, "Olive");
    assert_eq!(
        posted[0].avatar_url.as_deref(),
        Some("https://hazel.example/avatars/olive.png")
    );
    assert_eq!(
        posted[0].allowed_mentions,
        Some(json!({"parse": [], "users": [ALICE], "replied_user": false}))
    );
    assert!(
        posted
            .iter()
            .all(|m| m.webhook_id.as_deref() == Some(hooks[0].0.as_str()))
    );
    let requests = s.sim.requests();
    let executions: Vec<_> = requests
        .iter()
        .filter(|r| r.route == "/webhooks/{webhook_id}/{webhook_token}")
        .collect();
    assert_eq!(executions.len(), 2);
    assert!(executions.iter().all(|r| r.param("wait") == Some("true")));
    // The webhook's token travels in the path only, and is never recorded.
    for request in &requests {
        assert!(
            !request.path.contains("simulated-webhook-token"),
            "{}",
            request.path
        );
    }
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn an_existing_webhook_of_the_bot_is_reused_by_a_new_process() {
    let s = setup().await;
    let target = s.target(GENERAL);
    s.outbound
        .post(&target, &message("one", "Olive"))
        .await
        .unwrap();
    let restarted = DiscordOutbound::new(
        &DiscordSettings {
            api_url: s.sim.url(),
        },
        reqwest::Client::new(),
    );

    restarted
        .post(&target, &message("two", "Olive"))
        .await
        .unwrap();

    assert_eq!(s.sim.webhooks(GENERAL).len(), 1);
    assert_eq!(s.sim.messages(GENERAL).len(), 2);
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn long_messages_are_split_and_edits_and_deletes_follow_every_part() {
    let s = setup().await;
    let target = s.target(GENERAL);
    let paragraph = "word ".repeat(300);
    let long = format!("{paragraph}\n\n{paragraph}\n\n{paragraph}");

    let posted = s
        .outbound
        .post(&target, &message(&long, "Olive"))
        .await
        .unwrap();

    assert_eq!(posted.parts().len(), 3, "{posted:?}");
    let messages = s.sim.messages(GENERAL);
    assert_eq!(messages.len(), 3);
    assert!(
        messages
            .iter()
            .all(|m| m.content.chars().count() <= MAX_MESSAGE_CHARS)
    );

    let shorter = s
        .outbound
        .edit(&target, &posted, &message("now short", "Olive"))
        .await
        .unwrap();
    assert_eq!(shorter.parts(), &posted.parts()[..1]);
    let messages = s.sim.messages(GENERAL);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].content, "now short");
    assert!(messages[0].edited);

    let longer = s
        .outbound
        .edit(&target, &shorter, &message(&long, "Olive"))
        .await
        .unwrap();
    assert_eq!(longer.parts().len(), 3);
    assert_eq!(longer.root(), posted.root());
    assert_eq!(s.sim.messages(GENERAL).len(), 3);

    s.outbound.delete(&target, &longer).await.unwrap();
    assert!(s.sim.messages(GENERAL).is_empty());
    let again = s.outbound.delete(&target, &longer).await.unwrap_err();
    assert_eq!(again.class(), "GONE", "{again:?}");
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn threads_start_from_the_parent_and_replies_are_posted_reacted_and_pinned_in_them() {
    let s = setup().await;
    let target = s.target(GENERAL);
    let parent = s
        .outbound
        .post(&target, &message("parent", "Olive"))
        .await
        .unwrap();

    let thread = s
        .outbound
        .start_thread(&target, parent.root(), "parent")
        .await
        .unwrap();
    let mut reply = message("a reply", "Mia");
    reply.thread = ThreadTarget::Reply(thread.clone());
    let posted = s.outbound.post(&target, &reply).await.unwrap();
    // Starting it again answers the same thread.
    let again = s
        .outbound
        .start_thread(&target, parent.root(), "parent")
        .await
        .unwrap();

    let thread_id = thread.channel.clone().unwrap();
    assert_eq!(thread_id.as_str(), parent.root().as_str());
    assert_eq!(again, thread);
    assert_eq!(
        s.sim.thread(parent.root().as_str()).as_deref(),
        Some("parent")
    );
    let in_thread = s.sim.messages(thread_id.as_str());
    assert_eq!(in_thread.len(), 1);
    assert_eq!(
        posted.root().as_str(),
        format!("{}/{}", thread_id.as_str(), in_thread[0].id)
    );

    let thumbs = ReactionEmoji::Unicode("👍🏼".to_owned());
    s.outbound
        .react(&target, posted.root(), &thumbs)
        .await
        .unwrap();
    s.outbound
        .react(&target, parent.root(), &thumbs)
        .await
        .unwrap();
    s.outbound.pin(&target, posted.root()).await.unwrap();
    // A custom emoji the guild lacks is no reaction, and no error.
    s.outbound
        .react(
            &target,
            parent.root(),
            &ReactionEmoji::Custom("PartyParrot".to_owned()),
        )
        .await
        .unwrap();
    let in_thread = s.sim.messages(thread_id.as_str());
    assert_eq!(in_thread[0].reactions, ["👍🏼"]);
    assert!(in_thread[0].pinned);
    assert_eq!(s.sim.messages(GENERAL)[0].reactions, ["👍🏼"]);

    s.outbound
        .unreact(&target, posted.root(), &thumbs)
        .await
        .unwrap();
    s.outbound.unpin(&target, posted.root()).await.unwrap();
    let edited = s
        .outbound
        .edit(&target, &posted, &{
            let mut edit = message("edited reply", "Mia");
            edit.thread = ThreadTarget::Reply(thread.clone());
            edit
        })
        .await
        .unwrap();
    let in_thread = s.sim.messages(thread_id.as_str());
    assert!(in_thread[0].reactions.is_empty() && !in_thread[0].pinned);
    assert_eq!(in_thread[0].content, "edited reply");
    s.outbound.delete(&target, &edited).await.unwrap();
    assert!(s.sim.messages(thread_id.as_str()).is_empty());
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn a_reply_to_a_parent_without_a_known_thread_channel_uses_the_starter_id() {
    let s = setup().await;
    let target = s.target(GENERAL);
    let parent = s
        .outbound
        .post(&target, &message("parent", "Olive"))
        .await
        .unwrap();
    s.outbound
        .start_thread(&target, parent.root(), "topic")
        .await
        .unwrap();
    let mut reply = message("reply", "Mia");
    reply.thread = ThreadTarget::Reply(ThreadRef {
        parent: parent.root().clone(),
        channel: None,
    });

    s.outbound.post(&target, &reply).await.unwrap();

    assert_eq!(s.sim.messages(parent.root().as_str()).len(), 1);
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn a_reply_to_a_parent_without_a_thread_starts_it_once_and_later_replies_reuse_it() {
    let s = setup().await;
    let target = s.target(GENERAL);
    let parent = s
        .outbound
        .post(
            &target,
            &message("\n  What about **Friday**?\nmore", "Olive"),
        )
        .await
        .unwrap();
    let reply_to = |text: &str| {
        let mut reply = message(text, "Mia");
        reply.thread = ThreadTarget::Reply(ThreadRef {
            parent: parent.root().clone(),
            channel: None,
        });
        reply
    };
    let thread_starts = |sim: &DiscordSimulator| {
        sim.requests()
            .iter()
            .filter(|r| r.route == "/channels/{channel_id}/messages/{message_id}/threads")
            .count()
    };

    let first = s.outbound.post(&target, &reply_to("first")).await.unwrap();
    let second = s.outbound.post(&target, &reply_to("second")).await.unwrap();

    // Discord refuses a webhook execution whose thread does not exist (10003): the thread
    // was started from the parent, named after its first line, and both replies are in it.
    let starter = parent.root().as_str();
    assert_eq!(
        s.sim.thread(starter).as_deref(),
        Some("What about **Friday**?")
    );
    let in_thread: Vec<_> = s
        .sim
        .messages(starter)
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(in_thread, ["first", "second"]);
    assert!(first.root().as_str().starts_with(&format!("{starter}/")));
    assert!(second.root().as_str().starts_with(&format!("{starter}/")));
    assert_eq!(
        thread_starts(&s.sim),
        1,
        "the second reply reuses the thread"
    );
    assert_eq!(
        s.sim.messages(GENERAL).len(),
        1,
        "no reply at the top level"
    );

    // Another process (or this one after a restart) does not know the thread: Discord
    // answers "already created" and the reply joins the same thread.
    let restarted = DiscordOutbound::new(
        &DiscordSettings {
            api_url: s.sim.url(),
        },
        reqwest::Client::new(),
    );
    restarted.post(&target, &reply_to("third")).await.unwrap();
    assert_eq!(s.sim.messages(starter).len(), 3);
    assert_eq!(s.sim.messages(GENERAL).len(), 1);
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn the_simulator_refuses_a_webhook_execution_in_a_thread_that_does_not_exist() {
    let s = setup().await;
    let target = s.target(GENERAL);
    let parent = s
        .outbound
        .post(&target, &message("parent", "Olive"))
        .await
        .unwrap();
    let mut reply = message("reply", "Mia");
    // A thread channel the domain believes in, but that Discord never made.
    reply.thread = ThreadTarget::Reply(ThreadRef {
        parent: parent.root().clone(),
        channel: Some(ExternalChannelId::parse("c", parent.root().as_str()).unwrap()),
    });

    let refused = s.outbound.post(&target, &reply).await.unwrap_err();

    assert_eq!(refused.class(), "REJECTED", "{refused:?}");
    assert!(s.sim.messages(parent.root().as_str()).is_empty());
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn a_spent_bucket_holds_its_channel_only_and_a_global_limit_holds_all() {
    let s = setup().await;
    let general = s.target(GENERAL);
    let random = s.target(RANDOM);
    // Create both webhooks first, then spend the execute bucket.
    s.outbound
        .post(&general, &message("warm", "Olive"))
        .await
        .unwrap();
    s.outbound
        .post(&random, &message("warm", "Olive"))
        .await
        .unwrap();
    s.sim
        .set_bucket("/webhooks/{webhook_id}/{webhook_token}", 0, 30.0);
    s.outbound
        .post(&general, &message("spends", "Olive"))
        .await
        .unwrap();
    let before = s.sim.requests().len();

    let held = s
        .outbound
        .post(&general, &message("held", "Olive"))
        .await
        .unwrap_err();

    let DeliveryError::RateLimited { retry_after, scope } = held else {
        panic!("expected a rate limit, got {held:?}");
    };
    assert_eq!(scope, RateLimitScope::Route);
    assert!(retry_after > Duration::from_secs(25) && retry_after <= Duration::from_secs(30));
    assert_eq!(
        s.sim.requests().len(),
        before,
        "a spent bucket is not called"
    );
    // Another channel's webhook has its own bucket (the simulator spends it on its first use).
    s.outbound
        .post(&random, &message("free", "Olive"))
        .await
        .unwrap();

    let s = setup().await;
    let general = s.target(GENERAL);
    let random = s.target(RANDOM);
    s.outbound
        .post(&general, &message("warm", "Olive"))
        .await
        .unwrap();
    s.outbound
        .post(&random, &message("warm", "Olive"))
        .await
        .unwrap();
    s.sim.fail_next(
        "POST /webhooks/{webhook_id}/{webhook_token}",
        Failure::GlobalRateLimited {
            retry_after_seconds: 20.0,
        },
    );
    let global = s
        .outbound
        .post(&general, &message("x", "Olive"))
        .await
        .unwrap_err();
    let before = s.sim.requests().len();
    let other = s
        .outbound
        .post(&random, &message("y", "Olive"))
        .await
        .unwrap_err();
    for error in [global, other] {
        assert!(
            matches!(
                error,
                DeliveryError::RateLimited {
                    scope: RateLimitScope::Global,
                    ..
                }
            ),
            "{error:?}"
        );
    }
    assert_eq!(s.sim.requests().len(), before);
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn a_429_waits_its_retry_after_on_its_route() {
    let s = setup().await;
    let target = s.target(GENERAL);
    s.sim.fail_next(
        "/channels/{channel_id}/webhooks",
        Failure::RateLimited {
            retry_after_seconds: 2.5,
        },
    );

    let limited = s
        .outbound
        .post(&target, &message("x", "Olive"))
        .await
        .unwrap_err();

    assert_eq!(
        limited,
        DeliveryError::RateLimited {
            retry_after: Duration::from_secs(3),
            scope: RateLimitScope::Route,
        }
    );
    assert!(s.sim.messages(GENERAL).is_empty());
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn an_ambiguous_send_is_found_before_it_is_sent_again() {
    let s = setup().await;
    let target = s.target(GENERAL);
    s.outbound
        .post(&target, &message("warm", "Olive"))
        .await
        .unwrap();
    s.sim
        .apply_then_drop("/webhooks/{webhook_id}/{webhook_token}");
    let lost = message("did it arrive?", "Olive");
    let sent_at = time::OffsetDateTime::now_utc();

    let error = s.outbound.post(&target, &lost).await.unwrap_err();
    let found = s
        .outbound
        .find_by_origin(&target, &lost, sent_at)
        .await
        .unwrap();

    assert_eq!(error.class(), "AMBIGUOUS", "{error:?}");
    let messages = s.sim.messages(GENERAL);
    assert_eq!(messages.len(), 2);
    assert_eq!(
        found.map(|refs| refs.root().clone()),
        Some(id(&messages[1].id))
    );
    // A reply lost the same way is found in its thread.
    s.outbound
        .start_thread(&target, &id(&messages[1].id), "topic")
        .await
        .unwrap();
    let mut reply = message("in the thread", "Mia");
    let reply_thread = ThreadRef {
        parent: id(&messages[1].id),
        channel: None,
    };
    reply.thread = ThreadTarget::Reply(reply_thread.clone());
    s.sim
        .apply_then_drop("/webhooks/{webhook_id}/{webhook_token}");
    let lost_reply = s.outbound.post(&target, &reply).await.unwrap_err();
    let found_reply = s
        .outbound
        .find_by_origin(&target, &reply, sent_at)
        .await
        .unwrap();
    let in_thread = s.sim.messages(&messages[1].id);
    assert_eq!(lost_reply.class(), "AMBIGUOUS");
    assert_eq!(
        found_reply.map(|refs| refs.root().as_str().to_owned()),
        Some(format!("{}/{}", messages[1].id, in_thread[0].id))
    );
    // A send that never left is not found, so it may be sent again.
    let never = message("never sent", "Olive");
    assert_eq!(
        s.outbound
            .find_by_origin(&target, &never, sent_at)
            .await
            .unwrap(),
        None
    );
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn a_restarted_process_finds_the_lost_send_of_the_one_before_and_completes_its_parts() {
    let s = setup().await;
    let target = s.target(GENERAL);
    let long = format!("same-words-{}", "x".repeat(MAX_MESSAGE_CHARS + 10));
    // An earlier message of the same persona with the same text is not the lost one.
    let earlier = s
        .outbound
        .post(&target, &message(&long, "Olive"))
        .await
        .unwrap();
    assert_eq!(earlier.parts().len(), 2);
    let sent_at = time::OffsetDateTime::now_utc();
    let lost = message(&long, "Olive");
    // The first part goes out, its answer is lost, and the process stops there.
    s.sim
        .apply_then_drop("/webhooks/{webhook_id}/{webhook_token}");
    let error = s.outbound.post(&target, &lost).await.unwrap_err();
    assert_eq!(error.class(), "AMBIGUOUS", "{error:?}");
    assert_eq!(s.sim.messages(GENERAL).len(), 3);

    let restarted = DiscordOutbound::new(
        &DiscordSettings {
            api_url: s.sim.url(),
        },
        reqwest::Client::new(),
    )
    .with_timeout(Duration::from_secs(5));
    let found = restarted
        .find_by_origin(&target, &lost, sent_at)
        .await
        .unwrap()
        .expect("the first part is found");

    let messages = s.sim.messages(GENERAL);
    assert_eq!(
        messages.len(),
        4,
        "the missing part is posted, nothing twice"
    );
    let ids: Vec<String> = found
        .parts()
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect();
    assert_eq!(ids, vec![messages[2].id.clone(), messages[3].id.clone()]);
    assert_ne!(ids[0], earlier.root().as_str());
    let text: String = messages[2..].iter().map(|m| m.content.as_str()).collect();
    assert_eq!(text, long);
    // Resolved again (another lost answer), nothing more is posted.
    let again = restarted
        .find_by_origin(&target, &lost, sent_at)
        .await
        .unwrap();
    assert_eq!(again, Some(found));
    assert_eq!(s.sim.messages(GENERAL).len(), 4);
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn failures_are_classified_for_the_delivery_workers() {
    let s = setup().await;
    let target = s.target(GENERAL);
    let posted = s
        .outbound
        .post(&target, &message("x", "Olive"))
        .await
        .unwrap();

    let unknown = s
        .outbound
        .react(
            &target,
            &id("81384788765712999"),
            &ReactionEmoji::Unicode("👍".to_owned()),
        )
        .await
        .unwrap_err();
    s.sim.fail_next(
        "/channels/{channel_id}/messages/pins/{message_id}",
        Failure::Unauthorized,
    );
    let unauthorized = s.outbound.pin(&target, posted.root()).await.unwrap_err();
    s.sim.fail_next(
        "/channels/{channel_id}/messages/pins/{message_id}",
        Failure::Forbidden,
    );
    let forbidden = s.outbound.pin(&target, posted.root()).await.unwrap_err();
    s.sim.fail_next(
        "/webhooks/{webhook_id}/{webhook_token}",
        Failure::ServerError,
    );
    let server = s
        .outbound
        .post(&target, &message("y", "Olive"))
        .await
        .unwrap_err();
    s.sim.fail_next(
        "/webhooks/{webhook_id}/{webhook_token}",
        Failure::DropConnection,
    );
    let dropped = s
        .outbound
        .post(&target, &message("z", "Olive"))
        .await
        .unwrap_err();

    assert_eq!(unknown.class(), "GONE", "{unknown:?}");
    assert_eq!(unauthorized.class(), "AUTH");
    assert_eq!(forbidden.class(), "AUTH");
    assert_eq!(server.class(), "TRANSIENT");
    assert_eq!(dropped.class(), "AMBIGUOUS");
    for error in [&unknown, &unauthorized, &forbidden, &server, &dropped] {
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("simulated"), "a secret leaked: {shown}");
    }
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn the_simulator_refuses_what_discord_refuses() {
    let s = setup().await;
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{}/channels/{GENERAL}/webhooks", s.sim.url()))
        .header("authorization", format!("Bot {TOKEN}"))
        .json(&json!({"name": "Hazel"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!(
        "{}/webhooks/{}/{}?wait=true",
        s.sim.url(),
        created["id"].as_str().unwrap(),
        created["token"].as_str().unwrap()
    );
    for body in [
        json!({"content": "x", "username": "my discord bot"}),
        json!({"content": "x", "username": "CLYDE"}),
        json!({"content": "x", "username": "a".repeat(81)}),
        json!({"content": "x".repeat(2001), "username": "ok"}),
    ] {
        let answer = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{body}");
        let error: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(error["code"], 50_035);
    }
    let ok = http
        .post(&url)
        .json(&json!({"content": "x".repeat(2000), "username": "ok"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(s.sim.take_violations().len(), 4);
}

#[tokio::test]
async fn catch_up_reads_a_channel_after_the_last_synced_message_in_order_across_pages() {
    let s = setup().await;
    let target = s.target(GENERAL);
    let ours = s
        .outbound
        .post(&target, &message("from Hazel", "Olive"))
        .await
        .unwrap();
    let first = s
        .sim
        .post_as_user(GENERAL, "7", "olive", "before the outage");
    let missed: Vec<String> = (0..105)
        .map(|n| {
            s.sim
                .post_as_user(GENERAL, "7", "olive", &format!("missed {n}"))
        })
        .collect();
    let history = hazel_discord::DiscordHistory::new(
        &DiscordSettings {
            api_url: s.sim.url(),
        },
        reqwest::Client::new(),
    );
    let bot = target.bot.clone().unwrap();
    let mut decoder = hazel_discord::intake::Decoder::new(target.workspace.clone(), bot);

    let since_first = history
        .since(
            &mut decoder,
            &SecretString::from(TOKEN),
            &target.channel,
            &first,
            10,
        )
        .await
        .unwrap();
    let everything = history
        .since(
            &mut decoder,
            &SecretString::from(TOKEN),
            &target.channel,
            "0",
            10,
        )
        .await
        .unwrap();

    let keys: Vec<String> = since_first
        .iter()
        .map(|e| e.dedupe_key.as_str().to_owned())
        .collect();
    let expected: Vec<String> = missed.iter().map(|id| format!("create:{id}")).collect();
    assert_eq!(keys, expected);
    // Our own webhook's message is left out, as it is live.
    assert_eq!(everything.len(), 106);
    assert!(
        everything
            .iter()
            .all(|e| e.dedupe_key.as_str() != format!("create:{}", ours.root().as_str()))
    );
    let pages = s
        .sim
        .requests()
        .iter()
        .filter(|r| r.route == "/channels/{channel_id}/messages")
        .count();
    assert_eq!(pages, 4, "two pages each");
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn pins_are_read_back_and_compared_into_pin_events() {
    let s = setup().await;
    let target = s.target(GENERAL);
    let first = s
        .outbound
        .post(&target, &message("one", "Olive"))
        .await
        .unwrap();
    let second = s
        .outbound
        .post(&target, &message("two", "Olive"))
        .await
        .unwrap();
    s.outbound.pin(&target, first.root()).await.unwrap();
    let history = hazel_discord::DiscordHistory::new(
        &DiscordSettings {
            api_url: s.sim.url(),
        },
        reqwest::Client::new(),
    );
    let token = SecretString::from(TOKEN);
    let before = history.pinned(&token, GENERAL, false).await.unwrap();

    s.outbound.unpin(&target, first.root()).await.unwrap();
    s.outbound.pin(&target, second.root()).await.unwrap();
    let now = history.pinned(&token, GENERAL, false).await.unwrap();
    let events = hazel_discord::intake::pin_changes(
        &target.workspace,
        &target.channel,
        &before,
        &now,
        "2024-05-01T10:00:00+00:00",
    );

    assert_eq!(before, [first.root().clone()]);
    assert_eq!(now, [second.root().clone()]);
    let keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!(
                "pin:add:{GENERAL}:{}:2024-05-01T10:00:00+00:00",
                second.root().as_str()
            ),
            format!(
                "pin:remove:{GENERAL}:{}:2024-05-01T10:00:00+00:00",
                first.root().as_str()
            ),
        ]
    );
    s.sim.assert_no_violations();
}

#[tokio::test]
async fn the_reader_port_reads_a_gap_without_our_messages_and_answers_profiles() {
    use hazel_domain::model::sync::InboundEventKind;
    use hazel_domain::ports::{ChatReader, HistoryRequest};
    let s = setup().await;
    let target = s.target(GENERAL);
    let last_synced = s.sim.post_as_user(GENERAL, "7", "olive", "synced already");
    s.outbound
        .post(&target, &message("from Hazel", "Olive"))
        .await
        .unwrap();
    let missed: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|text| s.sim.post_as_user(GENERAL, "7", "olive", text))
        .collect();
    let reader = hazel_discord::DiscordHistory::new(
        &DiscordSettings {
            api_url: s.sim.url(),
        },
        reqwest::Client::new(),
    );
    let request = HistoryRequest {
        workspace: target.workspace.clone(),
        channel: target.channel.clone(),
        credentials: target.credentials.clone(),
        bot: target.bot.clone(),
        after: Some(id(&last_synced)),
        since: time::OffsetDateTime::now_utc(),
    };

    let events = reader.history_since(&request).await.unwrap();

    // Oldest first, with the Gateway's dedupe keys; the webhook's message is left out.
    let read: Vec<(String, String)> = events
        .iter()
        .map(|event| match &event.kind {
            InboundEventKind::MessageCreated(m) => {
                (event.dedupe_key.as_str().to_owned(), m.text.clone())
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected: Vec<(String, String)> = missed
        .iter()
        .zip(["one", "two", "three"])
        .map(|(id, text)| (format!("create:{id}"), text.to_owned()))
        .collect();
    assert_eq!(read, expected);

    // Nothing synced yet: from the link's creation time on.
    let from_creation = HistoryRequest {
        after: None,
        since: time::OffsetDateTime::now_utc() - time::Duration::hours(1),
        ..request.clone()
    };
    assert_eq!(reader.history_since(&from_creation).await.unwrap().len(), 4);

    // Without the bot's identity its own messages could not be left out: refused.
    let anonymous = HistoryRequest {
        bot: None,
        ..request.clone()
    };
    let refused = reader.history_since(&anonymous).await.unwrap_err();
    assert_eq!(refused.class(), "AUTH", "{refused:?}");

    // Profiles: a guild member (the bot), a poster who is no member (the user route), and
    // nobody.
    let user = |raw: &str| ExternalUserId::parse("u", raw).unwrap();
    let bot = reader
        .user_profile(&target.workspace, &target.credentials, &user(BOT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bot.name, "hazel");
    let olive = reader
        .user_profile(&target.workspace, &target.credentials, &user("7"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(olive.name, "olive");
    let nobody = reader
        .user_profile(&target.workspace, &target.credentials, &user("8"))
        .await
        .unwrap();
    assert_eq!(nobody, None);
    s.sim.assert_no_violations();
}
