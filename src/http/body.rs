//! Request bodies that stream: the idle timeout every upload body gets, so a client that stalls
//! cannot hold a connection, a task and its buffers for ever.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// A body as the upload routes read it.
pub type IdleLimitedBody = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;

/// Why a body ended before its client finished it.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The client sent nothing for this long.
    #[error("no bytes arrived for {} s", .0.as_secs())]
    Idle(Duration),
    /// The connection broke (or the framework refused the body).
    #[error("{0}")]
    Read(String),
}

/// `body`, ending with [`BodyError::Idle`] once it has sent nothing for `idle`. What arrived
/// before is passed on, so a resumable upload keeps it.
pub fn idle_timeout<S, E>(body: S, idle: Duration) -> IdleLimitedBody
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
{
    Box::pin(futures::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(body))),
            Ok(Some(Err(error))) => Some((Err(BodyError::Read(error.to_string())), None)),
            Ok(None) => None,
            Err(_) => Some((Err(BodyError::Idle(idle)), None)),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_that_stalls_ends_with_an_idle_error_after_what_arrived() {
        let sent = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"ab"))]);
        let stalled = sent.chain(futures::stream::pending());
        let mut body = idle_timeout(Box::pin(stalled), Duration::from_millis(50));
        assert_eq!(body.next().await.expect("a chunk").expect("bytes"), Bytes::from_static(b"ab"));
        let error = body.next().await.expect("an end").expect_err("stalled");
        assert!(matches!(error, BodyError::Idle(idle) if idle == Duration::from_millis(50)), "{error}");
        assert!(body.next().await.is_none());
    }
}
