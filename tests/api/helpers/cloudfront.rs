//! A local stand-in for CloudFront's CreateInvalidation: it reads the SDK's XML request the way
//! CloudFront does, records what it read, and answers as CloudFront does (201 with an
//! `Invalidation` document, a `Throttling` error, or a refusal).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use lectern::cdn::CloudFrontSettings;
use secrecy::SecretString;

pub const DISTRIBUTION_ID: &str = "E2QWRUHEXAMPLE";
pub const ACCESS_KEY_ID: &str = "AKIDSTANDIN";

/// What the stand-in read from one request.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub quantity: String,
    pub paths: Vec<String>,
    pub caller_reference: String,
    /// The SigV4 `Authorization` header (its credential names the access key and `cloudfront`).
    pub authorization: String,
    /// What [`StandIn::on_request`] said when the request arrived (e.g. whether files existed).
    pub note: Option<String>,
}

/// Looks at the world when a request arrives (given its paths); the answer is recorded.
pub type OnRequest = Box<dyn Fn(&[String]) -> String + Send + Sync>;

#[derive(Default)]
pub struct StandIn {
    pub received: Mutex<Vec<Received>>,
    /// How many requests to answer with `Throttling` before accepting.
    pub throttle: Mutex<u32>,
    /// An error code to answer every request with, instead.
    pub refuse_with: Option<&'static str>,
    /// Called with each request's paths as it arrives; its answer is kept in `Received::note`.
    pub on_request: Option<OnRequest>,
}

impl StandIn {
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits until at least `n` requests arrived (at most `timeout`), and returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "CloudFront received {} requests, expected {n}: {received:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
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

async fn answer(
    State(stand_in): State<Arc<StandIn>>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let paths: Vec<String> = between(&text, "<Path>", "</Path>").into_iter().map(str::to_owned).collect();
    let received = Received {
        method,
        path: uri.path().to_owned(),
        quantity: between(&text, "<Quantity>", "</Quantity>").join(","),
        note: stand_in.on_request.as_ref().map(|on_request| on_request(&paths)),
        paths,
        caller_reference: between(&text, "<CallerReference>", "</CallerReference>").join(","),
        authorization: headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
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
    let location = format!(
        "https://cloudfront.amazonaws.com/2020-05-31/distribution/{DISTRIBUTION_ID}/invalidation/I2J0I21PCUYOIK"
    );
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "text/xml".to_owned()), (header::LOCATION, location)], body)
        .into_response()
}

/// Serves the stand-in on a free loopback port; returns the settings that reach it (static
/// credentials, `max_attempts` requests per invalidation 20 ms apart) and the stand-in.
pub async fn start(stand_in: StandIn, max_attempts: u32) -> (CloudFrontSettings, Arc<StandIn>) {
    let stand_in = Arc::new(stand_in);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("bound");
    let app = Router::new().fallback(answer).with_state(stand_in.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the stand-in serves") });
    let settings = CloudFrontSettings {
        endpoint: Some(url::Url::parse(&format!("http://{address}")).expect("URL")),
        credentials: Some((ACCESS_KEY_ID.to_owned(), SecretString::from("stand-in-secret"))),
        max_attempts,
        initial_backoff: Duration::from_millis(20),
        ..CloudFrontSettings::new(DISTRIBUTION_ID)
    };
    (settings, stand_in)
}

/// The request path of CreateInvalidation for the stand-in's distribution.
pub fn create_invalidation_path() -> String {
    format!("/2020-05-31/distribution/{DISTRIBUTION_ID}/invalidation")
}
