# Shared provisioning for run.sh and test.sh: installs what is missing, starts what is stopped,
# and exports DATABASE_URL. Sourced, not executed.

LECTERN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LECTERN_ROOT

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
# ensure_packages PKG...: installs the Debian packages that are not installed yet.
ensure_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing ${missing[*]}"
    if [ "$APT_UPDATED" -eq 0 ]; then
        $sudo apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

# The system libraries ffmpeg-next links against, and what bindgen needs to read their headers.
ensure_build_packages() {
    ensure_packages pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev \
        libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev ffmpeg curl ca-certificates
}

# Tools the certificate tests check the server's output with, tools this project did not write:
# OpenSSL verifies the Ed25519 signatures, qpdf checks the PDF's structure, poppler-utils
# (pdftotext, pdfinfo, pdffonts) read its text and fonts back.
ensure_certificate_tools() {
    ensure_packages openssl qpdf poppler-utils python3
}

# Node.js and npm drive the browser players in the playback tests.
# ensure_node: Node.js and npm, at least 20.19 (the web console's Vite needs it). Debian 12
# ships 18: then a newer Node comes from the npm registry's `node-linux-<arch>` package (the
# official build) into .tools/node, put first on PATH; Debian's npm runs on it.
ensure_node() {
    if [ -x "$LECTERN_ROOT/.tools/node/package/bin/node" ]; then
        export PATH="$LECTERN_ROOT/.tools/node/package/bin:$PATH"
    fi
    command -v node >/dev/null && command -v npm >/dev/null || ensure_packages nodejs npm
    local version
    version="$(node --version | sed 's/^v//')"
    [ "$(printf '%s\n20.19.0\n' "$version" | sort -V | head -n1)" = "20.19.0" ] && return 0
    local arch
    case "$(uname -m)" in
        x86_64) arch=x64 ;;
        aarch64) arch=arm64 ;;
        *) die "Node $version is too old (20.19 or newer is needed) and no newer build is known for $(uname -m)" ;;
    esac
    say "Node $version is older than 20.19: installing Node 22 (node-linux-$arch from the npm registry) into .tools/node"
    local scratch
    scratch="$(mktemp -d)"
    (cd "$scratch" && npm pack --silent "node-linux-$arch@22" >/dev/null) \
        || die "could not download node-linux-$arch from the npm registry"
    rm -rf "$LECTERN_ROOT/.tools/node" && mkdir -p "$LECTERN_ROOT/.tools/node"
    tar xzf "$scratch"/node-linux-*.tgz -C "$LECTERN_ROOT/.tools/node" package/bin/node package/LICENSE
    rm -rf "$scratch"
    export PATH="$LECTERN_ROOT/.tools/node/package/bin:$PATH"
    node --version >/dev/null || die "the Node downloaded into .tools/node does not run"
}

ensure_rust() {
    if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null || die "Rust is not installed: install it with rustup (https://rustup.rs), version 1.95 or newer"
    local version
    version="$(rustc --version | awk '{print $2}')"
    [ "$(printf '%s\n1.95.0\n' "$version" | sort -V | head -n1)" = "1.95.0" ] \
        || die "Rust $version is too old; Lectern needs 1.95 or newer (rustup update)"
}

# ensure_rust_lint_tools: rustfmt and clippy, which the test command runs; both ship as rustup
# components of the toolchain.
ensure_rust_lint_tools() {
    cargo fmt --version >/dev/null 2>&1 || die "cargo fmt is missing: rustup component add rustfmt"
    cargo clippy --version >/dev/null 2>&1 || die "cargo clippy is missing: rustup component add clippy"
}

# ensure_postgres: exports DATABASE_URL. A URL already set is used as it is; otherwise a local
# PostgreSQL is installed and started when needed and a `lectern` database URL is exported.
ensure_postgres() {
    if [ -n "${DATABASE_URL:-}" ]; then
        return 0
    fi
    if ! command -v pg_isready >/dev/null; then
        ensure_packages postgresql
    fi
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        ensure_packages postgresql
        local version
        version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
        [ -n "$version" ] || die "PostgreSQL is installed but has no cluster under /etc/postgresql"
        say "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
            || pg_ctlcluster "$version" main start \
            || die "cannot start PostgreSQL $version (pg_ctlcluster $version main start)"
        for _ in $(seq 1 60); do
            pg_isready -q -h 127.0.0.1 -p 5432 && break
            sleep 0.5
        done
        pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not come up on 127.0.0.1:5432"
    fi
    # Trust authentication for `postgres` over TCP (as on CI machines): use it directly.
    if PGCONNECT_TIMEOUT=5 psql -w -q "postgres://postgres@127.0.0.1:5432/postgres" -c 'select 1' >/dev/null 2>&1; then
        export DATABASE_URL="postgres://postgres@127.0.0.1:5432/lectern"
        return 0
    fi
    # A stock Debian install asks for passwords over TCP: create a `lectern` role that may
    # create databases (the tests make one per test), through the local socket as `postgres`.
    command -v runuser >/dev/null || die "cannot reach PostgreSQL as postgres; set DATABASE_URL"
    say "creating the PostgreSQL role 'lectern'"
    runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<'SQL' || die "cannot create the lectern role; set DATABASE_URL"
do $$
begin
    if not exists (select from pg_roles where rolname = 'lectern') then
        create role lectern login createdb password 'lectern';
    end if;
end
$$;
SQL
    export DATABASE_URL="postgres://lectern:lectern@127.0.0.1:5432/lectern"
}

# ensure_redis: a Redis on 127.0.0.1:6379 for the tests of the shared rate limiter. One already
# answering is used as it is; otherwise Debian's redis-server is installed and started.
ensure_redis() {
    if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        return 0
    fi
    ensure_packages redis-server
    say "starting Redis on 127.0.0.1:6379"
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no >/dev/null \
        || die "cannot start redis-server"
    for _ in $(seq 1 40); do
        redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    die "Redis did not come up on 127.0.0.1:6379"
}

# Builds offline against the committed query data in .sqlx/, so no database is needed to compile.
export SQLX_OFFLINE=true

# ensure_python_venv NAME REQUIREMENTS IMPORTS: a Python virtual environment in .tools/NAME with
# the pins of REQUIREMENTS (a path inside the repository), for a test that runs tools from PyPI.
# Recreated only when the pins changed since the last install or `python -c "import IMPORTS"`
# fails; quiet otherwise. Installs Debian's python3-venv when venv or ensurepip is missing.
ensure_python_venv() {
    local name=$1 requirements=$LECTERN_ROOT/$2 imports=$3
    local venv=$LECTERN_ROOT/.tools/$name
    local stamp=$venv/.requirements.txt
    [ -f "$requirements" ] || die "$2 is missing"
    if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        ensure_packages python3 python3-venv
    fi
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp" \
        && "$venv/bin/python" -c "import $imports" 2>/dev/null; then
        return 0
    fi
    say "creating .tools/$name (pinned in $2)"
    rm -rf "$venv"
    mkdir -p "$LECTERN_ROOT/.tools"
    python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" \
        || die "pip install -r $2 failed"
    "$venv/bin/python" -c "import $imports" || die ".tools/$name was installed but cannot import $imports"
    cp "$requirements" "$stamp"
}
