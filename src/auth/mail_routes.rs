//! The flows that go through a person's mailbox: confirming an address (at registration and on
//! an email change) and resetting a forgotten password. Every message is queued as a `mail.send`
//! job in the transaction of the change it reports; the links carry single-use tokens from
//! [`account_tokens`](super::account_tokens) and point at the console's pages under
//! `LECTERN_PUBLIC_URL`, which post the token back here.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::account_tokens::{self, Purpose};
use super::accounts::{self, Account};
use super::routes::limit;
use super::sessions::{self, RevokedReason};
use super::{AuthError, Authenticated, ClientInfo, Email};
use crate::app::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::mail::{Locale, OutgoingMail, Template};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(change_email))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
}

/// The console page that reads a verification link's token and posts it to
/// `POST /v1/auth/email/verify`.
pub const VERIFY_EMAIL_PAGE: &str = "settings/verify-email";
/// The console page that asks for a new password and posts it with the token to
/// `POST /v1/auth/password/reset`.
pub const RESET_PASSWORD_PAGE: &str = "sign-in/reset-password";

fn link(state: &AppState, page: &str, token: &str) -> String {
    // The public URL always ends with '/' (a path prefix included), so `join` keeps the prefix.
    let mut url = state.http.public_url.join(page).unwrap_or_else(|_| state.http.public_url.clone());
    url.query_pairs_mut().append_pair("token", token);
    url.into()
}

/// The language of a request's mail, from its `Accept-Language`.
pub(crate) fn request_locale(headers: &HeaderMap) -> Locale {
    Locale::from_accept_language(headers.get(header::ACCEPT_LANGUAGE).and_then(|value| value.to_str().ok()))
}

/// Issues a verification token for `email` and queues the mail with its link, in `conn`'s
/// transaction. Registration and an email change both end here.
pub(crate) async fn send_verification_in(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    account_id: Uuid,
    email: &Email,
    locale: Locale,
) -> Result<(), AuthError> {
    let token = account_tokens::issue_in(conn, account_id, Purpose::VerifyEmail, Some(email)).await?;
    let mail = OutgoingMail {
        to: email.as_str().to_owned(),
        locale,
        template: Template::VerifyEmail { link: link(state, VERIFY_EMAIL_PAGE, &token) },
    };
    crate::mail::enqueue_in(conn, &mail).await.map_err(AuthError::Mail)?;
    Ok(())
}

/// A token from a mailed link.
#[derive(Deserialize, ToSchema)]
pub struct LinkTokenRequest {
    pub token: String,
}

/// Confirm an email address with the token of a verification link. The account's
/// `email_verified` becomes true; after an email change, the new address replaces the old one
/// here.
#[utoipa::path(post, path = "/v1/auth/email/verify", tag = "identity", request_body = LinkTokenRequest,
    responses(
        (status = OK, description = "The account with its verified address", body = Account),
        (status = BAD_REQUEST, description = "`invalid_link`: unknown, expired, superseded or used", body = ErrorBody),
        (status = CONFLICT, description = "`email_taken`: another account took the new address meanwhile", body = ErrorBody),
    ))]
async fn verify_email(
    State(state): State<AppState>,
    Json(request): Json<LinkTokenRequest>,
) -> Result<axum::Json<Account>, ApiError> {
    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    let live =
        account_tokens::spend_in(&mut tx, Purpose::VerifyEmail, &request.token).await?.ok_or(AuthError::InvalidLink)?;
    let email = live.email.ok_or(AuthError::InvalidLink)?;
    let account =
        accounts::set_verified_email(&mut tx, live.account_id, &email).await?.ok_or(AuthError::InvalidLink)?;
    tx.commit().await.map_err(AuthError::from)?;
    tracing::info!(account_id = %account.account_id, event = "email_verified", "email address verified");
    Ok(axum::Json(account))
}

/// Send the verification link for the caller's address again (the earlier link stops working).
#[utoipa::path(post, path = "/v1/auth/email/verification", tag = "identity", security(("bearer" = [])),
    responses(
        (status = ACCEPTED, description = "The message is queued"),
        (status = CONFLICT, description = "`already_verified`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn resend_verification(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    limit(&state, "account_mail:account", &caller.account_id.to_string(), state.auth.settings.rate_limits.account_mail)
        .await?;
    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    let profile = accounts::mail_profile(&mut *tx, caller.account_id).await?.ok_or(AuthError::InvalidToken)?;
    if profile.email_verified {
        return Err(AuthError::AlreadyVerified.into());
    }
    let email = Email::parse(&profile.email)?;
    let locale = if headers.contains_key(header::ACCEPT_LANGUAGE) { request_locale(&headers) } else { profile.locale };
    send_verification_in(&state, &mut tx, caller.account_id, &email, locale).await?;
    tx.commit().await.map_err(AuthError::from)?;
    Ok(StatusCode::ACCEPTED)
}

/// A new address, and the current password when the account has one.
#[derive(Deserialize, ToSchema)]
pub struct ChangeEmailRequest {
    #[schema(example = "ada@new.example")]
    pub email: String,
    pub password: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PendingEmail {
    /// The address the link was sent to; the account keeps its current one until it is followed.
    pub pending_email: String,
}

/// Change the caller's email address: a verification link goes to the new address, and the
/// change takes effect when it is followed.
#[utoipa::path(put, path = "/v1/me/email", tag = "identity", security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = ACCEPTED, description = "A link was sent to the new address", body = PendingEmail),
        (status = FORBIDDEN, description = "`wrong_password`", body = ErrorBody),
        (status = CONFLICT, description = "`email_taken`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_email`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn change_email(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
    Json(request): Json<ChangeEmailRequest>,
) -> Result<(StatusCode, axum::Json<PendingEmail>), ApiError> {
    limit(&state, "account_mail:account", &caller.account_id.to_string(), state.auth.settings.rate_limits.account_mail)
        .await?;
    let email = Email::parse(&request.email)?;
    let profile = accounts::mail_profile(&state.pool, caller.account_id).await?.ok_or(AuthError::InvalidToken)?;
    // A stolen access token alone must not be enough to move the account to another mailbox.
    if profile.password_hash.is_some() {
        let password = request.password.unwrap_or_default();
        if !state.auth.passwords.verify(password, profile.password_hash).await? {
            return Err(AuthError::WrongPassword.into());
        }
    }
    if accounts::find_id_by_email(&state.pool, &email).await?.is_some() {
        return Err(AuthError::EmailTaken.into());
    }
    let locale = if headers.contains_key(header::ACCEPT_LANGUAGE) { request_locale(&headers) } else { profile.locale };
    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    send_verification_in(&state, &mut tx, caller.account_id, &email, locale).await?;
    tx.commit().await.map_err(AuthError::from)?;
    tracing::info!(account_id = %caller.account_id, event = "email_change_requested", "email change requested");
    Ok((StatusCode::ACCEPTED, axum::Json(PendingEmail { pending_email: email.as_str().to_owned() })))
}

#[derive(Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
}

/// Ask for a password-reset link. The answer is the same whether or not an account has this
/// address, so it cannot be used to find out who has an account.
#[utoipa::path(post, path = "/v1/auth/password/forgot", tag = "identity", request_body = ForgotPasswordRequest,
    responses(
        (status = ACCEPTED, description = "If an account has this address, a link is on its way"),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_email`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn forgot_password(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(request): Json<ForgotPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let limits = state.auth.settings.rate_limits.account_mail;
    limit(&state, "account_mail:ip", &client.ip.to_string(), limits).await?;
    let email = Email::parse(&request.email)?;
    limit(&state, "account_mail:email", email.as_str(), limits).await?;
    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    if let Some(profile) = accounts::mail_profile_by_email(&mut *tx, &email).await? {
        let token = account_tokens::issue_in(&mut tx, profile.account_id, Purpose::ResetPassword, None).await?;
        let mail = OutgoingMail {
            to: profile.email,
            locale: profile.locale,
            template: Template::ResetPassword { link: link(&state, RESET_PASSWORD_PAGE, &token) },
        };
        crate::mail::enqueue_in(&mut tx, &mail).await.map_err(AuthError::Mail)?;
        tracing::info!(account_id = %profile.account_id, event = "password_reset_requested", "password reset requested");
    }
    tx.commit().await.map_err(AuthError::from)?;
    Ok(StatusCode::ACCEPTED)
}

/// A reset link's token and the new password. Not `Debug`: the password must not reach a log.
#[derive(Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    pub token: String,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

/// Choose a new password with the token of a reset link. Every session of the account ends (all
/// its refresh tokens stop working); sign in again with the new password.
#[utoipa::path(post, path = "/v1/auth/password/reset", tag = "identity", request_body = ResetPasswordRequest,
    responses(
        (status = NO_CONTENT, description = "The password is changed and every device signed out"),
        (status = BAD_REQUEST, description = "`invalid_link`: unknown, expired, superseded or used", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`weak_password` (the link stays usable)", body = ErrorBody),
    ))]
async fn reset_password(
    State(state): State<AppState>,
    Json(request): Json<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    // Checked before the link is spent, so a refused password does not cost the link.
    let live = account_tokens::peek(&state.pool, Purpose::ResetPassword, &request.token)
        .await?
        .ok_or(AuthError::InvalidLink)?;
    let profile = accounts::mail_profile(&state.pool, live.account_id).await?.ok_or(AuthError::InvalidLink)?;
    let email = Email::parse(&profile.email)?;
    state.auth.passwords.check_policy(&request.password, &email)?;
    let hash = state.auth.passwords.hash(request.password).await?;
    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    let spent = account_tokens::spend_in(&mut tx, Purpose::ResetPassword, &request.token)
        .await?
        .filter(|spent| spent.account_id == live.account_id)
        .ok_or(AuthError::InvalidLink)?;
    accounts::reset_password(&mut tx, spent.account_id, &hash).await?;
    let ended = sessions::revoke_all(&mut tx, spent.account_id, RevokedReason::PasswordReset).await?;
    tx.commit().await.map_err(AuthError::from)?;
    tracing::info!(account_id = %spent.account_id, sessions_ended = ended, event = "password_reset", "password reset");
    Ok(StatusCode::NO_CONTENT)
}
