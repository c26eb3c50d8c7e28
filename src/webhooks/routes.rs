//! The webhooks API under `/v1/webhooks`. Callers are instructors and administrators with a
//! token, or applications with an API key (`webhooks:write` to change, `webhooks:read` to read).
//! An endpoint is visible to its owner and to administrators; anyone else gets the same
//! `404 webhook_not_found` as for an endpoint that does not exist.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::WebhookError;
use super::deliveries::{self, Attempt, DeliveryRow, ListCursor};
use super::endpoints::{self, EndpointRow, NewEndpoint};
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::api_keys::Scope;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::{AccountId, WebhookDeliveryId, WebhookId};

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where to POST events: `https://…` (plain `http://` only where the operator allows it),
    /// reaching a public address.
    #[schema(example = "https://courses.example.com/hooks/lectern")]
    pub url: String,
    /// Event types to receive; absent, empty or `["*"]` means all of them. An asset's:
    /// `asset.created`, `asset.uploaded`, `asset.playable`, `asset.ready`, `asset.errored`,
    /// `asset.deleted`; an enrolment in one of the account's courses: `enrollment.created`,
    /// `enrollment.suspended`, `enrollment.revoked`, `lesson.completed`, `enrollment.completed`,
    /// `certificate.issued`; an order of one of the account's products: `order.paid`,
    /// `order.refunded`; access to one of the account's courses and its plans:
    /// `entitlement.granted`, `entitlement.revoked`, `subscription.updated`.
    #[schema(example = json!(["asset.ready", "asset.errored", "enrollment.created"]))]
    pub events: Option<Vec<String>>,
    /// A note for yourself (up to 200 characters).
    pub description: Option<String>,
}

/// An endpoint as its owner sees it (never the secret, except in the creating response).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    /// The event types it receives (see `events` of the creating request); `["*"]` for all.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// After a secret rotation: until when the previous secret still signs every send beside
    /// the new one (a second `v1` in `Lectern-Signature`). Absent otherwise.
    #[serde(with = "time::serde::rfc3339::option")]
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An endpoint with its signing secret, new (created, or rotated) and shown this once. Not
/// `Debug`, so the secret cannot reach a log.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The HMAC-SHA256 key of `Lectern-Signature` (the whole string is the key). Store it now:
    /// it is never shown again.
    #[schema(example = "whsec_4nNq0pY3…")]
    pub secret: String,
}

/// How to rotate an endpoint's secret.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// How long the replaced secret keeps signing beside the new one, in seconds (0 to
    /// 604800, i.e. seven days; default 86400). Time for the receiver to switch; 0 stops the
    /// old secret at once (after a leak).
    #[schema(example = 86400, minimum = 0, maximum = 604800)]
    pub overlap_seconds: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// One send of a delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first send.
    pub number: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub duration_ms: i32,
    /// The receiver's HTTP status; absent when it did not answer.
    pub status_code: Option<i32>,
    /// Why the send did not count; absent for a 2xx answer.
    pub error: Option<String>,
    /// The start of the receiver's answer (at most 1 KiB).
    pub response_excerpt: Option<String>,
    /// Asked for with the retry endpoint.
    pub manual: bool,
}

/// One event on its way to one endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The `id` of the event in the body (what receivers dedupe on).
    pub event_id: Uuid,
    /// One of the event types an endpoint can ask for (`asset.ready`, `enrollment.created`, …).
    #[schema(example = "asset.ready")]
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    #[schema(example = "succeeded")]
    pub state: String,
    /// When the next send is due (`pending` only).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Every send so far, oldest first.
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn view(row: &EndpointRow) -> WebhookView {
    let events = if row.events.is_empty() { vec!["*".to_owned()] } else { row.events.clone() };
    WebhookView {
        id: row.webhook_endpoint_id,
        url: row.url.clone(),
        events,
        description: row.description.clone(),
        previous_secret_expires_at: row.previous_secret_expires_at.filter(|until| *until > OffsetDateTime::now_utc()),
        created_at: row.created_at,
    }
}

/// The endpoint if the caller may see it; `webhook_not_found` otherwise (as the `WebhookId`
/// extractor answers a malformed id).
async fn visible_endpoint(
    state: &AppState,
    principal: &Principal,
    webhook_id: WebhookId,
) -> Result<EndpointRow, WebhookError> {
    match endpoints::get(&state.pool, webhook_id.0).await? {
        Some(endpoint) if principal.may_manage(AccountId(endpoint.owner_id)) => Ok(endpoint),
        _ => Err(WebhookError::NotFound),
    }
}

/// Register an endpoint. The answer carries the signing secret, shown this once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = CREATED, description = "The endpoint and its secret", body = CreatedWebhook),
        (status = UNPROCESSABLE_ENTITY, description = "`webhook_url_invalid` (not https, credentials, a fragment, an unresolvable host), `webhook_url_forbidden` (a non-public address), `unknown_event_type`, `invalid_field` or `invalid_json`", body = ErrorBody),
        (status = CONFLICT, description = "`too_many_webhooks`: the account has the maximum number of endpoints", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` (learners) or `insufficient_scope` (a key without webhooks:write)", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Json(request): Json<CreateWebhookRequest>,
) -> Result<(StatusCode, axum::Json<CreatedWebhook>), ApiError> {
    principal.require_scope(Scope::WebhooksWrite)?;
    let settings = &*state.webhooks.settings;
    let events = endpoints::parse_events(request.events.as_deref())?;
    let description = endpoints::parse_description(request.description.as_deref())?;
    let url = endpoints::check_url(settings, &request.url).await?;
    let secret = endpoints::new_secret()?;
    let new = NewEndpoint { owner_id: principal.account_id(), url, events, description };
    let row =
        endpoints::create(&state.pool, &state.webhooks.secrets, &new, &secret, settings.max_endpoints_per_account)
            .await?;
    tracing::info!(webhook_id = %row.webhook_endpoint_id, "webhook endpoint created");
    Ok((StatusCode::CREATED, axum::Json(CreatedWebhook { webhook: view(&row), secret })))
}

/// The caller's endpoints, oldest first.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = OK, description = "The caller's endpoints", body = WebhookList),
        (status = FORBIDDEN, description = "`forbidden` or `insufficient_scope` (a key without webhooks:read)", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<WebhookList>, ApiError> {
    principal.require_scope(Scope::WebhooksRead)?;
    let rows = endpoints::list(&state.pool, principal.account_id()).await?;
    Ok(axum::Json(WebhookList { webhooks: rows.iter().map(view).collect() }))
}

/// One endpoint.
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("webhook_id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = OK, description = "The endpoint", body = WebhookView),
        (status = NOT_FOUND, description = "`webhook_not_found` (also for another account's endpoint)", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` or `insufficient_scope`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn get_webhook(
    State(state): State<AppState>,
    principal: Principal,
    webhook_id: WebhookId,
) -> Result<axum::Json<WebhookView>, ApiError> {
    principal.require_scope(Scope::WebhooksRead)?;
    let endpoint = visible_endpoint(&state, &principal, webhook_id).await?;
    Ok(axum::Json(view(&endpoint)))
}

/// Delete an endpoint. Its pending deliveries stop, and its delivery history goes with it.
#[utoipa::path(delete, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("webhook_id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = NO_CONTENT, description = "Deleted"),
        (status = NOT_FOUND, description = "`webhook_not_found`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` or `insufficient_scope` (a key without webhooks:write)", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(webhook_id = %webhook_id))]
async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    webhook_id: WebhookId,
) -> Result<StatusCode, ApiError> {
    principal.require_scope(Scope::WebhooksWrite)?;
    let endpoint = visible_endpoint(&state, &principal, webhook_id).await?;
    if !endpoints::delete(&state.pool, endpoint.webhook_endpoint_id).await? {
        return Err(WebhookError::NotFound.into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The longest overlap a rotation may ask for, and the one it gets when it asks for none.
const MAX_OVERLAP_SECONDS: i64 = 7 * 86400;
const DEFAULT_OVERLAP_SECONDS: i64 = 86400;

/// Replace the endpoint's signing secret. The answer carries the new secret, shown this once.
/// The replaced secret keeps signing every send beside the new one for `overlap_seconds`
/// (`Lectern-Signature` then carries two `v1` entries), so the receiver can switch without
/// refusing a send; a secret replaced earlier stops at once.
#[utoipa::path(post, path = "/v1/webhooks/{webhook_id}/rotate-secret", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("webhook_id" = Uuid, Path, description = "The endpoint's id")),
    request_body = RotateSecretRequest,
    responses(
        (status = OK, description = "The endpoint and its new secret", body = CreatedWebhook),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field` (overlap_seconds out of range) or `invalid_json`", body = ErrorBody),
        (status = NOT_FOUND, description = "`webhook_not_found`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` or `insufficient_scope` (a key without webhooks:write)", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(webhook_id = %webhook_id))]
async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    webhook_id: WebhookId,
    Json(request): Json<RotateSecretRequest>,
) -> Result<axum::Json<CreatedWebhook>, ApiError> {
    principal.require_scope(Scope::WebhooksWrite)?;
    let overlap = request.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
        return Err(
            WebhookError::InvalidField(format!("overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS}")).into()
        );
    }
    let endpoint = visible_endpoint(&state, &principal, webhook_id).await?;
    let secret = endpoints::new_secret()?;
    let row = endpoints::rotate_secret(
        &state.pool,
        &state.webhooks.secrets,
        endpoint.webhook_endpoint_id,
        &secret,
        time::Duration::seconds(overlap),
    )
    .await?
    .ok_or(WebhookError::NotFound)?;
    tracing::info!(overlap_seconds = overlap, event = "webhook_secret_rotated", "webhook secret rotated");
    Ok(axum::Json(CreatedWebhook { webhook: view(&row), secret }))
}

/// An endpoint's deliveries, newest first, each with its attempts.
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("webhook_id" = Uuid, Path, description = "The endpoint's id"), DeliveriesQuery),
    responses(
        (status = OK, description = "A page of deliveries", body = DeliveryList),
        (status = BAD_REQUEST, description = "`invalid_cursor` or `invalid_query` (limit)", body = ErrorBody),
        (status = NOT_FOUND, description = "`webhook_not_found`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` or `insufficient_scope`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    webhook_id: WebhookId,
    Query(query): Query<DeliveriesQuery>,
) -> Result<axum::Json<DeliveryList>, ApiError> {
    principal.require_scope(Scope::WebhooksRead)?;
    let endpoint = visible_endpoint(&state, &principal, webhook_id).await?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let cursor = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut rows = deliveries::list(&state.pool, endpoint.webhook_endpoint_id, cursor, limit + 1).await?;
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last().map(|last| {
            encode_cursor(ListCursor { created_at: last.created_at, delivery_id: last.webhook_delivery_id })
        })
    } else {
        None
    };
    let deliveries = with_attempts(&state, &rows).await?;
    Ok(axum::Json(DeliveryList { deliveries, next_cursor }))
}

/// Send a delivery again now, whatever its state (a replay of a `succeeded` one, or another try
/// at a `failed` one). The send goes through the queue within moments; its outcome shows in the
/// delivery's attempts. The retry window still counts from the first attempt.
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{delivery_id}/retry", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("delivery_id" = Uuid, Path, description = "The delivery's id")),
    responses(
        (status = ACCEPTED, description = "The delivery, pending its send", body = DeliveryView),
        (status = NOT_FOUND, description = "`webhook_delivery_not_found` (also for another account's delivery)", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` or `insufficient_scope` (a key without webhooks:write)", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(delivery_id = %delivery_id))]
async fn retry_delivery(
    State(state): State<AppState>,
    principal: Principal,
    delivery_id: WebhookDeliveryId,
) -> Result<(StatusCode, axum::Json<DeliveryView>), ApiError> {
    principal.require_scope(Scope::WebhooksWrite)?;
    let delivery_id = delivery_id.0;
    match deliveries::get(&state.pool, delivery_id).await? {
        Some(delivery) if principal.may_manage(AccountId(delivery.owner_id)) => {}
        _ => return Err(WebhookError::DeliveryNotFound.into()),
    }
    let row = deliveries::retry_now(&state.pool, delivery_id).await?.ok_or(WebhookError::DeliveryNotFound)?;
    let mut views = with_attempts(&state, std::slice::from_ref(&row)).await?;
    let view = views.pop().ok_or(WebhookError::DeliveryNotFound)?;
    Ok((StatusCode::ACCEPTED, axum::Json(view)))
}

async fn with_attempts(state: &AppState, rows: &[DeliveryRow]) -> Result<Vec<DeliveryView>, WebhookError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.webhook_delivery_id).collect();
    let mut by_delivery: HashMap<Uuid, Vec<Attempt>> = HashMap::new();
    for (delivery_id, attempt) in deliveries::attempts(&state.pool, &ids).await? {
        by_delivery.entry(delivery_id).or_default().push(attempt);
    }
    Ok(rows
        .iter()
        .map(|row| {
            let attempts = by_delivery.remove(&row.webhook_delivery_id).unwrap_or_default();
            DeliveryView {
                id: row.webhook_delivery_id,
                webhook_id: row.webhook_endpoint_id,
                event_id: row.event_id,
                event_type: row.event_type.clone(),
                state: row.state.clone(),
                next_attempt_at: row.next_attempt_at,
                delivered_at: row.delivered_at,
                created_at: row.created_at,
                attempts: attempts
                    .into_iter()
                    .zip(1u32..)
                    .map(|(attempt, number)| AttemptView {
                        number,
                        started_at: attempt.started_at,
                        duration_ms: attempt.duration_ms,
                        status_code: attempt.status_code,
                        error: attempt.error,
                        response_excerpt: attempt.response_excerpt,
                        manual: attempt.manual,
                    })
                    .collect(),
            }
        })
        .collect())
}

fn encode_cursor(cursor: ListCursor) -> String {
    let text = format!("{}.{}", cursor.created_at.unix_timestamp_nanos(), cursor.delivery_id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(raw: &str) -> Result<ListCursor, WebhookError> {
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).map_err(|_| WebhookError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| WebhookError::InvalidCursor)?;
    let (nanos, id) = text.split_once('.').ok_or(WebhookError::InvalidCursor)?;
    let nanos: i128 = nanos.parse().map_err(|_| WebhookError::InvalidCursor)?;
    Ok(ListCursor {
        created_at: OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| WebhookError::InvalidCursor)?,
        delivery_id: Uuid::parse_str(id).map_err(|_| WebhookError::InvalidCursor)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = ListCursor {
            created_at: OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).expect("time"),
            delivery_id: Uuid::now_v7(),
        };
        assert_eq!(decode_cursor(&encode_cursor(cursor)).expect("decodes"), cursor);
        assert!(matches!(decode_cursor("not a cursor"), Err(WebhookError::InvalidCursor)));
    }
}
