#!/usr/bin/env bash
# Installs the OpenID provider the sign-in tests run (tests/oauth: panva's oidc-provider, pinned
# in package-lock.json) with `npm ci`. Idempotent and quiet: prints nothing when the installed
# tree already matches the lock file.
# Usage: scripts/install-oauth-provider.sh
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
provider_dir=$repo_root/tests/oauth

fail() {
    echo "install-oauth-provider: $*" >&2
    exit 1
}

command -v node >/dev/null || fail "node is required (Node 20 or newer)"
command -v npm >/dev/null || fail "npm is required (Node 20 or newer)"
[[ -f $provider_dir/package-lock.json ]] || fail "$provider_dir/package-lock.json is missing"

# npm records what it installed in node_modules/.package-lock.json; when that copy is newer than
# the lock file and the package is present, the tree matches and nothing needs doing.
installed=$provider_dir/node_modules/.package-lock.json
if [[ -f $installed && ! $provider_dir/package-lock.json -nt $installed \
    && -f $provider_dir/node_modules/oidc-provider/package.json ]]; then
    exit 0
fi
echo "install-oauth-provider: npm ci in tests/oauth"
npm ci --prefix "$provider_dir" --no-audit --no-fund --loglevel=error >/dev/null \
    || fail "npm ci in $provider_dir failed"
