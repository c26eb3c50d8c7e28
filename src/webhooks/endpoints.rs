//! All SQL of `webhook_endpoint`, the checks a URL passes before it is stored, and the secrets.

use base64::Engine;
use sqlx::PgPool;
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

use super::WebhookError;
use super::WebhookSettings;
use super::secrets::{SecretSealer, StoredSecrets};
use crate::net::{FetchError, GuardedFetcher, UrlRefusal};

/// Every secret starts with this, so it is recognisable in a config file or a leak report.
pub const SECRET_PREFIX: &str = "whsec_";

const URL_MAX_BYTES: usize = 2048;
const DESCRIPTION_MAX_CHARS: usize = 200;

/// A `webhook_endpoint` row as stored (without its secrets, which only sends and rotations read).
#[derive(Debug, Clone)]
pub struct EndpointRow {
    pub webhook_endpoint_id: Uuid,
    pub owner_id: Uuid,
    pub url: String,
    /// Empty: every documented type.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// While the secret before the last rotation still signs beside the current one.
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// The secret columns of a `webhook_endpoint` row (see [`super::secrets`]).
#[derive(Debug, Clone)]
pub struct SecretColumns {
    pub webhook_endpoint_id: Uuid,
    pub secret: Option<String>,
    pub secret_key_id: Option<String>,
    pub secret_sealed: Option<Vec<u8>>,
    pub previous_secret_key_id: Option<String>,
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<OffsetDateTime>,
}

impl SecretColumns {
    pub fn stored(&self) -> StoredSecrets<'_> {
        StoredSecrets {
            endpoint_id: self.webhook_endpoint_id,
            clear: self.secret.as_deref(),
            key_id: self.secret_key_id.as_deref(),
            sealed: self.secret_sealed.as_deref(),
            previous_key_id: self.previous_secret_key_id.as_deref(),
            previous_sealed: self.previous_secret_sealed.as_deref(),
            previous_expires_at: self.previous_secret_expires_at,
        }
    }
}

/// A new endpoint, already validated.
pub struct NewEndpoint {
    pub owner_id: Uuid,
    pub url: Url,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// `whsec_` + 32 random bytes in base64url without padding (256 bits).
pub fn new_secret() -> Result<String, WebhookError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| WebhookError::Random(std::io::Error::other(e.to_string())))?;
    Ok(format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// The event filter as stored: `None`, `[]` or anything containing `*` mean every type (stored
/// as the empty list); otherwise the documented types, deduplicated, or `unknown_event_type`.
pub fn parse_events(raw: Option<&[String]>) -> Result<Vec<String>, WebhookError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    if raw.iter().any(|event| event.trim() == "*") {
        return Ok(Vec::new());
    }
    let mut events = Vec::new();
    for event in raw {
        let event = event.trim();
        if !super::is_delivered(event) {
            return Err(WebhookError::UnknownEventType(event.to_owned()));
        }
        if !events.iter().any(|known: &String| known == event) {
            events.push(event.to_owned());
        }
    }
    // Documented order, so the same filter always reads the same.
    events.sort_by_key(|event| super::EVENT_TYPES.iter().position(|known| known == event));
    Ok(events)
}

pub fn parse_description(raw: Option<&str>) -> Result<Option<String>, WebhookError> {
    match raw.map(str::trim).filter(|text| !text.is_empty()) {
        Some(text) if text.chars().count() > DESCRIPTION_MAX_CHARS => {
            Err(WebhookError::InvalidField(format!("description must be at most {DESCRIPTION_MAX_CHARS} characters")))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

/// A webhook URL Lectern is willing to POST to: `https` (or `http` when the operator allows it),
/// no credentials or fragment, at most 2 KiB (`webhook_url_invalid`), and a host whose every
/// address is public or on the operator's allow-list (`webhook_url_forbidden`). The host is
/// resolved now; every send resolves and vets it again, since DNS answers change.
pub async fn check_url(settings: &WebhookSettings, raw: &str) -> Result<Url, WebhookError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > URL_MAX_BYTES {
        return Err(WebhookError::UrlInvalid(format!("url must be 1 to {URL_MAX_BYTES} bytes")));
    }
    let url = Url::parse(raw).map_err(|e| WebhookError::UrlInvalid(format!("url is not a valid URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if settings.allow_http => {}
        "http" => return Err(WebhookError::UrlInvalid("url must use https".to_owned())),
        other => return Err(WebhookError::UrlInvalid(format!("url must use https, not {other}:"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookError::UrlInvalid("url must not carry a user name or password".to_owned()));
    }
    if url.fragment().is_some() {
        return Err(WebhookError::UrlInvalid("url must not have a #fragment".to_owned()));
    }
    let fetcher = GuardedFetcher::new(settings.fetch.clone());
    match fetcher.vet(&url).await {
        Ok(_) => Ok(url),
        Err(FetchError::Refused(UrlRefusal::Address(refusal))) => {
            Err(WebhookError::UrlForbidden(format!("url must reach a public address: {refusal}")))
        }
        Err(FetchError::Resolve { host, .. }) => {
            Err(WebhookError::UrlInvalid(format!("the host {host} of url does not resolve")))
        }
        Err(other) => Err(WebhookError::UrlInvalid(format!("url is not usable: {other}"))),
    }
}

/// Stores a new endpoint with `secret` sealed by `sealer` unless the owner already has `max`
/// (`too_many_webhooks`). The count and the insert run under a per-owner advisory lock, so two
/// concurrent requests cannot both take the last place.
pub async fn create(
    pool: &PgPool,
    sealer: &SecretSealer,
    new: &NewEndpoint,
    secret: &str,
    max: u32,
) -> Result<EndpointRow, WebhookError> {
    // The id is made here: the sealed secret is bound to it.
    let endpoint_id = Uuid::new_v4();
    let sealed = sealer.seal(endpoint_id, secret)?;
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('webhook_endpoint:' || $1::uuid::text, 0))",
        new.owner_id
    )
    .execute(&mut *tx)
    .await?;
    let count =
        sqlx::query_scalar!(r#"select count(*) as "count!" from webhook_endpoint where owner_id = $1"#, new.owner_id)
            .fetch_one(&mut *tx)
            .await?;
    if count >= i64::from(max) {
        return Err(WebhookError::TooMany(max));
    }
    let row = sqlx::query_as!(
        EndpointRow,
        r#"
        insert into webhook_endpoint (webhook_endpoint_id, owner_id, url, secret_key_id, secret_sealed, events,
                                      description)
        values ($1, $2, $3, $4, $5, $6, $7)
        returning webhook_endpoint_id, owner_id, url, events, description, previous_secret_expires_at, created_at
        "#,
        endpoint_id,
        new.owner_id,
        new.url.as_str(),
        sealed.key_id,
        sealed.bytes,
        &new.events,
        new.description,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn get(pool: &PgPool, endpoint_id: Uuid) -> Result<Option<EndpointRow>, WebhookError> {
    Ok(sqlx::query_as!(
        EndpointRow,
        r#"
        select webhook_endpoint_id, owner_id, url, events, description, previous_secret_expires_at, created_at
        from webhook_endpoint where webhook_endpoint_id = $1
        "#,
        endpoint_id,
    )
    .fetch_optional(pool)
    .await?)
}

/// One owner's endpoints, oldest first (there are few: the per-account limit is small).
pub async fn list(pool: &PgPool, owner_id: Uuid) -> Result<Vec<EndpointRow>, WebhookError> {
    Ok(sqlx::query_as!(
        EndpointRow,
        r#"
        select webhook_endpoint_id, owner_id, url, events, description, previous_secret_expires_at, created_at
        from webhook_endpoint where owner_id = $1
        order by created_at, webhook_endpoint_id
        "#,
        owner_id,
    )
    .fetch_all(pool)
    .await?)
}

/// Gives the endpoint `secret` (sealed by `sealer`) as its current secret; the one it replaces
/// keeps signing beside it for `overlap` (none when zero), and any older one stops. In one
/// transaction holding the row, so two rotations cannot both keep "their" previous secret.
/// `None` when the endpoint is gone.
pub async fn rotate_secret(
    pool: &PgPool,
    sealer: &SecretSealer,
    endpoint_id: Uuid,
    secret: &str,
    overlap: time::Duration,
) -> Result<Option<EndpointRow>, WebhookError> {
    let mut tx = pool.begin().await?;
    let Some(columns) = lock_secret_columns(&mut tx, endpoint_id).await? else { return Ok(None) };
    let new = sealer.seal(endpoint_id, secret)?;
    let previous = if overlap.is_positive() {
        let replaced = sealer.current(&columns.stored())?;
        Some((sealer.seal(endpoint_id, &replaced)?, OffsetDateTime::now_utc() + overlap))
    } else {
        None
    };
    let row = sqlx::query_as!(
        EndpointRow,
        r#"
        update webhook_endpoint
        set secret = null, secret_key_id = $2, secret_sealed = $3,
            previous_secret_key_id = $4, previous_secret_sealed = $5, previous_secret_expires_at = $6
        where webhook_endpoint_id = $1
        returning webhook_endpoint_id, owner_id, url, events, description, previous_secret_expires_at, created_at
        "#,
        endpoint_id,
        new.key_id,
        new.bytes,
        previous.as_ref().map(|(sealed, _)| sealed.key_id.as_str()),
        previous.as_ref().map(|(sealed, _)| sealed.bytes.as_slice()),
        previous.as_ref().map(|(_, until)| *until),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(row))
}

/// The row's secret columns, locked for the rest of the transaction.
async fn lock_secret_columns(
    conn: &mut sqlx::PgConnection,
    endpoint_id: Uuid,
) -> Result<Option<SecretColumns>, sqlx::Error> {
    sqlx::query_as!(
        SecretColumns,
        r#"
        select webhook_endpoint_id, secret, secret_key_id, secret_sealed, previous_secret_key_id,
               previous_secret_sealed, previous_secret_expires_at
        from webhook_endpoint where webhook_endpoint_id = $1
        for update
        "#,
        endpoint_id,
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Seals every secret that is not sealed with the current key: a row's clear secret from before
/// secrets were sealed, and secrets sealed with an earlier key (so it can be retired). A previous
/// secret past its overlap is dropped on the way. Each row is written only if it did not change
/// meanwhile (a concurrent rotation wins). Run at start-up; returns how many rows it sealed.
pub async fn reseal_all(pool: &PgPool, sealer: &SecretSealer) -> Result<usize, WebhookError> {
    let stale = sqlx::query_as!(
        SecretColumns,
        r#"
        select webhook_endpoint_id, secret, secret_key_id, secret_sealed, previous_secret_key_id,
               previous_secret_sealed, previous_secret_expires_at
        from webhook_endpoint
        where secret is not null or secret_key_id <> $1 or previous_secret_key_id <> $1
           or previous_secret_expires_at <= now()
        "#,
        sealer.current_key_id(),
    )
    .fetch_all(pool)
    .await?;
    let now = OffsetDateTime::now_utc();
    let mut sealed_rows = 0;
    for columns in &stale {
        let endpoint_id = columns.webhook_endpoint_id;
        let stored = columns.stored();
        let current = sealer.seal(endpoint_id, &sealer.current(&stored)?)?;
        let previous = match sealer.previous(&stored, now)? {
            Some(secret) => Some(sealer.seal(endpoint_id, &secret)?),
            None => None,
        };
        let result = sqlx::query!(
            r#"
            update webhook_endpoint
            set secret = null, secret_key_id = $2, secret_sealed = $3, previous_secret_key_id = $4,
                previous_secret_sealed = $5,
                previous_secret_expires_at = case when $5::bytea is null then null else previous_secret_expires_at end
            where webhook_endpoint_id = $1
              and secret is not distinct from $6 and secret_sealed is not distinct from $7
              and previous_secret_sealed is not distinct from $8
            "#,
            endpoint_id,
            current.key_id,
            current.bytes,
            previous.as_ref().map(|sealed| sealed.key_id.as_str()),
            previous.as_ref().map(|sealed| sealed.bytes.as_slice()),
            columns.secret,
            columns.secret_sealed,
            columns.previous_secret_sealed,
        )
        .execute(pool)
        .await?;
        sealed_rows += usize::try_from(result.rows_affected()).unwrap_or(0);
    }
    Ok(sealed_rows)
}

/// Deletes an endpoint with its deliveries and their attempts (pending sends stop: their jobs
/// find nothing). False when it did not exist.
pub async fn delete(pool: &PgPool, endpoint_id: Uuid) -> Result<bool, WebhookError> {
    let result =
        sqlx::query!("delete from webhook_endpoint where webhook_endpoint_id = $1", endpoint_id).execute(pool).await?;
    Ok(result.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn event_filters_accept_documented_types_and_star() {
        assert_eq!(parse_events(None).expect("all"), Vec::<String>::new());
        assert_eq!(parse_events(Some(&strings(&["*"]))).expect("all"), Vec::<String>::new());
        assert_eq!(
            parse_events(Some(&strings(&["asset.ready", "asset.created", "asset.ready"]))).expect("valid"),
            strings(&["asset.created", "asset.ready"])
        );
        assert_eq!(
            parse_events(Some(&strings(&["certificate.issued", "asset.ready", "enrollment.created"]))).expect("valid"),
            strings(&["asset.ready", "enrollment.created", "certificate.issued"])
        );
        assert!(matches!(parse_events(Some(&strings(&["asset.probed"]))), Err(WebhookError::UnknownEventType(_))));
        assert!(matches!(parse_events(Some(&strings(&["enrollment.*"]))), Err(WebhookError::UnknownEventType(_))));
        assert!(matches!(parse_events(Some(&strings(&["asset.*"]))), Err(WebhookError::UnknownEventType(_))));
    }

    #[test]
    fn secrets_are_prefixed_and_carry_256_bits() {
        let secret = new_secret().expect("random");
        assert!(secret.starts_with(SECRET_PREFIX));
        assert_eq!(secret.len(), SECRET_PREFIX.len() + 43);
        assert_ne!(secret, new_secret().expect("random"));
    }

    #[tokio::test]
    async fn urls_are_refused_for_scheme_credentials_and_private_addresses() {
        let settings = WebhookSettings::default();
        let invalid = |raw: &'static str| {
            let settings = settings.clone();
            async move { check_url(&settings, raw).await.expect_err(raw) }
        };
        assert!(matches!(invalid("http://93.184.216.34/hook").await, WebhookError::UrlInvalid(_)));
        assert!(matches!(invalid("ftp://93.184.216.34/hook").await, WebhookError::UrlInvalid(_)));
        assert!(matches!(invalid("https://user:pw@93.184.216.34/hook").await, WebhookError::UrlInvalid(_)));
        assert!(matches!(invalid("https://93.184.216.34/hook#x").await, WebhookError::UrlInvalid(_)));
        assert!(matches!(invalid("not a url").await, WebhookError::UrlInvalid(_)));
        assert!(matches!(invalid("https://127.0.0.1/hook").await, WebhookError::UrlForbidden(_)));
        assert!(matches!(invalid("https://169.254.169.254/latest").await, WebhookError::UrlForbidden(_)));
        assert!(matches!(invalid("https://[::1]/hook").await, WebhookError::UrlForbidden(_)));
        assert!(matches!(invalid("https://localhost/hook").await, WebhookError::UrlForbidden(_)));
        assert!(check_url(&settings, "https://93.184.216.34/hook").await.is_ok());
    }
}
