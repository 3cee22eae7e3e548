#![doc = include_str!("../README.md")]

mod api;
mod auth;
mod error;
mod metrics;
mod model;
mod observe;
mod ops;
mod payload;
mod rendered;
mod responses;
mod spec;
mod sync_metrics;
mod text;
mod types;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use hazel_domain::services::Services;

use poem::{Endpoint as _, EndpointExt as _, Route, get};
pub use sync_metrics::SyncMetrics;

/// Everything the handlers need: the domain services the application built, and the
/// readiness probe. Handlers reach the services through it (`state.messages`, …).
///
/// Every request carries a clone, so the services sit behind one [`Arc`]: a clone is one
/// reference count, not one per service port.
#[derive(Clone)]
pub struct ApiState {
    /// The domain services, shared with whatever else the application runs.
    pub services: Arc<Services>,
    /// Whether the backing store can serve requests (`GET /readyz`).
    pub readiness: Arc<dyn Readiness>,
    /// The sync engine's metrics, rendered by `GET /metrics` beside the HTTP layer's.
    pub sync_metrics: Option<SyncMetrics>,
    /// First pages of notifications as last rendered (`GET /api/v1/notifications`).
    rendered_notifications: Arc<api::RenderedNotifications>,
}

impl ApiState {
    /// The state for `services`, ready when `readiness` says so.
    #[must_use]
    pub fn new(services: Services, readiness: Arc<dyn Readiness>) -> Self {
        Self {
            services: Arc::new(services),
            readiness,
            sync_metrics: None,
            rendered_notifications: Arc::new(api::RenderedNotifications::new()),
        }
    }

    /// This state, with `GET /metrics` also rendering the sync engine's `metrics`.
    #[must_use]
    pub fn with_sync_metrics(mut self, metrics: SyncMetrics) -> Self {
        self.sync_metrics = Some(metrics);
        self
    }
}

impl std::ops::Deref for ApiState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

/// Readiness of the backing store: reachable, with no pending migrations.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Ok` when ready to serve; otherwise why not, in words (answered by `GET /readyz`).
    ///
    /// # Errors
    /// The reason the store is not ready.
    async fn check(&self) -> Result<(), String>;
}

/// The whole HTTP application: `/api/v1/*`, `/healthz`, `/readyz`, `/metrics`,
/// `/openapi.json` and the Swagger UI at `/docs`, with a tracing span and metrics per request,
/// and every error answered as `{"error": {"code", "message", ...}}`.
///
/// # Panics
/// Never in practice: only if the constant metric definitions were invalid.
pub fn app(state: ApiState) -> poem::endpoint::BoxEndpoint<'static> {
    let api = api::service();
    // The document and the Swagger UI are built by their first request: generating them
    // touches most of the schema code and holds the document in memory, which a service that
    // is never asked for them should not pay for at start.
    let spec = poem::endpoint::make_sync(|_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document())
    });
    let ui: Arc<OnceLock<poem::endpoint::BoxEndpoint<'static>>> = Arc::default();
    let docs = poem::endpoint::make(move |request| {
        let ui = Arc::clone(&ui);
        async move {
            ui.get_or_init(|| api::service().swagger_ui().map_to_response().boxed())
                .get_response(request)
                .await
        }
    });
    // Start-up code: the metric definitions are constants, so this cannot fail at run time
    // (the metrics module's tests create them too).
    let metrics = metrics::HttpMetrics::new().expect("valid metric definitions");
    let sync_metrics = state.sync_metrics.clone();
    let routes = Route::new()
        .at("/healthz", get(ops::healthz))
        .at("/readyz", get(ops::readyz))
        .at("/metrics", get(ops::metrics))
        .at("/openapi.json", get(spec))
        .nest("/docs", docs)
        .nest_no_strip("/api", api)
        // The same operations answer the provider endpoints, which live outside `/api`.
        .nest_no_strip("/webhooks", api::service())
        .data(state)
        .data(metrics.clone())
        .data(ops::SyncMetricsData(sync_metrics));
    observe::Observed::new(routes, metrics).boxed()
}

/// The OpenAPI document of the API as pretty-printed JSON. Needs no state or database, so the
/// binary can print it and CI can compare it with the committed `openapi/openapi.json`.
#[must_use]
pub fn openapi_json() -> String {
    let document = api::service().spec();
    // poem-openapi always produces a JSON object; keep its document should that ever change.
    spec::refine(&document).unwrap_or(document)
}

/// [`openapi_json`], built once per process on first use: served by `GET /openapi.json` and
/// read for the methods and path parameters of 405 and path-error answers.
pub(crate) fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(openapi_json)
}

#[cfg(test)]
mod tests;
