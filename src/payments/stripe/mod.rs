//! Stripe: Checkout Sessions through its HTTP API ([`client`]), and the webhook endpoint's
//! signature check ([`signature`]) and event handling ([`webhook`]).

pub mod client;
pub mod signature;
pub mod webhook;

pub use client::StripeClient;
