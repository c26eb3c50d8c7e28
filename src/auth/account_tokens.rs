//! The `account_token` table: single-use, expiring links sent by mail (email verification and
//! password reset). Only a token's SHA-256 is stored; the token itself exists in the mail alone.

use std::time::Duration;

use uuid::Uuid;

use super::tokens::{hash_refresh_token, new_refresh_token};
use super::{AuthError, Email};

/// How long a verification link works.
pub const VERIFY_EMAIL_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a password-reset link works: short, because it is as good as the password.
pub const RESET_PASSWORD_TTL: Duration = Duration::from_secs(3600);
/// How long the challenge between a first factor and the TOTP code works.
pub const TWO_FACTOR_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    /// Not mailed: the challenge a sign-in answers when the account has two-factor sign-in.
    TwoFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::TwoFactor => "two_factor",
        }
    }

    fn ttl(self) -> Duration {
        match self {
            Self::VerifyEmail => VERIFY_EMAIL_TTL,
            Self::ResetPassword => RESET_PASSWORD_TTL,
            Self::TwoFactor => TWO_FACTOR_TTL,
        }
    }
}

/// A token that is still good: whose account it is and, for a verification, which address.
pub struct Live {
    pub account_id: Uuid,
    pub email: Option<String>,
}

/// Makes a new token for the account and returns it (to be put in a link). The account's
/// earlier unspent tokens of the same purpose stop working: only the newest mail's link counts.
pub async fn issue_in(
    conn: &mut sqlx::PgConnection,
    account_id: Uuid,
    purpose: Purpose,
    email: Option<&Email>,
) -> Result<String, AuthError> {
    let (token, token_hash) = new_refresh_token()?;
    sqlx::query!(
        r#"delete from account_token where account_id = $1 and purpose = $2 and used_at is null"#,
        account_id,
        purpose.as_str(),
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"
        insert into account_token (account_id, purpose, token_hash, email, expires_at)
        values ($1, $2, $3, $4, now() + make_interval(secs => $5::float8))
        "#,
        account_id,
        purpose.as_str(),
        token_hash,
        email.map(Email::as_str),
        purpose.ttl().as_secs_f64(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// The token's account if it is unspent and unexpired, without spending it (a reset checks the
/// new password before it spends the link, so a refused password does not cost the link).
pub async fn peek<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    purpose: Purpose,
    token: &str,
) -> Result<Option<Live>, AuthError> {
    let row = sqlx::query!(
        r#"
        select account_id, email from account_token
        where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()
        "#,
        hash_refresh_token(token),
        purpose.as_str(),
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|row| Live { account_id: row.account_id, email: row.email }))
}

/// Spends the token: exactly one caller gets `Some`, however many present it at once.
pub async fn spend_in(conn: &mut sqlx::PgConnection, purpose: Purpose, token: &str) -> Result<Option<Live>, AuthError> {
    let row = sqlx::query!(
        r#"
        update account_token set used_at = now()
        where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()
        returning account_id, email
        "#,
        hash_refresh_token(token),
        purpose.as_str(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|row| Live { account_id: row.account_id, email: row.email }))
}
