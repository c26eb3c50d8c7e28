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
mod error;
pub mod routes;
pub mod send;
mod settings;

use std::sync::Arc;

pub use error::WebhookError;
pub use settings::WebhookSettings;

use crate::app::Services;

/// The event types delivered to webhooks, in the order an asset usually meets them. The outbox
/// records more (`asset.probed`, `asset.updated`, …); those are internal and not delivered.
pub const EVENT_TYPES: [&str; 6] =
    ["asset.created", "asset.uploaded", "asset.playable", "asset.ready", "asset.errored", "asset.deleted"];

/// Whether webhooks deliver events of this type.
pub fn is_delivered(event_type: &str) -> bool {
    EVENT_TYPES.contains(&event_type)
}

/// The webhook job handlers: fan-out (also the periodic sweep) and sends.
pub fn job_handlers(services: &Services, settings: &Arc<WebhookSettings>) -> Vec<Arc<dyn crate::jobs::JobHandler>> {
    vec![
        Arc::new(dispatch::DispatchJob::new(Arc::clone(settings))),
        Arc::new(send::DeliverJob::new(Arc::clone(settings), Arc::clone(&services.metrics))),
    ]
}

/// The documented webhook routes.
pub fn router() -> utoipa_axum::router::OpenApiRouter<crate::app::AppState> {
    routes::router()
}
