//! External identities (`account_identity`, all its SQL) and the rules that map a provider's
//! answer to an account.
//!
//! Signing in: a known identity signs in its account. An unknown one joins an existing account
//! only through an email the provider verified; an unverified email that belongs to an account is
//! refused (`email_unverified`: neither a duplicate nor a link), because anyone can type someone
//! else's address into a provider that does not check it. Otherwise a new `learner` account
//! without a password is created. Linking from a signed-in session attaches the identity to that
//! account whatever the email says (`identity_in_use` when it signs in someone else).

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ExternalIdentity, OAuthError, ProviderId};
use crate::auth::{AuthError, Email, accounts};

/// A linked identity, as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityView {
    pub identity_id: Uuid,
    pub provider: ProviderId,
    /// The email the provider showed at the last sign-in, if any.
    pub email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
}

/// The account an external sign-in ends in.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    pub account_id: Uuid,
    /// True when the sign-in created the account.
    pub created: bool,
}

/// The identity's account, touching its `last_used_at` and the email seen.
async fn touch(pool: &PgPool, provider: ProviderId, external: &ExternalIdentity) -> Result<Option<Uuid>, OAuthError> {
    Ok(sqlx::query_scalar!(
        r#"
        update account_identity set last_used_at = now(), email = coalesce($3, email)
        where provider = $1 and subject = $2
        returning account_id
        "#,
        provider.as_str(),
        external.subject,
        external.email.as_deref(),
    )
    .fetch_optional(pool)
    .await?)
}

/// Attaches the identity to `account_id`, or answers which account already has it.
async fn insert<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    provider: ProviderId,
    external: &ExternalIdentity,
    account_id: Uuid,
) -> Result<Option<Uuid>, OAuthError> {
    Ok(sqlx::query_scalar!(
        r#"
        insert into account_identity (account_id, provider, subject, email)
        values ($1, $2, $3, $4)
        on conflict (provider, subject) do nothing
        returning identity_id
        "#,
        account_id,
        provider.as_str(),
        external.subject,
        external.email.as_deref(),
    )
    .fetch_optional(executor)
    .await?)
}

/// Finds or creates the account an external sign-in signs in, by the rules in the module docs.
pub async fn sign_in(pool: &PgPool, provider: ProviderId, external: &ExternalIdentity) -> Result<Resolved, OAuthError> {
    if let Some(account_id) = touch(pool, provider, external).await? {
        return Ok(Resolved { account_id, created: false });
    }
    let email = external.email.as_deref().and_then(|e| Email::parse(e).ok()).ok_or(OAuthError::EmailRequired)?;
    if let Some(account_id) = accounts::find_id_by_email(pool, &email).await? {
        if !external.email_verified {
            return Err(OAuthError::EmailUnverified);
        }
        let mut tx = pool.begin().await?;
        if insert(&mut *tx, provider, external, account_id).await?.is_none() {
            // A concurrent sign-in of the same identity linked it first; use what it decided.
            tx.rollback().await?;
            let account_id = touch(pool, provider, external).await?.ok_or(OAuthError::IdentityInUse)?;
            return Ok(Resolved { account_id, created: false });
        }
        accounts::mark_email_verified(&mut *tx, account_id).await?;
        tx.commit().await?;
        tracing::info!(%account_id, provider = provider.as_str(), event = "identity_linked_by_email", "identity linked through a verified email");
        return Ok(Resolved { account_id, created: false });
    }
    let mut tx = pool.begin().await?;
    let account = match accounts::create_without_password(&mut *tx, &email, external.email_verified).await {
        Ok(account) => account,
        // Someone registered this email a moment ago; the rules above apply to them.
        Err(AuthError::EmailTaken) => return Err(OAuthError::EmailUnverified),
        Err(other) => return Err(other.into()),
    };
    if insert(&mut *tx, provider, external, account.account_id).await?.is_none() {
        tx.rollback().await?;
        let account_id = touch(pool, provider, external).await?.ok_or(OAuthError::IdentityInUse)?;
        return Ok(Resolved { account_id, created: false });
    }
    tx.commit().await?;
    tracing::info!(account_id = %account.account_id, provider = provider.as_str(), event = "account_registered", "account created by an external sign-in");
    Ok(Resolved { account_id: account.account_id, created: true })
}

/// Links the identity to a signed-in account (`identity_in_use` if it signs in another one).
pub async fn link(
    pool: &PgPool,
    provider: ProviderId,
    external: &ExternalIdentity,
    account_id: Uuid,
) -> Result<IdentityView, OAuthError> {
    if insert(pool, provider, external, account_id).await?.is_none() {
        let owner = touch(pool, provider, external).await?;
        if owner != Some(account_id) {
            return Err(OAuthError::IdentityInUse);
        }
    } else {
        tracing::info!(%account_id, provider = provider.as_str(), event = "identity_linked", "identity linked from a signed-in session");
    }
    let row = sqlx::query!(
        r#"
        select identity_id, email, created_at, last_used_at from account_identity
        where provider = $1 and subject = $2
        "#,
        provider.as_str(),
        external.subject,
    )
    .fetch_one(pool)
    .await?;
    Ok(IdentityView {
        identity_id: row.identity_id,
        provider,
        email: row.email,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    })
}

/// The account's identities, oldest first.
pub async fn list(pool: &PgPool, account_id: Uuid) -> Result<Vec<IdentityView>, OAuthError> {
    let rows = sqlx::query!(
        r#"
        select identity_id, provider, email, created_at, last_used_at from account_identity
        where account_id = $1 order by created_at, identity_id
        "#,
        account_id,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(IdentityView {
                identity_id: row.identity_id,
                provider: ProviderId::parse(&row.provider)?,
                email: row.email,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
            })
        })
        .collect())
}

/// Removes one of the account's identities, unless it is the last way in (no password and no
/// other identity): `last_sign_in_method`. The account row is locked for the check and the delete.
pub async fn unlink(pool: &PgPool, account_id: Uuid, identity_id: Uuid) -> Result<(), OAuthError> {
    let mut tx = pool.begin().await?;
    let has_password =
        accounts::lock_and_has_password(&mut tx, account_id).await?.ok_or(AuthError::NotFound("no such identity"))?;
    let counts = sqlx::query!(
        r#"
        select count(*) as "total!", count(*) filter (where identity_id = $2) as "this!"
        from account_identity where account_id = $1
        "#,
        account_id,
        identity_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if counts.this == 0 {
        return Err(AuthError::NotFound("no such identity").into());
    }
    if !has_password && counts.total <= 1 {
        return Err(OAuthError::LastSignInMethod);
    }
    sqlx::query!(r#"delete from account_identity where identity_id = $1 and account_id = $2"#, identity_id, account_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(%account_id, %identity_id, event = "identity_unlinked", "identity unlinked");
    Ok(())
}
