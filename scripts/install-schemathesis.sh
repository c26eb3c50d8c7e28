#!/usr/bin/env bash
# Installs what the API conformance test (tests/api/schemathesis.rs) needs: a Python virtual
# environment in .tools/schemathesis-venv with schemathesis (PyPI), pinned in
# tests/schemathesis/requirements.txt. The test runs its `schemathesis` command against the
# server's own /openapi.json.
#
# Idempotent and quiet: prints nothing when the environment already matches the pins.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_python_venv schemathesis-venv tests/schemathesis/requirements.txt 'schemathesis'
