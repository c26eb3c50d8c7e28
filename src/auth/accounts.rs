//! The `account` table: creation, look-up for sign-in, the lockout counter and roles.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AuthError, Email};

/// What an account may do. Every account is at least a learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Learner,
    Instructor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Learner => "learner",
            Self::Instructor => "instructor",
            Self::Admin => "admin",
        }
    }

    /// Roles as stored; the table's CHECK keeps out anything unknown, so skipping is only a
    /// guard against a future role this binary does not know yet.
    pub fn from_stored(stored: &[String]) -> Vec<Self> {
        let mut roles: Vec<Self> = stored
            .iter()
            .filter_map(|role| match role.as_str() {
                "learner" => Some(Self::Learner),
                "instructor" => Some(Self::Instructor),
                "admin" => Some(Self::Admin),
                _ => None,
            })
            .collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    }

    pub fn to_stored(roles: &[Self]) -> Vec<String> {
        let mut roles = roles.to_vec();
        roles.sort_unstable();
        roles.dedup();
        roles.into_iter().map(|role| role.as_str().to_owned()).collect()
    }
}

/// An account as its owner and administrators see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Account {
    pub account_id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub email_verified: bool,
    pub roles: Vec<Role>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What sign-in needs to know about an account.
pub struct Credentials {
    pub account_id: Uuid,
    pub password_hash: Option<String>,
    pub roles: Vec<Role>,
    pub locked: bool,
}

/// Lockout: after this many consecutive failures the account is locked…
pub const LOCKOUT_THRESHOLD: i32 = 5;
/// …first for this long, doubling with every further failure…
pub const LOCKOUT_BASE: Duration = Duration::from_secs(60);
/// …up to this long.
pub const LOCKOUT_MAX: Duration = Duration::from_secs(15 * 60);
/// A day after the last failure, the count starts again from zero.
pub const LOCKOUT_FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Creates an account with the default role; `email_taken` when the email is in use.
pub async fn create<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    email: &Email,
    password_hash: &str,
) -> Result<Account, AuthError> {
    insert(executor, email, Some(password_hash), false).await
}

pub async fn find(pool: &PgPool, account_id: Uuid) -> Result<Option<Account>, AuthError> {
    let row = sqlx::query!(
        r#"select account_id, email, email_verified, roles, created_at from account where account_id = $1"#,
        account_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| Account {
        account_id: row.account_id,
        email: row.email,
        email_verified: row.email_verified,
        roles: Role::from_stored(&row.roles),
        created_at: row.created_at,
    }))
}

pub async fn credentials(pool: &PgPool, email: &Email) -> Result<Option<Credentials>, AuthError> {
    let row = sqlx::query!(
        r#"
        select account_id, password_hash, roles,
               coalesce(locked_until > now(), false) as "locked!"
        from account where email = $1
        "#,
        email.as_str(),
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| Credentials {
        account_id: row.account_id,
        password_hash: row.password_hash,
        roles: Role::from_stored(&row.roles),
        locked: row.locked,
    }))
}

/// Counts a wrong password and, from the threshold on, locks the account for
/// `LOCKOUT_BASE · 2^(failures − threshold)`, capped at `LOCKOUT_MAX`. Failures older than
/// `LOCKOUT_FORGET_AFTER` are forgotten first. One statement (the count is written out twice
/// because `SET` sees the old row), so concurrent failures all count.
pub async fn record_failed_login(pool: &PgPool, account_id: Uuid) -> Result<(), AuthError> {
    sqlx::query!(
        r#"
        update account
        set failed_logins = case
                when last_failed_login_at > now() - make_interval(secs => $5::float8) then failed_logins + 1
                else 1
            end,
            last_failed_login_at = now(),
            locked_until = case
                when (case
                        when last_failed_login_at > now() - make_interval(secs => $5::float8) then failed_logins + 1
                        else 1
                    end) >= $2::int4
                then now() + make_interval(secs => least(
                    $3::float8 * power(2, (case
                        when last_failed_login_at > now() - make_interval(secs => $5::float8) then failed_logins + 1
                        else 1
                    end) - $2::int4),
                    $4::float8))
                else locked_until
            end
        where account_id = $1
        "#,
        account_id,
        LOCKOUT_THRESHOLD,
        LOCKOUT_BASE.as_secs_f64(),
        LOCKOUT_MAX.as_secs_f64(),
        LOCKOUT_FORGET_AFTER.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn record_successful_login(pool: &PgPool, account_id: Uuid) -> Result<(), AuthError> {
    sqlx::query!(
        r#"
        update account set failed_logins = 0, last_failed_login_at = null, locked_until = null
        where account_id = $1 and (failed_logins <> 0 or locked_until is not null)
        "#,
        account_id,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Replaces an account's roles; `None` when there is no such account.
pub async fn set_roles(pool: &PgPool, account_id: Uuid, roles: &[Role]) -> Result<Option<Account>, AuthError> {
    let row = sqlx::query!(
        r#"
        update account set roles = $2 where account_id = $1
        returning account_id, email, email_verified, roles, created_at
        "#,
        account_id,
        &Role::to_stored(roles),
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| Account {
        account_id: row.account_id,
        email: row.email,
        email_verified: row.email_verified,
        roles: Role::from_stored(&row.roles),
        created_at: row.created_at,
    }))
}

/// Creates an administrator, or adds `admin` to the roles of the account that has this email
/// (its password is then left alone). Returns the account id and whether it was created.
pub async fn create_or_grant_admin(
    pool: &PgPool,
    email: &Email,
    password_hash: &str,
) -> Result<(Uuid, bool), AuthError> {
    let row = sqlx::query!(
        r#"
        insert into account (email, password_hash, roles)
        values ($1, $2, '{learner,admin}')
        on conflict (email) do update
            set roles = array(select distinct unnest(account.roles || '{admin}'::text[]) order by 1)
        returning account_id, (xmax = 0) as "created!"
        "#,
        email.as_str(),
        password_hash,
    )
    .fetch_one(pool)
    .await?;
    Ok((row.account_id, row.created))
}

/// Creates an account for a person who signed in through an external provider: role `learner`,
/// no password, the email as verified as the provider says. `email_taken` when the email is in
/// use (the caller decides whether linking is allowed instead).
pub async fn create_without_password<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    email: &Email,
    email_verified: bool,
) -> Result<Account, AuthError> {
    insert(executor, email, None, email_verified).await
}

/// The one `insert into account`: the default role, `email_taken` when the email is in use.
async fn insert<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    email: &Email,
    password_hash: Option<&str>,
    email_verified: bool,
) -> Result<Account, AuthError> {
    let row = sqlx::query!(
        r#"
        insert into account (email, password_hash, email_verified)
        values ($1, $2, $3)
        returning account_id, email, email_verified, roles, created_at
        "#,
        email.as_str(),
        password_hash,
        email_verified,
    )
    .fetch_one(executor)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.constraint() == Some("account_email_key") => AuthError::EmailTaken,
        _ => AuthError::Database(error),
    })?;
    Ok(Account {
        account_id: row.account_id,
        email: row.email,
        email_verified: row.email_verified,
        roles: Role::from_stored(&row.roles),
        created_at: row.created_at,
    })
}

/// The id of the account with this email, if any.
pub async fn find_id_by_email<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    email: &Email,
) -> Result<Option<Uuid>, AuthError> {
    Ok(sqlx::query_scalar!(r#"select account_id from account where email = $1"#, email.as_str())
        .fetch_optional(executor)
        .await?)
}

/// Records that a provider verified the account's email (it was the proof used to link).
pub async fn mark_email_verified<'e>(executor: impl sqlx::PgExecutor<'e>, account_id: Uuid) -> Result<(), AuthError> {
    sqlx::query!(
        r#"update account set email_verified = true where account_id = $1 and not email_verified"#,
        account_id
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Whether the account can sign in with a password; locks the account row until the end of the
/// transaction, so that two concurrent unlinks cannot both remove "the other" way in.
/// `None` when there is no such account.
pub async fn lock_and_has_password(conn: &mut sqlx::PgConnection, account_id: Uuid) -> Result<Option<bool>, AuthError> {
    Ok(sqlx::query_scalar!(
        r#"select (password_hash is not null) as "has_password!" from account where account_id = $1 for update"#,
        account_id,
    )
    .fetch_optional(conn)
    .await?)
}

// --- accounts (issue 21): mail, verification and reset ---

/// What the mail flows need to know about an account.
pub struct MailProfile {
    pub account_id: Uuid,
    pub email: String,
    pub email_verified: bool,
    pub locale: crate::mail::Locale,
    pub password_hash: Option<String>,
}

pub async fn mail_profile<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    account_id: Uuid,
) -> Result<Option<MailProfile>, AuthError> {
    let row = sqlx::query!(
        r#"select account_id, email, email_verified, locale, password_hash from account where account_id = $1"#,
        account_id,
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|row| MailProfile {
        account_id: row.account_id,
        email: row.email,
        email_verified: row.email_verified,
        locale: crate::mail::Locale::from_stored(&row.locale),
        password_hash: row.password_hash,
    }))
}

pub async fn mail_profile_by_email<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    email: &Email,
) -> Result<Option<MailProfile>, AuthError> {
    let row = sqlx::query!(
        r#"select account_id, email, email_verified, locale, password_hash from account where email = $1"#,
        email.as_str(),
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|row| MailProfile {
        account_id: row.account_id,
        email: row.email,
        email_verified: row.email_verified,
        locale: crate::mail::Locale::from_stored(&row.locale),
        password_hash: row.password_hash,
    }))
}

pub async fn set_locale(
    conn: &mut sqlx::PgConnection,
    account_id: Uuid,
    locale: crate::mail::Locale,
) -> Result<(), AuthError> {
    sqlx::query!(r#"update account set locale = $2 where account_id = $1"#, account_id, locale.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks `email` as the account's verified address (an email change takes effect here).
/// `email_taken` when another account took the address since the link was sent.
pub async fn set_verified_email(
    conn: &mut sqlx::PgConnection,
    account_id: Uuid,
    email: &str,
) -> Result<Option<Account>, AuthError> {
    let row = sqlx::query!(
        r#"
        update account set email = $2, email_verified = true where account_id = $1
        returning account_id, email, email_verified, roles, created_at
        "#,
        account_id,
        email,
    )
    .fetch_optional(conn)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.constraint() == Some("account_email_key") => AuthError::EmailTaken,
        _ => AuthError::Database(error),
    })?;
    Ok(row.map(|row| Account {
        account_id: row.account_id,
        email: row.email,
        email_verified: row.email_verified,
        roles: Role::from_stored(&row.roles),
        created_at: row.created_at,
    }))
}

/// Sets a new password after a reset: the lockout is forgotten, and the address counts as
/// verified (following the mailed link proved it).
pub async fn reset_password(
    conn: &mut sqlx::PgConnection,
    account_id: Uuid,
    password_hash: &str,
) -> Result<(), AuthError> {
    sqlx::query!(
        r#"
        update account
        set password_hash = $2, email_verified = true,
            failed_logins = 0, last_failed_login_at = null, locked_until = null
        where account_id = $1
        "#,
        account_id,
        password_hash,
    )
    .execute(conn)
    .await?;
    Ok(())
}
// --- end accounts ---
