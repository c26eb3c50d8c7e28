#!/usr/bin/env bash
# Installs what the API conformance test (tests/api/schemathesis.rs) needs: a Python virtual
# environment in .tools/schemathesis-venv with schemathesis (PyPI), pinned in
# tests/schemathesis/requirements.txt. The test runs its `schemathesis` command against the
# server's own /openapi.json.
#
# Idempotent and quiet: prints nothing when the environment already matches the pins.
# Usage: scripts/install-schemathesis.sh
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$repo_root/.tools/schemathesis-venv
requirements=$repo_root/tests/schemathesis/requirements.txt
stamp=$venv/.requirements.txt

fail() {
    echo "install-schemathesis: $*" >&2
    exit 1
}

# Debian splits venv (and ensurepip) out of python3; install both when they are missing.
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_get=(apt-get)
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || fail "python3 with venv is missing and installing it needs root (or sudo)"
        apt_get=(sudo apt-get)
    fi
    echo "install-schemathesis: installing python3 and python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${apt_get[@]}" install -y -qq python3 python3-venv >/dev/null; then
        "${apt_get[@]}" update -qq || fail "apt-get update failed"
        "${apt_get[@]}" install -y -qq python3 python3-venv >/dev/null || fail "apt-get install python3-venv failed"
    fi
fi
python=$(command -v python3)

# Reinstall only when the pins changed since the last install or the interpreter is gone.
if [[ -x $venv/bin/python && -f $stamp ]] && cmp -s "$requirements" "$stamp" \
    && "$venv/bin/python" -c 'import schemathesis' 2>/dev/null; then
    exit 0
fi

echo "install-schemathesis: creating $venv (schemathesis)"
rm -rf "$venv"
mkdir -p "$repo_root/.tools"
"$python" -m venv "$venv" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" \
    || fail "pip install -r $requirements failed"
cp "$requirements" "$stamp"
