//! The certificate endpoints. A certificate is public to whoever holds its id (122 random bits,
//! printed on it): `GET /v1/certificates/{id}` answers the signed record and whether it verifies,
//! `/pdf` the printable page. The published keys live at
//! `/.well-known/lectern-certificate-keys.json`. A signed-in learner lists their own
//! certificates and sets the name printed on future ones under `/v1/me/…`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::record::{self, CertificateRecord};
use super::signer::ALGORITHM;
use super::store::{self, StoredCertificate};
use super::{CertificateError, KEYS_PATH, verification_url};
use crate::app::AppState;
use crate::auth::Authenticated;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::CertificateId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(certificate_keys))
        .routes(routes!(get_certificate))
        .routes(routes!(get_certificate_pdf))
        .routes(routes!(my_certificates))
        .routes(routes!(get_certificate_name, put_certificate_name))
}

/// A certificate, its signature, and whether this server vouches for it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CertificateView {
    pub certificate_id: Uuid,
    /// What the certificate asserts, exactly as signed. To verify offline, write it in its
    /// canonical form (RFC 8785: sorted keys, no whitespace; it holds integers only) and check
    /// `signature` over those UTF-8 bytes with the Ed25519 key `key_id` from `keys_url`.
    #[schema(value_type = CertificateRecord)]
    pub record: serde_json::Value,
    /// The Ed25519 signature of the record's canonical bytes, base64url without padding.
    pub signature: String,
    /// The `kid` of the signing key in the published key set.
    #[schema(example = "ed25519-3f9a0c1b2d4e5f60")]
    pub key_id: String,
    #[schema(example = "EdDSA")]
    pub algorithm: String,
    /// The signature verifies with a key this server publishes, and the record is this
    /// certificate's.
    pub verified: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// `verified` and not revoked.
    pub valid: bool,
    /// The address printed on the certificate (and in its QR code): this resource.
    pub verification_url: String,
    pub pdf_url: String,
    /// The published certificate keys (a JWKS).
    pub keys_url: String,
}

/// One of the learner's certificates, in short.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CertificateSummary {
    pub certificate_id: Uuid,
    pub course_id: Uuid,
    /// The course title on the certificate.
    pub course_title: String,
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub completed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub verification_url: String,
    pub pdf_url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CertificateList {
    /// Newest first.
    pub certificates: Vec<CertificateSummary>,
}

/// The name printed on the learner's future certificates.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CertificateName {
    /// 1 to 200 characters; `null` prints the account's email instead.
    #[schema(example = "Анна Сергеевна Петрова")]
    pub name: Option<String>,
}

fn public_base(state: &AppState) -> String {
    crate::auth::issuer(&state.http.public_url)
}

fn pdf_url(state: &AppState, certificate_id: Uuid) -> String {
    format!("{}/v1/certificates/{certificate_id}/pdf", public_base(state))
}

/// The record of a stored certificate if it verifies as this certificate's; the reason it does
/// not otherwise.
fn checked_record(state: &AppState, stored: &StoredCertificate) -> Result<CertificateRecord, record::RecordError> {
    let record = record::verify(&state.certificates, &stored.signed())?;
    if record.certificate_id != stored.certificate_id {
        return Err(record::RecordError::BadSignature);
    }
    Ok(record)
}

/// The public keys that verify certificates (RFC 7517, `OKP`/`Ed25519`): the signing key and the
/// keys of earlier rotations, so certificates issued before a rotation keep verifying.
#[utoipa::path(get, path = "/.well-known/lectern-certificate-keys.json", tag = "certificates",
    responses((status = OK, description = "JSON Web Key Set", content_type = "application/json")))]
async fn certificate_keys(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=3600")], axum::Json(state.certificates.jwks().clone()))
}

/// A certificate by its id, with its signature and whether it verifies. Public: the id is the
/// credential, printed on the certificate.
#[utoipa::path(get, path = "/v1/certificates/{certificate_id}", tag = "certificates",
    params(("certificate_id" = Uuid, Path, description = "The id printed on the certificate")),
    responses(
        (status = OK, description = "The signed record and its verification", body = CertificateView),
        (status = NOT_FOUND, description = "`certificate_not_found`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(certificate_id = %certificate_id))]
async fn get_certificate(State(state): State<AppState>, certificate_id: CertificateId) -> Result<Response, ApiError> {
    let stored = store::find(&state.pool, certificate_id.0).await?.ok_or(CertificateError::NotFound)?;
    let verified = match checked_record(&state, &stored) {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(error = %crate::error_chain(&error), key_id = stored.key_id, "a stored certificate does not verify");
            false
        }
    };
    let record: serde_json::Value =
        serde_json::from_str(&stored.record).map_err(|e| CertificateError::Record(record::RecordError::Json(e)))?;
    let issuer = record["issuer"].as_str().unwrap_or_default().to_owned();
    let view = CertificateView {
        certificate_id: stored.certificate_id,
        record,
        signature: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&stored.signature),
        key_id: stored.key_id.clone(),
        algorithm: ALGORITHM.to_owned(),
        verified,
        revoked_at: stored.revoked_at,
        valid: verified && stored.revoked_at.is_none(),
        verification_url: verification_url(&issuer, stored.certificate_id),
        pdf_url: pdf_url(&state, stored.certificate_id),
        keys_url: format!("{}{KEYS_PATH}", public_base(&state)),
    };
    // Revocation can change the answer, so caches must ask again.
    Ok(([(header::CACHE_CONTROL, "no-cache")], axum::Json(view)).into_response())
}

/// The certificate as a printable PDF: one landscape A4 page with the learner's name, the course,
/// the date, what was covered, the id, and the verification URL with its QR code.
#[utoipa::path(get, path = "/v1/certificates/{certificate_id}/pdf", tag = "certificates",
    params(("certificate_id" = Uuid, Path, description = "The id printed on the certificate")),
    responses(
        (status = OK, description = "The certificate", content_type = "application/pdf"),
        (status = NOT_FOUND, description = "`certificate_not_found`", body = ErrorBody),
        (status = GONE, description = "`certificate_revoked`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(certificate_id = %certificate_id))]
async fn get_certificate_pdf(
    State(state): State<AppState>,
    certificate_id: CertificateId,
) -> Result<Response, ApiError> {
    let stored = store::find(&state.pool, certificate_id.0).await?.ok_or(CertificateError::NotFound)?;
    if stored.revoked_at.is_some() {
        return Err(CertificateError::Revoked.into());
    }
    // Only what verifies is printed: a record that does not is a fault to look into (a key
    // rotated without keeping the old one as a previous key, or a changed row).
    let record = checked_record(&state, &stored).map_err(CertificateError::Record)?;
    let url = verification_url(&record.issuer, record.certificate_id);
    // Subsetting two fonts takes a few milliseconds of CPU: off the request threads.
    let pdf = tokio::task::spawn_blocking(move || super::pdf::render(&record, &url))
        .await
        .map_err(CertificateError::Task)?
        .map_err(CertificateError::Pdf)?;
    let disposition = HeaderValue::from_str(&format!("inline; filename=\"certificate-{}.pdf\"", stored.certificate_id))
        .map_err(|e| ApiError::internal(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/pdf")),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        pdf,
    )
        .into_response())
}

/// Your certificates, newest first.
#[utoipa::path(get, path = "/v1/me/certificates", tag = "certificates", security(("bearer" = [])),
    responses(
        (status = OK, description = "The signed-in learner's certificates", body = CertificateList),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn my_certificates(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<axum::Json<CertificateList>, ApiError> {
    let stored = store::list_for_account(&state.pool, caller.account_id).await?;
    let mut certificates = Vec::with_capacity(stored.len());
    for certificate in stored {
        let record: CertificateRecord = serde_json::from_str(&certificate.record)
            .map_err(|e| CertificateError::Record(record::RecordError::Json(e)))?;
        certificates.push(CertificateSummary {
            certificate_id: certificate.certificate_id,
            course_id: record.course.course_id,
            course_title: record.course.title,
            attempt: record.enrollment.attempt,
            issued_at: certificate.issued_at,
            completed_at: record.enrollment.completed_at,
            revoked_at: certificate.revoked_at,
            verification_url: verification_url(&record.issuer, certificate.certificate_id),
            pdf_url: pdf_url(&state, certificate.certificate_id),
        });
    }
    Ok(axum::Json(CertificateList { certificates }))
}

/// The name printed on your future certificates (`null`: none set, your email is printed).
#[utoipa::path(get, path = "/v1/me/certificate-name", tag = "certificates", security(("bearer" = [])),
    responses(
        (status = OK, description = "The name", body = CertificateName),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn get_certificate_name(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<axum::Json<CertificateName>, ApiError> {
    let name = store::certificate_name(&state.pool, caller.account_id).await?;
    Ok(axum::Json(CertificateName { name }))
}

/// Set the name printed on your future certificates, in any script (`null` forgets it).
/// Certificates already issued keep the name they were issued with.
#[utoipa::path(put, path = "/v1/me/certificate-name", tag = "certificates", security(("bearer" = [])),
    request_body = CertificateName,
    responses(
        (status = OK, description = "The name now set", body = CertificateName),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_certificate_name` or `invalid_json`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn put_certificate_name(
    State(state): State<AppState>,
    caller: Authenticated,
    Json(request): Json<CertificateName>,
) -> Result<axum::Json<CertificateName>, ApiError> {
    let name = request.name.as_deref().map(store::parse_name).transpose()?;
    store::set_certificate_name(&state.pool, caller.account_id, name.as_deref()).await?;
    Ok(axum::Json(CertificateName { name }))
}
