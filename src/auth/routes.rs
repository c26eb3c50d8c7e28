//! The identity endpoints under `/v1/auth`, `/v1/me`, `/v1/users` and the JWKS.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accounts::{self, Account};
use super::api_keys::Scope;
use super::sessions::{self, Issued, Lifetimes, RevokedReason, SessionView};
use super::{AuthError, Authenticated, ClientInfo, Email, Principal, Role};
use crate::app::AppState;
use crate::auth::RateLimit;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::{AccountId, AuthSessionId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_sessions))
        .routes(routes!(delete_session))
        .routes(routes!(set_roles))
        .routes(routes!(jwks))
}

/// An email and a password. Deliberately not `Debug`, so the password cannot reach a log.
#[derive(Deserialize, ToSchema)]
pub struct CredentialsRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A fresh access token and the refresh token that replaces the one presented (if any). Not
/// `Debug`, like the requests, so tokens cannot reach a log by accident.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    /// An EdDSA-signed JWT; send it as `Authorization: Bearer <token>`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque, single-use: every refresh returns a new one, and using a spent one ends the
    /// session.
    pub refresh_token: String,
    /// When the refresh token expires if it is not used (the session's idle timeout).
    #[serde(with = "time::serde::rfc3339")]
    pub refresh_expires_at: OffsetDateTime,
    pub session_id: Uuid,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Registered {
    pub account: Account,
    pub tokens: TokenPair,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RolesRequest {
    pub roles: Vec<Role>,
}

fn lifetimes(state: &AppState) -> Lifetimes {
    let settings = &state.auth.settings;
    Lifetimes { idle: settings.session_idle_timeout, absolute: settings.session_max_age }
}

pub(crate) async fn limit(state: &AppState, scope: &str, subject: &str, limit: RateLimit) -> Result<(), AuthError> {
    state.auth.limiter.check(&format!("{scope}:{subject}"), limit).await
}

fn token_pair(state: &AppState, issued: Issued) -> Result<TokenPair, AuthError> {
    let access = state.auth.tokens.issue(issued.account_id, issued.session_id, &issued.roles)?;
    Ok(TokenPair {
        access_token: access.token,
        token_type: "Bearer".to_owned(),
        expires_in: access.expires_in,
        refresh_token: issued.refresh_token,
        refresh_expires_at: issued.refresh_expires_at,
        session_id: issued.session_id,
    })
}

/// Starts a session for an account that has just proved who it is and answers its token pair.
/// Every way of signing in (password, registration, an external provider's callback, a login
/// code) ends here, so sessions and tokens are issued in exactly one way.
pub(crate) async fn issue_session(
    state: &AppState,
    account_id: Uuid,
    roles: Vec<Role>,
    client: &ClientInfo,
) -> Result<TokenPair, AuthError> {
    super::notifications::notify_new_device(state, account_id, client).await; // accounts (issue 21)
    let issued = sessions::start(&state.pool, account_id, roles, client, lifetimes(state)).await?;
    token_pair(state, issued)
}

/// Create an account (role `learner`) and sign it in. A link to confirm the address is mailed
/// (in the language of `Accept-Language`, English or Russian); `email_verified` stays false until
/// it is followed.
#[utoipa::path(post, path = "/v1/auth/register", tag = "identity", request_body = CredentialsRequest,
    responses(
        (status = CREATED, description = "The account and its first tokens", body = Registered),
        (status = CONFLICT, description = "`email_taken`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_email` or `weak_password`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
    Json(request): Json<CredentialsRequest>,
) -> Result<(StatusCode, axum::Json<Registered>), ApiError> {
    let limits = state.auth.settings.rate_limits.register;
    limit(&state, "register:ip", &client.ip.to_string(), limits).await?;
    let email = Email::parse(&request.email)?;
    limit(&state, "register:email", email.as_str(), limits).await?;
    state.auth.passwords.check_policy(&request.password, &email)?;
    let hash = state.auth.passwords.hash(request.password).await?;
    // The account, its language and the verification mail commit together (accounts, issue 21).
    let locale = super::mail_routes::request_locale(&headers);
    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    let account = accounts::create(&mut *tx, &email, &hash).await?;
    accounts::set_locale(&mut tx, account.account_id, locale).await?;
    super::mail_routes::send_verification_in(&state, &mut tx, account.account_id, &email, locale).await?;
    tx.commit().await.map_err(AuthError::from)?;
    tracing::info!(account_id = %account.account_id, event = "account_registered", "account registered");
    let tokens = issue_session(&state, account.account_id, account.roles.clone(), &client).await?;
    Ok((StatusCode::CREATED, axum::Json(Registered { account, tokens })))
}

/// Sign in with email and password. Every failure, whether the email is unknown, the password
/// wrong or the account temporarily locked, is the same `invalid_credentials`. An account with
/// two-factor sign-in gets a challenge (202) to answer at `POST /v1/auth/login/two-factor`.
#[utoipa::path(post, path = "/v1/auth/login", tag = "identity", request_body = CredentialsRequest,
    responses(
        (status = OK, description = "Tokens for a new session", body = TokenPair),
        (status = ACCEPTED, description = "Two-factor sign-in: the challenge", body = super::two_factor::TwoFactorChallenge),
        (status = UNAUTHORIZED, description = "`invalid_credentials`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(request): Json<CredentialsRequest>,
) -> Result<axum::response::Response, ApiError> {
    let limits = state.auth.settings.rate_limits.login;
    limit(&state, "login:ip", &client.ip.to_string(), limits).await?;
    let passwords = &state.auth.passwords;
    let Ok(email) = Email::parse(&request.email) else {
        passwords.verify(request.password, None).await?;
        return Err(AuthError::InvalidCredentials.into());
    };
    limit(&state, "login:email", email.as_str(), limits).await?;
    let Some(account) = accounts::credentials(&state.pool, &email).await? else {
        passwords.verify(request.password, None).await?;
        return Err(AuthError::InvalidCredentials.into());
    };
    // The hash is checked even while locked, so a locked account answers as slowly as any other.
    let correct = passwords.verify(request.password, account.password_hash).await?;
    if account.locked {
        // Not counted: failures while locked must not stretch the lock without bound.
        tracing::info!(account_id = %account.account_id, event = "login_while_locked", "sign-in refused: account locked");
        return Err(AuthError::InvalidCredentials.into());
    }
    if !correct {
        accounts::record_failed_login(&state.pool, account.account_id).await?;
        tracing::info!(account_id = %account.account_id, event = "login_failed", "wrong password");
        return Err(AuthError::InvalidCredentials.into());
    }
    accounts::record_successful_login(&state.pool, account.account_id).await?;
    let signed_in = super::two_factor::sign_in(&state, account.account_id, account.roles, &client).await?;
    Ok(signed_in.into_response())
}

/// Trade a refresh token for a new access token and a new refresh token. The presented token is
/// spent; presenting it again ends the whole session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "identity", request_body = RefreshRequest,
    responses(
        (status = OK, description = "A new token pair", body = TokenPair),
        (status = UNAUTHORIZED, description = "`invalid_token`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(request): Json<RefreshRequest>,
) -> Result<axum::Json<TokenPair>, ApiError> {
    let limits = state.auth.settings.rate_limits.refresh;
    limit(&state, "refresh:ip", &client.ip.to_string(), limits).await?;
    // Per token rather than per account: the account is only known after the token is spent.
    let token_key = hex::encode(&super::tokens::hash_refresh_token(&request.refresh_token)[..12]);
    limit(&state, "refresh:token", &token_key, limits).await?;
    let issued = sessions::rotate(&state.pool, &request.refresh_token, lifetimes(&state)).await?;
    Ok(axum::Json(token_pair(&state, issued)?))
}

/// End the session of the presented access token (and so its refresh token).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "identity", security(("bearer" = [])),
    responses(
        (status = NO_CONTENT, description = "Signed out"),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn logout(State(state): State<AppState>, caller: Authenticated) -> Result<StatusCode, ApiError> {
    sessions::revoke(&state.pool, caller.session_id, caller.account_id, RevokedReason::Logout).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account, plus which key is calling when the caller is an application.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub account: Account,
    /// Present only when the request came with an API key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub api_key: Option<CallingKey>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallingKey {
    pub api_key_id: Uuid,
    /// The key's scopes that its owner's current roles still allow.
    pub scopes: Vec<Scope>,
}

/// The signed-in account, or the owner of the calling API key.
#[utoipa::path(get, path = "/v1/me", tag = "identity", security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = OK, description = "The caller's account", body = Me),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn me(State(state): State<AppState>, caller: Principal) -> Result<axum::Json<Me>, ApiError> {
    let gone = match caller {
        Principal::User(_) => AuthError::InvalidToken,
        Principal::ApiKey(_) => AuthError::InvalidApiKey,
    };
    let account = accounts::find(&state.pool, caller.account_id()).await?.ok_or(gone)?;
    let api_key = match caller {
        Principal::User(_) => None,
        Principal::ApiKey(key) => Some(CallingKey { api_key_id: key.api_key_id, scopes: key.scopes }),
    };
    Ok(axum::Json(Me { account, api_key }))
}

/// The caller's signed-in devices; `current` marks the one making this request.
#[utoipa::path(get, path = "/v1/auth/sessions", tag = "identity", security(("bearer" = [])),
    responses(
        (status = OK, description = "Active sessions, newest first", body = SessionList),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn list_sessions(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<axum::Json<SessionList>, ApiError> {
    let sessions = sessions::list(&state.pool, caller.account_id, caller.session_id).await?;
    Ok(axum::Json(SessionList { sessions }))
}

/// Sign one of your devices out. Another account's session is answered 404, like a missing one.
#[utoipa::path(delete, path = "/v1/auth/sessions/{session_id}", tag = "identity", security(("bearer" = [])),
    params(("session_id" = Uuid, Path, description = "A session from GET /v1/auth/sessions")),
    responses(
        (status = NO_CONTENT, description = "The session is over"),
        (status = NOT_FOUND, description = "No such active session of yours", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn delete_session(
    State(state): State<AppState>,
    caller: Authenticated,
    session_id: AuthSessionId,
) -> Result<StatusCode, ApiError> {
    if sessions::revoke(&state.pool, session_id.0, caller.account_id, RevokedReason::SignedOut).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AuthError::NotFound("no such active session").into())
    }
}

/// Replace an account's roles (administrators only). The change applies to the account's next
/// request; its tokens show the new roles from their next refresh.
#[utoipa::path(put, path = "/v1/users/{account_id}/roles", tag = "identity", security(("bearer" = [])),
    params(("account_id" = Uuid, Path, description = "The account")),
    request_body = RolesRequest,
    responses(
        (status = OK, description = "The account with its new roles", body = Account),
        (status = FORBIDDEN, description = "`forbidden`: the caller is not an admin", body = ErrorBody),
        (status = NOT_FOUND, description = "No such account", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_roles`", body = ErrorBody),
    ))]
async fn set_roles(
    State(state): State<AppState>,
    caller: Authenticated,
    account_id: AccountId,
    Json(request): Json<RolesRequest>,
) -> Result<axum::Json<Account>, ApiError> {
    caller.require(Role::Admin)?;
    let account_id = account_id.0;
    let mut roles = request.roles;
    // Every account is at least a learner; an empty list would otherwise lock it out of everything.
    if !roles.contains(&Role::Learner) {
        roles.push(Role::Learner);
    }
    if account_id == caller.account_id && !roles.contains(&Role::Admin) {
        return Err(AuthError::InvalidRoles("you cannot remove your own admin role".to_owned()).into());
    }
    let account =
        accounts::set_roles(&state.pool, account_id, &roles).await?.ok_or(AuthError::NotFound("no such account"))?;
    tracing::info!(
        %account_id,
        by = %caller.account_id,
        roles = ?account.roles,
        event = "roles_changed",
        "roles changed"
    );
    Ok(axum::Json(account))
}

/// The public keys that verify access tokens (RFC 7517): the current signing key and any earlier
/// keys still accepted after a rotation.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "identity",
    responses((status = OK, description = "JSON Web Key Set", content_type = "application/json")))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=300")], axum::Json(state.auth.tokens.jwks().clone()))
}
