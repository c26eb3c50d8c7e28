//! Building and running the application. `main` and the integration tests both go through
//! [`Application::build`], so what is tested is what runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::config::{AuthSettings, DatabaseSettings, HttpSettings, IngestSettings, UploadSettings};
use crate::jobs::{WorkerPool, WorkerSettings};
use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::storage::{ObjectStore, StorageSettings};

/// What every request handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub storage: Arc<dyn ObjectStore>,
    pub metrics: Arc<Metrics>,
    pub http: Arc<HttpSettings>,
    pub keys: Arc<Keys>,
    pub auth: Arc<Auth>,
    pub cdn: Arc<crate::cdn::Cdn>,
    pub ingest: Arc<IngestSettings>,
    pub uploads: Arc<UploadSettings>,
}

/// Resolved settings of `lectern serve`.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub keys: Keys,
    pub auth: AuthSettings,
    pub cdn: crate::cdn::CdnSettings,
    pub ingest: IngestSettings,
    pub uploads: UploadSettings,
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
    workers: WorkerSettings,
    shutdown_timeout: Duration,
    transcoder: Arc<dyn crate::transcode::Transcoder>,
}

impl Application {
    /// Connects to the database (retrying while it starts), migrates when asked, opens storage
    /// and binds the listener.
    pub async fn build(settings: ServeSettings) -> Result<Self, StartupError> {
        let pool = crate::db::connect(&settings.database).await?;
        if settings.migrate_on_start {
            crate::db::migrate(&pool).await?;
        }
        Box::pin(Self::build_with_pool(settings, pool)).await
    }

    /// Like [`Application::build`] with a pool already made (tests get one per test from
    /// `#[sqlx::test]`, already migrated).
    pub async fn build_with_pool(settings: ServeSettings, pool: PgPool) -> Result<Self, StartupError> {
        let storage = crate::storage::connect(&settings.storage).await?;
        let auth = Auth::new(settings.auth, &settings.keys, &settings.http.public_url).await?;
        let cdn = crate::cdn::Cdn::connect(settings.cdn, &settings.keys.cdn).await;
        let transcoder = crate::transcode::connect(&settings.ingest).await.map_err(StartupError::Transcoder)?;
        let state = AppState {
            pool,
            storage: storage.store,
            metrics: Arc::new(Metrics::new()),
            http: Arc::new(settings.http.clone()),
            keys: Arc::new(settings.keys),
            auth: Arc::new(auth),
            cdn: Arc::new(cdn),
            ingest: Arc::new(settings.ingest),
            uploads: Arc::new(settings.uploads),
        };
        let address = settings.http.listen;
        let listener = TcpListener::bind(address).await.map_err(|source| StartupError::Bind { address, source })?;
        let router = crate::http::router(&state, storage.routes);
        Ok(Self { listener, router, state, workers: settings.workers, shutdown_timeout: settings.shutdown_timeout, transcoder })
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
        let workers = (self.workers.concurrency > 0).then(|| {
            WorkerPool::start(
                self.state.pool.clone(),
                self.state.storage.clone(),
                self.state.metrics.clone(),
                crate::jobs::handlers(
                    &self.state.ingest,
                    &self.transcoder,
                    &self.state.metrics,
                    self.state.cdn.invalidator.as_ref(),
                ),
                self.workers,
            )
        });
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
