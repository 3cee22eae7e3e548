//! Every /api/v1 route answers 401 without a token and with a bad one.

use hazel_testkit::TestApp;
use reqwest::Method;

/// Every route of the contract, with placeholder ids (auth is checked before ids are looked up).
pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/organizations"),
    ("GET", "/api/v1/organizations"),
    ("POST", "/api/v1/organizations/{id}/members"),
    ("GET", "/api/v1/organizations/{id}/members"),
    ("POST", "/api/v1/organizations/{id}/channels"),
    ("GET", "/api/v1/organizations/{id}/channels"),
    ("POST", "/api/v1/channels/{id}/messages"),
    ("GET", "/api/v1/channels/{id}/messages"),
    ("PATCH", "/api/v1/messages/{id}"),
    ("DELETE", "/api/v1/messages/{id}"),
    ("POST", "/api/v1/messages/{id}/reactions"),
    ("DELETE", "/api/v1/messages/{id}/reactions/%F0%9F%91%8D"),
    ("POST", "/api/v1/notifications"),
    ("GET", "/api/v1/notifications"),
    ("PATCH", "/api/v1/notifications/{id}"),
    ("DELETE", "/api/v1/notifications/{id}"),
    ("POST", "/api/v1/notifications/delete-by-message-ids"),
    ("POST", "/api/v1/connections"),
    ("GET", "/api/v1/connections?organizationId={id}"),
    ("GET", "/api/v1/connections/{id}"),
    ("PATCH", "/api/v1/connections/{id}"),
    ("DELETE", "/api/v1/connections/{id}"),
    ("POST", "/api/v1/connections/{id}/validate"),
    ("GET", "/api/v1/connections/{id}/channels"),
    ("PUT", "/api/v1/connections/{id}/channels"),
    ("POST", "/api/v1/connections/{id}/channel-links"),
    ("GET", "/api/v1/connections/{id}/channel-links"),
    ("PATCH", "/api/v1/channel-links/{id}"),
    ("DELETE", "/api/v1/channel-links/{id}"),
];

async fn every_route_needs_a_valid_token(app: TestApp) {
    let id = "0190f5a2-0000-7000-8000-000000000000";
    for client in [app.anonymous(), app.with_token("hzl_not-a-real-token")] {
        for (method, path) in ROUTES {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let path = path.replace("{id}", id);
            let resp = client
                .raw(
                    method.clone(),
                    &path,
                    Some("application/json"),
                    Some("{}".to_owned()),
                )
                .await;
            assert_eq!(
                resp.status,
                401,
                "{method} {path} with {:?}: {}",
                client.token(),
                resp.text
            );
            assert_eq!(
                resp.error_code(),
                "UnauthorizedError",
                "{method} {path}: {}",
                resp.text
            );
            assert!(
                !resp.body["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .is_empty()
            );
        }
    }
}

async fn a_valid_token_is_accepted(app: TestApp) {
    let ada = app.user("Ada").await;
    ada.get("/organizations").await.expect_status(200);
}

async fn bootstrap_is_idempotent_per_email(app: TestApp) {
    let first = app.user("Ada").await;
    let second = app.user("Ada").await;
    assert_eq!(
        first.user_id, second.user_id,
        "the same email must map to the same user"
    );
    assert_ne!(first.token(), second.token());
    // Both tokens work.
    first.get("/organizations").await.expect_status(200);
    second.get("/organizations").await.expect_status(200);
}

hazel_testkit::on_every_backend!(
    every_route_needs_a_valid_token,
    a_valid_token_is_accepted,
    bootstrap_is_idempotent_per_email
);
