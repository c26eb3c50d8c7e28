//! Object storage: one trait, two backends (local filesystem, S3).
//!
//! Everything Lectern stores (uploads, renditions, images) goes through [`ObjectStore`]. Keys are
//! validated [`ObjectKey`]s, so no backend ever sees `..`, an absolute path or a control
//! character.

mod content_type;
mod error;
mod key;
pub mod local;
mod range;
pub mod s3;
mod settings;

pub use content_type::content_type_for;
pub use error::StorageError;
pub use key::{KeyPrefix, ObjectKey};
pub use local::LocalStore;
pub use range::parse_content_range;
pub use s3::S3Store;
pub use settings::{LocalSettings, S3Settings, StorageSettings};

/// S3's multipart rules, which the local backend copies: every part but the last at least
/// 5 MiB, none above 5 GiB, at most 10,000 parts in one object.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
pub const MAX_PARTS: u32 = 10_000;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use time::OffsetDateTime;

/// A stream of bytes read from a store.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, StorageError>> + Send>>;

/// A stream of bytes to write to a store. IO errors from the producer abort the write and leave
/// nothing behind under the key.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// What a store knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: ObjectKey,
    pub size: u64,
    /// An opaque, quoted entity tag that changes when the content changes.
    pub etag: String,
    pub last_modified: Option<OffsetDateTime>,
    /// The media type stored with the object (S3) or derived from its extension (local).
    pub content_type: Option<String>,
}

/// A byte range as HTTP `Range` expresses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=start-`
    From(u64),
    /// `bytes=start-end`, both inclusive.
    Inclusive(u64, u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive `(first, last)` byte positions this range selects in an object of `size`
    /// bytes, or `None` when it selects nothing (HTTP 416).
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        if size == 0 {
            return None;
        }
        match self {
            Self::From(start) if start < size => Some((start, size - 1)),
            Self::Inclusive(start, end) if start <= end && start < size => Some((start, end.min(size - 1))),
            Self::Suffix(n) if n > 0 => Some((size.saturating_sub(n), size - 1)),
            _ => None,
        }
    }
}

/// An object read from a store: its metadata and (part of) its content.
pub struct ObjectBody {
    pub meta: ObjectMeta,
    /// The inclusive byte positions returned, when a range was asked for.
    pub range: Option<(u64, u64)>,
    pub stream: ByteStream,
}

impl std::fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBody").field("meta", &self.meta).field("range", &self.range).finish()
    }
}

#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
}

/// The identifier of a multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultipartId(pub String);

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// 1-based, as in S3.
    pub part_number: u32,
    pub etag: String,
    pub size: u64,
}

/// A part the client says it uploaded, for [`ObjectStore::complete_multipart`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// `local` or `s3`, for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Backends that can grow an upload in place (a local file) offer it here, so resumable
    /// uploads skip the part-by-part copy; the others answer `None` and uploads use
    /// [`ObjectStore::create_multipart`] and friends.
    fn append_store(&self) -> Option<&dyn AppendStore> {
        None
    }

    /// Cheap reachability check for `/readyz` (the root is writable; the bucket answers).
    async fn check(&self) -> Result<(), StorageError>;

    /// Writes `body` under `key`, replacing any object there. Memory stays bounded whatever the
    /// size (S3: multipart above a threshold). Readers never see a partial object.
    async fn put(&self, key: &ObjectKey, body: BodyStream, options: PutOptions) -> Result<ObjectMeta, StorageError>;

    /// Stores the local file at `path` under `key`, like [`ObjectStore::put`] with the file as
    /// the body. The file is consumed: a backend may move it into place instead of copying it
    /// (the local one does, when `path` is on the same filesystem as its root), so the caller
    /// must not use it afterwards.
    async fn put_file(
        &self,
        key: &ObjectKey,
        path: &std::path::Path,
        options: PutOptions,
    ) -> Result<ObjectMeta, StorageError> {
        let file = tokio::fs::File::open(path).await.map_err(|error| StorageError::io("put_file", error))?;
        let body: BodyStream = Box::pin(tokio_util::io::ReaderStream::new(file));
        self.put(key, body, options).await
    }

    /// The object's file, when this backend keeps objects as files on this machine (the local
    /// one), so a reader on the same machine can open it instead of copying it first. `None`
    /// for remote backends and for absent objects.
    async fn local_file(&self, key: &ObjectKey) -> Result<Option<std::path::PathBuf>, StorageError> {
        let _ = key;
        Ok(None)
    }

    /// Reads an object, or the part of it that `range` selects.
    /// `NotFound` when absent; `RangeNotSatisfiable` when the range selects nothing.
    async fn get(&self, key: &ObjectKey, range: Option<ByteRange>) -> Result<ObjectBody, StorageError>;

    /// Metadata of an object, or `None` when absent.
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError>;

    /// Every object whose key starts with `prefix`, in key order.
    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StorageError>;

    /// Removes an object; removing an absent object succeeds.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError>;

    /// Removes every object under `prefix`; returns how many were removed.
    async fn delete_prefix(&self, prefix: &KeyPrefix) -> Result<u64, StorageError>;

    /// Copies an object inside the store without passing its bytes through Lectern.
    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<ObjectMeta, StorageError>;

    /// A URL that lets anyone holding it GET the object until it expires.
    async fn presign_get(&self, key: &ObjectKey, expires_in: Duration) -> Result<String, StorageError>;

    /// A URL that lets anyone holding it PUT the object until it expires. The uploader must send
    /// exactly `content_type` as its `Content-Type` header.
    async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<String, StorageError>;

    /// Starts a multipart upload that will become `key` when completed.
    async fn create_multipart(&self, key: &ObjectKey, options: PutOptions) -> Result<MultipartId, StorageError>;

    /// Uploads one part through Lectern (tus on S3 uses this).
    async fn upload_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        body: Bytes,
    ) -> Result<PartInfo, StorageError>;

    /// A URL to PUT one part of at most `max_size` bytes directly, bypassing Lectern. The local
    /// backend signs the size into the URL and accepts each URL once; S3 holds parts to its own
    /// 5 GiB limit, and an S3 part URL may be reused until it expires (a re-uploaded part
    /// replaces the earlier one there).
    async fn presign_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        max_size: u64,
        expires_in: Duration,
    ) -> Result<String, StorageError>;

    /// Parts uploaded so far, in part-number order.
    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartInfo>, StorageError>;

    /// Joins the listed parts, in order, into the object.
    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[CompletedPart],
    ) -> Result<ObjectMeta, StorageError>;

    /// Abandons a multipart upload and frees its parts; aborting an unknown upload succeeds.
    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<(), StorageError>;
}

/// An upload written in place, named by the caller (a UUID), that becomes an object when done.
#[async_trait]
pub trait AppendStore: Send + Sync {
    /// Opens the upload `name` for writing at `offset`, creating it when `offset` is 0. Bytes past
    /// `offset` (an attempt the caller never recorded) are dropped first; a file shorter than
    /// `offset` is an error.
    async fn open_append(&self, name: &str, offset: u64) -> Result<Box<dyn AppendFile>, StorageError>;

    /// Makes the upload the object `key` (atomically: readers never see a partial object).
    async fn publish_append(&self, name: &str, key: &ObjectKey) -> Result<ObjectMeta, StorageError>;

    /// Removes the upload; removing an absent one succeeds.
    async fn discard_append(&self, name: &str) -> Result<(), StorageError>;
}

/// An upload open for appending.
#[async_trait]
pub trait AppendFile: Send {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError>;

    /// Makes everything written so far durable; returns the upload's size.
    async fn sync(&mut self) -> Result<u64, StorageError>;

    /// Stops writing: bytes not yet synced may be dropped, and once this returns nothing more
    /// reaches the file (so the next writer can safely truncate it).
    async fn close(&mut self);
}

/// Convenience for small objects: puts `bytes` in one go.
pub async fn put_bytes(
    store: &dyn ObjectStore,
    key: &ObjectKey,
    bytes: Bytes,
    options: PutOptions,
) -> Result<ObjectMeta, StorageError> {
    let body: BodyStream = Box::pin(futures::stream::once(async move { Ok(bytes) }));
    store.put(key, body, options).await
}

/// Convenience for small objects: reads a whole object into memory.
pub async fn get_bytes(store: &dyn ObjectStore, key: &ObjectKey) -> Result<Bytes, StorageError> {
    use futures::TryStreamExt;
    let body = store.get(key, None).await?;
    let chunks: Vec<Bytes> = body.stream.try_collect().await?;
    Ok(chunks.concat().into())
}

/// A connected backend, and the local store itself when that is the backend (the API serves its
/// presigned URLs; S3's point at S3).
pub struct Storage {
    pub store: Arc<dyn ObjectStore>,
    pub local: Option<Arc<LocalStore>>,
}

/// Opens the configured backend: creates the local root, or builds the S3 client and checks
/// (optionally creates) the bucket.
pub async fn connect(settings: &StorageSettings) -> Result<Storage, StorageError> {
    match settings {
        StorageSettings::Local(local) => {
            let store = Arc::new(LocalStore::open(local).await?);
            Ok(Storage { store: Arc::clone(&store) as Arc<dyn ObjectStore>, local: Some(store) })
        }
        StorageSettings::S3(s3) => Ok(Storage { store: Arc::new(S3Store::connect(s3).await?), local: None }),
    }
}
