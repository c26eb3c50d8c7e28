//! All SQL of the `asset` and `asset_event` tables.
//!
//! Status changes go only through functions here, each one `update … where status = $expected`
//! plus its `asset_event` row in the same transaction: a change is either visible with its event
//! or not at all, and a stale caller (a retried job, a second replica) changes nothing.
//!
//! Functions that must be atomic with the caller's own writes take a `&mut PgConnection`: pass
//! `&mut *tx` to join an open transaction (they then run inside a savepoint), or
//! `&mut *pool.acquire().await?` to run on their own.

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgQueryResult;
use sqlx::{Connection, PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::MediaError;
use super::probe_job::ProbeJob;
use super::transcode_job::TranscodeJob;
use crate::jobs::{EnqueueOptions, queue};
use crate::storage::ObjectKey;

pub use crate::ids::AssetId;

/// Where an asset is in its life. See the migration for the allowed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    /// Created; no original yet (or an upload is in progress).
    WaitingUpload,
    /// The original is stored; probing is queued.
    Uploaded,
    Probing,
    Processing,
    Ready,
    /// Failed for good; `error_code` says why.
    Errored,
}

impl AssetStatus {
    pub const ALL: [Self; 6] =
        [Self::WaitingUpload, Self::Uploaded, Self::Probing, Self::Processing, Self::Ready, Self::Errored];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitingUpload => "waiting_upload",
            Self::Uploaded => "uploaded",
            Self::Probing => "probing",
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Errored => "errored",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }
}

/// An `asset` row as stored.
#[derive(Debug, Clone)]
pub struct AssetRow {
    pub asset_id: Uuid,
    pub owner_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub passthrough: Option<String>,
    pub status: String,
    pub source: Option<serde_json::Value>,
    pub source_key: Option<String>,
    pub source_size: Option<i64>,
    pub source_sha256: Option<String>,
    pub input_url: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub idempotency_fingerprint: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub deleted_at: Option<OffsetDateTime>,
    /// The preset the next transcode uses.
    pub preset: String,
    /// The published version learners are served.
    pub current_version: Option<i32>,
    pub playable: bool,
    /// The running transcode's progress (0–1) and estimated seconds left.
    pub progress: Option<f32>,
    pub eta_seconds: Option<i32>,
}

impl AssetRow {
    pub fn id(&self) -> AssetId {
        AssetId(self.asset_id)
    }

    /// The status; a value this build does not know reads as `errored` rather than failing.
    pub fn status(&self) -> AssetStatus {
        AssetStatus::parse(&self.status).unwrap_or(AssetStatus::Errored)
    }
}

/// What a creating request asks for, already validated.
#[derive(Debug, Clone)]
pub struct NewAsset {
    pub owner_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub passthrough: Option<String>,
    pub input_url: Option<String>,
    /// `Idempotency-Key` and the fingerprint of the request body.
    pub idempotency: Option<(String, String)>,
}

/// The result of [`create`]: a new asset, or the one an earlier request with the same
/// `Idempotency-Key` and body created.
#[derive(Debug)]
pub enum Created {
    New(AssetRow),
    Existing(AssetRow),
}

/// The original as stored when an upload completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    pub key: ObjectKey,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// Creates an asset in `waiting_upload` and records `asset.created`, in one transaction. With an
/// idempotency key already used by this owner, returns that asset when the body matches and
/// `idempotency_key_reused` when it does not.
pub async fn create(pool: &PgPool, new: &NewAsset) -> Result<Created, MediaError> {
    let mut tx = pool.begin().await?;
    let (key, fingerprint) = new.idempotency.clone().unzip();
    let inserted = sqlx::query_as!(
        AssetRow,
        r#"
        insert into asset (owner_id, title, description, passthrough, input_url, idempotency_key,
                           idempotency_fingerprint)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (owner_id, idempotency_key) do nothing
        returning asset_id, owner_id, title, description, passthrough, status, source, source_key,
                  source_size, source_sha256, input_url, error_code, error_message,
                  idempotency_fingerprint, created_at, updated_at, deleted_at, preset,
               current_version, playable, progress, eta_seconds
        "#,
        new.owner_id,
        new.title,
        new.description,
        new.passthrough,
        new.input_url,
        key,
        fingerprint,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(asset) = inserted {
        let payload = serde_json::json!({"title": asset.title, "passthrough": asset.passthrough});
        record_event(&mut tx, asset.id(), "asset.created", &payload).await?;
        on_created_with_input(&mut tx, &asset).await?;
        tx.commit().await?;
        return Ok(Created::New(asset));
    }
    // The key was used before by this owner: the same request again, or a different one.
    let existing = sqlx::query_as!(
        AssetRow,
        r#"
        select asset_id, owner_id, title, description, passthrough, status, source, source_key,
               source_size, source_sha256, input_url, error_code, error_message,
               idempotency_fingerprint, created_at, updated_at, deleted_at, preset,
               current_version, playable, progress, eta_seconds
        from asset where owner_id = $1 and idempotency_key = $2
        "#,
        new.owner_id,
        key,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    if existing.idempotency_fingerprint != fingerprint || existing.deleted_at.is_some() {
        return Err(MediaError::IdempotencyKeyReused);
    }
    Ok(Created::Existing(existing))
}

/// Hook for URL import: runs inside the creating transaction when the asset was created with
/// `input.url`, so the import job is enqueued atomically with the asset.
async fn on_created_with_input(tx: &mut PgConnection, asset: &AssetRow) -> Result<(), MediaError> {
    if asset.input_url.is_some() {
        super::import::enqueue_import(&mut *tx, asset.asset_id).await?;
    }
    Ok(())
}

/// A live (not deleted) asset.
pub async fn get(pool: &PgPool, asset_id: AssetId) -> Result<Option<AssetRow>, MediaError> {
    Ok(sqlx::query_as!(
        AssetRow,
        r#"
        select asset_id, owner_id, title, description, passthrough, status, source, source_key,
               source_size, source_sha256, input_url, error_code, error_message,
               idempotency_fingerprint, created_at, updated_at, deleted_at, preset,
               current_version, playable, progress, eta_seconds
        from asset where asset_id = $1 and deleted_at is null
        "#,
        asset_id.0,
    )
    .fetch_optional(pool)
    .await?)
}

/// The owner of an asset, deleted or not (DELETE answers 204 again for a tombstone's owner).
pub async fn owner_including_deleted(pool: &PgPool, asset_id: AssetId) -> Result<Option<(Uuid, bool)>, MediaError> {
    let row = sqlx::query!(
        "select owner_id, deleted_at is not null as \"deleted!\" from asset where asset_id = $1",
        asset_id.0
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| (row.owner_id, row.deleted)))
}

/// Where a listing page starts: strictly older than this asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: OffsetDateTime,
    pub asset_id: Uuid,
}

/// One owner's live assets, newest first, optionally with one status, after `cursor`.
pub async fn list(
    pool: &PgPool,
    owner_id: Uuid,
    status: Option<AssetStatus>,
    cursor: Option<ListCursor>,
    limit: i64,
) -> Result<Vec<AssetRow>, MediaError> {
    Ok(sqlx::query_as!(
        AssetRow,
        r#"
        select asset_id, owner_id, title, description, passthrough, status, source, source_key,
               source_size, source_sha256, input_url, error_code, error_message,
               idempotency_fingerprint, created_at, updated_at, deleted_at, preset,
               current_version, playable, progress, eta_seconds
        from asset
        where owner_id = $1 and deleted_at is null
          and ($2::text is null or status = $2)
          and ($3::timestamptz is null or (created_at, asset_id) < ($3, $4::uuid))
        order by created_at desc, asset_id desc
        limit $5
        "#,
        owner_id,
        status.map(AssetStatus::as_str),
        cursor.map(|c| c.created_at),
        cursor.map(|c| c.asset_id),
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// Changes title and/or description (`Some(None)` clears the description); records
/// `asset.updated`. Returns the row, or `None` when the asset is gone.
pub async fn update_details(
    pool: &PgPool,
    asset_id: AssetId,
    title: Option<&str>,
    description: Option<Option<&str>>,
) -> Result<Option<AssetRow>, MediaError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query_as!(
        AssetRow,
        r#"
        update asset
        set title = coalesce($2, title),
            description = case when $3 then $4 else description end
        where asset_id = $1 and deleted_at is null
        returning asset_id, owner_id, title, description, passthrough, status, source, source_key,
                  source_size, source_sha256, input_url, error_code, error_message,
                  idempotency_fingerprint, created_at, updated_at, deleted_at, preset,
               current_version, playable, progress, eta_seconds
        "#,
        asset_id.0,
        title,
        description.is_some(),
        description.flatten(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(asset) = &row {
        let payload = serde_json::json!({"title": asset.title});
        record_event(&mut tx, asset_id, "asset.updated", &payload).await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// Tombstones an asset and records `asset.deleted`. Returns false when it was already deleted.
pub async fn mark_deleted(conn: &mut PgConnection, asset_id: AssetId) -> Result<bool, MediaError> {
    let result =
        sqlx::query!("update asset set deleted_at = now() where asset_id = $1 and deleted_at is null", asset_id.0)
            .execute(&mut *conn)
            .await?;
    record_if_changed(conn, &result, asset_id, "asset.deleted", &serde_json::json!({})).await
}

/// Moves a live asset from `from` to `to` and records `event` with `payload`. `wrong_state` when
/// the asset is elsewhere (someone else moved it first), `not_found` when it is gone.
pub async fn transition(
    conn: &mut PgConnection,
    asset_id: AssetId,
    from: AssetStatus,
    to: AssetStatus,
    event: &str,
    payload: &serde_json::Value,
) -> Result<(), MediaError> {
    let mut tx = conn.begin().await?;
    let result = sqlx::query!(
        "update asset set status = $3 where asset_id = $1 and status = $2 and deleted_at is null",
        asset_id.0,
        from.as_str(),
        to.as_str(),
    )
    .execute(&mut *tx)
    .await?;
    if result.rows_affected() == 0 {
        return Err(state_mismatch(&mut tx, asset_id, from).await);
    }
    record_event(&mut tx, asset_id, event, payload).await?;
    tx.commit().await?;
    Ok(())
}

/// Why a guarded update matched no row.
async fn state_mismatch(conn: &mut PgConnection, asset_id: AssetId, expected: AssetStatus) -> MediaError {
    let actual = sqlx::query_scalar!("select status from asset where asset_id = $1 and deleted_at is null", asset_id.0)
        .fetch_optional(&mut *conn)
        .await;
    match actual {
        Ok(Some(actual)) => MediaError::WrongState { expected: expected.as_str(), actual },
        Ok(None) => MediaError::NotFound("no such asset"),
        Err(error) => MediaError::Database(error),
    }
}

/// The original is stored: `waiting_upload → uploaded` with its key, size and SHA-256, the event
/// `asset.uploaded`, and a `media.probe` job (unique per asset), all in one transaction. Pass a
/// connection, or the caller's transaction (`&mut *tx`) to make it atomic with its own writes.
pub async fn upload_completed(
    conn: &mut PgConnection,
    asset_id: AssetId,
    source: &SourceObject,
) -> Result<(), MediaError> {
    let mut tx = conn.begin().await?;
    let sha256 = hex::encode(source.sha256);
    let size = i64::try_from(source.size).map_err(|_| MediaError::Corrupt("source size overflows".to_owned()))?;
    let result = sqlx::query!(
        r#"
        update asset
        set status = 'uploaded', source_key = $2, source_size = $3, source_sha256 = $4
        where asset_id = $1 and status = 'waiting_upload' and deleted_at is null
        "#,
        asset_id.0,
        source.key.as_str(),
        size,
        sha256,
    )
    .execute(&mut *tx)
    .await?;
    if result.rows_affected() == 0 {
        return Err(state_mismatch(&mut tx, asset_id, AssetStatus::WaitingUpload).await);
    }
    let payload = serde_json::json!({"size": source.size, "sha256": sha256});
    record_event(&mut tx, asset_id, "asset.uploaded", &payload).await?;
    // Probing reads headers for a second or two; it goes before queued transcodes so a new
    // upload's first playable version does not wait behind other lectures' ladders.
    let options = EnqueueOptions {
        unique_key: Some(format!("{}:{asset_id}", ProbeJob::KIND)),
        priority: crate::jobs::PRIORITY_QUICK,
        ..EnqueueOptions::default()
    };
    queue::enqueue_in(&mut tx, ProbeJob::KIND, &serde_json::json!({"asset_id": asset_id}), options).await?;
    tx.commit().await?;
    Ok(())
}

/// Moves an asset that is not already `errored` to `errored` with a stable code and a message,
/// and records `asset.errored`. Returns false when it was already errored or is gone.
pub async fn fail(conn: &mut PgConnection, asset_id: AssetId, code: &str, message: &str) -> Result<bool, MediaError> {
    let mut tx = conn.begin().await?;
    let result = sqlx::query!(
        r#"
        update asset set status = 'errored', error_code = $2, error_message = $3
        where asset_id = $1 and status <> 'errored' and deleted_at is null
        "#,
        asset_id.0,
        code,
        message,
    )
    .execute(&mut *tx)
    .await?;
    let payload = serde_json::json!({"code": code, "message": message});
    if !record_if_changed(&mut tx, &result, asset_id, "asset.errored", &payload).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// [`fail`], but only while the asset is in one of `from` (a job settling the asset it was
/// working on must not error one that has moved on). False when it is not, or is gone.
pub async fn fail_from(
    conn: &mut PgConnection,
    asset_id: AssetId,
    from: &[AssetStatus],
    code: &str,
    message: &str,
) -> Result<bool, MediaError> {
    let from: Vec<String> = from.iter().map(|status| status.as_str().to_owned()).collect();
    let mut tx = conn.begin().await?;
    let result = sqlx::query!(
        r#"
        update asset set status = 'errored', error_code = $2, error_message = $3, progress = null,
                         eta_seconds = null
        where asset_id = $1 and status = any($4) and deleted_at is null
        "#,
        asset_id.0,
        code,
        message,
        &from,
    )
    .execute(&mut *tx)
    .await?;
    let payload = serde_json::json!({"code": code, "message": message});
    if !record_if_changed(&mut tx, &result, asset_id, "asset.errored", &payload).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// A transcode failed for good. An asset that is `processing` becomes `errored` (see [`fail`]);
/// a `ready` one (a reprocess) stays `ready` and keeps serving its current version, with the
/// code and message as its `error` and an `asset.reprocess_failed` event, until a later
/// version is published. False when the asset is gone or in neither state.
pub async fn fail_transcode(
    conn: &mut PgConnection,
    asset_id: AssetId,
    code: &str,
    message: &str,
) -> Result<bool, MediaError> {
    let mut tx = conn.begin().await?;
    let kept = sqlx::query!(
        r#"
        update asset set error_code = $2, error_message = $3, progress = null, eta_seconds = null
        where asset_id = $1 and status = 'ready' and deleted_at is null
        "#,
        asset_id.0,
        code,
        message,
    )
    .execute(&mut *tx)
    .await?;
    let failed = if kept.rows_affected() == 1 {
        record_event(
            &mut tx,
            asset_id,
            "asset.reprocess_failed",
            &serde_json::json!({"code": code, "message": message}),
        )
        .await?;
        true
    } else {
        fail_from(&mut tx, asset_id, &[AssetStatus::Processing], code, message).await?
    };
    tx.commit().await?;
    Ok(failed)
}

/// The probe accepted the original: stores what it found (`pipelines`' `SourceInfo` as JSON) in
/// `source`, moves the asset `probing → processing` and records `asset.probed` with `summary`.
/// False when the asset is no longer `probing` (deleted or failed meanwhile); nothing changes then.
pub async fn record_probe(
    conn: &mut PgConnection,
    asset_id: AssetId,
    source: &serde_json::Value,
    summary: &serde_json::Value,
) -> Result<bool, MediaError> {
    let result = sqlx::query!(
        r#"
        update asset set status = 'processing', source = $2
        where asset_id = $1 and status = 'probing' and deleted_at is null
        "#,
        asset_id.0,
        source,
    )
    .execute(&mut *conn)
    .await?;
    record_if_changed(conn, &result, asset_id, "asset.probed", summary).await
}

/// Records a running transcode's progress and estimated seconds left. False when the asset is
/// gone or no longer being processed (deleted, failed): the transcode should stop.
pub async fn set_progress(
    pool: &PgPool,
    asset_id: AssetId,
    progress: f32,
    eta_seconds: Option<i32>,
) -> Result<bool, MediaError> {
    let result = sqlx::query!(
        r#"
        update asset set progress = $2, eta_seconds = $3
        where asset_id = $1 and deleted_at is null and status in ('processing', 'ready')
        "#,
        asset_id.0,
        progress.clamp(0.0, 1.0),
        eta_seconds,
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Is the asset still live? A running transcode stops when it is not.
pub async fn is_live(pool: &PgPool, asset_id: AssetId) -> Result<bool, MediaError> {
    Ok(sqlx::query_scalar!(
        r#"select exists(select 1 from asset where asset_id = $1 and deleted_at is null) as "live!""#,
        asset_id.0
    )
    .fetch_one(pool)
    .await?)
}

/// Locks the asset row for the rest of the transaction. Both publishing transactions (the
/// fast first package and the full ladder) take it first, so they queue on one lock instead of
/// meeting in opposite order on the asset and its versions.
pub async fn lock_for_publish(conn: &mut PgConnection, asset_id: AssetId) -> Result<(), MediaError> {
    sqlx::query!("select asset_id from asset where asset_id = $1 for update", asset_id.0)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(())
}

/// Points an asset that has nothing published yet at its fast first package (a `preview`
/// version): `current_version` and `playable` are set, the status stays `processing` (the full
/// ladder is still to come), and `asset.playable` is recorded with `"preview": true`. Call it
/// in the publishing transaction after [`lock_for_publish`] and before the version is
/// published. False when the asset is gone, failed, or already has a current version (the
/// full ladder won the race): the caller discards the preview.
pub async fn publish_preview(conn: &mut PgConnection, asset_id: AssetId, version: i32) -> Result<bool, MediaError> {
    let result = sqlx::query!(
        r#"
        update asset set current_version = $2, playable = true
        where asset_id = $1 and deleted_at is null and status = 'processing' and current_version is null
        "#,
        asset_id.0,
        version,
    )
    .execute(&mut *conn)
    .await?;
    let payload = serde_json::json!({"version": version, "preview": true});
    record_if_changed(conn, &result, asset_id, "asset.playable", &payload).await
}

/// Points the asset at a freshly published `version`: `processing → ready` (a reprocessed asset
/// stays `ready`), playable, progress cleared, with `asset.playable` (the first time only) and
/// `asset.ready`. After a preview, `asset.playable` is not repeated. Call it in the publishing
/// transaction. False when the asset is gone or
/// errored meanwhile; the caller then rolls back.
pub async fn publish_version(conn: &mut PgConnection, asset_id: AssetId, version: i32) -> Result<bool, MediaError> {
    let was_playable = sqlx::query_scalar!(
        r#"
        select playable from asset
        where asset_id = $1 and deleted_at is null and status in ('processing', 'ready')
        for update
        "#,
        asset_id.0,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(was_playable) = was_playable else { return Ok(false) };
    sqlx::query!(
        r#"
        update asset
        set status = 'ready', current_version = $2, playable = true, progress = null,
            eta_seconds = null, error_code = null, error_message = null
        where asset_id = $1
        "#,
        asset_id.0,
        version,
    )
    .execute(&mut *conn)
    .await?;
    let payload = serde_json::json!({"version": version});
    if !was_playable {
        record_event(conn, asset_id, "asset.playable", &payload).await?;
    }
    record_event(conn, asset_id, "asset.ready", &payload).await?;
    Ok(true)
}

/// Asks for a new transcode with `preset`: allowed for a `ready` asset (its current version
/// stays served until the new one is published) and for an `errored` one that was probed (it
/// goes back to `processing`). Records `asset.reprocessing`, cancels a transcode of the asset
/// that is running (an earlier reprocess: the newest request wins) and enqueues
/// `media.transcode` (unique per asset), in one transaction.
pub async fn request_reprocess(
    pool: &PgPool,
    asset_id: AssetId,
    owner_id: Uuid,
    preset: &str,
) -> Result<AssetRow, MediaError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query_as!(
        AssetRow,
        r#"
        update asset
        set preset = $2,
            status = case when status = 'errored' then 'processing' else status end,
            error_code = null, error_message = null, progress = null, eta_seconds = null
        where asset_id = $1 and deleted_at is null
          and (status = 'ready' or (status = 'errored' and source is not null))
        returning asset_id, owner_id, title, description, passthrough, status, source, source_key,
                  source_size, source_sha256, input_url, error_code, error_message,
                  idempotency_fingerprint, created_at, updated_at, deleted_at, preset,
                  current_version, playable, progress, eta_seconds
        "#,
        asset_id.0,
        preset,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        let actual = state_mismatch(&mut tx, asset_id, AssetStatus::Ready).await;
        return Err(actual);
    };
    record_event(&mut tx, asset_id, "asset.reprocessing", &serde_json::json!({"preset": preset})).await?;
    // A transcode already running planned with the preset it read when it started; joining it
    // (the unique key) would publish that one. The newest request wins: the running one is
    // cancelled (it stops within a progress interval and can no longer publish: its publishing
    // transaction waits on this asset row, then finds its job cancelled), and a new one starts.
    queue::cancel_running_for_asset(&mut tx, TranscodeJob::KIND, asset_id.0, "superseded by a newer reprocess request")
        .await?;
    let options = EnqueueOptions {
        unique_key: Some(format!("{}:{asset_id}", TranscodeJob::KIND)),
        owner_id: Some(owner_id),
        ..EnqueueOptions::default()
    };
    queue::enqueue_in(&mut tx, TranscodeJob::KIND, &serde_json::json!({"asset_id": asset_id}), options).await?;
    tx.commit().await?;
    Ok(row)
}

/// Records the event when the update whose `result` is given changed the asset; false (and
/// nothing recorded) when it matched no row.
async fn record_if_changed(
    conn: &mut PgConnection,
    result: &PgQueryResult,
    asset_id: AssetId,
    event_type: &str,
    payload: &serde_json::Value,
) -> Result<bool, MediaError> {
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    record_event(conn, asset_id, event_type, payload).await?;
    Ok(true)
}

/// Appends an event to the asset's outbox. Call it inside the transaction of the change it
/// reports. When a webhook endpoint of the owner wants the event, the asset as the API shows it
/// now is stored with it and the fan-out is enqueued, in this same transaction (see
/// `crate::webhooks::dispatch`); otherwise the event is recorded as already dispatched.
pub async fn record_event(
    conn: &mut PgConnection,
    asset_id: AssetId,
    event_type: &str,
    payload: &serde_json::Value,
) -> Result<Uuid, MediaError> {
    let event_id = Uuid::now_v7();
    let fan_out = crate::webhooks::dispatch::prepare(&mut *conn, asset_id, event_type).await?;
    sqlx::query!(
        r#"
        insert into asset_event (event_id, asset_id, type, payload, asset_snapshot, dispatched_at)
        values ($1, $2, $3, $4, $5, case when $5::jsonb is null then now() end)
        "#,
        event_id,
        asset_id.0,
        event_type,
        payload,
        fan_out.as_ref().map(|f| &f.snapshot),
    )
    .execute(&mut *conn)
    .await?;
    if let Some(fan_out) = fan_out {
        crate::webhooks::dispatch::enqueue(&mut *conn, fan_out.owner_id).await?;
    }
    Ok(event_id)
}

/// The asset row, deleted or not, read on the caller's connection (inside a transaction it sees
/// the transaction's own changes). For event snapshots.
pub(crate) async fn row_in(conn: &mut PgConnection, asset_id: AssetId) -> Result<Option<AssetRow>, MediaError> {
    Ok(sqlx::query_as!(
        AssetRow,
        r#"
        select asset_id, owner_id, title, description, passthrough, status, source, source_key,
               source_size, source_sha256, input_url, error_code, error_message,
               idempotency_fingerprint, created_at, updated_at, deleted_at, preset,
               current_version, playable, progress, eta_seconds
        from asset where asset_id = $1
        "#,
        asset_id.0,
    )
    .fetch_optional(conn)
    .await?)
}

/// One event as stored (tests read these).
#[derive(Debug, Clone)]
pub struct EventRow {
    pub event_id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub created_at: OffsetDateTime,
}

/// An asset's events in the order they happened.
pub async fn events(pool: &PgPool, asset_id: AssetId) -> Result<Vec<EventRow>, MediaError> {
    Ok(sqlx::query_as!(
        EventRow,
        r#"select event_id, type as event_type, payload, created_at from asset_event
           where asset_id = $1 order by event_id"#,
        asset_id.0,
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in AssetStatus::ALL {
            assert_eq!(AssetStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).expect("serialises"), status.as_str());
        }
        assert_eq!(AssetStatus::parse("deleted"), None);
    }
}
