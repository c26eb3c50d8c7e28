//! Webhooks: an account registers endpoints (a URL, an event filter, a secret Lectern makes) and
//! Lectern POSTs its assets' events to them, signed, retried for a day.
//!
//! The path of an event, each step durable before the next:
//! 1. `media::assets::record_event` writes the event into the `asset_event` outbox in the
//!    transaction of the state change. When an endpoint of the owner wants that type, the same
//!    transaction stores the asset as the API shows it (the snapshot the receiver gets) and
//!    enqueues a `webhooks.dispatch` job for the owner ([`dispatch`]).
//! 2. The dispatch job locks undispatched events (`for update skip locked`), inserts one
//!    `webhook_delivery` per matching endpoint (unique per endpoint and event, so a second run
//!    never doubles them), marks the events dispatched and enqueues one `webhooks.deliver` job
//!    per delivery, all in one transaction.
//! 3. The deliver job ([`send`]) signs and POSTs through the SSRF-guarded fetcher, records the
//!    attempt and either finishes the delivery or schedules the next send, again in one
//!    transaction. A periodic sweep fans out anything whose dispatch job was lost and re-enqueues
//!    sends that are long overdue.
//!
//! Delivery is at least once and in no particular order; receivers dedupe on the event `id`.
//! All SQL of `webhook_endpoint`, `webhook_delivery` and `webhook_attempt` (and of the
//! `asset_snapshot` and `dispatched_at` columns of `asset_event`) is in this module.

pub mod deliveries;
pub mod dispatch;
pub mod endpoints;
pub mod routes;
pub mod send;

use std::sync::Arc;

use crate::auth::AuthError;

/// The event types delivered to webhooks, in the order an asset usually meets them. The outbox
/// records more (`asset.probed`, `asset.updated`, …); those are internal and not delivered.
pub const EVENT_TYPES: [&str; 6] =
    ["asset.created", "asset.uploaded", "asset.playable", "asset.ready", "asset.errored", "asset.deleted"];

/// Whether webhooks deliver events of this type.
pub fn is_delivered(event_type: &str) -> bool {
    EVENT_TYPES.contains(&event_type)
}

/// Everything that can go wrong with webhooks, with stable codes for the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    UrlInvalid(String),
    #[error("{0}")]
    UrlForbidden(String),
    #[error("unknown event type {0:?}; known: asset.created, asset.uploaded, asset.playable, asset.ready, asset.errored, asset.deleted (or * for all)")]
    UnknownEventType(String),
    #[error("an account may have at most {0} webhook endpoints; delete one first")]
    TooMany(u32),
    #[error("no such webhook endpoint")]
    NotFound,
    #[error("no such webhook delivery")]
    DeliveryNotFound,
    #[error("{0}")]
    InvalidField(String),
    #[error("the cursor is not one this API handed out")]
    InvalidCursor,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("cannot make a secret")]
    Random(#[source] std::io::Error),
}

impl WebhookError {
    /// Stable, snake_case, part of the API.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::UrlInvalid(_) => "webhook_url_invalid",
            Self::UrlForbidden(_) => "webhook_url_forbidden",
            Self::UnknownEventType(_) => "unknown_event_type",
            Self::TooMany(_) => "too_many_webhooks",
            Self::NotFound => "webhook_not_found",
            Self::DeliveryNotFound => "webhook_delivery_not_found",
            Self::InvalidField(_) => "invalid_field",
            Self::InvalidCursor => "invalid_cursor",
            Self::Auth(auth) => auth.error_code(),
            Self::Database(_) | Self::Random(_) => "internal_error",
        }
    }

    /// False for failures that are ours (answered 5xx without detail).
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::Auth(auth) => auth.is_client_error(),
            Self::Database(_) | Self::Random(_) => false,
            _ => true,
        }
    }
}

impl From<crate::media::MediaError> for WebhookError {
    fn from(error: crate::media::MediaError) -> Self {
        match error {
            crate::media::MediaError::Database(database) => Self::Database(database),
            other => Self::Database(sqlx::Error::Protocol(crate::error_chain(&other))),
        }
    }
}

/// The webhook job handlers: fan-out (also the periodic sweep) and sends.
pub fn job_handlers(
    ingest: &Arc<crate::config::IngestSettings>,
    metrics: &Arc<crate::metrics::Metrics>,
) -> Vec<Arc<dyn crate::jobs::JobHandler>> {
    let settings = Arc::new(ingest.webhooks.clone());
    vec![
        Arc::new(dispatch::DispatchJob::new(Arc::clone(&settings))),
        Arc::new(send::DeliverJob::new(settings, Arc::clone(metrics))),
    ]
}

/// The documented webhook routes.
pub fn router() -> utoipa_axum::router::OpenApiRouter<crate::app::AppState> {
    routes::router()
}
