//! Direct multipart uploads: the client PUTs parts straight to object storage with presigned
//! URLs, so large files never pass through Lectern.
//!
//! 1. `POST /v1/assets/{id}/multipart` `{size?, content_type?}` starts a storage multipart upload
//!    into the asset's source key and records an `upload` row (protocol `multipart`).
//! 2. `POST /v1/assets/{id}/multipart/parts` `{upload_id, part_numbers}` presigns part URLs (S3:
//!    real S3 `UploadPart` URLs; local backend: `/storage/uploads/{id}/{part}`). The client PUTs
//!    each part's bytes and keeps the `ETag` each answer carries.
//! 3. `POST /v1/assets/{id}/multipart/complete` `{upload_id, parts: [{part_number, etag}]}` joins
//!    the parts, checks the size against the limit (413 `file_too_large`, object deleted),
//!    computes the SHA-256 by streaming the object once (a second read of the whole file:
//!    acceptable for now, since storage cannot hash for us), and calls `upload_completed`, which
//!    moves the asset to `uploaded` and enqueues the probe.
//! 4. `DELETE /v1/assets/{id}/multipart?upload_id=…` aborts.
//!
//! Only the asset's owner or an administrator (API keys: `assets:write`) may do any of it; for
//! anyone else the asset does not exist (404). Uploads left open past `expires_at` are aborted
//! by the housekeeping sweep.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::assets::{self, AssetId, AssetRow, AssetStatus, SourceObject};
use super::uploads::{self, NewUpload, Progress, StoredPart, UploadRow};
use super::{IngestError, MediaError, source_key};
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::api_keys::Scope;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::AccountId;
use crate::storage::{CompletedPart, MultipartId, ObjectKey, ObjectStore, PutOptions, StorageError};

/// S3's limits, which the local backend copies.
const MAX_PARTS: u64 = crate::storage::MAX_PARTS as u64;
const MAX_PART_SIZE: u64 = crate::storage::MAX_PART_SIZE;
/// Presigned URLs handed out per request.
const MAX_URLS_PER_REQUEST: u32 = 1_000;
/// How long a completion may hold the upload before another may try.
const COMPLETION_LEASE: Duration = Duration::from_secs(15 * 60);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_multipart, abort_multipart))
        .routes(routes!(presign_parts))
        .routes(routes!(complete_multipart))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StartMultipart {
    /// The file's size in bytes, if known: checked against the limit now, and used to pick a
    /// part size that fits in 10,000 parts.
    #[schema(example = 734_003_200)]
    pub size: Option<u64>,
    /// Stored with the object.
    #[schema(example = "video/mp4")]
    pub content_type: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MultipartStarted {
    pub upload_id: Uuid,
    /// Every part but the last must be exactly this many bytes (S3 needs at least 5 MiB).
    pub part_size: u64,
    /// With a declared size: how many parts make the file.
    pub part_count: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

/// Which part numbers to presign: a list, or an inclusive range.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PartNumbers {
    List(Vec<u32>),
    Range { first: u32, last: u32 },
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PresignParts {
    pub upload_id: Uuid,
    /// e.g. `[1, 2, 3]` or `{"first": 1, "last": 40}`; at most 1,000 at a time.
    pub part_numbers: PartNumbers,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PresignedPart {
    pub part_number: u32,
    /// PUT the part's bytes here, with no `Content-Type` header; keep the answer's `ETag`.
    pub url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PresignedParts {
    pub parts: Vec<PresignedPart>,
    /// When these URLs stop working.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompletePart {
    pub part_number: u32,
    /// The `ETag` header of the part's PUT answer, quotes included or not.
    pub etag: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompleteMultipart {
    pub upload_id: Uuid,
    /// Every uploaded part, in ascending part-number order.
    pub parts: Vec<CompletePart>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MultipartCompleted {
    pub asset_id: Uuid,
    pub upload_id: Uuid,
    pub size: u64,
    /// Hex SHA-256 of the whole file.
    pub sha256: String,
    /// `uploaded`: the probe runs next.
    pub status: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AbortQuery {
    pub upload_id: Uuid,
}

/// Start a direct multipart upload of an asset's file.
#[utoipa::path(post, path = "/v1/assets/{asset_id}/multipart", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "An asset waiting for its upload")),
    request_body = StartMultipart,
    responses(
        (status = CREATED, description = "The upload and its part size", body = MultipartStarted),
        (status = NOT_FOUND, description = "`not_found`: no such asset of yours", body = ErrorBody),
        (status = CONFLICT, description = "`asset_not_waiting_upload` or `upload_in_progress`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_request`: a content type that is not a media type", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "`file_too_large`: the declared size is over the limit", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `invalid_api_key`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` or `insufficient_scope` (needs `assets:write`)", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(asset_id = %asset_id))]
async fn start_multipart(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
    Json(request): Json<StartMultipart>,
) -> Result<(StatusCode, axum::Json<MultipartStarted>), ApiError> {
    principal.require_scope(Scope::AssetsWrite)?;
    let asset = visible_asset(&state, &principal, asset_id).await?;
    if asset.status() != AssetStatus::WaitingUpload {
        return Err(IngestError::AssetNotWaitingUpload(asset.status().as_str()).into());
    }
    let limit = state.uploads.max_size;
    if let Some(size) = request.size
        && size > limit
    {
        return Err(IngestError::FileTooLarge { size, limit }.into());
    }
    let part_size = part_size_for(state.ingest.multipart_part_size, request.size)?;
    if let Some(open) = uploads::open_for_asset(&state.pool, asset_id).await? {
        if !open.is_expired(OffsetDateTime::now_utc()) {
            return Err(MediaError::UploadInProgress.into());
        }
        // An expired upload the sweep has not reached yet: it must not block a new one.
        discard(&state, &open).await?;
    }
    let key = source_key(asset_id);
    let content_type = request.content_type.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    // It becomes a storage header: a media type, nothing else.
    if let Some(content_type) = &content_type
        && !(content_type.len() <= 255
            && content_type.contains('/')
            && content_type.chars().all(|c| c.is_ascii_graphic() || c == ' '))
    {
        return Err(IngestError::InvalidRequest(format!("content_type {content_type:?} is not a media type")).into());
    }
    let storage_upload = state
        .storage
        .create_multipart(&key, PutOptions { content_type: content_type.clone(), cache_control: None })
        .await?;
    let expires_at = OffsetDateTime::now_utc() + state.ingest.multipart_expiry;
    let metadata = serde_json::json!({"part_size": part_size, "content_type": content_type});
    let new = NewUpload {
        asset_id,
        protocol: "multipart",
        length: request.size,
        storage_upload_id: Some(&storage_upload.0),
        metadata: &metadata,
        expires_at,
    };
    let upload_id = match uploads::create(&state.pool, &new).await {
        Ok(upload_id) => upload_id,
        Err(error) => {
            // Do not leave an open storage upload that no row points at (nothing would sweep it).
            if let Err(abort) = state.storage.abort_multipart(&key, &storage_upload).await {
                tracing::warn!(error = %crate::error_chain(&abort), "cannot abort an orphaned multipart upload");
            }
            return Err(error.into());
        }
    };
    tracing::info!(%upload_id, part_size, event = "multipart_started", "multipart upload started");
    let part_count = request.size.map(|size| size.div_ceil(part_size).max(1));
    Ok((StatusCode::CREATED, axum::Json(MultipartStarted { upload_id, part_size, part_count, expires_at })))
}

/// Presigned URLs to PUT parts of a multipart upload.
#[utoipa::path(post, path = "/v1/assets/{asset_id}/multipart/parts", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset being uploaded")),
    request_body = PresignParts,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:write)", body = ErrorBody),
        (status = OK, description = "One URL per part", body = PresignedParts),
        (status = BAD_REQUEST, description = "`invalid_part`: part numbers outside 1–10,000, beyond the declared size, or too many", body = ErrorBody),
        (status = NOT_FOUND, description = "`not_found` or `upload_not_found`", body = ErrorBody),
        (status = CONFLICT, description = "`upload_finished`: already completed or aborted", body = ErrorBody),
        (status = GONE, description = "`upload_expired`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(asset_id = %asset_id))]
async fn presign_parts(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
    Json(request): Json<PresignParts>,
) -> Result<axum::Json<PresignedParts>, ApiError> {
    principal.require_scope(Scope::AssetsWrite)?;
    let asset = visible_asset(&state, &principal, asset_id).await?;
    let upload = open_upload(&state, &asset, request.upload_id).await?;
    let numbers = part_numbers(&request.part_numbers)?;
    if let Some(count) = part_count(&upload)
        && let Some(beyond) = numbers.iter().find(|n| u64::from(**n) > count)
    {
        return Err(IngestError::InvalidPart(format!(
            "part {beyond} is beyond the last part ({count}) of the declared size"
        ))
        .into());
    }
    let now = OffsetDateTime::now_utc();
    let until_expiry = Duration::try_from(upload.expires_at - now).unwrap_or(Duration::from_secs(1));
    let ttl = state.ingest.multipart_url_ttl.min(until_expiry).max(Duration::from_secs(1));
    let key = source_key(asset.id());
    let storage_upload = storage_upload_id(&upload)?;
    // Each URL carries at most the announced part size (the last part is smaller).
    let max_size = upload.metadata.get("part_size").and_then(serde_json::Value::as_u64).unwrap_or(MAX_PART_SIZE);
    let mut parts = Vec::with_capacity(numbers.len());
    for part_number in numbers {
        let url = state.storage.presign_part(&key, &storage_upload, part_number, max_size, ttl).await?;
        parts.push(PresignedPart { part_number, url });
    }
    Ok(axum::Json(PresignedParts { parts, expires_at: now + ttl }))
}

/// Join the uploaded parts into the asset's file and start processing it.
#[utoipa::path(post, path = "/v1/assets/{asset_id}/multipart/complete", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset being uploaded")),
    request_body = CompleteMultipart,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:write)", body = ErrorBody),
        (status = OK, description = "The file is stored; the asset is `uploaded`", body = MultipartCompleted),
        (status = BAD_REQUEST, description = "`invalid_part`: a part is missing, out of order, too small or has the wrong ETag", body = ErrorBody),
        (status = NOT_FOUND, description = "`not_found` or `upload_not_found`", body = ErrorBody),
        (status = CONFLICT, description = "`upload_finished`", body = ErrorBody),
        (status = GONE, description = "`upload_expired`", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "`file_too_large`: the file was deleted and the asset errored", body = ErrorBody),
        (status = LOCKED, description = "`upload_locked`: another completion of this upload is running", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(asset_id = %asset_id))]
async fn complete_multipart(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
    Json(request): Json<CompleteMultipart>,
) -> Result<axum::Json<MultipartCompleted>, ApiError> {
    principal.require_scope(Scope::AssetsWrite)?;
    let asset = visible_asset(&state, &principal, asset_id).await?;
    let parts = completed_parts(&request.parts)?;
    let upload = open_upload(&state, &asset, request.upload_id).await?;
    let token = Uuid::new_v4();
    if uploads::acquire_lease(&state.pool, upload.upload_id, token, COMPLETION_LEASE).await?.is_none() {
        return Err(MediaError::UploadLocked.into());
    }
    let result = finish(&state, &upload, token, &parts).await;
    // A no-op once completed (completion clears the lease).
    if let Err(error) = uploads::release_lease(&state.pool, upload.upload_id, token).await {
        tracing::warn!(error = %crate::error_chain(&error), "cannot release the upload lease; it will lapse");
    }
    Ok(axum::Json(result?))
}

async fn finish(
    state: &AppState,
    upload: &UploadRow,
    token: Uuid,
    parts: &[CompletedPart],
) -> Result<MultipartCompleted, IngestError> {
    let asset_id = AssetId(upload.asset_id);
    let key = source_key(asset_id);
    let storage_upload = storage_upload_id(upload)?;
    let multipart_failure = |error| match error {
        StorageError::InvalidMultipart(message) => IngestError::InvalidPart(message),
        StorageError::UploadNotFound => IngestError::Media(MediaError::UploadNotFound),
        other => IngestError::Storage(other),
    };
    // The stored sizes, for the upload row; also catches a part the client never uploaded.
    let uploaded = state.storage.list_parts(&key, &storage_upload).await.map_err(multipart_failure)?;
    let mut stored = Vec::with_capacity(parts.len());
    for part in parts {
        let Some(info) = uploaded.iter().find(|info| info.part_number == part.part_number) else {
            return Err(IngestError::InvalidPart(format!("part {} was not uploaded", part.part_number)));
        };
        stored.push(StoredPart { part_number: part.part_number, etag: part.etag.clone(), size: info.size });
    }
    let meta = state.storage.complete_multipart(&key, &storage_upload, parts).await.map_err(multipart_failure)?;
    let limit = state.uploads.max_size;
    if meta.size > limit {
        state.storage.delete(&key).await?;
        let mut connection = state.pool.acquire().await?;
        uploads::delete(&mut connection, upload.upload_id).await?;
        let message = format!("the file is {} bytes; the limit is {limit} bytes", meta.size);
        assets::fail(&mut connection, asset_id, "file_too_large", &message).await?;
        return Err(IngestError::FileTooLarge { size: meta.size, limit });
    }
    if let Some(declared) = upload.length()
        && declared != meta.size
    {
        // Not the file the client announced: drop it; the asset may take a new upload.
        state.storage.delete(&key).await?;
        let mut connection = state.pool.acquire().await?;
        uploads::delete(&mut connection, upload.upload_id).await?;
        return Err(IngestError::InvalidPart(format!(
            "the parts make {} bytes, not the declared {declared}",
            meta.size
        )));
    }
    let sha256 = hash_object(&*state.storage, &key).await?;
    let mut transaction = state.pool.begin().await?;
    let progress =
        Progress { offset: meta.size, length: Some(meta.size), parts: &stored, tail_size: 0, hash_state: &[] };
    if !uploads::mark_completed(&mut transaction, upload.upload_id, token, &progress).await? {
        return Err(MediaError::UploadLocked.into());
    }
    assets::upload_completed(&mut transaction, asset_id, &SourceObject { key, size: meta.size, sha256 }).await?;
    transaction.commit().await?;
    tracing::info!(upload_id = %upload.upload_id, size = meta.size, event = "multipart_completed", "multipart upload completed");
    Ok(MultipartCompleted {
        asset_id: asset_id.0,
        upload_id: upload.upload_id,
        size: meta.size,
        sha256: hex::encode(sha256),
        status: AssetStatus::Uploaded.as_str().to_owned(),
    })
}

/// Abort a multipart upload: its parts are freed and the asset waits for a new upload.
#[utoipa::path(delete, path = "/v1/assets/{asset_id}/multipart", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(("asset_id" = Uuid, Path, description = "The asset being uploaded"), AbortQuery),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:write)", body = ErrorBody),
        (status = NO_CONTENT, description = "Aborted (also when it already was)"),
        (status = NOT_FOUND, description = "`not_found` or `upload_not_found`", body = ErrorBody),
        (status = CONFLICT, description = "`upload_finished`: it was completed", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(asset_id = %asset_id))]
async fn abort_multipart(
    State(state): State<AppState>,
    principal: Principal,
    asset_id: AssetId,
    Query(query): Query<AbortQuery>,
) -> Result<StatusCode, ApiError> {
    principal.require_scope(Scope::AssetsWrite)?;
    let asset = visible_asset(&state, &principal, asset_id).await?;
    let upload = multipart_upload(&state, &asset, query.upload_id).await?;
    if upload.completed_at.is_some() {
        return Err(IngestError::UploadFinished.into());
    }
    discard(&state, &upload).await?;
    tracing::info!(upload_id = %upload.upload_id, event = "multipart_aborted", "multipart upload aborted");
    Ok(StatusCode::NO_CONTENT)
}

/// The asset, when the caller owns it or is an administrator; `not_found` otherwise (as the
/// `AssetId` extractor answers a malformed id), so ids cannot be probed.
async fn visible_asset(state: &AppState, principal: &Principal, asset_id: AssetId) -> Result<AssetRow, IngestError> {
    assets::get(&state.pool, asset_id)
        .await?
        .filter(|asset| principal.may_manage(AccountId(asset.owner_id)))
        .ok_or(IngestError::NotFound)
}

/// A multipart upload of this asset, in any state.
async fn multipart_upload(state: &AppState, asset: &AssetRow, upload_id: Uuid) -> Result<UploadRow, IngestError> {
    uploads::get(&state.pool, upload_id)
        .await?
        .filter(|upload| upload.protocol == "multipart" && upload.asset_id == asset.asset_id)
        .ok_or(IngestError::Media(MediaError::UploadNotFound))
}

/// A multipart upload of this asset that may still receive parts.
async fn open_upload(state: &AppState, asset: &AssetRow, upload_id: Uuid) -> Result<UploadRow, IngestError> {
    let upload = multipart_upload(state, asset, upload_id).await?;
    if upload.completed_at.is_some() {
        return Err(IngestError::UploadFinished);
    }
    if upload.is_expired(OffsetDateTime::now_utc()) {
        return Err(MediaError::UploadExpired.into());
    }
    Ok(upload)
}

fn storage_upload_id(upload: &UploadRow) -> Result<MultipartId, IngestError> {
    upload
        .storage_upload_id
        .clone()
        .map(MultipartId)
        .ok_or_else(|| MediaError::Corrupt("a multipart upload without a storage upload id".to_owned()).into())
}

/// How many parts a declared size makes, with the part size chosen at the start.
fn part_count(upload: &UploadRow) -> Option<u64> {
    let part_size = upload.metadata.get("part_size")?.as_u64().filter(|size| *size > 0)?;
    Some(upload.length()?.div_ceil(part_size).max(1))
}

/// Aborts an unfinished upload's storage multipart upload, deletes its leftovers and removes
/// its row: the same cleanup as tus termination, shared.
async fn discard(state: &AppState, upload: &UploadRow) -> Result<(), IngestError> {
    Ok(super::tus::discard(state, upload).await?)
}

/// The configured part size, raised (to whole MiB) when the file would need more than 10,000
/// parts.
fn part_size_for(configured: u64, size: Option<u64>) -> Result<u64, IngestError> {
    const MIB: u64 = 1024 * 1024;
    let needed = size.map_or(0, |size| size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB);
    let part_size = configured.max(needed);
    if part_size > MAX_PART_SIZE {
        return Err(IngestError::InvalidRequest("the file is too large for a multipart upload".to_owned()));
    }
    Ok(part_size)
}

fn part_numbers(selection: &PartNumbers) -> Result<Vec<u32>, IngestError> {
    let numbers: Vec<u32> = match selection {
        PartNumbers::List(list) => list.clone(),
        PartNumbers::Range { first, last } => {
            if first > last {
                return Err(IngestError::InvalidPart(format!("first ({first}) is after last ({last})")));
            }
            if last - first >= MAX_URLS_PER_REQUEST {
                return Err(IngestError::InvalidPart(format!("at most {MAX_URLS_PER_REQUEST} parts per request")));
            }
            (*first..=*last).collect()
        }
    };
    if numbers.is_empty() {
        return Err(IngestError::InvalidPart("no part numbers".to_owned()));
    }
    if numbers.len() > MAX_URLS_PER_REQUEST as usize {
        return Err(IngestError::InvalidPart(format!("at most {MAX_URLS_PER_REQUEST} parts per request")));
    }
    if let Some(bad) = numbers.iter().find(|n| **n == 0 || u64::from(**n) > MAX_PARTS) {
        return Err(IngestError::InvalidPart(format!("part numbers run from 1 to {MAX_PARTS}, not {bad}")));
    }
    Ok(numbers)
}

fn completed_parts(parts: &[CompletePart]) -> Result<Vec<CompletedPart>, IngestError> {
    if parts.is_empty() {
        return Err(IngestError::InvalidPart("no parts".to_owned()));
    }
    let mut previous = 0;
    let mut completed = Vec::with_capacity(parts.len());
    for part in parts {
        if part.part_number <= previous || u64::from(part.part_number) > MAX_PARTS {
            return Err(IngestError::InvalidPart(
                "part numbers must be ascending, unique and between 1 and 10000".to_owned(),
            ));
        }
        previous = part.part_number;
        let etag = part.etag.trim().trim_matches('"');
        if etag.is_empty() {
            return Err(IngestError::InvalidPart(format!("part {} has no ETag", part.part_number)));
        }
        completed.push(CompletedPart { part_number: part.part_number, etag: format!("\"{etag}\"") });
    }
    Ok(completed)
}

/// SHA-256 of a stored object, read once as a stream.
async fn hash_object(store: &dyn ObjectStore, key: &ObjectKey) -> Result<[u8; 32], StorageError> {
    let mut body = store.get(key, None).await?.stream;
    let mut hasher = Sha256::new();
    while let Some(chunk) = body.next().await {
        hasher.update(&chunk?);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_size_grows_only_when_ten_thousand_parts_are_not_enough() {
        let sixteen = 16 * 1024 * 1024;
        assert_eq!(part_size_for(sixteen, None).expect("fits"), sixteen);
        assert_eq!(part_size_for(sixteen, Some(1_000_000)).expect("fits"), sixteen);
        // 500 GiB in 10,000 parts needs parts of at least 51.2 MiB: rounded up to 52 MiB.
        assert_eq!(part_size_for(sixteen, Some(500 * 1024 * 1024 * 1024)).expect("fits"), 52 * 1024 * 1024);
        assert!(part_size_for(sixteen, Some(60 * 1024 * 1024 * 1024 * 1024)).is_err());
    }

    #[test]
    fn part_numbers_are_checked() {
        assert_eq!(part_numbers(&PartNumbers::Range { first: 2, last: 4 }).expect("valid"), vec![2, 3, 4]);
        assert_eq!(part_numbers(&PartNumbers::List(vec![7, 1])).expect("valid"), vec![7, 1]);
        assert!(part_numbers(&PartNumbers::List(vec![])).is_err());
        assert!(part_numbers(&PartNumbers::List(vec![0])).is_err());
        assert!(part_numbers(&PartNumbers::List(vec![10_001])).is_err());
        assert!(part_numbers(&PartNumbers::Range { first: 5, last: 4 }).is_err());
        assert!(part_numbers(&PartNumbers::Range { first: 1, last: 1_000 }).is_ok());
        assert!(part_numbers(&PartNumbers::Range { first: 1, last: 1_001 }).is_err());
    }

    #[test]
    fn completed_parts_must_ascend_and_carry_an_etag() {
        let part = |n, etag: &str| CompletePart { part_number: n, etag: etag.to_owned() };
        let parts = completed_parts(&[part(1, "abc"), part(2, "\"def\"")]).expect("valid");
        assert_eq!(parts[0].etag, "\"abc\"");
        assert_eq!(parts[1].etag, "\"def\"");
        assert!(completed_parts(&[]).is_err());
        assert!(completed_parts(&[part(2, "a"), part(1, "b")]).is_err());
        assert!(completed_parts(&[part(1, "a"), part(1, "b")]).is_err());
        assert!(completed_parts(&[part(1, " ")]).is_err());
    }
}
