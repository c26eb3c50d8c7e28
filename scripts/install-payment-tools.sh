#!/usr/bin/env bash
# Installs what the payment tests need: Python virtual environments in .tools/ with the official
# Stripe SDK (tests/payments/requirements.txt; the signature conformance test runs
# tests/payments/stripe_sign.py with it) and localstripe, the stateful Stripe fake that
# tests/api/payments_manage.rs runs as a separate process (tests/payments/localstripe-requirements.txt).
#
# Idempotent and quiet: prints nothing when the environments already match the pins.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_python_venv payments-venv tests/payments/requirements.txt 'stripe'
ensure_python_venv localstripe-venv tests/payments/localstripe-requirements.txt 'localstripe'
