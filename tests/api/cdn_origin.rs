//! The signed origin over HTTP, on both storage backends: each case runs once with the local
//! filesystem backend and once with SeaweedFS (S3, started by `scripts/seaweedfs.sh start`; the
//! S3 cases fail rather than skip when it is unreachable).

use std::sync::Arc;

use crate::helpers::storage::{Backend, remove_bucket, seaweed_settings};
use crate::helpers::{TestApp, TestOptions, error_code, spawn_app_with, test_auth_settings};
use bytes::Bytes;
use lectern::cdn::{HashAlgorithm, Policy, Signer, SourceIp, TrustedKey};
use lectern::storage::{ObjectKey, ObjectStore, PutOptions, put_bytes};
use sqlx::PgPool;

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[sqlx::test(migrator = "lectern::db::MIGRATOR")]
                async fn $case(pool: sqlx::PgPool) {
                    super::$case(pool, super::Backend::Local).await;
                }
            )*
        }
        mod s3 {
            $(
                #[sqlx::test(migrator = "lectern::db::MIGRATOR")]
                async fn $case(pool: sqlx::PgPool) {
                    super::$case(pool, super::Backend::S3).await;
                }
            )*
        }
    };
}

on_both_backends!(
    canned_custom_and_cookie_signatures_serve_the_object,
    every_refusal_is_a_403_that_does_not_reveal_whether_the_object_exists,
    ranges_validators_and_head_behave_like_a_cdn,
    media_types_cache_headers_and_cors_suit_players,
    the_client_address_behind_a_trusted_proxy_is_the_forwarded_one,
);

const ROTATION_KEY_PAIR_ID: &str = "K3ROTATEDKEY01";

/// A running app, a connection to its store, and its signer.
struct Origin {
    app: TestApp,
    store: Arc<dyn ObjectStore>,
    signer: Signer,
}

impl Origin {
    async fn start(pool: PgPool, backend: Backend, options: TestOptions) -> Self {
        let storage = match backend {
            Backend::Local => None,
            Backend::S3 => Some(seaweed_settings().await),
        };
        let rotated = rotation_key();
        let options = TestOptions {
            storage,
            cdn_trusted_keys: vec![TrustedKey::new(ROTATION_KEY_PAIR_ID, rotated.to_public_key())],
            ..options
        };
        let app = spawn_app_with(pool, options).await;
        let store = app.storage.clone();
        let keys = app.keys();
        let signer = Signer::new(&keys.cdn.key_pair_id, keys.cdn.private_key, HashAlgorithm::Sha1);
        Self { app, store, signer }
    }

    async fn put(&self, key: &str, bytes: &[u8]) {
        let key = ObjectKey::parse(key).expect("a valid key");
        put_bytes(&*self.store, &key, Bytes::copy_from_slice(bytes), PutOptions::default()).await.expect("put");
    }

    fn url(&self, key: &str) -> String {
        self.app.url(&format!("/cdn/{key}"))
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.app.client.get(url).send().await.expect("request")
    }

    /// Removes the S3 bucket (the local directory goes with the app).
    async fn finish(self) {
        remove_bucket(&self.app.storage_settings).await;
    }
}

fn rotation_key() -> rsa::PrivateKey {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cdn/rotation-key-pkcs8.pem");
    lectern::keys::parse_rsa(&std::fs::read_to_string(path).expect("fixture")).expect("parses")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

const SEGMENT: &str = "assets/0192f1/v1/720p/seg_00001.m4s";

/// Bytes that tell their positions apart: a wrong range shows.
fn segment_bytes() -> Vec<u8> {
    (0..10_000u32).map(|i| (i % 251) as u8).collect()
}

async fn canned_custom_and_cookie_signatures_serve_the_object(pool: PgPool, backend: Backend) {
    let origin = Origin::start(pool, backend, TestOptions::default()).await;
    let bytes = segment_bytes();
    origin.put(SEGMENT, &bytes).await;
    let expires = now() + 600;

    let canned = origin.signer.canned_url(&origin.url(SEGMENT), expires).expect("signs");
    let response = origin.get(&canned).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "video/iso.segment");
    assert_eq!(response.bytes().await.expect("body"), bytes);

    let policy = Policy::custom(origin.url("assets/0192f1/v1/*"), expires);
    let signed = origin.signer.sign_policy(&policy).expect("signs");
    let response = origin.get(&signed.sign_url(&origin.url(SEGMENT))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("body"), bytes);

    let response = origin
        .app
        .client
        .get(origin.url(SEGMENT))
        .header("cookie", format!("theme=dark; {}", signed.cookies().cookie_header()))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "signed cookies");
    assert_eq!(response.bytes().await.expect("body"), bytes);

    // SHA-256 signatures and a key trusted for the rotation verify too.
    let sha256 = Signer::new(origin.signer.key_pair_id(), origin.app.keys().cdn.private_key, HashAlgorithm::Sha256);
    assert_eq!(origin.get(&sha256.canned_url(&origin.url(SEGMENT), expires).expect("signs")).await.status(), 200);
    let rotated = Signer::new(ROTATION_KEY_PAIR_ID, rotation_key(), HashAlgorithm::Sha1);
    assert_eq!(origin.get(&rotated.canned_url(&origin.url(SEGMENT), expires).expect("signs")).await.status(), 200);
    origin.finish().await;
}

async fn every_refusal_is_a_403_that_does_not_reveal_whether_the_object_exists(pool: PgPool, backend: Backend) {
    let origin = Origin::start(pool, backend, TestOptions::default()).await;
    origin.put(SEGMENT, &segment_bytes()).await;
    let missing = "assets/0192f1/v1/720p/seg_99999.m4s";
    let now = now();
    let wildcard = |expires: i64| Policy::custom(origin.url("assets/0192f1/v1/*"), expires);
    let unknown = Signer::new("KUNKNOWN000001", origin.app.keys().cdn.private_key, HashAlgorithm::Sha1);

    type MakeUrl<'a> = Box<dyn Fn(&str) -> String + 'a>;
    let cases: Vec<(&str, MakeUrl)> = vec![
        ("signature_missing", Box::new(|key| origin.url(key))),
        (
            "signature_invalid",
            Box::new(|key| {
                let url = origin.signer.canned_url(&origin.url(key), now + 600).expect("signs");
                url.replacen("Signature=", "Signature=AAAA", 1)
            }),
        ),
        ("signature_expired", Box::new(|key| origin.signer.canned_url(&origin.url(key), now - 10).expect("signs"))),
        (
            "signature_not_yet_valid",
            Box::new(|key| {
                let signed = origin.signer.sign_policy(&wildcard(now + 7200).not_before(now + 3600)).expect("signs");
                signed.sign_url(&origin.url(key))
            }),
        ),
        (
            "resource_not_allowed",
            Box::new(|key| {
                let policy = Policy::custom(origin.url("assets/0192f1/v2/*"), now + 600);
                origin.signer.sign_policy(&policy).expect("signs").sign_url(&origin.url(key))
            }),
        ),
        (
            "ip_not_allowed",
            Box::new(|key| {
                let policy = wildcard(now + 600).from_ip(SourceIp::parse("192.0.2.0/24").expect("block"));
                origin.signer.sign_policy(&policy).expect("signs").sign_url(&origin.url(key))
            }),
        ),
        ("unknown_key_pair", Box::new(|key| unknown.canned_url(&origin.url(key), now + 600).expect("signs"))),
    ];
    for (expected, make_url) in &cases {
        for key in [SEGMENT, missing] {
            let response = origin.get(&make_url(key)).await;
            assert_eq!(response.status(), 403, "{expected} for {key}");
            assert_eq!(error_code(response).await, *expected, "{key}");
        }
    }
    // A signature that allows the client's own address is served.
    let own_address = wildcard(now + 600).from_ip(SourceIp::parse("127.0.0.1").expect("address"));
    let signed = origin.signer.sign_policy(&own_address).expect("signs");
    assert_eq!(origin.get(&signed.sign_url(&origin.url(SEGMENT))).await.status(), 200);
    // Dot segments smuggled past URL normalisation (as %2F) never leave the signed folder.
    let sneaky = signed.sign_url(&origin.url("assets/0192f1/v1/x%2F..%2F..%2Fv2%2Fsecret.m4s"));
    assert_eq!(origin.get(&sneaky).await.status(), 404);
    // Only a valid signature learns that an object is missing.
    let response = origin.get(&signed.sign_url(&origin.url(missing))).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");
    drop(cases);
    origin.finish().await;
}

async fn ranges_validators_and_head_behave_like_a_cdn(pool: PgPool, backend: Backend) {
    let origin = Origin::start(pool, backend, TestOptions::default()).await;
    let bytes = segment_bytes();
    origin.put(SEGMENT, &bytes).await;
    let url = origin.signer.canned_url(&origin.url(SEGMENT), now() + 600).expect("signs");
    let client = &origin.app.client;

    let whole = origin.get(&url).await;
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    let etag = whole.headers()["etag"].to_str().expect("ascii").to_owned();

    let response = client.get(&url).header("range", "bytes=100-199").send().await.expect("request");
    assert_eq!(response.status(), 206);
    assert_eq!(response.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(response.headers()["content-length"], "100");
    assert_eq!(response.bytes().await.expect("body"), bytes[100..200]);

    let response = client.get(&url).header("range", "bytes=-10").send().await.expect("request");
    assert_eq!(response.status(), 206);
    assert_eq!(response.bytes().await.expect("body"), bytes[9990..]);

    let response = client.get(&url).header("range", "bytes=10000-").send().await.expect("request");
    assert_eq!(response.status(), 416);
    assert_eq!(response.headers()["content-range"], "bytes */10000");

    let response = client.get(&url).header("if-none-match", &etag).send().await.expect("request");
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert!(response.bytes().await.expect("body").is_empty());

    let response =
        client.get(&url).header("range", "bytes=0-9").header("if-range", &etag).send().await.expect("request");
    assert_eq!(response.status(), 206, "If-Range with the current ETag keeps the range");
    let response =
        client.get(&url).header("range", "bytes=0-9").header("if-range", "\"stale\"").send().await.expect("request");
    assert_eq!(response.status(), 200, "If-Range with a stale ETag sends the whole object");
    assert_eq!(response.bytes().await.expect("body").len(), 10_000);

    let response = client.head(&url).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "10000");
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert_eq!(response.headers()["content-type"], "video/iso.segment");
    let response = client.head(origin.url(SEGMENT)).send().await.expect("request");
    assert_eq!(response.status(), 403, "HEAD is verified too");
    origin.finish().await;
}

async fn media_types_cache_headers_and_cors_suit_players(pool: PgPool, backend: Backend) {
    let origin = Origin::start(pool, backend, TestOptions::default()).await;
    let immutable = "public, max-age=31536000, immutable";
    let manifest = "public, max-age=10";
    let objects = [
        ("master.m3u8", "application/vnd.apple.mpegurl", manifest),
        ("manifest.mpd", "application/dash+xml", manifest),
        ("720p/init.mp4", "video/mp4", immutable),
        ("720p/seg_00001.m4s", "video/iso.segment", immutable),
        ("audio/seg_00001.m4a", "audio/mp4", immutable),
        ("poster.jpg", "image/jpeg", immutable),
        ("storyboard.webp", "image/webp", immutable),
        ("storyboard.vtt", "text/vtt", immutable),
    ];
    let base = "assets/0192f1/v1";
    for (name, _, _) in objects {
        origin.put(&format!("{base}/{name}"), name.as_bytes()).await;
    }
    let signed =
        origin.signer.sign_policy(&Policy::custom(origin.url(&format!("{base}/*")), now() + 600)).expect("signs");
    for (name, content_type, cache_control) in objects {
        let response = origin
            .app
            .client
            .get(signed.sign_url(&origin.url(&format!("{base}/{name}"))))
            .header("origin", "https://player.example")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{name}");
        let headers = response.headers();
        assert_eq!(headers["content-type"], content_type, "{name}");
        assert_eq!(headers["cache-control"], cache_control, "{name}");
        assert_eq!(headers["access-control-allow-origin"], "*", "{name}");
        let exposed = headers["access-control-expose-headers"].to_str().expect("ascii");
        for header in ["Content-Range", "Content-Length", "ETag"] {
            assert!(exposed.contains(header), "{name} exposes {header}");
        }
    }
    // Refusals carry CORS headers too, so a player's script can read why.
    let refused = origin.app.client.get(origin.url(&format!("{base}/master.m3u8"))).send().await.expect("request");
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["access-control-allow-origin"], "*");

    let preflight = origin
        .app
        .client
        .request(reqwest::Method::OPTIONS, origin.url(&format!("{base}/720p/seg_00001.m4s")))
        .header("origin", "https://player.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "range")
        .send()
        .await
        .expect("request");
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(preflight.headers()["access-control-allow-methods"].to_str().expect("ascii").contains("GET"));
    assert_eq!(preflight.headers()["access-control-allow-headers"], "range");
    origin.finish().await;
}

async fn the_client_address_behind_a_trusted_proxy_is_the_forwarded_one(pool: PgPool, backend: Backend) {
    let mut auth = test_auth_settings();
    auth.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
    let origin = Origin::start(pool, backend, TestOptions { auth: Some(auth), ..TestOptions::default() }).await;
    origin.put(SEGMENT, b"segment").await;
    let policy = Policy::custom(origin.url("assets/0192f1/v1/*"), now() + 600)
        .from_ip(SourceIp::parse("198.51.100.0/24").expect("block"));
    let url = origin.signer.sign_policy(&policy).expect("signs").sign_url(&origin.url(SEGMENT));
    let from = |forwarded: &'static str| origin.app.client.get(&url).header("x-forwarded-for", forwarded).send();
    assert_eq!(from("198.51.100.20").await.expect("request").status(), 200);
    let response = from("198.51.100.20, 203.0.113.9").await.expect("request");
    assert_eq!(response.status(), 403, "the right-most address is the one the proxy saw");
    assert_eq!(error_code(response).await, "ip_not_allowed");
    origin.finish().await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_origin_is_documented_in_the_openapi_document(pool: PgPool) {
    let app = crate::helpers::spawn_app(pool).await;
    let document: serde_json::Value =
        app.client.get(app.url("/openapi.json")).send().await.expect("request").json().await.expect("json");
    let origin = &document["paths"]["/cdn/{key}"];
    assert!(origin["get"].is_object() && origin["head"].is_object(), "{origin}");
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["cloudfront_signature"]["in"], "query");
    assert_eq!(schemes["cloudfront_cookies"]["in"], "cookie");
}
