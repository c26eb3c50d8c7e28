//! The filesystem backend, Lectern's embedded default.
//!
//! Objects live at `{root}/{key}`. Bookkeeping lives in dot directories that no key can name:
//! `.staging/` holds files being written (published by `rename`, so readers never see a partial
//! object), `.multipart/{upload_id}/` holds multipart uploads in progress and `.appends/` uploads
//! written in place ([`append`]). Presigned URLs
//! ([`presign`]) point at `{public_url}/storage/…`, where the API serves them (the delivery
//! module's routes; storage itself knows no HTTP server).

mod append;
mod listing;
mod multipart;
mod paths;
pub mod presign;

pub use crate::storage::content_type::content_type_for;

use std::fs;
use std::io::{self, ErrorKind, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use secrecy::SecretString;
use time::OffsetDateTime;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio_util::io::ReaderStream;
use url::Url;

use crate::storage::{
    AppendStore, BodyStream, ByteRange, CompletedPart, KeyPrefix, LocalSettings, MultipartId, ObjectBody, ObjectKey,
    ObjectMeta, ObjectStore, PartInfo, PutOptions, StorageError,
};

const STAGING_DIR: &str = ".staging";
const MULTIPART_DIR: &str = ".multipart";
/// Read and write buffer size: large enough for few syscalls, small enough to keep many
/// concurrent streams cheap.
const BUFFER_BYTES: usize = 256 * 1024;

/// Objects stored as files below one root directory.
pub struct LocalStore {
    /// Canonical, so containment checks compare like with like.
    root: PathBuf,
    public_url: Url,
    presign_secret: SecretString,
    /// One writer at a time per in-place upload, held until its writer thread has stopped.
    append_writers: append::WriterLocks,
}

impl LocalStore {
    /// Opens (creating when needed) the root and its bookkeeping directories.
    pub async fn open(settings: &LocalSettings) -> Result<Self, StorageError> {
        let root = settings.root.clone();
        let root = blocking(move || {
            fs::create_dir_all(&root)?;
            let root = fs::canonicalize(&root)?;
            fs::create_dir_all(root.join(STAGING_DIR))?;
            fs::create_dir_all(root.join(MULTIPART_DIR))?;
            fs::create_dir_all(root.join(append::APPEND_DIR))?;
            Ok(root)
        })
        .await
        .map_err(|error| StorageError::io("open", error))?;
        Ok(Self {
            root,
            public_url: settings.public_url.clone(),
            presign_secret: settings.presign_secret.clone(),
            append_writers: append::WriterLocks::default(),
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    async fn object_path(&self, key: &ObjectKey, create_parents: bool) -> io::Result<PathBuf> {
        let (root, key) = (self.root.clone(), key.clone());
        blocking(move || paths::object_path(&root, &key, create_parents)).await
    }

    /// Streams `body` into a new file in `.staging`, optionally hashing it with MD5 on the way.
    /// The returned guard removes the file unless it is published, so an error from the body
    /// (or a cancelled request) leaves nothing behind.
    async fn stage(&self, op: &'static str, mut body: BodyStream, hash: bool) -> Result<Staged, StorageError> {
        let io_error = |error| StorageError::io(op, error);
        let path = self.root.join(STAGING_DIR).join(uuid::Uuid::new_v4().to_string());
        let file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&path).await.map_err(io_error)?;
        let mut staged = Staged { path, size: 0, md5: None, published: false };
        let mut hasher = hash.then(Md5::new);
        let mut writer = BufWriter::with_capacity(BUFFER_BYTES, file);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(io_error)?;
            if let Some(hasher) = hasher.as_mut() {
                hasher.update(&chunk);
            }
            writer.write_all(&chunk).await.map_err(io_error)?;
            staged.size += chunk.len() as u64;
        }
        writer.flush().await.map_err(io_error)?;
        writer.into_inner().sync_all().await.map_err(io_error)?;
        staged.md5 = hasher.map(|hasher| hex::encode(hasher.finalize()));
        Ok(staged)
    }

    /// Renames a staged file onto `key`. A concurrent `delete_prefix` may remove the freshly
    /// created parent directories between the path check and the rename, so that case retries.
    async fn publish(&self, op: &'static str, mut staged: Staged, key: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        let mut attempts = 0;
        let path = loop {
            attempts += 1;
            let path = self.object_path(key, true).await.map_err(|error| StorageError::io(op, error))?;
            match tokio::fs::rename(&staged.path, &path).await {
                Ok(()) => break path,
                Err(error) if error.kind() == ErrorKind::NotFound && attempts < 3 => continue,
                Err(error) => return Err(StorageError::io(op, error)),
            }
        };
        staged.published = true;
        let metadata = tokio::fs::symlink_metadata(&path).await.map_err(|error| StorageError::io(op, error))?;
        Ok(object_meta(key.clone(), &metadata))
    }
}

/// A file in `.staging`, removed on drop unless published.
struct Staged {
    path: PathBuf,
    size: u64,
    /// Lowercase hex MD5 of the content, when asked for.
    md5: Option<String>,
    published: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            // Best effort: a leftover in `.staging` is invisible to readers and harmless.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn append_store(&self) -> Option<&dyn AppendStore> {
        Some(self)
    }

    async fn check(&self) -> Result<(), StorageError> {
        let probe = self.root.join(STAGING_DIR).join(format!("check-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ok").await.map_err(|error| StorageError::io("check", error))?;
        tokio::fs::remove_file(&probe).await.map_err(|error| StorageError::io("check", error))
    }

    async fn put(&self, key: &ObjectKey, body: BodyStream, _options: PutOptions) -> Result<ObjectMeta, StorageError> {
        // The local backend keeps no metadata: the content type always follows the extension.
        let staged = self.stage("put", body, false).await?;
        self.publish("put", staged, key).await
    }

    /// Moves the file into place when it is on the root's filesystem (one rename instead of
    /// a copy: the local transcoder's packages are written next to the data directory in the
    /// usual set-up); otherwise copies it like `put`. Either way the data is on disk before the
    /// object appears, as with `put`.
    async fn put_file(&self, key: &ObjectKey, path: &Path, options: PutOptions) -> Result<ObjectMeta, StorageError> {
        let op = "put_file";
        let file = tokio::fs::File::open(path).await.map_err(|error| StorageError::io(op, error))?;
        file.sync_all().await.map_err(|error| StorageError::io(op, error))?;
        let body: BodyStream = Box::pin(ReaderStream::new(file));
        let mut attempts = 0;
        let target = loop {
            attempts += 1;
            let target = self.object_path(key, true).await.map_err(|error| StorageError::io(op, error))?;
            match tokio::fs::rename(path, &target).await {
                Ok(()) => break target,
                // A concurrent `delete_prefix` removed the fresh parent directories.
                Err(error) if error.kind() == ErrorKind::NotFound && attempts < 3 => {}
                Err(error) if error.kind() == ErrorKind::CrossesDevices => {
                    return self.put(key, body, options).await;
                }
                Err(error) => return Err(StorageError::io(op, error)),
            }
        };
        let metadata = tokio::fs::symlink_metadata(&target).await.map_err(|error| StorageError::io(op, error))?;
        Ok(object_meta(key.clone(), &metadata))
    }

    async fn local_file(&self, key: &ObjectKey) -> Result<Option<PathBuf>, StorageError> {
        let path = match self.object_path(key, false).await {
            Ok(path) => path,
            Err(error) if is_absent(&error) => return Ok(None),
            Err(error) => return Err(StorageError::io("local_file", error)),
        };
        match tokio::fs::metadata(&path).await {
            Ok(metadata) if metadata.is_file() => Ok(Some(path)),
            Ok(_) => Ok(None),
            Err(error) if is_absent(&error) => Ok(None),
            Err(error) => Err(StorageError::io("local_file", error)),
        }
    }

    async fn get(&self, key: &ObjectKey, range: Option<ByteRange>) -> Result<ObjectBody, StorageError> {
        let path = self.object_path(key, false).await.map_err(read_error("get"))?;
        let mut file = tokio::fs::File::open(&path).await.map_err(read_error("get"))?;
        let metadata = file.metadata().await.map_err(read_error("get"))?;
        if !metadata.is_file() {
            return Err(StorageError::NotFound);
        }
        let meta = object_meta(key.clone(), &metadata);
        let (range, length) = match range {
            None => (None, meta.size),
            Some(range) => {
                let (first, last) = range.resolve(meta.size).ok_or(StorageError::RangeNotSatisfiable)?;
                file.seek(SeekFrom::Start(first)).await.map_err(|error| StorageError::io("get", error))?;
                (Some((first, last)), last - first + 1)
            }
        };
        let stream = ReaderStream::with_capacity(tokio::io::AsyncReadExt::take(file, length), BUFFER_BYTES)
            .map_err(|error| StorageError::io("get", error));
        Ok(ObjectBody { meta, range, stream: Box::pin(stream) })
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        let path = match self.object_path(key, false).await {
            Ok(path) => path,
            Err(error) if is_absent(&error) => return Ok(None),
            Err(error) => return Err(StorageError::io("head", error)),
        };
        match tokio::fs::symlink_metadata(&path).await {
            Ok(metadata) if metadata.is_file() => Ok(Some(object_meta(key.clone(), &metadata))),
            Ok(_) => Ok(None),
            Err(error) if is_absent(&error) => Ok(None),
            Err(error) => Err(StorageError::io("head", error)),
        }
    }

    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StorageError> {
        let (root, prefix) = (self.root.clone(), prefix.clone());
        let found = blocking(move || listing::list_files(&root, &prefix))
            .await
            .map_err(|error| StorageError::io("list", error))?;
        Ok(found.into_iter().map(|(key, _path, metadata)| object_meta(key, &metadata)).collect())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        let path = match self.object_path(key, false).await {
            Ok(path) => path,
            Err(error) if is_absent(&error) => return Ok(()),
            Err(error) => return Err(StorageError::io("delete", error)),
        };
        match tokio::fs::symlink_metadata(&path).await {
            // A directory at the key's path holds other objects; there is no object to remove.
            Ok(metadata) if metadata.is_dir() => Ok(()),
            Ok(_) => match tokio::fs::remove_file(&path).await {
                Err(error) if !is_absent(&error) => Err(StorageError::io("delete", error)),
                _ => Ok(()),
            },
            Err(error) if is_absent(&error) => Ok(()),
            Err(error) => Err(StorageError::io("delete", error)),
        }
    }

    async fn delete_prefix(&self, prefix: &KeyPrefix) -> Result<u64, StorageError> {
        let (root, prefix) = (self.root.clone(), prefix.clone());
        blocking(move || listing::remove_files(&root, &prefix))
            .await
            .map_err(|error| StorageError::io("delete_prefix", error))
    }

    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        let source = self.object_path(from, false).await.map_err(read_error("copy"))?;
        let metadata = tokio::fs::symlink_metadata(&source).await.map_err(read_error("copy"))?;
        if !metadata.is_file() {
            return Err(StorageError::NotFound);
        }
        let staged_path = self.root.join(STAGING_DIR).join(uuid::Uuid::new_v4().to_string());
        let staged = Staged { path: staged_path.clone(), size: metadata.len(), md5: None, published: false };
        blocking(move || fs::copy(&source, &staged_path)).await.map_err(read_error("copy"))?;
        self.publish("copy", staged, to).await
    }

    async fn presign_get(&self, key: &ObjectKey, expires_in: Duration) -> Result<String, StorageError> {
        self.presign_object("GET", key, "", expires_in)
    }

    async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        self.presign_object("PUT", key, content_type, expires_in)
    }

    async fn create_multipart(&self, key: &ObjectKey, options: PutOptions) -> Result<MultipartId, StorageError> {
        self.create_upload(key, options).await
    }

    async fn upload_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        body: Bytes,
    ) -> Result<PartInfo, StorageError> {
        let body: BodyStream = Box::pin(futures::stream::once(async move { Ok(body) }));
        self.upload_part_stream(key, upload, part_number, body).await
    }

    async fn presign_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        max_size: u64,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        self.presign_upload_part(key, upload, part_number, max_size, expires_in)
    }

    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartInfo>, StorageError> {
        self.uploaded_parts(key, upload).await
    }

    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[CompletedPart],
    ) -> Result<ObjectMeta, StorageError> {
        self.complete_upload(key, upload, parts).await
    }

    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<(), StorageError> {
        self.abort_upload(key, upload).await
    }
}

/// Metadata in the shape of nginx's ETag (`"{mtime hex}-{size hex}"`), which changes whenever a
/// rename publishes new content (unless within the same second with the same size).
fn object_meta(key: ObjectKey, metadata: &fs::Metadata) -> ObjectMeta {
    let modified = metadata.modified().ok();
    let modified_secs = modified.and_then(|time| time.duration_since(UNIX_EPOCH).ok()).map_or(0, |age| age.as_secs());
    let content_type = content_type_for(&key).to_owned();
    ObjectMeta {
        key,
        size: metadata.len(),
        etag: format!("\"{modified_secs:x}-{:x}\"", metadata.len()),
        last_modified: modified.map(OffsetDateTime::from),
        content_type: Some(content_type),
    }
}

/// Missing files, and "directories" that are really objects (`a` when reading `a/b`), both
/// mean the object does not exist.
fn is_absent(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn read_error(op: &'static str) -> impl Fn(io::Error) -> StorageError {
    move |error| {
        if is_absent(&error) { StorageError::NotFound } else { StorageError::io(op, error) }
    }
}

/// Runs blocking filesystem work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(io::Error::other)?
}
