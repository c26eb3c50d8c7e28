//! Delivery over HTTP: the routes that hand out bytes rather than JSON, mounted beside the API
//! (they stream large bodies, so they get neither its body limit nor its request timeout).
//!
//! - [`origin`]: `GET`/`HEAD /cdn/{key…}`, the local signed origin, which verifies exactly
//!   CloudFront's signature scheme (`crate::cdn`) before it touches storage;
//! - [`storage`]: `/storage/…`, the local storage backend's presigned URLs (object downloads and
//!   uploads, multipart parts), verified with the backend's HMAC (`crate::storage::local`).
//!
//! `crate::cdn` and `crate::storage` are infrastructure with no HTTP server of their own; their
//! handlers live here.

pub mod origin;
pub mod storage;
