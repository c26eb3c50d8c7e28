//! Who may watch an asset, decided in one place: [`may_watch`].
//!
//! The rules, in order: the owner and administrators always; any signed-in account when the
//! asset is `public`; an active `asset_grant`; an active, unexpired pass to an open collection
//! that holds the asset; and any signed-in account when an open collection holds it as a
//! preview. Session creation and every manifest request ask this one function.
//!
//! Other domains *write* the facts it reads and never read them back: training keeps one
//! collection per course (open once published), its lessons' assets (free previews marked) and
//! one pass per enrolled learner ([`open_collection`], [`set_collection_assets`], [`set_pass`]).
//! Closing a pass ends the holder's sessions that lost their right ([`end_lost_sessions`]).
//!
//! This module owns all SQL of `asset_grant`, `access_collection`, `access_collection_asset`,
//! `access_pass` and the access columns of `asset` (`visibility`, `allowed_origins`, `bind_ip`),
//! which the assets module never writes.

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Role;
use crate::playback::{PlaybackError, sessions};

/// Who may watch without a grant. See migration `…07_outputs.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// The owner, administrators and accounts with a grant.
    Private,
    /// Any signed-in account.
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Public => "public",
        }
    }

    /// An unknown stored value reads as `private`, the safe side.
    pub fn from_stored(raw: &str) -> Self {
        if raw == "public" { Self::Public } else { Self::Private }
    }
}

/// What playback needs to know about an asset: its owner, whether and which version can be
/// played, and its restrictions.
#[derive(Debug, Clone)]
pub struct AssetAccess {
    pub asset_id: Uuid,
    pub owner_id: Uuid,
    pub status: String,
    pub playable: bool,
    pub current_version: Option<i32>,
    pub visibility: Visibility,
    /// Exact origins (`https://school.example`) allowed to embed; empty means any.
    pub allowed_origins: Vec<String>,
    pub bind_ip: bool,
}

impl AssetAccess {
    /// The version learners get, if the asset can be played now: a `ready` asset's, or the
    /// fast first package of one still `processing` its ladder.
    pub fn playable_version(&self) -> Option<u32> {
        let playable = matches!(self.status.as_str(), "ready" | "processing") && self.playable;
        self.current_version.filter(|_| playable).and_then(|version| u32::try_from(version).ok())
    }

    /// Whether a request from a page on `origin` may play this asset.
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        self.allowed_origins.is_empty()
            || origin.is_some_and(|origin| self.allowed_origins.iter().any(|allowed| allowed == origin))
    }
}

/// The answer of [`may_watch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied(DenyReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// A private asset, and the account has no active grant or pass.
    NoGrant,
    /// The account no longer exists.
    UnknownAccount,
}

/// The access facts of a live (not deleted) asset.
pub async fn load(pool: &PgPool, asset_id: Uuid) -> Result<Option<AssetAccess>, PlaybackError> {
    let row = sqlx::query!(
        r#"
        select asset_id, owner_id, status, playable, current_version, visibility, allowed_origins, bind_ip
        from asset where asset_id = $1 and deleted_at is null
        "#,
        asset_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| AssetAccess {
        asset_id: row.asset_id,
        owner_id: row.owner_id,
        status: row.status,
        playable: row.playable,
        current_version: row.current_version,
        visibility: Visibility::from_stored(&row.visibility),
        allowed_origins: row.allowed_origins,
        bind_ip: row.bind_ip,
    }))
}

/// The one access policy: may `account_id` watch `asset`? Read with the account's roles,
/// grants and passes as they are now, so a demotion, a revoked grant or a suspended enrolment
/// acts on the next request.
pub async fn may_watch(pool: &PgPool, account_id: Uuid, asset: &AssetAccess) -> Result<Decision, PlaybackError> {
    let row = sqlx::query!(
        r#"
        select roles,
               exists (select 1 from asset_grant g
                       where g.asset_id = $2 and g.account_id = $1 and g.revoked_at is null)
               or exists (select 1 from access_collection_asset ca
                          join access_collection c using (collection_id)
                          left join access_pass p on p.collection_id = ca.collection_id and p.account_id = $1
                          where ca.asset_id = $2 and c.open
                            and (ca.preview or (p.active and (p.expires_at is null or p.expires_at > now()))))
               as "granted!"
        from account where account_id = $1
        "#,
        account_id,
        asset.asset_id,
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(Decision::Denied(DenyReason::UnknownAccount)) };
    let roles = Role::from_stored(&row.roles);
    let allowed = asset.owner_id == account_id
        || roles.contains(&Role::Admin)
        || asset.visibility == Visibility::Public
        || row.granted;
    Ok(if allowed { Decision::Allowed } else { Decision::Denied(DenyReason::NoGrant) })
}

/// Creates the collection `collection_id` (a course) of `owner_id`, or sets whether it is open.
pub async fn open_collection(
    conn: &mut PgConnection,
    collection_id: Uuid,
    owner_id: Uuid,
    open: bool,
) -> Result<(), PlaybackError> {
    sqlx::query!(
        r#"
        insert into access_collection (collection_id, owner_id, open) values ($1, $2, $3)
        on conflict (collection_id) do update set open = excluded.open
        "#,
        collection_id,
        owner_id,
        open,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets a collection, its assets and its passes (a deleted draft course).
pub async fn delete_collection(conn: &mut PgConnection, collection_id: Uuid) -> Result<(), PlaybackError> {
    sqlx::query!("delete from access_collection where collection_id = $1", collection_id).execute(conn).await?;
    Ok(())
}

/// Replaces the assets of a collection: `(asset_id, preview)`, an asset listed twice is a preview
/// when either listing is.
pub async fn set_collection_assets(
    conn: &mut PgConnection,
    collection_id: Uuid,
    assets: &[(Uuid, bool)],
) -> Result<(), PlaybackError> {
    let (ids, previews): (Vec<Uuid>, Vec<bool>) = assets.iter().copied().unzip();
    sqlx::query!("delete from access_collection_asset where collection_id = $1", collection_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        r#"
        insert into access_collection_asset (collection_id, asset_id, preview)
        select $1, asset_id, bool_or(preview) from unnest($2::uuid[], $3::bool[]) as t(asset_id, preview)
        where exists (select 1 from asset a where a.asset_id = t.asset_id)
        group by asset_id
        "#,
        collection_id,
        &ids,
        &previews,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Opens (`active`) or closes the pass of `account_id` to a collection; `source` says who wrote it
/// (`enrollment`). A pass with `expires_at` stops opening anything at that time by itself.
pub async fn set_pass(
    conn: &mut PgConnection,
    collection_id: Uuid,
    account_id: Uuid,
    active: bool,
    expires_at: Option<OffsetDateTime>,
    source: &str,
) -> Result<(), PlaybackError> {
    sqlx::query!(
        r#"
        insert into access_pass (collection_id, account_id, active, expires_at, source) values ($1, $2, $3, $4, $5)
        on conflict (collection_id, account_id)
        do update set active = excluded.active, expires_at = excluded.expires_at, source = excluded.source
        "#,
        collection_id,
        account_id,
        active,
        expires_at,
        source,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// After a pass closed: revokes the open playback sessions of `account_id` on the collection's
/// assets that [`may_watch`] no longer allows (another grant, pass or a public asset keeps a
/// session alive). Returns how many were revoked.
pub async fn end_lost_sessions(pool: &PgPool, collection_id: Uuid, account_id: Uuid) -> Result<u64, PlaybackError> {
    let watched = sqlx::query_scalar!(
        r#"
        select distinct s.asset_id from playback_session s
        join access_collection_asset ca on ca.asset_id = s.asset_id and ca.collection_id = $1
        where s.account_id = $2 and s.revoked_at is null and s.expires_at > now()
        "#,
        collection_id,
        account_id,
    )
    .fetch_all(pool)
    .await?;
    let mut revoked = 0;
    for asset_id in watched {
        let still = match load(pool, asset_id).await? {
            Some(asset) => may_watch(pool, account_id, &asset).await? == Decision::Allowed,
            None => false,
        };
        if !still {
            let mut conn = pool.acquire().await?;
            revoked += sessions::revoke_for_viewer(&mut conn, asset_id, account_id).await?;
        }
    }
    Ok(revoked)
}

/// An active grant, as listed to the owner.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantView {
    pub account_id: Uuid,
    pub granted_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// Grants `account_id` the right to watch; granting again returns the grant that is active.
/// `not_found` when the account does not exist.
pub async fn grant(
    pool: &PgPool,
    asset_id: Uuid,
    account_id: Uuid,
    granted_by: Uuid,
) -> Result<GrantView, PlaybackError> {
    let exists =
        sqlx::query_scalar!(r#"select exists(select 1 from account where account_id = $1) as "exists!""#, account_id)
            .fetch_one(pool)
            .await?;
    if !exists {
        return Err(PlaybackError::AccountNotFound);
    }
    sqlx::query!(
        r#"
        insert into asset_grant (asset_id, account_id, granted_by) values ($1, $2, $3)
        on conflict (asset_id, account_id) where revoked_at is null do nothing
        "#,
        asset_id,
        account_id,
        granted_by,
    )
    .execute(pool)
    .await?;
    let row = sqlx::query_as!(
        GrantView,
        r#"
        select account_id, granted_by, created_at from asset_grant
        where asset_id = $1 and account_id = $2 and revoked_at is null
        "#,
        asset_id,
        account_id,
    )
    .fetch_one(pool)
    .await?;
    Ok(row)
}

/// The active grants of an asset, oldest first.
pub async fn list_grants(pool: &PgPool, asset_id: Uuid) -> Result<Vec<GrantView>, PlaybackError> {
    Ok(sqlx::query_as!(
        GrantView,
        r#"
        select account_id, granted_by, created_at from asset_grant
        where asset_id = $1 and revoked_at is null order by created_at, account_id
        "#,
        asset_id,
    )
    .fetch_all(pool)
    .await?)
}

/// Revokes the active grant and, in the same transaction, every open playback session of that
/// account for the asset, so its manifests stop at once. Returns whether a grant was active.
pub async fn revoke_grant(pool: &PgPool, asset_id: Uuid, account_id: Uuid) -> Result<bool, PlaybackError> {
    let mut tx = pool.begin().await?;
    let revoked = sqlx::query!(
        "update asset_grant set revoked_at = now() where asset_id = $1 and account_id = $2 and revoked_at is null",
        asset_id,
        account_id,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sessions::revoke_for_viewer(&mut tx, asset_id, account_id).await?;
    tx.commit().await?;
    Ok(revoked > 0)
}

/// Replaces the access settings of an asset (the caller has checked ownership).
pub async fn set_access(
    pool: &PgPool,
    asset_id: Uuid,
    visibility: Visibility,
    allowed_origins: &[String],
    bind_ip: bool,
) -> Result<(), PlaybackError> {
    sqlx::query!(
        "update asset set visibility = $2, allowed_origins = $3, bind_ip = $4 where asset_id = $1 and deleted_at is null",
        asset_id,
        visibility.as_str(),
        allowed_origins,
        bind_ip,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The origin of a request for the allow-list: the `Origin` header, else the origin part of
/// `Referer` (`scheme://host[:port]`).
pub fn request_origin(origin: Option<&str>, referer: Option<&str>) -> Option<String> {
    if let Some(origin) = origin.filter(|o| !o.is_empty() && *o != "null") {
        return Some(origin.to_owned());
    }
    let url = url::Url::parse(referer?).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// An allowed origin as stored: `scheme://host[:port]`, nothing else (no path, no slash).
pub fn parse_origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let origin = url.origin();
    let serialised = origin.ascii_serialization();
    (origin.is_tuple() && matches!(url.scheme(), "http" | "https") && raw.trim().trim_end_matches('/') == serialised)
        .then_some(serialised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_origin_comes_from_origin_or_else_from_the_referer() {
        assert_eq!(
            request_origin(Some("https://a.example"), Some("https://b.example/x")).as_deref(),
            Some("https://a.example")
        );
        assert_eq!(
            request_origin(None, Some("https://b.example:8443/lesson?x=1")).as_deref(),
            Some("https://b.example:8443")
        );
        assert_eq!(request_origin(Some("null"), None), None);
        assert_eq!(request_origin(None, Some("not a url")), None);
    }

    #[test]
    fn allowed_origins_must_be_bare_origins() {
        assert_eq!(parse_origin("https://school.example").as_deref(), Some("https://school.example"));
        assert_eq!(parse_origin("https://school.example/").as_deref(), Some("https://school.example"));
        assert_eq!(parse_origin("http://127.0.0.1:8080").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(parse_origin("https://school.example/lessons"), None);
        assert_eq!(parse_origin("ftp://school.example"), None);
        assert_eq!(parse_origin("school.example"), None);
    }

    #[test]
    fn only_a_ready_playable_asset_has_a_version_to_play() {
        let mut asset = AssetAccess {
            asset_id: Uuid::nil(),
            owner_id: Uuid::nil(),
            status: "ready".to_owned(),
            playable: true,
            current_version: Some(2),
            visibility: Visibility::Private,
            allowed_origins: Vec::new(),
            bind_ip: false,
        };
        assert_eq!(asset.playable_version(), Some(2));
        assert!(asset.origin_allowed(None));
        asset.allowed_origins = vec!["https://a.example".to_owned()];
        assert!(asset.origin_allowed(Some("https://a.example")));
        assert!(!asset.origin_allowed(Some("https://b.example")));
        assert!(!asset.origin_allowed(None));
        asset.playable = false;
        assert_eq!(asset.playable_version(), None);
    }
}
