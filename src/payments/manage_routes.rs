//! The seller's and the administrator's side of payments: listing and editing the catalogue
//! (products, prices, coupons: archived, never deleted, since orders name them), the seller's
//! refund policy, the refund quote and refunds through the provider. Entitlements by hand and
//! cancelling a plan are in [`super::access_routes`].

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PaymentError;
use super::catalogue::{self, CouponChange, CouponView, PriceView, ProductView};
use super::orders::{self, OrderView};
use super::policy::{self, PolicyView};
use super::refunds::{self, RefundView};
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::api_keys::Scope;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::{AccountId, CouponId, OrderId, PriceId, ProductId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products))
        .routes(routes!(update_product))
        .routes(routes!(update_price))
        .routes(routes!(list_coupons))
        .routes(routes!(update_coupon))
        .routes(routes!(get_policy, put_policy))
        .routes(routes!(refund_quote))
        .routes(routes!(refund))
}

fn invalid(message: impl Into<String>) -> PaymentError {
    PaymentError::InvalidField(message.into())
}

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The same for an RFC 3339 time.
fn nullable_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<OffsetDateTime>>, D::Error> {
    let raw = Option::<String>::deserialize(deserializer)?;
    raw.map(|raw| OffsetDateTime::parse(&raw, &time::format_description::well_known::Rfc3339))
        .transpose()
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Administrators: whose (default: everyone's). Others always see their own.
    pub owner_id: Option<Uuid>,
    /// Include archived products (default false).
    #[serde(default)]
    pub include_archived: bool,
    /// At most this many (1–500, default 100).
    pub limit: Option<i64>,
}

fn scope_of(principal: &Principal, query: &ListQuery) -> (Option<Uuid>, i64) {
    let owner = if principal.is_admin() { query.owner_id } else { Some(principal.account_id()) };
    (owner, query.limit.unwrap_or(100).clamp(1, 500))
}

/// The caller's products (an administrator's: everyone's, or `owner_id`'s), newest first.
#[utoipa::path(get, path = "/v1/products", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(ListQuery),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = Vec<ProductView>)))]
async fn list_products(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Vec<ProductView>>, ApiError> {
    principal.require_scope(Scope::CoursesRead).map_err(PaymentError::from)?;
    let (owner, limit) = scope_of(&principal, &query);
    let mut conn = state.pool.acquire().await.map_err(PaymentError::from)?;
    Ok(axum::Json(catalogue::list_products(&mut conn, owner, query.include_archived, limit).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    pub title: Option<String>,
    /// `false` archives the product: its prices can no longer be bought (orders and access
    /// already granted stay); `true` puts it back on sale.
    pub active: Option<bool>,
}

/// Renames, archives or restores a product of the caller.
#[utoipa::path(patch, path = "/v1/products/{product_id}", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("product_id" = Uuid, Path)),
    request_body = UpdateProduct,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = ProductView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`product_not_found`", body = ErrorBody),
    ))]
async fn update_product(
    State(state): State<AppState>,
    principal: Principal,
    product_id: ProductId,
    Json(request): Json<UpdateProduct>,
) -> Result<axum::Json<ProductView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(PaymentError::from)?;
    let title = request.title.as_deref().map(str::trim);
    if title.is_some_and(|t| t.is_empty() || t.chars().count() > 200) {
        return Err(invalid("title must be 1–200 characters").into());
    }
    let mut tx = state.pool.begin().await.map_err(PaymentError::from)?;
    match catalogue::get_product(&mut tx, product_id.0).await? {
        Some(product) if principal.may_manage(AccountId(product.owner_id)) => {}
        _ => return Err(PaymentError::ProductNotFound.into()),
    }
    let product = catalogue::update_product(&mut tx, product_id.0, title, request.active).await?;
    tx.commit().await.map_err(PaymentError::from)?;
    Ok(axum::Json(product))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePrice {
    /// `false` archives the price (no new checkouts); `true` restores it. Amounts never change:
    /// a new amount is a new price.
    pub active: bool,
}

/// Archives or restores a price of the caller's product.
#[utoipa::path(patch, path = "/v1/prices/{price_id}", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("price_id" = Uuid, Path)),
    request_body = UpdatePrice,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = PriceView),
        (status = NOT_FOUND, description = "`price_not_found`", body = ErrorBody),
    ))]
async fn update_price(
    State(state): State<AppState>,
    principal: Principal,
    price_id: PriceId,
    Json(request): Json<UpdatePrice>,
) -> Result<axum::Json<PriceView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(PaymentError::from)?;
    let mut tx = state.pool.begin().await.map_err(PaymentError::from)?;
    match catalogue::price_owner(&mut tx, price_id.0).await? {
        Some(owner) if principal.may_manage(AccountId(owner)) => {}
        _ => return Err(PaymentError::PriceNotFound.into()),
    }
    let price = catalogue::set_price_active(&mut tx, price_id.0, request.active).await?;
    tx.commit().await.map_err(PaymentError::from)?;
    Ok(axum::Json(price))
}

/// The caller's coupons (an administrator's: everyone's, or `owner_id`'s), newest first.
#[utoipa::path(get, path = "/v1/coupons", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(ListQuery),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = Vec<CouponView>)))]
async fn list_coupons(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Vec<CouponView>>, ApiError> {
    principal.require_scope(Scope::CoursesRead).map_err(PaymentError::from)?;
    let (owner, limit) = scope_of(&principal, &query);
    Ok(axum::Json(catalogue::list_coupons(&state.pool, owner, limit).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCoupon {
    /// `false` archives the coupon (no more redemptions).
    pub active: Option<bool>,
    /// A new limit (not below the redemptions made), or `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>)]
    pub max_redemptions: Option<Option<i32>>,
    /// A new expiry, or `null` for none.
    #[serde(default, deserialize_with = "nullable_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Option<OffsetDateTime>>,
}

/// Archives a coupon of the caller, or changes its limit or expiry.
#[utoipa::path(patch, path = "/v1/coupons/{coupon_id}", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("coupon_id" = Uuid, Path)),
    request_body = UpdateCoupon,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = CouponView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`coupon_not_found`", body = ErrorBody),
    ))]
async fn update_coupon(
    State(state): State<AppState>,
    principal: Principal,
    coupon_id: CouponId,
    Json(request): Json<UpdateCoupon>,
) -> Result<axum::Json<CouponView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(PaymentError::from)?;
    match catalogue::coupon_owner(&state.pool, coupon_id.0).await? {
        Some(owner) if principal.may_manage(AccountId(owner)) => {}
        _ => return Err(PaymentError::CouponNotFound.into()),
    }
    if request.max_redemptions.flatten().is_some_and(|n| n < 1) {
        return Err(invalid("max_redemptions must be at least 1").into());
    }
    let change = CouponChange {
        active: request.active,
        max_redemptions: request.max_redemptions,
        expires_at: request.expires_at,
    };
    Ok(axum::Json(catalogue::update_coupon(&state.pool, coupon_id.0, &change).await?))
}

/// A seller's refund policy: the account itself or an administrator.
fn may_set_policy(principal: &Principal, owner: AccountId) -> Result<(), PaymentError> {
    if principal.may_manage(owner) { Ok(()) } else { Err(PaymentError::AccountNotFound) }
}

/// A seller's refund policy (defaults shown where none is set).
#[utoipa::path(get, path = "/v1/users/{account_id}/payment-policy", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("account_id" = Uuid, Path)),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = PolicyView),
        (status = NOT_FOUND, description = "`not_found`: not the caller (nor an administrator)", body = ErrorBody),
    ))]
async fn get_policy(
    State(state): State<AppState>,
    principal: Principal,
    account_id: AccountId,
) -> Result<axum::Json<PolicyView>, ApiError> {
    may_set_policy(&principal, account_id)?;
    let mut conn = state.pool.acquire().await.map_err(PaymentError::from)?;
    Ok(axum::Json(policy::get(&mut conn, account_id.0, &state.payments.settings).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPolicy {
    /// Whether a partial refund ends the order's access; absent or null: the server's default
    /// (`LECTERN_PAYMENTS_PARTIAL_REFUND_REVOKES`).
    pub partial_refund_revokes: Option<bool>,
    /// A full refund is offered within this many days of payment (1–365)…
    pub refund_window_days: Option<i32>,
    /// …if less than this percent of the course was watched (0–100). Both or neither.
    pub refund_max_watched_percent: Option<i32>,
}

/// Sets a seller's refund policy (replaces it whole).
#[utoipa::path(put, path = "/v1/users/{account_id}/payment-policy", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("account_id" = Uuid, Path)),
    request_body = PutPolicy,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = PolicyView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`not_found`", body = ErrorBody),
    ))]
async fn put_policy(
    State(state): State<AppState>,
    principal: Principal,
    account_id: AccountId,
    Json(request): Json<PutPolicy>,
) -> Result<axum::Json<PolicyView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(PaymentError::from)?;
    may_set_policy(&principal, account_id)?;
    let window = match (request.refund_window_days, request.refund_max_watched_percent) {
        (None, None) => None,
        (Some(days @ 1..=365), Some(percent @ 0..=100)) => Some((days, percent)),
        (Some(_), Some(_)) => {
            return Err(invalid("refund_window_days is 1–365 and refund_max_watched_percent 0–100").into());
        }
        _ => return Err(invalid("give refund_window_days and refund_max_watched_percent together").into()),
    };
    let mut tx = state.pool.begin().await.map_err(PaymentError::from)?;
    policy::put(&mut tx, account_id.0, request.partial_refund_revokes, window).await?;
    let view = policy::get(&mut tx, account_id.0, &state.payments.settings).await?;
    tx.commit().await.map_err(PaymentError::from)?;
    Ok(axum::Json(view))
}

/// An order with its seller, if the caller may see it: the buyer, the seller or an
/// administrator (`buyer_allowed: false` leaves the buyer out).
async fn visible_order(
    state: &AppState,
    principal: &Principal,
    order_id: Uuid,
    buyer_allowed: bool,
) -> Result<(OrderView, catalogue::PriceForSale), PaymentError> {
    let order = orders::get(&state.pool, order_id).await?.ok_or(PaymentError::OrderNotFound)?;
    let sale = catalogue::price_for_sale(&state.pool, order.price_id).await?.ok_or(PaymentError::OrderNotFound)?;
    let buyer = buyer_allowed && order.account_id == principal.account_id();
    if buyer || principal.may_manage(AccountId(sale.owner_id)) {
        Ok((order, sale))
    } else {
        Err(PaymentError::OrderNotFound)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundQuote {
    pub order_id: Uuid,
    /// The order's status now.
    pub status: String,
    pub currency: String,
    /// What was paid and what is left to refund, in minor units.
    pub amount: i64,
    pub refundable_amount: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paid_at: Option<OffsetDateTime>,
    /// Whole days since payment.
    pub days_since_payment: Option<i64>,
    /// Share of the product's course video watched by the buyer, in percent (one decimal).
    pub watched_percent: f64,
    /// The seller's policy the quote applied.
    pub refund_window_days: Option<i32>,
    pub refund_max_watched_percent: Option<i32>,
    /// Whether the policy offers a refund now, and how much (minor units; 0 when not).
    pub eligible: bool,
    pub quoted_amount: i64,
    /// `within_policy`, `no_policy`, `not_refundable`, `nothing_left`, `window_passed` or
    /// `watched_too_much`.
    pub reason: String,
}

/// What the seller's refund policy offers for an order now, from how long ago it was paid and
/// how much of its courses the buyer watched (training's coverage). Nothing is refunded: an
/// administrator or the seller then calls `POST /v1/orders/{id}/refund`.
#[utoipa::path(get, path = "/v1/orders/{order_id}/refund-quote", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("order_id" = Uuid, Path)),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = RefundQuote),
        (status = NOT_FOUND, description = "`order_not_found`", body = ErrorBody),
    ))]
async fn refund_quote(
    State(state): State<AppState>,
    principal: Principal,
    order_id: OrderId,
) -> Result<axum::Json<RefundQuote>, ApiError> {
    let (order, sale) = visible_order(&state, &principal, order_id.0, true).await?;
    let mut conn = state.pool.acquire().await.map_err(PaymentError::from)?;
    let rules = policy::get(&mut conn, sale.owner_id, &state.payments.settings).await?;
    drop(conn);
    let watched = policy::watched_ratio(&state.pool, order.account_id, &sale.course_ids).await?;
    let now = OffsetDateTime::now_utc();
    let refundable = (order.amount - order.refunded_amount).max(0);
    let verdict = policy::evaluate(&rules, &order.status, order.paid_at, refundable, watched, now);
    Ok(axum::Json(RefundQuote {
        order_id: order.order_id,
        status: order.status,
        currency: order.currency,
        amount: order.amount,
        refundable_amount: refundable,
        paid_at: order.paid_at,
        days_since_payment: order.paid_at.map(|at| (now - at).whole_days()),
        watched_percent: (watched * 1000.0).round() / 10.0,
        refund_window_days: rules.refund_window_days,
        refund_max_watched_percent: rules.refund_max_watched_percent,
        eligible: verdict.eligible,
        quoted_amount: verdict.amount,
        reason: verdict.reason.to_owned(),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Minor units; absent: everything left (a full refund).
    pub amount: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundAnswer {
    pub refund: RefundView,
    /// The order after the refund (`partially_refunded` or `refunded` once the provider
    /// confirmed it).
    pub order: OrderView,
}

/// Refunds an order through its provider (an administrator or the seller). Sent with an
/// idempotency key — the caller's `Idempotency-Key` header, or one derived from the order, what
/// was refunded before and the amount — so a retried request never refunds twice. Access
/// follows like for a refund made in the provider's dashboard: a full refund revokes, a partial
/// one when the seller's policy says so.
#[utoipa::path(post, path = "/v1/orders/{order_id}/refund", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("order_id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "up to 100 of A–Z, a–z, 0–9, - and _")),
    request_body = RefundRequest,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = RefundAnswer),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`: the amount, or the key", body = ErrorBody),
        (status = CONFLICT, description = "`order_not_refundable`", body = ErrorBody),
        (status = NOT_FOUND, description = "`order_not_found`", body = ErrorBody),
        (status = BAD_GATEWAY, description = "`payment_provider_error`", body = ErrorBody),
    ))]
async fn refund(
    State(state): State<AppState>,
    principal: Principal,
    order_id: OrderId,
    headers: HeaderMap,
    Json(request): Json<RefundRequest>,
) -> Result<axum::Json<RefundAnswer>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(PaymentError::from)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let key = value.to_str().ok().filter(|k| {
                (1..=100).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
            Some(key.ok_or_else(|| invalid("Idempotency-Key is 1–100 of A–Z, a–z, 0–9, - and _"))?)
        }
    };
    let (order, _) = visible_order(&state, &principal, order_id.0, false).await?;
    let refund = refunds::refund(&state.pool, &state.payments, &order, request.amount, key).await?;
    let order = refunds::reload(&state.pool, order.order_id).await?;
    Ok(axum::Json(RefundAnswer { refund, order }))
}
