//! A Discord REST API simulator: scripted guilds, bots, roles and channels, answers shaped as
//! Discord's spec says, and every request checked against that spec.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use hyper::StatusCode;
use serde_json::{Value, json};

use super::spec::{self, Incoming};
use super::{
    Exchange, Handler, HttpServer, Journal, Outcome, RecordedRequest, fail_on_violations,
    json_response, lock, with_header,
};

/// The path prefix of the versioned API on the simulator (as on discord.com).
const API_PREFIX: &str = "/api/v10";

/// `VIEW_CHANNEL`, denied to `@everyone` on private channels.
const VIEW_CHANNEL: u64 = 1 << 10;

/// How the next call of a route fails.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// HTTP 401 `{"message": "401: Unauthorized", "code": 0}`.
    Unauthorized,
    /// HTTP 403 `{"message": "Missing Access", "code": 50001}`.
    Forbidden,
    /// HTTP 429 with `retry_after` in the body and `Retry-After` (rounded up) in the headers.
    RateLimited {
        /// Seconds, possibly fractional, as Discord sends them.
        retry_after_seconds: f64,
    },
    /// HTTP 500.
    ServerError,
    /// The connection is closed without an answer.
    DropConnection,
}

/// A Discord channel type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// `GUILD_TEXT` (0).
    Text,
    /// `GUILD_VOICE` (2).
    Voice,
    /// `GUILD_CATEGORY` (4).
    Category,
    /// `GUILD_ANNOUNCEMENT` (5).
    Announcement,
    /// `GUILD_STAGE_VOICE` (13).
    Stage,
    /// `GUILD_FORUM` (15).
    Forum,
}

impl ChannelKind {
    /// The channel type number of Discord's API.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Text => 0,
            Self::Voice => 2,
            Self::Category => 4,
            Self::Announcement => 5,
            Self::Stage => 13,
            Self::Forum => 15,
        }
    }
}

/// A scripted Discord REST API on `127.0.0.1` (see the module docs).
#[derive(Debug)]
pub struct DiscordSimulator {
    server: HttpServer,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    journal: Journal,
    guilds: BTreeMap<String, Guild>,
    bots: HashMap<String, Bot>,
    failures: HashMap<String, VecDeque<Failure>>,
    next_id: u64,
}

#[derive(Debug)]
struct Guild {
    name: String,
    owner_id: String,
    roles: Vec<Role>,
    /// Member user id → role ids.
    members: BTreeMap<String, Vec<String>>,
    channels: Vec<Channel>,
}

#[derive(Debug)]
struct Role {
    id: String,
    name: String,
    permissions: u64,
    bot_id: Option<String>,
}

#[derive(Debug)]
struct Channel {
    id: String,
    name: String,
    kind: ChannelKind,
    private: bool,
}

#[derive(Debug, Clone)]
struct Bot {
    user_id: String,
    username: String,
}

fn assert_snowflake(what: &str, id: &str) {
    assert!(
        !id.is_empty() && id.len() <= 20 && id.chars().all(|c| c.is_ascii_digit()),
        "{what} ids are Discord snowflakes (decimal digits), got {id:?}"
    );
}

impl DiscordSimulator {
    /// Starts a simulator with no guilds on a free port (needs a Tokio runtime).
    pub async fn start() -> Self {
        Self::start_on(super::any_loopback_port()).await
    }

    /// Starts the simulator on `address` (for running it beside a real `hazel-sync serve`).
    ///
    /// # Panics
    /// When the address cannot be bound.
    pub async fn start_on(address: std::net::SocketAddr) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let server = HttpServer::start(
            Arc::new(DiscordHandler {
                state: Arc::clone(&state),
            }),
            address,
        )
        .await;
        Self { server, state }
    }

    /// The REST API base URL (`http://127.0.0.1:PORT/api/v10`), as `HAZEL_DISCORD_API_URL`
    /// takes it.
    #[must_use]
    pub fn url(&self) -> String {
        format!("{}{API_PREFIX}", self.server.origin())
    }

    /// Adds a guild whose `@everyone` role (id = guild id) has no permissions.
    ///
    /// # Panics
    /// When `id` is not a snowflake.
    pub fn add_guild(&self, id: &str, name: &str) {
        assert_snowflake("guild", id);
        let mut state = lock(&self.state);
        let owner_id = state.snowflake();
        state.guilds.insert(
            id.to_owned(),
            Guild {
                name: name.to_owned(),
                owner_id,
                roles: vec![Role {
                    id: id.to_owned(),
                    name: "@everyone".to_owned(),
                    permissions: 0,
                    bot_id: None,
                }],
                members: BTreeMap::new(),
                channels: Vec::new(),
            },
        );
    }

    /// Sets the permissions of a guild's `@everyone` role.
    ///
    /// # Panics
    /// When the guild was not added.
    pub fn set_everyone_permissions(&self, guild_id: &str, permissions: u64) {
        let mut state = lock(&self.state);
        let guild = state.guild_mut(guild_id);
        if let Some(everyone) = guild.roles.iter_mut().find(|role| role.id == guild_id) {
            everyone.permissions = permissions;
        }
    }

    /// Registers a bot user and its token.
    ///
    /// # Panics
    /// When `user_id` is not a snowflake.
    pub fn add_bot(&self, token: &str, user_id: &str, username: &str) {
        assert_snowflake("user", user_id);
        lock(&self.state).bots.insert(
            token.to_owned(),
            Bot {
                user_id: user_id.to_owned(),
                username: username.to_owned(),
            },
        );
    }

    /// Makes a bot a member of a guild with a managed role holding `permissions` (a bit set);
    /// returns the role's id.
    ///
    /// # Panics
    /// When the guild was not added.
    pub fn add_bot_to_guild(&self, guild_id: &str, bot_user_id: &str, permissions: u64) -> String {
        assert_snowflake("user", bot_user_id);
        let mut state = lock(&self.state);
        let role_id = state.snowflake();
        let name = state
            .bots
            .values()
            .find(|bot| bot.user_id == bot_user_id)
            .map_or_else(|| "bot".to_owned(), |bot| bot.username.clone());
        let guild = state.guild_mut(guild_id);
        guild.roles.push(Role {
            id: role_id.clone(),
            name,
            permissions,
            bot_id: Some(bot_user_id.to_owned()),
        });
        guild
            .members
            .insert(bot_user_id.to_owned(), vec![role_id.clone()]);
        role_id
    }

    /// Adds a channel; a private one denies `VIEW_CHANNEL` to `@everyone`.
    ///
    /// # Panics
    /// When the guild was not added or `id` is not a snowflake.
    pub fn add_channel(
        &self,
        guild_id: &str,
        id: &str,
        name: &str,
        kind: ChannelKind,
        private: bool,
    ) {
        assert_snowflake("channel", id);
        lock(&self.state)
            .guild_mut(guild_id)
            .channels
            .push(Channel {
                id: id.to_owned(),
                name: name.to_owned(),
                kind,
                private,
            });
    }

    /// Makes the next valid call of a route fail; failures queue up in order. `route_key` is a
    /// path template of Discord's spec (`/guilds/{guild_id}/roles`), optionally preceded by
    /// the HTTP method (`GET /guilds/{guild_id}/roles`).
    ///
    /// # Panics
    /// When Discord's spec has no such route.
    pub fn fail_next(&self, route_key: &str, failure: Failure) {
        let template = route_key
            .split_once(' ')
            .map_or(route_key, |(_, path)| path);
        assert!(
            spec::discord().route_by_template(template).is_some(),
            "fail_next: Discord's spec has no route {template:?}"
        );
        lock(&self.state)
            .failures
            .entry(route_key.to_owned())
            .or_default()
            .push_back(failure);
    }

    /// Every request received so far, secrets redacted.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).journal.requests.clone()
    }

    /// The spec violations seen so far.
    #[must_use]
    pub fn violations(&self) -> Vec<String> {
        lock(&self.state).journal.violations.clone()
    }

    /// The spec violations seen so far, forgetting them (for tests that provoke some).
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.state).journal.violations)
    }

    /// Panics listing the spec violations seen so far, if any.
    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "the Discord simulator saw requests that do not follow Discord's spec:\n  - {}",
            violations.join("\n  - ")
        );
    }
}

impl Drop for DiscordSimulator {
    fn drop(&mut self) {
        fail_on_violations("Discord", &lock(&self.state).journal.violations);
    }
}

struct DiscordHandler {
    state: Arc<Mutex<State>>,
}

/// A Discord error answer: HTTP status, message and JSON error code.
#[derive(Debug, Clone, Copy)]
struct Refusal(StatusCode, &'static str, u64);

impl Refusal {
    const UNKNOWN_GUILD: Self = Self(StatusCode::NOT_FOUND, "Unknown Guild", 10_004);
    const UNKNOWN_MEMBER: Self = Self(StatusCode::NOT_FOUND, "Unknown Member", 10_007);
    const MISSING_ACCESS: Self = Self(StatusCode::FORBIDDEN, "Missing Access", 50_001);

    fn outcome(self) -> Outcome {
        discord_error(self.0, self.1, self.2)
    }
}

fn discord_error(status: StatusCode, message: &str, code: u64) -> Outcome {
    Outcome::Respond(json_response(
        status,
        &json!({"message": message, "code": code}),
    ))
}

impl Handler for DiscordHandler {
    fn handle(&self, exchange: Exchange) -> Outcome {
        let mut state = lock(&self.state);
        let spec = spec::discord();
        let path = exchange
            .path
            .strip_prefix(API_PREFIX)
            .filter(|rest| rest.starts_with('/'));
        let matched = path.and_then(|path| spec.route(path));
        let route_name = matched.as_ref().map_or_else(
            || exchange.path.clone(),
            |(route, _)| route.template.clone(),
        );
        state.journal.requests.push(exchange.record(&route_name));
        let Some((route, path_params)) = matched else {
            state.journal.violation(
                &exchange,
                &format!("no route of Discord's spec matches (the API lives under {API_PREFIX})"),
            );
            return discord_error(StatusCode::NOT_FOUND, "404: Not Found", 0);
        };
        let Some(operation) = route.operation(&exchange.verb) else {
            let allowed: Vec<&str> = route.verbs().collect();
            state.journal.violation(
                &exchange,
                &format!(
                    "the spec allows {} on {}",
                    allowed.join(", "),
                    route.template
                ),
            );
            return discord_error(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed", 0);
        };
        let problems = spec.check_request(
            operation,
            &Incoming {
                authorization: exchange.authorization.as_deref(),
                path_params: path_params.clone(),
                query: &exchange.query,
                form: &exchange.form,
                json: exchange.json.as_ref(),
                has_body: exchange.has_body,
            },
        );
        if !problems.is_empty() {
            for problem in &problems {
                state.journal.violation(&exchange, problem);
            }
            if exchange.credential("Bot").is_none() {
                return discord_error(StatusCode::UNAUTHORIZED, "401: Unauthorized", 0);
            }
            return discord_error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50_035);
        }
        let verb_key = format!("{} {}", exchange.verb, route.template);
        let failure = [verb_key, route.template.clone()]
            .iter()
            .find_map(|key| state.failures.get_mut(key).and_then(VecDeque::pop_front));
        if let Some(failure) = failure {
            return failure_outcome(failure);
        }
        let Some(bot) = exchange
            .credential("Bot")
            .and_then(|token| state.bots.get(token))
            .cloned()
        else {
            return discord_error(StatusCode::UNAUTHORIZED, "401: Unauthorized", 0);
        };
        let param = |name: &str| {
            path_params
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .unwrap_or_default()
        };
        let answer = match (exchange.verb.as_str(), route.template.as_str()) {
            ("GET", "/users/@me") => Ok(user(&bot, true)),
            ("GET", "/guilds/{guild_id}") => state
                .visible_guild(param("guild_id"), &bot)
                .map(|guild| guild_object(param("guild_id"), guild)),
            ("GET", "/guilds/{guild_id}/roles") => state
                .visible_guild(param("guild_id"), &bot)
                .map(|guild| Value::from(guild.roles.iter().map(role).collect::<Vec<_>>())),
            ("GET", "/guilds/{guild_id}/members/{user_id}") => state
                .visible_guild(param("guild_id"), &bot)
                .and_then(|guild| state.member(guild, param("user_id"))),
            ("GET", "/guilds/{guild_id}/channels") => {
                let guild_id = param("guild_id");
                state.visible_guild(guild_id, &bot).map(|guild| {
                    Value::from(
                        guild
                            .channels
                            .iter()
                            .enumerate()
                            .map(|(position, channel)| channel_object(guild_id, position, channel))
                            .collect::<Vec<_>>(),
                    )
                })
            }
            _ => {
                state.journal.violation(
                    &exchange,
                    "the Discord simulator does not implement this route yet (see sim/README.md)",
                );
                return discord_error(StatusCode::NOT_FOUND, "404: Not Found", 0);
            }
        };
        match answer {
            Ok(body) => {
                for problem in spec.check_success(&exchange.verb, &route.template, &body) {
                    state.journal.violation(
                        &exchange,
                        &format!("the simulator's own answer breaks the spec: {problem}"),
                    );
                }
                Outcome::Respond(json_response(StatusCode::OK, &body))
            }
            Err(refusal) => refusal.outcome(),
        }
    }
}

fn failure_outcome(failure: Failure) -> Outcome {
    match failure {
        Failure::Unauthorized => discord_error(StatusCode::UNAUTHORIZED, "401: Unauthorized", 0),
        Failure::Forbidden => Refusal::MISSING_ACCESS.outcome(),
        Failure::RateLimited {
            retry_after_seconds,
        } => {
            let body = json!({
                "message": "You are being rate limited.",
                "retry_after": retry_after_seconds,
                "global": false,
                "code": 0,
            });
            let header = format!("{}", retry_after_seconds.ceil());
            let response = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
            let response = with_header(response, "retry-after", &header);
            Outcome::Respond(with_header(response, "x-ratelimit-scope", "user"))
        }
        Failure::ServerError => discord_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500: Internal Server Error",
            0,
        ),
        Failure::DropConnection => Outcome::Drop,
    }
}

impl State {
    fn snowflake(&mut self) -> String {
        self.next_id += 1;
        (900_000_000_000_000_000 + self.next_id).to_string()
    }

    fn guild_mut(&mut self, guild_id: &str) -> &mut Guild {
        match self.guilds.get_mut(guild_id) {
            Some(guild) => guild,
            None => panic!("add_guild({guild_id:?}) first"),
        }
    }

    /// The guild, when it exists and the bot is a member (as Discord decides for bots).
    fn visible_guild(&self, guild_id: &str, bot: &Bot) -> Result<&Guild, Refusal> {
        let Some(guild) = self.guilds.get(guild_id) else {
            return Err(Refusal::UNKNOWN_GUILD);
        };
        if !guild.members.contains_key(&bot.user_id) {
            return Err(Refusal::MISSING_ACCESS);
        }
        Ok(guild)
    }

    fn member(&self, guild: &Guild, user_id: &str) -> Result<Value, Refusal> {
        let Some(roles) = guild.members.get(user_id) else {
            return Err(Refusal::UNKNOWN_MEMBER);
        };
        let bot = self
            .bots
            .values()
            .find(|bot| bot.user_id == user_id)
            .cloned()
            .unwrap_or_else(|| Bot {
                user_id: user_id.to_owned(),
                username: "member".to_owned(),
            });
        Ok(json!({
            "avatar": null,
            "banner": null,
            "communication_disabled_until": null,
            "flags": 0,
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "nick": null,
            "pending": false,
            "premium_since": null,
            "roles": roles,
            "user": user(&bot, false),
            "mute": false,
            "deaf": false,
        }))
    }
}

/// A user object; `private` adds the fields of `/users/@me`.
fn user(bot: &Bot, private: bool) -> Value {
    let mut user = json!({
        "id": bot.user_id,
        "username": bot.username,
        "avatar": null,
        "discriminator": "0",
        "public_flags": 0,
        "flags": 0,
        "bot": true,
        "global_name": null,
    });
    if private {
        user["mfa_enabled"] = json!(false);
        user["locale"] = json!("en-US");
    } else {
        user["primary_guild"] = Value::Null;
    }
    user
}

fn role(role: &Role) -> Value {
    let mut object = json!({
        "id": role.id,
        "name": role.name,
        "permissions": role.permissions.to_string(),
        "position": i32::from(role.bot_id.is_some()),
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "managed": role.bot_id.is_some(),
        "mentionable": false,
        "icon": null,
        "unicode_emoji": null,
        "flags": 0,
    });
    if let Some(bot_id) = &role.bot_id {
        object["tags"] = json!({"bot_id": bot_id});
    }
    object
}

/// A guild object with every field Discord's spec requires.
fn guild_object(id: &str, guild: &Guild) -> Value {
    json!({
        "id": id,
        "name": guild.name,
        "icon": null,
        "description": null,
        "home_header": null,
        "splash": null,
        "discovery_splash": null,
        "features": [],
        "banner": null,
        "owner_id": guild.owner_id,
        "application_id": null,
        "region": "deprecated",
        "afk_channel_id": null,
        "afk_timeout": 300,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 0,
        "roles": guild.roles.iter().map(role).collect::<Vec<_>>(),
        "default_message_notifications": 0,
        "mfa_level": 0,
        "explicit_content_filter": 0,
        "max_presences": null,
        "max_members": 500_000,
        "max_stage_video_channel_users": 50,
        "max_video_channel_users": 25,
        "vanity_url_code": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "rules_channel_id": null,
        "safety_alerts_channel_id": null,
        "public_updates_channel_id": null,
        "premium_progress_bar_enabled": false,
        "nsfw": false,
        "nsfw_level": 0,
        "emojis": [],
        "stickers": [],
        "incidents_data": null,
    })
}

fn channel_object(guild_id: &str, position: usize, channel: &Channel) -> Value {
    let overwrites = if channel.private {
        json!([{"id": guild_id, "type": 0, "allow": "0", "deny": VIEW_CHANNEL.to_string()}])
    } else {
        json!([])
    };
    json!({
        "id": channel.id,
        "type": channel.kind.code(),
        "flags": 0,
        "guild_id": guild_id,
        "name": channel.name,
        "parent_id": null,
        "position": position,
        "permission_overwrites": overwrites,
        "nsfw": false,
    })
}
