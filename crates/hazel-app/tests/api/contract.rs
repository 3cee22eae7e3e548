//! The OpenAPI document states what the server enforces, and the answers to input it refuses
//! name what is wrong: 405 lists the allowed methods, a bad path parameter or an empty JSON key
//! is named, names refuse bidirectional override characters, and a credential the document
//! allows is accepted while one it forbids is refused naming the field.

use hazel_testkit::TestApp;
use regex::Regex;
use reqwest::Method;
use serde_json::{Value, json};

use crate::chat_sync::{
    DISCORD_TOKEN, SLACK_SIGNING_SECRET, SLACK_TOKEN, connect_slack, discord_body, discord_guild,
    slack_workspace, team,
};

const SOME_UUID: &str = "0190a8c4-7c2e-7c5e-9b1a-3f4e5d6c7b8a";

async fn a_wrong_method_answers_405_with_allow(app: TestApp) {
    let ada = app.user("Ada").await;
    for (method, path, allow) in [
        (Method::PUT, "/api/v1/organizations".to_owned(), "GET, POST"),
        (
            Method::GET,
            format!("/api/v1/messages/{SOME_UUID}"),
            "DELETE, PATCH",
        ),
        (
            Method::GET,
            "/api/v1/notifications/delete-by-message-ids".to_owned(),
            "POST",
        ),
        (Method::POST, "/healthz".to_owned(), "GET"),
    ] {
        let resp = ada.raw(method.clone(), &path, None, None).await;
        assert_eq!(resp.status, 405, "{method} {path}: {}", resp.text);
        assert_eq!(resp.error_code(), "MethodNotAllowedError", "{}", resp.text);
        assert_eq!(
            resp.headers
                .get(reqwest::header::ALLOW)
                .and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }
}

async fn a_bad_path_parameter_is_named(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "general").await;
    let message = ada.post_message(&channel, "hello").await;
    for (path, field) in [
        ("/organizations/not-a-uuid/members".to_owned(), "orgId"),
        ("/organizations/42/channels".to_owned(), "orgId"),
        ("/channels/nope/messages".to_owned(), "channelId"),
        ("/messages/x".to_owned(), "messageId"),
        ("/connections/x/channels".to_owned(), "id"),
        ("/notifications/x".to_owned(), "id"),
        // A short name with an upper-case letter is not an emoji.
        (format!("/messages/{message}/reactions/%3AWave%3A"), "emoji"),
        (
            "/messages/not-a-uuid/reactions/%3Awave%3A".to_owned(),
            "messageId",
        ),
    ] {
        let resp = if path.starts_with("/messages/") || path.starts_with("/notifications/") {
            ada.delete(&path).await
        } else {
            ada.get(&path).await
        };
        assert_eq!(resp.status, 400, "{path}: {}", resp.text);
        assert_eq!(resp.error_code(), "ValidationError", "{path}");
        assert_eq!(resp.error_field(), field, "{path}: {}", resp.text);
    }
    // A query parameter is named too.
    let resp = ada.get("/connections?organizationId=acme").await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_eq!(resp.error_field(), "organizationId");
}

async fn an_empty_json_key_is_refused_with_a_named_field(app: TestApp) {
    let ada = app.user("Ada").await;
    let resp = ada
        .post("/organizations", json!({ "name": "Acme", "": 1 }))
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_eq!(resp.error_field(), "body");
    assert_eq!(resp.body["error"]["message"], "must not have an empty key");
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "general").await;
    let resp = ada
        .post(
            &format!("/channels/{channel}/messages"),
            json!({
                "content": "a file",
                "attachments": [{ "url": "https://example.com/a.png", "name": "a.png", "": "x" }],
            }),
        )
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_eq!(resp.error_field(), "attachments[0]");
}

async fn an_unknown_field_is_refused_by_name(app: TestApp) {
    let ada = app.user("Ada").await;
    let resp = ada
        .post("/organizations", json!({ "name": "Acme", "nmae": "x" }))
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_eq!(resp.error_field(), "nmae");
    assert_eq!(resp.body["error"]["message"], "is not a known field");
}

async fn names_refuse_bidirectional_override_characters(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    for bidi in ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}'] {
        let name = format!("invoice{bidi}fdp.exe");
        let resp = ada.post("/organizations", json!({ "name": name })).await;
        assert_eq!(resp.status, 400, "{bidi:?}: {}", resp.text);
        assert_eq!(resp.error_field(), "name");
        let resp = ada
            .post(
                &format!("/organizations/{org}/channels"),
                json!({ "name": name, "type": "public" }),
            )
            .await;
        assert_eq!(resp.status, 400, "{bidi:?}: {}", resp.text);
        assert_eq!(resp.error_field(), "name");
        let resp = ada
            .post(
                &format!("/organizations/{org}/members"),
                json!({ "email": "bob@example.com", "name": name, "role": "member" }),
            )
            .await;
        assert_eq!(resp.status, 400, "{bidi:?}: {}", resp.text);
        assert_eq!(resp.error_field(), "name");
    }
    // Other right-to-left text is a name like any other.
    ada.post("/organizations", json!({ "name": "שלום" }))
        .await
        .expect_status(201);
}

async fn a_cursor_of_the_documented_shape_is_accepted(app: TestApp) {
    let ada = app.user("Ada").await;
    for cursor in ["AAAAAAAAAAAAAAAAAAAAAA", "__________________-_-w"] {
        ada.get(&format!("/organizations?cursor={cursor}"))
            .await
            .expect_status(200);
    }
    for cursor in ["", "AAAAAAAAAAAAAAAAAAAAAB", "not-a-cursor"] {
        let resp = ada.get(&format!("/organizations?cursor={cursor}")).await;
        assert_eq!(resp.status, 400, "{cursor:?}: {}", resp.text);
        assert_eq!(resp.error_field(), "cursor");
    }
}

/// The schema of `name` in the `in` parameters of operation `operation_id`.
fn parameter<'a>(spec: &'a Value, operation_id: &str, name: &str) -> &'a Value {
    let operations = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values());
    let operation = operations
        .into_iter()
        .find(|op| op["operationId"] == operation_id)
        .unwrap_or_else(|| panic!("no operation {operation_id}"));
    let parameter = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no parameter {name} in {operation_id}"));
    &parameter["schema"]
}

async fn the_document_states_the_limits(app: TestApp) {
    let spec = app
        .anonymous()
        .raw(Method::GET, "/openapi.json", None, None)
        .await
        .expect_status(200)
        .body;
    for (operation, name) in [
        ("memberCreate", "orgId"),
        ("messageList", "channelId"),
        ("messageUpdate", "messageId"),
        ("chatSyncConnectionGet", "id"),
        ("chatSyncConnectionList", "organizationId"),
        ("notificationList", "organizationId"),
    ] {
        assert_eq!(
            parameter(&spec, operation, name)["format"],
            "uuid",
            "{operation} {name}"
        );
    }
    let cursor = parameter(&spec, "messageList", "cursor");
    assert_eq!(cursor["pattern"], "^[A-Za-z0-9_-]{21}[AQgw]$");
    let limit = parameter(&spec, "messageList", "limit");
    assert_eq!(
        (limit["minimum"].as_f64(), limit["maximum"].as_f64()),
        (Some(1.0), Some(200.0))
    );
    let emoji = parameter(&spec, "messageReactionDelete", "emoji");
    assert_eq!(emoji["maxLength"], 100);

    let schemas = &spec["components"]["schemas"];
    let name = &schemas["CreateOrganization"]["properties"]["name"];
    assert_eq!(
        (name["minLength"].as_u64(), name["maxLength"].as_u64()),
        (Some(1), Some(200))
    );
    assert!(
        name["pattern"]
            .as_str()
            .unwrap()
            .contains(r"\u202A-\u202E\u2066-\u2069")
    );
    for body in [
        "CreateOrganization",
        "CreateMember",
        "CreateChannel",
        "CreateMessage",
        "AttachmentInput",
        "UpdateMessage",
        "CreateConnection",
        "SlackCredentials",
        "CreateLink",
        "LinkSettingsPatch",
        "UpdateNotification",
        "DeleteByMessageIds",
    ] {
        assert_eq!(schemas[body]["additionalProperties"], false, "{body}");
    }
    let message = &schemas["CreateMessage"]["properties"];
    assert_eq!(message["content"]["maxLength"], 40_000);
    assert_eq!(message["attachments"]["maxItems"], 20);
    assert_eq!(message["parentMessageId"]["format"], "uuid");
    let ids = &schemas["DeleteByMessageIds"]["properties"]["messageIds"];
    assert_eq!(ids["maxItems"], 1000);
    assert_eq!(ids["items"]["format"], "uuid");
    assert_eq!(
        schemas["CreateConnection"]["properties"]["provider"]["allOf"][0]["$ref"],
        "#/components/schemas/ProviderInput"
    );
    assert_eq!(
        schemas["ProviderInput"]["enum"],
        json!(["slack", "discord"])
    );
}

/// The rules hold for every route and parameter the document lists, not only for the ones
/// named above: each undocumented method answers 405 with an `Allow` header listing exactly the
/// documented ones, and every id parameter is a UUID.
async fn every_documented_route_follows_the_rules(app: TestApp) {
    let ada = app.user("Ada").await;
    let spec = app
        .anonymous()
        .raw(Method::GET, "/openapi.json", None, None)
        .await
        .expect_status(200)
        .body;
    let methods = ["DELETE", "GET", "PATCH", "POST", "PUT"];
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 16, "{} paths", paths.len());
    for (template, operations) in paths {
        let operations = operations.as_object().unwrap();
        let documented: Vec<&str> = methods
            .iter()
            .copied()
            .filter(|m| operations.contains_key(&m.to_ascii_lowercase()))
            .collect();
        let path = template
            .replace("{emoji}", "%3Awave%3A")
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    SOME_UUID
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in methods.iter().filter(|m| !documented.contains(m)) {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let resp = if method == Method::GET || method == Method::DELETE {
                ada.raw(method.clone(), &path, None, None).await
            } else {
                ada.raw(
                    method.clone(),
                    &path,
                    Some("application/json"),
                    Some("{}".to_owned()),
                )
                .await
            };
            assert_eq!(resp.status, 405, "{method} {path}: {}", resp.text);
            assert_eq!(
                resp.headers
                    .get(reqwest::header::ALLOW)
                    .and_then(|v| v.to_str().ok()),
                Some(documented.join(", ").as_str()),
                "{method} {path}"
            );
        }
        for (method, operation) in operations {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                if name == "id" || name.ends_with("Id") {
                    assert_eq!(
                        parameter["schema"]["format"], "uuid",
                        "{method} {template} {name}"
                    );
                }
            }
        }
    }
}

/// Whether the served document's pattern of `schema.field` matches `raw`.
fn documented(spec: &Value, schema: &str, field: &str, raw: &str) -> bool {
    let pattern = spec["components"]["schemas"][schema]["properties"][field]["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{schema}.{field} states no pattern"));
    Regex::new(pattern).unwrap().is_match(raw)
}

async fn credentials_the_document_allows_are_accepted_and_the_rest_refused_by_name(app: TestApp) {
    let spec = app
        .anonymous()
        .raw(Method::GET, "/openapi.json", None, None)
        .await
        .expect_status(200)
        .body;
    let t = team(&app).await;
    slack_workspace(&app);
    discord_guild(&app);
    let slack = connect_slack(&app, &t.owner, &t.org).await;
    app.slack
        .add_app_token(crate::chat_sync::SLACK_TEAM, "xapp-1-A0APP-123");
    let discord = t
        .owner
        .post("/connections", discord_body(&t.org))
        .await
        .expect_status(201)
        .id();
    let slack_base = json!({"botToken": SLACK_TOKEN, "signingSecret": SLACK_SIGNING_SECRET});
    let discord_base = json!({"botToken": DISCORD_TOKEN});
    let cases: Vec<(&str, &Value, &str, &str, String, bool)> = vec![
        (
            "SlackCredentials",
            &slack_base,
            &slack,
            "botToken",
            format!(" {SLACK_TOKEN}\n"),
            true,
        ),
        (
            "SlackCredentials",
            &slack_base,
            &slack,
            "botToken",
            "xoxb-111 222".into(),
            false,
        ),
        (
            "SlackCredentials",
            &slack_base,
            &slack,
            "botToken",
            "xoxp-111-222".into(),
            false,
        ),
        (
            "SlackCredentials",
            &slack_base,
            &slack,
            "botToken",
            "xoxb-1\u{0}".into(),
            false,
        ),
        (
            "SlackCredentials",
            &slack_base,
            &slack,
            "signingSecret",
            format!("\t{SLACK_SIGNING_SECRET} "),
            true,
        ),
        (
            "SlackCredentials",
            &slack_base,
            &slack,
            "signingSecret",
            "abc\u{7f}".into(),
            false,
        ),
        (
            "SlackCredentials",
            &slack_base,
            &slack,
            "signingSecret",
            "a b".into(),
            false,
        ),
        (
            "SlackCredentials",
            &slack_base,
            &slack,
            "appToken",
            " xapp-1-A0APP-123 ".into(),
            true,
        ),
        (
            "SlackCredentials",
            &slack_base,
            &slack,
            "appToken",
            "xoxb-1".into(),
            false,
        ),
        (
            "DiscordCredentials",
            &discord_base,
            &discord,
            "botToken",
            format!("bot {DISCORD_TOKEN}"),
            true,
        ),
        (
            "DiscordCredentials",
            &discord_base,
            &discord,
            "botToken",
            "Bot xoxb-1-2".into(),
            false,
        ),
        (
            "DiscordCredentials",
            &discord_base,
            &discord,
            "botToken",
            "xapp-1".into(),
            false,
        ),
        (
            "DiscordCredentials",
            &discord_base,
            &discord,
            "applicationId",
            " 1300000000000000009 ".into(),
            true,
        ),
        (
            "DiscordCredentials",
            &discord_base,
            &discord,
            "applicationId",
            "18446744073709551615".into(),
            true,
        ),
        (
            "DiscordCredentials",
            &discord_base,
            &discord,
            "applicationId",
            "18446744073709551616".into(),
            false,
        ),
        (
            "DiscordCredentials",
            &discord_base,
            &discord,
            "applicationId",
            "0130".into(),
            false,
        ),
        (
            "DiscordCredentials",
            &discord_base,
            &discord,
            "applicationId",
            "12a".into(),
            false,
        ),
    ];
    for (schema, base, connection, field, raw, allowed) in cases {
        assert_eq!(
            documented(&spec, schema, field, &raw),
            allowed,
            "the document on {schema}.{field} = {raw:?}"
        );
        let mut credentials = base.clone();
        credentials[field] = json!(raw);
        let resp = t
            .owner
            .patch(
                &format!("/connections/{connection}"),
                json!({ "credentials": credentials }),
            )
            .await;
        if allowed {
            assert_ne!(resp.status, 400, "{field} = {raw:?}: {}", resp.text);
        } else {
            assert_eq!(resp.status, 400, "{field} = {raw:?}: {}", resp.text);
            assert_eq!(
                resp.error_field(),
                format!("credentials.{field}"),
                "{raw:?}"
            );
        }
    }
}

hazel_testkit::on_every_backend!(
    a_wrong_method_answers_405_with_allow,
    a_bad_path_parameter_is_named,
    an_empty_json_key_is_refused_with_a_named_field,
    an_unknown_field_is_refused_by_name,
    names_refuse_bidirectional_override_characters,
    a_cursor_of_the_documented_shape_is_accepted,
    the_document_states_the_limits,
    every_documented_route_follows_the_rules,
    credentials_the_document_allows_are_accepted_and_the_rest_refused_by_name,
);
