//! Resolved payment settings (see `crate::config::payments` for the variables). Payments are off
//! unless a provider is configured; then every payment endpoint answers `payments_disabled`.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// Stripe, when `LECTERN_STRIPE_SECRET_KEY` is set.
    pub stripe: Option<StripeSettings>,
    /// YooKassa, when `LECTERN_YOOKASSA_SHOP_ID` is set.
    pub yookassa: Option<YooKassaSettings>,
    /// Whether a partial refund revokes the order's access (by default only a full refund does).
    pub partial_refund_revokes: bool,
    /// How long a past-due subscription keeps its access while the provider retries the payment.
    pub past_due_grace: Duration,
    /// How often workers end entitlements past their end date.
    pub sweep_interval: Duration,
    /// How often workers reconcile with the providers' APIs (`payments.reconcile`).
    pub reconcile_interval: Duration,
    /// How long an order may stay pending, or a subscription past its period end, before the
    /// reconciliation asks the provider.
    pub reconcile_after: Duration,
}

impl Default for PaymentSettings {
    /// The documented defaults: no provider.
    fn default() -> Self {
        Self {
            stripe: None,
            yookassa: None,
            partial_refund_revokes: false,
            past_due_grace: Duration::from_secs(3 * 86_400),
            sweep_interval: Duration::from_secs(60),
            reconcile_interval: Duration::from_secs(300),
            reconcile_after: Duration::from_secs(30 * 60),
        }
    }
}

impl PaymentSettings {
    pub fn enabled(&self) -> bool {
        self.stripe.is_some() || self.yookassa.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// The secret API key (`sk_live_…`, `sk_test_…`).
    pub secret_key: SecretString,
    /// Webhook signing secrets (`whsec_…`); a signature made with any of them is accepted, so a
    /// secret can be rolled without dropping events.
    pub webhook_secrets: Vec<SecretString>,
    /// How old a webhook's signed timestamp may be.
    pub webhook_tolerance: Duration,
    /// `https://api.stripe.com`; tests point it at a local stand-in.
    pub api_base: Url,
    /// How long one call to Stripe may take.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct YooKassaSettings {
    pub shop_id: String,
    pub secret_key: SecretString,
    /// `https://api.yookassa.ru`; tests point it at a local stand-in.
    pub api_base: Url,
    /// Networks notifications are accepted from (YooKassa's documented ranges by default).
    pub allowed_networks: Vec<ipnet::IpNet>,
    pub timeout: Duration,
    /// The 54-FZ receipt sent with each payment, when the shop fiscalises through YooKassa.
    pub receipt: Option<ReceiptSettings>,
}

/// The fields of a 54-FZ receipt item that depend on the seller's tax set-up.
#[derive(Debug, Clone)]
pub struct ReceiptSettings {
    /// 1 (no VAT) … 6 (20/120); YooKassa's `vat_code`.
    pub vat_code: u8,
    /// `service` for courses (YooKassa's `payment_subject`).
    pub payment_subject: String,
    /// `full_payment` (YooKassa's `payment_mode`).
    pub payment_mode: String,
}

/// The source networks YooKassa documents for its notifications.
pub const YOOKASSA_NETWORKS: [&str; 7] = [
    "185.71.76.0/27",
    "185.71.77.0/27",
    "77.75.153.0/25",
    "77.75.156.11/32",
    "77.75.156.35/32",
    "77.75.154.128/25",
    "2a02:5180::/32",
];
