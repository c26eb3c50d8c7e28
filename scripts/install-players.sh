#!/usr/bin/env bash
# Installs what the browser player tests (tests/players) need: Debian's Chromium, and the
# pinned npm packages from tests/players/package-lock.json. Nothing downloads a browser of its
# own: Playwright is only the driver (playwright-core) and is pointed at /usr/bin/chromium.
#
# Idempotent and quiet: prints nothing when everything is already installed.
# Usage: scripts/install-players.sh   (as root, or with sudo available for apt-get)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
players_dir=$repo_root/tests/players

fail() {
    echo "install-players: $*" >&2
    exit 1
}

# --- Chromium from Debian -----------------------------------------------------------------
if [[ ! -x /usr/bin/chromium ]]; then
    apt_get=(apt-get)
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || fail "/usr/bin/chromium is missing and installing it needs root (or sudo)"
        apt_get=(sudo apt-get)
    fi
    export DEBIAN_FRONTEND=noninteractive
    echo "install-players: installing chromium with apt-get"
    # Refresh the package lists only when they are absent (fresh containers ship without them)
    # or when the install fails with the lists we have.
    if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
        "${apt_get[@]}" update -qq || fail "apt-get update failed"
    fi
    if ! "${apt_get[@]}" install -y -qq chromium >/dev/null; then
        "${apt_get[@]}" update -qq || fail "apt-get update failed"
        "${apt_get[@]}" install -y -qq chromium >/dev/null \
            || fail "apt-get install chromium failed"
    fi
    [[ -x /usr/bin/chromium ]] || fail "chromium was installed but /usr/bin/chromium is missing"
fi

# --- npm packages -------------------------------------------------------------------------
command -v npm >/dev/null || fail "npm is required (Node 20 or newer)"
[[ -f $players_dir/package-lock.json ]] || fail "$players_dir/package-lock.json is missing"

# npm ci wipes and reinstalls node_modules, so run it only when the installed tree does not
# match the lock file. npm records what it installed in node_modules/.package-lock.json; when
# that copy is newer than the lock file and every pinned package is present, the tree matches.
needs_install() {
    local installed=$players_dir/node_modules/.package-lock.json package
    [[ -f $installed && ! $players_dir/package-lock.json -nt $installed ]] || return 0
    for package in playwright-core hls.js dashjs shaka-player; do
        [[ -f $players_dir/node_modules/$package/package.json ]] || return 0
    done
    return 1
}

if needs_install; then
    echo "install-players: npm ci in tests/players"
    # No browser download, whatever a package's install script would like to do.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 \
        npm ci --prefix "$players_dir" --no-audit --no-fund --loglevel=error >/dev/null \
        || fail "npm ci in $players_dir failed"
fi
