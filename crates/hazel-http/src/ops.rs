//! Operations endpoints: liveness, readiness and metrics. They sit outside `/api/v1`, need no
//! token, and are not part of the OpenAPI document.

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde_json::json;

use crate::ApiState;
use crate::error::ApiError;
use crate::metrics::HttpMetrics;

/// `GET /healthz`: the process is up.
#[handler]
pub(crate) fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the backing store is reachable and migrated (200), or why not (503).
#[handler]
pub(crate) async fn readyz(state: Data<&ApiState>) -> Response {
    match state.readiness.check().await {
        Ok(()) => Json(json!({ "status": "ok" })).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            let mut response =
                Json(json!({ "status": "unavailable", "reason": reason })).into_response();
            response.set_status(StatusCode::SERVICE_UNAVAILABLE);
            response
        }
    }
}

/// The sync engine's metrics, when the application runs the engine.
#[derive(Clone)]
pub(crate) struct SyncMetricsData(pub(crate) Option<crate::SyncMetrics>);

/// `GET /metrics`: every metric in the Prometheus text format.
#[handler]
pub(crate) fn metrics(
    metrics: Data<&HttpMetrics>,
    sync: Data<&SyncMetricsData>,
) -> poem::Result<Response> {
    let rendered = metrics.render().and_then(|mut text| {
        if let Some(sync) = &sync.0.0 {
            text.push_str(&sync.render()?);
        }
        Ok(text)
    });
    match rendered {
        Ok(text) => Ok(Response::builder()
            .content_type(prometheus::TEXT_FORMAT)
            .body(text)),
        Err(err) => {
            tracing::error!(error = %err, "rendering metrics failed");
            Err(ApiError::internal().into())
        }
    }
}
