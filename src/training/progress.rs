//! All SQL of `lesson_progress` and `progress_stream`: progress reports from players, applied
//! under the plausibility rule of [`super::coverage`], and completion.
//!
//! A report reads its playback session, the session's stream and the lesson's progress in one
//! statement and writes both back in one more, each row only if it is still as it was read
//! ([`Concurrency`]): no transaction, two statements. A report that lost a race to
//! another device reads again; one that completes the lesson (and one that lost three times)
//! runs in a transaction holding the learner's enrolment row, so completions apply one at a
//! time and a course's completion check sees every lesson completed before it.
//! A `seq` the stream has answered gets that answer again and changes nothing; a lesson's
//! `completed_at` and an enrolment's are set once and never cleared.

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::TrainingError;
use super::coverage::{self, Coverage, Span};
use super::enrollments;
use crate::playback::PlaybackError;

/// Answers a stream keeps for replays.
const REMEMBERED_ANSWERS: usize = 8;

/// One report from a player (validated by the route).
#[derive(Debug, Clone)]
pub struct Report {
    pub seq: u64,
    pub position_ms: u64,
    pub playing: bool,
    pub visible: bool,
    pub spans: Vec<Span>,
}

/// What the server made of a report: the lesson's progress after it. A replayed `seq` gets the
/// same answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportAnswer {
    pub seq: u64,
    pub lesson_id: Uuid,
    /// Seconds of the lesson covered so far (all devices, all sessions).
    pub covered_seconds: u32,
    pub duration_seconds: u32,
    /// `covered_seconds / duration_seconds`.
    pub covered_ratio: f64,
    /// Seconds this report added.
    pub newly_covered_seconds: u32,
    /// Reported time this report could not add: more than the wall time since the previous
    /// report allows (a seek is not watching).
    pub clipped_ms: u64,
    /// The position kept for resuming.
    pub position_ms: u64,
    pub lesson_completed: bool,
    pub course_completed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Remembered {
    seq: u64,
    answer: ReportAnswer,
}

/// What a report changed beyond the lesson's numbers, for events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Completions {
    pub lesson_completed_now: bool,
    pub course_completed_now: bool,
}

/// The facts of a completion, for events and certificates.
#[derive(Debug, Clone, Copy)]
pub struct Completed {
    pub enrollment_id: Uuid,
    pub lesson_id: Uuid,
    pub course_id: Uuid,
    pub owner_id: Uuid,
    pub completions: Completions,
}

/// How [`record`] keeps concurrent reports of one learner from losing each other's coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Inside the caller's transaction, holding the enrolment row's lock (the path of
    /// completions). Its guarded write can still lose to an optimistic one; it then reads again
    /// under the lock.
    Locked,
    /// Without a transaction: the write applies only if neither the lesson's progress nor the
    /// stream changed since they were read, else nothing is written and `record` answers
    /// `None` (read again, or take the lock). Also `None` when the report completes the lesson,
    /// which needs the lock. Two statements instead of four for the common report.
    Optimistic,
}

/// Applies one report of the lesson session `session_id` (its token already checked).
/// `playback_session_not_found`, `not_a_lesson_session`, `playback_session_revoked`, or
/// `playback_session_expired` once the session ended more than `grace` ago; `not_enrolled` unless
/// the account has an active enrolment in the lesson's course. A `seq` the stream remembers gets
/// its answer again; an older one counts its spans only (see the body). `None` when nothing was
/// written: read again (under a held lock, the second read always applies).
///
/// The session's row is read in the same statement as the progress (one round trip fewer per
/// report than asking playback first): the one place training reads a playback table, read-only.
pub async fn record(
    conn: &mut PgConnection,
    session_id: Uuid,
    report: &Report,
    grace: time::Duration,
    concurrency: Concurrency,
) -> Result<Option<(ReportAnswer, Completed)>, TrainingError> {
    if concurrency == Concurrency::Locked {
        // Held to the end of the caller's transaction: the learner's reports that complete
        // something apply one at a time, so two lessons completed at once on two devices still
        // see each other when the course's completion is checked.
        sqlx::query_scalar!(
            r#"
            select e.enrollment_id
            from playback_session ps
            join lesson l on l.lesson_id = ps.context_id
            join enrollment e on e.course_id = l.course_id and e.account_id = ps.account_id
                             and e.status in ('active', 'suspended')
            where ps.session_id = $1
            for update of e
            "#,
            session_id,
        )
        .fetch_optional(&mut *conn)
        .await?;
    }
    let row = sqlx::query!(
        r#"
        select now() as "now!", ps.context_id, ps.version as "version!", ps.created_at as "session_started!",
               ps.expires_at as "session_expires_at!", ps.revoked_at,
               e.enrollment_id as "enrollment_id?", e.status as "status?", e.expires_at as "expires_at?",
               e.completed_at as "enrollment_completed_at?",
               l.course_id as "course_id?", l.kind as "kind?", l.duration_ms as "duration_ms?",
               l.duration_version as "duration_version?", l.asset_id as "asset_id?",
               coalesce(l.completion_threshold, c.completion_threshold) as "threshold?", c.owner_id as "owner_id?",
               s.enrollment_id as "stream_enrollment?", s.last_seq as "last_seq?",
               s.last_report_at as "last_report_at?", s.credit_ms as "credit_ms?", s.answers as "answers?",
               p.coverage as "coverage?", p.position_ms as "position_ms?", p.completed_at as "completed_at?",
               p.updated_at as "progress_updated_at?"
        from playback_session ps
        left join lesson l on l.lesson_id = ps.context_id
        left join course c on c.course_id = l.course_id
        left join enrollment e on e.course_id = l.course_id and e.account_id = ps.account_id
                              and e.status in ('active', 'suspended')
        left join progress_stream s on s.session_id = ps.session_id
        left join lesson_progress p on p.enrollment_id = e.enrollment_id and p.lesson_id = l.lesson_id
        where ps.session_id = $1
        "#,
        session_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(PlaybackError::SessionNotFound)?;
    let lesson_id = row.context_id.ok_or(TrainingError::NotALessonSession)?;
    if row.revoked_at.is_some() {
        return Err(PlaybackError::SessionRevoked.into());
    }
    if row.session_expires_at + grace <= row.now {
        return Err(PlaybackError::SessionExpired.into());
    }
    let (Some(enrollment_id), Some(status), Some(course_id), Some(kind), Some(threshold), Some(owner_id)) =
        (row.enrollment_id, row.status.as_deref(), row.course_id, row.kind.as_deref(), row.threshold, row.owner_id)
    else {
        return Err(TrainingError::NotEnrolled);
    };
    let lapsed = row.expires_at.is_some_and(|at| at <= row.now);
    if status != "active" || lapsed || row.stream_enrollment.is_some_and(|id| id != enrollment_id) {
        return Err(TrainingError::NotEnrolled);
    }
    let completed_base =
        Completed { enrollment_id, lesson_id, course_id, owner_id, completions: Completions::default() };
    let remembered: Vec<Remembered> = match &row.answers {
        Some(answers) => serde_json::from_value(answers.clone()).map_err(|e| TrainingError::Corrupt(e.to_string()))?,
        None => Vec::new(),
    };
    if let Some(replayed) = remembered.iter().find(|r| r.seq == report.seq) {
        return Ok(Some((replayed.answer.clone(), completed_base)));
    }
    // A report that arrives after a later one (two requests overtaking each other), or a replay
    // of one too old to be remembered: its spans still count — coverage is a union, so a second
    // application adds nothing — but it moves neither the position nor the clock, and adds no
    // watch time.
    let last_seq = row.last_seq.and_then(|seq| u64::try_from(seq).ok());
    let late = last_seq.is_some_and(|last| report.seq < last);
    let mut duration_ms = row.duration_ms.and_then(|d| u64::try_from(d).ok()).unwrap_or(0);
    if let Some(asset_id) = row.asset_id
        && row.duration_version.is_none_or(|v| v < row.version)
        && let Some(current) = refresh_duration(&mut *conn, asset_id).await?
    {
        duration_ms = current;
    }
    let previous_at = row.last_report_at.unwrap_or(row.session_started);
    let wall_ms =
        if late { 0 } else { u64::try_from((row.now - previous_at).whole_milliseconds().max(0)).unwrap_or(u64::MAX) };
    let credit = row.credit_ms.and_then(|c| u64::try_from(c).ok()).unwrap_or(coverage::INITIAL_CREDIT_MS);
    let mut bits = Coverage::from_bytes(row.coverage.unwrap_or_default());
    let mut applied = if kind == "video" {
        coverage::apply(&mut bits, &report.spans, report.visible, credit, wall_ms, duration_ms)
    } else {
        coverage::Applied { credit_ms: credit, ..coverage::Applied::default() }
    };
    let seconds = coverage::seconds_of(duration_ms);
    let covered = bits.count_below(seconds);
    let ratio = coverage::covered_ratio(&bits, duration_ms);
    let was_completed = row.completed_at.is_some();
    let completes_now = !was_completed && seconds > 0 && ratio + 1e-9 >= f64::from(threshold);
    let reported =
        if late { row.position_ms.and_then(|p| u64::try_from(p).ok()).unwrap_or(0) } else { report.position_ms };
    let position_ms = if duration_ms > 0 { reported.min(duration_ms) } else { reported };
    if late {
        applied.watch_ms = 0;
    }
    let answer_base = ReportAnswer {
        seq: report.seq,
        lesson_id,
        covered_seconds: covered,
        duration_seconds: seconds,
        covered_ratio: ratio,
        newly_covered_seconds: applied.covered_s,
        clipped_ms: applied.clipped_ms,
        position_ms,
        lesson_completed: was_completed || completes_now,
        course_completed: row.enrollment_completed_at.is_some(),
    };
    let mut completions = Completions { lesson_completed_now: completes_now, course_completed_now: false };
    // The write: the lesson's progress and the stream, in one statement.
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut answer = answer_base;
    let remember = |answer: &ReportAnswer| -> Result<serde_json::Value, TrainingError> {
        let mut kept: Vec<Remembered> = remembered.clone();
        if !late {
            kept.push(Remembered { seq: report.seq, answer: answer.clone() });
        }
        let skip = kept.len().saturating_sub(REMEMBERED_ANSWERS);
        serde_json::to_value(&kept[skip..]).map_err(|e| TrainingError::Corrupt(e.to_string()))
    };
    let progress = ProgressWrite {
        enrollment_id,
        lesson_id,
        coverage: bits.as_bytes(),
        covered_seconds: i32::try_from(covered).unwrap_or(i32::MAX),
        position_ms: i32::try_from(position_ms).unwrap_or(i32::MAX),
        at: row.now,
        watch_ms: to_i64(applied.watch_ms),
        clipped_ms: to_i64(applied.clipped_ms),
        completes_now,
    };
    let stream = StreamWrite {
        session_id,
        enrollment_id,
        lesson_id,
        seq: to_i64(if late { last_seq.unwrap_or(report.seq) } else { report.seq }),
        at: if late { previous_at } else { row.now },
        credit_ms: to_i64(applied.credit_ms),
    };
    if completes_now && concurrency == Concurrency::Optimistic {
        return Ok(None);
    }
    if completes_now {
        // Rare: completion needs the lesson's row written before the course is checked.
        write_progress(&mut *conn, &progress).await?;
        if course_complete(&mut *conn, enrollment_id, course_id).await? {
            completions.course_completed_now = enrollments::mark_completed(&mut *conn, enrollment_id).await?;
            answer.course_completed = true;
        }
        write_stream(&mut *conn, &stream, remember(&answer)?).await?;
    } else {
        // The common report: both rows in one statement.
        let guards = Guards { progress_updated_at: row.progress_updated_at, last_seq: row.last_seq };
        let (progress_written, stream_written) =
            write_both(&mut *conn, &progress, &stream, remember(&answer)?, &guards).await?;
        if !progress_written {
            // Someone wrote since our read: read again.
            return Ok(None);
        }
        if !stream_written {
            // Another report of this very session (one player sending two at once) moved the
            // stream between our read and write: our coverage is in, its clock and seq are not.
            tracing::debug!(session_id = %session_id, "a concurrent report of the session moved its stream");
        }
    }
    Ok(Some((answer, Completed { completions, ..completed_base })))
}

/// The lesson's duration from the asset's current version, written into every lesson of that
/// asset; `None` when the asset has none.
async fn refresh_duration(conn: &mut PgConnection, asset_id: Uuid) -> Result<Option<u64>, TrainingError> {
    let Some(current) = crate::media::versions::current_durations(&mut *conn, &[asset_id]).await?.pop() else {
        return Ok(None);
    };
    let ms = i32::try_from(current.duration_ms).unwrap_or(i32::MAX);
    super::courses::set_duration(&mut *conn, asset_id, current.version, ms).await?;
    Ok(u64::try_from(current.duration_ms).ok())
}

struct ProgressWrite<'a> {
    enrollment_id: Uuid,
    lesson_id: Uuid,
    coverage: &'a [u8],
    covered_seconds: i32,
    position_ms: i32,
    at: OffsetDateTime,
    watch_ms: i64,
    clipped_ms: i64,
    completes_now: bool,
}

struct StreamWrite {
    session_id: Uuid,
    enrollment_id: Uuid,
    lesson_id: Uuid,
    seq: i64,
    at: OffsetDateTime,
    credit_ms: i64,
}

async fn write_progress(conn: &mut PgConnection, p: &ProgressWrite<'_>) -> Result<(), TrainingError> {
    sqlx::query!(
        r#"
        insert into lesson_progress (enrollment_id, lesson_id, coverage, covered_seconds, position_ms, position_at,
                                     watch_ms, clipped_ms, completed_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, case when $9 then $6::timestamptz end)
        on conflict (enrollment_id, lesson_id) do update
        set coverage = excluded.coverage, covered_seconds = excluded.covered_seconds,
            position_ms = excluded.position_ms, position_at = excluded.position_at,
            watch_ms = lesson_progress.watch_ms + excluded.watch_ms,
            clipped_ms = lesson_progress.clipped_ms + excluded.clipped_ms,
            completed_at = coalesce(lesson_progress.completed_at, excluded.completed_at),
            updated_at = excluded.position_at
        "#,
        p.enrollment_id,
        p.lesson_id,
        p.coverage,
        p.covered_seconds,
        p.position_ms,
        p.at,
        p.watch_ms,
        p.clipped_ms,
        p.completes_now,
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn write_stream(
    conn: &mut PgConnection,
    s: &StreamWrite,
    answers: serde_json::Value,
) -> Result<(), TrainingError> {
    sqlx::query!(
        r#"
        insert into progress_stream (session_id, enrollment_id, lesson_id, last_seq, last_report_at, credit_ms, answers)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (session_id) do update
        set last_seq = excluded.last_seq, last_report_at = excluded.last_report_at, credit_ms = excluded.credit_ms,
            answers = excluded.answers
        "#,
        s.session_id,
        s.enrollment_id,
        s.lesson_id,
        s.seq,
        s.at,
        s.credit_ms,
        answers,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What the rows looked like when a report read them.
struct Guards {
    progress_updated_at: Option<OffsetDateTime>,
    last_seq: Option<i64>,
}

/// [`write_progress`] (without completion) and [`write_stream`] in one statement (one round
/// trip), each only if its row is still as the report read it (a missing row must still be
/// missing), and the stream only with the progress. Returns what was written.
async fn write_both(
    conn: &mut PgConnection,
    p: &ProgressWrite<'_>,
    s: &StreamWrite,
    answers: serde_json::Value,
    guards: &Guards,
) -> Result<(bool, bool), TrainingError> {
    let written = sqlx::query!(
        r#"
        with progress as (
            insert into lesson_progress (enrollment_id, lesson_id, coverage, covered_seconds, position_ms,
                                         position_at, watch_ms, clipped_ms, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $6)
            on conflict (enrollment_id, lesson_id) do update
            set coverage = excluded.coverage, covered_seconds = excluded.covered_seconds,
                position_ms = excluded.position_ms, position_at = excluded.position_at,
                watch_ms = lesson_progress.watch_ms + excluded.watch_ms,
                clipped_ms = lesson_progress.clipped_ms + excluded.clipped_ms,
                updated_at = excluded.position_at
            where lesson_progress.updated_at = $13
            returning 1
        ), stream as (
            insert into progress_stream (session_id, enrollment_id, lesson_id, last_seq, last_report_at, credit_ms,
                                         answers)
            select $9, $1, $2, $10, $6, $11, $12 where exists (select 1 from progress)
            on conflict (session_id) do update
            set last_seq = excluded.last_seq, last_report_at = excluded.last_report_at,
                credit_ms = excluded.credit_ms, answers = excluded.answers
            where progress_stream.last_seq = $14
            returning 1
        )
        select exists (select 1 from progress) as "progress!", exists (select 1 from stream) as "stream!"
        "#,
        p.enrollment_id,
        p.lesson_id,
        p.coverage,
        p.covered_seconds,
        p.position_ms,
        p.at,
        p.watch_ms,
        p.clipped_ms,
        s.session_id,
        s.seq,
        s.credit_ms,
        answers,
        guards.progress_updated_at,
        guards.last_seq,
    )
    .fetch_one(conn)
    .await?;
    Ok((written.progress, written.stream))
}

/// Marks a text or link lesson done for the learner's active enrolment.
pub async fn complete_manually(
    conn: &mut PgConnection,
    lesson_id: Uuid,
    account_id: Uuid,
) -> Result<Completed, TrainingError> {
    let row = sqlx::query!(
        r#"
        select e.enrollment_id, e.status, l.course_id, l.kind, c.owner_id
        from lesson l join course c using (course_id)
        join enrollment e on e.course_id = l.course_id and e.account_id = $2 and e.status in ('active', 'suspended')
        where l.lesson_id = $1
        "#,
        lesson_id,
        account_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(TrainingError::NotEnrolled)?;
    if row.status != "active" {
        return Err(TrainingError::NotEnrolled);
    }
    if row.kind == "video" {
        return Err(TrainingError::WrongState("a video lesson completes by being watched".into()));
    }
    let done = sqlx::query!(
        r#"
        insert into lesson_progress (enrollment_id, lesson_id, completed_at, position_at) values ($1, $2, now(), now())
        on conflict (enrollment_id, lesson_id) do update
        set completed_at = coalesce(lesson_progress.completed_at, now()), position_at = now()
        returning completed_at = now() as "now!"
        "#,
        row.enrollment_id,
        lesson_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut completions = Completions { lesson_completed_now: done.now, course_completed_now: false };
    if done.now && course_complete(&mut *conn, row.enrollment_id, row.course_id).await? {
        completions.course_completed_now = enrollments::mark_completed(&mut *conn, row.enrollment_id).await?;
    }
    Ok(Completed {
        enrollment_id: row.enrollment_id,
        lesson_id,
        course_id: row.course_id,
        owner_id: row.owner_id,
        completions,
    })
}

/// Whether every required lesson of the course (every lesson, when none is required) is complete
/// for the enrolment.
async fn course_complete(conn: &mut PgConnection, enrollment_id: Uuid, course_id: Uuid) -> Result<bool, TrainingError> {
    let row = sqlx::query!(
        r#"
        select count(*) filter (where l.required) as "required!",
               count(*) filter (where l.required and p.completed_at is not null) as "required_done!",
               count(*) as "all!",
               count(p.completed_at) as "all_done!"
        from lesson l left join lesson_progress p on p.lesson_id = l.lesson_id and p.enrollment_id = $1
        where l.course_id = $2
        "#,
        enrollment_id,
        course_id,
    )
    .fetch_one(conn)
    .await?;
    Ok(if row.required > 0 { row.required_done == row.required } else { row.all > 0 && row.all_done == row.all })
}

/// One lesson's progress in one enrolment, as stored.
#[derive(Debug, Clone)]
pub struct LessonProgress {
    pub lesson_id: Uuid,
    /// Empty unless read with coverage.
    pub coverage: Coverage,
    pub covered_seconds: u32,
    pub position_ms: u64,
    pub position_at: Option<OffsetDateTime>,
    pub watch_ms: u64,
    pub completed_at: Option<OffsetDateTime>,
}

/// The progress rows of an enrolment, with their bitmaps when `with_coverage`.
pub async fn for_enrollment(
    pool: &PgPool,
    enrollment_id: Uuid,
    with_coverage: bool,
) -> Result<Vec<LessonProgress>, TrainingError> {
    let rows = sqlx::query!(
        r#"
        select lesson_id, case when $2 then coverage else '\x'::bytea end as "coverage!", covered_seconds,
               position_ms, position_at, watch_ms, completed_at
        from lesson_progress where enrollment_id = $1
        "#,
        enrollment_id,
        with_coverage,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| LessonProgress {
            lesson_id: row.lesson_id,
            coverage: Coverage::from_bytes(row.coverage),
            covered_seconds: u32::try_from(row.covered_seconds).unwrap_or(0),
            position_ms: u64::try_from(row.position_ms).unwrap_or(0),
            position_at: row.position_at,
            watch_ms: u64::try_from(row.watch_ms).unwrap_or(0),
            completed_at: row.completed_at,
        })
        .collect())
}

/// One lesson of an enrolment's outline with its stored progress, as the outline queries read it.
struct OutlineRow {
    enrollment_id: Uuid,
    course_id: Uuid,
    enrollment_completed_at: Option<OffsetDateTime>,
    lesson_id: Option<Uuid>,
    section_id: Option<Uuid>,
    position: Option<i32>,
    kind: Option<String>,
    duration_ms: Option<i32>,
    duration_version: Option<i32>,
    required: Option<bool>,
    free_preview: Option<bool>,
    completion_threshold: Option<f32>,
    covered_seconds: Option<i32>,
    position_ms: Option<i32>,
    position_at: Option<OffsetDateTime>,
    watch_ms: Option<i64>,
    completed_at: Option<OffsetDateTime>,
    progress_lesson: Option<Uuid>,
}

/// A lesson (only what progress needs: no title, text or link) and its progress, if any.
pub type LessonWithProgress = (super::courses::LessonRow, Option<LessonProgress>);

impl OutlineRow {
    fn split(self) -> Option<LessonWithProgress> {
        let lesson_id = self.lesson_id?;
        let lesson = super::courses::LessonRow {
            lesson_id,
            course_id: self.course_id,
            section_id: self.section_id?,
            position: self.position?,
            title: String::new(),
            kind: self.kind?,
            asset_id: None,
            duration_ms: self.duration_ms,
            duration_version: self.duration_version,
            body: None,
            url: None,
            required: self.required?,
            free_preview: self.free_preview?,
            completion_threshold: self.completion_threshold,
        };
        let progress = self.progress_lesson.map(|_| LessonProgress {
            lesson_id,
            coverage: Coverage::default(),
            covered_seconds: self.covered_seconds.and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
            position_ms: self.position_ms.and_then(|p| u64::try_from(p).ok()).unwrap_or(0),
            position_at: self.position_at,
            watch_ms: self.watch_ms.and_then(|w| u64::try_from(w).ok()).unwrap_or(0),
            completed_at: self.completed_at,
        });
        Some((lesson, progress))
    }
}

/// The learner's current enrolment in a course with every lesson in outline order and its
/// stored progress (without bitmaps), in one query: what a resume point needs. `None` when the
/// learner has no current enrolment; else whether it is completed, and the lessons.
pub async fn current_outline(
    pool: &PgPool,
    course_id: Uuid,
    account_id: Uuid,
) -> Result<Option<(bool, Vec<LessonWithProgress>)>, TrainingError> {
    let rows = sqlx::query_as!(
        OutlineRow,
        r#"
        select e.enrollment_id, e.course_id, e.completed_at as enrollment_completed_at,
               l.lesson_id as "lesson_id?", l.section_id as "section_id?", l.position as "position?",
               l.kind as "kind?", l.duration_ms, l.duration_version, l.required as "required?",
               l.free_preview as "free_preview?", l.completion_threshold,
               p.covered_seconds as "covered_seconds?", p.position_ms as "position_ms?", p.position_at,
               p.watch_ms as "watch_ms?", p.completed_at, p.lesson_id as "progress_lesson?"
        from enrollment e
        left join (lesson l join course_section s using (section_id)) on l.course_id = e.course_id
        left join lesson_progress p on p.enrollment_id = e.enrollment_id and p.lesson_id = l.lesson_id
        where e.course_id = $1 and e.account_id = $2 and e.status in ('active', 'suspended')
        order by s.position, l.position
        "#,
        course_id,
        account_id,
    )
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let completed = first.enrollment_completed_at.is_some();
    Ok(Some((completed, rows.into_iter().filter_map(OutlineRow::split).collect())))
}

/// The outlines with progress of several enrolments, by enrolment, in one query (the dashboard).
pub async fn outlines(
    pool: &PgPool,
    enrollment_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<LessonWithProgress>>, TrainingError> {
    // The progress rows are read in one index scan and hash-joined: looked up lesson by lesson,
    // 2,000 of them (50 courses × 40 lessons) took ten times as long.
    let rows = sqlx::query_as!(
        OutlineRow,
        r#"
        with progress as materialized (
            select enrollment_id, lesson_id, covered_seconds, position_ms, position_at, watch_ms, completed_at
            from lesson_progress where enrollment_id = any($1)
        )
        select e.enrollment_id, e.course_id, e.completed_at as enrollment_completed_at,
               l.lesson_id as "lesson_id?", l.section_id as "section_id?", l.position as "position?",
               l.kind as "kind?", l.duration_ms, l.duration_version, l.required as "required?",
               l.free_preview as "free_preview?", l.completion_threshold,
               p.covered_seconds as "covered_seconds?", p.position_ms as "position_ms?", p.position_at,
               p.watch_ms as "watch_ms?", p.completed_at, p.lesson_id as "progress_lesson?"
        from enrollment e
        join lesson l on l.course_id = e.course_id
        join course_section s using (section_id)
        left join progress p on p.enrollment_id = e.enrollment_id and p.lesson_id = l.lesson_id
        where e.enrollment_id = any($1)
        order by e.enrollment_id, s.position, l.position
        "#,
        enrollment_ids,
    )
    .fetch_all(pool)
    .await?;
    let mut by_enrollment: std::collections::HashMap<Uuid, Vec<LessonWithProgress>> = std::collections::HashMap::new();
    for row in rows {
        let enrollment_id = row.enrollment_id;
        if let Some(pair) = row.split() {
            by_enrollment.entry(enrollment_id).or_default().push(pair);
        }
    }
    Ok(by_enrollment)
}
