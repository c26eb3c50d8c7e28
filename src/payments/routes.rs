//! The payments API: the seller's catalogue (products of their courses, prices, coupons), the
//! buyer's checkout and order, the Stripe webhook, and "why can (or can't) this learner watch?".

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PaymentError;
use super::catalogue::{self, CouponView, NewCoupon, NewPrice, NewProduct, PriceView, ProductView};
use super::entitlements::{self, EntitlementView};
use super::orders::{self, OrderView};
use super::stripe::signature;
use super::stripe::webhook::{self, Intake};
use crate::app::AppState;
use crate::auth::api_keys::Scope;
use crate::auth::{Authenticated, ClientInfo, Principal};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::{AccountId, CourseId, OrderId, ProductId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product))
        .routes(routes!(get_product))
        .routes(routes!(create_price))
        .routes(routes!(create_coupon))
        .routes(routes!(checkout))
        .routes(routes!(get_order))
        .routes(routes!(stripe_webhook))
        .routes(routes!(yookassa_notification))
        .routes(routes!(access))
}

fn invalid(message: impl Into<String>) -> PaymentError {
    PaymentError::InvalidField(message.into())
}

fn currency(raw: &str) -> Result<String, PaymentError> {
    let lower = raw.trim().to_ascii_lowercase();
    if lower.len() == 3 && lower.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(lower)
    } else {
        Err(invalid("currency must be a three-letter ISO 4217 code such as usd or rub"))
    }
}

/// The product, if the caller may manage it (its seller or an administrator).
async fn managed_product(
    state: &AppState,
    principal: &Principal,
    product_id: Uuid,
) -> Result<ProductView, PaymentError> {
    let mut conn = state.pool.acquire().await?;
    match catalogue::get_product(&mut conn, product_id).await? {
        Some(product) if principal.may_manage(AccountId(product.owner_id)) => Ok(product),
        _ => Err(PaymentError::ProductNotFound),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    /// `course` (one course), `bundle` (several) or `plan` (a subscription to its courses).
    #[schema(example = "course")]
    pub kind: String,
    pub title: String,
    /// Courses of the caller (an administrator may name anyone's).
    pub course_ids: Vec<Uuid>,
}

/// Creates a product of the caller's courses.
#[utoipa::path(post, path = "/v1/products", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateProduct,
    responses(
        (status = CREATED, description = "The product (no prices yet)", body = ProductView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`: a course is not the caller's", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` or `insufficient_scope` (courses:write)", body = ErrorBody),
    ))]
async fn create_product(
    State(state): State<AppState>,
    principal: Principal,
    Json(request): Json<CreateProduct>,
) -> Result<(StatusCode, axum::Json<ProductView>), ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(PaymentError::from)?;
    let title = request.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(invalid("title must be 1–200 characters").into());
    }
    let mut course_ids = request.course_ids.clone();
    course_ids.sort_unstable();
    course_ids.dedup();
    match (request.kind.as_str(), course_ids.len()) {
        ("course", 1) | ("bundle" | "plan", 1..=500) => {}
        ("course", _) => return Err(invalid("a course product names exactly one course").into()),
        ("bundle" | "plan", _) => return Err(invalid("a bundle or plan names 1–500 courses").into()),
        _ => return Err(invalid("kind must be course, bundle or plan").into()),
    }
    let mut tx = state.pool.begin().await.map_err(PaymentError::from)?;
    let new = NewProduct { owner_id: principal.account_id(), kind: &request.kind, title, course_ids: &course_ids };
    let product = catalogue::create_product(&mut tx, &new, principal.is_admin()).await?;
    tx.commit().await.map_err(PaymentError::from)?;
    Ok((StatusCode::CREATED, axum::Json(product)))
}

/// A product with its prices (anyone signed in may see a product to buy it).
#[utoipa::path(get, path = "/v1/products/{product_id}", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("product_id" = Uuid, Path)),
    responses(
        (status = OK, body = ProductView),
        (status = NOT_FOUND, description = "`product_not_found`", body = ErrorBody),
    ))]
async fn get_product(
    State(state): State<AppState>,
    _principal: Principal,
    product_id: ProductId,
) -> Result<axum::Json<ProductView>, ApiError> {
    let mut conn = state.pool.acquire().await.map_err(PaymentError::from)?;
    let product = catalogue::get_product(&mut conn, product_id.0).await?.ok_or(PaymentError::ProductNotFound)?;
    Ok(axum::Json(product))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrice {
    #[schema(example = "usd")]
    pub currency: String,
    /// Minor units (cents, kopecks); 0 makes the product free.
    #[schema(example = 4900)]
    pub unit_amount: i64,
    /// `month` or `year` for a recurring price (plans only); absent: one-time.
    pub recurring_interval: Option<String>,
    /// One-time prices: the days of access a purchase opens; absent: for good.
    pub access_days: Option<i32>,
}

/// Adds a price to a product.
#[utoipa::path(post, path = "/v1/products/{product_id}/prices", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("product_id" = Uuid, Path)),
    request_body = CreatePrice,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = CREATED, body = PriceView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`product_not_found`", body = ErrorBody),
    ))]
async fn create_price(
    State(state): State<AppState>,
    principal: Principal,
    product_id: ProductId,
    Json(request): Json<CreatePrice>,
) -> Result<(StatusCode, axum::Json<PriceView>), ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(PaymentError::from)?;
    let product = managed_product(&state, &principal, product_id.0).await?;
    let currency = currency(&request.currency)?;
    if !(0..=99_999_999).contains(&request.unit_amount) {
        return Err(invalid("unit_amount must be between 0 and 99999999 minor units").into());
    }
    let interval = request.recurring_interval.as_deref();
    match (product.kind.as_str(), interval) {
        ("plan", Some("month" | "year")) | ("course" | "bundle", None) => {}
        ("plan", None) => return Err(invalid("a plan's price is recurring: set recurring_interval").into()),
        (_, Some("month" | "year")) => return Err(invalid("only a plan has recurring prices").into()),
        (_, Some(_)) => return Err(invalid("recurring_interval must be month or year").into()),
        (_, None) => return Err(invalid("this product cannot have a one-time price").into()),
    }
    if interval.is_some() && request.unit_amount == 0 {
        return Err(invalid("a recurring price cannot be free").into());
    }
    if let Some(days) = request.access_days
        && (interval.is_some() || !(1..=36_500).contains(&days))
    {
        return Err(invalid("access_days is 1–36500, and only for one-time prices").into());
    }
    let new = NewPrice {
        currency: &currency,
        unit_amount: request.unit_amount,
        recurring_interval: interval,
        access_days: request.access_days,
    };
    let price = catalogue::create_price(&state.pool, product.product_id, &new).await?;
    Ok((StatusCode::CREATED, axum::Json(price)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCoupon {
    /// 3–40 of A–Z, 0–9, `_`, `-` (case-insensitive).
    #[schema(example = "SPRING25")]
    pub code: String,
    /// 1–100; or `amount_off` with `currency`.
    pub percent_off: Option<i32>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    pub max_redemptions: Option<i32>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// Creates a coupon for the caller's products.
#[utoipa::path(post, path = "/v1/coupons", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateCoupon,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = CREATED, body = CouponView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = CONFLICT, description = "`coupon_exists`", body = ErrorBody),
    ))]
async fn create_coupon(
    State(state): State<AppState>,
    principal: Principal,
    Json(request): Json<CreateCoupon>,
) -> Result<(StatusCode, axum::Json<CouponView>), ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(PaymentError::from)?;
    let code = request.code.trim().to_ascii_uppercase();
    if !(3..=40).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(invalid("code must be 3–40 letters, digits, _ or -").into());
    }
    let currency = request.currency.as_deref().map(currency).transpose()?;
    match (request.percent_off, request.amount_off, &currency) {
        (Some(1..=100), None, None) => {}
        (None, Some(1..), Some(_)) => {}
        _ => return Err(invalid("give percent_off (1–100), or amount_off (> 0) with currency").into()),
    }
    if request.max_redemptions.is_some_and(|n| n < 1) {
        return Err(invalid("max_redemptions must be at least 1").into());
    }
    let new = NewCoupon {
        code: &code,
        percent_off: request.percent_off,
        amount_off: request.amount_off,
        currency: currency.as_deref(),
        max_redemptions: request.max_redemptions,
        expires_at: request.expires_at,
    };
    Ok((StatusCode::CREATED, axum::Json(catalogue::create_coupon(&state.pool, principal.account_id(), &new).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub price_id: Uuid,
    pub coupon_code: Option<String>,
    /// Where the provider sends the buyer after paying; the page then asks `GET /v1/orders/{id}`.
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    /// `stripe` or `yookassa`; absent: YooKassa for prices in roubles when it is configured,
    /// else Stripe, else YooKassa.
    pub provider: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutResponse {
    pub order: OrderView,
    /// The provider's payment page; null when nothing is to pay (free, or a 100 % coupon) and
    /// access was granted at once.
    pub checkout_url: Option<String>,
}

fn redirect_url(field: &str, raw: Option<&str>) -> Result<String, PaymentError> {
    let raw = raw.ok_or_else(|| invalid(format!("{field} is required for a paid checkout")))?;
    let url = url::Url::parse(raw).map_err(|_| invalid(format!("{field} must be an absolute URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("{field} must be an http(s) URL")));
    }
    Ok(url.to_string())
}

/// Buys a price for the caller: an order, then the provider's checkout page. A free price or a
/// 100 % coupon grants at once with no provider.
#[utoipa::path(post, path = "/v1/checkout", tag = "payments",
    security(("bearer" = [])),
    request_body = CheckoutRequest,
    responses(
        (status = CREATED, body = CheckoutResponse),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field` or `invalid_coupon`", body = ErrorBody),
        (status = NOT_FOUND, description = "`price_not_found`", body = ErrorBody),
        (status = NOT_IMPLEMENTED, description = "`payments_disabled`: no provider configured", body = ErrorBody),
        (status = BAD_GATEWAY, description = "`payment_provider_error`", body = ErrorBody),
    ))]
async fn checkout(
    State(state): State<AppState>,
    user: Authenticated,
    Json(request): Json<CheckoutRequest>,
) -> Result<(StatusCode, axum::Json<CheckoutResponse>), ApiError> {
    let sale = catalogue::price_for_sale(&state.pool, request.price_id).await?;
    let Some(sale) = sale.filter(|s| s.price.active && s.product_active) else {
        return Err(PaymentError::PriceNotFound.into());
    };
    let mut tx = state.pool.begin().await.map_err(PaymentError::from)?;
    let (coupon_id, amount) = match request.coupon_code.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(code) => {
            let (id, amount) =
                catalogue::redeem(&mut tx, code, sale.owner_id, &sale.price.currency, sale.price.unit_amount).await?;
            (Some(id), amount)
        }
        None => (None, sale.price.unit_amount),
    };
    if amount == 0 && sale.price.recurring_interval.is_some() {
        return Err(PaymentError::InvalidCoupon("a subscription cannot be made free with a coupon".into()).into());
    }
    if amount == 0 {
        // Nothing to pay: the order is paid at once and grants in the same call.
        let order =
            orders::create(&mut tx, user.account_id, sale.price.price_id, coupon_id, 0, &sale.price.currency, "none")
                .await?;
        tx.commit().await.map_err(PaymentError::from)?;
        orders::mark_paid(&state.pool, order.order_id, None, None, &state.payments.settings).await?;
        let order = orders::get(&state.pool, order.order_id).await?.ok_or(PaymentError::OrderNotFound)?;
        return Ok((StatusCode::CREATED, axum::Json(CheckoutResponse { order, checkout_url: None })));
    }
    let payments = &state.payments;
    let provider = match request.provider.as_deref() {
        Some(provider @ ("stripe" | "yookassa")) => provider,
        Some(_) => return Err(invalid("provider must be stripe or yookassa").into()),
        None if sale.price.currency == "rub" && payments.yookassa.is_some() => "yookassa",
        None if payments.stripe.is_some() => "stripe",
        None => "yookassa",
    };
    // An unconfigured provider is named before any field is judged.
    if provider == "stripe" {
        payments.stripe()?;
    } else {
        payments.yookassa()?;
    }
    let success_url = redirect_url("success_url", request.success_url.as_deref())?;
    let order = orders::create(
        &mut tx,
        user.account_id,
        sale.price.price_id,
        coupon_id,
        amount,
        &sale.price.currency,
        provider,
    )
    .await?;
    // Committed before calling the provider, so its notification always finds the order; a
    // failed call leaves a `created` order that the buyer may retry (same idempotency key) or
    // abandon.
    let checkout_url = if provider == "stripe" {
        let stripe = payments.stripe()?;
        let cancel_url = redirect_url("cancel_url", request.cancel_url.as_deref())?;
        tx.commit().await.map_err(PaymentError::from)?;
        let session = stripe.create_checkout_session(&order, &sale, &success_url, &cancel_url).await?;
        orders::mark_pending(&state.pool, order.order_id, &session.id).await?;
        session.url
    } else {
        let yookassa = payments.yookassa()?;
        let account = crate::auth::accounts::find(&state.pool, user.account_id).await.map_err(PaymentError::from)?;
        let email = account.map(|account| account.email).ok_or(PaymentError::AccountNotFound)?;
        tx.commit().await.map_err(PaymentError::from)?;
        let payment = yookassa.create_payment(&order, &sale, &success_url, &email).await?;
        orders::mark_pending(&state.pool, order.order_id, &payment.id).await?;
        payment.confirmation.and_then(|c| c.confirmation_url)
    };
    let order = orders::get(&state.pool, order.order_id).await?.ok_or(PaymentError::OrderNotFound)?;
    Ok((StatusCode::CREATED, axum::Json(CheckoutResponse { order, checkout_url })))
}

/// An order of the caller (or any, for an administrator). A pending Stripe order is first
/// brought up to date from Stripe's Checkout Session, so the buyer's return page fulfils even
/// before the webhook arrives (and exactly once when both do).
#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "payments",
    security(("bearer" = [])),
    params(("order_id" = Uuid, Path)),
    responses(
        (status = OK, body = OrderView),
        (status = NOT_FOUND, description = "`order_not_found`", body = ErrorBody),
    ))]
async fn get_order(
    State(state): State<AppState>,
    user: Authenticated,
    order_id: OrderId,
) -> Result<axum::Json<OrderView>, ApiError> {
    let order = orders::get(&state.pool, order_id.0).await?;
    let Some(order) =
        order.filter(|o| o.account_id == user.account_id || user.roles.contains(&crate::auth::Role::Admin))
    else {
        return Err(PaymentError::OrderNotFound.into());
    };
    if order.status == "pending" {
        super::reconcile::refresh_order(&state.pool, &state.payments, &order).await?;
        let order = orders::get(&state.pool, order.order_id).await?.ok_or(PaymentError::OrderNotFound)?;
        return Ok(axum::Json(order));
    }
    Ok(axum::Json(order))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// `handled` or `duplicate` (seen and processed before).
    pub result: &'static str,
}

/// Stripe's webhook. The `Stripe-Signature` header is verified over the raw body against every
/// configured secret, within the tolerance window, before anything parses the body; the event
/// is then recorded in the inbox by its id and handled once.
#[utoipa::path(post, path = "/v1/payments/stripe/webhook", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "A Stripe event, as Stripe sent it"),
    responses(
        (status = OK, body = WebhookAnswer),
        (status = BAD_REQUEST, description = "`invalid_signature` or `invalid_event`", body = ErrorBody),
        (status = NOT_IMPLEMENTED, description = "`payments_disabled`", body = ErrorBody),
    ))]
async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<WebhookAnswer>, ApiError> {
    let stripe = state.payments.stripe()?.settings();
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let tolerance = i64::try_from(stripe.webhook_tolerance.as_secs()).unwrap_or(300);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    signature::verify(&body, header, &stripe.webhook_secrets, tolerance, now)
        .map_err(|error| PaymentError::InvalidSignature(error.message()))?;
    let result = match webhook::intake(&state.pool, &state.payments.settings, &body).await? {
        Intake::Handled => "handled",
        Intake::Duplicate => "duplicate",
    };
    Ok(axum::Json(WebhookAnswer { result }))
}

/// YooKassa's notification (HTTP notifications of the shop). Accepted only from the configured
/// networks; the payment or refund it names is then fetched from YooKassa's API, and only the
/// fetched state acts.
#[utoipa::path(post, path = "/v1/payments/yookassa/notification", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "A YooKassa notification"),
    responses(
        (status = OK, body = WebhookAnswer),
        (status = FORBIDDEN, description = "`forbidden_source`: not from an allowed network", body = ErrorBody),
        (status = BAD_REQUEST, description = "`invalid_event`", body = ErrorBody),
        (status = NOT_IMPLEMENTED, description = "`payments_disabled`", body = ErrorBody),
        (status = BAD_GATEWAY, description = "`payment_provider_error`: the object could not be fetched (YooKassa retries)", body = ErrorBody),
    ))]
async fn yookassa_notification(
    State(state): State<AppState>,
    client: ClientInfo,
    body: Bytes,
) -> Result<axum::Json<WebhookAnswer>, ApiError> {
    let yookassa = state.payments.yookassa()?;
    if !super::yookassa::notification::source_allowed(yookassa, client.ip) {
        tracing::warn!(ip = %client.ip, "YooKassa notification from a network that is not allowed");
        return Err(PaymentError::ForbiddenSource.into());
    }
    let handled = super::yookassa::notification::intake(&state.pool, &state.payments.settings, yookassa, &body).await?;
    Ok(axum::Json(WebhookAnswer { result: if handled { "handled" } else { "duplicate" } }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    pub account_id: Uuid,
    pub course_id: Uuid,
    /// Whether an active entitlement opens the course now.
    pub entitled: bool,
    /// The learner's current enrolment state (`active`, `suspended`), if any.
    pub enrollment_status: Option<String>,
    /// Every entitlement, active ones first.
    pub entitlements: Vec<EntitlementView>,
}

/// Why a learner can (or can't) watch a course: their entitlements with sources and states,
/// and the enrolment that follows them. For the learner, the course's owner or an administrator.
#[utoipa::path(get, path = "/v1/users/{account_id}/access/{course_id}", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("account_id" = Uuid, Path), ("course_id" = Uuid, Path)),
    responses(
        (status = OK, body = AccessView),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
    ))]
async fn access(
    State(state): State<AppState>,
    principal: Principal,
    account_id: AccountId,
    course_id: CourseId,
) -> Result<axum::Json<AccessView>, ApiError> {
    let course = crate::training::courses::get(&state.pool, course_id.0).await?;
    let Some(course) =
        course.filter(|c| principal.account_id() == account_id.0 || principal.may_manage(AccountId(c.owner_id)))
    else {
        return Err(PaymentError::CourseNotFound.into());
    };
    let list = entitlements::list(&state.pool, account_id.0, course.course_id).await?;
    let entitled = list.iter().any(|e| e.status == "active");
    let enrollment = crate::training::enrollments::current(&state.pool, course.course_id, account_id.0).await?;
    Ok(axum::Json(AccessView {
        account_id: account_id.0,
        course_id: course.course_id,
        entitled,
        enrollment_status: enrollment.map(|e| e.status),
        entitlements: list,
    }))
}
