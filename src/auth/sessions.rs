//! Sessions (one per signed-in device) and their refresh tokens. A session is a refresh-token
//! family: rotation replaces its token, reuse of a spent token revokes it, and access tokens name
//! it so that revocation is seen by the very next request.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::tokens::{hash_refresh_token, new_refresh_token};
use super::{AuthError, ClientInfo, Role};

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle: Duration,
    pub absolute: Duration,
}

/// A new or rotated session with its fresh refresh token.
pub struct Issued {
    pub account_id: Uuid,
    pub session_id: Uuid,
    pub roles: Vec<Role>,
    pub refresh_token: String,
    pub refresh_expires_at: OffsetDateTime,
}

/// Why a session ended; the values of `auth_session.revoked_reason`.
#[derive(Debug, Clone, Copy)]
pub enum RevokedReason {
    /// The device signed itself out.
    Logout,
    /// The owner ended it from another device.
    SignedOut,
    /// A spent refresh token was presented again: someone holds a stolen copy.
    RefreshTokenReuse,
    /// The password was reset through a mailed link: whoever knew the old one is signed out.
    PasswordReset,
}

impl RevokedReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::SignedOut => "signed_out",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// A signed-in device, as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub session_id: Uuid,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// True for the session of the token that made this request.
    pub current: bool,
}

/// Starts a session for an account that just proved who it is.
pub async fn start(
    pool: &PgPool,
    account_id: Uuid,
    roles: Vec<Role>,
    client: &ClientInfo,
    lifetimes: Lifetimes,
) -> Result<Issued, AuthError> {
    let (refresh_token, token_hash) = new_refresh_token()?;
    let mut tx = pool.begin().await?;
    let session = sqlx::query!(
        r#"
        insert into auth_session (account_id, user_agent, ip, idle_expires_at, absolute_expires_at)
        values ($1, $2, $3,
                now() + make_interval(secs => least($4::float8, $5::float8)),
                now() + make_interval(secs => $5::float8))
        returning session_id, idle_expires_at
        "#,
        account_id,
        client.user_agent.as_deref(),
        client.ip.to_string(),
        lifetimes.idle.as_secs_f64(),
        lifetimes.absolute.as_secs_f64(),
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        r#"insert into refresh_token (session_id, token_hash) values ($1, $2)"#,
        session.session_id,
        token_hash,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Issued {
        account_id,
        session_id: session.session_id,
        roles,
        refresh_token,
        refresh_expires_at: session.idle_expires_at,
    })
}

/// Spends a refresh token and issues its successor. Exactly one caller can spend a token: the
/// guarded `UPDATE … WHERE used_at IS NULL` takes the row lock, and a concurrent second attempt
/// finds it spent. A spent token presented again revokes its whole session.
pub async fn rotate(pool: &PgPool, presented: &str, lifetimes: Lifetimes) -> Result<Issued, AuthError> {
    let presented_hash = hash_refresh_token(presented);
    let mut tx = pool.begin().await?;
    let spent = sqlx::query!(
        r#"
        update refresh_token set used_at = now()
        where token_hash = $1 and used_at is null
        returning refresh_token_id, session_id
        "#,
        presented_hash,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(spent) = spent else {
        let reused =
            sqlx::query_scalar!(r#"select session_id from refresh_token where token_hash = $1"#, presented_hash)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(session_id) = reused {
            let revoked = sqlx::query!(
                r#"
                update auth_session set revoked_at = now(), revoked_reason = $2
                where session_id = $1 and revoked_at is null
                returning account_id
                "#,
                session_id,
                RevokedReason::RefreshTokenReuse.as_str(),
            )
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            if let Some(revoked) = revoked {
                tracing::warn!(
                    %session_id,
                    account_id = %revoked.account_id,
                    event = "refresh_token_reuse",
                    "a spent refresh token was presented again; the session is revoked"
                );
            }
        }
        return Err(AuthError::InvalidToken);
    };

    let session = sqlx::query!(
        r#"
        select s.account_id as "account_id!", a.roles as "roles!"
        from auth_session s join account a using (account_id)
        where s.session_id = $1 and s.revoked_at is null
          and s.idle_expires_at > now() and s.absolute_expires_at > now()
        for update of s
        "#,
        spent.session_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(session) = session else {
        // The session ended (expired or revoked); the spent token stays spent.
        tx.commit().await?;
        return Err(AuthError::InvalidToken);
    };

    let (refresh_token, token_hash) = new_refresh_token()?;
    let successor = sqlx::query_scalar!(
        r#"insert into refresh_token (session_id, token_hash) values ($1, $2) returning refresh_token_id"#,
        spent.session_id,
        token_hash,
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        r#"update refresh_token set replaced_by = $2 where refresh_token_id = $1"#,
        spent.refresh_token_id,
        successor,
    )
    .execute(&mut *tx)
    .await?;
    let idle_expires_at = sqlx::query_scalar!(
        r#"
        update auth_session
        set last_used_at = now(),
            idle_expires_at = least(now() + make_interval(secs => $2::float8), absolute_expires_at)
        where session_id = $1
        returning idle_expires_at
        "#,
        spent.session_id,
        lifetimes.idle.as_secs_f64(),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Issued {
        account_id: session.account_id,
        session_id: spent.session_id,
        roles: Role::from_stored(&session.roles),
        refresh_token,
        refresh_expires_at: idle_expires_at,
    })
}

/// The account's current roles if the session is active, else `None`. One primary-key lookup
/// (plus the account row), cheap enough for every authenticated request.
pub async fn active_roles(pool: &PgPool, session_id: Uuid, account_id: Uuid) -> Result<Option<Vec<Role>>, AuthError> {
    let roles = sqlx::query_scalar!(
        r#"
        select a.roles as "roles!"
        from auth_session s join account a using (account_id)
        where s.session_id = $1 and s.account_id = $2 and s.revoked_at is null
          and s.idle_expires_at > now() and s.absolute_expires_at > now()
        "#,
        session_id,
        account_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(roles.map(|roles| Role::from_stored(&roles)))
}

/// Ends one of the account's active sessions; false when it has no such active session.
pub async fn revoke(
    pool: &PgPool,
    session_id: Uuid,
    account_id: Uuid,
    reason: RevokedReason,
) -> Result<bool, AuthError> {
    let result = sqlx::query!(
        r#"
        update auth_session set revoked_at = now(), revoked_reason = $3
        where session_id = $1 and account_id = $2 and revoked_at is null
        "#,
        session_id,
        account_id,
        reason.as_str(),
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The account's active sessions, newest first.
pub async fn list(pool: &PgPool, account_id: Uuid, current: Uuid) -> Result<Vec<SessionView>, AuthError> {
    let rows = sqlx::query!(
        r#"
        select session_id, user_agent, ip, created_at, last_used_at, idle_expires_at
        from auth_session
        where account_id = $1 and revoked_at is null
          and idle_expires_at > now() and absolute_expires_at > now()
        order by created_at desc
        "#,
        account_id,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| SessionView {
            current: row.session_id == current,
            session_id: row.session_id,
            user_agent: row.user_agent,
            ip: row.ip,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.idle_expires_at,
        })
        .collect())
}

/// Ends every active session of the account (and so all its refresh tokens); returns how many.
pub async fn revoke_all(
    conn: &mut sqlx::PgConnection,
    account_id: Uuid,
    reason: RevokedReason,
) -> Result<u64, AuthError> {
    let result = sqlx::query!(
        r#"
        update auth_session set revoked_at = now(), revoked_reason = $2
        where account_id = $1 and revoked_at is null
        "#,
        account_id,
        reason.as_str(),
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}
