//! Uploads written in place: the local backend's fast path for tus.
//!
//! Cutting an upload into parts and joining them at the end writes every byte twice; on a
//! filesystem an upload can instead grow in one file, `.appends/{name}`, which becomes the object
//! with a `rename` when it is complete. Each append starts by truncating the file to the offset
//! the caller recorded, so bytes of an attempt that was never recorded (a checksum mismatch, a
//! crash before the record) are dropped rather than kept.
//!
//! Writing happens on a blocking thread fed through a short queue of 2 MiB buffers, so the disk
//! works while the request task goes on receiving and hashing; the queue bounds the memory of
//! one upload to a few buffers.

use std::collections::HashMap;
use std::io::{SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::io::AsyncSeekExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{LocalStore, STAGING_DIR, Staged};
use crate::storage::{AppendFile, AppendStore, ObjectKey, ObjectMeta, StorageError};

pub(super) const APPEND_DIR: &str = ".appends";
/// Large writes: few syscalls per gigabyte.
const WRITE_BUFFER_BYTES: usize = 2 * 1024 * 1024;
/// Buffers queued for the writer thread beyond the one it is writing.
const QUEUED_BUFFERS: usize = 2;

/// A lock per upload name. The writer thread of an open upload holds its lock until it has
/// written its last queued buffer, so a new writer — the next request, after a cancelled one —
/// can only truncate the file once the old one can no longer touch it.
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

enum Command {
    Write(Vec<u8>),
    Sync(oneshot::Sender<std::io::Result<()>>),
}

struct LocalAppendFile {
    /// Filled up to `WRITE_BUFFER_BYTES`, then handed to the writer thread.
    pending: Vec<u8>,
    /// Buffers the writer thread has finished with, reused so an upload allocates a few buffers
    /// once instead of one per buffer written (which also keeps the allocator from hoarding memory).
    spare: mpsc::UnboundedReceiver<Vec<u8>>,
    /// `None` once closed.
    queue: Option<mpsc::Sender<Command>>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
    size: u64,
}

impl LocalAppendFile {
    fn start(file: std::fs::File, size: u64, lock: tokio::sync::OwnedMutexGuard<()>) -> Self {
        let (queue, mut commands) = mpsc::channel::<Command>(QUEUED_BUFFERS);
        let (returns, spare) = mpsc::unbounded_channel();
        let writer = tokio::task::spawn_blocking(move || {
            let _lock = lock;
            let mut file = file;
            while let Some(command) = commands.blocking_recv() {
                match command {
                    Command::Write(mut buffer) => {
                        file.write_all(&buffer)?;
                        buffer.clear();
                        let _ = returns.send(buffer);
                    }
                    Command::Sync(reply) => {
                        let _ = reply.send(file.sync_data());
                    }
                }
            }
            Ok(())
        });
        Self { pending: Vec::with_capacity(WRITE_BUFFER_BYTES), spare, queue: Some(queue), writer: Some(writer), size }
    }

    /// Why the writer thread stopped (it only stops early on an error).
    async fn writer_error(&mut self) -> StorageError {
        let error = match self.writer.take() {
            Some(writer) => match writer.await {
                Ok(Err(error)) => error,
                Ok(Ok(())) => std::io::Error::other("the upload writer stopped"),
                Err(join) => std::io::Error::other(join),
            },
            None => std::io::Error::other("the upload writer stopped"),
        };
        StorageError::io("append", error)
    }

    async fn send(&mut self, command: Command) -> Result<(), StorageError> {
        let sent = match &self.queue {
            Some(queue) => queue.send(command).await.is_ok(),
            None => false,
        };
        if !sent {
            return Err(self.writer_error().await);
        }
        Ok(())
    }

    async fn flush_pending(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(WRITE_BUFFER_BYTES));
        let full = std::mem::replace(&mut self.pending, next);
        self.send(Command::Write(full)).await
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
        let (reply, synced) = oneshot::channel();
        self.send(Command::Sync(reply)).await?;
        match synced.await {
            Ok(result) => result.map_err(|error| StorageError::io("append", error))?,
            Err(_) => return Err(self.writer_error().await),
        }
        Ok(self.size)
    }

    async fn close(&mut self) {
        self.pending.clear();
        // Closing the queue ends the writer thread after what is already queued.
        self.queue = None;
        if let Some(writer) = self.writer.take() {
            match writer.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "an upload write failed after its request ended"),
                Err(error) => tracing::warn!(%error, "the upload writer panicked"),
            }
        }
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
