//! Health, readiness, metrics, the served OpenAPI document and Swagger UI.

use hazel_testkit::TestApp;
use reqwest::Method;

async fn health_readiness_and_metrics(app: TestApp) {
    let anon = app.anonymous();
    let health = anon
        .raw(Method::GET, "/healthz", None, None)
        .await
        .expect_status(200);
    assert_eq!(health.body["status"], "ok");
    anon.raw(Method::GET, "/readyz", None, None)
        .await
        .expect_status(200);
    // Make some traffic, then read the counters.
    let ada = app.user("Ada").await;
    ada.get("/organizations").await.expect_status(200);
    let metrics = anon
        .raw(Method::GET, "/metrics", None, None)
        .await
        .expect_status(200);
    assert!(
        metrics.text.contains("hazel_http_requests_total"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .lines()
            .any(|l| l.starts_with("hazel_http_requests_total")
                && l.contains("/api/v1/organizations")
                && l.contains("200")),
        "{}",
        metrics.text
    );
}

async fn the_served_spec_and_swagger_ui(app: TestApp) {
    let anon = app.anonymous();
    let spec = anon
        .raw(Method::GET, "/openapi.json", None, None)
        .await
        .expect_status(200);
    for operation_id in [
        "chatSyncConnectionCreate",
        "chatSyncConnectionList",
        "chatSyncConnectionGet",
        "chatSyncConnectionUpdate",
        "chatSyncConnectionDelete",
        "chatSyncConnectionValidate",
        "chatSyncExternalChannelList",
        "chatSyncExternalChannelSelect",
        "chatSyncChannelLinkCreate",
        "chatSyncChannelLinkList",
        "chatSyncChannelLinkUpdate",
        "chatSyncChannelLinkDelete",
        "notificationCreate",
        "notificationList",
        "notificationUpdate",
        "notificationDelete",
        "notificationDeleteByMessageIds",
    ] {
        assert!(
            spec.text.contains(&format!("\"{operation_id}\"")),
            "missing {operation_id}"
        );
    }
    assert_eq!(
        spec.body,
        serde_json::from_str::<serde_json::Value>(&hazel_http::openapi_json()).unwrap()
    );
    let docs = anon.raw(Method::GET, "/docs", None, None).await;
    assert_eq!(docs.status, 200);
    assert!(
        docs.text.to_lowercase().contains("swagger"),
        "{}",
        &docs.text[..docs.text.len().min(200)]
    );
}

async fn unknown_routes_answer_the_json_error_shape(app: TestApp) {
    let ada = app.user("Ada").await;
    let resp = ada.get("/no-such-thing").await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_code(), "NotFoundError", "{}", resp.text);
}

hazel_testkit::on_every_backend!(
    health_readiness_and_metrics,
    the_served_spec_and_swagger_ui,
    unknown_routes_answer_the_json_error_shape
);
