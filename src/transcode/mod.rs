//! Transcoding backends: turning a probed source in object storage and its `pipelines` plan
//! into an HLS/DASH package under a storage prefix.
//!
//! Two implementations sit behind [`Transcoder`], chosen by `LECTERN_TRANSCODER`:
//! [`local::LocalTranscoder`] (the built-in engine, ffmpeg in a sandboxed child process, on
//! this machine) and [`mediaconvert::MediaConvertTranscoder`] (AWS Elemental MediaConvert,
//! reading and writing the S3 bucket itself). Both execute the same plan — ladder, segment
//! length, rate control, audio, thumbnails — and report a [`TranscodeOutput`] of the same
//! shape, so the choice changes where the work runs and what it costs, not what viewers get
//! or how renditions are registered. The asset pipeline's `media.transcode` job holds the
//! `Arc<dyn Transcoder>` that [`connect`] builds from the settings.

mod error;
pub mod local;
pub mod mediaconvert;
mod output;
mod settings;

use async_trait::async_trait;
use pipelines::plan::Plan;
use pipelines::source::SourceInfo;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use error::TranscodeError;
pub use output::{Rendition, RenditionKind, TranscodeOutput};
pub use settings::{MediaConvertSettings, TranscoderSettings};

use crate::storage::{KeyPrefix, ObjectKey, ObjectStore};

/// What to transcode and where to put the package.
#[derive(Debug, Clone)]
pub struct TranscodeRequest<'a> {
    pub asset_id: Uuid,
    pub version: u32,
    /// The probe the plan was made from.
    pub source: &'a SourceInfo,
    pub plan: &'a Plan,
    /// The uploaded source in storage.
    pub input: ObjectKey,
    /// Where the package goes, e.g. `assets/{asset_id}/v1/` (ends with `/`).
    pub destination: KeyPrefix,
}

#[async_trait]
pub trait Transcoder: Send + Sync + 'static {
    /// `local` or `mediaconvert`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Makes the package, reporting progress (0–1) as it goes. On `cancellation` the work
    /// stops (a MediaConvert job is cancelled, an engine child killed) and `Cancelled` or a
    /// cancelled-job error is returned.
    async fn transcode(
        &self,
        request: &TranscodeRequest<'_>,
        store: &dyn ObjectStore,
        on_progress: &mut (dyn FnMut(f64) + Send),
        cancellation: &CancellationToken,
    ) -> Result<TranscodeOutput, TranscodeError>;
}

/// The backend `LECTERN_TRANSCODER` chose. The local one runs engine children as `engine`
/// says (the configured `lectern` binary or this one, in the work directory or the temporary
/// directory).
pub async fn connect(
    settings: &TranscoderSettings,
    engine: &crate::engine::EngineSettings,
) -> std::io::Result<std::sync::Arc<dyn Transcoder>> {
    Ok(match settings {
        TranscoderSettings::Local => std::sync::Arc::new(local_engine(engine)?),
        TranscoderSettings::MediaConvert(settings) => {
            std::sync::Arc::new(mediaconvert::MediaConvertTranscoder::connect((**settings).clone()).await)
        }
    })
}

/// The local engine as the settings configure it, whatever `LECTERN_TRANSCODER` says: the fast
/// first package is always a local remux (it needs no encoder, so MediaConvert would only add
/// its queueing and per-minute price).
pub fn local_engine(engine: &crate::engine::EngineSettings) -> std::io::Result<local::LocalTranscoder> {
    let work_dir = engine.work_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("lectern-transcode"));
    Ok(local::LocalTranscoder::new(engine.runner()?, work_dir))
}
