#!/usr/bin/env bash
# Stop the local servers started by infra/local/start.sh and clean up its state.
#
#   infra/local/stop.sh           # stop both, remove pid/port/env files (keep logs)
#   infra/local/stop.sh --purge   # ... and remove the logs too
#
# Only the pids recorded in the state dir are signalled, and only if their
# command line still looks like moto_server / DynamoDBLocal.jar.
set -euo pipefail

TOOLS_DIR="${VIDSTEGA_TOOLS_DIR:-$HOME/.cache/vidstega-tools}"
STATE="${VIDSTEGA_LOCAL_STATE:-$TOOLS_DIR/run}"
PURGE=0
case "${1:-}" in
    "") ;;
    --purge) PURGE=1 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

log() { printf '[stop] %s\n' "$*"; }

stop_one() {
    local name=$1 pattern=$2 pidfile="$STATE/$1.pid" pid
    if [ ! -f "$pidfile" ]; then
        log "$name: not running (no pid file)"
        return 0
    fi
    pid=$(cat "$pidfile")
    if ! kill -0 "$pid" 2>/dev/null; then
        log "$name: pid $pid already gone"
    elif ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"; then
        log "$name: pid $pid is not $pattern any more; leaving it alone"
    else
        log "$name: stopping pid $pid"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do          # up to 10 s
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name: pid $pid ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile" "$STATE/$name.port"
}

if [ ! -d "$STATE" ]; then
    log "nothing to stop ($STATE does not exist)"
    exit 0
fi
stop_one moto moto_server
stop_one dynamodb DynamoDBLocal.jar
rm -f "$STATE/env" "$STATE/env.tmp"
if [ "$PURGE" = 1 ]; then
    rm -f "$STATE/moto.log" "$STATE/dynamodb.log" "$STATE/dynamodb-local-metadata.json"
    rmdir "$STATE" 2>/dev/null || true
    log "state purged"
else
    log "stopped; logs kept in $STATE"
fi
