//! URL import: `POST /v1/assets` with `{"input": {"url": "…"}}` makes Lectern fetch the file
//! itself instead of waiting for an upload.
//!
//! At creation the URL is checked as far as that is possible without the network
//! ([`check_input_url`]: http or https, a host, and no refused address literal → otherwise 422
//! `url_not_allowed`), and a `media.import` job is enqueued in the same transaction as the asset
//! ([`enqueue_import`]). The job downloads through the SSRF-guarded fetcher
//! ([`crate::net::GuardedFetcher`]: names resolved and vetted by us, connections pinned to vetted
//! addresses, redirects re-vetted, byte cap and deadlines) straight into the asset's source key,
//! hashing with SHA-256 as the bytes pass, then calls `upload_completed`, which hands over to
//! the probe. A URL that can never work (refused address, too many redirects, 4xx, over the
//! size limit) errors the asset at once with `url_not_allowed`, `download_failed` or
//! `file_too_large`; network trouble, timeouts and 5xx answers are retried with the queue's
//! backoff, and the final failed attempt errors the asset with `download_failed`.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::IngestSettings;
use super::MediaError;
use super::assets::{self, AssetId, AssetStatus, SourceObject};
use crate::jobs::{EnqueueOptions, JobContext, JobError, JobHandler, JobId};
use crate::net::{AddressPolicy, FetchError, GuardedFetcher, UrlRefusal};
use crate::storage::{BodyStream, PutOptions, StorageError};

#[derive(Debug, Deserialize)]
struct ImportPayload {
    pub asset_id: Uuid,
}

/// What can be decided about an import URL before the asset exists: http or https, a host, and
/// no refused address literal (`url_not_allowed`). Returns the normalised URL to store.
pub fn check_input_url(policy: &AddressPolicy, raw: &str) -> Result<String, MediaError> {
    match policy.check_url(raw) {
        Ok(url) => Ok(url.into()),
        Err(UrlRefusal::Invalid(reason)) => Err(MediaError::InvalidInput(format!("input.url is not a URL ({reason})"))),
        Err(refusal) => Err(MediaError::UrlNotAllowed(refusal.to_string())),
    }
}

/// Enqueues the download of a freshly created asset's `input_url`; call it in the transaction
/// that creates the asset, so an asset never waits for an import nobody will run.
pub async fn enqueue_import(conn: &mut sqlx::PgConnection, asset_id: Uuid) -> Result<JobId, sqlx::Error> {
    let payload = serde_json::json!({ "asset_id": asset_id });
    crate::jobs::queue::enqueue_in(
        conn,
        ImportJob::KIND,
        &payload,
        EnqueueOptions { unique_key: Some(format!("{}:{asset_id}", ImportJob::KIND)), ..EnqueueOptions::default() },
    )
    .await
}

pub struct ImportJob {
    settings: Arc<IngestSettings>,
}

impl ImportJob {
    pub const KIND: &'static str = "media.import";

    pub fn new(settings: Arc<IngestSettings>) -> Self {
        Self { settings }
    }
}

#[async_trait]
impl JobHandler for ImportJob {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    /// A download of a whole file: never on the workers reserved for quick kinds.
    fn lane(&self) -> crate::jobs::Lane {
        crate::jobs::Lane::Long
    }

    async fn run(&self, context: JobContext, payload: serde_json::Value) -> Result<(), JobError> {
        let payload: ImportPayload =
            serde_json::from_value(payload).map_err(|e| JobError::abort("invalid_payload", e.to_string()))?;
        let asset_id = payload.asset_id;
        match self.import(&context, asset_id).await {
            Ok(()) => Ok(()),
            Err(ImportFailure::Permanent { code, message }) => {
                tracing::info!(%asset_id, code, %message, "URL import refused");
                fail_asset(&context, asset_id, code, &message).await
            }
            Err(ImportFailure::Transient { code, message }) => {
                if context.is_final_attempt() {
                    fail_asset(&context, asset_id, code, &message).await?;
                }
                Err(JobError::Retry(message))
            }
        }
    }

    /// The worker died on the final attempt: the asset is errored with `download_failed`
    /// unless the bytes arrived meanwhile.
    async fn on_exhausted(&self, conn: &mut sqlx::PgConnection, payload: &serde_json::Value) -> Result<(), JobError> {
        let Ok(payload) = serde_json::from_value::<ImportPayload>(payload.clone()) else { return Ok(()) };
        let message = "the import was interrupted too often; try again";
        assets::fail_from(conn, AssetId(payload.asset_id), &[AssetStatus::WaitingUpload], "download_failed", message)
            .await
            .map_err(|error| JobError::retry(crate::error_chain(&error)))?;
        Ok(())
    }
}

enum ImportFailure {
    /// The URL will never work; the asset is errored with this code.
    Permanent { code: &'static str, message: String },
    /// May work later; on the last attempt the asset is errored with this code.
    Transient { code: &'static str, message: String },
}

impl From<FetchError> for ImportFailure {
    fn from(error: FetchError) -> Self {
        let code = error.error_code();
        let message = crate::error_chain(&error);
        if error.is_client_error() { Self::Permanent { code, message } } else { Self::Transient { code, message } }
    }
}

impl From<sqlx::Error> for ImportFailure {
    fn from(error: sqlx::Error) -> Self {
        Self::Transient { code: "download_failed", message: format!("database: {}", crate::error_chain(&error)) }
    }
}

impl From<MediaError> for ImportFailure {
    fn from(error: MediaError) -> Self {
        Self::Transient { code: "download_failed", message: crate::error_chain(&error) }
    }
}

impl From<StorageError> for ImportFailure {
    fn from(error: StorageError) -> Self {
        Self::Transient { code: "download_failed", message: format!("storage: {}", crate::error_chain(&error)) }
    }
}

/// What passed through the stream: its hash, its length, and why it stopped early.
#[derive(Default)]
struct Tally {
    hasher: Sha256,
    size: u64,
    failure: Option<FetchError>,
}

impl ImportJob {
    #[tracing::instrument(name = "import", skip_all, fields(asset_id = %asset_id))]
    async fn import(&self, context: &JobContext, asset_id: Uuid) -> Result<(), ImportFailure> {
        let id = AssetId(asset_id);
        let asset = assets::get(&context.pool, id).await?;
        let Some(raw_url) = asset.filter(|a| a.status() == AssetStatus::WaitingUpload).and_then(|a| a.input_url) else {
            tracing::info!("asset no longer waits for an import; skipping");
            return Ok(());
        };
        let policy = &self.settings.fetch.policy;
        let url = policy.check_url(&raw_url).map_err(FetchError::from)?;
        let fetcher = GuardedFetcher::new(self.settings.fetch.clone());
        let fetched = fetcher.get(&url).await?;
        tracing::info!(final_url = %fetched.final_url, length = ?fetched.content_length, "downloading");

        let tally = Arc::new(Mutex::new(Tally::default()));
        let counting = Arc::clone(&tally);
        let body: BodyStream = Box::pin(fetched.stream.map(move |chunk| {
            let mut tally = counting.lock().unwrap_or_else(PoisonError::into_inner);
            match chunk {
                Ok(bytes) => {
                    tally.hasher.update(&bytes);
                    tally.size += bytes.len() as u64;
                    Ok(bytes)
                }
                Err(error) => {
                    let message = error.to_string();
                    tally.failure = Some(error);
                    Err(std::io::Error::other(message))
                }
            }
        }));
        let key = super::source_key(id);
        // The remote server's media type is kept only when it looks like one (it becomes a
        // storage header).
        let content_type = fetched
            .content_type
            .clone()
            .filter(|t| t.len() <= 255 && t.contains('/') && t.chars().all(|c| c.is_ascii_graphic() || c == ' '));
        let options = PutOptions { content_type, cache_control: None };
        let stored = context.storage.put(&key, body, options).await;
        let mut tally = std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(failure) = tally.failure.take() {
            // A failed put leaves nothing under the key; delete anyway in case a backend kept
            // a partial object, so an over-size file is not kept.
            if let Err(error) = context.storage.delete(&key).await {
                tracing::warn!(%error, "cannot remove a partial import");
            }
            return Err(failure.into());
        }
        let stored = stored?;
        let sha256: [u8; 32] = tally.hasher.finalize().into();
        debug_assert_eq!(stored.size, tally.size);
        let mut connection = context.pool.acquire().await?;
        assets::upload_completed(&mut connection, id, &SourceObject { key, size: tally.size, sha256 }).await?;
        tracing::info!(size = tally.size, "imported");
        Ok(())
    }
}

async fn fail_asset(context: &JobContext, asset_id: Uuid, code: &str, message: &str) -> Result<(), JobError> {
    let mut connection = context.pool.acquire().await.map_err(|error| JobError::retry(crate::error_chain(&error)))?;
    assets::fail(&mut connection, AssetId(asset_id), code, message)
        .await
        .map_err(|error| JobError::retry(crate::error_chain(&error)))?;
    Ok(())
}
