//! The server-side state of a sign-in flow (`oauth_flow`) and the single-use login codes handed
//! to apps (`oauth_login_code`): all SQL of both tables.
//!
//! Both are consumed by one `delete … returning`, so a state or a login code works exactly once
//! even when two requests race with it; expired rows are refused by the same statement and swept
//! when new flows start.

use sqlx::PgPool;
use uuid::Uuid;

use super::{FLOW_TTL, LOGIN_CODE_TTL, OAuthError, ProviderId, pkce_challenge};
use crate::auth::tokens::{hash_refresh_token, new_refresh_token};

/// A flow just started: the secrets that go into the authorization URL.
pub struct Started {
    pub state: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
}

/// A flow taken back at the callback.
pub struct Flow {
    pub provider: ProviderId,
    pub pkce_verifier: String,
    pub nonce: Option<String>,
    pub return_to: Option<String>,
    pub link_account_id: Option<Uuid>,
}

/// Records a new flow and returns its state, PKCE challenge and nonce. Expired flows are swept
/// first, so the table stays the size of the sign-ins in progress.
pub async fn start(
    pool: &PgPool,
    provider: ProviderId,
    with_nonce: bool,
    return_to: Option<&str>,
    link_account_id: Option<Uuid>,
) -> Result<Started, OAuthError> {
    // 256 random bits each, base64url: the verifier's 43 characters are RFC 7636's minimum.
    let (state, state_hash) = new_refresh_token()?;
    let (pkce_verifier, _) = new_refresh_token()?;
    let nonce = if with_nonce { Some(new_refresh_token()?.0) } else { None };
    sqlx::query!(r#"delete from oauth_flow where expires_at < now()"#).execute(pool).await?;
    sqlx::query!(
        r#"
        insert into oauth_flow (state_hash, provider, pkce_verifier, nonce, return_to, link_account_id, expires_at)
        values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7::float8))
        "#,
        state_hash,
        provider.as_str(),
        pkce_verifier,
        nonce.as_deref(),
        return_to,
        link_account_id,
        FLOW_TTL.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(Started { code_challenge: pkce_challenge(&pkce_verifier), state, nonce })
}

/// Consumes the flow of `state`. Unknown, expired and already consumed states are all
/// `invalid_oauth_state`; the row is gone either way.
pub async fn take(pool: &PgPool, state: &str) -> Result<Flow, OAuthError> {
    let row = sqlx::query!(
        r#"
        delete from oauth_flow where state_hash = $1
        returning provider, pkce_verifier, nonce, return_to, link_account_id, (expires_at > now()) as "live!"
        "#,
        hash_refresh_token(state),
    )
    .fetch_optional(pool)
    .await?;
    let row = row.filter(|row| row.live).ok_or(OAuthError::InvalidState)?;
    let provider = ProviderId::parse(&row.provider).ok_or(OAuthError::InvalidState)?;
    Ok(Flow {
        provider,
        pkce_verifier: row.pkce_verifier,
        nonce: row.nonce,
        return_to: row.return_to,
        link_account_id: row.link_account_id,
    })
}

/// Issues a login code for an account that has just signed in through `provider`.
pub async fn issue_login_code(pool: &PgPool, account_id: Uuid, provider: ProviderId) -> Result<String, OAuthError> {
    issue_login_code_for(pool, account_id, provider.as_str()).await
}

/// Issues a login code for an account signed in by something other than an OAuth provider (an
/// LTI launch: `source` is `lti`). The code is spent at the same `POST /v1/auth/oauth/token`.
pub async fn issue_login_code_for(pool: &PgPool, account_id: Uuid, source: &str) -> Result<String, OAuthError> {
    let (code, code_hash) = new_refresh_token()?;
    sqlx::query!(r#"delete from oauth_login_code where expires_at < now()"#).execute(pool).await?;
    sqlx::query!(
        r#"
        insert into oauth_login_code (code_hash, account_id, provider, expires_at)
        values ($1, $2, $3, now() + make_interval(secs => $4::float8))
        "#,
        code_hash,
        account_id,
        source,
        LOGIN_CODE_TTL.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(code)
}

/// Spends a login code; the account it signs in, or `invalid_login_code`.
pub async fn spend_login_code(pool: &PgPool, code: &str) -> Result<Uuid, OAuthError> {
    let row = sqlx::query!(
        r#"
        delete from oauth_login_code where code_hash = $1
        returning account_id, (expires_at > now()) as "live!"
        "#,
        hash_refresh_token(code),
    )
    .fetch_optional(pool)
    .await?;
    row.filter(|row| row.live).map(|row| row.account_id).ok_or(OAuthError::InvalidLoginCode)
}
