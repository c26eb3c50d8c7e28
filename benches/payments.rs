//! Payments on this machine, against a real Lectern and PostgreSQL:
//! 1. Stripe webhook intake over HTTP — signature verified on the raw body, the event recorded in
//!    the inbox, handled (an event type Lectern ignores, so nothing else is measured), marked
//!    processed, `200` — in events per second and p50/p99 latency; the same for redeliveries of
//!    an event already processed (the duplicate path);
//! 2. what entitlements add to playback-session creation: `POST /v1/lessons/{id}/playback` p50/p99
//!    for learners whose access comes from an entitlement (granted through
//!    `POST /v1/users/{id}/entitlements`, so the enrolment and pass were written by payments)
//!    next to learners enrolled by their instructor, rounds interleaved; the difference of the
//!    p99s is the entitlement check's added cost (by design ~0: the session reads the pass that
//!    entitlements wrote, never the entitlement table).
//!
//! Run: `cargo bench --bench payments` (needs PostgreSQL at `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, and ffmpeg; creates and drops
//! `lectern_bench_payments`). Settings: `BENCH_ROUNDS` (default 5), `BENCH_SECONDS` per round
//! (default 2), `BENCH_CLIENTS` (default 8). Every figure is the median of the rounds. The HTTP
//! load comes from clients inside this process, which share its two cores with the server: the
//! figures are a floor.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Bench, fresh_database, median, start_with};

const DATABASE: &str = "lectern_bench_payments";
const WEBHOOK_SECRET: &str = "whsec_bench_secret";

struct Round {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One round of `clients` loops of `step(client, iteration)` for `seconds`.
async fn round<F, Fut>(clients: u64, seconds: u64, base: u64, step: Arc<F>) -> Round
where
    F: Fn(u64, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (stop, step) = (stop.clone(), step.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut iteration = base;
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                step(client, iteration).await;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                iteration += 1;
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client loop"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |share: usize| {
        latencies.get((latencies.len() * share / 100).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0.0)
    };
    Round { rate: latencies.len() as f64 / elapsed, p50_ms: at(50), p99_ms: at(99) }
}

fn print(name: &str, rounds: &[Round]) -> (f64, f64, f64) {
    let rate = median(rounds.iter().map(|r| r.rate).collect());
    let p50 = median(rounds.iter().map(|r| r.p50_ms).collect());
    let p99 = median(rounds.iter().map(|r| r.p99_ms).collect());
    println!("  {name:<44} {rate:>9.0}/s   p50 {p50:>7.2} ms   p99 {p99:>7.2} ms");
    (rate, p50, p99)
}

async fn call(client: &reqwest::Client, url: String, token: &str, body: Value, expected: u16) -> Value {
    let response = client.post(url.clone()).bearer_auth(token).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expected, "{url}: {answer}");
    answer
}

fn signed(event_id: &str) -> (String, String) {
    let body = json!({
        "id": event_id, "object": "event", "api_version": "2025-03-31.basil", "created": 1_764_700_000,
        "livemode": false, "pending_webhooks": 1, "type": "customer.created",
        "data": {"object": {"id": "cus_bench", "object": "customer", "email": "buyer@example.com"}},
    })
    .to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = lectern::payments::stripe::signature::sign(body.as_bytes(), WEBHOOK_SECRET, now);
    (body, header)
}

#[tokio::main]
async fn main() {
    let bench = Bench::from_env();
    let (server, _admin) = fresh_database(DATABASE).await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    // Stripe configured (its API is never called: ignored events make no calls).
    let payments = lectern::payments::PaymentSettings {
        stripe: Some(lectern::payments::StripeSettings {
            secret_key: secrecy::SecretString::from("sk_test_bench"),
            webhook_secrets: vec![secrecy::SecretString::from(WEBHOOK_SECRET)],
            webhook_tolerance: Duration::from_secs(300),
            api_base: url::Url::parse("http://127.0.0.1:9").expect("url"),
            timeout: Duration::from_secs(1),
        }),
        ..lectern::payments::PaymentSettings::default()
    };
    let (app, storage, stop) = Box::pin(start_with(&format!("{server}/{DATABASE}"), data_dir.path(), payments)).await;
    let pool = sqlx::PgPool::connect(&format!("{server}/{DATABASE}")).await.expect("bench database");
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
    println!(
        "payments: {} rounds of {} s, {} concurrent HTTP clients (in this process), median of rounds",
        bench.rounds, bench.seconds, bench.clients
    );

    // 1. Webhook intake: a new event id per request.
    let webhook = format!("{app}/v1/payments/stripe/webhook");
    let step = {
        let (client, webhook) = (client.clone(), webhook.clone());
        Arc::new(move |n: u64, iteration: u64| {
            let (client, webhook) = (client.clone(), webhook.clone());
            async move {
                let (body, header) = signed(&format!("evt_bench_{n}_{iteration}"));
                let response = client
                    .post(webhook)
                    .header("content-type", "application/json; charset=utf-8")
                    .header("stripe-signature", header)
                    .body(body)
                    .send()
                    .await
                    .expect("webhook");
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await;
            }
        })
    };
    let mut intake = Vec::new();
    for r in 0..bench.rounds {
        intake.push(round(bench.clients, bench.seconds, r * 100_000_000, step.clone()).await);
    }
    println!("webhook intake (verify + inbox + 200):");
    let (rate, _, p99) = print("new events", &intake);
    println!("    target ≥ 1000/s with p99 < 10 ms: {}", if rate >= 1000.0 && p99 < 10.0 { "met" } else { "NOT met" });
    let duplicate = {
        let (client, webhook) = (client.clone(), webhook.clone());
        Arc::new(move |_n: u64, _iteration: u64| {
            let (client, webhook) = (client.clone(), webhook.clone());
            async move {
                let (body, header) = signed("evt_bench_0_0");
                let response =
                    client.post(webhook).header("stripe-signature", header).body(body).send().await.expect("webhook");
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await;
            }
        })
    };
    let mut duplicates = Vec::new();
    for r in 0..bench.rounds {
        duplicates.push(round(bench.clients, bench.seconds, r, duplicate.clone()).await);
    }
    print("redeliveries of a processed event", &duplicates);

    // 2. Playback sessions: a published course of one lesson on a real package.
    let (teacher_id, _) = support::register(&client, &app, "teacher@example.com").await;
    sqlx::query("update account set roles = '{learner,instructor}' where account_id = $1")
        .bind(teacher_id)
        .execute(&pool)
        .await
        .expect("roles");
    let login: Value = client
        .post(format!("{app}/v1/auth/login"))
        .json(&json!({"email": "teacher@example.com", "password": support::PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let teacher = login["tokens"]["access_token"].as_str().expect("token").to_owned();
    let package = support::make_package(data_dir.path(), "640x360");
    let asset_id = support::publish(&pool, &storage, teacher_id, &package).await;
    let course = call(&client, format!("{app}/v1/courses"), &teacher, json!({"title": "Bench course"}), 201).await;
    let course_id = course["course_id"].as_str().expect("course").to_owned();
    let section =
        call(&client, format!("{app}/v1/courses/{course_id}/sections"), &teacher, json!({"title": "All"}), 201).await;
    let section_id = section["section_id"].as_str().expect("section").to_owned();
    let body = json!({"title": "Lecture", "kind": "video", "asset_id": asset_id});
    let lesson = call(&client, format!("{app}/v1/sections/{section_id}/lessons"), &teacher, body, 201).await;
    let lesson_id = lesson["lesson_id"].as_str().expect("lesson").to_owned();
    call(&client, format!("{app}/v1/courses/{course_id}/publish"), &teacher, json!({}), 200).await;
    let (mut enrolled, mut entitled) = (Vec::new(), Vec::new());
    for n in 0..bench.clients {
        let (learner_id, token) = support::register(&client, &app, &format!("staff{n}@example.com")).await;
        let url = format!("{app}/v1/courses/{course_id}/enrollments");
        call(&client, url, &teacher, json!({"account_id": learner_id}), 201).await;
        enrolled.push(token);
        let (learner_id, token) = support::register(&client, &app, &format!("buyer{n}@example.com")).await;
        let url = format!("{app}/v1/users/{learner_id}/entitlements");
        call(&client, url, &teacher, json!({"course_id": course_id}), 201).await;
        entitled.push(token);
    }
    let session_step = |tokens: Vec<String>| {
        let (client, url) = (client.clone(), format!("{app}/v1/lessons/{lesson_id}/playback"));
        let tokens = Arc::new(tokens);
        Arc::new(move |n: u64, _iteration: u64| {
            let (client, url, tokens) = (client.clone(), url.clone(), tokens.clone());
            async move {
                let token = &tokens[usize::try_from(n).expect("index") % tokens.len()];
                let response = client.post(url).bearer_auth(token).json(&json!({})).send().await.expect("session");
                assert_eq!(response.status(), 201);
                let _ = response.bytes().await;
            }
        })
    };
    let (staff_step, entitled_step) = (session_step(enrolled), session_step(entitled));
    let (mut staff_rounds, mut entitled_rounds) = (Vec::new(), Vec::new());
    for r in 0..bench.rounds {
        staff_rounds.push(round(bench.clients, bench.seconds, r, staff_step.clone()).await);
        entitled_rounds.push(round(bench.clients, bench.seconds, r, entitled_step.clone()).await);
    }
    println!("playback-session creation (POST /v1/lessons/{{id}}/playback):");
    let (_, _, staff_p99) = print("enrolled by the instructor", &staff_rounds);
    let (_, _, entitled_p99) = print("entitled (payments wrote the enrolment)", &entitled_rounds);
    let added = entitled_p99 - staff_p99;
    println!(
        "    added p99: {added:+.3} ms (ratio {:.3}); target < 0.2 ms: {}",
        entitled_p99 / staff_p99.max(f64::EPSILON),
        if added < 0.2 { "met" } else { "NOT met" }
    );

    stop.cancel();
    drop(pool);
}
