//! A Slack Web API simulator: scripted workspaces, bot tokens and channels, answers shaped as
//! Slack's spec says, and every request checked against that spec.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

#[path = "slack_chat.rs"]
mod chat;

pub use super::slack_events::{Delivery, EventsApiSink, SentEvent, SlackEventSink};
pub use chat::{SlackMessage, SlackUser};

use super::slack_socket::{SocketHub, SocketServer};
use super::spec::{self, Operation, PathParams, Route, Spec};
use super::{
    Call, Core, Exchange, Outcome, Protocol, RecordedRequest, RedactedKeys, Rejection, Reply,
    json_response, with_header,
};

/// The most channels `conversations.list` answers per page; a larger `limit` is refused.
const MAX_LIST_LIMIT: i64 = 1000;

/// A Web API method the simulator implements, answering for a valid bot token; problems of
/// the request that Slack would refuse are pushed to the last argument as violations.
type Method = fn(&State, &BotToken, &Exchange, &mut Vec<String>) -> Value;

/// How the next call of a method fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 200 `{"ok": false, "error": …}` (`invalid_auth`, `token_revoked`,
    /// `missing_scope` — which also names the first scope of the method the token lacks in
    /// `needed` —, …).
    SlackError(String),
    /// HTTP 429 with `Retry-After`.
    RateLimited {
        /// The `Retry-After` value.
        retry_after_seconds: u64,
    },
    /// HTTP 500.
    ServerError,
    /// The connection is closed without an answer.
    DropConnection,
}

/// The identity of a simulated bot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackBot {
    /// The bot user's id (`U…`).
    pub user_id: String,
    /// The bot's id (`B…`).
    pub bot_id: String,
    /// The bot's app id (`A…`).
    pub app_id: String,
}

/// A scripted Slack Web API on `127.0.0.1` (see the module docs).
#[derive(Debug)]
pub struct SlackSimulator {
    core: Core<Slack>,
    /// The Socket Mode listener (see `slack_socket`).
    _socket: SocketServer,
}

/// Slack's protocol, as the shared simulator core runs it.
#[derive(Debug)]
pub(crate) struct Slack;

#[derive(Default)]
pub(crate) struct State {
    workspaces: BTreeMap<String, Workspace>,
    /// Bot tokens (secrets) → what they grant.
    tokens: HashMap<String, BotToken>,
    next_id: u64,
    /// Users, messages, threads, reactions and pins (changed by Web API calls, which see
    /// the state immutably).
    chat: std::sync::Mutex<chat::Chat>,
    /// App-level tokens, socket tickets and open sockets (Socket Mode).
    socket: SocketHub,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("workspaces", &self.workspaces)
            .field("tokens", &RedactedKeys(&self.tokens))
            .field("next_id", &self.next_id)
            .field("chat", &self.chat)
            .field("socket", &self.socket)
            .finish()
    }
}

#[derive(Debug)]
struct Workspace {
    name: String,
    channels: Vec<Channel>,
}

#[derive(Debug)]
struct Channel {
    id: String,
    name: String,
    is_private: bool,
    num_members: u64,
    is_archived: bool,
    /// Whether the workspace's bot has joined it. A `Cell`: the answer pipeline lends the
    /// state immutably, and `conversations.join` is the one call that changes it.
    bot_is_member: Cell<bool>,
    created: u64,
}

/// What a bot token grants (the token itself is the key it is stored under).
#[derive(Debug)]
pub(crate) struct BotToken {
    team_id: String,
    scopes: Vec<String>,
    user_id: String,
    bot_id: String,
    app_id: String,
    revoked: bool,
}

impl SlackSimulator {
    /// Starts a simulator with no workspaces on a free port (needs a Tokio runtime).
    pub async fn start() -> Self {
        Self::start_on(super::any_loopback_port()).await
    }

    /// Starts the simulator on `address` (for running it beside a real `hazel-sync serve`).
    ///
    /// # Panics
    /// When the address cannot be bound.
    pub async fn start_on(address: std::net::SocketAddr) -> Self {
        let core: Core<Slack> = Core::start(address).await;
        let hub = core.lock().state.socket.clone();
        let socket = hub.listen().await;
        Self {
            core,
            _socket: socket,
        }
    }

    /// The Socket Mode side of the state.
    pub(super) fn socket_hub(&self) -> SocketHub {
        self.core.lock().state.socket.clone()
    }

    /// The app id of the workspace's first bot, if it has one.
    pub(super) fn app_of_team(&self, team_id: &str) -> Option<String> {
        self.core
            .lock()
            .state
            .tokens
            .values()
            .find(|bot| bot.team_id == team_id)
            .map(|bot| bot.app_id.clone())
    }

    /// The Web API base URL (`http://127.0.0.1:PORT/api`), as `HAZEL_SLACK_API_URL` takes it.
    #[must_use]
    pub fn url(&self) -> String {
        self.core.url()
    }

    /// Adds a workspace (team) with no channels.
    pub fn add_workspace(&self, team_id: &str, name: &str) {
        self.core.lock().state.workspaces.insert(
            team_id.to_owned(),
            Workspace {
                name: name.to_owned(),
                channels: Vec::new(),
            },
        );
    }

    /// Issues a bot token for a workspace with the given OAuth scopes; returns the bot's user
    /// id (what `auth.test` answers as `user_id`).
    ///
    /// # Panics
    /// When the workspace was not added.
    pub fn add_bot_token(&self, team_id: &str, token: &str, scopes: &[&str]) -> String {
        let mut shared = self.core.lock();
        let state = &mut shared.state;
        assert!(
            state.workspaces.contains_key(team_id),
            "add_workspace({team_id:?}) before adding a bot token to it"
        );
        state.next_id += 1;
        let user_id = format!("U0BOT{:06}", state.next_id);
        let bot_id = format!("B0BOT{:06}", state.next_id);
        let app_id = format!("A0APP{:06}", state.next_id);
        state.tokens.insert(
            token.to_owned(),
            BotToken {
                team_id: team_id.to_owned(),
                scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
                user_id: user_id.clone(),
                bot_id,
                app_id,
                revoked: false,
            },
        );
        user_id
    }

    /// Revokes a token: Slack answers it with `token_revoked` from then on.
    pub fn revoke_token(&self, token: &str) {
        if let Some(bot) = self.core.lock().state.tokens.get_mut(token) {
            bot.revoked = true;
        }
    }

    /// Adds a channel (`C…` public or `G…`/`C…` private) to a workspace.
    ///
    /// # Panics
    /// When the workspace was not added.
    pub fn add_channel(
        &self,
        team_id: &str,
        id: &str,
        name: &str,
        is_private: bool,
        num_members: u64,
    ) {
        let mut shared = self.core.lock();
        let state = &mut shared.state;
        let created = 1_700_000_000 + state.next_id;
        state.next_id += 1;
        let Some(workspace) = state.workspaces.get_mut(team_id) else {
            panic!("add_workspace({team_id:?}) before adding a channel to it");
        };
        workspace.channels.push(Channel {
            id: id.to_owned(),
            name: name.to_owned(),
            is_private,
            num_members,
            is_archived: false,
            bot_is_member: Cell::new(true),
            created,
        });
    }

    /// The identity of a bot token's bot: what `auth.test` answers as `user_id` and `bot_id`,
    /// and `bots.info` as `bot.app_id`.
    ///
    /// # Panics
    /// When the token was not added.
    #[must_use]
    pub fn bot_identity(&self, token: &str) -> SlackBot {
        let shared = self.core.lock();
        let Some(bot) = shared.state.tokens.get(token) else {
            panic!("add_bot_token(…, {token:?}, …) first");
        };
        SlackBot {
            user_id: bot.user_id.clone(),
            bot_id: bot.bot_id.clone(),
            app_id: bot.app_id.clone(),
        }
    }

    /// Sets whether the workspace's bot has joined a channel (channels start joined): a
    /// public channel it has not joined answers `is_member: false`, a private one
    /// `channel_not_found`, as Slack hides private channels from non-members.
    pub fn set_bot_membership(&self, team_id: &str, id: &str, is_member: bool) {
        if let Some(channel) = self
            .core
            .lock()
            .state
            .workspaces
            .get_mut(team_id)
            .and_then(|workspace| workspace.channels.iter_mut().find(|c| c.id == id))
        {
            channel.bot_is_member.set(is_member);
        }
    }

    /// Archives a channel: `conversations.list` with `exclude_archived` leaves it out.
    pub fn archive_channel(&self, team_id: &str, id: &str) {
        if let Some(channel) = self
            .core
            .lock()
            .state
            .workspaces
            .get_mut(team_id)
            .and_then(|workspace| workspace.channels.iter_mut().find(|c| c.id == id))
        {
            channel.is_archived = true;
        }
    }

    /// Makes the next valid call (spec-conforming, with a known token) of `method`
    /// (`auth.test`) fail; failures queue up in order.
    ///
    /// # Panics
    /// When Slack's spec has no such method.
    pub fn fail_next(&self, method: &str, failure: Failure) {
        assert!(
            spec::slack().route(method).is_some(),
            "fail_next: Slack's spec has no method {method:?}"
        );
        self.core.fail_next(method.to_owned(), failure);
    }

    /// Like [`SlackSimulator::fail_next`], after `passes` more valid calls of `method` were
    /// answered normally (to refuse a listing on a later page).
    ///
    /// # Panics
    /// When Slack's spec has no such method.
    pub fn fail_after(&self, method: &str, passes: usize, failure: Failure) {
        assert!(
            spec::slack().route(method).is_some(),
            "fail_after: Slack's spec has no method {method:?}"
        );
        self.core.fail_after(method.to_owned(), passes, failure);
    }

    /// Every request received so far, secrets redacted.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.core.requests()
    }

    /// The spec violations seen so far.
    #[must_use]
    pub fn violations(&self) -> Vec<String> {
        self.core.violations()
    }

    /// The spec violations seen so far, forgetting them (for tests that provoke some).
    pub fn take_violations(&self) -> Vec<String> {
        self.core.take_violations()
    }

    /// Panics listing the spec violations seen so far, if any.
    pub fn assert_no_violations(&self) {
        self.core.assert_no_violations();
    }
}

impl Protocol for Slack {
    const NAME: &'static str = "Slack";
    const SCHEME: &'static str = "Bearer";
    const API_PREFIX: &'static str = "/api";
    type State = State;
    type Failure = Failure;
    /// The bot token itself: answers carry its scopes.
    type Principal = String;
    type Implementation = Method;

    fn spec() -> &'static Spec {
        spec::slack()
    }

    fn locate(path: &str) -> (String, Option<(&'static Route, PathParams)>) {
        let method = path.strip_prefix("/api/").unwrap_or_default().to_owned();
        let route = spec::slack().route(&method);
        (method, route)
    }

    fn reject(rejection: Rejection) -> Outcome {
        match rejection {
            Rejection::UnknownRoute => slack_error(StatusCode::NOT_FOUND, "unknown_method"),
            Rejection::WrongVerb => slack_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request"),
            Rejection::Unauthenticated => slack_error(StatusCode::OK, "not_authed"),
            Rejection::Invalid => slack_error(StatusCode::OK, "invalid_arguments"),
            Rejection::Unimplemented => slack_error(StatusCode::OK, "unknown_method"),
            Rejection::UnknownCredential => slack_error(StatusCode::OK, "invalid_auth"),
            Rejection::RevokedCredential => slack_error(StatusCode::OK, "token_revoked"),
        }
    }

    fn implementation(_verb: &str, method: &str) -> Option<Method> {
        match method {
            "apps.connections.open" => Some(State::apps_connections_open),
            "auth.test" => Some(State::auth_test),
            "bots.info" => Some(State::bots_info),
            "conversations.info" => Some(State::conversations_info),
            "conversations.join" => Some(State::conversations_join),
            "conversations.list" => Some(State::conversations_list),
            "conversations.history" => Some(State::conversations_history),
            "conversations.replies" => Some(State::conversations_replies),
            "chat.postMessage" => Some(State::chat_post_message),
            "chat.update" => Some(State::chat_update),
            "chat.delete" => Some(State::chat_delete),
            "reactions.add" => Some(State::reactions_add),
            "reactions.remove" => Some(State::reactions_remove),
            "pins.add" => Some(State::pins_add),
            "pins.remove" => Some(State::pins_remove),
            "users.info" => Some(State::users_info),
            _ => None,
        }
    }

    fn documented_params(method: &str) -> &'static [&'static str] {
        chat::documented_params(method)
    }

    fn spec_view(method: &str, body: &Value) -> Option<Value> {
        chat::spec_view(method, body)
    }

    fn authenticate(state: &State, exchange: &Exchange) -> Result<String, Rejection> {
        let token = exchange.credential("Bearer").unwrap_or_default();
        match state.tokens.get(token) {
            None if state.socket.knows(token) => Ok(token.to_owned()),
            None => Err(Rejection::UnknownCredential),
            Some(bot) if bot.revoked => Err(Rejection::RevokedCredential),
            Some(_) => Ok(token.to_owned()),
        }
    }

    fn failure_keys(_verb: &str, method: &str) -> Vec<String> {
        vec![method.to_owned()]
    }

    fn fail(state: &State, token: &String, operation: &Operation, failure: Failure) -> Outcome {
        state.failure(token, operation, failure)
    }

    fn answer(
        state: &State,
        token: &String,
        call: &Call<'_, Self>,
        refused: &mut Vec<String>,
    ) -> Reply {
        if call.operation.id == "apps_connections_open" && state.socket.knows(token) {
            let body = state.socket.open(token);
            return if body.get("ok") == Some(&Value::Bool(true)) {
                Reply::Success {
                    body,
                    headers: vec![("x-oauth-scopes", "connections:write".to_owned())],
                }
            } else {
                Reply::Other(Outcome::Respond(json_response(StatusCode::OK, &body)))
            };
        }
        let Some(bot) = state.tokens.get(token) else {
            return Reply::Other(slack_error(StatusCode::OK, "invalid_auth"));
        };
        let body = (call.implementation)(state, bot, call.exchange, refused);
        // Slack lists the method's scopes and the token's on every answer.
        let headers = vec![
            ("x-accepted-oauth-scopes", call.operation.scopes.join(",")),
            ("x-oauth-scopes", bot.scopes.join(",")),
        ];
        if body.get("ok") == Some(&Value::Bool(true)) {
            Reply::Success { body, headers }
        } else {
            let mut response = json_response(StatusCode::OK, &body);
            for (name, value) in headers {
                response = with_header(response, name, &value);
            }
            Reply::Other(Outcome::Respond(response))
        }
    }
}

fn slack_error(status: StatusCode, error: &str) -> Outcome {
    Outcome::Respond(json_response(status, &json!({"ok": false, "error": error})))
}

impl State {
    /// Adds the token's granted scopes (`x-oauth-scopes`), as Slack does on every answer.
    fn with_scopes(&self, token: &str, response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
        match self.tokens.get(token) {
            Some(bot) => with_header(response, "x-oauth-scopes", &bot.scopes.join(",")),
            None => response,
        }
    }

    fn failure(&self, token: &str, operation: &Operation, failure: Failure) -> Outcome {
        let response = match failure {
            Failure::SlackError(error) => {
                let mut body = json!({"ok": false, "error": error});
                if error == "missing_scope" {
                    let granted = self
                        .tokens
                        .get(token)
                        .map(|bot| bot.scopes.as_slice())
                        .unwrap_or_default();
                    if let Some(needed) = operation
                        .scopes
                        .iter()
                        .find(|scope| !granted.contains(scope))
                    {
                        body["needed"] = json!(needed);
                    }
                    body["provided"] = json!(granted.join(","));
                }
                json_response(StatusCode::OK, &body)
            }
            Failure::RateLimited {
                retry_after_seconds,
            } => with_header(
                json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    &json!({"ok": false, "error": "ratelimited"}),
                ),
                "retry-after",
                &retry_after_seconds.to_string(),
            ),
            Failure::ServerError => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"ok": false, "error": "internal_error"}),
            ),
            Failure::DropConnection => return Outcome::Drop,
        };
        Outcome::Respond(self.with_scopes(token, response))
    }

    /// `apps.connections.open` takes app-level tokens only (those are answered in
    /// `answer`); a bot token is refused, as Slack refuses it.
    fn apps_connections_open(&self, _: &BotToken, _: &Exchange, _: &mut Vec<String>) -> Value {
        json!({"ok": false, "error": "not_allowed_token_type"})
    }

    fn auth_test(&self, bot: &BotToken, _: &Exchange, _: &mut Vec<String>) -> Value {
        let team = self
            .workspaces
            .get(&bot.team_id)
            .map(|workspace| workspace.name.clone())
            .unwrap_or_default();
        json!({
            "ok": true,
            "url": format!("https://{}.slack.com/", bot.team_id.to_ascii_lowercase()),
            "team": team,
            "user": "hazel",
            "team_id": bot.team_id,
            "user_id": bot.user_id,
            "bot_id": bot.bot_id,
            "is_enterprise_install": false,
        })
    }

    fn bots_info(&self, bot: &BotToken, exchange: &Exchange, _: &mut Vec<String>) -> Value {
        if !bot.scopes.iter().any(|scope| scope == "users:read") {
            return json!({
                "ok": false, "error": "missing_scope",
                "needed": "users:read", "provided": bot.scopes.join(","),
            });
        }
        let asked = query_param(exchange, "bot").unwrap_or_default();
        let Some(found) = self
            .tokens
            .values()
            .find(|other| other.bot_id == asked && other.team_id == bot.team_id)
        else {
            return json!({"ok": false, "error": "bot_not_found"});
        };
        let icon =
            |size: u32| format!("https://a.slack-edge.com/80588/img/plugins/app/bot_{size}.png");
        json!({
            "ok": true,
            "bot": {
                "id": found.bot_id,
                "deleted": false,
                "name": "hazel",
                "updated": 1_700_000_000,
                "app_id": found.app_id,
                "user_id": found.user_id,
                "icons": {"image_36": icon(36), "image_48": icon(48), "image_72": icon(72)},
            },
        })
    }

    fn conversations_info(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        _: &mut Vec<String>,
    ) -> Value {
        let asked = query_param(exchange, "channel").unwrap_or_default();
        let found = self
            .workspaces
            .get(&bot.team_id)
            .into_iter()
            .flat_map(|workspace| &workspace.channels)
            .find(|channel| channel.id == asked);
        // Slack hides private channels from bots that are not in them.
        let Some(channel) = found.filter(|c| !c.is_private || c.bot_is_member.get()) else {
            return json!({"ok": false, "error": "channel_not_found"});
        };
        let scope = if channel.is_private {
            "groups:read"
        } else {
            "channels:read"
        };
        if !bot.scopes.iter().any(|granted| granted == scope) {
            return json!({
                "ok": false, "error": "missing_scope",
                "needed": scope, "provided": bot.scopes.join(","),
            });
        }
        json!({"ok": true, "channel": conversation(channel, &bot.team_id)})
    }

    /// Joins a public channel: the bot becomes a member. Slack refuses private channels
    /// (`method_not_supported_for_channel_type`; one the bot is not in is `channel_not_found`)
    /// and archived ones (`is_archived`), and needs `channels:join` for bot tokens.
    fn conversations_join(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        _: &mut Vec<String>,
    ) -> Value {
        let asked = exchange
            .json
            .as_ref()
            .and_then(|body| body.get("channel"))
            .and_then(Value::as_str)
            .or_else(|| form_param(exchange, "channel"))
            .unwrap_or_default();
        let found = self
            .workspaces
            .get(&bot.team_id)
            .into_iter()
            .flat_map(|workspace| &workspace.channels)
            .find(|channel| channel.id == asked);
        let Some(channel) = found.filter(|c| !c.is_private || c.bot_is_member.get()) else {
            return json!({"ok": false, "error": "channel_not_found"});
        };
        if !bot.scopes.iter().any(|granted| granted == "channels:join") {
            return json!({
                "ok": false, "error": "missing_scope",
                "needed": "channels:join", "provided": bot.scopes.join(","),
            });
        }
        if channel.is_archived {
            return json!({"ok": false, "error": "is_archived"});
        }
        if channel.is_private {
            return json!({"ok": false, "error": "method_not_supported_for_channel_type"});
        }
        let already = channel.bot_is_member.replace(true);
        let mut answer = json!({"ok": true, "channel": conversation(channel, &bot.team_id)});
        if already {
            answer["warning"] = json!("already_in_channel");
            answer["response_metadata"] = json!({"warnings": ["already_in_channel"]});
        }
        answer
    }

    fn conversations_list(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        refused: &mut Vec<String>,
    ) -> Value {
        let param = |name: &str| {
            exchange
                .query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let types: Vec<&str> = param("types")
            .unwrap_or("public_channel")
            .split(',')
            .collect();
        let mut needed = Vec::new();
        for kind in &types {
            let scope = match *kind {
                "public_channel" => "channels:read",
                "private_channel" => "groups:read",
                "im" => "im:read",
                "mpim" => "mpim:read",
                _ => return json!({"ok": false, "error": "invalid_types"}),
            };
            if !bot.scopes.iter().any(|granted| granted == scope) {
                needed.push(scope);
            }
        }
        if !needed.is_empty() {
            return json!({
                "ok": false, "error": "missing_scope",
                "needed": needed.join(","), "provided": bot.scopes.join(","),
            });
        }
        let exclude_archived = matches!(param("exclude_archived"), Some("true" | "1"));
        // Slack answers `invalid_limit` beyond its maximum rather than clamping; 0 (or no
        // limit) means its default page size.
        let limit = match param("limit").map(|raw| (raw, raw.parse::<i64>())) {
            None | Some((_, Ok(0))) => 100,
            Some((_, Ok(limit @ 1..=MAX_LIST_LIMIT))) => usize::try_from(limit).unwrap_or(100),
            Some((raw, _)) => {
                refused.push(format!(
                    "`limit` = {raw:?} is outside 1..={MAX_LIST_LIMIT}; Slack answers invalid_limit"
                ));
                return json!({"ok": false, "error": "invalid_limit"});
            }
        };
        let offset = match param("cursor").filter(|cursor| !cursor.is_empty()) {
            None => 0,
            Some(cursor) => match decode_cursor(cursor) {
                Some(offset) => offset,
                None => return json!({"ok": false, "error": "invalid_cursor"}),
            },
        };
        let listed: Vec<&Channel> = self
            .workspaces
            .get(&bot.team_id)
            .into_iter()
            .flat_map(|workspace| &workspace.channels)
            .filter(|channel| !(exclude_archived && channel.is_archived))
            // Slack lists only the private channels the bot is in.
            .filter(|channel| !channel.is_private || channel.bot_is_member.get())
            .filter(|channel| {
                let kind = if channel.is_private {
                    "private_channel"
                } else {
                    "public_channel"
                };
                types.contains(&kind)
            })
            .collect();
        let page: Vec<Value> = listed
            .iter()
            .skip(offset)
            .take(limit)
            .map(|channel| conversation(channel, &bot.team_id))
            .collect();
        let next_cursor = if offset + limit < listed.len() {
            BASE64.encode(format!("offset:{}", offset + limit))
        } else {
            String::new()
        };
        json!({
            "ok": true,
            "channels": page,
            "response_metadata": {"next_cursor": next_cursor},
        })
    }
}

/// The value of a query parameter.
fn query_param<'a>(exchange: &'a Exchange, name: &str) -> Option<&'a str> {
    exchange
        .query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The value of a form field.
fn form_param<'a>(exchange: &'a Exchange, name: &str) -> Option<&'a str> {
    exchange
        .form
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let text = String::from_utf8(BASE64.decode(cursor).ok()?).ok()?;
    text.strip_prefix("offset:")?.parse().ok()
}

/// A conversation object with the fields Slack's spec requires.
fn conversation(channel: &Channel, team_id: &str) -> Value {
    let topic = json!({"value": "", "creator": "", "last_set": 0});
    json!({
        "id": channel.id,
        "name": channel.name,
        "name_normalized": channel.name.to_lowercase(),
        "created": channel.created,
        "creator": "USLACKBOT",
        "is_archived": channel.is_archived,
        "is_channel": true,
        "is_general": channel.name == "general",
        "is_group": false,
        "is_im": false,
        "is_mpim": false,
        "is_private": channel.is_private,
        "is_shared": false,
        "is_org_shared": false,
        "is_ext_shared": false,
        "is_pending_ext_shared": false,
        "is_member": channel.bot_is_member.get(),
        "num_members": channel.num_members,
        "shared_team_ids": [team_id],
        "topic": topic,
        "purpose": topic,
    })
}
