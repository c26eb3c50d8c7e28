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
    if due.provider == "yookassa" {
        return renew_yookassa(pool, payments, due).await;
    }
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

/// Renews a YooKassa subscription whose period ended: charges the saved payment method once per
/// period (the idempotence key names the period, so a retried run gets the same payment back),
/// then extends the period (`succeeded`), or marks it past due (`canceled`: the grace runs);
/// a pending charge is looked at again at the next run. One set to cancel just ends.
async fn renew_yookassa(
    pool: &PgPool,
    payments: &Payments,
    due: &subscriptions::DueSubscription,
) -> Result<(), PaymentError> {
    let Some(yookassa) = payments.yookassa.as_ref() else { return Ok(()) };
    let Some(renewal) = subscriptions::renewal(pool, due.subscription_id).await? else { return Ok(()) };
    let Some(period_end) = renewal.current_period_end else { return Ok(()) };
    let outcome = if renewal.cancel_at_period_end {
        Some(("canceled", period_end))
    } else if let Some(method) = renewal.payment_method_id.as_deref() {
        let key = format!("lectern-renewal-{}-{}", renewal.subscription_id, period_end.unix_timestamp());
        let email = crate::auth::accounts::find(pool, renewal.account_id).await?.map(|account| account.email);
        let description = format!("Renewal of subscription {}", renewal.subscription_id);
        let payment = yookassa
            .create_recurring_payment(
                method,
                renewal.amount,
                &renewal.currency,
                &description,
                renewal.subscription_id,
                email.as_deref(),
                &key,
            )
            .await?;
        let next = match renewal.interval.as_deref() {
            Some("year") => {
                period_end.replace_year(period_end.year() + 1).unwrap_or(period_end + time::Duration::days(365))
            }
            _ => add_month(period_end),
        };
        match payment.status.as_str() {
            "succeeded" => Some(("active", next)),
            "canceled" => Some(("past_due", period_end)),
            _ => None,
        }
    } else {
        Some(("past_due", period_end))
    };
    let Some((status, current_period_end)) = outcome else { return Ok(()) };
    let state = ProviderState {
        status,
        current_period_end: Some(current_period_end),
        cancel_at_period_end: renewal.cancel_at_period_end,
    };
    let mut tx = pool.begin().await?;
    let changes = subscriptions::update_from_provider(
        &mut tx,
        "yookassa",
        &renewal.provider_subscription_id,
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

/// The same day of the next month, or its last day (31 January → 28/29 February).
fn add_month(at: OffsetDateTime) -> OffsetDateTime {
    let (year, month) = if at.month() == time::Month::December {
        (at.year() + 1, time::Month::January)
    } else {
        (at.year(), at.month().next())
    };
    let last = month.length(year);
    at.replace_day(1)
        .and_then(|first| first.replace_year(year))
        .and_then(|first| first.replace_month(month))
        .and_then(|first| first.replace_day(at.day().min(last)))
        .unwrap_or(at + time::Duration::days(30))
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

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::add_month;

    #[test]
    fn a_month_later_is_the_same_day_or_the_months_last() {
        assert_eq!(add_month(datetime!(2026-01-15 10:00 UTC)), datetime!(2026-02-15 10:00 UTC));
        assert_eq!(add_month(datetime!(2026-01-31 10:00 UTC)), datetime!(2026-02-28 10:00 UTC));
        assert_eq!(add_month(datetime!(2028-01-31 10:00 UTC)), datetime!(2028-02-29 10:00 UTC));
        assert_eq!(add_month(datetime!(2026-12-31 23:59 UTC)), datetime!(2027-01-31 23:59 UTC));
    }
}
