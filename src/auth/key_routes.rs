//! The API-key endpoints under `/v1/api-keys`. Only a signed-in person manages keys (an API key
//! cannot mint or revoke keys), so they take [`Authenticated`], not [`super::Principal`].

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api_keys::{self, ApiKeyView};
use super::{AuthError, Authenticated};
use crate::app::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::ApiKeyId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_key, list_keys)).routes(routes!(revoke_key))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    #[schema(example = "course site")]
    pub name: String,
    /// Any of `assets:read`, `assets:write`, `playback:create`, `webhooks:read` and
    /// `webhooks:write`.
    #[schema(example = json!(["assets:read", "playback:create"]))]
    pub scopes: Vec<String>,
}

/// A new key with its secret, which is shown this once and never again. Not `Debug`, so the
/// secret cannot reach a log.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// Send it as `Authorization: Bearer lk_…`. Store it now: only its hash is kept.
    #[schema(example = "lk_Zq3v9Xa1…")]
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    pub api_keys: Vec<ApiKeyView>,
}

/// Create an API key for an application (instructors and administrators). The answer is the only
/// time the secret is shown.
#[utoipa::path(post, path = "/v1/api-keys", tag = "identity", security(("bearer" = [])),
    request_body = CreateKeyRequest,
    responses(
        (status = CREATED, description = "The key and its secret", body = CreatedKey),
        (status = FORBIDDEN, description = "`forbidden`: learners hold no keys", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_scope` or `invalid_name`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn create_key(
    State(state): State<AppState>,
    caller: Authenticated,
    Json(request): Json<CreateKeyRequest>,
) -> Result<(StatusCode, axum::Json<CreatedKey>), ApiError> {
    if !api_keys::may_own_keys(&caller.roles) {
        return Err(
            AuthError::ForbiddenBecause("only instructors and administrators may create API keys".to_owned()).into()
        );
    }
    let (name, scopes) = api_keys::check_request(&caller.roles, &request.name, &request.scopes)?;
    let secret = api_keys::new_secret()?;
    let key = api_keys::create(&state.pool, caller.account_id, &name, &scopes, &secret).await?;
    tracing::info!(
        account_id = %caller.account_id,
        api_key_id = %key.api_key_id,
        scopes = ?key.scopes,
        event = "api_key_created",
        "API key created"
    );
    Ok((StatusCode::CREATED, axum::Json(CreatedKey { key, secret: secret.secret })))
}

/// Your API keys, newest first, revoked ones included; never their secrets.
#[utoipa::path(get, path = "/v1/api-keys", tag = "identity", security(("bearer" = [])),
    responses(
        (status = OK, description = "The caller's keys", body = KeyList),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn list_keys(State(state): State<AppState>, caller: Authenticated) -> Result<axum::Json<KeyList>, ApiError> {
    let api_keys = api_keys::list(&state.pool, caller.account_id).await?;
    Ok(axum::Json(KeyList { api_keys }))
}

/// Revoke one of your API keys; it stops working at once. Revoking a revoked key succeeds again.
#[utoipa::path(delete, path = "/v1/api-keys/{api_key_id}", tag = "identity", security(("bearer" = [])),
    params(("api_key_id" = Uuid, Path, description = "A key from GET /v1/api-keys")),
    responses(
        (status = NO_CONTENT, description = "The key is revoked"),
        (status = NOT_FOUND, description = "No such key of yours", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Authenticated,
    api_key_id: ApiKeyId,
) -> Result<StatusCode, ApiError> {
    let api_key_id = api_key_id.0;
    if api_keys::revoke(&state.pool, caller.account_id, api_key_id).await? {
        tracing::info!(account_id = %caller.account_id, %api_key_id, event = "api_key_revoked", "API key revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AuthError::NotFound("no such API key").into())
    }
}
