//! CloudFront invalidations against a local stand-in that reads the SDK's XML request the way
//! CloudFront does and answers as CloudFront does: 201 with an `Invalidation` document, or a
//! `Throttling` error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use lectern::cdn::{CloudFrontSettings, InvalidationError, Invalidator};
use secrecy::SecretString;

const DISTRIBUTION_ID: &str = "E2QWRUHEXAMPLE";

/// What the stand-in read from one request.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    quantity: String,
    paths: Vec<String>,
    caller_reference: String,
}

#[derive(Default)]
struct StandIn {
    received: Mutex<Vec<Received>>,
    /// How many requests to answer with `Throttling` before accepting.
    throttle: Mutex<u32>,
    /// An error code to answer every request with, instead.
    refuse_with: Option<&'static str>,
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(close) else { break };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

const NAMESPACE: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";

fn error_response(status: StatusCode, code: &str) -> Response {
    let body = format!(
        r#"<?xml version="1.0"?><ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>{code}</Code><Message>{code} (stand-in)</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"#
    );
    (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

async fn answer(State(stand_in): State<Arc<StandIn>>, uri: Uri, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let received = Received {
        path: uri.path().to_owned(),
        quantity: between(&text, "<Quantity>", "</Quantity>").join(","),
        paths: between(&text, "<Path>", "</Path>").into_iter().map(str::to_owned).collect(),
        caller_reference: between(&text, "<CallerReference>", "</CallerReference>").join(","),
    };
    stand_in.received.lock().expect("lock").push(received.clone());
    if let Some(code) = stand_in.refuse_with {
        return error_response(StatusCode::NOT_FOUND, code);
    }
    {
        let mut throttle = stand_in.throttle.lock().expect("lock");
        if *throttle > 0 {
            *throttle -= 1;
            return error_response(StatusCode::BAD_REQUEST, "Throttling");
        }
    }
    let items: String = received.paths.iter().map(|path| format!("<Path>{path}</Path>")).collect();
    let body = format!(
        r#"<?xml version="1.0"?><Invalidation xmlns="{NAMESPACE}"><Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status><CreateTime>2026-11-25T18:40:49.413Z</CreateTime><InvalidationBatch><Paths><Quantity>{}</Quantity><Items>{items}</Items></Paths><CallerReference>{}</CallerReference></InvalidationBatch></Invalidation>"#,
        received.quantity, received.caller_reference
    );
    let location = format!("https://cloudfront.amazonaws.com/2020-05-31/distribution/{DISTRIBUTION_ID}/invalidation/I2J0I21PCUYOIK");
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "text/xml".to_owned()), (header::LOCATION, location)], body).into_response()
}

async fn start(stand_in: StandIn) -> (Invalidator, Arc<StandIn>) {
    let stand_in = Arc::new(stand_in);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("bound");
    let app = Router::new().fallback(answer).with_state(stand_in.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the stand-in serves") });
    let settings = CloudFrontSettings {
        distribution_id: DISTRIBUTION_ID.to_owned(),
        endpoint: Some(url::Url::parse(&format!("http://{address}")).expect("URL")),
        credentials: Some(("AKIDSTANDIN".to_owned(), SecretString::from("stand-in-secret"))),
    };
    let invalidator = Invalidator::connect(&settings).await.with_retries(3, Duration::from_millis(20));
    (invalidator, stand_in)
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| (*p).to_owned()).collect()
}

#[tokio::test]
async fn an_invalidation_sends_its_paths_and_a_unique_caller_reference() {
    let (invalidator, stand_in) = start(StandIn::default()).await;
    let first = invalidator.invalidate(&paths(&["/assets/a/v1/*", "/assets/a/v1/master.m3u8"])).await.expect("accepted");
    let second = invalidator.invalidate(&paths(&["/assets/b/*"])).await.expect("accepted");
    assert_eq!(first.id, "I2J0I21PCUYOIK");
    assert_eq!(first.status, "InProgress");
    assert_eq!(first.attempts, 1);
    assert_ne!(first.caller_reference, second.caller_reference);

    let received = stand_in.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].path, format!("/2020-05-31/distribution/{DISTRIBUTION_ID}/invalidation"));
    assert_eq!(received[0].quantity, "2");
    assert_eq!(received[0].paths, ["/assets/a/v1/*", "/assets/a/v1/master.m3u8"]);
    assert_eq!(received[0].caller_reference, first.caller_reference);
    assert_eq!(received[1].quantity, "1");
    assert_eq!(received[1].caller_reference, second.caller_reference);
}

#[tokio::test]
async fn throttling_is_retried_with_the_same_caller_reference() {
    let (invalidator, stand_in) = start(StandIn { throttle: Mutex::new(1), ..StandIn::default() }).await;
    let invalidation = invalidator.invalidate(&paths(&["/assets/a/*"])).await.expect("accepted after a retry");
    assert_eq!(invalidation.attempts, 2);
    let received = stand_in.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].caller_reference, received[1].caller_reference);
    assert_eq!(received[1].caller_reference, invalidation.caller_reference);
}

#[tokio::test]
async fn persistent_throttling_gives_up_after_the_last_attempt() {
    let (invalidator, stand_in) = start(StandIn { throttle: Mutex::new(100), ..StandIn::default() }).await;
    let error = invalidator.invalidate(&paths(&["/assets/a/*"])).await.expect_err("still throttled");
    assert!(matches!(error, InvalidationError::Throttled { attempts: 3 }), "{error:?}");
    assert_eq!(error.error_code(), "cdn_throttled");
    assert_eq!(stand_in.received.lock().expect("lock").len(), 3);
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_bad_paths_never_leave() {
    let (invalidator, stand_in) = start(StandIn { refuse_with: Some("NoSuchDistribution"), ..StandIn::default() }).await;
    let error = invalidator.invalidate(&paths(&["/a"])).await.expect_err("refused");
    assert!(matches!(&error, InvalidationError::Refused { code, .. } if code == "NoSuchDistribution"), "{error:?}");
    assert_eq!(stand_in.received.lock().expect("lock").len(), 1);

    assert!(matches!(invalidator.invalidate(&[]).await, Err(InvalidationError::NoPaths)));
    let error = invalidator.invalidate(&paths(&["assets/a"])).await.expect_err("no leading slash");
    assert!(error.is_client_error());
    assert_eq!(stand_in.received.lock().expect("lock").len(), 1);
}
