//! In-process tests of the whole application (`app(state)`) over the real domain services with
//! mocked ports: routing, authentication, the JSON error shape, the answers' shapes, metrics
//! and the OpenAPI document.

use std::sync::Arc;

use async_trait::async_trait;
use hazel_domain::ids::{
    ChannelId, MemberId, MessageId, NotificationId, OrganizationId, SyncConnectionId,
    TransactionId, UserId,
};
use hazel_domain::model::Timestamp;
use hazel_domain::model::channel::{Channel, ChannelKind};
use hazel_domain::model::chat_sync::{
    ConnectionSettings, ConnectionStatus, JsonObject, Provider, ProviderError, ProviderErrorCode,
    SealedCredentials, SyncConnection,
};
use hazel_domain::model::identity::{Member, MemberKind, MemberProfile, Role, TokenSecret, User};
use hazel_domain::model::message::{Message, MessageContent, MessageView};
use hazel_domain::model::notification::Notification;
use hazel_domain::model::page::Page;
use hazel_domain::model::text::{Email, Name, Url};
use hazel_domain::ports::{
    ChangeOutcome, ChatProviders, Committed, ConnectionView, MockChannelLinkRepository,
    MockChannelRepository, MockChatDirectory, MockConnectionRepository, MockCredentialVault,
    MockMemberRepository, MockMessageRepository, MockNotificationRepository,
    MockOrganizationRepository, MockStore, MockUserRepository, SystemClock,
};
use hazel_domain::ports::{MockSyncQueue, MockSyncRepository};
use hazel_domain::services::channels::ChannelService;
use hazel_domain::services::chat_sync::{ChatSyncPorts, ChatSyncService};
use hazel_domain::services::identity::IdentityService;
use hazel_domain::services::messages::MessageService;
use hazel_domain::services::notifications::NotificationService;
use hazel_domain::services::sync::{RetryPolicy, SyncPorts};
use hazel_domain::services::{Services, SyncServices};
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use serde_json::{Value, json};

use crate::{ApiState, Readiness, app, openapi_json};

const TOKEN: &str = "hzl_test-token";

fn at() -> Timestamp {
    Timestamp::UNIX_EPOCH + time::Duration::days(20_000)
}

struct FixedReadiness(Result<(), String>);

#[async_trait]
impl Readiness for FixedReadiness {
    async fn check(&self) -> Result<(), String> {
        self.0.clone()
    }
}

/// The mocked ports behind the services; tests add expectations, then build the app.
struct Mocks {
    user: User,
    users: MockUserRepository,
    organizations: MockOrganizationRepository,
    members: MockMemberRepository,
    channels: MockChannelRepository,
    messages: MockMessageRepository,
    notifications: MockNotificationRepository,
    connections: MockConnectionRepository,
    links: MockChannelLinkRepository,
    store: MockStore,
    vault: MockCredentialVault,
    slack: MockChatDirectory,
    ready: Result<(), String>,
}

impl Mocks {
    /// Mocks where [`TOKEN`] authenticates `ada` and every other token is unknown.
    fn new() -> Self {
        let user = User {
            id: UserId::new(),
            email: Email::parse("email", "ada@example.com").unwrap(),
            name: Name::parse("name", "Ada").unwrap(),
            created_at: at(),
        };
        let mut users = MockUserRepository::new();
        let known = user.clone();
        users.expect_find_by_token().returning(move |hash| {
            Ok((*hash == TokenSecret::presented(TOKEN).hash()).then(|| known.clone()))
        });
        let mut slack = MockChatDirectory::new();
        slack.expect_provider().return_const(Provider::Slack);
        Self {
            user,
            users,
            organizations: MockOrganizationRepository::new(),
            members: MockMemberRepository::new(),
            channels: MockChannelRepository::new(),
            messages: MockMessageRepository::new(),
            notifications: MockNotificationRepository::new(),
            connections: MockConnectionRepository::new(),
            links: MockChannelLinkRepository::new(),
            store: MockStore::new(),
            vault: MockCredentialVault::new(),
            slack,
            ready: Ok(()),
        }
    }

    /// Makes the caller a member of `org` with `role` (for any organization asked about).
    fn member_as(&mut self, org: OrganizationId, role: Role) -> Member {
        let member = Member {
            id: MemberId::new(),
            organization_id: org,
            kind: MemberKind::Native {
                user_id: self.user.id,
            },
            name: self.user.name.clone(),
            avatar_url: None,
            role,
            created_at: at(),
        };
        let found = member.clone();
        self.members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(found.clone())));
        member
    }

    /// Every commit succeeds as transaction 42.
    fn commits(&mut self) {
        self.store.expect_commit().returning(|changes| {
            Ok(Committed {
                transaction_id: TransactionId::new(42),
                outcomes: vec![ChangeOutcome::Applied; changes.len()],
            })
        });
    }

    fn client(self) -> TestClient<BoxEndpoint<'static>> {
        let users = Arc::new(self.users);
        let organizations = Arc::new(self.organizations);
        let members = Arc::new(self.members);
        let channels = Arc::new(self.channels);
        let messages = Arc::new(self.messages);
        let notifications = Arc::new(self.notifications);
        let store = Arc::new(self.store);
        let clock = Arc::new(SystemClock);
        let vault: Arc<dyn hazel_domain::ports::CredentialVault> = Arc::new(self.vault);
        let providers = ChatProviders::new().with_directory(Arc::new(self.slack));
        let chat_sync = ChatSyncService::new(ChatSyncPorts {
            members: members.clone(),
            channels: channels.clone(),
            connections: Arc::new(self.connections),
            links: Arc::new(self.links),
            store: store.clone(),
            clock: clock.clone(),
            vault: vault.clone(),
            providers: providers.clone(),
        });
        let services = Services {
            identity: IdentityService::new(
                users,
                organizations,
                members.clone(),
                store.clone(),
                clock.clone(),
            ),
            channels: ChannelService::new(
                members.clone(),
                channels.clone(),
                store.clone(),
                clock.clone(),
            ),
            messages: MessageService::new(
                members.clone(),
                channels.clone(),
                messages,
                store.clone(),
                clock.clone(),
            ),
            notifications: NotificationService::new(
                members.clone(),
                channels.clone(),
                notifications,
                store.clone(),
                clock.clone(),
            ),
            chat_sync: chat_sync.clone(),
            sync: SyncServices::new(SyncPorts {
                members,
                channels,
                messages: Arc::new(MockMessageRepository::new()),
                sync: Arc::new(MockSyncRepository::new()),
                queue: Arc::new(MockSyncQueue::new()),
                store,
                clock,
                vault,
                providers,
                chat_sync,
                retry: RetryPolicy::default(),
                observer: Arc::new(hazel_domain::ports::NoObserver),
            }),
        };
        let state = ApiState::new(services, Arc::new(FixedReadiness(self.ready)));
        TestClient::new(app(state))
    }
}

/// The status and JSON body of an answer.
async fn read(response: TestResponse) -> (StatusCode, Value) {
    let status = response.0.status();
    let body = response
        .0
        .into_body()
        .into_json::<Value>()
        .await
        .unwrap_or(Value::Null);
    (status, body)
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

// ---------------------------------------------------------------------------------------------
// Operations endpoints.

#[tokio::test]
async fn healthz_answers_ok() {
    let (status, body) = read(Mocks::new().client().get("/healthz").send().await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "status": "ok" }));
}

#[tokio::test]
async fn readyz_reflects_the_store() {
    let (status, body) = read(Mocks::new().client().get("/readyz").send().await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");

    let mut mocks = Mocks::new();
    mocks.ready = Err("2 migrations pending".to_owned());
    let (status, body) = read(mocks.client().get("/readyz").send().await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reason"], "2 migrations pending");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let client = Mocks::new().client();
    let org = OrganizationId::new();
    client.get("/healthz").send().await.assert_status_is_ok();
    client
        .get(format!("/api/v1/organizations/{org}/members"))
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    client
        .get("/no/such/route")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let response = client.get("/metrics").send().await;
    response.assert_status_is_ok();
    let text = response.0.into_body().into_string().await.unwrap();
    for expected in [
        r#"hazel_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
        r#"hazel_http_requests_total{method="GET",route="/api/v1/organizations/{orgId}/members",status="401"} 1"#,
        r#"hazel_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"hazel_http_request_duration_seconds_count{method="GET",route="/healthz"} 1"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    assert!(
        !text.contains(&org.to_string()),
        "raw ids must not become labels"
    );
}

// ---------------------------------------------------------------------------------------------
// Authentication and poem-level errors.

#[tokio::test]
async fn api_routes_need_a_valid_bearer_token() {
    let client = Mocks::new().client();
    let (status, body) = read(client.get("/api/v1/organizations").send().await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "UnauthorizedError");

    let (status, body) = read(
        client
            .get("/api/v1/organizations")
            .header("Authorization", "Bearer not-a-token")
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "UnauthorizedError");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let client = Mocks::new().client();
    let (status, body) = read(client.get("/api/v1/nothing-here").send().await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "NotFoundError");

    let (status, body) = read(
        client
            .delete("/api/v1/organizations")
            .header("Authorization", bearer())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, "MethodNotAllowedError");
}

#[tokio::test]
async fn non_json_bodies_are_refused() {
    let (status, body) = read(
        Mocks::new()
            .client()
            .post("/api/v1/organizations")
            .header("Authorization", bearer())
            .content_type("text/plain")
            .body("name=Acme")
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(&body, "UnsupportedMediaTypeError");
}

// ---------------------------------------------------------------------------------------------
// Validation names the field.

async fn post_org(body: Value) -> (StatusCode, Value) {
    read(
        Mocks::new()
            .client()
            .post("/api/v1/organizations")
            .header("Authorization", bearer())
            .body_json(&body)
            .send()
            .await,
    )
    .await
}

#[tokio::test]
async fn malformed_bodies_name_the_field() {
    for (body, field) in [
        (json!({}), "name"),
        (json!({ "name": 5 }), "name"),
        (json!({ "name": "Acme", "colour": "red" }), "colour"),
        (json!({ "name": "Acme", "slug": "Not A Slug" }), "slug"),
        (json!({ "name": "   " }), "name"),
        (json!([1, 2]), "body"),
    ] {
        let (status, answer) = post_org(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_error(&answer, "ValidationError");
        assert_eq!(answer["error"]["field"], field, "{body} → {answer}");
    }
}

#[tokio::test]
async fn bad_path_and_query_parameters_name_the_parameter() {
    let client = Mocks::new().client();
    let (status, body) = read(
        client
            .get("/api/v1/organizations/not-a-uuid/members")
            .header("Authorization", bearer())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "orgId", "{body}");

    for limit in ["abc", "0", "201"] {
        let (status, body) = read(
            client
                .get("/api/v1/organizations")
                .header("Authorization", bearer())
                .query("limit", &limit)
                .send()
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "limit={limit}");
        assert_error(&body, "ValidationError");
        assert_eq!(body["error"]["field"], "limit", "{body}");
    }

    let (status, body) = read(
        client
            .get("/api/v1/connections")
            .header("Authorization", bearer())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "organizationId", "{body}");
}

#[tokio::test]
async fn credentials_are_checked_against_the_provider_shape() {
    let org = OrganizationId::new();
    let mut mocks = Mocks::new();
    // The shape is checked once the caller's right to create connections is established.
    mocks.member_as(org, Role::Owner);
    let (status, body) = read(
        mocks
            .client()
            .post("/api/v1/connections")
            .header("Authorization", bearer())
            .body_json(&json!({
                "organizationId": org.to_string(),
                "provider": "slack",
                "externalWorkspaceId": "T123",
                "credentials": { "botToken": "xoxb-very-secret" },
            }))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["field"], "credentials.signingSecret",
        "{body}"
    );
    assert!(!body.to_string().contains("very-secret"), "{body}");
}

#[tokio::test]
async fn nested_fields_are_named_by_their_path() {
    let mocks = Mocks::new();
    let client = mocks.client();
    let (status, body) = read(
        client
            .post(format!("/api/v1/channels/{}/messages", ChannelId::new()))
            .header("Authorization", bearer())
            .body_json(&json!({
                "content": "hi",
                "attachments": [{ "url": "https://x.io/a.png", "name": "a" }, { "url": "ftp://x", "name": "b" }],
            }))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "attachments[1].url", "{body}");

    let (status, body) = read(
        client
            .post(format!(
                "/api/v1/connections/{}/channel-links",
                SyncConnectionId::new()
            ))
            .header("Authorization", bearer())
            .body_json(&json!({
                "hazelChannelId": ChannelId::new().to_string(),
                "externalChannelId": "C1",
                "settings": { "syncPins": "yes" },
            }))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "settings.syncPins", "{body}");
}

#[tokio::test]
async fn read_at_is_required_but_nullable() {
    let id = NotificationId::new();
    let (status, body) = read(
        Mocks::new()
            .client()
            .patch(format!("/api/v1/notifications/{id}"))
            .header("Authorization", bearer())
            .body_json(&json!({}))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "readAt", "{body}");

    let mut mocks = Mocks::new();
    let org = OrganizationId::new();
    let member = mocks.member_as(org, Role::Member);
    let notification = Notification {
        id,
        member_id: member.id,
        organization_id: org,
        targeted_resource_id: None,
        targeted_resource_type: None,
        resource_id: None,
        resource_type: None,
        dedupe_key: None,
        created_at: at(),
        read_at: Some(at()),
    };
    mocks
        .notifications
        .expect_find()
        .returning(move |_| Ok(Some(notification.clone())));
    mocks.commits();
    let (status, body) = read(
        mocks
            .client()
            .patch(format!("/api/v1/notifications/{id}"))
            .header("Authorization", bearer())
            .body_json(&json!({ "readAt": null }))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["transactionId"], "42");
    assert_eq!(body["data"]["id"], id.to_string());
    assert!(body["data"].get("readAt").is_none(), "{body}");
}

// ---------------------------------------------------------------------------------------------
// Domain outcomes through the whole stack.

#[tokio::test]
async fn creating_an_organization_answers_201_with_the_transaction() {
    let mut mocks = Mocks::new();
    mocks.commits();
    let (status, body) = read(
        mocks
            .client()
            .post("/api/v1/organizations")
            .header("Authorization", bearer())
            .body_json(&json!({ "name": "Acme", "slug": "acme" }))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["transactionId"], "42");
    assert_eq!(body["data"]["name"], "Acme");
    assert_eq!(body["data"]["slug"], "acme");
    let created_at = body["data"]["createdAt"].as_str().unwrap_or_default();
    assert!(created_at.ends_with('Z'), "{created_at}");
}

#[tokio::test]
async fn plain_members_are_forbidden_to_add_members() {
    let mut mocks = Mocks::new();
    let org = OrganizationId::new();
    mocks.member_as(org, Role::Member);
    let (status, body) = read(
        mocks
            .client()
            .post(format!("/api/v1/organizations/{org}/members"))
            .header("Authorization", bearer())
            .body_json(&json!({ "email": "bob@example.com", "name": "Bob", "role": "member" }))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "UnauthorizedError");
}

#[tokio::test]
async fn adding_a_new_person_answers_their_token_once() {
    let mut mocks = Mocks::new();
    let org = OrganizationId::new();
    mocks.member_as(org, Role::Owner);
    mocks.users.expect_find_by_email().returning(|_| Ok(None));
    mocks.commits();
    let (status, body) = read(
        mocks
            .client()
            .post(format!("/api/v1/organizations/{org}/members"))
            .header("Authorization", bearer())
            .body_json(&json!({ "email": "Bob@Example.com", "name": "Bob", "role": "admin" }))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    assert_eq!(data["email"], "bob@example.com");
    assert_eq!(data["role"], "admin");
    assert_eq!(data["organizationId"], org.to_string());
    assert!(data["userId"].is_string(), "{body}");
    assert!(
        data["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("hzl_")),
        "{body}"
    );
}

#[tokio::test]
async fn emoji_path_segments_are_url_decoded() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_find().returning(|_| Ok(None));
    let client = mocks.client();
    let path = |emoji: &str| format!("/api/v1/messages/{}/reactions/{emoji}", MessageId::new());
    // A valid emoji reaches the service, which does not know the message.
    let (status, body) = read(
        client
            .delete(path("%F0%9F%91%8D"))
            .header("Authorization", bearer())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, "NotFoundError");
    // An invalid one is refused before.
    let (status, body) = read(
        client
            .delete(path("hello"))
            .header("Authorization", bearer())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "emoji");
}

#[tokio::test]
async fn lists_answer_data_and_a_null_cursor() {
    let mut mocks = Mocks::new();
    let org = OrganizationId::new();
    let member = mocks.member_as(org, Role::Owner);
    let email = mocks.user.email.clone();
    mocks.members.expect_list().returning(move |_, _| {
        Ok(Page {
            items: vec![MemberProfile {
                member: member.clone(),
                email: Some(email.clone()),
            }],
            next_cursor: None,
        })
    });
    let (status, body) = read(
        mocks
            .client()
            .get(format!("/api/v1/organizations/{org}/members"))
            .header("Authorization", bearer())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["nextCursor"], Value::Null);
    assert_eq!(body["data"][0]["email"], "ada@example.com");
    assert_eq!(body["data"][0]["role"], "owner");
    assert_eq!(body["data"][0]["organizationId"], org.to_string());
}

#[tokio::test]
async fn synced_messages_show_the_external_author() {
    let mut mocks = Mocks::new();
    let org = OrganizationId::new();
    mocks.member_as(org, Role::Member);
    let channel = Channel {
        id: ChannelId::new(),
        organization_id: org,
        name: Name::parse("name", "general").unwrap(),
        kind: ChannelKind::Public,
        created_at: at(),
    };
    let channel_id = channel.id;
    mocks
        .channels
        .expect_find()
        .returning(move |_| Ok(Some(channel.clone())));
    let shadow = Member {
        id: MemberId::new(),
        organization_id: org,
        kind: MemberKind::Shadow {
            provider: Provider::Slack,
            external_user_id: hazel_domain::model::chat_sync::ExternalUserId::parse("id", "U42")
                .unwrap(),
        },
        name: Name::parse("name", "Grace").unwrap(),
        avatar_url: Some(Url::parse("url", "https://slack.example/grace.png").unwrap()),
        role: Role::Member,
        created_at: at(),
    };
    let view = MessageView {
        message: Message {
            id: MessageId::new(),
            channel_id,
            author_id: shadow.id,
            content: MessageContent::parse("content", "hello from slack").unwrap(),
            parent_message_id: None,
            attachments: Vec::new(),
            created_at: at(),
            edited_at: None,
            deleted_at: None,
        },
        author: shadow,
        reactions: Vec::new(),
    };
    mocks.messages.expect_list().returning(move |_, _| {
        Ok(Page {
            items: vec![view.clone()],
            next_cursor: Some("next".to_owned()),
        })
    });
    let (status, body) = read(
        mocks
            .client()
            .get(format!("/api/v1/channels/{channel_id}/messages"))
            .header("Authorization", bearer())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["nextCursor"], "next");
    let author = &body["data"][0]["author"];
    assert_eq!(author["externalProvider"], "slack");
    assert_eq!(author["externalAuthorName"], "Grace");
    assert_eq!(
        author["externalAuthorAvatarUrl"],
        "https://slack.example/grace.png"
    );
    assert_eq!(body["data"][0]["reactions"], json!([]));
}

#[tokio::test]
async fn connections_never_answer_credentials() {
    let mut mocks = Mocks::new();
    let org = OrganizationId::new();
    mocks.member_as(org, Role::Member);
    let connection = SyncConnection {
        id: SyncConnectionId::new(),
        organization_id: org,
        provider: Provider::Slack,
        external_workspace_id: hazel_domain::model::chat_sync::ExternalWorkspaceId::parse(
            "id", "T123",
        )
        .unwrap(),
        external_workspace_name: None,
        name: Name::parse("name", "Acme Slack").unwrap(),
        status: ConnectionStatus::Error {
            code: ProviderErrorCode::AuthExpired,
            message: "token_revoked".to_owned(),
        },
        integration_connection_id: None,
        credentials: Some(SealedCredentials::from_bytes(
            b"sealed-secret-bytes".to_vec(),
        )),
        bot: Some(hazel_domain::model::chat_sync::BotIdentity {
            user_id: hazel_domain::model::chat_sync::ExternalUserId::parse("u", "U0BOT").unwrap(),
            bot_id: Some(
                hazel_domain::model::chat_sync::ExternalBotId::parse("b", "B0BOT").unwrap(),
            ),
            app_id: None,
        }),
        settings: ConnectionSettings::default(),
        metadata: JsonObject::from_checked_json("metadata", r#"{"team":"blue"}"#.to_owned())
            .unwrap(),
        last_sync_at: None,
        created_at: at(),
        updated_at: at(),
        created_by: mocks.user.id,
    };
    let id = connection.id;
    mocks.connections.expect_find().returning(move |_| {
        Ok(Some(ConnectionView {
            connection: connection.clone(),
            channel_count: 3,
        }))
    });
    let (status, body) = read(
        mocks
            .client()
            .get(format!("/api/v1/connections/{id}"))
            .header("Authorization", bearer())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "error");
    assert_eq!(body["data"]["errorCode"], "AUTH_EXPIRED");
    assert_eq!(body["data"]["errorMessage"], "token_revoked");
    assert_eq!(body["data"]["metadata"], json!({ "team": "blue" }));
    assert_eq!(body["data"]["channelCount"], 3);
    assert_eq!(body["data"]["externalBotUserId"], "U0BOT");
    assert_eq!(
        body["data"]["settings"],
        json!({ "syncThreads": true, "syncReactions": true, "syncEdits": true, "syncDeletes": true })
    );
    let text = body.to_string();
    assert!(
        !text.contains("credentials") && !text.contains("sealed-secret"),
        "{text}"
    );
}

#[tokio::test]
async fn provider_rate_limits_answer_429_with_retry_after() {
    let mut mocks = Mocks::new();
    let org = OrganizationId::new();
    mocks.member_as(org, Role::Admin);
    mocks
        .connections
        .expect_find_by_workspace()
        .returning(|_, _, _| Ok(None));
    mocks.slack.expect_validate().returning(|_, _| {
        Err(ProviderError::RateLimited {
            retry_after_seconds: 30,
        })
    });
    mocks.store.expect_commit().never();
    let response = mocks
        .client()
        .post("/api/v1/connections")
        .header("Authorization", bearer())
        .body_json(&json!({
            "organizationId": org.to_string(),
            "provider": "slack",
            "externalWorkspaceId": "T123",
            "credentials": { "botToken": "xoxb-1", "signingSecret": "shh" },
        }))
        .send()
        .await;
    response.assert_header("Retry-After", "30");
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(&body, "RATE_LIMITED");
    assert_eq!(body["error"]["retryAfterSeconds"], 30);
}

#[tokio::test]
async fn unknown_connections_answer_their_own_not_found_code() {
    let mut mocks = Mocks::new();
    mocks.connections.expect_find().returning(|_| Ok(None));
    let (status, body) = read(
        mocks
            .client()
            .delete(format!("/api/v1/connections/{}", SyncConnectionId::new()))
            .header("Authorization", bearer())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "ChatSyncConnectionNotFoundError");
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document.

const OPERATION_IDS: [&str; 33] = [
    "organizationCreate",
    "organizationList",
    "memberCreate",
    "memberList",
    "channelCreate",
    "channelList",
    "messageCreate",
    "messageList",
    "messageUpdate",
    "messageDelete",
    "messageReactionCreate",
    "messageReactionDelete",
    "chatSyncConnectionCreate",
    "chatSyncConnectionList",
    "chatSyncConnectionGet",
    "chatSyncConnectionUpdate",
    "chatSyncConnectionDelete",
    "chatSyncConnectionValidate",
    "chatSyncExternalChannelList",
    "chatSyncExternalChannelSelect",
    "chatSyncChannelLinkCreate",
    "chatSyncChannelLinkList",
    "chatSyncChannelLinkUpdate",
    "chatSyncChannelLinkDelete",
    "chatSyncDeliveryList",
    "chatSyncDeliveryRetry",
    "chatSyncDeliveryRetryFailed",
    "notificationCreate",
    "notificationList",
    "notificationUpdate",
    "notificationDelete",
    "notificationDeleteByMessageIds",
    "slackEventsReceive",
];

#[test]
fn the_document_has_every_operation_of_the_contract() {
    let spec: Value = serde_json::from_str(&openapi_json()).unwrap();
    let mut found: Vec<(String, String, String)> = Vec::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            found.push((
                op["operationId"].as_str().unwrap_or_default().to_owned(),
                method.to_uppercase(),
                path.clone(),
            ));
        }
    }
    for id in OPERATION_IDS {
        assert!(
            found.iter().any(|(op, _, _)| op == id),
            "{id} missing from the document"
        );
    }
    assert_eq!(found.len(), OPERATION_IDS.len(), "{found:?}");
    for (method, path, id) in [
        ("POST", "/api/v1/connections", "chatSyncConnectionCreate"),
        (
            "PUT",
            "/api/v1/connections/{id}/channels",
            "chatSyncExternalChannelSelect",
        ),
        (
            "POST",
            "/api/v1/notifications/delete-by-message-ids",
            "notificationDeleteByMessageIds",
        ),
        (
            "DELETE",
            "/api/v1/messages/{messageId}/reactions/{emoji}",
            "messageReactionDelete",
        ),
        ("POST", "/webhooks/slack/events", "slackEventsReceive"),
    ] {
        assert!(
            found
                .iter()
                .any(|(op, m, p)| op == id && m == method && p == path),
            "{method} {path} ({id}) missing"
        );
    }
    let security = &spec["components"]["securitySchemes"];
    assert_eq!(security["BearerAuth"]["scheme"], "bearer", "{security}");
}

#[test]
fn every_operation_documents_unauthorized_and_internal_errors() {
    let spec: Value = serde_json::from_str(&openapi_json()).unwrap();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            for status in ["400", "401", "500"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_document_and_the_ui_are_served() {
    let client = Mocks::new().client();
    let response = client.get("/openapi.json").send().await;
    response.assert_status_is_ok();
    let served = response.0.into_body().into_string().await.unwrap();
    assert_eq!(served, openapi_json());
    let response = client.get("/docs").send().await;
    response.assert_status_is_ok();
    let html = response.0.into_body().into_string().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");
}
