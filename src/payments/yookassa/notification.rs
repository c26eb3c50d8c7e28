//! YooKassa's notifications: from an allowed network only, deduplicated in the inbox by event and
//! object id, and acted on through the object fetched from the API — never the posted one.

use std::net::IpAddr;

use serde::Deserialize;
use sqlx::PgPool;

use super::super::orders;
use super::super::{PaymentError, PaymentSettings};
use super::YooKassaClient;

const PROVIDER: &str = "yookassa";

#[derive(Debug, Deserialize)]
struct Notification {
    event: String,
    object: Object,
}

#[derive(Debug, Deserialize)]
struct Object {
    id: String,
}

/// Whether `ip` may send notifications.
pub fn source_allowed(client: &YooKassaClient, ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    client.settings().allowed_networks.iter().any(|network| network.contains(&ip))
}

/// Handles one notification body; `true` when it was handled now, `false` for a duplicate.
pub async fn intake(
    pool: &PgPool,
    settings: &PaymentSettings,
    client: &YooKassaClient,
    raw: &[u8],
) -> Result<bool, PaymentError> {
    let notification: Notification =
        serde_json::from_slice(raw).map_err(|e| PaymentError::InvalidEvent(e.to_string()))?;
    let payload: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| PaymentError::InvalidEvent(e.to_string()))?;
    let event_id = format!("{}:{}", notification.event, notification.object.id);
    let processed = super::super::inbox::record(pool, PROVIDER, &event_id, &notification.event, &payload).await?;
    if processed {
        return Ok(false);
    }
    // A notification whose object the API does not confirm yet (still pending) stays unprocessed:
    // a spoofed or early one must not make the genuine one a duplicate.
    let outcome = match handle(pool, settings, client, &notification).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(PaymentError::WrongState("YooKassa's API does not confirm this notification yet".into())),
        Err(error) => Err(error),
    };
    super::super::inbox::finish(pool, PROVIDER, &event_id, outcome.as_ref().err()).await?;
    match outcome {
        Ok(()) | Err(PaymentError::WrongState(_)) => Ok(true),
        Err(error) => Err(error),
    }
}

async fn handle(
    pool: &PgPool,
    settings: &PaymentSettings,
    client: &YooKassaClient,
    notification: &Notification,
) -> Result<bool, PaymentError> {
    match notification.event.as_str() {
        "payment.succeeded" | "payment.canceled" | "payment.waiting_for_capture" => {
            let payment = client.get_payment(&notification.object.id).await?;
            act_on_payment(pool, settings, &payment).await
        }
        "refund.succeeded" => {
            let refund = client.get_refund(&notification.object.id).await?;
            if refund.status != "succeeded" {
                tracing::info!(refund = %refund.id, status = %refund.status, "YooKassa refund not succeeded yet");
                return Ok(false);
            }
            let payment = client.get_payment(&refund.payment_id).await?;
            act_on_payment(pool, settings, &payment).await
        }
        other => {
            tracing::info!(event = other, "YooKassa notification ignored");
            Ok(true)
        }
    }
}

/// Brings the order of a fetched payment in line with it: `succeeded` pays (and applies what
/// was refunded), `canceled` closes an unpaid order. Returns whether the payment was in a final
/// state (`false`: still pending, nothing done).
pub async fn act_on_payment(
    pool: &PgPool,
    settings: &PaymentSettings,
    payment: &super::client::Payment,
) -> Result<bool, PaymentError> {
    let Some(order_id) = payment.order_id() else {
        tracing::info!(payment = %payment.id, "YooKassa payment without a Lectern order; ignored");
        return Ok(true);
    };
    match payment.status.as_str() {
        "succeeded" => {
            // A plan bought through YooKassa: the subscription is Lectern's own, named after the
            // order, and renewed by charging the saved payment method.
            let reference = super::super::subscriptions::yookassa_reference(order_id);
            orders::mark_paid(pool, order_id, Some(&payment.id), Some(&reference), settings).await?;
            let method = payment.payment_method.as_ref().filter(|m| m.saved).map(|m| m.id.as_str());
            super::super::subscriptions::start_yookassa(pool, &reference, method, settings).await?;
            if let Some(refunded) = payment.refunded_amount.as_ref().and_then(super::client::Amount::minor_units)
                && refunded > 0
            {
                orders::apply_refund(pool, order_id, refunded, settings).await?;
            }
        }
        "canceled" => {
            orders::close_unpaid(pool, order_id, "canceled").await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}
