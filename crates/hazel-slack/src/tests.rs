//! Error mapping and paging against a scripted HTTP server (wiremock).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hazel_domain::model::chat_sync::{
    ChannelEligibility, Credentials, ExternalChannelId, ExternalWorkspaceId, IneligibleReason,
    ProviderError, ProviderErrorCode,
};
use hazel_domain::ports::ChatDirectory;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::{REQUIRED_SCOPES, SlackProvider, SlackSettings};

const TOKEN: &str = "xoxb-1111-2222-TOPSECRETvalue";
const TEAM: &str = "T0123ABCD";

fn provider(api_url: &str) -> SlackProvider {
    let _ = rustls::crypto::ring::default_provider().install_default();
    SlackProvider::new(
        SlackSettings {
            api_url: api_url.to_owned(),
        },
        reqwest::Client::new(),
    )
}

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
    Credentials::Slack {
        bot_token: SecretString::from(TOKEN),
        signing_secret: SecretString::from("signing-secret"),
        app_token: None,
    }
}

fn team() -> ExternalWorkspaceId {
    ExternalWorkspaceId::parse("externalWorkspaceId", TEAM).unwrap()
}

/// `bots.info` answering the bot of [`auth_test_ok`] with its app.
async fn mount_bots_info(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/bots.info"))
        .and(query_param("bot", "B0BOT12345"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "bot": {
                "id": "B0BOT12345", "deleted": false, "name": "hazel", "updated": 1,
                "app_id": "A0APP1234", "user_id": "U0BOT1234",
                "icons": {"image_36": "https://a.slack-edge.com/36.png",
                          "image_48": "https://a.slack-edge.com/48.png",
                          "image_72": "https://a.slack-edge.com/72.png"},
            },
        })))
        .mount(server)
        .await;
}

fn all_scopes() -> String {
    REQUIRED_SCOPES.join(",")
}

fn auth_test_ok(team_id: &str, scopes: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("x-oauth-scopes", scopes)
        .set_body_json(json!({
            "ok": true,
            "url": "https://acme.slack.com/",
            "team": "Acme",
            "user": "hazel",
            "team_id": team_id,
            "user_id": "U0BOT1234",
            "bot_id": "B0BOT12345",
        }))
}

fn slack_error(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}))
}

async fn validate_with(answer: ResponseTemplate) -> Result<(), ProviderError> {
    let server = MockServer::start().await;
    mount_bots_info(&server).await;
    Mock::given(method("GET"))
        .and(path("/auth.test"))
        .respond_with(answer)
        .mount(&server)
        .await;
    provider(&server.uri())
        .validate(&team(), &credentials())
        .await
        .map(|_| ())
}

#[tokio::test]
async fn validate_reads_team_and_bot_user_with_bearer_auth() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/auth.test"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(auth_test_ok(TEAM, &all_scopes()))
        .expect(1)
        .mount(&server)
        .await;
    mount_bots_info(&server).await;

    let validated = provider(&server.uri())
        .validate(&team(), &credentials())
        .await
        .unwrap();

    assert_eq!(validated.workspace_name.as_deref(), Some("Acme"));
    assert_eq!(validated.bot.user_id.as_str(), "U0BOT1234");
    assert_eq!(
        validated.bot.bot_id.as_ref().map(|id| id.as_str()),
        Some("B0BOT12345")
    );
    assert_eq!(
        validated.bot.app_id.as_ref().map(|id| id.as_str()),
        Some("A0APP1234")
    );
}

#[tokio::test]
async fn an_auth_test_without_the_bot_user_is_a_platform_error() {
    let answer = ResponseTemplate::new(200)
        .insert_header("x-oauth-scopes", all_scopes().as_str())
        .set_body_json(json!({"ok": true, "team_id": TEAM, "team": "Acme"}));
    assert!(matches!(
        validate_with(answer).await,
        Err(ProviderError::Platform { .. })
    ));
}

#[tokio::test]
async fn a_failing_bots_info_fails_the_validation() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/auth.test"))
        .respond_with(auth_test_ok(TEAM, &all_scopes()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bots.info"))
        .respond_with(slack_error("token_revoked"))
        .mount(&server)
        .await;
    let err = provider(&server.uri())
        .validate(&team(), &credentials())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ProviderErrorCode::AuthExpired);
}

fn conversation_info(flags: Value) -> ResponseTemplate {
    let mut channel = json!({"id": "C0123", "name": "general", "is_channel": true});
    for (key, value) in flags.as_object().unwrap() {
        channel[key] = value.clone();
    }
    ResponseTemplate::new(200).set_body_json(json!({"ok": true, "channel": channel}))
}

async fn check_with(answer: ResponseTemplate) -> Result<ChannelEligibility, ProviderError> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/conversations.info"))
        .and(query_param("channel", "C0123"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(answer)
        .expect(1)
        .mount(&server)
        .await;
    provider(&server.uri())
        .check_channel(
            &team(),
            &credentials(),
            &ExternalChannelId::parse("c", "C0123").unwrap(),
        )
        .await
}

#[tokio::test]
async fn channel_eligibility_follows_membership_archiving_and_kind() {
    let ineligible = ChannelEligibility::Ineligible;
    for (flags, expected) in [
        (
            json!({"is_member": true, "is_private": false}),
            ChannelEligibility::Eligible,
        ),
        (
            json!({"is_member": true, "is_private": true}),
            ChannelEligibility::Eligible,
        ),
        (
            json!({"is_member": false, "is_private": false}),
            ChannelEligibility::Joinable,
        ),
        (
            json!({"is_member": true, "is_archived": true}),
            ineligible(IneligibleReason::Archived),
        ),
        (
            json!({"is_member": false, "is_private": true}),
            ineligible(IneligibleReason::NotFound),
        ),
        (
            json!({"is_im": true, "is_member": true}),
            ineligible(IneligibleReason::UnsupportedKind {
                kind: "direct message".to_owned(),
            }),
        ),
    ] {
        assert_eq!(
            check_with(conversation_info(flags.clone())).await.unwrap(),
            expected,
            "{flags}"
        );
    }
}

#[tokio::test]
async fn an_unknown_channel_is_ineligible_and_other_refusals_are_errors() {
    assert_eq!(
        check_with(slack_error("channel_not_found")).await.unwrap(),
        ChannelEligibility::Ineligible(IneligibleReason::NotFound)
    );
    assert_eq!(
        check_with(slack_error("invalid_auth"))
            .await
            .unwrap_err()
            .code(),
        ProviderErrorCode::InvalidCredentials
    );
    let missing = check_with(slack_error("missing_scope")).await.unwrap_err();
    assert_eq!(missing.code(), ProviderErrorCode::InsufficientPermissions);
}

#[tokio::test]
async fn a_token_of_another_team_is_invalid_credentials() {
    let err = validate_with(auth_test_ok("T0OTHER99", &all_scopes()))
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::InvalidCredentials);
    let message = err.to_string();
    assert!(message.contains("another Slack workspace"), "{message}");
    assert!(
        message.contains("T0OTHER99") && message.contains(TEAM),
        "{message}"
    );
}

#[tokio::test]
async fn missing_granted_scopes_are_listed_as_required() {
    let granted: Vec<&str> = REQUIRED_SCOPES
        .iter()
        .copied()
        .filter(|s| !matches!(*s, "chat:write.customize" | "pins:write"))
        .chain(["incoming-webhook"])
        .collect();

    let err = validate_with(auth_test_ok(TEAM, &granted.join(", ")))
        .await
        .unwrap_err();

    match err {
        ProviderError::InsufficientPermissions {
            required_scopes,
            message,
        } => {
            assert_eq!(required_scopes, ["chat:write.customize", "pins:write"]);
            assert!(message.contains("chat:write.customize"), "{message}");
        }
        other => panic!("expected InsufficientPermissions, got {other:?}"),
    }
}

#[tokio::test]
async fn an_answer_without_a_scope_header_requires_every_scope() {
    let answer = ResponseTemplate::new(200).set_body_json(json!({
        "ok": true, "url": "u", "team": "Acme", "user": "hazel", "team_id": TEAM, "user_id": "U0BOT1234"
    }));

    let err = validate_with(answer).await.unwrap_err();

    let ProviderError::InsufficientPermissions {
        required_scopes, ..
    } = err
    else {
        panic!("expected InsufficientPermissions, got {err:?}");
    };
    assert_eq!(required_scopes, REQUIRED_SCOPES);
}

#[tokio::test]
async fn slack_error_codes_map_to_provider_errors() {
    let table = [
        ("invalid_auth", ProviderErrorCode::InvalidCredentials),
        ("not_authed", ProviderErrorCode::InvalidCredentials),
        ("account_inactive", ProviderErrorCode::InvalidCredentials),
        ("token_expired", ProviderErrorCode::AuthExpired),
        ("token_revoked", ProviderErrorCode::AuthExpired),
        ("missing_scope", ProviderErrorCode::InsufficientPermissions),
        ("no_permission", ProviderErrorCode::InsufficientPermissions),
        (
            "team_access_not_granted",
            ProviderErrorCode::InsufficientPermissions,
        ),
        ("access_denied", ProviderErrorCode::InsufficientPermissions),
        (
            "ekm_access_denied",
            ProviderErrorCode::InsufficientPermissions,
        ),
        ("ratelimited", ProviderErrorCode::RateLimited),
        ("fatal_error", ProviderErrorCode::PlatformError),
        ("", ProviderErrorCode::PlatformError),
    ];
    for (error, expected) in table {
        let err = validate_with(slack_error(error)).await.unwrap_err();
        assert_eq!(err.code(), expected, "Slack error {error:?} gave {err:?}");
    }
}

#[tokio::test]
async fn missing_scope_combines_needed_with_the_granted_header() {
    let server = MockServer::start().await;
    let granted: Vec<&str> = REQUIRED_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "groups:read")
        .collect();
    Mock::given(method("GET"))
        .and(path("/conversations.list"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-oauth-scopes", granted.join(",").as_str())
                .set_body_json(json!({
                    "ok": false,
                    "error": "missing_scope",
                    "needed": "groups:read",
                    "provided": granted.join(","),
                })),
        )
        .mount(&server)
        .await;

    let err = provider(&server.uri())
        .list_channels(&team(), &credentials())
        .await
        .unwrap_err();

    let ProviderError::InsufficientPermissions {
        required_scopes, ..
    } = err
    else {
        panic!("expected InsufficientPermissions, got {err:?}");
    };
    assert_eq!(required_scopes, ["groups:read"]);
}

#[tokio::test]
async fn http_429_is_rate_limited_with_retry_after() {
    let cases = [
        (Some("7"), 7),
        (Some("1.2"), 2),
        (None, 60),
        (Some("soon"), 60),
    ];
    for (header_value, expected) in cases {
        let mut answer =
            ResponseTemplate::new(429).set_body_json(json!({"ok": false, "error": "ratelimited"}));
        if let Some(value) = header_value {
            answer = answer.insert_header("retry-after", value);
        }

        let err = validate_with(answer).await.unwrap_err();

        assert_eq!(
            err,
            ProviderError::RateLimited {
                retry_after_seconds: expected
            },
            "Retry-After {header_value:?}"
        );
    }
}

#[tokio::test]
async fn access_refusals_say_an_admin_must_grant_access_without_inventing_scopes() {
    let err = validate_with(slack_error("team_access_not_granted"))
        .await
        .unwrap_err();

    let ProviderError::InsufficientPermissions {
        required_scopes,
        message,
    } = err
    else {
        panic!("expected InsufficientPermissions, got {err:?}");
    };
    assert!(required_scopes.is_empty(), "{required_scopes:?}");
    assert!(message.contains("team_access_not_granted"), "{message}");
    assert!(message.contains("admin"), "{message}");
}

#[tokio::test]
async fn a_ratelimited_error_on_http_200_honours_retry_after() {
    let answer = slack_error("ratelimited").insert_header("retry-after", "12");

    let err = validate_with(answer).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::RateLimited {
            retry_after_seconds: 12
        }
    );
}

#[tokio::test]
async fn retry_after_is_clamped_to_a_day() {
    let answers = [
        ResponseTemplate::new(429).insert_header("retry-after", "999999999"),
        slack_error("ratelimited").insert_header("retry-after", "1e300"),
    ];
    for answer in answers {
        let err = validate_with(answer).await.unwrap_err();

        assert_eq!(
            err,
            ProviderError::RateLimited {
                retry_after_seconds: 86_400
            }
        );
    }
}

#[tokio::test]
async fn server_errors_and_garbage_are_platform_errors() {
    let answers = [
        ResponseTemplate::new(500),
        ResponseTemplate::new(503).set_body_json(json!({"ok": false, "error": "invalid_auth"})),
        ResponseTemplate::new(200).set_body_string("<html>upstream down</html>"),
        ResponseTemplate::new(200).set_body_json(json!({"team_id": TEAM})),
        ResponseTemplate::new(200).set_body_json(json!({"ok": true, "team": "no id"})),
        ResponseTemplate::new(404).set_body_string("not found"),
    ];
    for answer in answers {
        let err = validate_with(answer).await.unwrap_err();
        assert_eq!(err.code(), ProviderErrorCode::PlatformError, "{err:?}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    let (_reserved, address) = refusing_address();

    let err = provider(&format!("http://{address}/api"))
        .validate(&team(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::NetworkError, "{err:?}");
    assert!(err.to_string().contains("could not connect"), "{err}");
}

#[tokio::test]
async fn a_dropped_connection_is_a_network_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        // Accept one connection, wait for the request to arrive, then close without answering.
        let (stream, _) = listener.accept().await.unwrap();
        stream.readable().await.unwrap();
        drop(stream);
    });

    let err = provider(&format!("http://{address}"))
        .validate(&team(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::NetworkError, "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn a_silent_server_times_out_as_a_network_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        // Hold the connection open without answering until the test is over.
        let (stream, _) = listener.accept().await.unwrap();
        let _ = released.await;
        drop(stream);
    });

    let err = provider(&format!("http://{address}"))
        .with_timeout(Duration::from_millis(300))
        .validate(&team(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::NetworkError, "{err:?}");
    assert!(err.to_string().contains("within 300 ms"), "{err}");
    let _ = release.send(());
    server.await.unwrap();
}

fn channel(id: &str, name: &str, is_private: bool, members: u64) -> Value {
    json!({
        "id": id, "name": name, "is_private": is_private, "num_members": members,
        "is_channel": !is_private, "is_archived": false,
    })
}

fn page(channels: Vec<Value>, next_cursor: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "ok": true,
        "channels": channels,
        "response_metadata": {"next_cursor": next_cursor},
    }))
}

#[tokio::test]
async fn list_channels_follows_cursors_across_pages() {
    let server = MockServer::start().await;
    let listing = || {
        Mock::given(method("GET"))
            .and(path("/conversations.list"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(query_param("types", "public_channel,private_channel"))
            .and(query_param("exclude_archived", "true"))
            .and(query_param("limit", "200"))
    };
    listing()
        .and(query_param_is_missing("cursor"))
        .respond_with(page(
            vec![
                channel("C0000000001", "general", false, 12),
                channel("C0000000002", "random", false, 10),
            ],
            "dXNlcjpVMDYx",
        ))
        .expect(1)
        .mount(&server)
        .await;
    listing()
        .and(query_param("cursor", "dXNlcjpVMDYx"))
        .respond_with(page(
            vec![channel("G0000000003", "secret", true, 3)],
            "dXNlcjpVMDYy",
        ))
        .expect(1)
        .mount(&server)
        .await;
    listing()
        .and(query_param("cursor", "dXNlcjpVMDYy"))
        .respond_with(page(vec![channel("C0000000004", "ops", false, 5)], ""))
        .expect(1)
        .mount(&server)
        .await;

    let channels = provider(&server.uri())
        .list_channels(&team(), &credentials())
        .await
        .unwrap();

    let summary: Vec<(&str, &str, bool, Option<u64>)> = channels
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.is_private, c.member_count))
        .collect();
    assert_eq!(
        summary,
        [
            ("C0000000001", "general", false, Some(12)),
            ("C0000000002", "random", false, Some(10)),
            ("G0000000003", "secret", true, Some(3)),
            ("C0000000004", "ops", false, Some(5)),
        ]
    );
}

#[tokio::test]
async fn a_last_page_without_metadata_ends_the_listing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/conversations.list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "channels": [channel("C0000000001", "general", false, 2)],
        })))
        .expect(1)
        .mount(&server)
        .await;

    let channels = provider(&server.uri())
        .list_channels(&team(), &credentials())
        .await
        .unwrap();

    assert_eq!(channels.len(), 1);
}

/// Answers every listing call, after `delay`, with one channel and a cursor never sent before.
struct EndlessPages {
    served: AtomicUsize,
    delay: Duration,
}

impl EndlessPages {
    fn after(delay: Duration) -> Self {
        Self {
            served: AtomicUsize::new(0),
            delay,
        }
    }
}

impl Respond for EndlessPages {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        page(
            vec![channel("C0000000001", "general", false, 2)],
            &format!("cursor-{n}"),
        )
        .set_delay(self.delay)
    }
}

#[tokio::test]
async fn a_server_that_never_stops_paging_is_a_platform_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/conversations.list"))
        .respond_with(EndlessPages::after(Duration::ZERO))
        .expect(100)
        .mount(&server)
        .await;

    let err = provider(&server.uri())
        .list_channels(&team(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::PlatformError, "{err:?}");
    assert!(err.to_string().contains("100 pages"), "{err}");
}

#[tokio::test]
async fn a_repeated_cursor_fails_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/conversations.list"))
        .respond_with(page(
            vec![channel("C0000000001", "general", false, 2)],
            "again",
        ))
        .expect(2)
        .mount(&server)
        .await;

    let err = provider(&server.uri())
        .list_channels(&team(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::PlatformError, "{err:?}");
    assert!(err.to_string().contains("already"), "{err}");
}

#[tokio::test]
async fn an_operation_is_bounded_by_its_deadline_across_calls() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/auth.test"))
        .respond_with(auth_test_ok(TEAM, &all_scopes()).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    // Every page comes quickly, but the listing never ends within the deadline.
    Mock::given(method("GET"))
        .and(path("/conversations.list"))
        .respond_with(EndlessPages::after(Duration::from_millis(50)))
        .mount(&server)
        .await;
    let provider = provider(&server.uri())
        .with_timeout(Duration::from_secs(30))
        .with_operation_timeout(Duration::from_millis(300));

    let started = std::time::Instant::now();
    let validated = provider
        .validate(&team(), &credentials())
        .await
        .unwrap_err();
    let listed = provider
        .list_channels(&team(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(
        validated.code(),
        ProviderErrorCode::NetworkError,
        "{validated:?}"
    );
    assert!(
        validated.to_string().contains("within 300 ms"),
        "{validated}"
    );
    assert_eq!(listed.code(), ProviderErrorCode::NetworkError, "{listed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn other_providers_credentials_are_rejected_without_a_call() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(auth_test_ok(TEAM, &all_scopes()))
        .expect(0)
        .mount(&server)
        .await;
    let discord = Credentials::Discord {
        bot_token: SecretString::from(TOKEN),
        application_id: None,
    };

    let err = provider(&server.uri())
        .validate(&team(), &discord)
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::InvalidCredentials);
}

#[tokio::test]
async fn the_token_never_appears_in_errors_even_when_the_server_echoes_it() {
    let echoing = [
        slack_error(TOKEN),
        ResponseTemplate::new(200).set_body_json(json!({
            "ok": false, "error": "missing_scope", "needed": format!("chat:write,{TOKEN}"),
        })),
        auth_test_ok(TOKEN, &all_scopes()),
        auth_test_ok(&format!("T0{TOKEN}"), &format!("{TOKEN},channels:read")),
        ResponseTemplate::new(200).set_body_string(TOKEN),
        ResponseTemplate::new(429).insert_header("retry-after", TOKEN),
        ResponseTemplate::new(500).set_body_string(TOKEN),
        slack_error("invalid_auth"),
        slack_error("token_revoked"),
    ];
    let mut errors = Vec::new();
    for answer in echoing {
        errors.push(validate_with(answer).await.unwrap_err());
    }
    errors.push(
        provider("http://127.0.0.1:1")
            .validate(&team(), &credentials())
            .await
            .unwrap_err(),
    );
    errors.push(
        provider("not a url")
            .validate(&team(), &credentials())
            .await
            .unwrap_err(),
    );
    let secret_part = "TOPSECRET";

    for err in &errors {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret_part), "token leaked: {shown}");
    }
    assert_eq!(errors.len(), 11);
    let provider_debug = format!("{:?}", provider("http://127.0.0.1:1"));
    assert!(!provider_debug.contains(secret_part));
}

#[tokio::test]
async fn a_token_that_cannot_be_a_header_is_invalid_credentials() {
    let credentials = Credentials::Slack {
        bot_token: SecretString::from("xoxb-TOPSECRET\nvalue"),
        signing_secret: SecretString::from("s"),
        app_token: None,
    };

    let err = provider("http://127.0.0.1:1")
        .validate(&team(), &credentials)
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::InvalidCredentials);
    assert!(!format!("{err:?}").contains("TOPSECRET"));
}

#[tokio::test]
async fn a_token_echoed_where_a_scope_may_stand_is_dropped_not_listed() {
    // A lowercase token passes the scope-name filter, so only the token check can catch it.
    let token = "xoxb-4242-4242-lowercasesecret";
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/auth.test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": false, "error": "missing_scope", "needed": format!("chat:write,{token}"),
        })))
        .mount(&server)
        .await;
    let credentials = Credentials::Slack {
        bot_token: SecretString::from(token),
        signing_secret: SecretString::from("s"),
        app_token: None,
    };

    let err = provider(&server.uri())
        .validate(&team(), &credentials)
        .await
        .unwrap_err();

    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("lowercasesecret"), "token leaked: {shown}");
    let ProviderError::InsufficientPermissions {
        required_scopes,
        message,
    } = err
    else {
        panic!("expected InsufficientPermissions, got {err:?}");
    };
    assert_eq!(required_scopes, ["chat:write"]);
    assert!(!message.contains("redacted"), "{message}");
}

#[tokio::test]
async fn an_answer_of_the_wrong_shape_logs_where_but_never_the_value() {
    let server = MockServer::start().await;
    // The token echoed into a typed field: serde's own error would quote it.
    Mock::given(method("GET"))
        .and(path("/conversations.list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "channels": [
                channel("C0000000001", "general", false, 2),
                {"id": "C0000000002", "name": "x", "is_private": TOKEN},
            ],
        })))
        .mount(&server)
        .await;
    let (logs, _guard) = Captured::start();

    let err = provider(&server.uri())
        .list_channels(&team(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::PlatformError, "{err:?}");
    let logs = logs.text();
    assert!(
        logs.contains("$.channels[1].is_private"),
        "the path is logged:\n{logs}"
    );
    assert!(
        !logs.contains("TOPSECRET"),
        "token leaked into logs:\n{logs}"
    );
}

#[tokio::test]
async fn an_oversized_declared_body_is_refused() {
    let server = MockServer::start().await;
    let huge = format!(
        r#"{{"ok":true,"team_id":"{TEAM}","padding":"{}"}}"#,
        "x".repeat(crate::api::MAX_BODY_BYTES)
    );
    Mock::given(method("GET"))
        .and(path("/auth.test"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-oauth-scopes", all_scopes().as_str())
                .set_body_raw(huge, "application/json"),
        )
        .mount(&server)
        .await;

    let err = provider(&server.uri())
        .validate(&team(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::PlatformError, "{err:?}");
    assert!(err.to_string().contains("larger than 8 MiB"), "{err}");
}

#[tokio::test]
async fn an_oversized_chunked_body_is_cut_off() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut stream, _) = listener.accept().await.unwrap();
        // Read the whole request first: closing with unread input would reset the connection.
        let mut request = Vec::new();
        while !request.ends_with(b"\r\n\r\n") {
            let mut byte = [0; 1];
            if stream.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            request.push(byte[0]);
        }
        stream
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                  transfer-encoding: chunked\r\n\r\n",
            )
            .await
            .unwrap();
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        // Stops when the client hangs up, which it must do once past the limit.
        while sent <= 8 * crate::api::MAX_BODY_BYTES {
            let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
            frame.extend_from_slice(&chunk);
            frame.extend_from_slice(b"\r\n");
            if stream.write_all(&frame).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });

    let err = provider(&format!("http://{address}"))
        .validate(&team(), &credentials())
        .await
        .unwrap_err();

    assert_eq!(err.code(), ProviderErrorCode::PlatformError, "{err:?}");
    assert!(err.to_string().contains("larger than 8 MiB"), "{err}");
    let sent = server.await.unwrap();
    assert!(
        sent < 8 * crate::api::MAX_BODY_BYTES,
        "the client read on: {sent}"
    );
}

#[tokio::test]
async fn a_user_token_is_invalid_credentials_naming_the_bot_token() {
    let server = MockServer::start().await;
    let user_token = Credentials::Slack {
        bot_token: SecretString::from("xoxp-1111-2222-usersecret"),
        signing_secret: SecretString::from("signing-secret"),
        app_token: None,
    };
    let err = provider(&server.uri())
        .validate(&team(), &user_token)
        .await
        .unwrap_err();
    let ProviderError::InvalidCredentials { message } = &err else {
        panic!("expected InvalidCredentials, got {err:?}");
    };
    assert!(
        message.contains("bot token") && message.contains("xoxb-"),
        "{message}"
    );
    assert!(!message.contains("usersecret"), "{message}");
    assert_eq!(err.code(), ProviderErrorCode::InvalidCredentials);
    assert!(server.received_requests().await.unwrap().is_empty());
}
