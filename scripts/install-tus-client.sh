#!/usr/bin/env bash
# Installs the official tus-js-client for the resumable-upload test (tests/api/media_tus_client.rs)
# from the pinned tests/tus/package-lock.json. Needs Node 20+ and npm.
#
# Idempotent and quiet: prints nothing when the pinned packages are already installed.
# Usage: scripts/install-tus-client.sh
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tus_dir=$repo_root/tests/tus

fail() {
    echo "install-tus-client: $*" >&2
    exit 1
}

command -v npm >/dev/null || fail "npm is required (Node 20 or newer)"
[[ -f $tus_dir/package-lock.json ]] || fail "$tus_dir/package-lock.json is missing"

# npm ci wipes and reinstalls node_modules, so run it only when the installed tree is older than
# the lock file or the client is missing (npm records what it installed in
# node_modules/.package-lock.json).
installed=$tus_dir/node_modules/.package-lock.json
if [[ ! -f $installed || $tus_dir/package-lock.json -nt $installed \
      || ! -f $tus_dir/node_modules/tus-js-client/package.json ]]; then
    echo "install-tus-client: npm ci in tests/tus"
    npm ci --prefix "$tus_dir" --no-audit --no-fund --loglevel=error >/dev/null \
        || fail "npm ci in $tus_dir failed"
fi
