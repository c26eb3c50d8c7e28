//! schemathesis (PyPI) against the server's own `/openapi.json`: generated requests to every
//! documented operation, signed in as an instructor and as a learner, with a bounded number of
//! examples per operation. No answer may be a 5xx, and every answer must have a documented
//! status, a documented content type and match its documented schema. Needs
//! `scripts/install-schemathesis.sh` (scripts/test.sh runs it).
//!
//! The statuses come from two places: each handler's annotation (its own answers, such as `403`
//! for a role or a key's scope, `409` for a state), and `http::openapi`, which adds to every
//! operation the refusals of the layers it shares with the others (`401`, a path id's `404`, a
//! query's `400`/`422`, a body's `413`/`415`/`422`). The tus upload resources are left out
//! because schemathesis cannot generate `application/offset+octet-stream` bodies (the tus tests
//! drive them with the official client).
//!
//! Operations that end the caller's own sign-in (logout, session revocation) are left out:
//! after them every other request would be a 401. `SCHEMATHESIS_EXAMPLES` sets the examples per
//! operation (default 10), `SCHEMATHESIS_SEED` the seed (default 18), and `SCHEMATHESIS_EXTRA`
//! passes more arguments (`--continue-on-failure` lists every failure of an operation, for a
//! longer hunt with other seeds).

use std::path::PathBuf;
use std::process::Command;

use sqlx::PgPool;

use crate::helpers::{TestOptions, account_with_roles, spawn_app_with, stripe, yookassa};

fn schemathesis() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/schemathesis-venv/bin/schemathesis");
    assert!(path.exists(), "schemathesis is missing: run scripts/install-schemathesis.sh");
    path
}

/// Runs schemathesis as the holder of `token`; returns its report when it found problems.
fn run(app_url: &str, token: &str, who: &str) -> Option<String> {
    let examples = std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "10".to_owned());
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| "18".to_owned());
    let output = Command::new(schemathesis())
        .arg("run")
        .arg(format!("{app_url}/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", &examples])
        .args(["--phases", "examples,fuzzing"])
        .args([
            "--checks",
            "not_a_server_error,content_type_conformance,response_schema_conformance,status_code_conformance",
        ])
        .args(["--exclude-path-regex", r"/v1/auth/(logout|sessions)|/graphql|^/v1/uploads/tus/\{upload_id\}$"])
        .args(["--seed", &seed])
        .args(std::env::var("SCHEMATHESIS_EXTRA").ok().iter().flat_map(|extra| extra.split_whitespace()))
        .args(["--request-timeout", "30"])
        .args(["--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("schemathesis runs");
    if output.status.success() {
        return None;
    }
    Some(format!("as {who}:\n{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn every_answer_is_documented_and_none_is_a_server_error(pool: PgPool) {
    // Both payment providers configured, against their stand-ins: an unconfigured provider's
    // endpoint answers `501 payments_disabled` by design, which the no-5xx check would flag.
    let (_stripe, mut payments) = stripe::start().await;
    let (_yookassa, with_yookassa) = yookassa::start(&["127.0.0.0/8"]).await;
    payments.yookassa = with_yookassa.yookassa;
    let app = spawn_app_with(pool, TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let (_, instructor) = account_with_roles(&app, "teacher@example.com", &["learner", "instructor"]).await;
    let (_, learner) = account_with_roles(&app, "learner@example.com", &["learner"]).await;
    let url = app.address.clone();
    let reports = tokio::task::spawn_blocking(move || {
        [run(&url, &instructor, "an instructor"), run(&url, &learner, "a learner")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
    })
    .await
    .expect("schemathesis runs");
    assert!(reports.is_empty(), "{}", reports.join("\n"));
}
