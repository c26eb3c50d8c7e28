//! Multipart uploads on the filesystem, shaped like S3's so callers (tus, browser uploaders)
//! treat both backends alike.
//!
//! `.multipart/{upload_id}/upload.json` records the key and content type; each part is a file
//! named `{part_number:05}.{md5_hex}`, so its ETag needs no second file that could disagree
//! with it. Parts are written through `.staging` and renamed, so a listed part is complete.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, ErrorKind};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{LocalStore, MULTIPART_DIR, STAGING_DIR, Staged, blocking};
use crate::storage::{
    BodyStream, CompletedPart, MultipartId, ObjectKey, ObjectMeta, PartInfo, PutOptions, StorageError,
};

const UPLOAD_FILE: &str = "upload.json";
/// S3's limit, kept so that code tested locally also works against S3.
const MAX_PART_NUMBER: u32 = crate::storage::MAX_PARTS;

#[derive(Serialize, Deserialize)]
struct UploadRecord {
    key: String,
    content_type: Option<String>,
}

impl LocalStore {
    pub(super) async fn create_upload(
        &self,
        key: &ObjectKey,
        options: PutOptions,
    ) -> Result<MultipartId, StorageError> {
        let id = Uuid::new_v4().hyphenated().to_string();
        let directory = self.root.join(MULTIPART_DIR).join(&id);
        let record =
            serde_json::to_vec(&UploadRecord { key: key.as_str().to_owned(), content_type: options.content_type })
                .map_err(|error| StorageError::io("create_multipart", io::Error::other(error)))?;
        blocking(move || {
            fs::create_dir(&directory)?;
            // Written then renamed: an upload without its record is treated as unknown.
            let temporary = directory.join(format!("{UPLOAD_FILE}.tmp"));
            fs::write(&temporary, record)?;
            fs::rename(&temporary, directory.join(UPLOAD_FILE))
        })
        .await
        .map_err(|error| StorageError::io("create_multipart", error))?;
        Ok(MultipartId(id))
    }

    /// Writes one part from a stream (the presigned-part route uses this directly, so a part
    /// never has to fit in memory).
    pub async fn upload_part_stream(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        body: BodyStream,
    ) -> Result<PartInfo, StorageError> {
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(StorageError::InvalidMultipart(format!(
                "part number {part_number} is outside 1..={MAX_PART_NUMBER}"
            )));
        }
        let directory = self.upload_directory(key, upload).await?;
        let mut staged = self.stage("upload_part", body, true).await?;
        let md5 = staged.md5.clone().expect("stage was asked to hash");
        let name = format!("{part_number:05}.{md5}");
        let (from, size) = (staged.path.clone(), staged.size);
        blocking(move || {
            fs::rename(&from, directory.join(&name))?;
            // A re-uploaded part replaces the earlier one, as in S3.
            let same_number = format!("{part_number:05}.");
            for entry in fs::read_dir(&directory)? {
                let entry_name = entry?.file_name();
                let entry_name = entry_name.to_string_lossy();
                if entry_name.starts_with(&same_number) && *entry_name != *name {
                    let _ = fs::remove_file(directory.join(&*entry_name));
                }
            }
            Ok(())
        })
        .await
        // The upload directory disappears when the upload is aborted or completed meanwhile.
        .map_err(|error| {
            if error.kind() == ErrorKind::NotFound {
                StorageError::UploadNotFound
            } else {
                StorageError::io("upload_part", error)
            }
        })?;
        staged.published = true;
        Ok(PartInfo { part_number, etag: format!("\"{md5}\""), size })
    }

    /// Claims a presigned part URL, named by its signature, for one use: `Ok(false)` when it was
    /// already claimed. The claim is a file in the upload's directory (a name no part has), so it
    /// goes with the upload; a request that fails gives it back ([`Self::release_part_url`]), so
    /// the uploader may retry with the same URL.
    pub async fn claim_part_url(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        signature: &str,
    ) -> Result<bool, StorageError> {
        let path = self.part_claim_path(key, upload, signature).await?;
        match tokio::fs::OpenOptions::new().write(true).create_new(true).open(&path).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(error) if error.kind() == ErrorKind::NotFound => Err(StorageError::UploadNotFound),
            Err(error) => Err(StorageError::io("claim_part_url", error)),
        }
    }

    /// Gives back a claim of [`Self::claim_part_url`] after a failed request.
    pub async fn release_part_url(&self, key: &ObjectKey, upload: &MultipartId, signature: &str) {
        let Ok(path) = self.part_claim_path(key, upload, signature).await else { return };
        if let Err(error) = tokio::fs::remove_file(&path).await
            && error.kind() != ErrorKind::NotFound
        {
            tracing::warn!(%error, "cannot release the claim of a presigned part URL");
        }
    }

    async fn part_claim_path(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        signature: &str,
    ) -> Result<PathBuf, StorageError> {
        // Verified hex by now; lower-cased so case variants of one signature are one claim.
        if signature.is_empty() || !signature.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(StorageError::InvalidMultipart("a claim needs a hex signature".to_owned()));
        }
        let directory = self.upload_directory(key, upload).await?;
        Ok(directory.join(format!("used.{}", signature.to_ascii_lowercase())))
    }

    pub(super) async fn uploaded_parts(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
    ) -> Result<Vec<PartInfo>, StorageError> {
        let directory = self.upload_directory(key, upload).await?;
        let parts =
            blocking(move || read_parts(&directory)).await.map_err(|error| StorageError::io("list_parts", error))?;
        Ok(parts.into_values().map(|(info, _path)| info).collect())
    }

    pub(super) async fn complete_upload(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[CompletedPart],
    ) -> Result<ObjectMeta, StorageError> {
        if parts.is_empty() {
            return Err(StorageError::InvalidMultipart("no parts given".to_owned()));
        }
        if parts.windows(2).any(|pair| pair[0].part_number >= pair[1].part_number) {
            return Err(StorageError::InvalidMultipart("part numbers must be in ascending order".to_owned()));
        }
        let directory = self.upload_directory(key, upload).await?;
        let uploaded = {
            let directory = directory.clone();
            blocking(move || read_parts(&directory))
                .await
                .map_err(|error| StorageError::io("complete_multipart", error))?
        };
        let mut sources = Vec::with_capacity(parts.len());
        for part in parts {
            let Some((info, path)) = uploaded.get(&part.part_number) else {
                return Err(StorageError::InvalidMultipart(format!("part {} was not uploaded", part.part_number)));
            };
            if info.etag.trim_matches('"') != part.etag.trim_matches('"') {
                return Err(StorageError::InvalidMultipart(format!("part {} has a different ETag", part.part_number)));
            }
            sources.push(path.clone());
        }
        let staged_path = self.root.join(STAGING_DIR).join(Uuid::new_v4().to_string());
        let staged = Staged { path: staged_path.clone(), size: 0, md5: None, published: false };
        blocking(move || {
            // Streaming concatenation: memory stays at one copy buffer whatever the part sizes.
            let mut output = fs::OpenOptions::new().write(true).create_new(true).open(&staged_path)?;
            for source in sources {
                io::copy(&mut fs::File::open(source)?, &mut output)?;
            }
            output.sync_all()
        })
        .await
        .map_err(|error| StorageError::io("complete_multipart", error))?;
        let meta = self.publish("complete_multipart", staged, key).await?;
        blocking(move || fs::remove_dir_all(directory))
            .await
            .map_err(|error| StorageError::io("complete_multipart", error))?;
        Ok(meta)
    }

    pub(super) async fn abort_upload(&self, key: &ObjectKey, upload: &MultipartId) -> Result<(), StorageError> {
        let directory = match self.upload_directory(key, upload).await {
            Ok(directory) => directory,
            Err(StorageError::UploadNotFound) => return Ok(()),
            Err(error) => return Err(error),
        };
        match blocking(move || fs::remove_dir_all(directory)).await {
            Err(error) if error.kind() != ErrorKind::NotFound => Err(StorageError::io("abort_multipart", error)),
            _ => Ok(()),
        }
    }

    /// The directory of an upload in progress for `key`. Upload ids arrive from clients through
    /// presigned URLs, so only canonical UUIDs are accepted before one touches a path.
    async fn upload_directory(&self, key: &ObjectKey, upload: &MultipartId) -> Result<PathBuf, StorageError> {
        let is_canonical = Uuid::parse_str(&upload.0).is_ok_and(|id| id.hyphenated().to_string() == upload.0);
        if !is_canonical {
            return Err(StorageError::UploadNotFound);
        }
        let directory = self.root.join(MULTIPART_DIR).join(&upload.0);
        let record = match tokio::fs::read(directory.join(UPLOAD_FILE)).await {
            Ok(record) => record,
            Err(error) if matches!(error.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Err(StorageError::UploadNotFound);
            }
            Err(error) => return Err(StorageError::io("multipart", error)),
        };
        let record: UploadRecord = serde_json::from_slice(&record)
            .map_err(|error| StorageError::io("multipart", io::Error::new(ErrorKind::InvalidData, error)))?;
        // S3 scopes an upload id to its key; a mismatch is an unknown upload there too.
        if record.key != key.as_str() {
            return Err(StorageError::UploadNotFound);
        }
        Ok(directory)
    }
}

/// The parts in an upload directory by number, with their files.
fn read_parts(directory: &std::path::Path) -> io::Result<BTreeMap<u32, (PartInfo, PathBuf)>> {
    let mut parts = BTreeMap::new();
    for entry in fs::read_dir(directory)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some((number, md5)) = name.to_str().and_then(|name| name.split_once('.')) else {
            continue;
        };
        let Ok(part_number) = number.parse::<u32>() else {
            continue;
        };
        if md5.len() != 32 || !md5.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            continue;
        }
        let size = entry.metadata()?.len();
        parts.insert(part_number, (PartInfo { part_number, etag: format!("\"{md5}\""), size }, entry.path()));
    }
    Ok(parts)
}
