//! Training: courses made of ordered sections and lessons, enrolments, and watch progress that
//! the server decides — not the player.
//!
//! - [`courses`] owns all SQL of `course`, `course_section` and `lesson` (the catalogue and its
//!   lifecycle `draft → published → archived`); [`enrollments`] all SQL of `enrollment`
//!   (`active ⇄ suspended → expired | revoked`). Both write the access facts playback reads
//!   through `playback::access` — one collection per course, its lessons' assets, one pass per
//!   enrolled learner — in the transaction of the change, so access and enrolment never
//!   disagree; losing access ends the learner's playback sessions of the course.
//! - [`coverage`] is the pure heart: one bit per second of a lesson, only ever set, and the
//!   plausibility rule that caps what a report may add by the wall time it took.
//!   [`progress`] owns all SQL of `lesson_progress` and `progress_stream` and applies reports
//!   (idempotent per session and `seq`), and completion (set once, never reverted).
//! - [`views`] assembles outlines, resume points and dashboards from rows (pure); [`reports`]
//!   streams the instructor's progress report and computes retention from the bitmaps.
//! - [`routes`] is the instructor's API, [`learner_routes`] the learner's and the players'
//!   (`POST /v1/lessons/{id}/playback`, `POST /v1/playback/{session}/progress`); [`events`] the
//!   webhook events; [`sweep`] the periodic job (end dates, lesson durations).

pub mod certificates;
pub mod courses;
pub mod coverage;
pub mod enrollments;
mod error;
pub mod events;
pub mod graphql;
pub mod learner_routes;
pub mod progress;
pub mod reports;
pub mod routes;
mod settings;
pub mod sweep;
pub mod views;

use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use uuid::Uuid;

pub use error::TrainingError;
pub use settings::{DEFAULT_PROGRESS_CACHE_SESSIONS, GraphQlSettings, TrainingSettings};

use crate::app::{AppState, Services};
use crate::keys::Keys;

/// The training job handlers: the periodic sweep.
pub fn job_handlers(_services: &Services, settings: &Arc<TrainingSettings>) -> Vec<Arc<dyn crate::jobs::JobHandler>> {
    vec![Arc::new(sweep::TrainingSweep::new(settings.sweep_interval))]
}

/// The documented training routes.
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    routes::router().merge(learner_routes::router())
}

/// The credential of one playback session's progress reports: an HMAC of the session id under
/// the server's URL secret, with a label of its own so it can never equal another signature.
/// It lets a page send reports (also from `sendBeacon`, which cannot set headers) without
/// holding the learner's access token, and is worth nothing for any other session.
pub fn progress_token(keys: &Keys, session_id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(progress_mac(keys, session_id).finalize().into_bytes())
}

/// Whether `token` is [`progress_token`] of the session (compared in constant time).
pub fn progress_token_valid(keys: &Keys, session_id: Uuid, token: &str) -> bool {
    let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()) else { return false };
    progress_mac(keys, session_id).verify_slice(&raw).is_ok()
}

fn progress_mac(keys: &Keys, session_id: Uuid) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(keys.storage_secret.expose_secret().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(b"lectern progress token v1\0");
    mac.update(session_id.as_bytes());
    mac
}
