//! Notifications: automatic ones, the policy matrix, read/unread, delete, deleteByMessageIds.

use hazel_testkit::{Client, TestApp};
use serde_json::{Value, json};

async fn notifications_of(client: &Client, query: &str) -> Vec<Value> {
    client
        .get(&format!("/notifications{query}"))
        .await
        .expect_status(200)
        .data()
        .as_array()
        .unwrap()
        .clone()
}

struct Team {
    org: String,
    channel: String,
    owner: Client,
    admin: Client,
    bob: Client,
    bob_id: String,
    cy: Client,
    cy_id: String,
}

async fn team(app: &TestApp) -> Team {
    let owner = app.user("Ada").await;
    let org = owner.create_org("Acme").await;
    let (_, admin) = owner.add_member(&org, "Adam", "admin").await;
    let (bob_id, bob) = owner.add_member(&org, "Bob", "member").await;
    let (cy_id, cy) = owner.add_member(&org, "Cy", "member").await;
    let channel = owner.create_channel(&org, "general").await;
    Team {
        org,
        channel,
        owner,
        admin: admin.unwrap(),
        bob: bob.unwrap(),
        bob_id,
        cy: cy.unwrap(),
        cy_id,
    }
}

async fn a_mention_notifies_the_mentioned_member_only(app: TestApp) {
    let t = team(&app).await;
    let msg = t
        .owner
        .post_message(&t.channel, &format!("ping @[member:{}]", t.bob_id))
        .await;
    let bob_notes = notifications_of(&t.bob, "").await;
    assert_eq!(bob_notes.len(), 1);
    let n = &bob_notes[0];
    assert_eq!(n["memberId"], t.bob_id.as_str());
    assert_eq!(n["targetedResourceId"], msg.as_str());
    assert_eq!(n["targetedResourceType"], "mention");
    assert_eq!(n["resourceId"], t.channel.as_str());
    assert_eq!(n["resourceType"], "channel");
    assert!(n["readAt"].is_null());
    assert!(notifications_of(&t.cy, "").await.is_empty());
    assert!(
        notifications_of(&t.owner, "").await.is_empty(),
        "never the author"
    );
}

async fn channel_and_here_notify_everyone_but_the_author(app: TestApp) {
    let t = team(&app).await;
    t.bob.post_message(&t.channel, "@channel standup").await;
    t.bob.post_message(&t.channel, "@here again").await;
    for client in [&t.owner, &t.admin, &t.cy] {
        assert_eq!(notifications_of(client, "").await.len(), 2);
    }
    assert!(notifications_of(&t.bob, "").await.is_empty());
}

async fn a_reply_notifies_the_parent_author_once(app: TestApp) {
    let t = team(&app).await;
    let parent = t.bob.post_message(&t.channel, "question").await;
    let path = format!("/channels/{}/messages", t.channel);
    let reply =
        t.cy.post(
            &path,
            json!({"content": format!("@[member:{}] answer", t.bob_id), "parentMessageId": parent}),
        )
        .await
        .expect_status(201)
        .id();
    let notes = notifications_of(&t.bob, "").await;
    assert_eq!(
        notes.len(),
        1,
        "a mention and a reply in one message notify once: {notes:?}"
    );
    assert_eq!(notes[0]["targetedResourceId"], reply.as_str());
    t.cy.post(
        &path,
        json!({"content": "plain reply", "parentMessageId": parent}),
    )
    .await
    .expect_status(201);
    let notes = notifications_of(&t.bob, "").await;
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0]["targetedResourceType"], "reply");
    // Replying to yourself notifies nobody.
    t.bob
        .post(&path, json!({"content": "self", "parentMessageId": parent}))
        .await
        .expect_status(201);
    assert_eq!(notifications_of(&t.bob, "").await.len(), 2);
}

async fn mentions_of_other_organizations_members_notify_nobody(app: TestApp) {
    let t = team(&app).await;
    let eve = app.user("Eve").await;
    let eve_org = eve.create_org("Evil").await;
    let eve_member = eve.member_id(&eve_org).await;
    t.owner
        .post_message(&t.channel, &format!("hi @[member:{eve_member}]"))
        .await;
    assert!(notifications_of(&eve, "").await.is_empty());
}

async fn read_unread_and_the_unread_filter(app: TestApp) {
    let t = team(&app).await;
    t.owner
        .post_message(&t.channel, &format!("one @[member:{}]", t.bob_id))
        .await;
    t.owner
        .post_message(&t.channel, &format!("two @[member:{}]", t.bob_id))
        .await;
    let notes = notifications_of(&t.bob, "").await;
    let id = notes[0]["id"].as_str().unwrap();
    let read = t
        .bob
        .patch(
            &format!("/notifications/{id}"),
            json!({"readAt": "2026-01-02T03:04:05Z"}),
        )
        .await
        .expect_status(200);
    assert_eq!(read.data()["readAt"], "2026-01-02T03:04:05Z");
    let unread = notifications_of(&t.bob, "?unread=true").await;
    assert_eq!(unread.len(), 1);
    assert_ne!(unread[0]["id"], id);
    let org_filtered = notifications_of(&t.bob, &format!("?organizationId={}", t.org)).await;
    assert_eq!(org_filtered.len(), 2);
    t.bob
        .patch(&format!("/notifications/{id}"), json!({"readAt": null}))
        .await
        .expect_status(200);
    assert_eq!(notifications_of(&t.bob, "?unread=true").await.len(), 2);
    let missing = t
        .bob
        .patch(&format!("/notifications/{id}"), json!({}))
        .await
        .expect_status(400);
    assert_eq!(missing.error_field(), "readAt");
    let bad = t
        .bob
        .patch(
            &format!("/notifications/{id}"),
            json!({"readAt": "yesterday"}),
        )
        .await
        .expect_status(400);
    assert_eq!(bad.error_field(), "readAt");
}

/// Who may change or delete Bob's notification.
async fn the_notification_policy_matrix(app: TestApp) {
    let t = team(&app).await;
    let eve = app.user("Eve").await;
    eve.create_org("Elsewhere").await;
    for (who, client, expected) in [
        ("another member", &t.cy, 403),
        ("another organization", &eve, 404),
        ("the owner of the notification", &t.bob, 200),
        ("an org admin", &t.admin, 200),
        ("an org owner", &t.owner, 200),
    ] {
        t.owner
            .post_message(&t.channel, &format!("x @[member:{}]", t.bob_id))
            .await;
        let id = notifications_of(&t.bob, "").await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let patch = client
            .patch(
                &format!("/notifications/{id}"),
                json!({"readAt": "2026-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(patch.status, expected, "{who} PATCH: {}", patch.text);
        let delete = client.delete(&format!("/notifications/{id}")).await;
        assert_eq!(delete.status, expected, "{who} DELETE: {}", delete.text);
        match expected {
            403 => assert_eq!(delete.error_code(), "UnauthorizedError"),
            404 => assert_eq!(delete.error_code(), "NotificationNotFoundError"),
            _ => {
                let still_there = notifications_of(&t.bob, "")
                    .await
                    .iter()
                    .any(|n| n["id"] == id.as_str());
                assert!(!still_there, "{who}: deleted");
            }
        }
        if expected != 200 {
            // Clean up so the next row starts from a single fresh notification.
            t.bob
                .delete(&format!("/notifications/{id}"))
                .await
                .expect_status(200);
        }
    }
    let unknown = t
        .bob
        .delete("/notifications/0190f5a2-0000-7000-8000-000000000000")
        .await
        .expect_status(404);
    assert_eq!(unknown.error_code(), "NotificationNotFoundError");
}

async fn created_notifications_need_a_shared_organization(app: TestApp) {
    let t = team(&app).await;
    let body = json!({"memberId": t.cy_id, "targetedResourceId": "abc", "targetedResourceType": "custom",
                      "resourceId": t.channel, "resourceType": "channel"});
    let made = t
        .bob
        .post("/notifications", body.clone())
        .await
        .expect_status(201);
    assert_eq!(made.data()["memberId"], t.cy_id.as_str());
    assert_eq!(made.data()["targetedResourceType"], "custom");
    assert!(made.transaction_id() > 0);
    assert_eq!(notifications_of(&t.cy, "").await.len(), 1);
    let eve = app.user("Eve").await;
    eve.create_org("Elsewhere").await;
    // Another organization's member is as invisible as an unknown one.
    let hidden = eve.post("/notifications", body).await.expect_status(404);
    assert_eq!(hidden.error_code(), "NotFoundError");
    let bad = t
        .bob
        .post("/notifications", json!({"memberId": "x"}))
        .await
        .expect_status(400);
    assert_eq!(bad.error_field(), "memberId");
    assert_eq!(notifications_of(&t.cy, "").await.len(), 1);
}

async fn delete_by_message_ids_removes_only_the_callers_rows(app: TestApp) {
    let t = team(&app).await;
    let m1 = t
        .owner
        .post_message(
            &t.channel,
            &format!("a @[member:{}] @[member:{}]", t.bob_id, t.cy_id),
        )
        .await;
    let m2 = t
        .owner
        .post_message(&t.channel, &format!("b @[member:{}]", t.bob_id))
        .await;
    let m3 = t
        .owner
        .post_message(&t.channel, &format!("c @[member:{}]", t.bob_id))
        .await;
    // A reaction notification about m1 for its author.
    t.bob
        .post(&format!("/messages/{m1}/reactions"), json!({"emoji": "👍"}))
        .await
        .expect_status(201);
    let path = "/notifications/delete-by-message-ids";
    let resp = t
        .bob
        .post(
            path,
            json!({"messageIds": [m1, m2], "channelId": t.channel}),
        )
        .await
        .expect_status(200);
    assert_eq!(resp.body["deletedCount"], 2, "{}", resp.text);
    assert!(resp.transaction_id() > 0);
    let left: Vec<Value> = notifications_of(&t.bob, "").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["targetedResourceId"], m3.as_str());
    assert_eq!(
        notifications_of(&t.cy, "").await.len(),
        1,
        "other members' rows stay"
    );
    let owner = t
        .owner
        .post(path, json!({"messageIds": [m1], "channelId": t.channel}))
        .await
        .expect_status(200);
    assert_eq!(
        owner.body["deletedCount"], 1,
        "the reaction row whose resourceId is m1: {}",
        owner.text
    );
    let empty = t
        .bob
        .post(path, json!({"messageIds": [], "channelId": t.channel}))
        .await
        .expect_status(200);
    assert_eq!(empty.body["deletedCount"], 0);
    let eve = app.user("Eve").await;
    let denied = eve
        .post(path, json!({"messageIds": [m3], "channelId": t.channel}))
        .await
        .expect_status(403);
    assert_eq!(denied.error_code(), "UnauthorizedError");
    assert_eq!(notifications_of(&t.bob, "").await.len(), 1);
    let bad = t
        .bob
        .post(
            path,
            json!({"messageIds": ["nope"], "channelId": t.channel}),
        )
        .await
        .expect_status(400);
    assert_eq!(bad.error_field(), "messageIds[0]");
}

async fn reactions_notify_the_author_but_not_for_their_own(app: TestApp) {
    let t = team(&app).await;
    let msg = t.bob.post_message(&t.channel, "look").await;
    t.bob
        .post(
            &format!("/messages/{msg}/reactions"),
            json!({"emoji": "👀"}),
        )
        .await
        .expect_status(201);
    assert!(notifications_of(&t.bob, "").await.is_empty());
    t.cy.post(
        &format!("/messages/{msg}/reactions"),
        json!({"emoji": "👀"}),
    )
    .await
    .expect_status(201);
    let notes = notifications_of(&t.bob, "").await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["targetedResourceType"], "reaction");
    assert_eq!(notes[0]["resourceId"], msg.as_str());
    assert_eq!(notes[0]["resourceType"], "message");
}

async fn mentions_inside_code_and_urls_notify_nobody(app: TestApp) {
    let t = team(&app).await;
    for content in [
        "to ping everyone, type `@here` in a message".to_owned(),
        "see https://example.com/@channel/page".to_owned(),
        format!("write `@[member:{}]` to mention Bob", t.bob_id),
        "```\n@channel\n```".to_owned(),
        format!("~~~\n@[member:{}]\n~~~", t.bob_id),
        "intro\n\n    @here in an indented block\n".to_owned(),
        format!("    @[member:{}] indented", t.cy_id),
        format!("[the docs](https://example.com/@[member:{}])", t.cy_id),
        "<https://example.com/@here>".to_owned(),
    ] {
        t.owner.post_message(&t.channel, &content).await;
    }
    for client in [&t.admin, &t.bob, &t.cy] {
        let notes = notifications_of(client, "").await;
        assert!(notes.is_empty(), "{notes:?}");
    }
    // The same forms in prose still notify.
    t.owner
        .post_message(&t.channel, "*@here*, see https://example.com/")
        .await;
    for client in [&t.admin, &t.bob, &t.cy] {
        assert_eq!(notifications_of(client, "").await.len(), 1);
    }
}

async fn an_edit_notifies_only_whom_it_newly_mentions(app: TestApp) {
    let t = team(&app).await;
    let msg = t
        .owner
        .post_message(&t.channel, &format!("@[member:{}] lunch?", t.bob_id))
        .await;
    assert_eq!(notifications_of(&t.bob, "").await.len(), 1);
    t.bob
        .post(
            "/notifications/delete-by-message-ids",
            json!({"messageIds": [msg], "channelId": t.channel}),
        )
        .await
        .expect_status(200);
    assert!(notifications_of(&t.bob, "").await.is_empty());
    t.owner
        .patch(
            &format!("/messages/{msg}"),
            json!({"content": format!("@[member:{}] lunch at 12?", t.bob_id)}),
        )
        .await
        .expect_status(200);
    assert!(
        notifications_of(&t.bob, "").await.is_empty(),
        "Bob was mentioned before the edit already"
    );
    assert!(notifications_of(&t.cy, "").await.is_empty());
    // A member the edit adds is notified, once; so is everyone for a broadcast it adds.
    t.owner
        .patch(
            &format!("/messages/{msg}"),
            json!({"content": format!("@[member:{}] @[member:{}] lunch at 12?", t.bob_id, t.cy_id)}),
        )
        .await
        .expect_status(200);
    let cy_notes = notifications_of(&t.cy, "").await;
    assert_eq!(cy_notes.len(), 1);
    assert_eq!(cy_notes[0]["targetedResourceId"], msg.as_str());
    assert!(notifications_of(&t.bob, "").await.is_empty());
    assert!(notifications_of(&t.admin, "").await.is_empty());
    t.owner
        .patch(
            &format!("/messages/{msg}"),
            json!({"content": format!("@[member:{}] @[member:{}] lunch at 12? @here", t.bob_id, t.cy_id)}),
        )
        .await
        .expect_status(200);
    assert_eq!(notifications_of(&t.admin, "").await.len(), 1);
    t.admin
        .post(
            "/notifications/delete-by-message-ids",
            json!({"messageIds": [msg], "channelId": t.channel}),
        )
        .await
        .expect_status(200);
    // The broadcast that was already there is not new on the next edit.
    t.owner
        .patch(
            &format!("/messages/{msg}"),
            json!({"content": "lunch at 1? @channel"}),
        )
        .await
        .expect_status(200);
    assert!(notifications_of(&t.admin, "").await.is_empty());
}

/// The first page is what a client polls, and it is answered from a kept body while it is
/// unchanged: every kind of change shows in the very next poll, for each filter.
async fn a_polled_first_page_shows_every_change_at_once(app: TestApp) {
    let t = team(&app).await;
    let by_org = format!("?organizationId={}&limit=5", t.org);
    let polls = ["", "?unread=true", by_org.as_str()];
    let ids = |notes: Vec<Value>| -> Vec<String> {
        notes
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for poll in polls {
        assert!(notifications_of(&t.bob, poll).await.is_empty());
        assert!(notifications_of(&t.bob, poll).await.is_empty());
    }
    let msg = t
        .owner
        .post_message(&t.channel, &format!("one @[member:{}]", t.bob_id))
        .await;
    let first = ids(notifications_of(&t.bob, "").await);
    assert_eq!(first.len(), 1);
    for poll in polls {
        assert_eq!(ids(notifications_of(&t.bob, poll).await), first, "{poll}");
    }
    let created = t
        .owner
        .post(
            "/notifications",
            json!({"memberId": t.bob_id, "resourceType": "x"}),
        )
        .await
        .expect_status(201);
    let second = created.data()["id"].as_str().unwrap().to_owned();
    for poll in polls {
        assert_eq!(
            ids(notifications_of(&t.bob, poll).await),
            [second.clone(), first[0].clone()],
            "{poll}"
        );
    }
    t.bob
        .patch(
            &format!("/notifications/{second}"),
            json!({"readAt": "2026-01-02T03:04:05Z"}),
        )
        .await
        .expect_status(200);
    assert_eq!(ids(notifications_of(&t.bob, "?unread=true").await), first);
    assert_eq!(
        notifications_of(&t.bob, "").await[0]["readAt"],
        "2026-01-02T03:04:05Z"
    );
    t.bob
        .delete(&format!("/notifications/{second}"))
        .await
        .expect_status(200);
    for poll in polls {
        assert_eq!(ids(notifications_of(&t.bob, poll).await), first, "{poll}");
    }
    t.bob
        .post(
            "/notifications/delete-by-message-ids",
            json!({"messageIds": [msg], "channelId": t.channel}),
        )
        .await
        .expect_status(200);
    for poll in polls {
        assert!(notifications_of(&t.bob, poll).await.is_empty(), "{poll}");
    }
    // Another member's page is their own, however alike the requests.
    assert!(notifications_of(&t.cy, "").await.is_empty());
}

hazel_testkit::on_every_backend!(
    a_mention_notifies_the_mentioned_member_only,
    channel_and_here_notify_everyone_but_the_author,
    a_reply_notifies_the_parent_author_once,
    mentions_of_other_organizations_members_notify_nobody,
    read_unread_and_the_unread_filter,
    the_notification_policy_matrix,
    created_notifications_need_a_shared_organization,
    delete_by_message_ids_removes_only_the_callers_rows,
    reactions_notify_the_author_but_not_for_their_own,
    mentions_inside_code_and_urls_notify_nobody,
    an_edit_notifies_only_whom_it_newly_mentions,
    a_polled_first_page_shows_every_change_at_once
);
