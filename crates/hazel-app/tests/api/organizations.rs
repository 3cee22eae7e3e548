//! Organizations: create, list, validation.

use hazel_testkit::TestApp;
use reqwest::Method;
use serde_json::json;

async fn creating_an_organization_makes_the_caller_its_owner(app: TestApp) {
    let ada = app.user("Ada").await;
    let resp = ada
        .post("/organizations", json!({"name": "Acme Corp"}))
        .await
        .expect_status(201);
    let org = resp.data().clone();
    assert_eq!(org["name"], "Acme Corp");
    assert!(
        org["slug"].as_str().unwrap().starts_with("acme-corp-"),
        "{org}"
    );
    assert!(
        org["createdAt"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC: {org}"
    );
    assert!(resp.transaction_id() > 0);
    let org_id = org["id"].as_str().unwrap();
    let members = ada
        .get(&format!("/organizations/{org_id}/members"))
        .await
        .expect_status(200);
    let list = members.data().as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["role"], "owner");
    assert_eq!(list[0]["userId"].as_str(), ada.user_id.as_deref());
    assert!(
        list[0].get("token").is_none_or(serde_json::Value::is_null),
        "lists never carry tokens"
    );
}

async fn an_explicit_slug_is_kept_and_must_be_unique(app: TestApp) {
    let ada = app.user("Ada").await;
    let resp = ada
        .post("/organizations", json!({"name": "Acme", "slug": "acme"}))
        .await
        .expect_status(201);
    assert_eq!(resp.data()["slug"], "acme");
    let dup = ada
        .post("/organizations", json!({"name": "Other", "slug": "acme"}))
        .await
        .expect_status(400);
    assert_eq!(dup.error_code(), "ValidationError");
    assert_eq!(dup.error_field(), "slug");
    let bad = ada
        .post(
            "/organizations",
            json!({"name": "Other", "slug": "Not A Slug"}),
        )
        .await
        .expect_status(400);
    assert_eq!(bad.error_field(), "slug");
}

async fn the_list_holds_only_the_callers_organizations(app: TestApp) {
    let ada = app.user("Ada").await;
    let bob = app.user("Bob").await;
    let a1 = ada.create_org("A1").await;
    let a2 = ada.create_org("A2").await;
    let b1 = bob.create_org("B1").await;
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let ada_orgs = ids(ada.get("/organizations").await.expect_status(200).data());
    assert_eq!(ada_orgs, vec![a1, a2]);
    let bob_orgs = ids(bob.get("/organizations").await.expect_status(200).data());
    assert_eq!(bob_orgs, vec![b1]);
}

async fn malformed_input_names_the_field(app: TestApp) {
    let ada = app.user("Ada").await;
    let cases = [
        (json!({}), "name"),
        (json!({"name": 42}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": "ok", "slug": 7}), "slug"),
    ];
    for (body, field) in cases {
        let resp = ada.post("/organizations", body.clone()).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.error_code(), "ValidationError", "{body}");
        assert_eq!(resp.error_field(), field, "{body}: {}", resp.text);
    }
    let resp = ada
        .raw(
            Method::POST,
            "/api/v1/organizations",
            Some("application/json"),
            Some("{\"name\":".to_owned()),
        )
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_eq!(resp.error_code(), "ValidationError");
    // Nothing was created by any of the bad requests.
    assert_eq!(
        ada.get("/organizations")
            .await
            .data()
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

hazel_testkit::on_every_backend!(
    creating_an_organization_makes_the_caller_its_owner,
    an_explicit_slug_is_kept_and_must_be_unique,
    the_list_holds_only_the_callers_organizations,
    malformed_input_names_the_field
);
