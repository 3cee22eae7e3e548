//! Channels: kinds, thread parents, listing.

use hazel_testkit::TestApp;
use serde_json::json;

async fn members_create_public_private_and_thread_channels(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (_, mia) = ada.add_member(&org, "Mia", "member").await;
    let mia = mia.unwrap();
    let path = format!("/organizations/{org}/channels");
    let general = mia
        .post(&path, json!({"name": "general", "type": "public"}))
        .await
        .expect_status(201);
    assert_eq!(general.data()["type"], "public");
    assert_eq!(general.data()["organizationId"], org.as_str());
    let private = mia
        .post(&path, json!({"name": "secret", "type": "private"}))
        .await
        .expect_status(201);
    assert_eq!(private.data()["type"], "private");
    let thread = mia
        .post(
            &path,
            json!({"name": "t", "type": "thread", "parentChannelId": general.id()}),
        )
        .await
        .expect_status(201);
    assert_eq!(thread.data()["parentChannelId"], general.id().as_str());
    let list = ada.get(&path).await.expect_status(200);
    let names: Vec<&str> = list
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["general", "secret", "t"]);
}

async fn thread_parents_are_checked(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let other = ada.create_org("Other").await;
    let foreign = ada.create_channel(&other, "elsewhere").await;
    let path = format!("/organizations/{org}/channels");
    let cases = [
        (json!({"name": "t", "type": "thread"}), "parentChannelId"),
        (
            json!({"name": "t", "type": "thread", "parentChannelId": foreign}),
            "parentChannelId",
        ),
        (
            json!({"name": "t", "type": "thread", "parentChannelId": "x"}),
            "parentChannelId",
        ),
        (
            json!({"name": "t", "type": "public", "parentChannelId": foreign}),
            "parentChannelId",
        ),
        (json!({"name": "t", "type": "voice"}), "type"),
        (json!({"type": "public"}), "name"),
    ];
    for (body, field) in cases {
        let resp = ada.post(&path, body.clone()).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.error_field(), field, "{body}: {}", resp.text);
    }
    assert!(ada.get(&path).await.data().as_array().unwrap().is_empty());
}

hazel_testkit::on_every_backend!(
    members_create_public_private_and_thread_channels,
    thread_parents_are_checked
);
