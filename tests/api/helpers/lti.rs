//! A test LMS platform that speaks LTI 1.3's wire protocol: an RSA key published as a JWKS over
//! HTTP on 127.0.0.1 (counting how often it is read), RS256 id_tokens with the IMS claims, and
//! the form posts a browser makes between the platform and the tool. The launch tests against
//! the third-party `lti-provider-mock` are in `tests/api/lti.rs`; this platform exists for the
//! refusals (a bad signature, a wrong audience…) that a well-behaved platform never sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use tokio::sync::RwLock;

use super::TestApp;

pub const ISSUER: &str = "https://lms.example.edu";
pub const CLIENT_ID: &str = "lectern-client-1";
pub const DEPLOYMENT_ID: &str = "deployment-1";

pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

impl SigningKey {
    pub fn generate(kid: &str) -> Self {
        let mut rng = getrandom::SysRng;
        let key = rsa::PrivateKey::new(&mut rng, 2048).expect("an RSA key");
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let jwk = json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "n": b64.encode(key.n_bytes()), "e": b64.encode(key.e_bytes()),
        });
        let der = key.to_pkcs1_der().expect("DER");
        Self { kid: kid.to_owned(), encoding: EncodingKey::from_rsa_der(der.as_bytes()), jwk }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signed")
    }
}

/// The platform: its published keys and the JWKS server.
pub struct Platform {
    pub published: Arc<RwLock<Vec<Value>>>,
    pub jwks_reads: Arc<AtomicUsize>,
    pub key: SigningKey,
}

impl Platform {
    pub fn reads(&self) -> usize {
        self.jwks_reads.load(Ordering::SeqCst)
    }
}

/// Starts the platform's JWKS server and registers the platform in `app` (as `admin`).
pub async fn start(app: &TestApp, admin: &str) -> Platform {
    let key = SigningKey::generate("platform-key-1");
    let published = Arc::new(RwLock::new(vec![key.jwk.clone()]));
    let jwks_reads = Arc::new(AtomicUsize::new(0));
    let (keys, reads) = (Arc::clone(&published), Arc::clone(&jwks_reads));
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (keys, reads) = (Arc::clone(&keys), Arc::clone(&reads));
            async move {
                reads.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({ "keys": *keys.read().await }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let jwks_url = format!("http://{address}/jwks");
    let response = app
        .client
        .post(app.url("/v1/lti/platforms"))
        .bearer_auth(admin)
        .json(&json!({
            "name": "Test LMS",
            "issuer": ISSUER,
            "client_id": CLIENT_ID,
            "deployment_ids": [DEPLOYMENT_ID],
            "auth_login_url": format!("http://{address}/authorize"),
            "auth_token_url": format!("http://{address}/token"),
            "jwks_url": jwks_url,
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    Platform { published, jwks_reads, key }
}

/// A client that does not follow redirects (the test looks at each hop).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The first hop: login initiation. Returns the authorization redirect's query.
pub async fn login(app: &TestApp, target_link_uri: &str) -> std::collections::HashMap<String, String> {
    let response = browser()
        .post(app.url("/lti/login"))
        .form(&[
            ("iss", ISSUER),
            ("login_hint", "user-hint-1"),
            ("target_link_uri", target_link_uri),
            ("lti_message_hint", "message-hint"),
            ("client_id", CLIENT_ID),
            ("lti_deployment_id", DEPLOYMENT_ID),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap_or_default());
    let location = response.headers()["location"].to_str().expect("ascii").to_owned();
    url::Url::parse(&location).expect("url").query_pairs().into_owned().collect()
}

/// The claims of a resource-link launch by `sub`, for the login's `nonce`.
pub fn resource_link_claims(nonce: &str, sub: &str, target_link_uri: &str) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": sub,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "name": "Ada Lovelace",
        "email": "ada@example.edu",
        "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
        "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
        "https://purl.imsglobal.org/spec/lti/claim/deployment_id": DEPLOYMENT_ID,
        "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": target_link_uri,
        "https://purl.imsglobal.org/spec/lti/claim/resource_link": { "id": "resource-link-1", "title": "Week 1" },
        "https://purl.imsglobal.org/spec/lti/claim/roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        "https://purl.imsglobal.org/spec/lti/claim/context": { "id": "course-ctx-1", "title": "Physics 101" },
    })
}

/// The last hop: the platform's form post of the id_token.
pub async fn launch(app: &TestApp, id_token: &str, state: &str) -> reqwest::Response {
    browser()
        .post(app.url("/lti/launch"))
        .form(&[("id_token", id_token), ("state", state)])
        .send()
        .await
        .expect("request")
}
