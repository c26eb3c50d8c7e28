#!/usr/bin/env bash
# Installs what the CloudFront signing conformance test (tests/api/cdn_conformance.rs) needs: a
# Python virtual environment in .tools/cdn-venv with botocore and rsa, pinned in
# tests/cdn/requirements.txt. The test runs tests/cdn/botocore_sign.py with that interpreter.
#
# Idempotent and quiet: prints nothing when the environment already matches the pins.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_python_venv cdn-venv tests/cdn/requirements.txt 'botocore.signers, rsa'
