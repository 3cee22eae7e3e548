//! The provider simulators: their spec checks, their failure modes, and the real Slack and
//! Discord adapters driven against them.

use std::panic::AssertUnwindSafe;

use hazel_discord::{DiscordProvider, DiscordSettings, REQUIRED_PERMISSION_BITS};
use hazel_domain::model::chat_sync::{
    ChannelEligibility, Credentials, ExternalChannelId, ExternalWorkspaceId, IneligibleReason,
    ProviderError, ProviderErrorCode,
};
use hazel_domain::ports::ChatDirectory;
use hazel_slack::{REQUIRED_SCOPES, SlackProvider, SlackSettings};
use hazel_testkit::sim::discord::{
    ChannelKind, DEFAULT_EVERYONE_PERMISSIONS, Failure as DiscordFailure,
};
use hazel_testkit::sim::slack::Failure as SlackFailure;
use hazel_testkit::sim::{DiscordSimulator, SlackSimulator, spec};
use secrecy::SecretString;
use serde_json::{Value, json};

const TEAM: &str = "T0ACME0001";
const SLACK_TOKEN: &str = "xoxb-100-200-simulatedsecret";
const GUILD: &str = "81384788765712384";
const BOT: &str = "80351110224678912";
const DISCORD_TOKEN: &str = "MTA4.simulated.secret";

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn workspace(id: &str) -> ExternalWorkspaceId {
    ExternalWorkspaceId::parse("externalWorkspaceId", id).expect("test ids are valid external ids")
}

fn channel_id(id: &str) -> ExternalChannelId {
    ExternalChannelId::parse("channel", id).expect("test ids are valid external ids")
}

async fn slack_sim() -> SlackSimulator {
    let sim = SlackSimulator::start().await;
    sim.add_workspace(TEAM, "Acme");
    sim.add_bot_token(TEAM, SLACK_TOKEN, REQUIRED_SCOPES);
    sim
}

fn slack_credentials(token: &str) -> Credentials {
    Credentials::Slack {
        bot_token: SecretString::from(token),
        signing_secret: SecretString::from("signing"),
        app_token: None,
    }
}

fn slack_provider(sim: &SlackSimulator) -> SlackProvider {
    SlackProvider::new(SlackSettings { api_url: sim.url() }, http())
}

async fn discord_sim() -> DiscordSimulator {
    let sim = DiscordSimulator::start().await;
    sim.add_guild(GUILD, "Acme Guild");
    sim.add_bot(DISCORD_TOKEN, BOT, "hazel");
    sim.add_bot_to_guild(GUILD, BOT, REQUIRED_PERMISSION_BITS);
    sim
}

fn discord_credentials(token: &str) -> Credentials {
    Credentials::Discord {
        bot_token: SecretString::from(token),
        application_id: None,
    }
}

fn discord_provider(sim: &DiscordSimulator) -> DiscordProvider {
    DiscordProvider::new(DiscordSettings { api_url: sim.url() }, http())
}

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("the simulator answers JSON")
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

// --- Slack simulator: spec checks -------------------------------------------------------------

#[tokio::test]
async fn slack_accepts_a_spec_conforming_request_and_records_it_without_the_token() {
    let sim = slack_sim().await;

    let response = http()
        .get(format!("{}/auth.test", sim.url()))
        .bearer_auth(SLACK_TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let scopes = response.headers()["x-oauth-scopes"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(scopes, REQUIRED_SCOPES.join(","));
    let answer = body(response).await;
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["team_id"], TEAM);
    assert!(
        spec::slack()
            .check_success("GET", "auth.test", &answer)
            .is_empty()
    );
    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].route, "auth.test");
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer [redacted]")
    );
    assert!(!format!("{requests:?}").contains("simulatedsecret"));
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_records_an_unknown_method_as_a_violation() {
    let sim = slack_sim().await;

    let response = http()
        .get(format!("{}/chat.teleport", sim.url()))
        .bearer_auth(SLACK_TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(body(response).await["error"], "unknown_method");
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("chat.teleport"), "{violations:?}");
}

#[tokio::test]
async fn slack_records_a_missing_required_parameter_as_a_violation() {
    let sim = slack_sim().await;

    let response = http()
        .post(format!("{}/chat.postMessage", sim.url()))
        .bearer_auth(SLACK_TOKEN)
        .form(&[("text", "hello")])
        .send()
        .await
        .unwrap();

    assert_eq!(body(response).await["error"], "invalid_arguments");
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("`channel`"), "{violations:?}");
}

#[tokio::test]
async fn slack_records_a_request_without_auth_as_a_violation() {
    let sim = slack_sim().await;

    let response = http()
        .get(format!("{}/auth.test", sim.url()))
        .send()
        .await
        .unwrap();

    assert_eq!(body(response).await["error"], "not_authed");
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("Authorization"), "{violations:?}");
}

#[tokio::test]
async fn slack_records_wrong_verbs_unknown_and_mistyped_parameters() {
    let sim = slack_sim().await;
    let client = http();

    client
        .post(format!("{}/auth.test", sim.url()))
        .bearer_auth(SLACK_TOKEN)
        .send()
        .await
        .unwrap();
    client
        .get(format!("{}/conversations.list", sim.url()))
        .bearer_auth(SLACK_TOKEN)
        .query(&[("exclude_archive", "true"), ("limit", "many")])
        .send()
        .await
        .unwrap();

    let violations = sim.take_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].contains("with GET"), "{violations:?}");
    assert!(violations[1].contains("`limit`"), "{violations:?}");
    assert!(
        violations[2].contains("`exclude_archive`"),
        "{violations:?}"
    );
}

#[tokio::test]
async fn slack_panics_on_drop_when_violations_were_left_unchecked() {
    let sim = slack_sim().await;
    http()
        .get(format!("{}/auth.test", sim.url()))
        .send()
        .await
        .unwrap();

    let dropped = std::panic::catch_unwind(AssertUnwindSafe(move || drop(sim)));

    let payload = dropped.unwrap_err();
    assert!(panic_text(&*payload).contains("Authorization"));
}

// --- Slack simulator: behaviour and failure modes ---------------------------------------------

#[tokio::test]
async fn slack_answers_unknown_and_revoked_tokens_like_slack() {
    let sim = slack_sim().await;
    let client = http();
    let auth_test = |token: &'static str| {
        client
            .get(format!("{}/auth.test", sim.url()))
            .bearer_auth(token)
            .send()
    };

    let unknown = body(auth_test("xoxb-unknown").await.unwrap()).await;
    sim.revoke_token(SLACK_TOKEN);
    let revoked = body(auth_test(SLACK_TOKEN).await.unwrap()).await;

    assert_eq!(unknown, json!({"ok": false, "error": "invalid_auth"}));
    assert_eq!(revoked, json!({"ok": false, "error": "token_revoked"}));
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_failures_apply_once_in_order() {
    let sim = slack_sim().await;
    let client = http();
    sim.fail_next(
        "auth.test",
        SlackFailure::SlackError("token_expired".to_owned()),
    );
    sim.fail_next(
        "auth.test",
        SlackFailure::RateLimited {
            retry_after_seconds: 7,
        },
    );
    sim.fail_next("auth.test", SlackFailure::ServerError);
    sim.fail_next("auth.test", SlackFailure::DropConnection);
    let call = || {
        client
            .get(format!("{}/auth.test", sim.url()))
            .bearer_auth(SLACK_TOKEN)
            .send()
    };

    let expired = call().await.unwrap();
    let limited = call().await.unwrap();
    let failed = call().await.unwrap();
    let dropped = call().await;
    let healthy = call().await.unwrap();

    assert_eq!(body(expired).await["error"], "token_expired");
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_eq!(failed.status(), 500);
    assert!(dropped.is_err(), "{dropped:?}");
    assert_eq!(body(healthy).await["ok"], true);
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_missing_scope_failure_names_the_needed_scope() {
    let sim = SlackSimulator::start().await;
    sim.add_workspace(TEAM, "Acme");
    sim.add_bot_token(TEAM, SLACK_TOKEN, &["channels:read"]);
    sim.fail_next(
        "conversations.list",
        SlackFailure::SlackError("missing_scope".to_owned()),
    );

    let answer = body(
        http()
            .get(format!("{}/conversations.list", sim.url()))
            .bearer_auth(SLACK_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(answer["error"], "missing_scope");
    assert_eq!(answer["needed"], "groups:read");
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_pages_conversations_with_the_requested_limit() {
    let sim = slack_sim().await;
    for n in 0..5 {
        sim.add_channel(TEAM, &format!("C00000000{n}"), &format!("c{n}"), n == 4, 3);
    }
    sim.add_channel(TEAM, "C000000009", "old", false, 1);
    sim.archive_channel(TEAM, "C000000009");
    let client = http();
    let mut cursor = String::new();
    let mut pages = Vec::new();

    loop {
        let mut query = vec![
            ("types", "public_channel,private_channel"),
            ("exclude_archived", "true"),
            ("limit", "2"),
        ];
        if !cursor.is_empty() {
            query.push(("cursor", cursor.as_str()));
        }
        let answer = body(
            client
                .get(format!("{}/conversations.list", sim.url()))
                .bearer_auth(SLACK_TOKEN)
                .query(&query)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(
            spec::slack()
                .check_success("GET", "conversations.list", &answer)
                .is_empty()
        );
        let names: Vec<String> = answer["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        pages.push(names);
        cursor = answer["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        if cursor.is_empty() || pages.len() > 10 {
            break;
        }
    }

    assert_eq!(pages, [vec!["c0", "c1"], vec!["c2", "c3"], vec!["c4"]]);
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_refuses_a_limit_above_1000_instead_of_clamping() {
    let sim = slack_sim().await;
    let list = |limit: &'static str| {
        http()
            .get(format!("{}/conversations.list", sim.url()))
            .bearer_auth(SLACK_TOKEN)
            .query(&[("limit", limit)])
            .send()
    };

    let too_many = body(list("1001").await.unwrap()).await;
    let violations = sim.take_violations();
    let most = body(list("1000").await.unwrap()).await;

    assert_eq!(too_many, json!({"ok": false, "error": "invalid_limit"}));
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("`limit`"), "{violations:?}");
    assert_eq!(most["ok"], true);
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_checks_the_token_before_scripted_failures() {
    let sim = slack_sim().await;
    sim.fail_next("auth.test", SlackFailure::ServerError);
    let call = |token: &'static str| {
        http()
            .get(format!("{}/auth.test", sim.url()))
            .bearer_auth(token)
            .send()
    };

    let unknown = call("xoxb-unknown").await.unwrap();
    let unknown_status = unknown.status();
    let unknown = body(unknown).await;
    let known = call(SLACK_TOKEN).await.unwrap();

    assert_eq!(unknown_status, 200);
    assert_eq!(unknown, json!({"ok": false, "error": "invalid_auth"}));
    assert_eq!(known.status(), 500, "the failure waited for a valid call");
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_reports_an_unimplemented_method_even_with_a_bad_token() {
    let sim = slack_sim().await;

    let answer = body(
        http()
            .post(format!("{}/chat.scheduleMessage", sim.url()))
            .bearer_auth("xoxb-unknown")
            .form(&[
                ("channel", "C0000001"),
                ("text", "hello"),
                ("post_at", "1700000000"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(answer["error"], "unknown_method");
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("does not implement"),
        "{violations:?}"
    );
}

#[tokio::test]
async fn slack_accepts_auth_schemes_in_any_case() {
    let sim = slack_sim().await;

    let answer = body(
        http()
            .get(format!("{}/auth.test", sim.url()))
            .header("authorization", format!("bEARER {SLACK_TOKEN}"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(
        sim.requests()[0].header("authorization"),
        Some("bEARER [redacted]")
    );
    sim.assert_no_violations();
}

#[tokio::test]
async fn recorded_requests_redact_every_sensitive_name() {
    let sim = slack_sim().await;
    let client = http();

    // A credential without a scheme, secrets in the query, form, headers and a nested JSON key.
    client
        .post(format!("{}/oauth.v2.access", sim.url()))
        .header("authorization", "SCHEMELESS-SECRET-1")
        .header("cookie", "session=COOKIE-SECRET-2")
        .header("X-Api-Key", "HEADER-SECRET-3")
        .query(&[("client_secret", "QUERY-SECRET-4")])
        .form(&[
            ("client_id", "1234.5678"),
            ("code", "FORM-SECRET-5"),
            ("refresh_token", "FORM-SECRET-6"),
        ])
        .send()
        .await
        .unwrap();
    client
        .post(format!("{}/chat.postMessage", sim.url()))
        .header("authorization", "Bearer: BADSCHEME-SECRET-7")
        .json(&json!({
            "channel": "C0000001",
            "text": "hello",
            "metadata": {"event_payload": {"Password": "JSON-SECRET-8", "signing_secret": "JSON-SECRET-9"}},
        }))
        .send()
        .await
        .unwrap();
    let violations = sim.take_violations();

    let requests = sim.requests();
    let shown = format!("{requests:?} {violations:?} {sim:?}");
    assert!(!shown.contains("SECRET-"), "a secret was recorded: {shown}");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("authorization"), Some("[redacted]"));
    assert_eq!(requests[0].header("cookie"), Some("[redacted]"));
    assert_eq!(requests[0].header("x-api-key"), Some("[redacted]"));
    assert_eq!(requests[0].param("client_secret"), Some("[redacted]"));
    assert_eq!(requests[0].param("code"), Some("[redacted]"));
    assert_eq!(requests[0].param("client_id"), Some("1234.5678"));
    assert_eq!(requests[1].header("authorization"), Some("[redacted]"));
    let recorded = requests[1].body.as_ref().unwrap();
    assert_eq!(recorded["text"], "hello");
    assert_eq!(
        recorded["metadata"]["event_payload"],
        json!({"Password": "[redacted]", "signing_secret": "[redacted]"})
    );
}

#[tokio::test]
async fn simulators_debug_output_hides_tokens() {
    let slack = slack_sim().await;
    let discord = discord_sim().await;

    let shown = format!("{slack:?} {discord:?}");

    assert!(!shown.contains(SLACK_TOKEN), "{shown}");
    assert!(!shown.contains(DISCORD_TOKEN), "{shown}");
    assert!(!shown.contains("simulated"), "{shown}");
    // The state is still shown, with its keys redacted.
    assert!(
        shown.contains(TEAM) && shown.contains("[redacted]"),
        "{shown}"
    );
}

// --- SlackProvider against the simulator ------------------------------------------------------

#[tokio::test]
async fn slack_provider_validates_and_lists_every_page() {
    let sim = slack_sim().await;
    for n in 0..450 {
        sim.add_channel(
            TEAM,
            &format!("C{n:09}"),
            &format!("channel-{n}"),
            n % 10 == 0,
            n,
        );
    }
    let provider = slack_provider(&sim);

    let validated = provider
        .validate(&workspace(TEAM), &slack_credentials(SLACK_TOKEN))
        .await
        .unwrap();
    let channels = provider
        .list_channels(&workspace(TEAM), &slack_credentials(SLACK_TOKEN))
        .await
        .unwrap();

    assert_eq!(validated.workspace_name.as_deref(), Some("Acme"));
    assert!(validated.bot.user_id.as_str().starts_with('U'));
    let expected = sim.bot_identity(SLACK_TOKEN);
    assert_eq!(validated.bot.user_id.as_str(), expected.user_id);
    assert_eq!(
        validated.bot.bot_id.map(|id| id.as_str().to_owned()),
        Some(expected.bot_id)
    );
    assert_eq!(
        validated.bot.app_id.map(|id| id.as_str().to_owned()),
        Some(expected.app_id)
    );
    assert_eq!(channels.len(), 450);
    assert_eq!(channels.iter().filter(|c| c.is_private).count(), 45);
    assert_eq!(channels[449].name, "channel-449");
    assert_eq!(channels[449].member_count, Some(449));
    let listing_calls = sim
        .requests()
        .iter()
        .filter(|r| r.route == "conversations.list")
        .count();
    assert_eq!(listing_calls, 3);
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_provider_maps_every_simulated_failure() {
    let sim = slack_sim().await;
    sim.add_workspace("T0OTHER001", "Other");
    sim.add_bot_token("T0OTHER001", "xoxb-other", REQUIRED_SCOPES);
    sim.add_bot_token(TEAM, "xoxb-narrow", &["channels:read", "chat:write"]);
    sim.add_bot_token(TEAM, "xoxb-revoked", REQUIRED_SCOPES);
    sim.revoke_token("xoxb-revoked");
    let provider = slack_provider(&sim);
    let validate = |token: &'static str| {
        let provider = provider.clone();
        async move {
            provider
                .validate(&workspace(TEAM), &slack_credentials(token))
                .await
                .unwrap_err()
        }
    };
    let scripted = |failure: SlackFailure| {
        sim.fail_next("auth.test", failure);
        validate(SLACK_TOKEN)
    };

    let cases = [
        (
            validate("xoxb-unknown").await,
            ProviderErrorCode::InvalidCredentials,
        ),
        (
            validate("xoxb-other").await,
            ProviderErrorCode::InvalidCredentials,
        ),
        (
            validate("xoxb-revoked").await,
            ProviderErrorCode::AuthExpired,
        ),
        (
            validate("xoxb-narrow").await,
            ProviderErrorCode::InsufficientPermissions,
        ),
        (
            scripted(SlackFailure::SlackError("invalid_auth".into())).await,
            ProviderErrorCode::InvalidCredentials,
        ),
        (
            scripted(SlackFailure::SlackError("not_authed".into())).await,
            ProviderErrorCode::InvalidCredentials,
        ),
        (
            scripted(SlackFailure::SlackError("account_inactive".into())).await,
            ProviderErrorCode::InvalidCredentials,
        ),
        (
            scripted(SlackFailure::SlackError("token_expired".into())).await,
            ProviderErrorCode::AuthExpired,
        ),
        (
            scripted(SlackFailure::SlackError("token_revoked".into())).await,
            ProviderErrorCode::AuthExpired,
        ),
        (
            scripted(SlackFailure::RateLimited {
                retry_after_seconds: 9,
            })
            .await,
            ProviderErrorCode::RateLimited,
        ),
        (
            scripted(SlackFailure::ServerError).await,
            ProviderErrorCode::PlatformError,
        ),
        (
            scripted(SlackFailure::DropConnection).await,
            ProviderErrorCode::NetworkError,
        ),
    ];

    for (err, expected) in &cases {
        assert_eq!(err.code(), *expected, "{err:?}");
        assert!(!format!("{err} {err:?}").contains("simulatedsecret"));
    }
    assert!(cases[1].0.to_string().contains("another Slack workspace"));
    assert_eq!(
        cases[9].0,
        ProviderError::RateLimited {
            retry_after_seconds: 9
        }
    );
    let ProviderError::InsufficientPermissions {
        required_scopes, ..
    } = &cases[3].0
    else {
        panic!("{:?}", cases[3].0);
    };
    assert_eq!(required_scopes.len(), REQUIRED_SCOPES.len() - 2);
    assert!(!required_scopes.contains(&"chat:write".to_owned()));
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_provider_reports_scopes_missing_for_listing() {
    let sim = SlackSimulator::start().await;
    sim.add_workspace(TEAM, "Acme");
    sim.add_bot_token(TEAM, SLACK_TOKEN, &["channels:read"]);

    let err = slack_provider(&sim)
        .list_channels(&workspace(TEAM), &slack_credentials(SLACK_TOKEN))
        .await
        .unwrap_err();

    let ProviderError::InsufficientPermissions {
        required_scopes, ..
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!(required_scopes[0], "groups:read");
    assert_eq!(required_scopes.len(), REQUIRED_SCOPES.len() - 1);
    sim.assert_no_violations();
}

// --- Discord simulator: spec checks -----------------------------------------------------------

#[tokio::test]
async fn discord_accepts_a_spec_conforming_request() {
    let sim = discord_sim().await;

    let response = http()
        .get(format!("{}/guilds/{GUILD}", sim.url()))
        .header("authorization", format!("Bot {DISCORD_TOKEN}"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let answer = body(response).await;
    assert_eq!(answer["name"], "Acme Guild");
    assert!(
        spec::discord()
            .check_success("GET", "/guilds/{guild_id}", &answer)
            .is_empty()
    );
    let requests = sim.requests();
    assert_eq!(requests[0].route, "/guilds/{guild_id}");
    assert_eq!(requests[0].header("authorization"), Some("Bot [redacted]"));
    sim.assert_no_violations();
}

#[tokio::test]
async fn discord_records_an_unknown_route_as_a_violation() {
    let sim = discord_sim().await;

    let response = http()
        .get(format!("{}/guilds/{GUILD}/bananas", sim.url()))
        .header("authorization", format!("Bot {DISCORD_TOKEN}"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("bananas"), "{violations:?}");
}

#[tokio::test]
async fn discord_records_missing_parameters_bodies_and_bad_snowflakes() {
    let sim = discord_sim().await;
    let client = http();
    let bot = format!("Bot {DISCORD_TOKEN}");

    let search = client
        .get(format!("{}/guilds/{GUILD}/members/search", sim.url()))
        .header("authorization", &bot)
        .send()
        .await
        .unwrap();
    let post = client
        .post(format!("{}/channels/123/messages", sim.url()))
        .header("authorization", &bot)
        .send()
        .await
        .unwrap();
    let named = client
        .get(format!("{}/guilds/acme", sim.url()))
        .header("authorization", &bot)
        .send()
        .await
        .unwrap();

    assert_eq!(
        [search.status(), post.status(), named.status()],
        [400, 400, 400]
    );
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].contains("`query`"), "{violations:?}");
    assert!(violations[1].contains("body"), "{violations:?}");
    assert!(violations[2].contains("`guild_id`"), "{violations:?}");
}

#[tokio::test]
async fn discord_records_requests_without_bot_auth_or_with_a_wrong_verb() {
    let sim = discord_sim().await;
    let client = http();

    let anonymous = client
        .get(format!("{}/users/@me", sim.url()))
        .send()
        .await
        .unwrap();
    let bearer = client
        .get(format!("{}/guilds/{GUILD}/roles", sim.url()))
        .bearer_auth(DISCORD_TOKEN)
        .send()
        .await
        .unwrap();
    let verb = client
        .delete(format!("{}/users/@me", sim.url()))
        .header("authorization", format!("Bot {DISCORD_TOKEN}"))
        .send()
        .await
        .unwrap();

    assert_eq!(
        [anonymous.status(), bearer.status(), verb.status()],
        [401, 401, 405]
    );
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].contains("Authorization"), "{violations:?}");
    assert!(
        violations[1].contains("`Bot <credential>`"),
        "{violations:?}"
    );
    assert!(violations[2].contains("DELETE"), "{violations:?}");
}

#[tokio::test]
async fn discord_panics_on_drop_when_violations_were_left_unchecked() {
    let sim = discord_sim().await;
    http()
        .get(format!("{}/nowhere", sim.url()))
        .send()
        .await
        .unwrap();

    let dropped = std::panic::catch_unwind(AssertUnwindSafe(move || drop(sim)));

    let payload = dropped.unwrap_err();
    assert!(panic_text(&*payload).contains("nowhere"));
}

// --- Discord simulator: behaviour and failure modes -------------------------------------------

#[tokio::test]
async fn discord_answers_unknown_tokens_with_401() {
    let sim = discord_sim().await;

    let response = http()
        .get(format!("{}/users/@me", sim.url()))
        .header("authorization", "Bot not-a-known-token")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(
        body(response).await,
        json!({"message": "401: Unauthorized", "code": 0})
    );
    sim.assert_no_violations();
}

#[tokio::test]
async fn discord_failures_apply_once_in_order_by_route_key() {
    let sim = discord_sim().await;
    let client = http();
    sim.fail_next("/users/@me", DiscordFailure::Unauthorized);
    sim.fail_next("GET /users/@me", DiscordFailure::Forbidden);
    sim.fail_next(
        "/users/@me",
        DiscordFailure::RateLimited {
            retry_after_seconds: 1.5,
        },
    );
    sim.fail_next("/users/@me", DiscordFailure::ServerError);
    sim.fail_next("/users/@me", DiscordFailure::DropConnection);
    let call = || {
        client
            .get(format!("{}/users/@me", sim.url()))
            .header("authorization", format!("Bot {DISCORD_TOKEN}"))
            .send()
    };

    // The verb-qualified key is looked up first.
    let forbidden = call().await.unwrap();
    let unauthorized = call().await.unwrap();
    let limited = call().await.unwrap();
    let failed = call().await.unwrap();
    let dropped = call().await;
    let healthy = call().await.unwrap();

    assert_eq!(forbidden.status(), 403);
    assert_eq!(body(forbidden).await["code"], 50_001);
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "2");
    assert_eq!(body(limited).await["retry_after"], 1.5);
    assert_eq!(failed.status(), 500);
    assert!(dropped.is_err(), "{dropped:?}");
    let me = body(healthy).await;
    assert_eq!(me["id"], BOT);
    assert!(
        spec::discord()
            .check_success("GET", "/users/@me", &me)
            .is_empty()
    );
    sim.assert_no_violations();
}

#[tokio::test]
async fn discord_checks_the_token_before_scripted_failures() {
    let sim = discord_sim().await;
    sim.fail_next("/users/@me", DiscordFailure::ServerError);
    let call = |token: &'static str| {
        http()
            .get(format!("{}/users/@me", sim.url()))
            .header("authorization", format!("Bot {token}"))
            .send()
    };

    let unknown = call("not-a-known-token").await.unwrap();
    let known = call(DISCORD_TOKEN).await.unwrap();

    assert_eq!(unknown.status(), 401);
    assert_eq!(known.status(), 500, "the failure waited for a valid call");
    sim.assert_no_violations();
}

#[tokio::test]
async fn discord_reports_an_unimplemented_route_even_with_a_bad_token() {
    let sim = discord_sim().await;

    let response = http()
        .get(format!("{}/channels/1300000000000000001/pins", sim.url()))
        .header("authorization", "Bot not-a-known-token")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("does not implement"),
        "{violations:?}"
    );
}

#[tokio::test]
async fn discord_failure_keys_take_the_verb_in_any_case_and_check_it() {
    let sim = discord_sim().await;
    sim.fail_next("get /guilds/{guild_id}", DiscordFailure::ServerError);

    let failed = http()
        .get(format!("{}/guilds/{GUILD}", sim.url()))
        .header("authorization", format!("bot {DISCORD_TOKEN}"))
        .send()
        .await
        .unwrap();
    let no_such_verb = std::panic::catch_unwind(AssertUnwindSafe(|| {
        sim.fail_next("POST /users/@me", DiscordFailure::ServerError);
    }));

    assert_eq!(failed.status(), 500);
    let payload = no_such_verb.unwrap_err();
    assert!(
        panic_text(&*payload).contains("no POST"),
        "{}",
        panic_text(&*payload)
    );
    sim.assert_no_violations();
}

#[tokio::test]
async fn discord_range_checks_snowflakes() {
    let sim = discord_sim().await;

    let response = http()
        .get(format!("{}/guilds/99999999999999999999", sim.url()))
        .header("authorization", format!("Bot {DISCORD_TOKEN}"))
        .send()
        .await
        .unwrap();
    let scripted = ["0123", "18446744073709551616"]
        .map(|id| std::panic::catch_unwind(AssertUnwindSafe(|| sim.add_guild(id, "Bad"))).is_err());

    assert_eq!(response.status(), 400);
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("snowflake"), "{violations:?}");
    assert_eq!(scripted, [true, true], "scripting refuses non-snowflakes");
}

#[tokio::test]
async fn discord_guilds_start_with_the_default_everyone_permissions() {
    let sim = discord_sim().await;

    let guild = body(
        http()
            .get(format!("{}/guilds/{GUILD}", sim.url()))
            .header("authorization", format!("Bot {DISCORD_TOKEN}"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    let everyone = guild["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|role| role["id"] == GUILD)
        .unwrap();
    let bits: u64 = everyone["permissions"].as_str().unwrap().parse().unwrap();
    assert_eq!(bits, DEFAULT_EVERYONE_PERMISSIONS);
    assert_ne!(bits & (1 << 10), 0, "@everyone may view channels");
    sim.assert_no_violations();
}

// --- DiscordProvider against the simulator ----------------------------------------------------

#[tokio::test]
async fn discord_provider_validates_and_lists_syncable_channels() {
    let sim = discord_sim().await;
    sim.add_channel(GUILD, "100", "general", ChannelKind::Text, false);
    sim.add_channel(GUILD, "101", "Voice", ChannelKind::Voice, false);
    sim.add_channel(GUILD, "102", "news", ChannelKind::Announcement, false);
    sim.add_channel(GUILD, "103", "staff", ChannelKind::Text, true);
    sim.add_channel(GUILD, "104", "Topics", ChannelKind::Category, false);
    sim.add_channel(GUILD, "105", "hidden", ChannelKind::Text, true);
    // The bot is let into one private channel; it cannot sync the other.
    sim.add_channel_overwrite(GUILD, "103", BOT, true, 1 << 10, 0);
    let provider = discord_provider(&sim);

    let validated = provider
        .validate(&workspace(GUILD), &discord_credentials(DISCORD_TOKEN))
        .await
        .unwrap();
    let channels = provider
        .list_channels(&workspace(GUILD), &discord_credentials(DISCORD_TOKEN))
        .await
        .unwrap();

    assert_eq!(validated.workspace_name.as_deref(), Some("Acme Guild"));
    assert_eq!(validated.bot.user_id.as_str(), BOT);
    assert_eq!(
        validated.bot.app_id.map(|id| id.as_str().to_owned()),
        Some(sim.application_id(DISCORD_TOKEN))
    );
    let summary: Vec<(&str, &str, bool)> = channels
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.is_private))
        .collect();
    assert_eq!(
        summary,
        [
            ("100", "general", false),
            ("102", "news", false),
            ("103", "staff", true)
        ]
    );
    // The guild object carries the roles, so the roles route is not needed.
    let routes: Vec<String> = sim.requests().into_iter().map(|r| r.route).collect();
    assert!(
        !routes.iter().any(|r| r == "/guilds/{guild_id}/roles"),
        "{routes:?}"
    );
    sim.assert_no_violations();
}

#[tokio::test]
async fn discord_provider_combines_everyone_and_role_permissions() {
    let sim = DiscordSimulator::start().await;
    sim.add_guild(GUILD, "Acme Guild");
    sim.add_bot(DISCORD_TOKEN, BOT, "hazel");
    let everyone = (1 << 10) | (1 << 11) | (1 << 16);
    sim.set_everyone_permissions(GUILD, everyone);
    sim.add_bot_to_guild(GUILD, BOT, (1 << 6) | (1 << 13) | (1 << 35));
    let provider = discord_provider(&sim);

    let err = provider
        .validate(&workspace(GUILD), &discord_credentials(DISCORD_TOKEN))
        .await
        .unwrap_err();

    let ProviderError::InsufficientPermissions {
        required_scopes, ..
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!(required_scopes, ["MANAGE_WEBHOOKS"]);
    sim.assert_no_violations();
}

#[tokio::test]
async fn discord_provider_maps_every_simulated_failure() {
    let sim = discord_sim().await;
    sim.add_guild("81384788765712999", "Elsewhere");
    sim.add_bot("token-lonely", "80351110224670000", "lonely");
    let provider = discord_provider(&sim);
    let validate = |guild: &'static str, token: &'static str| {
        let provider = provider.clone();
        async move {
            provider
                .validate(&workspace(guild), &discord_credentials(token))
                .await
                .unwrap_err()
        }
    };
    let scripted = |route: &'static str, failure: DiscordFailure| {
        sim.fail_next(route, failure);
        validate(GUILD, DISCORD_TOKEN)
    };

    let cases = [
        (
            validate(GUILD, "token-unknown").await,
            ProviderErrorCode::InvalidCredentials,
        ),
        (
            validate("81384788765712999", DISCORD_TOKEN).await,
            ProviderErrorCode::InsufficientPermissions,
        ),
        (
            validate("11111111111111111", DISCORD_TOKEN).await,
            ProviderErrorCode::InsufficientPermissions,
        ),
        (
            validate(GUILD, "token-lonely").await,
            ProviderErrorCode::InsufficientPermissions,
        ),
        (
            scripted("/users/@me", DiscordFailure::Unauthorized).await,
            ProviderErrorCode::InvalidCredentials,
        ),
        (
            scripted(
                "/guilds/{guild_id}/members/{user_id}",
                DiscordFailure::Forbidden,
            )
            .await,
            ProviderErrorCode::InsufficientPermissions,
        ),
        (
            scripted(
                "/guilds/{guild_id}",
                DiscordFailure::RateLimited {
                    retry_after_seconds: 0.25,
                },
            )
            .await,
            ProviderErrorCode::RateLimited,
        ),
        (
            scripted("/users/@me", DiscordFailure::ServerError).await,
            ProviderErrorCode::PlatformError,
        ),
        (
            scripted(
                "/guilds/{guild_id}/members/{user_id}",
                DiscordFailure::DropConnection,
            )
            .await,
            ProviderErrorCode::NetworkError,
        ),
    ];

    for (err, expected) in &cases {
        assert_eq!(err.code(), *expected, "{err:?}");
        assert!(!format!("{err} {err:?}").contains("simulated"));
    }
    assert!(cases[1].0.to_string().contains("not in Discord guild"));
    assert_eq!(
        cases[6].0,
        ProviderError::RateLimited {
            retry_after_seconds: 1
        }
    );
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_provider_checks_channel_eligibility_against_the_simulator() {
    let sim = slack_sim().await;
    sim.add_channel(TEAM, "C000000001", "general", false, 3);
    sim.add_channel(TEAM, "C000000002", "random", false, 3);
    sim.set_bot_membership(TEAM, "C000000002", false);
    sim.add_channel(TEAM, "C000000003", "old", false, 3);
    sim.archive_channel(TEAM, "C000000003");
    sim.add_channel(TEAM, "G000000004", "secret", true, 2);
    sim.set_bot_membership(TEAM, "G000000004", false);
    let provider = slack_provider(&sim);
    let check = |id: &'static str| {
        let provider = provider.clone();
        async move {
            provider
                .check_channel(
                    &workspace(TEAM),
                    &slack_credentials(SLACK_TOKEN),
                    &channel_id(id),
                )
                .await
                .unwrap()
        }
    };

    assert_eq!(check("C000000001").await, ChannelEligibility::Eligible);
    assert_eq!(check("C000000002").await, ChannelEligibility::Joinable);
    assert_eq!(
        check("C000000003").await,
        ChannelEligibility::Ineligible(IneligibleReason::Archived)
    );
    assert_eq!(
        check("G000000004").await,
        ChannelEligibility::Ineligible(IneligibleReason::NotFound)
    );
    assert_eq!(
        check("C000000099").await,
        ChannelEligibility::Ineligible(IneligibleReason::NotFound)
    );
    // Listing agrees: a private channel without the bot is not offered, a public one is.
    let listed: Vec<String> = provider
        .list_channels(&workspace(TEAM), &slack_credentials(SLACK_TOKEN))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.as_str().to_owned())
        .collect();
    assert_eq!(listed, ["C000000001", "C000000002"]);
    sim.assert_no_violations();
}

#[tokio::test]
async fn discord_provider_checks_effective_channel_permissions_against_the_simulator() {
    let sim = discord_sim().await;
    sim.add_channel(GUILD, "100", "general", ChannelKind::Text, false);
    sim.add_channel(GUILD, "101", "staff", ChannelKind::Text, true);
    sim.add_channel(GUILD, "102", "announcements", ChannelKind::Text, false);
    // The bot itself may not send in #announcements, nor manage its webhooks.
    sim.add_channel_overwrite(GUILD, "102", BOT, true, 0, (1 << 11) | (1 << 29));
    sim.add_channel(GUILD, "103", "Ideas", ChannelKind::Forum, false);
    sim.add_channel(GUILD, "104", "Lounge", ChannelKind::Voice, false);
    // A private channel the bot is let into by a member overwrite.
    sim.add_channel(GUILD, "105", "ops", ChannelKind::Text, true);
    sim.add_channel_overwrite(GUILD, "105", BOT, true, 1 << 10, 0);
    let provider = discord_provider(&sim);
    let check = |id: &'static str| {
        let provider = provider.clone();
        async move {
            provider
                .check_channel(
                    &workspace(GUILD),
                    &discord_credentials(DISCORD_TOKEN),
                    &channel_id(id),
                )
                .await
                .unwrap()
        }
    };
    let missing = |names: &[&str]| {
        ChannelEligibility::Ineligible(IneligibleReason::MissingPermissions {
            permissions: names.iter().map(|n| (*n).to_owned()).collect(),
        })
    };
    let kind = |kind: &str| {
        ChannelEligibility::Ineligible(IneligibleReason::UnsupportedKind {
            kind: kind.to_owned(),
        })
    };

    assert_eq!(check("100").await, ChannelEligibility::Eligible);
    assert_eq!(check("101").await, missing(&["VIEW_CHANNEL"]));
    assert_eq!(
        check("102").await,
        missing(&["SEND_MESSAGES", "MANAGE_WEBHOOKS"])
    );
    assert_eq!(check("103").await, kind("forum"));
    assert_eq!(check("104").await, kind("voice"));
    assert_eq!(check("105").await, ChannelEligibility::Eligible);
    assert_eq!(
        check("999").await,
        ChannelEligibility::Ineligible(IneligibleReason::NotFound)
    );
    sim.assert_no_violations();
}

async fn slack_call(sim: &SlackSimulator, method: &str, body: Value) -> Value {
    let answer = http()
        .post(format!("{}/{method}", sim.url()))
        .bearer_auth(SLACK_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("the simulator answers");
    answer.json().await.expect("the simulator answers")
}

async fn slack_get(sim: &SlackSimulator, method: &str, query: &[(&str, &str)]) -> Value {
    let answer = http()
        .get(format!("{}/{method}", sim.url()))
        .bearer_auth(SLACK_TOKEN)
        .query(query)
        .send()
        .await
        .expect("the simulator answers");
    answer.json().await.expect("the simulator answers")
}

#[tokio::test]
async fn slack_history_pages_newest_first_and_shows_metadata_only_when_asked() {
    let sim = slack_sim().await;
    sim.add_channel(TEAM, "C0HISTORY1", "history", false, 3);
    let mut posted = Vec::new();
    for n in 0..3 {
        let answer = slack_call(
            &sim,
            "chat.postMessage",
            json!({"channel": "C0HISTORY1", "text": format!("m{n}"), "username": "Ada",
                   "metadata": {"event_type": "hazel_message",
                                "event_payload": {"hazel_message_id": format!("id{n}")}}}),
        )
        .await;
        assert_eq!(answer["ok"], true, "{answer}");
        posted.push(
            answer["ts"]
                .as_str()
                .expect("the simulator answers")
                .to_owned(),
        );
    }
    let first = slack_get(
        &sim,
        "conversations.history",
        &[("channel", "C0HISTORY1"), ("limit", "2")],
    )
    .await;
    let texts: Vec<&str> = first["messages"]
        .as_array()
        .expect("the simulator answers")
        .iter()
        .map(|m| m["text"].as_str().expect("the simulator answers"))
        .collect();
    assert_eq!(texts, ["m2", "m1"]);
    assert_eq!(first["has_more"], true);
    assert!(first["messages"][0].get("metadata").is_none());
    let cursor = first["response_metadata"]["next_cursor"]
        .as_str()
        .expect("the simulator answers");
    let second = slack_get(
        &sim,
        "conversations.history",
        &[
            ("channel", "C0HISTORY1"),
            ("limit", "2"),
            ("cursor", cursor),
            ("include_all_metadata", "true"),
        ],
    )
    .await;
    assert_eq!(second["messages"][0]["text"], "m0");
    assert_eq!(second["has_more"], false);
    assert_eq!(
        second["messages"][0]["metadata"]["event_payload"]["hazel_message_id"],
        "id0"
    );
    // `oldest` is exclusive unless `inclusive` says otherwise.
    let after = slack_get(
        &sim,
        "conversations.history",
        &[("channel", "C0HISTORY1"), ("oldest", &posted[1])],
    )
    .await;
    assert_eq!(
        after["messages"]
            .as_array()
            .expect("the simulator answers")
            .len(),
        1
    );
    sim.assert_no_violations();
}

#[tokio::test]
async fn slack_reactions_pins_and_edits_refuse_what_slack_refuses() {
    let sim = slack_sim().await;
    sim.add_channel(TEAM, "C0ACTIONS1", "actions", false, 3);
    sim.add_channel(TEAM, "C0OUTSIDE1", "outside", false, 3);
    sim.set_bot_membership(TEAM, "C0OUTSIDE1", false);
    let ts = sim.post_as_user("C0ACTIONS1", "U0PERSON01", "hi").await;
    let target = json!({"channel": "C0ACTIONS1", "timestamp": ts, "name": "tada"});
    assert_eq!(
        slack_call(&sim, "reactions.add", target.clone()).await["ok"],
        true
    );
    assert_eq!(
        slack_call(&sim, "reactions.add", target.clone()).await["error"],
        "already_reacted"
    );
    assert_eq!(
        slack_call(&sim, "reactions.remove", target.clone()).await["ok"],
        true
    );
    assert_eq!(
        slack_call(&sim, "reactions.remove", target).await["error"],
        "no_reaction"
    );
    let pin = json!({"channel": "C0ACTIONS1", "timestamp": ts});
    assert_eq!(slack_call(&sim, "pins.add", pin.clone()).await["ok"], true);
    assert_eq!(sim.pins("C0ACTIONS1"), std::slice::from_ref(&ts));
    assert_eq!(
        slack_call(&sim, "pins.add", pin.clone()).await["error"],
        "already_pinned"
    );
    assert_eq!(
        slack_call(&sim, "pins.remove", pin.clone()).await["ok"],
        true
    );
    assert_eq!(
        slack_call(&sim, "pins.remove", pin).await["error"],
        "no_pin"
    );
    let edit = json!({"channel": "C0ACTIONS1", "ts": ts, "text": "mine now"});
    assert_eq!(
        slack_call(&sim, "chat.update", edit).await["error"],
        "cant_update_message"
    );
    let outside = json!({"channel": "C0OUTSIDE1", "text": "hello"});
    assert_eq!(
        slack_call(&sim, "chat.postMessage", outside).await["error"],
        "not_in_channel"
    );
    sim.assert_no_violations();
}

#[tokio::test]
async fn the_slack_reader_reads_a_gap_with_thread_replies_in_order_and_caches_profiles() {
    use hazel_domain::model::sync::InboundEventKind;
    use hazel_domain::ports::{ChatReader, HistoryRequest};
    let sim = slack_sim().await;
    sim.add_channel(TEAM, "C0GAP00001", "gap", false, 3);
    sim.add_user(
        TEAM,
        "U0PERSON01",
        "Pat",
        Some("https://example.com/pat.png"),
    );
    let since = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let parent = sim.post_as_user("C0GAP00001", "U0PERSON01", "parent").await;
    sim.reply_as_user("C0GAP00001", &parent, "U0PERSON01", "reply")
        .await;
    sim.post_as_user("C0GAP00001", "U0PERSON01", "later").await;
    let provider = slack_provider(&sim);
    let events = provider
        .history_since(&HistoryRequest {
            workspace: workspace(TEAM),
            channel: channel_id("C0GAP00001"),
            credentials: slack_credentials(SLACK_TOKEN),
            bot: None,
            after: None,
            since,
        })
        .await
        .expect("the simulator answers");
    let texts: Vec<(String, bool)> = events
        .iter()
        .map(|event| match &event.kind {
            InboundEventKind::MessageCreated(m) => (m.text.clone(), m.thread.is_some()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        [
            ("parent".to_owned(), false),
            ("reply".to_owned(), true),
            ("later".to_owned(), false)
        ]
    );
    // The keys are those of the live events, so both sources dedupe as one.
    assert_eq!(
        events[0].dedupe_key.as_str(),
        format!("{TEAM}:C0GAP00001:{parent}:create")
    );
    let user = hazel_domain::model::external::ExternalUserId::parse("u", "U0PERSON01")
        .expect("the simulator answers");
    for _ in 0..2 {
        let profile = provider
            .user_profile(&workspace(TEAM), &slack_credentials(SLACK_TOKEN), &user)
            .await
            .expect("the simulator answers")
            .expect("the simulator answers");
        assert_eq!(profile.name, "Pat");
        assert_eq!(
            profile.avatar_url.map(|u| u.as_str().to_owned()).as_deref(),
            Some("https://example.com/pat.png")
        );
    }
    let reads = sim
        .requests()
        .iter()
        .filter(|r| r.route == "users.info")
        .count();
    assert_eq!(reads, 1, "the second answer came from the cache");
    sim.assert_no_violations();
}

mod socket_mode {
    //! The Socket Mode adapter against the simulator's websocket: acks follow recording.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;
    use hazel_domain::ids::SyncConnectionId;
    use hazel_domain::model::chat_sync::Credentials;
    use hazel_domain::model::sync::InboundEvent;
    use hazel_domain::ports::{ChatSession as _, SessionSink, SessionSinkError, SessionTarget};
    use hazel_domain::services::sync::CatchUpReport;
    use hazel_slack::{SlackSettings, SlackSocketMode, SocketSettings};
    use hazel_testkit::sim::slack_socket::{event_callback, message_event};
    use secrecy::SecretString;

    use super::{SLACK_TOKEN, TEAM, http, slack_sim, workspace};

    const APP_TOKEN: &str = "xapp-1-A0SIM-1-simulatedappsecret";

    /// Refuses the first `refusals` batches, then keeps every event; counts the catch-ups
    /// asked for.
    #[derive(Default)]
    struct Sink {
        refusals: AtomicUsize,
        calls: AtomicUsize,
        catch_ups: AtomicUsize,
        kept: Mutex<Vec<InboundEvent>>,
    }

    #[async_trait]
    impl SessionSink for Sink {
        async fn record(&self, events: Vec<InboundEvent>) -> Result<(), SessionSinkError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self
                .refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(SessionSinkError("the database is down".to_owned()));
            }
            self.kept.lock().expect("the sink lock").extend(events);
            Ok(())
        }

        async fn catch_up(&self) -> Result<CatchUpReport, SessionSinkError> {
            self.catch_ups.fetch_add(1, Ordering::SeqCst);
            Ok(CatchUpReport::default())
        }

        async fn synced_pins(
            &self,
            _channel: &hazel_domain::model::chat_sync::ExternalChannelId,
        ) -> Result<Vec<hazel_domain::model::chat_sync::ExternalMessageId>, SessionSinkError>
        {
            // Slack reports each pin itself: its socket never asks.
            Ok(Vec::new())
        }
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn envelopes_are_acknowledged_only_once_their_events_are_recorded() {
        let sim = slack_sim().await;
        sim.add_app_token(TEAM, APP_TOKEN);
        let socket = SlackSocketMode::new(SlackSettings { api_url: sim.url() }, http())
            .with_socket_settings(SocketSettings {
                min_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(100),
                idle_timeout: Duration::from_secs(30),
            });
        let sink = Arc::new(Sink {
            refusals: AtomicUsize::new(1),
            ..Sink::default()
        });
        let target = SessionTarget {
            connection_id: SyncConnectionId::new(),
            workspace: workspace(TEAM),
            credentials: Credentials::Slack {
                bot_token: SecretString::from(SLACK_TOKEN),
                signing_secret: SecretString::from("signing"),
                app_token: Some(SecretString::from(APP_TOKEN)),
            },
            bot: None,
            revision: time::OffsetDateTime::UNIX_EPOCH,
        };
        let recorded: Arc<dyn SessionSink> = sink.clone();
        let running = tokio::spawn(async move { socket.run(target, recorded).await });
        until("the socket", || sim.open_sockets() == 1).await;
        let payload = |id: &str, ts: &str| {
            event_callback(
                TEAM,
                "A0SIM",
                id,
                message_event(TEAM, "C0GENERAL", "U0SAM", "hi", ts),
            )
        };
        // Not recorded (the sink refuses): not acknowledged, left to Slack's redelivery.
        let refused = sim
            .push_event(TEAM, payload("Ev1", "1700000001.000100"))
            .unwrap();
        until("the refused record", || {
            sink.calls.load(Ordering::SeqCst) == 1
        })
        .await;
        // Recorded: acknowledged.
        let kept = sim
            .push_event(TEAM, payload("Ev1", "1700000001.000100"))
            .unwrap();
        until("the ack", || sim.socket_acks().contains(&kept)).await;
        // Another workspace's event on the same socket: acknowledged, not recorded.
        let foreign = sim
            .push_event(
                TEAM,
                event_callback(
                    "T0OTHER",
                    "A0SIM",
                    "Ev2",
                    message_event("T0OTHER", "C0X", "U0X", "elsewhere", "1700000002.000100"),
                ),
            )
            .expect("a socket");
        until("the foreign ack", || sim.socket_acks().contains(&foreign)).await;
        assert!(!sim.socket_acks().contains(&refused));
        assert_eq!(sim.socket_acks(), [kept, foreign]);
        assert_eq!(sink.kept.lock().expect("the sink lock").len(), 1);
        assert_eq!(sink.calls.load(Ordering::SeqCst), 2);
        // The session's first socket read what was posted before it.
        assert_eq!(sink.catch_ups.load(Ordering::SeqCst), 1);
        // A refresh request: a new socket, on a new ticket, and no gap to read.
        sim.disconnect_sockets("refresh_requested");
        until("the new socket", || {
            sim.sockets_opened() == 2 && sim.open_sockets() == 1
        })
        .await;
        // A dropped socket: its replacement reads the gap.
        sim.drop_sockets();
        until("the catch-up after the drop", || {
            sim.sockets_opened() == 3 && sink.catch_ups.load(Ordering::SeqCst) == 2
        })
        .await;
        running.abort();
        sim.assert_no_violations();
    }

    #[tokio::test]
    async fn a_refused_app_token_ends_the_session() {
        let sim = slack_sim().await;
        let socket = SlackSocketMode::new(SlackSettings { api_url: sim.url() }, http());
        let target = SessionTarget {
            connection_id: SyncConnectionId::new(),
            workspace: workspace(TEAM),
            credentials: Credentials::Slack {
                bot_token: SecretString::from(SLACK_TOKEN),
                signing_secret: SecretString::from("signing"),
                app_token: Some(SecretString::from("xapp-1-A0SIM-1-unknowntoken")),
            },
            bot: None,
            revision: time::OffsetDateTime::UNIX_EPOCH,
        };
        let end = tokio::time::timeout(
            Duration::from_secs(10),
            socket.run(target, Arc::new(Sink::default())),
        )
        .await
        .expect("the session ends by itself");
        let Err(error) = end else {
            panic!("a refused app token ends the session with an error");
        };
        assert!(!error.to_string().contains("unknowntoken"), "{error}");
        assert_eq!(sim.sockets_opened(), 0);
    }
}
