//! The Stripe webhook: verified on the raw body, deduplicated in the inbox by event id, then
//! handled as untyped JSON with small structs for the fields read (typed event enums break when
//! the account's API version moves). Every handler is idempotent, so a redelivery, or a retry
//! after a crash between the inbox insert and the grant, converges on the same state.

use serde::Deserialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::orders::{self, DisputeOutcome};
use super::super::subscriptions::{self, ProviderState};
use super::super::{PaymentError, PaymentSettings, inbox};

const PROVIDER: &str = "stripe";

/// The envelope of every event.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// What the endpoint did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    Handled,
    /// Seen and processed before: nothing done.
    Duplicate,
}

/// Records the event in the inbox and handles it unless it was processed before.
pub async fn intake(pool: &PgPool, settings: &PaymentSettings, raw: &[u8]) -> Result<Intake, PaymentError> {
    let event: Event = serde_json::from_slice(raw).map_err(|e| PaymentError::InvalidEvent(e.to_string()))?;
    let payload: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| PaymentError::InvalidEvent(e.to_string()))?;
    let processed = inbox::record(pool, PROVIDER, &event.id, &event.event_type, &payload).await?;
    if processed {
        return Ok(Intake::Duplicate);
    }
    let outcome = handle(pool, settings, &event).await;
    inbox::finish(pool, PROVIDER, &event.id, outcome.as_ref().err()).await?;
    outcome.map(|()| Intake::Handled)
}

#[derive(Debug, Deserialize)]
struct Session {
    client_reference_id: Option<String>,
    #[serde(default)]
    metadata: Metadata,
    payment_status: Option<String>,
    payment_intent: Option<Expandable>,
    subscription: Option<Expandable>,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    order_id: Option<String>,
}

/// An id, or the object it names when the request expanded it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    fn id(&self) -> &str {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Charge {
    amount_refunded: i64,
    payment_intent: Option<Expandable>,
    #[serde(default)]
    metadata: Metadata,
}

#[derive(Debug, Deserialize)]
struct Dispute {
    status: String,
    payment_intent: Option<Expandable>,
}

#[derive(Debug, Deserialize)]
struct Subscription {
    id: String,
    status: String,
    #[serde(default)]
    cancel_at_period_end: bool,
    /// Top-level before API version 2025-03-31; on the items since.
    current_period_end: Option<i64>,
    items: Option<Items>,
    #[serde(default)]
    metadata: Metadata,
}

#[derive(Debug, Deserialize)]
struct Items {
    data: Vec<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    current_period_end: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Invoice {
    /// Before API version 2025-03-31.
    subscription: Option<Expandable>,
    /// Since: `parent.subscription_details.subscription`.
    parent: Option<InvoiceParent>,
}

#[derive(Debug, Deserialize)]
struct InvoiceParent {
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Deserialize)]
struct SubscriptionDetails {
    subscription: Option<Expandable>,
}

fn object<T: serde::de::DeserializeOwned>(event: &Event) -> Result<T, PaymentError> {
    serde_json::from_value(event.data.object.clone())
        .map_err(|e| PaymentError::InvalidEvent(format!("{}: {e}", event.event_type)))
}

fn order_id(raw: Option<&str>) -> Option<Uuid> {
    raw.and_then(|raw| Uuid::parse_str(raw).ok())
}

async fn handle(pool: &PgPool, settings: &PaymentSettings, event: &Event) -> Result<(), PaymentError> {
    match event.event_type.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let session: Session = object(event)?;
            let Some(order_id) = order_id(session.client_reference_id.as_deref())
                .or_else(|| order_id(session.metadata.order_id.as_deref()))
            else {
                return ignore(event, "no order id");
            };
            // A delayed payment method completes the session unpaid; its payment arrives as
            // `async_payment_succeeded`.
            if matches!(session.payment_status.as_deref(), Some("paid" | "no_payment_required")) {
                let payment = session.payment_intent.as_ref().map(Expandable::id);
                let subscription = session.subscription.as_ref().map(Expandable::id);
                orders::mark_paid(pool, order_id, payment, subscription, settings).await?;
            }
        }
        "checkout.session.async_payment_failed" | "checkout.session.expired" => {
            let session: Session = object(event)?;
            if let Some(order_id) = order_id(session.client_reference_id.as_deref()) {
                let to = if event.event_type.ends_with("expired") { "expired" } else { "failed" };
                orders::close_unpaid(pool, order_id, to).await?;
            }
        }
        "charge.refunded" => {
            let charge: Charge = object(event)?;
            let Some(order_id) =
                find_order(pool, charge.metadata.order_id.as_deref(), charge.payment_intent.as_ref()).await?
            else {
                return ignore(event, "no order for this charge");
            };
            match orders::apply_refund(pool, order_id, charge.amount_refunded, settings).await {
                Err(PaymentError::OrderNotFound) => return ignore(event, "the charge names an unknown order"),
                other => other?,
            }
        }
        "charge.dispute.created" | "charge.dispute.closed" => {
            let dispute: Dispute = object(event)?;
            let Some(order_id) = find_order(pool, None, dispute.payment_intent.as_ref()).await? else {
                return ignore(event, "no order for this dispute");
            };
            let outcome = match (event.event_type.as_str(), dispute.status.as_str()) {
                ("charge.dispute.created", _) => DisputeOutcome::Opened,
                (_, "won" | "warning_closed") => DisputeOutcome::Won,
                (_, "lost") => DisputeOutcome::Lost,
                _ => return ignore(event, "a dispute closed with an unknown status"),
            };
            orders::apply_dispute(pool, order_id, outcome).await?;
        }
        "customer.subscription.created" | "customer.subscription.updated" | "customer.subscription.deleted" => {
            let subscription: Subscription = object(event)?;
            let period_end = subscription
                .current_period_end
                .or_else(|| {
                    subscription.items.as_ref().and_then(|i| i.data.iter().filter_map(|d| d.current_period_end).max())
                })
                .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok());
            let state = ProviderState {
                status: &subscription.status,
                current_period_end: period_end,
                cancel_at_period_end: subscription.cancel_at_period_end,
            };
            if !KNOWN_SUBSCRIPTION_STATUSES.contains(&subscription.status.as_str()) {
                return ignore(event, "unknown subscription status");
            }
            let mut tx = pool.begin().await?;
            let changes = subscriptions::update_from_provider(
                &mut tx,
                PROVIDER,
                &subscription.id,
                order_id(subscription.metadata.order_id.as_deref()),
                &state,
                settings,
            )
            .await?;
            tx.commit().await?;
            if let Some(changes) = changes {
                changes.after_commit(pool).await;
            }
        }
        "invoice.paid" | "invoice.payment_failed" => {
            let invoice: Invoice = object(event)?;
            let reference = invoice.subscription.as_ref().map(Expandable::id).or_else(|| {
                invoice.parent.as_ref()?.subscription_details.as_ref()?.subscription.as_ref().map(Expandable::id)
            });
            let Some(reference) = reference else { return ignore(event, "not a subscription's invoice") };
            let status = if event.event_type == "invoice.paid" { "active" } else { "past_due" };
            let mut tx = pool.begin().await?;
            let changes = subscriptions::set_status(&mut tx, PROVIDER, reference, status, settings).await?;
            tx.commit().await?;
            if let Some(changes) = changes {
                changes.after_commit(pool).await;
            }
        }
        _ => return ignore(event, "not an event Lectern handles"),
    }
    Ok(())
}

const KNOWN_SUBSCRIPTION_STATUSES: [&str; 8] =
    ["incomplete", "incomplete_expired", "trialing", "active", "past_due", "unpaid", "canceled", "paused"];

async fn find_order(
    pool: &PgPool,
    metadata_order: Option<&str>,
    payment_intent: Option<&Expandable>,
) -> Result<Option<Uuid>, PaymentError> {
    if let Some(order_id) = order_id(metadata_order) {
        return Ok(Some(order_id));
    }
    match payment_intent {
        Some(intent) => orders::by_payment(pool, PROVIDER, intent.id()).await,
        None => Ok(None),
    }
}

fn ignore(event: &Event, why: &str) -> Result<(), PaymentError> {
    tracing::info!(event_id = %event.id, event_type = %event.event_type, why, "Stripe event ignored");
    Ok(())
}
