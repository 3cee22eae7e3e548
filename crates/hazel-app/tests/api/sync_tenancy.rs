//! Tenant isolation on every Chat Sync route.

use hazel_testkit::TestApp;
use reqwest::Method;
use serde_json::json;

use crate::chat_sync::*;

async fn another_organizations_connections_and_links_are_invisible(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let channel = t.owner.create_channel(&t.org, "general").await;
    let link = t
        .owner
        .post(
            &format!("/connections/{id}/channel-links"),
            json!({"hazelChannelId": channel, "externalChannelId": "C0GENERAL"}),
        )
        .await
        .expect_status(201)
        .id();
    let eve = app.user("Eve").await;
    let eve_org = eve.create_org("Evil").await;
    let eve_channel = eve.create_channel(&eve_org, "mine").await;
    let cases: Vec<(Method, String, Option<serde_json::Value>, &str)> = vec![
        (
            Method::GET,
            format!("/connections?organizationId={}", t.org),
            None,
            "NotFoundError",
        ),
        (
            Method::POST,
            "/connections".into(),
            Some(slack_body(&t.org)),
            "NotFoundError",
        ),
        (
            Method::GET,
            format!("/connections/{id}"),
            None,
            "ChatSyncConnectionNotFoundError",
        ),
        (
            Method::PATCH,
            format!("/connections/{id}"),
            Some(json!({"name": "pwned"})),
            "ChatSyncConnectionNotFoundError",
        ),
        (
            Method::DELETE,
            format!("/connections/{id}"),
            None,
            "ChatSyncConnectionNotFoundError",
        ),
        (
            Method::POST,
            format!("/connections/{id}/validate"),
            Some(json!({})),
            "ChatSyncConnectionNotFoundError",
        ),
        (
            Method::GET,
            format!("/connections/{id}/channels"),
            None,
            "ChatSyncConnectionNotFoundError",
        ),
        (
            Method::PUT,
            format!("/connections/{id}/channels"),
            Some(json!({"channelIds": [], "syncAll": true})),
            "ChatSyncConnectionNotFoundError",
        ),
        (
            Method::POST,
            format!("/connections/{id}/channel-links"),
            Some(json!({"hazelChannelId": eve_channel, "externalChannelId": "C0RANDOM"})),
            "ChatSyncConnectionNotFoundError",
        ),
        (
            Method::GET,
            format!("/connections/{id}/channel-links"),
            None,
            "ChatSyncConnectionNotFoundError",
        ),
        (
            Method::PATCH,
            format!("/channel-links/{link}"),
            Some(json!({"isActive": false})),
            "ChatSyncChannelLinkNotFoundError",
        ),
        (
            Method::DELETE,
            format!("/channel-links/{link}"),
            None,
            "ChatSyncChannelLinkNotFoundError",
        ),
    ];
    for (method, path, body, code) in cases {
        let text = body.map(|b| b.to_string());
        let resp = eve
            .raw(
                method.clone(),
                &format!("/api/v1{path}"),
                text.as_ref().map(|_| "application/json"),
                text,
            )
            .await;
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
        assert_eq!(resp.error_code(), code, "{method} {path}: {}", resp.text);
        assert!(
            !resp.text.contains(SLACK_TEAM) && !resp.text.contains("Acme Slack"),
            "{method} {path} leaked: {}",
            resp.text
        );
        assert_no_secrets(&resp.text);
    }
    // Nothing changed.
    let c = t
        .owner
        .get(&format!("/connections/{id}"))
        .await
        .expect_status(200);
    assert_eq!(c.data()["name"], "Acme Slack");
    assert_eq!(c.data()["channelCount"], 1);
    let links = t
        .owner
        .get(&format!("/connections/{id}/channel-links"))
        .await;
    assert_eq!(links.data()[0]["isActive"], true);
}

hazel_testkit::on_every_backend!(another_organizations_connections_and_links_are_invisible);
