#!/usr/bin/env bash
# Installs what the Stripe signature conformance test (tests/api/payments.rs) needs: a Python
# virtual environment in .tools/payments-venv with the official Stripe SDK, pinned in
# tests/payments/requirements.txt. The test runs tests/payments/stripe_sign.py with it.
#
# Idempotent and quiet: prints nothing when the environment already matches the pins.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_python_venv payments-venv tests/payments/requirements.txt 'stripe'
