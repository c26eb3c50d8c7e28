//! OIDC third-party login initiation (`GET|POST /lti/login`) and the launch (`POST /lti/launch`),
//! with all SQL of `lti_login_state`, `lti_used_nonce` and `lti_identity`.
//!
//! The login's `state` and `nonce` live in `lti_login_state`, not in a cookie: inside the LMS's
//! iframe, browsers that block third-party cookies would drop a state cookie, and the launch
//! would fail (the most reported LTI failure). The state is a 256-bit random value that only
//! the platform's authorization redirect carries back, consumed once; the nonce is checked
//! against the id_token and then recorded as used until the token expires.

use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use url::Url;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::id_token::{self, CLAIM_CUSTOM, DEEP_LINKING_REQUEST, LaunchClaims};
use super::platforms::{self, Platform};
use super::{LtiError, deep_linking};
use crate::app::AppState;
use crate::auth::routes::{TokenPair, issue_session, limit};
use crate::auth::tokens::{hash_refresh_token, new_refresh_token};
use crate::auth::{ClientInfo, Email, accounts};
use crate::http::HttpError as _;
use crate::http::error::{ApiError, ErrorBody};
use crate::training::TrainingError;
use crate::training::courses::{self, CourseStatus};
use crate::training::enrollments::{Enroll, EnrollmentSource};

/// What a platform sends to start a login (IMS Security Framework §5.1.1.1), in the query or a
/// form body.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
pub struct LoginInitiation {
    /// The platform's issuer.
    pub iss: Option<String>,
    /// Opaque to the tool; repeated to the platform.
    pub login_hint: Option<String>,
    /// Where the launch should end up (one of Lectern's URLs).
    pub target_link_uri: Option<String>,
    /// Opaque to the tool; repeated to the platform.
    pub lti_message_hint: Option<String>,
    /// Which registration of the issuer (optional when it has one).
    pub client_id: Option<String>,
    pub lti_deployment_id: Option<String>,
}

/// The platform's form post to the launch URL.
#[derive(Deserialize, ToSchema)]
pub struct LaunchForm {
    pub id_token: Option<String>,
    pub state: Option<String>,
    /// Set instead of an id_token when the platform refused the login.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A launch's answer when no landing page is configured (`LECTERN_LTI_LANDING_URL`).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LaunchResult {
    pub account_id: Uuid,
    /// True when this launch created the account.
    pub account_created: bool,
    pub course_id: Uuid,
    pub lesson_id: Option<Uuid>,
    pub tokens: TokenPair,
}

/// The tool's redirect URI: where platforms post the id_token.
pub fn launch_url(state: &AppState) -> String {
    endpoint(state, "lti/launch")
}

pub fn endpoint(state: &AppState, path: &str) -> String {
    let base = state.http.public_url.as_str().trim_end_matches('/');
    format!("{base}/{path}")
}

/// OIDC login initiation, from a link or a redirect.
#[utoipa::path(get, path = "/lti/login", tag = "lti", params(LoginInitiation),
    responses(
        (status = FOUND, description = "Redirect to the platform's authorization endpoint (Location)"),
        (status = BAD_REQUEST, description = "`lti_login_invalid`", body = ErrorBody),
        (status = NOT_FOUND, description = "`lti_platform_unknown`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
pub async fn login_get(
    State(state): State<AppState>,
    client: ClientInfo,
    Query(initiation): Query<LoginInitiation>,
) -> Result<Response, ApiError> {
    login(&state, &client, initiation).await
}

/// OIDC login initiation as a form post (what Moodle and Canvas send).
#[utoipa::path(post, path = "/lti/login", tag = "lti",
    request_body(content = LoginInitiation, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = FOUND, description = "Redirect to the platform's authorization endpoint (Location)"),
        (status = BAD_REQUEST, description = "`lti_login_invalid`", body = ErrorBody),
        (status = NOT_FOUND, description = "`lti_platform_unknown`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
pub async fn login_post(
    State(state): State<AppState>,
    client: ClientInfo,
    Form(initiation): Form<LoginInitiation>,
) -> Result<Response, ApiError> {
    login(&state, &client, initiation).await
}

async fn login(state: &AppState, client: &ClientInfo, initiation: LoginInitiation) -> Result<Response, ApiError> {
    // Every login stores a row until it expires, so logins are limited like OAuth starts.
    limit(state, "lti_login:ip", &client.ip.to_string(), state.auth.settings.rate_limits.oauth_callback).await?;
    let required = |value: Option<String>, name: &str| {
        value.filter(|v| !v.trim().is_empty()).ok_or_else(|| LtiError::BadLogin(format!("the login has no {name}")))
    };
    let issuer = required(initiation.iss, "iss")?;
    let login_hint = required(initiation.login_hint, "login_hint")?;
    let target_link_uri = required(initiation.target_link_uri, "target_link_uri")?;
    let client_id = initiation.client_id.filter(|c| !c.trim().is_empty());
    let platform = platforms::find(&state.pool, &issuer, client_id.as_deref()).await?;
    // The target must be one of ours: the launch ends in a redirect derived from it.
    let target =
        Url::parse(&target_link_uri).map_err(|_| LtiError::BadLogin("target_link_uri is not a URL".to_owned()))?;
    if target.origin() != state.http.public_url.origin() {
        return Err(LtiError::BadLogin(format!(
            "target_link_uri {target_link_uri:?} is not on this server ({})",
            state.http.public_url
        ))
        .into());
    }
    if let Some(deployment) = initiation.lti_deployment_id.as_deref()
        && !platform.deployment_ids.iter().any(|known| known == deployment)
    {
        return Err(LtiError::UnknownDeployment(deployment.to_owned()).into());
    }
    let (login_state, nonce) = start(&state.pool, &platform, &target_link_uri, state.lti.settings.state_ttl).await?;
    let mut authorize = Url::parse(&platform.auth_login_url)
        .map_err(|_| LtiError::BadLogin("the platform's auth_login_url is not a URL".to_owned()))?;
    {
        let mut query = authorize.query_pairs_mut();
        query
            .append_pair("scope", "openid")
            .append_pair("response_type", "id_token")
            .append_pair("response_mode", "form_post")
            .append_pair("prompt", "none")
            .append_pair("client_id", &platform.client_id)
            .append_pair("redirect_uri", &launch_url(state))
            .append_pair("login_hint", &login_hint)
            .append_pair("state", &login_state)
            .append_pair("nonce", &nonce);
        if let Some(hint) = initiation.lti_message_hint.as_deref() {
            query.append_pair("lti_message_hint", hint);
        }
    }
    Ok((StatusCode::FOUND, [(header::LOCATION, authorize.to_string()), (header::CACHE_CONTROL, "no-store".to_owned())])
        .into_response())
}

/// Records a login: returns its state and nonce. Expired logins and used nonces are swept first.
async fn start(
    pool: &PgPool,
    platform: &Platform,
    target_link_uri: &str,
    ttl: std::time::Duration,
) -> Result<(String, String), LtiError> {
    let (login_state, state_hash) = new_refresh_token()?;
    let (nonce, _) = new_refresh_token()?;
    sqlx::query!(r#"delete from lti_login_state where expires_at < now()"#).execute(pool).await?;
    sqlx::query!(r#"delete from lti_used_nonce where expires_at < now()"#).execute(pool).await?;
    sqlx::query!(
        r#"
        insert into lti_login_state (state_hash, platform_id, nonce, target_link_uri, expires_at)
        values ($1, $2, $3, $4, now() + make_interval(secs => $5::float8))
        "#,
        state_hash,
        platform.platform_id,
        nonce,
        target_link_uri,
        ttl.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok((login_state, nonce))
}

/// A login taken back at the launch.
struct LoginState {
    platform_id: Uuid,
    nonce: String,
}

/// Consumes a login's state; missing, unknown, expired and used states are all
/// `lti_state_invalid`.
async fn take(pool: &PgPool, login_state: &str) -> Result<LoginState, LtiError> {
    let row = sqlx::query!(
        r#"
        delete from lti_login_state where state_hash = $1
        returning platform_id, nonce, (expires_at > now()) as "live!"
        "#,
        hash_refresh_token(login_state),
    )
    .fetch_optional(pool)
    .await?;
    let row = row.filter(|row| row.live).ok_or(LtiError::InvalidState)?;
    Ok(LoginState { platform_id: row.platform_id, nonce: row.nonce })
}

/// Records the nonce as used until the token's expiry; `lti_nonce_replayed` if it already was.
async fn spend_nonce(pool: &PgPool, platform_id: Uuid, nonce: &str, expires_at: i64) -> Result<(), LtiError> {
    let expires_at = time::OffsetDateTime::from_unix_timestamp(expires_at)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        // Kept a little past the token's expiry, which the leeway still accepts.
        + time::Duration::minutes(10);
    let inserted = sqlx::query!(
        r#"
        insert into lti_used_nonce (platform_id, nonce, expires_at) values ($1, $2, $3)
        on conflict do nothing
        "#,
        platform_id,
        nonce,
        expires_at,
    )
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(LtiError::NonceReplayed);
    }
    Ok(())
}

/// The account a launch signs in: the one linked to the platform user, or a new learner account.
/// Never found by email: the platform's email is kept for display only.
pub async fn account_for(pool: &PgPool, platform_id: Uuid, claims: &LaunchClaims) -> Result<(Uuid, bool), LtiError> {
    let touch = || {
        sqlx::query_scalar!(
            r#"
            update lti_identity set last_launch_at = now(), name = coalesce($3, name), email = coalesce($4, email)
            where platform_id = $1 and subject = $2
            returning account_id
            "#,
            platform_id,
            claims.subject,
            claims.name.as_deref(),
            claims.email.as_deref(),
        )
        .fetch_optional(pool)
    };
    if let Some(account_id) = touch().await? {
        return Ok((account_id, false));
    }
    // Accounts need a unique address; an LTI user gets one under the reserved `.invalid` domain
    // (RFC 2606), unverified, which nothing ever mails and nobody can register.
    let placeholder = format!("lti-{}@lti.invalid", Uuid::new_v4().simple());
    let email = Email::parse(&placeholder).map_err(|_| LtiError::Signing("placeholder email refused".to_owned()))?;
    let mut tx = pool.begin().await?;
    let account = accounts::create_without_password(&mut *tx, &email, false).await?;
    let linked = sqlx::query_scalar!(
        r#"
        insert into lti_identity (platform_id, subject, account_id, name, email) values ($1, $2, $3, $4, $5)
        on conflict do nothing
        returning account_id
        "#,
        platform_id,
        claims.subject,
        account.account_id,
        claims.name.as_deref(),
        claims.email.as_deref(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    if linked.is_none() {
        // A concurrent first launch of the same user linked first; use its account.
        tx.rollback().await?;
        let account_id = touch().await?.ok_or(LtiError::InvalidState)?;
        return Ok((account_id, false));
    }
    tx.commit().await?;
    tracing::info!(account_id = %account.account_id, %platform_id, event = "account_registered", "account created by an LTI launch");
    Ok((account.account_id, true))
}

/// The course (and lesson) a resource-link launch opens: the `lesson_id`/`course_id` custom
/// parameters when the link has them, otherwise the query of its `target_link_uri` (what deep
/// linking returns).
fn target(claims: &LaunchClaims) -> Result<(Option<Uuid>, Option<Uuid>), LtiError> {
    let parse = |raw: &str, name: &str| {
        Uuid::parse_str(raw.trim()).map_err(|_| LtiError::UnknownTarget(format!("{name} {raw:?} is not an id")))
    };
    let custom = claims.raw.get(CLAIM_CUSTOM).and_then(serde_json::Value::as_object);
    let custom_value = |name: &str| custom.and_then(|c| c.get(name)).and_then(serde_json::Value::as_str);
    let mut lesson = custom_value("lesson_id").map(|raw| parse(raw, "lesson_id")).transpose()?;
    let mut course = custom_value("course_id").map(|raw| parse(raw, "course_id")).transpose()?;
    if lesson.is_none()
        && course.is_none()
        && let Some(uri) = claims.target_link_uri.as_deref().and_then(|raw| Url::parse(raw).ok())
    {
        for (name, value) in uri.query_pairs() {
            match name.as_ref() {
                "lesson_id" => lesson = Some(parse(&value, "lesson_id")?),
                "course_id" => course = Some(parse(&value, "course_id")?),
                _ => {}
            }
        }
    }
    if lesson.is_none() && course.is_none() {
        return Err(LtiError::UnknownTarget(
            "the link names no Lectern course or lesson (add it again through deep linking, or set the custom \
             parameter course_id or lesson_id)"
                .to_owned(),
        ));
    }
    Ok((course, lesson))
}

/// The launch: the platform posts the id_token here.
#[utoipa::path(post, path = "/lti/launch", tag = "lti",
    request_body(content = LaunchForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = SEE_OTHER, description = "Signed in and enrolled: to the landing page with `login_code`, `course_id`, `lesson_id`"),
        (status = OK, description = "Without a landing page: the tokens and the target; for a deep-linking request, the picker (HTML)", body = LaunchResult),
        (status = BAD_REQUEST, description = "`lti_state_invalid`, `lti_nonce_replayed`, `lti_message_type_unsupported`, `lti_version_unsupported`, `lti_target_unknown`, `lti_login_invalid`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`lti_bad_signature`, `lti_wrong_issuer`, `lti_wrong_audience`, `lti_token_expired`, `lti_token_not_yet_valid`, `lti_nonce_invalid`, `lti_id_token_invalid`", body = ErrorBody),
        (status = FORBIDDEN, description = "`lti_deployment_unknown`", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`, `lesson_not_found`", body = ErrorBody),
        (status = CONFLICT, description = "`wrong_state`: the course is not published", body = ErrorBody),
        (status = BAD_GATEWAY, description = "`lti_platform_unavailable`: its key set could not be read", body = ErrorBody),
    ))]
pub async fn launch(State(state): State<AppState>, client: ClientInfo, Form(form): Form<LaunchForm>) -> Response {
    match run_launch(&state, &client, form).await {
        Ok(response) => response,
        Err(error) => {
            if error.is_client_error() {
                tracing::info!(code = crate::http::HttpError::error_code(&error), error = %error, "LTI launch refused");
            }
            ApiError::from(error).into_response()
        }
    }
}

async fn run_launch(state: &AppState, client: &ClientInfo, form: LaunchForm) -> Result<Response, LtiError> {
    if let Some(error) = form.error.filter(|e| !e.is_empty()) {
        let detail = form.error_description.map(|d| format!(": {d}")).unwrap_or_default();
        return Err(LtiError::BadLogin(format!("the platform refused the login ({error}{detail})")));
    }
    let login_state = form.state.filter(|s| !s.is_empty()).ok_or(LtiError::InvalidState)?;
    let token = form
        .id_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| LtiError::id_token("lti_id_token_invalid", "the launch has no id_token"))?;
    let login = take(&state.pool, &login_state).await?;
    let platform = platforms::get(&state.pool, login.platform_id).await?;
    let lti = &state.lti;
    let claims = id_token::verify(&lti.keys, &platform, &token, &login.nonce, lti.settings.clock_leeway).await?;
    spend_nonce(&state.pool, platform.platform_id, &claims.nonce, claims.expires_at).await?;
    let (account_id, created) = account_for(&state.pool, platform.platform_id, &claims).await?;
    if claims.message_type == DEEP_LINKING_REQUEST {
        return deep_linking::picker(state, &platform, &claims, account_id).await;
    }
    let (course_id, lesson_id) = target(&claims)?;
    let lesson = match lesson_id {
        Some(lesson_id) => Some(courses::lesson(&state.pool, lesson_id).await?.ok_or(TrainingError::LessonNotFound)?),
        None => None,
    };
    let course_id = match (&lesson, course_id) {
        (Some(lesson), Some(course_id)) if lesson.course_id != course_id => {
            return Err(LtiError::UnknownTarget("the lesson is not in the course the link names".to_owned()));
        }
        (Some(lesson), _) => lesson.course_id,
        (None, Some(course_id)) => course_id,
        (None, None) => return Err(LtiError::UnknownTarget("the link names no course".to_owned())),
    };
    let course = courses::get(&state.pool, course_id).await?.ok_or(TrainingError::CourseNotFound)?;
    if course.status() != CourseStatus::Published {
        return Err(TrainingError::WrongState("the course is not published".to_owned()).into());
    }
    let request =
        Enroll { account_id, source: EnrollmentSource::Lti, enrolled_by: None, expires_at: None, new_attempt: false };
    crate::training::routes::enroll_now(state, &course, &request).await?;
    let label = lesson.as_ref().map_or(course.title.as_str(), |lesson| lesson.title.as_str());
    let target = (course.course_id, lesson.as_ref().map(|lesson| lesson.lesson_id));
    if let Some(grade_link_id) =
        super::grades::record_link(&state.pool, platform.platform_id, account_id, &claims, target, label).await?
    {
        // The first score (`Initialized`, `Pending`) puts the learner in the gradebook.
        super::grades::enqueue_send(&state.pool, grade_link_id).await?;
    }
    tracing::info!(%account_id, platform_id = %platform.platform_id, course_id = %course.course_id, event = "lti_launch", "LTI launch");
    match &lti.settings.landing_url {
        Some(landing) => {
            let login_code = crate::auth::oauth::flow::issue_login_code_for(&state.pool, account_id, "lti").await?;
            let mut location = landing.clone();
            {
                let mut query = location.query_pairs_mut();
                query.append_pair("login_code", &login_code).append_pair("course_id", &course.course_id.to_string());
                if let Some(lesson) = &lesson {
                    query.append_pair("lesson_id", &lesson.lesson_id.to_string());
                }
            }
            Ok((
                StatusCode::SEE_OTHER,
                [(header::LOCATION, location.to_string()), (header::CACHE_CONTROL, "no-store".to_owned())],
            )
                .into_response())
        }
        None => {
            let account = accounts::find(&state.pool, account_id).await?.ok_or(LtiError::InvalidState)?;
            let tokens = issue_session(state, account_id, account.roles, client).await?;
            let result = LaunchResult {
                account_id,
                account_created: created,
                course_id: course.course_id,
                lesson_id: lesson.map(|l| l.lesson_id),
                tokens,
            };
            Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(result)).into_response())
        }
    }
}
