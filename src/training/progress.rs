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

/// The answers a stream remembers for replays, newest last, as `progress_stream.answer_log`:
/// fixed records of [`ANSWER_RECORD`] bytes (little-endian `seq`, covered, duration, ratio,
/// newly covered, clipped, position, flags; the lesson is the stream's). Small on purpose: the
/// row is rewritten by every report, and jsonb answers pushed it past PostgreSQL's TOAST
/// threshold (each report compressed 2 KB).
const ANSWER_RECORD: usize = 45;

fn remembered_answer(log: &[u8], seq: u64, lesson_id: Uuid) -> Result<Option<ReportAnswer>, TrainingError> {
    if !log.len().is_multiple_of(ANSWER_RECORD) {
        return Err(TrainingError::Corrupt(format!("an answer log of {} bytes", log.len())));
    }
    let u64_at = |r: &[u8], at: usize| u64::from_le_bytes(r[at..at + 8].try_into().expect("8 bytes"));
    let u32_at = |r: &[u8], at: usize| u32::from_le_bytes(r[at..at + 4].try_into().expect("4 bytes"));
    Ok(log.chunks_exact(ANSWER_RECORD).find(|r| u64_at(r, 0) == seq).map(|r| ReportAnswer {
        seq,
        lesson_id,
        covered_seconds: u32_at(r, 8),
        duration_seconds: u32_at(r, 12),
        covered_ratio: f64::from_bits(u64_at(r, 16)),
        newly_covered_seconds: u32_at(r, 24),
        clipped_ms: u64_at(r, 28),
        position_ms: u64_at(r, 36),
        lesson_completed: r[44] & 1 != 0,
        course_completed: r[44] & 2 != 0,
    }))
}

/// `log` with `answer` appended, keeping the newest [`REMEMBERED_ANSWERS`].
fn remember_answer(log: &[u8], answer: &ReportAnswer) -> Vec<u8> {
    let keep = log.len().min((REMEMBERED_ANSWERS - 1) * ANSWER_RECORD);
    let mut out = Vec::with_capacity(keep + ANSWER_RECORD);
    out.extend_from_slice(&log[log.len() - keep..]);
    out.extend_from_slice(&answer.seq.to_le_bytes());
    out.extend_from_slice(&answer.covered_seconds.to_le_bytes());
    out.extend_from_slice(&answer.duration_seconds.to_le_bytes());
    out.extend_from_slice(&answer.covered_ratio.to_bits().to_le_bytes());
    out.extend_from_slice(&answer.newly_covered_seconds.to_le_bytes());
    out.extend_from_slice(&answer.clipped_ms.to_le_bytes());
    out.extend_from_slice(&answer.position_ms.to_le_bytes());
    out.push(u8::from(answer.lesson_completed) | (u8::from(answer.course_completed) << 1));
    out
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

/// What a report of one stream reads before it applies: its lesson and enrolment, the stream's
/// clock and remembered answers, the lesson's progress. Kept in [`ProgressCache`] between the
/// reports of a stream, so the common report is one statement (see [`write_cached`]).
#[derive(Debug, Clone)]
struct Snapshot {
    lesson_id: Uuid,
    session_started: OffsetDateTime,
    enrollment_id: Uuid,
    enrollment_completed: bool,
    course_id: Uuid,
    video: bool,
    duration_ms: u64,
    threshold: f32,
    owner_id: Uuid,
    last_seq: Option<i64>,
    last_report_at: Option<OffsetDateTime>,
    credit_ms: Option<i64>,
    answer_log: Vec<u8>,
    coverage: Vec<u8>,
    position_ms: Option<i32>,
    completed: bool,
    progress_updated_at: Option<OffsetDateTime>,
    /// When it was last used, for eviction.
    used: std::time::Instant,
}

/// The state of recently reporting streams, by playback session, so a report of a stream this
/// process answered last needs no read: its one statement writes only if the rows, the session,
/// the enrolment and the lesson's terms are still as cached, and a report whose write is refused
/// reads again. A stream's entry is taken out while its report is applied, so two reports of one
/// stream at once never share one; another process (or device) writing the same rows makes the
/// guards refuse, never overwrite. Bounded by entries; `0` turns it off.
pub struct ProgressCache {
    entries: std::sync::Mutex<std::collections::HashMap<Uuid, Snapshot>>,
    capacity: usize,
}

/// Entries unused for this long go first when the cache is full (players report every few
/// seconds while playing).
const CACHE_IDLE: std::time::Duration = std::time::Duration::from_secs(120);

impl std::fmt::Debug for ProgressCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressCache").field("streams", &self.len()).field("capacity", &self.capacity).finish()
    }
}

impl ProgressCache {
    pub fn new(capacity: usize) -> Self {
        Self { entries: std::sync::Mutex::new(std::collections::HashMap::new()), capacity }
    }

    fn take(&self, session_id: Uuid) -> Option<Snapshot> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&session_id)
    }

    fn put(&self, session_id: Uuid, mut snapshot: Snapshot) {
        if self.capacity == 0 {
            return;
        }
        snapshot.used = std::time::Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, entry| entry.used.elapsed() < CACHE_IDLE);
        }
        if entries.len() < self.capacity {
            entries.insert(session_id, snapshot);
        }
    }

    /// Streams held now.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Now, to the microsecond PostgreSQL keeps (a cached timestamp must equal the stored one).
fn now_micros() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now)
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
/// A stream in `cache` skips that read (optimistic reports only; a locked one always reads).
///
/// Times are this process's clock (to the microsecond): the plausibility clock of a stream is
/// the difference of two of them, so hosts answering one stream need synchronised clocks (NTP's
/// milliseconds are noise next to the 2 s of slack).
pub async fn record(
    conn: &mut PgConnection,
    cache: &ProgressCache,
    session_id: Uuid,
    report: &Report,
    grace: time::Duration,
    concurrency: Concurrency,
) -> Result<Option<(ReportAnswer, Completed)>, TrainingError> {
    let now = now_micros();
    let cached = cache.take(session_id);
    let (snapshot, from_cache) = match cached {
        Some(snapshot) if concurrency == Concurrency::Optimistic => (snapshot, true),
        _ => {
            if concurrency == Concurrency::Locked {
                lock_enrollment(&mut *conn, session_id).await?;
            }
            (read(&mut *conn, session_id, grace, now).await?, false)
        }
    };
    let completed_base = Completed {
        enrollment_id: snapshot.enrollment_id,
        lesson_id: snapshot.lesson_id,
        course_id: snapshot.course_id,
        owner_id: snapshot.owner_id,
        completions: Completions::default(),
    };
    if let Some(replayed) = remembered_answer(&snapshot.answer_log, report.seq, snapshot.lesson_id)? {
        if concurrency == Concurrency::Optimistic {
            cache.put(session_id, snapshot);
        }
        return Ok(Some((replayed, completed_base)));
    }
    let applied = apply(&snapshot, report, now);
    if applied.completes_now && concurrency == Concurrency::Optimistic {
        return Ok(None);
    }
    let (enrollment_id, course_id) = (snapshot.enrollment_id, snapshot.course_id);
    let mut answer = applied.answer.clone();
    let mut completions = Completions { lesson_completed_now: applied.completes_now, course_completed_now: false };
    let progress = applied.progress(&snapshot);
    let stream = applied.stream(&snapshot, session_id, report);
    if applied.completes_now {
        // Rare: completion needs the lesson's row written before the course is checked.
        write_progress(&mut *conn, &progress).await?;
        if course_complete(&mut *conn, enrollment_id, course_id).await? {
            completions.course_completed_now = enrollments::mark_completed(&mut *conn, enrollment_id).await?;
            answer.course_completed = true;
        }
        let log = applied.answer_log(&snapshot, &answer);
        write_stream(&mut *conn, &stream, &log).await?;
        return Ok(Some((answer, Completed { completions, ..completed_base })));
    }
    let log = applied.answer_log(&snapshot, &answer);
    let guards = Guards {
        progress_updated_at: snapshot.progress_updated_at,
        last_seq: snapshot.last_seq,
        last_report_at: snapshot.last_report_at,
    };
    let (progress_written, stream_written) = if from_cache {
        let terms = Terms {
            grace,
            enrollment_completed: snapshot.enrollment_completed,
            threshold: snapshot.threshold,
            duration_ms: i32::try_from(snapshot.duration_ms).unwrap_or(i32::MAX),
        };
        write_cached(&mut *conn, &progress, &stream, &log, &guards, &terms).await?
    } else {
        write_both(&mut *conn, &progress, &stream, &log, &guards).await?
    };
    if !progress_written {
        // Someone wrote since our read, or the cached terms no longer hold: read again.
        return Ok(None);
    }
    if stream_written {
        if concurrency == Concurrency::Optimistic {
            cache.put(session_id, applied.next(snapshot, &stream, log));
        }
    } else {
        // Another report of this very session (one player sending two at once) moved the
        // stream between our read and write: our coverage is in, its clock and seq are not.
        tracing::debug!(session_id = %session_id, "a concurrent report of the session moved its stream");
    }
    Ok(Some((answer, Completed { completions, ..completed_base })))
}

/// Holds the learner's enrolment row to the end of the caller's transaction: the learner's
/// reports that complete something apply one at a time, so two lessons completed at once on two
/// devices still see each other when the course's completion is checked.
async fn lock_enrollment(conn: &mut PgConnection, session_id: Uuid) -> Result<(), TrainingError> {
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
    Ok(())
}

/// Reads what a report needs in one statement and checks the session and the enrolment.
async fn read(
    conn: &mut PgConnection,
    session_id: Uuid,
    grace: time::Duration,
    now: OffsetDateTime,
) -> Result<Snapshot, TrainingError> {
    let row = sqlx::query!(
        r#"
        select ps.context_id, ps.version as "version!", ps.created_at as "session_started!",
               ps.expires_at as "session_expires_at!", ps.revoked_at,
               e.enrollment_id as "enrollment_id?", e.status as "status?", e.expires_at as "expires_at?",
               e.completed_at as "enrollment_completed_at?",
               l.course_id as "course_id?", l.kind as "kind?", l.duration_ms as "duration_ms?",
               l.duration_version as "duration_version?", l.asset_id as "asset_id?",
               coalesce(l.completion_threshold, c.completion_threshold) as "threshold?", c.owner_id as "owner_id?",
               s.enrollment_id as "stream_enrollment?", s.last_seq as "last_seq?",
               s.last_report_at as "last_report_at?", s.credit_ms as "credit_ms?", s.answer_log as "answer_log?",
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
    if row.session_expires_at + grace <= now {
        return Err(PlaybackError::SessionExpired.into());
    }
    let (Some(enrollment_id), Some(status), Some(course_id), Some(kind), Some(threshold), Some(owner_id)) =
        (row.enrollment_id, row.status.as_deref(), row.course_id, row.kind.as_deref(), row.threshold, row.owner_id)
    else {
        return Err(TrainingError::NotEnrolled);
    };
    let lapsed = row.expires_at.is_some_and(|at| at <= now);
    if status != "active" || lapsed || row.stream_enrollment.is_some_and(|id| id != enrollment_id) {
        return Err(TrainingError::NotEnrolled);
    }
    let mut duration_ms = row.duration_ms.and_then(|d| u64::try_from(d).ok()).unwrap_or(0);
    if let Some(asset_id) = row.asset_id
        && row.duration_version.is_none_or(|v| v < row.version)
        && let Some(current) = refresh_duration(&mut *conn, asset_id).await?
    {
        duration_ms = current;
    }
    Ok(Snapshot {
        lesson_id,
        session_started: row.session_started,
        enrollment_id,
        enrollment_completed: row.enrollment_completed_at.is_some(),
        course_id,
        video: kind == "video",
        duration_ms,
        threshold,
        owner_id,
        last_seq: row.last_seq,
        last_report_at: row.last_report_at,
        credit_ms: row.credit_ms,
        answer_log: row.answer_log.unwrap_or_default(),
        coverage: row.coverage.unwrap_or_default(),
        position_ms: row.position_ms,
        completed: row.completed_at.is_some(),
        progress_updated_at: row.progress_updated_at,
        used: std::time::Instant::now(),
    })
}

/// A report applied to a snapshot, before anything is written.
struct Applied {
    answer: ReportAnswer,
    bits: Coverage,
    covered: u32,
    position_ms: u64,
    late: bool,
    at: OffsetDateTime,
    previous_at: OffsetDateTime,
    last_seq: Option<u64>,
    coverage: coverage::Applied,
    completes_now: bool,
}

/// The plausibility rule and completion, on a snapshot (pure: no I/O).
fn apply(snapshot: &Snapshot, report: &Report, now: OffsetDateTime) -> Applied {
    // A report that arrives after a later one (two requests overtaking each other), or a replay
    // of one too old to be remembered: its spans still count — coverage is a union, so a second
    // application adds nothing — but it moves neither the position nor the clock, and adds no
    // watch time.
    let last_seq = snapshot.last_seq.and_then(|seq| u64::try_from(seq).ok());
    let late = last_seq.is_some_and(|last| report.seq < last);
    let duration_ms = snapshot.duration_ms;
    let previous_at = snapshot.last_report_at.unwrap_or(snapshot.session_started);
    let wall_ms =
        if late { 0 } else { u64::try_from((now - previous_at).whole_milliseconds().max(0)).unwrap_or(u64::MAX) };
    let credit = snapshot.credit_ms.and_then(|c| u64::try_from(c).ok()).unwrap_or(coverage::INITIAL_CREDIT_MS);
    let mut bits = Coverage::from_bytes(snapshot.coverage.clone());
    let mut applied = if snapshot.video {
        coverage::apply(&mut bits, &report.spans, report.visible, credit, wall_ms, duration_ms)
    } else {
        coverage::Applied { credit_ms: credit, ..coverage::Applied::default() }
    };
    let seconds = coverage::seconds_of(duration_ms);
    let covered = bits.count_below(seconds);
    let ratio = coverage::covered_ratio(&bits, duration_ms);
    let completes_now = !snapshot.completed && seconds > 0 && ratio + 1e-9 >= f64::from(snapshot.threshold);
    let reported =
        if late { snapshot.position_ms.and_then(|p| u64::try_from(p).ok()).unwrap_or(0) } else { report.position_ms };
    let position_ms = if duration_ms > 0 { reported.min(duration_ms) } else { reported };
    if late {
        applied.watch_ms = 0;
    }
    let answer = ReportAnswer {
        seq: report.seq,
        lesson_id: snapshot.lesson_id,
        covered_seconds: covered,
        duration_seconds: seconds,
        covered_ratio: ratio,
        newly_covered_seconds: applied.covered_s,
        clipped_ms: applied.clipped_ms,
        position_ms,
        lesson_completed: snapshot.completed || completes_now,
        course_completed: snapshot.enrollment_completed,
    };
    Applied {
        answer,
        bits,
        covered,
        position_ms,
        late,
        at: now,
        previous_at,
        last_seq,
        coverage: applied,
        completes_now,
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Applied {
    fn progress<'a>(&'a self, snapshot: &Snapshot) -> ProgressWrite<'a> {
        ProgressWrite {
            enrollment_id: snapshot.enrollment_id,
            lesson_id: snapshot.lesson_id,
            coverage: self.bits.as_bytes(),
            covered_seconds: i32::try_from(self.covered).unwrap_or(i32::MAX),
            position_ms: i32::try_from(self.position_ms).unwrap_or(i32::MAX),
            at: self.at,
            watch_ms: to_i64(self.coverage.watch_ms),
            clipped_ms: to_i64(self.coverage.clipped_ms),
            completes_now: self.completes_now,
        }
    }

    fn stream(&self, snapshot: &Snapshot, session_id: Uuid, report: &Report) -> StreamWrite {
        StreamWrite {
            session_id,
            enrollment_id: snapshot.enrollment_id,
            lesson_id: snapshot.lesson_id,
            seq: to_i64(if self.late { self.last_seq.unwrap_or(report.seq) } else { report.seq }),
            at: if self.late { self.previous_at } else { self.at },
            credit_ms: to_i64(self.coverage.credit_ms),
        }
    }

    /// The stream's answer log after this report (a late report is not remembered).
    fn answer_log(&self, snapshot: &Snapshot, answer: &ReportAnswer) -> Vec<u8> {
        if self.late { snapshot.answer_log.clone() } else { remember_answer(&snapshot.answer_log, answer) }
    }

    /// The snapshot as the report left the rows.
    fn next(self, mut snapshot: Snapshot, stream: &StreamWrite, answer_log: Vec<u8>) -> Snapshot {
        snapshot.last_seq = Some(stream.seq);
        snapshot.last_report_at = Some(stream.at);
        snapshot.credit_ms = Some(stream.credit_ms);
        snapshot.answer_log = answer_log;
        snapshot.coverage = self.bits.into_bytes();
        snapshot.position_ms = Some(i32::try_from(self.position_ms).unwrap_or(i32::MAX));
        snapshot.progress_updated_at = Some(self.at);
        snapshot
    }
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

async fn write_stream(conn: &mut PgConnection, s: &StreamWrite, answer_log: &[u8]) -> Result<(), TrainingError> {
    sqlx::query!(
        r#"
        insert into progress_stream (session_id, enrollment_id, lesson_id, last_seq, last_report_at, credit_ms,
                                     answer_log)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (session_id) do update
        set last_seq = excluded.last_seq, last_report_at = excluded.last_report_at, credit_ms = excluded.credit_ms,
            answer_log = excluded.answer_log
        "#,
        s.session_id,
        s.enrollment_id,
        s.lesson_id,
        s.seq,
        s.at,
        s.credit_ms,
        answer_log,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What the rows looked like when a report read them.
struct Guards {
    progress_updated_at: Option<OffsetDateTime>,
    last_seq: Option<i64>,
    last_report_at: Option<OffsetDateTime>,
}

/// What a cached snapshot assumed about the session, the enrolment and the lesson.
struct Terms {
    grace: time::Duration,
    enrollment_completed: bool,
    threshold: f32,
    duration_ms: i32,
}

/// [`write_progress`] (without completion) and [`write_stream`] in one statement (one round
/// trip), each only if its row is still as the report read it (a missing row must still be
/// missing), and the stream only with the progress. Returns what was written.
async fn write_both(
    conn: &mut PgConnection,
    p: &ProgressWrite<'_>,
    s: &StreamWrite,
    answer_log: &[u8],
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
                                         answer_log)
            select $9, $1, $2, $10, $6, $11, $12 where exists (select 1 from progress)
            on conflict (session_id) do update
            set last_seq = excluded.last_seq, last_report_at = excluded.last_report_at,
                credit_ms = excluded.credit_ms, answer_log = excluded.answer_log
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
        answer_log,
        guards.progress_updated_at,
        guards.last_seq,
    )
    .fetch_one(conn)
    .await?;
    Ok((written.progress, written.stream))
}

/// The common report of a cached stream, in one statement: writes the progress and the stream
/// only while the session is live, the enrolment active (and its completion as cached), the
/// lesson's threshold and duration as cached, and both rows as the snapshot left them. Returns
/// what was written; nothing means read again.
async fn write_cached(
    conn: &mut PgConnection,
    p: &ProgressWrite<'_>,
    s: &StreamWrite,
    answer_log: &[u8],
    guards: &Guards,
    terms: &Terms,
) -> Result<(bool, bool), TrainingError> {
    // A session is live while `expires_at + grace > now`.
    let expires_after = p.at - terms.grace;
    let written = sqlx::query!(
        r#"
        with valid as (
            select 1
            from playback_session ps, enrollment e, lesson l, course c, progress_stream st
            where ps.session_id = $9 and ps.revoked_at is null
              and ps.expires_at > $15
              and e.enrollment_id = $1 and e.status = 'active' and (e.expires_at is null or e.expires_at > $6)
              and (e.completed_at is not null) = $16
              and l.lesson_id = $2 and c.course_id = l.course_id
              and coalesce(l.completion_threshold, c.completion_threshold) = $17
              and coalesce(l.duration_ms, 0) = $18
              and st.session_id = $9 and st.last_seq = $14 and st.last_report_at = $19
        ), progress as (
            update lesson_progress
            set coverage = $3, covered_seconds = $4, position_ms = $5, position_at = $6,
                watch_ms = watch_ms + $7, clipped_ms = clipped_ms + $8, updated_at = $6
            where enrollment_id = $1 and lesson_id = $2 and updated_at = $13 and exists (select 1 from valid)
            returning 1
        ), stream as (
            update progress_stream
            set last_seq = $10, last_report_at = $20, credit_ms = $11, answer_log = $12
            where session_id = $9 and last_seq = $14 and last_report_at = $19 and exists (select 1 from progress)
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
        answer_log,
        guards.progress_updated_at,
        guards.last_seq,
        expires_after,
        terms.enrollment_completed,
        terms.threshold,
        terms.duration_ms,
        guards.last_report_at,
        s.at,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(seq: u64) -> ReportAnswer {
        ReportAnswer {
            seq,
            lesson_id: Uuid::nil(),
            covered_seconds: 40 + u32::try_from(seq).expect("small"),
            duration_seconds: 3600,
            covered_ratio: 0.1 + 1.0 / 3.0,
            newly_covered_seconds: 7,
            clipped_ms: u64::MAX - seq,
            position_ms: 123_456 + seq,
            lesson_completed: seq.is_multiple_of(2),
            course_completed: seq.is_multiple_of(3),
        }
    }

    #[test]
    fn the_answer_log_keeps_the_newest_answers_exactly() {
        let lesson = Uuid::from_u128(7);
        let mut log = Vec::new();
        for seq in 1..=20 {
            log = remember_answer(&log, &answer(seq));
        }
        assert_eq!(log.len(), REMEMBERED_ANSWERS * ANSWER_RECORD);
        for seq in 1..=12 {
            assert!(remembered_answer(&log, seq, lesson).expect("a log").is_none(), "seq {seq} was forgotten");
        }
        for seq in 13..=20 {
            let back = remembered_answer(&log, seq, lesson).expect("a log").expect("remembered");
            let mut expected = answer(seq);
            expected.lesson_id = lesson;
            assert_eq!(serde_json::to_value(&back).expect("json"), serde_json::to_value(&expected).expect("json"));
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            lesson_id: Uuid::nil(),
            session_started: OffsetDateTime::UNIX_EPOCH,
            enrollment_id: Uuid::nil(),
            enrollment_completed: false,
            course_id: Uuid::nil(),
            video: true,
            duration_ms: 1000,
            threshold: 0.9,
            owner_id: Uuid::nil(),
            last_seq: None,
            last_report_at: None,
            credit_ms: None,
            answer_log: Vec::new(),
            coverage: Vec::new(),
            position_ms: None,
            completed: false,
            progress_updated_at: None,
            used: std::time::Instant::now(),
        }
    }

    #[test]
    fn the_cache_hands_a_stream_out_once_is_bounded_and_can_be_off() {
        let cache = ProgressCache::new(3);
        for n in 0..5 {
            cache.put(Uuid::from_u128(n), snapshot());
        }
        assert_eq!(cache.len(), 3, "full: recent entries stay, new ones wait");
        assert!(cache.take(Uuid::from_u128(0)).is_some());
        assert!(cache.take(Uuid::from_u128(0)).is_none(), "a taken stream is not handed out twice");
        assert!(cache.take(Uuid::from_u128(4)).is_none());
        let off = ProgressCache::new(0);
        off.put(Uuid::nil(), snapshot());
        assert!(off.is_empty());
        assert!(format!("{cache:?}").contains("streams: 2"), "{cache:?}");
    }

    #[test]
    fn a_time_for_the_cache_is_whole_microseconds() {
        assert_eq!(now_micros().nanosecond() % 1000, 0);
    }

    #[test]
    fn a_torn_answer_log_is_corrupt_not_a_panic() {
        let log = remember_answer(&[], &answer(1));
        assert!(matches!(remembered_answer(&log[..44], 1, Uuid::nil()), Err(TrainingError::Corrupt(_))));
        assert!(remembered_answer(&[], 1, Uuid::nil()).expect("empty log").is_none());
    }
}
