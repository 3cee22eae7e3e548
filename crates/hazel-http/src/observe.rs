//! The outermost layer of the application: one tracing span and one metrics sample per request,
//! and the translation of every error that reached the edge into the contract's JSON body.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use poem::PathPattern;
use poem::error::NotFoundError;
use poem::error::ResponseError as _;
use poem::http::StatusCode;
use poem::http::header::{ALLOW, HeaderValue};
use poem::{Endpoint, IntoResponse as _, Request, Response};
use poem_openapi::error::ParsePathError;
use poem_openapi::{OpenApi, OperationId};
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::api::Apis;
use crate::error::into_api_error;
use crate::metrics::HttpMetrics;
use crate::spec::AllowedMethods;

/// The `route` label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

/// Wraps the application: observes every request and answers every error as JSON.
pub(crate) struct Observed<E> {
    inner: E,
    metrics: HttpMetrics,
    templates: Arc<HashMap<&'static str, String>>,
    /// The methods and path parameters of each path, for 405 answers (`Allow`) and path
    /// errors: read from the OpenAPI document when first needed, not at start.
    allowed: Arc<OnceLock<AllowedMethods>>,
}

impl<E> Observed<E> {
    /// Wraps `inner`, recording into `metrics`.
    pub(crate) fn new(inner: E, metrics: HttpMetrics) -> Self {
        Self {
            inner,
            metrics,
            templates: Arc::new(operation_templates()),
            allowed: Arc::default(),
        }
    }

    fn allowed(&self) -> &AllowedMethods {
        self.allowed.get_or_init(|| {
            serde_json::from_str(crate::document())
                .map(|spec| AllowedMethods::from_spec(&spec))
                .unwrap_or_default()
        })
    }
}

/// The path template of every operation, by operationId (`chatSyncConnectionGet` →
/// `/api/v1/connections/{id}`), taken from the OpenAPI description itself.
fn operation_templates() -> HashMap<&'static str, String> {
    <Apis as OpenApi>::meta()
        .into_iter()
        .flat_map(|api| api.paths)
        .flat_map(|path| {
            let template = path.path;
            path.operations
                .into_iter()
                .filter_map(move |op| op.operation_id.map(|id| (id, template.clone())))
        })
        .collect()
}

/// A route pattern in the spec's notation: poem's `:name` segments become `{name}`.
fn normalise(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl<E> Observed<E> {
    fn route(&self, operation: Option<&OperationId>, pattern: Option<&PathPattern>) -> String {
        if let Some(template) = operation.and_then(|op| self.templates.get(op.0)) {
            return template.clone();
        }
        match pattern {
            // Operations of the API are named by their operationId above; any other match under
            // the API prefix (a wrong method) is reported as the prefix, never as a raw path.
            Some(p) if p.0.starts_with("/api") => "/api/v1/*".to_owned(),
            Some(p) => normalise(&p.0),
            None => UNMATCHED.to_owned(),
        }
    }
}

impl<E: Endpoint> Endpoint for Observed<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let span = tracing::info_span!(
            "request",
            method = %method,
            path = %req.uri().path(),
            route = Empty,
            status = Empty,
            latency_ms = Empty,
        );
        let started = Instant::now();
        let result = self.inner.call(req).instrument(span.clone()).await;
        let (response, route) = match result {
            Ok(response) => {
                let response = response.into_response();
                let route = self.route(response.data(), response.data());
                (response, route)
            }
            Err(err) => {
                let route = if err.is::<NotFoundError>() {
                    UNMATCHED.to_owned()
                } else {
                    self.route(err.data(), err.data())
                };
                let mut answer = span.in_scope(|| into_api_error(&err));
                // poem-openapi names path parameters by position (`param1`); answer the name
                // the document gives them (`emoji`).
                if let Some(parse) = err.downcast_ref::<ParsePathError>()
                    && let Some(index) = parse.name.strip_prefix("param")
                    && let Ok(index) = index.parse::<usize>()
                    && let Some(name) = self.allowed().path_parameter(&path, index)
                {
                    answer = answer.for_field(name);
                }
                let mut response = answer.as_response();
                if response.status() == StatusCode::METHOD_NOT_ALLOWED
                    && let Ok(allow) = HeaderValue::from_str(&self.allowed().allow(&path))
                {
                    response.headers_mut().insert(ALLOW, allow);
                }
                (response, route)
            }
        };
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        self.metrics.observe(&method, &route, status, elapsed);
        span.record("route", route.as_str());
        span.record("status", status);
        span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
        span.in_scope(|| tracing::info!("request answered"));
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_template() {
        let templates = operation_templates();
        assert_eq!(
            templates.get("memberList").map(String::as_str),
            Some("/api/v1/organizations/{orgId}/members")
        );
        assert!(
            templates
                .values()
                .all(|t| t.starts_with("/api/v1/") || t.starts_with("/webhooks/"))
        );
        assert_eq!(
            templates.get("slackEventsReceive").map(String::as_str),
            Some("/webhooks/slack/events")
        );
    }

    #[test]
    fn poem_patterns_use_braces() {
        assert_eq!(normalise("/docs/:file"), "/docs/{file}");
        assert_eq!(normalise("/healthz"), "/healthz");
    }
}
