//! Training on this machine, against a real Lectern and PostgreSQL:
//! 1. progress reports per second (HTTP, concurrent players, each on its own lesson session) and
//!    their p99 latency; the same reports applied in-process without HTTP; and, as the reference
//!    measured in the same run, the naive design that stores one row per reported span;
//! 2. the resume point (`GET /v1/me/courses/{id}/resume`) of a learner with progress in all 40
//!    lessons of a course: requests per second and p99;
//! 3. the dashboard (`GET /v1/me/enrollments`) of a learner with 50 enrolments × 40 lessons;
//! 4. the progress report of a course with 10,000 learners × 100 lessons, streamed as CSV: wall
//!    time and the process's resident memory above its level before the download.
//!
//! Run: `cargo bench --bench training` (needs PostgreSQL at `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; creates and drops `lectern_bench_training`).
//! Settings: `BENCH_ROUNDS` (default 5), `BENCH_SECONDS` per round (default 2), `BENCH_CLIENTS`
//! (default 8), `BENCH_REPORT_LEARNERS` (default 10000). Every figure is the median of the rounds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use support::{Bench, env_number, fresh_database, median, start};
use uuid::Uuid;

const DATABASE: &str = "lectern_bench_training";

struct Round {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn summary(rounds: &[Round]) -> (f64, f64) {
    (median(rounds.iter().map(|r| r.rate).collect()), median(rounds.iter().map(|r| r.p99_ms).collect()))
}

/// Runs `bench.rounds` rounds of `bench.clients` loops of `step(client index, iteration)`.
async fn rounds<F, Fut>(bench: &Bench, step: F) -> Vec<Round>
where
    F: Fn(u64, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let step = Arc::new(step);
    let mut results = Vec::new();
    let mut iteration_base = 0u64;
    for _ in 0..bench.rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for client in 0..bench.clients {
            let (stop, step) = (stop.clone(), step.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut iteration = iteration_base;
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    step(client, iteration).await;
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    iteration += 1;
                }
                latencies
            }));
        }
        tokio::time::sleep(Duration::from_secs(bench.seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.expect("client loop"));
        }
        iteration_base += 10_000_000;
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let p99 =
            latencies.get((latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0.0);
        let p50 = latencies.get(latencies.len() / 2).copied().unwrap_or(0.0);
        results.push(Round { rate: latencies.len() as f64 / elapsed, p50_ms: p50, p99_ms: p99 });
    }
    results
}

/// A published course of `owner` with `lessons` video lessons of `seconds` each (assets made
/// in SQL: what is measured never reads them). Returns the course and its lessons in order.
async fn seed_course(pool: &PgPool, owner: Uuid, lessons: usize, seconds: i32) -> (Uuid, Vec<Uuid>) {
    let course_id: Uuid = sqlx::query_scalar(
        "insert into course (owner_id, title, status, published_at) values ($1, 'Bench course', 'published', now()) returning course_id",
    )
    .bind(owner)
    .fetch_one(pool)
    .await
    .expect("course");
    let section_id: Uuid = sqlx::query_scalar(
        "insert into course_section (course_id, title, position) values ($1, 'All', 0) returning section_id",
    )
    .bind(course_id)
    .fetch_one(pool)
    .await
    .expect("section");
    let ids: Vec<Uuid> = sqlx::query_scalar(
        r#"
        with assets as (
            insert into asset (owner_id, title) select $1, 'Lecture ' || n from generate_series(1, $3) n
            returning asset_id
        ), numbered as (select asset_id, row_number() over () - 1 as n from assets)
        insert into lesson (course_id, section_id, position, title, kind, asset_id, duration_ms, duration_version)
        select $2, $4, n, 'Lecture ' || n, 'video', asset_id, $5, 1 from numbered
        returning lesson_id
        "#,
    )
    .bind(owner)
    .bind(course_id)
    .bind(i32::try_from(lessons).expect("lessons"))
    .bind(section_id)
    .bind(seconds * 1000)
    .fetch_all(pool)
    .await
    .expect("lessons");
    let ordered: Vec<Uuid> = sqlx::query_scalar(
        "select lesson_id from lesson where course_id = $1 and lesson_id = any($2) order by position",
    )
    .bind(course_id)
    .bind(&ids)
    .fetch_all(pool)
    .await
    .expect("order");
    (course_id, ordered)
}

/// Enrols `accounts` in `course` with progress in every lesson: a bitmap with the first
/// `covered` seconds set, a position, and completion when covered ≥ 90 %.
async fn seed_progress(pool: &PgPool, course: Uuid, accounts: &[Uuid], seconds: i32, covered: i32) {
    sqlx::query(
        "insert into enrollment (course_id, account_id, source) select $1, a, 'admin' from unnest($2::uuid[]) a",
    )
    .bind(course)
    .bind(accounts)
    .execute(pool)
    .await
    .expect("enrolments");
    sqlx::query(
        r#"
        insert into lesson_progress (enrollment_id, lesson_id, coverage, covered_seconds, position_ms, position_at,
                                     watch_ms, completed_at)
        select e.enrollment_id, l.lesson_id,
               decode(repeat('ff', $3 / 8) || repeat('00', ($4 + 7) / 8 - $3 / 8), 'hex'), $3, $3 * 1000,
               now() - make_interval(secs => l.position), $3 * 1000,
               case when $3 * 10 >= $4 * 9 then now() end
        from enrollment e join lesson l using (course_id)
        where e.course_id = $1 and e.account_id = any($2)
        "#,
    )
    .bind(course)
    .bind(accounts)
    .bind(covered)
    .bind(seconds)
    .execute(pool)
    .await
    .expect("progress");
}

/// `count` learners enrolled in `course`, each with a lesson session (lessons in turn), as
/// (report path, progress token).
async fn progress_sessions(
    pool: &PgPool,
    course: Uuid,
    lessons: &[Uuid],
    keys: &lectern::keys::Keys,
    count: u64,
) -> Vec<(String, String)> {
    let learners: Vec<Uuid> = sqlx::query_scalar(
        "insert into account (email) select 'wrk' || n || '@example.com' from generate_series(1, $1) n returning account_id",
    )
    .bind(i32::try_from(count).expect("count"))
    .fetch_all(pool)
    .await
    .expect("learners");
    let mut sessions = Vec::new();
    for (n, learner) in learners.iter().enumerate() {
        let lesson = lessons[n % lessons.len()];
        sqlx::query("insert into enrollment (course_id, account_id, source) values ($1, $2, 'admin')")
            .bind(course)
            .bind(learner)
            .execute(pool)
            .await
            .expect("enrol");
        let session: Uuid = sqlx::query_scalar(
            "insert into playback_session (asset_id, version, account_id, expires_at, context_id, created_at)
             select asset_id, 1, $1, now() + interval '1 day', lesson_id, now() - interval '1 day'
             from lesson where lesson_id = $2 returning session_id",
        )
        .bind(learner)
        .bind(lesson)
        .fetch_one(pool)
        .await
        .expect("session");
        sessions.push((format!("/v1/playback/{session}/progress"), lectern::training::progress_token(keys, session)));
    }
    sessions
}

/// A wrk script in which each of `threads` threads reports for its own share of `sessions`, in
/// turn, with increasing `seq`s above the base given as the script's argument.
fn progress_script(sessions: &[(String, String)], threads: usize) -> String {
    let list: Vec<String> = sessions.iter().map(|(path, token)| format!("  {{\"{path}\", \"{token}\"}},")).collect();
    format!(
        r#"local sessions = {{
{}
}}
local per = {}
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  base = tonumber(args[1])
  n = 0
  seqs = {{}}
end
function request()
  local k = tid * per + (n % per) + 1
  n = n + 1
  local seq = (seqs[k] or 0) + 1
  seqs[k] = seq
  local at = (seq % 3600) * 1000
  local body = string.format('{{"seq":%d,"position_ms":%d,"playing":true,"visible":true,"spans":[{{"from_ms":%d,"to_ms":%d,"rate":1.0}}],"token":"%s"}}',
    base + seq, at + 1000, at, at + 1000, sessions[k][2])
  return wrk.format("POST", sessions[k][1], {{["Content-Type"] = "application/json"}}, body)
end
"#,
        list.join("\n"),
        sessions.len() / threads
    )
}

/// A GET measured twice: at the bench's concurrency (throughput, and latency when saturated)
/// and with two clients, one per core here (latency when not queued behind the others).
struct GetFigures {
    loaded: Vec<Round>,
    pair_p50: f64,
    pair_p99: f64,
}

async fn http_get(bench: &Bench, use_wrk: bool, client: &reqwest::Client, url: &str, token: &str) -> GetFigures {
    let mut loaded = Vec::new();
    let mut pairs = Vec::new();
    if use_wrk {
        let header = vec![format!("Authorization: Bearer {token}")];
        for _ in 0..bench.rounds {
            let run = support::wrk(url, bench.clients, bench.seconds, &header, None).await;
            loaded.push(Round { rate: run.rate, p50_ms: run.p50_ms, p99_ms: run.p99_ms });
            pairs.push(support::wrk(url, 2, bench.seconds, &header, None).await);
        }
        return GetFigures {
            loaded,
            pair_p50: median(pairs.iter().map(|r| r.p50_ms).collect()),
            pair_p99: median(pairs.iter().map(|r| r.p99_ms).collect()),
        };
    }
    let get = |clients: u64| {
        let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
        let bench = Bench { rounds: bench.rounds, seconds: bench.seconds, clients };
        async move {
            rounds(&bench, move |_, _| {
                let (client, url, token) = (client.clone(), url.clone(), token.clone());
                async move {
                    let answer = client.get(url).bearer_auth(token).send().await.expect("GET");
                    assert!(answer.status().is_success(), "answered {}", answer.status());
                    answer.bytes().await.expect("body");
                }
            })
            .await
        }
    };
    let loaded = get(bench.clients).await;
    let pair = get(2).await;
    GetFigures { loaded, pair_p50: median(pair.iter().map(|r| r.p50_ms).collect()), pair_p99: summary(&pair).1 }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let bench = Bench::from_env();
    let report_learners = usize::try_from(env_number("BENCH_REPORT_LEARNERS", 10_000)).expect("learners");
    let (server, _admin) = fresh_database(DATABASE).await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (app, _storage, stop) = Box::pin(start(&format!("{server}/{DATABASE}"), data_dir.path())).await;
    let pool = PgPool::connect(&format!("{server}/{DATABASE}")).await.expect("bench database");
    let (keys, _) =
        lectern::keys::load_or_generate(&support::key_paths(&data_dir.path().join("keys"))).expect("the app's keys");
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
    let (owner, _) = support::register(&client, &app, "teacher@example.com").await;
    println!(
        "training: {} rounds of {} s, {} concurrent clients, median of rounds",
        bench.rounds, bench.seconds, bench.clients
    );
    let use_wrk = support::have_wrk();
    if use_wrk {
        println!("HTTP load from wrk (outside this process; the server alone is measured here)");
    } else {
        println!("wrk not found (Debian: apt-get install wrk): HTTP load from in-process clients");
    }

    // 1. Progress reports: one learner, enrolment and lesson session per client.
    let (course, lessons) = seed_course(&pool, owner, 40, 3600).await;
    let mut players = Vec::new();
    for n in 0..bench.clients {
        let (learner, _) = support::register(&client, &app, &format!("player{n}@example.com")).await;
        sqlx::query("insert into enrollment (course_id, account_id, source) values ($1, $2, 'admin')")
            .bind(course)
            .bind(learner)
            .execute(&pool)
            .await
            .expect("enrol");
        let lesson = lessons[usize::try_from(n).expect("n") % lessons.len()];
        let asset: Uuid = sqlx::query_scalar("select asset_id from lesson where lesson_id = $1")
            .bind(lesson)
            .fetch_one(&pool)
            .await
            .expect("asset");
        let session: Uuid = sqlx::query_scalar(
            "insert into playback_session (asset_id, version, account_id, expires_at, context_id, created_at)
             values ($1, 1, $2, now() + interval '1 day', $3, now() - interval '1 day') returning session_id",
        )
        .bind(asset)
        .bind(learner)
        .bind(lesson)
        .fetch_one(&pool)
        .await
        .expect("session");
        let token = lectern::training::progress_token(&keys, session);
        players.push((format!("{app}/v1/playback/{session}/progress"), token, session, lesson, learner));
    }
    let players = Arc::new(players);
    let http = if use_wrk {
        // Many more sessions than connections, each thread of wrk with its own, so no two
        // reports of one session are ever in flight at once (as with one real player).
        let sessions = progress_sessions(&pool, course, &lessons, &keys, bench.clients * 8).await;
        let script = data_dir.path().join("progress.lua");
        std::fs::write(&script, progress_script(&sessions, 2)).expect("wrk script");
        let mut results = Vec::new();
        for round in 0..bench.rounds {
            let base = (round + 1) * 10_000_000;
            let run =
                support::wrk(&app, bench.clients, bench.seconds, &[], Some((&script, vec![base.to_string()]))).await;
            results.push(Round { rate: run.rate, p50_ms: run.p50_ms, p99_ms: run.p99_ms });
        }
        results
    } else {
        let (players, client) = (players.clone(), client.clone());
        rounds(&bench, move |n, i| {
            let (players, client) = (players.clone(), client.clone());
            async move {
                let (url, token, ..) = &players[usize::try_from(n).expect("n")];
                let at = (i % 3600) * 1000;
                let body = json!({"seq": i + 1, "position_ms": at + 1000, "playing": true, "visible": true,
                                  "spans": [{"from_ms": at, "to_ms": at + 1000, "rate": 1.0}], "token": token});
                let answer = client.post(url).body(body.to_string()).send().await.expect("report");
                assert!(answer.status().is_success(), "answered {}", answer.status());
                answer.bytes().await.expect("body");
            }
        })
        .await
    };
    let (http_rate, http_p99) = summary(&http);
    // The same reports applied in-process (the transaction alone, no HTTP or JSON).
    let direct = {
        let (players, pool) = (players.clone(), pool.clone());
        // As a server process keeps it (`LECTERN_PROGRESS_CACHE_SESSIONS`).
        let cache = Arc::new(lectern::training::progress::ProgressCache::new(
            lectern::training::DEFAULT_PROGRESS_CACHE_SESSIONS,
        ));
        rounds(&bench, move |n, i| {
            let (players, pool, cache) = (players.clone(), pool.clone(), cache.clone());
            async move {
                let (_, _, session, ..) = &players[usize::try_from(n).expect("n")];
                let at = (i % 3600) * 1000;
                let report = lectern::training::progress::Report {
                    seq: 100_000_000 + i,
                    position_ms: at + 1000,
                    playing: true,
                    visible: true,
                    spans: vec![lectern::training::coverage::Span { from_ms: at, to_ms: at + 1000, rate: 1.0 }],
                };
                // As the route does: optimistic first; a report that completes the lesson
                // takes the enrolment's lock.
                let mut conn = pool.acquire().await.expect("connection");
                let applied = lectern::training::progress::record(
                    &mut conn,
                    &cache,
                    *session,
                    &report,
                    time::Duration::ZERO,
                    lectern::training::progress::Concurrency::Optimistic,
                )
                .await
                .expect("record");
                drop(conn);
                if applied.is_none() {
                    let mut tx = pool.begin().await.expect("begin");
                    let locked = lectern::training::progress::record(
                        &mut tx,
                        &cache,
                        *session,
                        &report,
                        time::Duration::ZERO,
                        lectern::training::progress::Concurrency::Locked,
                    )
                    .await
                    .expect("record");
                    assert!(locked.is_some(), "one writer per session applies under the lock");
                    tx.commit().await.expect("commit");
                }
            }
        })
        .await
    };
    let (direct_rate, direct_p99) = summary(&direct);
    // The reference: one row per span, nothing else (coverage would be computed when read).
    sqlx::query(
        "create table bench_span_log (session_id uuid not null, seq bigint not null, from_ms bigint not null,
         to_ms bigint not null, rate real not null, visible boolean not null, received_at timestamptz not null default now())",
    )
    .execute(&pool)
    .await
    .expect("span log");
    sqlx::query("create index on bench_span_log (session_id, seq)").execute(&pool).await.expect("index");
    let naive = {
        let (players, pool) = (players.clone(), pool.clone());
        rounds(&bench, move |n, i| {
            let (players, pool) = (players.clone(), pool.clone());
            async move {
                let (_, _, session, ..) = &players[usize::try_from(n).expect("n")];
                let at = i64::try_from((i % 3600) * 1000).expect("ms");
                sqlx::query("insert into bench_span_log (session_id, seq, from_ms, to_ms, rate, visible) values ($1, $2, $3, $4, 1, true)")
                    .bind(session)
                    .bind(i64::try_from(i).expect("seq"))
                    .bind(at)
                    .bind(at + 1000)
                    .execute(&pool)
                    .await
                    .expect("insert");
            }
        })
        .await
    };
    let (naive_rate, naive_p99) = summary(&naive);
    println!("progress reports, HTTP:             {http_rate:>8.0}/s  p99 {http_p99:>6.2} ms");
    println!("progress reports, in-process:       {direct_rate:>8.0}/s  p99 {direct_p99:>6.2} ms");
    println!("reference, one row per span:        {naive_rate:>8.0}/s  p99 {naive_p99:>6.2} ms");
    println!(
        "ratio in-process / one row per span: {:.2}×   HTTP / one row per span: {:.2}×",
        direct_rate / naive_rate,
        http_rate / naive_rate
    );

    // 2. Resume, for a learner with progress in all 40 lessons.
    let (reader, reader_token) = support::register(&client, &app, "reader@example.com").await;
    seed_progress(&pool, course, &[reader], 3600, 1200).await;
    let resume_url = format!("{app}/v1/me/courses/{course}/resume");
    let resume = http_get(&bench, use_wrk, &client, &resume_url, &reader_token).await;
    let (resume_rate, resume_p99) = summary(&resume.loaded);
    println!(
        "resume (40 lessons):                {resume_rate:>8.0}/s  p99 {resume_p99:>6.2} ms   (2 clients: p50 {:.2} ms, p99 {:.2} ms)",
        resume.pair_p50, resume.pair_p99
    );

    // 3. The dashboard of a learner with 50 enrolments × 40 lessons.
    for _ in 0..49 {
        let (other, _) = seed_course(&pool, owner, 40, 1800).await;
        seed_progress(&pool, other, &[reader], 1800, 600).await;
    }
    let dashboard_url = format!("{app}/v1/me/enrollments");
    let dashboard = http_get(&bench, use_wrk, &client, &dashboard_url, &reader_token).await;
    let (dashboard_rate, dashboard_p99) = summary(&dashboard.loaded);
    println!(
        "dashboard (50 × 40):                {dashboard_rate:>8.0}/s  p99 {dashboard_p99:>6.2} ms   (2 clients: p50 {:.2} ms, p99 {:.2} ms)",
        dashboard.pair_p50, dashboard.pair_p99
    );

    // 4. The CSV of 10,000 learners × 100 lessons.
    let seeding = Instant::now();
    let (big, _) = seed_course(&pool, owner, 100, 1800).await;
    let learners: Vec<Uuid> = sqlx::query_scalar(
        "insert into account (email) select 'learner' || n || '@example.com' from generate_series(1, $1) n returning account_id",
    )
    .bind(i32::try_from(report_learners).expect("learners"))
    .fetch_all(&pool)
    .await
    .expect("learners");
    for chunk in learners.chunks(1000) {
        seed_progress(&pool, big, chunk, 1800, 900).await;
    }
    sqlx::query("analyze").execute(&pool).await.expect("analyze");
    println!("(seeded {} learners × 100 lessons in {:.1} s)", learners.len(), seeding.elapsed().as_secs_f64());
    let instructor_token = {
        let answer: Value = client
            .post(format!("{app}/v1/auth/login"))
            .json(&json!({"email": "teacher@example.com", "password": support::PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        answer["access_token"].as_str().expect("token").to_owned()
    };
    sqlx::query("update account set roles = '{learner,instructor}' where account_id = $1")
        .bind(owner)
        .execute(&pool)
        .await
        .expect("roles");
    let mut times = Vec::new();
    let mut peaks = Vec::new();
    let mut lines = 0;
    for _ in 0..bench.rounds.min(3) {
        let before = rss_kib();
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let sampling = sampling.clone();
            tokio::spawn(async move {
                let mut peak = 0;
                while sampling.load(Ordering::Relaxed) {
                    peak = peak.max(rss_kib());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                peak
            })
        };
        let started = Instant::now();
        let mut response = client
            .get(format!("{app}/v1/courses/{big}/progress?format=csv"))
            .bearer_auth(&instructor_token)
            .send()
            .await
            .expect("report");
        assert!(response.status().is_success(), "answered {}", response.status());
        let mut newlines = 0;
        while let Some(chunk) = response.chunk().await.expect("chunk") {
            newlines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        times.push(started.elapsed().as_secs_f64());
        sampling.store(false, Ordering::Relaxed);
        let peak = sampler.await.expect("sampler");
        peaks.push(peak.saturating_sub(before) as f64 / 1024.0);
        lines = newlines;
    }
    println!(
        "progress CSV ({} learners × 100):  {:>8.2} s   peak RSS above idle {:.1} MiB ({} lines, process RSS {:.0} MiB)",
        learners.len(),
        median(times),
        median(peaks),
        lines,
        rss_kib() as f64 / 1024.0
    );
    stop.cancel();
}
