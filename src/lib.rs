//! Lectern: media ingest and streaming delivery for course video.
//!
//! See `ARCHITECTURE.md` for the codemap and the invariants.

pub mod app;
pub mod auth;
pub mod cdn;
pub mod cli;
pub mod config;
pub mod console;
pub mod db;
pub mod delivery;
pub mod engine;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod lti;
pub mod mail; // accounts (issue 21)
pub mod media;
pub mod metrics;
pub mod net;
pub mod payments;
pub mod playback;
pub mod storage;
pub mod telemetry;
pub mod training;
pub mod transcode;
pub mod webhooks;

/// An error and all its causes on one line (`a: b: c`), for logs and messages.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their source's text in their own; don't print it twice.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
