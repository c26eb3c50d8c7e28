//! YooKassa's v3 API as its official SDKs speak it: JSON bodies, HTTP Basic auth with the shop id
//! and secret key, an `Idempotence-Key` on every create. Amounts are decimal strings in major
//! units (`"49.00"`). Answers are read as untyped JSON into small structs of the fields used.

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::super::catalogue::PriceForSale;
use super::super::orders::OrderView;
use super::super::{PaymentError, YooKassaSettings};

#[derive(Clone)]
pub struct YooKassaClient {
    http: reqwest::Client,
    settings: YooKassaSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Amount {
    pub value: String,
    pub currency: String,
}

impl Amount {
    /// Minor units of a decimal string (`"49.5"` → 4950); `None` when it is not a number.
    pub fn minor_units(&self) -> Option<i64> {
        let (whole, fraction) = self.value.split_once('.').unwrap_or((&self.value, ""));
        if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
        whole.checked_mul(100)?.checked_add(fraction)
    }
}

/// The fields of a payment Lectern reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Payment {
    pub id: String,
    /// `pending`, `waiting_for_capture`, `succeeded` or `canceled`.
    pub status: String,
    pub confirmation: Option<Confirmation>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub refunded_amount: Option<Amount>,
    /// The payment method, `saved` when the payment asked to save it (recurring plans).
    pub payment_method: Option<PaymentMethod>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    #[serde(default)]
    pub saved: bool,
}

impl Payment {
    pub fn order_id(&self) -> Option<uuid::Uuid> {
        self.metadata.get("order_id")?.as_str()?.parse().ok()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Confirmation {
    pub confirmation_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    /// `pending`, `succeeded` or `canceled`.
    pub status: String,
}

/// `4900` → `"49.00"`.
pub fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

impl YooKassaClient {
    pub fn new(settings: YooKassaSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("Lectern/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { http, settings }
    }

    pub fn settings(&self) -> &YooKassaSettings {
        &self.settings
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.api_base.as_str().trim_end_matches('/'))
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(&self.settings.shop_id, Some(self.settings.secret_key.expose_secret()))
    }

    /// Creates the payment of an order: automatic capture, a redirect confirmation back to
    /// `return_url`, the order id in the metadata, and — when receipts are on — the 54-FZ
    /// receipt with the buyer's email and one item.
    pub async fn create_payment(
        &self,
        order: &OrderView,
        sale: &PriceForSale,
        return_url: &str,
        customer_email: &str,
    ) -> Result<Payment, PaymentError> {
        let amount = json!({ "value": decimal(order.amount), "currency": order.currency.to_ascii_uppercase() });
        let description: String = sale.product_title.chars().take(128).collect();
        let mut body = json!({
            "amount": amount,
            "capture": true,
            "confirmation": { "type": "redirect", "return_url": return_url },
            "description": description,
            "metadata": { "order_id": order.order_id.to_string() },
        });
        // A plan's first payment saves the payment method: the renewals charge it.
        if sale.price.recurring_interval.is_some() {
            body["save_payment_method"] = json!(true);
        }
        if let Some(receipt) = &self.settings.receipt {
            body["receipt"] = json!({
                "customer": { "email": customer_email },
                "items": [{
                    "description": description,
                    "quantity": "1.00",
                    "amount": amount,
                    "vat_code": receipt.vat_code,
                    "payment_subject": receipt.payment_subject,
                    "payment_mode": receipt.payment_mode,
                }],
            });
        }
        let request = self
            .authorised(self.http.post(self.url("/v3/payments")))
            .header("Idempotence-Key", format!("lectern-order-{}", order.order_id))
            .json(&body);
        self.send(request).await
    }

    /// Refunds `amount` (minor units) of a payment; with receipts on, the 54-FZ refund receipt
    /// (one item of the refunded amount) goes with it, as the law asks. `idempotency_key` makes a
    /// retried call return the same refund.
    pub async fn create_refund(
        &self,
        payment_id: &str,
        amount: i64,
        currency: &str,
        description: &str,
        customer_email: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Refund, PaymentError> {
        let amount = json!({ "value": decimal(amount), "currency": currency.to_ascii_uppercase() });
        let description: String = description.chars().take(250).collect();
        let mut body = json!({ "payment_id": payment_id, "amount": amount, "description": description });
        if let (Some(receipt), Some(email)) = (&self.settings.receipt, customer_email) {
            body["receipt"] = json!({
                "customer": { "email": email },
                "items": [{
                    "description": description.chars().take(128).collect::<String>(),
                    "quantity": "1.00",
                    "amount": amount,
                    "vat_code": receipt.vat_code,
                    "payment_subject": receipt.payment_subject,
                    "payment_mode": receipt.payment_mode,
                }],
            });
        }
        let request = self
            .authorised(self.http.post(self.url("/v3/refunds")))
            .header("Idempotence-Key", idempotency_key)
            .json(&body);
        self.send(request).await
    }

    /// Charges a saved payment method without the buyer (a plan's renewal): automatic capture,
    /// no confirmation, the subscription in the metadata, the receipt when receipts are on.
    /// `idempotency_key` names the period, so a retried renewal never charges twice.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_recurring_payment(
        &self,
        payment_method_id: &str,
        amount: i64,
        currency: &str,
        description: &str,
        subscription_id: uuid::Uuid,
        customer_email: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Payment, PaymentError> {
        let amount = json!({ "value": decimal(amount), "currency": currency.to_ascii_uppercase() });
        let description: String = description.chars().take(128).collect();
        let mut body = json!({
            "amount": amount,
            "capture": true,
            "payment_method_id": payment_method_id,
            "description": description,
            "metadata": { "subscription_id": subscription_id.to_string() },
        });
        if let (Some(receipt), Some(email)) = (&self.settings.receipt, customer_email) {
            body["receipt"] = json!({
                "customer": { "email": email },
                "items": [{
                    "description": description,
                    "quantity": "1.00",
                    "amount": amount,
                    "vat_code": receipt.vat_code,
                    "payment_subject": receipt.payment_subject,
                    "payment_mode": receipt.payment_mode,
                }],
            });
        }
        let request = self
            .authorised(self.http.post(self.url("/v3/payments")))
            .header("Idempotence-Key", idempotency_key)
            .json(&body);
        self.send(request).await
    }

    pub async fn get_payment(&self, payment_id: &str) -> Result<Payment, PaymentError> {
        let path = format!("/v3/payments/{}", segment(payment_id)?);
        self.send(self.authorised(self.http.get(self.url(&path)))).await
    }

    pub async fn get_refund(&self, refund_id: &str) -> Result<Refund, PaymentError> {
        let path = format!("/v3/refunds/{}", segment(refund_id)?);
        self.send(self.authorised(self.http.get(self.url(&path)))).await
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, PaymentError> {
        let response = request.send().await.map_err(|e| PaymentError::Provider(format!("YooKassa: {e}")))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| PaymentError::Provider(format!("YooKassa: {e}")))?;
        if !status.is_success() {
            // YooKassa's error object: {"type": "error", "code", "description"}.
            let description = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["description"].as_str().map(str::to_owned))
                .unwrap_or_default();
            tracing::warn!(%status, description, "YooKassa refused a request");
            return Err(PaymentError::Provider(format!("YooKassa answered {status}: {description}")));
        }
        serde_json::from_slice(&body)
            .map_err(|e| PaymentError::Provider(format!("YooKassa's answer is not readable: {e}")))
    }
}

/// An id as one path segment: YooKassa's ids are UUID-like; anything else is refused before it
/// reaches a URL.
fn segment(id: &str) -> Result<&str, PaymentError> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(id)
    } else {
        Err(PaymentError::InvalidEvent(format!("{id:?} is not a YooKassa id")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_decimal_strings_in_major_units() {
        assert_eq!(decimal(4900), "49.00");
        assert_eq!(decimal(5), "0.05");
        let amount = |value: &str| Amount { value: value.to_owned(), currency: "RUB".to_owned() };
        assert_eq!(amount("49.00").minor_units(), Some(4900));
        assert_eq!(amount("49.5").minor_units(), Some(4950));
        assert_eq!(amount("49").minor_units(), Some(4900));
        assert_eq!(amount("4.999").minor_units(), None);
        assert_eq!(amount("x").minor_units(), None);
    }
}
