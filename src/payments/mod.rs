//! Payments: a catalogue (products of courses, prices, coupons), a ledger (orders and
//! subscriptions), Stripe checkout and webhooks, and **entitlements**, the one source of a paying
//! learner's access, which the training domain's enrolments follow.
//!
//! - [`catalogue`] owns the SQL of `product`, `product_course`, `price` and `coupon`;
//!   [`orders`] of `payment_order` (its guarded state machine and what each transition does to
//!   entitlements); [`subscriptions`] of `subscription`; [`entitlements`] of `entitlement` and
//!   the enrolment that follows it.
//! - [`stripe`] speaks Stripe's HTTP API and verifies its webhook signatures on the raw body;
//!   [`yookassa`] speaks YooKassa's and re-fetches what its (unsigned) notifications name.
//! - [`routes`] is the HTTP API (with [`manage_routes`]: catalogue editing, refunds and their
//!   quote, the seller's policy; [`access_routes`]: entitlements by hand, a plan's cancel);
//!   [`sweep`] the periodic job ending entitlements past their end; [`reconcile`] the one
//!   pulling missed state from the providers and renewing YooKassa plans.
//! - [`refunds`] refunds through the provider with an idempotency key; [`policy`] owns the
//!   seller's refund rules and evaluates the refund quote from training's progress.
//!
//! Access flows one way: payments write entitlements, entitlements move enrolments through
//! `training::enrollments`, enrolments write passes through `playback::access`. Payments never
//! write a pass itself.

pub mod access_routes;
pub mod catalogue;
pub mod entitlements;
mod error;
pub mod inbox;
pub mod manage_routes;
pub mod orders;
pub mod policy;
pub mod reconcile;
pub mod refunds;
pub mod routes;
mod settings;
pub mod stripe;
pub mod subscriptions;
pub mod sweep;
pub mod yookassa;

use std::sync::Arc;

pub use error::PaymentError;
pub use settings::{PaymentSettings, ReceiptSettings, StripeSettings, YOOKASSA_NETWORKS, YooKassaSettings};

use crate::app::{AppState, Services};

/// The settings and the provider clients, built once.
pub struct Payments {
    pub settings: PaymentSettings,
    pub stripe: Option<stripe::StripeClient>,
    pub yookassa: Option<yookassa::YooKassaClient>,
}

impl Payments {
    pub fn new(settings: &PaymentSettings) -> Self {
        Self {
            settings: settings.clone(),
            stripe: settings.stripe.clone().map(stripe::StripeClient::new),
            yookassa: settings.yookassa.clone().map(yookassa::YooKassaClient::new),
        }
    }

    /// The Stripe client, or `payments_disabled`.
    pub fn stripe(&self) -> Result<&stripe::StripeClient, PaymentError> {
        self.stripe.as_ref().ok_or(PaymentError::Disabled)
    }

    /// The YooKassa client, or `payments_disabled`.
    pub fn yookassa(&self) -> Result<&yookassa::YooKassaClient, PaymentError> {
        self.yookassa.as_ref().ok_or(PaymentError::Disabled)
    }
}

/// The payment job handlers: the periodic sweep, and the reconciliation with the providers
/// (which runs only when one is configured).
pub fn job_handlers(_services: &Services, settings: &Arc<PaymentSettings>) -> Vec<Arc<dyn crate::jobs::JobHandler>> {
    vec![
        Arc::new(sweep::PaymentSweep::new(settings.sweep_interval)),
        Arc::new(reconcile::PaymentReconcile::new(Arc::new(Payments::new(settings)))),
    ]
}

/// The documented payment routes.
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    routes::router().merge(manage_routes::router()).merge(access_routes::router())
}
