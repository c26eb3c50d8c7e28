//! The S3 backend, for AWS and S3-compatible stores (SeaweedFS in tests, MinIO, Ceph, …).
//!
//! Objects map 1:1 to keys in one bucket. Streaming puts buffer at most one part: small bodies
//! become one PutObject, larger ones a multipart upload that is aborted on any error, so a
//! failed put never leaves a visible object (S3 only shows an object once it is complete).

mod errors;
mod multipart;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as S3ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use secrecy::ExposeSecret;
use time::OffsetDateTime;

use errors::{backend_error, error_chain, read_error};

use crate::storage::content_type::content_type_for;
use crate::storage::range::parse_content_range;
use crate::storage::{
    BodyStream, ByteRange, ByteStream, CompletedPart, KeyPrefix, MultipartId, ObjectBody, ObjectKey, ObjectMeta,
    ObjectStore, PartInfo, PutOptions, S3Settings, StorageError,
};

/// S3's floor for every part but the last.
const MIN_PART_SIZE: usize = crate::storage::MIN_PART_SIZE as usize;
/// DeleteObjects accepts at most this many keys per request.
const DELETE_BATCH: usize = 1000;

/// Objects in one S3 bucket.
pub struct S3Store {
    client: Client,
    bucket: String,
    part_size: usize,
}

impl S3Store {
    /// Builds the client, checks the bucket answers and creates it when asked to.
    pub async fn connect(settings: &S3Settings) -> Result<Self, StorageError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(settings.region.clone()));
        if let (Some(access_key_id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            let credentials = Credentials::new(access_key_id, secret.expose_secret(), None, None, "lectern-settings");
            loader = loader.credentials_provider(credentials);
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            // Checksums only where S3 requires them: S3-compatible servers differ in their
            // support for the newer flexible checksums, and presigned PUTs would otherwise
            // carry a checksum of an empty body that the uploader's real body cannot match.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        let store = Self {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
            part_size: settings.multipart_part_size.max(MIN_PART_SIZE),
        };
        if settings.create_bucket && store.client.head_bucket().bucket(&store.bucket).send().await.is_err() {
            store.create_bucket(&settings.region).await?;
        }
        store.check().await?;
        Ok(store)
    }

    /// The underlying client, for operations this trait does not cover (tests, admin tools).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn create_bucket(&self, region: &str) -> Result<(), StorageError> {
        let mut request = self.client.create_bucket().bucket(&self.bucket);
        // us-east-1 is the one region that refuses an explicit location constraint.
        if region != "us-east-1" {
            let configuration = CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build();
            request = request.create_bucket_configuration(configuration);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            // Another instance (or test) created it in the meantime.
            Err(error) if matches!(error.code(), Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")) => Ok(()),
            Err(error) => Err(backend_error("create_bucket", error)),
        }
    }

    async fn put_single(&self, key: &ObjectKey, body: Bytes, options: &PutOptions) -> Result<ObjectMeta, StorageError> {
        let size = body.len() as u64;
        let content_type = content_type_of(key, options);
        let output = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(&content_type)
            .set_cache_control(options.cache_control.clone())
            .body(S3ByteStream::from(body))
            .send()
            .await
            .map_err(|error| backend_error("put", error))?;
        Ok(ObjectMeta {
            key: key.clone(),
            size,
            etag: output.e_tag().unwrap_or_default().to_owned(),
            last_modified: None,
            content_type: Some(content_type),
        })
    }

    fn presigning(expires_in: Duration) -> Result<PresigningConfig, StorageError> {
        PresigningConfig::expires_in(expires_in).map_err(|error| StorageError::backend("presign", error))
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn backend(&self) -> &'static str {
        "s3"
    }

    async fn check(&self) -> Result<(), StorageError> {
        self.client.head_bucket().bucket(&self.bucket).send().await.map_err(|error| backend_error("check", error))?;
        Ok(())
    }

    async fn put(
        &self,
        key: &ObjectKey,
        mut body: BodyStream,
        options: PutOptions,
    ) -> Result<ObjectMeta, StorageError> {
        let mut buffer = BytesMut::new();
        while buffer.len() < self.part_size {
            match body.next().await {
                Some(chunk) => buffer.extend_from_slice(&chunk.map_err(|error| StorageError::io("put", error))?),
                None => return self.put_single(key, buffer.freeze(), &options).await,
            }
        }
        let upload = self.create_multipart(key, options).await?;
        let result = self.put_parts(key, &upload, buffer, body).await;
        if result.is_err()
            && let Err(error) = self.abort_multipart(key, &upload).await
        {
            // The put already failed; a leftover upload only costs storage until the bucket's
            // lifecycle rule for incomplete uploads removes it.
            tracing::warn!(key = %key, error = %error_chain(&error), "could not abort a failed multipart put");
        }
        result
    }

    async fn get(&self, key: &ObjectKey, range: Option<ByteRange>) -> Result<ObjectBody, StorageError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_range(range.map(ByteRange::to_header))
            .send()
            .await
            .map_err(|error| read_error("get", error))?;
        let content_range = output.content_range().and_then(parse_content_range);
        let length = output.content_length().and_then(|length| u64::try_from(length).ok()).unwrap_or(0);
        let meta = ObjectMeta {
            key: key.clone(),
            size: content_range.and_then(|(_, _, total)| total).unwrap_or(length),
            etag: output.e_tag().unwrap_or_default().to_owned(),
            last_modified: output.last_modified().and_then(to_offset_date_time),
            content_type: output.content_type().map(str::to_owned),
        };
        let range = match (range, content_range) {
            (Some(_), Some((first, last, _))) => Some((first, last)),
            // A server that ignored the range sent everything: say so rather than pretend.
            _ => None,
        };
        let stream: ByteStream = Box::pin(futures::stream::unfold(output.body, |mut body| async move {
            let chunk = body.next().await?;
            Some((chunk.map_err(|error| StorageError::backend("get", error)), body))
        }));
        Ok(ObjectBody { meta, range, stream })
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        match self.client.head_object().bucket(&self.bucket).key(key.as_str()).send().await {
            Ok(output) => Ok(Some(ObjectMeta {
                key: key.clone(),
                size: output.content_length().and_then(|length| u64::try_from(length).ok()).unwrap_or(0),
                etag: output.e_tag().unwrap_or_default().to_owned(),
                last_modified: output.last_modified().and_then(to_offset_date_time),
                content_type: output.content_type().map(str::to_owned),
            })),
            Err(error) => match read_error("head", error) {
                StorageError::NotFound => Ok(None),
                error => Err(error),
            },
        }
    }

    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StorageError> {
        let mut objects = Vec::new();
        let mut pages =
            self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix.as_str()).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| backend_error("list", error))?;
            for object in page.contents() {
                // Objects put by other tools may have keys Lectern would refuse; they are not ours.
                let Some(key) = object.key().and_then(|key| ObjectKey::parse(key).ok()) else {
                    continue;
                };
                objects.push(ObjectMeta {
                    key,
                    size: object.size().and_then(|size| u64::try_from(size).ok()).unwrap_or(0),
                    etag: object.e_tag().unwrap_or_default().to_owned(),
                    last_modified: object.last_modified().and_then(to_offset_date_time),
                    content_type: None,
                });
            }
        }
        // S3 lists in UTF-8 byte order already; sorting keeps the contract for servers that don't.
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        match self.client.delete_object().bucket(&self.bucket).key(key.as_str()).send().await {
            Ok(_) => Ok(()),
            Err(error) => match read_error("delete", error) {
                StorageError::NotFound => Ok(()),
                error => Err(error),
            },
        }
    }

    async fn delete_prefix(&self, prefix: &KeyPrefix) -> Result<u64, StorageError> {
        let keys: Vec<ObjectKey> = self.list(prefix).await?.into_iter().map(|meta| meta.key).collect();
        for batch in keys.chunks(DELETE_BATCH) {
            if let Err(error) = self.delete_batch(batch).await {
                // Some S3-compatible servers do not implement DeleteObjects; one by one still works.
                tracing::warn!(error = %error_chain(&error), "DeleteObjects failed; deleting one object at a time");
                for key in batch {
                    self.delete(key).await?;
                }
            }
        }
        Ok(keys.len() as u64)
    }

    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to.as_str())
            .copy_source(format!("{}/{}", self.bucket, encode_copy_source(from.as_str())))
            .send()
            .await
            .map_err(|error| read_error("copy", error))?;
        self.head(to).await?.ok_or_else(|| StorageError::backend("copy", "the copied object is not visible"))
    }

    async fn presign_get(&self, key: &ObjectKey, expires_in: Duration) -> Result<String, StorageError> {
        let request = self.client.get_object().bucket(&self.bucket).key(key.as_str());
        let presigned =
            request.presigned(Self::presigning(expires_in)?).await.map_err(|error| backend_error("presign", error))?;
        Ok(presigned.uri().to_owned())
    }

    async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let request = self.client.put_object().bucket(&self.bucket).key(key.as_str()).content_type(content_type);
        let presigned =
            request.presigned(Self::presigning(expires_in)?).await.map_err(|error| backend_error("presign", error))?;
        Ok(presigned.uri().to_owned())
    }

    async fn create_multipart(&self, key: &ObjectKey, options: PutOptions) -> Result<MultipartId, StorageError> {
        self.start_upload(key, options).await
    }

    async fn upload_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        body: Bytes,
    ) -> Result<PartInfo, StorageError> {
        self.send_part(key, upload, part_number, body).await
    }

    async fn presign_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        _max_size: u64,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        self.presign_upload_part(key, upload, part_number, expires_in).await
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
        self.finish_upload(key, upload, parts).await
    }

    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<(), StorageError> {
        self.cancel_upload(key, upload).await
    }
}

impl S3Store {
    async fn delete_batch(&self, keys: &[ObjectKey]) -> Result<(), StorageError> {
        let objects = keys
            .iter()
            .map(|key| ObjectIdentifier::builder().key(key.as_str()).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| StorageError::backend("delete_prefix", error))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|error| StorageError::backend("delete_prefix", error))?;
        let output = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|error| backend_error("delete_prefix", error))?;
        match output.errors().first() {
            None => Ok(()),
            Some(failure) => Err(StorageError::backend(
                "delete_prefix",
                format!("{}: {}", failure.key().unwrap_or_default(), failure.message().unwrap_or_default()),
            )),
        }
    }
}

fn content_type_of(key: &ObjectKey, options: &PutOptions) -> String {
    options.content_type.clone().unwrap_or_else(|| content_type_for(key).to_owned())
}

fn part_number_i32(part_number: u32) -> Result<i32, StorageError> {
    i32::try_from(part_number)
        .map_err(|_| StorageError::InvalidMultipart(format!("part number {part_number} is too large")))
}

fn to_offset_date_time(time: &aws_sdk_s3::primitives::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(time.as_nanos()).ok()
}

/// The copy source is `bucket/key` with the key percent-encoded (keeping `/`), as S3 expects.
fn encode_copy_source(key: &str) -> String {
    let mut encoded = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
