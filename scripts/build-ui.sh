#!/usr/bin/env bash
# Builds the web console (web/ -> web/dist), which `lectern` serves at `/` (embedded in release
# builds, read from disk in debug builds). Needs Node 20.19 or newer.
#
# Cached: `npm ci` runs only when package-lock.json changed since the last install, and
# `vite build` only when a source file changed since the last build (a hash of the inputs is
# kept in web/dist/.source-hash), so a second run takes well under a second.
# Usage: scripts/build-ui.sh [--force]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LECTERN_ROOT/web"

ensure_node
node_version="$(node --version | sed 's/^v//')"
[ "$(printf '%s\n20.19.0\n' "$node_version" | sort -V | head -n1)" = "20.19.0" ] \
    || die "Node $node_version is too old to build the web console; it needs 20.19 or newer"

installed=node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ package-lock.json -nt "$installed" ]; then
    say "installing the web console's npm packages (npm ci in web/)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null \
        || die "npm ci in web/ failed"
fi

inputs_hash="$( (find src -type f -print0 | sort -z | xargs -0 sha256sum; \
    sha256sum index.html package-lock.json vite.config.ts tsconfig.json) | sha256sum | cut -d' ' -f1)"
if [ "${1:-}" != "--force" ] && [ -f dist/index.html ] && [ "$(cat dist/.source-hash 2>/dev/null)" = "$inputs_hash" ]; then
    exit 0
fi
say "building the web console (tsc + vite build in web/)"
npm run --silent build >/dev/null 2>&1 || { npm run build; die "the web console did not build"; }
echo "$inputs_hash" > dist/.source-hash
