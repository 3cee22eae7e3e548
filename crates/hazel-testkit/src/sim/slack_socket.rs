//! Socket Mode for the Slack simulator: app-level tokens, `apps.connections.open` (checked
//! against the spec supplement `specs/slack/socket_mode.json`, Slack's method documentation
//! written down), and a websocket listener speaking Slack's Socket Mode frames — `hello` on
//! connect, `events_api` envelopes, `disconnect` — that records every acknowledgement.
//!
//! The listener shares nothing with the Web API server but this hub: `apps.connections.open`
//! issues one-use tickets here, and the listener accepts a socket only for a ticket it
//! issued, as Slack does. Envelopes are pushed with [`SlackSimulator::push_event`], which
//! takes the `event_callback` payload an Events API request would carry (build one with
//! [`event_callback`]), so one payload builder can feed both transports.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

use super::slack::SlackSimulator;

/// What a frame sent to a socket is.
#[derive(Debug)]
enum Outgoing {
    /// A text frame.
    Frame(String),
    /// Close the socket (after the frames before it).
    Close,
    /// Drop the connection at once, without a close frame.
    Drop,
}

/// An app-level token and what it belongs to.
#[derive(Clone, Debug)]
struct AppToken {
    team_id: String,
    app_id: String,
}

#[derive(Debug)]
struct OpenSocket {
    team_id: String,
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

/// One envelope sent, and the socket it went to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentEnvelope {
    /// Its `envelope_id`.
    pub envelope_id: String,
    /// The socket it was sent on (numbered in the order sockets connected, from 1).
    pub socket: u64,
}

#[derive(Debug, Default)]
struct HubState {
    address: Option<SocketAddr>,
    /// App tokens (secrets) → their app.
    app_tokens: HashMap<String, AppToken>,
    /// Tickets issued by `apps.connections.open` and not used yet.
    tickets: HashMap<String, AppToken>,
    sockets: BTreeMap<u64, OpenSocket>,
    /// Sockets accepted so far (also the number of the last one).
    opened: u64,
    /// Handshakes refused (no or an unknown ticket).
    refused: u64,
    sent: Vec<SentEnvelope>,
    acks: Vec<String>,
    next_ticket: u64,
    next_envelope: u64,
    /// Which of a team's sockets the next envelope goes to.
    turn: usize,
}

/// The Socket Mode side of the simulator's state, shared with its websocket listener.
#[derive(Clone, Debug, Default)]
pub(crate) struct SocketHub(Arc<Mutex<HubState>>);

/// The running websocket listener; stops (closing every socket) when dropped.
#[derive(Debug)]
pub(crate) struct SocketServer {
    task: JoinHandle<()>,
}

impl Drop for SocketServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SocketHub {
    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Binds a websocket listener on a free loopback port and serves it.
    pub(crate) async fn listen(&self) -> SocketServer {
        let listener = TcpListener::bind(super::any_loopback_port())
            .await
            .expect("binding the Socket Mode listener");
        self.lock().address = listener.local_addr().ok();
        let hub = self.clone();
        let task = tokio::spawn(async move {
            // The sockets' tasks die with the listener's.
            let mut sockets = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let hub = hub.clone();
                sockets.spawn(async move { hub.serve(stream).await });
                while sockets.try_join_next().is_some() {}
            }
        });
        SocketServer { task }
    }

    /// Sends `payload` as an `events_api` envelope to one open socket of `team_id`, taking
    /// turns among them; its `envelope_id`, or `None` when the team has no open socket.
    fn push(&self, team_id: &str, payload: Value) -> Option<String> {
        let mut state = self.lock();
        let open: Vec<u64> = state
            .sockets
            .iter()
            .filter(|(_, socket)| socket.team_id == team_id)
            .map(|(number, _)| *number)
            .collect();
        if open.is_empty() {
            return None;
        }
        let socket = open[state.turn % open.len()];
        state.turn += 1;
        state.next_envelope += 1;
        let envelope_id = format!("{:08x}-sim-envelope", state.next_envelope);
        let envelope = json!({
            "envelope_id": envelope_id,
            "type": "events_api",
            "payload": payload,
            "accepts_response_payload": false,
            "retry_attempt": 0,
            "retry_reason": "",
        });
        let sent = state.sockets.get(&socket).is_some_and(|s| {
            s.outgoing
                .send(Outgoing::Frame(envelope.to_string()))
                .is_ok()
        });
        sent.then(|| {
            state.sent.push(SentEnvelope {
                envelope_id: envelope_id.clone(),
                socket,
            });
            envelope_id
        })
    }

    /// Whether the envelope `envelope_id` was acknowledged.
    fn acked(&self, envelope_id: &str) -> bool {
        self.lock().acks.iter().any(|ack| ack == envelope_id)
    }

    /// Whether `token` is an app-level token of the simulator.
    pub(crate) fn knows(&self, token: &str) -> bool {
        self.lock().app_tokens.contains_key(token)
    }

    /// `apps.connections.open` for an app-level token: a one-use socket URL with a ticket.
    pub(crate) fn open(&self, token: &str) -> Value {
        let mut state = self.lock();
        let Some(app) = state.app_tokens.get(token).cloned() else {
            return json!({"ok": false, "error": "invalid_auth"});
        };
        let Some(address) = state.address else {
            return json!({"ok": false, "error": "internal_error"});
        };
        state.next_ticket += 1;
        let ticket = format!("sim-ticket-{:08}", state.next_ticket);
        let url = format!("ws://{address}/link/?ticket={ticket}&app_id={}", app.app_id);
        state.tickets.insert(ticket, app);
        json!({"ok": true, "url": url})
    }

    /// One socket: the handshake (a ticket `apps.connections.open` issued, used once), then
    /// `hello`, then the frames pushed to it, recording the acknowledgements it sends.
    async fn serve(&self, stream: tokio::net::TcpStream) {
        let mut app = None;
        // The callback's error type is tungstenite's (an HTTP response), not ours to shrink.
        #[expect(
            clippy::result_large_err,
            reason = "tungstenite's handshake callback answers its own ErrorResponse"
        )]
        let check = |request: &Request, response: Response| {
            let ticket = request.uri().query().and_then(|query| {
                query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("ticket="))
                    .map(str::to_owned)
            });
            let found = ticket.and_then(|ticket| self.lock().tickets.remove(&ticket));
            match found {
                Some(found) => {
                    app = Some(found);
                    Ok(response)
                }
                None => {
                    let mut refusal = ErrorResponse::new(Some("invalid ticket".to_owned()));
                    *refusal.status_mut() = StatusCode::UNAUTHORIZED;
                    Err(refusal)
                }
            }
        };
        let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
            self.lock().refused += 1;
            return;
        };
        let Some(app) = app else {
            return;
        };
        let (outgoing, mut queued) = mpsc::unbounded_channel();
        let number = {
            let mut state = self.lock();
            state.opened += 1;
            let number = state.opened;
            state.sockets.insert(
                number,
                OpenSocket {
                    team_id: app.team_id.clone(),
                    outgoing: outgoing.clone(),
                },
            );
            number
        };
        let hello = json!({
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-sim", "approximate_connection_time": 18060},
            "connection_info": {"app_id": app.app_id},
        });
        let _ = outgoing.send(Outgoing::Frame(hello.to_string()));
        let (mut writer, mut reader) = socket.split();
        loop {
            tokio::select! {
                next = queued.recv() => match next {
                    Some(Outgoing::Frame(text)) => {
                        if writer.send(Message::text(text)).await.is_err() {
                            break;
                        }
                    }
                    Some(Outgoing::Close) => {
                        let _ = writer.close().await;
                        break;
                    }
                    Some(Outgoing::Drop) | None => break,
                },
                frame = reader.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(id) = serde_json::from_str::<Value>(text.as_str())
                            .ok()
                            .and_then(|ack| ack.get("envelope_id").and_then(Value::as_str).map(str::to_owned))
                        {
                            self.lock().acks.push(id);
                        }
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        self.lock().sockets.remove(&number);
    }
}

/// An `event_callback` payload, as the Events API posts it and a Socket Mode envelope
/// carries it.
#[must_use]
pub fn event_callback(team_id: &str, api_app_id: &str, event_id: &str, event: Value) -> Value {
    json!({
        "token": "simulated-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authed_users": [],
    })
}

/// A plain `message` event by `user` in `channel`, posted at `ts`.
#[must_use]
pub fn message_event(team_id: &str, channel: &str, user: &str, text: &str, ts: &str) -> Value {
    json!({
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
        "team": team_id,
    })
}

/// The Socket Mode transport of the simulator's events: each payload goes as an `events_api`
/// envelope to an open socket of its team, and counts as answered `200` once the service
/// acknowledges it. With no socket open (the service is away) the event is lost, as it is for
/// Slack once its retries run out: only the channel's history has it.
#[derive(Debug)]
pub struct SocketModeSink {
    hub: SocketHub,
}

/// How long a pushed envelope may wait for its acknowledgement (Slack's is 3 s).
const ACK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

#[async_trait::async_trait]
impl super::slack_events::SlackEventSink for SocketModeSink {
    async fn send(
        &self,
        payload: &Value,
        _delivery: &super::slack_events::Delivery,
    ) -> Option<u16> {
        let team_id = payload["team_id"].as_str()?.to_owned();
        let envelope_id = self.hub.push(&team_id, payload.clone())?;
        let deadline = tokio::time::Instant::now() + ACK_DEADLINE;
        while tokio::time::Instant::now() < deadline {
            if self.hub.acked(&envelope_id) {
                return Some(200);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        None
    }
}

/// Socket Mode scripting.
impl SlackSimulator {
    /// Sends every event from now on over Socket Mode, to the open sockets of each event's
    /// team (see [`SocketModeSink`]), instead of to an Events API Request URL.
    pub fn deliver_socket_mode(&self) {
        self.deliver_events_to(std::sync::Arc::new(SocketModeSink {
            hub: self.socket_hub(),
        }));
    }

    /// Issues an app-level token (`xapp-…`, scope `connections:write`) for the app of the
    /// workspace's bot; returns the app id.
    pub fn add_app_token(&self, team_id: &str, token: &str) -> String {
        let app_id = self
            .app_of_team(team_id)
            .unwrap_or_else(|| format!("A0SOCK{}", team_id.len()));
        self.socket_hub().lock().app_tokens.insert(
            token.to_owned(),
            AppToken {
                team_id: team_id.to_owned(),
                app_id: app_id.clone(),
            },
        );
        app_id
    }

    /// Sends `payload` (an `event_callback`, see [`event_callback`]) as an `events_api`
    /// envelope to one open socket of the team — Slack sends each envelope to one of an app's
    /// connections, taking turns — and answers its `envelope_id`; `None` when the team has
    /// no open socket.
    pub fn push_event(&self, team_id: &str, payload: Value) -> Option<String> {
        self.socket_hub().push(team_id, payload)
    }

    /// Asks every open socket to reconnect (`{"type": "disconnect", "reason": …}`, then a
    /// close), as Slack does before it refreshes a connection.
    pub fn disconnect_sockets(&self, reason: &str) {
        let frame = json!({
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": "applink-sim"},
        })
        .to_string();
        for socket in self.socket_hub().lock().sockets.values() {
            let _ = socket.outgoing.send(Outgoing::Frame(frame.clone()));
            let _ = socket.outgoing.send(Outgoing::Close);
        }
    }

    /// Drops every open socket without a word, as a network failure would.
    pub fn drop_sockets(&self) {
        for socket in self.socket_hub().lock().sockets.values() {
            let _ = socket.outgoing.send(Outgoing::Drop);
        }
    }

    /// How many sockets are open now.
    #[must_use]
    pub fn open_sockets(&self) -> usize {
        self.socket_hub().lock().sockets.len()
    }

    /// How many sockets were accepted so far.
    #[must_use]
    pub fn sockets_opened(&self) -> u64 {
        self.socket_hub().lock().opened
    }

    /// How many handshakes were refused (no ticket, or one not issued or already used).
    #[must_use]
    pub fn socket_handshakes_refused(&self) -> u64 {
        self.socket_hub().lock().refused
    }

    /// Every envelope sent, in order.
    #[must_use]
    pub fn sent_envelopes(&self) -> Vec<SentEnvelope> {
        self.socket_hub().lock().sent.clone()
    }

    /// The `envelope_id`s acknowledged so far, in order.
    #[must_use]
    pub fn socket_acks(&self) -> Vec<String> {
        self.socket_hub().lock().acks.clone()
    }
}
