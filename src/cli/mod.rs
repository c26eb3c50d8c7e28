//! The `lectern` command line: resolves settings, then runs the chosen subcommand.

mod media;
mod users;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use std::sync::Arc;

use crate::app::{Application, ServeSettings, ServiceSettings, Services, Settings};
use crate::config::{Cli, Command, ConfigError, KeysCommand, UsersCommand};

/// Exit code for unusable configuration (like clap's own usage errors).
const EXIT_CONFIG: u8 = 2;
/// Exit code for a media file Lectern refuses (`empty_file`, `not_a_media_file`, …).
const EXIT_REFUSED: u8 = 3;

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    // The engine child is synchronous and must not start a runtime of its own threads.
    if matches!(cli.command, Command::Engine) {
        return crate::engine::child::run();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(config) = error.downcast_ref::<ConfigError>() {
                eprintln!("error: invalid configuration: {config}");
                return ExitCode::from(EXIT_CONFIG);
            }
            if let Some(media::Refused(refusal)) = error.downcast_ref::<media::Refused>() {
                eprintln!("error: {}: {}", refusal.code, refusal.message);
                return ExitCode::from(EXIT_REFUSED);
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => Box::pin(serve(*args)).await,
        Command::Probe(args) => media::probe(args).await,
        Command::Transcode(args) => media::transcode(*args).await,
        Command::Engine => unreachable_engine(),
        Command::Worker(args) => Box::pin(worker(*args)).await,
        Command::Migrate(args) => {
            crate::telemetry::init(args.common.log_format, &args.common.log_filter);
            let database = args.database.resolve()?;
            let pool = crate::db::connect(&database).await?;
            crate::db::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Users { command: UsersCommand::CreateAdmin(args) } => users::create_admin(&args).await,
        Command::Keys { command: KeysCommand::Generate(args) } => {
            crate::telemetry::init(args.common.log_format, &args.common.log_filter);
            let paths = args.keys.resolve(&args.common);
            let (keys, generated) = crate::keys::load_or_generate(&paths)?;
            for path in &generated.0 {
                eprintln!("generated {path}");
            }
            if generated.0.is_empty() {
                eprintln!("all keys already exist; nothing generated");
            }
            let public = crate::keys::cdn_public_key_pem(&keys.cdn).map_err(anyhow::Error::msg)?;
            eprintln!(
                "certificate key id: {} (published at /.well-known/lectern-certificate-keys.json)",
                keys.certificate.key_id
            );
            eprintln!("CDN key-pair id: {}", keys.cdn.key_pair_id);
            eprintln!("CDN public key (upload it to CloudFront as a public key in a key group):");
            let mut stdout = std::io::stdout().lock();
            std::io::Write::write_all(&mut stdout, public.as_bytes()).context("cannot write to standard output")?;
            Ok(())
        }
    }
}

/// `__engine` is dispatched before the runtime starts; reaching here would be a bug in `run`.
fn unreachable_engine() -> anyhow::Result<()> {
    anyhow::bail!("the engine subcommand is handled before the runtime starts")
}

async fn serve(args: crate::config::ServeArgs) -> anyhow::Result<()> {
    // --- OTLP trace export (issue 19) ---
    let otlp = args.common.otlp()?;
    let telemetry = crate::telemetry::init_with_export(args.common.log_format, &args.common.log_filter, otlp.as_ref());
    let result = Box::pin(serve_traced(args)).await;
    telemetry.shutdown().await;
    result
}

async fn serve_traced(args: crate::config::ServeArgs) -> anyhow::Result<()> {
    // --- end OTLP ---
    let http = args.http.resolve()?;
    let database = args.database.resolve()?;
    let (keys, generated) = crate::keys::load_or_generate(&args.keys.resolve(&args.common))?;
    for path in &generated.0 {
        tracing::info!(path, "generated a signing key");
    }
    let storage = args.storage.resolve(&args.common, &http.public_url, keys.storage_secret.clone())?;
    let auth = args.auth.resolve(args.storage.redis_url.as_deref())?;
    let mut cdn = args.cdn.resolve(&http, static_aws_keys(&storage, &args.storage))?;
    if let Some(path) = args.cdn.trusted_keys_file() {
        cdn.trusted_keys = crate::keys::load_cdn_trusted_keys(path)?;
    }
    let settings = ServeSettings {
        http,
        database,
        storage,
        keys,
        auth,
        cdn,
        ingest: args.ingest.resolve()?,
        transcoder: args.transcoder.resolve(&args.storage)?,
        uploads: args.uploads.resolve()?,
        webhooks: args.webhooks.resolve()?,
        training: args.training.resolve()?,
        payments: args.payments.resolve()?,
        lti: args.lti.resolve()?,
        mail: args.mail.resolve()?, // accounts (issue 21)
        workers: args.jobs.resolve(args.workers, args.common.shutdown_timeout)?,
        migrate_on_start: args.migrate_on_start,
        shutdown_timeout: args.common.shutdown_timeout,
    };
    // Boxed: the settings and the start-up steps make a future larger than the stack should hold.
    let application = Box::pin(Application::build(settings)).await?;
    application.run_until_stopped(crate::app::shutdown_signal()).await.context("the server failed")?;
    Ok(())
}

async fn worker(args: crate::config::WorkerArgs) -> anyhow::Result<()> {
    // --- OTLP trace export (issue 19) ---
    let otlp = args.common.otlp()?;
    let telemetry = crate::telemetry::init_with_export(args.common.log_format, &args.common.log_filter, otlp.as_ref());
    let result = Box::pin(worker_traced(args)).await;
    telemetry.shutdown().await;
    result
}

async fn worker_traced(args: crate::config::WorkerArgs) -> anyhow::Result<()> {
    // --- end OTLP ---
    if args.workers == 0 {
        return Err(ConfigError::new("LECTERN_WORKERS", "a worker process needs at least 1 worker").into());
    }
    let database = args.database.resolve()?;
    let worker_settings = args.jobs.resolve(args.workers, args.common.shutdown_timeout)?;
    let transcoder = args.transcoder.resolve(&args.storage)?;
    let (keys, _) = crate::keys::load_or_generate(&args.keys.resolve(&args.common))?;
    let settings = Settings {
        ingest: Arc::new(args.ingest.resolve()?),
        webhooks: Arc::new(crate::webhooks::Webhooks::new(args.webhooks.resolve()?, &keys.webhook_secrets)),
        training: Arc::new(args.training.resolve()?),
        payments: Arc::new(args.payments.resolve()?),
        lti: Arc::new(crate::lti::Lti::new(args.lti.resolve()?, keys.lti.clone())),
        // accounts (issue 21)
        mail: Arc::new(
            crate::mail::Mailer::new(args.mail.resolve()?)
                .map_err(|message| ConfigError::new("LECTERN_MAIL_FROM", message))?,
        ),
    };
    // Workers never serve presigned URLs, but the local backend is built from the same settings.
    let public_url = url::Url::parse("http://127.0.0.1:8080").context("constant URL")?;
    let storage = args.storage.resolve(&args.common, &public_url, keys.storage_secret.clone())?;
    let distribution = args.distribution.resolve_for_worker(static_aws_keys(&storage, &args.storage))?;
    let pool = crate::db::connect(&database).await?;
    let (services, _) = Services::build(
        pool,
        ServiceSettings {
            storage: &storage,
            transcoder: &transcoder,
            engine: settings.ingest.engine_settings(),
            cloudfront: distribution.as_ref().map(|(cloudfront, base_url)| (cloudfront, base_url.as_str())),
        },
    )
    .await?;
    // Bound before the workers start, so a taken port stops the process before it claims a job.
    let metrics_server = match args.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} (LECTERN_METRICS_LISTEN)"))?;
            tracing::info!(%address, "serving this worker's metrics");
            let router = crate::app::ops::worker_router(services.metrics.clone());
            Some(tokio::spawn(async move { axum::serve(listener, router).await }))
        }
        None => None,
    };
    settings.webhooks.reseal_secrets(&services.pool).await;
    let workers = crate::app::start_workers(&services, &settings, worker_settings);
    crate::app::shutdown_signal().await;
    tracing::info!("shutdown requested; finishing running jobs");
    workers.shutdown().await;
    // Scraped until the last job has been counted; nothing in flight is lost by stopping it now.
    if let Some(server) = metrics_server {
        server.abort();
    }
    Ok(())
}

/// The static AWS keys of the S3 settings, which the CloudFront client shares (otherwise it
/// uses the AWS default chain).
fn static_aws_keys(
    storage: &crate::storage::StorageSettings,
    args: &crate::config::StorageArgs,
) -> Option<(String, secrecy::SecretString)> {
    match (storage, &args.aws_access_key_id) {
        (crate::storage::StorageSettings::S3(s3), Some(id)) => {
            s3.secret_access_key.clone().map(|secret| (id.clone(), secret))
        }
        _ => None,
    }
}
