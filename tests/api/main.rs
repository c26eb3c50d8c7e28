//! The integration tests, in one test binary: each module below was a binary of its own, and
//! every binary linked the whole `lectern` crate again. `helpers` is the one set of shared
//! set-up (apps, accounts, assets, storage backends, media fixtures, stand-ins).
//!
//! `cargo test --test api <filter>` runs a part, e.g. `media_tus::` or `s3::`. The one test that
//! needs a process of its own (it measures resident memory) is `tests/media_tus_memory.rs`.

mod helpers;

mod accounts_mail; // accounts (issue 21)
mod accounts_two_factor; // accounts (issue 21)
mod auth_accounts;
mod auth_api_keys;
mod auth_rate_limits;
mod auth_roles;
mod auth_sessions;
mod auth_tokens;
mod browser_playback;
mod cdn_conformance;
mod cdn_invalidation;
mod cdn_invalidation_jobs;
mod cdn_origin;
mod certificates;
mod cli;
mod console;
mod console_browser;
mod engine_cli;
mod fuzz_parsers;
mod hardening;
mod hardening_followup;
mod http_ops;
// --- infra (issue 19): tracing, JSON logs, scale-out; the SQS wake-up channel ---
mod infra_ops;
mod jobs_sqs;
// --- end infra ---
mod job_queue;
mod lti;
mod media_assets;
mod media_fast_start;
mod media_housekeeping;
mod media_import;
mod media_multipart;
mod media_probe;
mod media_transcode;
mod media_tus;
mod media_tus_client;
mod oauth_oidc;
mod oauth_plain;
mod payments;
mod payments_manage; // payments (second part): refunds, policy, catalogue editing, reconciliation
mod playback_api;
mod playback_browser;
mod processing_resilience;
mod schemathesis;
mod storage_conformance;
mod training;
mod training_browser;
mod training_graphql;
mod transcode_local;
mod transcode_mediaconvert;
mod webhook_secrets;
mod webhooks;
