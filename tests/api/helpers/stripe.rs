//! A local stand-in for the part of Stripe's API Lectern calls: `POST /v1/checkout/sessions`
//! (form-encoded, as the official SDKs send it), `GET /v1/checkout/sessions/{id}`,
//! `POST /v1/refunds`, `GET /v1/charges/{id}` and `GET /v1/subscriptions/{id}`. Its answers
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
    /// Refunds by id; a charge's `amount_refunded` is the sum of its refunds.
    pub refunds: Mutex<HashMap<String, Value>>,
    refund_keys: Mutex<HashMap<String, String>>,
    /// Subscriptions a test put there, answered by `GET /v1/subscriptions/{id}`.
    pub subscriptions: Mutex<HashMap<String, Value>>,
}

impl StandIn {
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// The refunds made through `POST /v1/refunds`.
    pub fn refunds_of(&self, payment_intent: &str) -> Vec<Value> {
        let refunds = self.refunds.lock().expect("lock");
        refunds.values().filter(|r| r["payment_intent"] == payment_intent).cloned().collect()
    }

    /// Puts (or replaces) a subscription as Stripe would answer it.
    pub fn set_subscription(&self, subscription: Value) {
        let id = subscription["id"].as_str().expect("id").to_owned();
        self.subscriptions.lock().expect("lock").insert(id, subscription);
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

fn missing() -> Response {
    let body = json!({"error": {"type": "invalid_request_error", "code": "resource_missing"}});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// `POST /v1/refunds`: a refund of a payment intent's charge (`ch_` + the intent's id), always
/// `succeeded`; a repeated idempotency key answers the first refund, as Stripe does.
async fn create_refund(State(stand_in): State<Arc<StandIn>>, headers: HeaderMap, body: Bytes) -> Response {
    let received = record(&stand_in, "/v1/refunds".to_owned(), &headers, &body);
    if received.authorization.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return unauthorised();
    }
    if let Some(key) = &received.idempotency_key
        && let Some(id) = stand_in.refund_keys.lock().expect("lock").get(key)
    {
        return axum::Json(stand_in.refunds.lock().expect("lock")[id].clone()).into_response();
    }
    let field = |name: &str| received.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(intent) = field("payment_intent") else { return missing() };
    let amount = field("amount").and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
    let n = stand_in.refunds.lock().expect("lock").len() + 1;
    let id = format!("re_3StandIn{n:06}");
    let refund = json!({
        "id": id, "object": "refund", "amount": amount, "charge": format!("ch_{intent}"), "currency": "usd",
        "payment_intent": intent, "status": "succeeded",
        "metadata": {"order_id": field("metadata[order_id]")},
    });
    stand_in.refunds.lock().expect("lock").insert(id.clone(), refund.clone());
    if let Some(key) = received.idempotency_key {
        stand_in.refund_keys.lock().expect("lock").insert(key, id);
    }
    axum::Json(refund).into_response()
}

async fn retrieve_charge(State(stand_in): State<Arc<StandIn>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let received = record(&stand_in, format!("/v1/charges/{id}"), &headers, b"");
    if received.authorization.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return unauthorised();
    }
    let Some(intent) = id.strip_prefix("ch_") else { return missing() };
    let refunded: i64 = stand_in.refunds_of(intent).iter().filter_map(|r| r["amount"].as_i64()).sum();
    axum::Json(json!({"id": id, "object": "charge", "payment_intent": intent, "amount_refunded": refunded}))
        .into_response()
}

async fn retrieve_subscription(
    State(stand_in): State<Arc<StandIn>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let received = record(&stand_in, format!("/v1/subscriptions/{id}"), &headers, b"");
    if received.authorization.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return unauthorised();
    }
    match stand_in.subscriptions.lock().expect("lock").get(&id) {
        Some(subscription) => axum::Json(subscription.clone()).into_response(),
        None => missing(),
    }
}

/// Starts the stand-in on a free loopback port; returns it and payment settings pointing at it.
pub async fn start() -> (Arc<StandIn>, PaymentSettings) {
    let stand_in = Arc::new(StandIn::default());
    let router = Router::new()
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/checkout/sessions/{id}", get(retrieve_session))
        .route("/v1/refunds", post(create_refund))
        .route("/v1/charges/{id}", get(retrieve_charge))
        .route("/v1/subscriptions/{id}", get(retrieve_subscription))
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
