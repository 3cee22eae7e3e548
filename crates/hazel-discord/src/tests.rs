//! Error mapping, permission checks and channel listing against a scripted HTTP server
//! (wiremock).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hazel_domain::model::chat_sync::{
    ChannelEligibility, Credentials, ExternalAppId, ExternalChannelId, ExternalWorkspaceId,
    IneligibleReason, ProviderError, ProviderErrorCode,
};
use hazel_domain::ports::ChatDirectory;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{
    ADMINISTRATOR, DiscordProvider, DiscordSettings, REQUIRED_PERMISSION_BITS,
    REQUIRED_PERMISSIONS, VIEW_CHANNEL,
};

const TOKEN: &str = "MTIzNDU2Nzg5.TOPSECRET.value";
const GUILD: &str = "81384788765712384";
const BOT: &str = "80351110224678912";
const BOT_ROLE: &str = "41771983423143936";
const APP: &str = "80351110224678999";
const CHANNEL: &str = "41771983423143937";

fn provider(api_url: &str) -> DiscordProvider {
    let _ = rustls::crypto::ring::default_provider().install_default();
    DiscordProvider::new(
        DiscordSettings {
            api_url: api_url.to_owned(),
        },
        reqwest::Client::new(),
    )
}

/// Discord's default permissions of `@everyone` in a new guild (`VIEW_CHANNEL` among them).
const DEFAULT_EVERYONE: u64 = 104_324_673;

/// A loopback address that refuses connections: the port stays bound by the returned socket
/// (so no server started in parallel can take it) but never listens.
fn refusing_address() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let address = socket.local_addr().unwrap();
    (socket, address)
}

/// Log lines captured from the current thread (a `#[tokio::test]` runs on one).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures every event of this thread at TRACE level until the guard is dropped.
    fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn credentials() -> Credentials {
    Credentials::Discord {
        bot_token: SecretString::from(TOKEN),
        application_id: None,
    }
}

fn guild() -> ExternalWorkspaceId {
    ExternalWorkspaceId::parse("externalWorkspaceId", GUILD).unwrap()
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn error(status: u16, code: u64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"code": code, "message": message}))
}

/// A server where every validation route answers as a healthy guild would, unless a route is
/// overridden (mounted first, so it takes precedence).
struct Scripted {
    server: MockServer,
}

impl Scripted {
    async fn start() -> Self {
        Self {
            server: MockServer::start().await,
        }
    }

    async fn route(&self, route: &str, answer: ResponseTemplate) -> &Self {
        self.route_called(route, answer, None).await
    }

    /// Like [`Self::route`], verifying on drop that the route was called `times` times.
    async fn route_called(
        &self,
        route: &str,
        answer: ResponseTemplate,
        times: Option<u64>,
    ) -> &Self {
        let mut mock = Mock::given(method("GET"))
            .and(path(format!("/api/v10{route}")))
            .and(header("authorization", format!("Bot {TOKEN}").as_str()))
            .respond_with(answer);
        if let Some(times) = times {
            mock = mock.expect(times);
        }
        mock.mount(&self.server).await;
        self
    }

    /// The guild route, answering roles where `@everyone` holds `everyone`.
    async fn guild(&self, everyone: u64, bot_role: u64, owner: &str) -> &Self {
        self.route(
            &format!("/guilds/{GUILD}"),
            ok(json!({
                "id": GUILD, "name": "Acme Guild", "owner_id": owner,
                "roles": roles(everyone, bot_role),
            })),
        )
        .await
    }

    async fn healthy(&self, everyone: u64, bot_role: u64, owner: &str) -> &Self {
        self.route(
            "/users/@me",
            ok(json!({"id": BOT, "username": "hazel", "bot": true})),
        )
        .await;
        self.guild(everyone, bot_role, owner).await;
        // The guild object carries the roles: the roles route is not needed.
        self.route_called(
            &format!("/guilds/{GUILD}/roles"),
            ok(roles(everyone, bot_role)),
            Some(0),
        )
        .await;
        self.route("/applications/@me", ok(json!({"id": APP, "name": "Hazel"})))
            .await;
        self.route(
            &format!("/guilds/{GUILD}/members/{BOT}"),
            ok(json!({"user": {"id": BOT}, "roles": [BOT_ROLE]})),
        )
        .await
    }

    /// `GET /channels/{CHANNEL}` answering `answer`, then the eligibility it leads to.
    async fn check(&self, answer: ResponseTemplate) -> Result<ChannelEligibility, ProviderError> {
        self.route_called(&format!("/channels/{CHANNEL}"), answer, Some(1))
            .await;
        self.provider()
            .check_channel(
                &guild(),
                &credentials(),
                &ExternalChannelId::parse("c", CHANNEL).unwrap(),
            )
            .await
    }

    fn provider(&self) -> DiscordProvider {
        provider(&format!("{}/api/v10", self.server.uri()))
    }

    async fn validate(&self) -> Result<(), ProviderError> {
        self.provider()
            .validate(&guild(), &credentials())
            .await
            .map(|_| ())
    }
}

fn roles(everyone: u64, bot_role: u64) -> Value {
    json!([
        {"id": GUILD, "name": "@everyone", "permissions": everyone.to_string()},
        {"id": BOT_ROLE, "name": "Hazel", "permissions": bot_role.to_string()},
        {"id": "1", "name": "Admins", "permissions": ADMINISTRATOR.bit.to_string()},
    ])
}

#[tokio::test]
async fn validate_reads_guild_name_and_bot_id_with_bot_auth() {
    let scripted = Scripted::start().await;
    scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;

    let validated = scripted
        .provider()
        .validate(&guild(), &credentials())
        .await
        .unwrap();

    assert_eq!(validated.workspace_name.as_deref(), Some("Acme Guild"));
    assert_eq!(validated.bot.user_id.as_str(), BOT);
    assert_eq!(validated.bot.bot_id, None);
    assert_eq!(
        validated.bot.app_id.as_ref().map(ExternalAppId::as_str),
        Some(APP)
    );
}

#[tokio::test]
async fn an_application_id_of_another_application_is_invalid_credentials() {
    let scripted = Scripted::start().await;
    scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;
    let given = |id: &str| Credentials::Discord {
        bot_token: SecretString::from(TOKEN),
        application_id: Some(ExternalAppId::parse("a", id).unwrap()),
    };

    let err = scripted
        .provider()
        .validate(&guild(), &given("42"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ProviderErrorCode::InvalidCredentials);
    assert!(err.to_string().contains(APP), "{err}");
    assert!(
        scripted
            .provider()
            .validate(&guild(), &given(APP))
            .await
            .is_ok()
    );
}

fn guild_channel(kind: u8, guild_id: &str, overwrites: Value) -> ResponseTemplate {
    ok(json!({
        "id": CHANNEL, "type": kind, "guild_id": guild_id, "name": "general", "position": 0,
        "permission_overwrites": overwrites,
    }))
}

#[tokio::test]
async fn a_text_channel_the_bot_may_use_is_eligible() {
    for kind in [0, 5] {
        let scripted = Scripted::start().await;
        scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;
        assert_eq!(
            scripted
                .check(guild_channel(kind, GUILD, json!([])))
                .await
                .unwrap(),
            ChannelEligibility::Eligible,
            "type {kind}"
        );
    }
}

#[tokio::test]
async fn forum_voice_category_and_stage_channels_are_never_eligible() {
    for (kind, name) in [(15, "forum"), (2, "voice"), (4, "category"), (13, "stage")] {
        let scripted = Scripted::start().await;
        scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;
        assert_eq!(
            scripted
                .check(guild_channel(kind, GUILD, json!([])))
                .await
                .unwrap(),
            ChannelEligibility::Ineligible(IneligibleReason::UnsupportedKind {
                kind: name.to_owned()
            }),
        );
    }
}

#[tokio::test]
async fn channel_overwrites_can_take_away_what_the_bot_needs() {
    let scripted = Scripted::start().await;
    scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;
    let deny = (1_u64 << 11) | (1 << 29);
    let eligibility = scripted
        .check(guild_channel(
            0,
            GUILD,
            json!([{"id": BOT_ROLE, "type": 0, "allow": "0", "deny": deny.to_string()}]),
        ))
        .await
        .unwrap();
    assert_eq!(
        eligibility,
        ChannelEligibility::Ineligible(IneligibleReason::MissingPermissions {
            permissions: vec!["SEND_MESSAGES".to_owned(), "MANAGE_WEBHOOKS".to_owned()],
        })
    );
}

#[tokio::test]
async fn unknown_hidden_and_foreign_channels_are_ineligible() {
    let not_found = ChannelEligibility::Ineligible(IneligibleReason::NotFound);
    let scripted = Scripted::start().await;
    scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;
    assert_eq!(
        scripted
            .check(error(404, 10_003, "Unknown Channel"))
            .await
            .unwrap(),
        not_found
    );
    let scripted = Scripted::start().await;
    scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;
    assert_eq!(
        scripted
            .check(error(403, 50_001, "Missing Access"))
            .await
            .unwrap(),
        ChannelEligibility::Ineligible(IneligibleReason::MissingPermissions {
            permissions: vec!["VIEW_CHANNEL".to_owned()],
        })
    );
    let scripted = Scripted::start().await;
    scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;
    assert_eq!(
        scripted
            .check(guild_channel(0, "99", json!([])))
            .await
            .unwrap(),
        not_found
    );
    let scripted = Scripted::start().await;
    scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;
    assert_eq!(
        scripted
            .check(ResponseTemplate::new(502))
            .await
            .unwrap_err()
            .code(),
        ProviderErrorCode::PlatformError
    );
}

#[tokio::test]
async fn permissions_combine_everyone_and_the_bot_roles() {
    let scripted = Scripted::start().await;
    // @everyone gives VIEW_CHANNEL and SEND_MESSAGES, the bot's role the rest.
    let everyone = (1 << 10) | (1 << 11);
    scripted
        .healthy(everyone, REQUIRED_PERMISSION_BITS & !everyone, "1")
        .await;

    assert_eq!(scripted.validate().await, Ok(()));
}

#[tokio::test]
async fn missing_permissions_are_listed_by_name() {
    let scripted = Scripted::start().await;
    let without = REQUIRED_PERMISSION_BITS & !(1 << 29) & !(1 << 13);
    scripted.healthy(0, without, "1").await;

    let err = scripted.validate().await.unwrap_err();

    let ProviderError::InsufficientPermissions {
        required_scopes,
        message,
    } = err
    else {
        panic!("expected InsufficientPermissions, got {err:?}");
    };
    assert_eq!(required_scopes, ["MANAGE_MESSAGES", "MANAGE_WEBHOOKS"]);
    assert!(message.contains("MANAGE_WEBHOOKS"), "{message}");
}

#[tokio::test]
async fn administrators_and_owners_need_nothing_else() {
    let admin = Scripted::start().await;
    admin.healthy(0, ADMINISTRATOR.bit, "1").await;
    let owner = Scripted::start().await;
    owner.healthy(0, 0, BOT).await;

    assert_eq!(admin.validate().await, Ok(()));
    assert_eq!(owner.validate().await, Ok(()));
}

#[tokio::test]
async fn an_unauthorized_token_is_invalid_credentials() {
    let scripted = Scripted::start().await;
    scripted
        .route("/users/@me", error(401, 0, "401: Unauthorized"))
        .await;

    let err = scripted.validate().await.unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::InvalidCredentials, "{err:?}");
}

#[tokio::test]
async fn a_guild_the_bot_cannot_see_is_insufficient_permissions() {
    let cases = [
        (
            format!("/guilds/{GUILD}"),
            error(403, 50_001, "Missing Access"),
        ),
        (
            format!("/guilds/{GUILD}"),
            error(404, 10_004, "Unknown Guild"),
        ),
        (
            format!("/guilds/{GUILD}"),
            error(400, 10_004, "Unknown Guild"),
        ),
        (
            format!("/guilds/{GUILD}"),
            error(403, 10_004, "Unknown Guild"),
        ),
        (
            format!("/guilds/{GUILD}/members/{BOT}"),
            error(404, 10_007, "Unknown Member"),
        ),
    ];
    for (route, answer) in cases {
        let scripted = Scripted::start().await;
        scripted.route(&route, answer).await;
        scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;

        let err = scripted.validate().await.unwrap_err();

        let ProviderError::InsufficientPermissions {
            required_scopes,
            message,
        } = err
        else {
            panic!("{route}: expected InsufficientPermissions, got {err:?}");
        };
        assert!(message.contains("not in Discord guild"), "{message}");
        assert_eq!(required_scopes.len(), REQUIRED_PERMISSIONS.len(), "{route}");
    }
}

#[tokio::test]
async fn http_429_is_rate_limited_rounding_retry_after_up() {
    let cases = [
        (
            ResponseTemplate::new(429)
                .insert_header("retry-after", "9")
                .set_body_json(json!({"message": "You are being rate limited.", "retry_after": 1.2, "global": false})),
            2,
        ),
        (ResponseTemplate::new(429).insert_header("retry-after", "3"), 3),
        (ResponseTemplate::new(429), 60),
    ];
    for (answer, expected) in cases {
        let scripted = Scripted::start().await;
        scripted.route("/users/@me", answer).await;

        let err = scripted.validate().await.unwrap_err();

        assert_eq!(
            err,
            ProviderError::RateLimited {
                retry_after_seconds: expected
            }
        );
    }
}

#[tokio::test]
async fn server_errors_garbage_and_odd_refusals_are_platform_errors() {
    let answers = [
        ResponseTemplate::new(500),
        ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"),
        ResponseTemplate::new(200).set_body_string("not json"),
        ok(json!({"username": "no id"})),
        error(418, 0, "teapot"),
    ];
    for answer in answers {
        let scripted = Scripted::start().await;
        scripted.route("/users/@me", answer).await;

        let err = scripted.validate().await.unwrap_err();

        assert_eq!(err.code(), ProviderErrorCode::PlatformError, "{err:?}");
    }
}

#[tokio::test]
async fn unreachable_servers_are_network_errors() {
    let (_reserved, refused) = refusing_address();
    let dropping = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dropped = dropping.local_addr().unwrap();
    let server = tokio::spawn(async move {
        // Accept one connection, wait for the request, then close without answering.
        let (stream, _) = dropping.accept().await.unwrap();
        stream.readable().await.unwrap();
        drop(stream);
    });

    for address in [refused, dropped] {
        let err = provider(&format!("http://{address}/api/v10"))
            .validate(&guild(), &credentials())
            .await
            .unwrap_err();
        assert_eq!(err.code(), ProviderErrorCode::NetworkError, "{err:?}");
    }
    server.await.unwrap();
}

#[tokio::test]
async fn a_workspace_id_that_is_no_snowflake_is_refused_without_a_call() {
    let scripted = Scripted::start().await;
    Mock::given(method("GET"))
        .respond_with(ok(json!({})))
        .expect(0)
        .mount(&scripted.server)
        .await;
    let workspace = ExternalWorkspaceId::parse("externalWorkspaceId", "../users/@me").unwrap();

    let err = scripted
        .provider()
        .validate(&workspace, &credentials())
        .await
        .unwrap_err();

    assert_eq!(
        err.code(),
        ProviderErrorCode::InsufficientPermissions,
        "{err:?}"
    );
}

fn channel(id: &str, kind: u8, name: &str, position: i64, overwrites: Value) -> Value {
    json!({
        "id": id, "type": kind, "guild_id": GUILD, "name": name, "position": position,
        "flags": 0, "permission_overwrites": overwrites,
    })
}

#[tokio::test]
async fn list_channels_keeps_text_and_announcement_channels_and_spots_private_ones() {
    let scripted = Scripted::start().await;
    scripted
        .healthy(DEFAULT_EVERYONE, REQUIRED_PERMISSION_BITS, "1")
        .await;
    let view_channel = (1u64 << 10).to_string();
    scripted
        .route(
            &format!("/guilds/{GUILD}/channels"),
            ok(json!([
                channel(
                    "300",
                    0,
                    "ops",
                    3,
                    json!([
                        {"id": GUILD, "type": 0, "allow": "0", "deny": view_channel},
                        {"id": BOT_ROLE, "type": 0, "allow": view_channel, "deny": "0"},
                    ])
                ),
                channel("100", 0, "general", 1, json!([])),
                channel("150", 2, "Voice", 2, json!([])),
                channel("160", 4, "Category", 0, json!([])),
                channel(
                    "200",
                    5,
                    "announcements",
                    2,
                    json!([
                        {"id": GUILD, "type": 0, "allow": "0", "deny": "2048"},
                        {"id": BOT_ROLE, "type": 0, "allow": "2048", "deny": "0"},
                    ])
                ),
                channel("400", 15, "forum", 4, json!([])),
                // The bot's own overwrite takes away what its role gives.
                channel(
                    "500",
                    0,
                    "read-only",
                    5,
                    json!([{"id": BOT, "type": 1, "allow": "0", "deny": "2048"}])
                ),
                // Denied to @everyone and not given back to the bot.
                channel(
                    "600",
                    0,
                    "hidden",
                    6,
                    json!([{"id": GUILD, "type": 0, "allow": "0", "deny": view_channel}])
                ),
                channel(
                    "700",
                    0,
                    "no-webhooks",
                    7,
                    json!([{"id": BOT_ROLE, "type": 0, "allow": "0", "deny": (1u64 << 29).to_string()}])
                ),
            ])),
        )
        .await;

    let channels = scripted
        .provider()
        .list_channels(&guild(), &credentials())
        .await
        .unwrap();

    let summary: Vec<(&str, &str, bool, Option<u64>)> = channels
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.is_private, c.member_count))
        .collect();
    assert_eq!(
        summary,
        [
            ("100", "general", false, None),
            ("200", "announcements", false, None),
            ("300", "ops", true, None),
        ]
    );
}

#[tokio::test]
async fn a_null_channel_list_is_empty() {
    let scripted = Scripted::start().await;
    scripted
        .healthy(DEFAULT_EVERYONE, REQUIRED_PERMISSION_BITS, "1")
        .await;
    scripted
        .route(&format!("/guilds/{GUILD}/channels"), ok(Value::Null))
        .await;

    let channels = scripted
        .provider()
        .list_channels(&guild(), &credentials())
        .await
        .unwrap();

    assert!(channels.is_empty());
}

#[tokio::test]
async fn listing_channels_of_an_unseen_guild_is_insufficient_permissions() {
    let scripted = Scripted::start().await;
    scripted
        .healthy(DEFAULT_EVERYONE, REQUIRED_PERMISSION_BITS, "1")
        .await;
    scripted
        .route(
            &format!("/guilds/{GUILD}/channels"),
            error(403, 50_001, "Missing Access"),
        )
        .await;

    let err = scripted
        .provider()
        .list_channels(&guild(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::InsufficientPermissions);
}

/// The privacy of channels under `@everyone` permissions `everyone`, in position order.
async fn privacy_with(everyone: u64, channels: Value) -> Vec<(String, bool)> {
    let scripted = Scripted::start().await;
    scripted
        .healthy(everyone, REQUIRED_PERMISSION_BITS, "1")
        .await;
    scripted
        .route(&format!("/guilds/{GUILD}/channels"), ok(channels))
        .await;
    scripted
        .provider()
        .list_channels(&guild(), &credentials())
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id.as_str().to_owned(), c.is_private))
        .collect()
}

#[tokio::test]
async fn privacy_follows_everyones_guild_permissions_and_overwrites() {
    let view = VIEW_CHANNEL.bit.to_string();
    let channels = json!([
        channel("100", 0, "plain", 1, json!([])),
        channel(
            "200",
            0,
            "denied",
            2,
            // The bot's role is let in where @everyone is kept out.
            json!([
                {"id": GUILD, "type": 0, "allow": "0", "deny": view},
                {"id": BOT_ROLE, "type": 0, "allow": view, "deny": "0"},
            ])
        ),
        channel(
            "300",
            0,
            "allowed",
            3,
            json!([{"id": GUILD, "type": 0, "allow": view, "deny": "0"}])
        ),
    ]);
    let without_view = DEFAULT_EVERYONE & !VIEW_CHANNEL.bit;

    let default = privacy_with(DEFAULT_EVERYONE, channels.clone()).await;
    let hidden_guild = privacy_with(without_view, channels.clone()).await;
    let admin_everyone = privacy_with(ADMINISTRATOR.bit, channels).await;

    let expect = |flags: [bool; 3]| -> Vec<(String, bool)> {
        ["100", "200", "300"]
            .into_iter()
            .map(str::to_owned)
            .zip(flags)
            .collect()
    };
    assert_eq!(default, expect([false, true, false]));
    // @everyone cannot see any channel unless an overwrite allows it.
    assert_eq!(hidden_guild, expect([true, true, false]));
    // ADMINISTRATOR overrides every overwrite.
    assert_eq!(admin_everyone, expect([false, false, false]));
}

#[tokio::test]
async fn roles_are_fetched_on_their_own_only_when_the_guild_lacks_them() {
    let scripted = Scripted::start().await;
    scripted
        .route(
            "/users/@me",
            ok(json!({"id": BOT, "username": "hazel", "bot": true})),
        )
        .await;
    scripted
        .route(
            &format!("/guilds/{GUILD}"),
            ok(json!({"id": GUILD, "name": "Acme Guild", "owner_id": "1"})),
        )
        .await;
    scripted
        .route_called(
            &format!("/guilds/{GUILD}/roles"),
            ok(roles(0, REQUIRED_PERMISSION_BITS)),
            Some(1),
        )
        .await;
    scripted
        .route(
            &format!("/guilds/{GUILD}/members/{BOT}"),
            ok(json!({"user": {"id": BOT}, "roles": [BOT_ROLE]})),
        )
        .await;
    scripted
        .route("/applications/@me", ok(json!({"id": APP})))
        .await;

    assert_eq!(scripted.validate().await, Ok(()));
}

#[tokio::test]
async fn missing_permissions_is_insufficient_permissions_on_every_route() {
    let cases = [
        ("/users/@me".to_owned(), true),
        (format!("/guilds/{GUILD}"), true),
        (format!("/guilds/{GUILD}/members/{BOT}"), true),
        (format!("/guilds/{GUILD}/channels"), false),
    ];
    for (route, validating) in cases {
        let scripted = Scripted::start().await;
        scripted
            .route(&route, error(403, 50_013, "Missing Permissions"))
            .await;
        scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;

        let err = if validating {
            scripted.validate().await.unwrap_err()
        } else {
            scripted
                .provider()
                .list_channels(&guild(), &credentials())
                .await
                .unwrap_err()
        };

        let ProviderError::InsufficientPermissions {
            message,
            required_scopes,
        } = err
        else {
            panic!("{route}: expected InsufficientPermissions, got {err:?}");
        };
        assert!(message.contains("50013"), "{route}: {message}");
        assert!(
            !message.contains("not in Discord guild"),
            "{route}: {message}"
        );
        assert!(required_scopes.is_empty(), "{route}: {required_scopes:?}");
    }
}

#[tokio::test]
async fn refusals_without_a_guild_code_on_guild_routes_are_platform_errors() {
    let answers = [
        error(404, 0, "404: Not Found"),
        ResponseTemplate::new(404),
        ResponseTemplate::new(403),
        error(403, 20_012, "not authorized"),
    ];
    for answer in answers {
        let scripted = Scripted::start().await;
        scripted.route(&format!("/guilds/{GUILD}"), answer).await;
        scripted.healthy(0, REQUIRED_PERMISSION_BITS, "1").await;

        let err = scripted.validate().await.unwrap_err();

        assert_eq!(err.code(), ProviderErrorCode::PlatformError, "{err:?}");
    }
}

#[tokio::test]
async fn an_unusable_body_retry_after_falls_back_to_the_header_and_waits_are_clamped() {
    let cases = [
        (
            ResponseTemplate::new(429)
                .insert_header("retry-after", "4")
                .set_body_json(
                    json!({"message": "slow down", "retry_after": -1.0, "global": false}),
                ),
            4,
        ),
        (
            ResponseTemplate::new(429)
                .insert_header("retry-after", "4")
                .set_body_json(
                    json!({"message": "slow down", "retry_after": "soon", "global": false}),
                ),
            4,
        ),
        (
            ResponseTemplate::new(429).set_body_json(
                json!({"message": "slow down", "retry_after": 1e12, "global": true}),
            ),
            86_400,
        ),
        (
            ResponseTemplate::new(429).insert_header("retry-after", "99999999999"),
            86_400,
        ),
    ];
    for (answer, expected) in cases {
        let scripted = Scripted::start().await;
        scripted.route("/users/@me", answer).await;

        let err = scripted.validate().await.unwrap_err();

        assert_eq!(
            err,
            ProviderError::RateLimited {
                retry_after_seconds: expected
            }
        );
    }
}

#[tokio::test]
async fn only_canonical_u64_snowflakes_are_guild_ids() {
    for id in ["0123", "18446744073709551616", "99999999999999999999", "+5"] {
        let scripted = Scripted::start().await;
        Mock::given(method("GET"))
            .respond_with(ok(json!({})))
            .expect(0)
            .mount(&scripted.server)
            .await;
        let workspace = ExternalWorkspaceId::parse("externalWorkspaceId", id).unwrap();

        let err = scripted
            .provider()
            .validate(&workspace, &credentials())
            .await
            .unwrap_err();

        assert_eq!(
            err.code(),
            ProviderErrorCode::InsufficientPermissions,
            "{id}: {err:?}"
        );
        assert!(err.to_string().contains("not a snowflake"), "{id}: {err}");
    }
}

#[tokio::test]
async fn an_answer_of_the_wrong_shape_logs_where_but_never_the_value() {
    let scripted = Scripted::start().await;
    scripted
        .healthy(DEFAULT_EVERYONE, REQUIRED_PERMISSION_BITS, "1")
        .await;
    // The token echoed into a typed field: serde's own error would quote it.
    scripted
        .route(
            &format!("/guilds/{GUILD}/channels"),
            ok(json!([
                channel("100", 0, "general", 1, json!([])),
                {"id": "101", "type": TOKEN, "name": "x"},
            ])),
        )
        .await;
    let (logs, _guard) = Captured::start();

    let err = scripted
        .provider()
        .list_channels(&guild(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::PlatformError, "{err:?}");
    let logs = logs.text();
    assert!(logs.contains("$[1].type"), "the path is logged:\n{logs}");
    assert!(
        !logs.contains("TOPSECRET"),
        "token leaked into logs:\n{logs}"
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let scripted = Scripted::start().await;
    let huge = format!(
        r#"{{"id":"{BOT}","padding":"{}"}}"#,
        "x".repeat(crate::api::MAX_BODY_BYTES)
    );
    scripted
        .route(
            "/users/@me",
            ResponseTemplate::new(200).set_body_raw(huge, "application/json"),
        )
        .await;

    let err = scripted.validate().await.unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::PlatformError, "{err:?}");
    assert!(err.to_string().contains("larger than 8 MiB"), "{err}");
}

#[tokio::test]
async fn an_operation_is_bounded_by_its_deadline_across_calls() {
    let scripted = Scripted::start().await;
    // Each call is quick, but together they take longer than the deadline.
    let slow = |body: Value| ok(body).set_delay(Duration::from_millis(250));
    scripted
        .route(
            "/users/@me",
            slow(json!({"id": BOT, "username": "hazel", "bot": true})),
        )
        .await;
    scripted
        .route(
            &format!("/guilds/{GUILD}"),
            slow(json!({
                "id": GUILD, "name": "Acme Guild", "owner_id": "1",
                "roles": roles(DEFAULT_EVERYONE, REQUIRED_PERMISSION_BITS),
            })),
        )
        .await;
    scripted
        .route(
            &format!("/guilds/{GUILD}/members/{BOT}"),
            slow(json!({"user": {"id": BOT}, "roles": [BOT_ROLE]})),
        )
        .await;
    let provider = scripted
        .provider()
        .with_timeout(Duration::from_secs(30))
        .with_operation_timeout(Duration::from_millis(400));

    let err = provider
        .validate(&guild(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::NetworkError, "{err:?}");
    assert!(err.to_string().contains("within 400 ms"), "{err}");
}

#[tokio::test]
async fn the_token_never_appears_in_errors_even_when_the_server_echoes_it() {
    let echoing = [
        error(401, 0, TOKEN),
        error(418, 0, TOKEN),
        ResponseTemplate::new(500).set_body_string(TOKEN),
        ResponseTemplate::new(200).set_body_string(TOKEN),
        ResponseTemplate::new(429).insert_header("retry-after", TOKEN),
        ok(json!({"username": TOKEN})),
    ];
    let mut errors = Vec::new();
    for answer in echoing {
        let scripted = Scripted::start().await;
        scripted.route("/users/@me", answer).await;
        errors.push(scripted.validate().await.unwrap_err());
    }
    let scripted = Scripted::start().await;
    scripted
        .route(&format!("/guilds/{GUILD}"), error(403, 50_001, TOKEN))
        .await;
    scripted.healthy(0, 0, "1").await;
    errors.push(scripted.validate().await.unwrap_err());
    errors.push(
        provider("http://127.0.0.1:1")
            .validate(&guild(), &credentials())
            .await
            .unwrap_err(),
    );
    let wrong_provider = Credentials::Slack {
        bot_token: SecretString::from(TOKEN),
        signing_secret: SecretString::from(TOKEN),
        app_token: None,
    };
    errors.push(
        provider("http://127.0.0.1:1")
            .validate(&guild(), &wrong_provider)
            .await
            .unwrap_err(),
    );

    assert_eq!(errors.len(), 9);
    for err in &errors {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("TOPSECRET"), "token leaked: {shown}");
    }
    assert!(!format!("{:?}", provider("http://127.0.0.1:1")).contains("TOPSECRET"));
}
