//! Refunds an administrator (or the seller) makes: through the provider's API with an
//! idempotency key, then applied to the order exactly as a provider's refund event is
//! ([`orders::apply_refund`]: the provider's cumulative refunded total, read back from its API —
//! Stripe's charge, YooKassa's payment — and only growing), so the event that follows the refund
//! finds nothing left to do, and a refund the provider reports `pending` is applied by that event.
//!
//! The idempotency key is the caller's own `Idempotency-Key`, or is derived from the order, what
//! was refunded before and the amount asked: a retry after a timeout, or a double click while the
//! first refund is in flight, asks the provider for the same refund again and gets the first
//! answer, never a second refund. (Without a key of its own, a client that repeats a request
//! after the first one completed asks for a second refund — the derived key has moved on.)

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::orders::{self, OrderView};
use super::{PaymentError, Payments};

/// The refund the provider made.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundView {
    /// `stripe` or `yookassa`.
    pub provider: String,
    /// The provider's refund id (`re_…`, YooKassa's UUID).
    pub provider_refund_id: String,
    /// Minor units.
    pub amount: i64,
    /// The provider's status: `succeeded` is applied at once; `pending` when its event arrives.
    pub status: String,
    /// The key the provider was called with.
    pub idempotency_key: String,
}

/// The key for a refund of `amount` of `order` (see the module's docs).
pub fn idempotency_key(order: &OrderView, amount: i64, caller_key: Option<&str>) -> String {
    match caller_key {
        Some(key) => format!("lectern-refund-{}-{key}", order.order_id),
        None => format!("lectern-refund-{}-{}-{amount}", order.order_id, order.refunded_amount),
    }
}

/// How much of `order` may be refunded now, or why nothing may.
pub fn refundable(order: &OrderView) -> Result<i64, PaymentError> {
    if !matches!(order.status.as_str(), "paid" | "partially_refunded") {
        return Err(PaymentError::NotRefundable(format!("an order that is {} cannot be refunded", order.status)));
    }
    if order.provider == "none" {
        return Err(PaymentError::NotRefundable(
            "nothing was paid for this order; revoke its entitlement instead".into(),
        ));
    }
    let left = order.amount - order.refunded_amount;
    if left <= 0 {
        return Err(PaymentError::NotRefundable("this order has been refunded in full".into()));
    }
    Ok(left)
}

/// Refunds `amount` (all that is left when `None`) of `order` through its provider.
pub async fn refund(
    pool: &PgPool,
    payments: &Payments,
    order: &OrderView,
    amount: Option<i64>,
    caller_key: Option<&str>,
) -> Result<RefundView, PaymentError> {
    let left = refundable(order)?;
    let amount = amount.unwrap_or(left);
    if !(1..=left).contains(&amount) {
        return Err(PaymentError::InvalidField(format!(
            "amount must be between 1 and {left} (what is left to refund)"
        )));
    }
    let payment_id = orders::payment_ref(pool, order.order_id)
        .await?
        .ok_or_else(|| PaymentError::NotRefundable("the provider's payment of this order is not known".into()))?;
    let key = idempotency_key(order, amount, caller_key);
    let view = match order.provider.as_str() {
        "stripe" => {
            let refund = payments.stripe()?.create_refund(&payment_id, amount, order.order_id, &key).await?;
            let status = refund.status.unwrap_or_else(|| "pending".to_owned());
            // The charge's cumulative `amount_refunded` is applied, never "before + this refund":
            // a replayed key returns the first refund again, and `charge.refunded` may have been
            // applied already; both would count twice.
            if let (true, Some(charge_id)) = (status == "succeeded", refund.charge.as_deref()) {
                let charge = payments.stripe()?.retrieve_charge(charge_id).await?;
                orders::apply_refund(pool, order.order_id, charge.amount_refunded, &payments.settings).await?;
            }
            RefundView {
                provider: "stripe".into(),
                provider_refund_id: refund.id,
                amount: refund.amount,
                status,
                idempotency_key: key,
            }
        }
        "yookassa" => {
            let client = payments.yookassa()?;
            let email = crate::auth::accounts::find(pool, order.account_id).await?.map(|account| account.email);
            let description = format!("Refund of order {}", order.order_id);
            let refund = client
                .create_refund(&payment_id, amount, &order.currency, &description, email.as_deref(), &key)
                .await?;
            // The payment, fetched, is the truth about what was refunded.
            let payment = client.get_payment(&payment_id).await?;
            if payment.order_id() == Some(order.order_id) {
                super::yookassa::notification::act_on_payment(pool, &payments.settings, &payment).await?;
            }
            RefundView {
                provider: "yookassa".into(),
                provider_refund_id: refund.id,
                amount,
                status: refund.status,
                idempotency_key: key,
            }
        }
        other => return Err(PaymentError::NotRefundable(format!("orders paid through {other} cannot be refunded"))),
    };
    tracing::info!(order_id = %order.order_id, amount, provider = %view.provider, status = %view.status, "refund made");
    Ok(view)
}

/// The order again, after a refund.
pub async fn reload(pool: &PgPool, order_id: Uuid) -> Result<OrderView, PaymentError> {
    orders::get(pool, order_id).await?.ok_or(PaymentError::OrderNotFound)
}
