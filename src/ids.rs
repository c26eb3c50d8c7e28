//! The typed ids of the API: one newtype over `Uuid` per kind of row a request path names, so an
//! asset id cannot be passed where an account id is meant.
//!
//! Each id that appears in a path implements [`PathId`]; `crate::http::extract` makes it an
//! extractor (a handler takes `asset_id: AssetId`). A malformed id is answered like a missing
//! row — `404` with the same code and message — so ids cannot be probed. This module is plain
//! data: no HTTP, no SQL.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An id that request paths carry.
pub trait PathId: Sized {
    /// The path parameter it is read from, as the routes and `/openapi.json` name it
    /// (`/v1/assets/{asset_id}`).
    const PARAM: &'static str;
    /// Code and message of the `404` for a malformed id: those of a missing (or not visible) row.
    const NOT_FOUND: (&'static str, &'static str);

    fn from_uuid(id: Uuid) -> Self;
}

/// Declares path ids: `pub struct $name(pub Uuid)`, shown as the bare UUID (`Display`, serde), and
/// its [`PathId`] impl: the parameter's name, then the code and message of its `404`.
macro_rules! path_ids {
    ($($(#[$doc:meta])* $name:ident($param:literal, $code:literal, $message:literal);)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl PathId for $name {
            const PARAM: &'static str = $param;
            const NOT_FOUND: (&'static str, &'static str) = ($code, $message);

            fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
        }
    )*};
}

path_ids! {
    /// An asset (`/v1/assets/{asset_id}` and everything under it).
    AssetId("asset_id", "not_found", "no such asset");
    /// An account (`/v1/users/{account_id}/roles`, a grant's `{account_id}`).
    AccountId("account_id", "not_found", "no such account");
    /// A signed-in session of a person (`/v1/auth/sessions/{session_id}`).
    AuthSessionId("session_id", "not_found", "no such active session");
    /// An API key (`/v1/api-keys/{api_key_id}`).
    ApiKeyId("api_key_id", "not_found", "no such API key");
    /// An external identity linked to an account (`/v1/me/identities/{id}`).
    IdentityId("id", "not_found", "no such identity");
    /// A tus upload (`/v1/uploads/tus/{upload_id}`).
    UploadId("upload_id", "upload_not_found", "no such upload");
    /// A playback session (`/v1/playback/{session_id}`, `/play/{session_id}/…`).
    PlaybackSessionId("session_id", "playback_session_not_found", "no such playback session");
    /// A webhook endpoint (`/v1/webhooks/{webhook_id}`).
    WebhookId("webhook_id", "webhook_not_found", "no such webhook endpoint");
    /// A webhook delivery (`/v1/webhooks/deliveries/{delivery_id}/retry`).
    WebhookDeliveryId("delivery_id", "webhook_delivery_not_found", "no such webhook delivery");
    /// A course (`/v1/courses/{course_id}`, `/v1/me/courses/{course_id}`).
    CourseId("course_id", "course_not_found", "no such course");
    /// A section of a course (`/v1/sections/{section_id}`).
    SectionId("section_id", "section_not_found", "no such section");
    /// A lesson (`/v1/lessons/{lesson_id}`).
    LessonId("lesson_id", "lesson_not_found", "no such lesson");
    /// An enrolment (`/v1/enrollments/{enrollment_id}`).
    EnrollmentId("enrollment_id", "enrollment_not_found", "no such enrollment");
    /// A course-completion certificate (`/v1/certificates/{certificate_id}`, public: the id is
    /// 122 random bits printed on the certificate).
    CertificateId("certificate_id", "certificate_not_found", "no such certificate");
    /// A product on sale (`/v1/products/{product_id}`).
    ProductId("product_id", "product_not_found", "no such product");
    /// An order (`/v1/orders/{order_id}`).
    OrderId("order_id", "order_not_found", "no such order");
    // payments (second part): catalogue editing and entitlements by hand
    /// A price of a product (`/v1/prices/{price_id}`).
    PriceId("price_id", "price_not_found", "no such price");
    /// A coupon (`/v1/coupons/{coupon_id}`).
    CouponId("coupon_id", "coupon_not_found", "no such coupon");
    /// An entitlement (`/v1/entitlements/{entitlement_id}`).
    EntitlementId("entitlement_id", "entitlement_not_found", "no such entitlement");
    /// A subscription to a plan (`/v1/subscriptions/{subscription_id}/cancel`).
    SubscriptionId("subscription_id", "subscription_not_found", "no such subscription");
    /// A registered LTI platform (`/v1/lti/platforms/{platform_id}`).
    LtiPlatformId("platform_id", "not_found", "no such LTI platform");
}
