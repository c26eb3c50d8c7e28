//! The local backend: the built-in engine on this machine. The source is copied from storage
//! into a per-job scratch directory, the engine child (`lectern __engine`, sandboxed) writes
//! the package next to it, and the package is uploaded under the destination prefix. The
//! scratch directory is removed when the transcode ends, however it ends.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures::StreamExt;
use pipelines::naming;
use pipelines::package::{Package, PackagedRendition, RenditionKind as PackagedKind};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::{Rendition, RenditionKind, TranscodeError, TranscodeOutput, TranscodeRequest, Transcoder};
use crate::engine::scratch::{ScratchDir, Sweeper};
use crate::engine::{EngineRunner, Progress};
use crate::storage::{KeyPrefix, ObjectKey, ObjectMeta, ObjectStore, PutOptions, StorageError, content_type_for};

/// Runs plans with the local engine.
#[derive(Debug, Clone)]
pub struct LocalTranscoder {
    runner: EngineRunner,
    /// Parent of the per-job scratch directories (the source copy and the package).
    work_dir: PathBuf,
    /// Removes the scratch directories of jobs whose process died (see `engine::scratch`).
    sweeper: Sweeper,
}

/// The names of this transcoder's scratch directories.
const SCRATCH_PREFIXES: &[&str] = &["transcode-", "remux-"];

impl LocalTranscoder {
    /// Also sweeps what killed workers left in `work_dir` (the worker is starting).
    pub fn new(runner: EngineRunner, work_dir: PathBuf) -> Self {
        let sweeper = Sweeper::new(work_dir.clone(), SCRATCH_PREFIXES);
        sweeper.sweep_if_due();
        Self { runner, work_dir, sweeper }
    }
}

#[async_trait]
impl Transcoder for LocalTranscoder {
    fn backend(&self) -> &'static str {
        "local"
    }

    async fn transcode(
        &self,
        request: &TranscodeRequest<'_>,
        store: &dyn ObjectStore,
        on_progress: &mut (dyn FnMut(f64) + Send),
        cancellation: &CancellationToken,
    ) -> Result<TranscodeOutput, TranscodeError> {
        let scratch = self.scratch("transcode-", request, store, cancellation).await?;
        let mut relay = |progress: Progress| on_progress(progress.fraction);
        // Dropping the engine future kills the child, so cancelling here stops the encode.
        let package = tokio::select! {
            biased;
            () = cancellation.cancelled() => return Err(TranscodeError::Cancelled),
            result = self.runner.transcode(&scratch.input, request.plan, &scratch.out_dir, request.source.duration_seconds, &mut relay) => result?,
        };
        scratch.upload(store, &package, &request.destination).await
    }
}

impl LocalTranscoder {
    /// The fast first package: copies the source's H.264/AAC into CMAF under the request's
    /// destination without encoding (see `pipelines::preview`). Same scratch directory, engine
    /// child and upload as a transcode; `request.plan` is the full plan the preview stands in
    /// for and `remux` what to copy.
    pub async fn remux(
        &self,
        request: &TranscodeRequest<'_>,
        remux: &pipelines::preview::RemuxPlan,
        store: &dyn ObjectStore,
        cancellation: &CancellationToken,
    ) -> Result<TranscodeOutput, TranscodeError> {
        let scratch = self.scratch("remux-", request, store, cancellation).await?;
        // A copy takes seconds: its progress is not worth reporting.
        let mut ignore_progress = |_: Progress| {};
        let package = tokio::select! {
            biased;
            () = cancellation.cancelled() => return Err(TranscodeError::Cancelled),
            result = self.runner.remux(&scratch.input, remux, &scratch.out_dir, request.source.duration_seconds, &mut ignore_progress) => result?,
        };
        scratch.upload(store, &package, &request.destination).await
    }
}

/// One job's scratch directory (removed on drop) with the engine's input and the directory it
/// writes the package into.
struct Scratch {
    _dir: ScratchDir,
    input: PathBuf,
    out_dir: PathBuf,
}

impl LocalTranscoder {
    /// Creates the job's scratch directory (named `prefix`…) with an empty `package` directory,
    /// and makes the request's source available as a local file (see [`source_file`]).
    async fn scratch(
        &self,
        prefix: &str,
        request: &TranscodeRequest<'_>,
        store: &dyn ObjectStore,
        cancellation: &CancellationToken,
    ) -> Result<Scratch, TranscodeError> {
        let sweeper = self.sweeper.clone();
        // Periodically, what killed workers left behind (a no-op until it is due).
        let _ = tokio::task::spawn_blocking(move || sweeper.sweep_if_due()).await;
        let (work_dir, prefix_owned) = (self.work_dir.clone(), prefix.to_owned());
        let dir = tokio::task::spawn_blocking(move || ScratchDir::create(&work_dir, &prefix_owned))
            .await
            .map_err(|e| TranscodeError::io("create a scratch directory", std::io::Error::other(e)))?
            .map_err(|e| TranscodeError::io("create a scratch directory", e))?;
        let input = dir.path().join("source");
        let out_dir = dir.path().join("package");
        tokio::fs::create_dir(&out_dir).await.map_err(|e| TranscodeError::io("create the package directory", e))?;
        let input = tokio::select! {
            biased;
            () = cancellation.cancelled() => return Err(TranscodeError::Cancelled),
            result = source_file(store, &request.input, input) => result?,
        };
        Ok(Scratch { _dir: dir, input, out_dir })
    }
}

impl Scratch {
    /// Uploads the engine's package under `destination` and describes what was stored.
    async fn upload(
        &self,
        store: &dyn ObjectStore,
        package: &Package,
        destination: &KeyPrefix,
    ) -> Result<TranscodeOutput, TranscodeError> {
        let uploaded = upload_dir(store, &self.out_dir, destination).await?;
        output_of(package, destination, &uploaded)
    }
}

/// The source as a local file for the engine: the store's own file when it keeps objects on
/// this machine (the engine child only reads it, and a deletion meanwhile leaves the open file
/// readable), otherwise a copy at `scratch`.
async fn source_file(store: &dyn ObjectStore, key: &ObjectKey, scratch: PathBuf) -> Result<PathBuf, TranscodeError> {
    if let Some(path) = store.local_file(key).await? {
        return Ok(path);
    }
    download(store, key, &scratch).await?;
    Ok(scratch)
}

async fn download(store: &dyn ObjectStore, key: &ObjectKey, path: &Path) -> Result<(), TranscodeError> {
    let mut body = store.get(key, None).await?;
    let mut file = tokio::fs::File::create(path).await.map_err(|e| TranscodeError::io("create the source copy", e))?;
    while let Some(chunk) = body.stream.next().await {
        file.write_all(&chunk?).await.map_err(|e| TranscodeError::io("write the source copy", e))?;
    }
    file.flush().await.map_err(|e| TranscodeError::io("write the source copy", e))
}

/// Package files uploaded at once: enough to hide per-request latency on S3, few enough that a
/// worker does not hold hundreds of open files and connections.
const UPLOAD_CONCURRENCY: usize = 8;

/// Uploads every file below `dir` to `prefix` + its relative path, streaming each file with the
/// content type players expect; returns what was stored.
async fn upload_dir(
    store: &dyn ObjectStore,
    dir: &Path,
    prefix: &KeyPrefix,
) -> Result<Vec<ObjectMeta>, TranscodeError> {
    let read_error = |e| TranscodeError::io("read the package directory", e);
    let mut pending = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(current) = pending.pop() {
        let mut entries = tokio::fs::read_dir(&current).await.map_err(read_error)?;
        while let Some(entry) = entries.next_entry().await.map_err(read_error)? {
            let path = entry.path();
            if entry.file_type().await.map_err(read_error)?.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(dir)
                .ok()
                .and_then(Path::to_str)
                .ok_or_else(|| TranscodeError::io("name a package file", std::io::Error::other("not UTF-8")))?
                .replace(std::path::MAIN_SEPARATOR, "/");
            let key = ObjectKey::parse(format!("{}{relative}", prefix.as_str()))?;
            files.push((path, key));
        }
    }
    let mut uploaded: Vec<ObjectMeta> = futures::stream::iter(files)
        .map(|(path, key)| async move {
            let options = PutOptions { content_type: Some(content_type_for(&key).to_owned()), ..PutOptions::default() };
            // The scratch directory is thrown away afterwards, so the store may take the file.
            Ok::<_, TranscodeError>(store.put_file(&key, &path, options).await?)
        })
        .buffer_unordered(UPLOAD_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    uploaded.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
    Ok(uploaded)
}

fn output_of(
    package: &Package,
    prefix: &KeyPrefix,
    uploaded: &[ObjectMeta],
) -> Result<TranscodeOutput, TranscodeError> {
    let key = |relative: &str| -> Result<ObjectKey, StorageError> {
        ObjectKey::parse(format!("{}{relative}", prefix.as_str()))
    };
    let dash = key(naming::DASH_MANIFEST)?;
    let thumbnail_start = format!("{}{}/thumb_", prefix.as_str(), naming::IMAGES_DIR);
    let rendition = |packaged: &PackagedRendition| -> Result<Rendition, StorageError> {
        let kind = match &packaged.kind {
            PackagedKind::Video { width, height, frame_rate } => RenditionKind::Video {
                bandwidth: packaged.peak_bitrate,
                average_bandwidth: Some(packaged.average_bitrate),
                codecs: Some(packaged.codecs.clone()),
                width: Some(u64::from(*width)),
                height: Some(u64::from(*height)),
                frame_rate: Some(frame_rate.as_f64()),
            },
            PackagedKind::Audio { language, label, default, .. } => RenditionKind::Audio {
                language: language.clone(),
                label: label.clone(),
                default: *default,
                bandwidth: Some(packaged.peak_bitrate),
                codecs: Some(packaged.codecs.clone()),
            },
        };
        Ok(Rendition {
            name: packaged.name.clone(),
            playlist: key(&naming::media_playlist_path(&packaged.name))?,
            kind,
        })
    };
    Ok(TranscodeOutput {
        master_playlist: key(naming::MASTER_PLAYLIST)?,
        dash_manifest: uploaded.iter().any(|object| object.key == dash).then_some(dash),
        renditions: package.video.iter().chain(&package.audio).map(rendition).collect::<Result<_, _>>()?,
        thumbnails: uploaded
            .iter()
            .filter(|object| object.key.as_str().starts_with(&thumbnail_start))
            .map(|object| object.key.clone())
            .collect(),
        total_bytes: uploaded.iter().map(|object| object.size).sum(),
        duration_seconds: Some(package.duration_seconds),
    })
}
