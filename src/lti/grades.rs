//! Assignment and Grade Services 2.0: learners' progress as scores in the LMS gradebook — all SQL
//! of `lti_grade_link`.
//!
//! A resource-link launch whose platform offers the score scope records a grade link (platform
//! user, resource link, Lectern course or lesson, the line-item URLs of the claim). Scores are
//! sent by durable jobs, never inline: `lti.send_score` (one per link at a time, retried with
//! backoff) and the periodic `lti.grade_sync`, which enqueues a send for each link whose score
//! moved since the platform last accepted one — so progress reported to training reaches the
//! gradebook without training knowing about LTI.
//!
//! The score follows the issue's rules: `scoreGiven` = covered ratio × 100 of `scoreMaximum` 100
//! (a course or lesson without video: the share of lessons completed), `activityProgress`
//! `Initialized`/`InProgress`/`Completed`, `gradingProgress` `Pending` until completion, then
//! `FullyGraded`, and a timestamp in ISO 8601 with milliseconds and `Z`, which Moodle requires.
//! The platform's access token comes from `client_credentials` with a JWT assertion signed by the
//! tool's key, cached per platform until shortly before it expires.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::id_token::{CLAIM_RESOURCE_LINK, LaunchClaims};
use super::{Lti, LtiError};
use crate::jobs::{EnqueueOptions, JobContext, JobError, JobHandler};
use crate::training::courses::{self, LessonKind};
use crate::training::{progress, views};

pub const CLAIM_AGS_ENDPOINT: &str = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint";
pub const SCOPE_LINEITEM: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem";
pub const SCOPE_SCORE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/score";

const LINEITEM_TYPE: &str = "application/vnd.ims.lis.v2.lineitem+json";
const LINEITEMS_TYPE: &str = "application/vnd.ims.lis.v2.lineitemcontainer+json";
const SCORE_TYPE: &str = "application/vnd.ims.lis.v1.score+json";
/// Grade links looked at per `lti.grade_sync` run; the next run takes the rest.
const SYNC_BATCH: i64 = 1000;

/// Records (or refreshes) the launch's grade link when the platform offers scores. `None` when
/// it does not, or gives no line item and may not create one.
pub async fn record_link(
    pool: &PgPool,
    platform_id: Uuid,
    account_id: Uuid,
    claims: &LaunchClaims,
    target: (Uuid, Option<Uuid>),
    label: &str,
) -> Result<Option<Uuid>, LtiError> {
    let Some(endpoint) = claims.raw.get(CLAIM_AGS_ENDPOINT).and_then(Value::as_object) else { return Ok(None) };
    let scopes: Vec<String> = endpoint
        .get("scope")
        .and_then(Value::as_array)
        .map(|scopes| scopes.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if !scopes.iter().any(|s| s == SCOPE_SCORE) {
        return Ok(None);
    }
    let url = |name: &str| endpoint.get(name).and_then(Value::as_str).filter(|u| url::Url::parse(u).is_ok());
    let lineitem = url("lineitem");
    let lineitems = url("lineitems").filter(|_| scopes.iter().any(|s| s == SCOPE_LINEITEM));
    if lineitem.is_none() && lineitems.is_none() {
        return Ok(None);
    }
    let Some(resource_link_id) = claims
        .raw
        .get(CLAIM_RESOURCE_LINK)
        .and_then(|link| link.get("id"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
    else {
        return Ok(None);
    };
    let (course_id, lesson_id) = target;
    let id = sqlx::query_scalar!(
        r#"
        insert into lti_grade_link (platform_id, account_id, subject, resource_link_id, course_id, lesson_id, label,
                                    lineitems_url, lineitem_url, scopes)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        on conflict (platform_id, resource_link_id, subject) do update
            set account_id = excluded.account_id, course_id = excluded.course_id, lesson_id = excluded.lesson_id,
                label = excluded.label, lineitems_url = excluded.lineitems_url,
                lineitem_url = coalesce(excluded.lineitem_url, lti_grade_link.lineitem_url), scopes = excluded.scopes
        returning grade_link_id
        "#,
        platform_id,
        account_id,
        claims.subject,
        resource_link_id,
        course_id,
        lesson_id,
        label,
        lineitems,
        lineitem,
        &scopes,
    )
    .fetch_one(pool)
    .await?;
    Ok(Some(id))
}

/// Queues a send of the link's score (one queued at a time per link).
pub async fn enqueue_send(pool: &PgPool, grade_link_id: Uuid) -> Result<(), sqlx::Error> {
    crate::jobs::queue::enqueue(
        pool,
        SendScore::KIND,
        &json!({ "grade_link_id": grade_link_id }),
        EnqueueOptions {
            unique_key: Some(format!("{}:{grade_link_id}", SendScore::KIND)),
            max_attempts: Some(10),
            ..EnqueueOptions::default()
        },
    )
    .await?;
    Ok(())
}

/// A score as the gradebook gets it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// 0–100, two decimals.
    pub given: f64,
    /// The course or lesson is completed: `Completed` and `FullyGraded`.
    pub completed: bool,
}

impl Score {
    pub fn body(&self, user_id: &str, at: OffsetDateTime) -> Value {
        let activity = if self.completed {
            "Completed"
        } else if self.given > 0.0 {
            "InProgress"
        } else {
            "Initialized"
        };
        json!({
            "userId": user_id,
            "scoreGiven": self.given,
            "scoreMaximum": 100,
            "activityProgress": activity,
            "gradingProgress": if self.completed { "FullyGraded" } else { "Pending" },
            "timestamp": timestamp(at),
        })
    }
}

/// ISO 8601 in UTC with exactly three fractional digits: `2026-12-03T14:52:21.123Z`.
pub fn timestamp(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

/// The learner's score on a course or one of its lessons; `None` when not enrolled.
pub async fn score_of(
    pool: &PgPool,
    account_id: Uuid,
    course_id: Uuid,
    lesson_id: Option<Uuid>,
) -> Result<Option<Score>, LtiError> {
    let Some((course_completed, lessons)) = progress::current_outline(pool, course_id, account_id).await? else {
        return Ok(None);
    };
    let Some(course) = courses::get(pool, course_id).await? else { return Ok(None) };
    let round = |ratio: f64| (ratio.clamp(0.0, 1.0) * 10_000.0).round() / 100.0;
    if let Some(lesson_id) = lesson_id {
        let Some((lesson, stored)) = lessons.iter().find(|(lesson, _)| lesson.lesson_id == lesson_id) else {
            return Ok(None);
        };
        let view = views::lesson_progress(&course, lesson, stored.as_ref());
        return Ok(Some(Score { given: round(view.covered_ratio), completed: view.completed }));
    }
    let refs: Vec<&courses::LessonRow> = lessons.iter().map(|(lesson, _)| lesson).collect();
    let stored: HashMap<Uuid, &progress::LessonProgress> =
        lessons.iter().filter_map(|(lesson, p)| p.as_ref().map(|p| (lesson.lesson_id, p))).collect();
    let view = views::course_progress(&course, &refs, &stored, None);
    let has_video = refs.iter().any(|lesson| lesson.kind() == LessonKind::Video);
    let ratio = if has_video {
        view.covered_ratio
    } else if view.lessons_total == 0 {
        0.0
    } else {
        f64::from(view.lessons_completed) / f64::from(view.lessons_total)
    };
    Ok(Some(Score { given: round(ratio), completed: course_completed }))
}

/// Platform access tokens, per platform, until shortly before they expire.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<Uuid, (String, Instant)>>,
}

struct Link {
    grade_link_id: Uuid,
    platform_id: Uuid,
    account_id: Uuid,
    subject: String,
    resource_link_id: String,
    course_id: Uuid,
    lesson_id: Option<Uuid>,
    label: String,
    lineitems_url: Option<String>,
    lineitem_url: Option<String>,
    sent_score: Option<f64>,
    sent_final: Option<bool>,
    client_id: String,
    auth_token_url: String,
}

async fn link(pool: &PgPool, grade_link_id: Uuid) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as!(
        Link,
        r#"
        select g.grade_link_id, g.platform_id, g.account_id, g.subject, g.resource_link_id, g.course_id, g.lesson_id,
               g.label, g.lineitems_url, g.lineitem_url, g.sent_score, g.sent_final, p.client_id, p.auth_token_url
        from lti_grade_link g join lti_platform p using (platform_id)
        where g.grade_link_id = $1
        "#,
        grade_link_id,
    )
    .fetch_optional(pool)
    .await
}

/// `lti.send_score`: posts a link's current score when it differs from what the platform has.
pub struct SendScore {
    lti: Arc<Lti>,
}

impl SendScore {
    pub const KIND: &'static str = "lti.send_score";

    pub fn new(lti: Arc<Lti>) -> Self {
        Self { lti }
    }

    /// A token for the platform's grade services: from the cache, or `client_credentials` with
    /// a JWT assertion (RFC 7523) signed by the tool's key.
    async fn token(&self, link: &Link) -> Result<String, JobError> {
        if let Some((token, until)) = self.lti.grade_tokens.tokens.lock().await.get(&link.platform_id)
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let assertion = super::sign_with_tool_key(
            &self.lti.tool_key,
            &json!({
                "iss": link.client_id,
                "sub": link.client_id,
                "aud": link.auth_token_url,
                "iat": now,
                "exp": now + 300,
                "jti": Uuid::new_v4().to_string(),
            }),
        )
        .map_err(|e| JobError::abort("lti_signing_failed", e.to_string()))?;
        let response = self
            .lti
            .http
            .post(&link.auth_token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion.as_str()),
                ("scope", &format!("{SCOPE_LINEITEM} {SCOPE_SCORE}")),
            ])
            .send()
            .await
            .map_err(|e| JobError::retry(format!("the platform's token endpoint: {e}")))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = format!("the platform's token endpoint answered {status}: {body}");
            return Err(if status.is_client_error() {
                JobError::abort("lti_token_refused", message)
            } else {
                JobError::retry(message)
            });
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| JobError::retry(format!("the token endpoint answered no access_token: {body}")))?
            .to_owned();
        let lifetime = body.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
        let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(30));
        self.lti.grade_tokens.tokens.lock().await.insert(link.platform_id, (token.clone(), until));
        Ok(token)
    }

    async fn forget_token(&self, platform_id: Uuid) {
        self.lti.grade_tokens.tokens.lock().await.remove(&platform_id);
    }

    /// The link's line item: known, found by resource link in the container, or created there.
    async fn line_item(&self, pool: &PgPool, link: &Link, token: &str) -> Result<String, JobError> {
        if let Some(lineitem) = &link.lineitem_url {
            return Ok(lineitem.clone());
        }
        let container = link.lineitems_url.as_deref().ok_or_else(|| {
            JobError::abort("lti_no_line_item", "the platform gave neither a line item nor a container")
        })?;
        let mut search = url::Url::parse(container).map_err(|e| JobError::abort("lti_no_line_item", e.to_string()))?;
        search.query_pairs_mut().append_pair("resource_link_id", &link.resource_link_id);
        let found = self
            .lti
            .http
            .get(search)
            .bearer_auth(token)
            .header("accept", LINEITEMS_TYPE)
            .send()
            .await
            .map_err(|e| JobError::retry(format!("the platform's line items: {e}")))?;
        let found = check(found, "listing line items").await?;
        let resource_id = link.lesson_id.unwrap_or(link.course_id).to_string();
        let existing = found.as_array().and_then(|items| {
            items.iter().find_map(|item| {
                let ours = item.get("resourceLinkId").and_then(Value::as_str) == Some(link.resource_link_id.as_str())
                    || item.get("resourceId").and_then(Value::as_str) == Some(resource_id.as_str());
                if ours { item.get("id").and_then(Value::as_str).map(str::to_owned) } else { None }
            })
        });
        let lineitem = match existing {
            Some(id) => id,
            None => {
                let created = self
                    .lti
                    .http
                    .post(container)
                    .bearer_auth(token)
                    .header("content-type", LINEITEM_TYPE)
                    .header("accept", LINEITEM_TYPE)
                    .body(
                        json!({
                            "scoreMaximum": 100,
                            "label": link.label,
                            "resourceId": resource_id,
                            "resourceLinkId": link.resource_link_id,
                        })
                        .to_string(),
                    )
                    .send()
                    .await
                    .map_err(|e| JobError::retry(format!("creating the line item: {e}")))?;
                let created = check(created, "creating the line item").await?;
                created
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        JobError::abort("lti_no_line_item", format!("the new line item has no id: {created}"))
                    })?
                    .to_owned()
            }
        };
        sqlx::query!(
            r#"update lti_grade_link set lineitem_url = $2 where grade_link_id = $1"#,
            link.grade_link_id,
            lineitem
        )
        .execute(pool)
        .await
        .map_err(JobError::retry)?;
        Ok(lineitem)
    }
}

/// The JSON of a 2xx answer; a 401 retries (the token is dropped by the caller), other 4xx abort
/// with the platform's answer, 5xx retry.
async fn check(response: reqwest::Response, what: &str) -> Result<Value, JobError> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
    }
    let excerpt: String = text.chars().take(500).collect();
    let message = format!("{what}: the platform answered {status}: {excerpt}");
    if status.is_client_error() && status != reqwest::StatusCode::UNAUTHORIZED {
        Err(JobError::abort("lti_score_rejected", message))
    } else {
        Err(JobError::retry(message))
    }
}

/// `…/lineitem/7?x=1` → `…/lineitem/7/scores?x=1` (AGS §3.4: the scores URL is the line item's
/// URL with `/scores` appended to its path).
pub fn scores_url(lineitem: &str) -> Result<url::Url, url::ParseError> {
    let mut url = url::Url::parse(lineitem)?;
    let path = format!("{}/scores", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

#[async_trait]
impl JobHandler for SendScore {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    async fn run(&self, context: JobContext, payload: Value) -> Result<(), JobError> {
        let grade_link_id = payload
            .get("grade_link_id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| JobError::abort("bad_payload", "no grade_link_id"))?;
        let pool = &context.pool;
        // A link removed with its platform, course or account has nothing left to send.
        let Some(link) = link(pool, grade_link_id).await.map_err(JobError::retry)? else { return Ok(()) };
        let score = score_of(pool, link.account_id, link.course_id, link.lesson_id)
            .await
            .map_err(|e| JobError::retry(crate::error_chain(&e)))?;
        let Some(score) = score else { return Ok(()) };
        if link.sent_score == Some(score.given) && link.sent_final == Some(score.completed) {
            return Ok(());
        }
        let token = self.token(&link).await?;
        let lineitem = self.line_item(pool, &link, &token).await;
        let lineitem = match lineitem {
            Err(JobError::Retry(message)) if message.contains("401") => {
                self.forget_token(link.platform_id).await;
                return Err(JobError::Retry(message));
            }
            other => other?,
        };
        let url = scores_url(&lineitem).map_err(|e| JobError::abort("lti_no_line_item", e.to_string()))?;
        let body = score.body(&link.subject, OffsetDateTime::now_utc());
        let response = self
            .lti
            .http
            .post(url)
            .bearer_auth(&token)
            .header("content-type", SCORE_TYPE)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| JobError::retry(format!("posting the score: {e}")))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            self.forget_token(link.platform_id).await;
        }
        check(response, "posting the score").await?;
        sqlx::query!(
            r#"update lti_grade_link set sent_score = $2, sent_final = $3, sent_at = now() where grade_link_id = $1"#,
            link.grade_link_id,
            score.given,
            score.completed,
        )
        .execute(pool)
        .await
        .map_err(JobError::retry)?;
        tracing::info!(%grade_link_id, score = score.given, completed = score.completed, "score sent to the platform");
        Ok(())
    }
}

/// `lti.grade_sync`, periodic: queues a send for every link whose score moved since the
/// platform last accepted one.
pub struct GradeSync {
    every: Duration,
}

impl GradeSync {
    pub const KIND: &'static str = "lti.grade_sync";

    pub fn new(every: Duration) -> Self {
        Self { every }
    }
}

#[async_trait]
impl JobHandler for GradeSync {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn every(&self) -> Option<Duration> {
        Some(self.every)
    }

    async fn run(&self, context: JobContext, _payload: Value) -> Result<(), JobError> {
        let pool = &context.pool;
        let links = sqlx::query!(
            r#"
            select grade_link_id, account_id, course_id, lesson_id, sent_score, sent_final
            from lti_grade_link
            where sent_final is not true
            order by sent_at nulls first
            limit $1
            "#,
            SYNC_BATCH,
        )
        .fetch_all(pool)
        .await
        .map_err(JobError::retry)?;
        let mut queued = 0;
        for link in links {
            let score = score_of(pool, link.account_id, link.course_id, link.lesson_id)
                .await
                .map_err(|e| JobError::retry(crate::error_chain(&e)))?;
            if let Some(score) = score
                && (link.sent_score != Some(score.given) || link.sent_final != Some(score.completed))
            {
                enqueue_send(pool, link.grade_link_id).await.map_err(JobError::retry)?;
                queued += 1;
            }
        }
        if queued > 0 {
            tracing::info!(queued, "score sends queued for changed progress");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let at = time::macros::datetime!(2026-12-03 14:52:21.1234 +03:00);
        assert_eq!(timestamp(at), "2026-12-03T11:52:21.123Z");
        assert_eq!(timestamp(time::macros::datetime!(2026-01-02 03:04:05 UTC)), "2026-01-02T03:04:05.000Z");
    }

    #[test]
    fn the_scores_url_appends_to_the_path_and_keeps_the_query() {
        assert_eq!(
            scores_url("https://lms.example/api/lti/courses/1/line_items/7?type_id=2").expect("url").as_str(),
            "https://lms.example/api/lti/courses/1/line_items/7/scores?type_id=2"
        );
        assert_eq!(scores_url("https://lms.example/li/7/").expect("url").as_str(), "https://lms.example/li/7/scores");
    }

    #[test]
    fn pending_until_completed_then_fully_graded() {
        let at = time::macros::datetime!(2026-12-03 00:00 UTC);
        let start = Score { given: 0.0, completed: false }.body("u", at);
        assert_eq!(
            (start["activityProgress"].as_str(), start["gradingProgress"].as_str()),
            (Some("Initialized"), Some("Pending"))
        );
        let midway = Score { given: 42.5, completed: false }.body("u", at);
        assert_eq!(midway["activityProgress"], "InProgress");
        assert_eq!(midway["gradingProgress"], "Pending");
        let done = Score { given: 96.0, completed: true }.body("u", at);
        assert_eq!(
            (done["activityProgress"].as_str(), done["gradingProgress"].as_str()),
            (Some("Completed"), Some("FullyGraded"))
        );
        assert_eq!(done["scoreMaximum"], 100);
        assert_eq!(done["userId"], "u");
    }
}
