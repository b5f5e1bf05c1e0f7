#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the server store tests (tests/server_store_test.cc), from Debian's
# postgresql-15 binaries: data in build/pg/data, a unix socket in build/pg/sock (under /tmp if that path is
# too long for a socket), a free port (no TCP listener: listen_addresses is empty; the port only names the
# socket). Trust authentication, fsync off: it holds nothing worth keeping.
#
#   scripts/pg-test-cluster.sh start        # initdb if needed, start; prints the env line
#   scripts/pg-test-cluster.sh env          # OUTPOST_PG_CONNINFO='host=... port=... user=... dbname=postgres'
#   scripts/pg-test-cluster.sh stop         # stop and delete build/pg
#   scripts/pg-test-cluster.sh run CMD...   # start (unless running), run CMD with OUTPOST_PG_CONNINFO and
#                                           # OUTPOST_REQUIRE_PG=1 exported, stop again if it started it
#
# Use the env line with: eval "export $(bash scripts/pg-test-cluster.sh env)"
# initdb refuses to run as root, so as root the cluster runs as the `postgres` user (runuser).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="${OUTPOST_PG_DIR:-$ROOT/build/pg}"
BIN="${OUTPOST_PG_BIN:-/usr/lib/postgresql/15/bin}"
DATA="$BASE/data"
LOG="$BASE/postgres.log"
PORT_FILE="$BASE/port"
SOCK_FILE="$BASE/sockdir"  # where the socket is: build/pg/sock, or /tmp when that path is too long

if [[ $(id -u) -eq 0 ]]; then
  OWNER=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  OWNER="$(id -un)"
  as_owner() { "$@"; }
fi

die() { echo "pg-test-cluster: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() { [[ -f "$DATA/postmaster.pid" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

env_line() {
  [[ -f "$PORT_FILE" && -f "$SOCK_FILE" ]] || die "no cluster in $BASE; run: $0 start"
  echo "OUTPOST_PG_CONNINFO='host=$(cat "$SOCK_FILE") port=$(cat "$PORT_FILE") user=$OWNER dbname=postgres'"
}

start() {
  [[ -x "$BIN/initdb" ]] || die "$BIN/initdb missing: apt-get install postgresql-15 (scripts/setup.sh does it)"
  if running; then
    env_line
    return
  fi
  mkdir -p "$BASE"
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    rm -rf "$DATA" "$BASE/sock"
    mkdir -p "$DATA"
    if [[ $(id -u) -eq 0 ]]; then chown -R postgres: "$BASE"; fi
    as_owner "$BIN/initdb" -D "$DATA" -U "$OWNER" --auth=trust -E UTF8 --no-locale >"$BASE/initdb.log" 2>&1 ||
      die "initdb failed; see $BASE/initdb.log"
  fi
  free_port >"$PORT_FILE"
  # A unix socket path is limited to ~107 bytes; a deep checkout gets a socket directory under /tmp.
  local sock="$BASE/sock"
  if (( ${#sock} > 80 )); then sock="$(mktemp -d /tmp/outpost-pg.XXXXXX)"; fi
  mkdir -p "$sock"
  echo "$sock" >"$SOCK_FILE"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$PORT_FILE" "$SOCK_FILE" "$sock"; fi
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-k $sock -p $(cat "$PORT_FILE") -c listen_addresses= -c fsync=off -c max_connections=200" start \
    >/dev/null || die "pg_ctl start failed; see $LOG"
  env_line
}

stop() {
  if running; then as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi
  if [[ -f "$SOCK_FILE" && "$(cat "$SOCK_FILE")" == /tmp/outpost-pg.* ]]; then rm -rf "$(cat "$SOCK_FILE")"; fi
  rm -rf "$BASE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_line ;;
  run)
    shift
    [[ $# -gt 0 ]] || die "usage: $0 run COMMAND [ARGS...]"
    started=0
    running || started=1
    eval "export $(start)"
    export OUTPOST_REQUIRE_PG=1
    rc=0
    "$@" || rc=$?
    if [[ $started -eq 1 ]]; then stop; fi
    exit $rc
    ;;
  *) die "usage: $0 start|stop|env|run COMMAND..." ;;
esac
