//! The JSON shapes of courses, lessons, enrolments and a learner's progress, and the pure
//! assembly of a learner's outline, resume point and dashboard entry from stored rows.
//!
//! The learner's shapes are also GraphQL objects (`SimpleObject`, named without `View`), so the
//! GraphQL endpoint (`super::graphql`) answers with exactly the values REST answers with.

use std::collections::HashMap;

use async_graphql::SimpleObject;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::courses::{CourseRow, CourseStatus, LessonKind, LessonRow, SectionRow};
use super::coverage::{self, resume_position};
use super::enrollments::{EnrollmentRow, EnrollmentStatus};
use super::progress::LessonProgress;

/// Gaps listed per lesson at most (the first ones; a player jumps to the first).
const MAX_GAPS: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, SimpleObject)]
#[graphql(name = "Course")]
pub struct CourseView {
    pub course_id: Uuid,
    pub owner_id: Uuid,
    pub title: String,
    pub description: String,
    pub status: CourseStatus,
    /// Any signed-in learner may join it (`POST /v1/courses/{id}/join`).
    pub free: bool,
    /// Covered share that completes a lesson, unless the lesson sets its own.
    #[graphql(skip, derived(name = "completion_threshold", into = "f64", owned, with = "decimal"))]
    pub completion_threshold: f32,
    pub certificate_enabled: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub published_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<&CourseRow> for CourseView {
    fn from(row: &CourseRow) -> Self {
        Self {
            course_id: row.course_id,
            owner_id: row.owner_id,
            title: row.title.clone(),
            description: row.description.clone(),
            status: row.status(),
            free: row.free,
            completion_threshold: row.completion_threshold,
            certificate_enabled: row.certificate_enabled,
            published_at: row.published_at,
            archived_at: row.archived_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, SimpleObject)]
#[graphql(name = "LessonFields")]
pub struct LessonView {
    pub lesson_id: Uuid,
    pub section_id: Uuid,
    pub position: i32,
    pub title: String,
    pub kind: LessonKind,
    /// The video's asset (`video` lessons).
    pub asset_id: Option<Uuid>,
    /// The video's duration as of its latest published version.
    pub duration_ms: Option<i32>,
    /// The text (`text` lessons, Markdown).
    pub body: Option<String>,
    /// The link (`link` lessons).
    pub url: Option<String>,
    pub required: bool,
    /// Anyone signed in may watch it, enrolled or not.
    pub free_preview: bool,
    /// The lesson's own threshold; `null` uses the course's.
    #[graphql(skip, derived(name = "completion_threshold", into = "Option<f64>", owned, with = "optional_decimal"))]
    pub completion_threshold: Option<f32>,
}

impl From<&LessonRow> for LessonView {
    fn from(row: &LessonRow) -> Self {
        Self {
            lesson_id: row.lesson_id,
            section_id: row.section_id,
            position: row.position,
            title: row.title.clone(),
            kind: row.kind(),
            asset_id: row.asset_id,
            duration_ms: row.duration_ms,
            body: row.body.clone(),
            url: row.url.clone(),
            required: row.required,
            free_preview: row.free_preview,
            completion_threshold: row.completion_threshold,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SectionView {
    pub section_id: Uuid,
    pub title: String,
    pub position: i32,
    pub lessons: Vec<LessonView>,
}

/// A course with its sections and lessons in order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutlineView {
    pub course: CourseView,
    pub sections: Vec<SectionView>,
}

impl OutlineView {
    pub fn new(course: &CourseRow, sections: &[SectionRow], lessons: &[LessonRow]) -> Self {
        Self {
            course: CourseView::from(course),
            sections: sections
                .iter()
                .map(|section| SectionView {
                    section_id: section.section_id,
                    title: section.title.clone(),
                    position: section.position,
                    lessons: lessons
                        .iter()
                        .filter(|lesson| lesson.section_id == section.section_id)
                        .map(LessonView::from)
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, SimpleObject)]
#[graphql(name = "Enrollment")]
pub struct EnrollmentView {
    pub enrollment_id: Uuid,
    pub course_id: Uuid,
    pub account_id: Uuid,
    /// 1 for the first; a course assigned again starts the next.
    pub attempt: i32,
    pub status: EnrollmentStatus,
    pub source: String,
    pub enrolled_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    pub status_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&EnrollmentRow> for EnrollmentView {
    fn from(row: &EnrollmentRow) -> Self {
        Self {
            enrollment_id: row.enrollment_id,
            course_id: row.course_id,
            account_id: row.account_id,
            attempt: row.attempt,
            status: row.status(),
            source: row.source.clone(),
            enrolled_by: row.enrolled_by,
            expires_at: row.expires_at,
            status_reason: row.status_reason.clone(),
            completed_at: row.completed_at,
            ended_at: row.ended_at,
            created_at: row.created_at,
        }
    }
}

/// Where to pick the course up.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq, SimpleObject)]
pub struct ResumePoint {
    pub lesson_id: Uuid,
    pub position_ms: u64,
    /// Every required lesson is complete (the point is then the last lesson watched).
    pub course_completed: bool,
}

/// A learner's progress in one lesson.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, SimpleObject)]
#[graphql(name = "LessonProgress")]
pub struct LessonProgressView {
    pub covered_seconds: u32,
    pub duration_seconds: u32,
    pub covered_ratio: f64,
    /// The threshold in force for this lesson.
    #[graphql(skip, derived(name = "completion_threshold", into = "f64", owned, with = "decimal"))]
    pub completion_threshold: f32,
    pub completed: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<OffsetDateTime>,
    /// Uncovered stretches `[from_s, to_s)`, in order (at most 200): "finish what you skipped".
    pub gaps: Vec<[u32; 2]>,
    pub position_ms: u64,
    /// Time spent playing it, all devices.
    pub watch_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, SimpleObject)]
#[graphql(name = "LearnerLesson")]
pub struct LearnerLessonView {
    #[serde(flatten)]
    #[graphql(flatten)]
    pub lesson: LessonView,
    pub progress: LessonProgressView,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, SimpleObject)]
#[graphql(name = "LearnerSection")]
pub struct LearnerSectionView {
    pub section_id: Uuid,
    pub title: String,
    pub lessons: Vec<LearnerLessonView>,
}

/// Totals of a learner's progress in a course.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, SimpleObject)]
#[graphql(name = "CourseProgress")]
pub struct CourseProgressView {
    pub lessons_total: u32,
    pub lessons_completed: u32,
    pub required_total: u32,
    pub required_completed: u32,
    /// Covered seconds over the seconds of all video lessons.
    pub covered_ratio: f64,
    pub completed: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity_at: Option<OffsetDateTime>,
}

/// A course as a learner sees it: the outline with their progress, and where to resume.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, SimpleObject)]
#[graphql(name = "LearnerCourse")]
pub struct LearnerOutlineView {
    #[graphql(flatten)]
    pub course: CourseView,
    /// The current enrolment, else the latest; `null` when never enrolled (a catalogue view).
    pub enrollment: Option<EnrollmentView>,
    pub progress: CourseProgressView,
    pub resume: Option<ResumePoint>,
    pub sections: Vec<LearnerSectionView>,
}

/// One entry of `GET /v1/me/enrollments`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, SimpleObject)]
pub struct DashboardEntry {
    pub enrollment: EnrollmentView,
    pub course: CourseView,
    pub progress: CourseProgressView,
    /// Where to continue; `null` for a course without lessons.
    pub next: Option<ResumePoint>,
}

/// A stored `f32` as the decimal it was written as (0.9, not 0.8999999761581421): GraphQL's
/// Float is an `f64`, and REST's JSON writes an `f32`'s shortest form.
fn decimal(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

fn optional_decimal(value: Option<f32>) -> Option<f64> {
    value.map(decimal)
}

/// The effective threshold of a lesson.
pub fn threshold(course: &CourseRow, lesson: &LessonRow) -> f32 {
    lesson.completion_threshold.unwrap_or(course.completion_threshold)
}

fn duration_ms(lesson: &LessonRow) -> u64 {
    lesson.duration_ms.and_then(|d| u64::try_from(d).ok()).unwrap_or(0)
}

/// One lesson's progress view from its row (`None`: nothing reported yet).
pub fn lesson_progress(course: &CourseRow, lesson: &LessonRow, stored: Option<&LessonProgress>) -> LessonProgressView {
    let duration = duration_ms(lesson);
    let seconds = coverage::seconds_of(duration);
    let completed_at = stored.and_then(|p| p.completed_at);
    let (covered, ratio, gaps) = match (lesson.kind(), stored) {
        (LessonKind::Video, Some(p)) if !p.coverage.as_bytes().is_empty() || p.covered_seconds == 0 => {
            let covered = p.coverage.count_below(seconds);
            let mut gaps = p.coverage.gaps(seconds);
            gaps.truncate(MAX_GAPS);
            (covered, coverage::covered_ratio(&p.coverage, duration), gaps)
        }
        // Read without bitmaps: the stored count.
        (LessonKind::Video, Some(p)) => {
            let covered = p.covered_seconds.min(seconds);
            let ratio = if seconds == 0 { 0.0 } else { f64::from(covered) / f64::from(seconds) };
            (covered, ratio, Vec::new())
        }
        (LessonKind::Video, None) => (0, 0.0, if seconds > 0 { vec![[0, seconds]] } else { Vec::new() }),
        (_, _) => (0, if completed_at.is_some() { 1.0 } else { 0.0 }, Vec::new()),
    };
    LessonProgressView {
        covered_seconds: covered,
        duration_seconds: seconds,
        covered_ratio: ratio,
        completion_threshold: threshold(course, lesson),
        completed: completed_at.is_some(),
        completed_at,
        gaps,
        position_ms: stored.map_or(0, |p| p.position_ms),
        watch_ms: stored.map_or(0, |p| p.watch_ms),
    }
}

/// Totals over the course's lessons.
pub fn course_progress(
    course: &CourseRow,
    lessons: &[&LessonRow],
    progress: &HashMap<Uuid, &LessonProgress>,
    enrollment: Option<&EnrollmentRow>,
) -> CourseProgressView {
    let mut view = CourseProgressView::default();
    let (mut covered, mut seconds) = (0u64, 0u64);
    for lesson in lessons {
        let stored = progress.get(&lesson.lesson_id).copied();
        let done = stored.is_some_and(|p| p.completed_at.is_some());
        view.lessons_total += 1;
        view.lessons_completed += u32::from(done);
        if lesson.required {
            view.required_total += 1;
            view.required_completed += u32::from(done);
        }
        if lesson.kind() == LessonKind::Video {
            let lesson_seconds = coverage::seconds_of(duration_ms(lesson));
            seconds += u64::from(lesson_seconds);
            covered += u64::from(stored.map_or(0, |p| p.covered_seconds.min(lesson_seconds)));
        }
        if let Some(at) = stored.and_then(|p| p.position_at) {
            view.last_activity_at = Some(view.last_activity_at.map_or(at, |known| known.max(at)));
        }
    }
    let _ = course;
    view.covered_ratio = if seconds == 0 { 0.0 } else { covered as f64 / seconds as f64 };
    view.completed = enrollment.is_some_and(|e| e.completed_at.is_some());
    view
}

/// Where to resume: the lesson last reported from any device at its position rewound 3 s; when
/// that lesson is done (or ≥ 95 % through), the next incomplete lesson (after it, else from the
/// start) at 0. `None` for a course without lessons.
pub fn resume_point(
    lessons: &[&LessonRow],
    progress: &HashMap<Uuid, &LessonProgress>,
    course_completed: bool,
) -> Option<ResumePoint> {
    let first = lessons.first()?;
    let incomplete = |lesson: &&&LessonRow| progress.get(&lesson.lesson_id).is_none_or(|p| p.completed_at.is_none());
    let latest = lessons
        .iter()
        .enumerate()
        .filter_map(|(index, lesson)| {
            let stored = progress.get(&lesson.lesson_id)?;
            Some((index, stored.position_at?, *lesson, *stored))
        })
        .max_by_key(|(_, at, _, _)| *at);
    let Some((index, _, lesson, stored)) = latest else {
        let start = lessons.iter().find(incomplete).unwrap_or(first);
        return Some(ResumePoint { lesson_id: start.lesson_id, position_ms: 0, course_completed });
    };
    if let Some(position) = resume_position(stored.position_ms, duration_ms(lesson), stored.completed_at.is_some()) {
        return Some(ResumePoint { lesson_id: lesson.lesson_id, position_ms: position, course_completed });
    }
    let next = lessons[index + 1..].iter().find(incomplete).or_else(|| lessons[..index].iter().find(incomplete));
    Some(match next {
        Some(next) => ResumePoint { lesson_id: next.lesson_id, position_ms: 0, course_completed },
        None => ResumePoint { lesson_id: lesson.lesson_id, position_ms: 0, course_completed },
    })
}

/// A learner's outline of a course.
pub fn learner_outline(
    course: &CourseRow,
    sections: &[SectionRow],
    lessons: &[LessonRow],
    enrollment: Option<&EnrollmentRow>,
    stored: &[LessonProgress],
) -> LearnerOutlineView {
    let progress: HashMap<Uuid, &LessonProgress> = stored.iter().map(|p| (p.lesson_id, p)).collect();
    let ordered: Vec<&LessonRow> = lessons.iter().collect();
    let totals = course_progress(course, &ordered, &progress, enrollment);
    let resume = enrollment.and_then(|e| resume_point(&ordered, &progress, e.completed_at.is_some()));
    LearnerOutlineView {
        course: CourseView::from(course),
        enrollment: enrollment.map(EnrollmentView::from),
        progress: totals,
        resume,
        sections: sections
            .iter()
            .map(|section| LearnerSectionView {
                section_id: section.section_id,
                title: section.title.clone(),
                lessons: lessons
                    .iter()
                    .filter(|lesson| lesson.section_id == section.section_id)
                    .map(|lesson| LearnerLessonView {
                        lesson: LessonView::from(lesson),
                        progress: lesson_progress(course, lesson, progress.get(&lesson.lesson_id).copied()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson(n: u8, duration_ms: i32) -> LessonRow {
        LessonRow {
            lesson_id: Uuid::from_u128(u128::from(n)),
            course_id: Uuid::nil(),
            section_id: Uuid::nil(),
            position: i32::from(n),
            title: format!("lesson {n}"),
            kind: "video".into(),
            asset_id: None,
            duration_ms: Some(duration_ms),
            duration_version: Some(1),
            body: None,
            url: None,
            required: true,
            free_preview: false,
            completion_threshold: None,
        }
    }

    fn at(lesson: &LessonRow, position_ms: u64, seconds_ago: i64, completed: bool) -> LessonProgress {
        let when = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_000_000 - seconds_ago);
        LessonProgress {
            lesson_id: lesson.lesson_id,
            coverage: coverage::Coverage::default(),
            covered_seconds: 0,
            position_ms,
            position_at: Some(when),
            watch_ms: 0,
            completed_at: completed.then_some(when),
        }
    }

    #[test]
    fn resume_takes_the_latest_position_rewound() {
        let lessons = [lesson(0, 600_000), lesson(1, 600_000), lesson(2, 600_000)];
        let ordered: Vec<&LessonRow> = lessons.iter().collect();
        let stored = [at(&lessons[0], 100_000, 50, false), at(&lessons[1], 30_000, 10, false)];
        let map: HashMap<Uuid, &LessonProgress> = stored.iter().map(|p| (p.lesson_id, p)).collect();
        let point = resume_point(&ordered, &map, false).expect("a point");
        assert_eq!(
            point,
            ResumePoint { lesson_id: lessons[1].lesson_id, position_ms: 27_000, course_completed: false }
        );
    }

    #[test]
    fn resume_moves_on_from_a_finished_lesson_to_the_next_incomplete_one() {
        let lessons = [lesson(0, 600_000), lesson(1, 600_000), lesson(2, 600_000)];
        let ordered: Vec<&LessonRow> = lessons.iter().collect();
        // Lesson 1 nearly finished (96 %), lesson 2 already complete: lesson 0 is next.
        let stored = [at(&lessons[1], 576_000, 1, false), at(&lessons[2], 0, 100, true)];
        let map: HashMap<Uuid, &LessonProgress> = stored.iter().map(|p| (p.lesson_id, p)).collect();
        let point = resume_point(&ordered, &map, false).expect("a point");
        assert_eq!(point.lesson_id, lessons[0].lesson_id);
        assert_eq!(point.position_ms, 0);
    }

    #[test]
    fn resume_without_progress_starts_at_the_first_lesson() {
        let lessons = [lesson(0, 600_000), lesson(1, 600_000)];
        let ordered: Vec<&LessonRow> = lessons.iter().collect();
        let point = resume_point(&ordered, &HashMap::new(), false).expect("a point");
        assert_eq!(point.lesson_id, lessons[0].lesson_id);
        assert!(resume_point(&[], &HashMap::new(), false).is_none());
    }
}
