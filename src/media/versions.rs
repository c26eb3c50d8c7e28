//! All SQL of `asset_version` and `rendition`: numbered attempts at an asset's package.
//!
//! Every transcode attempt takes the next version number ([`begin_attempt`]), so a retry never
//! writes into a failed attempt's files. A version becomes `published` in one transaction that
//! also supersedes the previous one and records its renditions ([`publish`]); after that it is
//! never changed again except to `superseded`.

use sqlx::{PgConnection, PgPool};

use super::MediaError;
use super::assets::AssetId;

/// What a version holds: the fast first package (the source's own streams copied, one
/// rendition) or the full ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionKind {
    Preview,
    Full,
}

impl VersionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preview => "preview",
            Self::Full => "full",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Preview, Self::Full].into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// One rendition of a version, ready to insert or as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionRow {
    pub name: String,
    /// `video` or `audio`.
    pub kind: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub frame_rate: Option<f64>,
    pub bandwidth: i64,
    pub average_bandwidth: Option<i64>,
    pub codecs: String,
    pub language: Option<String>,
    pub duration_seconds: f64,
    /// Relative to the version's prefix.
    pub playlist: String,
}

/// A new attempt of `kind`: versions of that kind left `processing` by an attempt that died
/// are marked `failed` (their numbers are returned so the caller deletes their files), and the
/// next number is taken in state `processing`. The asset row is locked meanwhile, so two
/// attempts can never take the same number. A preview and a full attempt may run side by side
/// (two workers), so neither abandons the other's version.
pub async fn begin_attempt(
    pool: &PgPool,
    asset_id: AssetId,
    preset: &str,
    kind: VersionKind,
) -> Result<(i32, Vec<i32>), MediaError> {
    let mut tx = pool.begin().await?;
    sqlx::query!("select asset_id from asset where asset_id = $1 for update", asset_id.0)
        .fetch_optional(&mut *tx)
        .await?;
    let abandoned = sqlx::query_scalar!(
        "update asset_version set state = 'failed' where asset_id = $1 and state = 'processing' and kind = $2 returning version",
        asset_id.0,
        kind.as_str(),
    )
    .fetch_all(&mut *tx)
    .await?;
    let version = sqlx::query_scalar!(
        r#"
        insert into asset_version (asset_id, version, preset, kind)
        select $1, coalesce(max(version), 0) + 1, $2, $3 from asset_version where asset_id = $1
        returning version
        "#,
        asset_id.0,
        preset,
        kind.as_str(),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((version, abandoned))
}

/// Fails every version still `processing` (its transcode was given up); returns their numbers
/// so the caller deletes their files.
pub async fn fail_unfinished(conn: &mut PgConnection, asset_id: AssetId) -> Result<Vec<i32>, MediaError> {
    Ok(sqlx::query_scalar!(
        "update asset_version set state = 'failed' where asset_id = $1 and state = 'processing' returning version",
        asset_id.0
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Marks an attempt `failed` (only while it is still `processing`).
pub async fn mark_failed(pool: &PgPool, asset_id: AssetId, version: i32) -> Result<(), MediaError> {
    sqlx::query!(
        "update asset_version set state = 'failed' where asset_id = $1 and version = $2 and state = 'processing'",
        asset_id.0,
        version,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Publishes `version` with its manifests and renditions and supersedes the version published
/// before it, whose number is returned. Call it inside the publishing transaction.
pub async fn publish(
    conn: &mut PgConnection,
    asset_id: AssetId,
    version: i32,
    manifests: &serde_json::Value,
    renditions: &[RenditionRow],
) -> Result<Option<i32>, MediaError> {
    let superseded = sqlx::query_scalar!(
        "update asset_version set state = 'superseded' where asset_id = $1 and state = 'published' returning version",
        asset_id.0
    )
    .fetch_optional(&mut *conn)
    .await?;
    let published = sqlx::query!(
        r#"
        update asset_version set state = 'published', manifests = $3, published_at = now()
        where asset_id = $1 and version = $2 and state = 'processing'
        "#,
        asset_id.0,
        version,
        manifests,
    )
    .execute(&mut *conn)
    .await?;
    if published.rows_affected() != 1 {
        return Err(MediaError::WrongState {
            expected: "processing",
            actual: format!("version {version} is not processing"),
        });
    }
    for rendition in renditions {
        sqlx::query!(
            r#"
            insert into rendition (asset_id, version, name, kind, width, height, frame_rate, bandwidth,
                                   average_bandwidth, codecs, language, duration_seconds, playlist)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            "#,
            asset_id.0,
            version,
            rendition.name,
            rendition.kind,
            rendition.width,
            rendition.height,
            rendition.frame_rate,
            rendition.bandwidth,
            rendition.average_bandwidth,
            rendition.codecs,
            rendition.language,
            rendition.duration_seconds,
            rendition.playlist,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(superseded)
}

/// The renditions of one version, video first (highest bandwidth first), then audio.
pub async fn renditions<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    asset_id: AssetId,
    version: i32,
) -> Result<Vec<RenditionRow>, MediaError> {
    Ok(sqlx::query_as!(
        RenditionRow,
        r#"
        select name, kind, width, height, frame_rate, bandwidth, average_bandwidth, codecs, language,
               duration_seconds, playlist
        from rendition where asset_id = $1 and version = $2
        order by kind desc, bandwidth desc, name
        "#,
        asset_id.0,
        version,
    )
    .fetch_all(executor)
    .await?)
}

/// What kind of version `version` is; `None` when there is no such version.
pub async fn kind(pool: &PgPool, asset_id: AssetId, version: i32) -> Result<Option<VersionKind>, MediaError> {
    let kind =
        sqlx::query_scalar!("select kind from asset_version where asset_id = $1 and version = $2", asset_id.0, version)
            .fetch_optional(pool)
            .await?;
    Ok(kind.as_deref().and_then(VersionKind::parse))
}

/// A version's state, for tests and diagnostics.
pub async fn states(pool: &PgPool, asset_id: AssetId) -> Result<Vec<(i32, String)>, MediaError> {
    let rows =
        sqlx::query!("select version, state from asset_version where asset_id = $1 order by version", asset_id.0)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|row| (row.version, row.state)).collect())
}

/// The version learners get now of each of `asset_ids` (live assets with a current version) and
/// its duration in milliseconds: the longest rendition of that version, else the probed length
/// of the original. Read by training to snapshot lesson durations.
pub async fn current_durations<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    asset_ids: &[uuid::Uuid],
) -> Result<Vec<CurrentDuration>, MediaError> {
    let rows = sqlx::query!(
        r#"
        select a.asset_id, a.current_version as "version!",
               coalesce((select max(r.duration_seconds) from rendition r
                         where r.asset_id = a.asset_id and r.version = a.current_version),
                        (a.source ->> 'duration_seconds')::float8) as duration_seconds
        from asset a
        where a.asset_id = any($1) and a.deleted_at is null and a.current_version is not null
        "#,
        asset_ids,
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let seconds = row.duration_seconds.filter(|s| s.is_finite() && *s >= 0.0)?;
            Some(CurrentDuration {
                asset_id: row.asset_id,
                version: row.version,
                duration_ms: (seconds * 1000.0).round() as i64,
            })
        })
        .collect())
}

/// See [`current_durations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentDuration {
    pub asset_id: uuid::Uuid,
    pub version: i32,
    pub duration_ms: i64,
}
