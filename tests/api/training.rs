//! Training through the API, driven like real clients: an instructor builds and publishes a
//! course, learners are enrolled (or join), open lesson sessions and report progress the way a
//! player does — including players that cheat — and read their outline, resume point and
//! dashboard; the instructor reads the progress report and retention.
//!
//! Wall time is simulated where a test would otherwise wait minutes: the session's start and its
//! stream's last report are moved back in the database, which is exactly what the passing of
//! that time looks like to the server.
//!
//! The course-building helpers are `pub(crate)` for `training_graphql`, which builds the same
//! courses and compares its answers with these endpoints'.

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::playback::{package, video_asset};
use crate::helpers::{TestApp, account_with_roles, api_key, error_code, spawn_app};

/// A published course with one section and `durations_s.len()` video lessons (each its own
/// asset of that length), an instructor and a learner who is not enrolled yet.
pub(crate) struct Course {
    pub(crate) instructor: String,
    pub(crate) course_id: Uuid,
    pub(crate) section_id: Uuid,
    pub(crate) lessons: Vec<Uuid>,
    pub(crate) assets: Vec<Uuid>,
    pub(crate) learner_id: Uuid,
    pub(crate) learner: String,
}

pub(crate) async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(token).json(&body).send().await.expect("request")
}

pub(crate) async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client.patch(app.url(path)).bearer_auth(token).json(&body).send().await.expect("request")
}

pub(crate) async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client.get(app.url(path)).bearer_auth(token).send().await.expect("request")
}

pub(crate) async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "{text}");
    serde_json::from_str(&text).expect("json")
}

pub(crate) fn id(value: &Value, field: &str) -> Uuid {
    value[field].as_str().unwrap_or_else(|| panic!("{field} in {value}")).parse().expect("uuid")
}

/// A ready asset of the instructor (the shared 5-second package) whose (probed) length is
/// `seconds`.
async fn video(app: &TestApp, token: &str, seconds: f64) -> Uuid {
    video_asset(app, token, &package().0, seconds).await
}

pub(crate) async fn course(app: &TestApp, durations_s: &[f64], body: Value) -> Course {
    let (_, instructor) = account_with_roles(app, "teacher@example.com", &["learner", "instructor"]).await;
    let (learner_id, learner) = account_with_roles(app, "learner@example.com", &["learner"]).await;
    let created = json_of(post(app, "/v1/courses", &instructor, body).await, 201).await;
    let course_id = id(&created, "course_id");
    assert_eq!(created["status"], "draft");
    let section = json_of(
        post(app, &format!("/v1/courses/{course_id}/sections"), &instructor, json!({"title": "Week 1"})).await,
        201,
    )
    .await;
    let section_id = id(&section, "section_id");
    let (mut lessons, mut assets) = (Vec::new(), Vec::new());
    for (n, seconds) in durations_s.iter().enumerate() {
        let asset_id = video(app, &instructor, *seconds).await;
        let lesson = json_of(
            post(
                app,
                &format!("/v1/sections/{section_id}/lessons"),
                &instructor,
                json!({"title": format!("Lecture {}", n + 1), "kind": "video", "asset_id": asset_id}),
            )
            .await,
            201,
        )
        .await;
        assert_eq!(lesson["duration_ms"], (*seconds * 1000.0) as i64);
        lessons.push(id(&lesson, "lesson_id"));
        assets.push(asset_id);
    }
    let published =
        json_of(post(app, &format!("/v1/courses/{course_id}/publish"), &instructor, json!({})).await, 200).await;
    assert_eq!(published["status"], "published");
    Course { instructor, course_id, section_id, lessons, assets, learner_id, learner }
}

pub(crate) async fn enroll(app: &TestApp, course: &Course) -> Value {
    json_of(
        post(
            app,
            &format!("/v1/courses/{}/enrollments", course.course_id),
            &course.instructor,
            json!({"account_id": course.learner_id}),
        )
        .await,
        201,
    )
    .await
}

pub(crate) async fn lesson_session(app: &TestApp, lesson_id: Uuid, token: &str) -> Value {
    json_of(post(app, &format!("/v1/lessons/{lesson_id}/playback"), token, json!({})).await, 201).await
}

pub(crate) async fn report(app: &TestApp, session: &Value, body: Value) -> reqwest::Response {
    let mut body = body;
    body["token"] = session["progress_token"].clone();
    app.client
        .post(session["progress_url"].as_str().expect("progress_url"))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .expect("request")
}

/// The types of the webhook events recorded for the course owner, oldest first.
async fn owner_events(app: &TestApp, course_id: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "select e.type from asset_event e join course c on c.owner_id = e.owner_id
         where c.course_id = $1 and e.asset_id is null order by e.event_id",
    )
    .bind(course_id)
    .fetch_all(&app.pool)
    .await
    .expect("events")
}

/// Moves the session's plausibility clock `seconds` into the past: the session started earlier
/// and its last report came earlier, as if that much wall time had passed.
pub(crate) async fn let_time_pass(app: &TestApp, session: &Value, seconds: i64) {
    let session_id = id(session, "session_id");
    sqlx::query(
        "update playback_session set created_at = created_at - make_interval(secs => $2) where session_id = $1",
    )
    .bind(session_id)
    .bind(seconds as f64)
    .execute(&app.pool)
    .await
    .expect("shift session");
    sqlx::query(
        "update progress_stream set last_report_at = last_report_at - make_interval(secs => $2) where session_id = $1",
    )
    .bind(session_id)
    .bind(seconds as f64)
    .execute(&app.pool)
    .await
    .expect("shift stream");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_instructor_builds_orders_and_publishes_a_course_and_bad_input_is_named(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, instructor) = account_with_roles(&app, "teacher@example.com", &["learner", "instructor"]).await;
    let (_, other) = account_with_roles(&app, "other@example.com", &["learner", "instructor"]).await;
    let (_, learner) = account_with_roles(&app, "learner@example.com", &["learner"]).await;

    assert_eq!(error_code(post(&app, "/v1/courses", &learner, json!({"title": "x"})).await).await, "forbidden");
    for bad in [json!({"title": ""}), json!({"title": "x", "completion_threshold": 0.2})] {
        let response = post(&app, "/v1/courses", &instructor, bad).await;
        assert_eq!(response.status(), 422);
        assert_eq!(error_code(response).await, "invalid_field");
    }
    // A NUL character is refused for every JSON body, before the handler runs.
    let response = post(&app, "/v1/courses", &instructor, json!({"title": "a\u{0}b"})).await;
    assert_eq!(response.status(), 422);
    assert_eq!(error_code(response).await, "invalid_text");
    let course = json_of(post(&app, "/v1/courses", &instructor, json!({"title": "Algebra"})).await, 201).await;
    let course_id = id(&course, "course_id");
    assert_eq!(course["completion_threshold"], 0.9);
    // Nothing to publish yet.
    let response = post(&app, &format!("/v1/courses/{course_id}/publish"), &instructor, json!({})).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(response).await, "wrong_state");
    // Someone else's course does not exist for them.
    assert_eq!(error_code(get(&app, &format!("/v1/courses/{course_id}"), &other).await).await, "course_not_found");

    let one = id(
        &json_of(
            post(&app, &format!("/v1/courses/{course_id}/sections"), &instructor, json!({"title": "One"})).await,
            201,
        )
        .await,
        "section_id",
    );
    let two = id(
        &json_of(
            post(&app, &format!("/v1/courses/{course_id}/sections"), &instructor, json!({"title": "Two"})).await,
            201,
        )
        .await,
        "section_id",
    );
    let asset = video(&app, &instructor, 120.0).await;
    let foreign = video(&app, &other, 60.0).await;
    let response = post(
        &app,
        &format!("/v1/sections/{one}/lessons"),
        &instructor,
        json!({"title": "V", "kind": "video", "asset_id": foreign}),
    )
    .await;
    assert_eq!(response.status(), 422, "another instructor's asset");
    let response =
        post(&app, &format!("/v1/sections/{one}/lessons"), &instructor, json!({"title": "T", "kind": "text"})).await;
    assert_eq!(error_code(response).await, "invalid_field", "a text lesson without a body");
    let response = post(
        &app,
        &format!("/v1/sections/{one}/lessons"),
        &instructor,
        json!({"title": "L", "kind": "link", "url": "javascript:alert(1)"}),
    )
    .await;
    assert_eq!(error_code(response).await, "invalid_field");
    let video_lesson = id(
        &json_of(
            post(
                &app,
                &format!("/v1/sections/{one}/lessons"),
                &instructor,
                json!({"title": "Intro", "kind": "video", "asset_id": asset, "completion_threshold": 0.75}),
            )
            .await,
            201,
        )
        .await,
        "lesson_id",
    );
    let text_lesson = id(
        &json_of(
            post(
                &app,
                &format!("/v1/sections/{one}/lessons"),
                &instructor,
                json!({"title": "Notes", "kind": "text", "body": "# Read me", "required": false}),
            )
            .await,
            201,
        )
        .await,
        "lesson_id",
    );
    let link_lesson = id(
        &json_of(
            post(
                &app,
                &format!("/v1/sections/{two}/lessons"),
                &instructor,
                json!({"title": "Paper", "kind": "link", "url": "https://example.com/paper.pdf"}),
            )
            .await,
            201,
        )
        .await,
        "lesson_id",
    );

    // Reorder: section two first, the text lesson moves into it.
    let bad_order = json!({"sections": [{"section_id": two, "lessons": [link_lesson]}]});
    let response = app
        .client
        .put(app.url(&format!("/v1/courses/{course_id}/order")))
        .bearer_auth(&instructor)
        .json(&bad_order)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let order = json!({"sections": [
        {"section_id": two, "lessons": [text_lesson, link_lesson]},
        {"section_id": one, "lessons": [video_lesson]},
    ]});
    let response = app
        .client
        .put(app.url(&format!("/v1/courses/{course_id}/order")))
        .bearer_auth(&instructor)
        .json(&order)
        .send()
        .await
        .expect("request");
    let outline = json_of(response, 200).await;
    assert_eq!(outline["sections"][0]["section_id"], two.to_string());
    let first: Vec<&str> = outline["sections"][0]["lessons"]
        .as_array()
        .expect("lessons")
        .iter()
        .map(|l| l["title"].as_str().expect("title"))
        .collect();
    assert_eq!(first, ["Notes", "Paper"]);
    assert_eq!(outline["sections"][1]["lessons"][0]["completion_threshold"], 0.75);

    let published =
        json_of(post(&app, &format!("/v1/courses/{course_id}/publish"), &instructor, json!({})).await, 200).await;
    assert_eq!(published["status"], "published");
    // The catalogue shows it to learners; a draft course stays hidden from them.
    let catalog = json_of(get(&app, "/v1/catalog", &learner).await, 200).await;
    assert_eq!(catalog["courses"][0]["course_id"], course_id.to_string());
    let archived =
        json_of(post(&app, &format!("/v1/courses/{course_id}/archive"), &instructor, json!({})).await, 200).await;
    assert_eq!(archived["status"], "archived");
    let response = post(&app, &format!("/v1/courses/{course_id}/publish"), &instructor, json!({})).await;
    assert_eq!(error_code(response).await, "wrong_state");
    let response = app
        .client
        .delete(app.url(&format!("/v1/courses/{course_id}")))
        .bearer_auth(&instructor)
        .send()
        .await
        .expect("request");
    assert_eq!(error_code(response).await, "wrong_state");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn enrolment_opens_the_lessons_and_suspension_stops_the_manifests_on_the_next_request(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[600.0], json!({"title": "Physics"})).await;
    let lesson = course.lessons[0];
    // Not enrolled: no session, and the asset's own endpoint refuses too.
    let response = post(&app, &format!("/v1/lessons/{lesson}/playback"), &course.learner, json!({})).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "not_enrolled");
    // The asset's own endpoint answers as for an unknown asset (no probing of private ids).
    let response = post(&app, &format!("/v1/assets/{}/playback", course.assets[0]), &course.learner, json!({})).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");
    // Joining is only for free courses.
    let response = post(&app, &format!("/v1/courses/{}/join", course.course_id), &course.learner, json!({})).await;
    assert_eq!(error_code(response).await, "course_not_joinable");

    let enrollment = enroll(&app, &course).await;
    assert_eq!(enrollment["status"], "active");
    assert_eq!(enrollment["source"], "admin");
    assert_eq!(enrollment["attempt"], 1);
    // Enrolling again is idempotent.
    let again = post(
        &app,
        &format!("/v1/courses/{}/enrollments", course.course_id),
        &course.instructor,
        json!({"account_id": course.learner_id}),
    )
    .await;
    assert_eq!(json_of(again, 200).await["enrollment_id"], enrollment["enrollment_id"]);

    let session = lesson_session(&app, lesson, &course.learner).await;
    let master = session["hls_url"].as_str().expect("hls_url").to_owned();
    assert_eq!(app.client.get(&master).send().await.expect("request").status(), 200);
    let answer = json_of(
        report(
            &app,
            &session,
            json!({"seq": 1, "position_ms": 2000, "playing": true, "spans": [{"from_ms": 0, "to_ms": 2000}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(answer["covered_seconds"], 2);

    let enrollment_id = id(&enrollment, "enrollment_id");
    let suspended = json_of(
        patch(
            &app,
            &format!("/v1/enrollments/{enrollment_id}"),
            &course.instructor,
            json!({"status": "suspended", "reason": "payment failed"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(suspended["status"], "suspended");
    let response = app.client.get(&master).send().await.expect("request");
    assert!(matches!(response.status().as_u16(), 403 | 410), "the manifest is refused: {}", response.status());
    let response = post(&app, &format!("/v1/lessons/{lesson}/playback"), &course.learner, json!({})).await;
    assert_eq!(error_code(response).await, "not_enrolled");
    // Reactivated: access is back and the progress was kept.
    json_of(
        patch(&app, &format!("/v1/enrollments/{enrollment_id}"), &course.instructor, json!({"status": "active"})).await,
        200,
    )
    .await;
    let outline = json_of(get(&app, &format!("/v1/me/courses/{}", course.course_id), &course.learner).await, 200).await;
    assert_eq!(outline["sections"][0]["lessons"][0]["progress"]["covered_seconds"], 2);
    lesson_session(&app, lesson, &course.learner).await;
    // Revoked is final.
    json_of(
        patch(&app, &format!("/v1/enrollments/{enrollment_id}"), &course.instructor, json!({"status": "revoked"}))
            .await,
        200,
    )
    .await;
    let response =
        patch(&app, &format!("/v1/enrollments/{enrollment_id}"), &course.instructor, json!({"status": "active"})).await;
    assert_eq!(error_code(response).await, "wrong_state");
    // One event per change, none per heartbeat.
    assert_eq!(
        owner_events(&app, course.course_id).await,
        ["enrollment.created", "enrollment.suspended", "enrollment.revoked"]
    );
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_player_that_seeks_to_the_end_and_fires_ended_covers_almost_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[1800.0], json!({"title": "History"})).await;
    enroll(&app, &course).await;
    let session = lesson_session(&app, course.lessons[0], &course.learner).await;
    let_time_pass(&app, &session, 3).await;
    let answer = json_of(
        report(&app, &session, json!({"seq": 1, "position_ms": 1_800_000, "playing": false, "spans": [{"from_ms": 0, "to_ms": 1_800_000}]})).await,
        200,
    )
    .await;
    assert!(answer["covered_ratio"].as_f64().expect("ratio") < 0.05, "{answer}");
    assert!(answer["clipped_ms"].as_u64().expect("clipped") > 1_700_000);
    assert_eq!(answer["lesson_completed"], false);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn double_speed_for_five_wall_minutes_covers_at_most_ten_minutes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[3600.0], json!({"title": "Chemistry"})).await;
    enroll(&app, &course).await;
    let session = lesson_session(&app, course.lessons[0], &course.learner).await;
    let mut covered = 0;
    // The real seconds the test itself takes are wall time too (earning credit at 2×).
    let started = std::time::Instant::now();
    // 30 reports 10 s apart, each claiming 40 s of media at 2× (twice what 2× plays in 10 s).
    for seq in 1..=30u64 {
        let_time_pass(&app, &session, 10).await;
        let from = (seq - 1) * 40_000;
        let answer = json_of(
            report(&app, &session, json!({"seq": seq, "position_ms": from + 40_000, "playing": true, "spans": [{"from_ms": from, "to_ms": from + 40_000, "rate": 2.0}]})).await,
            200,
        )
        .await;
        covered = answer["covered_seconds"].as_u64().expect("covered");
    }
    let real = started.elapsed().as_secs().saturating_add(1);
    assert!(covered <= 600 + 2 + 2 * real, "covered {covered} s in 300 s (+{real} s real) of wall time at 2×");
    assert!(covered >= 590, "honest 2× playback is not clipped: {covered}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn hidden_spans_move_the_position_but_cover_nothing_and_a_replayed_seq_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[600.0], json!({"title": "Biology"})).await;
    enroll(&app, &course).await;
    let session = lesson_session(&app, course.lessons[0], &course.learner).await;
    let_time_pass(&app, &session, 30).await;
    let hidden = json_of(report(&app, &session, json!({"seq": 1, "position_ms": 30_000, "playing": true, "visible": false, "spans": [{"from_ms": 0, "to_ms": 30_000}]})).await, 200).await;
    assert_eq!(hidden["covered_seconds"], 0);
    assert_eq!(hidden["position_ms"], 30_000);
    let_time_pass(&app, &session, 20).await;
    let first = json_of(
        report(
            &app,
            &session,
            json!({"seq": 2, "position_ms": 50_000, "playing": true, "spans": [{"from_ms": 30_000, "to_ms": 50_000}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(first["covered_seconds"], 20);
    let_time_pass(&app, &session, 20).await;
    // The same seq again, even with other spans: the same answer, nothing changes.
    let replay = json_of(
        report(
            &app,
            &session,
            json!({"seq": 2, "position_ms": 590_000, "playing": true, "spans": [{"from_ms": 50_000, "to_ms": 70_000}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(replay, first);
    let outline = json_of(get(&app, &format!("/v1/me/courses/{}", course.course_id), &course.learner).await, 200).await;
    let progress = &outline["sections"][0]["lessons"][0]["progress"];
    assert_eq!(progress["covered_seconds"], 20);
    assert_eq!(progress["gaps"], json!([[0, 30], [50, 600]]));
    // A seq below the stream's that it no longer remembers (a report that arrived late) adds its
    // coverage only: the position stays, and sending it again adds nothing.
    for seq in 3..=12u64 {
        json_of(report(&app, &session, json!({"seq": seq, "position_ms": 50_000})).await, 200).await;
    }
    let late = json!({"seq": 1, "position_ms": 0, "spans": [{"from_ms": 0, "to_ms": 5_000}]});
    let answer = json_of(report(&app, &session, late.clone()).await, 200).await;
    assert_eq!(answer["covered_seconds"], 25);
    assert_eq!(answer["newly_covered_seconds"], 5);
    assert_eq!(answer["position_ms"], 50_000);
    let again = json_of(report(&app, &session, late).await, 200).await;
    assert_eq!(again["covered_seconds"], 25);
    assert_eq!(again["newly_covered_seconds"], 0);
    // The token of another session does not work.
    let mut forged = session.clone();
    forged["progress_token"] = json!("AAAA");
    let response = report(&app, &forged, json!({"seq": 20, "position_ms": 0})).await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(response).await, "invalid_progress_token");
    let response =
        report(&app, &session, json!({"seq": 21, "position_ms": 0, "spans": [{"from_ms": 5, "to_ms": 1, "rate": 1}]}))
            .await;
    assert_eq!(error_code(response).await, "invalid_field");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn two_devices_interleaving_resume_at_the_latest_position(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[600.0, 300.0], json!({"title": "Economics"})).await;
    enroll(&app, &course).await;
    let resume_path = format!("/v1/me/courses/{}/resume", course.course_id);
    let resume = json_of(get(&app, &resume_path, &course.learner).await, 200).await;
    assert_eq!(resume, json!({"lesson_id": course.lessons[0], "position_ms": 0, "course_completed": false}));
    let phone = lesson_session(&app, course.lessons[0], &course.learner).await;
    let laptop = lesson_session(&app, course.lessons[0], &course.learner).await;
    let_time_pass(&app, &phone, 60).await;
    let_time_pass(&app, &laptop, 60).await;
    json_of(
        report(
            &app,
            &phone,
            json!({"seq": 1, "position_ms": 40_000, "playing": true, "spans": [{"from_ms": 0, "to_ms": 40_000}]}),
        )
        .await,
        200,
    )
    .await;
    json_of(report(&app, &laptop, json!({"seq": 1, "position_ms": 120_000, "playing": true, "spans": [{"from_ms": 100_000, "to_ms": 120_000}]})).await, 200).await;
    json_of(
        report(
            &app,
            &phone,
            json!({"seq": 2, "position_ms": 45_000, "playing": true, "spans": [{"from_ms": 40_000, "to_ms": 45_000}]}),
        )
        .await,
        200,
    )
    .await;
    let resume = json_of(get(&app, &resume_path, &course.learner).await, 200).await;
    assert_eq!(resume["lesson_id"], course.lessons[0].to_string());
    assert_eq!(resume["position_ms"], 42_000, "the phone's report came last: 45 s rewound 3 s");
    // A new session of the lesson starts there too.
    let tablet = lesson_session(&app, course.lessons[0], &course.learner).await;
    assert_eq!(tablet["resume_position_ms"], 42_000);
    // Near the end, the next lesson starts.
    let_time_pass(&app, &laptop, 600).await;
    json_of(report(&app, &laptop, json!({"seq": 2, "position_ms": 590_000, "playing": true, "spans": [{"from_ms": 120_000, "to_ms": 590_000}]})).await, 200).await;
    let resume = json_of(get(&app, &resume_path, &course.learner).await, 200).await;
    assert_eq!(resume, json!({"lesson_id": course.lessons[1], "position_ms": 0, "course_completed": false}));
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn completion_survives_a_reprocess_that_shortens_the_video_and_completes_the_course(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course =
        course(&app, &[200.0], json!({"title": "Music", "completion_threshold": 0.9, "certificate_enabled": true}))
            .await;
    let enrollment = enroll(&app, &course).await;
    let session = lesson_session(&app, course.lessons[0], &course.learner).await;
    // The learner skips the first 20 s and watches the remaining 180 s: 90 %.
    let_time_pass(&app, &session, 190).await;
    let answer = json_of(
        report(
            &app,
            &session,
            json!({"seq": 1, "position_ms": 200_000, "playing": true, "spans": [{"from_ms": 20_000, "to_ms": 200_000}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(answer["lesson_completed"], true);
    assert_eq!(answer["course_completed"], true);
    // A reprocess publishes version 2, half as long: the lesson's duration follows it, its
    // covered ratio drops below the threshold (80 s of 100), and completion stays.
    let asset = course.assets[0];
    sqlx::query("update asset_version set state = 'superseded' where asset_id = $1")
        .bind(asset)
        .execute(&app.pool)
        .await
        .expect("superseded");
    sqlx::query("insert into asset_version (asset_id, version, preset, state, manifests, published_at) select asset_id, 2, preset, 'published', manifests, now() from asset_version where asset_id = $1 and version = 1")
        .bind(asset).execute(&app.pool).await.expect("version 2");
    sqlx::query("update asset set current_version = 2, source = jsonb_build_object('duration_seconds', 100) where asset_id = $1")
        .bind(asset).execute(&app.pool).await.expect("current");
    let second = lesson_session(&app, course.lessons[0], &course.learner).await;
    assert!(second["hls_url"].as_str().expect("url").contains("/play/"));
    let answer = json_of(report(&app, &second, json!({"seq": 1, "position_ms": 1000})).await, 200).await;
    assert_eq!(answer["duration_seconds"], 100);
    assert!((answer["covered_ratio"].as_f64().expect("ratio") - 0.8).abs() < 0.011, "{answer}");
    assert_eq!(answer["lesson_completed"], true);
    assert_eq!(answer["course_completed"], true);
    let dashboard = json_of(get(&app, "/v1/me/enrollments", &course.learner).await, 200).await;
    let entry = &dashboard["enrollments"][0];
    assert_eq!(entry["enrollment"]["enrollment_id"], enrollment["enrollment_id"]);
    assert_eq!(entry["progress"]["completed"], true);
    assert_eq!(entry["progress"]["lessons_completed"], 1);
    assert_eq!(
        owner_events(&app, course.course_id).await,
        ["enrollment.created", "lesson.completed", "enrollment.completed", "certificate.issued"]
    );
    // The completion issued a certificate that verifies; re-assigning keeps it.
    let mine = json_of(get(&app, "/v1/me/certificates", &course.learner).await, 200).await;
    let certificate_id = mine["certificates"][0]["certificate_id"].as_str().expect("a certificate").to_owned();
    let public = json_of(
        app.client.get(app.url(&format!("/v1/certificates/{certificate_id}"))).send().await.expect("request"),
        200,
    )
    .await;
    assert_eq!(public["verified"], true);
    // Assigning the course again starts attempt 2 from nothing and keeps attempt 1.
    let again = json_of(
        post(
            &app,
            &format!("/v1/courses/{}/enrollments", course.course_id),
            &course.instructor,
            json!({"account_id": course.learner_id, "new_attempt": true}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(again["attempt"], 2);
    let list =
        json_of(get(&app, &format!("/v1/courses/{}/enrollments", course.course_id), &course.instructor).await, 200)
            .await;
    let statuses: Vec<(&str, Option<&str>)> = list["enrollments"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| (e["status"].as_str().expect("status"), e["status_reason"].as_str()))
        .collect();
    assert_eq!(statuses, [("expired", Some("reassigned")), ("active", None)]);
    let outline = json_of(get(&app, &format!("/v1/me/courses/{}", course.course_id), &course.learner).await, 200).await;
    assert_eq!(outline["sections"][0]["lessons"][0]["progress"]["covered_seconds"], 0);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn free_courses_are_joined_previews_play_for_anyone_and_text_lessons_are_marked_done(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[60.0, 60.0], json!({"title": "Open course", "free": true})).await;
    json_of(
        patch(&app, &format!("/v1/lessons/{}", course.lessons[0]), &course.instructor, json!({"free_preview": true}))
            .await,
        200,
    )
    .await;
    let text = id(
        &json_of(
            post(
                &app,
                &format!("/v1/sections/{}/lessons", course.section_id),
                &course.instructor,
                json!({"title": "Reading", "kind": "text", "body": "Chapter 1"}),
            )
            .await,
            201,
        )
        .await,
        "lesson_id",
    );
    let (_, visitor) = account_with_roles(&app, "visitor@example.com", &["learner"]).await;
    // The preview plays for anyone signed in; the rest does not.
    lesson_session(&app, course.lessons[0], &visitor).await;
    let response = post(&app, &format!("/v1/lessons/{}/playback", course.lessons[1]), &visitor, json!({})).await;
    assert_eq!(error_code(response).await, "not_enrolled");
    // Unenrolled, the outline hides lesson bodies.
    let outline = json_of(get(&app, &format!("/v1/me/courses/{}", course.course_id), &visitor).await, 200).await;
    assert!(outline["enrollment"].is_null());
    assert!(outline["sections"][0]["lessons"][2]["body"].is_null());

    let joined =
        json_of(post(&app, &format!("/v1/courses/{}/join", course.course_id), &course.learner, json!({})).await, 201)
            .await;
    assert_eq!(joined["source"], "free");
    lesson_session(&app, course.lessons[1], &course.learner).await;
    let response =
        post(&app, &format!("/v1/me/lessons/{}/complete", course.lessons[1]), &course.learner, json!({})).await;
    assert_eq!(error_code(response).await, "wrong_state", "videos complete by watching");
    let response = post(&app, &format!("/v1/me/lessons/{text}/complete"), &course.learner, json!({})).await;
    assert_eq!(response.status(), 204);
    let outline = json_of(get(&app, &format!("/v1/me/courses/{}", course.course_id), &course.learner).await, 200).await;
    assert_eq!(outline["sections"][0]["lessons"][2]["body"], "Chapter 1");
    assert_eq!(outline["sections"][0]["lessons"][2]["progress"]["completed"], true);
    assert_eq!(outline["progress"]["lessons_completed"], 1);
    assert_eq!(outline["progress"]["lessons_total"], 3);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_instructor_reads_a_streamed_progress_report_and_retention(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[20.0, 10.0], json!({"title": "Report, \"quoted\""})).await;
    enroll(&app, &course).await;
    let (second_id, second) = account_with_roles(&app, "second@example.com", &["learner"]).await;
    json_of(
        post(
            &app,
            &format!("/v1/courses/{}/enrollments", course.course_id),
            &course.instructor,
            json!({"account_id": second_id}),
        )
        .await,
        201,
    )
    .await;
    for (token, to_ms) in [(&course.learner, 20_000u64), (&second, 10_000)] {
        let session = lesson_session(&app, course.lessons[0], token).await;
        let_time_pass(&app, &session, 30).await;
        json_of(
            report(&app, &session, json!({"seq": 1, "position_ms": to_ms, "spans": [{"from_ms": 0, "to_ms": to_ms}]}))
                .await,
            200,
        )
        .await;
    }
    let csv = get(&app, &format!("/v1/courses/{}/progress?format=csv", course.course_id), &course.instructor).await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().expect("type").starts_with("text/csv"));
    let text = csv.text().await.expect("csv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].ends_with(",lessons_completed,Lecture 1,Lecture 2"), "{}", lines[0]);
    assert!(lines[1].contains("learner@example.com") && lines[1].ends_with(",1,1.000,0.000"), "{}", lines[1]);
    assert!(lines[2].contains("second@example.com") && lines[2].ends_with(",0,0.500,0.000"), "{}", lines[2]);
    let report = app
        .client
        .get(app.url(&format!("/v1/courses/{}/progress", course.course_id)))
        .bearer_auth(&course.instructor)
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    let report = json_of(report, 200).await;
    assert_eq!(report["learners"].as_array().expect("learners").len(), 2);
    assert_eq!(report["learners"][1]["lessons"], json!([0.5, 0.0]));
    let retention =
        json_of(get(&app, &format!("/v1/lessons/{}/retention", course.lessons[0]), &course.instructor).await, 200)
            .await;
    assert_eq!(retention["learners"], 2);
    let curve: Vec<u64> =
        retention["seconds"].as_array().expect("seconds").iter().map(|n| n.as_u64().expect("n")).collect();
    assert_eq!(curve.len(), 20);
    assert_eq!(&curve[..10], &[2; 10]);
    assert_eq!(&curve[10..], &[1; 10]);
    // A learner cannot read the report.
    assert_eq!(
        error_code(get(&app, &format!("/v1/courses/{}/progress", course.course_id), &course.learner).await).await,
        "forbidden"
    );
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_api_key_with_course_scopes_enrols_and_opens_lessons_for_learners(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[60.0], json!({"title": "Via the API"})).await;
    let key = api_key(&app, &course.instructor, &["courses:read", "courses:write", "playback:create"]).await;
    let reader = api_key(&app, &course.instructor, &["courses:read"]).await;
    let response = post(
        &app,
        &format!("/v1/courses/{}/enrollments", course.course_id),
        &reader,
        json!({"account_id": course.learner_id}),
    )
    .await;
    assert_eq!(error_code(response).await, "insufficient_scope");
    let enrollment = json_of(
        post(
            &app,
            &format!("/v1/courses/{}/enrollments", course.course_id),
            &key,
            json!({"account_id": course.learner_id}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(enrollment["source"], "api");
    let session = json_of(
        post(
            &app,
            &format!("/v1/lessons/{}/playback", course.lessons[0]),
            &key,
            json!({"on_behalf_of": course.learner_id}),
        )
        .await,
        201,
    )
    .await;
    let answer = json_of(
        report(&app, &session, json!({"seq": 1, "position_ms": 1000, "spans": [{"from_ms": 0, "to_ms": 1000}]})).await,
        200,
    )
    .await;
    assert_eq!(answer["covered_seconds"], 1);
    let response = post(
        &app,
        &format!("/v1/courses/{}/enrollments", course.course_id),
        &key,
        json!({"account_id": Uuid::new_v4()}),
    )
    .await;
    assert_eq!(response.status(), 404);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_enrolment_past_its_end_date_stops_at_once_and_the_sweep_expires_it(pool: PgPool) {
    let training = lectern::training::TrainingSettings {
        sweep_interval: std::time::Duration::from_millis(200),
        ..lectern::training::TrainingSettings::default()
    };
    let app = crate::helpers::spawn_app_with(
        pool,
        crate::helpers::TestOptions { workers: 1, training: Some(training), ..Default::default() },
    )
    .await;
    let course = course(&app, &[60.0], json!({"title": "Short access"})).await;
    let past = post(
        &app,
        &format!("/v1/courses/{}/enrollments", course.course_id),
        &course.instructor,
        json!({"account_id": course.learner_id, "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(error_code(past).await, "invalid_field");
    let enrollment = enroll(&app, &course).await;
    let session = lesson_session(&app, course.lessons[0], &course.learner).await;
    let master = session["hls_url"].as_str().expect("hls_url").to_owned();
    // The end date passes (as the sweep would find it): access ends before any sweep ran.
    sqlx::query("update enrollment set expires_at = now() - interval '1 s' where enrollment_id = $1")
        .bind(id(&enrollment, "enrollment_id"))
        .execute(&app.pool)
        .await
        .expect("expire");
    sqlx::query("update access_pass set expires_at = now() - interval '1 s' where account_id = $1")
        .bind(course.learner_id)
        .execute(&app.pool)
        .await
        .expect("expire pass");
    let response = report(&app, &session, json!({"seq": 1, "position_ms": 0})).await;
    assert_eq!(error_code(response).await, "not_enrolled");
    let mut status = String::new();
    for _ in 0..100 {
        status = sqlx::query_scalar("select status from enrollment where enrollment_id = $1")
            .bind(id(&enrollment, "enrollment_id"))
            .fetch_one(&app.pool)
            .await
            .expect("status");
        if status == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "expired");
    let response = app.client.get(&master).send().await.expect("request");
    assert!(matches!(response.status().as_u16(), 403 | 410), "{}", response.status());
    let revoked: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select revoked_at from playback_session where session_id = $1")
            .bind(id(&session, "session_id"))
            .fetch_one(&app.pool)
            .await
            .expect("session");
    assert!(revoked.is_some(), "the sweep ended the live session");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn concurrent_reports_from_two_devices_lose_no_coverage(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[600.0], json!({"title": "Races"})).await;
    enroll(&app, &course).await;
    let phone = lesson_session(&app, course.lessons[0], &course.learner).await;
    let laptop = lesson_session(&app, course.lessons[0], &course.learner).await;
    let_time_pass(&app, &phone, 300).await;
    let_time_pass(&app, &laptop, 300).await;
    // Both devices send ten reports each, all at once: the phone covers 0–100 s, the laptop
    // 100–200 s, in 10 s spans; reports of one device may also overtake each other.
    let mut sends = Vec::new();
    for (device, base) in [(&phone, 0u64), (&laptop, 100_000)] {
        for seq in 1..=10u64 {
            let from = base + (seq - 1) * 10_000;
            let body = json!({"seq": seq, "position_ms": from + 10_000, "playing": true,
                              "spans": [{"from_ms": from, "to_ms": from + 10_000}]});
            let (app_client, device) = (app.client.clone(), device.clone());
            sends.push(tokio::spawn(async move {
                let mut body = body;
                body["token"] = device["progress_token"].clone();
                let response = app_client
                    .post(device["progress_url"].as_str().expect("url"))
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
            }));
        }
    }
    for send in sends {
        send.await.expect("report");
    }
    let outline = json_of(get(&app, &format!("/v1/me/courses/{}", course.course_id), &course.learner).await, 200).await;
    let progress = &outline["sections"][0]["lessons"][0]["progress"];
    assert_eq!(progress["covered_seconds"], 200, "{progress}");
    assert_eq!(progress["gaps"], json!([[200, 600]]));
}

/// A stream's state is kept between its reports (so the common report is one statement), but it
/// is only ever used through a write guarded by the rows: another device's coverage, a changed
/// threshold, an ended session and a suspension all reach the very next report.
#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_cached_stream_still_sees_every_change_made_elsewhere(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[100.0], json!({"title": "Caching"})).await;
    let enrollment = enroll(&app, &course).await;
    let phone = lesson_session(&app, course.lessons[0], &course.learner).await;
    let laptop = lesson_session(&app, course.lessons[0], &course.learner).await;
    let_time_pass(&app, &phone, 100).await;
    let_time_pass(&app, &laptop, 100).await;
    async fn ten_seconds(app: &TestApp, session: &Value, seq: u64, from: u64) -> reqwest::Response {
        let body = json!({"seq": seq, "position_ms": from + 10_000, "playing": true,
                          "spans": [{"from_ms": from, "to_ms": from + 10_000}]});
        report(app, session, body).await
    }
    // The phone's stream is cached after its first report; the laptop writes the same lesson's
    // row before the phone's second.
    json_of(ten_seconds(&app, &phone, 1, 0).await, 200).await;
    json_of(ten_seconds(&app, &laptop, 1, 50_000).await, 200).await;
    let answer = json_of(ten_seconds(&app, &phone, 2, 10_000).await, 200).await;
    assert_eq!(answer["covered_seconds"], 30, "the laptop's coverage survived the phone's report: {answer}");
    assert_eq!(answer["lesson_completed"], false);

    // Half the lesson now completes it; the phone's next report must know.
    let changed = patch(
        &app,
        &format!("/v1/courses/{}", course.course_id),
        &course.instructor,
        json!({"completion_threshold": 0.5}),
    )
    .await;
    assert_eq!(changed.status(), 200, "{}", changed.text().await.unwrap_or_default());
    let answer = json_of(ten_seconds(&app, &phone, 3, 20_000).await, 200).await;
    assert_eq!(answer["covered_seconds"], 40, "{answer}");
    let answer = json_of(ten_seconds(&app, &phone, 4, 60_000).await, 200).await;
    assert_eq!(answer["covered_seconds"], 50, "{answer}");
    assert_eq!(answer["lesson_completed"], true, "the new threshold applied: {answer}");

    // The laptop's session ends (its stream is cached): its next report is refused.
    json_of(ten_seconds(&app, &laptop, 2, 70_000).await, 200).await;
    let ended = app
        .client
        .delete(app.url(&format!("/v1/playback/{}", id(&laptop, "session_id"))))
        .bearer_auth(&course.learner)
        .send()
        .await
        .expect("request");
    assert_eq!(ended.status(), 204);
    let refused = ten_seconds(&app, &laptop, 3, 80_000).await;
    assert_eq!(refused.status(), 410);
    assert_eq!(error_code(refused).await, "playback_session_revoked");

    // The enrolment is suspended: the phone's next report (cached stream) is refused.
    json_of(ten_seconds(&app, &phone, 5, 80_000).await, 200).await;
    let enrollment_id = id(&enrollment, "enrollment_id");
    let suspended =
        patch(&app, &format!("/v1/enrollments/{enrollment_id}"), &course.instructor, json!({"status": "suspended"}))
            .await;
    assert_eq!(suspended.status(), 200, "{}", suspended.text().await.unwrap_or_default());
    let refused = ten_seconds(&app, &phone, 6, 90_000).await;
    assert!([403, 410].contains(&refused.status().as_u16()), "{}", refused.status());
    let code = error_code(refused).await;
    assert!(code == "not_enrolled" || code == "playback_session_revoked", "{code}");
    let covered: i32 = sqlx::query_scalar("select covered_seconds from lesson_progress where lesson_id = $1")
        .bind(course.lessons[0])
        .fetch_one(&app.pool)
        .await
        .expect("progress");
    assert_eq!(covered, 70, "nothing of the refused reports was written");
}
