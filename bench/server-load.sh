#!/usr/bin/env bash
# Load on outpost-server (bench/server_load.cc) in three set-ups: one instance on SQLite, one on
# PostgreSQL, two on the same PostgreSQL database (devices round-robin between them). Prints the three JSON
# results and the two-vs-one ratio. Targets, reported and not asserted: zero errors; two instances >= 1.6x one.
#
#   bash bench/server-load.sh                 # DEVICES=16 BATCH=100 DURATION=10s
#   DEVICES=32 DURATION=30s bash bench/server-load.sh
#   OUTPOST_BUILD_DIR=build/mine OUTPOST_SKIP_BUILD=1 bash bench/server-load.sh
#
# Builds outpost-server and server_load in $OUTPOST_BUILD_DIR (default build/native). PostgreSQL is a
# throwaway cluster from scripts/pg-test-cluster.sh in $OUTPOST_BUILD_DIR/pg-load (fsync off: it measures
# the server and the store's locking, not the disk; the SQLite store does fsync every batch).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${OUTPOST_BUILD_DIR:-$ROOT/build/native}"
[[ "$BUILD" = /* ]] || BUILD="$PWD/$BUILD"  # absolute: the PostgreSQL cluster runs as another user
DEVICES="${DEVICES:-16}"
BATCH="${BATCH:-100}"
DURATION="${DURATION:-10s}"
JOBS="${JOBS:-2}"

if [[ "${OUTPOST_SKIP_BUILD:-0}" != 1 ]]; then  # OUTPOST_SKIP_BUILD=1: use the binaries as they are
  [[ -f "$BUILD/CMakeCache.txt" ]] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j"$JOBS" --target outpost-server server_load >/dev/null
fi
SERVER="$BUILD/server/outpost-server"
LOAD="$BUILD/server/server_load"

WORK="$(mktemp -d)"
export OUTPOST_PG_DIR="$BUILD/pg-load"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash "$ROOT/scripts/pg-test-cluster.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server NAME STORE: starts an instance and waits for its health; its URL is then in $URL. (Not run
# in a $(...) subshell: the PID must reach PIDS, and a subshell would run the EXIT trap.)
start_server() {
  local name="$1" store="$2" port
  port="$(free_port)"
  "$SERVER" serve --store "$store" --schema "$ROOT/server/demo-schema.json" --secret-file "$WORK/secret" \
    --port "$port" --log "$WORK/$name.log" 2>"$WORK/$name.err" &
  PIDS+=($!)
  for _ in $(seq 100); do
    if curl -fsS "http://127.0.0.1:$port/sync/v1/health" >/dev/null 2>&1; then
      URL="http://127.0.0.1:$port"
      return
    fi
    sleep 0.1
  done
  echo "server-load: $name did not start:" >&2
  cat "$WORK/$name.err" >&2
  exit 1
}

stop_servers() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

# run LABEL URL...: one load run against the URLs; prints the labelled JSON line, keeps it in $WORK/LABEL.json.
run() {
  local label="$1"
  shift
  local args=()
  for url in "$@"; do args+=(--url "$url"); done
  "$LOAD" "${args[@]}" --secret-file "$WORK/secret" --devices "$DEVICES" --batch "$BATCH" \
    --duration "$DURATION" >"$WORK/$label.json" || true
  echo "$label $(cat "$WORK/$label.json")"
}

"$SERVER" secret "$WORK/secret"

start_server sqlite "sqlite:$WORK/load.db"
run sqlite "$URL"
stop_servers

PG_ENV="$(bash "$ROOT/scripts/pg-test-cluster.sh" start)"  # fails the script if the cluster does not start
eval "export $PG_ENV"
pg_db() {  # a fresh database per set-up, so the second does not start with the first one's rows: $STORE
  psql "$OUTPOST_PG_CONNINFO" -qc "CREATE DATABASE $1" >/dev/null
  STORE="postgres:${OUTPOST_PG_CONNINFO/dbname=postgres/dbname=$1}"
}

pg_db load_one
start_server pg-one "$STORE"
run postgres-one "$URL"
stop_servers

pg_db load_two
start_server pg-two-a "$STORE"
url_a="$URL"
start_server pg-two-b "$STORE"
run postgres-two "$url_a" "$URL"
stop_servers

python3 - "$WORK" <<'EOF'
import json, sys
work = sys.argv[1]
runs = {k: json.load(open(f"{work}/{k}.json")) for k in ("sqlite", "postgres-one", "postgres-two")}
errors = sum(r["errors"] for r in runs.values())
one, two = runs["postgres-one"]["opsPerSecond"], runs["postgres-two"]["opsPerSecond"]
ratio = two / one if one else 0.0
print(json.dumps({"summary": {k: {"opsPerSecond": r["opsPerSecond"], "p50Ms": r["latencyMs"]["p50"],
                                   "p99Ms": r["latencyMs"]["p99"], "errors": r["errors"]} for k, r in runs.items()},
                  "twoVsOne": round(ratio, 2),
                  "targets": {"zeroErrors": errors == 0, "twoVsOneAtLeast1.6": ratio >= 1.6}}))
EOF
