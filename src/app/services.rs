//! The infrastructure every domain's jobs and handlers share, built once for `lectern serve` and
//! `lectern worker` alike, so the two processes cannot be wired differently.

use std::sync::Arc;

use sqlx::PgPool;

use super::StartupError;
use crate::cdn::{CloudFrontSettings, Invalidator};
use crate::engine::EngineSettings;
use crate::metrics::Metrics;
use crate::storage::{LocalStore, ObjectStore, StorageSettings};
use crate::transcode::{Transcoder, TranscoderSettings};

/// Pool, object store, transcoding backend, CDN invalidator and metrics. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub pool: PgPool,
    pub storage: Arc<dyn ObjectStore>,
    pub transcoder: Arc<dyn Transcoder>,
    /// The configured CloudFront distribution, if any: deletions and superseding publishes queue
    /// `cdn.invalidate` jobs through it.
    pub invalidator: Option<Invalidator>,
    pub metrics: Arc<Metrics>,
}

/// What [`Services::build`] needs besides a pool.
pub struct ServiceSettings<'a> {
    pub storage: &'a StorageSettings,
    pub transcoder: &'a TranscoderSettings,
    /// How the local transcoder starts engine children.
    pub engine: EngineSettings,
    /// The distribution to invalidate and the base URL viewers' paths hang under.
    pub cloudfront: Option<(&'a CloudFrontSettings, &'a str)>,
}

impl Services {
    /// Opens object storage, the transcoding backend and the CloudFront client (no request is
    /// made to CloudFront at start-up). Also returns the local store when that is the backend, so
    /// the API can serve its presigned URLs.
    pub async fn build(
        pool: PgPool,
        settings: ServiceSettings<'_>,
    ) -> Result<(Self, Option<Arc<LocalStore>>), StartupError> {
        let storage = crate::storage::connect(settings.storage).await?;
        let transcoder =
            crate::transcode::connect(settings.transcoder, &settings.engine).await.map_err(StartupError::Transcoder)?;
        let invalidator = match settings.cloudfront {
            Some((cloudfront, base_url)) => Some(Invalidator::connect(cloudfront, base_url).await),
            None => None,
        };
        let services =
            Self { pool, storage: storage.store, transcoder, invalidator, metrics: Arc::new(Metrics::new()) };
        Ok((services, storage.local))
    }
}
