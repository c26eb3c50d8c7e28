//! YooKassa (ЮKassa): payments created through its v3 API, and notifications that are treated as
//! hints. YooKassa does not sign notifications, so one is accepted only from the configured source
//! networks (YooKassa's documented ranges by default; the client address is taken from
//! `X-Forwarded-For` only behind `LECTERN_TRUSTED_PROXIES`), and then the payment or refund it
//! names is fetched from the API with the shop's credentials: only the fetched status acts. A
//! spoofed "succeeded" for a payment the API calls pending grants nothing.

pub mod client;
pub mod notification;

pub use client::YooKassaClient;
