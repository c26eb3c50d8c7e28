#!/usr/bin/env bash
# Runs every test: lints, unit and integration tests against a real PostgreSQL and a real
# S3-compatible server (SeaweedFS), installing and starting whatever is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LECTERN_ROOT"

ensure_build_packages
ensure_rust
ensure_rust_lint_tools
# Formatting first: it takes a second and needs nothing else installed.
say "checking formatting (cargo fmt --check; rustfmt.toml holds the style)"
cargo fmt --all -- --check || die "the code is not formatted: run 'cargo fmt --all' and commit the result"
ensure_postgres
ensure_redis
ensure_node
ensure_certificate_tools
say "installing the browser players (Debian chromium, pinned npm packages)"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 bash scripts/install-players.sh
bash scripts/install-oauth-provider.sh
bash scripts/install-cdn-tools.sh
bash scripts/install-payment-tools.sh
bash scripts/install-lti-tools.sh
bash scripts/install-tus-client.sh
# --- Web console (issue 17) -------------------------------------------------------------
# Built before the Rust tests: tests/api/console_browser.rs drives it in Chromium, and the
# debug binary serves web/dist from disk. npm ci and vite build are skipped when unchanged.
bash scripts/build-ui.sh
# --- end of web console -------------------------------------------------------------------
# --- hardening: schemathesis (PyPI) for tests/api/schemathesis.rs --------------------------
bash scripts/install-schemathesis.sh
# --- end hardening --------------------------------------------------------------------------
# --- infra (issue 19): moto's server for tests/api/jobs_sqs.rs and the terraform apply check ----
bash scripts/install-aws-tools.sh
# --- end infra ------------------------------------------------------------------------------
# --- accounts (issue 21): aiosmtpd and pyotp (PyPI) for tests/api/accounts_*.rs ------------
bash scripts/install-account-tools.sh
# --- end accounts ---------------------------------------------------------------------------
# #[sqlx::test] creates a fresh database per test through this URL's server; point it at the
# server's maintenance database rather than at the application's.
export DATABASE_URL="${DATABASE_URL%/*}/postgres"

say "starting SeaweedFS (S3 on 127.0.0.1:${LECTERN_SEAWEED_PORT:-8333})"
bash scripts/seaweedfs.sh start
trap 'bash scripts/seaweedfs.sh stop >/dev/null 2>&1 || true' EXIT

say "checking lints (clippy, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

say "running the Rust tests"
log="$(mktemp)"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Sum every harness's result line, so a run that executed nothing cannot pass silently.
read -r passed failed ignored < <(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) {
        if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i
    }
} END { print p + 0, f + 0, g + 0 }' "$log")
rm -f "$log"

# ---- infra/ (issue 19): Terraform, checkov, Prometheus rules, Grafana panels, the container ----
# Runs after the Rust tests because the Grafana and container checks run the lectern binary
# that `cargo test` built (target/debug/lectern); neither compiles Lectern again.
if [ "$status" -eq 0 ]; then
    say "checking infra/ (scripts/test-infra.sh, then scripts/test-container.sh)"
    bash scripts/test-infra.sh
    bash scripts/test-container.sh
fi
# ---- end of infra/ ----

echo
echo "${passed} passed, ${failed} failed, ${ignored} skipped"
if [ "$status" -ne 0 ]; then
    die "tests failed"
fi
if [ "$passed" -eq 0 ]; then
    die "no test ran"
fi
