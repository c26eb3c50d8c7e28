//! All SQL of `course`, `course_section` and `lesson`: the catalogue an instructor builds, its
//! order, and its lifecycle (`draft → published → archived`). Every change that alters which
//! assets a course holds, or whether it is open, rewrites the course's collection in the access
//! seam ([`sync_access`]) in the same transaction.

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::TrainingError;
use crate::playback::access;

/// Where a course is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum CourseStatus {
    /// Being built: only its owner and administrators see it; nobody can be enrolled yet.
    Draft,
    /// Open: learners can be enrolled (or join a free course) and watch.
    Published,
    /// Closed to new enrolments; enrolled learners keep access and progress.
    Archived,
}

impl CourseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Archived => "archived",
        }
    }

    pub fn from_stored(raw: &str) -> Self {
        match raw {
            "published" => Self::Published,
            "archived" => Self::Archived,
            _ => Self::Draft,
        }
    }

    /// Whether its collection opens its lessons to enrolled learners.
    pub fn is_open(self) -> bool {
        self != Self::Draft
    }
}

/// What a lesson is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum LessonKind {
    /// A lecture video (an asset); completed by watching.
    Video,
    /// A text (Markdown); completed when the learner marks it read.
    Text,
    /// An external link; completed when the learner marks it done.
    Link,
}

impl LessonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Text => "text",
            Self::Link => "link",
        }
    }

    pub fn from_stored(raw: &str) -> Self {
        match raw {
            "text" => Self::Text,
            "link" => Self::Link,
            _ => Self::Video,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CourseRow {
    pub course_id: Uuid,
    pub owner_id: Uuid,
    pub title: String,
    pub description: String,
    pub status: String,
    pub free: bool,
    pub completion_threshold: f32,
    pub certificate_enabled: bool,
    pub published_at: Option<OffsetDateTime>,
    pub archived_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl CourseRow {
    pub fn status(&self) -> CourseStatus {
        CourseStatus::from_stored(&self.status)
    }
}

#[derive(Debug, Clone)]
pub struct SectionRow {
    pub section_id: Uuid,
    pub course_id: Uuid,
    pub title: String,
    pub position: i32,
}

#[derive(Debug, Clone)]
pub struct LessonRow {
    pub lesson_id: Uuid,
    pub course_id: Uuid,
    pub section_id: Uuid,
    pub position: i32,
    pub title: String,
    pub kind: String,
    pub asset_id: Option<Uuid>,
    pub duration_ms: Option<i32>,
    pub duration_version: Option<i32>,
    pub body: Option<String>,
    pub url: Option<String>,
    pub required: bool,
    pub free_preview: bool,
    pub completion_threshold: Option<f32>,
}

impl LessonRow {
    pub fn kind(&self) -> LessonKind {
        LessonKind::from_stored(&self.kind)
    }
}

/// A new course's fields (validated by the caller).
#[derive(Debug, Clone)]
pub struct NewCourse {
    pub title: String,
    pub description: String,
    pub free: bool,
    pub completion_threshold: f32,
    pub certificate_enabled: bool,
}

pub async fn create(conn: &mut PgConnection, owner_id: Uuid, new: &NewCourse) -> Result<CourseRow, TrainingError> {
    let row = sqlx::query_as!(
        CourseRow,
        r#"
        insert into course (owner_id, title, description, free, completion_threshold, certificate_enabled)
        values ($1, $2, $3, $4, $5, $6)
        returning course_id, owner_id, title, description, status, free, completion_threshold, certificate_enabled,
                  published_at, archived_at, created_at, updated_at
        "#,
        owner_id,
        new.title,
        new.description,
        new.free,
        new.completion_threshold,
        new.certificate_enabled,
    )
    .fetch_one(&mut *conn)
    .await?;
    access::open_collection(conn, row.course_id, owner_id, false).await?;
    Ok(row)
}

pub async fn get<'c>(executor: impl sqlx::PgExecutor<'c>, course_id: Uuid) -> Result<Option<CourseRow>, TrainingError> {
    Ok(sqlx::query_as!(
        CourseRow,
        r#"
        select course_id, owner_id, title, description, status, free, completion_threshold, certificate_enabled,
               published_at, archived_at, created_at, updated_at
        from course where course_id = $1
        "#,
        course_id,
    )
    .fetch_optional(executor)
    .await?)
}

/// One page of courses, newest first: those of `owner_id` (any status), or with `owner_id`
/// `None` those of `status` (the catalogue: published). `before` is the cursor.
pub async fn list(
    pool: &PgPool,
    owner_id: Option<Uuid>,
    status: Option<CourseStatus>,
    before: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<CourseRow>, TrainingError> {
    let (before_at, before_id) = before.unzip();
    Ok(sqlx::query_as!(
        CourseRow,
        r#"
        select course_id, owner_id, title, description, status, free, completion_threshold, certificate_enabled,
               published_at, archived_at, created_at, updated_at
        from course
        where ($1::uuid is null or owner_id = $1)
          and ($2::text is null or status = $2)
          and ($3::timestamptz is null or (created_at, course_id) < ($3, $4))
        order by created_at desc, course_id desc
        limit $5
        "#,
        owner_id,
        status.map(CourseStatus::as_str),
        before_at,
        before_id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// Changes to a course's fields; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct CoursePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub free: Option<bool>,
    pub completion_threshold: Option<f32>,
    pub certificate_enabled: Option<bool>,
}

pub async fn update(conn: &mut PgConnection, course_id: Uuid, patch: &CoursePatch) -> Result<CourseRow, TrainingError> {
    sqlx::query_as!(
        CourseRow,
        r#"
        update course set title = coalesce($2, title), description = coalesce($3, description),
                          free = coalesce($4, free), completion_threshold = coalesce($5, completion_threshold),
                          certificate_enabled = coalesce($6, certificate_enabled)
        where course_id = $1
        returning course_id, owner_id, title, description, status, free, completion_threshold, certificate_enabled,
                  published_at, archived_at, created_at, updated_at
        "#,
        course_id,
        patch.title,
        patch.description,
        patch.free,
        patch.completion_threshold,
        patch.certificate_enabled,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(TrainingError::CourseNotFound)
}

/// `draft → published` (needs at least one lesson) or `published → archived`; anything else is
/// `wrong_state`. Opens the course's collection on publication.
pub async fn transition(
    conn: &mut PgConnection,
    course_id: Uuid,
    to: CourseStatus,
) -> Result<CourseRow, TrainingError> {
    let course = get(&mut *conn, course_id).await?.ok_or(TrainingError::CourseNotFound)?;
    let from = course.status();
    match (from, to) {
        (CourseStatus::Draft, CourseStatus::Published) => {
            let lessons = sqlx::query_scalar!(r#"select count(*) as "n!" from lesson where course_id = $1"#, course_id)
                .fetch_one(&mut *conn)
                .await?;
            if lessons == 0 {
                return Err(TrainingError::WrongState("a course needs at least one lesson to be published".into()));
            }
        }
        (CourseStatus::Published, CourseStatus::Archived) => {}
        (from, to) if from == to => return Ok(course),
        (from, to) => {
            return Err(TrainingError::WrongState(format!("a {} course cannot become {}", from.as_str(), to.as_str())));
        }
    }
    let row = sqlx::query_as!(
        CourseRow,
        r#"
        update course set status = $2,
                          published_at = case when $2 = 'published' then now() else published_at end,
                          archived_at = case when $2 = 'archived' then now() else archived_at end
        where course_id = $1
        returning course_id, owner_id, title, description, status, free, completion_threshold, certificate_enabled,
                  published_at, archived_at, created_at, updated_at
        "#,
        course_id,
        to.as_str(),
    )
    .fetch_one(&mut *conn)
    .await?;
    sync_access(conn, &row).await?;
    Ok(row)
}

/// Deletes a draft course that never had an enrolment; `wrong_state` otherwise.
pub async fn delete(conn: &mut PgConnection, course_id: Uuid) -> Result<(), TrainingError> {
    let course = get(&mut *conn, course_id).await?.ok_or(TrainingError::CourseNotFound)?;
    let enrolled =
        sqlx::query_scalar!(r#"select exists(select 1 from enrollment where course_id = $1) as "e!""#, course_id)
            .fetch_one(&mut *conn)
            .await?;
    if course.status() != CourseStatus::Draft || enrolled {
        return Err(TrainingError::WrongState(
            "only a draft course without enrolments can be deleted; archive it instead".into(),
        ));
    }
    sqlx::query!("delete from course where course_id = $1", course_id).execute(&mut *conn).await?;
    access::delete_collection(conn, course_id).await?;
    Ok(())
}

/// Rewrites the course's collection in the access seam: open unless a draft, holding the assets
/// of its video lessons (free previews marked).
pub async fn sync_access(conn: &mut PgConnection, course: &CourseRow) -> Result<(), TrainingError> {
    let assets = sqlx::query!(
        r#"select asset_id as "asset_id!", free_preview from lesson where course_id = $1 and asset_id is not null"#,
        course.course_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    access::open_collection(conn, course.course_id, course.owner_id, course.status().is_open()).await?;
    let assets: Vec<(Uuid, bool)> = assets.into_iter().map(|row| (row.asset_id, row.free_preview)).collect();
    access::set_collection_assets(conn, course.course_id, &assets).await?;
    Ok(())
}

/// The sections of a course, in order.
pub async fn sections<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    course_id: Uuid,
) -> Result<Vec<SectionRow>, TrainingError> {
    Ok(sqlx::query_as!(
        SectionRow,
        "select section_id, course_id, title, position from course_section where course_id = $1 order by position",
        course_id,
    )
    .fetch_all(executor)
    .await?)
}

/// The lessons of a course in outline order (by section, then position).
pub async fn lessons<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    course_id: Uuid,
) -> Result<Vec<LessonRow>, TrainingError> {
    Ok(sqlx::query_as!(
        LessonRow,
        r#"
        select l.lesson_id, l.course_id, l.section_id, l.position, l.title, l.kind, l.asset_id, l.duration_ms,
               l.duration_version, l.body, l.url, l.required, l.free_preview, l.completion_threshold
        from lesson l join course_section s using (section_id)
        where l.course_id = $1
        order by s.position, l.position
        "#,
        course_id,
    )
    .fetch_all(executor)
    .await?)
}

pub async fn section<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    section_id: Uuid,
) -> Result<Option<SectionRow>, TrainingError> {
    Ok(sqlx::query_as!(
        SectionRow,
        "select section_id, course_id, title, position from course_section where section_id = $1",
        section_id,
    )
    .fetch_optional(executor)
    .await?)
}

pub async fn lesson<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    lesson_id: Uuid,
) -> Result<Option<LessonRow>, TrainingError> {
    Ok(sqlx::query_as!(
        LessonRow,
        r#"
        select lesson_id, course_id, section_id, position, title, kind, asset_id, duration_ms, duration_version,
               body, url, required, free_preview, completion_threshold
        from lesson where lesson_id = $1
        "#,
        lesson_id,
    )
    .fetch_optional(executor)
    .await?)
}

/// Appends a section at the end of the course.
pub async fn add_section(conn: &mut PgConnection, course_id: Uuid, title: &str) -> Result<SectionRow, TrainingError> {
    Ok(sqlx::query_as!(
        SectionRow,
        r#"
        insert into course_section (course_id, title, position)
        values ($1, $2, (select coalesce(max(position) + 1, 0) from course_section where course_id = $1))
        returning section_id, course_id, title, position
        "#,
        course_id,
        title,
    )
    .fetch_one(conn)
    .await?)
}

pub async fn rename_section(
    conn: &mut PgConnection,
    section_id: Uuid,
    title: &str,
) -> Result<SectionRow, TrainingError> {
    sqlx::query_as!(
        SectionRow,
        "update course_section set title = $2 where section_id = $1 returning section_id, course_id, title, position",
        section_id,
        title,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(TrainingError::SectionNotFound)
}

/// Deletes a section with its lessons (their progress goes with them), closes the gap in the
/// order, and rewrites the course's collection.
pub async fn delete_section(
    conn: &mut PgConnection,
    course: &CourseRow,
    section_id: Uuid,
) -> Result<(), TrainingError> {
    sqlx::query!("delete from course_section where section_id = $1", section_id).execute(&mut *conn).await?;
    sqlx::query!(
        r#"
        update course_section s set position = o.n - 1
        from (select section_id, row_number() over (order by position) as n from course_section where course_id = $1) o
        where s.section_id = o.section_id and s.position <> o.n - 1
        "#,
        course.course_id,
    )
    .execute(&mut *conn)
    .await?;
    sync_access(conn, course).await
}

/// A lesson's fields; for a video the duration snapshot comes from media.
#[derive(Debug, Clone)]
pub struct LessonFields {
    pub title: String,
    pub kind: LessonKind,
    pub asset_id: Option<Uuid>,
    pub duration_ms: Option<i32>,
    pub duration_version: Option<i32>,
    pub body: Option<String>,
    pub url: Option<String>,
    pub required: bool,
    pub free_preview: bool,
    pub completion_threshold: Option<f32>,
}

/// Appends a lesson at the end of `section`.
pub async fn add_lesson(
    conn: &mut PgConnection,
    course: &CourseRow,
    section_id: Uuid,
    fields: &LessonFields,
) -> Result<LessonRow, TrainingError> {
    let row = sqlx::query_as!(
        LessonRow,
        r#"
        insert into lesson (course_id, section_id, position, title, kind, asset_id, duration_ms, duration_version,
                            body, url, required, free_preview, completion_threshold)
        values ($1, $2, (select coalesce(max(position) + 1, 0) from lesson where section_id = $2),
                $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        returning lesson_id, course_id, section_id, position, title, kind, asset_id, duration_ms, duration_version,
                  body, url, required, free_preview, completion_threshold
        "#,
        course.course_id,
        section_id,
        fields.title,
        fields.kind.as_str(),
        fields.asset_id,
        fields.duration_ms,
        fields.duration_version,
        fields.body,
        fields.url,
        fields.required,
        fields.free_preview,
        fields.completion_threshold,
    )
    .fetch_one(&mut *conn)
    .await?;
    sync_access(conn, course).await?;
    Ok(row)
}

/// Replaces a lesson's fields (the caller merged the patch into the current ones).
pub async fn update_lesson(
    conn: &mut PgConnection,
    course: &CourseRow,
    lesson_id: Uuid,
    fields: &LessonFields,
) -> Result<LessonRow, TrainingError> {
    let row = sqlx::query_as!(
        LessonRow,
        r#"
        update lesson set title = $2, kind = $3, asset_id = $4, duration_ms = $5, duration_version = $6, body = $7,
                          url = $8, required = $9, free_preview = $10, completion_threshold = $11
        where lesson_id = $1
        returning lesson_id, course_id, section_id, position, title, kind, asset_id, duration_ms, duration_version,
                  body, url, required, free_preview, completion_threshold
        "#,
        lesson_id,
        fields.title,
        fields.kind.as_str(),
        fields.asset_id,
        fields.duration_ms,
        fields.duration_version,
        fields.body,
        fields.url,
        fields.required,
        fields.free_preview,
        fields.completion_threshold,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(TrainingError::LessonNotFound)?;
    sync_access(conn, course).await?;
    Ok(row)
}

pub async fn delete_lesson(
    conn: &mut PgConnection,
    course: &CourseRow,
    lesson: &LessonRow,
) -> Result<(), TrainingError> {
    sqlx::query!("delete from lesson where lesson_id = $1", lesson.lesson_id).execute(&mut *conn).await?;
    sqlx::query!(
        r#"
        update lesson l set position = o.n - 1
        from (select lesson_id, row_number() over (order by position) as n from lesson where section_id = $1) o
        where l.lesson_id = o.lesson_id and l.position <> o.n - 1
        "#,
        lesson.section_id,
    )
    .execute(&mut *conn)
    .await?;
    sync_access(conn, course).await
}

/// Puts the whole course in the order given: every section once, every lesson once, each lesson
/// under the section it is listed in (so lessons can move between sections).
pub async fn reorder(
    conn: &mut PgConnection,
    course_id: Uuid,
    order: &[(Uuid, Vec<Uuid>)],
) -> Result<(), TrainingError> {
    let sections = sections(&mut *conn, course_id).await?;
    let lessons = lessons(&mut *conn, course_id).await?;
    let mut given_sections: Vec<Uuid> = order.iter().map(|(section, _)| *section).collect();
    let mut given_lessons: Vec<Uuid> = order.iter().flat_map(|(_, lessons)| lessons.iter().copied()).collect();
    let mut known_sections: Vec<Uuid> = sections.iter().map(|s| s.section_id).collect();
    let mut known_lessons: Vec<Uuid> = lessons.iter().map(|l| l.lesson_id).collect();
    for list in [&mut given_sections, &mut given_lessons, &mut known_sections, &mut known_lessons] {
        list.sort_unstable();
    }
    if given_sections != known_sections || given_lessons != known_lessons {
        return Err(TrainingError::InvalidField(
            "the order must list every section of the course once, and every lesson once".into(),
        ));
    }
    // The unique (…, position) constraints are deferred, so positions may collide until commit.
    for (section_position, (section_id, lesson_ids)) in order.iter().enumerate() {
        let section_position = i32::try_from(section_position).unwrap_or(i32::MAX);
        sqlx::query!("update course_section set position = $2 where section_id = $1", section_id, section_position)
            .execute(&mut *conn)
            .await?;
        for (position, lesson_id) in lesson_ids.iter().enumerate() {
            let position = i32::try_from(position).unwrap_or(i32::MAX);
            sqlx::query!(
                "update lesson set section_id = $2, position = $3 where lesson_id = $1",
                lesson_id,
                section_id,
                position,
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Video lessons with an asset: `(lesson_id, asset_id, duration_version)`, for the duration
/// refresh.
pub async fn video_lessons(pool: &PgPool) -> Result<Vec<(Uuid, Uuid, Option<i32>)>, TrainingError> {
    let rows = sqlx::query!(
        r#"select lesson_id, asset_id as "asset_id!", duration_version from lesson where kind = 'video' and asset_id is not null"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| (row.lesson_id, row.asset_id, row.duration_version)).collect())
}

/// Sets the duration snapshot of the lessons of `asset_id` taken from an older version.
pub async fn set_duration<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    asset_id: Uuid,
    version: i32,
    duration_ms: i32,
) -> Result<u64, TrainingError> {
    let done = sqlx::query!(
        r#"
        update lesson set duration_ms = $3, duration_version = $2
        where asset_id = $1 and kind = 'video' and (duration_version is null or duration_version < $2)
        "#,
        asset_id,
        version,
        duration_ms,
    )
    .execute(executor)
    .await?;
    Ok(done.rows_affected())
}
