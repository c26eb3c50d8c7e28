#!/usr/bin/env bash
# Runs Lectern with embedded defaults: local storage under ./data, in-process workers,
# generated development keys, and a local PostgreSQL (installed and started when DATABASE_URL
# is unset). Extra arguments go to `lectern serve`, e.g. `scripts/run.sh --listen 0.0.0.0:8080`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LECTERN_ROOT"

ensure_build_packages
ensure_rust
ensure_postgres

# The web console is built first: release builds embed web/dist. Cached when unchanged. Without
# it (no Node 20.19+), Lectern still runs and its pages say how to build the console.
ensure_node
bash scripts/build-ui.sh || say "the web console was not built (see above); starting without it"

profile="${LECTERN_PROFILE:-dev}"
say "building lectern (profile $profile)"
cargo build --profile "$profile" --bin lectern
target_dir="target/$([ "$profile" = dev ] && echo debug || echo "$profile")"

say "starting lectern serve on ${LECTERN_LISTEN:-127.0.0.1:8080} (Ctrl-C stops it)"
exec "$target_dir/lectern" serve "$@"
