//! Multipart uploads on S3: the primitives map 1:1 to S3 calls, and `put_parts` drives them
//! for streaming puts larger than one part.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream as S3ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart as S3CompletedPart};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use super::errors::{backend_error, multipart_error};
use super::{S3Store, content_type_of, part_number_i32};
use crate::storage::{
    BodyStream, CompletedPart, MultipartId, ObjectKey, ObjectMeta, ObjectStore, PartInfo, PutOptions, StorageError,
};

use crate::storage::MAX_PARTS;
/// S3's largest part.
const MAX_PART_SIZE: usize = crate::storage::MAX_PART_SIZE as usize;
/// Parts of one size before a streamed put doubles them.
const PARTS_PER_SIZE: u32 = 2_000;

/// The size of part `part_number` (1-based) of a streamed put, whose length is unknown until
/// its body ends: `base` for the first 2,000 parts, then twice the size for every further 2,000,
/// at most S3's 5 GiB; so S3's 10,000 parts hold 31 × 2,000 × `base` (484 GiB with the default
/// 8 MiB) while the usual object never buffers more than `base`.
pub(super) fn streamed_part_size(base: usize, part_number: u32) -> usize {
    let doublings = part_number.saturating_sub(1) / PARTS_PER_SIZE;
    base.saturating_mul(1 << doublings.min(20)).min(MAX_PART_SIZE)
}

impl S3Store {
    /// Uploads the rest of `body` as parts of [`streamed_part_size`], starting with what
    /// `buffer` already holds. The caller aborts the upload when this fails.
    pub(super) async fn put_parts(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        mut buffer: BytesMut,
        mut body: BodyStream,
    ) -> Result<ObjectMeta, StorageError> {
        let mut parts = Vec::new();
        let mut finished = false;
        while !finished {
            let part_number = u32::try_from(parts.len() + 1)
                .ok()
                .filter(|number| *number <= MAX_PARTS)
                .ok_or_else(|| StorageError::InvalidMultipart(format!("more than {MAX_PARTS} parts")))?;
            let part_size = streamed_part_size(self.part_size, part_number);
            while buffer.len() < part_size {
                match body.next().await {
                    Some(chunk) => buffer.extend_from_slice(&chunk.map_err(|error| StorageError::io("put", error))?),
                    None => {
                        finished = true;
                        break;
                    }
                }
            }
            if buffer.is_empty() && !parts.is_empty() {
                break;
            }
            let part = buffer.split_to(buffer.len().min(part_size)).freeze();
            let info = self.upload_part(key, upload, part_number, part).await?;
            parts.push(CompletedPart { part_number, etag: info.etag });
        }
        self.complete_multipart(key, upload, &parts).await
    }

    pub(super) async fn start_upload(&self, key: &ObjectKey, options: PutOptions) -> Result<MultipartId, StorageError> {
        let output = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type_of(key, &options))
            .set_cache_control(options.cache_control)
            .send()
            .await
            .map_err(|error| backend_error("create_multipart", error))?;
        let upload_id = output
            .upload_id()
            .ok_or_else(|| StorageError::backend("create_multipart", "no upload id in the answer"))?;
        Ok(MultipartId(upload_id.to_owned()))
    }

    pub(super) async fn send_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        body: Bytes,
    ) -> Result<PartInfo, StorageError> {
        let size = body.len() as u64;
        let output = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .part_number(part_number_i32(part_number)?)
            .body(S3ByteStream::from(body))
            .send()
            .await
            .map_err(|error| multipart_error("upload_part", error))?;
        Ok(PartInfo { part_number, etag: output.e_tag().unwrap_or_default().to_owned(), size })
    }

    pub(super) async fn presign_upload_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .part_number(part_number_i32(part_number)?);
        let presigned =
            request.presigned(Self::presigning(expires_in)?).await.map_err(|error| backend_error("presign", error))?;
        Ok(presigned.uri().to_owned())
    }

    pub(super) async fn uploaded_parts(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
    ) -> Result<Vec<PartInfo>, StorageError> {
        let mut parts = Vec::new();
        let mut pages = self
            .client
            .list_parts()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .into_paginator()
            .items()
            .send();
        while let Some(part) = pages.next().await {
            let part = part.map_err(|error| multipart_error("list_parts", error))?;
            let Some(part_number) = part.part_number().and_then(|number| u32::try_from(number).ok()) else {
                continue;
            };
            parts.push(PartInfo {
                part_number,
                etag: part.e_tag().unwrap_or_default().to_owned(),
                size: part.size().and_then(|size| u64::try_from(size).ok()).unwrap_or(0),
            });
        }
        parts.sort_by_key(|part| part.part_number);
        Ok(parts)
    }

    pub(super) async fn finish_upload(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[CompletedPart],
    ) -> Result<ObjectMeta, StorageError> {
        let mut completed = Vec::with_capacity(parts.len());
        for part in parts {
            completed.push(
                S3CompletedPart::builder().part_number(part_number_i32(part.part_number)?).e_tag(&part.etag).build(),
            );
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .send()
            .await
            .map_err(|error| multipart_error("complete_multipart", error))?;
        self.head(key)
            .await?
            .ok_or_else(|| StorageError::backend("complete_multipart", "the completed object is not visible"))
    }

    pub(super) async fn cancel_upload(&self, key: &ObjectKey, upload: &MultipartId) -> Result<(), StorageError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match multipart_error("abort_multipart", error) {
                StorageError::UploadNotFound => Ok(()),
                error => Err(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    /// The bytes 10,000 parts of a streamed put hold.
    fn capacity(base: usize) -> u64 {
        (1..=MAX_PARTS).map(|number| streamed_part_size(base, number) as u64).sum()
    }

    #[test]
    fn streamed_parts_grow_so_that_ten_thousand_hold_a_large_object() {
        assert_eq!(streamed_part_size(8 * MIB, 1), 8 * MIB);
        assert_eq!(streamed_part_size(8 * MIB, 2_000), 8 * MIB);
        assert_eq!(streamed_part_size(8 * MIB, 2_001), 16 * MIB);
        assert_eq!(streamed_part_size(8 * MIB, 10_000), 128 * MIB);
        // The smallest part S3 takes still reaches past the default upload limit (20 GiB).
        assert!(capacity(5 * MIB) > 300 * 1024 * MIB as u64, "{}", capacity(5 * MIB));
        assert_eq!(capacity(8 * MIB), 31 * 2_000 * 8 * MIB as u64);
        // Never above S3's largest part.
        assert_eq!(streamed_part_size(MAX_PART_SIZE, 10_000), MAX_PART_SIZE);
        assert_eq!(streamed_part_size(usize::MAX, 1), MAX_PART_SIZE);
    }
}
