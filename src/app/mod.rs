//! The composition root: the only place that names every domain. [`router`] mounts their
//! routes, [`jobs`] lists their job handlers, [`services`] builds the infrastructure they share
//! once for `serve` and `worker`. `main` and the integration tests both go through
//! [`Application::build`], so what is tested is what runs.

mod jobs;
pub mod ops;
mod router;
mod services;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{Auth, AuthSettings};
use crate::cdn::{Cdn, CdnSettings, Invalidator};
use crate::db::DatabaseSettings;
use crate::http::HttpSettings;
use crate::jobs::{WorkerPool, WorkerSettings};
use crate::keys::Keys;
use crate::media::{IngestSettings, UploadSettings};
use crate::metrics::Metrics;
use crate::payments::PaymentSettings;
use crate::storage::{ObjectStore, StorageSettings};
use crate::training::TrainingSettings;
use crate::training::certificates::CertificateSigner;
use crate::transcode::TranscoderSettings;
use crate::webhooks::WebhookSettings;

pub use jobs::handlers as job_handlers;
pub use router::{api, openapi_document};
pub use services::{ServiceSettings, Services};

/// What every request handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub storage: Arc<dyn ObjectStore>,
    pub metrics: Arc<Metrics>,
    /// The configured CloudFront distribution, if any (deleting an asset queues its
    /// invalidation).
    pub invalidator: Option<Invalidator>,
    pub http: Arc<HttpSettings>,
    pub keys: Arc<Keys>,
    pub auth: Arc<Auth>,
    pub cdn: Arc<Cdn>,
    pub ingest: Arc<IngestSettings>,
    pub uploads: Arc<UploadSettings>,
    /// Upload requests sending bodies now, bounded per account and in total.
    pub upload_slots: Arc<crate::media::UploadSlots>,
    /// Webhook settings and the sealer of the endpoints' signing secrets.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    pub training: Arc<TrainingSettings>,
    /// Signs course-completion certificates (`training::certificates::issue_in`) and verifies
    /// them with the current and earlier certificate keys.
    pub certificates: Arc<CertificateSigner>,
    /// Payment settings and the provider clients (none when payments are off).
    pub payments: Arc<crate::payments::Payments>,
    /// The LTI 1.3 tool: its settings and the platforms' cached key sets.
    pub lti: Arc<crate::lti::Lti>,
}

/// The settings of the domains, which both `serve` and `worker` hand to their job handlers.
#[derive(Debug, Clone)]
pub struct Settings {
    pub ingest: Arc<IngestSettings>,
    /// Webhook settings and the sealer of the endpoints' signing secrets (the webhook keys).
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    pub training: Arc<TrainingSettings>,
    pub payments: Arc<PaymentSettings>,
    /// The LTI tool (its settings, key and token cache), for the grade jobs.
    pub lti: Arc<crate::lti::Lti>,
    /// Outgoing mail's transport, for the `mail.send` job (accounts, issue 21).
    pub mail: Arc<crate::mail::Mailer>,
}

/// Resolved settings of `lectern serve`.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub keys: Keys,
    pub auth: AuthSettings,
    pub cdn: CdnSettings,
    pub ingest: IngestSettings,
    pub transcoder: TranscoderSettings,
    pub uploads: UploadSettings,
    pub webhooks: WebhookSettings,
    pub training: TrainingSettings,
    pub payments: PaymentSettings,
    pub lti: crate::lti::LtiSettings,
    pub mail: crate::mail::MailSettings, // accounts (issue 21)
    pub workers: WorkerSettings,
    pub migrate_on_start: bool,
    pub shutdown_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot connect to the database")]
    Database(#[from] crate::db::DbError),
    #[error("cannot open object storage")]
    Storage(#[from] crate::storage::StorageError),
    #[error("cannot set up the transcoder")]
    Transcoder(#[source] std::io::Error),
    #[error("cannot set up identity")]
    Auth(#[from] crate::auth::AuthError),
    #[error("cannot set up outgoing mail: {0}")]
    Mail(String), // accounts (issue 21)
    #[error("cannot use the certificate key")]
    CertificateKey(#[source] aws_lc_rs::error::KeyRejected),
    #[error("cannot listen on {address}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    services: Services,
    settings: Settings,
    workers: WorkerSettings,
    shutdown_timeout: Duration,
}

impl Application {
    /// Connects to the database (retrying while it starts), migrates when asked, opens storage
    /// and binds the listener.
    pub async fn build(settings: ServeSettings) -> Result<Self, StartupError> {
        let pool = crate::db::connect(&settings.database).await?;
        if settings.migrate_on_start {
            crate::db::migrate(&pool).await?;
        }
        let public_url = settings.http.public_url.clone();
        let application = Box::pin(Self::build_with_pool(settings, pool)).await?;
        // First run: no administrator yet, so the console's first page needs this token.
        match crate::auth::setup::prepare(&application.state.pool).await {
            Ok(Some(token)) => {
                let url = public_url.join(&format!("setup?token={token}")).unwrap_or(public_url);
                tracing::warn!(
                    setup_token = %token,
                    %url,
                    "no administrator yet: open {url} to create one (or run `lectern users create-admin`)"
                );
            }
            Ok(None) => {}
            Err(error) => tracing::error!(error = %crate::error_chain(&error), "cannot prepare the setup token"),
        }
        Ok(application)
    }

    /// Like [`Application::build`] with a pool already made (tests get one per test from
    /// `#[sqlx::test]`, already migrated).
    pub async fn build_with_pool(settings: ServeSettings, pool: PgPool) -> Result<Self, StartupError> {
        let cloudfront =
            settings.cdn.cloudfront.as_ref().map(|cloudfront| (cloudfront, settings.cdn.base_url.as_str()));
        let (services, local_store) = Services::build(
            pool,
            ServiceSettings {
                storage: &settings.storage,
                transcoder: &settings.transcoder,
                engine: settings.ingest.engine_settings(),
                cloudfront,
            },
        )
        .await?;
        let auth = Auth::new(settings.auth, &settings.keys, &settings.http.public_url).await?;
        let cdn = Cdn::new(settings.cdn, &settings.keys.cdn);
        let certificates = CertificateSigner::new(&settings.keys.certificate, &settings.keys.certificate_previous)
            .map_err(StartupError::CertificateKey)?;
        let domain_settings = Settings {
            ingest: Arc::new(settings.ingest),
            webhooks: Arc::new(crate::webhooks::Webhooks::new(settings.webhooks, &settings.keys.webhook_secrets)),
            training: Arc::new(settings.training),
            payments: Arc::new(settings.payments),
            lti: Arc::new(crate::lti::Lti::new(settings.lti, settings.keys.lti.clone())),
            mail: Arc::new(crate::mail::Mailer::new(settings.mail).map_err(StartupError::Mail)?), // accounts (issue 21)
        };
        let state = AppState {
            pool: services.pool.clone(),
            storage: Arc::clone(&services.storage),
            metrics: Arc::clone(&services.metrics),
            invalidator: services.invalidator.clone(),
            http: Arc::new(settings.http.clone()),
            keys: Arc::new(settings.keys),
            auth: Arc::new(auth),
            cdn: Arc::new(cdn),
            ingest: Arc::clone(&domain_settings.ingest),
            upload_slots: crate::media::UploadSlots::new(
                settings.uploads.max_concurrent,
                settings.uploads.max_concurrent_per_account,
            ),
            uploads: Arc::new(settings.uploads),
            webhooks: Arc::clone(&domain_settings.webhooks),
            certificates: Arc::new(certificates),
            training: Arc::clone(&domain_settings.training),
            payments: Arc::new(crate::payments::Payments::new(&domain_settings.payments)),
            lti: Arc::clone(&domain_settings.lti),
        };
        domain_settings.webhooks.reseal_secrets(&services.pool).await;
        let address = settings.http.listen;
        let listener = TcpListener::bind(address).await.map_err(|source| StartupError::Bind { address, source })?;
        let router = router::router(&state, local_store);
        Ok(Self {
            listener,
            router,
            state,
            services,
            settings: domain_settings,
            workers: settings.workers,
            shutdown_timeout: settings.shutdown_timeout,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting connections, lets in-flight
    /// requests and running jobs finish within the shutdown timeout, and returns.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let workers =
            (self.workers.concurrency > 0).then(|| start_workers(&self.services, &self.settings, self.workers));
        let stop_on_signal = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested; finishing in-flight work");
            stop_on_signal.cancel();
        });
        if let Some(workers) = &workers {
            let worker_stop = workers.stop_token();
            let stop = stop.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                worker_stop.cancel();
            });
        }

        tracing::info!(address = %self.listener.local_addr()?, "listening");
        // Connection info gives handlers the peer address (rate limits, the device list).
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(self.listener, service).with_graceful_shutdown(stop.clone().cancelled_owned());
        let deadline = async {
            stop.cancelled().await;
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        tokio::select! {
            result = server => result?,
            () = deadline => tracing::warn!("in-flight requests did not finish before the shutdown timeout"),
        }
        if let Some(workers) = workers {
            workers.shutdown().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Starts the job workers on `services` with every domain's handlers: the embedded workers of
/// `lectern serve` and the whole of `lectern worker`.
pub fn start_workers(services: &Services, settings: &Settings, workers: WorkerSettings) -> WorkerPool {
    WorkerPool::start(
        services.pool.clone(),
        Arc::clone(&services.storage),
        Arc::clone(&services.metrics),
        job_handlers(services, settings),
        workers,
    )
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
