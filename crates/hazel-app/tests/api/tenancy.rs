//! Tenant isolation: a member of organization A gets 404 (or 403 where the contract says so) on
//! every resource of organization B, never its data, and changes nothing.

use hazel_testkit::TestApp;
use reqwest::Method;
use serde_json::json;

async fn organization_b_is_invisible_to_members_of_a(app: TestApp) {
    let bob = app.user("Bob").await;
    let org_b = bob.create_org("Bee").await;
    let (bea_id, bea) = bob.add_member(&org_b, "Bea", "member").await;
    let bea = bea.unwrap();
    let channel_b = bob.create_channel(&org_b, "bee-general").await;
    let msg_b = bob
        .post_message(&channel_b, &format!("secret plans @[member:{bea_id}]"))
        .await;
    let notification_b = bea.get("/notifications").await.data()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let ada = app.user("Ada").await;
    let org_a = ada.create_org("Ay").await;
    ada.create_channel(&org_a, "ay-general").await;

    let cases: Vec<(Method, String, serde_json::Value, u16)> = vec![
        (
            Method::GET,
            format!("/organizations/{org_b}/members"),
            json!(null),
            404,
        ),
        (
            Method::POST,
            format!("/organizations/{org_b}/members"),
            json!({"email": "x@x.io", "name": "X", "role": "member"}),
            404,
        ),
        (
            Method::GET,
            format!("/organizations/{org_b}/channels"),
            json!(null),
            404,
        ),
        (
            Method::POST,
            format!("/organizations/{org_b}/channels"),
            json!({"name": "x", "type": "public"}),
            404,
        ),
        (
            Method::GET,
            format!("/channels/{channel_b}/messages"),
            json!(null),
            404,
        ),
        (
            Method::POST,
            format!("/channels/{channel_b}/messages"),
            json!({"content": "x"}),
            404,
        ),
        (
            Method::PATCH,
            format!("/messages/{msg_b}"),
            json!({"content": "x"}),
            404,
        ),
        (
            Method::DELETE,
            format!("/messages/{msg_b}"),
            json!(null),
            404,
        ),
        (
            Method::POST,
            format!("/messages/{msg_b}/reactions"),
            json!({"emoji": "👍"}),
            404,
        ),
        (
            Method::DELETE,
            format!("/messages/{msg_b}/reactions/%F0%9F%91%8D"),
            json!(null),
            404,
        ),
        (
            Method::PATCH,
            format!("/notifications/{notification_b}"),
            json!({"readAt": null}),
            404,
        ),
        (
            Method::DELETE,
            format!("/notifications/{notification_b}"),
            json!(null),
            404,
        ),
        (
            Method::GET,
            format!("/notifications?organizationId={org_b}"),
            json!(null),
            404,
        ),
        (
            Method::POST,
            "/notifications".to_owned(),
            json!({"memberId": bea_id}),
            404,
        ),
        (
            Method::POST,
            "/notifications/delete-by-message-ids".to_owned(),
            json!({"messageIds": [msg_b], "channelId": channel_b}),
            403,
        ),
        (
            Method::GET,
            format!("/connections?organizationId={org_b}"),
            json!(null),
            404,
        ),
        (
            Method::POST,
            "/connections".to_owned(),
            json!({"organizationId": org_b, "provider": "slack", "externalWorkspaceId": "T1",
                   "credentials": {"botToken": "xoxb-x", "signingSecret": "s"}}),
            404,
        ),
    ];
    for (method, path, body, expected) in cases {
        let body = (!body.is_null()).then(|| body.to_string());
        let resp = ada
            .raw(
                method.clone(),
                &format!("/api/v1{path}"),
                body.as_ref().map(|_| "application/json"),
                body,
            )
            .await;
        assert_eq!(resp.status, expected, "{method} {path}: {}", resp.text);
        assert!(
            !resp.text.contains("secret plans") && !resp.text.contains("bee-general"),
            "{method} {path} leaked: {}",
            resp.text
        );
    }
    // Nothing of B changed.
    let messages = bob
        .get(&format!("/channels/{channel_b}/messages"))
        .await
        .expect_status(200);
    assert_eq!(messages.data().as_array().unwrap().len(), 1);
    assert!(messages.data()[0]["editedAt"].is_null());
    assert_eq!(messages.data()[0]["reactions"], json!([]));
    assert_eq!(
        bob.get(&format!("/organizations/{org_b}/members"))
            .await
            .data()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        bob.get(&format!("/organizations/{org_b}/channels"))
            .await
            .data()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let notes = bea.get("/notifications").await;
    assert_eq!(notes.data().as_array().unwrap().len(), 1);
    assert!(notes.data()[0]["readAt"].is_null());
    // And A's lists hold nothing of B.
    let ada_orgs = ada.get("/organizations").await;
    assert!(!ada_orgs.text.contains(&org_b));
}

hazel_testkit::on_every_backend!(organization_b_is_invisible_to_members_of_a);
