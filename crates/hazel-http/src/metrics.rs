//! Prometheus metrics of the HTTP layer, in a registry of its own.

use std::time::Duration;

use prometheus::{Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Request counters and latency histograms.
#[derive(Clone)]
pub(crate) struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
}

impl HttpMetrics {
    /// Creates the metrics in a fresh registry.
    ///
    /// # Errors
    /// When a metric cannot be created or registered (only on invalid names, a bug).
    pub(crate) fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "hazel_http_requests_total",
                "HTTP requests handled, by method, route template and status.",
            ),
            &["method", "route", "status"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "hazel_http_request_duration_seconds",
                "Time to answer HTTP requests, by method and route template.",
            ),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(durations.clone()))?;
        Ok(Self {
            registry,
            requests,
            durations,
        })
    }

    /// Records one answered request. `route` must be a template (`/api/v1/connections/{id}`),
    /// never a raw path, so the number of label values stays bounded.
    pub(crate) fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        self.requests
            .with_label_values(&[method, route, status_label(status)])
            .inc();
        self.durations
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// Every metric in the Prometheus text format.
    ///
    /// # Errors
    /// When encoding fails.
    pub(crate) fn render(&self) -> prometheus::Result<String> {
        let mut out = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// A static label for each status, so labels never allocate per request.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        301 => "301",
        302 => "302",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        s if s < 200 => "1xx",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// The method as a label: one of the standard methods, anything else `OTHER`, so that clients
/// sending made-up methods cannot create new series.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_requests_are_rendered_with_their_labels() {
        let metrics = HttpMetrics::new().unwrap();
        metrics.observe(
            "GET",
            "/api/v1/connections/{id}",
            404,
            Duration::from_millis(3),
        );
        let text = metrics.render().unwrap();
        assert!(
            text.contains(
                r#"hazel_http_requests_total{method="GET",route="/api/v1/connections/{id}",status="404"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("hazel_http_request_duration_seconds_bucket"),
            "{text}"
        );
    }

    #[test]
    fn unusual_statuses_fall_into_classes() {
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(504), "5xx");
        assert_eq!(status_label(201), "201");
    }

    #[test]
    fn made_up_methods_share_one_label() {
        let metrics = HttpMetrics::new().unwrap();
        for method in ["FOOA", "FOOB", "BREW"] {
            metrics.observe(method, "unmatched", 405, Duration::from_millis(1));
        }
        let text = metrics.render().unwrap();
        assert!(!text.contains("FOO") && !text.contains("BREW"), "{text}");
        assert!(
            text.contains(
                r#"hazel_http_requests_total{method="OTHER",route="unmatched",status="405"} 3"#
            ),
            "{text}"
        );
    }
}
