//! Resumable uploads with the tus 1.0 protocol (<https://tus.io/protocols/resumable-upload>),
//! extensions `creation`, `creation-with-upload`, `creation-defer-length`, `expiration`,
//! `checksum` (sha1, sha256) and `termination`.
//!
//! `POST /v1/uploads/tus` creates an upload for an asset named in `Upload-Metadata`
//! (`asset_id`); `HEAD`, `PATCH` and `DELETE` on the returned `Location` read the offset, append
//! bytes and terminate. These routes are mounted outside the JSON API's body limit and request
//! timeout (a PATCH may carry gigabytes) and documented through [`TusApi`].
//!
//! Authorisation: every request needs the asset owner's credentials (an access token, or an API
//! key with `assets:write`) — tus-js-client sends them as headers. The upload id in the URL is a
//! random v4 UUID (122 random bits), so it is not guessable either, but it is not a credential
//! on its own: a leaked upload URL without the owner's token is useless.

/// Public so the fuzz tests reach the parsers of outside bytes.
pub mod headers;
mod writer;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use time::OffsetDateTime;
use uuid::Uuid;

use headers::{
    check_version, encode_metadata, header_u64, header_value, http_date, is_offset_stream, parse_checksum,
    parse_metadata,
};
pub use writer::tail_key;
use writer::{Lease, Written};

use super::assets::{self, AssetId, AssetStatus};
use super::uploads::{self, NewUpload, UploadRow};
use super::{MediaError, source_key};
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::api_keys::Scope;
use crate::http::error::ApiError;
use crate::ids::{AccountId, UploadId};
use crate::storage::{MultipartId, PutOptions};

pub const TUS_VERSION: &str = "1.0.0";
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination";
pub const TUS_CHECKSUM_ALGORITHMS: &str = "sha1,sha256";

/// The tus routes; merged beside the JSON API (see `crate::app::router`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/uploads/tus", post(create_upload).options(options_tus))
        .route(
            "/v1/uploads/tus/{upload_id}",
            axum::routing::head(head_upload).patch(patch_upload).delete(delete_upload),
        )
        // Bodies are streamed into storage a part at a time, never buffered whole.
        .layer(DefaultBodyLimit::disable())
}

/// The OpenAPI description of the tus routes, merged into `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(options_tus, create_upload, head_upload, patch_upload, delete_upload))]
pub struct TusApi;

/// Adds `Tus-Resumable` to every answer, errors included.
fn finish(result: Result<Response, ApiError>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.headers_mut().insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    if response.status() == StatusCode::PRECONDITION_FAILED {
        response.headers_mut().insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    }
    response
}

/// The caller, who must be allowed to write assets.
async fn writer_principal(state: &AppState, parts: &mut Parts) -> Result<Principal, ApiError> {
    let principal = Principal::from_request_parts(parts, state).await?;
    principal.require_scope(Scope::AssetsWrite)?;
    Ok(principal)
}

/// The upload if the caller may use it: `upload_not_found` for unknown ids and for uploads of
/// assets the caller cannot see (the same answer, so ids cannot be probed; the `UploadId`
/// extractor answers a malformed id so too), `upload_expired` past its expiry.
async fn visible_upload(state: &AppState, principal: &Principal, upload_id: UploadId) -> Result<UploadRow, MediaError> {
    let upload = uploads::get(&state.pool, upload_id.0).await?.ok_or(MediaError::UploadNotFound)?;
    if upload.protocol != "tus" || !principal.may_manage(AccountId(upload.owner_id)) {
        return Err(MediaError::UploadNotFound);
    }
    if upload.is_expired(OffsetDateTime::now_utc()) {
        return Err(MediaError::UploadExpired);
    }
    Ok(upload)
}

/// Removes an upload's stored bytes and its row: the storage multipart upload is aborted and the
/// tail deleted. Used by termination, by a file over the limit, and for an expired upload that
/// stands in the way of a new one.
pub(crate) async fn discard(state: &AppState, upload: &UploadRow) -> Result<(), MediaError> {
    if let Some(storage_upload_id) = &upload.storage_upload_id {
        let key = source_key(AssetId(upload.asset_id));
        state.storage.abort_multipart(&key, &MultipartId(storage_upload_id.clone())).await?;
    } else if let Some(appender) = state.storage.append_store() {
        appender.discard_append(&upload.upload_id.to_string()).await?;
    }
    state.storage.delete(&tail_key(upload.upload_id)).await?;
    let mut connection = state.pool.acquire().await?;
    uploads::delete(&mut connection, upload.upload_id).await?;
    Ok(())
}

/// A deferred-length upload went over the limit: drop its bytes and fail the asset.
async fn refuse_too_large(state: &AppState, upload: &UploadRow, limit: u64) {
    if let Err(error) = discard(state, upload).await {
        tracing::warn!(error = %crate::error_chain(&error), "cannot discard an upload over the size limit");
    }
    let message = format!("the file is larger than the {limit}-byte limit");
    let failed = match state.pool.acquire().await {
        Ok(mut connection) => assets::fail(&mut connection, AssetId(upload.asset_id), "file_too_large", &message).await,
        Err(error) => Err(error.into()),
    };
    if let Err(error) = failed {
        tracing::error!(error = %crate::error_chain(&error), "cannot mark an asset errored");
    }
}

/// The length a PATCH may write up to: the known length, or the one this request declares for a
/// deferred upload (at least the offset, at most the limit).
fn resolve_length(state: &AppState, upload: &UploadRow, declared: Option<u64>) -> Result<Option<u64>, MediaError> {
    match (upload.length(), declared) {
        (Some(known), Some(declared)) if known != declared => {
            Err(MediaError::InvalidUploadHeader("Upload-Length cannot change once set".to_owned()))
        }
        (Some(known), _) => Ok(Some(known)),
        (None, Some(declared)) if declared > state.uploads.max_size => {
            Err(MediaError::FileTooLarge { limit: state.uploads.max_size })
        }
        (None, Some(declared)) if declared < upload.offset() => {
            Err(MediaError::InvalidUploadHeader("Upload-Length is smaller than the bytes already uploaded".to_owned()))
        }
        (None, declared) => Ok(declared),
    }
}

/// Takes the lease, checks the offset and writes the body; the lease is released whatever
/// happens, and a deferred upload that goes over the limit is discarded.
async fn append(
    state: &AppState,
    uploader: Uuid,
    upload: &UploadRow,
    claimed_offset: u64,
    headers: &HeaderMap,
    body: Body,
) -> Result<Written, ApiError> {
    // Held until the body is written (or the request ends), before anything is read.
    let _slot = state.upload_slots.acquire(uploader)?;
    let checksum = parse_checksum(headers)?;
    let declared_length = header_u64(headers, "upload-length")?;
    let content_length = header_u64(headers, header::CONTENT_LENGTH.as_str())?;
    let (mut lease, upload) = Lease::acquire(state, upload.upload_id).await?;
    if claimed_offset != upload.offset() {
        lease.release().await;
        return Err(MediaError::OffsetMismatch { claimed: claimed_offset, actual: upload.offset() }.into());
    }
    let length = match resolve_length(state, &upload, declared_length) {
        Ok(length) => length,
        Err(error) => {
            lease.release().await;
            if let MediaError::FileTooLarge { limit } = error {
                refuse_too_large(state, &upload, limit).await;
            }
            return Err(error.into());
        }
    };
    if let (Some(length), Some(content_length)) = (length, content_length)
        && claimed_offset.saturating_add(content_length) > length
    {
        lease.release().await;
        return Err(MediaError::LengthExceeded.into());
    }
    let body = crate::http::body::idle_timeout(body.into_data_stream(), state.uploads.body_idle_timeout);
    let result = writer::write(state, &mut lease, &upload, length, checksum, body).await;
    lease.release().await;
    match result {
        Ok(written) => Ok(written),
        Err(MediaError::FileTooLarge { limit }) => {
            refuse_too_large(state, &upload, limit).await;
            Err(MediaError::FileTooLarge { limit }.into())
        }
        Err(error) => {
            if error.is_client_error() {
                tracing::info!(upload_id = %upload.upload_id, code = error.error_code(), "upload request refused");
            }
            Err(error.into())
        }
    }
}

/// What this server supports (tus discovery).
#[utoipa::path(options, path = "/v1/uploads/tus", tag = "assets",
    responses((status = NO_CONTENT, description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size` and `Tus-Checksum-Algorithm`")))]
async fn options_tus(State(state): State<AppState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    headers.insert("tus-extension", HeaderValue::from_static(TUS_EXTENSIONS));
    headers.insert("tus-checksum-algorithm", HeaderValue::from_static(TUS_CHECKSUM_ALGORITHMS));
    headers.insert("tus-max-size", HeaderValue::from(state.uploads.max_size));
    finish(Ok(response))
}

/// Create an upload for an asset waiting for its original (tus `creation`). Send
/// `Upload-Length` (or `Upload-Defer-Length: 1`) and `Upload-Metadata` with `asset_id`
/// (optional `filename`, `filetype`); a body with `Content-Type: application/offset+octet-stream`
/// is the first chunk (`creation-with-upload`).
#[utoipa::path(post, path = "/v1/uploads/tus", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("Upload-Length" = Option<u64>, Header, description = "Size of the whole file"),
        ("Upload-Defer-Length" = Option<String>, Header, description = "`1` when the size is not known yet"),
        ("Upload-Metadata" = String, Header, description = "`asset_id <base64>`, optionally `filename`, `filetype`"),
    ),
    responses(
        (status = CREATED, description = "`Location` of the upload, `Upload-Expires`, and `Upload-Offset` when a first chunk was sent"),
        (status = BAD_REQUEST, description = "`invalid_upload_header`", body = crate::http::error::ErrorBody),
        (status = NOT_FOUND, description = "`not_found`: no such asset of yours", body = crate::http::error::ErrorBody),
        (status = CONFLICT, description = "`invalid_state` (the asset is not waiting for an upload) or `upload_in_progress`", body = crate::http::error::ErrorBody),
        (status = PRECONDITION_FAILED, description = "`unsupported_tus_version`", body = crate::http::error::ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "`file_too_large`: over `Tus-Max-Size`", body = crate::http::error::ErrorBody),
    ))]
async fn create_upload(State(state): State<AppState>, request: Request) -> Response {
    finish(create_upload_inner(&state, request).await)
}

async fn create_upload_inner(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let headers = &parts.headers;
    check_version(headers)?;
    let length = header_u64(headers, "upload-length")?;
    let deferred = match headers.get("upload-defer-length") {
        Some(value) if value.as_bytes() == b"1" => true,
        Some(_) => return Err(MediaError::InvalidUploadHeader("Upload-Defer-Length must be 1".to_owned()).into()),
        None => false,
    };
    if length.is_some() == deferred {
        return Err(MediaError::InvalidUploadHeader(
            "send exactly one of Upload-Length and Upload-Defer-Length: 1".to_owned(),
        )
        .into());
    }
    if let Some(length) = length
        && length > state.uploads.max_size
    {
        return Err(MediaError::FileTooLarge { limit: state.uploads.max_size }.into());
    }
    let raw_metadata = headers.get("upload-metadata").and_then(|v| v.to_str().ok()).unwrap_or("");
    let metadata = parse_metadata(raw_metadata)?;
    let asset_id =
        metadata.get("asset_id").and_then(|id| Uuid::parse_str(id.trim()).ok()).map(AssetId).ok_or_else(|| {
            MediaError::InvalidUploadHeader(
                "Upload-Metadata must name the asset: asset_id <base64 of its id>".to_owned(),
            )
        })?;
    let has_body = is_offset_stream(headers);
    let principal = writer_principal(state, &mut parts).await?;

    let asset = assets::get(&state.pool, asset_id).await?;
    let asset = match asset {
        Some(asset) if principal.may_manage(AccountId(asset.owner_id)) => asset,
        _ => return Err(MediaError::NotFound("no such asset").into()),
    };
    if asset.status() != AssetStatus::WaitingUpload {
        return Err(
            MediaError::WrongState { expected: AssetStatus::WaitingUpload.as_str(), actual: asset.status }.into()
        );
    }
    if let Some(open) = uploads::open_for_asset(&state.pool, asset_id).await? {
        if !open.is_expired(OffsetDateTime::now_utc()) {
            return Err(MediaError::UploadInProgress.into());
        }
        // An abandoned upload that housekeeping has not swept yet must not block a fresh one.
        discard(state, &open).await?;
    }

    let key = source_key(asset_id);
    let content_type = metadata
        .get("filetype")
        .filter(|t| t.len() <= 255 && t.contains('/') && t.chars().all(|c| c.is_ascii_graphic()))
        .cloned();
    // Stores that grow a file in place need no multipart upload (see `writer`).
    let multipart = match state.storage.append_store() {
        Some(_) => None,
        None => Some(state.storage.create_multipart(&key, PutOptions { content_type, ..PutOptions::default() }).await?),
    };
    let metadata_json = serde_json::to_value(&metadata).map_err(|e| ApiError::internal(&e))?;
    let expires_at = OffsetDateTime::now_utc() + state.uploads.expiry;
    let new = NewUpload {
        asset_id,
        protocol: "tus",
        length,
        storage_upload_id: multipart.as_ref().map(|id| id.0.as_str()),
        metadata: &metadata_json,
        expires_at,
    };
    let upload_id = match uploads::create(&state.pool, &new).await {
        Ok(upload_id) => upload_id,
        Err(error) => {
            if let Some(multipart) = &multipart
                && let Err(abort) = state.storage.abort_multipart(&key, multipart).await
            {
                tracing::warn!(error = %crate::error_chain(&abort), "cannot abort an unused multipart upload");
            }
            return Err(error.into());
        }
    };
    tracing::info!(%upload_id, %asset_id, ?length, event = "upload_created", "tus upload created");

    let base = state.http.public_url.as_str().trim_end_matches('/');
    let mut response = StatusCode::CREATED.into_response();
    response.headers_mut().insert(header::LOCATION, header_value(&format!("{base}/v1/uploads/tus/{upload_id}")));
    response.headers_mut().insert("upload-expires", header_value(&http_date(expires_at)));
    // An empty file is complete as soon as it exists: tus clients (tus-js-client among them)
    // send no PATCH for it, so the creation finishes it (and the asset then fails as
    // `empty_file` like any other empty source).
    let empty = length == Some(0);
    if has_body || empty {
        let body = if has_body { body } else { Body::empty() };
        let upload = uploads::get(&state.pool, upload_id).await?.ok_or(MediaError::UploadNotFound)?;
        let offset = match append(state, principal.account_id(), &upload, 0, &parts.headers, body).await {
            Ok(written) => written.offset(),
            // The upload exists either way; the client learns how far it got and resumes.
            Err(error) if error.status == StatusCode::PAYLOAD_TOO_LARGE => return Err(error),
            Err(error) => {
                tracing::info!(code = error.code, "the first chunk of a new upload was not stored whole");
                uploads::get(&state.pool, upload_id).await?.map_or(0, |upload| upload.offset())
            }
        };
        response.headers_mut().insert("upload-offset", HeaderValue::from(offset));
    }
    Ok(response)
}

/// How far an upload got (tus `HEAD`): `Upload-Offset`, and `Upload-Length` or
/// `Upload-Defer-Length: 1`.
#[utoipa::path(head, path = "/v1/uploads/tus/{upload_id}", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("upload_id" = Uuid, Path, description = "From the creation's Location"),
           ("Tus-Resumable" = String, Header, description = "`1.0.0`")),
    responses(
        (status = OK, description = "`Upload-Offset`, `Upload-Length` or `Upload-Defer-Length`, `Upload-Metadata`, `Upload-Expires`"),
        (status = NOT_FOUND, description = "`upload_not_found`"),
        (status = GONE, description = "`upload_expired`"),
    ))]
async fn head_upload(
    State(state): State<AppState>,
    upload_id: Result<UploadId, ApiError>,
    request: Request,
) -> Response {
    finish(head_upload_inner(&state, upload_id, request).await)
}

/// The upload id comes as a `Result` so that a malformed one is refused after the version and
/// credential checks and carries `Tus-Resumable` like every answer (so in PATCH and DELETE too).
async fn head_upload_inner(
    state: &AppState,
    upload_id: Result<UploadId, ApiError>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    check_version(&parts.headers)?;
    let principal = writer_principal(state, &mut parts).await?;
    let upload_id = upload_id?;
    let mut upload = visible_upload(state, &principal, upload_id).await?;
    // A client asks where to resume after a failure; if that failure hit between storing the
    // last bytes and recording them, finish the upload now instead of reporting a stale offset.
    match writer::recover_published(state, &upload).await {
        Ok(Some(_)) => upload = visible_upload(state, &principal, upload_id).await?,
        Ok(None) | Err(MediaError::UploadLocked) => {}
        Err(error) => return Err(error.into()),
    }
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert("upload-offset", HeaderValue::from(upload.offset()));
    match upload.length() {
        Some(length) => headers.insert("upload-length", HeaderValue::from(length)),
        None => headers.insert("upload-defer-length", HeaderValue::from_static("1")),
    };
    let metadata = encode_metadata(&upload.metadata);
    if !metadata.is_empty() {
        headers.insert("upload-metadata", header_value(&metadata));
    }
    if upload.completed_at.is_none() {
        headers.insert("upload-expires", header_value(&http_date(upload.expires_at)));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Append bytes at `Upload-Offset` (tus `PATCH`). One request at a time per upload; the last
/// byte completes the upload and the asset becomes `uploaded`.
#[utoipa::path(patch, path = "/v1/uploads/tus/{upload_id}", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("upload_id" = Uuid, Path, description = "From the creation's Location"),
           ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
           ("Upload-Offset" = u64, Header, description = "Where these bytes start; must equal the upload's offset"),
           ("Upload-Length" = Option<u64>, Header, description = "The size, for an upload created with Upload-Defer-Length"),
           ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64>` or `sha256 <base64>` of this request's body")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = NO_CONTENT, description = "Stored; `Upload-Offset` is the new offset"),
        (status = CONFLICT, description = "`offset_mismatch`", body = crate::http::error::ErrorBody),
        (status = LOCKED, description = "`upload_locked`: another request is writing", body = crate::http::error::ErrorBody),
        (status = 460, description = "`checksum_mismatch`: the body was discarded, the offset is unchanged", body = crate::http::error::ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "`file_too_large`: the upload and its bytes are discarded, the asset is errored", body = crate::http::error::ErrorBody),
        (status = GONE, description = "`upload_expired`", body = crate::http::error::ErrorBody),
        (status = NOT_FOUND, description = "`upload_not_found`", body = crate::http::error::ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "`unsupported_media_type`", body = crate::http::error::ErrorBody),
    ))]
async fn patch_upload(
    State(state): State<AppState>,
    upload_id: Result<UploadId, ApiError>,
    request: Request,
) -> Response {
    finish(patch_upload_inner(&state, upload_id, request).await)
}

#[tracing::instrument(skip_all, fields(upload_id = tracing::field::Empty, asset_id = tracing::field::Empty))]
async fn patch_upload_inner(
    state: &AppState,
    upload_id: Result<UploadId, ApiError>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    check_version(&parts.headers)?;
    if !is_offset_stream(&parts.headers) {
        return Err(MediaError::UnsupportedMediaType.into());
    }
    let claimed = header_u64(&parts.headers, "upload-offset")?
        .ok_or_else(|| MediaError::InvalidUploadHeader("Upload-Offset is required".to_owned()))?;
    let principal = writer_principal(state, &mut parts).await?;
    let upload_id = upload_id?;
    tracing::Span::current().record("upload_id", tracing::field::display(upload_id));
    let upload = visible_upload(state, &principal, upload_id).await?;
    tracing::Span::current().record("asset_id", tracing::field::display(upload.asset_id));
    if upload.completed_at.is_some() {
        // A retry of the request that finished the upload: nothing left to write.
        let done = claimed == upload.offset() && header_u64(&parts.headers, "content-length")?.unwrap_or(0) == 0;
        if !done {
            return Err(MediaError::OffsetMismatch { claimed, actual: upload.offset() }.into());
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        response.headers_mut().insert("upload-offset", HeaderValue::from(upload.offset()));
        return Ok(response);
    }
    if let Some(length) = writer::recover_published(state, &upload).await? {
        // The retry of a final request whose bytes were stored but never recorded: they are
        // complete now, so this body (the same bytes again) is not needed.
        let content_length = header_u64(&parts.headers, "content-length")?;
        if content_length.map(|bytes| claimed.saturating_add(bytes)) != Some(length) {
            return Err(MediaError::OffsetMismatch { claimed, actual: length }.into());
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        response.headers_mut().insert("upload-offset", HeaderValue::from(length));
        return Ok(response);
    }
    let written = append(state, principal.account_id(), &upload, claimed, &parts.headers, body).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert("upload-offset", HeaderValue::from(written.offset()));
    if matches!(written, Written::Partial(_)) {
        response.headers_mut().insert("upload-expires", header_value(&http_date(upload.expires_at)));
    }
    Ok(response)
}

/// Abandon an upload (tus `termination`): its bytes are deleted and the asset waits for a new
/// upload.
#[utoipa::path(delete, path = "/v1/uploads/tus/{upload_id}", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("upload_id" = Uuid, Path, description = "From the creation's Location"),
           ("Tus-Resumable" = String, Header, description = "`1.0.0`")),
    responses(
        (status = NO_CONTENT, description = "The upload and its bytes are gone"),
        (status = NOT_FOUND, description = "`upload_not_found`", body = crate::http::error::ErrorBody),
        (status = CONFLICT, description = "`invalid_state`: the upload already completed", body = crate::http::error::ErrorBody),
        (status = LOCKED, description = "`upload_locked`: a PATCH is running", body = crate::http::error::ErrorBody),
    ))]
async fn delete_upload(
    State(state): State<AppState>,
    upload_id: Result<UploadId, ApiError>,
    request: Request,
) -> Response {
    finish(delete_upload_inner(&state, upload_id, request).await)
}

async fn delete_upload_inner(
    state: &AppState,
    upload_id: Result<UploadId, ApiError>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    check_version(&parts.headers)?;
    let principal = writer_principal(state, &mut parts).await?;
    let upload_id = upload_id?;
    let upload = match visible_upload(state, &principal, upload_id).await {
        // An expired upload can still be terminated.
        Err(MediaError::UploadExpired) => {
            uploads::get(&state.pool, upload_id.0).await?.ok_or(MediaError::UploadNotFound)?
        }
        other => other?,
    };
    if upload.completed_at.is_some() {
        return Err(MediaError::WrongState { expected: "an unfinished upload", actual: "completed".to_owned() }.into());
    }
    // Holding the lease while deleting keeps a concurrent PATCH from writing into a dead upload.
    let (mut lease, upload) = Lease::acquire(state, upload.upload_id).await?;
    let result = discard(state, &upload).await;
    // The row is gone with the lease in it; nothing to release.
    lease.forget();
    result?;
    tracing::info!(upload_id = %upload.upload_id, asset_id = %upload.asset_id, event = "upload_terminated", "tus upload terminated");
    Ok(StatusCode::NO_CONTENT.into_response())
}
