//! URL import: the SSRF-guarded fetcher against a local file server, and the `media.import` job
//! end to end (create with `input.url` → download → `uploaded` → probe).

use std::net::SocketAddr;
use std::time::Duration;

use crate::helpers::media::{AssetState, asset_state, event_types, fixtures, post_asset, wait_until_not};
use crate::helpers::storage::{remove_bucket, seaweed_settings};
use crate::helpers::{TestApp, TestOptions, error_code, instructor, sha256_hex, spawn_app_with, test_ingest_settings};
use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::StreamExt;
use lectern::net::{AddressPolicy, FetchError, FetchSettings, GuardedFetcher};
use serde_json::{Value, json};
use sqlx::PgPool;

/// A file server on 127.0.0.1: `/file/{n}` serves n bytes, `/loop` redirects to itself,
/// `/hop/{n}` redirects n times then serves, `/to/{target}` redirects to a fixed refused
/// address, `/endless` streams without a length until cut off, and anything else is 404.
async fn file_server() -> SocketAddr {
    async fn file(Path(size): Path<usize>) -> Response {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        ([(header::CONTENT_TYPE, "video/mp4")], body).into_response()
    }
    async fn hop(Path(left): Path<u32>) -> Response {
        if left == 0 {
            return (StatusCode::OK, "arrived").into_response();
        }
        Redirect::temporary(&format!("/hop/{}", left - 1)).into_response()
    }
    async fn endless() -> Response {
        let chunks = futures::stream::repeat_with(|| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; 64 * 1024])));
        Response::new(Body::from_stream(chunks))
    }
    let router = Router::new()
        .route("/file/{size}", get(file))
        .route("/fixture/{name}", get(fixture))
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route("/hop/{left}", get(hop))
        .route("/metadata", get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }))
        .route("/endless", get(endless))
        .route("/unavailable", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("file server runs") });
    address
}

/// Serves a fixture of `tests/media/make-fixtures.sh` by name.
async fn fixture(Path(name): Path<String>) -> Response {
    let dir = crate::helpers::media::fixture_dir();
    match tokio::fs::read(dir.join(&name)).await {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

fn loopback_allowed() -> FetchSettings {
    FetchSettings {
        policy: AddressPolicy::parse(&["127.0.0.1"]).expect("valid"),
        max_bytes: 1024 * 1024,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(20),
        ..FetchSettings::default()
    }
}

async fn fetch_all(fetcher: &GuardedFetcher, url: &str) -> Result<Vec<u8>, FetchError> {
    let url = url::Url::parse(url).expect("valid URL");
    let mut body = fetcher.get(&url).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(bytes)
}

#[tokio::test]
async fn an_allowed_server_is_fetched_whole() {
    let server = file_server().await;
    let fetcher = GuardedFetcher::new(loopback_allowed());
    let bytes = fetch_all(&fetcher, &format!("http://{server}/file/100000")).await.expect("fetched");
    assert_eq!(bytes.len(), 100_000);
    assert_eq!(bytes[300], (300 % 251) as u8);
}

#[tokio::test]
async fn loopback_is_refused_without_the_allow_list_by_address_and_by_name() {
    let server = file_server().await;
    let fetcher = GuardedFetcher::new(FetchSettings { policy: AddressPolicy::default(), ..loopback_allowed() });
    let by_address = fetch_all(&fetcher, &format!("http://{server}/file/10")).await.expect_err("refused");
    assert_eq!(by_address.error_code(), "url_not_allowed", "{by_address}");
    // `localhost` resolves to loopback: refused after our own lookup, before any connection.
    let by_name =
        fetch_all(&fetcher, &format!("http://localhost:{}/file/10", server.port())).await.expect_err("refused");
    assert_eq!(by_name.error_code(), "url_not_allowed", "{by_name}");
    assert!(by_name.is_client_error());
}

#[tokio::test]
async fn a_redirect_to_the_metadata_address_is_refused() {
    let server = file_server().await;
    let fetcher = GuardedFetcher::new(loopback_allowed());
    let error = fetch_all(&fetcher, &format!("http://{server}/metadata")).await.expect_err("refused");
    assert_eq!(error.error_code(), "url_not_allowed", "{error}");
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit_and_a_loop_is_refused() {
    let server = file_server().await;
    let fetcher = GuardedFetcher::new(FetchSettings { max_redirects: 3, ..loopback_allowed() });
    let arrived = fetch_all(&fetcher, &format!("http://{server}/hop/3")).await.expect("three hops are allowed");
    assert_eq!(arrived, b"arrived");
    let too_many = fetch_all(&fetcher, &format!("http://{server}/hop/4")).await.expect_err("four hops are not");
    assert!(matches!(too_many, FetchError::TooManyRedirects(3)), "{too_many}");
    let looping = fetch_all(&fetcher, &format!("http://{server}/loop")).await.expect_err("a loop ends");
    assert_eq!(looping.error_code(), "url_not_allowed");
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_declared_or_not() {
    let server = file_server().await;
    let fetcher = GuardedFetcher::new(FetchSettings { max_bytes: 1000, ..loopback_allowed() });
    let declared = fetch_all(&fetcher, &format!("http://{server}/file/1001")).await.expect_err("too large");
    assert!(matches!(declared, FetchError::TooLarge { limit: 1000 }), "{declared}");
    let streamed = fetch_all(&fetcher, &format!("http://{server}/endless")).await.expect_err("cut off");
    assert_eq!(streamed.error_code(), "file_too_large");
    assert!(fetch_all(&fetcher, &format!("http://{server}/file/1000")).await.is_ok(), "exactly the cap is fine");
}

#[tokio::test]
async fn a_missing_file_is_a_permanent_download_failure() {
    let server = file_server().await;
    let fetcher = GuardedFetcher::new(loopback_allowed());
    let error = fetch_all(&fetcher, &format!("http://{server}/nothing-here")).await.expect_err("404");
    assert!(matches!(error, FetchError::Status { status: 404 }), "{error}");
    assert_eq!(error.error_code(), "download_failed");
    assert!(error.is_client_error(), "a 404 is not retried");
}

#[tokio::test]
async fn only_http_and_https_are_fetched() {
    let fetcher = GuardedFetcher::new(loopback_allowed());
    for url in ["file:///etc/passwd", "ftp://example.com/x.mp4", "data:text/plain,hello"] {
        let error = fetch_all(&fetcher, url).await.expect_err("refused scheme");
        assert_eq!(error.error_code(), "url_not_allowed", "{url}");
    }
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let fetcher = GuardedFetcher::new(FetchSettings {
        read_timeout: Duration::from_millis(300),
        total_timeout: Duration::from_secs(2),
        ..loopback_allowed()
    });
    let started = std::time::Instant::now();
    let error = fetch_all(&fetcher, &format!("http://{address}/file/10")).await.expect_err("timed out");
    assert_eq!(error.error_code(), "download_failed", "{error}");
    assert!(!error.is_client_error(), "a timeout is retried");
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------------
// The import job, end to end.

/// An app with one worker whose imports may reach 127.0.0.1 when `allow_loopback`.
async fn import_app(
    pool: PgPool,
    allow_loopback: bool,
    storage: Option<lectern::storage::StorageSettings>,
    max_bytes: u64,
) -> TestApp {
    let mut ingest = test_ingest_settings();
    let allowed: &[&str] = if allow_loopback { &["127.0.0.1"] } else { &[] };
    ingest.fetch =
        FetchSettings { policy: AddressPolicy::parse(allowed).expect("valid"), max_bytes, ..loopback_allowed() };
    spawn_app_with(pool, TestOptions { workers: 1, storage, ingest: Some(ingest), ..TestOptions::default() }).await
}

/// Creates an asset importing `url`; returns its id.
async fn import(app: &TestApp, token: &str, url: &str) -> uuid::Uuid {
    let response = post_asset(app, token, json!({"title": "Imported lecture", "input": {"url": url}})).await;
    assert_eq!(response.status(), 201, "creating an import of {url}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "waiting_upload");
    body["id"].as_str().expect("id").parse().expect("uuid")
}

async fn imported(app: &TestApp, token: &str, url: &str) -> (uuid::Uuid, AssetState) {
    let asset_id = import(app, token, url).await;
    let state = wait_until_not(&app.pool, asset_id, &["waiting_upload", "uploaded", "probing"]).await;
    (asset_id, state)
}

async fn an_imported_video_is_stored_hashed_and_probed(app: TestApp) {
    let server = file_server().await;
    let token = instructor(&app, "teacher@example.com").await;
    let (asset_id, state) = imported(&app, &token, &format!("http://{server}/fixture/landscape_1080p30.mp4")).await;
    assert!(
        ["processing", "ready"].contains(&state.status.as_str()),
        "{} {:?} {:?}",
        state.status,
        state.error_code,
        state.error_message
    );
    let original = std::fs::read(fixtures().0.join("landscape_1080p30.mp4")).expect("fixture");
    assert_eq!(state.source_sha256.as_deref(), Some(sha256_hex(&original).as_str()));
    assert_eq!(state.source_size, Some(original.len() as i64));
    let source = state.source.expect("probed");
    assert_eq!(source["video"][0]["width"], 1920);
    let stored =
        lectern::storage::get_bytes(&*app.storage, &lectern::media::source_key(lectern::media::AssetId(asset_id)))
            .await
            .expect("stored");
    assert!(stored == original.as_slice(), "the stored original is the served file");
    let events = event_types(&app.pool, asset_id).await;
    assert_eq!(events, ["asset.created", "asset.uploaded", "asset.probing", "asset.probed"]);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_imported_video_is_stored_hashed_and_probed_on_local_storage(pool: PgPool) {
    an_imported_video_is_stored_hashed_and_probed(import_app(pool, true, None, 1 << 30).await).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_imported_video_is_stored_hashed_and_probed_on_s3(pool: PgPool) {
    let storage = seaweed_settings().await;
    an_imported_video_is_stored_hashed_and_probed(import_app(pool, true, Some(storage.clone()), 1 << 30).await).await;
    remove_bucket(&storage).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn imports_that_cannot_work_error_the_asset_with_their_code(pool: PgPool) {
    let app = import_app(pool, true, None, 4096).await;
    let server = file_server().await;
    let token = instructor(&app, "teacher@example.com").await;
    let cases = [
        ("/nothing-here", "download_failed"),
        ("/file/5000", "file_too_large"),
        ("/endless", "file_too_large"),
        ("/loop", "url_not_allowed"),
        ("/metadata", "url_not_allowed"),
    ];
    for (path, code) in cases {
        let (asset_id, state) = imported(&app, &token, &format!("http://{server}{path}")).await;
        assert_eq!(state.status, "errored", "{path}");
        assert_eq!(state.error_code.as_deref(), Some(code), "{path}: {:?}", state.error_message);
        let left = app
            .storage
            .list(&lectern::storage::KeyPrefix::parse(format!("assets/{asset_id}/")).expect("prefix"))
            .await
            .expect("list");
        assert!(left.is_empty(), "{path}: nothing is kept: {left:?}");
    }
    // None of these was retried: the jobs all succeeded at once.
    let retried: i64 = sqlx::query_scalar("select count(*) from job where kind = 'media.import' and attempts > 1")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(retried, 0);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn private_addresses_are_refused_without_the_allow_list(pool: PgPool) {
    let app = import_app(pool, false, None, 1 << 20).await;
    let server = file_server().await;
    let token = instructor(&app, "teacher@example.com").await;
    // Literals are refused at creation, with nothing created.
    for url in [
        format!("http://{server}/file/10"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]/a.mp4".to_owned(),
        "http://10.0.0.7/a.mp4".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let response = post_asset(&app, &token, json!({"title": "x", "input": {"url": url}})).await;
        assert_eq!(response.status(), 422, "{url}");
        assert_eq!(error_code(response).await, "url_not_allowed", "{url}");
    }
    let created: i64 = sqlx::query_scalar("select count(*) from asset").fetch_one(&app.pool).await.expect("count");
    assert_eq!(created, 0);
    // A name is resolved at fetch time: `localhost` is loopback, so the asset errors.
    let (_, state) = imported(&app, &token, &format!("http://localhost:{}/file/10", server.port())).await;
    assert_eq!(state.status, "errored");
    assert_eq!(state.error_code.as_deref(), Some("url_not_allowed"), "{:?}", state.error_message);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_import_job_is_enqueued_with_the_asset(pool: PgPool) {
    // No workers: the job waits, created in the same transaction as the asset.
    let app = spawn_app_with(pool, TestOptions::default()).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = import(&app, &token, "https://example.com/lecture.mp4").await;
    let jobs: Vec<String> = sqlx::query_scalar("select unique_key from job where kind = 'media.import'")
        .fetch_all(&app.pool)
        .await
        .expect("jobs");
    assert_eq!(jobs, [format!("media.import:{asset_id}")]);
    assert_eq!(asset_state(&app.pool, asset_id).await.status, "waiting_upload");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_failing_server_is_retried_and_the_last_attempt_errors_the_asset(pool: PgPool) {
    let app = import_app(pool, true, None, 1 << 20).await;
    let server = file_server().await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = import(&app, &token, &format!("http://{server}/unavailable")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let retried: Option<i32> = sqlx::query_scalar(
            "select attempts from job where kind = 'media.import' and state = 'queued' and attempts > 0",
        )
        .fetch_optional(&app.pool)
        .await
        .expect("job");
        if retried.is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the import was never retried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(asset_state(&app.pool, asset_id).await.status, "waiting_upload", "a 503 is worth another try");
    // Make the retry due now, and the last one.
    sqlx::query("update job set run_after = now(), max_attempts = attempts + 1 where kind = 'media.import'")
        .execute(&app.pool)
        .await
        .expect("update");
    let state = wait_until_not(&app.pool, asset_id, &["waiting_upload"]).await;
    assert_eq!(state.status, "errored");
    assert_eq!(state.error_code.as_deref(), Some("download_failed"), "{:?}", state.error_message);
}
