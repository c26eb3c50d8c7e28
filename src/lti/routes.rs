//! The LTI endpoints: the administrators' platform registrations (`/v1/lti/platforms`), the
//! tool's configuration (`/v1/lti/tool`) and key set (`/lti/jwks`), and the protocol endpoints
//! of `launch` and `deep_linking`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::platforms::{self, NewPlatform, Platform};
use super::{deep_linking, launch};
use crate::app::AppState;
use crate::auth::{Authenticated, Role};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::LtiPlatformId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_platforms, create_platform))
        .routes(routes!(get_platform, update_platform, delete_platform))
        .routes(routes!(tool_configuration))
        .routes(routes!(tool_jwks))
        .routes(routes!(launch::login_get, launch::login_post))
        .routes(routes!(launch::launch))
        .routes(routes!(deep_linking::respond))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlatformList {
    pub platforms: Vec<Platform>,
}

fn require_admin(caller: &Authenticated) -> Result<(), ApiError> {
    caller.require(Role::Admin).map_err(ApiError::from)
}

/// Registered LMS platforms, oldest first (administrators).
#[utoipa::path(get, path = "/v1/lti/platforms", tag = "lti", security(("bearer" = [])),
    responses(
        (status = OK, description = "Every registration", body = PlatformList),
        (status = FORBIDDEN, description = "`forbidden`: not an administrator", body = ErrorBody),
    ))]
async fn list_platforms(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<axum::Json<PlatformList>, ApiError> {
    require_admin(&caller)?;
    Ok(axum::Json(PlatformList { platforms: platforms::list(&state.pool).await? }))
}

/// Register an LMS platform (administrators): the values the LMS shows once Lectern is added as
/// an LTI 1.3 tool.
#[utoipa::path(post, path = "/v1/lti/platforms", tag = "lti", security(("bearer" = [])), request_body = NewPlatform,
    responses(
        (status = CREATED, description = "Registered", body = Platform),
        (status = CONFLICT, description = "`lti_platform_exists`: this issuer and client id are registered", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden`: not an administrator", body = ErrorBody),
    ))]
async fn create_platform(
    State(state): State<AppState>,
    caller: Authenticated,
    Json(new): Json<NewPlatform>,
) -> Result<(StatusCode, axum::Json<Platform>), ApiError> {
    require_admin(&caller)?;
    let platform = platforms::create(&state.pool, &new, caller.account_id).await?;
    tracing::info!(platform_id = %platform.platform_id, issuer = platform.issuer, event = "lti_platform_registered", "LTI platform registered");
    Ok((StatusCode::CREATED, axum::Json(platform)))
}

/// One registration (administrators).
#[utoipa::path(get, path = "/v1/lti/platforms/{platform_id}", tag = "lti", security(("bearer" = [])),
    params(("platform_id" = uuid::Uuid, Path, description = "The registration's id")),
    responses(
        (status = OK, description = "The registration", body = Platform),
        (status = NOT_FOUND, description = "`not_found`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden`: not an administrator", body = ErrorBody),
    ))]
async fn get_platform(
    State(state): State<AppState>,
    caller: Authenticated,
    platform_id: LtiPlatformId,
) -> Result<axum::Json<Platform>, ApiError> {
    require_admin(&caller)?;
    Ok(axum::Json(platforms::get(&state.pool, platform_id.0).await?))
}

/// Replace a registration (administrators); a changed key-set URL is read on the next launch.
#[utoipa::path(put, path = "/v1/lti/platforms/{platform_id}", tag = "lti", security(("bearer" = [])),
    params(("platform_id" = uuid::Uuid, Path, description = "The registration's id")), request_body = NewPlatform,
    responses(
        (status = OK, description = "The registration", body = Platform),
        (status = NOT_FOUND, description = "`not_found`", body = ErrorBody),
        (status = CONFLICT, description = "`lti_platform_exists`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden`: not an administrator", body = ErrorBody),
    ))]
async fn update_platform(
    State(state): State<AppState>,
    caller: Authenticated,
    platform_id: LtiPlatformId,
    Json(new): Json<NewPlatform>,
) -> Result<axum::Json<Platform>, ApiError> {
    require_admin(&caller)?;
    Ok(axum::Json(platforms::update(&state.pool, platform_id.0, &new).await?))
}

/// Remove a registration (administrators): its launches stop; the accounts its users signed in
/// with stay, without the link to the platform.
#[utoipa::path(delete, path = "/v1/lti/platforms/{platform_id}", tag = "lti", security(("bearer" = [])),
    params(("platform_id" = uuid::Uuid, Path, description = "The registration's id")),
    responses(
        (status = NO_CONTENT, description = "Removed"),
        (status = NOT_FOUND, description = "`not_found`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden`: not an administrator", body = ErrorBody),
    ))]
async fn delete_platform(
    State(state): State<AppState>,
    caller: Authenticated,
    platform_id: LtiPlatformId,
) -> Result<StatusCode, ApiError> {
    require_admin(&caller)?;
    platforms::delete(&state.pool, platform_id.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What to paste into an LMS when adding Lectern as an LTI 1.3 tool.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ToolConfiguration {
    /// "Initiate login URL" (Moodle), "OpenID Connect Initiation Url" (Canvas).
    pub login_url: String,
    /// "Redirection URI(s)" (Moodle), "Redirect URIs" and "Target Link URI" (Canvas).
    pub launch_url: String,
    /// "Public keyset URL" (Moodle), "Public JWK URL" (Canvas).
    pub jwks_url: String,
    /// The deep-linking URL ("Content Selection URL"); it is the launch URL.
    pub deep_linking_url: String,
}

/// The tool's URLs, as an LMS asks for them.
#[utoipa::path(get, path = "/v1/lti/tool", tag = "lti",
    responses((status = OK, description = "The URLs to register", body = ToolConfiguration)))]
async fn tool_configuration(State(state): State<AppState>) -> axum::Json<ToolConfiguration> {
    axum::Json(ToolConfiguration {
        login_url: launch::endpoint(&state, "lti/login"),
        launch_url: launch::launch_url(&state),
        jwks_url: launch::endpoint(&state, "lti/jwks"),
        deep_linking_url: launch::launch_url(&state),
    })
}

/// The tool's public key set (RS256), with which platforms verify its deep-linking responses and
/// service assertions.
#[utoipa::path(get, path = "/lti/jwks", tag = "lti",
    responses((status = OK, description = "A JWK Set (RFC 7517)", body = Object)))]
async fn tool_jwks(State(state): State<AppState>) -> impl IntoResponse {
    let key = &state.keys.lti;
    let set = serde_json::json!({
        "keys": [{
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": key.key_id,
            "n": key.modulus,
            "e": key.exponent,
        }]
    });
    ([(header::CACHE_CONTROL, "public, max-age=300")], axum::Json(set))
}
