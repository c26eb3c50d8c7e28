//! Course-completion certificates: a signed record of what a learner completed, which anyone can
//! verify offline, a public verification endpoint, and a PDF to print.
//!
//! - [`record`] (pure): what a certificate asserts, signed over its canonical JSON
//!   ([`canonical`], RFC 8785 restricted to integers) with the certificate key;
//! - [`signer`]: that key (never the token key; see `crate::keys`), the keys of earlier
//!   rotations, and their JWKS;
//! - [`store`]: all SQL of `certificate` and `certificate_name`, and [`issue_in`], which the
//!   training domain calls in the transaction that completes an enrolment;
//! - [`pdf`] (pure): the printable page;
//! - `routes`: `/v1/certificates/{id}` (public), `/v1/certificates/{id}/pdf`,
//!   `/v1/me/certificates`, `/v1/me/certificate-name` and the published keys.

pub mod canonical;
mod error;
pub mod pdf;
pub mod record;
mod routes;
pub mod signer;
pub mod store;

pub use error::CertificateError;
pub use routes::{CertificateList, CertificateName, CertificateSummary, CertificateView};
pub use signer::CertificateSigner;
pub use store::{Issued, StoredCertificate, issue_in};

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// Where the certificate keys are published (a JWKS).
pub const KEYS_PATH: &str = "/.well-known/lectern-certificate-keys.json";

/// Certificates' routes: the public certificate and its PDF, the learner's own, and the keys.
pub fn router() -> OpenApiRouter<AppState> {
    routes::router()
}

/// The address printed on a certificate: its public JSON, under the issuer's URL.
pub fn verification_url(issuer: &str, certificate_id: uuid::Uuid) -> String {
    format!("{}/v1/certificates/{certificate_id}", issuer.trim_end_matches('/'))
}
