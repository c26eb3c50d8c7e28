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

/// What the platform's grade services received.
#[derive(Default)]
pub struct Gradebook {
    pub token_requests: usize,
    /// Line items as created: the posted JSON with its `id`.
    pub line_items: Vec<Value>,
    /// Scores accepted, in order, with the line item's URL.
    pub scores: Vec<(String, Value)>,
    /// Requests refused, with the reason (the tool should never cause one).
    pub refusals: Vec<String>,
}

/// The platform: its published keys, the JWKS server, and grade services that check what
/// Moodle checks.
pub struct Platform {
    pub published: Arc<RwLock<Vec<Value>>>,
    pub jwks_reads: Arc<AtomicUsize>,
    pub key: SigningKey,
    pub base: String,
    pub gradebook: Arc<std::sync::Mutex<Gradebook>>,
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let base = format!("http://{address}");
    let gradebook = Arc::new(std::sync::Mutex::new(Gradebook::default()));
    let services = grade_services(&base, &app.url("/lti/jwks"), &gradebook);
    let router = services.route(
        "/jwks",
        axum::routing::get(move || {
            let (keys, reads) = (Arc::clone(&keys), Arc::clone(&reads));
            async move {
                reads.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({ "keys": *keys.read().await }))
            }
        }),
    );
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
    Platform { published, jwks_reads, key, base, gradebook }
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

const TOKEN: &str = "platform-access-token-1";

/// The platform's token endpoint (client_credentials with the tool's JWT assertion, verified
/// against the tool's published key set), line-item container and scores endpoint. The scores
/// endpoint applies Moodle's rules: every field present, `timestamp` in ISO 8601 with
/// milliseconds, never older than the last accepted one, `scoreGiven` within 0..=`scoreMaximum`,
/// the IMS progress vocabularies, and the score media type.
fn grade_services(base: &str, tool_jwks: &str, gradebook: &Arc<std::sync::Mutex<Gradebook>>) -> axum::Router {
    let (base, tool_jwks) = (base.to_owned(), tool_jwks.to_owned());
    use axum::extract::{Form, Path, Query};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use std::collections::HashMap;

    fn refuse(gradebook: &std::sync::Mutex<Gradebook>, why: String) -> (StatusCode, String) {
        gradebook.lock().expect("lock").refusals.push(why.clone());
        (StatusCode::BAD_REQUEST, why)
    }
    fn authorised(headers: &HeaderMap) -> bool {
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
    }

    let token_url = format!("{base}/token");
    let (book_token, book_items, book_list, book_scores) =
        (Arc::clone(gradebook), Arc::clone(gradebook), Arc::clone(gradebook), Arc::clone(gradebook));
    let items_base = base.clone();
    axum::Router::new()
        .route(
            "/token",
            post(move |Form(form): Form<HashMap<String, String>>| {
                let (gradebook, tool_jwks, token_url) = (Arc::clone(&book_token), tool_jwks.clone(), token_url.clone());
                async move {
                    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
                        || form.get("client_assertion_type").map(String::as_str)
                            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                    {
                        return Err(refuse(&gradebook, format!("not a JWT-bearer client_credentials grant: {form:?}")));
                    }
                    if !form
                        .get("scope")
                        .is_some_and(|s| s.contains("https://purl.imsglobal.org/spec/lti-ags/scope/score"))
                    {
                        return Err(refuse(&gradebook, "no score scope".to_owned()));
                    }
                    let assertion = form.get("client_assertion").cloned().unwrap_or_default();
                    let set: Value = reqwest::get(&tool_jwks).await.expect("tool jwks").json().await.expect("json");
                    let kid = jsonwebtoken::decode_header(&assertion).ok().and_then(|h| h.kid);
                    let jwk = set["keys"]
                        .as_array()
                        .and_then(|keys| keys.iter().find(|k| k["kid"].as_str() == kid.as_deref()));
                    let Some(jwk) = jwk else {
                        return Err(refuse(&gradebook, "assertion kid not in the tool's JWKS".to_owned()));
                    };
                    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).expect("jwk");
                    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
                    validation.set_audience(&[token_url.as_str()]);
                    validation.set_issuer(&[CLIENT_ID]);
                    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
                    let claims = jsonwebtoken::decode::<Value>(
                        &assertion,
                        &jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key"),
                        &validation,
                    );
                    match claims {
                        Ok(data) if data.claims["sub"] == CLIENT_ID && data.claims["jti"].is_string() => {}
                        other => return Err(refuse(&gradebook, format!("bad assertion: {other:?}"))),
                    }
                    gradebook.lock().expect("lock").token_requests += 1;
                    Ok(axum::Json(json!({
                        "access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600,
                        "scope": form["scope"],
                    })))
                }
            }),
        )
        .route(
            "/lineitems",
            post(move |headers: HeaderMap, body: String| {
                let (gradebook, base) = (Arc::clone(&book_items), items_base.clone());
                async move {
                    if !authorised(&headers) {
                        return Err((StatusCode::UNAUTHORIZED, "no token".to_owned()));
                    }
                    if headers.get("content-type").and_then(|v| v.to_str().ok())
                        != Some("application/vnd.ims.lis.v2.lineitem+json")
                    {
                        return Err(refuse(&gradebook, "line item media type".to_owned()));
                    }
                    let mut item: Value = serde_json::from_str(&body).map_err(|e| refuse(&gradebook, e.to_string()))?;
                    if item["scoreMaximum"].as_f64().is_none_or(|m| m <= 0.0) || !item["label"].is_string() {
                        return Err(refuse(&gradebook, format!("line item without scoreMaximum or label: {item}")));
                    }
                    let mut book = gradebook.lock().expect("lock");
                    item["id"] = json!(format!("{base}/lineitems/{}/lineitem", book.line_items.len() + 1));
                    book.line_items.push(item.clone());
                    Ok((StatusCode::CREATED, axum::Json(item)))
                }
            })
            .get(move |headers: HeaderMap, Query(query): Query<HashMap<String, String>>| {
                let gradebook = Arc::clone(&book_list);
                async move {
                    if !authorised(&headers) {
                        return Err((StatusCode::UNAUTHORIZED, "no token".to_owned()));
                    }
                    let book = gradebook.lock().expect("lock");
                    let items: Vec<Value> = book
                        .line_items
                        .iter()
                        .filter(|item| query.get("resource_link_id").is_none_or(|id| item["resourceLinkId"] == *id))
                        .cloned()
                        .collect();
                    Ok(axum::Json(Value::Array(items)))
                }
            }),
        )
        .route(
            "/lineitems/{n}/lineitem/scores",
            post(move |Path(n): Path<usize>, headers: HeaderMap, body: String| {
                let gradebook = Arc::clone(&book_scores);
                let line_item = format!("{base}/lineitems/{n}/lineitem");
                async move {
                    if !authorised(&headers) {
                        return Err((StatusCode::UNAUTHORIZED, "no token".to_owned()));
                    }
                    if headers.get("content-type").and_then(|v| v.to_str().ok())
                        != Some("application/vnd.ims.lis.v1.score+json")
                    {
                        return Err(refuse(&gradebook, "score media type".to_owned()));
                    }
                    let score: Value = serde_json::from_str(&body).map_err(|e| refuse(&gradebook, e.to_string()))?;
                    for field in
                        ["userId", "scoreGiven", "scoreMaximum", "activityProgress", "gradingProgress", "timestamp"]
                    {
                        if score.get(field).is_none() {
                            return Err(refuse(&gradebook, format!("missing {field}")));
                        }
                    }
                    let stamp = score["timestamp"].as_str().unwrap_or_default().to_owned();
                    let well_formed = stamp.len() == 24
                        && time::OffsetDateTime::parse(&stamp, &time::format_description::well_known::Rfc3339).is_ok()
                        && stamp.as_bytes()[19] == b'.'
                        && stamp.ends_with('Z');
                    if !well_formed {
                        return Err(refuse(
                            &gradebook,
                            format!("timestamp {stamp:?} is not ISO 8601 with milliseconds"),
                        ));
                    }
                    let (given, maximum) = (score["scoreGiven"].as_f64(), score["scoreMaximum"].as_f64());
                    if !matches!((given, maximum), (Some(g), Some(m)) if m > 0.0 && (0.0..=m).contains(&g)) {
                        return Err(refuse(&gradebook, format!("scoreGiven {given:?} outside 0..={maximum:?}")));
                    }
                    if !["Initialized", "Started", "InProgress", "Submitted", "Completed"]
                        .contains(&score["activityProgress"].as_str().unwrap_or_default())
                        || !["FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"]
                            .contains(&score["gradingProgress"].as_str().unwrap_or_default())
                    {
                        return Err(refuse(&gradebook, format!("progress values: {score}")));
                    }
                    let mut book = gradebook.lock().expect("lock");
                    let older =
                        book.scores.iter().rev().find(|(item, s)| *item == line_item && s["userId"] == score["userId"]);
                    if older.is_some_and(|(_, last)| last["timestamp"].as_str().unwrap_or_default() > stamp.as_str()) {
                        drop(book);
                        return Err(refuse(&gradebook, "score older than the last one".to_owned()));
                    }
                    book.scores.push((line_item, score));
                    Ok(StatusCode::NO_CONTENT)
                }
            }),
        )
}

/// The AGS endpoint claim of a launch whose context's line items are at the platform.
pub fn ags_claim(platform: &Platform) -> Value {
    json!({
        "scope": [
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
            "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
            "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        ],
        "lineitems": format!("{}/lineitems", platform.base),
    })
}
