//! Payment arguments: the Stripe account and its webhook secrets, the YooKassa shop, and the
//! access policy of refunds and past-due subscriptions. Payments are off unless a provider is
//! configured (free prices and 100 % coupons work without one).

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::{ConfigError, parse_duration, secret_value};
use crate::payments::{PaymentSettings, ReceiptSettings, StripeSettings, YOOKASSA_NETWORKS, YooKassaSettings};

/// Payments (Stripe) and what refunds and subscriptions do to access.
#[derive(Debug, Args)]
pub struct PaymentArgs {
    /// Stripe's secret API key (`sk_live_…`/`sk_test_…`); also `LECTERN_STRIPE_SECRET_KEY_FILE`.
    /// Unset: payments are off and paid checkouts answer `payments_disabled`.
    #[arg(long, env = "LECTERN_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Webhook signing secrets (`whsec_…`), comma-separated: a signature under any of them is
    /// accepted (rotation). Also `LECTERN_STRIPE_WEBHOOK_SECRETS_FILE` (one or comma-separated).
    #[arg(long, env = "LECTERN_STRIPE_WEBHOOK_SECRETS", hide_env_values = true)]
    pub stripe_webhook_secrets: Option<String>,
    /// How old a webhook's signed timestamp may be.
    #[arg(long, env = "LECTERN_STRIPE_WEBHOOK_TOLERANCE", default_value = "5m", value_parser = parse_duration)]
    pub stripe_webhook_tolerance: Duration,
    /// Stripe's API base URL (a local stand-in in tests).
    #[arg(long, env = "LECTERN_STRIPE_API_BASE", default_value = "https://api.stripe.com")]
    pub stripe_api_base: String,
    /// How long one call to Stripe or YooKassa may take.
    #[arg(long, env = "LECTERN_STRIPE_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub stripe_timeout: Duration,
    /// Whether a partial refund revokes the order's access (a full refund always does).
    #[arg(long, env = "LECTERN_PAYMENTS_PARTIAL_REFUND_REVOKES", default_value_t = false, action = clap::ArgAction::Set)]
    pub partial_refund_revokes: bool,
    /// How long a past-due subscription keeps access while the provider retries the payment.
    #[arg(long, env = "LECTERN_PAYMENTS_PAST_DUE_GRACE", default_value = "3d", value_parser = parse_duration)]
    pub past_due_grace: Duration,
    /// YooKassa's shop id (`shopId`). Set with `LECTERN_YOOKASSA_SECRET_KEY` to take payments in
    /// roubles through YooKassa.
    #[arg(long, env = "LECTERN_YOOKASSA_SHOP_ID")]
    pub yookassa_shop_id: Option<String>,
    /// YooKassa's secret key; also `LECTERN_YOOKASSA_SECRET_KEY_FILE`.
    #[arg(long, env = "LECTERN_YOOKASSA_SECRET_KEY", hide_env_values = true)]
    pub yookassa_secret_key: Option<String>,
    /// YooKassa's API base URL (a local stand-in in tests).
    #[arg(long, env = "LECTERN_YOOKASSA_API_BASE", default_value = "https://api.yookassa.ru")]
    pub yookassa_api_base: String,
    /// Networks YooKassa notifications are accepted from, comma-separated CIDR blocks. Default:
    /// the ranges YooKassa documents. The client address is read from `X-Forwarded-For` only
    /// behind `LECTERN_TRUSTED_PROXIES`.
    #[arg(long, env = "LECTERN_YOOKASSA_NOTIFICATION_NETWORKS", value_delimiter = ',')]
    pub yookassa_notification_networks: Vec<String>,
    /// Send a 54-FZ receipt with every YooKassa payment, with this VAT code (1–6; 1 = no VAT).
    /// Unset: no receipt (the shop fiscalises otherwise).
    #[arg(long, env = "LECTERN_YOOKASSA_RECEIPT_VAT_CODE")]
    pub yookassa_receipt_vat_code: Option<u8>,
    /// The receipt item's `payment_subject`.
    #[arg(long, env = "LECTERN_YOOKASSA_RECEIPT_PAYMENT_SUBJECT", default_value = "service")]
    pub yookassa_receipt_payment_subject: String,
    /// The receipt item's `payment_mode`.
    #[arg(long, env = "LECTERN_YOOKASSA_RECEIPT_PAYMENT_MODE", default_value = "full_payment")]
    pub yookassa_receipt_payment_mode: String,
    /// How often workers end entitlements past their end date.
    #[arg(long, env = "LECTERN_PAYMENTS_SWEEP_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub payments_sweep_interval: Duration,
    /// How often workers reconcile pending orders and lapsed subscriptions with the providers'
    /// APIs (only when a provider is configured).
    #[arg(long, env = "LECTERN_PAYMENTS_RECONCILE_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub payments_reconcile_interval: Duration,
    /// How long an order may stay pending, or a subscription past its period end, before the
    /// reconciliation asks the provider's API.
    #[arg(long, env = "LECTERN_PAYMENTS_RECONCILE_AFTER", default_value = "30m", value_parser = parse_duration)]
    pub payments_reconcile_after: Duration,
}

impl PaymentArgs {
    pub fn resolve(&self) -> Result<PaymentSettings, ConfigError> {
        let secret_key = secret_value("LECTERN_STRIPE_SECRET_KEY", self.stripe_secret_key.as_deref())?;
        let webhook_secrets = secret_value("LECTERN_STRIPE_WEBHOOK_SECRETS", self.stripe_webhook_secrets.as_deref())?;
        let stripe = match secret_key {
            None => {
                if webhook_secrets.is_some() {
                    return Err(ConfigError::new(
                        "LECTERN_STRIPE_SECRET_KEY",
                        "is required when LECTERN_STRIPE_WEBHOOK_SECRETS is set",
                    ));
                }
                None
            }
            Some(key) => {
                if !(key.starts_with("sk_") || key.starts_with("rk_")) {
                    return Err(ConfigError::new(
                        "LECTERN_STRIPE_SECRET_KEY",
                        "must be a secret or restricted key (sk_… or rk_…)",
                    ));
                }
                let secrets: Vec<SecretString> = webhook_secrets
                    .unwrap_or_default()
                    .split([',', '\n'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| SecretString::from(s.to_owned()))
                    .collect();
                if secrets.is_empty() {
                    return Err(ConfigError::new(
                        "LECTERN_STRIPE_WEBHOOK_SECRETS",
                        "name at least one webhook signing secret (whsec_…) when Stripe is configured",
                    ));
                }
                let api_base = super::parse_base_url("LECTERN_STRIPE_API_BASE", &self.stripe_api_base)?;
                if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.stripe_webhook_tolerance) {
                    return Err(ConfigError::new("LECTERN_STRIPE_WEBHOOK_TOLERANCE", "must be between 1s and 1h"));
                }
                if !(Duration::from_millis(100)..=Duration::from_secs(120)).contains(&self.stripe_timeout) {
                    return Err(ConfigError::new("LECTERN_STRIPE_TIMEOUT", "must be between 100ms and 120s"));
                }
                Some(StripeSettings {
                    secret_key: SecretString::from(key),
                    webhook_secrets: secrets,
                    webhook_tolerance: self.stripe_webhook_tolerance,
                    api_base,
                    timeout: self.stripe_timeout,
                })
            }
        };
        if self.past_due_grace > Duration::from_secs(60 * 86_400) {
            return Err(ConfigError::new("LECTERN_PAYMENTS_PAST_DUE_GRACE", "must be at most 60d"));
        }
        if self.payments_sweep_interval < Duration::from_secs(1) {
            return Err(ConfigError::new("LECTERN_PAYMENTS_SWEEP_INTERVAL", "must be at least 1s"));
        }
        if self.payments_reconcile_interval < Duration::from_secs(10) {
            return Err(ConfigError::new("LECTERN_PAYMENTS_RECONCILE_INTERVAL", "must be at least 10s"));
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(7 * 86_400)).contains(&self.payments_reconcile_after) {
            return Err(ConfigError::new("LECTERN_PAYMENTS_RECONCILE_AFTER", "must be between 1m and 7d"));
        }
        let yookassa = self.resolve_yookassa()?;
        Ok(PaymentSettings {
            stripe,
            yookassa,
            partial_refund_revokes: self.partial_refund_revokes,
            past_due_grace: self.past_due_grace,
            sweep_interval: self.payments_sweep_interval,
            reconcile_interval: self.payments_reconcile_interval,
            reconcile_after: self.payments_reconcile_after,
        })
    }
}

impl PaymentArgs {
    fn resolve_yookassa(&self) -> Result<Option<YooKassaSettings>, ConfigError> {
        let secret = secret_value("LECTERN_YOOKASSA_SECRET_KEY", self.yookassa_secret_key.as_deref())?;
        let shop_id = self.yookassa_shop_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let (shop_id, secret) = match (shop_id, secret) {
            (None, None) => return Ok(None),
            (Some(shop_id), Some(secret)) => (shop_id.to_owned(), secret),
            (None, Some(_)) => {
                return Err(ConfigError::new("LECTERN_YOOKASSA_SHOP_ID", "is required with the secret key"));
            }
            (Some(_), None) => {
                return Err(ConfigError::new("LECTERN_YOOKASSA_SECRET_KEY", "is required with the shop id"));
            }
        };
        let networks: Vec<&str> = if self.yookassa_notification_networks.iter().all(|n| n.trim().is_empty()) {
            YOOKASSA_NETWORKS.to_vec()
        } else {
            self.yookassa_notification_networks.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).collect()
        };
        let allowed_networks = networks
            .iter()
            .map(|raw| {
                raw.parse::<ipnet::IpNet>()
                    .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError::new(
                            "LECTERN_YOOKASSA_NOTIFICATION_NETWORKS",
                            format!("{raw:?} is not a CIDR block"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let receipt = match self.yookassa_receipt_vat_code {
            None => None,
            Some(vat_code @ 1..=6) => Some(ReceiptSettings {
                vat_code,
                payment_subject: self.yookassa_receipt_payment_subject.trim().to_owned(),
                payment_mode: self.yookassa_receipt_payment_mode.trim().to_owned(),
            }),
            Some(_) => return Err(ConfigError::new("LECTERN_YOOKASSA_RECEIPT_VAT_CODE", "must be 1–6")),
        };
        Ok(Some(YooKassaSettings {
            shop_id,
            secret_key: SecretString::from(secret),
            api_base: super::parse_base_url("LECTERN_YOOKASSA_API_BASE", &self.yookassa_api_base)?,
            allowed_networks,
            timeout: self.stripe_timeout,
            receipt,
        }))
    }
}
