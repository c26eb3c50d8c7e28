//! Settings a storage backend is built from. `config.rs` fills this from flags and the
//! environment; tests build it directly.

use std::path::PathBuf;

use secrecy::SecretString;
use url::Url;

#[derive(Debug, Clone)]
pub enum StorageSettings {
    Local(LocalSettings),
    S3(S3Settings),
}

#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Every object lives below this directory (default `./data/objects`).
    pub root: PathBuf,
    /// Base URL under which Lectern serves the local backend's presigned URLs, e.g.
    /// `http://127.0.0.1:8080`; presigned URLs are `{base}/storage/…`.
    pub public_url: Url,
    /// HMAC key that signs the local backend's presigned URLs.
    pub presign_secret: SecretString,
}

#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// For S3-compatible stores (SeaweedFS, MinIO, Ceph, Yandex Object Storage); `None` for AWS.
    pub endpoint: Option<Url>,
    pub region: String,
    /// Static credentials; when absent the AWS default provider chain is used.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible stores need.
    pub force_path_style: bool,
    /// Create the bucket at start-up when it does not exist (handy for local S3 servers).
    pub create_bucket: bool,
    /// Streaming puts switch to multipart above this many bytes; also the part size (≥ 5 MiB).
    pub multipart_part_size: usize,
}
