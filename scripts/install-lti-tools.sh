#!/usr/bin/env bash
# Installs what the LTI tests (tests/api/lti.rs) need: a Python virtual environment in
# .tools/lti-venv with the third-party LTI 1.3 platform lti-provider-mock (run with uvicorn),
# httpx and PyJWT, pinned in tests/lti/requirements.txt. The tests run tests/lti/*.py with it.
#
# Idempotent and quiet: prints nothing when the environment already matches the pins.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_python_venv lti-venv tests/lti/requirements.txt 'lti_provider_mock, uvicorn, httpx, jwt'
