#!/usr/bin/env bash
# Start the local AWS-protocol test servers for VidStega (idempotent).
#
#   infra/local/start.sh                 # start (or reuse) both servers
#   source "$(infra/local/start.sh --print-env-path)"   # ... and load the env
#   infra/local/start.sh --check         # exit 0 if both are running and answering, else 1;
#                                        # starts nothing (scripts/test.sh uses it to decide
#                                        # whether it owns the servers it is about to start)
#
#   moto server     S3, SQS, Step Functions (and anything else moto serves)
#   DynamoDB Local  DynamoDB (in memory, shared db)
#
# Env knobs:
#   MOTO_PORT, DYNAMODB_PORT   fixed ports (default: free ports picked here)
#   VIDSTEGA_LOCAL_STATE       state dir (default $HOME/.cache/vidstega-tools/run)
#   VIDSTEGA_TOOLS_DIR         tools dir from install.sh (default $HOME/.cache/vidstega-tools)
#   VIDSTEGA_START_TIMEOUT     seconds to wait for both servers (default 60)
#   VIDSTEGA_DDB_JAVA_OPTS     extra JVM options (default -Xmx512m)
# Writes $STATE/env (export lines: endpoints, dummy credentials, region, pids),
# $STATE/moto.pid, $STATE/dynamodb.pid and logs $STATE/moto.log, $STATE/dynamodb.log.
# If both servers are already running (pids alive and answering) they are reused.
set -euo pipefail

TOOLS_DIR="${VIDSTEGA_TOOLS_DIR:-$HOME/.cache/vidstega-tools}"
STATE="${VIDSTEGA_LOCAL_STATE:-$TOOLS_DIR/run}"
TIMEOUT="${VIDSTEGA_START_TIMEOUT:-60}"
DDB_JAVA_OPTS="${VIDSTEGA_DDB_JAVA_OPTS:--Xmx512m}"
ENV_FILE="$STATE/env"

CHECK=0
if [ "${1:-}" = "--print-env-path" ]; then
    QUIET=1
elif [ "${1:-}" = "--check" ]; then
    QUIET=1; CHECK=1
elif [ -n "${1:-}" ]; then
    echo "usage: $0 [--print-env-path | --check]" >&2; exit 2
else
    QUIET=0
fi
# With --print-env-path, stdout carries only the env file path; messages go to stderr.
log() { printf '[start] %s\n' "$*" >&2; }
die() { printf '[start] ERROR: %s\n' "$*" >&2; exit 1; }

if [ "$CHECK" = 1 ] && [ ! -f "$TOOLS_DIR/tools.env" ]; then exit 1; fi
[ -f "$TOOLS_DIR/tools.env" ] || die "$TOOLS_DIR/tools.env missing: run infra/local/install.sh first"
# shellcheck disable=SC1091
. "$TOOLS_DIR/tools.env"
PY="$VIDSTEGA_VENV/bin/python"
[ -x "$VIDSTEGA_VENV/bin/moto_server" ] || die "moto_server missing: run infra/local/install.sh"
[ -f "$VIDSTEGA_DDB_JAR" ] || die "DynamoDBLocal.jar missing: run infra/local/install.sh"
command -v java >/dev/null || die "java missing: run infra/local/install.sh"
[ "$CHECK" = 1 ] || mkdir -p "$STATE"

# ---- helpers -------------------------------------------------------------------
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
read_file() { [ -f "$1" ] && cat "$1" || true; }

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

kill_wait() {   # TERM, wait up to 5 s, then KILL
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 1 25); do pid_alive "$1" || return 0; sleep 0.2; done
    kill -9 "$1" 2>/dev/null || true
}

port_free() {
    "$PY" -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.close()' "$1" 2>/dev/null
}

# pick_port NAME REQUESTED -> the requested port if free (fail if taken), else a free one
pick_port() {
    if [ -n "$2" ]; then
        port_free "$2" || die "$1 port $2 is already in use by another process"
        echo "$2"
    else
        free_port
    fi
}

# probe moto|dynamodb PORT -> exit 0 when the server answers properly
probe() {
    "$PY" - "$1" "$2" <<'EOF'
import json, sys, urllib.request
kind, port = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
try:
    if kind == "moto":
        with urllib.request.urlopen(base + "/moto-api/config", timeout=2) as r:
            json.load(r)
    else:
        # DynamoDB Local accepts any (unverified) SigV4-looking Authorization.
        req = urllib.request.Request(base + "/", data=b"{}", method="POST", headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        })
        with urllib.request.urlopen(req, timeout=2) as r:
            assert "TableNames" in json.load(r)
except Exception:
    sys.exit(1)
EOF
}

# a pid file is "ours" only if the process command line still matches
pid_matches() {
    local pid=$1 pattern=$2
    pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

# ---- reuse if already running ------------------------------------------------------
MOTO_PID=$(read_file "$STATE/moto.pid")
DDB_PID=$(read_file "$STATE/dynamodb.pid")
OLD_MOTO_PORT=$(read_file "$STATE/moto.port")
OLD_DDB_PORT=$(read_file "$STATE/dynamodb.port")

moto_ok=0; ddb_ok=0
if [ -n "$OLD_MOTO_PORT" ] && pid_matches "$MOTO_PID" moto_server && probe moto "$OLD_MOTO_PORT"; then moto_ok=1; fi
if [ -n "$OLD_DDB_PORT" ] && pid_matches "$DDB_PID" DynamoDBLocal.jar && probe dynamodb "$OLD_DDB_PORT"; then ddb_ok=1; fi

if [ "$CHECK" = 1 ]; then
    if [ "$moto_ok" = 1 ] && [ "$ddb_ok" = 1 ]; then
        log "both servers are running (moto pid $MOTO_PID, DynamoDB Local pid $DDB_PID)"
        exit 0
    fi
    log "not running (moto ok=$moto_ok, dynamodb ok=$ddb_ok)"
    exit 1
fi

if [ "$moto_ok" = 1 ] && [ -n "${MOTO_PORT:-}" ] && [ "$MOTO_PORT" != "$OLD_MOTO_PORT" ]; then
    die "moto already running on port $OLD_MOTO_PORT (pid $MOTO_PID) but MOTO_PORT=$MOTO_PORT; run infra/local/stop.sh first"
fi
if [ "$ddb_ok" = 1 ] && [ -n "${DYNAMODB_PORT:-}" ] && [ "$DYNAMODB_PORT" != "$OLD_DDB_PORT" ]; then
    die "DynamoDB Local already running on port $OLD_DDB_PORT (pid $DDB_PID) but DYNAMODB_PORT=$DYNAMODB_PORT; run infra/local/stop.sh first"
fi

START_TS=$(date +%s)

# ---- start what is not running ---------------------------------------------------------
start_moto() {
    if pid_matches "$MOTO_PID" moto_server; then
        log "moto pid $MOTO_PID alive but not answering; killing it"
        kill_wait "$MOTO_PID"
    fi
    local port
    port=$(pick_port moto "${MOTO_PORT:-}")
    log "starting moto_server on 127.0.0.1:$port (log $STATE/moto.log)"
    # MOTO_PORT must match the listening port: moto uses it to build URLs it
    # hands out (e.g. SQS QueueUrl). setsid: detach from this shell's session.
    MOTO_PORT="$port" setsid "$VIDSTEGA_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" \
        >"$STATE/moto.log" 2>&1 </dev/null &
    MOTO_PID=$!
    echo "$MOTO_PID" >"$STATE/moto.pid"
    echo "$port" >"$STATE/moto.port"
    OLD_MOTO_PORT=$port
}

start_ddb() {
    if pid_matches "$DDB_PID" DynamoDBLocal.jar; then
        log "DynamoDB Local pid $DDB_PID alive but not answering; killing it"
        kill_wait "$DDB_PID"
    fi
    local port
    port=$(pick_port DynamoDB "${DYNAMODB_PORT:-}")
    log "starting DynamoDB Local on 127.0.0.1:$port (log $STATE/dynamodb.log)"
    # shellcheck disable=SC2086
    (cd "$STATE" && exec setsid java $DDB_JAVA_OPTS -Djava.library.path="$VIDSTEGA_DDB_LIB" \
        -jar "$VIDSTEGA_DDB_JAR" -inMemory -sharedDb -port "$port" \
        >"$STATE/dynamodb.log" 2>&1 </dev/null) &
    DDB_PID=$!
    echo "$DDB_PID" >"$STATE/dynamodb.pid"
    echo "$port" >"$STATE/dynamodb.port"
    OLD_DDB_PORT=$port
}

if [ "$moto_ok" = 1 ]; then log "reusing moto pid $MOTO_PID on port $OLD_MOTO_PORT"; else start_moto; fi
if [ "$ddb_ok" = 1 ]; then log "reusing DynamoDB Local pid $DDB_PID on port $OLD_DDB_PORT"; else start_ddb; fi

# ---- wait (bounded) ------------------------------------------------------------
fail_with_logs() {
    log "$1"
    for f in moto dynamodb; do
        if [ -f "$STATE/$f.log" ]; then
            printf -- '----- tail %s -----\n' "$STATE/$f.log" >&2
            tail -n 30 "$STATE/$f.log" >&2 || true
        fi
    done
    exit 1
}
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
    [ "$moto_ok" = 1 ] || { pid_alive "$MOTO_PID" || fail_with_logs "moto_server (pid $MOTO_PID) exited during startup"; probe moto "$OLD_MOTO_PORT" && moto_ok=1; }
    [ "$ddb_ok" = 1 ] || { pid_alive "$DDB_PID" || fail_with_logs "DynamoDB Local (pid $DDB_PID) exited during startup"; probe dynamodb "$OLD_DDB_PORT" && ddb_ok=1; }
    [ "$moto_ok" = 1 ] && [ "$ddb_ok" = 1 ] && break
    [ "$(date +%s)" -lt "$deadline" ] || fail_with_logs "servers not answering after ${TIMEOUT}s (moto ok=$moto_ok, dynamodb ok=$ddb_ok)"
    sleep 0.5
done
pid_alive "$MOTO_PID" || fail_with_logs "moto_server (pid $MOTO_PID) is gone"
pid_alive "$DDB_PID" || fail_with_logs "DynamoDB Local (pid $DDB_PID) is gone"

# ---- configure moto (every time: cheap, and covers a reused server) ------------------
"$PY" - "$OLD_MOTO_PORT" <<'EOF' || die "configuring moto via /moto-api/config failed"
import json, sys, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/moto-api/config"
body = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=5).read()
cfg = json.load(urllib.request.urlopen(url, timeout=5))
# GET only echoes "batch" and "lambda"; the stepfunctions flag is accepted by
# POST but not shown (moto 5.2.x), so only "lambda" can be checked here.
assert cfg["lambda"]["use_docker"] is False, cfg
EOF

# ---- env file ------------------------------------------------------------------------
MOTO_URL="http://127.0.0.1:$OLD_MOTO_PORT"
DDB_URL="http://127.0.0.1:$OLD_DDB_PORT"
cat >"$ENV_FILE.tmp" <<EOF
# written by infra/local/start.sh; source it to point AWS SDKs/CLIs at the local servers
export VIDSTEGA_MOTO_URL=$MOTO_URL
export VIDSTEGA_DYNAMODB_URL=$DDB_URL
export AWS_ENDPOINT_URL_S3=$MOTO_URL
export AWS_ENDPOINT_URL_SQS=$MOTO_URL
export AWS_ENDPOINT_URL_SFN=$MOTO_URL
export AWS_ENDPOINT_URL_DYNAMODB=$DDB_URL
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export VIDSTEGA_MOTO_PID=$MOTO_PID
export VIDSTEGA_DYNAMODB_PID=$DDB_PID
export VIDSTEGA_LOCAL_STATE=$STATE
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"

log "moto           $MOTO_URL (pid $MOTO_PID)"
log "DynamoDB Local $DDB_URL (pid $DDB_PID)"
log "ready in $(( $(date +%s) - START_TS ))s; env file: $ENV_FILE  (source it)"
if [ "$QUIET" = 1 ]; then
    echo "$ENV_FILE"
else
    cat "$ENV_FILE"
fi
