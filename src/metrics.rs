//! Prometheus metrics: what operators ask about (HTTP latency, job outcomes and durations, queue
//! depth and age, playback sessions, CDN invalidations). One explicit registry per process, held
//! in the application state; nothing is global, so tests that start several apps in one process
//! do not share counters.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route template (`/v1/assets/{id}`), never the raw path, to bound cardinality.
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
    /// `succeeded`, `retried`, `failed`, `released`, `lost`.
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    /// `local` or `mediaconvert`.
    pub backend: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What happened; each family documents its own values.
    pub outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpLabels, Histogram>,
    pub jobs_finished: Family<JobLabels, Counter>,
    pub job_duration: Family<JobLabels, Histogram>,
    pub queue_depth: Family<KindLabels, Gauge>,
    pub queue_oldest_age: Family<KindLabels, Gauge<f64, AtomicU64>>,
    /// Seconds of media encoded per second of wall time, per transcoder backend.
    pub encode_speed: Family<BackendLabels, Histogram>,
    /// Webhook sends by outcome: `succeeded`, `retried` (failed, another send is scheduled),
    /// `failed` (the retry window is over) or `superseded` (a manual retry or a deletion overtook
    /// the send).
    pub webhook_deliveries: Family<OutcomeLabels, Counter>,
    pub webhook_send_duration: Family<OutcomeLabels, Histogram>,
    /// CloudFront invalidation attempts by outcome: `accepted`, `throttled`, `unavailable`,
    /// `refused`, `invalid`, `not_configured`.
    pub cdn_invalidations: Family<OutcomeLabels, Counter>,
    /// `POST /v1/assets/{id}/playback` answers by outcome: `created`, `refused` (a 4xx: not
    /// allowed, wrong origin, not ready…), `failed` (ours).
    pub playback_sessions: Family<OutcomeLabels, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lectern");
        let http_requests = Family::<HttpLabels, Counter>::default();
        // 1 ms to ~65 s.
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 17))
        });
        let jobs_finished = Family::<JobLabels, Counter>::default();
        // 50 ms to ~7 h: a job may be a thumbnail or a feature-length encode.
        let job_duration =
            Family::<JobLabels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.05, 2.0, 20)));
        let queue_depth = Family::<KindLabels, Gauge>::default();
        let queue_oldest_age = Family::<KindLabels, Gauge<f64, AtomicU64>>::default();

        registry.register("http_requests", "HTTP requests answered", http_requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", http_duration.clone());
        // 0.05× to ~100× realtime.
        let encode_speed = Family::<BackendLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.05, 1.5, 19))
        });
        registry.register("encode_speed_ratio", "Transcode speed as a multiple of realtime", encode_speed.clone());
        let cdn_invalidations = Family::<OutcomeLabels, Counter>::default();
        let playback_sessions = Family::<OutcomeLabels, Counter>::default();
        registry.register("playback_sessions", "Playback session requests, by outcome", playback_sessions.clone());
        registry.register(
            "cdn_invalidations",
            "CloudFront invalidations requested, by outcome",
            cdn_invalidations.clone(),
        );
        registry.register("jobs_finished", "Job attempts finished, by outcome", jobs_finished.clone());
        registry.register("job_duration_seconds", "Wall time of job attempts", job_duration.clone());
        registry.register("queue_depth", "Jobs due and waiting to be claimed", queue_depth.clone());
        registry.register(
            "queue_oldest_age_seconds",
            "How long the oldest due job has waited",
            queue_oldest_age.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register("webhook_sends", "Webhook sends, by outcome", webhook_deliveries.clone());
        // 5 ms to ~40 s: the send timeout is at most 60 s and 10 s by default.
        let webhook_send_duration = Family::<OutcomeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        registry.register("webhook_send_duration_seconds", "Wall time of webhook sends", webhook_send_duration.clone());
        Self {
            registry,
            http_requests,
            http_duration,
            jobs_finished,
            job_duration,
            queue_depth,
            queue_oldest_age,
            encode_speed,
            webhook_deliveries,
            webhook_send_duration,
            cdn_invalidations,
            playback_sessions,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an error here would be a bug in the encoder.
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(%error, "cannot encode metrics");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
