//! Small helpers the conformance cases share.

use bytes::Bytes;
use futures::TryStreamExt;
use lectern::storage::{ByteRange, KeyPrefix, ObjectKey, ObjectStore, PutOptions, StorageError, put_bytes};

pub fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).expect("test keys are valid")
}

pub fn prefix(text: &str) -> KeyPrefix {
    KeyPrefix::parse(text).expect("test prefixes are valid")
}

pub async fn put(store: &dyn ObjectStore, name: &str, content: &'static [u8]) {
    put_bytes(store, &key(name), Bytes::from_static(content), PutOptions::default()).await.expect("put succeeds");
}

pub async fn read_range(
    store: &dyn ObjectStore,
    name: &str,
    range: ByteRange,
) -> Result<(Option<(u64, u64)>, Vec<u8>), StorageError> {
    let body = store.get(&key(name), Some(range)).await?;
    let chunks: Vec<Bytes> = body.stream.try_collect().await?;
    Ok((body.range, chunks.concat()))
}

/// [`generated_bytes`](crate::helpers::generated_bytes) as a chunk, so a large body can be
/// produced twice, once to upload and once to hash, without holding it in memory.
pub fn generated_chunk(index: u64, length: usize) -> Bytes {
    crate::helpers::generated_bytes(index, length).into()
}

/// Flips one hex digit of the signature in a presigned URL (`signature=` locally,
/// `X-Amz-Signature=` on S3).
pub fn tamper(url: &str) -> String {
    let at = url.find("ignature=").expect("presigned URLs carry a signature") + "ignature=".len();
    let mut tampered = url.to_owned();
    let flipped = if &url[at..=at] == "0" { "1" } else { "0" };
    tampered.replace_range(at..=at, flipped);
    tampered
}
