//! Webhooks: an account registers endpoints (a URL, an event filter, a secret Lectern makes) and
//! Lectern POSTs its events to them, signed, retried for a day: its assets' events, and the
//! events other domains record for it (training's enrolments, completions and certificates).
//!
//! The path of an event, each step durable before the next:
//! 1. The event is written into the `asset_event` outbox (which holds both kinds) in the
//!    transaction of the state change: by `media::assets::record_event` for an asset, by
//!    [`dispatch::record_account_event`] for anything else. When an endpoint of the owner wants
//!    that type, the same transaction stores what the receiver will get (the asset as the API
//!    shows it; another event's `data` is stored always) and enqueues a `webhooks.dispatch` job
//!    for the owner ([`dispatch`]).
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
//! `asset_snapshot` and `dispatched_at` columns of `asset_event`, and of its rows that are not
//! about an asset) is in this module.

pub mod deliveries;
pub mod dispatch;
pub mod endpoints;
mod error;
pub mod routes;
pub mod secrets;
pub mod send;
mod settings;

use std::sync::Arc;

pub use error::WebhookError;
pub use settings::WebhookSettings;

use crate::app::Services;

/// The event types delivered to webhooks: an asset's in the order it usually meets them, then an
/// enrolment's (recorded by training through [`dispatch::record_account_event`]), then an
/// order's, an entitlement's and a subscription's (recorded by payments for the seller the same
/// way). The outbox
/// records more (`asset.probed`, `asset.updated`, …); those are internal and not delivered.
/// Endpoint filters are kept in this order, and the `webhook_endpoint.events` check lists the
/// same types.
pub const EVENT_TYPES: [&str; 17] = [
    "asset.created",
    "asset.uploaded",
    "asset.playable",
    "asset.ready",
    "asset.errored",
    "asset.deleted",
    "enrollment.created",
    "enrollment.suspended",
    "enrollment.revoked",
    "lesson.completed",
    "enrollment.completed",
    "certificate.issued",
    "order.paid",
    "order.refunded",
    // payments: entitlements and subscriptions (migration 21)
    "entitlement.granted",
    "entitlement.revoked",
    "subscription.updated",
];

/// Whether webhooks deliver events of this type.
pub fn is_delivered(event_type: &str) -> bool {
    EVENT_TYPES.contains(&event_type)
}

/// What the webhook routes and jobs share: the settings, and the sealer of the endpoints'
/// signing secrets (the webhook keys of the key directory).
#[derive(Debug)]
pub struct Webhooks {
    pub settings: Arc<WebhookSettings>,
    pub secrets: secrets::SecretSealer,
}

impl Webhooks {
    pub fn new(settings: WebhookSettings, keys: &crate::keys::WebhookSecretKeys) -> Self {
        Self { settings: Arc::new(settings), secrets: secrets::SecretSealer::new(keys) }
    }

    /// Seals again every secret that is in clear (a row from before secrets were sealed) or
    /// sealed with an earlier key, so the earlier key can be retired. Run by `serve` and
    /// `worker` at start-up; a failure is logged, since sends open such rows anyway.
    pub async fn reseal_secrets(&self, pool: &sqlx::PgPool) {
        match endpoints::reseal_all(pool, &self.secrets).await {
            Ok(0) => {}
            Ok(sealed) => tracing::info!(
                sealed,
                key_id = self.secrets.current_key_id(),
                "webhook secrets sealed with the current key"
            ),
            Err(error) => {
                tracing::error!(error = %crate::error_chain(&error), "cannot seal webhook secrets with the current key");
            }
        }
    }
}

/// The webhook job handlers: fan-out (also the periodic sweep) and sends.
pub fn job_handlers(services: &Services, webhooks: &Arc<Webhooks>) -> Vec<Arc<dyn crate::jobs::JobHandler>> {
    vec![
        Arc::new(dispatch::DispatchJob::new(Arc::clone(&webhooks.settings))),
        Arc::new(send::DeliverJob::new(Arc::clone(webhooks), Arc::clone(&services.metrics))),
    ]
}

/// The documented webhook routes.
pub fn router() -> utoipa_axum::router::OpenApiRouter<crate::app::AppState> {
    routes::router()
}
