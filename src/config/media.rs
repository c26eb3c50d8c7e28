//! Media arguments: what the probe accepts, the engine sandbox, ingest (imports, direct
//! multipart uploads, the upload sweep, fast start) and tus uploads.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{ConfigError, parse_bytes, parse_duration};
use crate::media::{IngestSettings, UploadSettings};
use crate::storage::{MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};

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
    let (width, height) =
        raw.trim().split_once(['x', 'X', '×']).ok_or_else(|| format!("{raw:?} is not a resolution like 4096x2304"))?;
    let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|n| *n > 0);
    match (parse(width), parse(height)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!("{raw:?} is not a resolution like 4096x2304")),
    }
}

/// URL imports, direct-to-storage multipart uploads, the probe job and the sweep of abandoned
/// uploads. Shared by `serve` (API and embedded workers) and `worker`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub limits: MediaLimitArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
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
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.multipart_part_size) {
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
            superseded_grace: self.superseded_grace,
            fast_start: self.fast_start,
        })
    }
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
    /// Size of the storage parts an upload is cut into on S3: 5MiB to 5GiB, and large enough
    /// that 10,000 parts (S3's most) hold `LECTERN_MAX_UPLOAD_SIZE`. A request buffers at most
    /// one part in memory.
    #[arg(long, env = "LECTERN_UPLOAD_PART_SIZE", default_value = "8MiB", value_parser = parse_bytes)]
    pub upload_part_size: u64,
    /// How long an upload body may send nothing before its request is ended (what arrived is
    /// kept; the client resumes).
    #[arg(long, env = "LECTERN_UPLOAD_IDLE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub upload_idle_timeout: Duration,
    /// Upload requests that may send bodies at once; more are answered `429 too_many_uploads`.
    #[arg(long, env = "LECTERN_MAX_CONCURRENT_UPLOADS", default_value_t = 256)]
    pub max_concurrent_uploads: usize,
    /// Upload requests one account may have sending at once.
    #[arg(long, env = "LECTERN_MAX_CONCURRENT_UPLOADS_PER_ACCOUNT", default_value_t = 16)]
    pub max_concurrent_uploads_per_account: usize,
}

impl UploadArgs {
    pub fn resolve(&self) -> Result<UploadSettings, ConfigError> {
        if self.max_upload_size == 0 {
            return Err(ConfigError::new("LECTERN_MAX_UPLOAD_SIZE", "must be more than 0"));
        }
        if self.upload_expiry < Duration::from_secs(60) {
            return Err(ConfigError::new("LECTERN_UPLOAD_EXPIRY", "must be at least 1m"));
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.upload_part_size) {
            return Err(ConfigError::new("LECTERN_UPLOAD_PART_SIZE", "must be between 5MiB and 5GiB (S3 rules)"));
        }
        // Parts are all of this size but the last, and S3 joins at most 10,000: smaller parts
        // would let an upload fail at its 10,001st part, long after it was accepted.
        if self.upload_part_size.saturating_mul(u64::from(MAX_PARTS)) < self.max_upload_size {
            let needed = self.max_upload_size.div_ceil(u64::from(MAX_PARTS)).div_ceil(1024 * 1024);
            return Err(ConfigError::new(
                "LECTERN_UPLOAD_PART_SIZE",
                format!(
                    "10,000 parts of this size cannot hold LECTERN_MAX_UPLOAD_SIZE (an S3 rule); use at least {needed}MiB"
                ),
            ));
        }
        if self.upload_idle_timeout < Duration::from_secs(1) {
            return Err(ConfigError::new("LECTERN_UPLOAD_IDLE_TIMEOUT", "must be at least 1s"));
        }
        if self.max_concurrent_uploads == 0 {
            return Err(ConfigError::new("LECTERN_MAX_CONCURRENT_UPLOADS", "must be more than 0"));
        }
        if self.max_concurrent_uploads_per_account == 0 {
            return Err(ConfigError::new("LECTERN_MAX_CONCURRENT_UPLOADS_PER_ACCOUNT", "must be more than 0"));
        }
        let part_size = usize::try_from(self.upload_part_size)
            .map_err(|_| ConfigError::new("LECTERN_UPLOAD_PART_SIZE", "too large for this machine"))?;
        Ok(UploadSettings {
            max_size: self.max_upload_size,
            expiry: self.upload_expiry,
            part_size,
            body_idle_timeout: self.upload_idle_timeout,
            max_concurrent: self.max_concurrent_uploads,
            max_concurrent_per_account: self.max_concurrent_uploads_per_account,
            ..UploadSettings::default()
        })
    }
}
