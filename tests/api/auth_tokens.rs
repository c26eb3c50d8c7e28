//! Access tokens from the outside: the published JWKS verifies them, and every kind of forged,
//! expired or misdirected token is refused with 401 and a Bearer challenge.

use crate::helpers::{TestApp, TestOptions, error_code, spawn_app, spawn_app_with};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::PgPool;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

/// A registered account's access token and its claims.
async fn signed_in(app: &TestApp) -> (String, Value) {
    let body = app.register("token.holder@example.com").await;
    let token = body["tokens"]["access_token"].as_str().expect("access token").to_owned();
    let claims = payload(&token);
    (token, claims)
}

/// Signs `claims` with the app's own token key under `kid`.
fn sign(app: &TestApp, kid: &str, claims: &Value) -> String {
    let keys = app.keys();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&keys.token.pkcs8_der)).expect("signed")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn assert_refused(app: &TestApp, token: &str, expected_code: &str, case: &str) {
    let response = app.get_with("/v1/me", token).await;
    assert_eq!(response.status(), 401, "{case}");
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().expect("ascii").to_owned());
    assert!(challenge.as_deref().is_some_and(|c| c.starts_with("Bearer")), "{case}: {challenge:?}");
    assert_eq!(error_code(response).await, expected_code, "{case}");
}

#[sqlx::test]
async fn the_jwks_publishes_the_signing_key_as_an_okp_ed25519_jwk(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, _) = signed_in(&app).await;
    let jwks: Value =
        app.client.get(app.url("/.well-known/jwks.json")).send().await.expect("request").json().await.expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!((key["kty"].as_str(), key["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
    assert_eq!((key["use"].as_str(), key["alg"].as_str()), (Some("sig"), Some("EdDSA")));

    // The token's header names that key, and the published key alone verifies the token.
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).expect("a JWK");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["lectern"]);
    let verified =
        jsonwebtoken::decode::<Value>(&token, &jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key"), &validation);
    assert!(verified.is_ok(), "{verified:?}");
}

#[sqlx::test]
async fn access_tokens_carry_the_documented_claims(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, claims) = signed_in(&app).await;
    assert_eq!(claims["aud"], "lectern");
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["roles"], json!(["learner"]));
    for claim in ["sub", "sid", "jti"] {
        assert!(claims[claim].as_str().is_some_and(|v| v.len() == 36), "{claim}: {claims}");
    }
    let (iat, nbf, exp) = (claims["iat"].as_i64(), claims["nbf"].as_i64(), claims["exp"].as_i64());
    assert_eq!(exp.zip(iat).map(|(e, i)| e - i), Some(900));
    assert_eq!(nbf, iat);
}

#[sqlx::test]
async fn every_kind_of_bad_token_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, claims) = signed_in(&app).await;
    let kid = app.keys().token.key_id;
    let with = |changes: Value| {
        let mut changed = claims.clone();
        for (name, value) in changes.as_object().expect("object") {
            changed[name] = value.clone();
        }
        changed
    };

    // The untouched token works, so every refusal below is about the one thing changed.
    assert_eq!(app.get_with("/v1/me", &token).await.status(), 200);

    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    assert_refused(&app, &none, "invalid_token", "alg none").await;

    let public_key = app.keys().token.public_key;
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(kid.clone());
    let confused = jsonwebtoken::encode(&hs256, &claims, &EncodingKey::from_secret(&public_key)).expect("signed");
    assert_refused(&app, &confused, "invalid_token", "HS256 signed with the public key").await;

    assert_refused(&app, &sign(&app, "ed25519-unknown", &claims), "invalid_token", "unknown kid").await;
    assert_refused(&app, &sign(&app, &kid, &with(json!({"aud": "someone-else"}))), "invalid_token", "wrong aud").await;
    assert_refused(
        &app,
        &sign(&app, &kid, &with(json!({"iss": "https://evil.example"}))),
        "invalid_token",
        "wrong iss",
    )
    .await;
    let expired = with(json!({"iat": now() - 7200, "nbf": now() - 7200, "exp": now() - 3600}));
    assert_refused(&app, &sign(&app, &kid, &expired), "token_expired", "expired").await;
    let early = with(json!({"nbf": now() + 3600, "exp": now() + 7200}));
    assert_refused(&app, &sign(&app, &kid, &early), "invalid_token", "nbf in the future").await;

    let mut parts: Vec<&str> = token.split('.').collect();
    let promoted = b64(with(json!({"roles": ["learner", "admin"]})).to_string().as_bytes());
    parts[1] = &promoted;
    assert_refused(&app, &parts.join("."), "invalid_token", "tampered payload").await;

    for garbage in ["garbage", "a.b.c", ""] {
        assert_refused(&app, garbage, "invalid_token", garbage).await;
    }

    // A token for an account whose session does not exist (a well-signed token minted for a
    // random session) is refused too: the signature alone is not enough.
    let orphan = with(json!({"sid": uuid::Uuid::new_v4().to_string()}));
    assert_refused(&app, &sign(&app, &kid, &orphan), "invalid_token", "unknown session").await;
}

#[sqlx::test]
async fn after_a_key_rotation_tokens_signed_with_the_previous_key_still_verify(pool: PgPool) {
    // The key that signed before the rotation, kept as a public key only.
    let old_dir = tempfile::tempdir().expect("temp dir");
    let (old, _) = lectern::keys::load_or_generate(&crate::helpers::key_paths(old_dir.path())).expect("old keys");
    let old_public = old_dir.path().join("old-token-key.pub.pem");
    std::fs::write(&old_public, lectern::keys::ed25519_public_key_pem(&old.token.public_key)).expect("write");

    let options = TestOptions { token_previous_keys: vec![old_public], ..TestOptions::default() };
    let app = spawn_app_with(pool, options).await;
    let jwks: Value =
        app.client.get(app.url("/.well-known/jwks.json")).send().await.expect("request").json().await.expect("json");
    let kids: Vec<&str> = jwks["keys"].as_array().expect("keys").iter().filter_map(|k| k["kid"].as_str()).collect();
    assert_eq!(kids, vec![app.keys().token.key_id.as_str(), old.token.key_id.as_str()]);

    // A token for a real session, signed with the old key under its old kid, is accepted…
    let (_, claims) = signed_in(&app).await;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(old.token.key_id.clone());
    let old_token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&old.token.pkcs8_der)).expect("signed");
    assert_eq!(app.get_with("/v1/me", &old_token).await.status(), 200);
    // …but the old key cannot pass itself off as the current one.
    header.kid = Some(app.keys().token.key_id);
    let impostor =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&old.token.pkcs8_der)).expect("signed");
    assert_refused(&app, &impostor, "invalid_token", "old key under the new kid").await;
}

#[sqlx::test]
async fn the_openapi_document_declares_the_bearer_scheme_on_protected_routes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let document: Value =
        app.client.get(app.url("/openapi.json")).send().await.expect("request").json().await.expect("json");
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["bearerFormat"], "JWT");
    // `/v1/me` also answers applications, so it names the API-key scheme as an alternative.
    assert_eq!(document["paths"]["/v1/me"]["get"]["security"], json!([{"bearer": []}, {"api_key": []}]));
    assert_eq!(document["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");
    for (path, method) in [
        ("/v1/api-keys", "get"),
        ("/v1/api-keys", "post"),
        ("/v1/auth/sessions", "get"),
        ("/v1/auth/logout", "post"),
        ("/v1/users/{account_id}/roles", "put"),
    ] {
        assert_eq!(document["paths"][path][method]["security"], json!([{"bearer": []}]), "{method} {path}");
    }
    for (path, method) in [("/v1/auth/login", "post"), ("/v1/auth/register", "post"), ("/.well-known/jwks.json", "get")]
    {
        assert!(document["paths"][path][method].is_object(), "{method} {path} missing");
        assert!(document["paths"][path][method].get("security").is_none(), "{method} {path} needs no token");
    }
}
