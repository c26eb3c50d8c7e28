//! The payments domain's error type and what each case means at the HTTP edge.

use axum::http::StatusCode;

use crate::auth::AuthError;
use crate::http::HttpError;
use crate::training::TrainingError;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("this payment provider is not configured on this server (see LECTERN_STRIPE_* and LECTERN_YOOKASSA_*)")]
    Disabled,
    #[error("no such product")]
    ProductNotFound,
    #[error("no such price")]
    PriceNotFound,
    #[error("no such order")]
    OrderNotFound,
    #[error("no such course")]
    CourseNotFound,
    #[error("no such account")]
    AccountNotFound,
    #[error("no such coupon")]
    CouponNotFound,
    #[error("no such entitlement")]
    EntitlementNotFound,
    #[error("no such subscription")]
    SubscriptionNotFound,
    #[error("{0}")]
    NotRefundable(String),
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    InvalidCoupon(String),
    #[error("{0}")]
    WrongState(String),
    #[error("a coupon with this code exists already")]
    CouponExists,
    #[error("the webhook signature is missing or not valid: {0}")]
    InvalidSignature(&'static str),
    #[error("the webhook body is not a provider event: {0}")]
    InvalidEvent(String),
    #[error("notifications are not accepted from this address")]
    ForbiddenSource,
    #[error("the payment provider failed: {0}")]
    Provider(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Training(#[from] TrainingError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl PaymentError {
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::Disabled => "payments_disabled",
            Self::ProductNotFound => "product_not_found",
            Self::PriceNotFound => "price_not_found",
            Self::OrderNotFound => "order_not_found",
            Self::CourseNotFound => "course_not_found",
            Self::AccountNotFound => "not_found",
            Self::CouponNotFound => "coupon_not_found",
            Self::EntitlementNotFound => "entitlement_not_found",
            Self::SubscriptionNotFound => "subscription_not_found",
            Self::NotRefundable(_) => "order_not_refundable",
            Self::InvalidField(_) => "invalid_field",
            Self::InvalidCoupon(_) => "invalid_coupon",
            Self::WrongState(_) => "wrong_state",
            Self::CouponExists => "coupon_exists",
            Self::InvalidSignature(_) => "invalid_signature",
            Self::InvalidEvent(_) => "invalid_event",
            Self::Provider(_) => "payment_provider_error",
            Self::ForbiddenSource => "forbidden_source",
            Self::Auth(auth) => auth.error_code(),
            Self::Training(training) => training.error_code(),
            Self::Database(_) => "internal_error",
        }
    }
}

impl HttpError for PaymentError {
    fn delegate(&self) -> Option<&dyn HttpError> {
        match self {
            Self::Database(database) => Some(database),
            Self::Auth(auth) => Some(auth),
            Self::Training(training) => Some(training),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Disabled => StatusCode::NOT_IMPLEMENTED,
            Self::ProductNotFound
            | Self::PriceNotFound
            | Self::OrderNotFound
            | Self::CourseNotFound
            | Self::AccountNotFound
            | Self::CouponNotFound
            | Self::EntitlementNotFound
            | Self::SubscriptionNotFound => StatusCode::NOT_FOUND,
            Self::InvalidField(_) | Self::InvalidCoupon(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::WrongState(_) | Self::CouponExists | Self::NotRefundable(_) => StatusCode::CONFLICT,
            Self::InvalidSignature(_) => StatusCode::BAD_REQUEST,
            Self::InvalidEvent(_) => StatusCode::BAD_REQUEST,
            Self::Provider(_) => StatusCode::BAD_GATEWAY,
            Self::ForbiddenSource => StatusCode::FORBIDDEN,
            Self::Auth(_) | Self::Training(_) | Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_code(&self) -> &'static str {
        Self::error_code(self)
    }

    fn public_message(&self) -> String {
        match self {
            Self::Provider(_) => {
                "the payment provider could not be reached or refused the request; try again".to_owned()
            }
            other if other.is_client_error() => other.to_string(),
            _ => "something went wrong on our side".to_owned(),
        }
    }
}
