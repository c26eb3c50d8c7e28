//! Uploads written in place: the local backend's fast path for tus.
//!
//! Cutting an upload into parts and joining them at the end writes every byte twice; on a
//! filesystem an upload can instead grow in one file, `.appends/{name}`, which becomes the object
//! with a `rename` when it is complete. Each append starts by truncating the file to the offset
//! the caller recorded, so bytes of an attempt that was never recorded (a checksum mismatch, a
//! crash before the record) are dropped rather than kept.
//!
//! Each full 2 MiB buffer is written by a blocking task of its own while the request task goes on
//! receiving (and hashing) into a second buffer, so the disk works in parallel and one upload
//! holds at most two buffers. No blocking thread is held between writes: an upload whose client
//! stalls holds none at all (one thread per open upload used to exhaust the blocking pool with a
//! few hundred stalled uploads, and with it every file read of the server).

use std::collections::HashMap;
use std::io::{SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::io::AsyncSeekExt;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{LocalStore, STAGING_DIR, Staged};
use crate::storage::{AppendFile, AppendStore, ObjectKey, ObjectMeta, StorageError};

pub(super) const APPEND_DIR: &str = ".appends";
/// Large writes: few syscalls per gigabyte.
const WRITE_BUFFER_BYTES: usize = 2 * 1024 * 1024;

/// A lock per upload name. An open upload file, and its write in flight, hold its lock until its
/// last write has finished, so a new writer — the next request, after a cancelled one — can only
/// truncate the file once the old one can no longer touch it.
#[derive(Default)]
pub(super) struct WriterLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl WriterLocks {
    async fn acquire(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Forget locks nobody holds or waits for, so the map does not grow with every upload.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            Arc::clone(locks.entry(name.to_owned()).or_default())
        };
        lock.lock_owned().await
    }
}

impl LocalStore {
    /// Only canonical UUIDs name append files, so a name can never reach outside the directory.
    fn append_path(&self, name: &str) -> Result<PathBuf, StorageError> {
        let canonical = Uuid::parse_str(name).is_ok_and(|id| id.hyphenated().to_string() == name);
        if !canonical {
            return Err(StorageError::UploadNotFound);
        }
        Ok(self.root.join(APPEND_DIR).join(name))
    }
}

/// What a blocking write hands back: the file and its emptied buffer, or why it failed.
type WriteResult = std::io::Result<(std::fs::File, Vec<u8>)>;

struct LocalAppendFile {
    /// Filled up to `WRITE_BUFFER_BYTES`, then handed to a blocking write.
    pending: Vec<u8>,
    /// The buffer the last write finished with, reused so an upload allocates two buffers once
    /// instead of one per buffer written (which also keeps the allocator from hoarding memory).
    spare: Option<Vec<u8>>,
    /// The file while no write is in flight; `None` during a write, and for good after a failed
    /// one.
    file: Option<std::fs::File>,
    /// The write in flight, which hands the file and its buffer back.
    in_flight: Option<JoinHandle<WriteResult>>,
    /// The upload's writer lock, shared with the write in flight: released once this file is
    /// dropped and its last write has finished.
    lock: Arc<tokio::sync::OwnedMutexGuard<()>>,
    size: u64,
}

impl LocalAppendFile {
    fn start(file: std::fs::File, size: u64, lock: tokio::sync::OwnedMutexGuard<()>) -> Self {
        Self {
            pending: Vec::with_capacity(WRITE_BUFFER_BYTES),
            spare: None,
            file: Some(file),
            in_flight: None,
            lock: Arc::new(lock),
            size,
        }
    }

    /// Waits for the write in flight and takes the file back.
    async fn settle(&mut self) -> Result<(), StorageError> {
        let Some(write) = self.in_flight.take() else { return Ok(()) };
        match write.await {
            Ok(Ok((file, mut buffer))) => {
                buffer.clear();
                self.file = Some(file);
                self.spare = Some(buffer);
                Ok(())
            }
            Ok(Err(error)) => Err(StorageError::io("append", error)),
            Err(join) => Err(StorageError::io("append", std::io::Error::other(join))),
        }
    }

    fn take_file(&mut self) -> Result<std::fs::File, StorageError> {
        self.file
            .take()
            .ok_or_else(|| StorageError::io("append", std::io::Error::other("an earlier write of this upload failed")))
    }

    /// Hands the pending buffer to a blocking write, after the previous one finished: one write
    /// in flight while the request goes on receiving into the other buffer.
    async fn flush_pending(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        let mut file = self.take_file()?;
        let next = self.spare.take().unwrap_or_else(|| Vec::with_capacity(WRITE_BUFFER_BYTES));
        let full = std::mem::replace(&mut self.pending, next);
        let lock = Arc::clone(&self.lock);
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let _lock = lock;
            file.write_all(&full)?;
            Ok((file, full))
        }));
        Ok(())
    }
}

#[async_trait]
impl AppendFile for LocalAppendFile {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.size += bytes.len() as u64;
        let mut rest = bytes;
        while !rest.is_empty() {
            let take = (WRITE_BUFFER_BYTES - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() >= WRITE_BUFFER_BYTES {
                self.flush_pending().await?;
            }
        }
        Ok(())
    }

    async fn sync(&mut self) -> Result<u64, StorageError> {
        self.flush_pending().await?;
        self.settle().await?;
        let file = self.take_file()?;
        let lock = Arc::clone(&self.lock);
        let (file, synced) = tokio::task::spawn_blocking(move || {
            let _lock = lock;
            let synced = file.sync_data();
            (file, synced)
        })
        .await
        .map_err(|join| StorageError::io("append", std::io::Error::other(join)))?;
        self.file = Some(file);
        synced.map_err(|error| StorageError::io("append", error))?;
        Ok(self.size)
    }

    async fn close(&mut self) {
        self.pending.clear();
        // What is in flight lands before this returns; nothing is written after.
        if let Err(error) = self.settle().await {
            tracing::warn!(error = %crate::error_chain(&error), "an upload write failed as its request ended");
        }
        self.file = None;
    }
}

#[async_trait]
impl AppendStore for LocalStore {
    async fn open_append(&self, name: &str, offset: u64) -> Result<Box<dyn AppendFile>, StorageError> {
        let path = self.append_path(name)?;
        let lock = self.append_writers.acquire(name).await;
        let file =
            tokio::fs::OpenOptions::new().write(true).create(offset == 0).open(&path).await.map_err(|error| {
                if error.kind() == std::io::ErrorKind::NotFound {
                    StorageError::UploadNotFound
                } else {
                    StorageError::io("open_append", error)
                }
            })?;
        let io_error = |error| StorageError::io("open_append", error);
        let length = file.metadata().await.map_err(io_error)?.len();
        if length < offset {
            return Err(StorageError::InvalidMultipart(format!(
                "the upload file holds {length} bytes, fewer than the {offset} recorded"
            )));
        }
        if length > offset {
            file.set_len(offset).await.map_err(io_error)?;
        }
        let mut file = file;
        file.seek(SeekFrom::Start(offset)).await.map_err(io_error)?;
        Ok(Box::new(LocalAppendFile::start(file.into_std().await, offset, lock)))
    }

    async fn publish_append(&self, name: &str, key: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        let path = self.append_path(name)?;
        // Through `.staging`, whose publishing already handles racing prefix deletions.
        let staged_path = self.root.join(STAGING_DIR).join(Uuid::new_v4().to_string());
        tokio::fs::rename(&path, &staged_path).await.map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                StorageError::UploadNotFound
            } else {
                StorageError::io("publish_append", error)
            }
        })?;
        let staged = Staged { path: staged_path, size: 0, md5: None, published: false };
        self.publish("publish_append", staged, key).await
    }

    async fn discard_append(&self, name: &str) -> Result<(), StorageError> {
        let path = self.append_path(name)?;
        match tokio::fs::remove_file(&path).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(StorageError::io("discard_append", error))
            }
            _ => Ok(()),
        }
    }
}
