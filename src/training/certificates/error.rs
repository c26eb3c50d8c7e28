//! Certificates' error type and what each case means at the HTTP edge.

use axum::http::StatusCode;

use super::pdf::PdfError;
use super::record::RecordError;
use crate::auth::AuthError;
use crate::http::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("no such certificate")]
    NotFound,
    #[error("the certificate was revoked")]
    Revoked,
    #[error("{0}")]
    InvalidName(String),
    /// `issue_in` was called for an enrolment that does not exist: a bug of the caller.
    #[error("no enrollment {0}")]
    EnrollmentNotFound(uuid::Uuid),
    /// `issue_in` was called before the enrolment was marked completed: a bug of the caller.
    #[error("enrollment {0} is not completed")]
    EnrollmentNotCompleted(uuid::Uuid),
    #[error("cannot sign the certificate record")]
    Record(#[from] RecordError),
    #[error("cannot render the certificate")]
    Pdf(#[from] PdfError),
    #[error("the PDF rendering task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl HttpError for CertificateError {
    fn delegate(&self) -> Option<&dyn HttpError> {
        match self {
            Self::Database(database) => Some(database),
            Self::Auth(auth) => Some(auth),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Revoked => StatusCode::GONE,
            Self::InvalidName(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::EnrollmentNotFound(_)
            | Self::EnrollmentNotCompleted(_)
            | Self::Record(_)
            | Self::Pdf(_)
            | Self::Task(_)
            | Self::Auth(_)
            | Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable, snake_case, part of the API.
    fn error_code(&self) -> &'static str {
        match self {
            Self::NotFound => "certificate_not_found",
            Self::Revoked => "certificate_revoked",
            Self::InvalidName(_) => "invalid_certificate_name",
            Self::Auth(auth) => auth.error_code(),
            _ => "internal_error",
        }
    }
}
