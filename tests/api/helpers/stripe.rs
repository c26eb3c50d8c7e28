//! A local stand-in for the part of Stripe's API Lectern calls: `POST /v1/checkout/sessions`
//! (form-encoded, as the official SDKs send it) and `GET /v1/checkout/sessions/{id}`. Its answers
//! have the shape of Stripe's recorded Checkout Session objects; it keeps the sessions it made, so
//! a test can complete one (as a buyer paying would) and sign the events Stripe would send.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lectern::payments::{PaymentSettings, StripeSettings};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const SECRET_KEY: &str = "sk_test_lectern_standin";
pub const WEBHOOK_SECRET: &str = "whsec_lectern_test_secret";

/// One request the stand-in read.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub content_type: Option<String>,
    pub form: Vec<(String, String)>,
}

#[derive(Default)]
pub struct StandIn {
    pub received: Mutex<Vec<Received>>,
    pub sessions: Mutex<HashMap<String, Value>>,
    by_key: Mutex<HashMap<String, String>>,
}

impl StandIn {
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Marks a session paid, as Stripe does when the buyer pays; returns the session object.
    pub fn complete(&self, session_id: &str, payment_intent: &str, subscription: Option<&str>) -> Value {
        let mut sessions = self.sessions.lock().expect("lock");
        let session = sessions.get_mut(session_id).expect("a session the stand-in made");
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        if session["mode"] == "payment" {
            session["payment_intent"] = json!(payment_intent);
        }
        if let Some(subscription) = subscription {
            session["subscription"] = json!(subscription);
        }
        session.clone()
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn record(stand_in: &StandIn, path: String, headers: &HeaderMap, body: &[u8]) -> Received {
    let received = Received {
        path,
        authorization: header(headers, "authorization"),
        idempotency_key: header(headers, "idempotency-key"),
        content_type: header(headers, "content-type"),
        form: url::form_urlencoded::parse(body).into_owned().collect(),
    };
    stand_in.received.lock().expect("lock").push(received.clone());
    received
}

fn unauthorised() -> Response {
    let body = json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}});
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

async fn create_session(State(stand_in): State<Arc<StandIn>>, headers: HeaderMap, body: Bytes) -> Response {
    let received = record(&stand_in, "/v1/checkout/sessions".to_owned(), &headers, &body);
    if received.authorization.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return unauthorised();
    }
    // Stripe answers a repeated idempotency key with the first answer.
    if let Some(key) = &received.idempotency_key
        && let Some(id) = stand_in.by_key.lock().expect("lock").get(key)
    {
        return axum::Json(stand_in.sessions.lock().expect("lock")[id].clone()).into_response();
    }
    let field = |name: &str| received.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let n = stand_in.sessions.lock().expect("lock").len() + 1;
    let id = format!("cs_test_a1{n:06}LecternStandIn");
    let metadata: serde_json::Map<String, Value> = received
        .form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("metadata[")?.strip_suffix(']')?.to_owned(), json!(v))))
        .collect();
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "amount_total": field("line_items[0][price_data][unit_amount]").and_then(|v| v.parse::<i64>().ok()),
        "currency": field("line_items[0][price_data][currency]"),
        "client_reference_id": field("client_reference_id"),
        "livemode": false,
        "metadata": metadata,
        "mode": field("mode"),
        "payment_intent": null,
        "payment_status": "unpaid",
        "status": "open",
        "subscription": null,
        "success_url": field("success_url"),
        "cancel_url": field("cancel_url"),
        "url": format!("https://checkout.stripe.com/c/pay/{id}#fidkdWxOYHwnPyd1blpxYHZxWjA0"),
    });
    stand_in.sessions.lock().expect("lock").insert(id.clone(), session.clone());
    if let Some(key) = received.idempotency_key {
        stand_in.by_key.lock().expect("lock").insert(key, id);
    }
    axum::Json(session).into_response()
}

async fn retrieve_session(
    State(stand_in): State<Arc<StandIn>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let received = record(&stand_in, format!("/v1/checkout/sessions/{id}"), &headers, b"");
    if received.authorization.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return unauthorised();
    }
    match stand_in.sessions.lock().expect("lock").get(&id) {
        Some(session) => axum::Json(session.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"type": "invalid_request_error", "code": "resource_missing"}})),
        )
            .into_response(),
    }
}

/// Starts the stand-in on a free loopback port; returns it and payment settings pointing at it.
pub async fn start() -> (Arc<StandIn>, PaymentSettings) {
    let stand_in = Arc::new(StandIn::default());
    let router = Router::new()
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/checkout/sessions/{id}", get(retrieve_session))
        .with_state(Arc::clone(&stand_in));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let settings = PaymentSettings {
        stripe: Some(StripeSettings {
            secret_key: SecretString::from(SECRET_KEY),
            webhook_secrets: vec![SecretString::from(WEBHOOK_SECRET)],
            webhook_tolerance: Duration::from_secs(300),
            api_base: url::Url::parse(&format!("http://{address}")).expect("URL"),
            timeout: Duration::from_secs(5),
        }),
        ..PaymentSettings::default()
    };
    (stand_in, settings)
}

/// A Stripe event envelope around `object`, as Stripe sends it.
pub fn event(id: &str, event_type: &str, object: Value) -> String {
    let mut envelope = json!({
        "id": id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": 1_764_700_000,
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": event_type,
    });
    envelope["data"]["object"] = object;
    envelope.to_string()
}
