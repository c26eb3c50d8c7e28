//! The playback endpoints: sessions (`POST /v1/assets/{id}/playback`, `DELETE
//! /v1/playback/{session}`), grants (`/v1/assets/{id}/grants`), access settings (`PUT
//! /v1/assets/{id}/access`), and the per-session manifests under `/play/{session}/…`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PlaybackError;
use super::access::{self, AssetAccess, Decision, GrantView, Visibility};
use super::manifests::{self, Links};
use super::sessions::{self, NewSession, SessionRow};
use crate::app::AppState;
use crate::auth::api_keys::{self, Scope};
use crate::auth::{ClientInfo, Principal};
use crate::cdn::{SignedPolicy, SourceIp};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::{AccountId, AssetId, PlaybackSessionId};
use crate::metrics::OutcomeLabels;
use crate::storage::ObjectKey;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session))
        .routes(routes!(revoke_session))
        .routes(routes!(create_grant, list_grants))
        .routes(routes!(revoke_grant))
        .routes(routes!(put_access))
}

/// The per-session manifests, outside the JSON API like the origin (documented through
/// [`PlayApi`]).
pub fn play_routes(state: AppState) -> Router {
    Router::new().route("/play/{session_id}/{*path}", get(get_manifest)).with_state(state)
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(get_manifest))]
pub struct PlayApi;

/// `?cookies=1`: the signature travels as `CloudFront-*` cookies (for a player on the same site
/// as the CDN) instead of in every URI.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ManifestQuery {
    /// `1` for the signed-cookie variant.
    pub cookies: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// With an API key (`playback:create`): the learner the session is for. Without it, the
    /// session is for the caller.
    pub on_behalf_of: Option<Uuid>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub session_id: Uuid,
    /// The session's HLS master playlist.
    pub hls_url: String,
    /// The session's DASH MPD.
    pub dash_url: String,
    /// A signed URL of the poster image.
    pub poster_url: String,
    /// The session's storyboard WebVTT (thumbnails for the seek bar).
    pub storyboard_url: String,
    /// A signed URL of the progressive MP4, when the package has one.
    pub download_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub account_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<GrantView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessSettings {
    pub visibility: Visibility,
    /// Exact origins (`https://school.example`) allowed to embed the player; empty allows any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Tie each session's signed URLs to the address that created it.
    #[serde(default)]
    pub bind_ip: bool,
}

/// The asset, if it exists and the caller may manage it (owner or administrator); `not_found`
/// otherwise, so ids cannot be probed.
async fn managed_asset(
    state: &AppState,
    principal: &Principal,
    asset_id: AssetId,
) -> Result<AssetAccess, PlaybackError> {
    match access::load(&state.pool, asset_id.0).await? {
        Some(asset) if principal.may_manage(AccountId(asset.owner_id)) => Ok(asset),
        _ => Err(PlaybackError::AssetNotFound),
    }
}

/// Creates a playback session.
#[utoipa::path(post, path = "/v1/assets/{asset_id}/playback", tag = "playback",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset's id"),
           ("Origin" = Option<String>, Header, description = "Checked against the asset's allowed origins (else Referer)")),
    request_body(content = Option<CreateSessionRequest>, description = "Optional; `on_behalf_of` only with an API key"),
    responses(
        (status = CREATED, description = "The session and its URLs", body = SessionView),
        (status = FORBIDDEN, description = "`origin_not_allowed`, `insufficient_scope` (a key without playback:create) or, for a key acting for a learner without a grant, `playback_not_allowed`", body = ErrorBody),
        (status = NOT_FOUND, description = "`not_found`: no such asset, one the caller may not watch (answered alike, so ids cannot be probed), for a key not its owner's; or no such learner", body = ErrorBody),
        (status = CONFLICT, description = "`asset_not_ready`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(asset_id = tracing::field::Empty))]
async fn create_session(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
    asset_id: Result<AssetId, ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<SessionView>), ApiError> {
    let result = new_session(&state, &principal, &client, asset_id, &headers, &body).await;
    count_outcome(&state, &result);
    result
}

/// [`create_session`] without the counting. A malformed asset id comes as an `Err`, so it is
/// counted as refused and answered after a malformed body, as a missing asset.
async fn new_session(
    state: &AppState,
    principal: &Principal,
    client: &ClientInfo,
    asset_id: Result<AssetId, ApiError>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(StatusCode, axum::Json<SessionView>), ApiError> {
    let request: CreateSessionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateSessionRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| PlaybackError::InvalidField(format!("invalid request body: {e}")))?
    };
    let asset_id = asset_id?;
    tracing::Span::current().record("asset_id", tracing::field::display(asset_id));
    let asset_id = asset_id.0;
    // The scope first: a key without it is refused alike whether the asset exists or not.
    if let Principal::ApiKey(key) = principal {
        key.require_scope(Scope::PlaybackCreate).map_err(PlaybackError::from)?;
    }
    let asset = access::load(&state.pool, asset_id).await?.ok_or(PlaybackError::AssetNotFound)?;
    let (viewer, api_key_id) = match principal {
        Principal::User(user) => {
            if request.on_behalf_of.is_some() {
                return Err(PlaybackError::InvalidField("on_behalf_of is only for API keys".to_owned()).into());
            }
            (user.account_id, None)
        }
        Principal::ApiKey(key) => {
            // An application acts for learners only on its owner's assets.
            if !principal.may_manage(AccountId(asset.owner_id)) {
                return Err(PlaybackError::AssetNotFound.into());
            }
            let viewer = match request.on_behalf_of {
                Some(learner) => {
                    api_keys::on_behalf_of(&state.pool, key, learner).await.map_err(PlaybackError::from)?
                }
                None => key.owner,
            };
            (viewer, Some(key.api_key_id))
        }
    };
    let viewer = Viewer { account_id: viewer, api_key_id, context_id: None };
    let view = match open_session(state, &asset, &viewer, client, headers).await {
        // A person who may not watch a private asset is answered as for an asset that does not
        // exist, so ids cannot be probed. (A key acts only on its owner's assets, whose existence
        // its owner knows: it learns that the learner has no grant.)
        Err(PlaybackError::NotAllowed) if api_key_id.is_none() => return Err(PlaybackError::AssetNotFound.into()),
        other => other?,
    };
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Who a session is for: the viewing account, the key that opened it for them, and what another
/// domain opened it for (training: the lesson).
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub account_id: Uuid,
    pub api_key_id: Option<Uuid>,
    pub context_id: Option<Uuid>,
}

/// Opens a session on `asset` for `viewer` after the checks every session passes: [`may_watch`],
/// a playable version, the page's origin. Used by `POST /v1/assets/{id}/playback` and by domains
/// that open sessions in their own context (a lesson).
///
/// [`may_watch`]: access::may_watch
pub async fn open_session(
    state: &AppState,
    asset: &AssetAccess,
    viewer: &Viewer,
    client: &ClientInfo,
    headers: &HeaderMap,
) -> Result<SessionView, PlaybackError> {
    if access::may_watch(&state.pool, viewer.account_id, asset).await? != Decision::Allowed {
        return Err(PlaybackError::NotAllowed);
    }
    let version = asset.playable_version().ok_or(PlaybackError::AssetNotReady)?;
    let origin = access::request_origin(header_text(headers, header::ORIGIN), header_text(headers, header::REFERER));
    if !asset.origin_allowed(origin.as_deref()) {
        return Err(PlaybackError::OriginNotAllowed);
    }
    let ttl = i64::try_from(state.cdn.settings.playback_session_ttl.as_secs()).unwrap_or(i64::MAX);
    let expires = OffsetDateTime::now_utc().unix_timestamp().saturating_add(ttl);
    let expires_at = OffsetDateTime::from_unix_timestamp(expires)
        .map_err(|_| PlaybackError::InvalidField("TTL too long".to_owned()))?;
    let version_number = i32::try_from(version).map_err(|_| PlaybackError::AssetNotReady)?;
    let manifests =
        sessions::published_manifests(&state.pool, asset.asset_id, version_number).await?.unwrap_or_default();
    let session = sessions::create(
        &state.pool,
        &NewSession {
            asset_id: asset.asset_id,
            version: version_number,
            account_id: viewer.account_id,
            api_key_id: viewer.api_key_id,
            expires_at,
            client_ip: asset.bind_ip.then(|| client.ip.to_string()),
            context_id: viewer.context_id,
        },
    )
    .await?;
    tracing::info!(session_id = %session.session_id, version, "playback session created");
    session_view(state, &session, &manifests)
}

/// Counts a session request's outcome in `lectern_playback_sessions_total`.
pub fn count_outcome<T>(state: &AppState, result: &Result<T, ApiError>) {
    let outcome = match result {
        Ok(_) => "created",
        Err(error) if error.status.is_client_error() => "refused",
        Err(_) => "failed",
    };
    state.metrics.playback_sessions.get_or_create(&OutcomeLabels { outcome }).inc();
}

/// A path of the package from the version's `manifests` map, or the engine's default name.
fn package_path<'a>(manifests: &'a serde_json::Value, kind: &str, default: &'a str) -> &'a str {
    manifests.get(kind).and_then(serde_json::Value::as_str).unwrap_or(default)
}

fn session_view(
    state: &AppState,
    session: &SessionRow,
    manifests: &serde_json::Value,
) -> Result<SessionView, PlaybackError> {
    use pipelines::naming;
    let play_base = play_base(state, session.session_id);
    let expires = session.expires_at.unix_timestamp();
    let canned = |path: &str| -> Result<String, PlaybackError> {
        let url = object_url(state, session, path)?;
        Ok(state.cdn.signer.canned_url(&url, expires)?)
    };
    let download_url = match manifests.get("download").and_then(serde_json::Value::as_str) {
        Some(path) => Some(canned(path)?),
        None => None,
    };
    Ok(SessionView {
        session_id: session.session_id,
        hls_url: format!("{play_base}/{}", package_path(manifests, "hls", naming::MASTER_PLAYLIST)),
        dash_url: format!("{play_base}/{}", package_path(manifests, "dash", naming::DASH_MANIFEST)),
        poster_url: canned(package_path(manifests, "poster", naming::POSTER))?,
        storyboard_url: format!("{play_base}/{}", package_path(manifests, "storyboard", naming::STORYBOARD_VTT)),
        download_url,
        expires_at: session.expires_at,
    })
}

fn play_base(state: &AppState, session_id: Uuid) -> String {
    format!("{}/play/{session_id}", state.http.public_url.as_str().trim_end_matches('/'))
}

fn version_prefix(session: &SessionRow) -> String {
    format!("assets/{}/v{}", session.asset_id, session.version)
}

/// The CDN URL (unsigned) of `path` inside the session's version.
fn object_url(state: &AppState, session: &SessionRow, path: &str) -> Result<String, PlaybackError> {
    let key =
        ObjectKey::parse(format!("{}/{path}", version_prefix(session))).map_err(|_| PlaybackError::SessionNotFound)?;
    Ok(state.cdn.url_for(&key))
}

/// The session's one signed custom policy, re-derived (deterministically) from the row.
fn session_policy(state: &AppState, session: &SessionRow) -> Result<SignedPolicy, PlaybackError> {
    let ip = match &session.client_ip {
        Some(ip) => Some(SourceIp::parse(ip)?),
        None => None,
    };
    let version = u32::try_from(session.version).map_err(|_| PlaybackError::SessionNotFound)?;
    let policy = state.cdn.asset_version_policy(&session.asset_id, version, session.expires_at.unix_timestamp(), ip);
    Ok(state.cdn.signer.sign_policy(&policy)?)
}

/// Ends a playback session: its manifests stop at once.
#[utoipa::path(delete, path = "/v1/playback/{session_id}", tag = "playback",
    security(("bearer" = []), ("api_key" = [])),
    params(("session_id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = NO_CONTENT, description = "Revoked (also when it already was)"),
        (status = NOT_FOUND, description = "`playback_session_not_found`: no such session, or not yours to end", body = ErrorBody),
        (status = FORBIDDEN, description = "`insufficient_scope`: a key with neither playback:create nor assets:write", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(session_id = %session_id))]
async fn revoke_session(
    State(state): State<AppState>,
    principal: Principal,
    session_id: PlaybackSessionId,
) -> Result<StatusCode, ApiError> {
    // Ending a session is a write: a key needs playback:create (it ends what it opened) or
    // assets:write (its owner's assets); a read-only key ends nothing.
    if let Principal::ApiKey(key) = &principal
        && key.require_scope(Scope::AssetsWrite).is_err()
    {
        key.require_scope(Scope::PlaybackCreate).map_err(PlaybackError::from)?;
    }
    let session_id = session_id.0;
    let session = sessions::get(&state.pool, session_id).await?.ok_or(PlaybackError::SessionNotFound)?;
    let owner = access::load(&state.pool, session.asset_id).await?.map(|asset| asset.owner_id);
    let allowed =
        principal.account_id() == session.account_id || owner == Some(principal.account_id()) || principal.is_admin();
    if !allowed {
        return Err(PlaybackError::SessionNotFound.into());
    }
    sessions::revoke(&state.pool, session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lets an account watch a private asset.
#[utoipa::path(post, path = "/v1/assets/{asset_id}/grants", tag = "playback",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset's id")),
    request_body = GrantRequest,
    responses(
        (status = CREATED, description = "The active grant (the existing one when granted already)", body = GrantView),
        (status = NOT_FOUND, description = "`not_found`: no such asset (or not yours), or no such account", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` or `insufficient_scope` (a key without assets:write)", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(asset_id = %asset_id))]
async fn create_grant(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
    Json(request): Json<GrantRequest>,
) -> Result<(StatusCode, axum::Json<GrantView>), ApiError> {
    principal.require_scope(Scope::AssetsWrite).map_err(PlaybackError::from)?;
    let asset = managed_asset(&state, &principal, asset_id).await?;
    let grant = access::grant(&state.pool, asset.asset_id, request.account_id, principal.account_id()).await?;
    Ok((StatusCode::CREATED, axum::Json(grant)))
}

/// The active grants of an asset.
#[utoipa::path(get, path = "/v1/assets/{asset_id}/grants", tag = "playback",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:read)", body = ErrorBody),
        (status = OK, description = "Active grants, oldest first", body = GrantList),
        (status = NOT_FOUND, description = "`not_found`: no such asset, or not yours", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn list_grants(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
) -> Result<axum::Json<GrantList>, ApiError> {
    principal.require_scope(Scope::AssetsRead).map_err(PlaybackError::from)?;
    let asset = managed_asset(&state, &principal, asset_id).await?;
    Ok(axum::Json(GrantList { grants: access::list_grants(&state.pool, asset.asset_id).await? }))
}

/// Revokes a grant and, in the same transaction, that account's open sessions for the asset.
#[utoipa::path(delete, path = "/v1/assets/{asset_id}/grants/{account_id}", tag = "playback",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset's id"),
           ("account_id" = Uuid, Path, description = "The account whose grant ends")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:write)", body = ErrorBody),
        (status = NO_CONTENT, description = "Revoked (also when there was none)"),
        (status = NOT_FOUND, description = "`not_found`: no such asset, or not yours", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(asset_id = %asset_id))]
async fn revoke_grant(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
    account_id: AccountId,
) -> Result<StatusCode, ApiError> {
    principal.require_scope(Scope::AssetsWrite).map_err(PlaybackError::from)?;
    let asset = managed_asset(&state, &principal, asset_id).await?;
    access::revoke_grant(&state.pool, asset.asset_id, account_id.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets who may watch without a grant, where the player may be embedded, and whether sessions
/// are bound to the client's address.
#[utoipa::path(put, path = "/v1/assets/{asset_id}/access", tag = "playback",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset's id")),
    request_body = AccessSettings,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:write)", body = ErrorBody),
        (status = OK, description = "The settings now in force", body = AccessSettings),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`: an allowed origin that is not `scheme://host[:port]`", body = ErrorBody),
        (status = NOT_FOUND, description = "`not_found`: no such asset, or not yours", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(asset_id = %asset_id))]
async fn put_access(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
    Json(request): Json<AccessSettings>,
) -> Result<axum::Json<AccessSettings>, ApiError> {
    principal.require_scope(Scope::AssetsWrite).map_err(PlaybackError::from)?;
    let asset = managed_asset(&state, &principal, asset_id).await?;
    if request.allowed_origins.len() > 50 {
        return Err(PlaybackError::InvalidField("at most 50 allowed origins".to_owned()).into());
    }
    let origins = request
        .allowed_origins
        .iter()
        .map(|raw| {
            access::parse_origin(raw)
                .ok_or_else(|| PlaybackError::InvalidField(format!("{raw:?} is not an origin (scheme://host[:port])")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    access::set_access(&state.pool, asset.asset_id, request.visibility, &origins, request.bind_ip).await?;
    Ok(axum::Json(AccessSettings {
        visibility: request.visibility,
        allowed_origins: origins,
        bind_ip: request.bind_ip,
    }))
}

/// A session's manifest (HLS master or media playlist, MPD, storyboard VTT) with every child URI
/// rewritten for the session.
#[utoipa::path(get, path = "/play/{session_id}/{path}", tag = "playback",
    params(("session_id" = Uuid, Path, description = "The playback session (its id is the credential)"),
           ("path" = String, Path, description = "master.m3u8, {rendition}/playlist.m3u8, manifest.mpd or images/storyboard.vtt"),
           ManifestQuery),
    responses(
        (status = OK, description = "The manifest; `Cache-Control: private, no-store`; with `cookies=1` also `Set-Cookie: CloudFront-*` scoped to the version's CDN path"),
        (status = FORBIDDEN, description = "`playback_not_allowed` (the grant was revoked) or `origin_not_allowed`", body = ErrorBody),
        (status = NOT_FOUND, description = "`playback_session_not_found` or `not_found` (no such manifest)", body = ErrorBody),
        (status = GONE, description = "`playback_session_revoked` or `playback_session_expired`", body = ErrorBody),
    ))]
async fn get_manifest(
    State(state): State<AppState>,
    // A `Result`, so that a malformed session id is answered with the CORS headers, like any refusal.
    session_id: Result<PlaybackSessionId, ApiError>,
    // The session id again, as text (unused), and the manifest's path.
    Path((_session_id, path)): Path<(String, String)>,
    Query(query): Query<ManifestQuery>,
    headers: HeaderMap,
) -> Response {
    let cookies = query.cookies.as_deref() == Some("1");
    let served = match session_id {
        Ok(session_id) => manifest(&state, session_id, &path, &headers, cookies).await.map_err(ApiError::from),
        Err(malformed) => Err(malformed),
    };
    let response = match served {
        Ok(served) => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(served.content_type)),
                    (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
                ],
                served.text,
            )
                .into_response();
            for cookie in served.set_cookies.iter().filter_map(|c| HeaderValue::from_str(c).ok()) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => error.into_response(),
    };
    crate::delivery::origin::with_cors(response, &state, &headers)
}

/// A rewritten manifest and, in the cookie variant, the `Set-Cookie` values.
struct ServedManifest {
    content_type: &'static str,
    text: String,
    set_cookies: Vec<String>,
}

async fn manifest(
    state: &AppState,
    session_id: PlaybackSessionId,
    path: &str,
    headers: &HeaderMap,
    cookies: bool,
) -> Result<ServedManifest, PlaybackError> {
    let session = sessions::get(&state.pool, session_id.0).await?.ok_or(PlaybackError::SessionNotFound)?;
    if session.revoked_at.is_some() {
        return Err(PlaybackError::SessionRevoked);
    }
    if session.expires_at <= OffsetDateTime::now_utc() {
        return Err(PlaybackError::SessionExpired);
    }
    let asset = access::load(&state.pool, session.asset_id).await?.ok_or(PlaybackError::SessionNotFound)?;
    if access::may_watch(&state.pool, session.account_id, &asset).await? != Decision::Allowed {
        return Err(PlaybackError::NotAllowed);
    }
    let origin = header_text(headers, header::ORIGIN);
    if origin.is_some() && !asset.origin_allowed(origin) {
        return Err(PlaybackError::OriginNotAllowed);
    }
    let content_type = match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("mpd") => "application/dash+xml",
        Some("vtt") => "text/vtt; charset=utf-8",
        _ => return Err(PlaybackError::AssetNotFound),
    };
    let key =
        ObjectKey::parse(format!("{}/{path}", version_prefix(&session))).map_err(|_| PlaybackError::AssetNotFound)?;
    let bytes = match crate::storage::get_bytes(state.storage.as_ref(), &key).await {
        Ok(bytes) => bytes,
        Err(crate::storage::StorageError::NotFound) => return Err(PlaybackError::AssetNotFound),
        Err(other) => return Err(other.into()),
    };
    let text = String::from_utf8_lossy(&bytes);
    let signed = session_policy(state, &session)?;
    let object_base = format!("{}/{}", state.cdn.settings.base_url, version_prefix(&session));
    let set_cookies = if cookies { cookie_headers(&signed, &object_base) } else { Vec::new() };
    let links = Links {
        play_base: play_base(state, session.session_id),
        object_base,
        query: if cookies { String::new() } else { signed.query() },
        play_suffix: if cookies { "?cookies=1".to_owned() } else { String::new() },
    };
    let rewritten = match content_type {
        "application/dash+xml" => manifests::rewrite_dash(&text, &links),
        "application/vnd.apple.mpegurl" => manifests::rewrite_hls(&text, path, &links),
        _ => manifests::rewrite_vtt(&text, path, &links),
    };
    Ok(ServedManifest { content_type, text: rewritten, set_cookies })
}

/// The session's signature as `CloudFront-*` cookies scoped to the version's path on the CDN,
/// `Secure` when the CDN is served over HTTPS.
fn cookie_headers(signed: &SignedPolicy, object_base: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(object_base) else { return Vec::new() };
    let attributes = crate::cdn::CookieAttributes::default()
        .path(format!("{}/", url.path().trim_end_matches('/')))
        .secure(url.scheme() == "https");
    signed.cookies().set_cookie_headers(&attributes)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}
