//! Channel links: create with defaults, uniqueness per connection, update, delete, cascade.

use hazel_testkit::TestApp;
use serde_json::json;

use crate::chat_sync::*;

async fn links_default_to_both_active_and_the_documented_settings(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let channel = t.owner.create_channel(&t.org, "general").await;
    let resp = t
        .admin
        .post(
            &format!("/connections/{id}/channel-links"),
            json!({"hazelChannelId": channel, "externalChannelId": "C0GENERAL"}),
        )
        .await
        .expect_status(201);
    let link = resp.data();
    assert_eq!(link["connectionId"], id.as_str());
    assert_eq!(link["hazelChannelId"], channel.as_str());
    assert_eq!(link["externalChannelId"], "C0GENERAL");
    assert_eq!(link["direction"], "both");
    assert_eq!(link["isActive"], true);
    assert_eq!(link["settings"]["syncPins"], false);
    assert_eq!(link["settings"]["mentionMapping"], true);
    assert!(resp.transaction_id() > 0);
    let list = t
        .member
        .get(&format!("/connections/{id}/channel-links"))
        .await
        .expect_status(200);
    assert_eq!(list.data().as_array().unwrap().len(), 1);
    assert_eq!(
        t.owner.get(&format!("/connections/{id}")).await.data()["channelCount"],
        1
    );
}

async fn each_side_is_linked_at_most_once_per_connection(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let general = t.owner.create_channel(&t.org, "general").await;
    let random = t.owner.create_channel(&t.org, "random").await;
    let path = format!("/connections/{id}/channel-links");
    let first = t
        .owner
        .post(&path, json!({"hazelChannelId": general, "externalChannelId": "C0GENERAL", "direction": "inbound"}))
        .await
        .expect_status(201);
    assert_eq!(first.data()["direction"], "inbound");
    for body in [
        json!({"hazelChannelId": general, "externalChannelId": "C0RANDOM"}),
        json!({"hazelChannelId": random, "externalChannelId": "C0GENERAL"}),
    ] {
        let dup = t.owner.post(&path, body).await.expect_status(409);
        assert_eq!(dup.error_code(), "ChatSyncChannelLinkExistsError");
    }
    // Deleting a link frees both sides.
    t.owner
        .delete(&format!("/channel-links/{}", first.id()))
        .await
        .expect_status(200);
    let gone = t
        .owner
        .patch(
            &format!("/channel-links/{}", first.id()),
            json!({"isActive": false}),
        )
        .await
        .expect_status(404);
    assert_eq!(gone.error_code(), "ChatSyncChannelLinkNotFoundError");
    t.owner
        .post(
            &path,
            json!({"hazelChannelId": general, "externalChannelId": "C0GENERAL"}),
        )
        .await
        .expect_status(201);
}

async fn the_hazel_channel_must_belong_to_the_connections_organization(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let stranger = app.user("Sam").await;
    let other_org = stranger.create_org("Other").await;
    let foreign = stranger.create_channel(&other_org, "theirs").await;
    let resp = t
        .owner
        .post(
            &format!("/connections/{id}/channel-links"),
            json!({"hazelChannelId": foreign, "externalChannelId": "C0GENERAL"}),
        )
        .await
        .expect_status(404);
    assert_eq!(resp.error_code(), "NotFoundError");
}

async fn links_update_and_validate(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    let channel = t.owner.create_channel(&t.org, "general").await;
    let link = t
        .owner
        .post(
            &format!("/connections/{id}/channel-links"),
            json!({"hazelChannelId": channel, "externalChannelId": "C0GENERAL",
              "settings": {"syncPins": true}}),
        )
        .await
        .expect_status(201)
        .id();
    let path = format!("/channel-links/{link}");
    let resp = t
        .admin
        .patch(&path, json!({"direction": "outbound", "isActive": false, "settings": {"mentionMapping": false, "syncReactions": false}}))
        .await
        .expect_status(200);
    let l = resp.data();
    assert_eq!(l["direction"], "outbound");
    assert_eq!(l["isActive"], false);
    assert_eq!(l["settings"]["syncPins"], true, "untouched settings stay");
    assert_eq!(l["settings"]["mentionMapping"], false);
    assert_eq!(l["settings"]["syncReactions"], false);
    assert_eq!(
        t.owner.get(&format!("/connections/{id}")).await.data()["channelCount"],
        0,
        "inactive links are not counted"
    );
    t.member
        .patch(&path, json!({"isActive": true}))
        .await
        .expect_status(403);
    t.member.delete(&path).await.expect_status(403);
    for (body, field) in [
        (json!({"direction": "sideways"}), "direction"),
        (json!({"isActive": "yes"}), "isActive"),
        (json!({"settings": {"syncPins": 1}}), "settings.syncPins"),
    ] {
        let resp = t.owner.patch(&path, body.clone()).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.error_field(), field, "{}", resp.text);
    }
    let create = t
        .owner
        .post(
            &format!("/connections/{id}/channel-links"),
            json!({"hazelChannelId": channel}),
        )
        .await
        .expect_status(400);
    assert_eq!(create.error_field(), "externalChannelId");
}

async fn deleting_a_connection_removes_its_links_but_keeps_channels_and_messages(app: TestApp) {
    let t = team(&app).await;
    let id = connect_slack(&app, &t.owner, &t.org).await;
    t.owner
        .put(
            &format!("/connections/{id}/channels"),
            json!({"channelIds": ["C0GENERAL", "C0RANDOM"], "syncAll": false}),
        )
        .await
        .expect_status(200);
    let links = t
        .owner
        .get(&format!("/connections/{id}/channel-links"))
        .await;
    let link_ids: Vec<String> = links
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(link_ids.len(), 2);
    let channels = t
        .owner
        .get(&format!("/organizations/{}/channels", t.org))
        .await;
    let channel = channels.data()[0]["id"].as_str().unwrap().to_owned();
    t.owner.post_message(&channel, "kept").await;
    t.owner
        .delete(&format!("/connections/{id}"))
        .await
        .expect_status(200);
    for link in &link_ids {
        t.owner
            .delete(&format!("/channel-links/{link}"))
            .await
            .expect_status(404);
    }
    t.owner
        .get(&format!("/connections/{id}/channel-links"))
        .await
        .expect_status(404);
    let channels = t
        .owner
        .get(&format!("/organizations/{}/channels", t.org))
        .await;
    assert_eq!(channels.data().as_array().unwrap().len(), 2);
    let messages = t.owner.get(&format!("/channels/{channel}/messages")).await;
    assert_eq!(messages.data()[0]["content"], "kept");
    // Reconnecting starts with no links.
    let again = t
        .owner
        .post("/connections", slack_body(&t.org))
        .await
        .expect_status(201)
        .id();
    assert!(
        t.owner
            .get(&format!("/connections/{again}/channel-links"))
            .await
            .data()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

hazel_testkit::on_every_backend!(
    links_default_to_both_active_and_the_documented_settings,
    each_side_is_linked_at_most_once_per_connection,
    the_hazel_channel_must_belong_to_the_connections_organization,
    links_update_and_validate,
    deleting_a_connection_removes_its_links_but_keeps_channels_and_messages
);
