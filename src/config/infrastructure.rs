//! Infrastructure arguments: the HTTP listener, PostgreSQL, object storage, signing-key files,
//! the transcoding backend and the job workers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use secrecy::SecretString;
use url::Url;

use super::{CommonArgs, ConfigError, parse_base_url, parse_bytes, parse_duration, secret_value};
use crate::db::{DEFAULT_DATABASE_URL, DatabaseSettings};
use crate::http::HttpSettings;
use crate::keys::{KeyPath, KeyPaths};
use crate::storage::{LocalSettings, S3Settings, StorageSettings};
use crate::transcode::{MediaConvertSettings, TranscoderSettings};

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Address the HTTP API binds to.
    #[arg(long, env = "LECTERN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The URL clients reach this service at (used in links and presigned URLs).
    /// Defaults to `http://` followed by the listen address.
    #[arg(long, env = "LECTERN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Origins allowed to call the API from browsers, comma-separated; `*` allows any.
    /// Empty (the default) sends no CORS headers.
    #[arg(long, env = "LECTERN_CORS_ORIGINS", value_delimiter = ',', default_value = "")]
    pub cors_origins: Vec<String>,
    /// Longest time a request may take before it is answered with 408.
    #[arg(long, env = "LECTERN_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Largest JSON request body accepted (uploads have their own limit).
    #[arg(long, env = "LECTERN_MAX_JSON_BODY", default_value = "1MiB", value_parser = parse_bytes)]
    pub max_json_body: u64,
}

impl HttpArgs {
    pub fn resolve(&self) -> Result<HttpSettings, ConfigError> {
        let public_url = match &self.public_url {
            Some(raw) => parse_base_url("LECTERN_PUBLIC_URL", raw)?,
            None => {
                // 0.0.0.0 is where we listen, not where anyone can reach us; say localhost.
                let host = if self.listen.ip().is_unspecified() {
                    "127.0.0.1".to_owned()
                } else {
                    self.listen.ip().to_string()
                };
                let host = if self.listen.is_ipv6() && host != "127.0.0.1" { format!("[{host}]") } else { host };
                parse_base_url("LECTERN_LISTEN", &format!("http://{host}:{}", self.listen.port()))?
            }
        };
        let cors_origins: Vec<String> =
            self.cors_origins.iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
        for origin in &cors_origins {
            if origin != "*" {
                let parsed = Url::parse(origin).map_err(|e| {
                    ConfigError::new("LECTERN_CORS_ORIGINS", format!("{origin:?} is not an origin URL ({e})"))
                })?;
                if parsed.path() != "/" || parsed.query().is_some() {
                    return Err(ConfigError::new(
                        "LECTERN_CORS_ORIGINS",
                        format!("{origin:?} must be scheme://host[:port] with no path"),
                    ));
                }
            }
        }
        let max_json_body = usize::try_from(self.max_json_body)
            .map_err(|_| ConfigError::new("LECTERN_MAX_JSON_BODY", "too large for this machine"))?;
        Ok(HttpSettings {
            listen: self.listen,
            public_url,
            cors_origins,
            request_timeout: self.request_timeout,
            max_json_body,
        })
    }
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL (or a file holding it in `DATABASE_URL_FILE`).
    /// Default: `postgres://postgres@127.0.0.1:5432/lectern`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Most connections the pool opens.
    #[arg(long, env = "LECTERN_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// How long to keep retrying an unreachable database at start-up before giving up.
    #[arg(long, env = "LECTERN_DB_CONNECT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub db_connect_timeout: Duration,
    /// Create the database when it does not exist yet.
    #[arg(long, env = "LECTERN_DB_CREATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub db_create: bool,
}

impl DatabaseArgs {
    pub fn resolve(&self) -> Result<DatabaseSettings, ConfigError> {
        let url = match secret_value("DATABASE_URL", self.database_url.as_deref())? {
            Some(url) => url,
            None => DEFAULT_DATABASE_URL.to_owned(),
        };
        let parsed =
            Url::parse(&url).map_err(|e| ConfigError::new("DATABASE_URL", format!("not a valid URL ({e})")))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(ConfigError::new("DATABASE_URL", "must start with postgres:// or postgresql://"));
        }
        if self.db_max_connections == 0 {
            return Err(ConfigError::new("LECTERN_DB_MAX_CONNECTIONS", "must be at least 1"));
        }
        Ok(DatabaseSettings {
            url: SecretString::from(url),
            max_connections: self.db_max_connections,
            connect_timeout: self.db_connect_timeout,
            create_if_missing: self.db_create,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageKind {
    Local,
    S3,
}

#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Object storage backend: `local` (a directory) or `s3` (AWS S3 or any S3-compatible store).
    #[arg(long, env = "LECTERN_STORAGE", value_enum, default_value_t = StorageKind::Local)]
    pub storage: StorageKind,
    /// Directory of the local backend. Default: `<LECTERN_DATA_DIR>/objects`.
    #[arg(long, env = "LECTERN_STORAGE_DIR")]
    pub storage_dir: Option<PathBuf>,
    /// S3 bucket (required with `LECTERN_STORAGE=s3`).
    #[arg(long, env = "LECTERN_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// Endpoint of an S3-compatible store, e.g. `http://127.0.0.1:8333`; unset for AWS.
    #[arg(long, env = "LECTERN_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "LECTERN_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Path-style addressing; defaults to on when an endpoint is set, off for AWS.
    #[arg(long, env = "LECTERN_S3_FORCE_PATH_STYLE", action = clap::ArgAction::Set)]
    pub s3_force_path_style: Option<bool>,
    /// Create the bucket at start-up when missing.
    #[arg(long, env = "LECTERN_S3_CREATE_BUCKET", default_value_t = false, action = clap::ArgAction::Set)]
    pub s3_create_bucket: bool,
    /// Part size of the multipart uploads Lectern makes to S3 (packages, imports): 5MiB to
    /// 5GiB; smaller objects go in one request. A put buffers one part in memory; past 2,000
    /// parts the parts double every 2,000, so S3's 10,000 hold 31 × 2,000 of this size.
    #[arg(long, env = "LECTERN_S3_PART_SIZE", default_value = "8MiB", value_parser = parse_bytes)]
    pub s3_part_size: u64,
    /// Access key for S3; unset uses the AWS default credential chain.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub aws_access_key_id: Option<String>,
    /// Secret key for S3 (or a file holding it in `AWS_SECRET_ACCESS_KEY_FILE`).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub aws_secret_access_key: Option<String>,
    /// Redis URL, for state shared between API replicas (rate limits). Optional.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
}

impl StorageArgs {
    pub fn resolve(
        &self,
        common: &CommonArgs,
        public_url: &Url,
        presign_secret: SecretString,
    ) -> Result<StorageSettings, ConfigError> {
        match self.storage {
            StorageKind::Local => Ok(StorageSettings::Local(LocalSettings {
                root: self.storage_dir.clone().unwrap_or_else(|| common.data_dir.join("objects")),
                public_url: public_url.clone(),
                presign_secret,
            })),
            StorageKind::S3 => {
                let bucket = self
                    .s3_bucket
                    .clone()
                    .filter(|b| !b.trim().is_empty())
                    .ok_or_else(|| ConfigError::new("LECTERN_S3_BUCKET", "must be set when LECTERN_STORAGE=s3"))?;
                let endpoint =
                    self.s3_endpoint.as_deref().map(|e| parse_base_url("LECTERN_S3_ENDPOINT", e)).transpose()?;
                let secret = secret_value("AWS_SECRET_ACCESS_KEY", self.aws_secret_access_key.as_deref())?;
                if self.aws_access_key_id.is_some() != secret.is_some() {
                    return Err(ConfigError::new(
                        "AWS_SECRET_ACCESS_KEY",
                        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together",
                    ));
                }
                if !(crate::storage::MIN_PART_SIZE..=crate::storage::MAX_PART_SIZE).contains(&self.s3_part_size) {
                    return Err(ConfigError::new("LECTERN_S3_PART_SIZE", "must be between 5MiB and 5GiB (S3 rules)"));
                }
                let multipart_part_size = usize::try_from(self.s3_part_size)
                    .map_err(|_| ConfigError::new("LECTERN_S3_PART_SIZE", "too large for this machine"))?;
                Ok(StorageSettings::S3(S3Settings {
                    bucket,
                    force_path_style: self.s3_force_path_style.unwrap_or(endpoint.is_some()),
                    endpoint,
                    region: self.s3_region.clone(),
                    access_key_id: self.aws_access_key_id.clone(),
                    secret_access_key: secret.map(SecretString::from),
                    create_bucket: self.s3_create_bucket,
                    multipart_part_size,
                }))
            }
        }
    }
}

/// Where signing keys live. Keys at the default paths are generated on first start; a path set
/// explicitly must exist and parse.
#[derive(Debug, Args)]
pub struct KeyFileArgs {
    /// RSA-2048 private key (PEM, PKCS#1 or PKCS#8) that signs CloudFront-style playback URLs.
    /// Default: `<LECTERN_DATA_DIR>/keys/cdn-signing-key.pem`, generated when missing.
    #[arg(long, env = "LECTERN_CDN_KEY_FILE")]
    pub cdn_key_file: Option<PathBuf>,
    /// Key-pair id published with the CDN key (CloudFront assigns one when you upload the public
    /// key). Default: derived from the public key.
    #[arg(long, env = "LECTERN_CDN_KEY_PAIR_ID")]
    pub cdn_key_pair_id: Option<String>,
    /// Ed25519 private key (PEM, PKCS#8) that signs access tokens.
    /// Default: `<LECTERN_DATA_DIR>/keys/token-signing-key.pem`, generated when missing.
    #[arg(long, env = "LECTERN_TOKEN_KEY_FILE")]
    pub token_key_file: Option<PathBuf>,
    /// Earlier token keys (PEM: Ed25519 public keys, or PKCS#8 private keys of which only the
    /// public half is used), comma-separated. They verify tokens signed before a key rotation and
    /// are published in the JWKS; they never sign.
    #[arg(long, env = "LECTERN_TOKEN_PREVIOUS_KEY_FILES", value_delimiter = ',')]
    pub token_previous_key_files: Vec<PathBuf>,
    /// Secret (file) for HMAC-signed URLs of the local storage backend.
    /// Default: `<LECTERN_DATA_DIR>/keys/storage-url-secret`, generated when missing.
    #[arg(long, env = "LECTERN_STORAGE_SECRET_FILE")]
    pub storage_secret_file: Option<PathBuf>,
    /// Ed25519 private key (PEM, PKCS#8) that signs course-completion certificates; it must not
    /// be the token key. Default: `<LECTERN_DATA_DIR>/keys/certificate-signing-key.pem`, generated
    /// when missing.
    #[arg(long, env = "LECTERN_CERTIFICATE_KEY_FILE")]
    pub certificate_key_file: Option<PathBuf>,
    /// Earlier certificate keys (PEM: Ed25519 public keys, or PKCS#8 private keys of which only the
    /// public half is used), comma-separated. Certificates signed before a key rotation keep
    /// verifying with them, and they are published with the current key; they never sign.
    #[arg(long, env = "LECTERN_CERTIFICATE_PREVIOUS_KEY_FILES", value_delimiter = ',')]
    pub certificate_previous_key_files: Vec<PathBuf>,
    /// RSA-2048 private key (PEM, PKCS#1 or PKCS#8) of the LTI 1.3 tool: signs deep-linking
    /// responses and grade-service assertions, published at `/lti/jwks`; it must not be the CDN
    /// key. Default: `<LECTERN_DATA_DIR>/keys/lti-tool-key.pem`, generated when missing.
    #[arg(long, env = "LECTERN_LTI_KEY_FILE")]
    pub lti_key_file: Option<PathBuf>,
    /// 256-bit key (64 hexadecimal digits) that encrypts webhook signing secrets in the database
    /// (AES-256-GCM). Default: `<LECTERN_DATA_DIR>/keys/webhook-secret-key`, generated when
    /// missing.
    #[arg(long, env = "LECTERN_WEBHOOK_KEY_FILE")]
    pub webhook_key_file: Option<PathBuf>,
    /// Earlier webhook keys, comma-separated: secrets they encrypted still decrypt, and are
    /// encrypted again with the current key at start-up; they never encrypt.
    #[arg(long, env = "LECTERN_WEBHOOK_PREVIOUS_KEY_FILES", value_delimiter = ',')]
    pub webhook_previous_key_files: Vec<PathBuf>,
}

impl KeyFileArgs {
    pub fn resolve(&self, common: &CommonArgs) -> KeyPaths {
        let keys_dir = common.data_dir.join("keys");
        let key_path = |explicit: &Option<PathBuf>, default_name: &str, setting| match explicit {
            Some(path) => KeyPath { path: path.clone(), setting, generate_if_missing: false },
            None => KeyPath { path: keys_dir.join(default_name), setting, generate_if_missing: true },
        };
        KeyPaths {
            cdn_key: key_path(&self.cdn_key_file, "cdn-signing-key.pem", "LECTERN_CDN_KEY_FILE"),
            cdn_key_pair_id: self.cdn_key_pair_id.clone().filter(|id| !id.trim().is_empty()),
            token_key: key_path(&self.token_key_file, "token-signing-key.pem", "LECTERN_TOKEN_KEY_FILE"),
            token_previous_keys: self
                .token_previous_key_files
                .iter()
                .filter(|path| !path.as_os_str().is_empty())
                .cloned()
                .collect(),
            storage_secret: key_path(&self.storage_secret_file, "storage-url-secret", "LECTERN_STORAGE_SECRET_FILE"),
            certificate_key: key_path(
                &self.certificate_key_file,
                "certificate-signing-key.pem",
                "LECTERN_CERTIFICATE_KEY_FILE",
            ),
            certificate_previous_keys: self
                .certificate_previous_key_files
                .iter()
                .filter(|path| !path.as_os_str().is_empty())
                .cloned()
                .collect(),
            lti_key: key_path(&self.lti_key_file, "lti-tool-key.pem", "LECTERN_LTI_KEY_FILE"),
            webhook_key: key_path(&self.webhook_key_file, "webhook-secret-key", "LECTERN_WEBHOOK_KEY_FILE"),
            webhook_previous_keys: self
                .webhook_previous_key_files
                .iter()
                .filter(|path| !path.as_os_str().is_empty())
                .cloned()
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TranscoderKind {
    /// The built-in engine (ffmpeg in a sandboxed child process).
    Local,
    /// AWS Elemental MediaConvert, reading from and writing to the S3 bucket.
    #[value(name = "mediaconvert")]
    MediaConvert,
}

#[derive(Debug, Args)]
pub struct TranscoderArgs {
    /// Where transcoding runs: `local` (the built-in engine) or `mediaconvert` (AWS Elemental
    /// MediaConvert; needs `LECTERN_STORAGE=s3`).
    #[arg(long, env = "LECTERN_TRANSCODER", value_enum, default_value_t = TranscoderKind::Local)]
    pub transcoder: TranscoderKind,
    /// MediaConvert endpoint. Default: the regional endpoint AWS resolves for the region.
    #[arg(long, env = "LECTERN_MEDIACONVERT_ENDPOINT")]
    pub mediaconvert_endpoint: Option<String>,
    /// MediaConvert region. Default: the S3 region (`LECTERN_S3_REGION`).
    #[arg(long, env = "LECTERN_MEDIACONVERT_REGION")]
    pub mediaconvert_region: Option<String>,
    /// ARN of the IAM role MediaConvert assumes to read sources and write packages in the
    /// bucket (required with `LECTERN_TRANSCODER=mediaconvert`).
    #[arg(long, env = "LECTERN_MEDIACONVERT_ROLE_ARN")]
    pub mediaconvert_role_arn: Option<String>,
    /// Queue (ARN or name) jobs are submitted to. Default: the account's `Default` queue.
    #[arg(long, env = "LECTERN_MEDIACONVERT_QUEUE")]
    pub mediaconvert_queue: Option<String>,
    /// How often a running MediaConvert job is polled for progress.
    #[arg(long, env = "LECTERN_MEDIACONVERT_POLL_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub mediaconvert_poll_interval: Duration,
}

impl TranscoderArgs {
    /// MediaConvert shares the storage settings' bucket, region and credentials: it can only
    /// read what is in S3, and one set of AWS keys serves both clients.
    pub fn resolve(&self, storage: &StorageArgs) -> Result<TranscoderSettings, ConfigError> {
        if self.transcoder == TranscoderKind::Local {
            return Ok(TranscoderSettings::Local);
        }
        if storage.storage != StorageKind::S3 {
            return Err(ConfigError::new(
                "LECTERN_TRANSCODER",
                "mediaconvert reads sources from S3 and writes packages there; it needs LECTERN_STORAGE=s3",
            ));
        }
        let bucket = storage
            .s3_bucket
            .clone()
            .filter(|bucket| !bucket.trim().is_empty())
            .ok_or_else(|| ConfigError::new("LECTERN_S3_BUCKET", "must be set when LECTERN_STORAGE=s3"))?;
        let role_arn =
            self.mediaconvert_role_arn.as_deref().map(str::trim).filter(|arn| !arn.is_empty()).ok_or_else(|| {
                ConfigError::new("LECTERN_MEDIACONVERT_ROLE_ARN", "must be set when LECTERN_TRANSCODER=mediaconvert")
            })?;
        if !role_arn.starts_with("arn:") || !role_arn.contains(":role/") {
            return Err(ConfigError::new(
                "LECTERN_MEDIACONVERT_ROLE_ARN",
                format!("{role_arn:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
            ));
        }
        if self.mediaconvert_poll_interval < Duration::from_secs(1) {
            return Err(ConfigError::new("LECTERN_MEDIACONVERT_POLL_INTERVAL", "must be at least 1s"));
        }
        let endpoint = self
            .mediaconvert_endpoint
            .as_deref()
            .map(|raw| parse_base_url("LECTERN_MEDIACONVERT_ENDPOINT", raw))
            .transpose()?;
        let secret = secret_value("AWS_SECRET_ACCESS_KEY", storage.aws_secret_access_key.as_deref())?;
        if storage.aws_access_key_id.is_some() != secret.is_some() {
            return Err(ConfigError::new(
                "AWS_SECRET_ACCESS_KEY",
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together",
            ));
        }
        Ok(TranscoderSettings::MediaConvert(Box::new(MediaConvertSettings {
            endpoint,
            region: self.mediaconvert_region.clone().unwrap_or_else(|| storage.s3_region.clone()),
            role_arn: role_arn.to_owned(),
            queue_arn: self.mediaconvert_queue.clone().filter(|queue| !queue.trim().is_empty()),
            poll_interval: self.mediaconvert_poll_interval,
            bucket,
            access_key_id: storage.aws_access_key_id.clone(),
            secret_access_key: secret.map(SecretString::from),
        })))
    }
}

/// More quick workers than this would only hold database connections: quick jobs take seconds.
const MAX_QUICK_WORKERS: usize = 32;

/// How workers hold, find and retry jobs. Shared by `serve` (embedded workers) and `worker`.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// How long a claimed job stays with its worker without a heartbeat (renewed every third of
    /// this). A worker that dies loses its jobs to the others after at most this long.
    #[arg(long, env = "LECTERN_JOB_LEASE", default_value = "60s", value_parser = parse_duration)]
    pub job_lease: Duration,
    /// Idle workers look for due jobs at least this often (besides being woken by new jobs).
    #[arg(long, env = "LECTERN_JOB_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub job_poll_interval: Duration,
    /// Delay before the first retry of a failed attempt; it doubles with every attempt (±20 %).
    #[arg(long, env = "LECTERN_JOB_RETRY_DELAY", default_value = "5s", value_parser = parse_duration)]
    pub job_retry_delay: Duration,
    /// Longest delay between two attempts.
    #[arg(long, env = "LECTERN_JOB_RETRY_MAX_DELAY", default_value = "1h", value_parser = parse_duration)]
    pub job_retry_max_delay: Duration,
    // --- SQS wake-up channel (issue 19) ---
    /// URL of an SQS queue that carries wake-ups for workers (message body: a job id). Optional:
    /// PostgreSQL stays the queue; SQS shortens idle workers' wait and gives CloudWatch a backlog
    /// metric to scale workers on. Credentials come from the AWS default chain.
    #[arg(long, env = "LECTERN_SQS_QUEUE_URL")]
    pub sqs_queue_url: Option<Url>,
    /// The queue's region; default: the one in an AWS queue URL (`sqs.<region>.amazonaws.com`).
    #[arg(long, env = "LECTERN_SQS_REGION")]
    pub sqs_region: Option<String>,
    /// Another SQS endpoint than AWS's (moto, LocalStack).
    #[arg(long, env = "LECTERN_SQS_ENDPOINT")]
    pub sqs_endpoint: Option<Url>,
    /// Long-poll wait of one SQS receive, 1s to 20s.
    #[arg(long, env = "LECTERN_SQS_WAIT", default_value = "20s", value_parser = parse_duration)]
    pub sqs_wait: Duration,
    // --- end SQS ---
    /// Workers beside `LECTERN_WORKERS` that run only quick jobs (probe, fast first package,
    /// webhook sends, CDN invalidations, sweeps, grade sends), never a transcode or a URL
    /// import: a new upload becomes playable in seconds even while every general worker is on a
    /// long ladder. 0 reserves nothing. Started only where workers run (not by `serve
    /// --workers 0`).
    #[arg(long, env = "LECTERN_QUICK_WORKERS", default_value_t = 1)]
    pub quick_workers: usize,
}

impl JobArgs {
    /// The worker settings for `concurrency` workers that drain for `shutdown_timeout`.
    pub fn resolve(
        &self,
        concurrency: usize,
        shutdown_timeout: Duration,
    ) -> Result<crate::jobs::WorkerSettings, ConfigError> {
        if self.job_lease < Duration::from_secs(1) {
            return Err(ConfigError::new("LECTERN_JOB_LEASE", "must be at least 1s"));
        }
        if self.job_poll_interval < Duration::from_millis(10) {
            return Err(ConfigError::new("LECTERN_JOB_POLL_INTERVAL", "must be at least 10ms"));
        }
        if self.job_retry_delay < Duration::from_millis(10) {
            return Err(ConfigError::new("LECTERN_JOB_RETRY_DELAY", "must be at least 10ms"));
        }
        if self.job_retry_max_delay < self.job_retry_delay {
            return Err(ConfigError::new(
                "LECTERN_JOB_RETRY_MAX_DELAY",
                "must not be shorter than LECTERN_JOB_RETRY_DELAY",
            ));
        }
        if self.quick_workers > MAX_QUICK_WORKERS {
            return Err(ConfigError::new("LECTERN_QUICK_WORKERS", format!("must be at most {MAX_QUICK_WORKERS}")));
        }
        Ok(crate::jobs::WorkerSettings {
            concurrency,
            quick_workers: self.quick_workers,
            lease: self.job_lease,
            poll_interval: self.job_poll_interval,
            shutdown_timeout,
            retry_delay: self.job_retry_delay,
            retry_max_delay: self.job_retry_max_delay,
            sqs: self.sqs()?,
        })
    }

    // --- SQS wake-up channel (issue 19) ---
    fn sqs(&self) -> Result<Option<crate::jobs::sqs::SqsSettings>, ConfigError> {
        let Some(queue_url) = &self.sqs_queue_url else { return Ok(None) };
        if !matches!(queue_url.scheme(), "http" | "https") || queue_url.path().trim_matches('/').is_empty() {
            return Err(ConfigError::new(
                "LECTERN_SQS_QUEUE_URL",
                "must be a queue URL like https://sqs.eu-west-1.amazonaws.com/123456789012/lectern-jobs",
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(20)).contains(&self.sqs_wait) {
            return Err(ConfigError::new("LECTERN_SQS_WAIT", "must be between 1s and 20s (SQS long polling)"));
        }
        let from_url = queue_url
            .host_str()
            .and_then(|host| host.strip_prefix("sqs."))
            .and_then(|rest| rest.strip_suffix(".amazonaws.com"))
            .map(str::to_owned);
        let region = match (&self.sqs_region, from_url) {
            (Some(region), _) if !region.trim().is_empty() => region.trim().to_owned(),
            (_, Some(region)) => region,
            _ => {
                return Err(ConfigError::new(
                    "LECTERN_SQS_REGION",
                    "is required when LECTERN_SQS_QUEUE_URL is not an AWS queue URL",
                ));
            }
        };
        Ok(Some(crate::jobs::sqs::SqsSettings {
            queue_url: queue_url.to_string(),
            region,
            endpoint: self.sqs_endpoint.clone(),
            credentials: None,
            wait: self.sqs_wait,
        }))
    }
    // --- end SQS ---
}
