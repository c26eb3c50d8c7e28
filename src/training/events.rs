//! Training's webhook events, recorded in the caller's transaction through the webhooks outbox:
//! `enrollment.created`, `enrollment.suspended`, `enrollment.revoked`, `lesson.completed`,
//! `enrollment.completed` (and `certificate.issued`, from certificates). Never one per
//! heartbeat: only state changes make events.

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::TrainingError;
use super::courses::CourseRow;
use super::enrollments::EnrollmentRow;
use super::views::EnrollmentView;

fn course_ref(course_id: Uuid, title: &str) -> serde_json::Value {
    json!({ "course_id": course_id, "title": title })
}

/// An enrolment's state change, for the course owner's endpoints.
pub async fn enrollment(
    conn: &mut PgConnection,
    course: &CourseRow,
    row: &EnrollmentRow,
    event_type: &str,
) -> Result<(), TrainingError> {
    let data = json!({
        "enrollment": EnrollmentView::from(row),
        "course": course_ref(course.course_id, &course.title),
    });
    record(conn, course.owner_id, event_type, data).await?;
    Ok(())
}

/// A lesson completed by a learner; with `course_completed`, the enrolment too.
pub async fn completed(
    conn: &mut PgConnection,
    owner_id: Uuid,
    enrollment_id: Uuid,
    lesson_id: Option<Uuid>,
    course_completed: bool,
) -> Result<(), TrainingError> {
    let Some(enrollment) = super::enrollments::get(&mut *conn, enrollment_id).await? else { return Ok(()) };
    let course = super::courses::get(&mut *conn, enrollment.course_id).await?;
    let title = course.as_ref().map(|c| c.title.clone()).unwrap_or_default();
    if let Some(lesson_id) = lesson_id {
        let lesson = super::courses::lesson(&mut *conn, lesson_id).await?;
        let data = json!({
            "enrollment": EnrollmentView::from(&enrollment),
            "course": course_ref(enrollment.course_id, &title),
            "lesson": { "lesson_id": lesson_id, "title": lesson.map(|l| l.title) },
        });
        record(conn, owner_id, "lesson.completed", data).await?;
    }
    if course_completed {
        let data = json!({
            "enrollment": EnrollmentView::from(&enrollment),
            "course": course_ref(enrollment.course_id, &title),
        });
        record(conn, owner_id, "enrollment.completed", data).await?;
    }
    Ok(())
}

/// A certificate issued on course completion.
pub async fn certificate_issued(
    conn: &mut PgConnection,
    owner_id: Uuid,
    certificate: &super::certificates::StoredCertificate,
    issuer: &str,
) -> Result<(), TrainingError> {
    let data = json!({
        "certificate": {
            "certificate_id": certificate.certificate_id,
            "enrollment_id": certificate.enrollment_id,
            "course_id": certificate.course_id,
            "account_id": certificate.account_id,
            "verification_url": super::certificates::verification_url(issuer, certificate.certificate_id),
        },
    });
    record(conn, owner_id, "certificate.issued", data).await
}

/// Records an event for the course owner's endpoints in the caller's transaction.
async fn record(
    conn: &mut PgConnection,
    owner_id: Uuid,
    event_type: &str,
    data: serde_json::Value,
) -> Result<(), TrainingError> {
    crate::webhooks::dispatch::record_account_event(conn, owner_id, event_type, data).await?;
    Ok(())
}
