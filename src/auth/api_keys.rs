//! The `api_key` table: keys that applications present as `Authorization: Bearer lk_…`.
//!
//! A key belongs to an instructor or administrator (its owner) and carries scopes. What a key may
//! do is always the intersection of its scopes with what its owner's roles allow *now*, so
//! demoting an owner narrows their keys at once without touching them.

use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AuthError, Role};

/// Every secret starts with this, so a key is recognisable in a header, a log scanner or a leak
/// report, and cannot be mistaken for an access token (a JWT starts with `ey`).
pub const SECRET_PREFIX: &str = "lk_";

/// How many characters of the secret are kept in clear for display: `lk_` and 8 more, about 48 of
/// the 256 random bits, which is enough to tell keys apart and useless for guessing.
const DISPLAY_PREFIX_LEN: usize = 11;

/// `last_used_at` is written only when it is older than this, to avoid a write per request.
const LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);

/// What a key may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "assets:read")]
    AssetsRead,
    #[serde(rename = "assets:write")]
    AssetsWrite,
    /// Create playback sessions, also on behalf of a learner (see [`on_behalf_of`]).
    #[serde(rename = "playback:create")]
    PlaybackCreate,
    /// See the account's webhook endpoints and their deliveries.
    #[serde(rename = "webhooks:read")]
    WebhooksRead,
    /// Create and delete webhook endpoints and retry deliveries.
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    /// See the owner's courses, their enrolments and their learners' progress.
    #[serde(rename = "courses:read")]
    CoursesRead,
    /// Create and change the owner's courses and enrol learners in them.
    #[serde(rename = "courses:write")]
    CoursesWrite,
}

impl Scope {
    pub const ALL: [Self; 7] = [
        Self::AssetsRead,
        Self::AssetsWrite,
        Self::PlaybackCreate,
        Self::WebhooksRead,
        Self::WebhooksWrite,
        Self::CoursesRead,
        Self::CoursesWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssetsRead => "assets:read",
            Self::AssetsWrite => "assets:write",
            Self::PlaybackCreate => "playback:create",
            Self::WebhooksRead => "webhooks:read",
            Self::WebhooksWrite => "webhooks:write",
            Self::CoursesRead => "courses:read",
            Self::CoursesWrite => "courses:write",
        }
    }

    /// `invalid_scope` for anything outside the known set.
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw)
            .ok_or_else(|| AuthError::InvalidScope(format!("unknown scope {raw:?}; known: {}", Self::known_list())))
    }

    fn known_list() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }

    /// Whether an account with `roles` may hold a key with this scope. Instructors manage their
    /// own media, playback and webhooks (an endpoint hears only about its owner's assets, so it
    /// reaches no further than the owner's own asset list). Learners hold no keys at all.
    pub fn allowed_for(self, roles: &[Role]) -> bool {
        match self {
            Self::AssetsRead
            | Self::AssetsWrite
            | Self::PlaybackCreate
            | Self::WebhooksRead
            | Self::WebhooksWrite
            | Self::CoursesRead
            | Self::CoursesWrite => roles.contains(&Role::Instructor) || roles.contains(&Role::Admin),
        }
    }

    /// Scopes as stored; skipping unknown ones only guards against a scope a newer binary wrote.
    fn from_stored(stored: &[String]) -> Vec<Self> {
        let mut scopes: Vec<Self> = stored.iter().filter_map(|raw| Self::parse(raw).ok()).collect();
        scopes.sort_unstable();
        scopes.dedup();
        scopes
    }
}

/// Whether an account with `roles` may create API keys at all.
pub fn may_own_keys(roles: &[Role]) -> bool {
    roles.contains(&Role::Instructor) || roles.contains(&Role::Admin)
}

/// A key as its owner sees it in lists: never the secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub api_key_id: Uuid,
    #[schema(example = "course site")]
    pub name: String,
    /// The first characters of the secret, to tell keys apart.
    #[schema(example = "lk_Zq3v9Xa1")]
    pub prefix: String,
    pub scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Accurate to about a minute.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A freshly made secret. Not `Debug`, so it cannot reach a log by accident.
pub struct NewSecret {
    pub secret: String,
    prefix: String,
    hash: Vec<u8>,
}

/// `lk_` + 32 random bytes in base64url without padding, its display prefix and its hash.
pub fn new_secret() -> Result<NewSecret, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Hashing(format!("no system randomness ({e})")))?;
    let secret = format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let prefix = secret.chars().take(DISPLAY_PREFIX_LEN).collect();
    let hash = hash_secret(&secret);
    Ok(NewSecret { secret, prefix, hash })
}

/// The only form in which secrets are stored.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Parses a requested name and scopes: `invalid_name` / `invalid_scope` for malformed input, and
/// `forbidden` for a scope the owner's roles do not allow.
pub fn check_request(roles: &[Role], name: &str, raw_scopes: &[String]) -> Result<(String, Vec<Scope>), AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AuthError::InvalidName("a key's name must be 1 to 100 characters".to_owned()));
    }
    if raw_scopes.is_empty() {
        return Err(AuthError::InvalidScope(format!("name at least one scope of: {}", Scope::known_list())));
    }
    let mut scopes = raw_scopes.iter().map(|raw| Scope::parse(raw)).collect::<Result<Vec<_>, _>>()?;
    scopes.sort_unstable();
    scopes.dedup();
    if let Some(scope) = scopes.iter().find(|scope| !scope.allowed_for(roles)) {
        return Err(AuthError::ForbiddenBecause(format!("your roles do not allow the scope {}", scope.as_str())));
    }
    Ok((name.to_owned(), scopes))
}

pub async fn create(
    pool: &PgPool,
    account_id: Uuid,
    name: &str,
    scopes: &[Scope],
    secret: &NewSecret,
) -> Result<ApiKeyView, AuthError> {
    let stored: Vec<String> = scopes.iter().map(|scope| scope.as_str().to_owned()).collect();
    let row = sqlx::query!(
        r#"
        insert into api_key (account_id, name, prefix, secret_hash, scopes)
        values ($1, $2, $3, $4, $5)
        returning api_key_id, name, prefix, scopes, created_at, last_used_at, revoked_at
        "#,
        account_id,
        name,
        secret.prefix,
        secret.hash,
        &stored,
    )
    .fetch_one(pool)
    .await?;
    Ok(ApiKeyView {
        api_key_id: row.api_key_id,
        name: row.name,
        prefix: row.prefix,
        scopes: Scope::from_stored(&row.scopes),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    })
}

/// The account's keys, newest first, revoked ones included.
pub async fn list(pool: &PgPool, account_id: Uuid) -> Result<Vec<ApiKeyView>, AuthError> {
    let rows = sqlx::query!(
        r#"
        select api_key_id, name, prefix, scopes, created_at, last_used_at, revoked_at
        from api_key where account_id = $1
        order by created_at desc, api_key_id
        "#,
        account_id,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ApiKeyView {
            api_key_id: row.api_key_id,
            name: row.name,
            prefix: row.prefix,
            scopes: Scope::from_stored(&row.scopes),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
        .collect())
}

/// Revokes one of the account's keys. True when the key is the account's (revoked now or
/// already), so revoking twice succeeds; false for a key that is missing or someone else's.
pub async fn revoke(pool: &PgPool, account_id: Uuid, api_key_id: Uuid) -> Result<bool, AuthError> {
    let found = sqlx::query_scalar!(
        r#"
        update api_key set revoked_at = coalesce(revoked_at, now())
        where api_key_id = $1 and account_id = $2
        returning api_key_id
        "#,
        api_key_id,
        account_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// A caller authenticated by an API key.
#[derive(Debug, Clone)]
pub struct KeyPrincipal {
    pub api_key_id: Uuid,
    /// The account that owns the key.
    pub owner: Uuid,
    /// The key's scopes narrowed to what the owner's current roles allow.
    pub scopes: Vec<Scope>,
}

/// Finds the active key with this secret: `invalid_api_key` for an unknown or revoked one.
/// Records the use when the last recorded one is more than a minute old.
pub async fn authenticate(pool: &PgPool, secret: &str) -> Result<KeyPrincipal, AuthError> {
    let row = sqlx::query!(
        r#"
        select k.api_key_id, k.account_id, k.scopes, k.last_used_at, a.roles as "roles!"
        from api_key k join account a using (account_id)
        where k.secret_hash = $1 and k.revoked_at is null
        "#,
        hash_secret(secret),
    )
    .fetch_optional(pool)
    .await?
    .ok_or(AuthError::InvalidApiKey)?;
    let roles = Role::from_stored(&row.roles);
    let scopes = Scope::from_stored(&row.scopes).into_iter().filter(|scope| scope.allowed_for(&roles)).collect();
    let stale = row.last_used_at.is_none_or(|last| OffsetDateTime::now_utc() - last > LAST_USED_RESOLUTION);
    if stale {
        sqlx::query!("update api_key set last_used_at = now() where api_key_id = $1", row.api_key_id)
            .execute(pool)
            .await?;
    }
    Ok(KeyPrincipal { api_key_id: row.api_key_id, owner: row.account_id, scopes })
}

/// For endpoints that let an application act for one of its learners (playback sessions): the
/// key must carry `playback:create` (`insufficient_scope`) and the account must exist
/// (`not_found`). Returns the account to act for.
pub async fn on_behalf_of(pool: &PgPool, key: &KeyPrincipal, account_id: Uuid) -> Result<Uuid, AuthError> {
    key.require_scope(Scope::PlaybackCreate)?;
    let exists =
        sqlx::query_scalar!(r#"select exists(select 1 from account where account_id = $1) as "exists!""#, account_id)
            .fetch_one(pool)
            .await?;
    if exists { Ok(account_id) } else { Err(AuthError::NotFound("no such account")) }
}

impl KeyPrincipal {
    /// `insufficient_scope` unless the key carries `scope` (and its owner still may use it).
    pub fn require_scope(&self, scope: Scope) -> Result<(), AuthError> {
        if self.scopes.contains(&scope) { Ok(()) } else { Err(AuthError::InsufficientScope(scope.as_str())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_256_bit_strings_stored_as_their_sha256() {
        let made = new_secret().expect("random");
        assert!(made.secret.starts_with("lk_"));
        assert_eq!(made.secret.len(), 3 + 43);
        assert_eq!(made.prefix, made.secret[..DISPLAY_PREFIX_LEN]);
        assert_eq!(made.hash, hash_secret(&made.secret));
        assert_ne!(new_secret().expect("random").secret, made.secret);
    }

    #[test]
    fn scopes_round_trip_through_their_names_and_unknown_ones_are_refused() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()).expect("known"), scope);
            let json = serde_json::to_string(&scope).expect("json");
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
        }
        assert!(matches!(Scope::parse("assets:delete"), Err(AuthError::InvalidScope(_))));
    }

    #[test]
    fn a_key_cannot_carry_more_than_its_owner_roles_allow() {
        let instructor = [Role::Learner, Role::Instructor];
        let admin = [Role::Learner, Role::Admin];
        let scopes = |raw: &[&str]| raw.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(check_request(&instructor, "site", &scopes(&["assets:read", "playback:create"])).is_ok());
        assert!(check_request(&instructor, "site", &scopes(&["webhooks:read", "webhooks:write"])).is_ok());
        assert!(matches!(
            check_request(&[Role::Learner], "site", &scopes(&["assets:read"])),
            Err(AuthError::ForbiddenBecause(_))
        ));
        assert!(check_request(&admin, "site", &scopes(&["webhooks:write"])).is_ok());
        assert!(matches!(check_request(&admin, " ", &scopes(&["assets:read"])), Err(AuthError::InvalidName(_))));
        assert!(matches!(check_request(&admin, "site", &[]), Err(AuthError::InvalidScope(_))));
        assert!(!may_own_keys(&[Role::Learner]));
    }
}
