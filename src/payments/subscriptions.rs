//! All SQL of `subscription`, and the entitlements a subscription's state implies ([`sync`]):
//!
//! - `active`, `trialing`: access; until the period end when it is set to cancel then;
//! - `past_due`: access for the grace period from when it became past due (the provider is
//!   retrying the payment);
//! - `canceled`: access until the period end already paid for, then none;
//! - `unpaid`, `incomplete_expired`: none (expired); `incomplete`, `paused`: suspended.
//!
//! The provider's state is stored as it says it; [`sync`] derives the entitlements from it, so
//! replaying an event or receiving them out of order converges on the same access.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::entitlements::{self, Changes, Source};
use super::{PaymentError, PaymentSettings, catalogue};

/// The fields of a provider's subscription that access depends on.
#[derive(Debug, Clone)]
pub struct ProviderState<'a> {
    pub status: &'a str,
    pub current_period_end: Option<OffsetDateTime>,
    pub cancel_at_period_end: bool,
}

/// The subscription a paid plan order started (status `active` until the provider says more).
pub async fn upsert_from_order(
    conn: &mut PgConnection,
    account_id: Uuid,
    price_id: Uuid,
    order_id: Uuid,
    provider: &str,
    reference: &str,
) -> Result<Uuid, PaymentError> {
    Ok(sqlx::query_scalar!(
        r#"
        insert into subscription (account_id, price_id, order_id, provider, provider_subscription_id, status)
        values ($1, $2, $3, $4, $5, 'active')
        on conflict (provider, provider_subscription_id) do update set order_id = excluded.order_id
        returning subscription_id
        "#,
        account_id,
        price_id,
        order_id,
        provider,
        reference,
    )
    .fetch_one(conn)
    .await?)
}

/// Records the provider's state of a subscription of `order_id` (its checkout's order) and
/// brings its entitlements in line. Unknown orders are ignored (`None`).
pub async fn update_from_provider(
    conn: &mut PgConnection,
    provider: &str,
    reference: &str,
    order_id: Option<Uuid>,
    state: &ProviderState<'_>,
    settings: &PaymentSettings,
) -> Result<Option<Changes>, PaymentError> {
    let existing = sqlx::query_scalar!(
        "select subscription_id from subscription where provider = $1 and provider_subscription_id = $2 for update",
        provider,
        reference,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let subscription_id = match existing {
        Some(id) => id,
        None => {
            // Created before the checkout's completion was handled: start it from the order,
            // but only once the order is paid (a subscription event is not proof of payment).
            let Some(order_id) = order_id else { return Ok(None) };
            let order = sqlx::query!(
                "select account_id, price_id from payment_order where order_id = $1 and status = 'paid'",
                order_id
            )
            .fetch_optional(&mut *conn)
            .await?;
            let Some(order) = order else { return Ok(None) };
            upsert_from_order(conn, order.account_id, order.price_id, order_id, provider, reference).await?
        }
    };
    let changed = sqlx::query!(
        r#"
        update subscription set status = $2, current_period_end = coalesce($3, current_period_end),
               cancel_at_period_end = $4,
               past_due_since = case when $2 = 'past_due' then coalesce(past_due_since, now()) end
        where subscription_id = $1
          and (status, current_period_end, cancel_at_period_end)
              is distinct from ($2, coalesce($3, current_period_end), $4)
        "#,
        subscription_id,
        state.status,
        state.current_period_end,
        state.cancel_at_period_end,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed > 0 {
        record_updated(conn, subscription_id).await?;
    }
    Ok(Some(sync(conn, subscription_id, settings).await?))
}

/// Sets only the status (an invoice paid or failed), keeping the rest.
pub async fn set_status(
    conn: &mut PgConnection,
    provider: &str,
    reference: &str,
    status: &str,
    settings: &PaymentSettings,
) -> Result<Option<Changes>, PaymentError> {
    let row = sqlx::query!(
        r#"
        with old as (select subscription_id, status from subscription
                     where provider = $1 and provider_subscription_id = $2 for update)
        update subscription s set status = $3,
               past_due_since = case when $3 = 'past_due' then coalesce(s.past_due_since, now()) end
        from old where s.subscription_id = old.subscription_id
        returning s.subscription_id, old.status as "old_status!"
        "#,
        provider,
        reference,
        status,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.old_status != status {
        record_updated(conn, row.subscription_id).await?;
    }
    Ok(Some(sync(conn, row.subscription_id, settings).await?))
}

/// Records `subscription.updated` for the plan's seller with the subscription as stored now, in
/// the transaction of the change.
pub async fn record_updated(conn: &mut PgConnection, subscription_id: Uuid) -> Result<(), PaymentError> {
    let row = sqlx::query!(
        r#"
        select subscription_id, account_id, price_id, order_id, provider, provider_subscription_id, status,
               current_period_end, cancel_at_period_end, past_due_since
        from subscription where subscription_id = $1
        "#,
        subscription_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    let sale = catalogue::price_for_sale(&mut *conn, row.price_id).await?.ok_or(PaymentError::PriceNotFound)?;
    let rfc3339 =
        |at: Option<OffsetDateTime>| at.and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok());
    let data = serde_json::json!({
        "subscription_id": row.subscription_id, "account_id": row.account_id, "price_id": row.price_id,
        "order_id": row.order_id, "provider": row.provider, "provider_subscription_id": row.provider_subscription_id,
        "status": row.status, "current_period_end": rfc3339(row.current_period_end),
        "cancel_at_period_end": row.cancel_at_period_end, "past_due_since": rfc3339(row.past_due_since),
        "course_ids": sale.course_ids,
    });
    crate::webhooks::dispatch::record_account_event(&mut *conn, sale.owner_id, "subscription.updated", data).await?;
    Ok(())
}

/// A subscription the reconciliation asks its provider about.
#[derive(Debug, Clone)]
pub struct DueSubscription {
    pub subscription_id: Uuid,
    pub provider: String,
    pub provider_subscription_id: String,
}

/// Subscriptions still counted live (`active`, `trialing`, `past_due`) whose period ended before
/// `ended_before` and that were not checked since `checked_before`: the renewal's or the end's
/// event may have been lost. Each is marked checked now.
pub async fn take_past_period_end(
    pool: &sqlx::PgPool,
    ended_before: OffsetDateTime,
    checked_before: OffsetDateTime,
    limit: i64,
) -> Result<Vec<DueSubscription>, PaymentError> {
    Ok(sqlx::query_as!(
        DueSubscription,
        r#"
        update subscription set provider_checked_at = now()
        where subscription_id in (select subscription_id from subscription
                                  where status in ('active', 'trialing', 'past_due')
                                    and current_period_end < $1
                                    and (provider_checked_at is null or provider_checked_at < $2)
                                  order by provider_checked_at nulls first, current_period_end
                                  limit $3 for update skip locked)
        returning subscription_id, provider, provider_subscription_id
        "#,
        ended_before,
        checked_before,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// Derives the subscription's entitlements from its stored state (see the module's docs).
pub async fn sync(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    settings: &PaymentSettings,
) -> Result<Changes, PaymentError> {
    let row = sqlx::query!(
        r#"
        select account_id, price_id, status, current_period_end, cancel_at_period_end, past_due_since
        from subscription where subscription_id = $1
        "#,
        subscription_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    let sale = catalogue::price_for_sale(&mut *conn, row.price_id).await?.ok_or(PaymentError::PriceNotFound)?;
    let now = OffsetDateTime::now_utc();
    let grace = time::Duration::try_from(settings.past_due_grace).unwrap_or(time::Duration::days(3));
    let grant_until = |ends_at: Option<OffsetDateTime>| Some(ends_at);
    let until = match row.status.as_str() {
        "active" | "trialing" if row.cancel_at_period_end => grant_until(row.current_period_end),
        "active" | "trialing" => grant_until(None),
        "past_due" => grant_until(Some(row.past_due_since.unwrap_or(now) + grace)),
        "canceled" => match row.current_period_end {
            Some(end) if end > now => grant_until(Some(end)),
            _ => None,
        },
        _ => None,
    };
    let mut changes = Changes::default();
    match until {
        Some(ends_at) => {
            changes.merge(
                entitlements::grant(
                    conn,
                    row.account_id,
                    &sale.course_ids,
                    Source::Subscription,
                    subscription_id,
                    ends_at,
                )
                .await?
                .1,
            );
        }
        None => {
            let to = if matches!(row.status.as_str(), "incomplete" | "paused") { "suspended" } else { "expired" };
            changes.merge(entitlements::end(conn, Source::Subscription, subscription_id, to, &row.status).await?.1);
        }
    }
    Ok(changes)
}

/// Revokes the entitlements of the subscriptions an order started (a refunded or charged-back
/// first payment).
pub async fn end_for_order(conn: &mut PgConnection, order_id: Uuid, reason: &str) -> Result<Changes, PaymentError> {
    let mut changes = Changes::default();
    for id in for_order(conn, order_id).await? {
        changes.merge(entitlements::end(conn, Source::Subscription, id, "revoked", reason).await?.1);
    }
    Ok(changes)
}

pub async fn suspend_for_order(conn: &mut PgConnection, order_id: Uuid) -> Result<Changes, PaymentError> {
    let mut changes = Changes::default();
    for id in for_order(conn, order_id).await? {
        changes.merge(entitlements::end(conn, Source::Subscription, id, "suspended", "disputed").await?.1);
    }
    Ok(changes)
}

pub async fn restore_for_order(conn: &mut PgConnection, order_id: Uuid) -> Result<Changes, PaymentError> {
    let mut changes = Changes::default();
    for id in for_order(conn, order_id).await? {
        changes.merge(entitlements::restore(conn, Source::Subscription, id).await?);
    }
    Ok(changes)
}

async fn for_order(conn: &mut PgConnection, order_id: Uuid) -> Result<Vec<Uuid>, PaymentError> {
    Ok(sqlx::query_scalar!("select subscription_id from subscription where order_id = $1", order_id)
        .fetch_all(conn)
        .await?)
}

/// The reference of the subscription a YooKassa plan order starts (YooKassa has no subscription
/// object of its own).
pub fn yookassa_reference(order_id: Uuid) -> String {
    format!("lectern-{order_id}")
}

/// Starts a YooKassa subscription's first period (from now, one interval of its price) and keeps
/// the saved payment method its renewals charge (without one, the first renewal fails and the
/// past-due grace runs out). Idempotent: a period already started stays. Nothing happens for a
/// reference no subscription has (a one-time order).
pub async fn start_yookassa(
    pool: &sqlx::PgPool,
    reference: &str,
    payment_method_id: Option<&str>,
    settings: &PaymentSettings,
) -> Result<(), PaymentError> {
    let mut tx = pool.begin().await?;
    let started = sqlx::query_scalar!(
        r#"
        update subscription s
        set provider_payment_method_id = $2,
            current_period_end = now() + case pr.recurring_interval when 'year' then interval '1 year'
                                                                   else interval '1 month' end
        from price pr
        where s.provider = 'yookassa' and s.provider_subscription_id = $1 and pr.price_id = s.price_id
          and s.current_period_end is null
        returning s.subscription_id
        "#,
        reference,
        payment_method_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let mut changes = Changes::default();
    if let Some(subscription_id) = started {
        record_updated(&mut tx, subscription_id).await?;
        changes.merge(sync(&mut tx, subscription_id, settings).await?);
    }
    tx.commit().await?;
    changes.after_commit(pool).await;
    Ok(())
}

/// What a YooKassa renewal needs.
#[derive(Debug, Clone)]
pub struct Renewal {
    pub subscription_id: Uuid,
    pub account_id: Uuid,
    pub provider_subscription_id: String,
    pub payment_method_id: Option<String>,
    pub current_period_end: Option<OffsetDateTime>,
    pub cancel_at_period_end: bool,
    pub amount: i64,
    pub currency: String,
    /// `month` or `year`.
    pub interval: Option<String>,
}

pub async fn renewal(pool: &sqlx::PgPool, subscription_id: Uuid) -> Result<Option<Renewal>, PaymentError> {
    Ok(sqlx::query_as!(
        Renewal,
        r#"
        select s.subscription_id, s.account_id, s.provider_subscription_id,
               s.provider_payment_method_id as payment_method_id, s.current_period_end, s.cancel_at_period_end,
               coalesce(o.amount, pr.unit_amount) as "amount!", pr.currency, pr.recurring_interval as interval
        from subscription s join price pr using (price_id) left join payment_order o using (order_id)
        where s.subscription_id = $1
        "#,
        subscription_id,
    )
    .fetch_optional(pool)
    .await?)
}

/// A subscriber's (or an administrator's) cancel: access to the end of the period paid for, no
/// renewal. For YooKassa plans, which Lectern renews itself; Stripe's are cancelled at Stripe.
pub async fn cancel_at_period_end(
    pool: &sqlx::PgPool,
    subscription_id: Uuid,
    settings: &PaymentSettings,
) -> Result<bool, PaymentError> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query_scalar!(
        r#"
        update subscription set cancel_at_period_end = true
        where subscription_id = $1 and provider = 'yookassa' and not cancel_at_period_end
          and status in ('active', 'trialing', 'past_due')
        returning subscription_id
        "#,
        subscription_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let mut changes = Changes::default();
    if changed.is_some() {
        record_updated(&mut tx, subscription_id).await?;
        changes.merge(sync(&mut tx, subscription_id, settings).await?);
    }
    tx.commit().await?;
    changes.after_commit(pool).await;
    Ok(changed.is_some())
}

/// A subscription with its holder, for the cancel endpoint.
pub async fn holder(pool: &sqlx::PgPool, subscription_id: Uuid) -> Result<Option<(Uuid, String)>, PaymentError> {
    let row = sqlx::query!("select account_id, provider from subscription where subscription_id = $1", subscription_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|row| (row.account_id, row.provider)))
}
