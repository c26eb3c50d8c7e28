//! A learner watches a lesson in a real browser, closes the tab half-way and comes back: Debian's
//! Chromium plays the integrators' lesson page (`web/examples/progress-reporter.html`: hls.js and
//! the progress reporter) through `tests/players/lesson.mjs`. The reports come from the
//! player's own events, the last one from `navigator.sendBeacon` as the page goes, and the next
//! session starts where the server says the learner left off.
//!
//! The page is served from an origin of its own, like a course site, and the app runs with the
//! default settings, which send no CORS headers from the JSON API: the reports must reach the
//! server as CORS "simple requests" (POST with a `text/plain` body), without a preflight.
//!
//! Needs Chromium and the pinned npm packages (`scripts/install-players.sh`).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use uuid::Uuid;

use crate::helpers::playback::{transcoded_clip, video_asset};
use crate::helpers::players::{players_dir, require_players};
use crate::helpers::{TestApp, account_with_roles, spawn_app};

/// Long enough to stop well inside the lesson and resume there (segments are 4 s).
const CLIP_SECONDS: u32 = 36;
/// Wall time the learner plays before closing the tab: past the page's first periodic report
/// (every 10 s), so the close falls between two of them.
const WATCH_SECONDS: u64 = 12;
/// How far from the resume point the player may restart.
const RESUME_TOLERANCE_MS: i64 = 1_500;

/// `tests/players/lesson.mjs`: one Chromium for the whole test, one JSON command per line.
struct LessonDriver {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
    /// The lesson page's origin.
    origin: String,
}

impl LessonDriver {
    async fn start() -> Self {
        let mut child = Command::new("node")
            .arg(players_dir().join("lesson.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs lesson.mjs");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let collected = stderr.clone();
        tokio::spawn(async move {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text).await;
            collected.lock().expect("not poisoned").push_str(&text);
        });
        let mut driver = Self { child, stdin, lines, stderr, origin: String::new() };
        let ready = driver.next("ready").await;
        driver.origin = ready["origin"].as_str().expect("origin").to_owned();
        eprintln!("lesson page served from {}", driver.origin);
        driver
    }

    /// The driver's next answer, which must be `event`.
    async fn next(&mut self, event: &str) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(120), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("lesson.mjs gave no {event:?} within 120 s"))
            .expect("read lesson.mjs")
            .unwrap_or_else(|| panic!("lesson.mjs ended before {event:?}: {}", self.stderr.lock().expect("lock")));
        let answer: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("lesson.mjs said {line}"));
        assert_eq!(answer["event"], event, "lesson.mjs: {answer}\n{}", self.stderr.lock().expect("lock"));
        answer
    }

    async fn send(&mut self, command: Value, event: &str) -> Value {
        let stdin = self.stdin.as_mut().expect("open");
        stdin.write_all(format!("{command}\n").as_bytes()).await.expect("write to lesson.mjs");
        stdin.flush().await.expect("flush");
        self.next(event).await
    }

    /// Ends stdin, which closes the browser, and waits for the driver to exit.
    async fn finish(mut self) {
        drop(self.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("lesson.mjs exits at the end of stdin")
            .expect("wait");
        assert!(status.success(), "lesson.mjs: {status}\n{}", self.stderr.lock().expect("lock"));
    }
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let response = app.client.post(app.url(path)).bearer_auth(token).json(&body).send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(status.is_success(), "POST {path}: {status} {text}");
    serde_json::from_str(&text).expect("json")
}

fn id(value: &Value, field: &str) -> Uuid {
    value[field].as_str().unwrap_or_else(|| panic!("{field} in {value}")).parse().expect("uuid")
}

fn number(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_else(|| panic!("{field} in {value}"))
}

/// A published course whose one lesson plays the package in `package_dir`, and its learner's
/// enrolment: course id, lesson id, learner token.
async fn enrolled_lesson(app: &TestApp, package_dir: &std::path::Path) -> (Uuid, Uuid, String) {
    let (_, instructor) = account_with_roles(app, "teacher@example.com", &["learner", "instructor"]).await;
    let (learner_id, learner) = account_with_roles(app, "learner@example.com", &["learner"]).await;
    let asset_id = video_asset(app, &instructor, package_dir, f64::from(CLIP_SECONDS)).await;
    let course_id = id(&post(app, "/v1/courses", &instructor, json!({"title": "Signals"})).await, "course_id");
    let section =
        post(app, &format!("/v1/courses/{course_id}/sections"), &instructor, json!({"title": "Week 1"})).await;
    let lesson = post(
        app,
        &format!("/v1/sections/{}/lessons", id(&section, "section_id")),
        &instructor,
        json!({"title": "Sampling", "kind": "video", "asset_id": asset_id}),
    )
    .await;
    assert_eq!(number(&lesson, "duration_ms"), i64::from(CLIP_SECONDS) * 1000);
    post(app, &format!("/v1/courses/{course_id}/publish"), &instructor, json!({})).await;
    post(app, &format!("/v1/courses/{course_id}/enrollments"), &instructor, json!({"account_id": learner_id})).await;
    (course_id, id(&lesson, "lesson_id"), learner)
}

/// What the server keeps of the session's stream and the lesson's progress.
#[derive(Debug)]
struct Stored {
    last_seq: i64,
    covered_seconds: i32,
    position_ms: i32,
    watch_ms: i64,
    clipped_ms: i64,
}

async fn stored(app: &TestApp, session_id: Uuid) -> Option<Stored> {
    let row: Option<(i64, i32, i32, i64, i64)> = sqlx::query_as(
        "select s.last_seq, p.covered_seconds, p.position_ms, p.watch_ms, p.clipped_ms
         from progress_stream s join lesson_progress p using (enrollment_id, lesson_id)
         where s.session_id = $1",
    )
    .bind(session_id)
    .fetch_optional(&app.pool)
    .await
    .expect("progress");
    row.map(|(last_seq, covered_seconds, position_ms, watch_ms, clipped_ms)| Stored {
        last_seq,
        covered_seconds,
        position_ms,
        watch_ms,
        clipped_ms,
    })
}

/// Waits (up to 10 s) for the stream to have taken a report after `seq`.
async fn report_after(app: &TestApp, session_id: Uuid, seq: i64) -> Stored {
    for _ in 0..100 {
        if let Some(stored) = stored(app, session_id).await
            && stored.last_seq > seq
        {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no report after seq {seq} arrived: the page's beacon did not reach the server ({:?})",
        stored(app, session_id).await
    )
}

/// The lines of `/metrics` about the progress route.
async fn progress_route_metrics(app: &TestApp) -> Vec<String> {
    let text = app.client.get(app.url("/metrics")).send().await.expect("request").text().await.expect("text");
    text.lines()
        .filter(|line| {
            line.starts_with("lectern_http_requests_total") && line.contains("/v1/playback/{session_id}/progress")
        })
        .map(str::to_owned)
        .collect()
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_lesson_closed_half_way_reports_by_beacon_and_a_new_session_resumes_there_in_chromium(pool: PgPool) {
    require_players();
    let work = tempfile::tempdir().expect("temp dir");
    let work_dir = work.path().to_owned();
    let (package_dir, _) =
        tokio::task::spawn_blocking(move || transcoded_clip(&work_dir, "640x360", CLIP_SECONDS)).await.expect("joined");
    let app = spawn_app(pool).await;
    let (course_id, lesson_id, learner) = enrolled_lesson(&app, &package_dir).await;
    let first = post(&app, &format!("/v1/lessons/{lesson_id}/playback"), &learner, json!({})).await;
    assert_eq!(number(&first, "resume_position_ms"), 0, "a lesson never watched starts at 0");
    let first_session = id(&first, "session_id");

    // Watch, then close the tab between two periodic reports.
    let mut driver = LessonDriver::start().await;
    let closed = driver.send(json!({"command": "watch", "session": first, "seconds": WATCH_SECONDS}), "closed").await;
    let quiet = |seen: &Value, what: &str| {
        for list in ["page_errors", "console_errors", "http_errors"] {
            assert_eq!(seen[list], json!([]), "{what}: {list} in {seen}");
        }
    };
    quiet(&closed, "watching");
    let seq_before_close = number(&closed, "seq_before_close");
    let position_at_close_ms = number(&closed, "position_at_close_ms");
    let played_wall_ms = number(&closed, "played_wall_ms");
    assert!(seq_before_close >= 1, "a periodic report went out while playing: {closed}");
    assert_eq!(closed["paused_at_close"], false, "still playing when the tab closed: {closed}");

    // The page's last report: only the beacon can be a report after the last one it sent.
    let after_close = report_after(&app, first_session, seq_before_close).await;
    eprintln!(
        "watched {played_wall_ms} ms of wall time, closed at {position_at_close_ms} ms after seq {seq_before_close}; \
         server: {after_close:?}"
    );
    assert_eq!(after_close.last_seq, seq_before_close + 1, "one beacon as the page went: {after_close:?}");
    assert!(
        (i64::from(after_close.position_ms) - position_at_close_ms).abs() <= 1_000,
        "the beacon carried the position at closing ({position_at_close_ms} ms): {after_close:?}"
    );
    let covered_ms = i64::from(after_close.covered_seconds) * 1000;
    assert!(covered_ms >= 6_000, "at least 6 s covered: {after_close:?}");
    assert!(covered_ms <= played_wall_ms + 2_000, "no more than the wall time played + 2 s: {after_close:?}");
    assert_eq!(after_close.clipped_ms, 0, "honest playback is never clipped: {after_close:?}");
    assert!(
        (6_000..=played_wall_ms + 2_000).contains(&after_close.watch_ms),
        "watch time is what was played: {after_close:?}"
    );

    // No preflight: every report reached the route as a POST and was taken. One that needed a
    // preflight (a JSON body, an Authorization header) would never be sent: with the default
    // settings the JSON API answers a preflight from the page's origin with no CORS at all.
    let metrics = progress_route_metrics(&app).await;
    assert!(
        !metrics.is_empty()
            && metrics.iter().all(|line| line.contains(r#"method="POST""#) && line.contains(r#"status="200""#)),
        "only POSTs answered 200 on the progress route: {metrics:?}"
    );
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, first["progress_url"].as_str().expect("progress_url"))
        .header("origin", &driver.origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("request");
    eprintln!("a preflight from the page's origin gets {} {:?}", preflight.status(), preflight.headers());
    assert!(preflight.headers().get("access-control-allow-origin").is_none(), "{:?}", preflight.headers());

    let resume: Value =
        app.get_with(&format!("/v1/me/courses/{course_id}/resume"), &learner).await.json().await.expect("json");
    assert_eq!(resume["lesson_id"], lesson_id.to_string(), "{resume}");
    assert_eq!(number(&resume, "position_ms"), i64::from(after_close.position_ms) - 3_000, "rewound 3 s: {resume}");

    // Come back: a new session starts at the resume point, and the page plays from there.
    let second = post(&app, &format!("/v1/lessons/{lesson_id}/playback"), &learner, json!({})).await;
    assert_ne!(id(&second, "session_id"), first_session);
    let resume_position_ms = number(&second, "resume_position_ms");
    assert_eq!(resume_position_ms, number(&resume, "position_ms"), "{second}");
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("training_browser_resumed.png");
    let _ = std::fs::remove_file(&screenshot);
    let resumed = driver
        .send(json!({"command": "resume", "session": second, "seconds": 3, "screenshot": screenshot}), "resumed")
        .await;
    driver.finish().await;
    quiet(&resumed, "resuming");
    let resumed_at_ms = number(&resumed, "resumed_at_ms");
    let position_after_ms = number(&resumed, "position_after_ms");
    eprintln!(
        "resume point {resume_position_ms} ms; the player resumed at {resumed_at_ms} ms and was at \
         {position_after_ms} ms {} ms later; screenshot: {}",
        resumed["played_wall_ms"],
        screenshot.display()
    );
    assert!(
        (resumed_at_ms - resume_position_ms).abs() <= RESUME_TOLERANCE_MS,
        "resumed at {resumed_at_ms} ms, the resume point is {resume_position_ms} ms: {resumed}"
    );
    assert!(position_after_ms - resumed_at_ms >= 1_500, "and kept playing from there: {resumed}");
    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a screenshot of the playing lesson");
}
