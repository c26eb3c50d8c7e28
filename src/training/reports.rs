//! What instructors read about their learners: the per-course progress report (streamed as CSV
//! or JSON, one learner per line, never held in memory whole) and a lesson's audience retention
//! (for each second, how many learners covered it), computed from the coverage bitmaps.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use utoipa::ToSchema;
use uuid::Uuid;

use super::TrainingError;
use super::courses::{self, LessonRow};
use super::coverage::{self, Coverage};

/// Lines buffered between the database cursor and the client.
const CHANNEL_LINES: usize = 64;

/// The report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// One learner's line of the report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LearnerLine {
    pub enrollment_id: Uuid,
    pub account_id: Uuid,
    pub email: String,
    pub attempt: i32,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub enrolled_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity_at: Option<OffsetDateTime>,
    pub lessons_completed: u32,
    /// Covered ratio of each lesson, in outline order (the report's `lessons` header).
    pub lessons: Vec<f64>,
}

/// Streams the report of a course: a header naming the lessons, then one line per enrolment
/// (every attempt), oldest first.
pub async fn progress_report(pool: PgPool, course_id: Uuid, format: Format) -> Result<Body, TrainingError> {
    let lessons = courses::lessons(&pool, course_id).await?;
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_LINES);
    tokio::spawn(async move {
        if let Err(error) = write_report(&pool, course_id, &lessons, format, &sender).await {
            tracing::warn!(%course_id, error = %crate::error_chain(&error), "the progress report stopped");
            let _ = sender.send(Err(std::io::Error::other("the report stopped"))).await;
        }
    });
    Ok(Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver)))
}

async fn write_report(
    pool: &PgPool,
    course_id: Uuid,
    lessons: &[LessonRow],
    format: Format,
    out: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), TrainingError> {
    let index: HashMap<Uuid, usize> = lessons.iter().enumerate().map(|(i, l)| (l.lesson_id, i)).collect();
    let seconds: Vec<u32> = lessons
        .iter()
        .map(|l| coverage::seconds_of(l.duration_ms.and_then(|d| u64::try_from(d).ok()).unwrap_or(0)))
        .collect();
    let send = |text: String| async move { out.send(Ok(Bytes::from(text))).await.is_ok() };
    let header = match format {
        Format::Csv => {
            let mut line = String::from(
                "enrollment_id,account_id,email,attempt,status,enrolled_at,completed_at,last_activity_at,lessons_completed",
            );
            for lesson in lessons {
                line.push(',');
                line.push_str(&csv_field(&lesson.title));
            }
            line.push('\n');
            line
        }
        Format::Json => {
            let heads: Vec<serde_json::Value> = lessons
                .iter()
                .map(|l| serde_json::json!({"lesson_id": l.lesson_id, "title": l.title, "required": l.required}))
                .collect();
            format!("{{\"course_id\":\"{course_id}\",\"lessons\":{},\"learners\":[\n", serde_json::Value::Array(heads))
        }
    };
    if !send(header).await {
        return Ok(());
    }
    let mut rows = sqlx::query!(
        r#"
        select e.enrollment_id, e.account_id, a.email, e.attempt, e.status, e.created_at, e.completed_at,
               p.lesson_id as "lesson_id?", p.covered_seconds as "covered_seconds?",
               p.completed_at as "lesson_completed_at?", p.position_at as "position_at?"
        from enrollment e
        join account a using (account_id)
        left join lesson_progress p using (enrollment_id)
        where e.course_id = $1
        order by e.created_at, e.enrollment_id
        "#,
        course_id,
    )
    .fetch(pool);
    let mut current: Option<LearnerLine> = None;
    let mut first = true;
    while let Some(row) = rows.try_next().await? {
        if current.as_ref().is_some_and(|line| line.enrollment_id != row.enrollment_id) {
            let line = current.take().expect("checked");
            if !send(render(&line, format, &mut first)).await {
                return Ok(());
            }
        }
        let line = current.get_or_insert_with(|| LearnerLine {
            enrollment_id: row.enrollment_id,
            account_id: row.account_id,
            email: row.email.clone(),
            attempt: row.attempt,
            status: row.status.clone(),
            enrolled_at: row.created_at,
            completed_at: row.completed_at,
            last_activity_at: None,
            lessons_completed: 0,
            lessons: vec![0.0; lessons.len()],
        });
        let Some(lesson_id) = row.lesson_id else { continue };
        let Some(&i) = index.get(&lesson_id) else { continue };
        let done = row.lesson_completed_at.is_some();
        line.lessons_completed += u32::from(done);
        line.lessons[i] = if lessons[i].kind() == courses::LessonKind::Video {
            let covered = u32::try_from(row.covered_seconds.unwrap_or(0)).unwrap_or(0).min(seconds[i]);
            if seconds[i] == 0 { 0.0 } else { f64::from(covered) / f64::from(seconds[i]) }
        } else if done {
            1.0
        } else {
            0.0
        };
        if let Some(at) = row.position_at {
            line.last_activity_at = Some(line.last_activity_at.map_or(at, |known| known.max(at)));
        }
    }
    if let Some(line) = current.take()
        && !send(render(&line, format, &mut first)).await
    {
        return Ok(());
    }
    if format == Format::Json {
        send("]}\n".to_owned()).await;
    }
    Ok(())
}

fn render(line: &LearnerLine, format: Format, first: &mut bool) -> String {
    match format {
        Format::Csv => {
            let rfc = |at: Option<OffsetDateTime>| {
                at.and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok()).unwrap_or_default()
            };
            let mut text = format!(
                "{},{},{},{},{},{},{},{},{}",
                line.enrollment_id,
                line.account_id,
                csv_field(&line.email),
                line.attempt,
                line.status,
                rfc(Some(line.enrolled_at)),
                rfc(line.completed_at),
                rfc(line.last_activity_at),
                line.lessons_completed,
            );
            for ratio in &line.lessons {
                text.push_str(&format!(",{ratio:.3}"));
            }
            text.push('\n');
            text
        }
        Format::Json => {
            let separator = if *first { "" } else { ",\n" };
            *first = false;
            format!("{separator}{}", serde_json::to_string(line).unwrap_or_else(|_| "null".to_owned()))
        }
    }
}

/// A CSV field, quoted when it must be; a leading `=`, `+`, `-` or `@` is prefixed with `'` so a
/// spreadsheet does not run a learner's text as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// A lesson's audience retention.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Retention {
    pub lesson_id: Uuid,
    pub duration_seconds: u32,
    /// Current enrolments (active or suspended) counted.
    pub learners: u32,
    /// For each second of the lesson, how many of them covered it.
    pub seconds: Vec<u32>,
}

pub async fn retention(pool: &PgPool, lesson: &LessonRow) -> Result<Retention, TrainingError> {
    let seconds = coverage::seconds_of(lesson.duration_ms.and_then(|d| u64::try_from(d).ok()).unwrap_or(0));
    let mut counts = vec![0u32; seconds as usize];
    let learners = sqlx::query_scalar!(
        r#"select count(*) as "n!" from enrollment where course_id = $1 and status in ('active', 'suspended')"#,
        lesson.course_id,
    )
    .fetch_one(pool)
    .await?;
    let mut rows = sqlx::query_scalar!(
        r#"
        select p.coverage from lesson_progress p join enrollment e using (enrollment_id)
        where p.lesson_id = $1 and e.status in ('active', 'suspended')
        "#,
        lesson.lesson_id,
    )
    .fetch(pool);
    while let Some(bytes) = rows.try_next().await? {
        Coverage::from_bytes(bytes).add_to(&mut counts);
    }
    Ok(Retention {
        lesson_id: lesson.lesson_id,
        duration_seconds: seconds,
        learners: u32::try_from(learners).unwrap_or(u32::MAX),
        seconds: counts,
    })
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
