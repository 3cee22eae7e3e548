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

/// A route the simulator implements, answering a call of a known bot (for webhook routes,
/// the bot that created the webhook); refusals Discord would answer for a request that
/// breaks its rules (a webhook username containing "discord", content over 2,000
/// characters) are also pushed to the violations.
type RouteFn = fn(&State, &Bot, &Call<'_, Discord>, &mut Vec<String>) -> Result<Answer, Refusal>;

/// A successful answer: a JSON body (HTTP 200) or none (HTTP 204).
#[derive(Debug)]
pub(crate) enum Answer {
    Json(Value),
    NoContent,
}

/// The implementation of a verb and route template of Discord's spec, if the simulator has
/// one.
fn implementation(verb: &str, template: &str) -> Option<RouteFn> {
    match (verb, template) {
        ("GET", "/users/@me") => Some(|s, b, c, _| s.get_me(b, &c.params).map(Answer::Json)),
        ("GET", "/users/{user_id}") => Some(State::get_user),
        ("GET", "/guilds/{guild_id}") => {
            Some(|s, b, c, _| s.get_guild(b, &c.params).map(Answer::Json))
        }
        ("GET", "/guilds/{guild_id}/roles") => {
            Some(|s, b, c, _| s.get_roles(b, &c.params).map(Answer::Json))
        }
        ("GET", "/guilds/{guild_id}/members/{user_id}") => {
            Some(|s, b, c, _| s.get_member(b, &c.params).map(Answer::Json))
        }
        ("GET", "/guilds/{guild_id}/channels") => {
            Some(|s, b, c, _| s.get_channels(b, &c.params).map(Answer::Json))
        }
        ("GET", "/applications/@me") => {
            Some(|s, b, c, _| s.get_my_application(b, &c.params).map(Answer::Json))
        }
        ("GET", "/channels/{channel_id}") => {
            Some(|s, b, c, _| s.get_channel(b, &c.params).map(Answer::Json))
        }
        ("GET", "/channels/{channel_id}/webhooks") => Some(State::list_webhooks),
        ("POST", "/channels/{channel_id}/webhooks") => Some(State::create_webhook),
        ("POST", "/webhooks/{webhook_id}/{webhook_token}") => Some(State::execute_webhook),
        ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}") => {
            Some(State::edit_webhook_message)
        }
        ("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}") => {
            Some(State::delete_webhook_message)
        }
        ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me") => {
            Some(|s, b, c, r| s.react(b, c, r, true))
        }
        ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me") => {
            Some(|s, b, c, r| s.react(b, c, r, false))
        }
        ("PUT", "/channels/{channel_id}/messages/pins/{message_id}") => {
            Some(|s, b, c, r| s.pin(b, c, r, true))
        }
        ("DELETE", "/channels/{channel_id}/messages/pins/{message_id}") => {
            Some(|s, b, c, r| s.pin(b, c, r, false))
        }
        ("GET", "/channels/{channel_id}/messages/pins") => Some(State::list_pins),
        ("POST", "/channels/{channel_id}/messages/{message_id}/threads") => {
            Some(State::start_thread)
        }
        ("GET", "/channels/{channel_id}/messages") => Some(State::list_messages),
        ("GET", "/guilds/{guild_id}/threads/active") => Some(State::active_threads),
        ("GET", "/channels/{channel_id}/threads/archived/public") => {
            Some(State::archived_public_threads)
        }
        ("GET", "/channels/{channel_id}/messages/{message_id}") => Some(State::get_message),
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
    /// HTTP 429 of the global limit: `"global": true` and `X-RateLimit-Global`.
    GlobalRateLimited {
        /// Seconds, possibly fractional.
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
    /// What calls change: webhooks, messages, threads, rate-limit buckets. Behind its own
    /// lock because routes answer with a shared borrow of the state.
    live: std::sync::Mutex<Live>,
}

/// The state calls change.
#[derive(Default)]
struct Live {
    webhooks: Vec<Webhook>,
    /// Messages by id.
    messages: BTreeMap<u64, Message>,
    /// Threads by id (a thread started from a message has the message's id).
    threads: BTreeMap<String, SimThread>,
    /// Scripted bucket states by route template: (remaining, reset after seconds).
    buckets: HashMap<String, (u32, f64)>,
    /// Route templates whose next call is carried out and then left unanswered.
    drop_after_applying: Vec<String>,
    /// Authors of messages posted as people: message id → user id.
    authors: HashMap<String, String>,
    /// People who posted: user id → username.
    users: HashMap<String, String>,
    /// Whether `GET /channels/{channel_id}/webhooks` leaves the tokens out.
    hide_listed_tokens: bool,
    /// Who is told of every webhook message as it is stored ([`DiscordSimulator::watch_posts`]).
    post_watchers: Vec<tokio::sync::mpsc::UnboundedSender<PostedMessage>>,
    next_id: u64,
}

impl Live {
    /// A thread listing (`ThreadsResponse`, all on one page) of the threads `keep` keeps,
    /// newest first.
    fn thread_listing(&self, guild_id: &str, keep: impl Fn(&SimThread) -> bool) -> Value {
        let threads: Vec<Value> = self
            .threads
            .iter()
            .rev()
            .filter(|(_, thread)| keep(thread))
            .map(|(id, _)| self.thread_object(guild_id, id))
            .collect();
        json!({"threads": threads, "members": [], "has_more": false})
    }

    /// A thread as Discord's thread channel object, with its last message's id.
    fn thread_object(&self, guild_id: &str, id: &str) -> Value {
        let thread = &self.threads[id];
        let in_thread = self.messages.values().filter(|m| m.channel_id == id);
        let last = in_thread.clone().next_back().map(|m| m.id.clone());
        let count = in_thread.count();
        json!({
            "id": id,
            "type": 11,
            "flags": 0,
            "guild_id": guild_id,
            "parent_id": thread.parent,
            "name": thread.name,
            "owner_id": thread.owner,
            "last_message_id": last,
            "thread_metadata": {
                "archived": thread.archived,
                "archive_timestamp": "2024-01-01T00:00:00.000000+00:00",
                "auto_archive_duration": 1440,
                "locked": false,
                "create_timestamp": "2024-01-01T00:00:00.000000+00:00",
            },
            "message_count": count,
            "member_count": 1,
            "total_message_sent": count,
            "rate_limit_per_user": 0,
        })
    }
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("webhooks", &self.webhooks.len())
            .field("messages", &self.messages.len())
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// A thread: its parent channel, name, owner and whether it is archived.
#[derive(Clone, Debug)]
struct SimThread {
    parent: String,
    name: String,
    owner: String,
    archived: bool,
}

/// A channel webhook (its token is a secret, never shown in `Debug`).
#[derive(Clone)]
struct Webhook {
    id: String,
    token: String,
    channel_id: String,
    guild_id: String,
    name: String,
    application_id: String,
    creator: Bot,
}

/// A webhook message as it was stored, with when: what [`DiscordSimulator::watch_posts`] hands
/// out (benchmarks time deliveries with it).
#[derive(Clone, Debug)]
pub struct PostedMessage {
    /// The channel or thread it was posted in.
    pub channel_id: String,
    /// Its content.
    pub content: String,
    /// When the simulator stored it.
    pub at: std::time::Instant,
}

/// A message posted through the simulator.
#[derive(Clone, Debug, PartialEq)]
pub struct SimMessage {
    /// Its id.
    pub id: String,
    /// The channel (or thread) it is in.
    pub channel_id: String,
    /// Its content.
    pub content: String,
    /// The author's username (a webhook message's `username`).
    pub username: String,
    /// The avatar URL it was posted with.
    pub avatar_url: Option<String>,
    /// The webhook that posted it.
    pub webhook_id: Option<String>,
    /// Its `allowed_mentions`, as sent.
    pub allowed_mentions: Option<Value>,
    /// Whether it was edited.
    pub edited: bool,
    /// Emoji the bot reacted with.
    pub reactions: Vec<String>,
    /// Whether it is pinned.
    pub pinned: bool,
}

type Message = SimMessage;

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

    /// Every webhook message from now on, as it is stored (the receiver ends with the
    /// simulator).
    #[must_use]
    pub fn watch_posts(&self) -> tokio::sync::mpsc::UnboundedReceiver<PostedMessage> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        self.core.lock().state.live().post_watchers.push(sender);
        receiver
    }

    /// The messages of a channel or thread, oldest first.
    #[must_use]
    pub fn messages(&self, channel_id: &str) -> Vec<SimMessage> {
        let shared = self.core.lock();
        let live = shared.state.live();
        live.messages
            .values()
            .filter(|message| message.channel_id == channel_id)
            .cloned()
            .collect()
    }

    /// Posts a message as a person (`user_id`, `username`) in a channel or thread, as if
    /// typed in Discord; answers its id (a snowflake of now).
    pub fn post_as_user(
        &self,
        channel_id: &str,
        user_id: &str,
        username: &str,
        content: &str,
    ) -> String {
        let shared = self.core.lock();
        let mut live = shared.state.live();
        let id = live.snowflake();
        live.messages.insert(
            snowflake_number(&id),
            SimMessage {
                id: id.clone(),
                channel_id: channel_id.to_owned(),
                content: content.to_owned(),
                username: username.to_owned(),
                avatar_url: None,
                webhook_id: None,
                allowed_mentions: None,
                edited: false,
                reactions: Vec::new(),
                pinned: false,
            },
        );
        live.authors.insert(id.clone(), user_id.to_owned());
        live.users.insert(user_id.to_owned(), username.to_owned());
        id
    }

    /// Pins or unpins a message as a person in Discord would (the caller dispatches the
    /// Gateway's `CHANNEL_PINS_UPDATE`).
    ///
    /// # Panics
    /// When the channel or thread has no such message.
    pub fn set_pinned(&self, channel_id: &str, message_id: &str, pinned: bool) {
        let shared = self.core.lock();
        let mut live = shared.state.live();
        match live
            .messages
            .get_mut(&snowflake_number(message_id))
            .filter(|message| message.channel_id == channel_id)
        {
            Some(message) => message.pinned = pinned,
            None => panic!("no message {message_id} in {channel_id}"),
        }
    }

    /// Whether `GET /channels/{channel_id}/webhooks` leaves the webhooks' tokens out (Discord
    /// answers a webhook's token only to the application that made it, and a client should
    /// not count on it): a process that did not keep its webhook's token cannot post
    /// through that webhook again.
    pub fn hide_listed_webhook_tokens(&self, hide: bool) {
        self.core.lock().state.live().hide_listed_tokens = hide;
    }

    /// The webhooks of a channel: (id, name).
    #[must_use]
    pub fn webhooks(&self, channel_id: &str) -> Vec<(String, String)> {
        let shared = self.core.lock();
        let live = shared.state.live();
        live.webhooks
            .iter()
            .filter(|webhook| webhook.channel_id == channel_id)
            .map(|webhook| (webhook.id.clone(), webhook.name.clone()))
            .collect()
    }

    /// The thread started from a message, if any: its name.
    #[must_use]
    pub fn thread(&self, message_id: &str) -> Option<String> {
        let shared = self.core.lock();
        let live = shared.state.live();
        live.threads
            .get(message_id)
            .map(|thread| thread.name.clone())
    }

    /// Starts a public thread in `parent` as the person `owner` would in Discord: from the
    /// message `starter` (the thread then has its id), or on its own (a new snowflake).
    /// Answers the thread object, as the Gateway's `THREAD_CREATE` carries it (the caller
    /// dispatches it when the session should hear of it).
    ///
    /// # Panics
    /// When `parent` is no channel of a guild, or a thread of `starter` exists.
    pub fn start_thread_as_user(
        &self,
        parent: &str,
        starter: Option<&str>,
        owner: &str,
        name: &str,
    ) -> Value {
        let shared = self.core.lock();
        let (guild_id, ..) = shared
            .state
            .find_channel(parent)
            .unwrap_or_else(|| panic!("no channel {parent}"));
        let guild_id = guild_id.to_owned();
        let mut live = shared.state.live();
        let id = starter.map_or_else(|| live.snowflake(), str::to_owned);
        let thread = SimThread {
            parent: parent.to_owned(),
            name: name.to_owned(),
            owner: owner.to_owned(),
            archived: false,
        };
        assert!(
            live.threads.insert(id.clone(), thread).is_none(),
            "a thread {id} exists"
        );
        live.thread_object(&guild_id, &id)
    }

    /// Archives a thread (Discord does after its inactivity period): it leaves the guild's
    /// active threads for its channel's archived ones.
    ///
    /// # Panics
    /// When there is no such thread.
    pub fn archive_thread(&self, thread_id: &str) {
        let shared = self.core.lock();
        let mut live = shared.state.live();
        live.threads
            .get_mut(thread_id)
            .unwrap_or_else(|| panic!("no thread {thread_id}"))
            .archived = true;
    }

    /// Answers calls of `route_template` with a bucket that has `remaining` requests left,
    /// resetting after `reset_after_seconds` (`X-RateLimit-Remaining`, `…-Reset-After`).
    ///
    /// # Panics
    /// When Discord's spec has no such route.
    pub fn set_bucket(&self, route_template: &str, remaining: u32, reset_after_seconds: f64) {
        assert!(
            spec::discord().route_by_template(route_template).is_some(),
            "set_bucket: Discord's spec has no route {route_template:?}"
        );
        let shared = self.core.lock();
        shared
            .state
            .live()
            .buckets
            .insert(route_template.to_owned(), (remaining, reset_after_seconds));
    }

    /// Carries out the next call of `route_template`, then closes the connection without
    /// answering: the caller cannot know that it took effect.
    ///
    /// # Panics
    /// When Discord's spec has no such route.
    pub fn apply_then_drop(&self, route_template: &str) {
        assert!(
            spec::discord().route_by_template(route_template).is_some(),
            "apply_then_drop: Discord's spec has no route {route_template:?}"
        );
        let shared = self.core.lock();
        shared
            .state
            .live()
            .drop_after_applying
            .push(route_template.to_owned());
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
    const UNKNOWN_USER: Self = Self(StatusCode::NOT_FOUND, "Unknown User", 10_013);
    const MISSING_ACCESS: Self = Self(StatusCode::FORBIDDEN, "Missing Access", 50_001);
    const UNKNOWN_CHANNEL: Self = Self(StatusCode::NOT_FOUND, "Unknown Channel", 10_003);
    const UNKNOWN_MESSAGE: Self = Self(StatusCode::NOT_FOUND, "Unknown Message", 10_008);
    const UNKNOWN_WEBHOOK: Self = Self(StatusCode::NOT_FOUND, "Unknown Webhook", 10_015);
    const UNKNOWN_EMOJI: Self = Self(StatusCode::BAD_REQUEST, "Unknown Emoji", 10_014);
    const MISSING_PERMISSIONS: Self = Self(StatusCode::FORBIDDEN, "Missing Permissions", 50_013);
    const INVALID_FORM_BODY: Self = Self(StatusCode::BAD_REQUEST, "Invalid Form Body", 50_035);
    const EMPTY_MESSAGE: Self = Self(
        StatusCode::BAD_REQUEST,
        "Cannot send an empty message",
        50_006,
    );
    const THREAD_EXISTS: Self = Self(
        StatusCode::BAD_REQUEST,
        "A thread has already been created for this message",
        160_004,
    );

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
        // A webhook route is authenticated by the webhook's token in its path.
        let segments: Vec<&str> = exchange
            .path
            .strip_prefix(API_PREFIX)
            .unwrap_or_default()
            .split('/')
            .collect();
        if let ["", "webhooks", id, token, ..] = segments.as_slice() {
            return state
                .live()
                .webhooks
                .iter()
                .find(|webhook| webhook.id == *id && webhook.token == *token)
                .map(|webhook| webhook.creator.clone())
                .ok_or(Rejection::UnknownCredential);
        }
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

    fn answer(state: &State, bot: &Bot, call: &Call<'_, Self>, refused: &mut Vec<String>) -> Reply {
        let template = call.template;
        let answer = (call.implementation)(state, bot, call, refused);
        let (headers, drop) = {
            let mut live = state.live();
            let drop = match live.drop_after_applying.iter().position(|t| t == template) {
                Some(at) => {
                    live.drop_after_applying.remove(at);
                    true
                }
                None => false,
            };
            (live.rate_limit_headers(template, call), drop)
        };
        if drop {
            return Reply::Other(Outcome::Drop);
        }
        match answer {
            Ok(Answer::Json(body)) => Reply::Success { body, headers },
            Ok(Answer::NoContent) => {
                let mut response =
                    hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::new()));
                *response.status_mut() = StatusCode::NO_CONTENT;
                for (name, value) in headers {
                    response = with_header(response, name, &value);
                }
                Reply::Other(Outcome::Respond(response))
            }
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
        Failure::GlobalRateLimited {
            retry_after_seconds,
        } => {
            let body = json!({
                "message": "You are being rate limited.",
                "retry_after": retry_after_seconds,
                "global": true,
                "code": 0,
            });
            let header = format!("{}", retry_after_seconds.ceil());
            let response = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
            let response = with_header(response, "retry-after", &header);
            let response = with_header(response, "x-ratelimit-global", "true");
            Outcome::Respond(with_header(response, "x-ratelimit-scope", "global"))
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

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        super::lock(&self.live)
    }

    /// A channel of any guild: its guild's id, the guild, its position and itself.
    fn find_channel(&self, channel_id: &str) -> Option<(&str, &Guild, usize, &Channel)> {
        self.guilds.iter().find_map(|(guild_id, guild)| {
            guild
                .channels
                .iter()
                .enumerate()
                .find(|(_, channel)| channel.id == channel_id)
                .map(|(position, channel)| (guild_id.as_str(), guild, position, channel))
        })
    }

    /// The channel `channel_id` names (a thread stands for its parent) and the bot's
    /// permissions there; 10003 for an unknown channel, 50001 where the bot may not view it.
    fn bot_channel(&self, bot: &Bot, channel_id: &str) -> Result<(String, u64), Refusal> {
        let parent = self
            .live()
            .threads
            .get(channel_id)
            .map_or_else(|| channel_id.to_owned(), |thread| thread.parent.clone());
        let (guild_id, guild, _, channel) =
            self.find_channel(&parent).ok_or(Refusal::UNKNOWN_CHANNEL)?;
        let roles = guild
            .members
            .get(&bot.user_id)
            .ok_or(Refusal::MISSING_ACCESS)?;
        let bits = channel_bits(guild_id, guild, &bot.user_id, roles, channel);
        if bits & VIEW_CHANNEL == 0 {
            return Err(Refusal::MISSING_ACCESS);
        }
        Ok((parent, bits))
    }

    /// Refuses with 50013 unless the bot holds `permission` in the channel.
    fn require(&self, bot: &Bot, channel_id: &str, permission: u64) -> Result<String, Refusal> {
        let (parent, bits) = self.bot_channel(bot, channel_id)?;
        if bits & permission == permission {
            Ok(parent)
        } else {
            Err(Refusal::MISSING_PERMISSIONS)
        }
    }

    fn list_webhooks(
        &self,
        bot: &Bot,
        call: &Call<'_, Discord>,
        _: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let channel_id = path_param(&call.params, "channel_id");
        self.require(bot, channel_id, MANAGE_WEBHOOKS)?;
        let live = self.live();
        let hooks: Vec<Value> = live
            .webhooks
            .iter()
            .filter(|webhook| webhook.channel_id == channel_id)
            .map(|webhook| {
                let mut object = webhook_object(webhook);
                if live.hide_listed_tokens {
                    // The webhook object's `token` is optional in Discord's spec.
                    if let Some(object) = object.as_object_mut() {
                        object.remove("token");
                    }
                }
                object
            })
            .collect();
        Ok(Answer::Json(Value::from(hooks)))
    }

    fn create_webhook(
        &self,
        bot: &Bot,
        call: &Call<'_, Discord>,
        refused: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let channel_id = path_param(&call.params, "channel_id");
        let (guild_id, ..) = self
            .find_channel(channel_id)
            .ok_or(Refusal::UNKNOWN_CHANNEL)?;
        let guild_id = guild_id.to_owned();
        self.require(bot, channel_id, MANAGE_WEBHOOKS)?;
        let name = body_str(call, "name").unwrap_or_default();
        if let Some(problem) = username_problem(&name) {
            refused.push(format!("webhook name {problem}"));
            return Err(Refusal::INVALID_FORM_BODY);
        }
        let mut live = self.live();
        let id = live.snowflake();
        let token = format!("simulated-webhook-token-{id}");
        let webhook = Webhook {
            id,
            token,
            channel_id: channel_id.to_owned(),
            guild_id,
            name,
            application_id: bot.application_id.clone(),
            creator: bot.clone(),
        };
        let object = webhook_object(&webhook);
        live.webhooks.push(webhook);
        Ok(Answer::Json(object))
    }

    /// The webhook a webhook route names (authenticated already).
    fn webhook_of(&self, call: &Call<'_, Discord>) -> Result<Webhook, Refusal> {
        let id = path_param(&call.params, "webhook_id");
        self.live()
            .webhooks
            .iter()
            .find(|webhook| webhook.id == id)
            .cloned()
            .ok_or(Refusal::UNKNOWN_WEBHOOK)
    }

    /// Where a webhook call posts: its channel, or the thread `thread_id` of that channel.
    fn webhook_target(
        &self,
        webhook: &Webhook,
        call: &Call<'_, Discord>,
    ) -> Result<String, Refusal> {
        match call.exchange.param("thread_id") {
            None => Ok(webhook.channel_id.clone()),
            Some(thread) => match self.live().threads.get(thread) {
                Some(found) if found.parent == webhook.channel_id => Ok(thread.to_owned()),
                _ => Err(Refusal::UNKNOWN_CHANNEL),
            },
        }
    }

    fn execute_webhook(
        &self,
        _: &Bot,
        call: &Call<'_, Discord>,
        refused: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let webhook = self.webhook_of(call)?;
        let channel_id = self.webhook_target(&webhook, call)?;
        let username = body_str(call, "username").unwrap_or_else(|| webhook.name.clone());
        if let Some(problem) = username_problem(&username) {
            refused.push(format!("webhook username {problem}"));
            return Err(Refusal::INVALID_FORM_BODY);
        }
        let content = body_str(call, "content").unwrap_or_default();
        check_content(&content, refused)?;
        let mut live = self.live();
        let id = live.snowflake();
        let message = Message {
            id: id.clone(),
            channel_id,
            content,
            username,
            avatar_url: body_str(call, "avatar_url"),
            webhook_id: Some(webhook.id.clone()),
            allowed_mentions: call
                .exchange
                .json
                .as_ref()
                .and_then(|body| body.get("allowed_mentions"))
                .cloned(),
            edited: false,
            reactions: Vec::new(),
            pinned: false,
        };
        let object = message_object(&message, &webhook);
        if !live.post_watchers.is_empty() {
            let posted = PostedMessage {
                channel_id: message.channel_id.clone(),
                content: message.content.clone(),
                at: std::time::Instant::now(),
            };
            live.post_watchers
                .retain(|watcher| watcher.send(posted.clone()).is_ok());
        }
        live.messages.insert(snowflake_number(&id), message);
        Ok(if call.exchange.param("wait") == Some("true") {
            Answer::Json(object)
        } else {
            Answer::NoContent
        })
    }

    /// A message of the webhook in the call's channel or thread.
    fn webhook_message(
        live: &mut Live,
        webhook: &Webhook,
        target: &str,
        call: &Call<'_, Discord>,
    ) -> Result<u64, Refusal> {
        let id = snowflake_number(path_param(&call.params, "message_id"));
        match live.messages.get(&id) {
            Some(message)
                if message.webhook_id.as_deref() == Some(webhook.id.as_str())
                    && message.channel_id == target =>
            {
                Ok(id)
            }
            _ => Err(Refusal::UNKNOWN_MESSAGE),
        }
    }

    fn edit_webhook_message(
        &self,
        _: &Bot,
        call: &Call<'_, Discord>,
        refused: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let webhook = self.webhook_of(call)?;
        let target = self.webhook_target(&webhook, call)?;
        let content = body_str(call, "content");
        if let Some(content) = &content {
            check_content(content, refused)?;
        }
        let mut live = self.live();
        let id = Self::webhook_message(&mut live, &webhook, &target, call)?;
        let Some(message) = live.messages.get_mut(&id) else {
            return Err(Refusal::UNKNOWN_MESSAGE);
        };
        if let Some(content) = content {
            message.content = content;
        }
        message.edited = true;
        Ok(Answer::Json(message_object(message, &webhook)))
    }

    fn delete_webhook_message(
        &self,
        _: &Bot,
        call: &Call<'_, Discord>,
        _: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let webhook = self.webhook_of(call)?;
        let target = self.webhook_target(&webhook, call)?;
        let mut live = self.live();
        let id = Self::webhook_message(&mut live, &webhook, &target, call)?;
        live.messages.remove(&id);
        Ok(Answer::NoContent)
    }

    /// A message in a channel (or thread) the bot may read.
    fn channel_message<'a>(
        live: &'a mut Live,
        channel_id: &str,
        message_id: &str,
    ) -> Result<&'a mut Message, Refusal> {
        live.messages
            .get_mut(&snowflake_number(message_id))
            .filter(|message| message.channel_id == channel_id)
            .ok_or(Refusal::UNKNOWN_MESSAGE)
    }

    fn react(
        &self,
        bot: &Bot,
        call: &Call<'_, Discord>,
        _: &mut Vec<String>,
        add: bool,
    ) -> Result<Answer, Refusal> {
        let channel_id = path_param(&call.params, "channel_id");
        let needed = if add {
            ADD_REACTIONS | READ_MESSAGE_HISTORY
        } else {
            READ_MESSAGE_HISTORY
        };
        self.require(bot, channel_id, needed)?;
        let emoji = super::percent_decode(path_param(&call.params, "emoji_name"));
        // A custom emoji is `name:id`; one the guild lacks is unknown.
        if emoji.contains(':') || emoji.is_empty() {
            return Err(Refusal::UNKNOWN_EMOJI);
        }
        let mut live = self.live();
        let message = Self::channel_message(
            &mut live,
            channel_id,
            path_param(&call.params, "message_id"),
        )?;
        message.reactions.retain(|held| *held != emoji);
        if add {
            message.reactions.push(emoji);
        }
        Ok(Answer::NoContent)
    }

    fn pin(
        &self,
        bot: &Bot,
        call: &Call<'_, Discord>,
        _: &mut Vec<String>,
        pinned: bool,
    ) -> Result<Answer, Refusal> {
        let channel_id = path_param(&call.params, "channel_id");
        self.require(bot, channel_id, MANAGE_MESSAGES)?;
        let mut live = self.live();
        let message = Self::channel_message(
            &mut live,
            channel_id,
            path_param(&call.params, "message_id"),
        )?;
        message.pinned = pinned;
        Ok(Answer::NoContent)
    }

    /// `GET /channels/{channel_id}/messages/pins`: the pinned messages, all on one page.
    fn list_pins(
        &self,
        bot: &Bot,
        call: &Call<'_, Discord>,
        _: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let channel_id = path_param(&call.params, "channel_id");
        self.require(bot, channel_id, READ_MESSAGE_HISTORY)?;
        let live = self.live();
        let items: Vec<Value> = live
            .messages
            .values()
            .rev()
            .filter(|message| message.channel_id == channel_id && message.pinned)
            .map(|message| {
                let object = match message
                    .webhook_id
                    .as_ref()
                    .and_then(|id| live.webhooks.iter().find(|w| &w.id == id))
                {
                    Some(webhook) => message_object(message, webhook),
                    None => plain_message_object(message),
                };
                json!({"pinned_at": object["timestamp"], "message": object})
            })
            .collect();
        Ok(Answer::Json(json!({"items": items, "has_more": false})))
    }

    fn start_thread(
        &self,
        bot: &Bot,
        call: &Call<'_, Discord>,
        refused: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let channel_id = path_param(&call.params, "channel_id");
        let message_id = path_param(&call.params, "message_id");
        let (guild_id, ..) = self
            .find_channel(channel_id)
            .ok_or(Refusal::UNKNOWN_CHANNEL)?;
        let guild_id = guild_id.to_owned();
        self.require(bot, channel_id, CREATE_PUBLIC_THREADS)?;
        let name = body_str(call, "name").unwrap_or_default();
        let length = name.chars().count();
        if !(1..=100).contains(&length) {
            refused.push(format!("thread name of {length} characters (1 to 100)"));
            return Err(Refusal::INVALID_FORM_BODY);
        }
        let mut live = self.live();
        Self::channel_message(&mut live, channel_id, message_id)?;
        if live.threads.contains_key(message_id) {
            return Err(Refusal::THREAD_EXISTS);
        }
        live.threads.insert(
            message_id.to_owned(),
            SimThread {
                parent: channel_id.to_owned(),
                name,
                owner: bot.user_id.clone(),
                archived: false,
            },
        );
        Ok(Answer::Json(live.thread_object(&guild_id, message_id)))
    }

    /// `GET /guilds/{guild_id}/threads/active`: the guild's threads that are not archived,
    /// in channels the bot may view.
    fn active_threads(
        &self,
        bot: &Bot,
        call: &Call<'_, Discord>,
        _: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let guild_id = path_param(&call.params, "guild_id");
        let guild = self.visible_guild(guild_id, bot)?;
        let visible: Vec<String> = guild
            .channels
            .iter()
            .filter(|channel| self.bot_channel(bot, &channel.id).is_ok())
            .map(|channel| channel.id.clone())
            .collect();
        Ok(Answer::Json(
            self.live().thread_listing(guild_id, |thread| {
                !thread.archived && visible.contains(&thread.parent)
            }),
        ))
    }

    /// `GET /channels/{channel_id}/threads/archived/public`: the channel's archived threads,
    /// all on one page (the simulator archives no thread at a time of its own).
    fn archived_public_threads(
        &self,
        bot: &Bot,
        call: &Call<'_, Discord>,
        _: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let channel_id = path_param(&call.params, "channel_id");
        self.require(bot, channel_id, READ_MESSAGE_HISTORY)?;
        let (guild_id, ..) = self
            .find_channel(channel_id)
            .ok_or(Refusal::UNKNOWN_CHANNEL)?;
        Ok(Answer::Json(
            self.live().thread_listing(guild_id, |thread| {
                thread.archived && thread.parent == channel_id
            }),
        ))
    }

    /// `GET /channels/{channel_id}/messages`: newest first, `after`/`before` and `limit`
    /// (default 50) as Discord applies them.
    fn list_messages(
        &self,
        bot: &Bot,
        call: &Call<'_, Discord>,
        _: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let channel_id = path_param(&call.params, "channel_id");
        self.require(bot, channel_id, READ_MESSAGE_HISTORY)?;
        let after = call.exchange.param("after").map(snowflake_number);
        let before = call.exchange.param("before").map(snowflake_number);
        let limit = call
            .exchange
            .param("limit")
            .and_then(|limit| limit.parse::<usize>().ok())
            .unwrap_or(50);
        let live = self.live();
        let mut found: Vec<(&u64, &Message)> = live
            .messages
            .iter()
            .filter(|(id, message)| {
                message.channel_id == channel_id
                    && after.is_none_or(|after| **id > after)
                    && before.is_none_or(|before| **id < before)
            })
            .collect();
        // With `after`, Discord answers the oldest messages after it (newest first).
        if after.is_some() {
            found.truncate(limit);
        } else {
            let skip = found.len().saturating_sub(limit);
            found.drain(..skip);
        }
        let objects: Vec<Value> = found
            .into_iter()
            .rev()
            .map(|(_, message)| live.object_of(message))
            .collect();
        Ok(Answer::Json(Value::from(objects)))
    }

    /// `GET /users/{user_id}`: a bot, or a person who posted (10013 otherwise).
    fn get_user(
        &self,
        _: &Bot,
        call: &Call<'_, Discord>,
        _: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let user_id = path_param(&call.params, "user_id");
        if let Some(bot) = self.bots.values().find(|bot| bot.user_id == user_id) {
            return Ok(Answer::Json(user(bot, false)));
        }
        let live = self.live();
        let username = live.users.get(user_id).ok_or(Refusal::UNKNOWN_USER)?;
        let mut object = user(
            &Bot {
                user_id: user_id.to_owned(),
                username: username.clone(),
                application_id: String::new(),
            },
            false,
        );
        object["bot"] = json!(false);
        Ok(Answer::Json(object))
    }

    /// `GET /channels/{channel_id}/messages/{message_id}`: one message of a channel or thread
    /// the bot may read.
    fn get_message(
        &self,
        bot: &Bot,
        call: &Call<'_, Discord>,
        _: &mut Vec<String>,
    ) -> Result<Answer, Refusal> {
        let channel_id = path_param(&call.params, "channel_id");
        self.require(bot, channel_id, READ_MESSAGE_HISTORY)?;
        let mut live = self.live();
        let message = Self::channel_message(
            &mut live,
            channel_id,
            path_param(&call.params, "message_id"),
        )?
        .clone();
        Ok(Answer::Json(live.object_of(&message)))
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

/// Whether a member may view a channel (see [`channel_bits`]).
fn can_view(
    guild_id: &str,
    guild: &Guild,
    user_id: &str,
    roles: &[String],
    channel: &Channel,
) -> bool {
    channel_bits(guild_id, guild, user_id, roles, channel) & VIEW_CHANNEL != 0
}

/// A member's permissions in a channel: guild-level permissions (the owner and
/// administrators hold everything), then the `@everyone`, role and member overwrites, in
/// Discord's order; nothing without `VIEW_CHANNEL`.
fn channel_bits(
    guild_id: &str,
    guild: &Guild,
    user_id: &str,
    roles: &[String],
    channel: &Channel,
) -> u64 {
    if guild.owner_id == user_id {
        return u64::MAX;
    }
    let mut bits = guild
        .roles
        .iter()
        .filter(|role| role.id == guild_id || roles.contains(&role.id))
        .fold(0, |bits, role| bits | role.permissions);
    if bits & ADMINISTRATOR != 0 {
        return u64::MAX;
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
    if bits & VIEW_CHANNEL == 0 {
        return 0;
    }
    bits
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

/// `ADD_REACTIONS`.
const ADD_REACTIONS: u64 = 1 << 6;
/// `MANAGE_MESSAGES`: pins.
const MANAGE_MESSAGES: u64 = 1 << 13;
/// `READ_MESSAGE_HISTORY`.
const READ_MESSAGE_HISTORY: u64 = 1 << 16;
/// `MANAGE_WEBHOOKS`.
const MANAGE_WEBHOOKS: u64 = 1 << 29;
/// `CREATE_PUBLIC_THREADS`: start a thread from a message.
const CREATE_PUBLIC_THREADS: u64 = 1 << 35;

/// Discord's epoch (2015-01-01T00:00:00Z), in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// The most characters a message's content may hold.
pub const MAX_CONTENT_CHARS: usize = 2_000;

/// Why Discord refuses a webhook name or username, if it does: 1 to 80 characters, never
/// containing "discord" or "clyde" (in any case).
fn username_problem(name: &str) -> Option<String> {
    let length = name.chars().count();
    if !(1..=80).contains(&length) {
        return Some(format!("of {length} characters (1 to 80)"));
    }
    let lower = name.to_lowercase();
    ["discord", "clyde"]
        .into_iter()
        .find(|word| lower.contains(word))
        .map(|word| format!("contains \"{word}\""))
}

/// Refuses content Discord refuses: empty, or over [`MAX_CONTENT_CHARS`].
fn check_content(content: &str, refused: &mut Vec<String>) -> Result<(), Refusal> {
    let length = content.chars().count();
    if length == 0 {
        refused.push("an empty message".to_owned());
        return Err(Refusal::EMPTY_MESSAGE);
    }
    if length > MAX_CONTENT_CHARS {
        refused.push(format!(
            "content of {length} characters (at most {MAX_CONTENT_CHARS})"
        ));
        return Err(Refusal::INVALID_FORM_BODY);
    }
    Ok(())
}

/// A string field of the call's JSON body.
fn body_str(call: &Call<'_, Discord>, field: &str) -> Option<String> {
    call.exchange
        .json
        .as_ref()
        .and_then(|body| body.get(field))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A snowflake as a number (0 when it is none: the spec checks made sure it is).
fn snowflake_number(id: &str) -> u64 {
    id.parse().unwrap_or_default()
}

impl Live {
    /// A message object as Discord answers it: a webhook's message names the webhook, a
    /// person's message its author.
    fn object_of(&self, message: &Message) -> Value {
        let webhook = message
            .webhook_id
            .as_ref()
            .and_then(|id| self.webhooks.iter().find(|w| &w.id == id));
        match webhook {
            Some(webhook) => message_object(message, webhook),
            None => {
                let mut object = plain_message_object(message);
                if let Some(author) = self.authors.get(&message.id) {
                    object["author"]["id"] = json!(author);
                    object["author"]["bot"] = json!(false);
                }
                object
            }
        }
    }

    /// A new snowflake from the clock, always above the last one.
    fn snowflake(&mut self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            });
        let from_clock = now.saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.next_id = from_clock.max(self.next_id + 1);
        self.next_id.to_string()
    }

    /// The `X-RateLimit-*` headers of an answer of `template`: a scripted bucket state, or a
    /// bucket of 5 with 4 left.
    fn rate_limit_headers(
        &mut self,
        template: &str,
        call: &Call<'_, Discord>,
    ) -> Vec<(&'static str, String)> {
        let (remaining, reset_after) = self.buckets.get(template).copied().unwrap_or((4, 1.0));
        // Discord's buckets are per route and major parameter; the hash names the route.
        let major = ["channel_id", "webhook_id", "guild_id"]
            .iter()
            .map(|name| path_param(&call.params, name))
            .find(|value| !value.is_empty())
            .unwrap_or_default();
        vec![
            ("x-ratelimit-limit", "5".to_owned()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset-after", format!("{reset_after:.3}")),
            ("x-ratelimit-bucket", format!("{:x}", fnv(template))),
            ("x-ratelimit-major", major.to_owned()),
        ]
    }
}

/// A small stable hash (FNV-1a) for bucket names.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn webhook_object(webhook: &Webhook) -> Value {
    json!({
        "id": webhook.id,
        "type": 1,
        "name": webhook.name,
        "avatar": null,
        "channel_id": webhook.channel_id,
        "guild_id": webhook.guild_id,
        "application_id": webhook.application_id,
        "token": webhook.token,
        "user": user(&webhook.creator, false),
    })
}

/// A message object as Discord answers one a webhook posted.
fn message_object(message: &Message, webhook: &Webhook) -> Value {
    let mut object = plain_message_object(message);
    object["webhook_id"] = json!(webhook.id);
    object["application_id"] = json!(webhook.application_id);
    object["author"] = json!({
        "id": webhook.id,
        "username": message.username,
        "avatar": null,
        "discriminator": "0000",
        "public_flags": 0,
        "flags": 0,
        "bot": true,
        "global_name": null,
        "primary_guild": null,
    });
    object
}

fn plain_message_object(message: &Message) -> Value {
    let id = snowflake_number(&message.id);
    let timestamp = iso_timestamp((id >> 22) + DISCORD_EPOCH_MS);
    json!({
        "type": 0,
        "content": message.content,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "timestamp": timestamp,
        "edited_timestamp": if message.edited { Value::from(timestamp.clone()) } else { Value::Null },
        "flags": 0,
        "components": [],
        "id": message.id,
        "channel_id": message.channel_id,
        "author": {
            "id": "0", "username": message.username, "avatar": null, "discriminator": "0",
            "public_flags": 0, "flags": 0, "bot": true, "global_name": null,
            "primary_guild": null,
        },
        "pinned": message.pinned,
        "mention_everyone": false,
        "tts": false,
    })
}

/// Unix milliseconds as Discord writes timestamps (`2024-01-01T00:00:00.000000+00:00`).
fn iso_timestamp(unix_ms: u64) -> String {
    let seconds = unix_ms / 1000;
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or_default() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}000+00:00",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        unix_ms % 1000
    )
}
