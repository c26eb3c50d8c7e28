//! A local stand-in for YooKassa's v3 API: `POST /v3/payments` (JSON, Basic auth with the shop id
//! and secret key, `Idempotence-Key`), `GET /v3/payments/{id}` and `GET /v3/refunds/{id}`. Its
//! objects have the shape of the `yookassa` SDK's `PaymentResponse` and `RefundResponse` models;
//! a test moves a payment's status (as the buyer paying would) and sends the notifications.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use lectern::payments::{PaymentSettings, ReceiptSettings, YooKassaSettings};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const SHOP_ID: &str = "100500";
pub const SECRET_KEY: &str = "test_lectern_standin_secret";

#[derive(Debug, Clone)]
pub struct Received {
    pub authorization: Option<String>,
    pub idempotence_key: Option<String>,
    pub body: Value,
}

#[derive(Default)]
pub struct StandIn {
    pub received: Mutex<Vec<Received>>,
    pub payments: Mutex<HashMap<String, Value>>,
    pub refunds: Mutex<HashMap<String, Value>>,
    refund_keys: Mutex<HashMap<String, String>>,
    payment_keys: Mutex<HashMap<String, String>>,
    /// Charges of a saved payment method (renewals) are `canceled` while set, else `succeeded`.
    pub decline_saved_methods: std::sync::atomic::AtomicBool,
}

impl StandIn {
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Sets a payment's status, as YooKassa does when the buyer pays (`succeeded`).
    pub fn set_status(&self, payment_id: &str, status: &str) {
        let mut payments = self.payments.lock().expect("lock");
        let payment = payments.get_mut(payment_id).expect("a payment the stand-in made");
        payment["status"] = json!(status);
        payment["paid"] = json!(status == "succeeded");
    }

    /// Refunds `value` (e.g. "49.00") of a payment; returns the refund id.
    pub fn refund(&self, payment_id: &str, value: &str) -> String {
        let id = format!("2f{:06}-0015-5000-9000-lecternrefund", self.refunds.lock().expect("lock").len() + 1);
        let mut payments = self.payments.lock().expect("lock");
        let payment = payments.get_mut(payment_id).expect("payment");
        payment["refunded_amount"] = json!({"value": value, "currency": "RUB"});
        let refund = json!({
            "id": id, "payment_id": payment_id, "status": "succeeded",
            "amount": {"value": value, "currency": "RUB"}, "created_at": "2026-12-03T12:00:00.000Z",
        });
        self.refunds.lock().expect("lock").insert(id.clone(), refund);
        id
    }
}

fn authorised(headers: &HeaderMap) -> bool {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{SHOP_ID}:{SECRET_KEY}"));
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Basic {expected}"))
}

fn refused() -> Response {
    let body = json!({"type": "error", "code": "invalid_credentials", "description": "Basic authentication failed"});
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

async fn create_payment(State(stand_in): State<Arc<StandIn>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    stand_in.received.lock().expect("lock").push(Received {
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
        idempotence_key: headers.get("idempotence-key").and_then(|v| v.to_str().ok()).map(str::to_owned),
        body: body.clone(),
    });
    if !authorised(&headers) {
        return refused();
    }
    // A repeated Idempotence-Key answers the first payment, as YooKassa does within 24 hours.
    let key = headers.get("idempotence-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(key) = &key
        && let Some(id) = stand_in.payment_keys.lock().expect("lock").get(key)
    {
        return axum::Json(stand_in.payments.lock().expect("lock")[id].clone()).into_response();
    }
    let n = stand_in.payments.lock().expect("lock").len() + 1;
    let id = format!("2e{n:06}-000f-5000-8000-lecternstand");
    if let Some(method) = body["payment_method_id"].as_str() {
        // A charge of a saved method: no buyer, no confirmation, decided at once.
        let declined = stand_in.decline_saved_methods.load(std::sync::atomic::Ordering::SeqCst);
        let status = if declined { "canceled" } else { "succeeded" };
        let mut payment = json!({
            "id": id, "status": status, "paid": !declined, "amount": body["amount"],
            "created_at": "2026-12-03T12:00:00.000Z", "description": body["description"],
            "metadata": body["metadata"], "payment_method": {"type": "bank_card", "id": method, "saved": true},
            "recipient": {"account_id": SHOP_ID, "gateway_id": "100700"}, "refundable": !declined, "test": true,
        });
        if declined {
            payment["cancellation_details"] = json!({"party": "payment_network", "reason": "insufficient_funds"});
        }
        stand_in.payments.lock().expect("lock").insert(id.clone(), payment.clone());
        if let Some(key) = key {
            stand_in.payment_keys.lock().expect("lock").insert(key, id);
        }
        return axum::Json(payment).into_response();
    }
    let saves = body["save_payment_method"] == true;
    let payment = json!({
        "id": id,
        "status": "pending",
        "paid": false,
        "payment_method": {"type": "bank_card", "id": format!("{id}-method"), "saved": saves},
        "amount": body["amount"],
        "confirmation": {
            "type": "redirect",
            "return_url": body["confirmation"]["return_url"],
            "confirmation_url": format!("https://yoomoney.ru/checkout/payments/v2/contract?orderId={id}"),
        },
        "created_at": "2026-12-03T12:00:00.000Z",
        "description": body["description"],
        "metadata": body["metadata"],
        "recipient": {"account_id": SHOP_ID, "gateway_id": "100700"},
        "refundable": false,
        "test": true,
    });
    stand_in.payments.lock().expect("lock").insert(id.clone(), payment.clone());
    if let Some(key) = key {
        stand_in.payment_keys.lock().expect("lock").insert(key, id);
    }
    axum::Json(payment).into_response()
}

fn minor(value: &Value) -> i64 {
    let text = value.as_str().unwrap_or("0");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    whole.parse::<i64>().unwrap_or(0) * 100 + format!("{fraction:0<2}").parse::<i64>().unwrap_or(0)
}

/// `POST /v3/refunds`: refunds part or all of a succeeded payment (`succeeded` at once) and adds
/// it to the payment's `refunded_amount`; a repeated `Idempotence-Key` answers the first refund.
async fn create_refund(State(stand_in): State<Arc<StandIn>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = headers.get("idempotence-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    stand_in.received.lock().expect("lock").push(Received {
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
        idempotence_key: key.clone(),
        body: body.clone(),
    });
    if !authorised(&headers) {
        return refused();
    }
    if let Some(key) = &key
        && let Some(id) = stand_in.refund_keys.lock().expect("lock").get(key)
    {
        return axum::Json(stand_in.refunds.lock().expect("lock")[id].clone()).into_response();
    }
    let payment_id = body["payment_id"].as_str().unwrap_or_default().to_owned();
    let amount = minor(&body["amount"]["value"]);
    {
        let mut payments = stand_in.payments.lock().expect("lock");
        let Some(payment) = payments.get_mut(&payment_id).filter(|p| p["status"] == "succeeded") else {
            let error = json!({"type": "error", "code": "invalid_request", "description": "payment not refundable"});
            return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
        };
        let total = minor(&payment["refunded_amount"]["value"]) + amount;
        payment["refunded_amount"] = json!({"value": format!("{}.{:02}", total / 100, total % 100), "currency": "RUB"});
    }
    let id = format!("2f{:06}-0015-5000-9000-lecternrefund", stand_in.refunds.lock().expect("lock").len() + 1);
    let refund = json!({
        "id": id, "payment_id": payment_id, "status": "succeeded", "amount": body["amount"],
        "created_at": "2026-12-03T12:00:00.000Z", "description": body["description"],
    });
    stand_in.refunds.lock().expect("lock").insert(id.clone(), refund.clone());
    if let Some(key) = key {
        stand_in.refund_keys.lock().expect("lock").insert(key, id);
    }
    axum::Json(refund).into_response()
}

async fn get_payment(State(stand_in): State<Arc<StandIn>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return refused();
    }
    match stand_in.payments.lock().expect("lock").get(&id) {
        Some(payment) => axum::Json(payment.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"type": "error", "code": "not_found"}))).into_response(),
    }
}

async fn get_refund(State(stand_in): State<Arc<StandIn>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return refused();
    }
    match stand_in.refunds.lock().expect("lock").get(&id) {
        Some(refund) => axum::Json(refund.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"type": "error", "code": "not_found"}))).into_response(),
    }
}

/// Starts the stand-in; notifications are allowed from `networks`.
pub async fn start(networks: &[&str]) -> (Arc<StandIn>, PaymentSettings) {
    let stand_in = Arc::new(StandIn::default());
    let router = Router::new()
        .route("/v3/payments", post(create_payment))
        .route("/v3/payments/{id}", get(get_payment))
        .route("/v3/refunds", post(create_refund))
        .route("/v3/refunds/{id}", get(get_refund))
        .with_state(Arc::clone(&stand_in));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let settings = PaymentSettings {
        yookassa: Some(YooKassaSettings {
            shop_id: SHOP_ID.to_owned(),
            secret_key: SecretString::from(SECRET_KEY),
            api_base: url::Url::parse(&format!("http://{address}")).expect("URL"),
            allowed_networks: networks.iter().map(|n| n.parse().expect("CIDR")).collect(),
            timeout: Duration::from_secs(5),
            receipt: Some(ReceiptSettings {
                vat_code: 1,
                payment_subject: "service".to_owned(),
                payment_mode: "full_payment".to_owned(),
            }),
        }),
        ..PaymentSettings::default()
    };
    (stand_in, settings)
}

/// A notification as YooKassa posts it (the object is whatever the sender claims).
pub fn notification(event: &str, object: Value) -> String {
    let mut notification = json!({"type": "notification", "event": event});
    notification["object"] = object;
    notification.to_string()
}
