//! Messages: post, list, edit, delete, replies, attachments, reactions.

use hazel_testkit::TestApp;
use serde_json::json;

async fn posted_messages_list_newest_first_with_their_author(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "general").await;
    let first = ada.post_message(&channel, "first").await;
    let resp = ada
        .post(
            &format!("/channels/{channel}/messages"),
            json!({
                "content": "second",
                "attachments": [{"url": "https://files.example/a.png", "name": "a.png", "contentType": "image/png"}]
            }),
        )
        .await
        .expect_status(201);
    let second = resp.data().clone();
    assert_eq!(second["channelId"], channel.as_str());
    assert_eq!(second["author"]["name"], "Ada");
    assert_eq!(
        second["author"]["memberId"],
        ada.member_id(&org).await.as_str()
    );
    assert_eq!(second["attachments"][0]["contentType"], "image/png");
    assert_eq!(second["reactions"], json!([]));
    let list = ada
        .get(&format!("/channels/{channel}/messages"))
        .await
        .expect_status(200);
    let contents: Vec<&str> = list
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, vec!["second", "first"]);
    assert_eq!(list.data()[1]["id"], first.as_str());
    assert!(list.body["nextCursor"].is_null());
}

async fn only_the_author_edits(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (_, admin) = ada.add_member(&org, "Adam", "admin").await;
    let channel = ada.create_channel(&org, "general").await;
    let msg = ada.post_message(&channel, "draft").await;
    let other = admin
        .unwrap()
        .patch(&format!("/messages/{msg}"), json!({"content": "hijack"}))
        .await;
    assert_eq!(other.status, 403, "{}", other.text);
    let edited = ada
        .patch(&format!("/messages/{msg}"), json!({"content": "final"}))
        .await
        .expect_status(200);
    assert_eq!(edited.data()["content"], "final");
    assert!(edited.data()["editedAt"].is_string());
    let list = ada.get(&format!("/channels/{channel}/messages")).await;
    assert_eq!(list.data()[0]["content"], "final");
    let bad = ada
        .patch(&format!("/messages/{msg}"), json!({"content": 5}))
        .await
        .expect_status(400);
    assert_eq!(bad.error_field(), "content");
}

async fn authors_and_admins_delete_other_members_cannot(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (_, admin) = ada.add_member(&org, "Adam", "admin").await;
    let (_, mia) = ada.add_member(&org, "Mia", "member").await;
    let (admin, mia) = (admin.unwrap(), mia.unwrap());
    let channel = ada.create_channel(&org, "general").await;
    let by_ada = ada.post_message(&channel, "one").await;
    let by_mia = mia.post_message(&channel, "two").await;
    mia.delete(&format!("/messages/{by_ada}"))
        .await
        .expect_status(403);
    let deleted = admin
        .delete(&format!("/messages/{by_ada}"))
        .await
        .expect_status(200);
    assert!(deleted.transaction_id() > 0);
    mia.delete(&format!("/messages/{by_mia}"))
        .await
        .expect_status(200);
    let list = ada
        .get(&format!("/channels/{channel}/messages"))
        .await
        .expect_status(200);
    assert!(
        list.data().as_array().unwrap().is_empty(),
        "deleted messages are left out: {}",
        list.text
    );
    let again = ada
        .delete(&format!("/messages/{by_mia}"))
        .await
        .expect_status(404);
    assert_eq!(again.error_code(), "NotFoundError");
}

async fn replies_need_a_parent_in_the_same_channel(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let general = ada.create_channel(&org, "general").await;
    let random = ada.create_channel(&org, "random").await;
    let parent = ada.post_message(&general, "question").await;
    let reply = ada
        .post(
            &format!("/channels/{general}/messages"),
            json!({"content": "answer", "parentMessageId": parent}),
        )
        .await
        .expect_status(201);
    assert_eq!(reply.data()["parentMessageId"], parent.as_str());
    let wrong = ada
        .post(
            &format!("/channels/{random}/messages"),
            json!({"content": "x", "parentMessageId": parent}),
        )
        .await
        .expect_status(400);
    assert_eq!(wrong.error_field(), "parentMessageId");
}

async fn message_input_is_validated(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "general").await;
    let path = format!("/channels/{channel}/messages");
    let cases = [
        (json!({}), "content"),
        (json!({"content": ""}), "content"),
        (json!({"content": "x".repeat(40_001)}), "content"),
        (
            json!({"content": "x", "attachments": [{"url": "not a url", "name": "a"}]}),
            "attachments[0].url",
        ),
        (
            json!({"content": "x", "attachments": [{"url": "https://x.io/a"}]}),
            "attachments[0].name",
        ),
        (
            json!({"content": "x", "parentMessageId": "nope"}),
            "parentMessageId",
        ),
    ];
    for (body, field) in cases {
        let resp = ada.post(&path, body.clone()).await;
        assert_eq!(resp.status, 400, "{}: {}", field, resp.text);
        assert_eq!(resp.error_field(), field, "{}", resp.text);
    }
    let attachment_only = ada
        .post(
            &path,
            json!({"content": "", "attachments": [{"url": "https://x.io/a", "name": "a"}]}),
        )
        .await;
    assert_eq!(attachment_only.status, 201, "{}", attachment_only.text);
    assert_eq!(ada.get(&path).await.data().as_array().unwrap().len(), 1);
}

async fn reactions_are_counted_per_emoji_and_removed_per_member(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (mia_id, mia) = ada.add_member(&org, "Mia", "member").await;
    let mia = mia.unwrap();
    let channel = ada.create_channel(&org, "general").await;
    let msg = ada.post_message(&channel, "ship it").await;
    let path = format!("/messages/{msg}/reactions");
    ada.post(&path, json!({"emoji": "👍"}))
        .await
        .expect_status(201);
    let twice = ada
        .post(&path, json!({"emoji": "👍"}))
        .await
        .expect_status(201);
    assert_eq!(
        twice.data()["reactions"][0]["count"],
        1,
        "adding the same reaction twice is idempotent"
    );
    mia.post(&path, json!({"emoji": "👍"}))
        .await
        .expect_status(201);
    let resp = mia
        .post(&path, json!({"emoji": ":tada:"}))
        .await
        .expect_status(201);
    let reactions = resp.data()["reactions"].as_array().unwrap().clone();
    assert_eq!(reactions.len(), 2, "{}", resp.text);
    assert_eq!(reactions[0]["emoji"], "👍");
    assert_eq!(reactions[0]["count"], 2);
    assert_eq!(reactions[1]["memberIds"], json!([mia_id]));
    let bad = ada
        .post(&path, json!({"emoji": "not an emoji"}))
        .await
        .expect_status(400);
    assert_eq!(bad.error_field(), "emoji");
    mia.delete(&format!("{path}/%F0%9F%91%8D"))
        .await
        .expect_status(200);
    mia.delete(&format!("{path}/%F0%9F%91%8D"))
        .await
        .expect_status(404);
    let list = ada.get(&format!("/channels/{channel}/messages")).await;
    assert_eq!(list.data()[0]["reactions"][0]["count"], 1, "{}", list.text);
    assert_eq!(list.data()[0]["reactions"][1]["emoji"], ":tada:");
}

async fn an_edit_may_blank_the_text_only_of_a_message_with_attachments(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "general").await;
    let with_file = ada
        .post(
            &format!("/channels/{channel}/messages"),
            json!({
                "content": "the plan",
                "attachments": [{"url": "https://example.com/plan.pdf", "name": "plan.pdf"}]
            }),
        )
        .await
        .expect_status(201);
    let with_file = with_file.data()["id"].as_str().unwrap().to_owned();
    let blanked = ada
        .patch(&format!("/messages/{with_file}"), json!({"content": "  "}))
        .await
        .expect_status(200);
    assert_eq!(blanked.data()["attachments"][0]["name"], "plan.pdf");
    let text_only = ada.post_message(&channel, "draft").await;
    let refused = ada
        .patch(&format!("/messages/{text_only}"), json!({"content": "  "}))
        .await
        .expect_status(400);
    assert_eq!(refused.error_field(), "content");
    let list = ada.get(&format!("/channels/{channel}/messages")).await;
    assert_eq!(list.data()[0]["content"], "draft", "{}", list.text);
}

hazel_testkit::on_every_backend!(
    posted_messages_list_newest_first_with_their_author,
    only_the_author_edits,
    authors_and_admins_delete_other_members_cannot,
    replies_need_a_parent_in_the_same_channel,
    message_input_is_validated,
    reactions_are_counted_per_emoji_and_removed_per_member,
    an_edit_may_blank_the_text_only_of_a_message_with_attachments
);
