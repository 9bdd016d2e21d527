#!/usr/bin/env bash
# `make serve`: a Prefect server on 127.0.0.1, the deployments of prefect.yaml, and one process
# worker in the foreground. Ctrl-C stops the worker and the server this script started.
#
# PREFECT_API_URL set in the environment: use that server (or Prefect Cloud) and start none.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
POOL=${REACH_WORK_POOL:-reach}
PORT=${REACH_PREFECT_PORT:-4200}

export REACH_HOME="$PWD"                   # recorded in prefect.yaml's pull step at deploy
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_HOME="${PREFECT_HOME:-$PWD/var/prefect}"
# Schedules use the configured zone (REACH_TIMEZONE or .env), as the report's days do.
REACH_TIMEZONE="$("$BIN/python" -c 'from reach.settings import get_settings; print(get_settings().timezone)')"
export REACH_TIMEZONE
mkdir -p var "$PREFECT_HOME"

server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        echo "stopping the Prefect server (pid $server_pid)"
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -f var/prefect-server.pid
}

if [[ -z "${PREFECT_API_URL:-}" ]]; then
    export PREFECT_API_URL="http://127.0.0.1:$PORT/api"
    "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >var/prefect-server.log 2>&1 &
    server_pid=$!
    echo "$server_pid" >var/prefect-server.pid
    trap stop_server EXIT
    echo "Prefect server starting (pid $server_pid, log var/prefect-server.log)"
fi

# Wait for the API to answer before deploying (about 4 s on a fresh machine).
"$BIN/python" - <<'PY'
import os, sys, time, urllib.request
url = os.environ["PREFECT_API_URL"].rstrip("/") + "/health"
deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.5)
sys.exit(f"no answer from {url} after 90 s (see var/prefect-server.log)")
PY

"$BIN/prefect" work-pool inspect "$POOL" >/dev/null 2>&1 \
    || "$BIN/prefect" work-pool create "$POOL" --type process
"$BIN/prefect" --no-prompt deploy --all

echo
echo "UI: ${PREFECT_API_URL%/api}  (deployments, schedules, Run > Custom run)."
echo "Ctrl-C twice stops the worker (a Prefect worker exits on the second signal), then the server."
# In the foreground so Ctrl-C reaches it; the server (a background job) is stopped by the EXIT trap.
"$BIN/prefect" worker start --pool "$POOL" --type process || true
