//! A Discord REST API simulator: scripted guilds, bots, roles and channels, answers shaped as
//! Discord's spec says, and every request checked against that spec.

use std::collections::{BTreeMap, HashMap};

use hyper::StatusCode;
use serde_json::{Value, json};

use super::spec::{self, Operation, PathParams, Route, Spec};
use super::{
    Call, Core, Exchange, Outcome, Protocol, RecordedRequest, RedactedKeys, Rejection, Reply,
    json_response, with_header,
};

/// The path prefix of the versioned API on the simulator (as on discord.com).
const API_PREFIX: &str = "/api/v10";

/// `VIEW_CHANNEL`, denied to `@everyone` on private channels.
const VIEW_CHANNEL: u64 = 1 << 10;

/// The permissions Discord gives `@everyone` in a new guild: `CREATE_INSTANT_INVITE`,
/// `ADD_REACTIONS`, `STREAM`, `VIEW_CHANNEL`, `SEND_MESSAGES`, `SEND_TTS_MESSAGES`,
/// `EMBED_LINKS`, `ATTACH_FILES`, `READ_MESSAGE_HISTORY`, `MENTION_EVERYONE`,
/// `USE_EXTERNAL_EMOJIS`, `CONNECT`, `SPEAK`, `USE_VAD` and `CHANGE_NICKNAME`.
pub const DEFAULT_EVERYONE_PERMISSIONS: u64 = 104_324_673;

/// A route the simulator implements, answering for a known bot with the path parameters the
/// spec's template bound.
type RouteFn = fn(&State, &Bot, &PathParams) -> Result<Value, Refusal>;

/// The implementation of a verb and route template of Discord's spec, if the simulator has
/// one.
fn implementation(verb: &str, template: &str) -> Option<RouteFn> {
    match (verb, template) {
        ("GET", "/users/@me") => Some(State::get_me),
        ("GET", "/guilds/{guild_id}") => Some(State::get_guild),
        ("GET", "/guilds/{guild_id}/roles") => Some(State::get_roles),
        ("GET", "/guilds/{guild_id}/members/{user_id}") => Some(State::get_member),
        ("GET", "/guilds/{guild_id}/channels") => Some(State::get_channels),
        ("GET", "/applications/@me") => Some(State::get_my_application),
        ("GET", "/channels/{channel_id}") => Some(State::get_channel),
        _ => None,
    }
}

/// The value of a path parameter (empty when the template has none of that name).
fn path_param<'a>(params: &'a PathParams, name: &str) -> &'a str {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.as_str())
}
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
    core: Core<Discord>,
}

/// Discord's protocol, as the shared simulator core runs it.
#[derive(Debug)]
pub(crate) struct Discord;

#[derive(Default)]
pub(crate) struct State {
    guilds: BTreeMap<String, Guild>,
    /// Bot tokens (secrets) → bot users.
    bots: HashMap<String, Bot>,
    next_id: u64,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("guilds", &self.guilds)
            .field("bots", &RedactedKeys(&self.bots))
            .field("next_id", &self.next_id)
            .finish()
    }
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
    /// Overwrites beside the `@everyone` one of a private channel: (role or member id, is a
    /// member, allow, deny).
    overwrites: Vec<(String, bool, u64, u64)>,
}

/// A bot user (its token is the key it is stored under).
#[derive(Debug, Clone)]
pub(crate) struct Bot {
    user_id: String,
    username: String,
    application_id: String,
}

fn assert_snowflake(what: &str, id: &str) {
    assert!(
        id.parse::<u64>().is_ok_and(|n| n.to_string() == id),
        "{what} ids are Discord snowflakes (a 64-bit unsigned integer in decimal, without \
         leading zeros), got {id:?}"
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
        Self {
            core: Core::start(address).await,
        }
    }

    /// The REST API base URL (`http://127.0.0.1:PORT/api/v10`), as `HAZEL_DISCORD_API_URL`
    /// takes it.
    #[must_use]
    pub fn url(&self) -> String {
        self.core.url()
    }

    /// Adds a guild whose `@everyone` role (id = guild id) has Discord's default permissions
    /// ([`DEFAULT_EVERYONE_PERMISSIONS`], `VIEW_CHANNEL` among them).
    ///
    /// # Panics
    /// When `id` is not a snowflake.
    pub fn add_guild(&self, id: &str, name: &str) {
        assert_snowflake("guild", id);
        let mut shared = self.core.lock();
        let state = &mut shared.state;
        let owner_id = state.snowflake();
        state.guilds.insert(
            id.to_owned(),
            Guild {
                name: name.to_owned(),
                owner_id,
                roles: vec![Role {
                    id: id.to_owned(),
                    name: "@everyone".to_owned(),
                    permissions: DEFAULT_EVERYONE_PERMISSIONS,
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
        let mut shared = self.core.lock();
        let guild = shared.state.guild_mut(guild_id);
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
        let mut shared = self.core.lock();
        let application_id = shared.state.snowflake();
        shared.state.bots.insert(
            token.to_owned(),
            Bot {
                user_id: user_id.to_owned(),
                username: username.to_owned(),
                application_id,
            },
        );
    }

    /// The application id of a bot (what `/applications/@me` answers).
    ///
    /// # Panics
    /// When the token was not added.
    #[must_use]
    pub fn application_id(&self, token: &str) -> String {
        let shared = self.core.lock();
        let Some(bot) = shared.state.bots.get(token) else {
            panic!("add_bot({token:?}, …) first");
        };
        bot.application_id.clone()
    }

    /// Adds a permission overwrite to a channel for a role (`is_member: false`) or a member.
    ///
    /// # Panics
    /// When the guild or channel was not added, or `target_id` is not a snowflake.
    pub fn add_channel_overwrite(
        &self,
        guild_id: &str,
        channel_id: &str,
        target_id: &str,
        is_member: bool,
        allow: u64,
        deny: u64,
    ) {
        assert_snowflake("overwrite target", target_id);
        let mut shared = self.core.lock();
        let guild = shared.state.guild_mut(guild_id);
        let Some(channel) = guild.channels.iter_mut().find(|c| c.id == channel_id) else {
            panic!("add_channel({guild_id:?}, {channel_id:?}, …) first");
        };
        channel
            .overwrites
            .push((target_id.to_owned(), is_member, allow, deny));
    }

    /// Makes a bot a member of a guild with a managed role holding `permissions` (a bit set);
    /// returns the role's id.
    ///
    /// # Panics
    /// When the guild was not added.
    pub fn add_bot_to_guild(&self, guild_id: &str, bot_user_id: &str, permissions: u64) -> String {
        assert_snowflake("user", bot_user_id);
        let mut shared = self.core.lock();
        let state = &mut shared.state;
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
        self.core
            .lock()
            .state
            .guild_mut(guild_id)
            .channels
            .push(Channel {
                id: id.to_owned(),
                name: name.to_owned(),
                kind,
                private,
                overwrites: Vec::new(),
            });
    }

    /// Makes the next valid call of a route fail; failures queue up in order. `route_key` is a
    /// path template of Discord's spec (`/guilds/{guild_id}/roles`), optionally preceded by
    /// the HTTP method in any case (`GET /guilds/{guild_id}/roles`); a verb-qualified key is
    /// served before the bare template.
    ///
    /// # Panics
    /// When Discord's spec has no such route, or no such method on it.
    pub fn fail_next(&self, route_key: &str, failure: Failure) {
        let (verb, template) = match route_key.trim().split_once(' ') {
            Some((verb, template)) => (Some(verb.to_ascii_uppercase()), template.trim()),
            None => (None, route_key.trim()),
        };
        let Some(route) = spec::discord().route_by_template(template) else {
            panic!("fail_next: Discord's spec has no route {template:?}");
        };
        let key = match verb {
            Some(verb) => {
                assert!(
                    route.operation(&verb).is_some(),
                    "fail_next: Discord's spec has no {verb} on {template} (it has {})",
                    route.verbs().collect::<Vec<_>>().join(", ")
                );
                format!("{verb} {template}")
            }
            None => template.to_owned(),
        };
        self.core.fail_next(key, failure);
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

/// A Discord error answer: HTTP status, message and JSON error code.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal(StatusCode, &'static str, u64);

impl Refusal {
    const UNKNOWN_GUILD: Self = Self(StatusCode::NOT_FOUND, "Unknown Guild", 10_004);
    const UNKNOWN_MEMBER: Self = Self(StatusCode::NOT_FOUND, "Unknown Member", 10_007);
    const MISSING_ACCESS: Self = Self(StatusCode::FORBIDDEN, "Missing Access", 50_001);
    const UNKNOWN_CHANNEL: Self = Self(StatusCode::NOT_FOUND, "Unknown Channel", 10_003);

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

impl Protocol for Discord {
    const NAME: &'static str = "Discord";
    const SCHEME: &'static str = "Bot";
    const API_PREFIX: &'static str = API_PREFIX;
    type State = State;
    type Failure = Failure;
    type Principal = Bot;
    type Implementation = RouteFn;

    fn spec() -> &'static Spec {
        spec::discord()
    }

    fn locate(path: &str) -> (String, Option<(&'static Route, PathParams)>) {
        let matched = path
            .strip_prefix(API_PREFIX)
            .filter(|rest| rest.starts_with('/'))
            .and_then(|rest| spec::discord().route(rest));
        let name = matched
            .as_ref()
            .map_or_else(|| path.to_owned(), |(route, _)| route.template.clone());
        (name, matched)
    }

    fn reject(rejection: Rejection) -> Outcome {
        match rejection {
            Rejection::UnknownRoute | Rejection::Unimplemented => {
                discord_error(StatusCode::NOT_FOUND, "404: Not Found", 0)
            }
            Rejection::WrongVerb => {
                discord_error(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed", 0)
            }
            Rejection::Unauthenticated
            | Rejection::UnknownCredential
            | Rejection::RevokedCredential => {
                discord_error(StatusCode::UNAUTHORIZED, "401: Unauthorized", 0)
            }
            Rejection::Invalid => {
                discord_error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50_035)
            }
        }
    }

    fn implementation(verb: &str, template: &str) -> Option<RouteFn> {
        implementation(verb, template)
    }

    fn authenticate(state: &State, exchange: &Exchange) -> Result<Bot, Rejection> {
        exchange
            .credential("Bot")
            .and_then(|token| state.bots.get(token))
            .cloned()
            .ok_or(Rejection::UnknownCredential)
    }

    fn failure_keys(verb: &str, template: &str) -> Vec<String> {
        vec![format!("{verb} {template}"), template.to_owned()]
    }

    fn fail(_: &State, _: &Bot, _: &Operation, failure: Failure) -> Outcome {
        failure_outcome(failure)
    }

    fn answer(state: &State, bot: &Bot, call: &Call<'_, Self>, _: &mut Vec<String>) -> Reply {
        match (call.implementation)(state, bot, &call.params) {
            Ok(body) => Reply::Success {
                body,
                headers: Vec::new(),
            },
            Err(refusal) => Reply::Other(refusal.outcome()),
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
    fn get_me(&self, bot: &Bot, _: &PathParams) -> Result<Value, Refusal> {
        Ok(user(bot, true))
    }

    fn get_guild(&self, bot: &Bot, params: &PathParams) -> Result<Value, Refusal> {
        let guild_id = path_param(params, "guild_id");
        self.visible_guild(guild_id, bot)
            .map(|guild| guild_object(guild_id, guild))
    }

    fn get_roles(&self, bot: &Bot, params: &PathParams) -> Result<Value, Refusal> {
        self.visible_guild(path_param(params, "guild_id"), bot)
            .map(|guild| Value::from(guild.roles.iter().map(role).collect::<Vec<_>>()))
    }

    fn get_member(&self, bot: &Bot, params: &PathParams) -> Result<Value, Refusal> {
        let guild = self.visible_guild(path_param(params, "guild_id"), bot)?;
        self.member(guild, path_param(params, "user_id"))
    }

    fn get_channels(&self, bot: &Bot, params: &PathParams) -> Result<Value, Refusal> {
        let guild_id = path_param(params, "guild_id");
        self.visible_guild(guild_id, bot).map(|guild| {
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

    fn get_my_application(&self, bot: &Bot, _: &PathParams) -> Result<Value, Refusal> {
        Ok(json!({
            "id": bot.application_id,
            "name": bot.username,
            "icon": null,
            "description": "",
            "type": null,
            "bot": user(bot, false),
            "verify_key": "0".repeat(64),
            "flags": 0,
            "flags_new": "0",
            "redirect_uris": [],
            "interactions_endpoint_url": null,
            "role_connections_verification_url": null,
            "owner": user(bot, false),
            "approximate_guild_count": self
                .guilds
                .values()
                .filter(|guild| guild.members.contains_key(&bot.user_id))
                .count(),
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "team": null,
            "eligible_oauth2_scopes": ["bot"],
        }))
    }

    /// A guild channel, as Discord answers a bot: unknown channels are 10003, and channels of
    /// guilds the bot is not in, or that it may not view, are hidden behind 50001.
    fn get_channel(&self, bot: &Bot, params: &PathParams) -> Result<Value, Refusal> {
        let channel_id = path_param(params, "channel_id");
        let Some((guild_id, guild, position, channel)) =
            self.guilds.iter().find_map(|(guild_id, guild)| {
                guild
                    .channels
                    .iter()
                    .enumerate()
                    .find(|(_, channel)| channel.id == channel_id)
                    .map(|(position, channel)| (guild_id, guild, position, channel))
            })
        else {
            return Err(Refusal::UNKNOWN_CHANNEL);
        };
        let Some(roles) = guild.members.get(&bot.user_id) else {
            return Err(Refusal::MISSING_ACCESS);
        };
        if !can_view(guild_id, guild, &bot.user_id, roles, channel) {
            return Err(Refusal::MISSING_ACCESS);
        }
        Ok(channel_object(guild_id, position, channel))
    }

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
                application_id: user_id.to_owned(),
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

/// `ADMINISTRATOR`, which overrides every overwrite.
const ADMINISTRATOR: u64 = 1 << 3;

/// Whether a member may view a channel: guild-level permissions (the owner and administrators
/// see everything), then the `@everyone`, role and member overwrites, in Discord's order.
fn can_view(
    guild_id: &str,
    guild: &Guild,
    user_id: &str,
    roles: &[String],
    channel: &Channel,
) -> bool {
    if guild.owner_id == user_id {
        return true;
    }
    let mut bits = guild
        .roles
        .iter()
        .filter(|role| role.id == guild_id || roles.contains(&role.id))
        .fold(0, |bits, role| bits | role.permissions);
    if bits & ADMINISTRATOR != 0 {
        return true;
    }
    if channel.private {
        bits &= !VIEW_CHANNEL;
    }
    for (id, is_member, everyone_allow, everyone_deny) in &channel.overwrites {
        if !is_member && id == guild_id {
            bits = (bits & !everyone_deny) | everyone_allow;
        }
    }
    let (mut allow, mut deny) = (0, 0);
    for (id, is_member, role_allow, role_deny) in &channel.overwrites {
        if !is_member && id != guild_id && roles.contains(id) {
            allow |= role_allow;
            deny |= role_deny;
        }
    }
    bits = (bits & !deny) | allow;
    for (id, is_member, member_allow, member_deny) in &channel.overwrites {
        if *is_member && id == user_id {
            bits = (bits & !member_deny) | member_allow;
        }
    }
    bits & VIEW_CHANNEL != 0
}

fn channel_object(guild_id: &str, position: usize, channel: &Channel) -> Value {
    let mut overwrites = Vec::new();
    if channel.private {
        overwrites.push(
            json!({"id": guild_id, "type": 0, "allow": "0", "deny": VIEW_CHANNEL.to_string()}),
        );
    }
    for (id, is_member, allow, deny) in &channel.overwrites {
        overwrites.push(json!({
            "id": id, "type": u8::from(*is_member),
            "allow": allow.to_string(), "deny": deny.to_string(),
        }));
    }
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
