//! `transactionId`: read inside the write's transaction; a later write by the same client
//! answers a larger id.

use hazel_testkit::TestApp;
use serde_json::json;

async fn transaction_ids_increase_across_every_kind_of_write(app: TestApp) {
    let ada = app.user("Ada").await;
    let bob = app.user("Bob").await;
    let mut ids = Vec::new();
    let org = ada
        .post("/organizations", json!({"name": "Acme"}))
        .await
        .expect_status(201);
    ids.push(org.transaction_id());
    let org = org.id();
    let other = bob
        .post("/organizations", json!({"name": "Other"}))
        .await
        .expect_status(201);
    ids.push(other.transaction_id());
    let member = ada
        .post(
            &format!("/organizations/{org}/members"),
            json!({"email": "m@x.io", "name": "M", "role": "member"}),
        )
        .await
        .expect_status(201);
    ids.push(member.transaction_id());
    let member_id = member.id();
    let channel = ada
        .post(
            &format!("/organizations/{org}/channels"),
            json!({"name": "general", "type": "public"}),
        )
        .await
        .expect_status(201);
    ids.push(channel.transaction_id());
    let msg = ada
        .post(
            &format!("/channels/{}/messages", channel.id()),
            json!({"content": format!("hi @[member:{member_id}]")}),
        )
        .await
        .expect_status(201);
    ids.push(msg.transaction_id());
    let msg = msg.id();
    ids.push(
        ada.patch(&format!("/messages/{msg}"), json!({"content": "edited"}))
            .await
            .expect_status(200)
            .transaction_id(),
    );
    ids.push(
        ada.post(
            &format!("/messages/{msg}/reactions"),
            json!({"emoji": "👍"}),
        )
        .await
        .expect_status(201)
        .transaction_id(),
    );
    let note = ada
        .post("/notifications", json!({"memberId": member_id}))
        .await
        .expect_status(201);
    ids.push(note.transaction_id());
    ids.push(
        ada.patch(
            &format!("/notifications/{}", note.id()),
            json!({"readAt": null}),
        )
        .await
        .expect_status(200)
        .transaction_id(),
    );
    ids.push(
        ada.delete(&format!("/notifications/{}", note.id()))
            .await
            .expect_status(200)
            .transaction_id(),
    );
    ids.push(
        ada.delete(&format!("/messages/{msg}"))
            .await
            .expect_status(200)
            .transaction_id(),
    );
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {ids:?}"
    );
}

async fn concurrent_writes_get_distinct_ids(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "general").await;
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..20 {
        let ada = ada.clone();
        let channel = channel.clone();
        posts.spawn(async move {
            ada.post(
                &format!("/channels/{channel}/messages"),
                json!({"content": format!("m{i}")}),
            )
            .await
            .expect_status(201)
            .transaction_id()
        });
    }
    let mut ids = posts.join_all().await;
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        20,
        "every concurrent write has its own transaction id"
    );
    let listed = ada
        .get(&format!("/channels/{channel}/messages?limit=200"))
        .await;
    assert_eq!(listed.data().as_array().unwrap().len(), 20);
}

hazel_testkit::on_every_backend!(
    transaction_ids_increase_across_every_kind_of_write,
    concurrent_writes_get_distinct_ids
);
