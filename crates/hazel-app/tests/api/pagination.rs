//! Cursor pagination: stable pages while rows are added, bounded limits, opaque cursors.

use std::collections::HashSet;

use hazel_testkit::TestApp;

async fn message_pages_stay_stable_while_new_messages_arrive(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "general").await;
    let mut posted = Vec::new();
    for i in 0..25 {
        posted.push(ada.post_message(&channel, &format!("m{i}")).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=10&cursor={c}"),
            None => "?limit=10".to_owned(),
        };
        let page = ada
            .get(&format!("/channels/{channel}/messages{query}"))
            .await
            .expect_status(200);
        pages += 1;
        seen.extend(
            page.data()
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned()),
        );
        // New messages arrive between page fetches; they must not shift later pages.
        ada.post_message(&channel, "late").await;
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    posted.reverse();
    assert_eq!(
        seen, posted,
        "exactly the original 25, newest first, no duplicates or gaps"
    );
}

async fn organization_lists_page_in_creation_order(app: TestApp) {
    let ada = app.user("Ada").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(ada.create_org(&format!("Org {i}")).await);
    }
    let first = ada.get("/organizations?limit=4").await.expect_status(200);
    let cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
    let second = ada
        .get(&format!("/organizations?limit=4&cursor={cursor}"))
        .await
        .expect_status(200);
    assert!(second.body["nextCursor"].is_null());
    let ids: Vec<String> = first
        .data()
        .as_array()
        .unwrap()
        .iter()
        .chain(second.data().as_array().unwrap())
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, created);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 7);
}

async fn limits_and_cursors_are_validated(app: TestApp) {
    let ada = app.user("Ada").await;
    for query in ["?limit=0", "?limit=201", "?limit=-3", "?limit=abc"] {
        let resp = ada.get(&format!("/organizations{query}")).await;
        assert_eq!(resp.status, 400, "{query}: {}", resp.text);
        assert_eq!(resp.error_field(), "limit", "{query}: {}", resp.text);
    }
    let resp = ada
        .get("/organizations?cursor=garbage!")
        .await
        .expect_status(400);
    assert_eq!(resp.error_field(), "cursor");
    ada.get("/organizations?limit=200").await.expect_status(200);
}

hazel_testkit::on_every_backend!(
    message_pages_stay_stable_while_new_messages_arrive,
    organization_lists_page_in_creation_order,
    limits_and_cursors_are_validated
);
