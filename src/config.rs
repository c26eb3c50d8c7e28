//! Typed configuration from flags and environment variables.
//!
//! This is the only module that reads the process environment. Every setting is a clap argument
//! with an `env` name, so `lectern serve --help` documents each one with its variable and
//! default. Secrets may also be given as a path in `<VARIABLE>_FILE` (Docker/Kubernetes
//! secrets). The raw arguments are then resolved into settings structs that the rest of the
//! program consumes; resolution fails with a [`ConfigError`] that names the offending variable,
//! and `main` turns that into exit code 2.

mod auth;
mod delivery;
mod infrastructure;
mod lti;
mod mail; // accounts (issue 21)
mod media;
mod payments;
mod training;
mod webhooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

pub use auth::{AuthArgs, OAuthArgs, PasswordArgs};
pub use delivery::{CdnArgs, DistributionArgs};
pub use infrastructure::{
    DatabaseArgs, HttpArgs, JobArgs, KeyFileArgs, StorageArgs, StorageKind, TranscoderArgs, TranscoderKind,
};
pub use lti::LtiArgs;
pub use mail::MailArgs; // accounts (issue 21)
pub use media::{EngineArgs, IngestArgs, MediaLimitArgs, UploadArgs, parse_resolution};
pub use payments::PaymentArgs;
pub use training::TrainingArgs;
pub use webhooks::WebhookArgs;

use crate::auth::RateLimit;

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
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub training: TrainingArgs,
    #[command(flatten)]
    pub payments: PaymentArgs,
    #[command(flatten)]
    pub lti: LtiArgs,
    // accounts (issue 21)
    #[command(flatten)]
    pub mail: MailArgs,
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
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub training: TrainingArgs,
    #[command(flatten)]
    pub payments: PaymentArgs,
    #[command(flatten)]
    pub lti: LtiArgs,
    // accounts (issue 21)
    #[command(flatten)]
    pub mail: MailArgs,
    #[command(flatten)]
    pub distribution: DistributionArgs,
    #[command(flatten)]
    pub jobs: JobArgs,
    /// Jobs to run at once in this process.
    #[arg(long, env = "LECTERN_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Address to serve this process's `/metrics` (job outcomes, encode speed, webhook sends,
    /// invalidations) and `/healthz` on, for Prometheus; unset, no listener.
    #[arg(long, env = "LECTERN_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
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
    // --- OTLP trace export (issue 19) ---
    /// Base URL of an OpenTelemetry collector's OTLP/HTTP receiver, e.g. `http://127.0.0.1:4318`
    /// (plain HTTP: a sidecar or host agent); spans are POSTed as protobuf to its `/v1/traces`.
    /// Unset: no spans leave the process.
    #[arg(long, env = "LECTERN_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<url::Url>,
    /// The `service.name` of the exported spans.
    #[arg(long, env = "LECTERN_OTLP_SERVICE_NAME", default_value = "lectern")]
    pub otlp_service_name: String,
    // --- end OTLP ---
}

// --- OTLP trace export (issue 19) ---
impl CommonArgs {
    /// The span export settings, when an endpoint is set.
    pub fn otlp(&self) -> Result<Option<crate::telemetry::OtlpSettings>, ConfigError> {
        let Some(endpoint) = &self.otlp_endpoint else { return Ok(None) };
        // The exporter's client is built without TLS: collectors run beside Lectern (a sidecar,
        // an agent on the host), and their own exporters carry spans on over TLS.
        if endpoint.scheme() != "http" || endpoint.host().is_none() {
            return Err(ConfigError::new(
                "LECTERN_OTLP_ENDPOINT",
                "must be an http:// URL of a collector beside Lectern (the exporter does not speak TLS)",
            ));
        }
        if self.otlp_service_name.trim().is_empty() {
            return Err(ConfigError::new("LECTERN_OTLP_SERVICE_NAME", "must not be empty"));
        }
        Ok(Some(crate::telemetry::OtlpSettings {
            endpoint: endpoint.clone(),
            service_name: self.otlp_service_name.clone(),
        }))
    }
}
// --- end OTLP ---

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
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
    let contents = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(setting, format!("cannot read {setting}_FILE {} ({e})", path.display())))?;
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

#[cfg(test)]
mod tests;
