//! Rate limits on the endpoints that guess or create: in-process token buckets by default, or
//! fixed windows counted in Redis (`INCR` + `EXPIRE`) when `REDIS_URL` is set, so that every
//! replica shares one count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};

use super::AuthError;
use crate::auth::RateLimit;

pub enum RateLimiter {
    Memory(Mutex<HashMap<String, Bucket>>),
    Redis(ConnectionManager),
}

/// A token bucket: `max` tokens, refilled continuously at `max / period`.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Above this many remembered keys, buckets that have refilled completely are forgotten.
const MAX_BUCKETS: usize = 10_000;

impl RateLimiter {
    pub async fn connect(redis_url: Option<&SecretString>) -> Result<Self, AuthError> {
        let Some(url) = redis_url else {
            return Ok(Self::Memory(Mutex::new(HashMap::new())));
        };
        let client = redis::Client::open(url.expose_secret()).map_err(AuthError::Redis)?;
        let connection = client.get_connection_manager().await.map_err(AuthError::Redis)?;
        Ok(Self::Redis(connection))
    }

    /// Takes one request from `key`'s allowance, or answers `rate_limited` with the seconds until
    /// the next request would be allowed. When Redis fails the request is allowed and a warning
    /// logged: a limiter outage should not become a sign-in outage.
    pub async fn check(&self, key: &str, limit: RateLimit) -> Result<(), AuthError> {
        match self {
            Self::Memory(buckets) => check_memory(buckets, key, limit, Instant::now()),
            Self::Redis(connection) => match check_redis(connection.clone(), key, limit).await {
                Ok(result) => result,
                Err(error) => {
                    tracing::warn!(%error, key, "rate limiter unavailable; allowing the request");
                    Ok(())
                }
            },
        }
    }
}

fn check_memory(
    buckets: &Mutex<HashMap<String, Bucket>>,
    key: &str,
    limit: RateLimit,
    now: Instant,
) -> Result<(), AuthError> {
    let max = f64::from(limit.max);
    let rate = max / limit.period.as_secs_f64();
    // A poisoned lock only means another request panicked mid-update; the counts are still usable.
    let mut buckets = buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if buckets.len() > MAX_BUCKETS {
        buckets.retain(|_, bucket| now.duration_since(bucket.updated) < limit.period);
    }
    let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: max, updated: now });
    let refilled = now.duration_since(bucket.updated).as_secs_f64() * rate;
    bucket.tokens = (bucket.tokens + refilled).min(max);
    bucket.updated = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        return Ok(());
    }
    let retry_after = ((1.0 - bucket.tokens) / rate).ceil().max(1.0);
    Err(AuthError::RateLimited { retry_after: retry_after as u64 })
}

async fn check_redis(
    mut connection: ConnectionManager,
    key: &str,
    limit: RateLimit,
) -> Result<Result<(), AuthError>, redis::RedisError> {
    let window = limit.period.as_secs().max(1);
    let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
    let index = now / window;
    let redis_key = format!("lectern:rate:{key}:{index}");
    // The key outlives its window by a second so a slow clock on another replica still counts
    // into it rather than starting afresh.
    let ttl = i64::try_from(window + 1).unwrap_or(i64::MAX);
    let (count,): (u64,) = redis::pipe()
        .atomic()
        .incr(&redis_key, 1u64)
        .expire(&redis_key, ttl)
        .ignore()
        .query_async(&mut connection)
        .await?;
    if count > u64::from(limit.max) {
        return Ok(Err(AuthError::RateLimited { retry_after: ((index + 1) * window - now).max(1) }));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_until_it_refills() {
        let buckets = Mutex::new(HashMap::new());
        let limit = RateLimit { max: 3, period: Duration::from_secs(60) };
        let start = Instant::now();
        for _ in 0..3 {
            assert!(check_memory(&buckets, "k", limit, start).is_ok());
        }
        match check_memory(&buckets, "k", limit, start) {
            Err(AuthError::RateLimited { retry_after }) => assert_eq!(retry_after, 20),
            other => panic!("expected rate_limited, got {other:?}"),
        }
        assert!(check_memory(&buckets, "other", limit, start).is_ok());
        assert!(check_memory(&buckets, "k", limit, start + Duration::from_secs(20)).is_ok());
    }
}
