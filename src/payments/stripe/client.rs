//! Stripe's HTTP API as the official SDKs speak it: form-encoded bodies with bracketed keys
//! (`line_items[0][price_data][currency]`), `Authorization: Bearer <secret key>`, an
//! `Idempotency-Key` on every create, JSON answers. Only what Lectern calls is here; responses
//! are read as untyped JSON with the few fields used, so a newer API version does not break it.

use secrecy::ExposeSecret;
use serde::Deserialize;

use super::super::catalogue::PriceForSale;
use super::super::orders::OrderView;
use super::super::{PaymentError, StripeSettings};

#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    settings: StripeSettings,
}

/// The fields of a Checkout Session Lectern reads.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub url: Option<String>,
    /// `open`, `complete` or `expired`.
    pub status: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: Option<String>,
    pub payment_intent: Option<String>,
    pub subscription: Option<String>,
    pub client_reference_id: Option<String>,
}

/// The fields of a Refund Lectern reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    /// The charge refunded, whose `amount_refunded` is the cumulative truth.
    pub charge: Option<String>,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    pub status: Option<String>,
}

/// The fields of a Charge Lectern reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Charge {
    pub id: String,
    /// Everything refunded of the charge so far, in minor units.
    pub amount_refunded: i64,
}

/// The fields of a Subscription the reconciliation reads (the period end is top-level before
/// API version 2025-03-31, on the items since).
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    pub current_period_end: Option<i64>,
    pub items: Option<SubscriptionItems>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionItems {
    pub data: Vec<SubscriptionItem>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionItem {
    pub current_period_end: Option<i64>,
}

impl Subscription {
    pub fn period_end(&self) -> Option<i64> {
        self.current_period_end
            .or_else(|| self.items.as_ref().and_then(|i| i.data.iter().filter_map(|d| d.current_period_end).max()))
    }
}

impl StripeClient {
    pub fn new(settings: StripeSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("Lectern/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { http, settings }
    }

    pub fn settings(&self) -> &StripeSettings {
        &self.settings
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.api_base.as_str().trim_end_matches('/'))
    }

    /// Creates the Checkout Session of an order: one line item with the order's amount, in
    /// `payment` mode for a one-time price and `subscription` mode for a recurring one. The order
    /// id travels as `client_reference_id` and in the metadata of the session, its payment intent
    /// (so refunds and disputes name it) or its subscription. The idempotency key is the order id:
    /// a retried call returns the same session.
    pub async fn create_checkout_session(
        &self,
        order: &OrderView,
        sale: &PriceForSale,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<CheckoutSession, PaymentError> {
        let order_id = order.order_id.to_string();
        let recurring = sale.price.recurring_interval.as_deref();
        let mut form: Vec<(&str, String)> = vec![
            ("mode", if recurring.is_some() { "subscription" } else { "payment" }.to_owned()),
            ("client_reference_id", order_id.clone()),
            ("success_url", success_url.to_owned()),
            ("cancel_url", cancel_url.to_owned()),
            ("metadata[order_id]", order_id.clone()),
            ("line_items[0][quantity]", "1".to_owned()),
            ("line_items[0][price_data][currency]", order.currency.clone()),
            ("line_items[0][price_data][unit_amount]", order.amount.to_string()),
            ("line_items[0][price_data][product_data][name]", sale.product_title.clone()),
        ];
        match recurring {
            Some(interval) => {
                form.push(("line_items[0][price_data][recurring][interval]", interval.to_owned()));
                form.push(("subscription_data[metadata][order_id]", order_id.clone()));
            }
            None => form.push(("payment_intent_data[metadata][order_id]", order_id.clone())),
        }
        let request = self
            .http
            .post(self.url("/v1/checkout/sessions"))
            .bearer_auth(self.settings.secret_key.expose_secret())
            .header("Idempotency-Key", format!("lectern-order-{order_id}"))
            .form(&form);
        self.send(request).await
    }

    pub async fn retrieve_checkout_session(&self, session_id: &str) -> Result<CheckoutSession, PaymentError> {
        let path = format!("/v1/checkout/sessions/{}", urlencode(session_id));
        let request = self.http.get(self.url(&path)).bearer_auth(self.settings.secret_key.expose_secret());
        self.send(request).await
    }

    /// Refunds `amount` (minor units) of a payment intent, naming the order in the metadata.
    /// `idempotency_key` makes a retried call (a double click, a timeout) return the same refund.
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        amount: i64,
        order_id: uuid::Uuid,
        idempotency_key: &str,
    ) -> Result<Refund, PaymentError> {
        let form = [
            ("payment_intent", payment_intent.to_owned()),
            ("amount", amount.to_string()),
            ("metadata[order_id]", order_id.to_string()),
        ];
        let request = self
            .http
            .post(self.url("/v1/refunds"))
            .bearer_auth(self.settings.secret_key.expose_secret())
            .header("Idempotency-Key", idempotency_key)
            .form(&form);
        self.send(request).await
    }

    pub async fn retrieve_charge(&self, charge_id: &str) -> Result<Charge, PaymentError> {
        let path = format!("/v1/charges/{}", urlencode(charge_id));
        let request = self.http.get(self.url(&path)).bearer_auth(self.settings.secret_key.expose_secret());
        self.send(request).await
    }

    pub async fn retrieve_subscription(&self, subscription_id: &str) -> Result<Subscription, PaymentError> {
        let path = format!("/v1/subscriptions/{}", urlencode(subscription_id));
        let request = self.http.get(self.url(&path)).bearer_auth(self.settings.secret_key.expose_secret());
        self.send(request).await
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, PaymentError> {
        let response = request.send().await.map_err(|e| PaymentError::Provider(format!("Stripe: {e}")))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| PaymentError::Provider(format!("Stripe: {e}")))?;
        if !status.is_success() {
            // Stripe's error object: {"error": {"type", "code", "message"}}. Logged, not shown.
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_default();
            tracing::warn!(%status, message, "Stripe refused a request");
            return Err(PaymentError::Provider(format!("Stripe answered {status}: {message}")));
        }
        serde_json::from_slice(&body)
            .map_err(|e| PaymentError::Provider(format!("Stripe's answer is not readable: {e}")))
    }
}

fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}
