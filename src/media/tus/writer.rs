//! Streams a PATCH body into storage with bounded memory, under the upload's lease.
//!
//! Bytes are cut into parts of exactly `part_size` and sent with the store's multipart
//! `upload_part` (S3, and any store without [`AppendStore`]). What is left after the last full
//! part — the tail — is written to `uploads/{upload_id}/tail`, so the next PATCH, on any replica,
//! reads it back and prepends it to its bytes. When the last byte arrives the tail becomes the
//! final part and the multipart upload is completed into the asset's source key.
//!
//! Durability rules, which make a crash at any point safe:
//! - progress (offset, parts, tail size, hash state) is recorded only after the bytes it counts
//!   are stored, in one statement guarded by the lease;
//! - the tail object's first `tail_size` bytes are always the recorded tail: a new tail either
//!   extends the old one (same prefix) or follows a recorded part (then `tail_size` is 0);
//! - the SHA-256 state always covers exactly bytes `0..offset`: bytes are hashed when they are
//!   committed (into a part or the tail), not when they arrive.
//!
//! With `Upload-Checksum`, nothing is recorded before the whole request body verified; parts
//! already sent to the store are simply overwritten by the next attempt (same part numbers).
//!
//! Backends that can grow a file in place (the local filesystem, [`AppendStore`]) take a faster
//! path with the same rules: bytes are appended to one file, made durable (`fdatasync`) before
//! each record, and the file is published as the source object at the end — every byte is
//! written once instead of twice. Bytes past the recorded offset are truncated by the next
//! request, which is how an unverified or unrecorded attempt is dropped.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::app::AppState;
use crate::media::assets::{self, AssetId, SourceObject};
use crate::media::uploads::{self, Progress, StoredPart, UploadRow};
use crate::media::{MediaError, source_key};
use crate::storage::{AppendStore, ByteRange, CompletedPart, MultipartId, ObjectKey, PutOptions, put_bytes};

/// On the in-place path, how many bytes may be written between two durable records. A client
/// that disconnects still gets everything it sent recorded, and every request ends with a
/// record; this only bounds what a crash in the middle of one huge request loses (the client
/// sends it again from the recorded offset). Each record costs an `fdatasync`, which stalls the
/// stream, hence not smaller.
const IN_PLACE_RECORD_INTERVAL: u64 = 1024 * 1024 * 1024;

/// The key of an upload's tail object.
pub fn tail_key(upload_id: Uuid) -> ObjectKey {
    ObjectKey::parse(format!("uploads/{upload_id}/tail")).expect("a UUID makes a valid key")
}

/// The write lease of one upload, held for the duration of a PATCH. Dropping it without
/// [`Lease::release`] (a cancelled request) still gives it back, from a spawned task.
pub struct Lease {
    pool: PgPool,
    upload_id: Uuid,
    token: Uuid,
    duration: Duration,
    renewed_at: Instant,
    released: bool,
}

impl Lease {
    /// Takes the lease: `upload_locked` while another request holds it.
    pub async fn acquire(state: &AppState, upload_id: Uuid) -> Result<(Self, UploadRow), MediaError> {
        let token = Uuid::new_v4();
        let duration = state.uploads.lease;
        let row =
            uploads::acquire_lease(&state.pool, upload_id, token, duration).await?.ok_or(MediaError::UploadLocked)?;
        let lease =
            Self { pool: state.pool.clone(), upload_id, token, duration, renewed_at: Instant::now(), released: false };
        Ok((lease, row))
    }

    pub fn token(&self) -> Uuid {
        self.token
    }

    /// Renews the lease when a third of it has passed; `upload_locked` when it was lost.
    async fn renew_if_due(&mut self) -> Result<(), MediaError> {
        if self.renewed_at.elapsed() < self.duration / 3 {
            return Ok(());
        }
        if !uploads::extend_lease(&self.pool, self.upload_id, self.token, self.duration).await? {
            return Err(MediaError::UploadLocked);
        }
        self.renewed_at = Instant::now();
        Ok(())
    }

    /// Gives the lease back now.
    pub async fn release(mut self) {
        self.released = true;
        if let Err(error) = uploads::release_lease(&self.pool, self.upload_id, self.token).await {
            tracing::warn!(error = %crate::error_chain(&error), "cannot release an upload lease; it expires by itself");
        }
    }

    /// The lease went with the statement that completed or deleted the upload.
    pub fn forget(&mut self) {
        self.released = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (pool, upload_id, token) = (self.pool.clone(), self.upload_id, self.token);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = uploads::release_lease(&pool, upload_id, token).await {
                    tracing::warn!(error = %crate::error_chain(&error), "cannot release an upload lease; it expires by itself");
                }
            });
        }
    }
}

/// The `Upload-Checksum` of a request: an algorithm and the digest the client computed.
pub enum ExpectedChecksum {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

enum ChecksumState {
    Sha1(sha1::Sha1, Vec<u8>),
    Sha256(Sha256, Vec<u8>),
}

impl ChecksumState {
    fn new(expected: ExpectedChecksum) -> Self {
        match expected {
            ExpectedChecksum::Sha1(digest) => Self::Sha1(sha1::Sha1::new(), digest),
            ExpectedChecksum::Sha256(digest) => Self::Sha256(Sha256::new(), digest),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha1(hasher, _) => hasher.update(bytes),
            Self::Sha256(hasher, _) => hasher.update(bytes),
        }
    }

    fn matches(self) -> bool {
        match self {
            Self::Sha1(hasher, expected) => hasher.finalize().as_slice() == expected.as_slice(),
            Self::Sha256(hasher, expected) => hasher.finalize().as_slice() == expected.as_slice(),
        }
    }
}

fn save_hash(hasher: &Sha256) -> Vec<u8> {
    hasher.serialize().to_vec()
}

fn load_hash(bytes: &[u8]) -> Result<Sha256, MediaError> {
    let state = SerializedState::<Sha256>::try_from(bytes)
        .map_err(|_| MediaError::Corrupt("hash state has the wrong size".to_owned()))?;
    Sha256::deserialize(&state).map_err(|_| MediaError::Corrupt("hash state does not deserialise".to_owned()))
}

/// What a PATCH achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored up to this offset; more is expected.
    Partial(u64),
    /// The upload is complete (this is its length) and the asset is `uploaded`.
    Completed(u64),
}

impl Written {
    pub fn offset(self) -> u64 {
        match self {
            Self::Partial(offset) | Self::Completed(offset) => offset,
        }
    }
}

/// One PATCH in progress: the upload's durable state as recorded, plus what this request added.
struct Patch<'a> {
    state: &'a AppState,
    upload: &'a UploadRow,
    token: Uuid,
    key: ObjectKey,
    multipart: MultipartId,
    length: Option<u64>,
    parts: Vec<StoredPart>,
    /// Sum of `parts` sizes.
    parts_bytes: u64,
    /// Bytes after the last part: the recorded tail, then what arrived.
    buffer: BytesMut,
    /// How many leading bytes of `buffer` the hash has seen.
    hashed: usize,
    hasher: Sha256,
    /// Whether `buffer` differs from the tail object's recorded prefix.
    tail_changed: bool,
}

impl Patch<'_> {
    fn position(&self) -> u64 {
        self.parts_bytes + self.buffer.len() as u64
    }

    /// Hashes the unhashed bytes of the buffer's first `upto` bytes.
    fn hash_buffer(&mut self, upto: usize) {
        if upto > self.hashed {
            self.hasher.update(&self.buffer[self.hashed..upto]);
            self.hashed = upto;
        }
    }

    /// Sends the first `part_size` bytes of the buffer as the next part.
    async fn flush_part(&mut self, size: usize) -> Result<(), MediaError> {
        self.hash_buffer(size);
        let part: Bytes = self.buffer.split_to(size).freeze();
        self.hashed = 0;
        let part_number =
            u32::try_from(self.parts.len() + 1).map_err(|_| MediaError::Corrupt("too many parts".to_owned()))?;
        let info = self.state.storage.upload_part(&self.key, &self.multipart, part_number, part).await?;
        self.parts_bytes += info.size;
        self.parts.push(StoredPart { part_number, etag: info.etag, size: info.size });
        self.tail_changed = !self.buffer.is_empty();
        Ok(())
    }

    /// Records the parts stored so far (not the buffer), right after a part was sent: then the
    /// hash has seen exactly the parts' bytes. No tail write, so a long PATCH costs one row
    /// update per part and nothing more.
    async fn commit_parts(&mut self) -> Result<(), MediaError> {
        debug_assert_eq!(self.hashed, 0, "the buffer after a part is unhashed");
        self.record(0).await?;
        Ok(())
    }

    /// Records everything received: the tail object first (when changed), then the row.
    async fn commit(&mut self) -> Result<u64, MediaError> {
        let tail_len = self.buffer.len();
        self.hash_buffer(tail_len);
        if tail_len > 0 && self.tail_changed {
            let tail = Bytes::copy_from_slice(&self.buffer);
            put_bytes(&*self.state.storage, &tail_key(self.upload.upload_id), tail, PutOptions::default()).await?;
            self.tail_changed = false;
        }
        self.record(tail_len).await
    }

    async fn record(&mut self, tail_len: usize) -> Result<u64, MediaError> {
        let hash_state = save_hash(&self.hasher);
        let offset = self.parts_bytes + tail_len as u64;
        let progress = Progress {
            offset,
            length: self.length,
            parts: &self.parts,
            tail_size: tail_len as u64,
            hash_state: &hash_state,
        };
        let mut connection = self.state.pool.acquire().await?;
        if !uploads::record_progress(&mut connection, self.upload.upload_id, self.token, &progress).await? {
            return Err(MediaError::UploadLocked);
        }
        Ok(offset)
    }

    /// Turns the tail into the last part, completes the storage upload into the source key and
    /// moves the asset to `uploaded` in the same transaction that closes the upload.
    async fn complete(&mut self, lease: &mut Lease) -> Result<u64, MediaError> {
        let tail_len = self.buffer.len();
        if tail_len > 0 {
            self.flush_part(tail_len).await?;
        }
        let length = self.parts_bytes;
        if self.parts.is_empty() {
            // S3 cannot complete a multipart upload without parts; an empty file is one PUT.
            self.state.storage.abort_multipart(&self.key, &self.multipart).await?;
            put_bytes(&*self.state.storage, &self.key, Bytes::new(), PutOptions::default()).await?;
        } else {
            let completed: Vec<CompletedPart> = self
                .parts
                .iter()
                .map(|part| CompletedPart { part_number: part.part_number, etag: part.etag.clone() })
                .collect();
            let meta = self.state.storage.complete_multipart(&self.key, &self.multipart, &completed).await?;
            if meta.size != length {
                return Err(MediaError::Corrupt(format!(
                    "completed object has {} bytes, expected {length}",
                    meta.size
                )));
            }
        }
        let hash_state = save_hash(&self.hasher);
        let sha256: [u8; 32] = self.hasher.clone().finalize().into();
        let progress = Progress {
            offset: length,
            length: Some(length),
            parts: &self.parts,
            tail_size: 0,
            hash_state: &hash_state,
        };
        let source = SourceObject { key: self.key.clone(), size: length, sha256 };
        record_completion(self.state, self.upload, self.token, &progress, &source).await?;
        lease.forget();
        if let Err(error) = self.state.storage.delete(&tail_key(self.upload.upload_id)).await {
            tracing::warn!(error = %crate::error_chain(&error), "cannot delete a completed upload's tail");
        }
        tracing::info!(upload_id = %self.upload.upload_id, asset_id = %self.upload.asset_id, size = length,
            sha256 = %hex::encode(sha256), event = "upload_completed", "upload completed");
        Ok(length)
    }
}

/// Closes the upload and hands its source to the asset (`uploaded`, the event, the probe job) in
/// one transaction, guarded by the lease: a writer that lost its lease records nothing.
async fn record_completion(
    state: &AppState,
    upload: &UploadRow,
    token: Uuid,
    progress: &Progress<'_>,
    source: &SourceObject,
) -> Result<(), MediaError> {
    let mut tx = state.pool.begin().await?;
    if !uploads::mark_completed(&mut tx, upload.upload_id, token, progress).await? {
        return Err(MediaError::UploadLocked);
    }
    assets::upload_completed(&mut tx, AssetId(upload.asset_id), source).await?;
    tx.commit().await?;
    Ok(())
}

/// Finishes an upload whose last request published the source object but never recorded it: the
/// process died (or the database was unreachable) between storage and the closing transaction.
/// Without this, the retry of that request would find nothing left to append to, and the bytes
/// already stored would be lost to the instructor. The object must have exactly the upload's
/// length; its SHA-256 is computed again by reading it once, because the recorded hash state
/// stops before the unrecorded bytes. Returns the length when the upload was completed here.
pub async fn recover_published(state: &AppState, upload: &UploadRow) -> Result<Option<u64>, MediaError> {
    let Some(length) = upload.length() else { return Ok(None) };
    if upload.completed_at.is_some() || upload.offset() == length {
        return Ok(None);
    }
    let key = source_key(AssetId(upload.asset_id));
    match state.storage.head(&key).await? {
        Some(meta) if meta.size == length => {}
        _ => return Ok(None),
    }
    let (mut lease, upload) = Lease::acquire(state, upload.upload_id).await?;
    if upload.completed_at.is_some() {
        lease.release().await;
        return Ok(None);
    }
    let result = async {
        let mut body = state.storage.get(&key, None).await?;
        let mut hasher = Sha256::new();
        let mut read = 0u64;
        while let Some(chunk) = body.stream.next().await {
            let chunk = chunk?;
            read += chunk.len() as u64;
            hasher.update(&chunk);
            lease.renew_if_due().await?;
        }
        if read != length {
            return Err(MediaError::Corrupt(format!("the published object has {read} bytes, expected {length}")));
        }
        let hash_state = save_hash(&hasher);
        let sha256: [u8; 32] = hasher.finalize().into();
        let parts = upload.parts()?;
        let progress =
            Progress { offset: length, length: Some(length), parts: &parts, tail_size: 0, hash_state: &hash_state };
        let source = SourceObject { key: key.clone(), size: length, sha256 };
        record_completion(state, &upload, lease.token(), &progress, &source).await?;
        Ok(sha256)
    }
    .await;
    match result {
        Ok(sha256) => {
            lease.forget();
            if let Err(error) = state.storage.delete(&tail_key(upload.upload_id)).await {
                tracing::warn!(error = %crate::error_chain(&error), "cannot delete a recovered upload's tail");
            }
            // Normally already gone (completed or renamed into place); abort whatever is left.
            let leftover = match (&upload.storage_upload_id, state.storage.append_store()) {
                (Some(id), _) => state.storage.abort_multipart(&key, &MultipartId(id.clone())).await,
                (None, Some(appender)) => appender.discard_append(&upload.upload_id.to_string()).await,
                (None, None) => Ok(()),
            };
            if let Err(error) = leftover {
                tracing::debug!(error = %crate::error_chain(&error), "nothing left of a recovered upload's storage upload");
            }
            tracing::warn!(upload_id = %upload.upload_id, asset_id = %upload.asset_id, size = length,
                sha256 = %hex::encode(sha256), event = "upload_recovered",
                "completed an upload whose source was stored but not recorded");
            Ok(Some(length))
        }
        Err(error) => {
            lease.release().await;
            Err(error)
        }
    }
}

/// Writes `body` at the upload's current offset. `length` is the upload's length when known
/// (declared at creation or by this request). Returns how far the upload got.
pub async fn write<S, E>(
    state: &AppState,
    lease: &mut Lease,
    upload: &UploadRow,
    length: Option<u64>,
    checksum: Option<ExpectedChecksum>,
    mut body: S,
) -> Result<Written, MediaError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let storage_upload_id = match (&upload.storage_upload_id, state.storage.append_store()) {
        (Some(storage_upload_id), _) => storage_upload_id.clone(),
        (None, Some(appender)) => {
            return write_in_place(state, appender, lease, upload, length, checksum, body).await;
        }
        (None, None) => return Err(MediaError::Corrupt("upload without a storage id".to_owned())),
    };
    let part_size = state.uploads.part_size;
    let parts = upload.parts()?;
    let parts_bytes: u64 = parts.iter().map(|part| part.size).sum();
    let tail_size = upload.tail_size();
    if parts_bytes + tail_size != upload.offset() {
        return Err(MediaError::Corrupt("parts and tail do not add up to the offset".to_owned()));
    }
    let mut buffer = BytesMut::with_capacity(part_size);
    if tail_size > 0 {
        let tail = state.storage.get(&tail_key(upload.upload_id), Some(ByteRange::Inclusive(0, tail_size - 1))).await?;
        let mut stream = tail.stream;
        while let Some(chunk) = stream.next().await {
            buffer.extend_from_slice(&chunk?);
        }
        if buffer.len() as u64 != tail_size {
            return Err(MediaError::Corrupt(format!("tail holds {} bytes, expected {tail_size}", buffer.len())));
        }
    }
    let hasher = match &upload.hash_state {
        Some(bytes) => load_hash(bytes)?,
        None => Sha256::new(),
    };
    let hashed = buffer.len();
    let mut patch = Patch {
        state,
        upload,
        token: lease.token(),
        key: source_key(AssetId(upload.asset_id)),
        multipart: MultipartId(storage_upload_id),
        length,
        parts,
        parts_bytes,
        buffer,
        hashed,
        hasher,
        tail_changed: false,
    };
    let verify = checksum.is_some();
    let mut checksum = checksum.map(ChecksumState::new);
    let mut body_error = None;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                body_error = Some(error.to_string());
                break;
            }
        };
        check_room(state, length, patch.position() + chunk.len() as u64)?;
        if let Some(checksum) = &mut checksum {
            checksum.update(&chunk);
        }
        patch.buffer.extend_from_slice(&chunk);
        patch.tail_changed = true;
        while patch.buffer.len() >= part_size {
            patch.flush_part(part_size).await?;
            if !verify {
                patch.commit_parts().await?;
            }
        }
        lease.renew_if_due().await?;
    }
    if let Some(message) = body_error {
        // Without a checksum every byte received is good: keep it, so the client resumes from
        // as far as it got. With one, nothing of this request can be trusted.
        if !verify {
            patch.commit().await?;
        }
        return Err(MediaError::BodyRead(message));
    }
    if let Some(checksum) = checksum
        && !checksum.matches()
    {
        return Err(MediaError::ChecksumMismatch);
    }
    if length == Some(patch.position()) {
        return Ok(Written::Completed(patch.complete(lease).await?));
    }
    Ok(Written::Partial(patch.commit().await?))
}

/// Refuses a chunk that would take the upload past its length, or past the size limit while the
/// length is deferred.
fn check_room(state: &AppState, length: Option<u64>, end: u64) -> Result<(), MediaError> {
    match length {
        Some(length) if end > length => Err(MediaError::LengthExceeded),
        None if end > state.uploads.max_size => Err(MediaError::FileTooLarge { limit: state.uploads.max_size }),
        _ => Ok(()),
    }
}

/// Hashes an upload's bytes on blocking tasks, in order, so the request task only receives and
/// writes: on the in-place path hashing was the largest CPU cost of an upload, and this lets it
/// run on another core. One batch is hashed at a time; no thread is held between batches, so a
/// stalled upload holds none.
struct HashWorker {
    /// The hasher while no batch is in flight.
    hasher: Option<Sha256>,
    /// The batch being hashed, which hands the hasher back.
    in_flight: Option<tokio::task::JoinHandle<Sha256>>,
    /// Chunks gathered into one batch: a task per network chunk (often a few KiB) would cost
    /// more than the hashing saves.
    batch: Vec<Bytes>,
    batch_bytes: usize,
}

/// The size of one batch: with one in flight, a MiB or so of chunks shared (not copied).
const HASH_BATCH_BYTES: usize = 512 * 1024;

impl HashWorker {
    fn start(hasher: Sha256) -> Self {
        Self { hasher: Some(hasher), in_flight: None, batch: Vec::new(), batch_bytes: 0 }
    }

    async fn update(&mut self, bytes: Bytes) -> Result<(), MediaError> {
        self.batch_bytes += bytes.len();
        self.batch.push(bytes);
        if self.batch_bytes >= HASH_BATCH_BYTES {
            self.send_batch().await?;
        }
        Ok(())
    }

    /// Waits for the batch in flight and takes the hasher back.
    async fn settle(&mut self) -> Result<(), MediaError> {
        if let Some(batch) = self.in_flight.take() {
            self.hasher = Some(batch.await.map_err(|_| Self::stopped())?);
        }
        Ok(())
    }

    async fn send_batch(&mut self) -> Result<(), MediaError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        let mut hasher = self.hasher.take().ok_or_else(Self::stopped)?;
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            batch.iter().for_each(|bytes| hasher.update(bytes));
            hasher
        }));
        Ok(())
    }

    /// The hash of every byte sent so far.
    async fn snapshot(&mut self) -> Result<Sha256, MediaError> {
        self.send_batch().await?;
        self.settle().await?;
        self.hasher.clone().ok_or_else(Self::stopped)
    }

    fn stopped() -> MediaError {
        MediaError::Corrupt("the hashing task stopped".to_owned())
    }
}

/// The in-place path (see the module documentation).
async fn write_in_place<S, E>(
    state: &AppState,
    appender: &dyn AppendStore,
    lease: &mut Lease,
    upload: &UploadRow,
    length: Option<u64>,
    checksum: Option<ExpectedChecksum>,
    mut body: S,
) -> Result<Written, MediaError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let name = upload.upload_id.to_string();
    let mut file = appender.open_append(&name, upload.offset()).await?;
    let mut hashing = HashWorker::start(match &upload.hash_state {
        Some(bytes) => load_hash(bytes)?,
        None => Sha256::new(),
    });
    let token = lease.token();
    let record = |offset: u64, hasher: &Sha256| {
        let hash_state = save_hash(hasher);
        async move {
            let progress = Progress { offset, length, parts: &[], tail_size: 0, hash_state: &hash_state };
            let mut connection = state.pool.acquire().await?;
            if uploads::record_progress(&mut connection, upload.upload_id, token, &progress).await? {
                Ok(())
            } else {
                Err(MediaError::UploadLocked)
            }
        }
    };
    let streamed = async {
        let mut position = upload.offset();
        let mut unrecorded = 0u64;
        let verify = checksum.is_some();
        let mut checksum = checksum.map(ChecksumState::new);
        let mut body_error = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    body_error = Some(error.to_string());
                    break;
                }
            };
            check_room(state, length, position + chunk.len() as u64)?;
            if let Some(checksum) = &mut checksum {
                checksum.update(&chunk);
            }
            hashing.update(chunk.clone()).await?;
            file.write(&chunk).await?;
            position += chunk.len() as u64;
            unrecorded += chunk.len() as u64;
            if !verify && unrecorded >= IN_PLACE_RECORD_INTERVAL {
                file.sync().await?;
                record(position, &hashing.snapshot().await?).await?;
                unrecorded = 0;
            }
            lease.renew_if_due().await?;
        }
        if let Some(message) = body_error {
            if !verify {
                file.sync().await?;
                record(position, &hashing.snapshot().await?).await?;
            }
            return Err(MediaError::BodyRead(message));
        }
        if let Some(checksum) = checksum
            && !checksum.matches()
        {
            return Err(MediaError::ChecksumMismatch);
        }
        let size = file.sync().await?;
        if size != position {
            return Err(MediaError::Corrupt(format!("the upload file holds {size} bytes, expected {position}")));
        }
        Ok(position)
    }
    .await;
    // Whatever happened, no write of this request may land after it returns (and releases the
    // lease): the next request truncates and writes the same file.
    file.close().await;
    let position = streamed?;
    let hasher = hashing.snapshot().await?;
    if length != Some(position) {
        record(position, &hasher).await?;
        return Ok(Written::Partial(position));
    }
    let key = source_key(AssetId(upload.asset_id));
    let meta = appender.publish_append(&name, &key).await?;
    if meta.size != position {
        return Err(MediaError::Corrupt(format!("published object has {} bytes, expected {position}", meta.size)));
    }
    let hash_state = save_hash(&hasher);
    let sha256: [u8; 32] = hasher.finalize().into();
    let progress =
        Progress { offset: position, length: Some(position), parts: &[], tail_size: 0, hash_state: &hash_state };
    record_completion(state, upload, token, &progress, &SourceObject { key, size: position, sha256 }).await?;
    lease.forget();
    tracing::info!(upload_id = %upload.upload_id, asset_id = %upload.asset_id, size = position,
        sha256 = %hex::encode(sha256), event = "upload_completed", "upload completed");
    Ok(Written::Completed(position))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_hash_state_carries_on_where_it_stopped() {
        let mut first = Sha256::new();
        first.update(b"hello, ");
        let mut resumed = load_hash(&save_hash(&first)).expect("state loads");
        resumed.update(b"world");
        assert_eq!(resumed.finalize(), Sha256::digest(b"hello, world"));
        assert!(load_hash(b"short").is_err());
    }
}
