//! All SQL of `playback_session`, and the one read of `asset_version` playback needs (which
//! files a published version has).

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::PlaybackError;

/// A session as stored.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub session_id: Uuid,
    pub asset_id: Uuid,
    pub version: i32,
    pub account_id: Uuid,
    pub api_key_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub client_ip: Option<String>,
    /// What another domain opened the session for (training: the lesson); never interpreted here.
    pub context_id: Option<Uuid>,
}

/// What a new session is for. `expires_at` is whole seconds: the CDN policy is re-derived from
/// it, and policies count in seconds.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub asset_id: Uuid,
    pub version: i32,
    pub account_id: Uuid,
    pub api_key_id: Option<Uuid>,
    pub expires_at: OffsetDateTime,
    pub client_ip: Option<String>,
    pub context_id: Option<Uuid>,
}

pub async fn create(pool: &PgPool, new: &NewSession) -> Result<SessionRow, PlaybackError> {
    Ok(sqlx::query_as!(
        SessionRow,
        r#"
        insert into playback_session (asset_id, version, account_id, api_key_id, expires_at, client_ip, context_id)
        values ($1, $2, $3, $4, $5, $6, $7)
        returning session_id, asset_id, version, account_id, api_key_id, created_at, expires_at, revoked_at, client_ip,
                  context_id
        "#,
        new.asset_id,
        new.version,
        new.account_id,
        new.api_key_id,
        new.expires_at,
        new.client_ip,
        new.context_id,
    )
    .fetch_one(pool)
    .await?)
}

pub async fn get(pool: &PgPool, session_id: Uuid) -> Result<Option<SessionRow>, PlaybackError> {
    Ok(sqlx::query_as!(
        SessionRow,
        r#"
        select session_id, asset_id, version, account_id, api_key_id, created_at, expires_at, revoked_at, client_ip,
               context_id
        from playback_session where session_id = $1
        "#,
        session_id,
    )
    .fetch_optional(pool)
    .await?)
}

/// Revokes one session; false when it was already revoked.
pub async fn revoke(pool: &PgPool, session_id: Uuid) -> Result<bool, PlaybackError> {
    let done = sqlx::query!(
        "update playback_session set revoked_at = now() where session_id = $1 and revoked_at is null",
        session_id
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes every open session of `account_id` for `asset_id`, inside the caller's transaction
/// (revoking a grant).
pub async fn revoke_for_viewer(
    conn: &mut PgConnection,
    asset_id: Uuid,
    account_id: Uuid,
) -> Result<u64, PlaybackError> {
    let done = sqlx::query!(
        "update playback_session set revoked_at = now() where asset_id = $1 and account_id = $2 and revoked_at is null",
        asset_id,
        account_id,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The `manifests` map of a published version (`{"hls": …, "download": …}`), or `None` when
/// that version is not published.
pub async fn published_manifests(
    pool: &PgPool,
    asset_id: Uuid,
    version: i32,
) -> Result<Option<serde_json::Value>, PlaybackError> {
    Ok(sqlx::query_scalar!(
        "select manifests from asset_version where asset_id = $1 and version = $2 and state = 'published'",
        asset_id,
        version,
    )
    .fetch_optional(pool)
    .await?)
}
