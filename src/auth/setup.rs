//! First run: a fresh install has no administrator, so `lectern serve` prints a one-time setup
//! token and `POST /v1/setup` trades it (with an email and a password) for the first
//! administrator and a signed-in session. The web console's first page drives this.
//!
//! The token lives in `setup_token` as a SHA-256 only; each start while there is still no
//! administrator replaces it (the newest log line is the one that works), and using it deletes
//! it. The check, the account and the deletion happen in one transaction that locks the row, so
//! two racing requests cannot both create an administrator.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::{Account, Role};
use super::routes::{Registered, TokenPair, limit};
use super::{AuthError, ClientInfo, Email};
use crate::app::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(setup_status, complete_setup))
}

/// Whether the install still needs its first administrator.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SetupStatus {
    /// True until an account holds the `admin` role.
    pub needed: bool,
}

/// The token from `lectern serve`'s log, and the administrator's email and password. Not
/// `Debug`: the password and the token must not reach a log.
#[derive(Deserialize, ToSchema)]
pub struct SetupRequest {
    #[schema(example = "3f1c…")]
    pub token: String,
    #[schema(example = "admin@example.com")]
    pub email: String,
    pub password: String,
}

async fn admin_exists<'e>(executor: impl sqlx::PgExecutor<'e>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"select exists(select 1 from account where 'admin' = any(roles)) as "exists!""#)
        .fetch_one(executor)
        .await
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// Called at start-up: when no administrator exists, stores a fresh token and returns it (for the
/// log); otherwise removes any token left over and returns `None`.
pub async fn prepare(pool: &PgPool) -> Result<Option<String>, AuthError> {
    if admin_exists(pool).await? {
        sqlx::query!("delete from setup_token").execute(pool).await?;
        return Ok(None);
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Hashing(format!("no system randomness ({e})")))?;
    let token = hex::encode(bytes);
    sqlx::query!(
        r#"
        insert into setup_token (token_sha256) values ($1)
        on conflict (singleton) do update set token_sha256 = excluded.token_sha256, created_at = now()
        "#,
        digest(&token),
    )
    .execute(pool)
    .await?;
    Ok(Some(token))
}

/// Whether this install still needs its first administrator (public: the console's first page
/// asks before anyone is signed in).
#[utoipa::path(get, path = "/v1/setup", tag = "identity",
    responses((status = OK, description = "Whether the first administrator is still to be created", body = SetupStatus)))]
async fn setup_status(State(state): State<AppState>) -> Result<axum::Json<SetupStatus>, ApiError> {
    let needed = !admin_exists(&state.pool).await.map_err(AuthError::from)?;
    Ok(axum::Json(SetupStatus { needed }))
}

/// Create the first administrator with the one-time setup token that `lectern serve` printed,
/// and sign it in. Works once: afterwards the answer is `setup_done`.
#[utoipa::path(post, path = "/v1/setup", tag = "identity", request_body = SetupRequest,
    responses(
        (status = CREATED, description = "The administrator (roles learner and admin) and its first tokens", body = Registered),
        (status = FORBIDDEN, description = "`invalid_setup_token`", body = ErrorBody),
        (status = CONFLICT, description = "`setup_done` (an administrator exists) or `email_taken`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_email` or `weak_password`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn complete_setup(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(request): Json<SetupRequest>,
) -> Result<(StatusCode, axum::Json<Registered>), ApiError> {
    // Guessing a 128-bit token is hopeless, but the limit keeps the endpoint from being a free
    // argon2 oracle.
    limit(&state, "setup:ip", &client.ip.to_string(), state.auth.settings.rate_limits.login).await?;
    let email = Email::parse(&request.email)?;
    state.auth.passwords.check_policy(&request.password, &email)?;
    let hash = state.auth.passwords.hash(request.password).await?;

    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    let stored = sqlx::query_scalar!("select token_sha256 from setup_token for update")
        .fetch_optional(&mut *tx)
        .await
        .map_err(AuthError::from)?;
    if admin_exists(&mut *tx).await.map_err(AuthError::from)? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "setup_done",
            "this install already has an administrator; sign in",
        ));
    }
    let presented = digest(&request.token);
    // Both are SHA-256 digests of secrets, so comparing them leaks nothing useful about the token.
    if stored.as_deref() != Some(presented.as_slice()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_setup_token",
            "the setup token is wrong or was replaced; use the one in the newest `lectern serve` log line",
        ));
    }
    let row = sqlx::query!(
        r#"
        insert into account (email, password_hash, roles) values ($1, $2, '{learner,admin}')
        returning account_id, email, email_verified, roles, created_at
        "#,
        email.as_str(),
        hash,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.constraint() == Some("account_email_key") => AuthError::EmailTaken,
        _ => AuthError::Database(error),
    })?;
    sqlx::query!("delete from setup_token").execute(&mut *tx).await.map_err(AuthError::from)?;
    tx.commit().await.map_err(AuthError::from)?;

    let account = Account {
        account_id: row.account_id,
        email: row.email,
        email_verified: row.email_verified,
        roles: Role::from_stored(&row.roles),
        created_at: row.created_at,
    };
    tracing::info!(account_id = %account.account_id, event = "first_admin_created", "first administrator created");
    let tokens: TokenPair =
        super::routes::issue_session(&state, account.account_id, account.roles.clone(), &client).await?;
    Ok((StatusCode::CREATED, axum::Json(Registered { account, tokens })))
}
