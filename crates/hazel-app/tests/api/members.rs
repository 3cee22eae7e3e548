//! Members: who may add whom, tokens only for new users, validation.

use hazel_testkit::TestApp;
use serde_json::json;

async fn adding_a_new_person_creates_a_user_with_a_token(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let resp = ada
        .post(
            &format!("/organizations/{org}/members"),
            json!({"email": "Bob@Example.test", "name": "Bob", "role": "member"}),
        )
        .await
        .expect_status(201);
    let member = resp.data();
    assert_eq!(member["email"], "bob@example.test");
    assert_eq!(member["role"], "member");
    assert_eq!(member["organizationId"], org.as_str());
    let token = member["token"].as_str().expect("a token for the new user");
    // The new user can act with it.
    let bob = app.with_token(token);
    let orgs = bob.get("/organizations").await.expect_status(200);
    assert_eq!(orgs.data()[0]["id"], org.as_str());
}

async fn adding_an_existing_user_answers_no_token(app: TestApp) {
    let ada = app.user("Ada").await;
    let bob = app.user("Bob").await;
    let org = ada.create_org("Acme").await;
    let resp = ada
        .post(
            &format!("/organizations/{org}/members"),
            json!({"email": bob.email.clone().unwrap(), "name": "Bob", "role": "admin"}),
        )
        .await
        .expect_status(201);
    assert!(
        resp.data()
            .get("token")
            .is_none_or(serde_json::Value::is_null),
        "{}",
        resp.text
    );
    assert_eq!(resp.data()["userId"].as_str(), bob.user_id.as_deref());
    let again = ada
        .post(
            &format!("/organizations/{org}/members"),
            json!({"email": bob.email.clone().unwrap(), "name": "Bob", "role": "member"}),
        )
        .await
        .expect_status(400);
    assert_eq!(again.error_field(), "email");
}

async fn only_owners_and_admins_add_members_and_only_owners_add_owners(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (_, admin) = ada.add_member(&org, "Adam", "admin").await;
    let (_, member) = ada.add_member(&org, "Mia", "member").await;
    let (admin, member) = (admin.unwrap(), member.unwrap());
    let body = |name: &str, role: &str| json!({"email": format!("{name}@example.test"), "name": name, "role": role});
    let path = format!("/organizations/{org}/members");
    let resp = member
        .post(&path, body("x1", "member"))
        .await
        .expect_status(403);
    assert_eq!(resp.error_code(), "UnauthorizedError");
    admin
        .post(&path, body("x2", "member"))
        .await
        .expect_status(201);
    admin
        .post(&path, body("x3", "owner"))
        .await
        .expect_status(403);
    ada.post(&path, body("x4", "owner"))
        .await
        .expect_status(201);
    let list = member.get(&path).await.expect_status(200);
    assert_eq!(list.data().as_array().unwrap().len(), 5, "{}", list.text);
}

async fn member_input_is_validated(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let path = format!("/organizations/{org}/members");
    for (body, field) in [
        (
            json!({"email": "nope", "name": "B", "role": "member"}),
            "email",
        ),
        (
            json!({"email": "b@x.io", "name": "", "role": "member"}),
            "name",
        ),
        (
            json!({"email": "b@x.io", "name": "B", "role": "king"}),
            "role",
        ),
        (json!({"email": "b@x.io", "name": "B"}), "role"),
    ] {
        let resp = ada.post(&path, body.clone()).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.error_field(), field, "{body}: {}", resp.text);
    }
    let bad_id = ada
        .get("/organizations/not-a-uuid/members")
        .await
        .expect_status(400);
    assert_eq!(bad_id.error_field(), "orgId");
    assert_eq!(ada.get(&path).await.data().as_array().unwrap().len(), 1);
}

hazel_testkit::on_every_backend!(
    adding_a_new_person_creates_a_user_with_a_token,
    adding_an_existing_user_answers_no_token,
    only_owners_and_admins_add_members_and_only_owners_add_owners,
    member_input_is_validated
);
