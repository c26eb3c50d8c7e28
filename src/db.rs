//! PostgreSQL: connecting (with bounded retries at start-up), creating the database in embedded
//! mode, and applying the migrations embedded in the binary.

use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use secrecy::SecretString;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{PgPool, Postgres};

/// Resolved database settings (see `crate::config` for the variables).
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    pub create_if_missing: bool,
}

/// Where the embedded defaults look for PostgreSQL.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/lectern";

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unreachable after {waited:?}")]
    Unreachable {
        waited: Duration,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create the database")]
    Create(#[source] sqlx::Error),
    #[error("cannot apply migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Connects to PostgreSQL, retrying with exponential backoff until `connect_timeout` has passed,
/// so `lectern serve` can start alongside a database that is still booting. Creates the database
/// first when it is missing and `create_if_missing` is set.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, DbError> {
    let url = settings.url.expose_secret();
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        let attempt = async {
            if settings.create_if_missing && !Postgres::database_exists(url).await? {
                tracing::info!("creating the database");
                Postgres::create_database(url).await?;
            }
            let options = without_loopback_tls(url.parse()?, url);
            PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.application_name("lectern"))
                .await
        };
        match attempt.await {
            Ok(pool) => return Ok(pool),
            Err(error) if is_transient(&error) && started.elapsed() + delay < settings.connect_timeout => {
                tracing::warn!(error = %error, retry_in = ?delay, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(source) if is_transient(&source) => {
                return Err(DbError::Unreachable { waited: started.elapsed(), source });
            }
            Err(source) => return Err(DbError::Create(source)),
        }
    }
}

/// TLS to a PostgreSQL on the same host protects nothing and costs every query an encryption
/// each way (a few per cent of a progress report's CPU, measured): a loopback host or a Unix
/// socket connects in plain text unless the URL (`sslmode=`) or `PGSSLMODE` asks otherwise.
/// Any other host keeps the driver's default (`prefer`).
fn without_loopback_tls(options: PgConnectOptions, url: &str) -> PgConnectOptions {
    let explicit = url.contains("sslmode=") || std::env::var_os("PGSSLMODE").is_some();
    let host = options.get_host();
    let loopback = options.get_socket().is_some()
        || host.starts_with('/')
        || host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback && !explicit { options.ssl_mode(PgSslMode::Disable) } else { options }
}

/// Errors worth waiting out at start-up: the server is down or still starting.
fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        // 57P03: the database system is starting up.
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// A cheap round trip for `/readyz`.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("select 1").execute(pool).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> String {
        format!("{:?}", without_loopback_tls(url.parse().expect("a URL"), url).get_ssl_mode())
    }

    #[test]
    fn loopback_connects_without_tls_unless_asked() {
        if std::env::var_os("PGSSLMODE").is_some() {
            return; // the environment decides; nothing here to check
        }
        assert_eq!(mode("postgres://postgres@127.0.0.1:5432/lectern"), "Disable");
        assert_eq!(mode("postgres://postgres@localhost/lectern"), "Disable");
        assert_eq!(mode("postgres://postgres@[::1]:5432/lectern"), "Disable");
        assert_eq!(mode("postgres://postgres@127.0.0.1/lectern?sslmode=require"), "Require");
        assert_eq!(mode("postgres://postgres@db.example.com/lectern"), "Prefer");
        assert_eq!(mode("postgres://postgres@10.0.0.5/lectern"), "Prefer");
    }
}
