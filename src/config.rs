//! Typed configuration from flags and environment variables.
//!
//! This is the only module that reads the process environment. Every setting is a clap argument
//! with an `env` name, so `lectern serve --help` documents each one with its variable and
//! default. Secrets may also be given as a path in `<VARIABLE>_FILE` (Docker/Kubernetes
//! secrets). The raw arguments are then resolved into settings structs that the rest of the
//! program consumes; resolution fails with a [`ConfigError`] that names the offending variable,
//! and `main` turns that into exit code 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;
use url::Url;

use crate::storage::{LocalSettings, S3Settings, StorageSettings};

#[derive(Debug, Parser)]
#[command(name = "lectern", version, about = "Media ingest and streaming delivery for course video")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and, unless `--workers 0`, background workers in the same process.
    Serve(Box<ServeArgs>),
    /// Run background workers only (to scale processing out across machines).
    Worker(Box<WorkerArgs>),
    /// Apply database migrations and exit.
    Migrate(MigrateArgs),
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Print what Lectern sees in a media file, as JSON (refusals exit with code 3).
    Probe(ProbeArgs),
    /// Turn a local media file into an HLS/DASH package in a directory (no database needed).
    Transcode(Box<TranscodeArgs>),
    /// Internal: runs one engine request in a sandboxed child process.
    #[command(name = "__engine", hide = true)]
    Engine,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The media file to inspect.
    pub file: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub limits: MediaLimitArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct TranscodeArgs {
    /// The media file to transcode.
    pub input: PathBuf,
    /// Directory to write the package into (created; must be empty if it exists).
    #[arg(long, short)]
    pub out: PathBuf,
    /// A built-in preset (`course`, `fast`) or the path of a preset TOML file.
    #[arg(long, env = "LECTERN_PRESET", default_value = "course")]
    pub preset: String,
    /// Do not draw the progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Probe and plan only: print the plan (ladder, encoder settings, images) as JSON and write
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Make only the fast first package: copy an H.264/AAC MP4's streams into the package
    /// format without encoding (what `LECTERN_FAST_START` publishes before the ladder). Fails
    /// with the reason when the source cannot be copied.
    #[arg(long, conflicts_with = "dry_run")]
    pub preview: bool,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub limits: MediaLimitArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// What Lectern accepts, checked from the probe before any heavy work.
#[derive(Debug, Args)]
pub struct MediaLimitArgs {
    /// Longest accepted media duration.
    #[arg(long, env = "LECTERN_MAX_DURATION", default_value = "6h", value_parser = parse_duration)]
    pub max_duration: Duration,
    /// Largest accepted picture, as an area: WIDTHxHEIGHT (portrait and ultra-wide pictures of
    /// the same area pass).
    #[arg(long, env = "LECTERN_MAX_RESOLUTION", default_value = "4096x2304", value_parser = parse_resolution)]
    pub max_resolution: (u32, u32),
    /// Highest accepted frame rate.
    #[arg(long, env = "LECTERN_MAX_FRAME_RATE", default_value_t = 120.0)]
    pub max_frame_rate: f64,
    /// Largest accepted file.
    #[arg(long, env = "LECTERN_MAX_FILE_SIZE", default_value = "50GiB", value_parser = parse_bytes)]
    pub max_file_size: u64,
}

/// Limits of the sandboxed engine process.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Memory (address space) the engine process may use.
    #[arg(long, env = "LECTERN_ENGINE_MEMORY_LIMIT", default_value = "8GiB", value_parser = parse_bytes)]
    pub engine_memory_limit: u64,
    /// The engine is killed after this many times the media's duration…
    #[arg(long, env = "LECTERN_ENGINE_DEADLINE_FACTOR", default_value_t = 10.0)]
    pub engine_deadline_factor: f64,
    /// …but is always allowed at least this long.
    #[arg(long, env = "LECTERN_ENGINE_MIN_DEADLINE", default_value = "5m", value_parser = parse_duration)]
    pub engine_min_deadline: Duration,
}

impl MediaLimitArgs {
    pub fn resolve(&self) -> Result<pipelines::limits::Limits, ConfigError> {
        if !(self.max_frame_rate.is_finite() && self.max_frame_rate > 0.0) {
            return Err(ConfigError::new("LECTERN_MAX_FRAME_RATE", "must be a positive number"));
        }
        if self.max_duration.is_zero() {
            return Err(ConfigError::new("LECTERN_MAX_DURATION", "must be longer than zero"));
        }
        Ok(pipelines::limits::Limits {
            max_duration_seconds: self.max_duration.as_secs_f64(),
            max_pixels: u64::from(self.max_resolution.0) * u64::from(self.max_resolution.1),
            max_frame_rate: self.max_frame_rate,
            max_file_bytes: self.max_file_size,
        })
    }
}

impl EngineArgs {
    pub fn resolve(&self) -> Result<crate::engine::EngineLimits, ConfigError> {
        if !(self.engine_deadline_factor.is_finite() && self.engine_deadline_factor > 0.0) {
            return Err(ConfigError::new("LECTERN_ENGINE_DEADLINE_FACTOR", "must be a positive number"));
        }
        if self.engine_memory_limit < 256 * 1024 * 1024 {
            return Err(ConfigError::new("LECTERN_ENGINE_MEMORY_LIMIT", "must be at least 256MiB"));
        }
        Ok(crate::engine::EngineLimits {
            memory_bytes: self.engine_memory_limit,
            deadline_factor: self.engine_deadline_factor,
            min_deadline: self.engine_min_deadline,
            ..crate::engine::EngineLimits::default()
        })
    }
}

/// `WIDTHxHEIGHT`, e.g. `4096x2304`.
pub fn parse_resolution(raw: &str) -> Result<(u32, u32), String> {
    let (width, height) = raw
        .trim()
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("{raw:?} is not a resolution like 4096x2304"))?;
    let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|n| *n > 0);
    match (parse(width), parse(height)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!("{raw:?} is not a resolution like 4096x2304")),
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate any missing signing keys under the data directory (existing keys are kept).
    Generate(KeysArgs),
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an administrator account, or grant `admin` to an existing account. The password is
    /// read from standard input (one line), so it never appears in the process list or history.
    CreateAdmin(Box<CreateAdminArgs>),
}

#[derive(Debug, Args)]
pub struct CreateAdminArgs {
    /// The administrator's email address.
    #[arg(long)]
    pub email: String,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub passwords: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub keys: KeyFileArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub cdn: CdnArgs,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub transcoder: TranscoderArgs,
    #[command(flatten)]
    pub uploads: UploadArgs,
    #[command(flatten)]
    pub jobs: JobArgs,
    /// Background workers to run inside the API process; 0 runs the API alone.
    #[arg(long, env = "LECTERN_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Apply pending database migrations before serving.
    #[arg(long, env = "LECTERN_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub keys: KeyFileArgs,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub transcoder: TranscoderArgs,
    #[command(flatten)]
    pub distribution: DistributionArgs,
    #[command(flatten)]
    pub jobs: JobArgs,
    /// Jobs to run at once in this process.
    #[arg(long, env = "LECTERN_WORKERS", default_value_t = 1)]
    pub workers: usize,
}

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
}

impl JobArgs {
    /// The worker settings for `concurrency` workers that drain for `shutdown_timeout`.
    pub fn resolve(&self, concurrency: usize, shutdown_timeout: Duration) -> Result<crate::jobs::WorkerSettings, ConfigError> {
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
            return Err(ConfigError::new("LECTERN_JOB_RETRY_MAX_DELAY", "must not be shorter than LECTERN_JOB_RETRY_DELAY"));
        }
        Ok(crate::jobs::WorkerSettings {
            concurrency,
            lease: self.job_lease,
            poll_interval: self.job_poll_interval,
            shutdown_timeout,
            retry_delay: self.job_retry_delay,
            retry_max_delay: self.job_retry_max_delay,
        })
    }
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub keys: KeyFileArgs,
}

/// Settings every subcommand shares.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Directory for embedded-mode state: local objects, generated keys.
    #[arg(long, env = "LECTERN_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Log format: `pretty` for people, `json` for log collectors.
    #[arg(long, env = "LECTERN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax, e.g. `info,lectern=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info,lectern=info,tower_http=info,sqlx=warn")]
    pub log_filter: String,
    /// How long to let running requests and jobs finish after SIGTERM/SIGINT.
    #[arg(long, env = "LECTERN_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

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
    /// Part size of multipart uploads to S3 (at least 5MiB); smaller objects go in one request.
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
}

/// Delivery: where signed URLs point, how they are signed, which keys the signed origin trusts,
/// and the CloudFront distribution to invalidate.
#[derive(Debug, Args)]
pub struct CdnArgs {
    #[command(flatten)]
    pub distribution: DistributionArgs,
    /// Hash under the RSA signature: `sha1` (CloudFront's default) or `sha256` (URLs then carry
    /// `Hash-Algorithm=SHA256`).
    #[arg(long, env = "LECTERN_CDN_HASH_ALGORITHM", value_enum, default_value_t = crate::cdn::HashAlgorithm::Sha1)]
    pub cdn_hash_algorithm: crate::cdn::HashAlgorithm,
    /// How long playback signatures stay valid.
    #[arg(long, env = "LECTERN_CDN_SIGNATURE_TTL", default_value = "6h", value_parser = parse_duration)]
    pub cdn_signature_ttl: Duration,
    /// Extra public keys the signed origin trusts while keys are rotated: a file of
    /// `KEY_PAIR_ID=PATH` lines, each PATH a PEM public key (relative to the file). The own key
    /// is always trusted.
    #[arg(long, env = "LECTERN_CDN_TRUSTED_KEYS_FILE")]
    pub cdn_trusted_keys_file: Option<PathBuf>,
    /// How long browsers and caches keep manifests from the signed origin (segments, init
    /// segments and images are immutable and kept for a year).
    #[arg(long, env = "LECTERN_CDN_MANIFEST_MAX_AGE", default_value = "10s", value_parser = parse_duration)]
    pub cdn_manifest_max_age: Duration,
    /// How long a playback session (and the CDN policy of its manifests) stays valid.
    #[arg(long, env = "LECTERN_PLAYBACK_SESSION_TTL", default_value = "6h", value_parser = parse_duration)]
    pub playback_session_ttl: Duration,
}

/// Where viewers fetch objects, and the CloudFront distribution to invalidate. Workers read
/// these too: they publish new versions and run the `cdn.invalidate` jobs.
#[derive(Debug, Args)]
pub struct DistributionArgs {
    /// Base URL of signed playback URLs: a CloudFront distribution (`https://d111.cloudfront.net`)
    /// or another CDN in front of the object store. Default: this service's own signed origin,
    /// `<LECTERN_PUBLIC_URL>/cdn`. Its path, if any, prefixes every invalidated path.
    #[arg(long, env = "LECTERN_CDN_BASE_URL")]
    pub cdn_base_url: Option<String>,
    /// CloudFront distribution whose cache is invalidated when an asset is deleted or a version
    /// superseded. Unset: no invalidations.
    #[arg(long, env = "LECTERN_CLOUDFRONT_DISTRIBUTION_ID")]
    pub cloudfront_distribution_id: Option<String>,
    /// Another endpoint for the CloudFront API (a proxy or a test stand-in); unset for AWS.
    #[arg(long, env = "LECTERN_CLOUDFRONT_ENDPOINT")]
    pub cloudfront_endpoint: Option<String>,
}

impl DistributionArgs {
    /// `LECTERN_CDN_BASE_URL` without its trailing slash, when set.
    fn base_url(&self) -> Result<Option<String>, ConfigError> {
        self.cdn_base_url
            .as_deref()
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| Ok(parse_base_url("LECTERN_CDN_BASE_URL", raw)?.as_str().trim_end_matches('/').to_owned()))
            .transpose()
    }

    /// The distribution to invalidate, when one is configured; `aws_keys` as in
    /// [`CdnArgs::resolve`].
    fn cloudfront(&self, aws_keys: Option<(String, SecretString)>) -> Result<Option<crate::cdn::CloudFrontSettings>, ConfigError> {
        let Some(distribution_id) = self.cloudfront_distribution_id.as_deref().map(str::trim).filter(|id| !id.is_empty())
        else {
            return Ok(None);
        };
        let endpoint = self
            .cloudfront_endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(|e| parse_base_url("LECTERN_CLOUDFRONT_ENDPOINT", e))
            .transpose()?;
        Ok(Some(crate::cdn::CloudFrontSettings {
            endpoint,
            credentials: aws_keys,
            ..crate::cdn::CloudFrontSettings::new(distribution_id)
        }))
    }

    /// What a worker process needs: the distribution and the base URL its paths hang under.
    /// A worker has no public URL to default the base URL from, so with a distribution it
    /// needs `LECTERN_CDN_BASE_URL` set.
    pub fn resolve_for_worker(
        &self,
        aws_keys: Option<(String, SecretString)>,
    ) -> Result<Option<(crate::cdn::CloudFrontSettings, String)>, ConfigError> {
        let Some(cloudfront) = self.cloudfront(aws_keys)? else {
            return Ok(None);
        };
        let base_url = self.base_url()?.ok_or_else(|| {
            ConfigError::new(
                "LECTERN_CDN_BASE_URL",
                "a worker invalidating a CloudFront distribution needs the base URL viewers use (the API's default, <public URL>/cdn, is unknown to a worker)",
            )
        })?;
        Ok(Some((cloudfront, base_url)))
    }
}

impl CdnArgs {
    /// Resolves the settings; `aws_keys` are the static AWS credentials, if any, that the
    /// CloudFront client shares with S3 (otherwise the AWS default chain applies).
    pub fn resolve(
        &self,
        http: &HttpSettings,
        aws_keys: Option<(String, SecretString)>,
    ) -> Result<crate::cdn::CdnSettings, ConfigError> {
        let mut settings = crate::cdn::CdnSettings::local(&http.public_url);
        if let Some(base_url) = self.distribution.base_url()? {
            settings.base_url = base_url;
        }
        if self.cdn_signature_ttl < Duration::from_secs(10) {
            return Err(ConfigError::new("LECTERN_CDN_SIGNATURE_TTL", "must be at least 10s"));
        }
        settings.hash_algorithm = self.cdn_hash_algorithm;
        settings.signature_ttl = self.cdn_signature_ttl;
        settings.manifest_max_age = self.cdn_manifest_max_age;
        if self.playback_session_ttl < Duration::from_secs(60) {
            return Err(ConfigError::new("LECTERN_PLAYBACK_SESSION_TTL", "must be at least 60s"));
        }
        settings.playback_session_ttl = self.playback_session_ttl;
        if let Some(path) = self.cdn_trusted_keys_file.as_deref().filter(|p| !p.as_os_str().is_empty()) {
            settings.trusted_keys = crate::keys::load_cdn_trusted_keys(path)?;
        }
        settings.cloudfront = self.distribution.cloudfront(aws_keys)?;
        Ok(settings)
    }
}

/// How passwords are hashed and which passwords are accepted.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Memory cost of argon2id in KiB (OWASP's minimum recommendation is 19456).
    #[arg(long, env = "LECTERN_ARGON2_MEMORY_KIB", default_value_t = 19456)]
    pub argon2_memory_kib: u32,
    /// Time cost of argon2id (passes over memory).
    #[arg(long, env = "LECTERN_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// Lanes of argon2id.
    #[arg(long, env = "LECTERN_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,
    /// Shortest accepted password, in characters.
    #[arg(long, env = "LECTERN_PASSWORD_MIN_LENGTH", default_value_t = 10)]
    pub password_min_length: usize,
}

/// Identity: tokens, sessions and abuse limits.
#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(flatten)]
    pub passwords: PasswordArgs,
    /// Lifetime of access tokens (JWTs).
    #[arg(long, env = "LECTERN_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_duration)]
    pub access_token_ttl: Duration,
    /// A session not refreshed for this long ends.
    #[arg(long, env = "LECTERN_SESSION_IDLE_TIMEOUT", default_value = "30d", value_parser = parse_duration)]
    pub session_idle_timeout: Duration,
    /// A session ends this long after sign-in, however active it is.
    #[arg(long, env = "LECTERN_SESSION_MAX_AGE", default_value = "90d", value_parser = parse_duration)]
    pub session_max_age: Duration,
    /// Registrations allowed per client address and per email, e.g. `5/min`.
    #[arg(long, env = "LECTERN_RATE_LIMIT_REGISTER", default_value = "5/min", value_parser = parse_rate)]
    pub rate_limit_register: RateLimit,
    /// Sign-in attempts allowed per client address and per email.
    #[arg(long, env = "LECTERN_RATE_LIMIT_LOGIN", default_value = "10/min", value_parser = parse_rate)]
    pub rate_limit_login: RateLimit,
    /// Token refreshes allowed per client address and per refresh token.
    #[arg(long, env = "LECTERN_RATE_LIMIT_REFRESH", default_value = "30/min", value_parser = parse_rate)]
    pub rate_limit_refresh: RateLimit,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed, comma-separated. From
    /// any other peer the socket address is the client address.
    #[arg(long, env = "LECTERN_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    #[command(flatten)]
    pub oauth: OAuthArgs,
}

/// Sign-in through external providers. A provider is enabled when its client id is set; every
/// endpoint can be pointed elsewhere (a stand-in in tests, a regional mirror).
#[derive(Debug, Args)]
pub struct OAuthArgs {
    /// Origins (scheme://host[:port]) an app may name in `return_to` when it starts a sign-in,
    /// comma-separated. Default: the origin of LECTERN_PUBLIC_URL.
    #[arg(long, env = "LECTERN_OAUTH_REDIRECT_ORIGINS", value_delimiter = ',')]
    pub oauth_redirect_origins: Vec<String>,
    /// External sign-ins started, and provider callbacks received, per client address (each
    /// counted separately).
    #[arg(long, env = "LECTERN_RATE_LIMIT_OAUTH_CALLBACK", default_value = "30/min", value_parser = parse_rate)]
    pub rate_limit_oauth_callback: RateLimit,

    /// Google: OAuth client id (enables "Sign in with Google").
    #[arg(long, env = "LECTERN_OAUTH_GOOGLE_CLIENT_ID")]
    pub oauth_google_client_id: Option<String>,
    /// Google: client secret (or a file in `LECTERN_OAUTH_GOOGLE_CLIENT_SECRET_FILE`).
    #[arg(long, env = "LECTERN_OAUTH_GOOGLE_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_google_client_secret: Option<String>,
    /// Google: OpenID issuer whose discovery document is read.
    #[arg(long, env = "LECTERN_OAUTH_GOOGLE_ISSUER", default_value = "https://accounts.google.com")]
    pub oauth_google_issuer: String,

    /// Apple: the Services ID (enables "Sign in with Apple").
    #[arg(long, env = "LECTERN_OAUTH_APPLE_CLIENT_ID")]
    pub oauth_apple_client_id: Option<String>,
    /// Apple: the developer team id (the client secret's `iss`).
    #[arg(long, env = "LECTERN_OAUTH_APPLE_TEAM_ID")]
    pub oauth_apple_team_id: Option<String>,
    /// Apple: the id of the Sign in with Apple key (the client secret's `kid`).
    #[arg(long, env = "LECTERN_OAUTH_APPLE_KEY_ID")]
    pub oauth_apple_key_id: Option<String>,
    /// Apple: the key's PKCS#8 PEM (the downloaded `.p8`), or a file in
    /// `LECTERN_OAUTH_APPLE_PRIVATE_KEY_FILE`.
    #[arg(long, env = "LECTERN_OAUTH_APPLE_PRIVATE_KEY", hide_env_values = true)]
    pub oauth_apple_private_key: Option<String>,
    /// Apple: OpenID issuer whose discovery document is read.
    #[arg(long, env = "LECTERN_OAUTH_APPLE_ISSUER", default_value = "https://appleid.apple.com")]
    pub oauth_apple_issuer: String,

    /// Yandex: application (client) id (enables "Sign in with Yandex").
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_CLIENT_ID")]
    pub oauth_yandex_client_id: Option<String>,
    /// Yandex: client secret (or `LECTERN_OAUTH_YANDEX_CLIENT_SECRET_FILE`).
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_yandex_client_secret: Option<String>,
    /// Yandex: authorization endpoint.
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_AUTHORIZE_URL", default_value = "https://oauth.yandex.ru/authorize")]
    pub oauth_yandex_authorize_url: String,
    /// Yandex: token endpoint.
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_TOKEN_URL", default_value = "https://oauth.yandex.ru/token")]
    pub oauth_yandex_token_url: String,
    /// Yandex: user-information endpoint.
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_USERINFO_URL", default_value = "https://login.yandex.ru/info?format=json")]
    pub oauth_yandex_userinfo_url: String,
    /// Yandex reports no "verified" flag. Set true to treat `default_email` as verified (Yandex
    /// mailboxes are confirmed by Yandex), which lets a Yandex sign-in join an existing account
    /// with that email. Default false: such a link must be made from a signed-in session.
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_TRUST_EMAIL", default_value_t = false, action = clap::ArgAction::Set)]
    pub oauth_yandex_trust_email: bool,

    /// VK ID: application id (enables "Sign in with VK ID").
    #[arg(long, env = "LECTERN_OAUTH_VK_CLIENT_ID")]
    pub oauth_vk_client_id: Option<String>,
    /// VK ID: the application's protected key, if any (VK ID's code exchange relies on PKCE and
    /// does not need it).
    #[arg(long, env = "LECTERN_OAUTH_VK_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_vk_client_secret: Option<String>,
    /// VK ID: authorization endpoint.
    #[arg(long, env = "LECTERN_OAUTH_VK_AUTHORIZE_URL", default_value = "https://id.vk.com/authorize")]
    pub oauth_vk_authorize_url: String,
    /// VK ID: token endpoint.
    #[arg(long, env = "LECTERN_OAUTH_VK_TOKEN_URL", default_value = "https://id.vk.com/oauth2/auth")]
    pub oauth_vk_token_url: String,
    /// VK ID: user-information endpoint.
    #[arg(long, env = "LECTERN_OAUTH_VK_USERINFO_URL", default_value = "https://id.vk.com/oauth2/user_info")]
    pub oauth_vk_userinfo_url: String,

    /// Any OpenID Connect provider (Keycloak, Authentik, GitLab, …): its issuer URL.
    #[arg(long, env = "LECTERN_OAUTH_OIDC_ISSUER")]
    pub oauth_oidc_issuer: Option<String>,
    /// Generic OpenID provider: client id (enables it, together with the issuer).
    #[arg(long, env = "LECTERN_OAUTH_OIDC_CLIENT_ID")]
    pub oauth_oidc_client_id: Option<String>,
    /// Generic OpenID provider: client secret (or `LECTERN_OAUTH_OIDC_CLIENT_SECRET_FILE`).
    #[arg(long, env = "LECTERN_OAUTH_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_oidc_client_secret: Option<String>,
    /// Generic OpenID provider: the name on the sign-in button.
    #[arg(long, env = "LECTERN_OAUTH_OIDC_NAME", default_value = "Single sign-on")]
    pub oauth_oidc_name: String,
}

/// Resumable (tus) uploads: how large, how long, and how they are cut into storage parts.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Largest file an upload may carry; larger ones are refused with `413 file_too_large`.
    #[arg(long, env = "LECTERN_MAX_UPLOAD_SIZE", default_value = "20GiB", value_parser = parse_bytes)]
    pub max_upload_size: u64,
    /// How long after its creation an unfinished upload can still be resumed.
    #[arg(long, env = "LECTERN_UPLOAD_EXPIRY", default_value = "24h", value_parser = parse_duration)]
    pub upload_expiry: Duration,
    /// Size of the storage parts an upload is cut into (at least 5MiB, the S3 minimum). A
    /// request buffers at most one part in memory.
    #[arg(long, env = "LECTERN_UPLOAD_PART_SIZE", default_value = "8MiB", value_parser = parse_bytes)]
    pub upload_part_size: u64,
}

/// Resolved [`UploadArgs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSettings {
    pub max_size: u64,
    pub expiry: Duration,
    pub part_size: usize,
    /// How long a PATCH holds an upload without renewing its lease; it renews every third of
    /// this while bytes flow, and releases when it ends.
    pub lease: Duration,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            max_size: 20 * 1024 * 1024 * 1024,
            expiry: Duration::from_secs(24 * 3600),
            part_size: 8 * 1024 * 1024,
            lease: Duration::from_secs(60),
        }
    }
}

/// S3 refuses parts smaller than this (except the last).
pub const MIN_UPLOAD_PART_SIZE: u64 = 5 * 1024 * 1024;

impl UploadArgs {
    pub fn resolve(&self) -> Result<UploadSettings, ConfigError> {
        if self.max_upload_size == 0 {
            return Err(ConfigError::new("LECTERN_MAX_UPLOAD_SIZE", "must be more than 0"));
        }
        if self.upload_expiry < Duration::from_secs(60) {
            return Err(ConfigError::new("LECTERN_UPLOAD_EXPIRY", "must be at least 1m"));
        }
        if self.upload_part_size < MIN_UPLOAD_PART_SIZE {
            return Err(ConfigError::new("LECTERN_UPLOAD_PART_SIZE", "must be at least 5MiB (an S3 rule)"));
        }
        let part_size = usize::try_from(self.upload_part_size)
            .map_err(|_| ConfigError::new("LECTERN_UPLOAD_PART_SIZE", "too large for this machine"))?;
        Ok(UploadSettings {
            max_size: self.max_upload_size,
            expiry: self.upload_expiry,
            part_size,
            ..UploadSettings::default()
        })
    }
}

/// `max` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub period: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordSettings {
    pub argon2: Argon2Settings,
    pub min_length: usize,
}

#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub register: RateLimit,
    pub login: RateLimit,
    pub refresh: RateLimit,
    pub oauth_callback: RateLimit,
}

/// An OpenID Connect client: everything else comes from the issuer's discovery document.
#[derive(Debug, Clone)]
pub struct OidcClientSettings {
    pub issuer: Url,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub display_name: String,
}

/// Sign in with Apple: an OpenID client whose secret is a JWT signed with the team's key.
#[derive(Debug, Clone)]
pub struct AppleSettings {
    pub issuer: Url,
    pub client_id: String,
    pub team_id: String,
    pub key_id: String,
    /// PKCS#8 PEM of the P-256 key.
    pub private_key_pem: SecretString,
}

/// A plain OAuth 2.0 provider (no ID token): its endpoints and credentials.
#[derive(Debug, Clone)]
pub struct PlainOAuthSettings {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub authorize_url: Url,
    pub token_url: Url,
    pub userinfo_url: Url,
}

#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    /// Allowed `return_to` origins; empty means the public URL's origin.
    pub redirect_origins: Vec<url::Origin>,
    pub google: Option<OidcClientSettings>,
    pub apple: Option<AppleSettings>,
    pub yandex: Option<PlainOAuthSettings>,
    /// Whether Yandex's `default_email` counts as verified.
    pub yandex_trust_email: bool,
    pub vk: Option<PlainOAuthSettings>,
    pub oidc: Option<OidcClientSettings>,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub passwords: PasswordSettings,
    pub access_token_ttl: Duration,
    pub session_idle_timeout: Duration,
    pub session_max_age: Duration,
    pub rate_limits: RateLimitSettings,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Shared rate-limit counters; in-process buckets when unset.
    pub redis_url: Option<SecretString>,
    /// Boxed: it is large, and these settings travel by value through start-up futures.
    pub oauth: Box<OAuthSettings>,
}

impl Default for AuthSettings {
    /// The documented defaults, for tests and embedding.
    fn default() -> Self {
        let per_minute = |max| RateLimit { max, period: Duration::from_secs(60) };
        Self {
            passwords: PasswordSettings {
                argon2: Argon2Settings { memory_kib: 19456, iterations: 2, parallelism: 1 },
                min_length: 10,
            },
            access_token_ttl: Duration::from_secs(15 * 60),
            session_idle_timeout: Duration::from_secs(30 * 86400),
            session_max_age: Duration::from_secs(90 * 86400),
            rate_limits: RateLimitSettings {
                register: per_minute(5),
                login: per_minute(10),
                refresh: per_minute(30),
                oauth_callback: per_minute(30),
            },
            trusted_proxies: Vec::new(),
            redis_url: None,
            oauth: Box::default(),
        }
    }
}

/// Longest accepted password: long enough for any passphrase, short enough that hashing it is
/// not a denial of service.
pub const PASSWORD_MAX_LENGTH: usize = 1024;

impl PasswordArgs {
    pub fn resolve(&self) -> Result<PasswordSettings, ConfigError> {
        // Argon2's own floor is 8 KiB per lane; below a few MiB the hash stops being memory-hard.
        if self.argon2_memory_kib < 8 * self.argon2_parallelism.max(1) {
            return Err(ConfigError::new("LECTERN_ARGON2_MEMORY_KIB", "must be at least 8 KiB per lane"));
        }
        if self.argon2_iterations == 0 {
            return Err(ConfigError::new("LECTERN_ARGON2_ITERATIONS", "must be at least 1"));
        }
        if self.argon2_parallelism == 0 {
            return Err(ConfigError::new("LECTERN_ARGON2_PARALLELISM", "must be at least 1"));
        }
        if self.password_min_length == 0 || self.password_min_length > PASSWORD_MAX_LENGTH {
            return Err(ConfigError::new(
                "LECTERN_PASSWORD_MIN_LENGTH",
                format!("must be between 1 and {PASSWORD_MAX_LENGTH}"),
            ));
        }
        Ok(PasswordSettings {
            argon2: Argon2Settings {
                memory_kib: self.argon2_memory_kib,
                iterations: self.argon2_iterations,
                parallelism: self.argon2_parallelism,
            },
            min_length: self.password_min_length,
        })
    }
}

impl AuthArgs {
    pub fn resolve(&self, redis_url: Option<&str>) -> Result<AuthSettings, ConfigError> {
        if self.access_token_ttl < Duration::from_secs(10) {
            return Err(ConfigError::new("LECTERN_ACCESS_TOKEN_TTL", "must be at least 10s"));
        }
        if self.session_idle_timeout.is_zero() {
            return Err(ConfigError::new("LECTERN_SESSION_IDLE_TIMEOUT", "must be longer than zero"));
        }
        if self.session_max_age < self.access_token_ttl {
            return Err(ConfigError::new("LECTERN_SESSION_MAX_AGE", "must be at least LECTERN_ACCESS_TOKEN_TTL"));
        }
        let mut trusted_proxies = Vec::new();
        for raw in self.trusted_proxies.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let address: std::net::IpAddr = raw.parse().map_err(|_| {
                ConfigError::new("LECTERN_TRUSTED_PROXIES", format!("{raw:?} is not an IP address"))
            })?;
            trusted_proxies.push(address);
        }
        let redis_url = match secret_value("REDIS_URL", redis_url)? {
            Some(url) => {
                let parsed = Url::parse(&url)
                    .map_err(|e| ConfigError::new("REDIS_URL", format!("not a valid URL ({e})")))?;
                if !matches!(parsed.scheme(), "redis" | "rediss") {
                    return Err(ConfigError::new("REDIS_URL", "must start with redis:// or rediss://"));
                }
                Some(SecretString::from(url))
            }
            None => None,
        };
        Ok(AuthSettings {
            passwords: self.passwords.resolve()?,
            access_token_ttl: self.access_token_ttl,
            session_idle_timeout: self.session_idle_timeout,
            session_max_age: self.session_max_age,
            rate_limits: RateLimitSettings {
                register: self.rate_limit_register,
                login: self.rate_limit_login,
                refresh: self.rate_limit_refresh,
                oauth_callback: self.oauth.rate_limit_oauth_callback,
            },
            trusted_proxies,
            redis_url,
            oauth: Box::new(self.oauth.resolve()?),
        })
    }
}

/// A set, non-empty value.
fn present(value: Option<&String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn provider_url(setting: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim()).map_err(|e| ConfigError::new(setting, format!("{raw:?} is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(setting, format!("{raw:?} must be an http:// or https:// URL with a host")));
    }
    Ok(url)
}

impl OAuthArgs {
    pub fn resolve(&self) -> Result<OAuthSettings, ConfigError> {
        let mut redirect_origins = Vec::new();
        for raw in self.oauth_redirect_origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            let url = provider_url("LECTERN_OAUTH_REDIRECT_ORIGINS", raw)?;
            if url.path() != "/" || url.query().is_some() {
                return Err(ConfigError::new(
                    "LECTERN_OAUTH_REDIRECT_ORIGINS",
                    format!("{raw:?} must be scheme://host[:port] with no path"),
                ));
            }
            redirect_origins.push(url.origin());
        }
        let google = match present(self.oauth_google_client_id.as_ref()) {
            Some(client_id) => Some(OidcClientSettings {
                issuer: provider_url("LECTERN_OAUTH_GOOGLE_ISSUER", &self.oauth_google_issuer)?,
                client_id,
                client_secret: secret_value("LECTERN_OAUTH_GOOGLE_CLIENT_SECRET", self.oauth_google_client_secret.as_deref())?
                    .map(SecretString::from),
                display_name: "Google".to_owned(),
            }),
            None => None,
        };
        let apple = match present(self.oauth_apple_client_id.as_ref()) {
            Some(client_id) => {
                let required = |setting: &'static str, value: Option<&String>| {
                    present(value).ok_or_else(|| ConfigError::new(setting, "must be set when LECTERN_OAUTH_APPLE_CLIENT_ID is"))
                };
                let private_key_pem =
                    secret_value("LECTERN_OAUTH_APPLE_PRIVATE_KEY", self.oauth_apple_private_key.as_deref())?.ok_or_else(|| {
                        ConfigError::new("LECTERN_OAUTH_APPLE_PRIVATE_KEY", "must be set when LECTERN_OAUTH_APPLE_CLIENT_ID is")
                    })?;
                Some(AppleSettings {
                    issuer: provider_url("LECTERN_OAUTH_APPLE_ISSUER", &self.oauth_apple_issuer)?,
                    client_id,
                    team_id: required("LECTERN_OAUTH_APPLE_TEAM_ID", self.oauth_apple_team_id.as_ref())?,
                    key_id: required("LECTERN_OAUTH_APPLE_KEY_ID", self.oauth_apple_key_id.as_ref())?,
                    private_key_pem: SecretString::from(private_key_pem),
                })
            }
            None => None,
        };
        let yandex = match present(self.oauth_yandex_client_id.as_ref()) {
            Some(client_id) => Some(PlainOAuthSettings {
                client_id,
                client_secret: secret_value("LECTERN_OAUTH_YANDEX_CLIENT_SECRET", self.oauth_yandex_client_secret.as_deref())?
                    .map(SecretString::from),
                authorize_url: provider_url("LECTERN_OAUTH_YANDEX_AUTHORIZE_URL", &self.oauth_yandex_authorize_url)?,
                token_url: provider_url("LECTERN_OAUTH_YANDEX_TOKEN_URL", &self.oauth_yandex_token_url)?,
                userinfo_url: provider_url("LECTERN_OAUTH_YANDEX_USERINFO_URL", &self.oauth_yandex_userinfo_url)?,
            }),
            None => None,
        };
        let vk = match present(self.oauth_vk_client_id.as_ref()) {
            Some(client_id) => Some(PlainOAuthSettings {
                client_id,
                client_secret: secret_value("LECTERN_OAUTH_VK_CLIENT_SECRET", self.oauth_vk_client_secret.as_deref())?
                    .map(SecretString::from),
                authorize_url: provider_url("LECTERN_OAUTH_VK_AUTHORIZE_URL", &self.oauth_vk_authorize_url)?,
                token_url: provider_url("LECTERN_OAUTH_VK_TOKEN_URL", &self.oauth_vk_token_url)?,
                userinfo_url: provider_url("LECTERN_OAUTH_VK_USERINFO_URL", &self.oauth_vk_userinfo_url)?,
            }),
            None => None,
        };
        let oidc = match present(self.oauth_oidc_client_id.as_ref()) {
            Some(client_id) => {
                let issuer = present(self.oauth_oidc_issuer.as_ref()).ok_or_else(|| {
                    ConfigError::new("LECTERN_OAUTH_OIDC_ISSUER", "must be set when LECTERN_OAUTH_OIDC_CLIENT_ID is")
                })?;
                Some(OidcClientSettings {
                    issuer: provider_url("LECTERN_OAUTH_OIDC_ISSUER", &issuer)?,
                    client_id,
                    client_secret: secret_value("LECTERN_OAUTH_OIDC_CLIENT_SECRET", self.oauth_oidc_client_secret.as_deref())?
                        .map(SecretString::from),
                    display_name: self.oauth_oidc_name.trim().to_owned(),
                })
            }
            None => None,
        };
        Ok(OAuthSettings {
            redirect_origins,
            google,
            apple,
            yandex,
            yandex_trust_email: self.oauth_yandex_trust_email,
            vk,
            oidc,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Transcoding backend (`LECTERN_TRANSCODER`). One block on purpose: `serve` and `worker`
// flatten `TranscoderArgs`; the resolved settings travel in `IngestSettings::transcoder` to the
// `media.transcode` job, which holds the backend built by `transcode::connect`.
// ---------------------------------------------------------------------------------------------

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

#[derive(Debug, Clone)]
pub enum TranscoderSettings {
    Local,
    MediaConvert(Box<MediaConvertSettings>),
}

#[derive(Debug, Clone)]
pub struct MediaConvertSettings {
    /// `None` for AWS's regional endpoint; set for tests and private endpoints.
    pub endpoint: Option<Url>,
    pub region: String,
    /// The role jobs run as (`iam:PassRole` for it is needed by Lectern's own credentials).
    pub role_arn: String,
    /// `None` submits to the `Default` queue.
    pub queue_arn: Option<String>,
    pub poll_interval: Duration,
    /// The storage bucket: sources are read from it and packages written to it.
    pub bucket: String,
    /// Static credentials (the S3 backend's `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`); when
    /// absent the AWS default provider chain is used.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
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
        let role_arn = self
            .mediaconvert_role_arn
            .as_deref()
            .map(str::trim)
            .filter(|arn| !arn.is_empty())
            .ok_or_else(|| ConfigError::new("LECTERN_MEDIACONVERT_ROLE_ARN", "must be set when LECTERN_TRANSCODER=mediaconvert"))?;
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

#[cfg(test)]
mod transcoder_settings_tests {
    use super::*;

    /// `serve` and `worker` do not flatten the transcoder flags yet; this stands in for them.
    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        transcoder: TranscoderArgs,
    }

    fn resolve(flags: &[&str]) -> Result<TranscoderSettings, ConfigError> {
        let flags = Flags::try_parse_from(std::iter::once("lectern").chain(flags.iter().copied())).expect("flags parse");
        flags.transcoder.resolve(&flags.storage)
    }

    #[test]
    fn the_local_engine_is_the_default() {
        assert!(matches!(resolve(&[]), Ok(TranscoderSettings::Local)));
    }

    #[test]
    fn mediaconvert_needs_s3_storage_and_a_role() {
        let error = resolve(&["--transcoder", "mediaconvert"]).expect_err("local storage");
        assert_eq!(error.setting, "LECTERN_TRANSCODER");
        let error = resolve(&["--transcoder", "mediaconvert", "--storage", "s3", "--s3-bucket", "media"])
            .expect_err("no role");
        assert_eq!(error.setting, "LECTERN_MEDIACONVERT_ROLE_ARN");
        let error = resolve(&[
            "--transcoder", "mediaconvert", "--storage", "s3", "--s3-bucket", "media",
            "--mediaconvert-role-arn", "MediaConvertRole",
        ])
        .expect_err("not an ARN");
        assert_eq!(error.setting, "LECTERN_MEDIACONVERT_ROLE_ARN");
    }

    #[test]
    fn mediaconvert_takes_the_bucket_and_region_from_storage() {
        let settings = resolve(&[
            "--transcoder", "mediaconvert", "--storage", "s3", "--s3-bucket", "media", "--s3-region", "eu-west-1",
            "--mediaconvert-role-arn", "arn:aws:iam::111122223333:role/MediaConvert",
            "--mediaconvert-queue", "arn:aws:mediaconvert:eu-west-1:111122223333:queues/Lectern",
            "--mediaconvert-endpoint", "http://127.0.0.1:9000/",
        ])
        .expect("valid");
        let TranscoderSettings::MediaConvert(settings) = settings else { panic!("mediaconvert expected") };
        assert_eq!(settings.region, "eu-west-1");
        assert_eq!(settings.bucket, "media");
        assert_eq!(settings.endpoint.map(String::from).as_deref(), Some("http://127.0.0.1:9000/"));
        assert_eq!(settings.queue_arn.as_deref(), Some("arn:aws:mediaconvert:eu-west-1:111122223333:queues/Lectern"));
        assert_eq!(settings.poll_interval, Duration::from_secs(10));
    }

    #[test]
    fn the_transcoder_flags_do_not_clash_with_the_storage_flags() {
        use clap::CommandFactory;
        Flags::command().debug_assert();
    }
}

/// A setting that cannot be used, with the variable that holds it.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, message: impl Into<String>) -> Self {
        Self { setting, message: message.into() }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    pub create_if_missing: bool,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub public_url: Url,
    /// Empty: no CORS. `["*"]`: any origin.
    pub cors_origins: Vec<String>,
    pub request_timeout: Duration,
    pub max_json_body: usize,
}

/// Paths of the signing keys, and whether each may be generated when missing.
#[derive(Debug, Clone)]
pub struct KeyPaths {
    pub cdn_key: KeyPath,
    pub cdn_key_pair_id: Option<String>,
    pub token_key: KeyPath,
    /// Verification-only token keys from before a rotation; each must exist.
    pub token_previous_keys: Vec<PathBuf>,
    pub storage_secret: KeyPath,
}

#[derive(Debug, Clone)]
pub struct KeyPath {
    pub path: PathBuf,
    /// The variable that can point elsewhere, for error messages.
    pub setting: &'static str,
    /// True for the default location, where a missing key is generated.
    pub generate_if_missing: bool,
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/lectern";

impl DatabaseArgs {
    pub fn resolve(&self) -> Result<DatabaseSettings, ConfigError> {
        let url = match secret_value("DATABASE_URL", self.database_url.as_deref())? {
            Some(url) => url,
            None => DEFAULT_DATABASE_URL.to_owned(),
        };
        let parsed = Url::parse(&url)
            .map_err(|e| ConfigError::new("DATABASE_URL", format!("not a valid URL ({e})")))?;
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
                const MIN_PART: u64 = 5 * 1024 * 1024;
                if self.s3_part_size < MIN_PART {
                    return Err(ConfigError::new("LECTERN_S3_PART_SIZE", "must be at least 5MiB (an S3 rule)"));
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
        }
    }
}

/// The value of a secret setting: the variable itself, else the contents of the file named by
/// `<VARIABLE>_FILE` (trailing newline removed), else `None`.
fn secret_value(setting: &'static str, direct: Option<&str>) -> Result<Option<String>, ConfigError> {
    if let Some(value) = direct.filter(|v| !v.is_empty()) {
        return Ok(Some(value.to_owned()));
    }
    let Some(path) = std::env::var_os(format!("{setting}_FILE")) else {
        return Ok(None);
    };
    let path = Path::new(&path);
    let contents = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(setting, format!("cannot read {setting}_FILE {} ({e})", path.display()))
    })?;
    Ok(Some(contents.trim_end_matches(['\n', '\r']).to_owned()))
}

/// A base URL for links: http(s), a host, no query or fragment; trailing slash removed.
fn parse_base_url(setting: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| ConfigError::new(setting, format!("{raw:?} is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(setting, format!("{raw:?} must be an http:// or https:// URL with a host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(setting, format!("{raw:?} must not have a query or fragment")));
    }
    let trimmed = raw.trim_end_matches('/');
    Url::parse(trimmed).map_err(|e| ConfigError::new(setting, format!("{raw:?} is not a valid URL ({e})")))
}

/// Durations like `30s`, `5m`, `1h`, `250ms`, or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("{raw:?} is not a duration like 30s, 5m or 1h"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        other => return Err(format!("unknown duration unit {other:?} (use ms, s, m, h or d)")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("{raw:?} is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Rates like `10/min`, `5/s`, `100/h`, `1000/d`, or `20/5m` (any duration after the slash).
pub fn parse_rate(raw: &str) -> Result<RateLimit, String> {
    let invalid = || format!("{raw:?} is not a rate like 10/min");
    let (count, period) = raw.trim().split_once('/').ok_or_else(invalid)?;
    let max: u32 = count.trim().parse().map_err(|_| invalid())?;
    let period = match period.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        "d" | "day" => Duration::from_secs(86400),
        other => parse_duration(other)?,
    };
    if max == 0 || period.is_zero() {
        return Err(format!("{raw:?} must allow at least one request in a non-empty period"));
    }
    Ok(RateLimit { max, period })
}

/// Sizes like `8MiB`, `5GB`, `1024`, `512KiB` (decimal and binary units).
pub fn parse_bytes(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("{raw:?} is not a size like 8MiB or 2GB"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit {other:?} (use B, KiB, MiB, GiB, KB, MB, GB)")),
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("{raw:?} is not a valid size"));
    }
    Ok(bytes.round() as u64)
}

// ---------------------------------------------------------------------------------------------
// Ingest: URL import, direct multipart uploads, probing, upload housekeeping.

/// URL imports, direct-to-storage multipart uploads, the probe job and the sweep of abandoned
/// uploads. Shared by `serve` (API and embedded workers) and `worker`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub limits: MediaLimitArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    /// Hosts and CIDR blocks URL imports may reach even though they are not public, comma-
    /// separated (e.g. `media.intranet,10.1.0.0/16,127.0.0.1`). Empty (the default): public
    /// unicast addresses only.
    #[arg(long, env = "LECTERN_IMPORT_ALLOW_HOSTS", value_delimiter = ',', default_value = "")]
    pub import_allow_hosts: Vec<String>,
    /// Redirects a URL import follows (each target is checked like the first URL).
    #[arg(long, env = "LECTERN_IMPORT_MAX_REDIRECTS", default_value_t = 5)]
    pub import_max_redirects: u32,
    /// How long a URL import may take to connect to a server.
    #[arg(long, env = "LECTERN_IMPORT_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub import_connect_timeout: Duration,
    /// Longest silence while a URL import reads the answer.
    #[arg(long, env = "LECTERN_IMPORT_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub import_read_timeout: Duration,
    /// Longest time for one whole URL import download.
    #[arg(long, env = "LECTERN_IMPORT_TIMEOUT", default_value = "1h", value_parser = parse_duration)]
    pub import_timeout: Duration,
    /// Part size offered to direct multipart uploads (at least 5MiB; raised for files that would
    /// need more than 10,000 parts).
    #[arg(long, env = "LECTERN_MULTIPART_PART_SIZE", default_value = "16MiB", value_parser = parse_bytes)]
    pub multipart_part_size: u64,
    /// Lifetime of presigned part URLs.
    #[arg(long, env = "LECTERN_MULTIPART_URL_TTL", default_value = "1h", value_parser = parse_duration)]
    pub multipart_url_ttl: Duration,
    /// A direct multipart upload not completed within this time is aborted by the sweep.
    #[arg(long, env = "LECTERN_MULTIPART_EXPIRY", default_value = "24h", value_parser = parse_duration)]
    pub multipart_expiry: Duration,
    /// How often workers sweep expired uploads (tus and multipart) out of storage.
    #[arg(long, env = "LECTERN_UPLOAD_SWEEP_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub upload_sweep_interval: Duration,
    /// Scratch directory for files being probed and transcoded. Default: the system temporary
    /// directory.
    #[arg(long, env = "LECTERN_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// How long a superseded version's files stay after a newer version is published, so
    /// learners still playing it can finish.
    #[arg(long, env = "LECTERN_SUPERSEDED_GRACE", default_value = "1h", value_parser = parse_duration)]
    pub superseded_grace: Duration,
    /// Publish a first playable version within seconds of the upload by copying an H.264/AAC
    /// MP4 source into the package format without encoding (`media.preview`); the full ladder
    /// replaces it when done. `false`: an asset becomes playable only with the full ladder.
    #[arg(long, env = "LECTERN_FAST_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub fast_start: bool,
}

#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// What the probe accepts (duration, picture size, frame rate, bytes); `max_file_bytes` also
    /// caps URL imports and multipart uploads.
    pub limits: pipelines::limits::Limits,
    pub engine: crate::engine::EngineLimits,
    /// The `lectern` binary that runs engine children; `None` re-executes the current one (tests
    /// point it at the built binary, since their own executable is a test harness).
    pub engine_program: Option<PathBuf>,
    pub fetch: crate::net::FetchSettings,
    pub multipart_part_size: u64,
    pub multipart_url_ttl: Duration,
    pub multipart_expiry: Duration,
    pub sweep_interval: Duration,
    pub work_dir: Option<PathBuf>,
    /// Where transcodes run (`LECTERN_TRANSCODER`); set from [`TranscoderArgs`] by `serve` and
    /// `worker`.
    pub transcoder: TranscoderSettings,
    /// How long a superseded version's files are kept.
    pub superseded_grace: Duration,
    /// Webhook endpoints and deliveries (here because both `serve` and `worker` need them, like
    /// the rest of this struct).
    pub webhooks: WebhookSettings,
    /// Remux remuxable sources into a first playable version before the ladder
    /// (`LECTERN_FAST_START`).
    pub fast_start: bool,
}

impl Default for IngestSettings {
    /// The documented defaults.
    fn default() -> Self {
        let limits = pipelines::limits::Limits::default();
        Self {
            limits,
            engine: crate::engine::EngineLimits::default(),
            engine_program: None,
            fetch: crate::net::FetchSettings { max_bytes: limits.max_file_bytes, ..crate::net::FetchSettings::default() },
            multipart_part_size: 16 * 1024 * 1024,
            multipart_url_ttl: Duration::from_secs(3600),
            multipart_expiry: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(300),
            work_dir: None,
            transcoder: TranscoderSettings::Local,
            superseded_grace: Duration::from_secs(3600),
            webhooks: WebhookSettings::default(),
            fast_start: true,
        }
    }
}

impl IngestArgs {
    pub fn resolve(&self) -> Result<IngestSettings, ConfigError> {
        let limits = self.limits.resolve()?;
        let policy = crate::net::AddressPolicy::parse(&self.import_allow_hosts)
            .map_err(|message| ConfigError::new("LECTERN_IMPORT_ALLOW_HOSTS", message))?;
        if self.import_max_redirects > 20 {
            return Err(ConfigError::new("LECTERN_IMPORT_MAX_REDIRECTS", "must be at most 20"));
        }
        for (setting, value) in [
            ("LECTERN_IMPORT_CONNECT_TIMEOUT", self.import_connect_timeout),
            ("LECTERN_IMPORT_READ_TIMEOUT", self.import_read_timeout),
            ("LECTERN_IMPORT_TIMEOUT", self.import_timeout),
            ("LECTERN_MULTIPART_URL_TTL", self.multipart_url_ttl),
            ("LECTERN_MULTIPART_EXPIRY", self.multipart_expiry),
            ("LECTERN_UPLOAD_SWEEP_INTERVAL", self.upload_sweep_interval),
        ] {
            if value < Duration::from_secs(1) {
                return Err(ConfigError::new(setting, "must be at least 1s"));
            }
        }
        // S3 refuses presigned URLs valid for more than seven days.
        if self.multipart_url_ttl > Duration::from_secs(7 * 86400) {
            return Err(ConfigError::new("LECTERN_MULTIPART_URL_TTL", "must be at most 7d (an S3 rule)"));
        }
        const MIN_PART: u64 = 5 * 1024 * 1024;
        const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
        if !(MIN_PART..=MAX_PART).contains(&self.multipart_part_size) {
            return Err(ConfigError::new("LECTERN_MULTIPART_PART_SIZE", "must be between 5MiB and 5GiB (S3 rules)"));
        }
        Ok(IngestSettings {
            limits,
            engine: self.engine.resolve()?,
            engine_program: None,
            fetch: crate::net::FetchSettings {
                policy,
                max_redirects: self.import_max_redirects,
                connect_timeout: self.import_connect_timeout,
                read_timeout: self.import_read_timeout,
                total_timeout: self.import_timeout,
                max_bytes: limits.max_file_bytes,
            },
            multipart_part_size: self.multipart_part_size,
            multipart_url_ttl: self.multipart_url_ttl,
            multipart_expiry: self.multipart_expiry,
            sweep_interval: self.upload_sweep_interval,
            work_dir: self.work_dir.clone(),
            transcoder: TranscoderSettings::Local,
            superseded_grace: self.superseded_grace,
            webhooks: self.webhooks.resolve()?,
            fast_start: self.fast_start,
        })
    }
}

/// Webhook endpoints and the delivery of events to them.
#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// Accept `http://` webhook URLs (for development); by default only `https://` is accepted.
    #[arg(long, env = "LECTERN_WEBHOOK_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_http: bool,
    /// Hosts and CIDR blocks webhook URLs may reach even though they are not public, comma-
    /// separated (e.g. `hooks.intranet,127.0.0.1`). Empty (the default): public unicast only.
    #[arg(long, env = "LECTERN_WEBHOOK_ALLOW_HOSTS", value_delimiter = ',', default_value = "")]
    pub webhook_allow_hosts: Vec<String>,
    /// Webhook endpoints one account may have.
    #[arg(long, env = "LECTERN_WEBHOOK_MAX_ENDPOINTS", default_value_t = 10)]
    pub webhook_max_endpoints: u32,
    /// How long one send may take (connecting, sending and reading the answer).
    #[arg(long, env = "LECTERN_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub webhook_timeout: Duration,
    /// The wait before the first retry; each further retry waits twice as long (±20 %).
    #[arg(long, env = "LECTERN_WEBHOOK_RETRY_BASE_DELAY", default_value = "30s", value_parser = parse_duration)]
    pub webhook_retry_base_delay: Duration,
    /// The longest wait between two retries.
    #[arg(long, env = "LECTERN_WEBHOOK_RETRY_MAX_DELAY", default_value = "1h", value_parser = parse_duration)]
    pub webhook_retry_max_delay: Duration,
    /// How long after its first attempt a delivery is retried before it is `failed`.
    #[arg(long, env = "LECTERN_WEBHOOK_RETRY_WINDOW", default_value = "24h", value_parser = parse_duration)]
    pub webhook_retry_window: Duration,
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// How sends are made: the SSRF policy, the timeout (`total_timeout`) and the cap on the
    /// answer read (`max_bytes`). Redirects are never followed.
    pub fetch: crate::net::FetchSettings,
    pub allow_http: bool,
    pub max_endpoints_per_account: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    pub retry_window: Duration,
    /// How often workers fan out events whose dispatch job was lost and re-enqueue overdue sends.
    pub sweep_interval: Duration,
}

impl WebhookSettings {
    /// The fetch settings of sends: no redirects, everything within `timeout`, 64 KiB of answer.
    pub fn fetch_settings(policy: crate::net::AddressPolicy, timeout: Duration) -> crate::net::FetchSettings {
        crate::net::FetchSettings {
            policy,
            max_redirects: 0,
            connect_timeout: timeout,
            read_timeout: timeout,
            total_timeout: timeout,
            max_bytes: 64 * 1024,
        }
    }
}

impl Default for WebhookSettings {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            fetch: Self::fetch_settings(crate::net::AddressPolicy::default(), Duration::from_secs(10)),
            allow_http: false,
            max_endpoints_per_account: 10,
            retry_base_delay: Duration::from_secs(30),
            retry_max_delay: Duration::from_secs(3600),
            retry_window: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

impl WebhookArgs {
    pub fn resolve(&self) -> Result<WebhookSettings, ConfigError> {
        let policy = crate::net::AddressPolicy::parse(&self.webhook_allow_hosts)
            .map_err(|message| ConfigError::new("LECTERN_WEBHOOK_ALLOW_HOSTS", message))?;
        if self.webhook_max_endpoints == 0 || self.webhook_max_endpoints > 1000 {
            return Err(ConfigError::new("LECTERN_WEBHOOK_MAX_ENDPOINTS", "must be between 1 and 1000"));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&self.webhook_timeout) {
            return Err(ConfigError::new("LECTERN_WEBHOOK_TIMEOUT", "must be between 100ms and 60s"));
        }
        if self.webhook_retry_base_delay < Duration::from_millis(10) {
            return Err(ConfigError::new("LECTERN_WEBHOOK_RETRY_BASE_DELAY", "must be at least 10ms"));
        }
        if self.webhook_retry_max_delay < self.webhook_retry_base_delay {
            return Err(ConfigError::new("LECTERN_WEBHOOK_RETRY_MAX_DELAY", "must be at least the base delay"));
        }
        if self.webhook_retry_window > Duration::from_secs(30 * 86400) {
            return Err(ConfigError::new("LECTERN_WEBHOOK_RETRY_WINDOW", "must be at most 30d"));
        }
        Ok(WebhookSettings {
            fetch: WebhookSettings::fetch_settings(policy, self.webhook_timeout),
            allow_http: self.webhook_allow_http,
            max_endpoints_per_account: self.webhook_max_endpoints,
            retry_base_delay: self.webhook_retry_base_delay,
            retry_max_delay: self.webhook_retry_max_delay,
            retry_window: self.webhook_retry_window,
            sweep_interval: WebhookSettings::default().sweep_interval,
        })
    }
}
// End of the ingest settings.
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_timings_default_to_the_documented_values_and_are_checked() {
        let cli = Cli::try_parse_from(["lectern", "worker"]).expect("flags parse");
        let Command::Worker(args) = cli.command else { panic!("worker expected") };
        let settings = args.jobs.resolve(2, Duration::from_secs(30)).expect("defaults are valid");
        assert_eq!(settings.lease, Duration::from_secs(60));
        assert_eq!(settings.poll_interval, Duration::from_secs(5));
        assert_eq!(settings.retry_delay, Duration::from_secs(5));
        assert_eq!(settings.retry_max_delay, Duration::from_secs(3600));
        assert_eq!(settings.concurrency, 2);

        let cli = Cli::try_parse_from(["lectern", "serve", "--job-lease", "3s", "--job-retry-delay", "200ms"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        let settings = args.jobs.resolve(1, Duration::from_secs(30)).expect("valid");
        assert_eq!((settings.lease, settings.retry_delay), (Duration::from_secs(3), Duration::from_millis(200)));

        for (flags, setting) in [
            (["--job-lease", "500ms"], "LECTERN_JOB_LEASE"),
            (["--job-poll-interval", "5ms"], "LECTERN_JOB_POLL_INTERVAL"),
            (["--job-retry-delay", "0s"], "LECTERN_JOB_RETRY_DELAY"),
            (["--job-retry-max-delay", "1s"], "LECTERN_JOB_RETRY_MAX_DELAY"),
        ] {
            let cli = Cli::try_parse_from(["lectern", "worker", flags[0], flags[1]]).expect("flags parse");
            let Command::Worker(args) = cli.command else { panic!("worker expected") };
            assert_eq!(args.jobs.resolve(1, Duration::from_secs(30)).expect_err("refused").setting, setting);
        }
    }

    #[test]
    fn durations_accept_the_usual_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn sizes_accept_decimal_and_binary_units() {
        assert_eq!(parse_bytes("8MiB"), Ok(8 * 1024 * 1024));
        assert_eq!(parse_bytes("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn s3_without_a_bucket_names_the_missing_setting() {
        let cli = Cli::try_parse_from(["lectern", "serve", "--storage", "s3"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        let public_url = Url::parse("http://127.0.0.1:8080").expect("valid");
        let error = args
            .storage
            .resolve(&args.common, &public_url, SecretString::from("x"))
            .expect_err("bucket is required");
        assert_eq!(error.setting, "LECTERN_S3_BUCKET");
    }

    #[test]
    fn an_unparsable_public_url_is_refused_with_its_name() {
        let cli = Cli::try_parse_from(["lectern", "serve", "--public-url", "not a url"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        assert_eq!(args.http.resolve().expect_err("invalid").setting, "LECTERN_PUBLIC_URL");
    }

    #[test]
    fn the_public_url_defaults_to_the_listen_address() {
        let cli = Cli::try_parse_from(["lectern", "serve", "--listen", "0.0.0.0:9000"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        assert_eq!(args.http.resolve().expect("valid").public_url.as_str(), "http://127.0.0.1:9000/");
    }

    #[test]
    fn a_non_postgres_database_url_is_refused() {
        let cli = Cli::try_parse_from(["lectern", "migrate", "--database-url", "mysql://x/y"]).expect("flags parse");
        let Command::Migrate(args) = cli.command else { panic!("migrate expected") };
        assert_eq!(args.database.resolve().expect_err("invalid").setting, "DATABASE_URL");
    }

    #[test]
    fn resolutions_are_width_by_height() {
        assert_eq!(parse_resolution("4096x2304"), Ok((4096, 2304)));
        assert_eq!(parse_resolution("1920X1080"), Ok((1920, 1080)));
        assert!(parse_resolution("4k").is_err());
        assert!(parse_resolution("0x100").is_err());
    }

    #[test]
    fn rates_accept_units_and_durations() {
        let minute = Duration::from_secs(60);
        assert_eq!(parse_rate("10/min"), Ok(RateLimit { max: 10, period: minute }));
        assert_eq!(parse_rate("5/s"), Ok(RateLimit { max: 5, period: Duration::from_secs(1) }));
        assert_eq!(parse_rate("20/5m"), Ok(RateLimit { max: 20, period: 5 * minute }));
        assert!(parse_rate("0/min").is_err());
        assert!(parse_rate("ten/min").is_err());
        assert!(parse_rate("10").is_err());
    }

    #[test]
    fn the_auth_defaults_match_the_documented_ones() {
        let cli = Cli::try_parse_from(["lectern", "serve"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        let settings = args.auth.resolve(None).expect("valid");
        let defaults = AuthSettings::default();
        assert_eq!(settings.passwords, defaults.passwords);
        assert_eq!(settings.access_token_ttl, defaults.access_token_ttl);
        assert_eq!(settings.session_idle_timeout, defaults.session_idle_timeout);
        assert_eq!(settings.session_max_age, defaults.session_max_age);
        assert_eq!(settings.rate_limits.login, defaults.rate_limits.login);
    }

    #[test]
    fn oauth_providers_are_enabled_by_their_client_id_and_apple_needs_its_key_settings() {
        let cli = Cli::try_parse_from(["lectern", "serve"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        let none = args.auth.oauth.resolve().expect("valid");
        assert!(none.google.is_none() && none.apple.is_none() && none.yandex.is_none() && none.vk.is_none());
        assert!(!none.yandex_trust_email);

        let cli = Cli::try_parse_from([
            "lectern", "serve", "--oauth-vk-client-id", "5123", "--oauth-google-client-id", "g",
            "--oauth-redirect-origins", "https://app.example,http://127.0.0.1:3000",
        ])
        .expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        let some = args.auth.oauth.resolve().expect("valid");
        assert_eq!(some.vk.expect("vk").token_url.as_str(), "https://id.vk.com/oauth2/auth");
        assert_eq!(some.google.expect("google").issuer.as_str(), "https://accounts.google.com/");
        assert_eq!(some.redirect_origins.len(), 2);

        let cli = Cli::try_parse_from(["lectern", "serve", "--oauth-apple-client-id", "com.example"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        let error = args.auth.oauth.resolve().expect_err("apple needs a key");
        assert_eq!(error.setting, "LECTERN_OAUTH_APPLE_PRIVATE_KEY");

        let cli = Cli::try_parse_from(["lectern", "serve", "--oauth-redirect-origins", "https://app.example/path"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        assert_eq!(args.auth.oauth.resolve().expect_err("no paths").setting, "LECTERN_OAUTH_REDIRECT_ORIGINS");
    }

    #[test]
    fn the_cdn_defaults_to_the_local_origin_and_takes_a_cloudfront_url() {
        let serve = |flags: &[&str]| {
            let mut argv = vec!["lectern", "serve", "--listen", "127.0.0.1:9000"];
            argv.extend_from_slice(flags);
            let cli = Cli::try_parse_from(argv).expect("flags parse");
            let Command::Serve(args) = cli.command else { panic!("serve expected") };
            args
        };
        let args = serve(&[]);
        let settings = args.cdn.resolve(&args.http.resolve().expect("valid"), None).expect("valid");
        assert_eq!(settings.base_url, "http://127.0.0.1:9000/cdn");
        assert_eq!(settings.hash_algorithm, crate::cdn::HashAlgorithm::Sha1);
        assert_eq!(settings.signature_ttl, Duration::from_secs(6 * 3600));
        assert!(settings.cloudfront.is_none());

        let args = serve(&[
            "--cdn-base-url",
            "https://d111111abcdef8.cloudfront.net/",
            "--cdn-hash-algorithm",
            "sha256",
            "--cloudfront-distribution-id",
            "E2QWRUHEXAMPLE",
        ]);
        let settings = args.cdn.resolve(&args.http.resolve().expect("valid"), None).expect("valid");
        assert_eq!(settings.base_url, "https://d111111abcdef8.cloudfront.net");
        assert_eq!(settings.hash_algorithm, crate::cdn::HashAlgorithm::Sha256);
        assert_eq!(settings.cloudfront.map(|c| c.distribution_id).as_deref(), Some("E2QWRUHEXAMPLE"));

        let args = serve(&["--cdn-trusted-keys-file", "/nonexistent/trusted-keys"]);
        let error = args.cdn.resolve(&args.http.resolve().expect("valid"), None).expect_err("missing file");
        assert_eq!(error.setting, "LECTERN_CDN_TRUSTED_KEYS_FILE");
    }

    #[test]
    fn a_worker_invalidates_only_with_a_distribution_and_the_base_url_its_paths_hang_under() {
        let worker = |flags: &[&str]| {
            let mut argv = vec!["lectern", "worker"];
            argv.extend_from_slice(flags);
            let cli = Cli::try_parse_from(argv).expect("flags parse");
            let Command::Worker(args) = cli.command else { panic!("worker expected") };
            args.distribution.resolve_for_worker(None)
        };
        assert!(worker(&[]).expect("valid").is_none());
        assert!(worker(&["--cdn-base-url", "https://cdn.example/media"]).expect("valid").is_none());
        let error = worker(&["--cloudfront-distribution-id", "E2QWRUHEXAMPLE"]).expect_err("no base URL");
        assert_eq!(error.setting, "LECTERN_CDN_BASE_URL");
        let (cloudfront, base_url) =
            worker(&["--cloudfront-distribution-id", "E2QWRUHEXAMPLE", "--cdn-base-url", "https://cdn.example/media/"])
                .expect("valid")
                .expect("configured");
        assert_eq!(cloudfront.distribution_id, "E2QWRUHEXAMPLE");
        assert_eq!(base_url, "https://cdn.example/media");
    }

    #[test]
    fn the_ingest_defaults_match_the_documented_ones() {
        let cli = Cli::try_parse_from(["lectern", "serve"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        let settings = args.ingest.resolve().expect("valid");
        let defaults = IngestSettings::default();
        assert_eq!(settings.limits, defaults.limits);
        assert_eq!(settings.fetch.max_redirects, defaults.fetch.max_redirects);
        assert_eq!(settings.fetch.max_bytes, defaults.fetch.max_bytes);
        assert_eq!(settings.fetch.total_timeout, defaults.fetch.total_timeout);
        assert_eq!(settings.multipart_part_size, defaults.multipart_part_size);
        assert_eq!(settings.multipart_expiry, defaults.multipart_expiry);
        assert_eq!(settings.sweep_interval, defaults.sweep_interval);
    }

    #[test]
    fn the_webhook_defaults_match_the_documented_ones_and_bad_values_name_their_setting() {
        let webhooks = |flags: &[&str]| {
            let cli = Cli::try_parse_from([&["lectern", "serve"], flags].concat()).expect("flags parse");
            let Command::Serve(args) = cli.command else { panic!("serve expected") };
            args.ingest.webhooks.resolve()
        };
        let settings = webhooks(&[]).expect("valid");
        let defaults = WebhookSettings::default();
        assert_eq!(settings.fetch.policy, defaults.fetch.policy);
        assert_eq!(settings.fetch.total_timeout, Duration::from_secs(10));
        assert_eq!(settings.fetch.max_redirects, 0);
        assert_eq!(settings.allow_http, defaults.allow_http);
        assert_eq!(settings.max_endpoints_per_account, defaults.max_endpoints_per_account);
        assert_eq!(settings.retry_base_delay, defaults.retry_base_delay);
        assert_eq!(settings.retry_max_delay, defaults.retry_max_delay);
        assert_eq!(settings.retry_window, Duration::from_secs(24 * 3600));
        for (flags, setting) in [
            (&["--webhook-allow-hosts", "10.0.0.0/40"][..], "LECTERN_WEBHOOK_ALLOW_HOSTS"),
            (&["--webhook-max-endpoints", "0"][..], "LECTERN_WEBHOOK_MAX_ENDPOINTS"),
            (&["--webhook-timeout", "5m"][..], "LECTERN_WEBHOOK_TIMEOUT"),
            (&["--webhook-retry-max-delay", "1s"][..], "LECTERN_WEBHOOK_RETRY_MAX_DELAY"),
            (&["--webhook-retry-window", "60d"][..], "LECTERN_WEBHOOK_RETRY_WINDOW"),
        ] {
            assert_eq!(webhooks(flags).expect_err("invalid").setting, setting);
        }
    }

    #[test]
    fn an_unparsable_import_allow_list_names_its_setting() {
        let cli = Cli::try_parse_from(["lectern", "serve", "--import-allow-hosts", "10.0.0.0/40"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        assert_eq!(args.ingest.resolve().expect_err("invalid").setting, "LECTERN_IMPORT_ALLOW_HOSTS");
    }

    #[test]
    fn the_upload_defaults_match_the_documented_ones() {
        let cli = Cli::try_parse_from(["lectern", "serve"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        assert_eq!(args.uploads.resolve().expect("valid"), UploadSettings::default());
        let cli = Cli::try_parse_from(["lectern", "serve", "--upload-part-size", "1MiB"]).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        assert_eq!(args.uploads.resolve().expect_err("too small").setting, "LECTERN_UPLOAD_PART_SIZE");
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
