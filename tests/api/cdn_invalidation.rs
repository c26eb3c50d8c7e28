//! The CloudFront invalidation client against the local stand-in (`helpers::cloudfront`), which
//! reads the SDK's XML request the way CloudFront does and answers as CloudFront does: 201 with
//! an `Invalidation` document, or a `Throttling` error. The `cdn.invalidate` job that calls it is
//! tested in `cdn_invalidation_jobs.rs`.

use std::sync::Mutex;

use crate::helpers::cloudfront::{StandIn, create_invalidation_path, start};
use lectern::cdn::{InvalidationError, Invalidator};

/// The client alone, on the stand-in; three requests per invalidation.
async fn invalidator(stand_in: StandIn) -> (Invalidator, std::sync::Arc<StandIn>) {
    let (settings, stand_in) = start(stand_in, 3).await;
    (Invalidator::connect(&settings, "https://d111111abcdef8.cloudfront.net").await, stand_in)
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| (*p).to_owned()).collect()
}

#[tokio::test]
async fn an_invalidation_sends_its_paths_and_a_unique_caller_reference() {
    let (invalidator, stand_in) = invalidator(StandIn::default()).await;
    let first =
        invalidator.invalidate(&paths(&["/assets/a/v1/*", "/assets/a/v1/master.m3u8"])).await.expect("accepted");
    let second = invalidator.invalidate(&paths(&["/assets/b/*"])).await.expect("accepted");
    assert_eq!(first.id, "I2J0I21PCUYOIK");
    assert_eq!(first.status, "InProgress");
    assert_eq!(first.attempts, 1);
    assert_ne!(first.caller_reference, second.caller_reference);

    let received = stand_in.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].path, create_invalidation_path());
    assert_eq!(received[0].quantity, "2");
    assert_eq!(received[0].paths, ["/assets/a/v1/*", "/assets/a/v1/master.m3u8"]);
    assert_eq!(received[0].caller_reference, first.caller_reference);
    assert_eq!(received[1].quantity, "1");
    assert_eq!(received[1].caller_reference, second.caller_reference);
}

#[tokio::test]
async fn throttling_is_retried_with_the_same_caller_reference() {
    let (invalidator, stand_in) = invalidator(StandIn { throttle: Mutex::new(1), ..StandIn::default() }).await;
    let invalidation = invalidator.invalidate(&paths(&["/assets/a/*"])).await.expect("accepted after a retry");
    assert_eq!(invalidation.attempts, 2);
    let received = stand_in.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].caller_reference, received[1].caller_reference);
    assert_eq!(received[1].caller_reference, invalidation.caller_reference);
}

#[tokio::test]
async fn persistent_throttling_gives_up_after_the_last_attempt() {
    let (invalidator, stand_in) = invalidator(StandIn { throttle: Mutex::new(100), ..StandIn::default() }).await;
    let error = invalidator.invalidate(&paths(&["/assets/a/*"])).await.expect_err("still throttled");
    assert!(matches!(error, InvalidationError::Throttled { attempts: 3 }), "{error:?}");
    assert_eq!(error.error_code(), "cdn_throttled");
    assert_eq!(stand_in.received().len(), 3);
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_bad_paths_never_leave() {
    let (invalidator, stand_in) =
        invalidator(StandIn { refuse_with: Some("NoSuchDistribution"), ..StandIn::default() }).await;
    let error = invalidator.invalidate(&paths(&["/a"])).await.expect_err("refused");
    assert!(matches!(&error, InvalidationError::Refused { code, .. } if code == "NoSuchDistribution"), "{error:?}");
    assert_eq!(stand_in.received().len(), 1);

    assert!(matches!(invalidator.invalidate(&[]).await, Err(InvalidationError::NoPaths)));
    let error = invalidator.invalidate(&paths(&["assets/a"])).await.expect_err("no leading slash");
    assert!(error.is_client_error());
    assert_eq!(stand_in.received().len(), 1);
}
