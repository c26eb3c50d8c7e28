#!/usr/bin/env bash
# Installs what the account tests (tests/api/accounts_*.rs) need: a Python virtual environment in
# .tools/accounts-venv with aiosmtpd (a real SMTP server the tests start on 127.0.0.1) and pyotp
# (an independent TOTP implementation), pinned in tests/accounts/requirements.txt.
#
# Idempotent and quiet: prints nothing when the environment already matches the pins.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_python_venv accounts-venv tests/accounts/requirements.txt 'aiosmtpd, pyotp'
