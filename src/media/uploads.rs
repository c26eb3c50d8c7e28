//! All SQL of the `upload` table: uploads in progress, their stored parts and running hash, and
//! the lease that serialises writers.
//!
//! A writer first takes the lease ([`acquire_lease`]) and then changes progress only through
//! statements guarded by `locked_by = $token`, so a writer whose lease was taken over (it stalled
//! past the lease) can never record bytes over the new holder's.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AssetId, MediaError};

/// One part stored in the backend's multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPart {
    pub part_number: u32,
    pub etag: String,
    pub size: u64,
}

/// An `upload` row joined with what access checks need from its asset.
#[derive(Debug, Clone)]
pub struct UploadRow {
    pub upload_id: Uuid,
    pub asset_id: Uuid,
    pub protocol: String,
    pub length: Option<i64>,
    pub upload_offset: i64,
    pub storage_upload_id: Option<String>,
    pub parts: serde_json::Value,
    pub tail_size: i64,
    pub hash_state: Option<Vec<u8>>,
    pub metadata: serde_json::Value,
    pub expires_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
    pub owner_id: Uuid,
}

impl UploadRow {
    pub fn parts(&self) -> Result<Vec<StoredPart>, MediaError> {
        serde_json::from_value(self.parts.clone()).map_err(|e| MediaError::Corrupt(format!("upload parts: {e}")))
    }

    pub fn offset(&self) -> u64 {
        u64::try_from(self.upload_offset).unwrap_or(0)
    }

    pub fn length(&self) -> Option<u64> {
        self.length.and_then(|length| u64::try_from(length).ok())
    }

    pub fn tail_size(&self) -> u64 {
        u64::try_from(self.tail_size).unwrap_or(0)
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.completed_at.is_none() && self.expires_at <= now
    }
}

/// A new tus upload.
#[derive(Debug)]
pub struct NewUpload<'a> {
    pub asset_id: AssetId,
    pub protocol: &'a str,
    pub length: Option<u64>,
    /// The storage multipart upload; `None` where the store grows the upload in place.
    pub storage_upload_id: Option<&'a str>,
    pub metadata: &'a serde_json::Value,
    pub expires_at: OffsetDateTime,
}

fn to_i64(value: u64) -> Result<i64, MediaError> {
    i64::try_from(value).map_err(|_| MediaError::InvalidUploadHeader("size out of range".to_owned()))
}

/// Inserts an upload; `upload_in_progress` when the asset already has an unfinished one (the
/// partial unique index decides, so two concurrent creations cannot both win).
pub async fn create(pool: &PgPool, new: &NewUpload<'_>) -> Result<Uuid, MediaError> {
    let length = new.length.map(to_i64).transpose()?;
    let inserted = sqlx::query_scalar!(
        r#"
        insert into upload (asset_id, protocol, length, storage_upload_id, metadata, expires_at)
        values ($1, $2, $3, $4, $5, $6)
        returning upload_id
        "#,
        new.asset_id.0,
        new.protocol,
        length,
        new.storage_upload_id,
        new.metadata,
        new.expires_at,
    )
    .fetch_one(pool)
    .await;
    match inserted {
        Ok(upload_id) => Ok(upload_id),
        Err(sqlx::Error::Database(error)) if error.constraint() == Some("upload_one_open_per_asset") => {
            Err(MediaError::UploadInProgress)
        }
        Err(other) => Err(other.into()),
    }
}

/// An upload of a live asset, with the asset's owner.
pub async fn get(pool: &PgPool, upload_id: Uuid) -> Result<Option<UploadRow>, MediaError> {
    Ok(sqlx::query_as!(
        UploadRow,
        r#"
        select u.upload_id, u.asset_id, u.protocol, u.length, u.upload_offset, u.storage_upload_id,
               u.parts, u.tail_size, u.hash_state, u.metadata, u.expires_at, u.completed_at,
               a.owner_id
        from upload u join asset a using (asset_id)
        where u.upload_id = $1 and a.deleted_at is null
        "#,
        upload_id,
    )
    .fetch_optional(pool)
    .await?)
}

/// The asset's unfinished upload, if any.
pub async fn open_for_asset(pool: &PgPool, asset_id: AssetId) -> Result<Option<UploadRow>, MediaError> {
    Ok(sqlx::query_as!(
        UploadRow,
        r#"
        select u.upload_id, u.asset_id, u.protocol, u.length, u.upload_offset, u.storage_upload_id,
               u.parts, u.tail_size, u.hash_state, u.metadata, u.expires_at, u.completed_at,
               a.owner_id
        from upload u join asset a using (asset_id)
        where u.asset_id = $1 and u.completed_at is null
        "#,
        asset_id.0,
    )
    .fetch_optional(pool)
    .await?)
}

/// Takes the write lease of an unfinished upload for `token`, or `None` when someone else holds
/// an unexpired lease. Returns the row as it is under the lease.
pub async fn acquire_lease(
    pool: &PgPool,
    upload_id: Uuid,
    token: Uuid,
    lease: Duration,
) -> Result<Option<UploadRow>, MediaError> {
    Ok(sqlx::query_as!(
        UploadRow,
        r#"
        with leased as (
            update upload
            set locked_until = now() + make_interval(secs => $3), locked_by = $2
            where upload_id = $1 and completed_at is null
              and (locked_until is null or locked_until < now())
            returning *
        )
        select u.upload_id, u.asset_id, u.protocol, u.length, u.upload_offset, u.storage_upload_id,
               u.parts, u.tail_size, u.hash_state, u.metadata, u.expires_at, u.completed_at,
               a.owner_id
        from leased u join asset a using (asset_id)
        "#,
        upload_id,
        token,
        lease.as_secs_f64(),
    )
    .fetch_optional(pool)
    .await?)
}

/// Extends a lease `token` holds; false when it was lost.
pub async fn extend_lease(pool: &PgPool, upload_id: Uuid, token: Uuid, lease: Duration) -> Result<bool, MediaError> {
    let result = sqlx::query!(
        r#"
        update upload set locked_until = now() + make_interval(secs => $3)
        where upload_id = $1 and locked_by = $2
        "#,
        upload_id,
        token,
        lease.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Gives the lease back (a no-op when `token` no longer holds it).
pub async fn release_lease(pool: &PgPool, upload_id: Uuid, token: Uuid) -> Result<(), MediaError> {
    sqlx::query!(
        "update upload set locked_until = null, locked_by = null where upload_id = $1 and locked_by = $2",
        upload_id,
        token,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Durable progress of an upload: everything up to `offset` is stored (parts plus the first
/// `tail_size` bytes of the tail object) and `hash_state` has hashed exactly those bytes.
#[derive(Debug)]
pub struct Progress<'a> {
    pub offset: u64,
    pub length: Option<u64>,
    pub parts: &'a [StoredPart],
    pub tail_size: u64,
    pub hash_state: &'a [u8],
}

/// Records progress under the lease; false when `token` lost it (nothing is written then).
pub async fn record_progress(
    conn: &mut PgConnection,
    upload_id: Uuid,
    token: Uuid,
    progress: &Progress<'_>,
) -> Result<bool, MediaError> {
    let parts = serde_json::to_value(progress.parts).map_err(|e| MediaError::Corrupt(e.to_string()))?;
    let result = sqlx::query!(
        r#"
        update upload
        set upload_offset = $3, length = coalesce($4, length), parts = $5, tail_size = $6,
            hash_state = $7
        where upload_id = $1 and locked_by = $2 and completed_at is null
        "#,
        upload_id,
        token,
        to_i64(progress.offset)?,
        progress.length.map(to_i64).transpose()?,
        parts,
        to_i64(progress.tail_size)?,
        progress.hash_state,
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks the upload finished (and releases its lease); false when `token` lost the lease.
pub async fn mark_completed(
    conn: &mut PgConnection,
    upload_id: Uuid,
    token: Uuid,
    progress: &Progress<'_>,
) -> Result<bool, MediaError> {
    let parts = serde_json::to_value(progress.parts).map_err(|e| MediaError::Corrupt(e.to_string()))?;
    let result = sqlx::query!(
        r#"
        update upload
        set upload_offset = $3, length = $3, parts = $4, tail_size = 0, hash_state = $5,
            completed_at = now(), locked_until = null, locked_by = null
        where upload_id = $1 and locked_by = $2 and completed_at is null
        "#,
        upload_id,
        token,
        to_i64(progress.offset)?,
        parts,
        progress.hash_state,
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Removes an upload row (termination, expiry, a file over the limit).
pub async fn delete(conn: &mut PgConnection, upload_id: Uuid) -> Result<bool, MediaError> {
    let result = sqlx::query!("delete from upload where upload_id = $1", upload_id).execute(conn).await?;
    Ok(result.rows_affected() == 1)
}

/// Removes every upload of an asset and says which storage multipart uploads they had open, so
/// the caller can abort them once its transaction has committed.
pub async fn delete_for_asset(
    conn: &mut PgConnection,
    asset_id: AssetId,
) -> Result<Vec<(Uuid, Option<String>)>, MediaError> {
    let rows = sqlx::query!(
        r#"
        delete from upload where asset_id = $1
        returning upload_id, case when completed_at is null then storage_upload_id end as storage_upload_id
        "#,
        asset_id.0,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|row| (row.upload_id, row.storage_upload_id)).collect())
}

/// An unfinished upload past its expiry, as the housekeeping sweep needs it.
#[derive(Debug, Clone)]
pub struct ExpiredUpload {
    pub upload_id: Uuid,
    pub asset_id: Uuid,
    pub protocol: String,
    pub storage_upload_id: Option<String>,
    pub expires_at: OffsetDateTime,
}

/// Unfinished uploads whose expiry has passed, oldest first, at most `limit` (deleted assets'
/// included: their bytes must go too).
pub async fn expired(pool: &PgPool, limit: i64) -> Result<Vec<ExpiredUpload>, MediaError> {
    Ok(sqlx::query_as!(
        ExpiredUpload,
        r#"
        select upload_id, asset_id, protocol, storage_upload_id, expires_at
        from upload
        where completed_at is null and expires_at < now()
        order by expires_at
        limit $1
        "#,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// Removes an upload the sweep has cleaned up, only if it is still unfinished and expired (a
/// completion that slipped in keeps its row). False when nothing was removed.
pub async fn delete_expired(conn: &mut PgConnection, upload_id: Uuid) -> Result<bool, MediaError> {
    let result = sqlx::query!(
        "delete from upload where upload_id = $1 and completed_at is null and expires_at < now()",
        upload_id
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}
