//! Resolved media settings (see `crate::config` for the variables): ingest (imports, multipart
//! uploads, probing, the engine) and tus uploads.

use std::path::PathBuf;
use std::time::Duration;

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
    /// How long a superseded version's files are kept.
    pub superseded_grace: Duration,
    /// Remux remuxable sources into a first playable version before the ladder
    /// (`LECTERN_FAST_START`).
    pub fast_start: bool,
}

impl IngestSettings {
    /// How engine children are run: the probe's and the fast first package's here, and the local
    /// transcoder's.
    pub fn engine_settings(&self) -> crate::engine::EngineSettings {
        crate::engine::EngineSettings {
            limits: self.engine,
            program: self.engine_program.clone(),
            work_dir: self.work_dir.clone(),
        }
    }
}

impl Default for IngestSettings {
    /// The documented defaults.
    fn default() -> Self {
        let limits = pipelines::limits::Limits::default();
        Self {
            limits,
            engine: crate::engine::EngineLimits::default(),
            engine_program: None,
            fetch: crate::net::FetchSettings {
                max_bytes: limits.max_file_bytes,
                ..crate::net::FetchSettings::default()
            },
            multipart_part_size: 16 * 1024 * 1024,
            multipart_url_ttl: Duration::from_secs(3600),
            multipart_expiry: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(300),
            work_dir: None,
            superseded_grace: Duration::from_secs(3600),
            fast_start: true,
        }
    }
}

/// Resolved tus upload settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSettings {
    pub max_size: u64,
    pub expiry: Duration,
    pub part_size: usize,
    /// How long a PATCH holds an upload without renewing its lease; it renews every third of
    /// this while bytes flow, and releases when it ends.
    pub lease: Duration,
    /// How long an upload body may send nothing before the request is ended (what arrived is
    /// kept, and the client resumes from there).
    pub body_idle_timeout: Duration,
    /// Upload requests that may stream bodies at once, in total and per account; beyond them a
    /// request is answered `429 too_many_uploads`.
    pub max_concurrent: usize,
    pub max_concurrent_per_account: usize,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            max_size: 20 * 1024 * 1024 * 1024,
            expiry: Duration::from_secs(24 * 3600),
            part_size: 8 * 1024 * 1024,
            lease: Duration::from_secs(60),
            body_idle_timeout: Duration::from_secs(30),
            max_concurrent: 256,
            max_concurrent_per_account: 16,
        }
    }
}
