#!/usr/bin/env bash
# Installs moto's server (pinned in tests/aws/requirements.txt) into .tools/aws-venv: the AWS
# stand-in of the SQS wake-up test (tests/api/jobs_sqs.rs) and of `terraform apply` against moto
# in scripts/test-infra.sh.
#
# Idempotent and quiet: prints nothing when the environment already matches the pins.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_python_venv aws-venv tests/aws/requirements.txt 'moto.server'
