//! Prometheus metrics of the sync engine: events received, receipts and deliveries by
//! outcome, queue depth, oldest pending age and delivery latency. Every series is labelled by
//! provider (and outcome or queue) only, never by an id, so the number of series is bounded.

use std::time::Duration;

use hazel_domain::model::chat_sync::Provider;
use hazel_domain::ports::{QueueStats, SyncObserver, SyncOutcome};
use prometheus::{
    Encoder as _, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// The sync engine's metrics, in a registry of their own that `GET /metrics` renders beside
/// the HTTP layer's.
#[derive(Clone)]
pub struct SyncMetrics {
    registry: Registry,
    events: IntCounterVec,
    receipts: IntCounterVec,
    deliveries: IntCounterVec,
    latency: HistogramVec,
    depth: IntGaugeVec,
    oldest: GaugeVec,
}

impl SyncMetrics {
    /// Creates the metrics in a fresh registry.
    ///
    /// # Errors
    /// When a metric cannot be created or registered (only on invalid names, a bug).
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let events = IntCounterVec::new(
            Opts::new(
                "hazel_sync_events_received_total",
                "Inbound provider events recorded (duplicates included), by provider.",
            ),
            &["provider"],
        )?;
        let receipts = IntCounterVec::new(
            Opts::new(
                "hazel_sync_receipts_total",
                "Inbound events processed, by provider and outcome (delivered, ignored, retried, dead_lettered).",
            ),
            &["provider", "outcome"],
        )?;
        let deliveries = IntCounterVec::new(
            Opts::new(
                "hazel_sync_deliveries_total",
                "Outbound delivery tries, by provider and outcome (delivered, ignored, retried, held, dead_lettered).",
            ),
            &["provider", "outcome"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "hazel_sync_delivery_latency_seconds",
                "Time from a change being enqueued to its delivery, by provider.",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ]),
            &["provider"],
        )?;
        let depth = IntGaugeVec::new(
            Opts::new(
                "hazel_sync_queue_depth",
                "Pending items, by provider and queue (outbox, receipts).",
            ),
            &["provider", "queue"],
        )?;
        let oldest = GaugeVec::new(
            Opts::new(
                "hazel_sync_oldest_pending_seconds",
                "Age of the oldest pending outbox item, by provider.",
            ),
            &["provider"],
        )?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(receipts.clone()))?;
        registry.register(Box::new(deliveries.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(depth.clone()))?;
        registry.register(Box::new(oldest.clone()))?;
        Ok(Self {
            registry,
            events,
            receipts,
            deliveries,
            latency,
            depth,
            oldest,
        })
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

impl SyncObserver for SyncMetrics {
    fn events_received(&self, provider: Provider, count: u64) {
        self.events
            .with_label_values(&[provider.as_str()])
            .inc_by(count);
    }

    fn receipt_finished(&self, provider: Provider, outcome: SyncOutcome) {
        self.receipts
            .with_label_values(&[provider.as_str(), outcome.as_str()])
            .inc();
    }

    fn delivery_finished(&self, provider: Provider, outcome: SyncOutcome, latency: Duration) {
        self.deliveries
            .with_label_values(&[provider.as_str(), outcome.as_str()])
            .inc();
        if outcome == SyncOutcome::Delivered {
            self.latency
                .with_label_values(&[provider.as_str()])
                .observe(latency.as_secs_f64());
        }
    }

    fn queue_observed(&self, stats: &QueueStats) {
        for (provider, outbox, receipts, oldest) in &stats.per_provider {
            let provider = provider.as_str();
            let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            self.depth
                .with_label_values(&[provider, "outbox"])
                .set(gauge(*outbox));
            self.depth
                .with_label_values(&[provider, "receipts"])
                .set(gauge(*receipts));
            self.oldest
                .with_label_values(&[provider])
                .set(oldest.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_by_provider_and_outcome_only() {
        let metrics = SyncMetrics::new().unwrap();
        metrics.events_received(Provider::Slack, 3);
        metrics.receipt_finished(Provider::Slack, SyncOutcome::Ignored);
        metrics.delivery_finished(
            Provider::Discord,
            SyncOutcome::Delivered,
            Duration::from_millis(40),
        );
        metrics.delivery_finished(Provider::Discord, SyncOutcome::DeadLettered, Duration::ZERO);
        metrics.queue_observed(&QueueStats {
            per_provider: vec![(Provider::Slack, 5, 2, Duration::from_secs(7))],
        });
        let text = metrics.render().unwrap();
        for line in [
            r#"hazel_sync_events_received_total{provider="slack"} 3"#,
            r#"hazel_sync_receipts_total{outcome="ignored",provider="slack"} 1"#,
            r#"hazel_sync_deliveries_total{outcome="delivered",provider="discord"} 1"#,
            r#"hazel_sync_deliveries_total{outcome="dead_lettered",provider="discord"} 1"#,
            r#"hazel_sync_delivery_latency_seconds_count{provider="discord"} 1"#,
            r#"hazel_sync_queue_depth{provider="slack",queue="outbox"} 5"#,
            r#"hazel_sync_queue_depth{provider="slack",queue="receipts"} 2"#,
            r#"hazel_sync_oldest_pending_seconds{provider="slack"} 7"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
