#!/usr/bin/env bash
# Installs what the Stripe signature conformance test (tests/api/payments.rs) needs: a Python
# virtual environment in .tools/payments-venv with the official Stripe SDK, pinned in
# tests/payments/requirements.txt. The test runs tests/payments/stripe_sign.py with it.
#
# Idempotent and quiet: prints nothing when the environment already matches the pins.
# Usage: scripts/install-payment-tools.sh
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$repo_root/.tools/payments-venv
requirements=$repo_root/tests/payments/requirements.txt
stamp=$venv/.requirements.txt

fail() {
    echo "install-payment-tools: $*" >&2
    exit 1
}

command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null \
    || fail "python3 with venv is missing (Debian: apt-get install python3 python3-venv)"

if [[ -x $venv/bin/python && -f $stamp ]] && cmp -s "$requirements" "$stamp" \
    && "$venv/bin/python" -c 'import stripe' 2>/dev/null; then
    exit 0
fi

echo "install-payment-tools: creating $venv (stripe)"
rm -rf "$venv"
mkdir -p "$repo_root/.tools"
python3 -m venv "$venv" || fail "python3 -m venv failed"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" \
    || fail "pip install -r $requirements failed"
cp "$requirements" "$stamp"
