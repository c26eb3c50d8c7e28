//! Webhooks end to end: real endpoints registered through the API, real asset events, real HTTP
//! receivers on 127.0.0.1 (reachable only because the tests put 127.0.0.1 on the operator's
//! allow-list), and signatures checked by `tests/webhooks/verify.py`, the README's recipe.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{TestApp, TestOptions, error_code, instructor, spawn_app_with};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use lectern::net::AddressPolicy;
use lectern::webhooks::WebhookSettings;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: Vec<u8>,
    pub(crate) at: Instant,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Statuses to answer first, in order; then `default_status`.
    script: Mutex<VecDeque<u16>>,
    default_status: AtomicU16,
}

/// An HTTP server on 127.0.0.1 that records every request and answers as scripted.
pub(crate) struct Receiver {
    pub(crate) url: String,
    state: Arc<ReceiverState>,
    stop: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn record(State(state): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let headers = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned()))
        .collect();
    state.received.lock().expect("lock").push(Received { headers, body: body.to_vec(), at: Instant::now() });
    let scripted = state.script.lock().expect("lock").pop_front();
    let status = scripted.unwrap_or_else(|| state.default_status.load(Ordering::SeqCst));
    StatusCode::from_u16(status).expect("a valid status")
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let state = Arc::new(ReceiverState { default_status: AtomicU16::new(200), ..ReceiverState::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hooks/lectern", listener.local_addr().expect("address"));
        let router = axum::Router::new().route("/hooks/lectern", axum::routing::post(record)).with_state(state.clone());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, router).with_graceful_shutdown(stopped.cancelled_owned()).await.expect("serve");
        });
        Self { url, state, stop }
    }

    fn answer_first(&self, statuses: &[u16]) {
        self.state.script.lock().expect("lock").extend(statuses);
    }

    fn answer_from_now_on(&self, status: u16) {
        self.state.default_status.store(status, Ordering::SeqCst);
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    /// Waits until at least `count` requests arrived.
    pub(crate) async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(Instant::now() < deadline, "only {} of {count} requests arrived", received.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Short retry delays, plain http and 127.0.0.1 allowed (for the test receivers). The periodic
/// sweep is pushed out of the tests' reach, so every event must arrive through the jobs its own
/// transaction enqueued (an event left to the sweep once took a minute to arrive).
pub(crate) fn loopback_settings() -> WebhookSettings {
    let policy = AddressPolicy::parse(&["127.0.0.1"]).expect("valid allow-list");
    WebhookSettings {
        fetch: WebhookSettings::fetch_settings(policy, Duration::from_secs(5)),
        allow_http: true,
        retry_base_delay: Duration::from_millis(200),
        retry_max_delay: Duration::from_secs(1),
        sweep_interval: Duration::from_secs(3600),
        ..WebhookSettings::default()
    }
}

async fn app_with(pool: PgPool, webhooks: WebhookSettings) -> TestApp {
    app_with_workers(pool, webhooks, 2).await
}

async fn app_with_workers(pool: PgPool, webhooks: WebhookSettings, workers: usize) -> TestApp {
    spawn_app_with(pool, TestOptions { workers, webhooks: Some(webhooks), ..TestOptions::default() }).await
}

async fn create_webhook(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url("/v1/webhooks")).bearer_auth(token).json(&body).send().await.expect("request")
}

/// Registers an endpoint that must be accepted; returns the 201 body (with the secret).
pub(crate) async fn webhook(app: &TestApp, token: &str, body: Value) -> Value {
    let response = create_webhook(app, token, body).await;
    assert_eq!(response.status(), 201, "creating a webhook: {:?}", response.text().await);
    response.json().await.expect("json")
}

pub(crate) async fn create_asset(app: &TestApp, token: &str) -> String {
    let created = crate::helpers::media::create_asset(app, token, "Lecture 1").await;
    created["id"].as_str().expect("asset id").to_owned()
}

async fn deliveries(app: &TestApp, token: &str, webhook_id: &str) -> Vec<Value> {
    let response = app.get_with(&format!("/v1/webhooks/{webhook_id}/deliveries?limit=100"), token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["deliveries"].as_array().expect("a list").clone()
}

/// Waits until the endpoint's only delivery is in `state`, and returns it.
async fn delivery_in_state(app: &TestApp, token: &str, webhook_id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = deliveries(app, token, webhook_id).await;
        if let [only] = list.as_slice()
            && only["state"] == state
        {
            return only.clone();
        }
        assert!(Instant::now() < deadline, "no single delivery reached {state}: {list:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the README's verification recipe (tests/webhooks/verify.py) on a request.
pub(crate) fn verifies(secret: &str, signature: &str, body: &[u8]) -> bool {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks/verify.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(secret)
        .arg(signature)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (it is needed by the webhook tests)");
    child.stdin.take().expect("stdin").write_all(body).expect("write the body");
    child.wait().expect("verify.py finishes").success()
}

#[sqlx::test]
async fn every_event_of_a_real_asset_lifecycle_arrives_signed_as_the_readme_says(pool: PgPool) {
    let app = app_with(pool, loopback_settings()).await;
    let receiver = Receiver::start().await;
    let token = instructor(&app, "teacher@example.com").await;
    let created = webhook(&app, &token, json!({"url": receiver.url, "description": "course site"})).await;
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["events"], json!(["*"]));
    let webhook_id = created["id"].as_str().expect("id").to_owned();

    // Asset A through the API and the real jobs: created, uploaded (tus), errored (the probe
    // refuses random bytes), renamed (an internal event, not delivered), deleted.
    let asset_a = create_asset(&app, &token).await;
    let bytes = crate::helpers::generated_bytes(7, 64 * 1024);
    let upload = crate::helpers::uploads::tus_upload_url(&app, &token, &asset_a, bytes.len() as u64).await;
    assert_eq!(crate::helpers::uploads::tus_patch(&app, &token, &upload, 0, bytes).await.status(), 204);
    let asset_a_id: uuid::Uuid = asset_a.parse().expect("uuid");
    let errored =
        crate::helpers::media::wait_until_not(&app.pool, asset_a_id, &["waiting_upload", "uploaded", "probing"]).await;
    assert_eq!(errored.status, "errored");
    let renamed = app
        .client
        .patch(app.url(&format!("/v1/assets/{asset_a}")))
        .bearer_auth(&token)
        .json(&json!({"title": "Lecture 1 (old)"}))
        .send()
        .await
        .expect("request");
    assert_eq!(renamed.status(), 200);
    let deleted =
        app.client.delete(app.url(&format!("/v1/assets/{asset_a}"))).bearer_auth(&token).send().await.expect("request");
    assert_eq!(deleted.status(), 204);

    // Asset B becomes playable and ready through the calls the transcode job publishes with
    // (a new version, then its renditions and the asset in one transaction); a real transcode
    // would only add minutes.
    let asset_b = create_asset(&app, &token).await;
    let asset_b_id: uuid::Uuid = asset_b.parse().expect("uuid");
    let id_b = lectern::media::assets::AssetId(asset_b_id);
    sqlx::query("update asset set status = 'processing' where asset_id = $1")
        .bind(asset_b_id)
        .execute(&app.pool)
        .await
        .expect("processing");
    let (version, _) =
        lectern::media::versions::begin_attempt(&app.pool, id_b, "course", lectern::media::versions::VersionKind::Full)
            .await
            .expect("a version");
    let rendition = lectern::media::versions::RenditionRow {
        name: "720p".to_owned(),
        kind: "video".to_owned(),
        width: Some(1280),
        height: Some(720),
        frame_rate: Some(30.0),
        bandwidth: 3_000_000,
        average_bandwidth: Some(2_500_000),
        codecs: "avc1.64001f".to_owned(),
        language: None,
        duration_seconds: 12.0,
        playlist: "720p/playlist.m3u8".to_owned(),
    };
    let mut tx = app.pool.begin().await.expect("transaction");
    let manifests = json!({"hls": "master.m3u8"});
    lectern::media::versions::publish(&mut tx, id_b, version, &manifests, &[rendition])
        .await
        .expect("publish the version");
    assert!(lectern::media::assets::publish_version(&mut tx, id_b, version).await.expect("publish"));
    tx.commit().await.expect("commit");

    let received = receiver.wait_for(7).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 7, "exactly the seven documented events arrive");
    let mut seen: HashMap<(String, String), Value> = HashMap::new();
    for request in &received {
        let signature = request.header("lectern-signature");
        assert!(verifies(&secret, signature, &request.body), "the README recipe accepts {signature}");
        let mut tampered = request.body.clone();
        tampered.push(b' ');
        assert!(!verifies(&secret, signature, &tampered), "a changed body does not verify");
        assert!(!verifies("whsec_not-the-secret", signature, &request.body), "another secret does not verify");
        assert_eq!(request.header("content-type"), "application/json");
        assert!(request.header("user-agent").starts_with("Lectern-Webhooks/"));
        let body = request.json();
        assert_eq!(request.header("lectern-event-id"), body["id"].as_str().expect("id"));
        assert_eq!(request.header("lectern-event-type"), body["type"].as_str().expect("type"));
        assert!(body["created_at"].as_str().is_some_and(|t| t.contains('T')));
        let asset = body["data"]["asset"].clone();
        seen.insert(
            (asset["id"].as_str().expect("asset id").to_owned(), body["type"].as_str().expect("type").to_owned()),
            asset,
        );
    }
    let types_of = |asset: &str| {
        let mut types: Vec<&str> = seen.keys().filter(|(id, _)| id == asset).map(|(_, t)| t.as_str()).collect();
        types.sort_unstable();
        types
    };
    assert_eq!(types_of(&asset_a), ["asset.created", "asset.deleted", "asset.errored", "asset.uploaded"]);
    assert_eq!(types_of(&asset_b), ["asset.created", "asset.playable", "asset.ready"]);
    // Each body shows the asset as it was when the event happened.
    let at = |asset: &str, event: &str| seen[&(asset.to_owned(), event.to_owned())].clone();
    assert_eq!(at(&asset_a, "asset.created")["status"], "waiting_upload");
    assert_eq!(at(&asset_a, "asset.uploaded")["status"], "uploaded");
    assert_eq!(at(&asset_a, "asset.uploaded")["source"]["size"], 64 * 1024);
    assert_eq!(at(&asset_a, "asset.errored")["status"], "errored");
    assert_eq!(at(&asset_a, "asset.errored")["error"]["code"], errored.error_code.expect("a code"));
    assert_eq!(at(&asset_a, "asset.deleted")["title"], "Lecture 1 (old)");
    assert_eq!(at(&asset_b, "asset.created")["playable"], false);
    assert_eq!(at(&asset_b, "asset.ready")["status"], "ready");
    assert_eq!(at(&asset_b, "asset.ready")["current_version"], version);
    assert_eq!(at(&asset_b, "asset.ready")["renditions"][0]["name"], "720p");
    assert_eq!(at(&asset_b, "asset.playable")["playable"], true);

    // The owner sees every delivery, succeeded on the first attempt, newest first, in pages.
    let all = deliveries(&app, &token, &webhook_id).await;
    assert_eq!(all.len(), 7);
    for delivery in &all {
        assert_eq!(delivery["state"], "succeeded");
        assert_eq!(delivery["attempts"].as_array().expect("attempts").len(), 1);
        assert_eq!(delivery["attempts"][0]["status_code"], 200);
        assert_eq!(delivery["attempts"][0]["number"], 1);
    }
    let mut paged = Vec::new();
    let mut path = format!("/v1/webhooks/{webhook_id}/deliveries?limit=3");
    loop {
        let page: Value = app.get_with(&path, &token).await.json().await.expect("json");
        paged.extend(page["deliveries"].as_array().expect("list").iter().map(|d| d["id"].clone()));
        let Some(cursor) = page["next_cursor"].as_str() else { break };
        path = format!("/v1/webhooks/{webhook_id}/deliveries?limit=3&cursor={cursor}");
    }
    assert_eq!(paged, all.iter().map(|d| d["id"].clone()).collect::<Vec<_>>());
    let bad = app.get_with(&format!("/v1/webhooks/{webhook_id}/deliveries?cursor=garbage"), &token).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(error_code(bad).await, "invalid_cursor");

    // Fanning the same events out again (as a retried dispatch would) makes no second delivery.
    sqlx::query("update asset_event set dispatched_at = null").execute(&app.pool).await.expect("undispatch");
    let options =
        lectern::jobs::EnqueueOptions { unique_key: Some("webhooks.dispatch:test".to_owned()), ..Default::default() };
    let job =
        lectern::jobs::queue::enqueue(&app.pool, "webhooks.dispatch", &json!({}), options).await.expect("enqueue");
    let deadline = Instant::now() + Duration::from_secs(30);
    while lectern::jobs::queue::get(&app.pool, job).await.expect("job").expect("exists").state != "succeeded" {
        assert!(Instant::now() < deadline, "the dispatch job did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let count: i64 =
        sqlx::query_scalar("select count(*) from webhook_delivery").fetch_one(&app.pool).await.expect("count");
    assert_eq!(count, 7);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 7);
}

#[sqlx::test]
async fn a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt_with_the_same_id(pool: PgPool) {
    let app = app_with(pool, loopback_settings()).await;
    let receiver = Receiver::start().await;
    receiver.answer_first(&[500, 500]);
    let token = instructor(&app, "teacher@example.com").await;
    let created = webhook(&app, &token, json!({"url": receiver.url, "events": ["asset.created"]})).await;
    let webhook_id = created["id"].as_str().expect("id");
    let secret = created["secret"].as_str().expect("secret");
    create_asset(&app, &token).await;

    let received = receiver.wait_for(3).await;
    let ids: Vec<Value> = received.iter().map(|r| r.json()["id"].clone()).collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2]);
    for request in &received {
        assert!(verifies(secret, request.header("lectern-signature"), &request.body));
    }
    // Retries back off: 200 ms then 400 ms, each ±20 %.
    assert!(received[1].at - received[0].at >= Duration::from_millis(150), "{:?}", received[1].at - received[0].at);
    assert!(received[2].at - received[1].at >= Duration::from_millis(300), "{:?}", received[2].at - received[1].at);

    let delivery = delivery_in_state(&app, &token, webhook_id, "succeeded").await;
    assert_eq!(delivery["event_id"], ids[0]);
    let attempts = delivery["attempts"].as_array().expect("attempts");
    let statuses: Vec<&Value> = attempts.iter().map(|a| &a["status_code"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
    assert_eq!(attempts[0]["error"], "the receiver answered 500");
    assert!(attempts[2]["error"].is_null());
    assert!(delivery["delivered_at"].is_string());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 3, "nothing is sent after a success");
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("request").text().await.expect("text");
    assert!(metrics.contains(r#"lectern_webhook_sends_total{outcome="retried"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"lectern_webhook_sends_total{outcome="succeeded"} 1"#), "{metrics}");
}

#[sqlx::test]
async fn every_send_vets_the_address_again_so_an_endpoint_no_longer_allowed_gets_nothing(pool: PgPool) {
    // Registered while 127.0.0.1 was on the allow-list, by an API process without workers…
    let receiver = Receiver::start().await;
    let registering = app_with_workers(pool.clone(), loopback_settings(), 0).await;
    let token = instructor(&registering, "teacher@example.com").await;
    webhook(&registering, &token, json!({"url": receiver.url, "events": ["asset.created"]})).await;
    create_asset(&registering, &token).await;
    drop(registering);

    // …and sent by workers whose operator has since emptied the allow-list.
    let closed = WebhookSettings {
        fetch: WebhookSettings::fetch_settings(AddressPolicy::default(), Duration::from_secs(5)),
        ..loopback_settings()
    };
    let _workers = app_with_workers(pool.clone(), closed, 2).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let error: String = loop {
        let error: Option<String> =
            sqlx::query_scalar("select error from webhook_attempt order by webhook_attempt_id limit 1")
                .fetch_optional(&pool)
                .await
                .expect("attempts");
        if let Some(error) = error {
            break error;
        }
        assert!(Instant::now() < deadline, "no attempt was recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(error.contains("127.0.0.1 is not a public address (loopback)"), "{error}");
    let status: Option<i32> =
        sqlx::query_scalar("select status_code from webhook_attempt limit 1").fetch_one(&pool).await.expect("status");
    assert_eq!(status, None);
    assert!(receiver.received().is_empty(), "nothing reached the receiver");
}

#[sqlx::test]
async fn a_delivery_failing_past_its_window_is_failed_and_a_manual_retry_sends_it_again(pool: PgPool) {
    let settings = WebhookSettings {
        retry_base_delay: Duration::from_millis(100),
        retry_max_delay: Duration::from_millis(300),
        retry_window: Duration::from_secs(1),
        ..loopback_settings()
    };
    let app = app_with(pool, settings).await;
    let receiver = Receiver::start().await;
    receiver.answer_from_now_on(503);
    let token = instructor(&app, "teacher@example.com").await;
    let created = webhook(&app, &token, json!({"url": receiver.url})).await;
    let webhook_id = created["id"].as_str().expect("id");
    create_asset(&app, &token).await;

    let failed = delivery_in_state(&app, &token, webhook_id, "failed").await;
    let attempts = failed["attempts"].as_array().expect("attempts");
    assert!(attempts.len() >= 2, "retried within the window: {attempts:#?}");
    assert!(attempts.iter().all(|a| a["status_code"] == 503 && a["manual"] == false));
    assert!(failed["next_attempt_at"].is_null());
    let sent = receiver.received().len();
    assert_eq!(sent, attempts.len());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.received().len(), sent, "a failed delivery is not sent again by itself");

    receiver.answer_from_now_on(200);
    let delivery_id = failed["id"].as_str().expect("id");
    let retried = app
        .client
        .post(app.url(&format!("/v1/webhooks/deliveries/{delivery_id}/retry")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(retried.status(), 202);
    let retried: Value = retried.json().await.expect("json");
    assert_eq!(retried["state"], "pending");

    let succeeded = delivery_in_state(&app, &token, webhook_id, "succeeded").await;
    let attempts = succeeded["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), sent + 1);
    let last = attempts.last().expect("an attempt");
    assert_eq!((last["status_code"].clone(), last["manual"].clone()), (json!(200), json!(true)));
    let received = receiver.received();
    assert_eq!(received.first().expect("first").json()["id"], received.last().expect("last").json()["id"]);
}

#[sqlx::test]
async fn endpoints_receive_only_the_event_types_they_asked_for(pool: PgPool) {
    let app = app_with(pool, loopback_settings()).await;
    let token = instructor(&app, "teacher@example.com").await;
    let (everything, deletions, readiness) =
        (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let all = webhook(&app, &token, json!({"url": everything.url, "events": ["*"]})).await;
    assert_eq!(all["events"], json!(["*"]));
    let only_deleted = webhook(&app, &token, json!({"url": deletions.url, "events": ["asset.deleted"]})).await;
    assert_eq!(only_deleted["events"], json!(["asset.deleted"]));
    let ready = webhook(&app, &token, json!({"url": readiness.url, "events": ["asset.ready", "asset.ready"]})).await;
    assert_eq!(ready["events"], json!(["asset.ready"]));
    let unknown = create_webhook(&app, &token, json!({"url": everything.url, "events": ["asset.probed"]})).await;
    assert_eq!(unknown.status(), 422);
    assert_eq!(error_code(unknown).await, "unknown_event_type");

    let asset = create_asset(&app, &token).await;
    let deleted =
        app.client.delete(app.url(&format!("/v1/assets/{asset}"))).bearer_auth(&token).send().await.expect("request");
    assert_eq!(deleted.status(), 204);

    let types = |received: Vec<Received>| {
        received.iter().map(|r| r.json()["type"].as_str().expect("type").to_owned()).collect::<Vec<_>>()
    };
    let mut got = types(everything.wait_for(2).await);
    got.sort();
    assert_eq!(got, ["asset.created", "asset.deleted"]);
    assert_eq!(types(deletions.wait_for(1).await), ["asset.deleted"]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(readiness.received().is_empty());
    assert_eq!(everything.received().len(), 2);
    // The listing shows endpoints oldest first, without secrets.
    let list: Value = app.get_with("/v1/webhooks", &token).await.json().await.expect("json");
    let urls: Vec<&str> =
        list["webhooks"].as_array().expect("list").iter().map(|w| w["url"].as_str().expect("url")).collect();
    assert_eq!(urls, [everything.url.as_str(), deletions.url.as_str(), readiness.url.as_str()]);
    assert!(list["webhooks"][0].get("secret").is_none());
}

#[sqlx::test]
async fn deleting_an_endpoint_stops_its_pending_deliveries(pool: PgPool) {
    let settings = WebhookSettings {
        retry_base_delay: Duration::from_secs(3),
        retry_max_delay: Duration::from_secs(3),
        ..loopback_settings()
    };
    let app = app_with(pool, settings).await;
    let receiver = Receiver::start().await;
    receiver.answer_from_now_on(500);
    let token = instructor(&app, "teacher@example.com").await;
    let created = webhook(&app, &token, json!({"url": receiver.url})).await;
    let webhook_id = created["id"].as_str().expect("id");
    create_asset(&app, &token).await;
    receiver.wait_for(1).await;

    let deleted = app
        .client
        .delete(app.url(&format!("/v1/webhooks/{webhook_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 204);
    // Sends made before the deletion count; the next retry (2.4–3.6 s after a send) must not come.
    let sent_before = receiver.received().len();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(receiver.received().len(), sent_before, "no retry after the endpoint is gone");
    let gone = app.get_with(&format!("/v1/webhooks/{webhook_id}"), &token).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(error_code(gone).await, "webhook_not_found");
    let again = app
        .client
        .delete(app.url(&format!("/v1/webhooks/{webhook_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 404);
    let left: i64 =
        sqlx::query_scalar("select count(*) from webhook_delivery").fetch_one(&app.pool).await.expect("count");
    assert_eq!(left, 0);
}

#[sqlx::test]
async fn endpoints_and_deliveries_are_visible_only_to_their_owner(pool: PgPool) {
    let app = app_with(pool, loopback_settings()).await;
    let receiver = Receiver::start().await;
    let owner = instructor(&app, "owner@example.com").await;
    let stranger = instructor(&app, "stranger@example.com").await;
    let created = webhook(&app, &owner, json!({"url": receiver.url})).await;
    let webhook_id = created["id"].as_str().expect("id");
    create_asset(&app, &owner).await;
    receiver.wait_for(1).await;
    let delivery = delivery_in_state(&app, &owner, webhook_id, "succeeded").await;
    let delivery_id = delivery["id"].as_str().expect("id");

    for path in [format!("/v1/webhooks/{webhook_id}"), format!("/v1/webhooks/{webhook_id}/deliveries")] {
        let response = app.get_with(&path, &stranger).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(error_code(response).await, "webhook_not_found");
    }
    let response = app
        .client
        .delete(app.url(&format!("/v1/webhooks/{webhook_id}")))
        .bearer_auth(&stranger)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let response = app
        .client
        .post(app.url(&format!("/v1/webhooks/deliveries/{delivery_id}/retry")))
        .bearer_auth(&stranger)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "webhook_delivery_not_found");
    let list: Value = app.get_with("/v1/webhooks", &stranger).await.json().await.expect("json");
    assert_eq!(list["webhooks"], json!([]));
    // The stranger's assets do not reach the owner's endpoint.
    create_asset(&app, &stranger).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 1);

    // Learners manage no webhooks; keys need the right scope.
    let learner = app.register("learner@example.com").await;
    let learner = learner["tokens"]["access_token"].as_str().expect("token");
    let response = create_webhook(&app, learner, json!({"url": receiver.url})).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "forbidden");
    let key = app
        .client
        .post(app.url("/v1/api-keys"))
        .bearer_auth(&owner)
        .json(&json!({"name": "site", "scopes": ["webhooks:read"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(key.status(), 201);
    let key: Value = key.json().await.expect("json");
    let key = key["secret"].as_str().expect("secret");
    let list: Value = app.get_with("/v1/webhooks", key).await.json().await.expect("json");
    assert_eq!(list["webhooks"][0]["id"], webhook_id);
    let response = create_webhook(&app, key, json!({"url": receiver.url})).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "insufficient_scope");
    let response = app.client.get(app.url("/v1/webhooks")).send().await.expect("request");
    assert_eq!(response.status(), 401);
}

#[sqlx::test]
async fn bad_and_private_urls_are_refused_with_stable_codes(pool: PgPool) {
    // Plain http allowed, but no allow-list: loopback and other private addresses are refused.
    let open = WebhookSettings { allow_http: true, ..WebhookSettings::default() };
    let app = app_with(pool.clone(), open).await;
    let receiver = Receiver::start().await;
    let token = instructor(&app, "teacher@example.com").await;
    let port = receiver.url.split(':').nth(2).and_then(|rest| rest.split('/').next()).expect("port");
    for (url, code) in [
        (receiver.url.clone(), "webhook_url_forbidden"),
        (format!("http://localhost:{port}/hooks/lectern"), "webhook_url_forbidden"),
        ("http://[::1]/hook".to_owned(), "webhook_url_forbidden"),
        ("http://169.254.169.254/latest/meta-data".to_owned(), "webhook_url_forbidden"),
        ("http://10.1.2.3/hook".to_owned(), "webhook_url_forbidden"),
        ("ftp://example.com/hook".to_owned(), "webhook_url_invalid"),
        ("not a url".to_owned(), "webhook_url_invalid"),
        ("https://user:secret@example.com/hook".to_owned(), "webhook_url_invalid"),
        ("https://no-such-host.invalid/hook".to_owned(), "webhook_url_invalid"),
        (format!("https://example.com/{}", "a".repeat(2100)), "webhook_url_invalid"),
    ] {
        let response = create_webhook(&app, &token, json!({"url": url})).await;
        assert_eq!(response.status(), 422, "{url}");
        assert_eq!(error_code(response).await, code, "{url}");
    }
    let response = create_webhook(&app, &token, json!({"url": receiver.url, "description": "x".repeat(201)})).await;
    assert_eq!(error_code(response).await, "invalid_field");
    let response = create_webhook(&app, &token, json!({"url": receiver.url, "colour": "blue"})).await;
    assert_eq!(response.status(), 422);
    assert!(receiver.received().is_empty());
    drop(app);

    // https is required unless the operator allows http; the endpoint count is limited.
    let strict = WebhookSettings { allow_http: false, max_endpoints_per_account: 2, ..loopback_settings() };
    let app = app_with(pool, strict).await;
    let token = instructor(&app, "strict@example.com").await;
    let response = create_webhook(&app, &token, json!({"url": receiver.url})).await;
    assert_eq!(response.status(), 422);
    assert_eq!(error_code(response).await, "webhook_url_invalid");
    let https = format!("https://127.0.0.1:{port}/hooks/lectern");
    webhook(&app, &token, json!({"url": https})).await;
    webhook(&app, &token, json!({"url": https})).await;
    let response = create_webhook(&app, &token, json!({"url": https})).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(response).await, "too_many_webhooks");
}

/// Records an event that is not about an asset, as the training domain does: in its own
/// transaction, committed.
async fn record_account_event(pool: &PgPool, owner_id: uuid::Uuid, event_type: &str, data: Value) -> String {
    let mut tx = pool.begin().await.expect("transaction");
    let event_id = lectern::webhooks::dispatch::record_account_event(&mut tx, owner_id, event_type, data)
        .await
        .expect("record the event");
    tx.commit().await.expect("commit");
    event_id.to_string()
}

fn enrollment(learner: &str) -> Value {
    json!({"enrollment": {"id": "0193a1b2-0000-7000-8000-000000000001", "course_id": "0193a1b2-0000-7000-8000-0000000000c1",
                          "learner": {"email": learner}, "state": "active", "progress": 0.0}})
}

#[sqlx::test]
async fn an_enrolment_event_reaches_the_endpoints_that_asked_for_it_signed_and_carrying_its_data(pool: PgPool) {
    let app = app_with(pool, loopback_settings()).await;
    let (owner_id, token) =
        crate::helpers::account_with_roles(&app, "teacher@example.com", &["learner", "instructor"]).await;
    let (stranger_id, stranger) =
        crate::helpers::account_with_roles(&app, "stranger@example.com", &["learner", "instructor"]).await;
    let (enrolments, everything, listed, assets_only, completions, strangers) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let created = webhook(&app, &token, json!({"url": enrolments.url, "events": ["enrollment.created"]})).await;
    assert_eq!(created["events"], json!(["enrollment.created"]));
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let webhook_id = created["id"].as_str().expect("id").to_owned();
    webhook(&app, &token, json!({"url": everything.url})).await;
    // Every documented type may be asked for by name, and comes back in the documented order.
    let mut all_types: Vec<&str> = lectern::webhooks::EVENT_TYPES.to_vec();
    all_types.reverse();
    let all_by_name = webhook(&app, &token, json!({"url": listed.url, "events": all_types})).await;
    assert_eq!(all_by_name["events"], json!(lectern::webhooks::EVENT_TYPES));
    webhook(&app, &token, json!({"url": assets_only.url, "events": ["asset.created", "asset.ready"]})).await;
    webhook(&app, &token, json!({"url": completions.url, "events": ["enrollment.completed", "lesson.completed"]}))
        .await;
    webhook(&app, &stranger, json!({"url": strangers.url})).await;

    // An asset event and an enrolment event of the same owner, fanned out side by side.
    let asset = create_asset(&app, &token).await;
    let data = enrollment("learner@example.com");
    let event_id = record_account_event(&app.pool, owner_id, "enrollment.created", data.clone()).await;

    let received = enrolments.wait_for(1).await;
    let request = &received[0];
    let signature = request.header("lectern-signature");
    assert!(verifies(&secret, signature, &request.body), "the README recipe accepts {signature}");
    let mut tampered = request.body.clone();
    tampered.push(b' ');
    assert!(!verifies(&secret, signature, &tampered), "a changed body does not verify");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("lectern-event-id"), event_id);
    assert_eq!(request.header("lectern-event-type"), "enrollment.created");
    let body = request.json();
    let mut keys: Vec<&String> = body.as_object().expect("an object").keys().collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "data", "id", "type"], "the envelope of every event, nothing else");
    assert_eq!(body["id"], event_id);
    assert_eq!(body["type"], "enrollment.created");
    assert_eq!(body["data"], data, "data is what the caller recorded, not wrapped in anything");
    let created_at = time::OffsetDateTime::parse(
        body["created_at"].as_str().expect("created_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert!((time::OffsetDateTime::now_utc() - created_at).whole_seconds().abs() < 60);

    let mut got: Vec<String> = everything
        .wait_for(2)
        .await
        .iter()
        .map(|r| r.json())
        .map(|body| {
            if body["type"] == "asset.created" {
                assert_eq!(body["data"]["asset"]["id"], asset.as_str(), "asset events keep their shape");
            } else {
                assert_eq!(body["data"], data);
            }
            body["type"].as_str().expect("type").to_owned()
        })
        .collect();
    got.sort();
    assert_eq!(got, ["asset.created", "enrollment.created"]);
    assert_eq!(listed.wait_for(2).await.len(), 2);
    assert_eq!(assets_only.wait_for(1).await[0].json()["type"], "asset.created");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(enrolments.received().len(), 1);
    assert_eq!(everything.received().len(), 2);
    assert_eq!(listed.received().len(), 2);
    assert_eq!(assets_only.received().len(), 1, "an endpoint filtered to asset types hears no enrolment");
    assert!(completions.received().is_empty(), "an endpoint filtered to other types hears nothing");
    assert!(strangers.received().is_empty(), "another account's endpoints hear nothing of this owner");

    // The owner's deliveries listing shows it like any delivery.
    let delivery = delivery_in_state(&app, &token, &webhook_id, "succeeded").await;
    assert_eq!(delivery["event_id"], event_id);
    assert_eq!(delivery["event_type"], "enrollment.created");
    assert_eq!(delivery["attempts"][0]["status_code"], 200);
    let deliveries_made: i64 = sqlx::query_scalar("select count(*) from webhook_delivery where event_id = $1::uuid")
        .bind(&event_id)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(deliveries_made, 3);

    // The stranger's own events reach only the stranger.
    record_account_event(&app.pool, stranger_id, "enrollment.created", enrollment("other@example.com")).await;
    assert_eq!(strangers.wait_for(1).await[0].json()["data"], enrollment("other@example.com"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(enrolments.received().len(), 1);
    assert_eq!(everything.received().len(), 2);
}

#[sqlx::test]
async fn an_account_event_recorded_before_an_endpoint_existed_is_not_delivered_to_it(pool: PgPool) {
    // Recorded by a process without workers, so nothing is fanned out until the workers start.
    let recording = app_with_workers(pool.clone(), loopback_settings(), 0).await;
    let (owner_id, token) =
        crate::helpers::account_with_roles(&recording, "teacher@example.com", &["learner", "instructor"]).await;
    let dispatch_jobs = || async {
        let count: i64 = sqlx::query_scalar("select count(*) from job where kind = 'webhooks.dispatch'")
            .fetch_one(&pool)
            .await
            .expect("count");
        count
    };

    // Nobody listens yet: the event is stored already dispatched, and no fan-out is queued.
    let unheard = record_account_event(&pool, owner_id, "enrollment.created", enrollment("a@example.com")).await;
    let dispatched: bool =
        sqlx::query_scalar("select dispatched_at is not null from asset_event where event_id = $1::uuid")
            .bind(&unheard)
            .fetch_one(&pool)
            .await
            .expect("the event");
    assert!(dispatched);
    assert_eq!(dispatch_jobs().await, 0);

    let (early, late) = (Receiver::start().await, Receiver::start().await);
    webhook(&recording, &token, json!({"url": early.url, "events": ["enrollment.created"]})).await;
    let first = record_account_event(&pool, owner_id, "enrollment.created", enrollment("b@example.com")).await;
    assert_eq!(dispatch_jobs().await, 1, "an event an endpoint wants queues its fan-out");
    // Created while the first event still waits for its fan-out.
    webhook(&recording, &token, json!({"url": late.url, "events": ["enrollment.created"]})).await;
    let second = record_account_event(&pool, owner_id, "enrollment.created", enrollment("c@example.com")).await;
    drop(recording);

    let _workers = app_with_workers(pool.clone(), loopback_settings(), 2).await;
    let ids = |received: Vec<Received>| {
        let mut ids: Vec<String> = received.iter().map(|r| r.json()["id"].as_str().expect("id").to_owned()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(early.wait_for(2).await), [first.clone(), second.clone()]);
    assert_eq!(ids(late.wait_for(1).await), std::slice::from_ref(&second));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(ids(early.received()), [first, second.clone()], "the event from before any endpoint reached nobody");
    assert_eq!(ids(late.received()), [second], "nothing recorded before the endpoint reached it");
}

#[test]
fn the_readme_recipe_is_the_one_the_tests_run() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let script = std::fs::read_to_string(format!("{root}/tests/webhooks/verify.py")).expect("verify.py");
    let section = &readme[readme.find("**Verifying a webhook.**").expect("the README explains verification")..];
    let start = section.find("```python\n").expect("a Python block") + "```python\n".len();
    let documented = &section[start..start + section[start..].find("```").expect("the block ends")];
    let begin = "# --- README snippet begins ---\n";
    let tested = &script[script.find(begin).expect("marker") + begin.len()
        ..script.find("# --- README snippet ends ---").expect("marker")];
    assert_eq!(documented.trim(), tested.trim());
}
