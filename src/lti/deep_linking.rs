//! Deep Linking 2.0: an instructor in the LMS picks a Lectern course or lesson, and Lectern
//! returns it to the platform as a signed `ltiResourceLink` content item — all SQL of
//! `lti_deep_link`.
//!
//! The launch of an `LtiDeepLinkingRequest` answers a picker page listing the published courses
//! and their lessons; each choice posts a single-use token to `POST /lti/deep-linking`, which
//! signs the `LtiDeepLinkingResponse` with the tool's key and hands it to the platform's return
//! URL with an auto-submitting form (how the specification returns it: a browser form post of
//! `JWT`). The item's URL is the launch URL with the target in its query, and the same target is
//! in its custom parameters; a later launch of the link opens it.

use axum::extract::{Form, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::LtiError;
use super::id_token::{CLAIM_DEEP_LINKING_SETTINGS, LaunchClaims};
use super::launch::launch_url;
use super::platforms::{self, Platform};
use crate::app::AppState;
use crate::auth::tokens::{hash_refresh_token, new_refresh_token};
use crate::http::error::{ApiError, ErrorBody};
use crate::training::TrainingError;
use crate::training::courses::{self, CourseStatus};

/// How long the picker may stay open.
const PICK_TTL_SECONDS: f64 = 3600.0;
/// How many published courses the picker lists.
const PICKER_COURSES: i64 = 200;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The picker page for a deep-linking launch.
pub async fn picker(
    state: &AppState,
    platform: &Platform,
    claims: &LaunchClaims,
    account_id: Uuid,
) -> Result<Response, LtiError> {
    let settings = claims.raw.get(CLAIM_DEEP_LINKING_SETTINGS).and_then(Value::as_object).ok_or_else(|| {
        LtiError::id_token("lti_id_token_invalid", "a deep-linking request without deep_linking_settings")
    })?;
    let return_url = settings
        .get("deep_link_return_url")
        .and_then(Value::as_str)
        .filter(|url| url::Url::parse(url).is_ok())
        .ok_or_else(|| {
            LtiError::id_token("lti_id_token_invalid", "deep_linking_settings has no deep_link_return_url")
        })?;
    let accepts_links = settings
        .get("accept_types")
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("ltiResourceLink")));
    if !accepts_links {
        return Err(LtiError::UnsupportedMessage(
            "LtiDeepLinkingRequest that does not accept ltiResourceLink items".to_owned(),
        ));
    }
    let data = settings.get("data").and_then(Value::as_str);
    let token = record(&state.pool, platform, &claims.deployment_id, return_url, data, account_id).await?;

    let courses = courses::list(&state.pool, None, Some(CourseStatus::Published), None, PICKER_COURSES).await?;
    let mut items = String::new();
    for course in &courses {
        let lessons = courses::lessons(&state.pool, course.course_id).await?;
        items.push_str(&format!(
            "<li><form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <input type=\"hidden\" name=\"course_id\" value=\"{course_id}\"><button>{title}</button> (whole course)</form><ul>",
            action = escape(&super::launch::endpoint(state, "lti/deep-linking")),
            token = escape(&token),
            course_id = course.course_id,
            title = escape(&course.title),
        ));
        for lesson in lessons {
            items.push_str(&format!(
                "<li><form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
                 <input type=\"hidden\" name=\"lesson_id\" value=\"{lesson_id}\"><button>{title}</button></form></li>",
                action = escape(&super::launch::endpoint(state, "lti/deep-linking")),
                token = escape(&token),
                lesson_id = lesson.lesson_id,
                title = escape(&lesson.title),
            ));
        }
        items.push_str("</ul></li>");
    }
    if courses.is_empty() {
        items.push_str("<li>No course is published yet.</li>");
    }
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Choose a Lectern course or lesson</title>\
         </head><body><h1>Choose what to add</h1><ul id=\"lectern-items\">{items}</ul></body></html>"
    );
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response())
}

async fn record(
    pool: &PgPool,
    platform: &Platform,
    deployment_id: &str,
    return_url: &str,
    data: Option<&str>,
    account_id: Uuid,
) -> Result<String, LtiError> {
    let (token, token_hash) = new_refresh_token()?;
    sqlx::query!(r#"delete from lti_deep_link where expires_at < now()"#).execute(pool).await?;
    sqlx::query!(
        r#"
        insert into lti_deep_link (token_hash, platform_id, deployment_id, return_url, data, account_id, expires_at)
        values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7::float8))
        "#,
        token_hash,
        platform.platform_id,
        deployment_id,
        return_url,
        data,
        account_id,
        PICK_TTL_SECONDS,
    )
    .execute(pool)
    .await?;
    Ok(token)
}

/// The instructor's choice in the picker.
#[derive(Deserialize, ToSchema)]
pub struct DeepLinkChoice {
    /// The picker's single-use token.
    pub token: String,
    pub course_id: Option<Uuid>,
    pub lesson_id: Option<Uuid>,
}

/// Returns the chosen course or lesson to the platform: an auto-submitting form that posts the
/// signed `LtiDeepLinkingResponse` (`JWT`) to the platform's return URL.
#[utoipa::path(post, path = "/lti/deep-linking", tag = "lti",
    request_body(content = DeepLinkChoice, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = OK, description = "An HTML form that posts the signed response to the platform"),
        (status = BAD_REQUEST, description = "`lti_deep_link_invalid` or `lti_target_unknown`", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`, `lesson_not_found`", body = ErrorBody),
    ))]
pub async fn respond(State(state): State<AppState>, Form(choice): Form<DeepLinkChoice>) -> Result<Response, ApiError> {
    let row = sqlx::query!(
        r#"
        delete from lti_deep_link where token_hash = $1
        returning platform_id, deployment_id, return_url, data, (expires_at > now()) as "live!"
        "#,
        hash_refresh_token(&choice.token),
    )
    .fetch_optional(&state.pool)
    .await
    .map_err(LtiError::from)?;
    let row = row.filter(|row| row.live).ok_or(LtiError::InvalidDeepLink)?;
    let platform = platforms::get(&state.pool, row.platform_id).await?;
    let (title, course_id, lesson_id) = match (choice.lesson_id, choice.course_id) {
        (Some(lesson_id), _) => {
            let lesson = courses::lesson(&state.pool, lesson_id).await?.ok_or(TrainingError::LessonNotFound)?;
            (lesson.title, lesson.course_id, Some(lesson.lesson_id))
        }
        (None, Some(course_id)) => {
            let course = courses::get(&state.pool, course_id).await?.ok_or(TrainingError::CourseNotFound)?;
            (course.title, course.course_id, None)
        }
        (None, None) => return Err(LtiError::UnknownTarget("choose a course or a lesson".to_owned()).into()),
    };
    let item = content_item(&launch_url(&state), &title, course_id, lesson_id);
    let jwt = sign_response(&state, &platform, &row.deployment_id, row.data.as_deref(), &[item])?;
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Returning to the LMS</title></head>\
         <body><form id=\"lectern-return\" method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"JWT\" \
         value=\"{jwt}\"><button>Return to the LMS</button></form>\
         <script>document.getElementById('lectern-return').submit();</script></body></html>",
        action = escape(&row.return_url),
        jwt = escape(&jwt),
    );
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response())
}

/// One `ltiResourceLink` content item (LTI Deep Linking 2.0 §3.4.1) with a line item of 100
/// points, so the platform creates the gradebook column grade passback writes to.
pub fn content_item(launch_url: &str, title: &str, course_id: Uuid, lesson_id: Option<Uuid>) -> Value {
    let mut url = url::Url::parse(launch_url).unwrap_or_else(|_| url::Url::parse("http://invalid").expect("constant"));
    let mut custom = json!({ "course_id": course_id.to_string() });
    match lesson_id {
        Some(lesson_id) => {
            url.query_pairs_mut().append_pair("lesson_id", &lesson_id.to_string());
            custom["lesson_id"] = json!(lesson_id.to_string());
        }
        None => {
            url.query_pairs_mut().append_pair("course_id", &course_id.to_string());
        }
    }
    json!({
        "type": "ltiResourceLink",
        "title": title,
        "url": url.to_string(),
        "custom": custom,
        "lineItem": {
            "scoreMaximum": 100,
            "label": title,
            "resourceId": lesson_id.unwrap_or(course_id).to_string(),
        },
    })
}

/// Signs an `LtiDeepLinkingResponse`: issued by the tool (its client id), for the platform (its
/// issuer), with the request's `data` returned unchanged.
fn sign_response(
    state: &AppState,
    platform: &Platform,
    deployment_id: &str,
    data: Option<&str>,
    items: &[Value],
) -> Result<String, LtiError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": platform.client_id,
        "aud": platform.issuer,
        "iat": now,
        "exp": now + 600,
        "nonce": Uuid::new_v4().simple().to_string(),
        "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiDeepLinkingResponse",
        "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
        "https://purl.imsglobal.org/spec/lti/claim/deployment_id": deployment_id,
        "https://purl.imsglobal.org/spec/lti-dl/claim/content_items": items,
    });
    if let Some(data) = data {
        claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] = json!(data);
    }
    sign(state, &claims)
}

/// Signs claims with the tool's key.
pub fn sign(state: &AppState, claims: &Value) -> Result<String, LtiError> {
    super::sign_with_tool_key(&state.keys.lti, claims)
}
