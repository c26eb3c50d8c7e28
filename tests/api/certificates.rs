//! Course-completion certificates end to end: a course, a lesson, an enrolment and its progress
//! written with SQL (as training will write them), `issue_in` in a transaction, then the public
//! endpoint, the published keys, and checks with tools this project did not write: Python's
//! `json` for the canonical form, `openssl pkeyutl` for the Ed25519 signature, `qpdf` and
//! poppler's `pdftotext`/`pdfinfo` for the PDF. scripts/test.sh installs them (poppler-utils, qpdf,
//! openssl).

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use lectern::training::certificates::{self, CertificateSigner, Issued};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, error_code, spawn_app};

const LEARNER_NAME: &str = "Анна Сергеевна Петрова";
const COURSE_TITLE: &str = "Основы видеомонтажа: Premiere Pro";

/// What the SQL below made: the course, its two lessons, and the learner.
struct Seeded {
    course_id: Uuid,
    video_lesson_id: Uuid,
    learner_id: Uuid,
    learner_token: String,
}

/// A published course with a required 125.5-second video (its own threshold 0.8) and an optional
/// text lesson, owned by an instructor; and a learner with a name for certificates.
async fn seed(app: &TestApp, certificate_enabled: bool) -> Seeded {
    let owner = app.register(&format!("teacher-{}@example.com", Uuid::new_v4())).await;
    let owner_id: Uuid = owner["account"]["account_id"].as_str().expect("id").parse().expect("uuid");
    let learner = app.register(&format!("anna-{}@example.com", Uuid::new_v4())).await;
    let learner_id: Uuid = learner["account"]["account_id"].as_str().expect("id").parse().expect("uuid");
    let learner_token = learner["tokens"]["access_token"].as_str().expect("token").to_owned();

    let course_id: Uuid = sqlx::query_scalar(
        "insert into course (owner_id, title, status, published_at, certificate_enabled, completion_threshold)
         values ($1, $2, 'published', now(), $3, 0.9) returning course_id",
    )
    .bind(owner_id)
    .bind(COURSE_TITLE)
    .bind(certificate_enabled)
    .fetch_one(&app.pool)
    .await
    .expect("course");
    let section_id: Uuid = sqlx::query_scalar(
        "insert into course_section (course_id, title, position) values ($1, 'Начало', 0) returning section_id",
    )
    .bind(course_id)
    .fetch_one(&app.pool)
    .await
    .expect("section");
    let video_lesson_id: Uuid = sqlx::query_scalar(
        "insert into lesson (course_id, section_id, position, title, kind, duration_ms, completion_threshold)
         values ($1, $2, 0, 'Монтаж на таймлайне', 'video', 125500, 0.8) returning lesson_id",
    )
    .bind(course_id)
    .bind(section_id)
    .fetch_one(&app.pool)
    .await
    .expect("video lesson");
    sqlx::query(
        "insert into lesson (course_id, section_id, position, title, kind, body, required)
         values ($1, $2, 1, 'Further reading', 'text', 'Read this.', false)",
    )
    .bind(course_id)
    .bind(section_id)
    .execute(&app.pool)
    .await
    .expect("text lesson");
    Seeded { course_id, video_lesson_id, learner_id, learner_token }
}

/// A completed enrolment attempt that watched 120 of the video's 126 seconds.
async fn completed_enrollment(app: &TestApp, seeded: &Seeded, attempt: i32) -> Uuid {
    let enrollment_id: Uuid = sqlx::query_scalar(
        "insert into enrollment (course_id, account_id, attempt, source, completed_at, last_activity_at)
         values ($1, $2, $3, 'admin', now(), now()) returning enrollment_id",
    )
    .bind(seeded.course_id)
    .bind(seeded.learner_id)
    .bind(attempt)
    .fetch_one(&app.pool)
    .await
    .expect("enrollment");
    sqlx::query(
        "insert into lesson_progress (enrollment_id, lesson_id, covered_seconds, completed_at)
         values ($1, $2, 120, now())",
    )
    .bind(enrollment_id)
    .bind(seeded.video_lesson_id)
    .execute(&app.pool)
    .await
    .expect("progress");
    enrollment_id
}

/// The signer the app runs with, rebuilt from the keys in its data directory.
fn signer(app: &TestApp) -> CertificateSigner {
    let keys = app.keys();
    CertificateSigner::new(&keys.certificate, &keys.certificate_previous).expect("the app's certificate key")
}

/// `issue_in` inside a transaction that commits, as training will call it.
async fn issue(app: &TestApp, enrollment_id: Uuid) -> Option<Issued> {
    let mut transaction = app.pool.begin().await.expect("transaction");
    let issued =
        certificates::issue_in(&mut transaction, &signer(app), &app.address, enrollment_id).await.expect("issued");
    transaction.commit().await.expect("commit");
    issued
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.client.get(app.url(path)).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// Python's canonical JSON of `record` (sorted keys, no whitespace, UTF-8), which for a record of
/// integers, strings, booleans and nulls with ASCII names is RFC 8785's.
fn python_canonical(record: &Value) -> Vec<u8> {
    let script = "import json, sys\n\
                  record = json.load(sys.stdin)\n\
                  sys.stdout.buffer.write(json.dumps(record, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8'))";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().expect("stdin").write_all(record.to_string().as_bytes()).expect("write");
    let output = child.wait_with_output().expect("python3 finishes");
    assert!(output.status.success(), "python3 failed");
    output.stdout
}

/// `openssl pkeyutl -verify` of `signature` over `message` with the JWK `jwk`: true when OpenSSL
/// says the signature verifies.
fn openssl_verifies(jwk: &Value, message: &[u8], signature: &[u8]) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = b64url.decode(jwk["x"].as_str().expect("x")).expect("base64url");
    assert_eq!(raw.len(), 32);
    // SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): algorithm 1.3.101.112, then the key.
    let mut der = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    der.extend_from_slice(&raw);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    let (key, data, sig) = (dir.path().join("key.pem"), dir.path().join("record.json"), dir.path().join("sig.bin"));
    std::fs::write(&key, pem).expect("write key");
    std::fs::write(&data, message).expect("write record");
    std::fs::write(&sig, signature).expect("write signature");
    let output = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
        .arg(&key)
        .arg("-in")
        .arg(&data)
        .arg("-sigfile")
        .arg(&sig)
        .output()
        .expect("openssl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    output.status.success() && stdout.contains("Signature Verified Successfully")
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/test.sh installs poppler-utils and qpdf): {e}"));
    assert!(output.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[sqlx::test]
async fn a_completed_enrolment_gets_one_signed_certificate_that_verifies_offline(pool: PgPool) {
    let app = spawn_app(pool).await;
    let seeded = seed(&app, true).await;
    let response = app
        .client
        .put(app.url("/v1/me/certificate-name"))
        .bearer_auth(&seeded.learner_token)
        .json(&json!({"name": format!("  {LEARNER_NAME} ")}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let enrollment_id = completed_enrollment(&app, &seeded, 1).await;

    let issued = issue(&app, enrollment_id).await.expect("the course enables certificates");
    assert!(issued.newly_issued);
    let again = issue(&app, enrollment_id).await.expect("still there");
    assert!(!again.newly_issued, "a second call issues nothing");
    assert_eq!(again.certificate.certificate_id, issued.certificate.certificate_id);
    let certificate_id = issued.certificate.certificate_id;
    assert_eq!(certificate_id.get_version_num(), 4, "122 random bits");

    let (status, view) = get_json(&app, &format!("/v1/certificates/{certificate_id}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["verified"], true);
    assert_eq!(view["valid"], true);
    assert_eq!(view["algorithm"], "EdDSA");
    assert_eq!(view["verification_url"], format!("{}/v1/certificates/{certificate_id}", app.address));
    let record = &view["record"];
    assert_eq!(record["schema"], "lectern.certificate.v1");
    assert_eq!(record["certificate_id"], certificate_id.to_string());
    assert_eq!(record["issuer"], app.address);
    assert_eq!(record["learner"], json!({"account_id": seeded.learner_id, "name": LEARNER_NAME}));
    assert_eq!(record["course"], json!({"course_id": seeded.course_id, "title": COURSE_TITLE}));
    assert_eq!(record["enrollment"]["attempt"], 1);
    assert_eq!(record["completion_rule"], json!({"required_lessons": "all", "default_threshold_per_mille": 900}));
    let lessons = record["lessons"].as_array().expect("lessons");
    assert_eq!(lessons.len(), 2);
    // 120 of ⌈125.5⌉ = 126 seconds, floored: 952 ‰ against the lesson's own 800 ‰.
    assert_eq!(lessons[0]["duration_seconds"], 126);
    assert_eq!(lessons[0]["covered_per_mille"], 952);
    assert_eq!(lessons[0]["threshold_per_mille"], 800);
    assert_eq!(lessons[0]["required"], true);
    assert!(lessons[0]["completed_at"].as_str().expect("completed").ends_with('Z'));
    assert_eq!(lessons[1]["kind"], "text");
    assert_eq!(lessons[1]["threshold_per_mille"], 900, "the course's threshold");
    assert_eq!(lessons[1]["covered_per_mille"], Value::Null);
    assert_eq!(lessons[1]["completed_at"], Value::Null);

    // The published keys: the signing key, as an OKP JWK, cacheable.
    let response = app.client.get(app.url("/.well-known/lectern-certificate-keys.json")).send().await.expect("request");
    assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
    let jwks: Value = response.json().await.expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(
        (&jwk["kty"], &jwk["crv"], &jwk["use"], &jwk["alg"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("sig"), &json!("EdDSA"))
    );
    assert_eq!(jwk["kid"], view["key_id"]);
    // Not the token key.
    let token_jwks: Value =
        app.client.get(app.url("/.well-known/jwks.json")).send().await.expect("request").json().await.expect("json");
    assert_ne!(token_jwks["keys"][0]["x"], jwk["x"]);

    // Offline: Python writes the canonical bytes (the same the server stored and signed), and
    // OpenSSL checks the signature with the key from the JWKS.
    let canonical = python_canonical(record);
    let stored: String = sqlx::query_scalar("select record from certificate where certificate_id = $1")
        .bind(certificate_id)
        .fetch_one(&app.pool)
        .await
        .expect("stored");
    assert_eq!(String::from_utf8(canonical.clone()).expect("utf-8"), stored, "the server's canonical form is Python's");
    let signature =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(view["signature"].as_str().expect("sig")).expect("b64");
    assert_eq!(signature.len(), 64);
    assert!(openssl_verifies(jwk, &canonical, &signature), "OpenSSL verifies the certificate");

    // A forged record fails the same check: another name, or a better score.
    let mut forged = record.clone();
    forged["learner"]["name"] = json!("Анне Сергеевне Петровой");
    assert!(!openssl_verifies(jwk, &python_canonical(&forged), &signature));
    let mut forged = record.clone();
    forged["lessons"][0]["covered_per_mille"] = json!(1000);
    assert!(!openssl_verifies(jwk, &python_canonical(&forged), &signature));

    // The learner's list.
    let response = app.get_with("/v1/me/certificates", &seeded.learner_token).await;
    assert_eq!(response.status(), 200);
    let mine: Value = response.json().await.expect("json");
    assert_eq!(mine["certificates"].as_array().expect("list").len(), 1);
    assert_eq!(mine["certificates"][0]["course_title"], COURSE_TITLE);
    assert_eq!(mine["certificates"][0]["pdf_url"], format!("{}/v1/certificates/{certificate_id}/pdf", app.address));

    // A row changed in the database no longer verifies, and is not printed.
    sqlx::query("update certificate set record = replace(record, 'Анна', 'Анне') where certificate_id = $1")
        .bind(certificate_id)
        .execute(&app.pool)
        .await
        .expect("tamper");
    let (status, view) = get_json(&app, &format!("/v1/certificates/{certificate_id}")).await;
    assert_eq!(status, 200);
    assert_eq!((&view["verified"], &view["valid"]), (&json!(false), &json!(false)));
    let response =
        app.client.get(app.url(&format!("/v1/certificates/{certificate_id}/pdf"))).send().await.expect("request");
    assert_eq!(response.status(), 500);
}

#[sqlx::test]
async fn the_pdf_is_one_landscape_a4_page_that_tools_read_in_cyrillic(pool: PgPool) {
    let app = spawn_app(pool).await;
    let seeded = seed(&app, true).await;
    sqlx::query("insert into certificate_name (account_id, name) values ($1, $2)")
        .bind(seeded.learner_id)
        .bind(LEARNER_NAME)
        .execute(&app.pool)
        .await
        .expect("name");
    let enrollment_id = completed_enrollment(&app, &seeded, 1).await;
    let certificate_id = issue(&app, enrollment_id).await.expect("issued").certificate.certificate_id;

    let response =
        app.client.get(app.url(&format!("/v1/certificates/{certificate_id}/pdf"))).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert_eq!(
        response.headers()["content-disposition"],
        format!("inline; filename=\"certificate-{certificate_id}.pdf\"").as_str()
    );
    let pdf = response.bytes().await.expect("body");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("certificate.pdf");
    std::fs::write(&path, &pdf).expect("write");
    let path = path.to_str().expect("utf-8 path");

    let check = run("qpdf", &["--check", path]);
    assert!(check.contains("No syntax or stream encoding errors"), "{check}");
    let info = run("pdfinfo", &[path]);
    assert!(info.contains("Pages:           1"), "{info}");
    assert!(info.contains("Page size:       841.89 x 595.28 pts (A4)"), "landscape A4: {info}");
    let fonts = run("pdffonts", &[path]);
    assert!(fonts.contains("DejaVuSerif") && fonts.contains("CID TrueType"), "{fonts}");
    assert!(!fonts.contains(" no "), "every font embedded, subset, with a Unicode map: {fonts}");
    let text = run("pdftotext", &["-layout", path, "-"]);
    for expected in [
        LEARNER_NAME,
        COURSE_TITLE,
        "CERTIFICATE OF COMPLETION",
        "1 of 1 required lesson completed",
        &certificate_id.to_string(),
        &format!("{}/v1/certificates/{certificate_id}", app.address),
    ] {
        assert!(text.contains(expected), "{expected:?} not in the text:\n{text}");
    }

    // A revoked certificate is no longer printed.
    sqlx::query("update certificate set revoked_at = now(), revoked_reason = 'test' where certificate_id = $1")
        .bind(certificate_id)
        .execute(&app.pool)
        .await
        .expect("revoke");
    let response =
        app.client.get(app.url(&format!("/v1/certificates/{certificate_id}/pdf"))).send().await.expect("request");
    assert_eq!(response.status(), 410);
    assert_eq!(error_code(response).await, "certificate_revoked");
    let (_, view) = get_json(&app, &format!("/v1/certificates/{certificate_id}")).await;
    assert_eq!((&view["verified"], &view["valid"]), (&json!(true), &json!(false)));
}

#[sqlx::test]
async fn a_reassigned_course_gets_a_second_certificate_and_the_first_stays_valid(pool: PgPool) {
    let app = spawn_app(pool).await;
    let seeded = seed(&app, true).await;
    let first_enrollment = completed_enrollment(&app, &seeded, 1).await;
    let first = issue(&app, first_enrollment).await.expect("issued").certificate.certificate_id;
    // Training ends the current attempt as `expired` (reason `reassigned`) and starts attempt 2.
    sqlx::query(
        "update enrollment set status = 'expired', status_reason = 'reassigned', ended_at = now()
         where enrollment_id = $1",
    )
    .bind(first_enrollment)
    .execute(&app.pool)
    .await
    .expect("end attempt 1");
    let second_enrollment = completed_enrollment(&app, &seeded, 2).await;
    let second = issue(&app, second_enrollment).await.expect("issued").certificate.certificate_id;
    assert_ne!(first, second);

    for (certificate_id, attempt) in [(first, 1), (second, 2)] {
        let (status, view) = get_json(&app, &format!("/v1/certificates/{certificate_id}")).await;
        assert_eq!(status, 200);
        assert_eq!(view["valid"], true, "attempt {attempt}");
        assert_eq!(view["record"]["enrollment"]["attempt"], attempt);
        // Without a name set, the learner's email is on the certificate.
        assert!(view["record"]["learner"]["name"].as_str().expect("name").starts_with("anna-"));
    }
    let mine: Value = app.get_with("/v1/me/certificates", &seeded.learner_token).await.json().await.expect("json");
    let attempts: Vec<&Value> = mine["certificates"].as_array().expect("list").iter().map(|c| &c["attempt"]).collect();
    assert_eq!(attempts.len(), 2);
}

#[sqlx::test]
async fn courses_without_certificates_issue_none_and_unknown_ids_are_not_found(pool: PgPool) {
    let app = spawn_app(pool).await;
    let seeded = seed(&app, false).await;
    let enrollment_id = completed_enrollment(&app, &seeded, 1).await;
    assert!(issue(&app, enrollment_id).await.is_none());
    let count: i64 = sqlx::query_scalar("select count(*) from certificate").fetch_one(&app.pool).await.expect("count");
    assert_eq!(count, 0);

    for path in [format!("/v1/certificates/{}", Uuid::new_v4()), "/v1/certificates/not-an-id".to_owned()] {
        let response = app.client.get(app.url(&path)).send().await.expect("request");
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(error_code(response).await, "certificate_not_found");
    }
    let response = app.client.get(app.url("/v1/me/certificates")).send().await.expect("request");
    assert_eq!(response.status(), 401);
    let response = app
        .client
        .put(app.url("/v1/me/certificate-name"))
        .bearer_auth(&seeded.learner_token)
        .json(&json!({"name": "  "}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    assert_eq!(error_code(response).await, "invalid_certificate_name");

    // An enrolment that is not completed is the caller's mistake, not a certificate.
    let open: Uuid = sqlx::query_scalar(
        "update enrollment set completed_at = null where enrollment_id = $1 returning enrollment_id",
    )
    .bind(enrollment_id)
    .fetch_one(&app.pool)
    .await
    .expect("reopen");
    sqlx::query("update course set certificate_enabled = true where course_id = $1")
        .bind(seeded.course_id)
        .execute(&app.pool)
        .await
        .expect("enable");
    let mut connection = app.pool.acquire().await.expect("connection");
    let error = certificates::issue_in(&mut connection, &signer(&app), &app.address, open).await.expect_err("open");
    assert!(error.to_string().contains("is not completed"), "{error}");
}

#[sqlx::test]
async fn the_certificate_routes_and_the_record_are_documented(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, document) = get_json(&app, "/openapi.json").await;
    for (path, method) in [
        ("/v1/certificates/{certificate_id}", "get"),
        ("/v1/certificates/{certificate_id}/pdf", "get"),
        ("/v1/me/certificates", "get"),
        ("/v1/me/certificate-name", "put"),
        ("/.well-known/lectern-certificate-keys.json", "get"),
    ] {
        assert!(document["paths"][path][method].is_object(), "{method} {path} missing");
    }
    assert!(document["paths"]["/v1/certificates/{certificate_id}"]["get"].get("security").is_none(), "public");
    assert_eq!(document["paths"]["/v1/me/certificates"]["get"]["security"], json!([{"bearer": []}]));
    let schemas = &document["components"]["schemas"];
    for schema in ["CertificateView", "CertificateRecord", "LessonFacts", "CertificateList"] {
        assert!(schemas[schema].is_object(), "{schema} missing from the components");
    }
}
