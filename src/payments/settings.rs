//! Resolved payment settings (see `crate::config::payments` for the variables). Payments are off
//! unless a provider is configured; then every payment endpoint answers `payments_disabled`.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// Stripe, when `LECTERN_STRIPE_SECRET_KEY` is set.
    pub stripe: Option<StripeSettings>,
    /// Whether a partial refund revokes the order's access (by default only a full refund does).
    pub partial_refund_revokes: bool,
    /// How long a past-due subscription keeps its access while the provider retries the payment.
    pub past_due_grace: Duration,
    /// How often workers end entitlements past their end date.
    pub sweep_interval: Duration,
}

impl Default for PaymentSettings {
    /// The documented defaults: no provider.
    fn default() -> Self {
        Self {
            stripe: None,
            partial_refund_revokes: false,
            past_due_grace: Duration::from_secs(3 * 86_400),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

impl PaymentSettings {
    pub fn enabled(&self) -> bool {
        self.stripe.is_some()
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
