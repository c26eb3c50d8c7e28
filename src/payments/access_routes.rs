//! Access by hand and the subscriber's cancel: entitlements an administrator (or the course's
//! owner) grants or revokes without a payment, and `POST /v1/subscriptions/{id}/cancel` for the
//! plans Lectern renews itself (YooKassa).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PaymentError;
use super::entitlements::{self, EntitlementView, Source};
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::api_keys::Scope;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::{AccountId, EntitlementId, SubscriptionId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(grant_entitlement))
        .routes(routes!(revoke_entitlement))
        .routes(routes!(cancel_subscription))
}

fn invalid(message: impl Into<String>) -> PaymentError {
    PaymentError::InvalidField(message.into())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub course_id: Uuid,
    /// `admin` (default), `free` or `lti`: why the learner may watch without paying.
    pub source: Option<String>,
    /// When the access ends; absent: for good.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<OffsetDateTime>,
}

/// Opens a course to a learner without a payment (an administrator, or the course's owner): an
/// entitlement of source `admin`, `free` or `lti`, which enrols the learner like a purchase.
#[utoipa::path(post, path = "/v1/users/{account_id}/entitlements", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("account_id" = Uuid, Path)),
    request_body = GrantRequest,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = CREATED, body = EntitlementView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found` or `not_found` (the account)", body = ErrorBody),
    ))]
async fn grant_entitlement(
    State(state): State<AppState>,
    principal: Principal,
    account_id: AccountId,
    Json(request): Json<GrantRequest>,
) -> Result<(StatusCode, axum::Json<EntitlementView>), ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(PaymentError::from)?;
    let source = match request.source.as_deref().unwrap_or("admin") {
        "admin" => Source::Admin,
        "free" => Source::Free,
        "lti" => Source::Lti,
        _ => {
            return Err(
                invalid("source must be admin, free or lti (orders and subscriptions grant by themselves)").into()
            );
        }
    };
    if request.ends_at.is_some_and(|at| at <= OffsetDateTime::now_utc()) {
        return Err(invalid("ends_at must be in the future").into());
    }
    let course = crate::training::courses::get(&state.pool, request.course_id).await?;
    let Some(course) = course.filter(|c| principal.may_manage(AccountId(c.owner_id))) else {
        return Err(PaymentError::CourseNotFound.into());
    };
    if crate::auth::accounts::find(&state.pool, account_id.0).await.map_err(PaymentError::from)?.is_none() {
        return Err(PaymentError::AccountNotFound.into());
    }
    // Each grant by hand is its own source row, so revoking one leaves the others.
    let grant_id = Uuid::new_v4();
    let mut tx = state.pool.begin().await.map_err(PaymentError::from)?;
    let (_, changes) =
        entitlements::grant(&mut tx, account_id.0, &[course.course_id], source, grant_id, request.ends_at).await?;
    tx.commit().await.map_err(PaymentError::from)?;
    changes.after_commit(&state.pool).await;
    let view = entitlements::list(&state.pool, account_id.0, course.course_id)
        .await?
        .into_iter()
        .find(|e| e.source_id == grant_id)
        .ok_or(PaymentError::EntitlementNotFound)?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why (kept as the entitlement's `status_reason`, up to 200 characters).
    pub reason: Option<String>,
}

/// Revokes an entitlement (an administrator, or the course's owner). When it was the learner's
/// last one, their enrolment is suspended — progress kept — and their playback stops.
#[utoipa::path(post, path = "/v1/entitlements/{entitlement_id}/revoke", tag = "payments",
    security(("bearer" = []), ("api_key" = [])),
    params(("entitlement_id" = Uuid, Path)),
    request_body = RevokeRequest,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = EntitlementView),
        (status = CONFLICT, description = "`wrong_state`: it has ended already", body = ErrorBody),
        (status = NOT_FOUND, description = "`entitlement_not_found`", body = ErrorBody),
    ))]
async fn revoke_entitlement(
    State(state): State<AppState>,
    principal: Principal,
    entitlement_id: EntitlementId,
    Json(request): Json<RevokeRequest>,
) -> Result<axum::Json<EntitlementView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(PaymentError::from)?;
    let reason = request.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or("revoked_by_staff");
    if reason.chars().count() > 200 {
        return Err(invalid("reason must be at most 200 characters").into());
    }
    let (_, entitlement) =
        entitlements::get(&state.pool, entitlement_id.0).await?.ok_or(PaymentError::EntitlementNotFound)?;
    let course = crate::training::courses::get(&state.pool, entitlement.course_id).await?;
    if !course.is_some_and(|c| principal.may_manage(AccountId(c.owner_id))) {
        return Err(PaymentError::EntitlementNotFound.into());
    }
    let mut tx = state.pool.begin().await.map_err(PaymentError::from)?;
    let (revoked, changes) = entitlements::revoke_one(&mut tx, entitlement_id.0, reason).await?;
    tx.commit().await.map_err(PaymentError::from)?;
    changes.after_commit(&state.pool).await;
    if !revoked {
        return Err(PaymentError::WrongState("this entitlement has ended already".into()).into());
    }
    let (_, view) = entitlements::get(&state.pool, entitlement_id.0).await?.ok_or(PaymentError::EntitlementNotFound)?;
    Ok(axum::Json(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelAnswer {
    pub subscription_id: Uuid,
    /// Always true: access lasts to the end of the period paid for, and nothing renews.
    pub cancel_at_period_end: bool,
}

/// Cancels a YooKassa plan at its period end (the subscriber or an administrator): access lasts
/// to the end of the period paid for, and Lectern charges nothing more. Stripe subscriptions are
/// cancelled at Stripe (its customer portal); their event updates Lectern.
#[utoipa::path(post, path = "/v1/subscriptions/{subscription_id}/cancel", tag = "payments",
    security(("bearer" = [])),
    params(("subscription_id" = Uuid, Path)),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope`", body = ErrorBody),
        (status = OK, body = CancelAnswer),
        (status = CONFLICT, description = "`wrong_state`: a Stripe subscription, or one that has ended or is cancelled already", body = ErrorBody),
        (status = NOT_FOUND, description = "`subscription_not_found`", body = ErrorBody),
    ))]
async fn cancel_subscription(
    State(state): State<AppState>,
    user: crate::auth::Authenticated,
    subscription_id: SubscriptionId,
) -> Result<axum::Json<CancelAnswer>, ApiError> {
    let holder = super::subscriptions::holder(&state.pool, subscription_id.0).await?;
    let admin = user.roles.contains(&crate::auth::Role::Admin);
    let Some((_, provider)) = holder.filter(|(account_id, _)| *account_id == user.account_id || admin) else {
        return Err(PaymentError::SubscriptionNotFound.into());
    };
    if provider != "yookassa" {
        return Err(
            PaymentError::WrongState("a Stripe subscription is cancelled in Stripe's customer portal".into()).into()
        );
    }
    if !super::subscriptions::cancel_at_period_end(&state.pool, subscription_id.0, &state.payments.settings).await? {
        return Err(PaymentError::WrongState("this subscription has ended or is cancelled already".into()).into());
    }
    Ok(axum::Json(CancelAnswer { subscription_id: subscription_id.0, cancel_at_period_end: true }))
}
