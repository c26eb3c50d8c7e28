//! The assets API under `/v1/assets`: create (idempotent with `Idempotency-Key`), read, list,
//! rename and delete. Callers are instructors or administrators with a token, or applications
//! with an API key (`assets:write` to change, `assets:read` to read). An asset is visible only to
//! its owner and to administrators; anyone else gets the same `404 not_found` as for an asset
//! that does not exist, so ids cannot be probed.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::assets::{self, AssetId, AssetRow, AssetStatus, Created, ListCursor, NewAsset};
use super::views::{AssetList, AssetView, CreatedAsset, MultipartLinks, UploadLinks};
use super::{MediaError, uploads};
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::api_keys::Scope;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::AccountId;
use crate::jobs::storage_jobs::{DeletePrefix, DeletePrefixPayload};
use crate::jobs::{EnqueueOptions, queue};
use crate::storage::MultipartId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_asset, list_assets))
        .routes(routes!(get_asset, update_asset, delete_asset))
        .routes(routes!(reprocess_asset))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReprocessRequest {
    /// The preset of the new version (`course` or `fast`).
    #[schema(example = "course")]
    pub preset: String,
}

const TITLE_MAX_CHARS: usize = 200;
const DESCRIPTION_MAX_CHARS: usize = 5000;
const PASSTHROUGH_MAX_BYTES: usize = 255;
const IDEMPOTENCY_KEY_MAX_BYTES: usize = 255;
const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAssetRequest {
    #[schema(example = "Lecture 1: limits")]
    pub title: String,
    pub description: Option<String>,
    /// Your own reference (up to 255 bytes), returned as is.
    #[schema(example = "lesson-42")]
    pub passthrough: Option<String>,
    /// Pull the original from a URL instead of uploading it.
    pub input: Option<InputRequest>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputRequest {
    #[schema(example = "https://example.com/lecture.mp4")]
    pub url: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAssetRequest {
    pub title: Option<String>,
    /// `null` clears the description; leaving it out keeps it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, via `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only assets in this status.
    pub status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The asset if the caller may see it; `not_found` otherwise (as the `AssetId` extractor answers
/// a malformed id).
async fn visible_asset(state: &AppState, principal: &Principal, asset_id: AssetId) -> Result<AssetRow, MediaError> {
    match assets::get(&state.pool, asset_id).await? {
        Some(asset) if principal.may_manage(AccountId(asset.owner_id)) => Ok(asset),
        _ => Err(MediaError::NotFound("no such asset")),
    }
}

fn validate_title(raw: &str) -> Result<String, MediaError> {
    let title = raw.trim();
    if title.is_empty() {
        return Err(MediaError::InvalidTitle("title must not be empty".to_owned()));
    }
    if title.chars().count() > TITLE_MAX_CHARS {
        return Err(MediaError::InvalidTitle(format!("title must be at most {TITLE_MAX_CHARS} characters")));
    }
    Ok(title.to_owned())
}

fn validate_description(raw: Option<&str>) -> Result<Option<String>, MediaError> {
    match raw {
        Some(text) if text.chars().count() > DESCRIPTION_MAX_CHARS => {
            Err(MediaError::InvalidField(format!("description must be at most {DESCRIPTION_MAX_CHARS} characters")))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

/// An import URL as far as it can be judged before fetching: see [`super::import::check_input_url`]
/// (`url_not_allowed` for another scheme or a refused address literal).
fn validate_input_url(state: &AppState, raw: &str) -> Result<String, MediaError> {
    super::import::check_input_url(&state.ingest.fetch.policy, raw)
}

/// The `Idempotency-Key` header, if sent.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, MediaError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let key = value
        .to_str()
        .map_err(|_| MediaError::InvalidField("Idempotency-Key must be visible ASCII".to_owned()))?
        .trim();
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX_BYTES {
        return Err(MediaError::InvalidField(format!(
            "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_BYTES} characters"
        )));
    }
    Ok(Some(key.to_owned()))
}

pub(crate) fn upload_links(state: &AppState, asset_id: Uuid) -> UploadLinks {
    let base = state.http.public_url.as_str().trim_end_matches('/');
    UploadLinks {
        tus_url: format!("{base}/v1/uploads/tus"),
        multipart: MultipartLinks { init_url: format!("{base}/v1/assets/{asset_id}/multipart") },
        expires_at: OffsetDateTime::now_utc() + state.uploads.expiry,
    }
}

/// Create an asset to upload into. Send `Idempotency-Key` to make retries safe: the same key
/// with the same body returns the same asset (200), with another body `409`.
#[utoipa::path(post, path = "/v1/assets", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateAssetRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries return the same asset")),
    responses(
        (status = CREATED, description = "The new asset and where to upload its original", body = CreatedAsset),
        (status = OK, description = "The asset an earlier request with this Idempotency-Key created", body = CreatedAsset),
        (status = CONFLICT, description = "`idempotency_key_reused`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_title`, `invalid_field`, `invalid_input`, `url_not_allowed` (import URL: not http(s), or a private address literal) or `invalid_json`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` (learners) or `insufficient_scope` (a key without assets:write)", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
async fn create_asset(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(request): Json<CreateAssetRequest>,
) -> Result<(StatusCode, axum::Json<CreatedAsset>), ApiError> {
    principal.require_scope(Scope::AssetsWrite)?;
    let idempotency = match idempotency_key(&headers)? {
        Some(key) => {
            // The body as parsed, re-serialised: formatting and key order do not matter.
            let canonical = serde_json::to_vec(&request).map_err(|e| ApiError::internal(&e))?;
            Some((key, hex::encode(Sha256::digest(&canonical))))
        }
        None => None,
    };
    let new = NewAsset {
        owner_id: principal.account_id(),
        title: validate_title(&request.title)?,
        description: validate_description(request.description.as_deref())?,
        passthrough: match request.passthrough {
            Some(text) if text.len() > PASSTHROUGH_MAX_BYTES => {
                return Err(MediaError::InvalidField(format!(
                    "passthrough must be at most {PASSTHROUGH_MAX_BYTES} bytes"
                ))
                .into());
            }
            other => other,
        },
        input_url: request.input.as_ref().map(|input| validate_input_url(&state, &input.url)).transpose()?,
        idempotency,
    };
    let (status, asset) = match assets::create(&state.pool, &new).await? {
        Created::New(asset) => {
            tracing::info!(asset_id = %asset.asset_id, owner_id = %asset.owner_id, event = "asset_created", "asset created");
            (StatusCode::CREATED, asset)
        }
        Created::Existing(asset) => (StatusCode::OK, asset),
    };
    let upload = upload_links(&state, asset.asset_id);
    Ok((status, axum::Json(CreatedAsset { asset: AssetView::from_row(&asset), upload })))
}

/// One of your assets.
#[utoipa::path(get, path = "/v1/assets/{asset_id}", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:read)", body = ErrorBody),
        (status = OK, description = "The asset", body = AssetView),
        (status = NOT_FOUND, description = "`not_found`: no such asset, or not yours", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn get_asset(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
) -> Result<axum::Json<AssetView>, ApiError> {
    principal.require_scope(Scope::AssetsRead)?;
    let asset = visible_asset(&state, &principal, asset_id).await?;
    Ok(axum::Json(AssetView::load(&state.pool, &asset).await?))
}

/// Make a new version of a `ready` asset (or retry an `errored` one that was probed) with a
/// preset. The current version stays served until the new one is published.
#[utoipa::path(post, path = "/v1/assets/{asset_id}/reprocess", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset's id")),
    request_body = ReprocessRequest,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:write)", body = ErrorBody),
        (status = ACCEPTED, description = "A transcode is queued", body = AssetView),
        (status = NOT_FOUND, description = "`not_found`", body = ErrorBody),
        (status = CONFLICT, description = "`invalid_state`: the asset is not ready, or errored before it was probed", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`: unknown preset, or `invalid_json`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(asset_id = %asset_id))]
async fn reprocess_asset(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
    Json(request): Json<ReprocessRequest>,
) -> Result<(StatusCode, axum::Json<AssetView>), ApiError> {
    principal.require_scope(Scope::AssetsWrite)?;
    let asset = visible_asset(&state, &principal, asset_id).await?;
    if !pipelines::preset::BUILTIN_PRESETS.contains(&request.preset.as_str()) {
        let known = pipelines::preset::BUILTIN_PRESETS.join(", ");
        return Err(MediaError::InvalidField(format!("unknown preset {:?}; use one of {known}", request.preset)).into());
    }
    let row = assets::request_reprocess(&state.pool, asset.id(), asset.owner_id, &request.preset).await?;
    tracing::info!(preset = %request.preset, event = "asset_reprocess", "reprocess requested");
    Ok((StatusCode::ACCEPTED, axum::Json(AssetView::load(&state.pool, &row).await?)))
}

/// Your assets, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/assets", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(ListQuery),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:read)", body = ErrorBody),
        (status = OK, description = "A page of assets", body = AssetList),
        (status = BAD_REQUEST, description = "`invalid_cursor` or `invalid_query`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn list_assets(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<AssetList>, ApiError> {
    principal.require_scope(Scope::AssetsRead)?;
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => {
            Some(AssetStatus::parse(raw).ok_or_else(|| MediaError::InvalidQuery(format!("unknown status {raw:?}")))?)
        }
        None => None,
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(MediaError::InvalidQuery(format!("limit must be 1 to {MAX_PAGE}")).into());
    }
    let cursor = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut rows = assets::list(&state.pool, principal.account_id(), status, cursor, limit + 1).await?;
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last().map(|last| encode_cursor(ListCursor { created_at: last.created_at, asset_id: last.asset_id }))
    } else {
        None
    };
    Ok(axum::Json(AssetList { assets: rows.iter().map(AssetView::from_row).collect(), next_cursor }))
}

/// Opaque to clients: base64url of `<unix nanoseconds>.<asset id>`.
fn encode_cursor(cursor: ListCursor) -> String {
    let text = format!("{}.{}", cursor.created_at.unix_timestamp_nanos(), cursor.asset_id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(raw: &str) -> Result<ListCursor, MediaError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).map_err(|_| MediaError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| MediaError::InvalidCursor)?;
    let (nanos, id) = text.split_once('.').ok_or(MediaError::InvalidCursor)?;
    let nanos: i128 = nanos.parse().map_err(|_| MediaError::InvalidCursor)?;
    Ok(ListCursor {
        created_at: OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| MediaError::InvalidCursor)?,
        asset_id: Uuid::parse_str(id).map_err(|_| MediaError::InvalidCursor)?,
    })
}

/// Rename an asset or change its description.
#[utoipa::path(patch, path = "/v1/assets/{asset_id}", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset's id")),
    request_body = UpdateAssetRequest,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:write)", body = ErrorBody),
        (status = OK, description = "The changed asset", body = AssetView),
        (status = NOT_FOUND, description = "`not_found`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_title`, `invalid_field` or `invalid_json`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn update_asset(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
    Json(request): Json<UpdateAssetRequest>,
) -> Result<axum::Json<AssetView>, ApiError> {
    principal.require_scope(Scope::AssetsWrite)?;
    let asset = visible_asset(&state, &principal, asset_id).await?;
    let title = request.title.as_deref().map(validate_title).transpose()?;
    let description = match &request.description {
        Some(text) => Some(validate_description(text.as_deref())?),
        None => None,
    };
    let updated =
        assets::update_details(&state.pool, asset.id(), title.as_deref(), description.as_ref().map(Option::as_deref))
            .await?
            .ok_or(MediaError::NotFound("no such asset"))?;
    Ok(axum::Json(AssetView::from_row(&updated)))
}

/// Delete an asset: its original, uploads in progress and outputs are removed in the background.
/// Deleting it again answers 204 too.
#[utoipa::path(delete, path = "/v1/assets/{asset_id}", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:write)", body = ErrorBody),
        (status = NO_CONTENT, description = "The asset is deleted"),
        (status = NOT_FOUND, description = "`not_found`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(asset_id = %asset_id))]
async fn delete_asset(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
) -> Result<StatusCode, ApiError> {
    principal.require_scope(Scope::AssetsWrite)?;
    match assets::owner_including_deleted(&state.pool, asset_id).await? {
        Some((owner_id, _)) if !principal.may_manage(AccountId(owner_id)) => {
            return Err(MediaError::NotFound("no such asset").into());
        }
        None => return Err(MediaError::NotFound("no such asset").into()),
        Some((_, true)) => return Ok(StatusCode::NO_CONTENT),
        Some((_, false)) => {}
    }
    let mut tx = state.pool.begin().await?;
    if !assets::mark_deleted(&mut tx, asset_id).await? {
        // A concurrent DELETE won; the outcome is the same.
        return Ok(StatusCode::NO_CONTENT);
    }
    let removed_uploads = uploads::delete_for_asset(&mut tx, asset_id).await?;
    // Its probe, import and transcode stop: queued ones never run, a running transcode sees the
    // asset gone within a second and kills its engine child.
    let cancelled = queue::cancel_for_asset(&mut tx, asset_id.0, "cancelled: the asset was deleted").await?;
    let mut prefixes = vec![format!("assets/{asset_id}/")];
    prefixes.extend(removed_uploads.iter().map(|(upload_id, _)| format!("uploads/{upload_id}/")));
    for prefix in prefixes {
        let payload =
            serde_json::to_value(DeletePrefixPayload { prefix: prefix.clone() }).map_err(|e| ApiError::internal(&e))?;
        let options = EnqueueOptions {
            unique_key: Some(format!("{}:{prefix}", DeletePrefix::KIND)),
            ..EnqueueOptions::default()
        };
        queue::enqueue_in(&mut tx, DeletePrefix::KIND, &payload, options).await?;
    }
    // Cached copies of its outputs are dropped once they are deleted (uploads are never served).
    let outputs =
        crate::storage::KeyPrefix::parse(format!("assets/{asset_id}/")).map_err(|e| ApiError::internal(&e))?;
    crate::jobs::cdn_jobs::enqueue_after_deletion(&mut tx, state.invalidator.as_ref(), &outputs, None).await?;
    tx.commit().await?;
    // Open storage multipart uploads hold parts outside any prefix; abort them now that the
    // deletion is committed. A failure only leaves parts for the store's own expiry rules.
    let source_key = super::source_key(asset_id);
    for (upload_id, storage_upload_id) in removed_uploads {
        let result = match (storage_upload_id, state.storage.append_store()) {
            (Some(id), _) => state.storage.abort_multipart(&source_key, &MultipartId(id)).await,
            (None, Some(appender)) => appender.discard_append(&upload_id.to_string()).await,
            (None, None) => Ok(()),
        };
        if let Err(error) = result {
            tracing::warn!(error = %crate::error_chain(&error), "cannot remove a deleted asset's upload in progress");
        }
    }
    tracing::info!(event = "asset_deleted", cancelled_jobs = cancelled, "asset deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = ListCursor {
            created_at: OffsetDateTime::from_unix_timestamp_nanos(1_764_000_000_123_456_000).expect("valid"),
            asset_id: Uuid::new_v4(),
        };
        assert_eq!(decode_cursor(&encode_cursor(cursor)).expect("decodes"), cursor);
        assert!(matches!(decode_cursor("not a cursor"), Err(MediaError::InvalidCursor)));
    }
}
