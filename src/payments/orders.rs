//! All SQL of `payment_order`, and what each of its transitions does to entitlements.
//!
//! `created → pending → paid → partially_refunded → refunded`, `paid → disputed → paid |
//! charged_back`, `created|pending → canceled | expired | failed`. Every transition is one
//! `update … where status in (<allowed predecessors>)` inside a transaction that also writes the
//! entitlements, so a webhook delivered twice, or the webhook racing the buyer's return page,
//! moves the order once and grants once: the loser's update matches no row.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use super::catalogue;
use super::entitlements::{self, Changes, Source};
use super::{PaymentError, PaymentSettings};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    pub order_id: Uuid,
    pub account_id: Uuid,
    pub price_id: Uuid,
    pub coupon_id: Option<Uuid>,
    /// What the buyer pays, in minor units.
    pub amount: i64,
    pub currency: String,
    /// `created`, `pending`, `paid`, `partially_refunded`, `refunded`, `disputed`,
    /// `charged_back`, `canceled`, `expired` or `failed`.
    pub status: String,
    /// `none` (free), `stripe` or `yookassa`.
    pub provider: String,
    pub provider_checkout_id: Option<String>,
    pub refunded_amount: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paid_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

pub async fn get<'c>(executor: impl sqlx::PgExecutor<'c>, order_id: Uuid) -> Result<Option<OrderView>, PaymentError> {
    Ok(sqlx::query_as!(
        OrderView,
        r#"
        select order_id, account_id, price_id, coupon_id, amount, currency, status, provider, provider_checkout_id,
               refunded_amount, paid_at, created_at
        from payment_order where order_id = $1
        "#,
        order_id,
    )
    .fetch_optional(executor)
    .await?)
}

/// The order a provider's payment belongs to.
pub async fn by_payment(pool: &PgPool, provider: &str, payment_id: &str) -> Result<Option<Uuid>, PaymentError> {
    Ok(sqlx::query_scalar!(
        "select order_id from payment_order where provider = $1 and provider_payment_id = $2",
        provider,
        payment_id,
    )
    .fetch_optional(pool)
    .await?)
}

/// The provider's payment of an order (what a refund names).
pub async fn payment_ref(pool: &PgPool, order_id: Uuid) -> Result<Option<String>, PaymentError> {
    Ok(sqlx::query_scalar!("select provider_payment_id from payment_order where order_id = $1", order_id)
        .fetch_optional(pool)
        .await?
        .flatten())
}

/// Pending orders created before `older_than` that the reconciliation has not asked the
/// provider about since then, least recently checked first; each is marked checked now.
pub async fn take_stale_pending(
    pool: &PgPool,
    older_than: OffsetDateTime,
    limit: i64,
) -> Result<Vec<OrderView>, PaymentError> {
    Ok(sqlx::query_as!(
        OrderView,
        r#"
        update payment_order set provider_checked_at = now()
        where order_id in (select order_id from payment_order
                           where status = 'pending' and provider <> 'none' and created_at < $1
                             and (provider_checked_at is null or provider_checked_at < $1)
                           order by provider_checked_at nulls first, created_at
                           limit $2 for update skip locked)
        returning order_id, account_id, price_id, coupon_id, amount, currency, status, provider, provider_checkout_id,
                  refunded_amount, paid_at, created_at
        "#,
        older_than,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

pub async fn create(
    conn: &mut PgConnection,
    account_id: Uuid,
    price_id: Uuid,
    coupon_id: Option<Uuid>,
    amount: i64,
    currency: &str,
    provider: &str,
) -> Result<OrderView, PaymentError> {
    Ok(sqlx::query_as!(
        OrderView,
        r#"
        insert into payment_order (account_id, price_id, coupon_id, amount, currency, provider)
        values ($1, $2, $3, $4, $5, $6)
        returning order_id, account_id, price_id, coupon_id, amount, currency, status, provider, provider_checkout_id,
                  refunded_amount, paid_at, created_at
        "#,
        account_id,
        price_id,
        coupon_id,
        amount,
        currency,
        provider,
    )
    .fetch_one(conn)
    .await?)
}

/// `created → pending`: the provider's checkout exists.
pub async fn mark_pending(pool: &PgPool, order_id: Uuid, checkout_id: &str) -> Result<(), PaymentError> {
    sqlx::query!(
        r#"
        update payment_order set status = 'pending', provider_checkout_id = $2
        where order_id = $1 and status in ('created', 'pending')
        "#,
        order_id,
        checkout_id,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// What a fulfilment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fulfilment {
    /// This call moved the order to `paid` (and granted, unless a refund came first).
    Paid,
    /// The order was already past `pending`: nothing changed.
    AlreadyDone,
}

/// `created|pending → paid`, granting the product's courses in the same transaction. A refund
/// that arrived before (recorded in `refunded_amount`) is applied at once, so the order ends
/// `refunded` and grants nothing. `subscription_ref` is the provider's subscription of a plan.
pub async fn mark_paid(
    pool: &PgPool,
    order_id: Uuid,
    payment_id: Option<&str>,
    subscription_ref: Option<&str>,
    settings: &PaymentSettings,
) -> Result<Fulfilment, PaymentError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"
        update payment_order set status = 'paid', paid_at = now(), provider_payment_id = coalesce($2, provider_payment_id)
        where order_id = $1 and status in ('created', 'pending')
        returning account_id, price_id, amount, refunded_amount, paid_at as "paid_at!", provider
        "#,
        order_id,
        payment_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(Fulfilment::AlreadyDone) };
    let sale = catalogue::price_for_sale(&mut *tx, row.price_id).await?.ok_or(PaymentError::PriceNotFound)?;
    let partial_refund_revokes = super::policy::partial_refund_revokes(&mut tx, sale.owner_id, settings).await?;
    let mut changes = Changes::default();
    let fully_refunded = row.amount > 0 && row.refunded_amount >= row.amount;
    let partially_refunded = row.refunded_amount > 0 && !fully_refunded;
    if fully_refunded {
        set_status(&mut tx, order_id, "refunded").await?;
    } else if partially_refunded {
        set_status(&mut tx, order_id, "partially_refunded").await?;
    }
    // A refund that came first and takes the access away means nothing is granted at all.
    let refunded_away = fully_refunded || (partially_refunded && partial_refund_revokes);
    if !refunded_away {
        match (sale.product_kind.as_str(), subscription_ref) {
            ("plan", Some(reference)) => {
                let subscription_id = super::subscriptions::upsert_from_order(
                    &mut tx,
                    row.account_id,
                    row.price_id,
                    order_id,
                    &row.provider,
                    reference,
                )
                .await?;
                super::subscriptions::record_updated(&mut tx, subscription_id).await?;
                changes.merge(super::subscriptions::sync(&mut tx, subscription_id, settings).await?);
            }
            _ => {
                let ends_at = sale.price.access_days.map(|days| row.paid_at + Duration::days(i64::from(days)));
                let (_, granted) =
                    entitlements::grant(&mut tx, row.account_id, &sale.course_ids, Source::Order, order_id, ends_at)
                        .await?;
                changes.merge(granted);
            }
        }
    }
    crate::webhooks::dispatch::record_account_event(
        &mut tx,
        sale.owner_id,
        "order.paid",
        serde_json::json!({ "order_id": order_id, "account_id": row.account_id, "price_id": row.price_id,
                            "amount": row.amount, "course_ids": sale.course_ids }),
    )
    .await?;
    tx.commit().await?;
    changes.after_commit(pool).await;
    Ok(Fulfilment::Paid)
}

async fn set_status(conn: &mut PgConnection, order_id: Uuid, status: &str) -> Result<(), PaymentError> {
    sqlx::query!("update payment_order set status = $2 where order_id = $1", order_id, status).execute(conn).await?;
    Ok(())
}

/// `created|pending → canceled | expired | failed`; a paid order does not move.
pub async fn close_unpaid(pool: &PgPool, order_id: Uuid, to: &str) -> Result<bool, PaymentError> {
    let done = sqlx::query!(
        "update payment_order set status = $2 where order_id = $1 and status in ('created', 'pending')",
        order_id,
        to,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The provider says `refunded_total` (cumulative, minor units) of the order was refunded.
/// Idempotent: the total only grows. A full refund revokes; a partial one revokes when the
/// seller's setting says so. Before the order is paid, the refund is recorded and
/// [`mark_paid`] applies it.
pub async fn apply_refund(
    pool: &PgPool,
    order_id: Uuid,
    refunded_total: i64,
    settings: &PaymentSettings,
) -> Result<(), PaymentError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"
        select status, amount, refunded_amount, account_id, price_id from payment_order where order_id = $1 for update
        "#,
        order_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(PaymentError::OrderNotFound)?;
    let total = refunded_total.clamp(row.refunded_amount, row.amount);
    if total == row.refunded_amount && row.status != "paid" {
        return Ok(());
    }
    let full = total >= row.amount;
    let status = match row.status.as_str() {
        "created" | "pending" => {
            sqlx::query!(
                "update payment_order set refunded_amount = $2, reversed_early = true where order_id = $1",
                order_id,
                total
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(());
        }
        "paid" | "partially_refunded" | "disputed" if full => "refunded",
        "paid" | "partially_refunded" | "disputed" => "partially_refunded",
        _ => return Ok(()),
    };
    if total == row.refunded_amount {
        return Ok(());
    }
    sqlx::query!(
        "update payment_order set refunded_amount = $2, status = $3 where order_id = $1",
        order_id,
        total,
        status
    )
    .execute(&mut *tx)
    .await?;
    let sale = catalogue::price_for_sale(&mut *tx, row.price_id).await?.ok_or(PaymentError::PriceNotFound)?;
    let mut changes = Changes::default();
    if full || super::policy::partial_refund_revokes(&mut tx, sale.owner_id, settings).await? {
        let (_, ended) = entitlements::end(&mut tx, Source::Order, order_id, "revoked", "refunded").await?;
        changes.merge(ended);
        changes.merge(super::subscriptions::end_for_order(&mut tx, order_id, "refunded").await?);
    }
    crate::webhooks::dispatch::record_account_event(
        &mut tx,
        sale.owner_id,
        "order.refunded",
        serde_json::json!({ "order_id": order_id, "account_id": row.account_id, "refunded_amount": total,
                            "full": full }),
    )
    .await?;
    tx.commit().await?;
    changes.after_commit(pool).await;
    Ok(())
}

/// A dispute opened (`paid → disputed`, access suspended) or closed (`won`: back to paid and
/// access restored; `lost`: `charged_back`, access revoked).
pub async fn apply_dispute(pool: &PgPool, order_id: Uuid, outcome: DisputeOutcome) -> Result<(), PaymentError> {
    let mut tx = pool.begin().await?;
    let mut changes = Changes::default();
    match outcome {
        DisputeOutcome::Opened => {
            let moved = sqlx::query!(
                "update payment_order set status = 'disputed' where order_id = $1 and status in ('paid', 'partially_refunded')",
                order_id,
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved > 0 {
                changes.merge(entitlements::end(&mut tx, Source::Order, order_id, "suspended", "disputed").await?.1);
                changes.merge(super::subscriptions::suspend_for_order(&mut tx, order_id).await?);
            }
        }
        DisputeOutcome::Won => {
            let moved = sqlx::query!(
                r#"
                update payment_order set status = case when refunded_amount > 0 then 'partially_refunded' else 'paid' end
                where order_id = $1 and status = 'disputed'
                "#,
                order_id,
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved > 0 {
                changes.merge(entitlements::restore(&mut tx, Source::Order, order_id).await?);
                changes.merge(super::subscriptions::restore_for_order(&mut tx, order_id).await?);
            }
        }
        DisputeOutcome::Lost => {
            let moved = sqlx::query!(
                "update payment_order set status = 'charged_back' where order_id = $1 and status in ('paid', 'partially_refunded', 'disputed')",
                order_id,
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved > 0 {
                changes.merge(entitlements::end(&mut tx, Source::Order, order_id, "revoked", "charged_back").await?.1);
                changes.merge(super::subscriptions::end_for_order(&mut tx, order_id, "charged_back").await?);
            }
        }
    }
    tx.commit().await?;
    changes.after_commit(pool).await;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeOutcome {
    Opened,
    Won,
    Lost,
}
