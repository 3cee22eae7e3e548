//! The Discord Gateway session (`hazel_discord::gateway::run_session`) against the Gateway
//! simulator: Identify with the four intents, dispatches into events, heartbeats, Resume after
//! a drop without loss or duplicate, re-Identify after an invalid session, zombie detection,
//! and fatal close codes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hazel_discord::gateway::{
    GatewayConnection, GatewayFatal, GatewaySettings, GatewaySink, INTENTS, run_session,
};
use hazel_domain::model::chat_sync::{
    BotIdentity, ExternalAppId, ExternalUserId, ExternalWorkspaceId, ProviderErrorCode,
};
use hazel_domain::model::sync::InboundEvent;
use hazel_testkit::sim::discord_gateway::DiscordGatewaySimulator;
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const GUILD: &str = "81384788765712384";
const BOT: &str = "80351110224678912";
const APP: &str = "80351110224678999";
const TOKEN: &str = "MTA4.gateway.secret";
const CHANNEL: &str = "81384788765712390";

#[derive(Default)]
struct Sink {
    events: Mutex<Vec<InboundEvent>>,
    connected: Mutex<Vec<bool>>,
    /// How many of the next `record` calls fail.
    failures: AtomicUsize,
    pins: Mutex<Vec<(String, Option<String>)>>,
}

#[async_trait]
impl GatewaySink for Sink {
    async fn record(&self, events: Vec<InboundEvent>) -> Result<(), String> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err("the database is away".to_owned());
        }
        self.events.lock().expect("not poisoned").extend(events);
        Ok(())
    }

    async fn connected(&self, resumed: bool) {
        self.connected.lock().expect("not poisoned").push(resumed);
    }

    async fn pins_changed(
        &self,
        channel: hazel_domain::model::chat_sync::ExternalChannelId,
        thread: Option<String>,
        _last_pin_timestamp: Option<String>,
    ) {
        self.pins
            .lock()
            .expect("not poisoned")
            .push((channel.as_str().to_owned(), thread));
    }
}

impl Sink {
    fn keys(&self) -> Vec<String> {
        self.events
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|e| e.dedupe_key.as_str().to_owned())
            .collect()
    }

    fn connects(&self) -> Vec<bool> {
        self.connected.lock().expect("not poisoned").clone()
    }
}

struct Running {
    gateway: DiscordGatewaySimulator,
    sink: std::sync::Arc<Sink>,
    stop: watch::Sender<bool>,
    session: JoinHandle<Result<(), GatewayFatal>>,
}

async fn start(script: impl FnOnce(&DiscordGatewaySimulator)) -> Running {
    let gateway = DiscordGatewaySimulator::start().await;
    gateway.add_bot(TOKEN, BOT);
    gateway.set_heartbeat_interval(Duration::from_millis(200));
    script(&gateway);
    let settings = GatewaySettings {
        url: gateway.url().to_owned(),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
    };
    let connection = GatewayConnection {
        guild: ExternalWorkspaceId::parse("g", GUILD).expect("a valid id"),
        token: SecretString::from(TOKEN),
        bot: BotIdentity {
            user_id: ExternalUserId::parse("u", BOT).expect("a valid id"),
            bot_id: None,
            app_id: Some(ExternalAppId::parse("a", APP).expect("a valid id")),
        },
    };
    let sink = std::sync::Arc::new(Sink::default());
    let (stop, stopped) = watch::channel(false);
    let session = {
        let sink = std::sync::Arc::clone(&sink);
        tokio::spawn(
            async move { run_session(&settings, &connection, sink.as_ref(), stopped).await },
        )
    };
    Running {
        gateway,
        sink,
        stop,
        session,
    }
}

/// Polls `check` every 10 ms for at most 20 s.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn message(id: &str) -> serde_json::Value {
    json!({
        "id": id, "channel_id": CHANNEL, "guild_id": GUILD, "content": format!("message {id}"),
        "timestamp": "2024-05-01T10:00:00.000000+00:00", "edited_timestamp": null,
        "author": {"id": "7", "username": "olive"}, "attachments": [],
    })
}

impl Running {
    async fn stop(self) -> Result<(), GatewayFatal> {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(10), self.session)
            .await
            .expect("the session stops when told")
            .expect("the session task does not panic")
    }
}

#[tokio::test]
async fn a_session_identifies_heartbeats_and_turns_dispatches_into_events() {
    let run = start(|_| {}).await;
    eventually("READY", || run.sink.connects() == [false]).await;

    run.gateway.dispatch("MESSAGE_CREATE", message("10"));
    run.gateway
        .dispatch("TYPING_START", json!({"channel_id": CHANNEL}));
    run.gateway.dispatch(
        "MESSAGE_REACTION_ADD",
        json!({"user_id": "7", "channel_id": CHANNEL, "message_id": "10", "guild_id": GUILD,
               "emoji": {"id": null, "name": "👍"}}),
    );
    run.gateway.dispatch(
        "THREAD_CREATE",
        json!({"id": "60", "parent_id": CHANNEL, "guild_id": GUILD, "name": "topic", "type": 11}),
    );
    run.gateway.dispatch(
        "CHANNEL_PINS_UPDATE",
        json!({"guild_id": GUILD, "channel_id": "60", "last_pin_timestamp": "2024-05-01T10:00:00+00:00"}),
    );
    eventually("the pins update", || {
        !run.sink.pins.lock().expect("not poisoned").is_empty()
    })
    .await;
    assert_eq!(
        *run.sink.pins.lock().expect("not poisoned"),
        [(CHANNEL.to_owned(), Some("60".to_owned()))]
    );
    eventually("three events", || run.sink.keys().len() == 3).await;
    eventually("heartbeats", || run.gateway.stats().heartbeats >= 2).await;

    assert_eq!(
        run.sink.keys(),
        [
            "create:10",
            &format!("reaction:add:{CHANNEL}:10:7:👍"),
            "thread:60"
        ]
    );
    assert_eq!(run.gateway.stats().identifies, [INTENTS]);
    assert_eq!(run.stop().await, Ok(()));
}

#[tokio::test]
async fn a_dropped_connection_resumes_without_loss_or_duplicate() {
    let run = start(|_| {}).await;
    eventually("READY", || run.sink.connects() == [false]).await;
    run.gateway.dispatch("MESSAGE_CREATE", message("10"));
    eventually("the first event", || run.sink.keys().len() == 1).await;

    run.gateway.drop_connection();
    // Sent as the connection drops (after it, in order): replayed after Resume.
    run.gateway.dispatch("MESSAGE_CREATE", message("11"));
    eventually("RESUMED", || run.sink.connects() == [false, true]).await;
    eventually("the replayed event", || run.sink.keys().len() == 2).await;
    run.gateway.dispatch("MESSAGE_CREATE", message("12"));
    eventually("the next event", || run.sink.keys().len() == 3).await;

    assert_eq!(run.sink.keys(), ["create:10", "create:11", "create:12"]);
    let stats = run.gateway.stats();
    assert_eq!(stats.identifies.len(), 1);
    assert_eq!(stats.resumes, [2]);
    assert_eq!(run.stop().await, Ok(()));
}

#[tokio::test]
async fn an_unrecorded_dispatch_is_received_again_after_resuming() {
    let run = start(|_| {}).await;
    eventually("READY", || run.sink.connects() == [false]).await;
    run.sink.failures.store(1, Ordering::SeqCst);

    run.gateway.dispatch("MESSAGE_CREATE", message("10"));
    eventually("the event, once recorded", || run.sink.keys().len() == 1).await;

    assert_eq!(run.sink.keys(), ["create:10"]);
    assert_eq!(run.gateway.stats().resumes, [1]);
    assert_eq!(run.stop().await, Ok(()));
}

#[tokio::test]
async fn an_invalid_session_identifies_again_for_a_catch_up() {
    let run = start(|_| {}).await;
    eventually("READY", || run.sink.connects() == [false]).await;

    run.gateway.send_invalid_session();
    eventually("a new session", || run.sink.connects() == [false, false]).await;

    assert_eq!(run.gateway.stats().identifies.len(), 2);
    assert!(run.gateway.stats().resumes.is_empty());
    assert_eq!(run.stop().await, Ok(()));
}

#[tokio::test]
async fn reconnect_requests_and_zombie_connections_resume() {
    let run = start(|_| {}).await;
    eventually("READY", || run.sink.connects() == [false]).await;

    run.gateway.request_reconnect();
    eventually("a resume after op 7", || {
        run.sink.connects() == [false, true]
    })
    .await;
    run.gateway.ack_heartbeats(false);
    eventually("a resume after a missed ACK", || {
        run.gateway.stats().resumes.len() >= 2
    })
    .await;

    assert_eq!(run.gateway.stats().identifies.len(), 1);
    assert_eq!(run.stop().await, Ok(()));
}

#[tokio::test]
async fn a_refused_privileged_intent_is_fatal_and_says_how_to_enable_it() {
    let run = start(|gateway| gateway.refuse_message_content(true)).await;

    let fatal = tokio::time::timeout(Duration::from_secs(10), run.session)
        .await
        .expect("a fatal close ends the session")
        .expect("no panic")
        .unwrap_err();

    assert_eq!(fatal.close_code, 4014);
    assert_eq!(fatal.code, ProviderErrorCode::InsufficientPermissions);
    assert!(fatal.message.contains("Message Content Intent"), "{fatal}");
    assert!(fatal.message.contains("Developer Portal"), "{fatal}");
    assert_eq!(run.gateway.stats().connections, 1, "no loop");
}

#[tokio::test]
async fn a_refused_token_is_fatal_and_never_shown() {
    let gateway = DiscordGatewaySimulator::start().await;
    let settings = GatewaySettings {
        url: gateway.url().to_owned(),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
    };
    let connection = GatewayConnection {
        guild: ExternalWorkspaceId::parse("g", GUILD).expect("a valid id"),
        token: SecretString::from(TOKEN),
        bot: BotIdentity {
            user_id: ExternalUserId::parse("u", BOT).expect("a valid id"),
            bot_id: None,
            app_id: None,
        },
    };
    let (_stop, stopped) = watch::channel(false);

    let fatal = run_session(&settings, &connection, &Sink::default(), stopped)
        .await
        .unwrap_err();

    assert_eq!(fatal.close_code, 4004);
    assert_eq!(fatal.code, ProviderErrorCode::InvalidCredentials);
    assert!(!format!("{fatal} {fatal:?} {connection:?}").contains("gateway.secret"));
    assert_eq!(gateway.stats().connections, 1);
}

#[tokio::test]
async fn a_closed_session_that_may_not_resume_identifies_and_others_resume() {
    let run = start(|_| {}).await;
    eventually("READY", || run.sink.connects() == [false]).await;

    run.gateway.close(4009);
    eventually("a new session after 4009", || {
        run.sink.connects() == [false, false]
    })
    .await;
    run.gateway.close(4000);
    eventually("a resume after 4000", || {
        run.sink.connects() == [false, false, true]
    })
    .await;

    let stats = run.gateway.stats();
    assert_eq!(stats.identifies.len(), 2);
    assert_eq!(stats.resumes.len(), 1);
    assert_eq!(run.stop().await, Ok(()));
}
