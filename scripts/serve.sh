#!/usr/bin/env bash
# `make serve`: a Prefect server on 127.0.0.1, the deployments of prefect.yaml, the dashboard
# (`reach web`) and one process worker in the foreground. Ctrl-C stops the worker, then the
# dashboard and the server this script started.
#
# PREFECT_API_URL set in the environment: use that server (or Prefect Cloud) and start none.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
POOL=${REACH_WORK_POOL:-reach}
PORT=${REACH_PREFECT_PORT:-4200}
WEB_PORT=${REACH_WEB_PORT:-8000}
# The flows' artifacts link to the dashboard's page of each report's period.
export REACH_DASHBOARD_URL="${REACH_DASHBOARD_URL:-http://127.0.0.1:$WEB_PORT}"

export REACH_HOME="$PWD"                   # recorded in prefect.yaml's pull step at deploy
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_HOME="${PREFECT_HOME:-$PWD/var/prefect}"
# Schedules use the configured zone (REACH_TIMEZONE or .env), as the report's days do.
REACH_TIMEZONE="$("$BIN/python" -c 'from reach.settings import get_settings; print(get_settings().timezone)')"
export REACH_TIMEZONE
mkdir -p var "$PREFECT_HOME"

server_pid=""
web_pid=""
stop_server() {
    if [[ -n "$web_pid" ]] && kill -0 "$web_pid" 2>/dev/null; then
        echo "stopping the dashboard (pid $web_pid)"
        kill "$web_pid"
        wait "$web_pid" 2>/dev/null || true
    fi
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        echo "stopping the Prefect server (pid $server_pid)"
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -f var/prefect-server.pid var/web.pid
}

trap stop_server EXIT
if [[ -z "${PREFECT_API_URL:-}" ]]; then
    export PREFECT_API_URL="http://127.0.0.1:$PORT/api"
    export PREFECT_UI_URL="${PREFECT_UI_URL:-http://127.0.0.1:$PORT}"
    "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >var/prefect-server.log 2>&1 &
    server_pid=$!
    echo "$server_pid" >var/prefect-server.pid
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

"$BIN/reach" db upgrade >/dev/null
"$BIN/reach" web --host 127.0.0.1 --port "$WEB_PORT" >var/web.log 2>&1 &
web_pid=$!
echo "$web_pid" >var/web.pid

echo
echo "Dashboard: http://127.0.0.1:$WEB_PORT/  (log var/web.log; add a user: reach users add EMAIL --role admin)"
echo "Prefect UI: ${PREFECT_API_URL%/api}  (deployments, schedules, Run > Custom run)."
echo "Ctrl-C twice stops the worker (a Prefect worker exits on the second signal), then the server."
# In the foreground so Ctrl-C reaches it; the server (a background job) is stopped by the EXIT trap.
"$BIN/prefect" worker start --pool "$POOL" --type process || true
