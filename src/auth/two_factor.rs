//! Two-factor sign-in with TOTP (RFC 6238, see [`totp`](super::totp)) and single-use recovery
//! codes. Enrolment is two steps (a secret shown as an `otpauth://` URI and its QR code, then a
//! first code that proves the app holds it); from then on every password or external sign-in of
//! the account ends in a challenge ([`sign_in`]) instead of tokens, answered with a code at
//! `POST /v1/auth/login/two-factor`. Each accepted code's time step is remembered, so a code
//! (or an earlier one) cannot be replayed; recovery codes are stored as SHA-256 and work once.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::account_tokens::{self, Purpose};
use super::routes::{TokenPair, issue_session, limit};
use super::{AuthError, Authenticated, ClientInfo, Role, accounts, totp};
use crate::app::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status, enrol, disable))
        .routes(routes!(confirm))
        .routes(routes!(complete_sign_in))
}

/// How many recovery codes an enrolment hands out.
pub const RECOVERY_CODES: usize = 10;

/// The end of a successful first factor: tokens, or a challenge for the second factor.
pub enum SignIn {
    Tokens(TokenPair),
    TwoFactor(TwoFactorChallenge),
}

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        match self {
            Self::Tokens(tokens) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(tokens)).into_response(),
            Self::TwoFactor(challenge) => {
                (StatusCode::ACCEPTED, [(header::CACHE_CONTROL, "no-store")], axum::Json(challenge)).into_response()
            }
        }
    }
}

/// Answered (202) instead of tokens when the account has two-factor sign-in.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TwoFactorChallenge {
    /// Always true; tells this answer from a token pair.
    pub two_factor_required: bool,
    /// Send it with a code to `POST /v1/auth/login/two-factor`; works once, for five minutes.
    pub challenge_token: String,
    pub expires_in: u64,
}

/// Finishes a first factor (password, external provider's login code): tokens for an account
/// without two-factor sign-in, a challenge for one with it.
pub(crate) async fn sign_in(
    state: &AppState,
    account_id: Uuid,
    roles: Vec<Role>,
    client: &ClientInfo,
) -> Result<SignIn, AuthError> {
    if !is_enabled(&state.pool, account_id).await? {
        return Ok(SignIn::Tokens(issue_session(state, account_id, roles, client).await?));
    }
    let mut conn = state.pool.acquire().await?;
    let challenge_token = account_tokens::issue_in(&mut conn, account_id, Purpose::TwoFactor, None).await?;
    Ok(SignIn::TwoFactor(TwoFactorChallenge {
        two_factor_required: true,
        challenge_token,
        expires_in: account_tokens::TWO_FACTOR_TTL.as_secs(),
    }))
}

/// Whether the account has confirmed two-factor sign-in.
pub async fn is_enabled<'e>(executor: impl sqlx::PgExecutor<'e>, account_id: Uuid) -> Result<bool, AuthError> {
    Ok(sqlx::query_scalar!(
        r#"select exists(select 1 from account_totp where account_id = $1 and confirmed_at is not null) as "enabled!""#,
        account_id,
    )
    .fetch_one(executor)
    .await?)
}

fn now_step() -> u64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    totp::step_at(u64::try_from(now).unwrap_or_default())
}

/// Accepts a current code of the account's confirmed (or, with `pending`, unconfirmed) secret
/// once: the step it matched must be later than the last accepted one, and becomes the last.
async fn accept_code(
    conn: &mut sqlx::PgConnection,
    account_id: Uuid,
    code: &str,
    pending: bool,
) -> Result<bool, AuthError> {
    let row = sqlx::query!(
        r#"select secret, last_step from account_totp where account_id = $1 and (confirmed_at is null) = $2 for update"#,
        account_id,
        pending,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(false) };
    let Some(step) = totp::matching_step(&row.secret, code, now_step()) else { return Ok(false) };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    if row.last_step.is_some_and(|last| step <= last) {
        tracing::warn!(%account_id, event = "totp_replay", "a used two-factor code was presented again");
        return Ok(false);
    }
    sqlx::query!(r#"update account_totp set last_step = $2 where account_id = $1"#, account_id, step)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Spends one of the account's recovery codes.
async fn accept_recovery_code(conn: &mut sqlx::PgConnection, account_id: Uuid, code: &str) -> Result<bool, AuthError> {
    let spent = sqlx::query!(
        r#"
        update totp_recovery_code set used_at = now()
        where account_id = $1 and code_hash = $2 and used_at is null
        "#,
        account_id,
        hash_recovery_code(code),
    )
    .execute(&mut *conn)
    .await?;
    Ok(spent.rows_affected() == 1)
}

/// Codes are compared without case, spaces or dashes, as people type them.
fn hash_recovery_code(code: &str) -> Vec<u8> {
    let normal: String = code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
    super::tokens::hash_refresh_token(&normal)
}

/// Ten characters of base32 (50 bits: far beyond guessing within the rate limits), as
/// `XXXXX-XXXXX`.
fn new_recovery_code() -> Result<String, AuthError> {
    let mut bytes = [0u8; 7];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Hashing(format!("no system randomness ({e})")))?;
    let code = totp::base32(&bytes);
    Ok(format!("{}-{}", &code[..5], &code[5..10]))
}

/// A second factor: a code from the app or one of the recovery codes.
#[derive(Deserialize, ToSchema)]
pub struct SecondFactor {
    #[schema(example = "123456")]
    pub code: Option<String>,
    #[schema(example = "ABCDE-FGHIJ")]
    pub recovery_code: Option<String>,
}

/// Checks a second factor for the account: a TOTP code (not replayed) or an unused recovery code.
async fn check_second_factor(
    conn: &mut sqlx::PgConnection,
    account_id: Uuid,
    factor: &SecondFactor,
) -> Result<(), AuthError> {
    let accepted = match (&factor.code, &factor.recovery_code) {
        (Some(code), _) => accept_code(conn, account_id, code, false).await?,
        (None, Some(recovery)) => {
            let accepted = accept_recovery_code(conn, account_id, recovery).await?;
            if accepted {
                tracing::info!(%account_id, event = "recovery_code_used", "a recovery code was used");
            }
            accepted
        }
        (None, None) => false,
    };
    if accepted { Ok(()) } else { Err(AuthError::InvalidTwoFactorCode) }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TwoFactorStatus {
    pub enabled: bool,
    /// Unused recovery codes left.
    pub recovery_codes_left: i64,
}

/// Whether two-factor sign-in is on for the caller.
#[utoipa::path(get, path = "/v1/me/two-factor", tag = "identity", security(("bearer" = [])),
    responses((status = OK, description = "Two-factor status", body = TwoFactorStatus)))]
async fn status(State(state): State<AppState>, caller: Authenticated) -> Result<axum::Json<TwoFactorStatus>, ApiError> {
    let enabled = is_enabled(&state.pool, caller.account_id).await?;
    let recovery_codes_left = sqlx::query_scalar!(
        r#"select count(*) as "count!" from totp_recovery_code where account_id = $1 and used_at is null"#,
        caller.account_id,
    )
    .fetch_one(&state.pool)
    .await
    .map_err(AuthError::from)?;
    Ok(axum::Json(TwoFactorStatus { enabled, recovery_codes_left }))
}

/// A new secret, for the authenticator app: scan `qr_svg` or type `secret`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Enrolment {
    /// Base32, as apps take it when typed.
    pub secret: String,
    pub otpauth_uri: String,
    /// The `otpauth_uri` as an SVG QR code.
    pub qr_svg: String,
}

/// Start enrolment: a new secret (replacing an unconfirmed one). Two-factor sign-in is on only
/// after `POST /v1/me/two-factor/confirm` with a code from the app.
#[utoipa::path(post, path = "/v1/me/two-factor", tag = "identity", security(("bearer" = [])),
    responses(
        (status = CREATED, description = "The secret, its URI and QR code", body = Enrolment),
        (status = CONFLICT, description = "`two_factor_already_enabled`", body = ErrorBody),
    ))]
async fn enrol(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<(StatusCode, [(header::HeaderName, &'static str); 1], axum::Json<Enrolment>), ApiError> {
    let mut secret = [0u8; totp::SECRET_BYTES];
    getrandom::fill(&mut secret).map_err(|e| AuthError::Hashing(format!("no system randomness ({e})")))?;
    let account = accounts::find(&state.pool, caller.account_id).await?.ok_or(AuthError::InvalidToken)?;
    let stored = sqlx::query!(
        r#"
        insert into account_totp (account_id, secret) values ($1, $2)
        on conflict (account_id) do update set secret = excluded.secret, last_step = null, created_at = now()
            where account_totp.confirmed_at is null
        "#,
        caller.account_id,
        &secret[..],
    )
    .execute(&state.pool)
    .await
    .map_err(AuthError::from)?;
    if stored.rows_affected() == 0 {
        return Err(AuthError::TwoFactorAlreadyEnabled.into());
    }
    let uri = totp::otpauth_uri(&state.auth.settings.two_factor_issuer, &account.email, &secret);
    let qr_svg =
        totp::qr_svg(&uri).map_err(|error| AuthError::Hashing(format!("cannot draw the QR code ({error})")))?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(Enrolment { secret: totp::base32(&secret), otpauth_uri: uri, qr_svg }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    #[schema(example = "123456")]
    pub code: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    /// Shown once: each signs in once without the app. Keep them somewhere safe.
    pub recovery_codes: Vec<String>,
}

/// Finish enrolment with a code from the app: two-factor sign-in is on from now, and the
/// recovery codes are answered (this once).
#[utoipa::path(post, path = "/v1/me/two-factor/confirm", tag = "identity", security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = OK, description = "On; the recovery codes", body = RecoveryCodes),
        (status = UNAUTHORIZED, description = "`invalid_two_factor_code`", body = ErrorBody),
        (status = CONFLICT, description = "`two_factor_not_started`", body = ErrorBody),
    ))]
async fn confirm(
    State(state): State<AppState>,
    caller: Authenticated,
    Json(request): Json<CodeRequest>,
) -> Result<([(header::HeaderName, &'static str); 1], axum::Json<RecoveryCodes>), ApiError> {
    limit(&state, "two_factor:account", &caller.account_id.to_string(), state.auth.settings.rate_limits.login).await?;
    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    let pending = sqlx::query_scalar!(
        r#"select exists(select 1 from account_totp where account_id = $1 and confirmed_at is null) as "pending!""#,
        caller.account_id,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(AuthError::from)?;
    if !pending {
        return Err(AuthError::TwoFactorNotStarted.into());
    }
    if !accept_code(&mut tx, caller.account_id, &request.code, true).await? {
        return Err(AuthError::InvalidTwoFactorCode.into());
    }
    sqlx::query!(r#"update account_totp set confirmed_at = now() where account_id = $1"#, caller.account_id)
        .execute(&mut *tx)
        .await
        .map_err(AuthError::from)?;
    sqlx::query!(r#"delete from totp_recovery_code where account_id = $1"#, caller.account_id)
        .execute(&mut *tx)
        .await
        .map_err(AuthError::from)?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let code = new_recovery_code()?;
        sqlx::query!(
            r#"insert into totp_recovery_code (account_id, code_hash) values ($1, $2)"#,
            caller.account_id,
            hash_recovery_code(&code),
        )
        .execute(&mut *tx)
        .await
        .map_err(AuthError::from)?;
        codes.push(code);
    }
    tx.commit().await.map_err(AuthError::from)?;
    tracing::info!(account_id = %caller.account_id, event = "two_factor_enabled", "two-factor sign-in enabled");
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(RecoveryCodes { recovery_codes: codes })))
}

/// Turn two-factor sign-in off, proving it with a current code or a recovery code.
#[utoipa::path(delete, path = "/v1/me/two-factor", tag = "identity", security(("bearer" = [])),
    request_body = SecondFactor,
    responses(
        (status = NO_CONTENT, description = "Off; the secret and recovery codes are deleted"),
        (status = UNAUTHORIZED, description = "`invalid_two_factor_code`", body = ErrorBody),
        (status = CONFLICT, description = "`two_factor_not_enabled`", body = ErrorBody),
    ))]
async fn disable(
    State(state): State<AppState>,
    caller: Authenticated,
    Json(request): Json<SecondFactor>,
) -> Result<StatusCode, ApiError> {
    limit(&state, "two_factor:account", &caller.account_id.to_string(), state.auth.settings.rate_limits.login).await?;
    if !is_enabled(&state.pool, caller.account_id).await? {
        return Err(AuthError::TwoFactorNotEnabled.into());
    }
    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    check_second_factor(&mut tx, caller.account_id, &request).await?;
    sqlx::query!(r#"delete from account_totp where account_id = $1"#, caller.account_id)
        .execute(&mut *tx)
        .await
        .map_err(AuthError::from)?;
    sqlx::query!(r#"delete from totp_recovery_code where account_id = $1"#, caller.account_id)
        .execute(&mut *tx)
        .await
        .map_err(AuthError::from)?;
    tx.commit().await.map_err(AuthError::from)?;
    tracing::info!(account_id = %caller.account_id, event = "two_factor_disabled", "two-factor sign-in disabled");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct CompleteSignInRequest {
    pub challenge_token: String,
    #[serde(flatten)]
    pub factor: SecondFactor,
}

/// The second step of signing in: the challenge from `POST /v1/auth/login` (or
/// `/v1/auth/oauth/token`) with a code from the app or a recovery code. A wrong code leaves the
/// challenge usable (within the rate limit) until it expires.
#[utoipa::path(post, path = "/v1/auth/login/two-factor", tag = "identity", request_body = CompleteSignInRequest,
    responses(
        (status = OK, description = "Tokens for a new session", body = TokenPair),
        (status = BAD_REQUEST, description = "`invalid_link`: the challenge is unknown, expired or used", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`invalid_two_factor_code` (also for a replayed code)", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn complete_sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(request): Json<CompleteSignInRequest>,
) -> Result<Response, ApiError> {
    let limits = state.auth.settings.rate_limits.login;
    limit(&state, "two_factor:ip", &client.ip.to_string(), limits).await?;
    let live = account_tokens::peek(&state.pool, Purpose::TwoFactor, &request.challenge_token)
        .await?
        .ok_or(AuthError::InvalidLink)?;
    limit(&state, "two_factor:account", &live.account_id.to_string(), limits).await?;
    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    check_second_factor(&mut tx, live.account_id, &request.factor).await?;
    account_tokens::spend_in(&mut tx, Purpose::TwoFactor, &request.challenge_token)
        .await?
        .filter(|spent| spent.account_id == live.account_id)
        .ok_or(AuthError::InvalidLink)?;
    tx.commit().await.map_err(AuthError::from)?;
    let account = accounts::find(&state.pool, live.account_id).await?.ok_or(AuthError::InvalidLink)?;
    let tokens = issue_session(&state, account.account_id, account.roles, &client).await?;
    Ok(SignIn::Tokens(tokens).into_response())
}
