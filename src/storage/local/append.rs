//! Uploads written in place: the local backend's fast path for tus.
//!
//! Cutting an upload into parts and joining them at the end writes every byte twice; on a
//! filesystem an upload can instead grow in one file, `.appends/{name}`, which becomes the object
//! with a `rename` when it is complete. Each append starts by truncating the file to the offset
//! the caller recorded, so bytes of an attempt that was never recorded (a checksum mismatch, a
//! crash before the record) are dropped rather than kept.

use std::io::SeekFrom;
use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};
use uuid::Uuid;

use super::{LocalStore, STAGING_DIR, Staged};
use crate::storage::{AppendFile, AppendStore, ObjectKey, ObjectMeta, StorageError};

pub(super) const APPEND_DIR: &str = ".appends";
/// Large writes: few syscalls per gigabyte.
const WRITE_BUFFER_BYTES: usize = 4 * 1024 * 1024;

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

struct LocalAppendFile {
    writer: BufWriter<tokio::fs::File>,
    size: u64,
}

#[async_trait]
impl AppendFile for LocalAppendFile {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.writer.write_all(bytes).await.map_err(|error| StorageError::io("append", error))?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    async fn sync(&mut self) -> Result<u64, StorageError> {
        self.writer.flush().await.map_err(|error| StorageError::io("append", error))?;
        self.writer.get_ref().sync_data().await.map_err(|error| StorageError::io("append", error))?;
        Ok(self.size)
    }
}

#[async_trait]
impl AppendStore for LocalStore {
    async fn open_append(&self, name: &str, offset: u64) -> Result<Box<dyn AppendFile>, StorageError> {
        let path = self.append_path(name)?;
        let file = tokio::fs::OpenOptions::new().write(true).create(offset == 0).open(&path).await.map_err(|error| {
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
        Ok(Box::new(LocalAppendFile { writer: BufWriter::with_capacity(WRITE_BUFFER_BYTES, file), size: offset }))
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
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(StorageError::io("discard_append", error)),
            _ => Ok(()),
        }
    }
}
