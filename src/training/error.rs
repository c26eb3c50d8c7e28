//! Training's error type and what each case means at the HTTP edge.

use axum::http::StatusCode;

use crate::auth::AuthError;
use crate::http::HttpError;
use crate::playback::PlaybackError;

/// Everything training refuses or fails at, with stable codes for the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    #[error("no such course")]
    CourseNotFound,
    #[error("no such section")]
    SectionNotFound,
    #[error("no such lesson")]
    LessonNotFound,
    #[error("no such enrollment")]
    EnrollmentNotFound,
    #[error("no such account")]
    AccountNotFound,
    #[error("no such asset")]
    AssetNotFound,
    #[error("{0}")]
    InvalidField(String),
    /// A course or enrolment is not in a state that allows this.
    #[error("{0}")]
    WrongState(String),
    #[error("you are not enrolled in this course")]
    NotEnrolled,
    #[error("this course cannot be joined without being enrolled by its instructor")]
    NotJoinable,
    #[error("this playback session was not opened for a lesson; open it with POST /v1/lessons/{{id}}/playback")]
    NotALessonSession,
    #[error("the progress token is missing or does not belong to this session")]
    InvalidProgressToken,
    #[error("the cursor is not one this API handed out")]
    InvalidCursor,
    #[error(transparent)]
    Playback(#[from] PlaybackError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("media error")]
    Media(#[source] Box<crate::media::MediaError>),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Certificate(#[from] super::certificates::CertificateError),
}

impl From<crate::media::MediaError> for TrainingError {
    fn from(error: crate::media::MediaError) -> Self {
        match error {
            crate::media::MediaError::Database(database) => Self::Database(database),
            other => Self::Media(Box::new(other)),
        }
    }
}

impl TrainingError {
    /// Stable, snake_case, part of the API.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::CourseNotFound => "course_not_found",
            Self::SectionNotFound => "section_not_found",
            Self::LessonNotFound => "lesson_not_found",
            Self::EnrollmentNotFound => "enrollment_not_found",
            Self::AccountNotFound | Self::AssetNotFound => "not_found",
            Self::InvalidField(_) => "invalid_field",
            Self::WrongState(_) => "wrong_state",
            Self::NotEnrolled => "not_enrolled",
            Self::NotJoinable => "course_not_joinable",
            Self::NotALessonSession => "not_a_lesson_session",
            Self::InvalidProgressToken => "invalid_progress_token",
            Self::InvalidCursor => "invalid_cursor",
            Self::Playback(playback) => playback.error_code(),
            Self::Auth(auth) => auth.error_code(),
            Self::Database(_) | Self::Media(_) | Self::Corrupt(_) => "internal_error",
            Self::Certificate(certificate) => crate::http::HttpError::error_code(certificate),
        }
    }
}

impl HttpError for TrainingError {
    fn delegate(&self) -> Option<&dyn HttpError> {
        match self {
            Self::Database(database) => Some(database),
            Self::Auth(auth) => Some(auth),
            Self::Playback(playback) => Some(playback),
            Self::Certificate(certificate) => Some(certificate),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::CourseNotFound
            | Self::SectionNotFound
            | Self::LessonNotFound
            | Self::EnrollmentNotFound
            | Self::AccountNotFound
            | Self::AssetNotFound => StatusCode::NOT_FOUND,
            Self::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::WrongState(_) | Self::NotALessonSession => StatusCode::CONFLICT,
            Self::NotEnrolled | Self::NotJoinable => StatusCode::FORBIDDEN,
            Self::InvalidProgressToken => StatusCode::UNAUTHORIZED,
            Self::InvalidCursor => StatusCode::BAD_REQUEST,
            Self::Database(_)
            | Self::Auth(_)
            | Self::Playback(_)
            | Self::Media(_)
            | Self::Corrupt(_)
            | Self::Certificate(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_code(&self) -> &'static str {
        Self::error_code(self)
    }
}
