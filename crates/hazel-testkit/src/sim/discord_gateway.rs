//! A Discord Gateway (v10, JSON) simulator: a websocket server on `127.0.0.1` that speaks the
//! real opcodes — Hello, Identify, Heartbeat/ACK, Dispatch (READY, RESUMED and scripted
//! events), Resume, Reconnect and Invalid Session — and can drop a connection, stop
//! acknowledging heartbeats, refuse the privileged intent (4014), refuse the token (4004),
//! close with any code, and replay the events a resumed session missed.
//!
//! Every event dispatched is kept with its sequence number, so a client that resumes with
//! `seq` gets every later event again (as Discord replays), and one that identifies starts a
//! new session without them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// `MESSAGE_CONTENT` (`1 << 15`), the privileged intent.
pub const MESSAGE_CONTENT: u64 = 1 << 15;

/// What a session sees, for assertions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// Connections accepted.
    pub connections: usize,
    /// Identify payloads received: their `intents`.
    pub identifies: Vec<u64>,
    /// Resume payloads received: their `seq`.
    pub resumes: Vec<u64>,
    /// Heartbeats received.
    pub heartbeats: usize,
}

/// A command to the live connection.
#[derive(Debug)]
enum Command {
    Send(Value),
    Close(u16),
    Drop,
}

#[derive(Default)]
struct State {
    /// Bot tokens → bot user ids.
    tokens: HashMap<String, String>,
    /// Events of the current session, with their sequence numbers.
    history: Vec<(u64, Value)>,
    seq: u64,
    session: u64,
    session_valid: bool,
    refuse_intents: bool,
    ack_heartbeats: bool,
    heartbeat_interval_ms: u64,
    stats: GatewayStats,
    live: Option<mpsc::UnboundedSender<Command>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("tokens", &self.tokens.len())
            .field("seq", &self.seq)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// A scripted Discord Gateway (see the module docs). It stops when dropped.
#[derive(Debug)]
pub struct DiscordGatewaySimulator {
    url: String,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl Drop for DiscordGatewaySimulator {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    super::lock(state)
}

impl DiscordGatewaySimulator {
    /// Starts a gateway on a free loopback port (needs a Tokio runtime). Heartbeats are
    /// acknowledged and asked for every 45 s unless scripted otherwise.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the gateway simulator");
        let url = format!(
            "ws://{}",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        );
        let state = Arc::new(Mutex::new(State {
            ack_heartbeats: true,
            heartbeat_interval_ms: 45_000,
            ..State::default()
        }));
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&state), url.clone()));
        Self { url, state, accept }
    }

    /// The gateway URL (`ws://127.0.0.1:PORT`), as `HAZEL_DISCORD_GATEWAY_URL` takes it.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Accepts `token` as the bot `user_id`'s.
    pub fn add_bot(&self, token: &str, user_id: &str) {
        lock(&self.state)
            .tokens
            .insert(token.to_owned(), user_id.to_owned());
    }

    /// The heartbeat interval Hello asks for.
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        lock(&self.state).heartbeat_interval_ms =
            u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    }

    /// Whether heartbeats are acknowledged (a zombie connection when not).
    pub fn ack_heartbeats(&self, ack: bool) {
        lock(&self.state).ack_heartbeats = ack;
    }

    /// Refuses `MESSAGE_CONTENT` (close 4014, "Disallowed intent(s)") from the next Identify.
    pub fn refuse_message_content(&self, refuse: bool) {
        lock(&self.state).refuse_intents = refuse;
    }

    /// Dispatches event `name` with `data` on the current session (kept for replays).
    pub fn dispatch(&self, name: &str, data: Value) {
        let mut state = lock(&self.state);
        state.seq += 1;
        let payload = json!({"op": 0, "t": name, "s": state.seq, "d": data});
        let seq = state.seq;
        state.history.push((seq, payload.clone()));
        if let Some(live) = &state.live {
            let _ = live.send(Command::Send(payload));
        }
    }

    /// Closes the current connection with `code`.
    pub fn close(&self, code: u16) {
        if let Some(live) = &lock(&self.state).live {
            let _ = live.send(Command::Close(code));
        }
    }

    /// Drops the current connection's TCP stream without a close frame.
    pub fn drop_connection(&self) {
        if let Some(live) = &lock(&self.state).live {
            let _ = live.send(Command::Drop);
        }
    }

    /// Asks the client to reconnect and resume (opcode 7).
    pub fn request_reconnect(&self) {
        if let Some(live) = &lock(&self.state).live {
            let _ = live.send(Command::Send(json!({"op": 7, "d": null})));
        }
    }

    /// Ends the session: the next Resume is answered with Invalid Session (`d: false`).
    pub fn invalidate_session(&self) {
        lock(&self.state).session_valid = false;
    }

    /// Sends Invalid Session (`d: false`) on the current connection and ends the session.
    pub fn send_invalid_session(&self) {
        let mut state = lock(&self.state);
        state.session_valid = false;
        if let Some(live) = &state.live {
            let _ = live.send(Command::Send(json!({"op": 9, "d": false})));
        }
    }

    /// What the gateway has seen so far.
    #[must_use]
    pub fn stats(&self) -> GatewayStats {
        lock(&self.state).stats.clone()
    }

    /// Whether a client is connected now.
    #[must_use]
    pub fn connected(&self) -> bool {
        lock(&self.state)
            .live
            .as_ref()
            .is_some_and(|live| !live.is_closed())
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>, url: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        let url = url.clone();
        tokio::spawn(async move {
            if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                serve(socket, state, url).await;
            }
        });
    }
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    }))
}

/// Serves one connection: Hello, then the client's Identify or Resume, then heartbeats and
/// scripted commands until either side closes.
async fn serve(
    socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    state: Arc<Mutex<State>>,
    url: String,
) {
    let (mut sink, mut stream) = socket.split();
    let (commands, mut inbox) = mpsc::unbounded_channel();
    let interval = {
        let mut shared = lock(&state);
        shared.stats.connections += 1;
        shared.heartbeat_interval_ms
    };
    // Dispatches and commands reach this connection once its session is established, as
    // Discord sends nothing before READY or RESUMED.
    let mut commands = Some(commands);
    let hello = json!({"op": 10, "d": {"heartbeat_interval": interval}});
    if sink.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            command = inbox.recv() => match command {
                Some(Command::Send(payload)) => {
                    if sink.send(Message::text(payload.to_string())).await.is_err() {
                        return;
                    }
                }
                Some(Command::Close(code)) => {
                    let _ = sink.send(close_frame(code, "closed by the simulator")).await;
                    return;
                }
                Some(Command::Drop) | None => return,
            },
            frame = stream.next() => {
                let Some(Ok(frame)) = frame else { return };
                let Message::Text(text) = frame else {
                    if matches!(frame, Message::Close(_)) {
                        return;
                    }
                    continue;
                };
                let Ok(payload) = serde_json::from_str::<Value>(&text) else {
                    let _ = sink.send(close_frame(4002, "Error while decoding payload")).await;
                    return;
                };
                let (replies, established) = answer(&state, &payload, &url);
                if established && let Some(commands) = commands.take() {
                    lock(&state).live = Some(commands);
                }
                for reply in replies {
                    let message = match reply {
                        Reply::Payload(payload) => Message::text(payload.to_string()),
                        Reply::Close(code, reason) => {
                            let _ = sink.send(close_frame(code, reason)).await;
                            return;
                        }
                    };
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

enum Reply {
    Payload(Value),
    Close(u16, &'static str),
}

/// The gateway's answers to one client payload, and whether they establish the session.
fn answer(state: &Mutex<State>, payload: &Value, url: &str) -> (Vec<Reply>, bool) {
    let replies = replies(state, payload, url);
    let established = replies.iter().any(
        |reply| matches!(reply, Reply::Payload(p) if p["t"] == "READY" || p["t"] == "RESUMED"),
    );
    (replies, established)
}

fn replies(state: &Mutex<State>, payload: &Value, url: &str) -> Vec<Reply> {
    let mut shared = lock(state);
    let data = &payload["d"];
    match payload["op"].as_u64() {
        Some(1) => {
            shared.stats.heartbeats += 1;
            if shared.ack_heartbeats {
                vec![Reply::Payload(json!({"op": 11}))]
            } else {
                Vec::new()
            }
        }
        Some(2) => {
            let intents = data["intents"].as_u64().unwrap_or_default();
            shared.stats.identifies.push(intents);
            let Some(user_id) = data["token"]
                .as_str()
                .and_then(|token| shared.tokens.get(token))
                .cloned()
            else {
                return vec![Reply::Close(4004, "Authentication failed.")];
            };
            if shared.refuse_intents && intents & MESSAGE_CONTENT != 0 {
                return vec![Reply::Close(4014, "Disallowed intent(s).")];
            }
            shared.session += 1;
            shared.session_valid = true;
            shared.history.clear();
            shared.seq = 1;
            let ready = json!({
                "op": 0, "t": "READY", "s": 1,
                "d": {
                    "v": 10,
                    "user": {"id": user_id, "username": "hazel", "bot": true},
                    "guilds": [],
                    "session_id": format!("session-{}", shared.session),
                    "resume_gateway_url": url,
                    "application": {"id": "0", "flags": 0},
                },
            });
            vec![Reply::Payload(ready)]
        }
        Some(6) => {
            let seq = data["seq"].as_u64().unwrap_or_default();
            shared.stats.resumes.push(seq);
            let known = data["token"]
                .as_str()
                .is_some_and(|token| shared.tokens.contains_key(token));
            if !known {
                return vec![Reply::Close(4004, "Authentication failed.")];
            }
            let session = format!("session-{}", shared.session);
            if !shared.session_valid || data["session_id"].as_str() != Some(session.as_str()) {
                return vec![Reply::Payload(json!({"op": 9, "d": false}))];
            }
            let mut replies: Vec<Reply> = shared
                .history
                .iter()
                .filter(|(s, _)| *s > seq)
                .map(|(_, payload)| Reply::Payload(payload.clone()))
                .collect();
            shared.seq += 1;
            let resumed = json!({"op": 0, "t": "RESUMED", "s": shared.seq, "d": {}});
            replies.push(Reply::Payload(resumed));
            replies
        }
        _ => vec![Reply::Close(4001, "Unknown opcode.")],
    }
}
