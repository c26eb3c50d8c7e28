//! All SQL of `product`, `product_course`, `price` and `coupon`: what is sold, for how much, and
//! the discounts. Values are validated by the routes before they reach here; the table checks
//! are the last line.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::PaymentError;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductView {
    pub product_id: Uuid,
    pub owner_id: Uuid,
    /// `course`, `bundle` or `plan`.
    pub kind: String,
    pub title: String,
    pub active: bool,
    pub course_ids: Vec<Uuid>,
    pub prices: Vec<PriceView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceView {
    pub price_id: Uuid,
    pub product_id: Uuid,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Minor units (cents, kopecks).
    pub unit_amount: i64,
    /// `one_time` or `recurring`.
    pub kind: String,
    /// `month` or `year` for a recurring price.
    pub recurring_interval: Option<String>,
    /// Days a one-time purchase opens its courses; null: for good.
    pub access_days: Option<i32>,
    pub active: bool,
}

/// A price with what checkout needs of its product.
#[derive(Debug, Clone)]
pub struct PriceForSale {
    pub price: PriceView,
    pub product_kind: String,
    pub product_title: String,
    pub product_active: bool,
    pub owner_id: Uuid,
    pub course_ids: Vec<Uuid>,
}

pub struct NewProduct<'a> {
    pub owner_id: Uuid,
    pub kind: &'a str,
    pub title: &'a str,
    pub course_ids: &'a [Uuid],
}

/// Creates a product of `course_ids`, which must all be courses of the owner unless `admin`.
pub async fn create_product(
    conn: &mut PgConnection,
    new: &NewProduct<'_>,
    admin: bool,
) -> Result<ProductView, PaymentError> {
    let owned = sqlx::query_scalar!(
        r#"select count(*) as "n!" from course where course_id = any($1) and ($2 or owner_id = $3)"#,
        new.course_ids,
        admin,
        new.owner_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    if usize::try_from(owned).unwrap_or(0) != new.course_ids.len() {
        return Err(PaymentError::CourseNotFound);
    }
    let product_id = sqlx::query_scalar!(
        "insert into product (owner_id, kind, title) values ($1, $2, $3) returning product_id",
        new.owner_id,
        new.kind,
        new.title,
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into product_course (product_id, course_id) select $1, unnest($2::uuid[])",
        product_id,
        new.course_ids,
    )
    .execute(&mut *conn)
    .await?;
    get_product(&mut *conn, product_id).await?.ok_or(PaymentError::ProductNotFound)
}

pub async fn get_product(conn: &mut PgConnection, product_id: Uuid) -> Result<Option<ProductView>, PaymentError> {
    let Some(row) = sqlx::query!(
        r#"
        select product_id, owner_id, kind, title, active,
               array(select course_id from product_course pc where pc.product_id = p.product_id order by course_id)
                   as "course_ids!"
        from product p where product_id = $1
        "#,
        product_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let prices = sqlx::query_as!(
        PriceView,
        r#"
        select price_id, product_id, currency, unit_amount, kind, recurring_interval, access_days, active
        from price where product_id = $1 order by created_at
        "#,
        product_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(ProductView {
        product_id: row.product_id,
        owner_id: row.owner_id,
        kind: row.kind,
        title: row.title,
        active: row.active,
        course_ids: row.course_ids,
        prices,
    }))
}

pub struct NewPrice<'a> {
    pub currency: &'a str,
    pub unit_amount: i64,
    pub recurring_interval: Option<&'a str>,
    pub access_days: Option<i32>,
}

pub async fn create_price(pool: &PgPool, product_id: Uuid, new: &NewPrice<'_>) -> Result<PriceView, PaymentError> {
    let kind = if new.recurring_interval.is_some() { "recurring" } else { "one_time" };
    Ok(sqlx::query_as!(
        PriceView,
        r#"
        insert into price (product_id, currency, unit_amount, kind, recurring_interval, access_days)
        values ($1, $2, $3, $4, $5, $6)
        returning price_id, product_id, currency, unit_amount, kind, recurring_interval, access_days, active
        "#,
        product_id,
        new.currency,
        new.unit_amount,
        kind,
        new.recurring_interval,
        new.access_days,
    )
    .fetch_one(pool)
    .await?)
}

pub async fn price_for_sale<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    price_id: Uuid,
) -> Result<Option<PriceForSale>, PaymentError> {
    let row = sqlx::query!(
        r#"
        select pr.price_id, pr.product_id, pr.currency, pr.unit_amount, pr.kind, pr.recurring_interval,
               pr.access_days, pr.active, p.kind as product_kind, p.title, p.active as product_active, p.owner_id,
               array(select course_id from product_course pc where pc.product_id = p.product_id) as "course_ids!"
        from price pr join product p using (product_id) where pr.price_id = $1
        "#,
        price_id,
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|row| PriceForSale {
        price: PriceView {
            price_id: row.price_id,
            product_id: row.product_id,
            currency: row.currency,
            unit_amount: row.unit_amount,
            kind: row.kind,
            recurring_interval: row.recurring_interval,
            access_days: row.access_days,
            active: row.active,
        },
        product_kind: row.product_kind,
        product_title: row.title,
        product_active: row.product_active,
        owner_id: row.owner_id,
        course_ids: row.course_ids,
    }))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CouponView {
    pub coupon_id: Uuid,
    pub code: String,
    pub percent_off: Option<i32>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    pub max_redemptions: Option<i32>,
    pub redemptions: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    /// False once archived: no more redemptions.
    pub active: bool,
}

pub struct NewCoupon<'a> {
    pub code: &'a str,
    pub percent_off: Option<i32>,
    pub amount_off: Option<i64>,
    pub currency: Option<&'a str>,
    pub max_redemptions: Option<i32>,
    pub expires_at: Option<OffsetDateTime>,
}

pub async fn create_coupon(pool: &PgPool, owner_id: Uuid, new: &NewCoupon<'_>) -> Result<CouponView, PaymentError> {
    let row = sqlx::query_as!(
        CouponView,
        r#"
        insert into coupon (owner_id, code, percent_off, amount_off, currency, max_redemptions, expires_at)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (code) do nothing
        returning coupon_id, code, percent_off, amount_off, currency, max_redemptions, redemptions, expires_at, active
        "#,
        owner_id,
        new.code,
        new.percent_off,
        new.amount_off,
        new.currency,
        new.max_redemptions,
        new.expires_at,
    )
    .fetch_optional(pool)
    .await?;
    row.ok_or(PaymentError::CouponExists)
}

/// Redeems a coupon for a price of `owner_id` in `currency` within the caller's transaction:
/// checks expiry, the redemption limit (counted with a guarded update, so two last buyers cannot
/// both take the last redemption) and the currency. Returns the coupon and the discounted amount.
pub async fn redeem(
    conn: &mut PgConnection,
    code: &str,
    owner_id: Uuid,
    currency: &str,
    amount: i64,
) -> Result<(Uuid, i64), PaymentError> {
    let row = sqlx::query!(
        r#"
        update coupon set redemptions = redemptions + 1
        where code = upper($1) and owner_id = $2
          and active and (expires_at is null or expires_at > now())
          and (max_redemptions is null or redemptions < max_redemptions)
        returning coupon_id, percent_off, amount_off, currency
        "#,
        code.trim(),
        owner_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| PaymentError::InvalidCoupon("this coupon does not exist, has expired or is used up".into()))?;
    let discounted = match (row.percent_off, row.amount_off) {
        (Some(percent), _) => amount - amount * i64::from(percent) / 100,
        (None, Some(off)) => {
            if row.currency.as_deref() != Some(currency) {
                return Err(PaymentError::InvalidCoupon(format!("this coupon is not for prices in {currency}")));
            }
            (amount - off).max(0)
        }
        (None, None) => amount,
    };
    Ok((row.coupon_id, discounted))
}

/// The products of `owner_id` (all of them when `None`), newest first, with their prices.
pub async fn list_products(
    conn: &mut PgConnection,
    owner_id: Option<Uuid>,
    include_archived: bool,
    limit: i64,
) -> Result<Vec<ProductView>, PaymentError> {
    let ids = sqlx::query_scalar!(
        r#"
        select product_id from product
        where ($1::uuid is null or owner_id = $1) and ($2 or active)
        order by created_at desc, product_id limit $3
        "#,
        owner_id,
        include_archived,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut products = Vec::with_capacity(ids.len());
    for product_id in ids {
        if let Some(product) = get_product(&mut *conn, product_id).await? {
            products.push(product);
        }
    }
    Ok(products)
}

/// Changes a product's title and/or archives (`active: false`) or restores it.
pub async fn update_product(
    conn: &mut PgConnection,
    product_id: Uuid,
    title: Option<&str>,
    active: Option<bool>,
) -> Result<ProductView, PaymentError> {
    sqlx::query!(
        "update product set title = coalesce($2, title), active = coalesce($3, active) where product_id = $1",
        product_id,
        title,
        active,
    )
    .execute(&mut *conn)
    .await?;
    get_product(conn, product_id).await?.ok_or(PaymentError::ProductNotFound)
}

/// A price with its product's owner (who may change it).
pub async fn price_owner(conn: &mut PgConnection, price_id: Uuid) -> Result<Option<Uuid>, PaymentError> {
    Ok(sqlx::query_scalar!(
        "select p.owner_id from price pr join product p using (product_id) where pr.price_id = $1",
        price_id
    )
    .fetch_optional(conn)
    .await?)
}

/// Archives (or restores) a price. Amounts never change: orders name their price, so a new
/// amount is a new price.
pub async fn set_price_active(
    conn: &mut PgConnection,
    price_id: Uuid,
    active: bool,
) -> Result<PriceView, PaymentError> {
    sqlx::query_as!(
        PriceView,
        r#"
        update price set active = $2 where price_id = $1
        returning price_id, product_id, currency, unit_amount, kind, recurring_interval, access_days, active
        "#,
        price_id,
        active,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(PaymentError::PriceNotFound)
}

/// The coupons of `owner_id` (all when `None`), newest first.
pub async fn list_coupons(pool: &PgPool, owner_id: Option<Uuid>, limit: i64) -> Result<Vec<CouponView>, PaymentError> {
    Ok(sqlx::query_as!(
        CouponView,
        r#"
        select coupon_id, code, percent_off, amount_off, currency, max_redemptions, redemptions, expires_at, active
        from coupon where ($1::uuid is null or owner_id = $1)
        order by created_at desc, coupon_id limit $2
        "#,
        owner_id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

pub async fn coupon_owner(pool: &PgPool, coupon_id: Uuid) -> Result<Option<Uuid>, PaymentError> {
    Ok(sqlx::query_scalar!("select owner_id from coupon where coupon_id = $1", coupon_id).fetch_optional(pool).await?)
}

/// What may change on a coupon: archiving, the limit (never below what was redeemed) and the
/// expiry (`Some(None)` clears it).
pub struct CouponChange {
    pub active: Option<bool>,
    pub max_redemptions: Option<Option<i32>>,
    pub expires_at: Option<Option<OffsetDateTime>>,
}

pub async fn update_coupon(pool: &PgPool, coupon_id: Uuid, change: &CouponChange) -> Result<CouponView, PaymentError> {
    let row = sqlx::query_as!(
        CouponView,
        r#"
        update coupon set active = coalesce($2, active),
               max_redemptions = case when $3 then $4 else max_redemptions end,
               expires_at = case when $5 then $6 else expires_at end
        where coupon_id = $1 and (not $3 or $4::integer is null or $4 >= redemptions)
        returning coupon_id, code, percent_off, amount_off, currency, max_redemptions, redemptions, expires_at, active
        "#,
        coupon_id,
        change.active,
        change.max_redemptions.is_some(),
        change.max_redemptions.flatten(),
        change.expires_at.is_some(),
        change.expires_at.flatten(),
    )
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| PaymentError::InvalidField("max_redemptions cannot be below the redemptions made".into()))
}
