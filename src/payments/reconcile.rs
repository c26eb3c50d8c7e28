//! `payments.reconcile`, periodic: a webhook is a hint and the provider's API is the truth, so
//! what the hints may have missed is pulled from the API and applied —
//!
//! - orders still `pending` longer than `LECTERN_PAYMENTS_RECONCILE_AFTER` (a lost
//!   `checkout.session.completed`, a YooKassa notification that never came): the Checkout Session
//!   or the payment is fetched and acted on exactly as the buyer's return page does
//!   ([`refresh_order`]);
//! - subscriptions counted live whose period ended that long ago (a lost renewal or deletion):
//!   the subscription is fetched and its state stored, so its entitlements follow.
//!
//! Each object is marked checked when taken, so one that stays stuck (the provider is down, the
//! session is still open) waits its turn instead of filling every batch. Every application goes
//! through the same guarded updates as the webhooks, so a reconciliation racing an event grants
//! once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::orders::{self, OrderView};
use super::subscriptions::{self, ProviderState};
use super::{PaymentError, Payments};
use crate::jobs::{JobContext, JobError, JobHandler};

const BATCH: i64 = 100;

/// Brings a pending order up to date from its provider (the Checkout Session or the payment).
/// Does nothing for other orders, or when the provider is not configured.
pub async fn refresh_order(pool: &PgPool, payments: &Payments, order: &OrderView) -> Result<(), PaymentError> {
    if order.status != "pending" {
        return Ok(());
    }
    let Some(checkout_id) = order.provider_checkout_id.as_deref() else { return Ok(()) };
    match order.provider.as_str() {
        "stripe" => {
            let Some(stripe) = payments.stripe.as_ref() else { return Ok(()) };
            let session = stripe.retrieve_checkout_session(checkout_id).await?;
            match (session.status.as_deref(), session.payment_status.as_deref()) {
                (Some("complete"), Some("paid" | "no_payment_required")) => {
                    orders::mark_paid(
                        pool,
                        order.order_id,
                        session.payment_intent.as_deref(),
                        session.subscription.as_deref(),
                        &payments.settings,
                    )
                    .await?;
                }
                (Some("expired"), _) => {
                    orders::close_unpaid(pool, order.order_id, "expired").await?;
                }
                _ => {}
            }
        }
        "yookassa" => {
            let Some(yookassa) = payments.yookassa.as_ref() else { return Ok(()) };
            let payment = yookassa.get_payment(checkout_id).await?;
            if payment.order_id() == Some(order.order_id) {
                super::yookassa::notification::act_on_payment(pool, &payments.settings, &payment).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    pub orders_checked: usize,
    pub subscriptions_checked: usize,
    /// Objects the provider could not be asked about (retried at a later run).
    pub failures: usize,
}

/// One pass over stale pending orders and subscriptions past their period end.
pub async fn run_once(pool: &PgPool, payments: &Payments, now: OffsetDateTime) -> Result<Reconciled, PaymentError> {
    let after = time::Duration::try_from(payments.settings.reconcile_after).unwrap_or(time::Duration::minutes(30));
    let mut done = Reconciled::default();
    for order in orders::take_stale_pending(pool, now - after, BATCH).await? {
        done.orders_checked += 1;
        if let Err(error) = refresh_order(pool, payments, &order).await {
            done.failures += 1;
            tracing::warn!(order_id = %order.order_id, error = %crate::error_chain(&error), "reconciling an order failed");
        }
    }
    for due in subscriptions::take_past_period_end(pool, now - after, now - after, BATCH).await? {
        done.subscriptions_checked += 1;
        if let Err(error) = refresh_subscription(pool, payments, &due).await {
            done.failures += 1;
            tracing::warn!(subscription_id = %due.subscription_id, error = %crate::error_chain(&error),
                "reconciling a subscription failed");
        }
    }
    Ok(done)
}

async fn refresh_subscription(
    pool: &PgPool,
    payments: &Payments,
    due: &subscriptions::DueSubscription,
) -> Result<(), PaymentError> {
    // YooKassa has no subscription object: its renewals are Lectern's own charges.
    let (Some(stripe), "stripe") = (payments.stripe.as_ref(), due.provider.as_str()) else { return Ok(()) };
    let subscription = stripe.retrieve_subscription(&due.provider_subscription_id).await?;
    let period_end = subscription.period_end().and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok());
    let state = ProviderState {
        status: &subscription.status,
        current_period_end: period_end,
        cancel_at_period_end: subscription.cancel_at_period_end,
    };
    let mut tx = pool.begin().await?;
    let changes = subscriptions::update_from_provider(
        &mut tx,
        &due.provider,
        &due.provider_subscription_id,
        None,
        &state,
        &payments.settings,
    )
    .await?;
    tx.commit().await?;
    if let Some(changes) = changes {
        changes.after_commit(pool).await;
    }
    Ok(())
}

pub struct PaymentReconcile {
    payments: Arc<Payments>,
}

impl PaymentReconcile {
    pub const KIND: &'static str = "payments.reconcile";

    pub fn new(payments: Arc<Payments>) -> Self {
        Self { payments }
    }
}

#[async_trait]
impl JobHandler for PaymentReconcile {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn every(&self) -> Option<Duration> {
        self.payments.settings.enabled().then_some(self.payments.settings.reconcile_interval)
    }

    async fn run(&self, context: JobContext, _payload: serde_json::Value) -> Result<(), JobError> {
        let done = run_once(&context.pool, &self.payments, OffsetDateTime::now_utc())
            .await
            .map_err(|error| JobError::retry(crate::error_chain(&error)))?;
        if done != Reconciled::default() {
            tracing::info!(
                orders = done.orders_checked,
                subscriptions = done.subscriptions_checked,
                failures = done.failures,
                "payments reconciled with the providers"
            );
        }
        Ok(())
    }
}
