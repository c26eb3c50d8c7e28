#!/usr/bin/env bash
# Installs what the LTI tests (tests/api/lti.rs) need: a Python virtual environment in
# .tools/lti-venv with the third-party LTI 1.3 platform lti-provider-mock (run with uvicorn),
# httpx and PyJWT, pinned in tests/lti/requirements.txt. The tests run tests/lti/*.py with it.
#
# Idempotent and quiet: prints nothing when the environment already matches the pins.
# Usage: scripts/install-lti-tools.sh
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$repo_root/.tools/lti-venv
requirements=$repo_root/tests/lti/requirements.txt
stamp=$venv/.requirements.txt

fail() {
    echo "install-lti-tools: $*" >&2
    exit 1
}

# Debian splits venv (and ensurepip) out of python3; install both when they are missing.
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_get=(apt-get)
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || fail "python3 with venv is missing and installing it needs root (or sudo)"
        apt_get=(sudo apt-get)
    fi
    echo "install-lti-tools: installing python3 and python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${apt_get[@]}" install -y -qq python3 python3-venv >/dev/null; then
        "${apt_get[@]}" update -qq || fail "apt-get update failed"
        "${apt_get[@]}" install -y -qq python3 python3-venv >/dev/null || fail "apt-get install python3-venv failed"
    fi
fi
python=$(command -v python3)

# Reinstall only when the pins changed since the last install or the interpreter is gone.
if [[ -x $venv/bin/python && -f $stamp ]] && cmp -s "$requirements" "$stamp" \
    && "$venv/bin/python" -c 'import lti_provider_mock, uvicorn, httpx, jwt' 2>/dev/null; then
    exit 0
fi

echo "install-lti-tools: creating $venv (lti-provider-mock, uvicorn, httpx, PyJWT)"
rm -rf "$venv"
mkdir -p "$repo_root/.tools"
"$python" -m venv "$venv" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" \
    || fail "pip install -r $requirements failed"
cp "$requirements" "$stamp"
